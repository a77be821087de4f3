//! A circuit breaker per endpoint: after `failures` consecutive failed
//! calls it opens and refuses calls at once for `cooldown`; then one trial
//! call goes through (half-open), and its result closes or reopens it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::BreakerConfig;

#[derive(Debug)]
struct State {
    failures: u32,
    open_until: Option<Instant>,
    /// A trial call is out while half-open.
    trial: bool,
}

/// One endpoint's breaker.
#[derive(Debug)]
pub(super) struct Breaker {
    config: BreakerConfig,
    state: Mutex<State>,
}

impl Breaker {
    pub(super) fn new(config: BreakerConfig) -> Self {
        Self { config, state: Mutex::new(State { failures: 0, open_until: None, trial: false }) }
    }

    /// Ok to call now, or how long until a trial call may go.
    pub(super) fn admit(&self) -> Result<(), Duration> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Result<(), Duration> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match s.open_until {
            None => Ok(()),
            Some(until) if now < until => Err(until - now),
            Some(_) if s.trial => Err(Duration::from_millis(self.config.cooldown_ms.min(1000))),
            Some(_) => {
                s.trial = true;
                Ok(())
            }
        }
    }

    /// Records a call's result.
    pub(super) fn record(&self, healthy: bool) {
        self.record_at(healthy, Instant::now());
    }

    fn record_at(&self, healthy: bool, now: Instant) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.trial = false;
        if healthy {
            s.failures = 0;
            s.open_until = None;
            return;
        }
        s.failures += 1;
        if s.failures >= self.config.failures.max(1) || s.open_until.is_some() {
            if s.open_until.is_none() {
                tracing::warn!(failures = s.failures, "backend failing: circuit opened");
            }
            s.open_until = Some(now + Duration::from_millis(self.config.cooldown_ms));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_half_opens_after_the_cooldown() {
        let b = Breaker::new(BreakerConfig { failures: 3, cooldown_ms: 1000 });
        let t0 = Instant::now();
        for _ in 0..2 {
            assert!(b.admit_at(t0).is_ok());
            b.record_at(false, t0);
        }
        b.record_at(true, t0);
        for _ in 0..3 {
            assert!(b.admit_at(t0).is_ok(), "a success reset the count");
            b.record_at(false, t0);
        }
        assert!(b.admit_at(t0 + Duration::from_millis(500)).is_err(), "open");
        let later = t0 + Duration::from_millis(1001);
        assert!(b.admit_at(later).is_ok(), "one trial call");
        assert!(b.admit_at(later).is_err(), "only one");
        b.record_at(false, later);
        assert!(b.admit_at(later + Duration::from_millis(10)).is_err(), "the trial failed: open again");
        let again = later + Duration::from_millis(1001);
        assert!(b.admit_at(again).is_ok());
        b.record_at(true, again);
        assert!(b.admit_at(again).is_ok() && b.admit_at(again).is_ok(), "closed");
    }
}
