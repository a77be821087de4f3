//! `usher bench load`: many web chat fans at once against a running server.
//!
//! Each fan opens a web chat session (`POST /api/v1/webchat/sessions`), then
//! `/ws` for its conversation with the session's token, and sends its messages one
//! after another, each as soon as the previous one got its first reply
//! (replies carry store ids, and every reply to message k has an id above
//! k's and below k+1's, so the first reply of a message is recognisable).
//! Afterwards every conversation's transcript is read back over the REST API
//! and compared with what the sockets received: replies stored but never
//! received are lost, replies received twice are duplicated, replies
//! received in a different order than stored are out of order.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

/// Phrases fans send: everyday questions, nothing that asks for a person or
/// a creative tool, so every message gets a bot reply.
const PHRASES: [&str; 8] = [
    "hi there",
    "how do I get a refund for my ticket",
    "my stream keeps buffering",
    "I lost my ticket",
    "can I change my seat",
    "how do I cancel my subscription",
    "thanks",
    "what are your opening hours",
];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The web chat socket, e.g. ws://127.0.0.1:8080/ws (loopback only).
    #[arg(long)]
    url: String,
    /// Concurrent fans.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Messages per fan.
    #[arg(long, default_value_t = 20)]
    messages: usize,
    /// Give up on the run after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

/// What one fan saw.
#[derive(Debug, Default)]
struct Fan {
    conversation: String,
    /// The session's token.
    token: String,
    /// Acknowledged message ids.
    acked: Vec<i64>,
    /// Reply ids in arrival order.
    received: Vec<i64>,
    /// Send-to-first-reply latency per answered message, in ms.
    latencies: Vec<f64>,
    /// Messages refused or never acknowledged.
    refused: usize,
    error: Option<String>,
}

/// The run's result.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    clients: usize,
    messages: usize,
    acked: usize,
    answered: usize,
    refused: usize,
    errors: usize,
    seconds: f64,
    throughput: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    lost: usize,
    duplicated: usize,
    out_of_order: usize,
}

pub async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let base = loopback_http_base(&args.url)?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let started = Instant::now();
    let client = reqwest::Client::new();
    let fans =
        futures::future::join_all((0..args.clients).map(|_| fan(&client, &base, &args.url, args.messages, deadline)))
            .await;
    let seconds = started.elapsed().as_secs_f64();
    let mut lost = 0;
    let mut duplicated = 0;
    let mut out_of_order = 0;
    let checks = futures::stream::iter(fans.iter().map(|f| stored_replies(&client, &base, f)))
        .buffered(16)
        .collect::<Vec<_>>()
        .await;
    for (f, stored) in fans.iter().zip(checks) {
        let stored = stored?;
        let mut seen: HashMap<i64, usize> = HashMap::new();
        for id in &f.received {
            *seen.entry(*id).or_default() += 1;
        }
        duplicated += seen.values().map(|n| n - 1).sum::<usize>();
        lost += stored.replies.iter().filter(|id| !seen.contains_key(id)).count();
        lost += stored.unanswered;
        out_of_order += f.received.windows(2).filter(|w| w[1] < w[0]).count();
    }
    let mut latencies: Vec<f64> = fans.iter().flat_map(|f| f.latencies.iter().copied()).collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)));
    let answered = latencies.len();
    let report = Report {
        clients: args.clients,
        messages: args.messages,
        acked: fans.iter().map(|f| f.acked.len()).sum(),
        answered,
        refused: fans.iter().map(|f| f.refused).sum(),
        errors: fans.iter().filter(|f| f.error.is_some()).count(),
        seconds,
        throughput: answered as f64 / seconds.max(1e-9),
        p50_ms: pct(0.50).copied().unwrap_or(0.0),
        p95_ms: pct(0.95).copied().unwrap_or(0.0),
        p99_ms: pct(0.99).copied().unwrap_or(0.0),
        lost,
        duplicated,
        out_of_order,
    };
    if let Some(e) = fans.iter().find_map(|f| f.error.as_ref()) {
        eprintln!("first fan error: {e}");
    }
    println!(
        "{} fans x {} messages in {:.1} s: {} answered ({:.0}/s), p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms",
        report.clients,
        report.messages,
        report.seconds,
        report.answered,
        report.throughput,
        report.p50_ms,
        report.p95_ms,
        report.p99_ms
    );
    println!(
        "acknowledged {}, refused {}, fan errors {}, lost {}, duplicated {}, out of order {}",
        report.acked, report.refused, report.errors, report.lost, report.duplicated, report.out_of_order
    );
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    let clean = report.lost == 0 && report.duplicated == 0 && report.out_of_order == 0 && report.errors == 0;
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `http://host:port` for a loopback `ws://host:port/...` URL.
fn loopback_http_base(url: &str) -> anyhow::Result<String> {
    let rest = url.strip_prefix("ws://").context("--url must start with ws:// (loopback only)")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let loopback =
        matches!(host, "localhost" | "[::1]") || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
    anyhow::ensure!(loopback, "the load generator only targets loopback servers, not {host}");
    Ok(format!("http://{authority}"))
}

async fn fan(client: &reqwest::Client, base: &str, url: &str, messages: usize, deadline: Instant) -> Fan {
    let mut f = Fan::default();
    if let Err(e) = talk(client, base, url, messages, deadline, &mut f).await {
        f.error = Some(format!("{}: {e:#}", f.conversation));
    }
    f
}

async fn talk(
    client: &reqwest::Client,
    base: &str,
    url: &str,
    messages: usize,
    deadline: Instant,
    f: &mut Fan,
) -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let until = tokio::time::Instant::from_std(deadline);
    let session = client.post(format!("{base}/api/v1/webchat/sessions")).send();
    let session: serde_json::Value = tokio::time::timeout_at(until, session)
        .await
        .context("timed out opening a session")??
        .error_for_status()?
        .json()
        .await?;
    f.conversation = session["conversation"].as_str().context("session without a conversation")?.to_string();
    f.token = session["token"].as_str().context("session without a token")?.to_string();
    let mut req = format!("{url}?conversation={}", f.conversation).into_client_request()?;
    req.headers_mut().insert("sec-websocket-protocol", format!("usher, usher-token.{}", f.token).parse()?);
    let (mut ws, _) = tokio::time::timeout_at(until, tokio_tungstenite::connect_async(req))
        .await
        .context("timed out connecting")??;
    for k in 0..messages {
        let text = PHRASES[k % PHRASES.len()];
        let frame = serde_json::json!({ "type": "message", "client_id": k, "text": text });
        let sent = Instant::now();
        ws.send(Message::text(frame.to_string())).await?;
        let mut ack: Option<i64> = None;
        let mut early: Vec<i64> = Vec::new();
        // Wait for the ack and the first reply with an id above it.
        loop {
            let next = tokio::time::timeout_at(until, ws.next()).await.context("run deadline reached")?;
            let Some(msg) = next else { anyhow::bail!("socket closed") };
            let Message::Text(body) = msg? else { continue };
            let frame: serde_json::Value = serde_json::from_str(body.as_str())?;
            match frame["type"].as_str() {
                Some("ack") => {
                    let id = frame["message_id"].as_i64().context("ack without message_id")?;
                    f.acked.push(id);
                    ack = Some(id);
                    if early.iter().any(|r| *r > id) {
                        f.latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                        break;
                    }
                }
                Some("reply") => {
                    let id = frame["id"].as_i64().context("reply without id")?;
                    f.received.push(id);
                    match ack {
                        Some(a) if id > a => {
                            f.latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                            break;
                        }
                        Some(_) => {}
                        None => early.push(id),
                    }
                }
                Some("error") => {
                    f.refused += 1;
                    break;
                }
                _ => {}
            }
        }
    }
    // Collect stragglers (second replies of the last message) briefly.
    let quiet = tokio::time::Instant::now() + Duration::from_millis(1500);
    while let Ok(Some(Ok(Message::Text(body)))) = tokio::time::timeout_at(quiet.min(until), ws.next()).await {
        let frame: serde_json::Value = serde_json::from_str(body.as_str())?;
        if frame["type"] == "reply" {
            f.received.push(frame["id"].as_i64().context("reply without id")?);
        }
    }
    let _ = ws.close(None).await;
    Ok(())
}

/// The bot's stored replies to this fan's acknowledged messages, and how
/// many of those messages have none.
struct Stored {
    replies: Vec<i64>,
    unanswered: usize,
}

async fn stored_replies(client: &reqwest::Client, base: &str, f: &Fan) -> anyhow::Result<Stored> {
    if f.acked.is_empty() {
        return Ok(Stored { replies: Vec::new(), unanswered: 0 });
    }
    let url = format!("{base}/api/v1/conversations/{}", f.conversation);
    let transcript: serde_json::Value =
        client.get(&url).bearer_auth(&f.token).send().await?.error_for_status()?.json().await?;
    let messages = transcript["messages"].as_array().context("transcript without messages")?;
    let mut replies = Vec::new();
    let mut answered: HashMap<i64, bool> = HashMap::new();
    let mut current: Option<i64> = None;
    for m in messages {
        let id = m["id"].as_i64().unwrap_or_default();
        match (m["direction"].as_str(), m["sender"].as_str()) {
            (Some("in"), _) => {
                current = Some(id);
                answered.insert(id, false);
            }
            (Some("out"), Some("bot")) => {
                replies.push(id);
                if let Some(c) = current {
                    answered.insert(c, true);
                }
            }
            _ => {}
        }
    }
    let unanswered = f.acked.iter().filter(|id| !answered.get(id).copied().unwrap_or(false)).count();
    Ok(Stored { replies, unanswered })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        assert_eq!(loopback_http_base("ws://127.0.0.1:8080/ws").expect("loopback"), "http://127.0.0.1:8080");
        assert_eq!(loopback_http_base("ws://localhost:9/ws").expect("loopback"), "http://localhost:9");
        assert!(loopback_http_base("ws://example.com:80/ws").is_err());
        assert!(loopback_http_base("wss://127.0.0.1/ws").is_err());
        assert!(loopback_http_base("ws://10.0.0.1:80/ws").is_err());
    }
}
