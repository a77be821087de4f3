//! One fan: a web chat session, its socket, and one message's round trip.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Phrases fans send: everyday questions, nothing that asks for a person or
/// a creative tool, so every message gets a bot reply.
pub const PHRASES: [&str; 8] = [
    "hi there",
    "how do I get a refund for my ticket",
    "my stream keeps buffering",
    "I lost my ticket",
    "can I change my seat",
    "how do I cancel my subscription",
    "thanks",
    "what are your opening hours",
];

/// How the server's limits shaped a run, shared by every fan.
#[derive(Debug, Default)]
pub struct Limits {
    /// HTTP requests answered 429 (sessions, read-back).
    pub http_429: AtomicUsize,
    /// Messages refused by the per-conversation limit (then sent again).
    pub messages_refused: AtomicUsize,
    /// Milliseconds spent waiting as `Retry-After` asked.
    pub waited_ms: AtomicU64,
}

impl Limits {
    fn waited(&self, d: Duration) {
        self.waited_ms.fetch_add(d.as_millis() as u64, Ordering::Relaxed);
    }

    /// After a 429: waits `Retry-After` seconds when given, else `pause`
    /// (which doubles, up to 5 s); an error if that passes `until`.
    async fn back_off(
        &self,
        retry_after: Option<&reqwest::header::HeaderValue>,
        pause: &mut Duration,
        until: tokio::time::Instant,
    ) -> anyhow::Result<()> {
        self.http_429.fetch_add(1, Ordering::Relaxed);
        let asked = retry_after.and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let wait = asked.map_or(*pause, Duration::from_secs);
        *pause = (*pause * 2).min(Duration::from_secs(5));
        anyhow::ensure!(tokio::time::Instant::now() + wait < until, "still 429 at the run deadline");
        self.waited(wait);
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

/// What one fan saw.
#[derive(Debug, Default)]
pub struct Fan {
    pub conversation: String,
    /// The session's token.
    pub token: String,
    /// Acknowledged message ids.
    pub acked: Vec<i64>,
    /// Reply ids in arrival order.
    pub received: Vec<i64>,
    /// Send-to-first-reply latency per answered message, in ms.
    pub latencies: Vec<f64>,
    /// Messages refused for a reason other than a limit.
    pub refused: usize,
    /// Messages sent later than their arrival time because the previous
    /// one was still unanswered (open loop only).
    pub deferred: usize,
    /// Why the fan stopped early.
    pub error: Option<String>,
    socket: Option<Socket>,
}

/// Sends `make()` again on 429, waiting as `Retry-After` says (or 0.2 s,
/// doubling), until `until`.
pub async fn with_backoff(
    limits: &Limits,
    until: tokio::time::Instant,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> anyhow::Result<reqwest::Response> {
    let mut pause = Duration::from_millis(200);
    loop {
        let sent = make().timeout(Duration::from_secs(10)).send();
        let res = tokio::time::timeout_at(until, sent).await.context("run deadline reached")??;
        if res.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Ok(res);
        }
        limits.back_off(res.headers().get(reqwest::header::RETRY_AFTER), &mut pause, until).await?;
    }
}

impl Fan {
    /// Opens a session and its socket.
    pub async fn connect(
        client: &reqwest::Client,
        base: &str,
        url: &str,
        limits: &Limits,
        until: tokio::time::Instant,
    ) -> anyhow::Result<Fan> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let session: serde_json::Value =
            with_backoff(limits, until, || client.post(format!("{base}/api/v1/webchat/sessions")))
                .await?
                .error_for_status()?
                .json()
                .await?;
        let mut f = Fan {
            conversation: session["conversation"].as_str().context("session without a conversation")?.to_string(),
            token: session["token"].as_str().context("session without a token")?.to_string(),
            ..Fan::default()
        };
        let mut pause = Duration::from_millis(200);
        loop {
            let mut req = format!("{url}?conversation={}", f.conversation).into_client_request()?;
            req.headers_mut().insert("sec-websocket-protocol", format!("usher, usher-token.{}", f.token).parse()?);
            let connecting = tokio::time::timeout_at(until, tokio_tungstenite::connect_async(req));
            match connecting.await.context("timed out connecting")? {
                Ok((ws, _)) => {
                    f.socket = Some(ws);
                    return Ok(f);
                }
                Err(tokio_tungstenite::tungstenite::Error::Http(res)) if res.status() == 429 => {
                    limits.back_off(res.headers().get(reqwest::header::RETRY_AFTER), &mut pause, until).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sends message `k` and waits (up to `patience`) for its ack and first
    /// reply; a refusal by the conversation limit waits as asked and sends
    /// it again. An error means the socket is unusable.
    pub async fn round_trip(&mut self, k: usize, patience: Duration, limits: &Limits) -> anyhow::Result<()> {
        let ws = self.socket.as_mut().context("not connected")?;
        let text = PHRASES[k % PHRASES.len()];
        let frame = serde_json::json!({ "type": "message", "client_id": k, "text": text }).to_string();
        let sent = Instant::now();
        let until = tokio::time::Instant::now() + patience;
        ws.send(Message::text(frame.clone())).await?;
        let mut ack: Option<i64> = None;
        let mut early: Vec<i64> = Vec::new();
        loop {
            let next = tokio::time::timeout_at(until, ws.next())
                .await
                .with_context(|| format!("no reply within {} s", patience.as_secs()))?;
            let Some(msg) = next else { anyhow::bail!("the server closed the socket") };
            let Message::Text(body) = msg? else { continue };
            let frame_in: serde_json::Value = serde_json::from_str(body.as_str())?;
            match frame_in["type"].as_str() {
                Some("ack") => {
                    let id = frame_in["message_id"].as_i64().context("ack without message_id")?;
                    self.acked.push(id);
                    ack = Some(id);
                    if early.iter().any(|r| *r > id) {
                        break;
                    }
                }
                Some("reply") => {
                    let id = frame_in["id"].as_i64().context("reply without id")?;
                    self.received.push(id);
                    match ack {
                        Some(a) if id > a => break,
                        Some(_) => {}
                        None => early.push(id),
                    }
                }
                Some("error") => {
                    let reason = frame_in["reason"].as_str().unwrap_or_default();
                    match retry_after(reason) {
                        Some(wait) if tokio::time::Instant::now() + wait < until => {
                            limits.messages_refused.fetch_add(1, Ordering::Relaxed);
                            limits.waited(wait);
                            tokio::time::sleep(wait).await;
                            ws.send(Message::text(frame.clone())).await?;
                        }
                        _ => {
                            self.refused += 1;
                            return Ok(());
                        }
                    }
                }
                _ => {}
            }
        }
        self.latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
        Ok(())
    }

    /// Collects stragglers (second replies of the last message) briefly,
    /// then closes the socket.
    pub async fn finish(&mut self) {
        let Some(mut ws) = self.socket.take() else { return };
        let quiet = tokio::time::Instant::now() + Duration::from_millis(1500);
        while let Ok(Some(Ok(Message::Text(body)))) = tokio::time::timeout_at(quiet, ws.next()).await {
            let Ok(frame) = serde_json::from_str::<serde_json::Value>(body.as_str()) else { continue };
            if let (Some("reply"), Some(id)) = (frame["type"].as_str(), frame["id"].as_i64()) {
                self.received.push(id);
            }
        }
        let _ = ws.close(None).await;
    }
}

/// The wait a limit refusal asks for ("too many messages: wait 3 s").
fn retry_after(reason: &str) -> Option<Duration> {
    let (_, rest) = reason.split_once("wait ").or_else(|| reason.split_once("retry in "))?;
    let secs: u64 = rest.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_refusals_say_how_long_to_wait() {
        assert_eq!(retry_after("too many messages: wait 3 s"), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("too many attempts for x: retry in 12 s"), Some(Duration::from_secs(12)));
        assert_eq!(retry_after("message text is empty"), None);
    }
}
