//! The [`Discord`] adapter: handles gateway events (from serenity's client,
//! or pushed by a caller through [`IncomingSender`]), opens support threads,
//! answers `/support` and sends replies through the delivery queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serenity::all::{
    AutoArchiveDuration, Channel, ChannelId, ChannelType, CommandInteraction, CreateInteractionResponse,
    CreateInteractionResponseMessage, CreateThread, GuildChannel, Http, Interaction, Message,
};
use tokio::sync::mpsc;
use usher_channel::{Adapter, Context, ConversationId, DeliveryQueue, Inbound, InboundSender, Limits};

use crate::convert::{self, Event, Place};
use crate::transport::DiscordTransport;
use crate::{Config, Error, CHANNEL};

/// Told to a fan who sent only an attachment or a sticker.
pub const UNREADABLE: &str = "Sorry, I can only read text messages. Please type your question.";
/// How long queued replies may take to go out on shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// A gateway event the adapter handles.
#[derive(Debug, Clone)]
pub enum Incoming {
    /// `MESSAGE_CREATE`.
    Message(Box<Message>),
    /// `INTERACTION_CREATE`.
    Interaction(Box<Interaction>),
    /// `THREAD_CREATE`.
    Thread(Box<GuildChannel>),
}

/// Feeds gateway events to the adapter.
#[derive(Debug, Clone)]
pub struct IncomingSender {
    tx: mpsc::Sender<Incoming>,
}

impl IncomingSender {
    /// Hands one event to the adapter; false once it has stopped.
    pub async fn send(&self, event: Incoming) -> bool {
        self.tx.send(event).await.is_ok()
    }
}

/// The Discord channel.
pub struct Discord {
    config: Config,
    http: Arc<Http>,
    /// Set when the adapter runs its own gateway connection.
    gateway: Option<crate::gateway::Gateway>,
    tx: IncomingSender,
    incoming: mpsc::Receiver<Incoming>,
}

impl Discord {
    /// The production adapter: REST and gateway with the token from `DISCORD_TOKEN`.
    pub fn from_env(config: Config) -> Result<Self, Error> {
        let token = Self::token_from_env()?;
        let api = config.api_url.clone();
        Ok(Self::connect(config, &token, api.as_deref()))
    }

    /// The bot token from `DISCORD_TOKEN`.
    pub fn token_from_env() -> Result<String, Error> {
        let token = std::env::var("DISCORD_TOKEN").ok().filter(|t| !t.trim().is_empty());
        token.map(|t| t.trim().to_string()).ok_or(Error::MissingToken)
    }

    /// An adapter with its own gateway connection. `api` sends REST calls
    /// (and the gateway URL lookup) to another base URL, e.g. a proxy or a
    /// test fake; serenity's rate limiter is then off and the delivery queue
    /// handles 429s.
    pub fn connect(config: Config, token: &str, api: Option<&str>) -> Self {
        let gateway = crate::gateway::Gateway { token: token.to_string(), api: api.map(str::to_string) };
        let mut adapter = Self::with_http(config, Arc::new(gateway.http()));
        adapter.gateway = Some(gateway);
        adapter
    }

    /// An adapter over `http` without a gateway connection: events come
    /// through [`Discord::events`] (tests, or a gateway run elsewhere).
    pub fn with_http(config: Config, http: Arc<Http>) -> Self {
        let (tx, incoming) = mpsc::channel(256);
        Self { config, http, gateway: None, tx: IncomingSender { tx }, incoming }
    }

    /// Where gateway events go.
    pub fn events(&self) -> IncomingSender {
        self.tx.clone()
    }
}

/// What event handling needs.
struct Handler {
    config: Config,
    http: Arc<Http>,
    output: InboundSender,
    queue: DeliveryQueue<DiscordTransport>,
    /// Channel → whether it is a thread of the support channel.
    threads: Mutex<HashMap<ChannelId, bool>>,
}

#[async_trait]
impl Adapter for Discord {
    fn name(&self) -> &str {
        CHANNEL
    }

    async fn run(self: Box<Self>, ctx: Context) -> Result<(), usher_channel::Error> {
        let Context { output, mut replies, mut shutdown, receipts } = ctx;
        let Discord { config, http, gateway, tx, mut incoming } = *self;
        let transport = DiscordTransport { http: Arc::clone(&http), files_url: config.files_url.clone() };
        let queue = DeliveryQueue::new(transport, Limits::DISCORD, receipts);
        let gateway =
            gateway.map(|gateway| tokio::spawn(gateway.run(tx.clone(), config.slash_command, shutdown.clone())));
        drop(tx);
        let handler = Handler { config, http, output, queue: queue.clone(), threads: Mutex::new(HashMap::new()) };
        loop {
            tokio::select! {
                reply = replies.recv() => match reply {
                    Some(reply) => queue.push(&reply),
                    None => break,
                },
                Some(event) = incoming.recv() => handler.handle(event).await,
                _ = shutdown.recv() => break,
            }
        }
        if let Some(gateway) = gateway {
            match gateway.await {
                Ok(Err(e)) => tracing::error!(error = %e, "Discord gateway stopped"),
                Err(e) => tracing::error!(error = %e, "Discord gateway task failed"),
                Ok(Ok(())) => {}
            }
        }
        queue.close(&mut replies, DRAIN, CHANNEL).await;
        Ok(())
    }
}

impl Handler {
    async fn handle(&self, event: Incoming) {
        let event = match event {
            Incoming::Message(msg) => {
                let place = self.place(&msg).await;
                convert::message(&msg, place)
            }
            Incoming::Interaction(i) => convert::interaction(&i),
            Incoming::Thread(thread) => {
                let ours = self.is_support_thread(&thread);
                self.threads.lock().unwrap_or_else(|p| p.into_inner()).insert(thread.id, ours);
                return;
            }
        };
        match event {
            Event::Message { inbound } => self.submit(inbound).await,
            Event::OpenThread { channel, message, title, sender, text } => {
                let builder = CreateThread::new(title).auto_archive_duration(AutoArchiveDuration::OneDay);
                match channel.create_thread_from_message(self.http.as_ref(), message, builder).await {
                    Ok(thread) => {
                        self.threads.lock().unwrap_or_else(|p| p.into_inner()).insert(thread.id, true);
                        if let Some(conversation) = convert::conversation(thread.id) {
                            let inbound = Inbound {
                                conversation,
                                channel: CHANNEL.into(),
                                sender,
                                text,
                                payload: None,
                                attachments: Vec::new(),
                                platform_id: Some(format!("message:{}", message.get())),
                                request_id: None,
                            };
                            self.submit(inbound).await;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not open a support thread (permission Create Public Threads?)")
                    }
                }
            }
            Event::Press { interaction, inbound } => {
                if let Err(e) =
                    interaction.create_response(self.http.as_ref(), CreateInteractionResponse::Acknowledge).await
                {
                    tracing::warn!(error = %e, "could not acknowledge a button press");
                }
                self.submit(inbound).await;
            }
            Event::StaleButton { interaction } => {
                let _ = interaction.create_response(self.http.as_ref(), CreateInteractionResponse::Acknowledge).await;
            }
            Event::Support { interaction } => self.support(&interaction).await,
            Event::Unreadable { conversation } => self.queue.notice(&conversation, UNREADABLE),
            Event::Ignored { reason } => tracing::debug!(reason, "Discord event ignored"),
        }
    }

    async fn submit(&self, inbound: Inbound) {
        let conversation = inbound.conversation.clone();
        if let Some(channel) = convert::channel(&conversation) {
            let http = Arc::clone(&self.http);
            // Best effort: "Usher is typing…" while the engine works.
            tokio::spawn(async move { channel.broadcast_typing(http.as_ref()).await });
        }
        match self.output.submit(inbound).await {
            Ok(_) => {}
            Err(rejection) if rejection.retryable => {
                tracing::warn!(%conversation, reason = %rejection, "engine could not take a Discord message");
                self.queue
                    .notice(&conversation, "Sorry, I could not take that message just now. Please send it again.");
            }
            Err(rejection) => {
                self.queue.notice(&conversation, &format!("Sorry, I could not take that message: {rejection}."))
            }
        }
    }

    /// `/support`: in a DM, greet there; in a server, open a private thread
    /// in the support channel for the fan.
    async fn support(&self, command: &CommandInteraction) {
        let (reply, conversation) = match (command.guild_id, self.config.support_channel) {
            (None, _) => ("Hi! Tell me what you need here.".to_string(), convert::conversation(command.channel_id)),
            (Some(_), Some(support)) => {
                let name = command.user.global_name.clone().unwrap_or_else(|| command.user.name.clone());
                let builder = CreateThread::new(convert::thread_title(&name)).kind(ChannelType::PrivateThread);
                match ChannelId::new(support).create_thread(self.http.as_ref(), builder).await {
                    Ok(thread) => {
                        self.threads.lock().unwrap_or_else(|p| p.into_inner()).insert(thread.id, true);
                        if let Err(e) = thread.id.add_thread_member(self.http.as_ref(), command.user.id).await {
                            tracing::warn!(error = %e, "could not add the fan to their support thread");
                        }
                        (format!("I opened <#{}> for you.", thread.id), convert::conversation(thread.id))
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not open a private support thread");
                        ("Sorry, I could not open a support thread. Send me a direct message instead.".into(), None)
                    }
                }
            }
            (Some(_), None) => ("Send me a direct message and I will help.".to_string(), None),
        };
        let message = CreateInteractionResponseMessage::new().content(reply).ephemeral(true);
        if let Err(e) = command.create_response(self.http.as_ref(), CreateInteractionResponse::Message(message)).await {
            tracing::warn!(error = %e, "could not answer /support");
        }
        if let Some(conversation) = conversation {
            self.submit(greeting(conversation, command.user.id.get())).await;
        }
    }

    async fn place(&self, msg: &Message) -> Place {
        if msg.guild_id.is_none() {
            return Place::Direct;
        }
        let Some(support) = self.config.support_channel else {
            return Place::Elsewhere;
        };
        if msg.channel_id.get() == support {
            return Place::SupportChannel;
        }
        let known = self.threads.lock().unwrap_or_else(|p| p.into_inner()).get(&msg.channel_id).copied();
        let ours = match known {
            Some(ours) => ours,
            None => {
                let ours = match self.http.get_channel(msg.channel_id).await {
                    Ok(Channel::Guild(channel)) => self.is_support_thread(&channel),
                    Ok(_) => false,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not look up a channel");
                        return Place::Elsewhere;
                    }
                };
                self.threads.lock().unwrap_or_else(|p| p.into_inner()).insert(msg.channel_id, ours);
                ours
            }
        };
        if ours {
            Place::SupportThread
        } else {
            Place::Elsewhere
        }
    }

    fn is_support_thread(&self, channel: &GuildChannel) -> bool {
        let thread = matches!(channel.kind, ChannelType::PublicThread | ChannelType::PrivateThread);
        thread && channel.parent_id.map(ChannelId::get) == self.config.support_channel
    }
}

fn greeting(conversation: ConversationId, user: u64) -> Inbound {
    Inbound {
        conversation,
        channel: CHANNEL.into(),
        sender: user.to_string(),
        text: String::new(),
        payload: Some("/greet".into()),
        attachments: Vec::new(),
        platform_id: None,
        request_id: None,
    }
}
