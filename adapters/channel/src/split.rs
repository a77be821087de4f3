//! Splitting long replies to fit a platform's message length limit.

/// Splits `text` into pieces of at most `limit` UTF-16 code units (the unit
/// Telegram and Discord count in), cutting at the last paragraph, line,
/// sentence or word boundary that fits, and only mid-word when a single
/// word is longer than the limit. Pieces are trimmed; empty ones are dropped.
pub fn split_text(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(1);
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let fit = prefix_within(rest, limit);
        if fit == rest.len() {
            pieces.push(rest.to_string());
            break;
        }
        let cut = boundary(&rest[..fit]).unwrap_or(fit);
        let piece = rest[..cut].trim_end();
        if !piece.is_empty() {
            pieces.push(piece.to_string());
        }
        rest = rest[cut..].trim_start();
    }
    pieces
}

/// The byte length of the longest prefix of `s` within `limit` UTF-16 units
/// (at least one character, so progress is guaranteed).
fn prefix_within(s: &str, limit: usize) -> usize {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        units += c.len_utf16();
        if units > limit {
            return if i == 0 { c.len_utf8() } else { i };
        }
    }
    s.len()
}

/// The best place to cut `window` (a byte offset just after the boundary):
/// paragraph, then line, then sentence end, then word.
fn boundary(window: &str) -> Option<usize> {
    // Ignore boundaries in the first quarter: they would make tiny pieces.
    let floor = window.len() / 4;
    let after = |at: Option<usize>, len: usize| at.map(|i| i + len).filter(|&i| i > floor);
    after(window.rfind("\n\n"), 2)
        .or_else(|| after(window.rfind('\n'), 1))
        .or_else(|| {
            let ends = [". ", "! ", "? ", "… ", ".\t", "。"];
            let best = ends.iter().filter_map(|e| window.rfind(e).map(|i| i + e.len())).max();
            best.filter(|&i| i > floor)
        })
        .or_else(|| after(window.rfind(char::is_whitespace), 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_piece() {
        assert_eq!(split_text("  Hello there.  ", 4096), vec!["Hello there."]);
        assert!(split_text("   ", 10).is_empty());
    }

    #[test]
    fn cuts_at_sentences_then_words_and_keeps_every_word() {
        let text = "First sentence here. Second one is a bit longer. Third.";
        let pieces = split_text(text, 30);
        assert_eq!(pieces, vec!["First sentence here.", "Second one is a bit longer.", "Third."]);
        let words = "alpha beta gamma delta epsilon zeta eta theta";
        let pieces = split_text(words, 12);
        assert!(pieces.iter().all(|p| p.encode_utf16().count() <= 12), "{pieces:?}");
        assert_eq!(pieces.join(" "), words);
    }

    #[test]
    fn prefers_paragraphs_and_lines() {
        let text = format!("{}\n\n{}\n{}", "a".repeat(50), "b".repeat(30), "c".repeat(30));
        let pieces = split_text(&text, 70);
        assert_eq!(pieces, vec!["a".repeat(50), format!("{}\n{}", "b".repeat(30), "c".repeat(30))]);
    }

    #[test]
    fn counts_utf16_units_and_never_splits_a_character() {
        // Each emoji is two UTF-16 units.
        let text = "😀".repeat(10);
        let pieces = split_text(&text, 5);
        assert!(pieces.iter().all(|p| p.encode_utf16().count() <= 5));
        assert_eq!(pieces.concat(), text);
        let long_word = "x".repeat(25);
        assert_eq!(split_text(&long_word, 10).len(), 3);
    }

    #[test]
    fn telegram_sized_text_fits() {
        let sentence = "Your refund goes back to the card you paid with within five working days. ";
        let text = sentence.repeat(200);
        let pieces = split_text(&text, 4096);
        assert!(pieces.len() >= 4);
        assert!(pieces.iter().all(|p| p.encode_utf16().count() <= 4096 && p.ends_with('.')));
    }
}
