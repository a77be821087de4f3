//! `usher test sentiment`: the sentiment model's accuracy on SST-2's dev
//! and test splits, a reliability table of its scores on test, and the
//! upset-fan rule on hand-written support messages of each tone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use usher::config::Config;
use usher::nlu::sentiment::{read_sst2, Sentiment};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SST-2 directory (stsa.binary.dev and .test).
    #[arg(long, default_value = "../shared/data/sst2")]
    data: PathBuf,
    /// Support messages labelled with a tone (JSON lines: `{"text", "tone"}`,
    /// tone calm, annoyed, furious or sarcastic).
    #[arg(long, default_value = "eval/sentiment/support-tone.jsonl")]
    tones: PathBuf,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
    /// Only the dev accuracy (for choosing settings: test stays unread).
    #[arg(long)]
    dev_only: bool,
}

#[derive(Deserialize)]
struct Toned {
    text: String,
    tone: String,
}

/// One bin of predicted P(positive).
#[derive(Debug, Serialize)]
struct Bin {
    from: f32,
    to: f32,
    sentences: usize,
    mean_predicted: f64,
    observed_positive: f64,
}

/// How one tone fares under the upset-fan rule.
#[derive(Debug, Default, Serialize)]
struct Tone {
    messages: usize,
    scored: usize,
    below_threshold: usize,
    mean_score: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    temperature: f32,
    dev_accuracy: f64,
    test_accuracy: f64,
    expected_calibration_error: f64,
    reliability: Vec<Bin>,
    threshold: f32,
    tones: BTreeMap<String, Tone>,
}

const BINS: usize = 10;

fn reliability(p: &[f32], labels: &[u32]) -> (Vec<Bin>, f64) {
    let mut bins: Vec<(usize, f64, usize)> = vec![(0, 0.0, 0); BINS];
    for (&p, &y) in p.iter().zip(labels) {
        let b = ((p * BINS as f32) as usize).min(BINS - 1);
        bins[b].0 += 1;
        bins[b].1 += f64::from(p);
        bins[b].2 += y as usize;
    }
    let n = p.len().max(1) as f64;
    let mut ece = 0.0;
    let table = bins
        .iter()
        .enumerate()
        .map(|(i, &(count, sum, positive))| {
            let mean = sum / count.max(1) as f64;
            let observed = positive as f64 / count.max(1) as f64;
            ece += count as f64 / n * (mean - observed).abs();
            Bin {
                from: i as f32 / BINS as f32,
                to: (i + 1) as f32 / BINS as f32,
                sentences: count,
                mean_predicted: mean,
                observed_positive: observed,
            }
        })
        .collect();
    (table, ece)
}

fn read_tones(path: &Path) -> anyhow::Result<Vec<Toned>> {
    let raw = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    raw.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), i + 1)))
        .collect()
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    let dir = config.nlu.sentiment.clone().ok_or_else(|| anyhow::anyhow!("nlu.sentiment is null in the config"))?;
    let model = Sentiment::load(&dir, usher::bootstrap::encoder(config).as_ref())?;
    let dev = read_sst2(&args.data.join("stsa.binary.dev"))?;
    if args.dev_only {
        println!("model: {} (temperature {:.2})", model.kind(), model.temperature());
        println!("SST-2 dev accuracy:  {:.2}% ({} sentences)", model.accuracy(&dev)? * 100.0, dev.len());
        return Ok(ExitCode::SUCCESS);
    }
    let test = read_sst2(&args.data.join("stsa.binary.test"))?;
    let texts: Vec<&str> = test.iter().map(|(t, _)| t.as_str()).collect();
    let p = model.probabilities(&texts)?;
    let labels: Vec<u32> = test.iter().map(|(_, y)| *y).collect();
    let correct = p.iter().zip(&labels).filter(|(p, y)| u32::from(**p > 0.5) == **y).count();
    let (table, ece) = reliability(&p, &labels);
    let threshold = usher::intents::load(&config.intents)
        .ok()
        .and_then(|l| l.domain.policy.negative_sentiment)
        .map_or(-0.6, |r| r.score_below);
    let toned = read_tones(&args.tones)?;
    let refs: Vec<&str> = toned.iter().map(|t| t.text.as_str()).collect();
    let scores = model.score_known(&refs)?;
    let mut tones: BTreeMap<String, Tone> = BTreeMap::new();
    for (t, s) in toned.iter().zip(&scores) {
        let tone = tones.entry(t.tone.clone()).or_default();
        tone.messages += 1;
        if let Some(s) = s {
            tone.scored += 1;
            tone.mean_score += f64::from(*s);
            tone.below_threshold += usize::from(*s < threshold);
        }
    }
    for tone in tones.values_mut() {
        tone.mean_score /= tone.scored.max(1) as f64;
    }
    let report = Report {
        model: model.kind(),
        temperature: model.temperature(),
        dev_accuracy: model.accuracy(&dev)?,
        test_accuracy: correct as f64 / test.len().max(1) as f64,
        expected_calibration_error: ece,
        reliability: table,
        threshold,
        tones,
    };
    println!("model: {} (temperature {:.2})", report.model, report.temperature);
    println!("SST-2 dev accuracy:  {:.2}% ({} sentences)", report.dev_accuracy * 100.0, dev.len());
    println!("SST-2 test accuracy: {:.2}% ({} sentences)", report.test_accuracy * 100.0, test.len());
    println!("reliability on test (P(positive) bins), expected calibration error {:.3}:", ece);
    println!("  bin        sentences  mean predicted  observed positive");
    for b in &report.reliability {
        println!(
            "  {:.1}-{:.1}   {:>9}  {:>14.3}  {:>17.3}",
            b.from, b.to, b.sentences, b.mean_predicted, b.observed_positive
        );
    }
    println!("support messages by tone, against the handoff threshold {threshold:+.2}:");
    println!("  tone        messages  scored  below threshold  mean score");
    for (name, t) in &report.tones {
        println!(
            "  {name:<10}  {:>8}  {:>6}  {:>15}  {:>+10.2}",
            t.messages, t.scored, t.below_threshold, t.mean_score
        );
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reliability_table_bins_predictions_and_weighs_the_gaps() {
        let (table, ece) = reliability(&[0.05, 0.05, 0.95, 0.95, 0.55], &[0, 1, 1, 1, 0]);
        assert_eq!(table.len(), BINS);
        assert_eq!((table[0].sentences, table[0].observed_positive), (2, 0.5));
        assert_eq!((table[9].sentences, table[9].observed_positive), (2, 1.0));
        assert_eq!(table[5].sentences, 1);
        // |0.05 - 0.5| * 2/5 + |0.95 - 1| * 2/5 + |0.55 - 0| * 1/5
        assert!((ece - (0.45 * 0.4 + 0.05 * 0.4 + 0.55 * 0.2)).abs() < 1e-6, "{ece}");
    }
}
