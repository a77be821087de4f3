//! Gateway events → fan messages. Pure translation, no I/O: where a
//! message was posted ([`Place`]) is decided by the adapter, which knows the
//! support channel's threads.

use serenity::all::{ChannelId, ComponentInteraction, ComponentInteractionDataKind, Interaction, Message};
use usher_channel::{ConversationId, Inbound};

use crate::CHANNEL;

/// Where a message was posted, relative to Usher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A direct message to the bot.
    Direct,
    /// The support channel itself: a new fan, open a thread.
    SupportChannel,
    /// A thread of the support channel: an ongoing conversation.
    SupportThread,
    /// Anywhere else: not for us.
    Elsewhere,
}

/// What one event means for the adapter.
#[derive(Debug, Clone)]
pub enum Event {
    /// A fan message for the engine, in `channel` (a DM or support thread).
    Message {
        /// The message.
        inbound: Inbound,
    },
    /// A fan's first message in the support channel: open a thread from it,
    /// then send `text` on the thread's conversation.
    OpenThread {
        /// The support channel.
        channel: ChannelId,
        /// The fan's message.
        message: serenity::all::MessageId,
        /// The thread's name.
        title: String,
        /// The fan's id.
        sender: String,
        /// What they wrote.
        text: String,
    },
    /// A button press with our payload; the interaction must be acknowledged.
    Press {
        /// The interaction to acknowledge.
        interaction: Box<ComponentInteraction>,
        /// The payload message.
        inbound: Inbound,
    },
    /// `/support`.
    Support {
        /// The command interaction to answer.
        interaction: Box<serenity::all::CommandInteraction>,
    },
    /// A press of a component that is not ours: acknowledge, nothing else.
    StaleButton {
        /// The interaction to acknowledge.
        interaction: Box<ComponentInteraction>,
    },
    /// Something we cannot read (only an attachment or sticker): answer politely.
    Unreadable {
        /// The fan's conversation.
        conversation: ConversationId,
    },
    /// Nothing to do.
    Ignored {
        /// Why, for the log.
        reason: &'static str,
    },
}

/// The conversation id of a DM channel or support thread (`discord:<id>`).
pub fn conversation(channel: ChannelId) -> Option<ConversationId> {
    ConversationId::new(format!("{CHANNEL}:{}", channel.get())).ok()
}

/// The channel of one of our conversation ids.
pub fn channel(conversation: &ConversationId) -> Option<ChannelId> {
    let id: u64 = conversation.as_str().strip_prefix(CHANNEL)?.strip_prefix(':')?.parse().ok()?;
    (id != 0).then(|| ChannelId::new(id))
}

/// Translates a `MESSAGE_CREATE`.
pub fn message(msg: &Message, place: Place) -> Event {
    if msg.author.bot || msg.webhook_id.is_some() {
        return Event::Ignored { reason: "message from a bot or webhook" };
    }
    if place == Place::Elsewhere {
        return Event::Ignored { reason: "not a DM, the support channel or one of its threads" };
    }
    let Some(conversation) = conversation(msg.channel_id) else {
        return Event::Ignored { reason: "channel id not usable as a conversation id" };
    };
    let text = msg.content.trim();
    if text.is_empty() {
        // Only an attachment, a sticker or an embed.
        return if place == Place::SupportChannel {
            Event::Ignored { reason: "empty message in the support channel" }
        } else {
            Event::Unreadable { conversation }
        };
    }
    let sender = msg.author.id.get().to_string();
    if place == Place::SupportChannel {
        let name = msg.author.global_name.clone().unwrap_or_else(|| msg.author.name.clone());
        return Event::OpenThread {
            channel: msg.channel_id,
            message: msg.id,
            title: thread_title(&name),
            sender,
            text: msg.content.clone(),
        };
    }
    let inbound = Inbound {
        conversation,
        channel: CHANNEL.into(),
        sender,
        text: msg.content.clone(),
        payload: None,
        attachments: Vec::new(),
        platform_id: Some(format!("message:{}", msg.id.get())),
        request_id: None,
    };
    Event::Message { inbound }
}

/// A thread name within Discord's 100-character limit.
pub fn thread_title(fan: &str) -> String {
    let name: String = fan.chars().filter(|c| !c.is_control()).take(80).collect();
    format!("Support: {}", if name.trim().is_empty() { "fan" } else { name.trim() })
}

/// Translates an `INTERACTION_CREATE`.
pub fn interaction(interaction: &Interaction) -> Event {
    match interaction {
        Interaction::Component(c) => component(c),
        Interaction::Command(c) if c.data.name == "support" => Event::Support { interaction: Box::new(c.clone()) },
        _ => Event::Ignored { reason: "interaction not used by Usher" },
    }
}

fn component(c: &ComponentInteraction) -> Event {
    let is_button = matches!(c.data.kind, ComponentInteractionDataKind::Button);
    let conversation = conversation(c.channel_id);
    match (is_button && is_our_payload(&c.data.custom_id), conversation) {
        (true, Some(conversation)) => {
            let inbound = Inbound {
                conversation,
                channel: CHANNEL.into(),
                sender: c.user.id.get().to_string(),
                text: String::new(),
                payload: Some(c.data.custom_id.clone()),
                attachments: Vec::new(),
                platform_id: Some(format!("interaction:{}", c.id.get())),
                request_id: None,
            };
            Event::Press { interaction: Box::new(c.clone()), inbound }
        }
        _ => Event::StaleButton { interaction: Box::new(c.clone()) },
    }
}

/// Our custom ids are button payloads, within Discord's 100-character limit.
pub fn is_our_payload(data: &str) -> bool {
    usher_channel::is_intent_payload(data, 100)
}
