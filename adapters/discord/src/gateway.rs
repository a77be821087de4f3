//! The serenity gateway client: forwards the events Usher uses to the
//! adapter and registers `/support` once connected.

use async_trait::async_trait;
use serenity::all::{
    ClientBuilder, Command, Context, CreateCommand, EventHandler, GatewayIntents, GuildChannel, Http, HttpBuilder,
    Interaction, Message, Ready,
};
use usher_channel::Shutdown;

use crate::adapter::{Incoming, IncomingSender};
use crate::Error;

/// The intents Usher needs; `MESSAGE_CONTENT` is privileged.
pub const INTENTS: GatewayIntents = GatewayIntents::GUILDS
    .union(GatewayIntents::GUILD_MESSAGES)
    .union(GatewayIntents::DIRECT_MESSAGES)
    .union(GatewayIntents::MESSAGE_CONTENT);

struct Forward {
    tx: IncomingSender,
    slash_command: bool,
}

#[async_trait]
impl EventHandler for Forward {
    async fn ready(&self, ctx: Context, ready: Ready) {
        tracing::info!(bot = %ready.user.name, guilds = ready.guilds.len(), "Discord channel connected");
        if self.slash_command {
            let command = CreateCommand::new("support").description("Talk to support");
            if let Err(e) = Command::create_global_command(&ctx.http, command).await {
                tracing::warn!(error = %e, "could not register /support");
            }
        }
    }

    async fn message(&self, _ctx: Context, msg: Message) {
        self.tx.send(Incoming::Message(Box::new(msg))).await;
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        self.tx.send(Incoming::Interaction(Box::new(interaction))).await;
    }

    async fn thread_create(&self, _ctx: Context, thread: GuildChannel) {
        self.tx.send(Incoming::Thread(Box::new(thread))).await;
    }
}

/// How to reach Discord.
pub(crate) struct Gateway {
    pub token: String,
    /// Another base URL for REST (a proxy or a fake); disables serenity's limiter.
    pub api: Option<String>,
}

impl Gateway {
    /// A REST client for this gateway's token and base URL.
    pub fn http(&self) -> Http {
        let builder = HttpBuilder::new(&self.token);
        match &self.api {
            Some(api) => builder.proxy(api).ratelimiter_disabled(true).build(),
            None => builder.build(),
        }
    }

    /// Connects and forwards events until shutdown.
    pub async fn run(self, tx: IncomingSender, slash_command: bool, mut shutdown: Shutdown) -> Result<(), Error> {
        let mut client = ClientBuilder::new_with_http(self.http(), INTENTS)
            .event_handler(Forward { tx, slash_command })
            .await
            .map_err(|e| Error::Gateway(e.to_string()))?;
        let shards = client.shard_manager.clone();
        tokio::spawn(async move {
            shutdown.recv().await;
            shards.shutdown_all().await;
        });
        client.start().await.map_err(|e| Error::Gateway(e.to_string()))
    }
}
