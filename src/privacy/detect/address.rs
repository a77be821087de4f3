//! Street lines and post-office boxes: the address detector.

use std::sync::LazyLock;

use regex::Regex;

use super::{regex, Found, Kind};

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

/// Every street line and post-office box in `text`, pushed onto `out`
/// (whose earlier findings an introduced line may not overlap).
pub(super) fn find(text: &str, out: &mut Vec<Found>) {
    let found = |start, end| Found { start, end, kind: Kind::Address.name().into(), placeholder: "[address]".into() };
    for c in ADDRESS.captures_iter(text) {
        let words = |group| c.name(group).map(|w| w.as_str().to_lowercase()).unwrap_or_default();
        let (before, after, name) = (words("before"), words("after"), words("name"));
        let first_after = after.split_whitespace().next().unwrap_or_default();
        // "31 The Grove": a capitalised article alone before a street type may open its name.
        let article_name = c.name("before").is_some_and(|b| b.as_str().trim_end() == "The");
        if before.split_whitespace().chain(name.split_whitespace()).any(|w| NOT_A_STREET.contains(&w) && !article_name)
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
        out.push(found(start, end));
    }
    out.extend(PO_BOX.find_iter(text).map(|m| found(m.start(), m.end())));
    for cue in INTRODUCED.find_iter(text) {
        let Some(m) = NAMED_STREET.find(&text[cue.end()..]) else { continue };
        let (start, end) = (cue.end() + m.start(), cue.end() + m.end());
        // "5 The Green": a capitalised article may open a street's name.
        let words: Vec<String> = m.as_str().split_whitespace().filter(|w| *w != "The").map(str::to_lowercase).collect();
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
        out.push(found(start, end));
    }
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
