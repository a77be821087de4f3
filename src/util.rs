//! Small helpers shared across modules.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Error;

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// Reads a JSON file (a model's metadata); errors name the file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&raw).map_err(|e| Error::Model(format!("{}: {e}", path.display())))
}

/// Writes `value` as JSON to `path`; errors name the file.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    std::fs::write(path, serde_json::to_vec(value)?).map_err(|e| Error::io(path, e))
}

/// The median of sorted values (the mean of the middle two for an even count).
pub fn median(sorted: &[i64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2] as f64),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0),
    }
}
