//! The web chat adapter passes the shared channel compliance suite, driven
//! through a real WebSocket client against the real routes on 127.0.0.1.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};
use usher_channel::compliance::{self, Platform, Shown};
use usher_channel::{ConversationId, Part};
use usher_webchat::protocol::ServerFrame;
use usher_webchat::{Config, WebChat};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Browser {
    base: String,
    sockets: HashMap<ConversationId, Socket>,
    next_client_id: u64,
    conversation: ConversationId,
}

impl Browser {
    async fn socket(&mut self, conversation: &ConversationId) -> &mut Socket {
        if !self.sockets.contains_key(conversation) {
            let url = format!("{}/ws?conversation={conversation}", self.base);
            // The adapter may still be starting (503): retry briefly.
            let mut attempt = 0;
            let socket = loop {
                match connect_async(url.as_str()).await {
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
    let (adapter, router) = WebChat::new(Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let browser = Browser {
        base: format!("ws://{addr}"),
        sockets: HashMap::new(),
        next_client_id: 0,
        conversation: ConversationId::new("web-compliance").unwrap(),
    };
    compliance::run(Box::new(adapter), browser).await;
}

#[tokio::test]
async fn the_widget_and_demo_page_are_served() {
    let (_adapter, router) = WebChat::new(Config { title: "Encore <Help>".into(), ..Config::default() });
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
