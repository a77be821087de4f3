//! The detectors: emails, phone numbers, payment cards (with the Luhn
//! check), IBANs (with the ISO 13616 mod-97 check) and street address
//! lines. Each finds candidates with a regular expression and keeps those
//! its check accepts, so an order number, a date, a price or a seat is not
//! taken for personal data.
//!
//! # Layout
//! - `mod.rs`: the kinds, [`find`], and the email, digit (card, phone) and
//!   IBAN detectors with their checks.
//! - `address.rs`: street lines in each country's shapes and post-office
//!   boxes.

mod address;

use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

/// A kind of personal data a detector finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `jo@example.com`.
    Email,
    /// `+44 20 7946 0958`, `(212) 555-0147`, `07700 900123`.
    Phone,
    /// 13 to 19 digits that pass the Luhn check, spaced or not.
    Card,
    /// An IBAN whose check digits hold.
    Iban,
    /// A street address line: `221B Baker Street`, `12 rue de la Paix`.
    Address,
}

impl Kind {
    /// Every detector.
    pub const ALL: [Kind; 5] = [Kind::Email, Kind::Phone, Kind::Card, Kind::Iban, Kind::Address];

    /// Its name in placeholders and reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::Address => "address",
        }
    }
}

/// A piece of personal data in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Start byte.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// What it is: a detector's name, or a sensitive entity's.
    pub kind: String,
    /// What replaces it: `[email]`, `[card ••••4242]`.
    pub placeholder: String,
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid built-in pattern")
}

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)\b[a-z0-9][a-z0-9._%+'’-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b"));
static DIGITS: LazyLock<Regex> = LazyLock::new(|| regex(r"(?:\+|\b)\d(?:[\d \t().\-]*\d)?\b\)?"));
static IBAN: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)\b[a-z]{2}\d{2}(?:[ ]?[a-z0-9]){11,30}\b"));
static DATE: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^(?:\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}|\d{1,2}[-/.]\d{1,2}|\d{4}\s*[-/]\s*\d{2,4})$"));

/// Every detector's findings in `text`, in `kinds`, possibly overlapping.
pub(super) fn find(text: &str, kinds: &[Kind]) -> Vec<Found> {
    let mut out = Vec::new();
    // Every detector needs a digit or an `@`: most strings of a turn's
    // record (intent names, rules, sources) have neither.
    if !text.bytes().any(|b| b.is_ascii_digit() || b == b'@') {
        return out;
    }
    let has = |k: Kind| kinds.contains(&k);
    let found =
        |start, end, kind: Kind, placeholder: String| Found { start, end, kind: kind.name().into(), placeholder };
    if has(Kind::Email) {
        out.extend(EMAIL.find_iter(text).map(|m| found(m.start(), m.end(), Kind::Email, "[email]".into())));
    }
    if has(Kind::Iban) {
        for m in IBAN.find_iter(text) {
            // The pattern may run on into the next word: drop trailing groups until the check holds.
            let mut candidate = m.as_str();
            while !iban_valid(candidate) {
                match candidate.rfind(' ') {
                    Some(cut) => candidate = &candidate[..cut],
                    None => break,
                }
            }
            if iban_valid(candidate) {
                out.push(found(m.start(), m.start() + candidate.len(), Kind::Iban, "[iban]".into()));
            }
        }
    }
    if has(Kind::Card) || has(Kind::Phone) {
        for m in DIGITS.find_iter(text) {
            let (start, s) = trim_digits(text, m.start(), m.as_str());
            // Digits inside an email or an IBAN already found are theirs.
            if out.iter().any(|f| start < f.end && f.start < start + s.len()) {
                continue;
            }
            // Digits that are part of an identifier ("INV-2026-004512", "#48213377").
            if part_of_an_identifier(text, start) {
                continue;
            }
            let digits: String = s.chars().filter(char::is_ascii_digit).collect();
            if has(Kind::Card)
                && (13..=19).contains(&digits.len())
                && luhn(&digits)
                && !s.starts_with('+')
                && !last_words_include(&text[..start], NOT_A_PAYMENT_CARD)
            {
                let last4 = &digits[digits.len() - 4..];
                out.push(found(start, start + s.len(), Kind::Card, format!("[card ••••{last4}]")));
            } else if has(Kind::Phone)
                // A bracketed area code, a `+` prefix or a trunk `0` before an
                // area code is a phone whatever the words before.
                && (s.starts_with(['(', '+']) || trunk_and_area_code(s, &digits) || !names_a_reference(&text[..start]))
                && (phone_like(s, &digits) || local_phone(&text[..start], s, &digits) || chat_link(&text[..start]))
            {
                out.push(found(start, start + s.len(), Kind::Phone, "[phone]".into()));
            }
        }
    }
    if has(Kind::Address) {
        address::find(text, &mut out);
    }
    out
}

/// A digit run without the separators at its ends; an opening bracket is
/// kept when the run closes it.
fn trim_digits<'t>(text: &'t str, start: usize, s: &'t str) -> (usize, &'t str) {
    let mut start = start;
    let mut s = s.trim_end_matches([' ', '\t', '.', '-', '/']);
    if !s.contains('(') {
        s = s.trim_end_matches(')');
    }
    if s.contains(')') && !s.contains('(') && start > 0 && text.as_bytes()[start - 1] == b'(' {
        start -= 1;
        s = &text[start..start + s.len() + 1];
    }
    (start, s)
}

/// Whether a digit run looks like a phone number rather than an amount,
/// a date, an order or a seat: 7 to 15 digits, and an international
/// prefix, a trunk `0`, an area code in brackets, or at least 9 digits
/// in groups; never a date.
fn phone_like(s: &str, digits: &str) -> bool {
    let international = s.starts_with('+') || s.starts_with("00");
    // E.164 allows 15 digits with the country code; national numbers have
    // at most 12; after a `00` prefix come a country code and 7 digits or more.
    if !(7..=15).contains(&digits.len())
        || (!international && digits.len() > 12)
        || (s.starts_with("00") && digits.len() < 10)
        || DATE.is_match(s)
    {
        return false;
    }
    let grouped = s.contains([' ', '-', '.', '(', ')']);
    // Decimal amounts ("1.234.567,00", "12.50") are no phones.
    if s.matches('.').count() == 1 && s.rsplit('.').next().is_some_and(|d| d.len() <= 2) {
        return false;
    }
    international
        || s.starts_with('(')
        || (s.starts_with('0') && digits.len() >= 9)
        || (grouped && digits.len() >= 9)
        || (!grouped && (10..=11).contains(&digits.len()))
}

/// A national number in a phone's layout: a trunk `0`, 10 or 11 digits in
/// two or three groups, the first (the area code) of 3 to 5 digits
/// (`020 3123 4567`, `0161 496 0753`, `0170 1234567`). Reference numbers
/// rarely start with a lone 0 and fall into those groups.
fn trunk_and_area_code(s: &str, digits: &str) -> bool {
    let groups: Vec<&str> = s.split([' ', '-']).filter(|g| !g.is_empty()).collect();
    s.starts_with('0')
        && !s.starts_with("00")
        && (10..=11).contains(&digits.len())
        && (2..=3).contains(&groups.len())
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()))
        && (3..=5).contains(&groups[0].len())
}

/// Words just before a number that say it is a phone number.
const PHONE_WORDS: &[&str] = &[
    "call",
    "phone",
    "tel",
    "tel.",
    "telephone",
    "mobile",
    "cell",
    "number",
    "ring",
    "text",
    "whatsapp",
    "reach",
    "tlf",
    "tlf.",
    "telefon",
    "puh",
    "puh.",
    "handy",
    "móvil",
    "movil",
    "celular",
    "numéro",
    "numero",
    "número",
    "mob",
    "mob.",
];

/// A seven- or eight-digit local number in groups (`555-0123`,
/// `22 33 44 55`) right after a word that says it is a phone number
/// ("call me on 555-0123", "tlf 22 33 44 55").
fn local_phone(before: &str, s: &str, digits: &str) -> bool {
    (7..=8).contains(&digits.len()) && s.contains(['-', ' ', '.']) && last_words_include(before, PHONE_WORDS)
}

/// Words just before a number that say it is a reference, not a phone
/// number ("ticket number 00012345678", "order ref 8812-7731-2290").
const REFERENCE_WORDS: &[&str] = &[
    "order",
    "ticket",
    "booking",
    "ref",
    "ref.",
    "reference",
    "confirmation",
    "invoice",
    "tracking",
    "code",
    "id",
    "account",
    "transaction",
    "receipt",
    "case",
    "customer",
    "member",
    "membership",
    "voucher",
    "loyalty",
    "gift",
    "serial",
    "rewards",
    "reward",
    "points",
];

/// Words just before a Luhn-valid number that say it is no payment card
/// ("loyalty card 6331 1019 9999 0016").
const NOT_A_PAYMENT_CARD: &[&str] = &["loyalty", "gift", "voucher", "member", "membership", "library"];

/// Whether one of the three words before a number names a reference.
fn names_a_reference(before: &str) -> bool {
    last_words_include(before, REFERENCE_WORDS)
}

/// Whether one of the last three words of `before` is in `list` (any case).
fn last_words_include(before: &str, list: &[&str]) -> bool {
    before
        .split(|c: char| !c.is_alphanumeric() && c != '.')
        .filter(|w| !w.is_empty())
        .rev()
        .take(3)
        .any(|w| list.contains(&w.to_lowercase().as_str()))
}

/// Whether the digits at `start` continue an identifier: right after
/// `#`, or after a hyphen or slash that follows a letter or digit
/// (`INV-2026-004512`, `A-100234-77`).
fn part_of_an_identifier(text: &str, start: usize) -> bool {
    if chat_link(&text[..start]) {
        return false;
    }
    let mut before = text[..start].chars().rev();
    match before.next() {
        Some('#') => true,
        Some('-' | '/') => before.next().is_some_and(char::is_alphanumeric),
        _ => false,
    }
}

/// Whether the digits after `before` are a chat link's phone number, in
/// full international form without the `+` (`wa.me/447700900123`).
fn chat_link(before: &str) -> bool {
    before.to_lowercase().ends_with("wa.me/")
}

/// The Luhn check of a card number.
pub(super) fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, d) in digits.bytes().rev().map(|b| u32::from(b - b'0')).enumerate() {
        sum += match i % 2 {
            1 if d * 2 > 9 => d * 2 - 9,
            1 => d * 2,
            _ => d,
        };
    }
    sum % 10 == 0
}

/// The ISO 13616 check: the country code and check digits moved to the
/// end, letters as numbers (A = 10), the whole mod 97 is 1.
pub(super) fn iban_valid(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
    if !(15..=34).contains(&compact.len()) || !compact[2..4].chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let rotated = format!("{}{}", &compact[4..], &compact[..4]);
    let mut rem: u32 = 0;
    for c in rotated.chars() {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    rem == 1
}

#[cfg(test)]
mod tests;
