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

/// `mi_option_purge_delay` in mimalloc v3's `mimalloc.h` (the sys crate
/// names no constant for it).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// Gives freed memory back to the system at once rather than after
/// mimalloc's default delay of a second: the delay is only counted down by
/// later allocations on the same thread, so what the blocking threads
/// freed after loading the models stayed resident while the server idled
/// (+80 MB). `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn purge_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option is thread-safe in mimalloc and takes plain integers.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    purge_freed_memory_at_once();
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
