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
