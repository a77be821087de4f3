//! `usher agents add|list|remove`: the accounts that sign in to the console.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use usher::config::Config;
use usher::handoff::password;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add an agent; asks for the password (twice) on a terminal.
    Add {
        /// Login name: letters, digits, '.', '_' or '-'.
        name: String,
        /// Read the password from the first line of stdin (for scripts).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List agents.
    List,
    /// Remove an agent and end their sessions.
    Remove {
        /// Login name.
        name: String,
    },
}

pub async fn run(config: &Config, command: Command) -> anyhow::Result<ExitCode> {
    let store = usher::bootstrap::store(config).await?;
    match command {
        Command::Add { name, password_stdin } => {
            let valid = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid {
                anyhow::bail!("an agent name is 1 to 64 letters, digits, '.', '_' or '-': {name:?} is not");
            }
            let password = read_password(password_stdin)?;
            let hash = tokio::task::spawn_blocking(move || password::hash(&password)).await??;
            if !store.add_agent(&name, &hash).await? {
                anyhow::bail!("agent {name:?} exists already (remove it first to reset the password)");
            }
            println!("added agent {name}; they can sign in at /console");
        }
        Command::List => {
            let agents = store.agents().await?;
            if agents.is_empty() {
                println!("no agents: add one with `usher agents add NAME`");
            }
            for a in agents {
                println!("{}", a.name);
            }
        }
        Command::Remove { name } => {
            if !store.remove_agent(&name).await? {
                eprintln!("no agent named {name:?}");
                return Ok(ExitCode::FAILURE);
            }
            println!("removed agent {name} and ended their sessions");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let first = rpassword::prompt_password("Password: ").context("reading the password")?;
    let again = rpassword::prompt_password("Password again: ").context("reading the password")?;
    if first != again {
        anyhow::bail!("the passwords differ");
    }
    Ok(first)
}
