//! Process-local figures for `/metrics`: counters, a gauge and latency
//! histograms in the Prometheus text format. (Conversation and handoff
//! totals come from the store instead, so every replica agrees on them.)

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const SECONDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Upper bounds of the batch size buckets.
const SIZES: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// A cumulative histogram.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    /// The sum of observed values, in millionths.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one duration (in seconds).
    pub fn observe(&self, d: Duration) {
        self.observe_value(d.as_secs_f64());
    }

    /// Records one value.
    pub fn observe_value(&self, v: f64) {
        for (bound, n) in self.bounds.iter().zip(&self.counts) {
            if v <= *bound {
                n.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((v.max(0.0) * 1e6).round() as u64, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        self.samples(out, name, "");
    }

    /// The bucket, sum and count lines, with `labels` (`action="x"`) on each.
    fn samples(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, n) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {}", n.load(Ordering::Relaxed));
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let labels = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{labels} {sum}\n{name}_count{labels} {count}");
    }
}

/// The engine's figures.
#[derive(Debug)]
pub struct Metrics {
    /// Fan messages stored.
    pub messages_in: AtomicU64,
    /// Replies stored (bot and agents).
    pub replies_out: AtomicU64,
    /// Messages refused by the per-conversation rate limit.
    pub rate_limited: AtomicU64,
    /// Turns that handed the conversation to a person.
    pub handoffs: AtomicU64,
    /// Messages queued on conversation workers, not yet started.
    pub queue_depth: AtomicI64,
    /// Messages being processed now.
    pub in_flight: AtomicI64,
    /// From a message's acknowledgement to its stored replies.
    pub turn: Histogram,
    /// One NLU batch (encoder, classifier, tagger, sentiment).
    pub inference: Histogram,
    /// Messages per NLU batch.
    pub batch_size: Histogram,
    /// Backend action calls: latency and outcomes per action.
    pub actions: ActionFigures,
}

/// Latency per action and calls per action and outcome.
#[derive(Debug, Default)]
pub struct ActionFigures {
    latency: std::sync::Mutex<std::collections::BTreeMap<String, Histogram>>,
    outcomes: std::sync::Mutex<std::collections::BTreeMap<(String, String), u64>>,
}

impl ActionFigures {
    /// Records one call.
    pub fn observe(&self, called: &crate::dialogue::evidence::Called) {
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        latency
            .entry(called.action.clone())
            .or_insert_with(|| Histogram::new(SECONDS))
            .observe(Duration::from_millis(called.duration_ms));
        drop(latency);
        let mut outcomes = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        *outcomes.entry((called.action.clone(), called.outcome.clone())).or_default() += 1;
    }

    fn render(&self, out: &mut String) {
        let latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let name = "usher_action_seconds";
        let _ = writeln!(out, "# HELP {name} Backend action calls, retries included.\n# TYPE {name} histogram");
        for (action, h) in latency.iter() {
            h.samples(out, name, &format!("action=\"{action}\""));
        }
        drop(latency);
        let outcomes = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        let name = "usher_action_calls_total";
        let _ = writeln!(out, "# HELP {name} Backend action calls by outcome.\n# TYPE {name} counter");
        for ((action, outcome), n) in outcomes.iter() {
            let _ = writeln!(out, "{name}{{action=\"{action}\",outcome=\"{outcome}\"}} {n}");
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            messages_in: AtomicU64::new(0),
            replies_out: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            handoffs: AtomicU64::new(0),
            queue_depth: AtomicI64::new(0),
            in_flight: AtomicI64::new(0),
            turn: Histogram::new(SECONDS),
            inference: Histogram::new(SECONDS),
            batch_size: Histogram::new(SIZES),
            actions: ActionFigures::default(),
        }
    }
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages queued or being processed.
    pub fn pending(&self) -> i64 {
        self.queue_depth.load(Ordering::Relaxed) + self.in_flight.load(Ordering::Relaxed)
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Ordering::Relaxed));
        };
        counter("usher_messages_received_total", "Fan messages stored by this replica.", &self.messages_in);
        counter("usher_replies_sent_total", "Replies stored by this replica.", &self.replies_out);
        counter("usher_rate_limited_total", "Messages refused by the per-conversation limit.", &self.rate_limited);
        counter("usher_turn_handoffs_total", "Turns on this replica that handed over to a person.", &self.handoffs);
        let depth = self.queue_depth.load(Ordering::Relaxed).max(0);
        let _ = writeln!(
            out,
            "# HELP usher_queue_depth Messages waiting for their conversation's worker.\n# TYPE usher_queue_depth gauge\nusher_queue_depth {depth}"
        );
        let busy = self.in_flight.load(Ordering::Relaxed).max(0);
        let _ = writeln!(
            out,
            "# HELP usher_turns_in_flight Messages being processed.\n# TYPE usher_turns_in_flight gauge\nusher_turns_in_flight {busy}"
        );
        self.turn.render(
            &mut out,
            "usher_turn_seconds",
            "Time from a message's acknowledgement to its stored replies.",
        );
        self.inference.render(&mut out, "usher_inference_seconds", "Time of one NLU batch on the NLU thread.");
        self.batch_size.render(&mut out, "usher_inference_batch_size", "Messages per NLU batch (dynamic batching).");
        self.actions.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.turn.observe(Duration::from_millis(3));
        m.turn.observe(Duration::from_millis(300));
        Metrics::inc(&m.messages_in);
        let text = m.render();
        assert!(text.contains("usher_turn_seconds_bucket{le=\"0.001\"} 0\n"), "{text}");
        assert!(text.contains("usher_turn_seconds_bucket{le=\"0.005\"} 1\n"), "{text}");
        assert!(text.contains("usher_turn_seconds_bucket{le=\"0.5\"} 2\n"), "{text}");
        assert!(
            text.contains(
                "usher_turn_seconds_bucket{le=\"+Inf\"} 2\nusher_turn_seconds_sum 0.303\nusher_turn_seconds_count 2\n"
            ),
            "{text}"
        );
        assert!(text.contains("usher_messages_received_total 1\n"));
    }
}
