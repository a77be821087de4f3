//! Small helpers shared across modules.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Error;

/// Hands memory that is free but still held by the allocator back to the
/// system now. mimalloc (the binary's allocator) keeps freed pages for a
/// purge delay that only later allocations count down; the blocking-pool
/// threads that load the encoder and train the heads go idle afterwards,
/// so what they freed stayed resident (about 160 MB after a warm start).
/// Call it on the thread that did the work, after a load or a retrain.
pub fn release_freed_memory() {
    // SAFETY: `mi_collect` takes no pointers and may be called from any
    // thread at any time, whichever allocator is the global one.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// `bytes` random bytes (the thread's CSPRNG) as lower-case hex: tokens and ids.
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
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

/// Saves every variable of `varmap` to `path` as f16 safetensors (half the
/// size; the models' outputs are unchanged to the eye and ear).
pub fn save_vars_f16(varmap: &candle_nn::VarMap, path: &Path) -> Result<(), Error> {
    let tensors: std::collections::HashMap<String, candle_core::Tensor> = {
        let data = varmap.data().lock().map_err(|_| Error::Model("variable map lock poisoned".into()))?;
        data.iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().to_dtype(candle_core::DType::F16)?)))
            .collect::<Result<_, Error>>()?
    };
    candle_core::safetensors::save(&tensors, path)?;
    Ok(())
}

/// Sets every variable of `varmap` from the safetensors file at `path`
/// (as f32); a missing, corrupted or incomplete file is an error naming it.
pub fn load_vars(varmap: &candle_nn::VarMap, path: &Path) -> Result<(), Error> {
    let bad = |e: candle_core::Error| Error::Model(format!("{}: {e}", path.display()));
    let stored = candle_core::safetensors::load(path, &candle_core::Device::Cpu).map_err(bad)?;
    let data = varmap.data().lock().map_err(|_| Error::Model("variable map lock poisoned".into()))?;
    for (name, var) in data.iter() {
        let tensor = stored.get(name).ok_or_else(|| bad(candle_core::Error::Msg(format!("no tensor {name}"))))?;
        var.set(&tensor.to_dtype(candle_core::DType::F32).map_err(bad)?).map_err(bad)?;
    }
    Ok(())
}

/// The best-scoring path through a lattice of `states` states over `steps`
/// steps (Viterbi): `start(s)` scores state `s` at the first step,
/// `moves(from, to)` calls `to` with every state `from` may move to and
/// the move's score,
/// `emit(t, s)` scores state `s` at step `t`, and `last` picks the final
/// state from the last step's scores. Returns a state per step; ties go to
/// the lowest-numbered predecessor. Unreachable states score
/// `f32::NEG_INFINITY`.
pub fn best_path(
    states: usize,
    steps: usize,
    start: impl Fn(usize) -> f32,
    moves: impl Fn(usize, &mut dyn FnMut(usize, f32)),
    emit: impl Fn(usize, usize) -> f32,
    last: impl Fn(&[f32]) -> usize,
) -> Vec<usize> {
    if steps == 0 {
        return Vec::new();
    }
    let mut best: Vec<f32> = (0..states).map(start).collect();
    let mut back = vec![vec![0; states]; steps];
    for (t, came_from) in back.iter_mut().enumerate().skip(1) {
        let mut next = vec![f32::NEG_INFINITY; states];
        for from in (0..states).filter(|&f| best[f] > f32::NEG_INFINITY) {
            moves(from, &mut |to, score| {
                if best[from] + score > next[to] {
                    next[to] = best[from] + score;
                    came_from[to] = from;
                }
            });
        }
        for (s, score) in next.iter_mut().enumerate() {
            if *score > f32::NEG_INFINITY {
                *score += emit(t, s);
            }
        }
        best = next;
    }
    let mut at = last(&best);
    let mut path = vec![0; steps];
    for t in (0..steps).rev() {
        path[t] = at;
        at = back[t][at];
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_path_keeps_to_the_allowed_moves() {
        // Two states; 1 may not follow 0. Emissions prefer 0, 1, 1: the
        // best allowed path is 1, 1, 1 (0 → 1 is ruled out).
        let emit = [[0.0, -1.0], [-5.0, 0.0], [-5.0, 0.0]];
        let moves = |from: usize, to: &mut dyn FnMut(usize, f32)| {
            to(from, 0.0);
            if from == 1 {
                to(0, 0.0);
            }
        };
        let argmax = |s: &[f32]| if s[1] > s[0] { 1 } else { 0 };
        let path = best_path(2, 3, |s| emit[0][s], moves, |t, s| emit[t][s], argmax);
        assert_eq!(path, [1, 1, 1]);
        assert!(best_path(2, 0, |_| 0.0, moves, |_, _| 0.0, argmax).is_empty());
    }
}
