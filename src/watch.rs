//! Watching a directory for edits, debounced: editors write in bursts, so a
//! change is reported once the files have been quiet for a moment. Used by
//! hot reload (intents) and live re-indexing (knowledge).

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use usher_channel::Shutdown;

use crate::Error;

/// Quiet time after the last file event before reacting.
const DEBOUNCE: Duration = Duration::from_millis(150);

/// Calls `on_change(first event time)` after each burst of changes under
/// `dir` (recursively when `recursive`), until `shutdown` fires. Changes
/// arriving while `on_change` runs are handled by the next call.
pub fn watch<F, Fut>(dir: &Path, recursive: bool, mut shutdown: Shutdown, mut on_change: F) -> Result<(), Error>
where
    F: FnMut(Instant) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(e) = event {
            if !e.kind.is_access() {
                let _ = tx.send(Instant::now());
            }
        }
    })
    .map_err(|e| Error::Model(format!("cannot watch {}: {e}", dir.display())))?;
    let mode = if recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
    watcher.watch(dir, mode).map_err(|e| Error::Model(format!("cannot watch {}: {e}", dir.display())))?;
    tokio::spawn(async move {
        let _watcher = watcher; // dropped (unwatched) when the task ends
        loop {
            let first = tokio::select! {
                event = rx.recv() => match event { Some(at) => at, None => return },
                _ = shutdown.recv() => return,
            };
            while let Ok(Some(_)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {}
            on_change(first).await;
        }
    });
    Ok(())
}
