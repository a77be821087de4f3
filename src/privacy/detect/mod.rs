//! The detectors: emails, phone numbers, payment cards (with the Luhn
//! check), IBANs (with the ISO 13616 mod-97 check) and street address
//! lines. Each finds candidates with a regular expression and keeps those
//! its check accepts, so an order number, a date, a price or a seat is not
//! taken for personal data.

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
/// Street types written after the name, in English (the USPS and Royal
/// Mail thoroughfare lists, less those that are also seat or show words:
/// row, run, park, point, view).
const SUFFIXES: &str = "street|st|road|rd|avenue|ave|lane|ln|boulevard|blvd|drive|dr|court|ct|place|pl|way|\
    terrace|ter|close|crescent|cres|square|sq|parkway|pkwy|highway|hwy|alley|aly|circle|cir|loop|trail|trl|walk|\
    path|mews|grove|gardens|gdns|parade|esplanade|quay|wharf|plaza|plz|circuit|expressway|freeway|pike|crossing|wynd|\
    broadway|embankment|yard";
/// Street types that are also seat, venue or title words: they count only
/// when capitalised, as a name's are, and not before another word (`3
/// Tannery Row`, `12 St Stephen's Green`, not "2 seats back row" or "2
/// Jurassic Park tickets" or "2 Green Day tickets").
const CAPITALISED_SUFFIXES: &str = "Row|View|Park|Rise|Hill|Vale|Green";
/// Compass points after a street type (`Queen St W`, `Wellington Street
/// West`), and the Irish upper and lower ends (`Leeson Street Upper`).
const DIRECTIONS: &str = "n|s|e|w|ne|nw|se|sw|north|south|east|west|upper|lower";
/// Street types written before the name after a house number (French:
/// `12 rue de la Paix`, `23 avenue des Champs`; Welsh `7 Heol y Wern`;
/// Malay `20 Jalan Sultan`).
const NUMBER_THEN_TYPE: &str =
    "rue|avenue|boulevard|bd|place|allée|allee|chemin|impasse|quai|faubourg|calle|avenida|via|rua|paseo|passeig|\
    heol|ffordd|stryd|jalan|jln|lorong";
/// Street types written before the name with the number after it
/// (Spanish, Catalan, Italian, Portuguese: `Calle de Alcalá 42`, `via Roma 10`).
/// Also French as written in Belgium and Switzerland (`Rue Neuve 23`) and
/// Polish (`ul. Marszałkowska 1`).
const TYPE_THEN_NUMBER: &str = "calle|avenida|paseo|passeig|plaza|carrer|avinguda|via|viale|corso|piazza|largo|rua|\
    travessa|praça|rue|avenue|boulevard|chaussée|chaussee|quai|ul\\.|al\\.|ulica|aleja";
/// Street types that end a one-word street name, number after (German,
/// Dutch, Scandinavian, Finnish, Hungarian: `Bahnhofstraße 12`,
/// `Keizersgracht 123`, `Drottninggatan 5`, `Mannerheimintie 10`).
/// Not `-gate` (delegate, navigate); English words with these endings are
/// in [`NOT_A_COMPOUND`].
const COMPOUNDS: &str = "strasse|straße|gasse|weg|allee|platz|damm|ufer|straat|laan|gracht|plein|kade|singel|dijk|\
    gatan|gata|gade|vej|vägen|väg|veien|vei|tie|katu|utca|ulice";
/// Street type words written after a name of one to three words, number
/// last (`Mariahilfer Straße 88`, `Karl Johans gate 22`).
/// Hungarian too (`Andrássy út 39`).
/// Czech and Slovak too (`Václavské náměstí 12`, `Národní třída 8`).
const TYPE_AFTER_NAME: &str = "straße|strasse|gasse|gate|gata|gatan|gade|vej|vei|veien|väg|vägen|weg|allee|platz|út|\
    utca|náměstí|námestie|třída|trieda|nábřeží";
/// Words that may stand before a one-word compound street name (`Korte
/// Leidsedwarsstraat 12`, `Große Bleichen 3` is not one: no compound).
/// A capitalised German adjective of place may too (`Landstraßer
/// Hauptstraße 61`, `Frankfurter Allee` is a separate type word).
const BEFORE_A_COMPOUND: &str =
    "korte|lange|nieuwe|oude|kleine|grote|große|grosse|alte|neue|obere|untere|eerste|tweede";
/// English words with a compound's ending.
const NOT_A_COMPOUND: &[&str] = &["brigade", "renegade", "cutie", "untie", "necktie", "bowtie", "survei"];

/// Street lines in three shapes: number first (`221B Baker Street`,
/// `12 rue de la Paix`, `27 Hauptstrasse`), type first with the number
/// last (`via Roma 10`), and one-word German or Dutch names (`Damstraat 5`).
/// `before`, `after` and `name` hold the words the checks look at.
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    let word = r"(?:\d+(?:st|nd|rd|th)|[\p{L}'’.-]+)";
    regex(&format!(
        r"(?i)\b(?:\d{{1,5}}[a-z]?/)?\d{{1,5}}[a-z]?,?[ \t]+(?:(?:{NUMBER_THEN_TYPE})[ \t]+(?P<after>(?:{word}[ \t]*){{1,4}})|(?P<before>(?:{word}[ \t]+){{0,3}})(?:{SUFFIXES}|(?-i:{CAPITALISED_SUFFIXES}))\b\.?(?:[ \t]+(?:{DIRECTIONS})\b\.?)?|(?P<compound>\p{{L}}+(?:{COMPOUNDS}))\b)|\b(?:(?:{TYPE_THEN_NUMBER})[ \t]+(?P<name>(?:{word}[ \t]+){{1,4}}?),?[ \t]*|(?P<compound_first>(?:(?:{BEFORE_A_COMPOUND}|(?-i:\p{{Lu}}\p{{Ll}}{{2,}}er))[ \t]+)?[\p{{L}}-]+(?:{COMPOUNDS}))[ \t]+|(?P<owner>(?:{word}[ \t]+){{1,3}}?)(?:{TYPE_AFTER_NAME})[ \t]+)\d{{1,4}}[a-z]?\b"
    ))
});

/// A word for "number" just before a house number (`No. 6`, `Nr. 12`, `nº 4`).
static NUMBER_WORD: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)\b(?:no\.?|nr\.?|n[º°]\.?)[ \t]*$"));

/// A post-office box (`P.O. Box 4471`, `Postfach 12 34`, `Apartado 120`).
static PO_BOX: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b(?:p\.?[ \t]?o\.?[ \t]?box|post[ \t]+office[ \t]+box|postfach|apartado(?:[ \t]+de[ \t]+correos)?|case[ \t]+postale|casella[ \t]+postale|boîte[ \t]+postale)[ \t]+\d{1,6}\b",
    )
});

/// Words that introduce an address line ("my address is", "I live at",
/// "ship it to", "send the signed poster to"), in English, and the word
/// for address in French, German, Spanish, Italian, Dutch, Polish,
/// Czech, Swedish, Portuguese, Finnish and Hungarian.
static INTRODUCED: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)\b(?:(?:address|adresse|anschrift|dirección|direccion|indirizzo|adres|adresa|adress|endereço|morada|osoite|cím)(?:[ \t]+is)?[ \t]*[:\-–—]?|li(?:ve|ves|ved|ving)[ \t]+(?:at|on)|(?:ship|send|sent|deliver|post|mail)(?:ped|ed)?(?:[ \t]+(?:it|them|this|the(?:[ \t]+\w+){1,2}))?[ \t]+to|billing[ \t]*:|shipping[ \t]*:)[ \t]+",
    )
});

/// A street line with no street type after an introduction: capitalised
/// words, maybe joined by a short lowercase word, with the house number
/// first or last (`77 Sunset Strip`, `Kingsway 5`, `7 Heol y Wern`). Case matters here: the capitals are what mark a name.
static NAMED_STREET: LazyLock<Regex> = LazyLock::new(|| {
    let connectors = CONNECTORS.join("|");
    let name = format!(r"\p{{Lu}}[\p{{L}}'’-]*(?:[ \t]+(?:(?:{connectors})[ \t]+)?\p{{Lu}}[\p{{L}}'’-]*){{0,3}}");
    regex(&format!(r"^(?:\d{{1,5}}[A-Za-z]?[ \t]+{name}|{name}[ \t]+\d{{1,5}}[A-Za-z]?)\b"))
});

/// Short lowercase words inside a street's name (`Heol y Wern`, `Rua do
/// Ouvidor`).
const CONNECTORS: &[&str] = &[
    "de", "del", "la", "le", "les", "des", "du", "da", "di", "do", "dos", "das", "van", "von", "der", "den", "y", "of",
    "on",
];

/// Capitalised words with a number that follow an introduction and are
/// places in a venue or a show, not streets ("sent to Screen 3").
const NOT_A_STREET_NAME: &[&str] = &[
    "gate",
    "screen",
    "row",
    "seat",
    "box",
    "room",
    "floor",
    "season",
    "episode",
    "series",
    "studio",
    "stage",
    "lot",
    "apt",
    "flat",
    "unit",
    "suite",
    "apartment",
    "order",
    "ticket",
    "tickets",
    "page",
    "step",
    "version",
    "part",
    "act",
];

/// A house number right after a street name (`Bahnhofstraße 3`).
static HOUSE_NUMBER_AFTER: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)^[ \t]+\d{1,4}[a-z]?\b"));

/// Words that end a street name ("8 Calle Mayor and …").
const AFTER_A_STREET: &[&str] =
    &["and", "or", "y", "et", "und", "but", "also", "please", "pls", "apt", "flat", "unit", "for"];

/// Words that, between a number and a street suffix, show the number is
/// not a house number ("2 tickets for king street").
const NOT_A_STREET: &[&str] = &[
    "ticket", "tickets", "tix", "seat", "seats", "for", "to", "in", "on", "at", "of", "and", "my", "the", "from",
    "people", "adults", "kids", "children", "minutes", "hours", "days", "weeks", "times", "rows", "row", "is", "are",
    "was", "near", "by", "off", "with", "per",
];

/// Words that, right after a street type, show it is not one ("1 place
/// left", "via email 5 times").
const NOT_A_NAME: &[&str] = &[
    "left",
    "remaining",
    "available",
    "free",
    "email",
    "e-mail",
    "app",
    "phone",
    "text",
    "sms",
    "whatsapp",
    "chat",
    "website",
    "site",
    "link",
    "ticket",
    "tickets",
    "card",
    "paypal",
    "bank",
    "transfer",
    "support",
    "the",
    "my",
    "a",
    "an",
    "to",
    "for",
    "in",
    "on",
    "at",
    "is",
    "and",
    "or",
    "with",
    "section",
    "block",
    "sector",
    "door",
    "entrance",
    "terminal",
    "hall",
    "stand",
    "level",
    "platform",
    "boarding",
];

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
        for c in ADDRESS.captures_iter(text) {
            let words = |group| c.name(group).map(|w| w.as_str().to_lowercase()).unwrap_or_default();
            let (before, after, name) = (words("before"), words("after"), words("name"));
            let first_after = after.split_whitespace().next().unwrap_or_default();
            // "31 The Grove": a capitalised article alone before a street type may open its name.
            let article_name = c.name("before").is_some_and(|b| b.as_str().trim_end() == "The");
            if before
                .split_whitespace()
                .chain(name.split_whitespace())
                .any(|w| NOT_A_STREET.contains(&w) && !article_name)
                || name.split_whitespace().chain([first_after]).any(|w| NOT_A_NAME.contains(&w))
            {
                continue;
            }
            let m = c.get(0).expect("match");
            // "2 Broadway tickets", "2 Jurassic Park tickets": a street type
            // that is also a word for theatre or a title's.
            let next_word = text[m.end()..].trim_start_matches([' ', '\t']).starts_with(char::is_alphabetic);
            let last = m.as_str().rsplit([' ', '\t']).next().unwrap_or_default();
            let capitalised = CAPITALISED_SUFFIXES.split('|').any(|w| w == last);
            if next_word && (capitalised || last.eq_ignore_ascii_case("broadway")) {
                continue;
            }
            // "Section 8, Row 22": a seat word with no name before it.
            if capitalised && before.trim().is_empty() {
                continue;
            }
            let compound = c.name("compound").or(c.name("compound_first")).map(|w| w.as_str().to_lowercase());
            if compound.is_some_and(|w| NOT_A_COMPOUND.iter().any(|x| w.ends_with(x))) {
                continue;
            }
            let (mut start, mut end) = (m.start(), street_end(text, m.start(), m.end()));
            // "… at Karl Johans gate 22": the name starts after the last word that is not part of one.
            if let Some(owner) = c.name("owner") {
                match name_start(text, owner.start(), owner.end()) {
                    Some(from) => start = from,
                    None => continue,
                }
            }
            // "…31, Bahnhofstraße 3": the number before belongs to something else.
            if let (Some(street), Some(number)) = (c.name("compound"), HOUSE_NUMBER_AFTER.find(&text[m.end()..])) {
                (start, end) = (street.start(), m.end() + number.end());
            }
            // "No. 6 Temple Bar Lane": the number's own word goes with it.
            if let Some(word) = NUMBER_WORD.find(&text[..start]) {
                start = word.start();
            }
            out.push(found(start, end, Kind::Address, "[address]".into()));
        }
        out.extend(PO_BOX.find_iter(text).map(|m| found(m.start(), m.end(), Kind::Address, "[address]".into())));
        for cue in INTRODUCED.find_iter(text) {
            let Some(m) = NAMED_STREET.find(&text[cue.end()..]) else { continue };
            let (start, end) = (cue.end() + m.start(), cue.end() + m.end());
            // "5 The Green": a capitalised article may open a street's name.
            let words: Vec<String> =
                m.as_str().split_whitespace().filter(|w| *w != "The").map(str::to_lowercase).collect();
            let taken = out.iter().any(|f| start < f.end && f.start < end);
            // A venue's place is the word next to the number ("Screen 3",
            // "Gate 5"); further in, the word may be a street's ("15 Hyde
            // Park Gate").
            let number_first = m.as_str().starts_with(|c: char| c.is_ascii_digit());
            let beside = if number_first { words.get(1) } else { words.iter().rev().nth(1) };
            let lists = [NOT_A_STREET, NOT_A_NAME, NOT_A_STREET_NAME];
            let listed = |w: &String| lists.iter().any(|l| l.contains(&w.as_str()));
            let mut inner = words.iter().filter(|w| !CONNECTORS.contains(&w.as_str()));
            if taken || beside.is_some_and(listed) || inner.any(|w| NOT_A_STREET.contains(&w.as_str())) {
                continue;
            }
            out.push(found(start, end, Kind::Address, "[address]".into()));
        }
    }
    out
}

/// Where the name before a street type word starts: after the last word
/// that is no part of a name ("at", "section"); `None` when no word of
/// three letters or more is left.
fn name_start(text: &str, from: usize, to: usize) -> Option<usize> {
    let mut start = None;
    let mut offset = from;
    for word in text[from..to].split_whitespace() {
        let at = offset + text[offset..].find(word).unwrap_or(0);
        let w = word.to_lowercase();
        if NOT_A_STREET.contains(&w.as_str()) || NOT_A_NAME.contains(&w.as_str()) {
            start = None;
        } else if start.is_none() {
            start = Some(at);
        }
        offset = at + word.len();
    }
    start.filter(|&s| text[s..to].split_whitespace().any(|w| w.chars().count() >= 3))
}

/// Where a street match really ends: before a word that ends street
/// names, without a last word cut off mid-token (`ES` of `ES91…`), and
/// without trailing blanks.
fn street_end(text: &str, start: usize, end: usize) -> usize {
    let mut end = end;
    if text[end..].chars().next().is_some_and(char::is_alphanumeric) {
        end = start + text[start..end].trim_end().rfind([' ', '\t']).unwrap_or(end - start);
    }
    let matched = &text[start..end];
    let mut offset = 0;
    for (i, word) in matched.split_whitespace().enumerate() {
        let at = offset + matched[offset..].find(word).unwrap_or(0);
        // From the fourth word: a type before the name takes a word of
        // its own ("8 Calle Mayor and …", but "7 Heol y Wern").
        if i >= 3 && AFTER_A_STREET.contains(&word.to_lowercase().as_str()) {
            end = start + at;
            break;
        }
        offset = at + word.len();
    }
    start + text[start..end].trim_end().len()
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
