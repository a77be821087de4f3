//! An on-disk cache of sentence embeddings, keyed by the encoder and the
//! text's SHA-256: a retrain after an intent edit only encodes new examples
//! and only trains the head.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::Encoder;
use crate::Error;

type Key = [u8; 32];

/// Embeddings of one encoder, in memory and appended to a file.
pub struct EmbeddingCache {
    path: PathBuf,
    dim: usize,
    map: Mutex<HashMap<Key, Vec<f32>>>,
}

fn key(text: &str) -> Key {
    Sha256::digest(text.as_bytes()).into()
}

impl EmbeddingCache {
    /// The cache of another encoder (a fine-tuned one) in the same directory.
    pub fn for_encoder(&self, encoder: &Encoder) -> Result<Self, Error> {
        Self::open(self.path.parent().unwrap_or(Path::new(".")), encoder)
    }

    /// Opens (or starts) the cache for `encoder` in `dir`. A damaged file is
    /// read up to its last whole record.
    pub fn open(dir: &Path, encoder: &Encoder) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(format!("embeddings-{}.bin", encoder.id()));
        let dim = encoder.dim();
        let mut map = HashMap::new();
        if let Ok(mut f) = std::fs::File::open(&path) {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).map_err(|e| Error::io(&path, e))?;
            let record = 32 + 4 * dim;
            for rec in bytes.chunks_exact(record) {
                let mut k = [0u8; 32];
                k.copy_from_slice(&rec[..32]);
                let v = rec[32..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
                map.insert(k, v);
            }
        }
        Ok(Self { path, dim, map: Mutex::new(map) })
    }

    /// How many embeddings are cached.
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Embeddings of `texts`, encoding (and caching) only the missing ones.
    pub fn embed(&self, encoder: &Encoder, texts: &[&str]) -> Result<Vec<Vec<f32>>, Error> {
        let keys: Vec<Key> = texts.iter().map(|t| key(t)).collect();
        let missing: Vec<usize> = {
            let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            let mut seen = std::collections::HashSet::new();
            (0..texts.len()).filter(|&i| !map.contains_key(&keys[i]) && seen.insert(keys[i])).collect()
        };
        if !missing.is_empty() {
            let fresh = encoder.encode(&missing.iter().map(|&i| texts[i]).collect::<Vec<_>>())?;
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| Error::io(&self.path, e))?;
            let mut buf = Vec::with_capacity(fresh.len() * (32 + 4 * self.dim));
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            for (&i, v) in missing.iter().zip(fresh) {
                buf.extend_from_slice(&keys[i]);
                v.iter().for_each(|x| buf.extend_from_slice(&x.to_le_bytes()));
                map.insert(keys[i], v);
            }
            file.write_all(&buf).map_err(|e| Error::io(&self.path, e))?;
        }
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        Ok(keys.iter().map(|k| map.get(k).cloned().unwrap_or_default()).collect())
    }
}
