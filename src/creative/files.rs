//! The generated files Usher serves at `/files/{id}/{name}` (a melody's
//! audio, MIDI and piano roll), with limits so that nobody can fill the
//! disk: a total size quota, a time to live, and a cap per conversation.
//!
//! Each set of files lives in `data_dir/files/{id}/` with an `owner` file
//! naming the conversation it was made for. [`GeneratedFiles`] keeps an
//! index of the sets (rebuilt from the directory on start), refuses a new
//! set for a conversation at its cap, and after each new set deletes the
//! expired ones and then the oldest until the total is under the quota.
//! [`spawn_sweeper`] also deletes expired sets every minute.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use usher_channel::Shutdown;

use crate::util::now_ms;
use crate::Error;

/// The `creative.files` section of `config.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// Most bytes all generated files may take together. Default 256 MiB.
    pub max_total_bytes: u64,
    /// Sets older than this are deleted. Default 24 h.
    pub ttl_hours: u64,
    /// Sets one conversation may have made within the TTL (sets the quota
    /// deleted early still count). Default 10.
    pub per_conversation: usize,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self { max_total_bytes: 256 * 1024 * 1024, ttl_hours: 24, per_conversation: 10 }
    }
}

/// The file naming a set's conversation.
const OWNER: &str = "owner";

#[derive(Debug, Clone)]
struct Set {
    id: String,
    owner: String,
    bytes: u64,
    created_ms: i64,
}

/// Generated file sets on disk, under their limits.
#[derive(Debug)]
pub struct GeneratedFiles {
    dir: PathBuf,
    config: FilesConfig,
    /// Oldest first.
    index: Mutex<Index>,
}

/// The sets on disk and what each conversation made within the TTL.
#[derive(Debug, Default)]
struct Index {
    /// On disk, oldest first.
    sets: Vec<Set>,
    /// `(owner, created_ms)` of every set made within the TTL, on disk or not.
    made: Vec<(String, i64)>,
}

/// Why a new set was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The conversation holds `per_conversation` sets already.
    ConversationCap(usize),
}

impl GeneratedFiles {
    /// The sets under `dir` (created if missing), indexed from disk.
    pub fn open(dir: &Path, config: FilesConfig) -> Arc<Self> {
        let mut sets = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                let Some(id) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
                if !path.is_dir() {
                    continue;
                }
                let owner = std::fs::read_to_string(path.join(OWNER)).unwrap_or_default();
                let created_ms = modified_ms(&path);
                sets.push(Set { id, owner, bytes: dir_bytes(&path), created_ms });
            }
        }
        sets.sort_by_key(|s| s.created_ms);
        let made = sets.iter().map(|s| (s.owner.clone(), s.created_ms)).collect();
        Arc::new(Self { dir: dir.to_path_buf(), config, index: Mutex::new(Index { sets, made }) })
    }

    /// Where the sets live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The set `id` if it is already on disk, else whether `owner` may have a new one.
    pub fn admit(&self, id: &str, owner: &str) -> Result<bool, Refusal> {
        let index = self.lock();
        if index.sets.iter().any(|s| s.id == id) {
            return Ok(true);
        }
        let ttl = self.ttl_ms();
        let now = now_ms();
        let held = index.made.iter().filter(|(o, at)| o == owner && now - at < ttl).count();
        if held >= self.config.per_conversation {
            return Err(Refusal::ConversationCap(held));
        }
        Ok(false)
    }

    /// Records the set just written to `dir()/id` for `owner`, then deletes
    /// expired sets and the oldest beyond the quota (never the new one).
    pub fn record(&self, id: &str, owner: &str) -> Result<(), Error> {
        let path = self.dir.join(id);
        std::fs::write(path.join(OWNER), owner).map_err(|e| Error::io(&path, e))?;
        let set = Set { id: id.to_string(), owner: owner.to_string(), bytes: dir_bytes(&path), created_ms: now_ms() };
        let doomed = {
            let mut index = self.lock();
            index.made.push((owner.to_string(), set.created_ms));
            index.sets.retain(|s| s.id != id);
            index.sets.push(set);
            self.doomed(&mut index, now_ms(), true)
        };
        self.delete(doomed);
        Ok(())
    }

    /// Deletes the expired sets; how many went.
    pub fn sweep(&self) -> usize {
        let doomed = self.doomed(&mut self.lock(), now_ms(), false);
        let n = doomed.len();
        self.delete(doomed);
        n
    }

    /// Bytes all sets take.
    pub fn total_bytes(&self) -> u64 {
        self.lock().sets.iter().map(|s| s.bytes).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.config.ttl_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX)
    }

    /// Takes out of the index the expired sets and then the oldest while
    /// over the quota; with `keep_newest`, never the newest (just made).
    fn doomed(&self, index: &mut Index, now: i64, keep_newest: bool) -> Vec<Set> {
        let ttl_ms = self.ttl_ms();
        index.made.retain(|(_, at)| now - at < ttl_ms);
        let sets = &mut index.sets;
        let newest = if keep_newest { sets.pop() } else { None };
        let (mut doomed, kept): (Vec<Set>, Vec<Set>) = sets.drain(..).partition(|s| now - s.created_ms >= ttl_ms);
        *sets = kept;
        sets.extend(newest);
        let mut total: u64 = sets.iter().map(|s| s.bytes).sum();
        while total > self.config.max_total_bytes && sets.len() > 1 {
            let oldest = sets.remove(0);
            total -= oldest.bytes;
            doomed.push(oldest);
        }
        doomed
    }

    fn delete(&self, doomed: Vec<Set>) {
        for set in doomed {
            let path = self.dir.join(&set.id);
            if let Err(e) = std::fs::remove_dir_all(&path) {
                tracing::warn!(path = %path.display(), error = %e, "could not delete an expired file set");
            }
        }
    }
}

/// Deletes expired sets every minute (on the blocking pool) until shutdown.
pub fn spawn_sweeper(files: Arc<GeneratedFiles>, mut shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let files = Arc::clone(&files);
                    match tokio::task::spawn_blocking(move || files.sweep()).await {
                        Ok(n) if n > 0 => tracing::info!(sets = n, "deleted expired generated files"),
                        _ => {}
                    }
                }
                _ = shutdown.recv() => return,
            }
        }
    })
}

/// The set directories under `dir` made for `conversation` (for a fan's
/// export and erasure), in name order.
pub fn sets_of(dir: &Path, conversation: &str) -> Vec<PathBuf> {
    let mut sets: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| std::fs::read_to_string(p.join(OWNER)).is_ok_and(|o| o.trim() == conversation))
        .collect();
    sets.sort();
    sets
}

fn dir_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

fn modified_ms(path: &Path) -> i64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or_else(now_ms, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_set(files: &GeneratedFiles, id: &str, owner: &str, bytes: usize) {
        let dir = files.dir().join(id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("melody.wav"), vec![0u8; bytes]).unwrap();
        files.record(id, owner).unwrap();
    }

    #[test]
    fn the_quota_deletes_the_oldest_and_the_cap_refuses_per_conversation() {
        let dir = tempfile::tempdir().unwrap();
        let config = FilesConfig { max_total_bytes: 3_000, ttl_hours: 24, per_conversation: 2 };
        let files = GeneratedFiles::open(dir.path(), config.clone());
        for (i, owner) in ["a", "b", "c", "d"].iter().enumerate() {
            assert_eq!(files.admit(&format!("{i:016x}"), owner), Ok(false));
            write_set(&files, &format!("{i:016x}"), owner, 1_000);
        }
        assert!(files.total_bytes() <= 3_000 + 64, "{}", files.total_bytes());
        assert!(!dir.path().join(format!("{:016x}", 0)).exists(), "the oldest set went");
        assert!(dir.path().join(format!("{:016x}", 3)).exists(), "the newest stays");

        write_set(&files, "00000000000000e1", "e", 10);
        write_set(&files, "00000000000000e2", "e", 10);
        assert_eq!(files.admit("00000000000000e3", "e"), Err(Refusal::ConversationCap(2)));
        assert_eq!(files.admit("00000000000000e1", "e"), Ok(true), "an existing set is reused");

        let reopened = GeneratedFiles::open(dir.path(), config);
        assert_eq!(reopened.total_bytes(), files.total_bytes(), "the index is rebuilt from disk");
        assert_eq!(reopened.admit("00000000000000e3", "e"), Err(Refusal::ConversationCap(2)));
    }

    #[test]
    fn expired_sets_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let files = GeneratedFiles::open(dir.path(), FilesConfig { ttl_hours: 0, ..FilesConfig::default() });
        std::fs::create_dir_all(dir.path().join("00000000000000aa")).unwrap();
        files.record("00000000000000aa", "a").unwrap();
        assert_eq!(files.sweep(), 1);
        assert!(!dir.path().join("00000000000000aa").exists());
    }
}
