//! `usher agents add|list|remove`: the accounts that sign in to the console.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use usher::cluster::Notice;
use usher::config::Config;
use usher::handoff::{password, AuditEntry, Event, Role};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add an agent; asks for the password (twice) on a terminal.
    Add {
        /// Login name: letters, digits, '.', '_' or '-'.
        name: String,
        /// Read the password from the first line of stdin (for scripts).
        #[arg(long)]
        password_stdin: bool,
        /// The name fans see when this agent joins ("Sam"); without it
        /// fans are told "Someone from the support team has joined".
        #[arg(long)]
        display_name: Option<String>,
        /// What they may do: agent (answers fans), trainer (turns fans'
        /// messages into training examples) or admin (everything, and the
        /// audit log).
        #[arg(long, value_enum, default_value_t = Role::Agent)]
        role: Role,
    },
    /// Change an agent's role; their sessions end (they sign in again).
    Role {
        /// Login name.
        name: String,
        /// The new role.
        #[arg(value_enum)]
        role: Role,
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
        Command::Add { name, password_stdin, display_name, role } => {
            let display_name = display_name.map(|d| d.trim().to_string()).filter(|d| !d.is_empty());
            if display_name.as_ref().is_some_and(|d| d.chars().count() > 64 || d.chars().any(char::is_control)) {
                anyhow::bail!("a display name is at most 64 characters, without control characters");
            }
            if !password::valid_name(&name) {
                anyhow::bail!("{}: {name:?} is not", password::NAME_RULE);
            }
            let password = read_password(password_stdin)?;
            let hash = tokio::task::spawn_blocking(move || password::hash(&password)).await??;
            if !store.add_agent(&name, &hash, role).await? {
                anyhow::bail!("agent {name:?} exists already (remove it first to reset the password)");
            }
            if let Some(display) = &display_name {
                store.set_display_name(&name, display).await?;
            }
            let detail = format!("usher agents add --role {}", role.as_str());
            store.audit(&AuditEntry::now(&name, "agent_added", None, Some(detail))).await?;
            println!("added {} {name}; they can sign in at /console", role.as_str());
        }
        Command::Role { name, role } => {
            if !store.set_role(&name, role).await? {
                eprintln!("no agent named {name:?}");
                return Ok(ExitCode::FAILURE);
            }
            let detail = format!("usher agents role {}; sessions ended", role.as_str());
            store.audit(&AuditEntry::now(&name, "role_changed", None, Some(detail))).await?;
            println!("{name} is now {}; their sessions ended", role.as_str());
        }
        Command::List => {
            let agents = store.agents().await?;
            if agents.is_empty() {
                println!("no agents: add one with `usher agents add NAME`");
            }
            for a in agents {
                println!("{}\t{}", a.name, a.role.as_str());
            }
        }
        Command::Remove { name } => {
            let Some(returned) = store.remove_agent(&name).await? else {
                eprintln!("no agent named {name:?}");
                return Ok(ExitCode::FAILURE);
            };
            let detail =
                format!("usher agents remove; sessions ended; {returned} claimed conversation(s) back in the queue");
            store.audit(&AuditEntry::now(&name, "agent_removed", None, Some(detail))).await?;
            if config.store.kind == usher::config::StoreKind::Postgres {
                // Replicas close the agent's console sockets at once (the
                // rest re-check sessions every few seconds anyway).
                let pool = sqlx::PgPool::connect(&config.database_url()?).await?;
                let ended = Event::SessionEnded { agent: name.clone(), session: None };
                for event in [ended, Event::Queue] {
                    usher::cluster::tell(&pool, Notice::Event { event }).await?;
                }
            }
            println!("removed agent {name}, ended their sessions and put {returned} claimed conversation(s) back in the queue");
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
