//! Plain-text fallback rendering, for platforms (or terminals) without
//! buttons or attachments.

use crate::{AttachmentKind, Part};

/// Renders reply parts as plain text: buttons become a numbered list with
/// the text to type, attachments become labelled links.
pub fn render_plain(parts: &[Part]) -> String {
    let mut lines = Vec::new();
    for part in parts {
        match part {
            Part::Text { text } => lines.push(text.clone()),
            Part::Buttons { buttons } => {
                for (i, b) in buttons.iter().enumerate() {
                    lines.push(format!("  [{}] {} (reply \"{}\")", i + 1, b.title, b.payload));
                }
            }
            Part::Attachment(a) => {
                let label = match a.kind {
                    AttachmentKind::Image => "image",
                    AttachmentKind::Audio => "audio",
                    AttachmentKind::File => "file",
                };
                lines.push(format!("[{label}: {}] {}", a.name, a.url));
            }
            Part::Handoff { notice } => lines.push(format!("-- {notice} --")),
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Attachment, Button};

    #[test]
    fn degrades_every_part_to_text() {
        let parts = vec![
            Part::Text { text: "Hello".into() },
            Part::Buttons { buttons: vec![Button { title: "Refund".into(), payload: "/refund".into() }] },
            Part::Attachment(Attachment {
                kind: AttachmentKind::Audio,
                url: "/files/a.wav".into(),
                name: "a.wav".into(),
                mime: "audio/wav".into(),
            }),
            Part::Handoff { notice: "A person will answer".into() },
        ];
        let text = render_plain(&parts);
        assert_eq!(
            text,
            "Hello\n  [1] Refund (reply \"/refund\")\n[audio: a.wav] /files/a.wav\n-- A person will answer --"
        );
    }
}
