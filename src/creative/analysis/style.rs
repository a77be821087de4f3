//! Length, lexical diversity and Flesch reading ease.

use serde::Serialize;

/// Style figures of a text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Style {
    /// Characters (Unicode scalar values).
    pub characters: usize,
    /// Words (runs of letters, digits and apostrophes).
    pub words: usize,
    /// Sentences (ended by `.`, `!`, `?`, a line break or the end of the
    /// text, so each line of verse counts as one).
    pub sentences: usize,
    /// Non-empty lines.
    pub lines: usize,
    /// Moving-average type-token ratio over 50-word windows (plain
    /// type-token ratio for shorter texts): 1.0 means no word repeats.
    pub lexical_diversity: f64,
    /// Flesch reading ease: 206.835 − 1.015·words/sentence − 84.6·syllables/word.
    pub reading_ease: f64,
}

/// Window of the moving-average type-token ratio.
const MATTR_WINDOW: usize = 50;

/// Lower-cased words of `text`.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '’').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Measures `text`.
pub fn measure(text: &str) -> Style {
    let words = words(text);
    let sentences =
        text.split(['.', '!', '?', '…', '\n']).filter(|s| s.chars().any(char::is_alphanumeric)).count().max(1);
    let syllables: usize = words.iter().map(|w| syllables(w)).sum();
    let n = words.len().max(1) as f64;
    Style {
        characters: text.chars().count(),
        words: words.len(),
        sentences,
        lines: text.lines().filter(|l| !l.trim().is_empty()).count(),
        lexical_diversity: diversity(&words),
        reading_ease: 206.835 - 1.015 * (n / sentences as f64) - 84.6 * (syllables as f64 / n),
    }
}

fn diversity(words: &[String]) -> f64 {
    let ttr = |window: &[String]| {
        let distinct: std::collections::HashSet<&String> = window.iter().collect();
        distinct.len() as f64 / window.len().max(1) as f64
    };
    if words.len() <= MATTR_WINDOW {
        return if words.is_empty() { 0.0 } else { ttr(words) };
    }
    let windows: Vec<f64> = words.windows(MATTR_WINDOW).map(ttr).collect();
    windows.iter().sum::<f64>() / windows.len() as f64
}

/// English syllables by vowel groups, with a silent final `e` (but not `-le`).
pub fn syllables(word: &str) -> usize {
    let letters: Vec<char> = word.chars().filter(char::is_ascii_alphabetic).map(|c| c.to_ascii_lowercase()).collect();
    if letters.is_empty() {
        return 1;
    }
    let vowel = |c: char| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y');
    let mut groups = 0;
    let mut previous = false;
    for &c in &letters {
        let v = vowel(c);
        if v && !previous {
            groups += 1;
        }
        previous = v;
    }
    let n = letters.len();
    if n > 2 && letters[n - 1] == 'e' && !vowel(letters[n - 2]) && letters[n - 2] != 'l' && groups > 1 {
        groups -= 1;
    }
    groups.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syllables_by_hand() {
        for (w, n) in [
            ("cat", 1),
            ("refund", 2),
            ("ticket", 2),
            ("make", 1),
            ("table", 2),
            ("beautiful", 3),
            ("the", 1),
            ("rhythm", 1),
        ] {
            assert_eq!(syllables(w), n, "{w}");
        }
    }

    #[test]
    fn simple_text_reads_easily_and_jargon_does_not() {
        let easy = measure("The cat sat on the mat. It was a good day.");
        assert_eq!((easy.words, easy.sentences, easy.lines), (11, 2, 1));
        assert!(easy.reading_ease > 90.0, "{easy:?}");
        let hard =
            measure("Notwithstanding contractual obligations, reimbursement eligibility necessitates documentation.");
        assert!(hard.reading_ease < 10.0, "{hard:?}");
    }

    #[test]
    fn diversity_falls_with_repetition() {
        assert_eq!(measure("one two three four").lexical_diversity, 1.0);
        assert_eq!(measure("la la la la").lexical_diversity, 0.25);
        let long = "the show was great and ".repeat(20);
        assert!(measure(&long).lexical_diversity < 0.2);
    }

    #[test]
    fn words_keep_contractions() {
        assert_eq!(words("Don't STOP me now!"), vec!["don't", "stop", "me", "now"]);
    }
}
