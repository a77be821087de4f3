//! Inline entity annotation in examples: `refund [A12345](order_id) please`.

use super::domain::{Example, Span};

/// Parses an example; the error says what is malformed.
pub(crate) fn parse(raw: &str) -> Result<Example, String> {
    let mut text = String::with_capacity(raw.len());
    let mut entities = Vec::new();
    let mut rest = raw;
    while let Some(open) = rest.find('[') {
        text.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find("](").ok_or_else(|| format!("unclosed annotation in {raw:?}: write [text](entity)"))?;
        let value = &after[..close];
        let tail = &after[close + 2..];
        let end = tail.find(')').ok_or_else(|| format!("missing ')' after entity name in {raw:?}"))?;
        let entity = tail[..end].trim();
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '_';
        if value.is_empty() || value.contains('[') {
            return Err(format!("empty or nested annotation in {raw:?}"));
        }
        if entity.is_empty() || !entity.chars().all(valid) {
            return Err(format!("bad entity name {entity:?} in {raw:?}: use letters, digits and _"));
        }
        let start = text.len();
        text.push_str(value);
        entities.push(Span { start, end: text.len(), entity: entity.to_string() });
        rest = &tail[end + 1..];
    }
    text.push_str(rest);
    Ok(Example { text: text.trim().to_string(), entities })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_markup_and_records_spans() {
        let ex = parse("refund [A12345](order_id) to [me@x.io](email)").unwrap();
        assert_eq!(ex.text, "refund A12345 to me@x.io");
        assert_eq!(&ex.text[ex.entities[0].start..ex.entities[0].end], "A12345");
        assert_eq!(ex.entities[1].entity, "email");
        assert_eq!(&ex.text[ex.entities[1].start..ex.entities[1].end], "me@x.io");
        assert!(parse("plain text").unwrap().entities.is_empty());
    }

    #[test]
    fn rejects_malformed_markup() {
        assert!(parse("refund [A12345 please").is_err());
        assert!(parse("refund [A12345](order id)").is_err());
        assert!(parse("refund [](order_id)").is_err());
        assert!(parse("refund [A1](order_id").is_err());
    }
}
