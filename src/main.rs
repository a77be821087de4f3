//! The `usher` binary: parses the command line and runs one command.
//!
//! # Layout
//! - `cli/serve.rs`: `usher serve`, the HTTP server with all channels.
//! - `cli/chat.rs`: `usher chat`, a terminal conversation with the engine.
//! - `cli/validate.rs`: `usher validate`, checks intent files.
//! - `cli/train.rs`: `usher train`, trains the intent classifier.
//! - `cli/progress.rs`: the progress bar shared by training commands.

mod cli;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = cli::Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,qdrant_edge=error".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match args.log_format {
        cli::LogFormat::Text => logs.init(),
        cli::LogFormat::Json => logs.json().with_current_span(true).init(),
    }
    match cli::run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
