//! The web chat adapter passes the shared channel compliance suite, driven
//! through a real WebSocket client against the real routes on 127.0.0.1.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};
use usher_channel::compliance::{self, Platform, Shown};
use usher_channel::{ConversationId, Gate, Identity, Part, WebSession};
use usher_webchat::protocol::ServerFrame;
use usher_webchat::{Config, WebChat};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The engine's side of the gate, as the adapter sees it: sessions in a
/// map (the engine's real one, over the store, is tested in tests/it/access.rs).
#[derive(Default)]
struct Sessions(Mutex<HashMap<ConversationId, String>>);

#[async_trait]
impl Gate for Sessions {
    async fn open(&self, identity: Option<Identity>) -> Result<WebSession, usher_channel::Error> {
        if identity.is_some() {
            return Err(usher_channel::Error::IdentityNotConfigured);
        }
        let mut map = self.0.lock().unwrap();
        let conversation = ConversationId::new(format!("web-{}", map.len())).unwrap();
        let token = format!("token-{}-0123456789abcdef", map.len());
        map.insert(conversation.clone(), token.clone());
        Ok(WebSession { conversation, token })
    }

    async fn admit(&self, conversation: &ConversationId, credential: Option<&str>) -> Result<(), usher_channel::Error> {
        usher_channel::access::public(conversation)?;
        let credential = credential.ok_or(usher_channel::Error::MissingCredential)?;
        match self.0.lock().unwrap().get(conversation) {
            Some(token) if token == credential => Ok(()),
            _ => Err(usher_channel::Error::WrongCredential { conversation: conversation.to_string() }),
        }
    }
}

struct Browser {
    base: String,
    sockets: HashMap<ConversationId, Socket>,
    next_client_id: u64,
    conversation: ConversationId,
    token: String,
}

impl Browser {
    async fn socket(&mut self, conversation: &ConversationId) -> &mut Socket {
        if !self.sockets.contains_key(conversation) {
            let url = format!("{}/ws?conversation={conversation}", self.base);
            // The adapter may still be starting (503): retry briefly.
            let mut attempt = 0;
            let socket = loop {
                let mut req = url.as_str().into_client_request().unwrap();
                let protocols = format!("usher, usher-token.{}", self.token);
                req.headers_mut().insert("sec-websocket-protocol", protocols.parse().unwrap());
                match connect_async(req).await {
                    Ok((s, _)) => break s,
                    Err(e) if attempt < 50 => {
                        attempt += 1;
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => panic!("cannot connect to {url}: {e}"),
                }
            };
            self.sockets.insert(conversation.clone(), socket);
        }
        self.sockets.get_mut(conversation).unwrap()
    }

    async fn send(&mut self, conversation: &ConversationId, text: &str, payload: Option<&str>) {
        self.next_client_id += 1;
        let frame =
            serde_json::json!({"type": "message", "client_id": self.next_client_id, "text": text, "payload": payload});
        let socket = self.socket(conversation).await;
        socket.send(Message::Text(frame.to_string().into())).await.unwrap();
    }
}

#[async_trait]
impl Platform for Browser {
    async fn fan_says(&mut self, text: &str) -> ConversationId {
        let conversation = self.conversation.clone();
        self.send(&conversation, text, None).await;
        conversation
    }

    async fn fan_presses(&mut self, conversation: &ConversationId, payload: &str) {
        self.send(conversation, "Refund me", Some(payload)).await;
    }

    async fn shown(&mut self, conversation: &ConversationId, expected: &[&str]) -> Shown {
        let mut shown = Shown::default();
        let socket = self.socket(conversation).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !expected.iter().all(|e| shown.shows(e)) {
            let msg = tokio::time::timeout_at(deadline, socket.next()).await.expect("reply not shown in time");
            let Some(Ok(Message::Text(text))) = msg else { continue };
            let Ok(ServerFrame::Reply { parts, .. }) = serde_json::from_str(&text) else { continue };
            for part in parts {
                match part {
                    Part::Text { text } | Part::Handoff { notice: text } => shown.text.push_str(&text),
                    Part::Buttons { buttons } => shown.buttons.extend(buttons.into_iter().map(|b| b.title)),
                    Part::Attachment(a) => shown.attachments.push(a.name),
                }
            }
        }
        shown
    }
}

#[tokio::test]
async fn webchat_passes_the_channel_compliance_suite() {
    let gate = Arc::new(Sessions::default());
    let session = gate.open(None).await.unwrap();
    let (adapter, router) = WebChat::new(Config::default(), gate);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let browser = Browser {
        base: format!("ws://{addr}"),
        sockets: HashMap::new(),
        next_client_id: 0,
        conversation: session.conversation,
        token: session.token,
    };
    compliance::run(Box::new(adapter), browser).await;
}

/// Starts the adapter (so sockets are served) with `gate`; its address.
async fn running(gate: Arc<Sessions>) -> std::net::SocketAddr {
    let (adapter, router) = WebChat::new(Config::default(), gate);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let (tx, _rx) = tokio::sync::mpsc::channel(8);
    let (_replies_tx, replies) = tokio::sync::mpsc::channel(8);
    let (trigger, shutdown) = usher_channel::Shutdown::new();
    std::mem::forget(trigger);
    let (receipts, _) = usher_channel::Receipts::new();
    let ctx = usher_channel::Context { output: usher_channel::InboundSender::new(tx), replies, shutdown, receipts };
    tokio::spawn(async move { usher_channel::Adapter::run(Box::new(adapter), ctx).await });
    std::mem::forget(_replies_tx);
    addr
}

#[tokio::test]
async fn sessions_are_opened_over_http_and_sockets_need_their_token() {
    let addr = running(Arc::new(Sessions::default())).await;
    let raw = |req: String| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    };
    let opened =
        raw("POST /api/v1/webchat/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .into())
        .await;
    assert!(opened.starts_with("HTTP/1.1 201"), "{opened}");
    assert!(opened.to_lowercase().contains("cache-control: no-store"), "{opened}");
    let body: serde_json::Value = serde_json::from_str(opened.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let (conversation, token) = (body["conversation"].as_str().unwrap(), body["token"].as_str().unwrap());

    let identity = r#"{"user_id": "u1", "user_hash": "00"}"#;
    let verified = raw(format!(
        "POST /api/v1/webchat/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{identity}",
        identity.len()
    ))
    .await;
    assert!(verified.starts_with("HTTP/1.1 400") && verified.contains("not configured"), "{verified}");
    let junk =
        raw("POST /api/v1/webchat/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{nope"
            .into())
        .await;
    assert!(junk.starts_with("HTTP/1.1 400") && junk.contains("invalid JSON"), "{junk}");

    let url = format!("ws://{addr}/ws?conversation={conversation}");
    let with = |protocols: Option<String>, authorization: Option<String>| {
        let url = url.clone();
        async move {
            let mut req = url.into_client_request().unwrap();
            if let Some(p) = protocols {
                req.headers_mut().insert("sec-websocket-protocol", p.parse().unwrap());
            }
            if let Some(a) = authorization {
                req.headers_mut().insert("authorization", a.parse().unwrap());
            }
            connect_async(req).await
        }
    };
    let status = |r: Result<_, tokio_tungstenite::tungstenite::Error>| match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
        Err(e) => panic!("{e}"),
        Ok(_) => 101,
    };
    assert_eq!(status(with(None, None).await), 401, "no token");
    assert_eq!(status(with(Some("usher, usher-token.wrong-token-000000".into()), None).await), 401, "wrong token");
    assert_eq!(status(with(Some(format!("usher, usher-token.{}", "a".repeat(300))), None).await), 401, "over-long");
    assert_eq!(status(with(None, Some("Basic abc".into())).await), 401, "not a bearer");
    let other = format!("ws://{addr}/ws?conversation=telegram:42");
    let mut req = other.into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", format!("usher, usher-token.{token}").parse().unwrap());
    assert_eq!(status(connect_async(req).await), 403, "a channel namespace, whatever the token");

    let (socket, response) = with(Some(format!("usher, usher-token.{token}")), None).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "usher", "the server selects the usher subprotocol");
    drop(socket);
    let (_socket, _) = with(None, Some(format!("Bearer {token}"))).await.unwrap();
}

#[tokio::test]
async fn the_widget_and_demo_page_are_served() {
    let (_adapter, router) =
        WebChat::new(Config { title: "Encore <Help>".into(), ..Config::default() }, Arc::new(Sessions::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let get = |path: &str| {
        let url = format!("http://{addr}{path}");
        async move {
            let mut stream =
                TcpStream::connect(url.trim_start_matches("http://").split('/').next().unwrap()).await.unwrap();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let path = url.splitn(4, '/').nth(3).unwrap_or("");
            let req = format!("GET /{path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            stream.write_all(req.as_bytes()).await.unwrap();
            let mut out = String::new();
            stream.read_to_string(&mut out).await.unwrap();
            out
        }
    };
    let page = get("/").await;
    assert!(page.contains("<script src=\"/widget.js\"></script>"), "{page}");
    assert!(page.contains("Encore &lt;Help&gt;"), "the title is escaped");
    let js = get("/widget.js").await;
    assert!(js.contains("application/javascript"));
    assert!(js.contains("var TITLE = \"Encore <Help>\";"), "the title is a JSON string literal");
    // Without the adapter running, the socket refuses politely.
    let ws = get("/ws?conversation=x").await;
    assert!(ws.starts_with("HTTP/1.1 4") || ws.starts_with("HTTP/1.1 5"), "{ws}");
}
