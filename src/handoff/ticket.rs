//! A ticket: one handoff of one conversation, from waiting to closed.

use serde::Serialize;
use usher_channel::ConversationId;

use crate::dialogue::Reason;

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// In the queue.
    Waiting,
    /// An agent owns the conversation.
    Claimed,
    /// The agent handed the conversation back to the bot.
    Returned,
    /// The agent closed it with a resolution tag.
    Closed,
}

impl TicketState {
    /// Its name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Claimed => "claimed",
            Self::Returned => "returned",
            Self::Closed => "closed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Waiting, Self::Claimed, Self::Returned, Self::Closed].into_iter().find(|t| t.as_str() == s)
    }

    /// Waiting or claimed.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Waiting | Self::Claimed)
    }
}

/// A ticket as stored, with the fan's latest message for the queue view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ticket {
    /// Store id.
    pub id: i64,
    /// The conversation handed over.
    pub conversation: ConversationId,
    /// The fan's channel (`webchat`, `telegram`, `discord`, `api`).
    pub channel: String,
    /// What triggered the handoff.
    pub reason: Reason,
    /// Higher is served first.
    pub priority: i64,
    /// Where it stands.
    pub state: TicketState,
    /// The agent who claimed it.
    pub agent: Option<String>,
    /// The resolution tag it was closed with.
    pub resolution: Option<String>,
    /// Opened (ms since the epoch).
    pub created_ms: i64,
    /// Claimed.
    pub claimed_ms: Option<i64>,
    /// Returned or closed.
    pub ended_ms: Option<i64>,
    /// The queue position the fan was last told.
    pub notified_position: Option<i64>,
    /// The fan's latest message.
    pub preview: Option<String>,
}

/// A ticket to open with a turn that hands the conversation over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewTicket {
    /// What triggered it.
    pub reason: Reason,
    /// Its priority (see [`priority`]).
    pub priority: i64,
}

impl NewTicket {
    /// A ticket for `reason`, prioritised by the fan's latest sentiment.
    pub fn new(reason: Reason, sentiment: Option<f32>) -> Self {
        Self { reason, priority: priority(reason, sentiment) }
    }
}

/// Upset fans first: a sentiment trigger, or a clearly negative last
/// message, outranks a keyword, which outranks a plain request.
pub fn priority(reason: Reason, sentiment: Option<f32>) -> i64 {
    let base = match reason {
        Reason::Sentiment => 3,
        Reason::Keyword => 2,
        Reason::Requested | Reason::Fallbacks | Reason::FormFailed => 1,
    };
    let upset = sentiment.is_some_and(|s| s < -0.5);
    base + i64::from(upset && reason != Reason::Sentiment)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upset_fans_come_first() {
        let calm = priority(Reason::Requested, Some(0.4));
        let upset = priority(Reason::Requested, Some(-0.9));
        assert!(upset > calm);
        assert!(priority(Reason::Sentiment, Some(-0.9)) > upset);
        assert!(priority(Reason::Keyword, None) > calm);
    }

    #[test]
    fn states_round_trip() {
        for s in [TicketState::Waiting, TicketState::Claimed, TicketState::Returned, TicketState::Closed] {
            assert_eq!(TicketState::parse(s.as_str()), Some(s));
        }
        assert!(TicketState::Claimed.is_open() && !TicketState::Closed.is_open());
    }
}
