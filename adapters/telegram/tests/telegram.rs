//! The Telegram adapter with the real teloxide client against the local
//! fake Bot API: the shared compliance suite, webhook secrets, 429
//! handling, attachments and odd updates.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use usher_channel::compliance::{self, Harness, Platform, Shown};
use usher_channel::{Accepted, Attachment, AttachmentKind, ConversationId, Outbound, Part};
use usher_telegram::fake::{Failure, FakeBotApi};
use usher_telegram::{Config, Mode, Telegram, SECRET_HEADER};

const FAN: i64 = 4242;

fn config(api: &FakeBotApi) -> Config {
    Config { enabled: true, api_url: Some(api.url().to_string()), ..Config::default() }
}

struct Fans {
    api: FakeBotApi,
    seen: usize,
}

#[async_trait]
impl Platform for Fans {
    async fn fan_says(&mut self, text: &str) -> ConversationId {
        self.api.fan_says(FAN, text);
        ConversationId::new(format!("telegram:{FAN}")).unwrap()
    }

    async fn fan_presses(&mut self, _conversation: &ConversationId, payload: &str) {
        self.api.fan_presses(FAN, payload);
    }

    async fn shown(&mut self, _conversation: &ConversationId, expected: &[&str]) -> Shown {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let mut shown = Shown::default();
            for call in self.api.sent_to(FAN).iter().skip(self.seen) {
                if let Some(text) = call.text() {
                    shown.text.push_str(text);
                    shown.text.push('\n');
                }
                shown.buttons.extend(call.buttons().into_iter().map(|(title, _)| title));
                for v in call.params.values() {
                    if let Some(name) = v.get("file_name").and_then(|n| n.as_str()) {
                        shown.attachments.push(name.to_string());
                    }
                }
            }
            if expected.iter().all(|e| shown.shows(e)) || tokio::time::Instant::now() > deadline {
                self.seen = self.api.sent_to(FAN).len();
                return shown;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn telegram_passes_the_channel_compliance_suite() {
    let api = FakeBotApi::start().await.unwrap();
    let (adapter, routes) = Telegram::new(config(&api), "123:TEST", None).unwrap();
    assert!(routes.is_none(), "polling mode serves no route");
    compliance::run(Box::new(adapter), Fans { api, seen: 0 }).await;
}

fn reply(id: i64, parts: Vec<Part>) -> Outbound {
    Outbound {
        conversation: ConversationId::new(format!("telegram:{FAN}")).unwrap(),
        channel: "telegram".into(),
        id,
        parts,
    }
}

#[tokio::test]
async fn a_429_with_retry_after_is_honoured_and_nothing_is_lost() {
    let api = FakeBotApi::start().await.unwrap();
    let (adapter, _) = Telegram::new(config(&api), "123:TEST", None).unwrap();
    let mut h = Harness::start(Box::new(adapter));
    api.fail_next("sendMessage", Failure::RetryAfter(2));
    api.fail_next("sendMessage", Failure::RetryAfter(1));
    h.replies.send(reply(10, vec![Part::Text { text: "Your refund is on its way.".into() }])).await.unwrap();
    assert_eq!(h.receipt().await, Some(10));
    let calls = api.calls("sendMessage");
    assert_eq!(calls.len(), 3, "429, 429, then success");
    let waited = calls[1].at - calls[0].at;
    assert!(waited >= Duration::from_secs(2), "retry_after 2 s must be honoured, retried after {waited:?}");
    assert_eq!(api.sent_to(FAN).iter().filter(|c| c.text() == Some("Your refund is on its way.")).count(), 3);
    h.stop().await;
}

#[tokio::test]
async fn long_replies_are_split_and_attachments_use_the_right_method() {
    let api = FakeBotApi::start().await.unwrap();
    let (adapter, _) = Telegram::new(config(&api), "123:TEST", None).unwrap();
    let mut h = Harness::start(Box::new(adapter));
    let long = "Refunds reach your card within five working days. ".repeat(120);
    let file = |kind, name: &str| {
        Part::Attachment(Attachment {
            kind,
            url: format!("{}/files/{name}", api.url()),
            name: name.into(),
            mime: "x/y".into(),
        })
    };
    let parts = vec![
        Part::Text { text: long.clone() },
        file(AttachmentKind::Image, "roll.png"),
        file(AttachmentKind::Audio, "tune.wav"),
        file(AttachmentKind::File, "tune.mid"),
    ];
    h.replies.send(reply(11, parts)).await.unwrap();
    assert_eq!(h.receipt().await, Some(11));
    let texts: Vec<String> = api.calls("sendMessage").iter().filter_map(|c| c.text().map(str::to_string)).collect();
    assert!(texts.len() >= 2 && texts.iter().all(|t| t.encode_utf16().count() <= 4096));
    assert_eq!(texts.join(" "), long.trim(), "splitting must lose nothing");
    for (method, field, name) in [
        ("sendPhoto", "photo", "roll.png"),
        ("sendAudio", "audio", "tune.wav"),
        ("sendDocument", "document", "tune.mid"),
    ] {
        let calls = api.calls(method);
        assert_eq!(calls.len(), 1, "{method}");
        assert_eq!(calls[0].params[field]["file_name"], name);
        assert!(calls[0].params[field]["bytes"].as_u64().unwrap() > 0);
    }
    h.stop().await;
}

#[tokio::test]
async fn odd_updates_are_handled_without_panics() {
    let api = FakeBotApi::start().await.unwrap();
    let (adapter, _) = Telegram::new(config(&api), "123:TEST", None).unwrap();
    let mut h = Harness::start(Box::new(adapter));
    api.fan_sends(
        FAN,
        json!({"sticker": {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1,
        "height": 1, "is_animated": false, "is_video": false}}),
    );
    api.fan_sends(FAN, json!({"voice": {"file_id": "v", "file_unique_id": "v", "duration": 2}}));
    api.push_update(json!({"edited_message": {"message_id": 1, "date": 1, "edit_date": 2, "text": "edited",
        "chat": {"id": FAN, "type": "private", "first_name": "Fan"}}}));
    api.push_update(json!({"some_future_update": {"id": 1}}));
    let stale = api.fan_presses(FAN, "not-our-data");
    api.fan_sends(FAN, json!({"text": "x".repeat(30_000)}));
    let last = api.fan_says(FAN, "still here");
    // Only the last two reach the engine; the 30 kB one is refused by the contract.
    let sub = h.next().await;
    assert_eq!(sub.inbound.text, "still here");
    let _ = sub.ack.send(Ok(Accepted { message_id: 1 }));
    let sent = api.wait_sent(FAN, 3).await;
    let texts: Vec<&str> = sent.iter().filter_map(|c| c.text()).collect();
    assert_eq!(texts.iter().filter(|t| t.contains("I can only read text")).count(), 2, "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("over the 20480-byte limit")), "{texts:?}");
    let answers = api.wait_calls("answerCallbackQuery", 1).await;
    assert_eq!(answers[0].params["callback_query_id"], stale.as_str());
    assert!(answers[0].params["text"].as_str().unwrap().contains("no longer active"));
    // Every update was confirmed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.stop().await;
    assert!(api.confirmed() >= i64::from(last) - 1);
}

#[tokio::test]
async fn an_update_is_offered_again_until_the_engine_stores_it() {
    let api = FakeBotApi::start().await.unwrap();
    let (adapter, _) = Telegram::new(config(&api), "123:TEST", None).unwrap();
    let mut h = Harness::start(Box::new(adapter));
    let id = api.fan_says(FAN, "do not lose me");
    let sub = h.next().await;
    let _ = sub.ack.send(Err(usher_channel::Rejection::unavailable("store down")));
    // The same update comes back on the next poll.
    let again = h.next().await;
    assert_eq!(again.inbound.text, "do not lose me");
    let _ = again.ack.send(Ok(Accepted { message_id: 5 }));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while api.confirmed() < i64::from(id) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(api.confirmed() >= i64::from(id), "the update must be confirmed once stored");
    h.stop().await;
}

#[tokio::test]
async fn webhook_requires_the_secret_and_registers_itself() {
    let api = FakeBotApi::start().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config =
        Config { mode: Mode::Webhook, webhook_url: Some(format!("http://{addr}/telegram/webhook")), ..config(&api) };
    let (adapter, routes) = Telegram::new(config, "123:TEST", Some("s3cret-token".into())).unwrap();
    let routes = routes.expect("webhook mode serves a route");
    tokio::spawn(async move { axum::serve(listener, routes).await });
    let mut h = Harness::start(Box::new(adapter));
    let set = api.wait_calls("setWebhook", 1).await;
    assert_eq!(set[0].params["secret_token"], "s3cret-token");
    assert_eq!(set[0].params["url"], format!("http://{addr}/telegram/webhook"));

    let update = json!({"update_id": 77, "message": {"message_id": 1, "date": 1, "text": "hello by webhook",
        "chat": {"id": FAN, "type": "private", "first_name": "Fan"}, "from": {"id": FAN, "is_bot": false, "first_name": "Fan"}}});
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/telegram/webhook");
    let post = |secret: Option<&str>, body: String| {
        let mut req = client.post(&url).header("content-type", "application/json").body(body);
        if let Some(s) = secret {
            req = req.header(SECRET_HEADER, s);
        }
        req.send()
    };
    assert_eq!(post(None, update.to_string()).await.unwrap().status(), 401);
    assert_eq!(post(Some("wrong"), update.to_string()).await.unwrap().status(), 401);
    assert_eq!(post(Some("s3cret-token"), "{not json".into()).await.unwrap().status(), 400);

    let accepted = {
        let (client, url, body) = (client.clone(), url.clone(), update.to_string());
        tokio::spawn(async move {
            let req =
                client.post(&url).header("content-type", "application/json").header(SECRET_HEADER, "s3cret-token");
            req.body(body).send().await
        })
    };
    let sub = h.next().await;
    assert_eq!(sub.inbound.text, "hello by webhook");
    let _ = sub.ack.send(Ok(Accepted { message_id: 9 }));
    assert_eq!(accepted.await.unwrap().unwrap().status(), 200);
    h.stop().await;
}
