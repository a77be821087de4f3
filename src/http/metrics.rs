//! `GET /metrics`: conversation and handoff figures in the Prometheus text
//! format (version 0.0.4). Conversation and handoff counts come from the
//! store, so every replica reports the same totals; latency histograms,
//! queue depth and message counters are this replica's.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write as _;

use super::{AppError, AppState};
use crate::handoff::Analytics;

pub(super) async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<impl IntoResponse, AppError> {
    if let Some(token) = &state.metrics_token {
        let presented = super::credential(&headers)?.unwrap_or_default();
        if !usher_channel::constant_time_eq(presented.as_bytes(), token.as_bytes()) {
            let message = "/metrics needs `Authorization: Bearer` with the token in USHER_METRICS_TOKEN";
            return Err(AppError::new(axum::http::StatusCode::UNAUTHORIZED, message));
        }
    }
    let analytics = state.engine.store().analytics(0).await?;
    let text = render(&analytics) + &state.engine.metrics().render();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text))
}

/// The exposition text.
pub fn render(a: &Analytics) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    metric("usher_conversations_total", "counter", "Conversations started.", a.conversations as f64);
    metric("usher_handoffs_total", "counter", "Conversations handed to a human agent.", a.handed_off as f64);
    metric("usher_containment_ratio", "gauge", "Share of conversations handled without a human.", a.containment_rate);
    metric("usher_handoff_ratio", "gauge", "Share of conversations handed to a human.", a.handoff_rate);
    metric("usher_handoff_queue_waiting", "gauge", "Conversations waiting for an agent.", a.waiting as f64);
    metric("usher_handoff_queue_claimed", "gauge", "Conversations an agent is handling.", a.claimed as f64);
    if let Some(wait) = a.median_wait_seconds {
        metric("usher_handoff_wait_median_seconds", "gauge", "Median time from handoff to claim.", wait);
    }
    let _ = writeln!(out, "# HELP usher_handoffs_closed_total Closed handoffs by resolution tag.");
    let _ = writeln!(out, "# TYPE usher_handoffs_closed_total counter");
    for (tag, n) in &a.resolutions {
        // Tags are [a-z0-9_-] (checked on close): safe as label values.
        let _ = writeln!(out, "usher_handoffs_closed_total{{resolution=\"{tag}\"}} {n}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let a = Analytics {
            conversations: 10,
            handed_off: 2,
            containment_rate: 0.8,
            handoff_rate: 0.2,
            median_wait_seconds: Some(42.5),
            waiting: 1,
            claimed: 1,
            resolutions: vec![("refunded".into(), 3)],
            top_fallbacks: Vec::new(),
        };
        let text = render(&a);
        assert!(text.contains("# TYPE usher_conversations_total counter\nusher_conversations_total 10\n"));
        assert!(text.contains("usher_containment_ratio 0.8\n"));
        assert!(text.contains("usher_handoff_wait_median_seconds 42.5\n"));
        assert!(text.contains("usher_handoffs_closed_total{resolution=\"refunded\"} 3\n"));
    }
}
