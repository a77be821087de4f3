//! The sonnet corpus (deep-speare's Gutenberg sonnets, public domain):
//! one sonnet per line, lower-cased, tokens separated by spaces, lines
//! ended by `<eos>`.

use std::path::Path;

use crate::Error;

/// The line-end token.
pub const EOS: &str = "<eos>";

/// The tokens of a split (`train`, `valid`, `test`) in `dir`.
pub fn read(dir: &Path, split: &str) -> Result<Vec<String>, Error> {
    let path = dir.join(format!("sonnet_{split}.txt"));
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let tokens: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    if tokens.is_empty() {
        return Err(Error::Model(format!("{}: no text", path.display())));
    }
    Ok(tokens)
}

/// Joins tokens into readable lines: `<eos>` ends a line, punctuation and
/// `'s` attach to the word before, each line starts with a capital.
pub fn detokenize(tokens: &[String]) -> String {
    let mut lines = Vec::new();
    let mut line = String::new();
    for t in tokens {
        if t == EOS {
            lines.push(capitalise(line.trim()));
            line.clear();
            continue;
        }
        let attach = matches!(t.as_str(), "," | "." | ";" | ":" | "!" | "?" | "'s" | "'" | "n't" | "'d" | "'ll");
        if !attach && !line.is_empty() {
            line.push(' ');
        }
        line.push_str(if t == "i" { "I" } else { t });
    }
    if !line.trim().is_empty() {
        lines.push(capitalise(line.trim()));
    }
    lines.join("\n")
}

fn capitalise(line: &str) -> String {
    let mut chars = line.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detokenizes_lines_and_punctuation() {
        let t: Vec<String> = "o night and death , to whom i grudged him <eos> when in man 's sight <eos>"
            .split(' ')
            .map(str::to_string)
            .collect();
        assert_eq!(detokenize(&t), "O night and death, to whom I grudged him\nWhen in man's sight");
    }
}
