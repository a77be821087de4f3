//! `usher chat`: a terminal conversation with the same engine as `serve`.

use std::io::Write;
use std::process::ExitCode;

use tokio::io::{AsyncBufReadExt, BufReader};
use usher::config::Config;
use usher_channel::{render_plain, ConversationId, Inbound};

use super::progress::training_bar;

pub async fn run(config: &Config, conversation: &str, explain: bool) -> anyhow::Result<ExitCode> {
    let conversation = ConversationId::new(conversation)?;
    let (engine, _) = usher::bootstrap::engine(config, training_bar("intent classifier")).await?;
    // The knowledge base, as `serve` attaches it (indexing what changed).
    let mut bar = super::progress::count_bar("knowledge base", "chunks embedded");
    usher::bootstrap::knowledge(config, &engine, &mut bar).await?;
    println!("Chatting as {conversation}. Type a message; /quit to leave. Button replies: type the payload, e.g. /talk_to_human.");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        print!("you> ");
        std::io::stdout().flush()?;
        let Some(line) = lines.next_line().await? else {
            break;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "/quit" {
            break;
        }
        let mut inbound = Inbound::text(conversation.clone(), "cli", line);
        let is_payload = line.starts_with('/');
        if is_payload {
            inbound.payload = Some(line.to_string());
        }
        match engine.handle(inbound).await {
            Ok(turn) => {
                if explain {
                    for line in turn.explanation.lines() {
                        println!("   why: {line}");
                    }
                } else if !is_payload {
                    let i = &turn.parse.intent;
                    for m in &turn.parse.entities {
                        println!("   [{} = {:?} via {}]", m.entity, m.value, m.extractor);
                    }
                    match turn.parse.sentiment {
                        Some(s) => println!("   ({} {:.2}, sentiment {s:+.2})", i.name, i.confidence),
                        None => println!("   ({} {:.2})", i.name, i.confidence),
                    }
                }
                for reply in turn.replies {
                    println!("bot> {}", render_plain(&reply.parts).replace('\n', "\n     "));
                }
            }
            Err(e) => println!("error: {e}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
