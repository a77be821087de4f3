//! What made a generated file, written into the file itself: a MIDI text
//! event, a WAV `LIST`/`INFO` chunk and a PNG `tEXt` chunk name the
//! generator, the model's hash, the seed and the time; a poem ends with a
//! line that says the same. The WAV also carries an inaudible watermark
//! ([`super::watermark`]).

use serde::{Deserialize, Serialize};

use crate::Error;

/// Who made a generated file, from what, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The generator (`usher melody-dcgan`, `usher poem-gru`).
    pub generator: String,
    /// The first 16 hex digits of the SHA-256 of the model's weights.
    pub model: String,
    /// The seed it was run with.
    pub seed: u64,
    /// When, in milliseconds since the epoch.
    pub created_ms: i64,
}

impl Provenance {
    /// Made now by `generator` from `model` with `seed`.
    pub fn now(generator: &str, model: &str, seed: u64) -> Self {
        Self { generator: generator.into(), model: model.into(), seed, created_ms: crate::util::now_ms() }
    }

    /// One line: `generator=usher melody-dcgan; model=…; seed=7; time=2026-12-03T15:04:05Z`.
    pub fn text(&self) -> String {
        format!(
            "generator={}; model={}; seed={}; time={}",
            self.generator,
            self.model,
            self.seed,
            rfc3339(self.created_ms)
        )
    }

    /// Reads what [`Self::text`] wrote; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut fields = std::collections::HashMap::new();
        for part in text.trim().split("; ") {
            let (k, v) = part.split_once('=')?;
            fields.insert(k, v);
        }
        Some(Self {
            generator: fields.get("generator")?.to_string(),
            model: fields.get("model")?.to_string(),
            seed: fields.get("seed")?.parse().ok()?,
            created_ms: parse_rfc3339(fields.get("time")?)?,
        })
    }
}

/// `2026-12-03T15:04:05Z` for milliseconds since the epoch (UTC; days to
/// civil dates by Howard Hinnant's algorithm).
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let num = |t: &str| t.parse::<i64>().ok();
    let d: Vec<i64> = date.split('-').map(num).collect::<Option<_>>()?;
    let t: Vec<i64> = time.split(':').map(num).collect::<Option<_>>()?;
    let ([y, m, day], [h, min, sec]) = (d.as_slice(), t.as_slice()) else { return None };
    let y = if *m <= 2 { y - 1 } else { *y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if *m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60 + sec) * 1000)
}

/// `wav` with a `LIST`/`INFO` chunk appended: `ISFT` the generator,
/// `ICMT` the whole provenance line, `ICRD` the date.
pub fn wav_with_info(mut wav: Vec<u8>, p: &Provenance) -> Result<Vec<u8>, Error> {
    if wav.len() < 12 || &wav[..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return Err(Error::Invalid("provenance: not a WAV file".into()));
    }
    let mut info = b"INFO".to_vec();
    for (id, value) in [(b"ISFT", p.generator.clone()), (b"ICMT", p.text()), (b"ICRD", rfc3339(p.created_ms))] {
        let mut bytes = value.into_bytes();
        bytes.push(0);
        info.extend_from_slice(id);
        info.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        info.extend_from_slice(&bytes);
    }
    if wav.len() % 2 == 1 {
        wav.push(0);
    }
    wav.extend_from_slice(b"LIST");
    wav.extend_from_slice(&(info.len() as u32).to_le_bytes());
    wav.extend_from_slice(&info);
    let riff = (wav.len() - 8) as u32;
    wav[4..8].copy_from_slice(&riff.to_le_bytes());
    Ok(wav)
}

/// The `ICMT` comment of a WAV's `INFO` chunk, if it has one.
pub fn wav_comment(wav: &[u8]) -> Option<String> {
    let mut at = 12;
    while at + 8 <= wav.len() {
        let id = &wav[at..at + 4];
        let len = u32::from_le_bytes(wav[at + 4..at + 8].try_into().ok()?) as usize;
        let body = wav.get(at + 8..(at + 8 + len).min(wav.len()))?;
        if id == b"LIST" && body.starts_with(b"INFO") {
            let mut i = 4;
            while i + 8 <= body.len() {
                let sub = u32::from_le_bytes(body[i + 4..i + 8].try_into().ok()?) as usize;
                let value = body.get(i + 8..(i + 8 + sub).min(body.len()))?;
                if &body[i..i + 4] == b"ICMT" {
                    return Some(String::from_utf8_lossy(value).trim_end_matches('\0').to_string());
                }
                i += 8 + sub + sub % 2;
            }
        }
        at += 8 + len + len % 2;
    }
    None
}

/// `png` with `tEXt` chunks before `IEND`: `Software` the generator,
/// `Comment` the provenance line.
pub fn png_with_text(png: &[u8], p: &Provenance) -> Result<Vec<u8>, Error> {
    const IEND: usize = 12;
    if png.len() < 8 + IEND || !png.starts_with(b"\x89PNG\r\n\x1a\n") || &png[png.len() - 8..png.len() - 4] != b"IEND" {
        return Err(Error::Invalid("provenance: not a complete PNG file".into()));
    }
    let mut out = png[..png.len() - IEND].to_vec();
    for (key, value) in [("Software", p.generator.clone()), ("Comment", p.text())] {
        let mut chunk = b"tEXt".to_vec();
        chunk.extend_from_slice(key.as_bytes());
        chunk.push(0);
        chunk.extend_from_slice(value.as_bytes());
        out.extend_from_slice(&((chunk.len() - 4) as u32).to_be_bytes());
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    out.extend_from_slice(&png[png.len() - IEND..]);
    Ok(out)
}

/// A PNG's `tEXt` chunks as (keyword, text).
pub fn png_texts(png: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut at = 8;
    while at + 12 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().expect("4 bytes")) as usize;
        let Some(data) = png.get(at + 8..at + 8 + len) else { break };
        if &png[at + 4..at + 8] == b"tEXt" {
            if let Some(nul) = data.iter().position(|&b| b == 0) {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                out.push((text(&data[..nul]), text(&data[nul + 1..])));
            }
        }
        at += 12 + len;
    }
    out
}

/// The CRC-32 of PNG chunks (ISO 3309, reflected, polynomial 0xEDB88320).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made() -> Provenance {
        Provenance {
            generator: "usher melody-dcgan".into(),
            model: "0123456789abcdef".into(),
            seed: 42,
            created_ms: 1_796_310_245_000,
        }
    }

    #[test]
    fn the_line_round_trips_with_a_real_date() {
        let p = made();
        assert_eq!(rfc3339(p.created_ms), "2026-12-03T15:04:05Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(Provenance::parse(&p.text()), Some(p));
        assert_eq!(Provenance::parse("made by hand"), None);
    }

    #[test]
    fn crc_matches_the_png_specification() {
        // The IEND chunk's CRC, as every PNG file ends.
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn damaged_files_are_refused() {
        assert!(wav_with_info(b"not a wav".to_vec(), &made()).is_err());
        assert!(png_with_text(b"\x89PNG\r\n\x1a\nshort", &made()).is_err());
        assert_eq!(wav_comment(b"RIFF\0\0\0\0WAVEjunk"), None);
    }
}
