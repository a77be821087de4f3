#!/usr/bin/env python3
"""Writes redaction.jsonl: support messages with personal data, labelled.

Every template and value below was written by hand for Usher (no data set
is copied): fans' messages to a ticketing or streaming service, with
emails, phone numbers, payment cards, IBANs and street addresses in the
formats people type them, and messages with no personal data but with
things a careless detector takes for it (order numbers, dates, times,
prices, seats, years, band names with numbers). The combination is
deterministic (seed 7), so the file can be rebuilt and compared.

    python3 eval/privacy/make_set.py > eval/privacy/redaction.jsonl
"""
import json
import random

rng = random.Random(7)

EMAILS = ["jo.smith@mail.com", "ANNA.K@Example.org", "tom_b+tickets@post.co.uk", "m.garcia@universidad.es",
          "lee99@gmail.com", "priya.n@company.in", "sam@x.io", "f.muller@web.de", "chloe-d@orange.fr",
          "kwame.a@mail.com.gh", "yuki.t@example.jp", "o'brien@eircom.net".replace("'", ""), "dev.ops@fan-club.net",
          "lena.berg@mail.se", "ahmed.r@outlook.com"]
PHONES = ["+44 20 7946 0958", "+1 (212) 555-0147", "(415) 555-0123", "07700 900123", "020 7946 0958",
          "+33 6 12 34 56 78", "0033 612345678", "+49 30 901820", "+49 151 23456789", "555-867-5309",
          "212.555.0199", "+61 2 9374 4000", "0412 345 678", "+91 98765 43210", "+353 1 234 5678",
          "2125550147", "+14155550123", "06 12 34 56 78"]
CARDS = ["4242 4242 4242 4242", "4111-1111-1111-1111", "5555555555554444", "3782 822463 10005",
         "6011 1111 1111 1117", "5105 1051 0510 5100", "4000 0566 5566 5556", "4012888888881881",
         "3530 1113 3330 0000", "2223 0031 2200 3222"]
IBANS = ["GB82 WEST 1234 5698 7654 32", "DE89 3704 0044 0532 0130 00", "FR14 2004 1010 0505 0001 3M02 606",
         "NL91ABNA0417164300", "ES91 2100 0418 4502 0005 1332", "IT60 X054 2811 1010 0000 0123 456",
         "BE68 5390 0754 7034", "CH93 0076 2011 6238 5295 7", "IE29 AIBK 9311 5212 3456 78"]
ADDRESSES = ["221B Baker Street", "12 Acacia Avenue", "4 Privet Drive", "742 Evergreen Terrace",
             "10 Downing St", "1600 Pennsylvania Ave", "31 Spooner Street", "9 Elm Road", "77 Harbour Way",
             "15 Kings Court", "3 Mill Lane", "250 Fifth Avenue", "18 Station Rd", "5 Queens Crescent",
             "12 rue de la Paix", "27 Hauptstrasse", "8 Calle Mayor", "44 Sunset Blvd", "6 Church Close",
             "101 Market Square"]

TEMPLATES = {
    "email": ["my email is {v}", "send the tickets to {v} please", "I bought them with <{v}>",
              "can you update my email to {v}?", "login is {v} but it says wrong password",
              "({v}) is the account", "refund order A12345 to {v}", "email: {v}",
              "I never got the confirmation at {v}", "transfer to my friend, her address is {v}"],
    "phone": ["call me on {v}", "my number is {v}", "you can reach me at {v} after 6pm",
              "text {v} when the tickets are ready", "phone: {v}", "I changed my mobile to {v}",
              "the box office said to ring {v}", "whatsapp {v} pls"],
    "card": ["my card is {v}", "charge {v} instead", "the payment on {v} failed twice",
             "card number {v} exp 12/27", "you charged {v} twice for order B23456",
             "can I pay with {v}"],
    "iban": ["refund to my IBAN {v}", "bank account {v}", "please send the money to {v}",
             "IBAN: {v} (Sparkasse)", "use {v} for the refund"],
    "address": ["post the tickets to {v}", "I live at {v}, London", "my address is {v}",
                "deliver to {v} apt 4", "new address: {v}", "the box office is near {v}? I live at {v2}"],
}

NEGATIVES = [
    "refund order A12345 please", "what time do doors open on 2026-12-03?", "the show starts at 19:30",
    "tickets were £98.00 each", "I need 2 tickets for the king street festival", "row 12 seat 14 please",
    "can I swap seats 21 and 22", "my booking ref is B23456", "is Blink-182 playing in 2027?",
    "the stream buffers at 1080p", "I paid $45.50 for 3 tickets", "order C34567 was cancelled on 12/05/2026",
    "do you have 4 seats together", "the concert on 3/4 was great", "my premium plan costs 15.99 a month",
    "I watched episode 10 of season 2", "gate 5 or gate 6?", "it's been 45 minutes", "section 104 row F",
    "we are a group of 12 people", "the venue at 5 stars hotel", "my tv is a 55 inch", "I was charged 3 times",
    "ticket id TX-2026-0042", "Matchbox 20 tickets?", "doors at 6.30pm", "the 1975 are playing friday",
    "I have 1 ticket to sell", "can I bring 2 kids under 12", "route 66 tour dates", "event on 24 December",
    "the show lasted 2 hours", "my order number is D45678 and I want a refund", "flight lands 14:05",
    "it said error code 0x80070005", "version 4.2.1 of the app", "I'm in zone 3", "apartment tickets for 5",
    "please call me back", "my email doesn't work", "the card was declined", "I moved house last week",
    "the 2 for 1 offer on 14 feb", "I'm at 221 points in the rewards", "Studio 54 night tickets",
    "can I get 10 tickets for 3 Arena", "5 stars, would see again", "1 adult 2 children",
    "the match is 3-1 at half time", "pin 1234 didn't work", "call 911? no, joking, I just need help",
    "the film runs 148 minutes", "I'm user 88213 on the forum", "price went from 49 to 59",
    "my seat is 14B not 14C", "the 7:45 showing", "blu-ray region 2", "tickets 101-104 please",
    "postcode unknown, sorry", "100 Gecs at the O2?", "50 Cent tickets!!", "2 Chainz concert refunds",
]


def case(kind, template):
    value = rng.choice(VALUES[kind])
    pii = [[kind, value]]
    if "{v2}" in template:
        value2 = rng.choice([v for v in VALUES[kind] if v != value])
        pii.append([kind, value2])
        text = template.format(v=value, v2=value2)
    else:
        text = template.format(v=value)
    return {"text": text, "pii": pii}


VALUES = {"email": EMAILS, "phone": PHONES, "card": CARDS, "iban": IBANS, "address": ADDRESSES}
rows = []
# Every value at least once, in a template of its kind.
for kind, values in VALUES.items():
    for value in values:
        t = rng.choice([t for t in TEMPLATES[kind] if "{v2}" not in t])
        rows.append({"text": t.format(v=value), "pii": [[kind, value]]})
# Every template with random values, four times.
for kind, templates in TEMPLATES.items():
    for t in templates:
        for _ in range(4):
            rows.append(case(kind, t))
# Mixed messages: two kinds at once.
kinds = list(VALUES)
for _ in range(60):
    a, b = rng.sample(kinds, 2)
    va, vb = rng.choice(VALUES[a]), rng.choice(VALUES[b])
    text = rng.choice(["{a}, or {b}", "it's {a} and {b}", "details: {a} / {b}", "{a} - also {b}"]).format(a=va, b=vb)
    rows.append({"text": text, "pii": [[a, va], [b, vb]]})
for text in NEGATIVES:
    rows.append({"text": text, "pii": []})
rng.shuffle(rows)
for r in rows:
    print(json.dumps(r, ensure_ascii=False))
