//! Rendering helpers: the plain-text fallback for platforms (or terminals)
//! without buttons or attachments, and [`pieces`], the platform-neutral cut
//! of a reply into sendable messages that chat platforms share.

use crate::{split_text, Attachment, AttachmentKind, Button, Part};

/// One platform message of a reply, before platform encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A text message, with native buttons under it when `buttons` is not empty.
    Text {
        /// Within the platform's length limit.
        text: String,
        /// The buttons, in order.
        buttons: Vec<Button>,
    },
    /// A file message.
    File(Attachment),
}

/// Shown above buttons that follow no text.
pub const CHOOSE: &str = "Choose an option:";

/// Cuts reply parts into platform messages: text (and handoff notices) split
/// at sentence or line boundaries within `limit` UTF-16 units; buttons
/// hung under the text before them (or under [`CHOOSE`]), at most
/// `max_buttons` of them, and only those `native` accepts, the rest listed as
/// text to type; attachments as files.
pub fn pieces(parts: &[Part], limit: usize, max_buttons: usize, native: impl Fn(&Button) -> bool) -> Vec<Piece> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            Part::Text { text } | Part::Handoff { notice: text } => {
                out.extend(split_text(text, limit).into_iter().map(|text| Piece::Text { text, buttons: Vec::new() }));
            }
            Part::Buttons { buttons } => {
                let (mut ok, mut typed): (Vec<&Button>, Vec<&Button>) = buttons.iter().partition(|b| native(b));
                if ok.len() > max_buttons {
                    typed.extend(ok.split_off(max_buttons));
                }
                if !typed.is_empty() {
                    let lines: Vec<String> =
                        typed.iter().map(|b| format!("• {} (send \"{}\")", b.title, b.payload)).collect();
                    out.extend(
                        split_text(&lines.join("\n"), limit)
                            .into_iter()
                            .map(|text| Piece::Text { text, buttons: Vec::new() }),
                    );
                }
                if ok.is_empty() {
                    continue;
                }
                let ok: Vec<Button> = ok.into_iter().cloned().collect();
                match out.last_mut() {
                    Some(Piece::Text { buttons, .. }) if buttons.is_empty() => *buttons = ok,
                    _ => out.push(Piece::Text { text: CHOOSE.into(), buttons: ok }),
                }
            }
            Part::Attachment(a) => out.push(Piece::File(a.clone())),
        }
    }
    out
}

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

    fn button(title: &str, payload: &str) -> Button {
        Button { title: title.into(), payload: payload.into() }
    }

    #[test]
    fn buttons_hang_under_the_text_before_them() {
        let parts = vec![
            Part::Text { text: "What do you need?".into() },
            Part::Buttons { buttons: vec![button("Refund", "/refund_request"), button("Human", "/talk_to_human")] },
        ];
        let out = pieces(&parts, 100, 25, |_| true);
        assert_eq!(out.len(), 1);
        let Piece::Text { text, buttons } = &out[0] else { panic!() };
        assert_eq!((text.as_str(), buttons.len()), ("What do you need?", 2));
    }

    #[test]
    fn buttons_after_a_file_get_a_prompt_and_refused_or_surplus_ones_become_text() {
        let file = Attachment {
            kind: AttachmentKind::Audio,
            url: "/f/m.wav".into(),
            name: "m.wav".into(),
            mime: "audio/wav".into(),
        };
        let parts = vec![
            Part::Attachment(file.clone()),
            Part::Buttons {
                buttons: vec![button("Again", "/again"), button("Odd", "free text"), button("More", "/more")],
            },
        ];
        let out = pieces(&parts, 100, 1, |b| b.payload.starts_with('/'));
        assert_eq!(out[0], Piece::File(file));
        // Surplus and refused buttons are listed as text; the native ones hang under that list.
        let typed = "• Odd (send \"free text\")\n• More (send \"/more\")";
        assert_eq!(out[1], Piece::Text { text: typed.into(), buttons: vec![button("Again", "/again")] });
        assert_eq!(out.len(), 2);
        let only_native = pieces(&parts[1..], 100, 5, |_| true);
        assert_eq!(
            only_native[0],
            Piece::Text {
                text: CHOOSE.into(),
                buttons: match &parts[1] {
                    Part::Buttons { buttons } => buttons.clone(),
                    _ => unreachable!(),
                }
            }
        );
    }

    #[test]
    fn long_text_and_notices_are_split_under_the_limit() {
        let text = "Refunds take five working days. ".repeat(300);
        let parts = vec![Part::Text { text }, Part::Handoff { notice: "An agent will join.".into() }];
        let out = pieces(&parts, 2000, 25, |_| true);
        assert!(out.len() >= 5);
        for p in &out {
            let Piece::Text { text, .. } = p else { panic!() };
            assert!(text.encode_utf16().count() <= 2000 && text.ends_with('.'));
        }
    }

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
