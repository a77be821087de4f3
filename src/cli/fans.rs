//! `usher fans export|erase`: what Usher holds about one fan, across
//! channels ([`usher::privacy::fans`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use usher::config::Config;
use usher::privacy::fans::{self, Selector};

/// Which fan.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Fan {
    /// One conversation.
    #[arg(long)]
    conversation: Option<String>,
    /// Every conversation in which the fan gave this email.
    #[arg(long)]
    email: Option<String>,
}

/// `usher fans`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything held about a fan as JSON: conversations with their
    /// messages and tracker, notes, the open ticket, generated files.
    Export {
        #[command(flatten)]
        fan: Fan,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Deletes everything held about a fan (conversations, messages,
    /// tickets, notes, web sessions, fan keys, generated files) and records
    /// the erasure in the audit log, without the data.
    Erase {
        #[command(flatten)]
        fan: Fan,
    },
}

pub async fn run(config: &Config, command: Command) -> anyhow::Result<ExitCode> {
    let store = usher::bootstrap::store(config).await?;
    let files_dir = usher::creative::tools::files_dir(config);
    let (Command::Export { fan, .. } | Command::Erase { fan }) = &command;
    let selector = Selector { conversation: fan.conversation.clone(), email: fan.email.clone() };
    let conversations = selector.conversations(store.as_ref()).await?;
    match command {
        Command::Export { out, .. } => {
            let held = fans::export(store.as_ref(), &files_dir, &conversations).await?;
            let text = serde_json::to_string_pretty(&held)?;
            match out {
                Some(path) => std::fs::write(&path, text + "\n")?,
                None => println!("{text}"),
            }
            eprintln!("exported {} conversation(s)", conversations.len());
        }
        Command::Erase { .. } => {
            let detail = fans::erase(store.as_ref(), &files_dir, &conversations, "cli").await?;
            println!("erased {detail}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
