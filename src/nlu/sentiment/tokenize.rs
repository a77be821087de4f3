//! Word tokens for the sentiment model, split the way SST-2 is
//! (`don't` → `do n't`, `fan's` → `fan 's`), lower-cased.

/// Lower-cased word tokens.
pub fn tokens(text: &str) -> Vec<String> {
    let lower = text.to_lowercase().replace('’', "'");
    let spaced = lower.replace("n't", " n't").replace("'s", " 's").replace("'re", " 're").replace("'m", " 'm");
    let mut out = Vec::new();
    for word in spaced.split_whitespace() {
        if word.starts_with('\'') && word.len() > 1 && word[1..].chars().all(char::is_alphabetic) {
            out.push(word.to_string());
            continue;
        }
        for piece in word.split(|c: char| !c.is_alphanumeric() && c != '\'') {
            let piece = piece.trim_matches('\'');
            if !piece.is_empty() {
                out.push(piece.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_like_sst2() {
        assert_eq!(
            super::tokens("I don't LOVE it, it's meh!"),
            vec!["i", "do", "n't", "love", "it", "it", "'s", "meh"]
        );
    }
}
