//! The `handoff:` section of `config.yaml`.

use serde::{Deserialize, Serialize};

use super::BusinessHours;

/// Queue, console and agent-session settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HandoffConfig {
    /// When agents answer; absent means always.
    pub business_hours: Option<BusinessHours>,
    /// Told to fans who join the queue outside business hours.
    pub out_of_hours_message: String,
    /// The estimated wait per queue position before any ticket was claimed.
    pub default_wait_minutes: u32,
    /// Longest agent reply or note, in characters.
    pub max_reply_chars: usize,
    /// How long a console sign-in lasts.
    pub session_hours: u32,
    /// Failed sign-ins allowed per agent name and address per minute.
    pub login_attempts_per_minute: u32,
    /// `auto` (the default): the console cookie is `Secure` with the
    /// `__Host-` prefix when the client came over HTTPS (a trusted proxy's
    /// `X-Forwarded-Proto`); `always` or `never` to decide yourself.
    pub secure_cookie: SecureCookie,
    /// Password checks run at once (argon2 takes ~19 MiB and ~60 ms each);
    /// more sign-ins wait their turn.
    pub concurrent_password_checks: usize,
}

impl Default for HandoffConfig {
    fn default() -> Self {
        Self {
            business_hours: None,
            out_of_hours_message: "Our support team is offline right now. You're in the queue, and a person \
                                   will answer here as soon as we're back."
                .into(),
            default_wait_minutes: 3,
            max_reply_chars: 4000,
            session_hours: 8,
            login_attempts_per_minute: 5,
            concurrent_password_checks: 2,
            secure_cookie: SecureCookie::Auto,
        }
    }
}

/// When the console's session cookie is `Secure`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecureCookie {
    /// When the request came over HTTPS.
    #[default]
    Auto,
    /// Always (Usher is only reached over HTTPS).
    Always,
    /// Never (plain HTTP on a trusted network).
    Never,
}

impl SecureCookie {
    /// Whether the cookie is secure for a request that did (or did not) come over HTTPS.
    pub fn applies(self, https: bool) -> bool {
        match self {
            Self::Auto => https,
            Self::Always => true,
            Self::Never => false,
        }
    }
}

impl HandoffConfig {
    /// Checks values a typo could break.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(hours) = &self.business_hours {
            hours.validate().map_err(|e| format!("business_hours: {e}"))?;
        }
        if self.max_reply_chars == 0 || self.session_hours == 0 || self.login_attempts_per_minute == 0 {
            return Err("max_reply_chars, session_hours and login_attempts_per_minute must be positive".into());
        }
        Ok(())
    }
}
