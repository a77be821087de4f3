//! Sign-in attempt limiting: failed attempts per (address, name) and per
//! address within a sliding minute. Over the limit, sign-in answers 429
//! with `Retry-After` and does not even check the password.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The sliding window.
const WINDOW: Duration = Duration::from_secs(60);

/// One address may fail this many times the per-name limit (several agents behind one NAT).
const PER_ADDRESS_FACTOR: usize = 4;

/// Failed sign-ins by key.
pub struct LoginLimiter {
    per_name: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// Allows `per_minute` failures per address and name.
    pub fn new(per_minute: u32) -> Self {
        Self { per_name: per_minute.max(1) as usize, failures: Mutex::new(HashMap::new()) }
    }

    /// `Err(wait)` while `address` (or `address` with `name`) is over its limit.
    pub fn check(&self, address: &str, name: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|_, times| {
            while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                times.pop_front();
            }
            !times.is_empty()
        });
        let limits = [(pair(address, name), self.per_name), (address.to_string(), self.per_name * PER_ADDRESS_FACTOR)];
        for (key, limit) in limits {
            if let Some(times) = failures.get(&key).filter(|t| t.len() >= limit) {
                let oldest = times.front().copied().unwrap_or(now);
                return Err(WINDOW.saturating_sub(now.duration_since(oldest)).max(Duration::from_secs(1)));
            }
        }
        Ok(())
    }

    /// Counts a failed attempt.
    pub fn failed(&self, address: &str, name: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in [pair(address, name), address.to_string()] {
            failures.entry(key).or_default().push_back(now);
        }
    }

    /// Forgets the failures of `name` from `address` after a good sign-in.
    pub fn succeeded(&self, address: &str, name: &str) {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).remove(&pair(address, name));
    }
}

fn pair(address: &str, name: &str) -> String {
    format!("{address}\u{0}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_per_name_and_per_address() {
        let limiter = LoginLimiter::new(2);
        assert!(limiter.check("1.2.3.4", "alice").is_ok());
        limiter.failed("1.2.3.4", "alice");
        limiter.failed("1.2.3.4", "alice");
        let wait = limiter.check("1.2.3.4", "alice").unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= WINDOW);
        assert!(limiter.check("5.6.7.8", "alice").is_ok(), "another address is not blocked");
        for name in ["bob", "carol", "dave", "erin", "frank", "grace"] {
            assert!(limiter.check("1.2.3.4", name).is_ok());
            limiter.failed("1.2.3.4", name);
        }
        assert!(limiter.check("1.2.3.4", "heidi").is_err(), "the address as a whole is over its limit");
        limiter.succeeded("5.6.7.8", "alice");
        assert!(limiter.check("5.6.7.8", "alice").is_ok());
    }
}
