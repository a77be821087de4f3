//! The rhyme scheme of verse: line-final words compared by their last
//! vowel sound and what follows it (a spelling approximation: `day`/`away`,
//! `night`/`light`, `love`/`dove`).

use super::style::words;

/// The scheme (`AABB`, `ABAB`, …) of a text with at least two non-empty
/// lines of which at least two rhyme; `None` for prose.
pub fn scheme(text: &str) -> Option<String> {
    let endings: Vec<String> = text.lines().filter_map(|line| words(line).pop()).map(|w| rhyme_key(&w)).collect();
    if endings.len() < 2 {
        return None;
    }
    let mut letters: Vec<(String, char)> = Vec::new();
    let mut scheme = String::new();
    let mut rhymes = false;
    for ending in &endings {
        let known = letters.iter().find(|(e, _)| !e.is_empty() && e == ending).map(|(_, l)| *l);
        let letter = match known {
            Some(l) => {
                rhymes = true;
                l
            }
            None => {
                let l = letter(letters.len());
                letters.push((ending.clone(), l));
                l
            }
        };
        scheme.push(letter);
    }
    rhymes.then_some(scheme)
}

fn letter(i: usize) -> char {
    char::from(b'A' + (i % 26) as u8)
}

/// The rhyming part of a word: from its last vowel group to the end,
/// ignoring a silent final `e`.
pub fn rhyme_key(word: &str) -> String {
    let mut letters: Vec<char> = word.chars().filter(|c| c.is_alphabetic()).flat_map(char::to_lowercase).collect();
    let vowel = |c: char| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y');
    let n = letters.len();
    if n > 3 && letters[n - 1] == 'e' && !vowel(letters[n - 2]) {
        letters.pop();
    }
    let Some(last_vowel) = letters.iter().rposition(|&c| vowel(c)) else {
        return letters.into_iter().collect();
    };
    let mut start = last_vowel;
    while start > 0 && vowel(letters[start - 1]) {
        start -= 1;
    }
    letters[start..].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_rhymes() {
        assert_eq!(rhyme_key("day"), rhyme_key("away"));
        assert_eq!(rhyme_key("night"), rhyme_key("light"));
        assert_eq!(rhyme_key("love"), rhyme_key("dove"));
        assert_ne!(rhyme_key("night"), rhyme_key("day"));
    }

    #[test]
    fn schemes_of_verse_and_none_for_prose() {
        let couplets = "The band began to play\nWe danced the night away\nThe lights were burning bright\nWe sang with all our might";
        assert_eq!(scheme(couplets).as_deref(), Some("AABB"));
        let alternate = "I lost my ticket in the rain,\nThe show was starting soon,\nI called support and asked again,\nThey fixed it by the afternoon.";
        assert_eq!(scheme(alternate).as_deref(), Some("ABAB"));
        assert_eq!(scheme("One line only."), None);
        assert_eq!(scheme("My stream stopped\nPlease help me with the refund"), None);
    }
}
