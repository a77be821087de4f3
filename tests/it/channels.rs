//! One engine, one store, three channels: the same refund conversation on
//! Telegram (real teloxide client, fake Bot API), Discord (real serenity
//! HTTP client, fake REST API) and the web chat widget (real WebSocket)
//! gets the same answers; replies are marked delivered, and replies that
//! could not be delivered are resent after a restart.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use serenity::all::{HttpBuilder, Interaction, Message};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use usher::engine::Engine;
use usher_channel::{ConversationId, Shutdown};
use usher_discord::fake::{self as discord_fake, FakeDiscord};
use usher_discord::{Discord, Incoming};
use usher_telegram::fake::{Failure, FakeBotApi};
use usher_telegram::Telegram;
use usher_webchat::protocol::ServerFrame;
use usher_webchat::WebChat;

const TG_CHAT: i64 = 555;
const DC_CHANNEL: u64 = 8080;

/// Steps of the script: text typed, or a button payload pressed.
enum Step {
    Say(&'static str),
    Press(&'static str),
}

const REFUND: [Step; 4] =
    [Step::Say("hello"), Step::Press("/refund_request"), Step::Say("A12345"), Step::Say("buyer@example.com")];

/// Waits until the conversation's every inbound message is processed and
/// every reply is reported delivered by its channel.
async fn settled(engine: &Engine, conversation: &str, inbound: usize) {
    let id = ConversationId::new(conversation).unwrap();
    for _ in 0..750 {
        if let Some(t) = engine.transcript(&id).await.unwrap() {
            let ins = t.messages.iter().filter(|m| m.direction == "in").count();
            let processed = t.messages.iter().filter(|m| m.direction == "in").all(|m| m.nlu.is_some());
            let delivered = t.messages.iter().filter(|m| m.direction == "out").all(|m| m.delivered);
            if ins == inbound && processed && delivered {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t = engine.transcript(&id).await.unwrap();
    panic!("{conversation} did not settle: {t:#?}");
}

/// What a fan saw after each step: texts and button titles, in order.
type Seen = Vec<Vec<String>>;

async fn telegram(engine: &Engine, api: &FakeBotApi) -> Seen {
    let conversation = format!("telegram:{TG_CHAT}");
    let mut seen = Vec::new();
    for (i, step) in REFUND.iter().enumerate() {
        let before = api.sent_to(TG_CHAT).len();
        match step {
            Step::Say(text) => {
                api.fan_says(TG_CHAT, text);
            }
            Step::Press(payload) => {
                // The payload must be on a button the fan was shown.
                let offered = api.sent_to(TG_CHAT).iter().flat_map(|c| c.buttons()).any(|(_, data)| data == *payload);
                assert!(offered, "{payload} was never offered on Telegram");
                api.fan_presses(TG_CHAT, payload);
            }
        }
        settled(engine, &conversation, i + 1).await;
        let shown = api.sent_to(TG_CHAT)[before..]
            .iter()
            .flat_map(|c| c.text().map(str::to_string).into_iter().chain(c.buttons().into_iter().map(|(t, _)| t)))
            .collect();
        seen.push(shown);
    }
    seen
}

async fn discord(engine: &Engine, fake: &FakeDiscord, events: &usher_discord::IncomingSender) -> Seen {
    let conversation = format!("discord:{DC_CHANNEL}");
    let mut seen = Vec::new();
    for (i, step) in REFUND.iter().enumerate() {
        let before = fake.messages(DC_CHANNEL).len();
        let id = 100 + 2 * i as u64;
        let event = match step {
            Step::Say(text) => {
                let msg: Message =
                    serde_json::from_value(discord_fake::message_create(id, DC_CHANNEL, None, 42, text)).unwrap();
                Incoming::Message(Box::new(msg))
            }
            Step::Press(payload) => {
                let press: Interaction =
                    serde_json::from_value(discord_fake::button_press(id, DC_CHANNEL, 42, payload)).unwrap();
                Incoming::Interaction(Box::new(press))
            }
        };
        assert!(events.send(event).await);
        settled(engine, &conversation, i + 1).await;
        let shown = fake.messages(DC_CHANNEL)[before..]
            .iter()
            .flat_map(|c| {
                let text = c.body["content"].as_str().map(str::to_string);
                let rows = c.body["components"].as_array().cloned().unwrap_or_default();
                let labels = rows
                    .into_iter()
                    .flat_map(|r| r["components"].as_array().cloned().unwrap_or_default())
                    .filter_map(|b| b["label"].as_str().map(str::to_string));
                text.into_iter().chain(labels).collect::<Vec<_>>()
            })
            .collect();
        seen.push(shown);
    }
    seen
}

async fn widget(engine: &Engine, addr: std::net::SocketAddr) -> (String, Seen) {
    let session: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/webchat/sessions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conversation = session["conversation"].as_str().unwrap();
    let url = format!("ws://{addr}/ws?conversation={conversation}");
    let mut socket = common::socket(&url, session["token"].as_str().unwrap()).await.unwrap();
    let mut seen = Vec::new();
    for (i, step) in REFUND.iter().enumerate() {
        let (text, payload) = match step {
            Step::Say(text) => (*text, None),
            Step::Press(payload) => ("", Some(*payload)),
        };
        let frame = json!({"type": "message", "client_id": i, "text": text, "payload": payload});
        socket.send(WsMessage::Text(frame.to_string().into())).await.unwrap();
        settled(engine, conversation, i + 1).await;
        let mut shown = Vec::new();
        // Everything delivered to the socket is already buffered: read until quiet.
        while let Ok(Some(Ok(WsMessage::Text(raw)))) =
            tokio::time::timeout(Duration::from_millis(200), socket.next()).await
        {
            if let Ok(ServerFrame::Reply { parts, .. }) = serde_json::from_str(&raw) {
                for piece in usher_channel::pieces(&parts, usize::MAX, usize::MAX, |_| true) {
                    match piece {
                        usher_channel::Piece::Text { text, buttons } => {
                            if text != usher_channel::render::CHOOSE {
                                shown.push(text);
                            }
                            shown.extend(buttons.into_iter().map(|b| b.title));
                        }
                        usher_channel::Piece::File(a) => shown.push(a.name),
                    }
                }
            }
        }
        seen.push(shown);
    }
    (conversation.to_string(), seen)
}

#[tokio::test]
async fn one_engine_serves_telegram_discord_and_the_widget_alike() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine(dir.path()).await;
    let (_trigger, shutdown) = Shutdown::new();

    let api = FakeBotApi::start().await.unwrap();
    let config = usher_telegram::Config { enabled: true, api_url: Some(api.url().into()), ..Default::default() };
    let (telegram_adapter, _) = Telegram::new(config, "1:T", None).unwrap();
    engine.start_adapter(Box::new(telegram_adapter), shutdown.clone());

    let fake = FakeDiscord::start().await.unwrap();
    let http = Arc::new(HttpBuilder::new("Bot T").proxy(fake.url()).ratelimiter_disabled(true).build());
    let discord_adapter = Discord::with_http(usher_discord::Config { enabled: true, ..Default::default() }, http);
    let events = discord_adapter.events();
    engine.start_adapter(Box::new(discord_adapter), shutdown.clone());

    let (webchat, routes) = WebChat::new(usher_webchat::Config::default(), common::access(&engine));
    engine.start_adapter(Box::new(webchat), shutdown.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes).await });

    let on_telegram = telegram(&engine, &api).await;
    let on_discord = discord(&engine, &fake, &events).await;
    let (web_conversation, on_widget) = widget(&engine, addr).await;

    let last = on_telegram.last().unwrap().join(" ");
    // buyer@example.com did not buy A12345: the backend says so, on every channel alike.
    assert!(
        last.contains("couldn't find order A12345 under buyer@example.com"),
        "the backend was asked: {on_telegram:?}"
    );
    assert!(on_telegram[0].iter().any(|s| s == "Refund a ticket"), "the greeting offers buttons: {on_telegram:?}");
    assert_eq!(on_telegram, on_discord, "Telegram and Discord fans must see the same conversation");
    assert_eq!(on_telegram, on_widget, "Telegram and widget fans must see the same conversation");

    // One store holds all three, each tagged with its channel.
    for (id, channel) in [
        (format!("telegram:{TG_CHAT}"), "telegram"),
        (format!("discord:{DC_CHANNEL}"), "discord"),
        (web_conversation, "webchat"),
    ] {
        let t = engine.transcript(&ConversationId::new(id).unwrap()).await.unwrap().unwrap();
        assert_eq!(t.channel, channel);
        assert_eq!(t.messages.iter().filter(|m| m.direction == "in").count(), 4);
    }
    // The typing action was shown on Telegram while the engine worked.
    assert!(!api.calls("sendChatAction").is_empty());
}

#[tokio::test]
async fn replies_the_platform_never_took_are_resent_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let api = FakeBotApi::start().await.unwrap();
    let config = usher_telegram::Config { enabled: true, api_url: Some(api.url().into()), ..Default::default() };
    let conversation = ConversationId::new(format!("telegram:{TG_CHAT}")).unwrap();
    {
        let engine = common::engine(dir.path()).await;
        let (trigger, shutdown) = Shutdown::new();
        let (adapter, _) = Telegram::new(config.clone(), "1:T", None).unwrap();
        let task = engine.start_adapter(Box::new(adapter), shutdown);
        for _ in 0..40 {
            api.fail_next("sendMessage", Failure::ServerError);
        }
        api.fan_says(TG_CHAT, "hello");
        // The turn is stored, but Telegram keeps failing: the reply stays undelivered.
        for _ in 0..500 {
            let t = engine.transcript(&conversation).await.unwrap();
            if t.is_some_and(|t| t.messages.iter().any(|m| m.direction == "out")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        trigger.fire();
        task.await.unwrap();
        let t = engine.transcript(&conversation).await.unwrap().unwrap();
        let out: Vec<_> = t.messages.iter().filter(|m| m.direction == "out").collect();
        assert_eq!(out.len(), 1);
        assert!(!out[0].delivered, "a reply Telegram never took must not be marked delivered");
    }
    let failed = api.calls("sendMessage").len();
    // (teloxide itself waits 10 s after a 5xx, so one try fits the 5 s drain.)
    assert!(failed >= 1, "the reply was tried before shutdown");
    // Telegram recovers; a new process starts on the same store.
    api.clear_failures();
    let engine = common::engine(dir.path()).await;
    let (_trigger, shutdown) = Shutdown::new();
    let (adapter, _) = Telegram::new(config, "1:T", None).unwrap();
    engine.start_adapter(Box::new(adapter), shutdown);
    settled(&engine, conversation.as_str(), 1).await;
    let t = engine.transcript(&conversation).await.unwrap().unwrap();
    assert_eq!(
        t.messages.iter().filter(|m| m.direction == "in").count(),
        1,
        "the fan's message is not processed twice"
    );
    assert_eq!(t.messages.iter().filter(|m| m.direction == "out").count(), 1);
    let greeting = &t.messages[1].text;
    let sent: Vec<_> = api.sent_to(TG_CHAT).into_iter().filter(|c| c.method == "sendmessage").collect();
    let resent = sent.last().unwrap().text().unwrap();
    assert!(greeting.starts_with(resent), "the stored reply was sent: {resent:?} vs {greeting:?}");
}

/// `usher serve` wires the channels from config.yaml: Telegram by long
/// polling and Discord through its gateway, both against the local fakes.
#[tokio::test]
async fn serve_runs_telegram_and_discord_from_the_config() {
    use tokio::io::AsyncBufReadExt;

    let api = FakeBotApi::start().await.unwrap();
    let fake = FakeDiscord::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let yaml = format!(
        "intents: {intents}\ndata_dir: data\nhttp: {{host: 127.0.0.1, port: 0}}\nnlu: {{encoder: null}}\n\
         knowledge: {{enabled: false}}\nactions: {{endpoints: {{encore: {{url: '{no_backend}'}}}}}}\n\
         channels:\n  webchat: {{enabled: true}}\n  \
         telegram: {{enabled: true, api_url: '{tg}'}}\n  discord: {{enabled: true, api_url: '{dc}'}}\n",
        intents = common::repo().join("intents").display(),
        tg = api.url(),
        dc = fake.url(),
        no_backend = common::NO_BACKEND,
    );
    std::fs::write(&config, yaml).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_usher"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env("TELEGRAM_BOT_TOKEN", "1:SERVE")
        .env("DISCORD_TOKEN", "SERVE")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("usher listening") {
                return true;
            }
        }
        false
    });
    assert!(listening.await.unwrap(), "usher serve did not start");

    api.fan_says(TG_CHAT, "hello");
    let sent = api.wait_sent(TG_CHAT, 1).await;
    assert!(sent.iter().any(|c| c.buttons().iter().any(|(_, data)| data == "/refund_request")), "{sent:?}");

    assert!(fake.wait_identify().await.is_some(), "the Discord gateway connected");
    fake.dispatch("MESSAGE_CREATE", discord_fake::message_create(31, DC_CHANNEL, None, 42, "hello"));
    let sent = fake.wait_messages(DC_CHANNEL, 1).await;
    assert_eq!(sent[0].body["components"][0]["components"][0]["custom_id"], "/refund_request");

    // SIGTERM: a graceful shutdown.
    let pid = child.id().unwrap();
    let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn serve_explains_a_missing_channel_token() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let yaml = format!(
        "intents: {}\ndata_dir: data\nhttp: {{host: 127.0.0.1, port: 0}}\nnlu: {{encoder: null}}\n\
         knowledge: {{enabled: false}}\nchannels:\n  telegram: {{enabled: true}}\n",
        common::repo().join("intents").display()
    );
    std::fs::write(&config, yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_usher"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env_remove("TELEGRAM_BOT_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TELEGRAM_BOT_TOKEN is not set"), "{stderr}");
}

#[tokio::test]
async fn a_telegram_fan_gets_a_poem() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine(dir.path()).await;
    common::attach_tools(&engine, common::creative_config(dir.path())).await;
    let (_trigger, shutdown) = Shutdown::new();
    let api = FakeBotApi::start().await.unwrap();
    let telegram = usher_telegram::Config { enabled: true, api_url: Some(api.url().into()), ..Default::default() };
    let (adapter, _) = Telegram::new(telegram, "1:T", None).unwrap();
    engine.start_adapter(Box::new(adapter), shutdown);
    api.fan_says(TG_CHAT, "write me a poem about love");
    settled(&engine, &format!("telegram:{TG_CHAT}"), 1).await;
    let sent = api.sent_to(TG_CHAT);
    let poem = sent.iter().find_map(|c| c.text()).unwrap();
    assert!(poem.starts_with("Love") && poem.lines().count() >= 2, "{poem}");
}

#[tokio::test]
async fn a_telegram_fan_gets_a_melody_as_audio_midi_and_a_piano_roll() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine(dir.path()).await;
    let config = common::creative_config(dir.path());
    let files = usher::creative::tools::files_dir(&config);
    common::attach_tools(&engine, config).await;
    // The files route the adapter downloads attachments from.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let files_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, usher::http::files::router(files)).await });
    let (_trigger, shutdown) = Shutdown::new();
    let api = FakeBotApi::start().await.unwrap();
    let telegram = usher_telegram::Config {
        enabled: true,
        api_url: Some(api.url().into()),
        files_url: Some(files_url),
        ..Default::default()
    };
    let (adapter, _) = Telegram::new(telegram, "1:T", None).unwrap();
    engine.start_adapter(Box::new(adapter), shutdown);
    api.fan_says(TG_CHAT, "compose a short happy melody in G major");
    settled(&engine, &format!("telegram:{TG_CHAT}"), 1).await;
    let sent = api.sent_to(TG_CHAT);
    let said = sent.iter().filter_map(|c| c.text()).collect::<Vec<_>>().join("\n");
    assert!(said.contains("a melody in G major"), "the fan's key is the melody's: {said}");
    let file = |method: &str| {
        let call = sent.iter().find(|c| c.method == method).unwrap_or_else(|| panic!("no {method}: {sent:#?}"));
        let field = if method == "sendaudio" {
            "audio"
        } else if method == "sendphoto" {
            "photo"
        } else {
            "document"
        };
        let f = call.params[field].clone();
        (f["file_name"].as_str().unwrap().to_string(), f["bytes"].as_u64().unwrap())
    };
    let (wav, wav_bytes) = file("sendaudio");
    assert!(wav.ends_with(".wav") && wav_bytes > 100_000, "{wav}: {wav_bytes} bytes");
    let (mid, mid_bytes) = file("senddocument");
    assert!(mid.ends_with(".mid") && mid_bytes > 50, "{mid}: {mid_bytes} bytes");
    let (png, png_bytes) = file("sendphoto");
    assert!(png.ends_with(".png") && png_bytes > 1_000, "{png}: {png_bytes} bytes");
}

/// A Telegram fan with history (the demo backend's `fan_history`) asks
/// what to watch: suggestions come as inline-keyboard buttons with a reason
/// each; "Not for me" brings a different set.
#[tokio::test]
async fn a_telegram_fan_gets_recommendations_as_buttons_and_not_for_me_changes_them() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::engine(dir.path()).await;
    let rules = usher::recs::RecsConfig::default();
    let catalogue = common::repo().join("catalogue/encore.yaml");
    let rec = usher::recs::service::load(&rules, &catalogue, |t| Ok(usher::recs::service::hashed_content(t))).unwrap();
    engine.set_recommender(std::sync::Arc::new(rec));
    let (_trigger, shutdown) = Shutdown::new();
    let api = FakeBotApi::start().await.unwrap();
    let telegram = usher_telegram::Config { enabled: true, api_url: Some(api.url().into()), ..Default::default() };
    let (adapter, _) = Telegram::new(telegram, "1:T", None).unwrap();
    engine.start_adapter(Box::new(adapter), shutdown);
    let conversation = format!("telegram:{TG_CHAT}");

    api.fan_says(TG_CHAT, "I'm fan@example.com, what should I watch next?");
    settled(&engine, &conversation, 1).await;
    let first = api.sent_to(TG_CHAT);
    let text = first.iter().find_map(|c| c.text()).unwrap().to_string();
    assert!(text.starts_with("You might like these:"), "{text}");
    assert!(text.contains("because you watched"), "{text}");
    let titles = |calls: &[_]| -> Vec<String> {
        calls.iter().flat_map(|c: &usher_telegram::fake::Call| c.buttons()).map(|(t, _)| t).collect()
    };
    let shown = titles(&first);
    assert_eq!(shown.last().map(String::as_str), Some("Not for me"), "{shown:?}");
    assert!((4..=6).contains(&shown.len()), "3-5 suggestions and Not for me: {shown:?}");
    for watched in ["Signal from Vega", "The Long Orbit", "Quiet Planet"] {
        assert!(!shown.iter().any(|t| t == watched), "{watched} was already watched: {shown:?}");
    }

    api.fan_presses(TG_CHAT, usher::recs::chat::NOT_FOR_ME);
    settled(&engine, &conversation, 2).await;
    let second = api.sent_to(TG_CHAT)[first.len()..].to_vec();
    let again = titles(&second);
    assert!(second.iter().find_map(|c| c.text()).unwrap().starts_with("Fair enough"));
    let first_set: Vec<&String> = shown.iter().filter(|t| *t != "Not for me").collect();
    assert!(again.iter().filter(|t| *t != "Not for me").all(|t| !first_set.contains(&t)), "{shown:?} then {again:?}");
    assert!(again.len() >= 2, "{again:?}");
}
