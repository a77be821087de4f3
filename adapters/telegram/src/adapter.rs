//! The [`Telegram`] adapter: setup, the polling loop and update handling
//! (shared with the webhook route).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use teloxide::payloads::{AnswerCallbackQuerySetters, GetUpdatesSetters, SetWebhookSetters};
use teloxide::prelude::Requester;
use teloxide::requests::Request as _;
use teloxide::types::{AllowedUpdate, CallbackQueryId, ChatAction, Update};
use teloxide::{Bot, RequestError};
use usher_channel::{Adapter, Context, DeliveryQueue, InboundSender, Limits, Shutdown};

use crate::convert::{self, Event};
use crate::transport::TelegramTransport;
use crate::{Config, Error, Mode, CHANNEL};

/// Told to a fan who sent a sticker, voice note or photo without caption.
pub const UNREADABLE: &str = "Sorry, I can only read text messages. Please type your question.";
/// Shown when a fan presses a button that is no longer ours.
pub const STALE_BUTTON: &str = "This button is no longer active.";

/// Seconds a `getUpdates` call waits (under teloxide's 17 s client timeout).
const POLL_SECONDS: u32 = 10;
/// How long queued replies may take to go out on shutdown.
const DRAIN: Duration = Duration::from_secs(5);
const UPDATES: [AllowedUpdate; 3] =
    [AllowedUpdate::Message, AllowedUpdate::EditedMessage, AllowedUpdate::CallbackQuery];

/// The Telegram channel. Create with [`Telegram::from_env`] or
/// [`Telegram::new`]; in webhook mode merge the returned router into the
/// server before starting the adapter on the engine.
pub struct Telegram {
    shared: Arc<Shared>,
}

/// State shared by the adapter task and the webhook route.
pub(crate) struct Shared {
    config: Config,
    bot: Bot,
    files_url: Option<String>,
    /// The expected `X-Telegram-Bot-Api-Secret-Token`.
    pub secret: String,
    /// Set when the adapter starts.
    pub running: OnceLock<Running>,
}

pub(crate) struct Running {
    output: InboundSender,
    queue: DeliveryQueue<TelegramTransport>,
}

impl Telegram {
    /// Reads the token from `TELEGRAM_BOT_TOKEN` and the webhook secret from
    /// `TELEGRAM_WEBHOOK_SECRET` (random if unset).
    pub fn from_env(config: Config) -> Result<(Self, Option<axum::Router>), Error> {
        let token = Self::token_from_env()?;
        let secret = std::env::var("TELEGRAM_WEBHOOK_SECRET").ok().filter(|s| !s.is_empty());
        Self::new(config, &token, secret)
    }

    /// The bot token from `TELEGRAM_BOT_TOKEN`.
    pub fn token_from_env() -> Result<String, Error> {
        let token = std::env::var("TELEGRAM_BOT_TOKEN").ok().filter(|t| !t.trim().is_empty());
        token.map(|t| t.trim().to_string()).ok_or(Error::MissingToken)
    }

    /// The adapter, and in webhook mode the route to merge into the server.
    pub fn new(config: Config, token: &str, secret: Option<String>) -> Result<(Self, Option<axum::Router>), Error> {
        let mut bot = Bot::new(token);
        if let Some(api) = &config.api_url {
            bot = bot.set_api_url(parse_url("api_url", api)?);
        }
        if config.mode == Mode::Webhook {
            let url = config.webhook_url.as_deref().ok_or(Error::MissingWebhookUrl)?;
            parse_url("webhook_url", url)?;
        }
        let files_url = config.files_url.clone();
        if let Some(url) = &files_url {
            parse_url("files_url", url)?;
        }
        let secret = secret.unwrap_or_else(random_secret);
        let shared = Arc::new(Shared { config, bot, files_url, secret, running: OnceLock::new() });
        let router = (shared.config.mode == Mode::Webhook).then(|| crate::webhook::router(Arc::clone(&shared)));
        Ok((Self { shared }, router))
    }
}

impl Shared {
    /// The webhook route path.
    pub fn config_path(&self) -> String {
        self.config.webhook_path.clone()
    }
}

fn parse_url(key: &'static str, url: &str) -> Result<reqwest::Url, Error> {
    reqwest::Url::parse(url).map_err(|e| Error::InvalidUrl { key, url: url.into(), reason: e.to_string() })
}

/// 32 hex characters from the OS-seeded hasher (no extra dependency).
fn random_secret() -> String {
    use std::hash::{BuildHasher, Hasher};
    (0..2)
        .map(|i| {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(i);
            h.write_u128(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
            );
            format!("{:016x}", h.finish())
        })
        .collect()
}

#[async_trait]
impl Adapter for Telegram {
    fn name(&self) -> &str {
        CHANNEL
    }

    async fn run(self: Box<Self>, ctx: Context) -> Result<(), usher_channel::Error> {
        let Context { output, mut replies, mut shutdown, receipts } = ctx;
        let shared = self.shared;
        let transport = TelegramTransport { bot: shared.bot.clone(), files_url: shared.files_url.clone() };
        let queue = DeliveryQueue::new(transport, Limits::TELEGRAM, receipts);
        let _ = shared.running.set(Running { output, queue: queue.clone() });
        match shared.bot.get_me().await {
            Ok(me) => tracing::info!(bot = %me.username(), mode = ?shared.config.mode, "Telegram channel connected"),
            Err(e) => tracing::warn!(error = %e, "Telegram getMe failed; will keep trying"),
        }
        let poller = match shared.config.mode {
            Mode::Polling => Some(tokio::spawn(poll(Arc::clone(&shared), shutdown.clone()))),
            Mode::Webhook => {
                register_webhook(&shared).await?;
                None
            }
        };
        loop {
            tokio::select! {
                reply = replies.recv() => match reply {
                    Some(reply) => queue.push(&reply),
                    None => break,
                },
                _ = shutdown.recv() => break,
            }
        }
        if let Some(poller) = poller {
            let _ = poller.await;
        }
        queue.close(&mut replies, DRAIN, CHANNEL).await;
        Ok(())
    }
}

async fn register_webhook(shared: &Shared) -> Result<(), Error> {
    let url = shared.config.webhook_url.as_deref().ok_or(Error::MissingWebhookUrl)?;
    let url = parse_url("webhook_url", url)?;
    let mut last = String::new();
    for attempt in 0..3u32 {
        let request = shared.bot.set_webhook(url.clone()).secret_token(&shared.secret).allowed_updates(UPDATES);
        match request.await {
            Ok(_) => {
                tracing::info!(%url, "Telegram webhook registered");
                return Ok(());
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
    }
    Err(Error::Setup { call: "setWebhook", reason: last })
}

/// Long polling: an update is confirmed (the offset moves past it) only
/// after the engine stored it or it needed no storing.
async fn poll(shared: Arc<Shared>, mut shutdown: Shutdown) {
    if let Err(e) = shared.bot.delete_webhook().await {
        tracing::warn!(error = %e, "Telegram deleteWebhook failed; getUpdates may be refused");
    }
    let mut offset = 0i32;
    // The offset Telegram last heard: updates below it are confirmed.
    let mut told;
    let mut backoff = Duration::from_secs(1);
    loop {
        let request = shared.bot.get_updates().offset(offset).timeout(POLL_SECONDS).allowed_updates(UPDATES);
        told = offset;
        let result = tokio::select! {
            r = request.send() => r,
            _ = shutdown.recv() => return,
        };
        let wait = match result {
            Ok(updates) => {
                backoff = Duration::from_secs(1);
                let mut taken = true;
                for update in updates {
                    let id = update.id.0;
                    taken = handle(&shared, update).await;
                    if !taken {
                        break;
                    }
                    offset = i32::try_from(id).unwrap_or(i32::MAX).saturating_add(1);
                }
                if taken {
                    if shutdown.is_shutdown() {
                        confirm(&shared, offset, told).await;
                        return;
                    }
                    continue;
                }
                // The engine could not store it: offer it again shortly.
                Duration::from_secs(1)
            }
            Err(RequestError::RetryAfter(after)) => after.duration(),
            Err(e) => {
                tracing::warn!(error = %e, ?backoff, "Telegram getUpdates failed; retrying");
                let wait = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.recv() => return,
        }
    }
}

/// Confirms stored updates before stopping, so the next start (or another
/// replica) does not receive them again.
async fn confirm(shared: &Shared, offset: i32, told: i32) {
    if offset > told {
        let request = shared.bot.get_updates().offset(offset).timeout(0).limit(1).allowed_updates(UPDATES);
        if let Err(e) = request.await {
            tracing::warn!(error = %e, "could not confirm the last Telegram updates; they may be delivered again");
        }
    }
}

/// Handles one update; false if the engine could not take it now (the
/// update must be offered again).
pub(crate) async fn handle(shared: &Shared, update: Update) -> bool {
    let Some(running) = shared.running.get() else {
        return false;
    };
    match convert::event(&update) {
        Event::Message { chat, inbound, callback } => {
            let bot = shared.bot.clone();
            tokio::spawn(async move {
                if let Some(id) = callback {
                    let _ = bot.answer_callback_query(CallbackQueryId(id)).await;
                }
                // Best effort: the fan sees "typing…" while the engine works.
                let _ = bot.send_chat_action(chat, ChatAction::Typing).await;
            });
            let conversation = inbound.conversation.clone();
            match running.output.submit(inbound).await {
                Ok(_) => true,
                Err(rejection) if rejection.retryable => {
                    tracing::warn!(%conversation, reason = %rejection, "engine could not take a Telegram message; it will be offered again");
                    false
                }
                Err(rejection) => {
                    running.queue.notice(&conversation, &format!("Sorry, I could not take that message: {rejection}."));
                    true
                }
            }
        }
        Event::Unreadable { conversation } => {
            running.queue.notice(&conversation, UNREADABLE);
            true
        }
        Event::StaleButton { callback } => {
            let _ = shared.bot.answer_callback_query(CallbackQueryId(callback)).text(STALE_BUTTON).await;
            true
        }
        Event::Ignored { reason } => {
            tracing::info!(update = update.id.0, reason, "Telegram update ignored");
            true
        }
    }
}
