//! `usher bench load`: many web chat fans at once against a running server.
//!
//! Each fan opens a web chat session (`POST /api/v1/webchat/sessions`) and
//! `/ws` for its conversation with the session's token, and never has two
//! messages in flight. Two ways to send:
//! - **closed loop** (`--messages M`): each fan sends its next message the
//!   instant the previous one is answered: the server's saturation point;
//! - **open loop** (`--rate R --duration S`): messages arrive as a Poisson
//!   process at R per second in total, each fan an independent Poisson
//!   process at R/N, as fans who read and type between messages. A fan whose
//!   next arrival comes while it still waits for a reply sends it when the
//!   reply comes (counted as deferred).
//!
//! Replies carry store ids, and every reply to message k has an id above
//! k's and below k+1's, so the first reply of a message is recognisable.
//! Afterwards every conversation's transcript is read back over the REST API
//! and compared with what the sockets received: replies stored but never
//! received are lost, replies received twice are duplicated, replies
//! received in a different order than stored are out of order. Requests
//! answered 429 wait as `Retry-After` says and are sent again; messages the
//! per-conversation limit refuses wait and are sent again; the report says
//! how much the server's limits shaped the run.
//!
//! # Layout
//! - `fan`: one fan's session, socket and message round trip; back-off on 429;
//! - `check`: the read-back of the store and the tally;
//! - `plot`: `usher bench plot-load`, latency against offered load as a PNG.

mod check;
mod fan;
pub mod plot;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt;
use rand::{Rng, SeedableRng};

use fan::{Fan, Limits};

/// The most fans, and messages per second, a run may ask for.
const MOST: f64 = 100_000.0;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The web chat socket, e.g. ws://127.0.0.1:8080/ws (loopback only).
    #[arg(long)]
    url: String,
    /// Concurrent fans (1 to 100,000).
    #[arg(long, visible_alias = "clients", default_value_t = 100, value_parser = count, allow_hyphen_values = true)]
    fans: usize,
    /// Closed loop: messages per fan, each sent when the previous is answered.
    #[arg(long, default_value_t = 20, value_parser = count, allow_hyphen_values = true)]
    messages: usize,
    /// Open loop: messages per second over all fans (Poisson arrivals).
    #[arg(long, requires = "duration", value_parser = rate, allow_hyphen_values = true)]
    rate: Option<f64>,
    /// Open loop: seconds of arrivals.
    #[arg(long, requires = "rate", value_parser = seconds, allow_hyphen_values = true)]
    duration: Option<f64>,
    /// A message unanswered this long ends its fan (the server stopped?).
    #[arg(long, default_value_t = 30)]
    reply_timeout: u64,
    /// Give up on the run after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Seed of the open loop's arrival times.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

fn count(s: &str) -> Result<usize, String> {
    let n: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if n.fract() != 0.0 || !(1.0..=MOST).contains(&n) {
        return Err(format!("{s} is outside 1 to 100,000"));
    }
    Ok(n as usize)
}

fn rate(s: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(r > 0.0 && r <= MOST) {
        return Err(format!("{s} messages/s is outside (0, 100,000]"));
    }
    Ok(r)
}

fn seconds(s: &str) -> Result<f64, String> {
    let d: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(d > 0.0 && d <= 86_400.0) {
        return Err(format!("{s} s is outside (0, 86,400]"));
    }
    Ok(d)
}

/// The run's result.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// `closed` or `open`.
    mode: &'static str,
    fans: usize,
    /// Closed loop: messages per fan.
    messages: Option<usize>,
    /// Open loop: the rate asked for, and the seconds of arrivals.
    rate: Option<f64>,
    duration: Option<f64>,
    /// Messages the fans meant to send, and per second of the run.
    offered: usize,
    offered_per_s: f64,
    acked: usize,
    answered: usize,
    achieved_per_s: f64,
    seconds: f64,
    refused: usize,
    deferred: usize,
    errors: usize,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    lost: usize,
    duplicated: usize,
    out_of_order: usize,
    unverified: usize,
    /// Requests answered 429, messages refused by the conversation limit,
    /// and the seconds spent waiting for them.
    limited_requests: usize,
    limited_messages: usize,
    limited_wait_s: f64,
}

pub async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let base = loopback_http_base(&args.url)?;
    let until = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let patience = Duration::from_secs(args.reply_timeout.max(1));
    let limits = Arc::new(Limits::default());
    let client = reqwest::Client::new();

    // Everyone connects first (64 at a time); the clock starts after.
    let connected: Vec<anyhow::Result<Fan>> = futures::stream::iter(0..args.fans)
        .map(|_| Fan::connect(&client, &base, &args.url, &limits, until))
        .buffered(64)
        .collect()
        .await;
    let mut errors = Vec::new();
    let mut fans: Vec<Fan> = Vec::new();
    for f in connected {
        match f {
            Ok(f) => fans.push(f),
            Err(e) => errors.push(format!("connecting: {e:#}")),
        }
    }
    let started = Instant::now();
    let offered: usize = match (args.rate, args.duration) {
        (Some(rate), Some(duration)) => {
            let lambda = rate / args.fans as f64;
            let end = tokio::time::Instant::now() + Duration::from_secs_f64(duration);
            let runs = fans.iter_mut().enumerate().map(|(i, f)| {
                let rng = rand::rngs::StdRng::seed_from_u64(args.seed.wrapping_mul(1_000_003) + i as u64);
                open_loop(f, rng, lambda, end, patience, &limits)
            });
            futures::future::join_all(runs).await.into_iter().sum()
        }
        _ => {
            let runs = fans.iter_mut().map(|f| closed_loop(f, args.messages, patience, &limits));
            futures::future::join_all(runs).await;
            args.fans * args.messages
        }
    };
    let seconds = match args.duration {
        Some(d) => started.elapsed().as_secs_f64().max(d),
        None => started.elapsed().as_secs_f64(),
    };
    futures::future::join_all(fans.iter_mut().map(Fan::finish)).await;
    errors.extend(fans.iter().filter_map(|f| f.error.clone()));
    // The read-back has its own two minutes, whatever the run took.
    let read_until = until.max(tokio::time::Instant::now() + Duration::from_secs(120));
    let tally = check::tally(&client, &base, &fans, &limits, read_until).await;

    let mut latencies: Vec<f64> = fans.iter().flat_map(|f| f.latencies.iter().copied()).collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(i).copied().unwrap_or(0.0)
    };
    let answered = latencies.len();
    let report = Report {
        mode: if args.rate.is_some() { "open" } else { "closed" },
        fans: args.fans,
        messages: args.rate.is_none().then_some(args.messages),
        rate: args.rate,
        duration: args.duration,
        offered,
        offered_per_s: offered as f64 / args.duration.unwrap_or(seconds).max(1e-9),
        acked: fans.iter().map(|f| f.acked.len()).sum(),
        answered,
        achieved_per_s: answered as f64 / seconds.max(1e-9),
        seconds,
        refused: fans.iter().map(|f| f.refused).sum(),
        deferred: fans.iter().map(|f| f.deferred).sum(),
        errors: errors.len(),
        p50_ms: pct(0.50),
        p95_ms: pct(0.95),
        p99_ms: pct(0.99),
        max_ms: latencies.last().copied().unwrap_or(0.0),
        lost: tally.lost,
        duplicated: tally.duplicated,
        out_of_order: tally.out_of_order,
        unverified: tally.unverified,
        limited_requests: limits.http_429.load(std::sync::atomic::Ordering::Relaxed),
        limited_messages: limits.messages_refused.load(std::sync::atomic::Ordering::Relaxed),
        limited_wait_s: limits.waited_ms.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1000.0,
    };
    print(&report, errors.first(), tally.error.as_deref());
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    let clean = report.lost == 0
        && report.duplicated == 0
        && report.out_of_order == 0
        && report.errors == 0
        && report.unverified == 0;
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print(r: &Report, fan_error: Option<&String>, read_error: Option<&str>) {
    match r.mode {
        "open" => println!(
            "{} fans, {:.1} messages/s offered for {:.0} s ({} messages): {} answered ({:.1}/s), {} deferred",
            r.fans,
            r.offered_per_s,
            r.duration.unwrap_or_default(),
            r.offered,
            r.answered,
            r.achieved_per_s,
            r.deferred
        ),
        _ => println!(
            "{} fans x {} messages in {:.1} s: {} answered ({:.0}/s)",
            r.fans,
            r.messages.unwrap_or_default(),
            r.seconds,
            r.answered,
            r.achieved_per_s
        ),
    }
    println!("latency p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms", r.p50_ms, r.p95_ms, r.p99_ms, r.max_ms);
    println!(
        "acknowledged {}, refused {}, fan errors {}, lost {}, duplicated {}, out of order {}",
        r.acked, r.refused, r.errors, r.lost, r.duplicated, r.out_of_order
    );
    if r.limited_requests + r.limited_messages > 0 {
        println!(
            "the server's limits shaped this run: {} requests answered 429 and {} messages refused by the \
             conversation limit were sent again after waiting {:.1} s in all",
            r.limited_requests, r.limited_messages, r.limited_wait_s
        );
    }
    if let Some(e) = fan_error {
        eprintln!("first fan error: {e}");
    }
    if let Some(e) = read_error {
        eprintln!(
            "{} transcripts could not be read back (first: {e}); their unanswered messages count as lost",
            r.unverified
        );
    }
}

async fn closed_loop(f: &mut Fan, messages: usize, patience: Duration, limits: &Limits) {
    for k in 0..messages {
        if let Err(e) = f.round_trip(k, patience, limits).await {
            f.error = Some(format!("{}: message {k}: {e:#}", f.conversation));
            return;
        }
    }
}

/// Sends at the fan's Poisson arrival times until `end`; the number of
/// arrivals before `end` (sent or not).
async fn open_loop(
    f: &mut Fan,
    mut rng: rand::rngs::StdRng,
    lambda: f64,
    end: tokio::time::Instant,
    patience: Duration,
    limits: &Limits,
) -> usize {
    let mut gap = || Duration::from_secs_f64(-(1.0 - rng.random::<f64>()).ln() / lambda);
    let mut next = tokio::time::Instant::now() + gap();
    let mut arrivals = 0;
    while next < end {
        arrivals += 1;
        if f.error.is_none() {
            if tokio::time::Instant::now() > next + Duration::from_millis(1) {
                f.deferred += 1;
            }
            tokio::time::sleep_until(next).await;
            if let Err(e) = f.round_trip(arrivals - 1, patience, limits).await {
                f.error = Some(format!("{}: message {}: {e:#}", f.conversation, arrivals - 1));
            }
        }
        next += gap();
    }
    arrivals
}

/// `http://host:port` for a loopback `ws://host:port/...` URL.
fn loopback_http_base(url: &str) -> anyhow::Result<String> {
    let rest = url.strip_prefix("ws://").context("--url must start with ws:// (loopback only)")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let loopback =
        matches!(host, "localhost" | "[::1]") || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback());
    anyhow::ensure!(
        loopback,
        "the load tool only targets loopback addresses (127.0.0.0/8, [::1], localhost), not {host}: \
         run it on the server's machine"
    );
    Ok(format!("http://{authority}"))
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

    #[test]
    fn counts_rates_and_durations_are_checked() {
        assert_eq!(count("1000"), Ok(1000));
        for bad in ["0", "-5", "100001", "2.5", "many"] {
            assert!(count(bad).is_err(), "{bad}");
        }
        assert_eq!(rate("0.5"), Ok(0.5));
        for bad in ["0", "-1", "1e9", "NaN", "inf"] {
            assert!(rate(bad).is_err(), "{bad}");
        }
        assert!(seconds("60").is_ok() && seconds("0").is_err() && seconds("-3").is_err());
    }
}
