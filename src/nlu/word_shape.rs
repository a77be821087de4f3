//! Word-shape features for the entity tagger: what a CRF's standard
//! features say about the word a token is in (case, digits, punctuation,
//! month and day names, ordinals, clock times, the neighbours' case). The
//! tagger reads them beside each token's encoder state, so that a date or a
//! capitalised venue name is as plain to it as to a CRF, while the states
//! carry the context.

/// Features per token.
pub const SHAPE: usize = 14;

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS: [&str; 11] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "today",
    "tomorrow",
    "tonight",
    "weekend",
];
const JOINERS: [&str; 8] = ["of", "the", "and", "a", "in", "on", "at", "&"];

/// The words of `text` as token index ranges: a word is a run of adjacent
/// tokens that join letters or digits (punctuation is a word of its own),
/// the rule the tagger's spans follow.
pub fn words(text: &str, offsets: &[(usize, usize)]) -> Vec<std::ops::Range<usize>> {
    let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, &(start, _)) in offsets.iter().enumerate() {
        let joins = i > 0
            && offsets[i - 1].1 == start
            && alnum(text.get(..start).and_then(|t| t.chars().next_back()))
            && alnum(text.get(start..).and_then(|t| t.chars().next()));
        match out.last_mut() {
            Some(w) if joins => w.end = i + 1,
            _ => out.push(i..i + 1),
        }
    }
    out
}

fn word_features(word: &str) -> [bool; 8] {
    let lower = word.to_lowercase();
    let letters = word.chars().filter(|c| c.is_alphabetic()).count();
    let digits = word.chars().filter(char::is_ascii_digit).count();
    let ordinal = digits > 0
        && ["st", "nd", "rd", "th"]
            .iter()
            .any(|s| lower.strip_suffix(s).is_some_and(|d| d.chars().all(|c| c.is_ascii_digit())));
    let month = lower.len() >= 3 && MONTHS.iter().any(|m| lower.starts_with(m)) && {
        // "march", "mar" and "sept" but not "mark" or "maybe".
        const FULL: [&str; 12] = [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ];
        FULL.iter().any(|f| f.starts_with(lower.trim_end_matches('.')))
    };
    let time = ["am", "pm", "a.m", "p.m", "o'clock", "noon", "midnight"].contains(&lower.as_str())
        || (digits > 0 && (lower.ends_with("am") || lower.ends_with("pm")));
    [
        word.chars().next().is_some_and(char::is_uppercase),
        letters >= 2 && word.chars().filter(|c| c.is_alphabetic()).all(char::is_uppercase),
        digits > 0 && digits == word.chars().count(),
        digits > 0,
        !word.chars().any(char::is_alphanumeric),
        month,
        DAYS.iter().any(|d| lower.starts_with(d) && lower.len() <= d.len() + 1) || ordinal,
        time,
    ]
}

/// [`SHAPE`] features per token of `text` at `offsets`.
pub fn features(text: &str, offsets: &[(usize, usize)]) -> Vec<[f32; SHAPE]> {
    let words = words(text, offsets);
    let word_text = |w: &std::ops::Range<usize>| text.get(offsets[w.start].0..offsets[w.end - 1].1).unwrap_or("");
    let per_word: Vec<[bool; 8]> = words.iter().map(|w| word_features(word_text(w))).collect();
    let mut out = vec![[0f32; SHAPE]; offsets.len()];
    for (k, w) in words.iter().enumerate() {
        let own = per_word[k];
        let capitalised = |j: Option<usize>| j.and_then(|j| per_word.get(j)).is_some_and(|f| f[0]);
        let lower = word_text(w).to_lowercase();
        let extra =
            [k == 0, capitalised(k.checked_sub(1)), capitalised(Some(k + 1)), JOINERS.contains(&lower.as_str())];
        for t in w.clone() {
            let row = &mut out[t];
            for (slot, on) in own.iter().chain(&extra).chain([&(t > w.start)]).enumerate() {
                row[slot] = f32::from(u8::from(*on));
            }
            // Words longer than one token: the share of the word before this one.
            row[SHAPE - 1] = (t - w.start) as f32 / w.len() as f32;
        }
    }
    out
}

/// `states` with each token's shape features appended.
pub fn append(text: &str, offsets: &[(usize, usize)], states: &[Vec<f32>]) -> Vec<Vec<f32>> {
    states.iter().zip(features(text, offsets)).map(|(s, f)| s.iter().copied().chain(f).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offsets of whitespace-split words, "##"-style pieces split at `|`.
    fn tokens(spec: &str) -> (String, Vec<(usize, usize)>) {
        let (mut text, mut offsets) = (String::new(), Vec::new());
        for (i, word) in spec.split(' ').enumerate() {
            if i > 0 {
                text.push(' ');
            }
            for piece in word.split('|') {
                offsets.push((text.len(), text.len() + piece.len()));
                text.push_str(piece);
            }
        }
        (text, offsets)
    }

    #[test]
    fn pieces_share_their_words_shape() {
        let (text, offsets) = tokens("see Ouaga|dougou on March 3|rd at 7pm ,");
        assert_eq!(words(&text, &offsets).len(), 8);
        let f = features(&text, &offsets);
        let on = |t: usize, slot: usize| f[t][slot] == 1.0;
        assert!(on(1, 0) && on(2, 0), "both pieces of a capitalised word");
        assert!(on(2, 12) && !on(1, 12), "the second piece is a continuation");
        assert!(on(4, 5) && !on(1, 5), "March is a month, Ouagadougou is not");
        assert!(on(5, 6) && on(6, 6) && on(5, 3), "3rd is an ordinal with a digit");
        assert!(on(8, 7), "7pm is a clock time");
        assert!(on(9, 4), "the comma is punctuation");
        assert!(on(0, 8) && !on(1, 8), "the first word");
        assert!(on(3, 9) && on(3, 10) && on(3, 11), "on sits between two capitalised words and joins names");
        assert_eq!(f[2][13], 0.5);
    }

    #[test]
    fn months_are_not_any_word_starting_like_one() {
        for (word, month) in [("march", true), ("Sept", true), ("mar", true), ("mark", false), ("maybe", false)] {
            assert_eq!(word_features(word)[5], month, "{word}");
        }
        assert!(word_features("Friday")[6] && !word_features("Fridays!!")[6]);
        assert_eq!(append("hi", &[(0, 2)], &[vec![0.5]])[0].len(), 1 + SHAPE);
    }
}
