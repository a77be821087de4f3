//! Sign-in attempt limiting: attempts per (address, name) and per address
//! in one-minute windows, kept in the store, so that replicas on
//! PostgreSQL share the limit and a restart does not reset it. An attempt
//! is counted *before* its password is checked (and refunded when it
//! succeeds), so requests sent in parallel cannot all slip under the limit;
//! over it, sign-in answers 429 with `Retry-After` and does not even check
//! the password.

use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;
use crate::Error;

/// The window.
const WINDOW: Duration = Duration::from_secs(60);

/// One address may fail this many times the per-name limit (several agents behind one NAT).
const PER_ADDRESS_FACTOR: i64 = 4;

/// Sign-in attempts by key, in the store.
pub struct LoginLimiter {
    per_name: i64,
    store: Arc<dyn Store>,
}

impl LoginLimiter {
    /// Allows `per_minute` failures per address and name (four times that per address).
    pub fn new(per_minute: u32, store: Arc<dyn Store>) -> Self {
        Self { per_name: i64::from(per_minute.max(1)), store }
    }

    /// Counts an attempt of `name` from `address`, or `Err(wait)` (counting
    /// nothing) while the pair or the address is at its limit.
    pub async fn attempt(&self, address: &str, name: &str) -> Result<Result<(), Duration>, Error> {
        let keys = [(pair(address, name), self.per_name), (address.to_string(), self.per_name * PER_ADDRESS_FACTOR)];
        let window = WINDOW.as_millis() as i64;
        Ok(match self.store.count_login_attempt(&keys, window).await? {
            None => Ok(()),
            Some(wait_ms) => Err(Duration::from_millis(wait_ms.max(1000) as u64)),
        })
    }

    /// After a good sign-in: refunds its attempt (the failures before it
    /// still count, so a burst with the right password in it cannot reset
    /// the limit for the guesses behind it).
    pub async fn succeeded(&self, address: &str, name: &str) -> Result<(), Error> {
        self.store.login_succeeded(&[pair(address, name), address.to_string()]).await
    }
}

fn pair(address: &str, name: &str) -> String {
    format!("{address}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn limiter(per_minute: u32) -> (tempfile::TempDir, LoginLimiter) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SqliteStore::open(&dir.path().join("usher.db")).await.unwrap();
        (dir, LoginLimiter::new(per_minute, Arc::new(store)))
    }

    #[tokio::test]
    async fn blocks_after_the_limit_per_name_and_per_address() {
        let (_dir, limiter) = limiter(2).await;
        assert!(limiter.attempt("1.2.3.4", "alice").await.unwrap().is_ok());
        assert!(limiter.attempt("1.2.3.4", "alice").await.unwrap().is_ok());
        let wait = limiter.attempt("1.2.3.4", "alice").await.unwrap().unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= WINDOW, "{wait:?}");
        assert!(limiter.attempt("5.6.7.8", "alice").await.unwrap().is_ok(), "another address is not blocked");
        for name in ["bob", "carol", "dave", "erin", "frank", "grace"] {
            assert!(limiter.attempt("1.2.3.4", name).await.unwrap().is_ok());
        }
        assert!(
            limiter.attempt("1.2.3.4", "heidi").await.unwrap().is_err(),
            "the address as a whole is over its limit"
        );
        limiter.succeeded("5.6.7.8", "alice").await.unwrap();
        assert!(limiter.attempt("5.6.7.8", "alice").await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_good_sign_in_is_refunded() {
        let (_dir, limiter) = limiter(1).await;
        for _ in 0..10 {
            assert!(limiter.attempt("1.2.3.4", "alice").await.unwrap().is_ok(), "the right password never runs out");
            limiter.succeeded("1.2.3.4", "alice").await.unwrap();
        }
        assert!(limiter.attempt("1.2.3.4", "alice").await.unwrap().is_ok());
        assert!(limiter.attempt("1.2.3.4", "alice").await.unwrap().is_err(), "a failure is not refunded");
    }
}
