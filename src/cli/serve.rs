//! `usher serve`: the HTTP server with the API and every enabled channel
//! (web chat widget, Telegram, Discord) on one engine.

use std::process::ExitCode;

use anyhow::Context as _;
use usher::config::Config;
use usher::nlu::Provenance;
use usher_channel::Shutdown;

use super::progress::training_bar;

pub async fn run(config: &Config) -> anyhow::Result<ExitCode> {
    super::channels::check(config)?;
    // Before any training: a bad key stops start-up at once.
    let secrets = usher::access::Secrets::from_env()?;
    if let Some(dir) = config.nlu.encoder.clone() {
        if !usher::nlu::encoder::fetch::present(&dir) {
            // First start: fetch the encoder; without it the n-gram classifier serves.
            match tokio::task::spawn_blocking(move || super::models::fetch(&dir)).await? {
                Ok(()) => {}
                Err(e) => tracing::warn!("could not fetch the sentence encoder: {e:#}"),
            }
        }
    }
    let _backend = demo_backend(config).await?;
    let (engine, provenance, tune) =
        match usher::bootstrap::serving_engine(config, training_bar("intent classifier")).await {
            Ok(ready) => ready,
            Err(usher::Error::Intents(report)) => {
                eprint!("{report}");
                return Ok(ExitCode::FAILURE);
            }
            Err(e) => return Err(e.into()),
        };
    match provenance {
        Provenance::Cached => tracing::info!("intent classifier loaded from cache"),
        Provenance::Trained(r) => {
            tracing::info!(accuracy = r.accuracy, "intent classifier trained")
        }
    }
    let mut bar = super::progress::count_bar("knowledge base", "chunks embedded");
    let kb = usher::bootstrap::knowledge(config, &engine, &mut bar).await?;
    let (trigger, shutdown) = Shutdown::new();
    if let Some(kb) = kb {
        usher::knowledge::watch(kb, shutdown.clone())?;
    }
    let sweeper = engine
        .tools()
        .and_then(|t| t.files().cloned())
        .map(|files| usher::creative::files::spawn_sweeper(files, shutdown.clone()));
    let retention = usher::privacy::retention::spawn(engine.store().clone(), config.privacy.clone(), shutdown.clone());
    let desk = usher::handoff::Desk::new(engine.clone(), config.handoff.clone());
    let notifier = desk.spawn_notifier(shutdown.clone());
    let access = usher::access::Access::new(engine.store().clone(), &config.access, &secrets);
    let state = usher::http::AppState::new(engine.clone(), access.clone());
    usher::reload::watch(engine.clone(), config.clone(), state.reload.clone(), shutdown.clone(), tune)?;
    let addr = format!("{}:{}", config.http.host, config.http.port);
    let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let files = usher::creative::tools::files_dir(config);
    let app = usher::http::app(state)
        .merge(usher::console::router(desk, config.intents.clone(), shutdown.clone()))
        .merge(usher::http::files::router(files));
    engine.limit_conversations(config.http.conversation_per_minute, config.http.conversation_burst);
    let (app, adapters) = super::channels::start(config, &engine, access, app, local, &shutdown)?;
    let app = usher::http::harden(app, &config.http);
    tracing::info!("usher listening on http://{local}");
    println!("usher listening on http://{local}");
    let mut on_shutdown = shutdown.clone();
    let options = usher::http::ServeOptions {
        header_timeout: std::time::Duration::from_secs(config.http.header_timeout_secs.max(1)),
        drain: std::time::Duration::from_secs(config.http.request_timeout_secs.max(1)),
    };
    let server = tokio::spawn(usher::http::serve(listener, app, options, async move { on_shutdown.recv().await }));
    wait_for_signal().await;
    tracing::info!("shutting down: closing channels, draining requests");
    trigger.fire();
    for a in adapters {
        let _ = a.await;
    }
    let _ = notifier.await;
    if let Some(retention) = retention {
        let _ = retention.await;
    }
    if let Some(sweeper) = sweeper {
        let _ = sweeper.await;
    }
    server.await?;
    if !engine.drain(options.drain).await {
        tracing::warn!("messages still in progress at shutdown: they are stored and answered on the next start");
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts the demo's example backend as a child process when
/// `actions.demo_backend` is set; it is killed when `usher serve` ends.
async fn demo_backend(config: &Config) -> anyhow::Result<Option<tokio::process::Child>> {
    let Some(demo) = &config.actions.demo_backend else { return Ok(None) };
    if tokio::net::TcpStream::connect(&demo.listen).await.is_ok() {
        tracing::info!(listen = %demo.listen, "a demo backend already listens there: using it");
        return Ok(None);
    }
    let data = config.data_dir.join("encore-backend.sqlite");
    let child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("demo-backend")
        .args(["--listen", &demo.listen])
        .arg("--data")
        .arg(&data)
        .arg("--exit-with-stdin")
        .stdin(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the demo backend")?;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(&demo.listen).await.is_ok() {
            tracing::info!(listen = %demo.listen, data = %data.display(), "demo backend started");
            return Ok(Some(child));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tracing::warn!(listen = %demo.listen, "the demo backend did not come up: actions will answer that they cannot check");
    Ok(Some(child))
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
