//! Starts the channels enabled in `config.yaml` on one engine: the web chat
//! widget, Telegram (polling or webhook) and Discord. Webhook routes are
//! merged into the server's router.

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use tokio::task::JoinHandle;
use usher::config::Config;
use usher::engine::Engine;
use usher_channel::Shutdown;
use usher_discord::Discord;
use usher_telegram::Telegram;
use usher_webchat::WebChat;

/// Fails fast (before any training) when an enabled channel has no token.
pub fn check(config: &Config) -> anyhow::Result<()> {
    if config.channels.telegram.enabled {
        Telegram::token_from_env().context("channels.telegram")?;
    }
    if config.channels.discord.enabled {
        Discord::token_from_env().context("channels.discord")?;
    }
    Ok(())
}

/// The router with the channels' routes, and the adapter tasks.
pub fn start(
    config: &Config,
    engine: &Engine,
    access: std::sync::Arc<usher::access::Access>,
    mut app: Router,
    local: SocketAddr,
    shutdown: &Shutdown,
) -> anyhow::Result<(Router, Vec<JoinHandle<()>>)> {
    let channels = &config.channels;
    // Files Usher serves itself are fetched from here before upload.
    let own = format!("http://{}", loopback(local));
    let mut adapters = Vec::new();
    if channels.webchat.enabled {
        let (webchat, routes) = WebChat::new(channels.webchat.clone(), access);
        app = app.merge(routes);
        adapters.push(engine.start_adapter(Box::new(webchat), shutdown.clone()));
    }
    if channels.telegram.enabled {
        let mut telegram = channels.telegram.clone();
        telegram.files_url.get_or_insert_with(|| own.clone());
        let (adapter, routes) = Telegram::from_env(telegram).context("channels.telegram")?;
        if let Some(routes) = routes {
            app = app.merge(routes);
        }
        adapters.push(engine.start_adapter(Box::new(adapter), shutdown.clone()));
    }
    if channels.discord.enabled {
        let mut discord = channels.discord.clone();
        discord.files_url.get_or_insert_with(|| own.clone());
        let adapter = Discord::from_env(discord).context("channels.discord")?;
        adapters.push(engine.start_adapter(Box::new(adapter), shutdown.clone()));
    }
    Ok((app, adapters))
}

/// The address to reach our own server at (0.0.0.0 means any: use loopback).
fn loopback(local: SocketAddr) -> SocketAddr {
    if local.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], local.port()))
    } else {
        local
    }
}
