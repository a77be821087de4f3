//! The recommender in a conversation: the `recommend` tool reads the fan's
//! message (a title they like, "on" vs "watch"), the buttons they pressed
//! ("more like this", "not for me") and what it remembered in slots, and
//! answers with suggestions as buttons, each with its reason.
//!
//! Slots it keeps (comma-separated catalogue ids): `rec_liked`,
//! `rec_disliked`, `rec_shown` (the last set shown). The fan's history
//! comes in `history` (the `fan_history` backend action saves it).

use std::collections::BTreeMap;

use usher_channel::Button;

use super::catalogue::Kind;
use super::service::{Recommender, Request};
use crate::Error;

/// The payload of "not for me": every item of the last set is turned down.
pub const NOT_FOR_ME: &str = "/not_for_me";
/// The payload prefix of a suggestion's button: more like this one.
pub const MORE_LIKE: &str = "/more_like";

/// What the tool answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The message.
    pub text: String,
    /// One button per suggestion, then "Not for me".
    pub buttons: Vec<Button>,
    /// Slot changes.
    pub slots: BTreeMap<String, String>,
}

/// Catalogue ids from a comma-separated list (a slot, a backend's `history`).
pub fn ids(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn list(values: &BTreeMap<String, String>, slot: &str) -> Vec<String> {
    ids(values.get(slot).map_or("", String::as_str))
}

fn push_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for i in items {
        if !list.contains(&i) {
            list.push(i);
        }
    }
}

/// Whether the fan asks for something to see at a venue, or to watch.
pub fn kind_asked(text: &str) -> Option<Kind> {
    let t = format!(" {} ", text.to_lowercase());
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    let event = has(&[
        " on near",
        "what's on",
        "whats on",
        " gig",
        "concert",
        " show ",
        " shows",
        " event",
        "weekend",
        " live",
        "tickets",
        " see ",
    ]);
    let title = has(&[" watch", " stream", " film", " movie", " series", " episode"]);
    match (event, title) {
        (true, false) => Some(Kind::Event),
        (false, true) => Some(Kind::Title),
        _ => None,
    }
}

/// The title after "like" in "something like Xyzzy", when the fan names one.
fn named_after_like(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let at = lower.find(" like ").map(|i| i + 6).or_else(|| lower.strip_prefix("like ").map(|_| 5))?;
    let name = text[at..].trim().trim_end_matches(['?', '!', '.']).trim();
    let skip = ["that", "this", "it", "those", "these", "to", "a ", "something", "what", "me"];
    (!name.is_empty() && !skip.iter().any(|s| name.to_lowercase().starts_with(s))).then(|| name.to_string())
}

/// Answers one turn. `history` is the fan's catalogue ids, oldest first.
pub fn reply(
    rec: &Recommender,
    text: &str,
    payload: Option<&str>,
    values: &BTreeMap<String, String>,
    history: &[String],
    rules: Option<&usher_intents::Recommendations>,
) -> Result<Reply, Error> {
    let catalogue = rec.catalogue();
    let mut liked = list(values, "rec_liked");
    let mut disliked = list(values, "rec_disliked");
    let shown = list(values, "rec_shown");
    let payload = payload.map(str::trim).unwrap_or("");
    let mut kind = kind_asked(text);
    if payload.starts_with(NOT_FOR_ME) {
        push_unique(&mut disliked, shown.iter().cloned());
        kind = values.get("rec_kind").and_then(|k| match k.as_str() {
            "event" => Some(Kind::Event),
            "title" => Some(Kind::Title),
            _ => None,
        });
    } else if payload.starts_with(MORE_LIKE) {
        if let Some(item) = values.get("item").filter(|i| catalogue.number(i).is_some()) {
            push_unique(&mut liked, [item.clone()]);
        }
    } else if let Some(n) = catalogue.find_title(text) {
        let id = catalogue.entry(n).map(|e| e.id.clone()).unwrap_or_default();
        disliked.retain(|d| *d != id);
        push_unique(&mut liked, [id]);
    } else if let Some(name) = named_after_like(text) {
        let examples: Vec<&str> =
            catalogue.entries.iter().filter(|e| e.available).take(3).map(|e| e.title.as_str()).collect();
        return Ok(Reply {
            text: format!(
                "I don't know a title called \"{name}\" in our catalogue. Which one do you mean? You could name one like {}.",
                examples.join(", ")
            ),
            buttons: Vec::new(),
            slots: BTreeMap::new(),
        });
    }
    let answer = rec.recommend(&Request { history, liked: &liked, disliked: &disliked, kind, rules })?;
    let mut slots = BTreeMap::new();
    // The history is remembered (its most recent part) for the next turn.
    let recent = &history[history.len().saturating_sub(super::service::HISTORY_WINDOW)..];
    slots.insert("history".to_string(), recent.join(","));
    let ids: Vec<String> = answer.suggestions.iter().map(|s| s.id.clone()).collect();
    slots.insert("rec_shown".to_string(), ids.join(","));
    slots.insert("rec_liked".to_string(), liked.join(","));
    slots.insert("rec_disliked".to_string(), disliked.join(","));
    let kind_slot = match kind {
        Some(Kind::Event) => "event",
        Some(Kind::Title) => "title",
        None => "",
    };
    slots.insert("rec_kind".to_string(), kind_slot.to_string());
    if answer.suggestions.is_empty() {
        return Ok(Reply {
            text: "I've run out of suggestions that fit: everything else is sold out, unavailable or something you turned down.".into(),
            buttons: Vec::new(),
            slots,
        });
    }
    let intro = match (answer.personalised, payload.starts_with(NOT_FOR_ME)) {
        (_, true) => "Fair enough, here's something different:",
        (true, false) => "You might like these:",
        (false, false) => "I don't know what you've watched or booked with us yet, so here's what's popular with fans:",
    };
    let lines: Vec<String> = answer.suggestions.iter().map(|s| format!("• {} ({})", s.title, s.reason)).collect();
    let mut buttons: Vec<Button> = answer
        .suggestions
        .iter()
        .map(|s| Button { title: s.title.clone(), payload: format!("{MORE_LIKE}{{\"item\": \"{}\"}}", s.id) })
        .collect();
    buttons.push(Button { title: "Not for me".into(), payload: NOT_FOR_ME.into() });
    Ok(Reply { text: format!("{intro}\n{}", lines.join("\n")), buttons, slots })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::recs::service::{hashed_content, load};
    use crate::recs::RecsConfig;

    fn encore() -> Recommender {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("catalogue/encore.yaml");
        load(&RecsConfig::default(), &path, |t| Ok(hashed_content(t))).unwrap()
    }

    fn shown(r: &Reply) -> Vec<String> {
        r.slots["rec_shown"].split(',').map(str::to_string).collect()
    }

    #[test]
    fn suggests_buttons_then_something_different_after_not_for_me() {
        let rec = encore();
        let history: Vec<String> = ["signal-from-vega", "the-long-orbit"].map(String::from).to_vec();
        let first = reply(&rec, "what should I watch next?", None, &BTreeMap::new(), &history, None).unwrap();
        assert!(first.text.starts_with("You might like these:"), "{}", first.text);
        assert!(first.text.contains("because you watched"), "{}", first.text);
        assert_eq!(first.buttons.last().unwrap().payload, NOT_FOR_ME);
        assert_eq!(first.buttons.len(), shown(&first).len() + 1);
        assert!(!shown(&first).iter().any(|i| history.contains(i)));
        assert!(shown(&first)
            .iter()
            .all(|i| rec.catalogue().entry(rec.catalogue().number(i).unwrap()).unwrap().kind == Kind::Title));
        // The next turn sees the slots the first one set.
        let second = reply(&rec, "", Some(NOT_FOR_ME), &first.slots, &history, None).unwrap();
        assert!(second.text.starts_with("Fair enough"), "{}", second.text);
        assert!(
            shown(&second).iter().all(|i| !shown(&first).contains(i)),
            "{:?} then {:?}",
            shown(&first),
            shown(&second)
        );
        assert_eq!(second.slots["rec_disliked"], first.slots["rec_shown"]);
    }

    #[test]
    fn names_a_liked_title_clarifies_an_unknown_one_and_says_when_it_is_not_personal() {
        let rec = encore();
        let liked = reply(&rec, "anything like Paper Hearts?", None, &BTreeMap::new(), &[], None).unwrap();
        assert_eq!(liked.slots["rec_liked"], "paper-hearts");
        assert!(liked.text.contains("like Paper Hearts, which you asked about"), "{}", liked.text);
        let unknown = reply(&rec, "something like Xyzzy", None, &BTreeMap::new(), &[], None).unwrap();
        assert!(unknown.text.contains("I don't know a title called \"Xyzzy\""), "{}", unknown.text);
        assert!(unknown.buttons.is_empty() && unknown.slots.is_empty());
        let cold = reply(&rec, "surprise me", None, &BTreeMap::new(), &[], None).unwrap();
        assert!(cold.text.contains("popular with fans"), "{}", cold.text);
        // Sold out, cancelled or withdrawn items are never suggested.
        let events = reply(&rec, "what's on near me", None, &BTreeMap::new(), &[], None).unwrap();
        assert!(
            !shown(&events).iter().any(|i| ["ev-sold-out-gala", "ev-lumineers"].contains(&i.as_str())),
            "{:?}",
            shown(&events)
        );
        assert!(shown(&events).iter().all(|i| i.starts_with("ev-")));
    }

    #[test]
    fn reads_what_the_fan_asks_for() {
        assert_eq!(kind_asked("what's on near me this weekend"), Some(Kind::Event));
        assert_eq!(kind_asked("what should I watch next?"), Some(Kind::Title));
        assert_eq!(kind_asked("surprise me"), None);
        assert_eq!(named_after_like("anything like Xyzzy?").as_deref(), Some("Xyzzy"));
        assert_eq!(named_after_like("I'd like something fun"), None);
    }
}
