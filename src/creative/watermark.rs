//! An inaudible watermark in generated audio, and its detector.
//!
//! A keyed pseudo-random ±1 chip sequence (one chip per 1/2,756 s)
//! modulates a 6.5 kHz carrier, above the synthesiser's third harmonics
//! and below the Nyquist frequency of 22.05 kHz audio, so it survives
//! resampling to that rate. Its amplitude follows the music's envelope at
//! [`STRENGTH`] of it (about −50 dB), so silence stays silent.
//!
//! Detection needs no alignment beyond the file's start and no resampling:
//! the template is a function of time, evaluated at the file's own sample
//! times. Each chip's correlation `y_k` with the carrier is summed with the
//! chip's sign, `z = Σ y_k p_k / √Σ y_k²`, which is about N(0, 1) for audio
//! without this key's mark whatever the audio is, and grows with the
//! square root of the duration for marked audio. A file is marked when
//! `z ≥` [`THRESHOLD`] (a Gaussian tail of 3·10⁻⁷).

use crate::Error;

/// Chips per second.
pub const CHIP_RATE: f64 = 44_100.0 / 16.0;
/// The carrier, in Hz.
pub const CARRIER_HZ: f64 = 6_500.0;
/// The mark's amplitude as a share of the music's envelope.
pub const STRENGTH: f32 = 0.004;
/// The detection threshold on `z`.
pub const THRESHOLD: f64 = 5.0;
/// The envelope's window, in seconds.
const ENVELOPE_S: f64 = 0.01;
/// The detector first removes what lies below this (the melody itself,
/// whose third harmonics reach about 3 kHz), in Hz.
const HIGHPASS_HZ: f64 = 4_500.0;

/// What the detector found.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Detection {
    /// The statistic (about N(0, 1) without the mark).
    pub z: f64,
    /// `z ≥ THRESHOLD`.
    pub marked: bool,
}

/// The chip signs for `key`, as many as `n` (splitmix64 seeded by the
/// key's SHA-256).
fn chips(key: &str, n: usize) -> Vec<f32> {
    let digest = crate::util::sha256_hex(format!("usher-watermark:{key}").as_bytes());
    let mut state = u64::from_str_radix(&digest[..16], 16).expect("hex");
    (0..n).map(|_| if splitmix64(&mut state) & 1 == 1 { 1.0 } else { -1.0 }).collect()
}

/// One step of splitmix64.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn carrier(t: f64) -> f32 {
    (std::f64::consts::TAU * CARRIER_HZ * t).sin() as f32
}

/// Adds the mark for `key` to `samples` (mono, `rate` Hz, in [-1, 1]).
pub fn embed(samples: &mut [f32], rate: u32, key: &str) {
    let envelope = envelope(samples, rate);
    let signs = chips(key, chip_count(samples.len(), rate));
    for (i, s) in samples.iter_mut().enumerate() {
        let t = i as f64 / f64::from(rate);
        *s += STRENGTH * envelope[i] * signs[(t * CHIP_RATE) as usize] * carrier(t);
    }
}

/// Looks for `key`'s mark in `samples` (mono, any rate above twice the
/// carrier).
pub fn detect(samples: &[f32], rate: u32, key: &str) -> Result<Detection, Error> {
    if f64::from(rate) < 2.2 * CARRIER_HZ {
        return Err(Error::Invalid(format!(
            "{rate} Hz audio cannot hold the watermark (it needs over {} Hz)",
            2.2 * CARRIER_HZ
        )));
    }
    let n = chip_count(samples.len(), rate);
    let signs = chips(key, n);
    let mut y = vec![0f64; n];
    for (i, &s) in highpass(samples, rate, HIGHPASS_HZ).iter().enumerate() {
        let t = i as f64 / f64::from(rate);
        y[(t * CHIP_RATE) as usize] += f64::from(s) * f64::from(carrier(t));
    }
    let energy: f64 = y.iter().map(|v| v * v).sum();
    let sum: f64 = y.iter().zip(&signs).map(|(v, &p)| v * f64::from(p)).sum();
    let z = if energy > 0.0 { sum / energy.sqrt() } else { 0.0 };
    Ok(Detection { z, marked: z >= THRESHOLD })
}

/// A windowed-sinc (Blackman) high-pass filter, about 1.9 kHz of
/// transition band at any rate.
fn highpass(samples: &[f32], rate: u32, cutoff_hz: f64) -> Vec<f32> {
    let taps = ((f64::from(rate) / 350.0) as usize) | 1;
    let mid = (taps / 2) as isize;
    let fc = cutoff_hz / f64::from(rate);
    let kernel: Vec<f64> = (0..taps as isize)
        .map(|i| {
            let x = (i - mid) as f64;
            let low =
                if i == mid { 2.0 * fc } else { (std::f64::consts::TAU * fc * x).sin() / (std::f64::consts::PI * x) };
            let w = std::f64::consts::TAU * i as f64 / (taps - 1) as f64;
            let blackman = 0.42 - 0.5 * w.cos() + 0.08 * (2.0 * w).cos();
            -low * blackman + if i == mid { 1.0 } else { 0.0 }
        })
        .collect();
    (0..samples.len() as isize)
        .map(|n| {
            let mut acc = 0.0;
            for (k, h) in kernel.iter().enumerate() {
                let j = n + mid - k as isize;
                if j >= 0 && (j as usize) < samples.len() {
                    acc += h * f64::from(samples[j as usize]);
                }
            }
            acc as f32
        })
        .collect()
}

fn chip_count(samples: usize, rate: u32) -> usize {
    (samples as f64 / f64::from(rate) * CHIP_RATE) as usize + 1
}

/// The moving average of |x| over [`ENVELOPE_S`].
fn envelope(samples: &[f32], rate: u32) -> Vec<f32> {
    let half = ((f64::from(rate) * ENVELOPE_S) as usize / 2).max(1);
    let mut prefix = Vec::with_capacity(samples.len() + 1);
    prefix.push(0f64);
    for s in samples {
        prefix.push(prefix.last().expect("one") + f64::from(s.abs()));
    }
    (0..samples.len())
        .map(|i| {
            let (a, b) = (i.saturating_sub(half), (i + half + 1).min(samples.len()));
            ((prefix[b] - prefix[a]) / (b - a) as f64) as f32
        })
        .collect()
}

/// `samples` at `from` Hz resampled to `to` Hz by windowed-sinc
/// interpolation (Lanczos, 16 lobes), low-passed below the lower Nyquist
/// frequency: what an audio editor's resampler does.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Vec<f32> {
    const LOBES: f64 = 16.0;
    let ratio = f64::from(to) / f64::from(from);
    let cutoff = ratio.min(1.0) * 0.95;
    let n = (samples.len() as f64 * ratio).round() as usize;
    let sinc =
        |x: f64| if x.abs() < 1e-9 { 1.0 } else { (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x) };
    let reach = LOBES / cutoff;
    (0..n)
        .map(|j| {
            let centre = j as f64 / ratio;
            let lo = (centre - reach).ceil().max(0.0) as usize;
            let hi = ((centre + reach).floor() as usize).min(samples.len().saturating_sub(1));
            let mut acc = 0.0;
            for (i, &s) in samples.iter().enumerate().take(hi + 1).skip(lo) {
                let x = i as f64 - centre;
                acc += f64::from(s) * cutoff * sinc(cutoff * x) * sinc(x / reach);
            }
            acc as f32
        })
        .collect()
}

/// `samples` with white Gaussian noise at `snr_db` below their power
/// (Box-Muller over splitmix64 from `seed`).
pub fn add_noise(samples: &mut [f32], snr_db: f64, seed: u64) {
    let power = samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64;
    let sigma = (power / 10f64.powf(snr_db / 10.0)).sqrt();
    let mut state = seed;
    let mut uniform = || (splitmix64(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
    for s in samples.iter_mut() {
        let (u1, u2) = (uniform().max(1e-300), uniform());
        let g = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        *s += (sigma * g) as f32;
    }
}

/// Root-mean-square level in dB full scale.
pub fn rms_db(samples: &[f32]) -> f64 {
    let power = samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64;
    10.0 * power.max(1e-20).log10()
}

/// Detection after degradation, on marked and unmarked copies of the
/// same audio (`usher test watermark`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Evaluation {
    /// Files of each kind.
    pub files: usize,
    /// Marked files found after the degradations.
    pub detected: usize,
    /// Unmarked files taken for marked.
    pub false_positives: usize,
    /// The smallest `z` of a marked file.
    pub min_z_marked: f64,
    /// The mean `z` of the marked files.
    pub mean_z_marked: f64,
    /// The largest `z` of an unmarked file.
    pub max_z_unmarked: f64,
    /// How much louder the mark makes a file (RMS, dB; mean).
    pub loudness_change_db: f64,
    /// The mark's level below the music's (RMS, dB; mean).
    pub mark_to_music_db: f64,
}

/// Marks each of `signals` (at `rate`) with `key`, stores both copies as
/// 16-bit samples, resamples them to 22.05 kHz and adds white noise at
/// 30 dB SNR, then looks for the mark in each.
pub fn evaluate(signals: impl Iterator<Item = Vec<f32>>, rate: u32, key: &str) -> Result<Evaluation, Error> {
    let to_16_bit = |x: &mut [f32]| x.iter_mut().for_each(|s| *s = (s.clamp(-1.0, 1.0) * 32767.0).round() / 32767.0);
    let mut e = Evaluation { min_z_marked: f64::INFINITY, max_z_unmarked: f64::NEG_INFINITY, ..Default::default() };
    let (mut z_sum, mut loud_sum, mut mark_sum) = (0.0, 0.0, 0.0);
    for (i, clean) in signals.enumerate() {
        let mut marked = clean.clone();
        embed(&mut marked, rate, key);
        let mark: Vec<f32> = marked.iter().zip(&clean).map(|(m, c)| m - c).collect();
        loud_sum += rms_db(&marked) - rms_db(&clean);
        mark_sum += rms_db(&mark) - rms_db(&clean);
        let mut found = Vec::with_capacity(2);
        for mut copy in [marked, clean] {
            to_16_bit(&mut copy);
            let mut degraded = resample(&copy, rate, 22_050);
            add_noise(&mut degraded, 30.0, i as u64);
            found.push(detect(&degraded, 22_050, key)?);
        }
        let (m, u) = (found[0], found[1]);
        e.files += 1;
        e.detected += usize::from(m.marked);
        e.false_positives += usize::from(u.marked);
        e.min_z_marked = e.min_z_marked.min(m.z);
        e.max_z_unmarked = e.max_z_unmarked.max(u.z);
        z_sum += m.z;
    }
    let n = e.files.max(1) as f64;
    (e.mean_z_marked, e.loudness_change_db, e.mark_to_music_db) = (z_sum / n, loud_sum / n, mark_sum / n);
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two seconds of a tone with gaps, at 44.1 kHz.
    fn music() -> Vec<f32> {
        (0..88_200)
            .map(|i| {
                let t = i as f32 / 44_100.0;
                let on = (t * 4.0) as u32 % 4 != 3;
                if on {
                    0.3 * (std::f32::consts::TAU * 440.0 * t).sin()
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn the_mark_survives_resampling_and_noise_and_only_its_key_finds_it() {
        let clean = music();
        let mut marked = clean.clone();
        embed(&mut marked, 44_100, "k1");
        let mut degraded = resample(&marked, 44_100, 22_050);
        add_noise(&mut degraded, 30.0, 1);
        assert_eq!(degraded.len(), 44_100);
        let found = detect(&degraded, 22_050, "k1").unwrap();
        assert!(found.marked, "{found:?}");
        assert!(!detect(&degraded, 22_050, "another key").unwrap().marked);
        let mut plain = resample(&clean, 44_100, 22_050);
        add_noise(&mut plain, 30.0, 1);
        assert!(detect(&plain, 22_050, "k1").unwrap().z.abs() < THRESHOLD);
        // Silence stays silent, and the level hardly moves.
        assert_eq!(marked[(0.8 * 44_100.0) as usize], 0.0);
        assert!((rms_db(&marked) - rms_db(&clean)).abs() < 0.01);
        assert!(detect(&degraded, 8_000, "k1").is_err());
    }
}
