//! Fans' personal data at rest, through the real server on SQLite: the
//! bot answers from the message as typed (a flow gets the real email),
//! while the stored transcript, what NLU made of it and the stored replies
//! hold typed placeholders; a `sensitive: true` entity is kept as its name;
//! `privacy.redact: false` keeps everything; `/metrics` requires the bearer
//! token in `USHER_METRICS_TOKEN` when it is set.

use crate::common::{self, server::write_config, server::Server};

use serde_json::{json, Value};

async fn send(s: &Server, conversation: &str, text: &str) -> Value {
    let url = s.http(&format!("/api/v1/conversations/{conversation}/messages"));
    let res = reqwest::Client::new().post(url).bearer_auth(common::API_KEY).json(&json!({ "text": text })).send();
    let res = res.await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn stored(s: &Server, conversation: &str) -> String {
    let url = s.http(&format!("/api/v1/conversations/{conversation}"));
    let res = reqwest::Client::new().get(url).bearer_auth(common::API_KEY).send().await.unwrap();
    res.text().await.unwrap()
}

#[tokio::test]
async fn stored_transcripts_hold_placeholders_while_the_turn_sees_the_real_values() {
    let dir = tempfile::tempdir().unwrap();
    // The shipped intents, with order numbers marked sensitive.
    let intents = common::shipped_intents(dir.path());
    let tickets = intents.join("tickets.yaml");
    let yaml = std::fs::read_to_string(&tickets).unwrap();
    let marked = yaml.replacen("  order_id:\n    pattern:", "  order_id:\n    sensitive: true\n    pattern:", 1);
    assert_ne!(marked, yaml);
    std::fs::write(&tickets, marked).unwrap();
    let config = write_config(dir.path(), "");
    let yaml = std::fs::read_to_string(&config).unwrap();
    let shipped = format!("intents: {}\n", common::repo().join("intents").display());
    assert!(yaml.contains(&shipped), "{yaml}");
    std::fs::write(&config, yaml.replace(&shipped, &format!("intents: {}\n", intents.display()))).unwrap();
    let s = Server::start(&config, &[("USHER_METRICS_TOKEN", "metrics-s3cret")]);

    // The refund flow collects the email: the real one fills the slot and
    // comes back in the reply the fan gets.
    let first = send(&s, "pii-1", "I want a refund for order A12345").await;
    assert!(first.to_string().contains("email"), "{first}");
    let second = send(&s, "pii-1", "it's jo.smith@mail.com, card 4242 4242 4242 4242, call +44 20 7946 0958").await;
    let stored_text = stored(&s, "pii-1").await;
    for raw in ["jo.smith@mail.com", "4242 4242 4242 4242", "+44 20 7946 0958", "A12345"] {
        assert!(!stored_text.contains(raw), "{raw} is stored: {stored_text}");
    }
    for placeholder in ["[email]", "[card ••••4242]", "[phone]", "[order_id]"] {
        assert!(stored_text.contains(placeholder), "{placeholder} missing: {stored_text}");
    }
    // The turn itself saw the real values.
    assert!(second.to_string().contains("jo.smith@mail.com"), "{second}");

    // /metrics needs the token.
    let client = reqwest::Client::new();
    assert_eq!(client.get(s.http("/metrics")).send().await.unwrap().status(), 401);
    let wrong = client.get(s.http("/metrics")).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client.get(s.http("/metrics")).bearer_auth("metrics-s3cret").send().await.unwrap();
    assert_eq!(right.status(), 200);
    assert!(right.text().await.unwrap().contains("usher_conversations_total"));
}

#[tokio::test]
async fn redaction_can_be_turned_off_and_metrics_are_open_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "privacy: { redact: false }\n");
    let s = Server::start(&config, &[]);
    send(&s, "pii-off", "my email is jo.smith@mail.com").await;
    assert!(stored(&s, "pii-off").await.contains("jo.smith@mail.com"));
    let res = reqwest::Client::new().get(s.http("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

/// A fan's message and the bot's reply, stored as a finished turn.
async fn turn(store: &dyn usher::store::Store, conversation: &str, channel: &str, text: &str, handoff: bool) {
    let id = usher_channel::ConversationId::new(conversation).unwrap();
    let inbound = usher_channel::Inbound::text(id.clone(), channel, text);
    let appended = store.append_inbound(&inbound).await.unwrap();
    let tracker = usher::dialogue::Tracker::default();
    let replies = vec![vec![usher_channel::Part::Text { text: "ok".into() }]];
    let record = usher::store::TurnRecord {
        conversation: &id,
        inbound_id: appended.id,
        text: None,
        fan_keys: usher::privacy::Redactor::fan_keys(text),
        nlu: json!({}),
        replies: &replies,
        tracker: &tracker,
        fallback: false,
        handoff: handoff.then(|| usher::handoff::NewTicket::new(usher::dialogue::Reason::Requested, None)),
    };
    store.complete_turn(record).await.unwrap();
}

#[tokio::test]
async fn retention_deletes_old_conversations_per_channel_as_the_clock_moves_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = usher::store::SqliteStore::open(&dir.path().join("usher.db")).await.unwrap();
    retention_as_the_clock_moves(&store).await;
}

/// Deleting a conversation (retention, erasure) finds every row that
/// refers to it, and to its messages, through an index: the plan of each
/// lookup, the foreign keys' included, searches and never scans a table.
/// Without them a sweep of 1,000 conversations stalled turns under load.
#[tokio::test]
async fn deleting_a_conversation_looks_everything_up_by_index_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usher.db");
    drop(usher::store::SqliteStore::open(&path).await.unwrap());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    // What erasing a conversation deletes by its id, and every foreign key's child column.
    let mut lookups: Vec<(String, String)> = ["messages", "tickets", "notes", "web_sessions", "fan_keys", "audit"]
        .iter()
        .map(|t| (t.to_string(), "conversation_id".to_string()))
        .collect();
    for (table,) in &tables {
        let keys: Vec<(i64, i64, String, String)> =
            sqlx::query_as(&format!("SELECT id, seq, \"table\", \"from\" FROM pragma_foreign_key_list('{table}')"))
                .fetch_all(&pool)
                .await
                .unwrap();
        lookups.extend(keys.into_iter().map(|(_, _, _, from)| (table.clone(), from)));
    }
    assert!(lookups.contains(&("messages".into(), "reply_to".into())), "{lookups:?}");
    for (table, column) in lookups {
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN SELECT 1 FROM {table} WHERE {column} = 'x'"))
                .fetch_all(&pool)
                .await
                .unwrap();
        let steps: Vec<&str> = plan.iter().map(|p| p.3.as_str()).collect();
        assert!(steps.iter().all(|s| s.starts_with("SEARCH")), "{table}.{column} is scanned: {steps:?}");
    }
}

#[tokio::test]
async fn retention_deletes_old_conversations_per_channel_as_the_clock_moves_on_postgres() {
    let db = common::postgres::TestDb::create().await;
    let store = usher::store::PgStore::connect(&db.url, 4).await.unwrap();
    retention_as_the_clock_moves(&store).await;
}

async fn retention_as_the_clock_moves(store: &dyn usher::store::Store) {
    turn(store, "ret-web", "webchat", "hello, I'm ret@example.com", false).await;
    turn(store, "ret-tg", "telegram", "hello from telegram", false).await;
    turn(store, "ret-waiting", "webchat", "I need a person", true).await;
    let config: usher::privacy::PrivacyConfig =
        serde_yaml::from_str("retention_days: 30\nretention_by_channel: { telegram: 400 }\nsweep_batch: 1\n").unwrap();
    let exists = |id: &'static str| async move {
        store.transcript(&usher_channel::ConversationId::new(id).unwrap()).await.unwrap().is_some()
    };
    let key = usher::privacy::fan_key("ret@example.com");
    assert_eq!(store.conversations_for_key(&key).await.unwrap().len(), 1);
    let now = usher::util::now_ms();
    let day = 24 * 3600 * 1000;
    // 29 days on: nothing is old enough.
    assert_eq!(usher::privacy::retention::sweep(store, &config, now + 29 * day).await.unwrap(), 0);
    // 31 days on: the web chat conversation goes (in batches of one), with its
    // fan key; telegram's 400 days keep it, an open ticket keeps its conversation.
    assert_eq!(usher::privacy::retention::sweep(store, &config, now + 31 * day).await.unwrap(), 1);
    assert!(!exists("ret-web").await && exists("ret-tg").await && exists("ret-waiting").await);
    assert!(store.conversations_for_key(&key).await.unwrap().is_empty());
    // 401 days on: telegram's goes too.
    assert_eq!(usher::privacy::retention::sweep(store, &config, now + 401 * day).await.unwrap(), 1);
    assert!(!exists("ret-tg").await && exists("ret-waiting").await);
}

#[tokio::test]
async fn an_erased_fan_is_nowhere_in_the_database_file_or_the_server_log() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mut s = Server::start(&config, &[]);
    let email = "erin.fan@example.org";
    send(&s, "erase-1", &format!("refund order Q54321 please, my email is {email}")).await;
    send(&s, "erase-2", &format!("hi again, {email} here, is Q54321 refunded?")).await;
    send(&s, "keep-1", "someone else entirely").await;

    // Exported by email: both conversations, and nothing of anyone else.
    let usher = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_usher"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let export = usher(&["fans", "export", "--email", "Erin.Fan@Example.org"]);
    let export: Value = serde_json::from_str(&export).unwrap();
    let ids: Vec<&str> = export["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["transcript"]["conversation"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["erase-1", "erase-2"]);
    assert!(export.to_string().contains("Q54321"), "the export holds what is stored");

    let erased = usher(&["fans", "erase", "--email", email]);
    assert!(erased.contains("erased 2 conversation(s)"), "{erased}");
    assert!(stored(&s, "erase-1").await.contains("not found") || !stored(&s, "erase-1").await.contains("Q54321"));
    assert!(stored(&s, "keep-1").await.contains("someone else entirely"));
    s.kill();

    // The file itself, vacuumed and checkpointed, and the server's log.
    let db = dir.path().join("data").join("usher.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let audit: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT action, detail FROM audit WHERE action = 'fan_erased'").fetch_all(&pool).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert!(audit[0].1.as_deref().unwrap().starts_with("2 conversation(s)"), "{audit:?}");
    sqlx::query("VACUUM").execute(&pool).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&pool).await.unwrap();
    pool.close().await;
    let mut files = vec![std::fs::read(&db).unwrap()];
    files.push(std::fs::read(common::server::dir_log(&config)).unwrap_or_default());
    for (bytes, what) in files.iter().zip(["the database file", "the server log"]) {
        let text = String::from_utf8_lossy(bytes);
        for secret in [email, "erin.fan%40example.org", "Q54321"] {
            let at = text.find(secret).map(|i| &text[i.saturating_sub(300)..(i + 100).min(text.len())]);
            assert!(at.is_none(), "{secret} is still in {what}: {at:?}");
        }
    }
}
