use super::*;

fn kinds(text: &str) -> Vec<(String, String)> {
    let mut f = find(text, &Kind::ALL);
    f.sort_by_key(|f| f.start);
    f.into_iter().map(|f| (f.kind, text[f.start..f.end].to_string())).collect()
}

#[test]
fn each_detector_finds_its_kind_in_varied_formats() {
    assert_eq!(kinds("mail me at <jo.smith+tix@mail.co.uk>"), [("email".into(), "jo.smith+tix@mail.co.uk".into())]);
    assert_eq!(kinds("card 4242 4242 4242 4242 please"), [("card".into(), "4242 4242 4242 4242".into())]);
    assert_eq!(kinds("4111-1111-1111-1111"), [("card".into(), "4111-1111-1111-1111".into())]);
    assert_eq!(kinds("call +44 20 7946 0958"), [("phone".into(), "+44 20 7946 0958".into())]);
    assert_eq!(kinds("my cell is (212) 555-0147."), [("phone".into(), "(212) 555-0147".into())]);
    assert_eq!(kinds("ring 07700 900123"), [("phone".into(), "07700 900123".into())]);
    assert_eq!(kinds("IBAN GB82 WEST 1234 5698 7654 32"), [("iban".into(), "GB82 WEST 1234 5698 7654 32".into())]);
    assert_eq!(kinds("send it to 221B Baker Street, London"), [("address".into(), "221B Baker Street".into())]);
    assert_eq!(kinds("I moved to 12 rue de la Paix"), [("address".into(), "12 rue de la Paix".into())]);
    assert_eq!(kinds("new address: 27 Hauptstrasse"), [("address".into(), "27 Hauptstrasse".into())]);
    assert_eq!(kinds("Lindenallee 4b, Berlin"), [("address".into(), "Lindenallee 4b".into())]);
    let both = kinds("it's 8 Calle Mayor and ES91 2100 0418 4502 0005 1332");
    assert_eq!(both[0], ("address".into(), "8 Calle Mayor".into()));
    assert_eq!(both[1], ("iban".into(), "ES91 2100 0418 4502 0005 1332".into()));
    assert_eq!(kinds("details: 020 7946 0958 / 4000 0566 5566 5556").len(), 2);
}

#[test]
fn apostrophes_local_numbers_and_identifiers() {
    assert_eq!(kinds("from j.o'neill@gmail.com"), [("email".into(), "j.o'neill@gmail.com".into())]);
    assert_eq!(kinds("call me on 555-0123"), [("phone".into(), "555-0123".into())]);
    assert_eq!(kinds("the number on my account is (02) 8215 1702"), [("phone".into(), "(02) 8215 1702".into())]);
    assert_eq!(kinds("wa.me/447700900812"), [("phone".into(), "447700900812".into())]);
    assert_eq!(kinds("my rewards number 7788 1122 3344"), Vec::<(String, String)>::new());
    // A trunk 0 and an area code in a phone's groups beat a reference word.
    assert_eq!(kinds("the number on my account is 020 3123 4567"), [("phone".into(), "020 3123 4567".into())]);
    for text in [
        "room 555-0123",
        "my invoice INV-2026-004512",
        "order #4821337755",
        "ref A-100234-77",
        "ticket number 00012345678 doesn't scan",
        "order ref 8812-7731-2290",
        "customer number 883 1123 45",
        "my membership no. is 0045 7712 9981",
        "loyalty card 6331 1019 9999 0016 isn't adding points",
        "my account number with you is 00918273",
    ] {
        assert_eq!(kinds(text), Vec::<(String, String)>::new(), "{text}");
    }
}

#[test]
fn street_lines_in_each_shape() {
    for (text, street) in [
        ("ship to 1 Infinite Loop, Cupertino", "1 Infinite Loop"),
        ("it's 23 avenue des Champs", "23 avenue des Champs"),
        ("1211 Avenue of the Americas", "1211 Avenue of the Americas"),
        ("Calle de Alcalá 42, Madrid", "Calle de Alcalá 42"),
        ("via Roma 10, Torino", "via Roma 10"),
        ("Damstraat 5", "Damstraat 5"),
        ("12 allée des Tilleuls", "12 allée des Tilleuls"),
        ("350 5th Ave, New York", "350 5th Ave"),
        ("IBAN … 31, Bahnhofstraße 3", "Bahnhofstraße 3"),
        ("my home is Karl Johans gate 22", "Karl Johans gate 22"),
        ("Mariahilfer Straße 88, Wien", "Mariahilfer Straße 88"),
        ("Drottninggatan 5", "Drottninggatan 5"),
        ("Rue Neuve 23, Bruxelles", "Rue Neuve 23"),
        ("ul. Marszałkowska 1", "ul. Marszałkowska 1"),
        ("my address is Kingsway 5, London", "Kingsway 5"),
        ("I live at 77 Sunset Strip", "77 Sunset Strip"),
        ("address 1 Queen St W, Toronto", "1 Queen St W"),
        ("I'm at 1515 Broadway, 4th floor", "1515 Broadway"),
        ("Korte Leidsedwarsstraat 12, Amsterdam", "Korte Leidsedwarsstraat 12"),
        ("Passeig de Gràcia 7", "Passeig de Gràcia 7"),
        ("Andrássy út 39, Budapest", "Andrássy út 39"),
        ("please post to 5 The Green, Richmond", "5 The Green"),
        ("ship the poster to 2/14 Smith Street, Fitzroy", "2/14 Smith Street"),
        ("address: 77 Wellington Street West, Toronto", "77 Wellington Street West"),
        ("the tickets should go to 3 Tannery Row, Cork", "3 Tannery Row"),
        ("adresa: Václavské náměstí 12, Praha", "Václavské náměstí 12"),
        ("mail it to P.O. Box 4471, Austin TX", "P.O. Box 4471"),
        ("send to 18 Victoria Embankment", "18 Victoria Embankment"),
        ("adres: Krakowskie Przedmieście 26, Warszawa", "Krakowskie Przedmieście 26"),
        ("I'm now living at 7 Heol y Wern, Cardiff", "7 Heol y Wern"),
        ("send the signed poster to 20 Jalan Sultan, Singapore", "20 Jalan Sultan"),
        ("send it to 15 Hyde Park Gate", "15 Hyde Park Gate"),
        ("tickets to 31 The Grove, Ilford please", "31 The Grove"),
        ("deliver it to 12 St Stephen's Green", "12 St Stephen's Green"),
        ("Adresse Landstraßer Hauptstraße 61, Wien", "Landstraßer Hauptstraße 61"),
        ("I live at No. 6 Temple Bar Lane", "No. 6 Temple Bar Lane"),
        ("address: 9 Leeson Street Upper, Dublin 4", "9 Leeson Street Upper"),
    ] {
        assert_eq!(kinds(text), [("address".into(), street.into())], "{text}");
    }
    for text in [
        "only 1 place left",
        "sent it 2 via email 5 times",
        "sent via the app 2 times",
        "Avenue Q at 8",
        "meet at gate 22",
        "section B gate 5",
        "the brigade 5 show",
        "2 tickets for gate 7",
        "send it to 2 different emails",
        "the ticket was sent to Section 8",
        "I live at Kingsway",
        "the link was sent to Screen 3 staff",
        "I'd like 2 Broadway tickets",
        "I'd like 2 Jurassic Park tickets",
        "we sat 3 rows from the back row",
        "I'm in Section 8, Row 22, Seat 5",
        "2 Green Day tickets please",
        "my new address is Apartment 5",
        "we saw 2 the street bands",
    ] {
        assert_eq!(kinds(text), Vec::<(String, String)>::new(), "{text}");
    }
}

#[test]
fn orders_dates_prices_seats_and_bad_checksums_are_left_alone() {
    for text in [
        "refund order A12345 please",
        "the show on 2026-12-03 at 19:30",
        "tickets were £98.00 each, 2 tickets for king street festival",
        "row 12 seat 14, 3 seats",
        "card 4242 4242 4242 4241",
        "GB82 WEST 1234 5698 7654 33",
        "booking 12/05/2026",
        "Blink-182 in 2027",
    ] {
        assert_eq!(kinds(text), Vec::<(String, String)>::new(), "{text}");
    }
}

#[test]
fn luhn_and_iban_checks() {
    assert!(luhn("4242424242424242") && !luhn("4242424242424241"));
    assert!(iban_valid("DE89 3704 0044 0532 0130 00") && !iban_valid("DE89 3704 0044 0532 0130 01"));
}
