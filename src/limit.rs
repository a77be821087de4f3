//! Keyed rate limits (governor's GCRA): per client address at the HTTP
//! edge, per conversation in the engine. A refusal says how long to wait.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// A rate limiter keyed by `K`.
pub struct Limiter<K: Hash + Eq + Clone> {
    inner: RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>,
    clock: DefaultClock,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> Limiter<K> {
    /// `rate` events per `period` for each key, in bursts of up to `burst`
    /// (zero values are treated as one). Keys idle long enough to be back
    /// at full burst are forgotten every minute while the limiter lives.
    pub fn new(rate: u32, period: Duration, burst: u32) -> Arc<Self> {
        let one = NonZeroU32::MIN;
        let rate = NonZeroU32::new(rate).unwrap_or(one);
        let quota = Quota::with_period(period / rate.get())
            .unwrap_or_else(|| Quota::per_second(rate))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(one));
        let limiter = Arc::new(Self { inner: RateLimiter::keyed(quota), clock: DefaultClock::default() });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&limiter);
            runtime.spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    let Some(limiter) = weak.upgrade() else { return };
                    limiter.inner.retain_recent();
                    limiter.inner.shrink_to_fit();
                }
            });
        }
        limiter
    }

    /// `Ok` if `key` may act now (and counts it), else how long to wait.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.inner.check_key(key).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// Whole seconds to put in `Retry-After` (at least 1): the channel crate's,
/// which the web chat's refusals use too.
pub use usher_channel::retry_after_secs;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_beyond_the_burst_and_says_how_long_to_wait() {
        let limiter = Limiter::new(60, Duration::from_secs(60), 3);
        for _ in 0..3 {
            assert!(limiter.check(&"a").is_ok());
        }
        let wait = limiter.check(&"a").expect_err("fourth message in a burst of three");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(limiter.check(&"b").is_ok(), "keys are independent");
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(200)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2100)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
