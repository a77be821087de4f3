//! `usher bench encoder`: sentence-encoder throughput and latency.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use usher::config::Config;
use usher::nlu::encoder::Encoder;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A CSV with a `text` column to encode (e.g. ../shared/data/banking77/test.csv).
    #[arg(long)]
    data: PathBuf,
    /// How many sentences to encode per measurement.
    #[arg(long, default_value_t = 1000)]
    sentences: usize,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
    /// Infer in candle (the training path) instead of the packed CPU pass.
    #[arg(long)]
    candle: bool,
    /// Also time single messages through the NLU's pass with the
    /// sentiment model (`nlu.sentiment`) as its branch, and through a pass
    /// of the sentiment model's own.
    #[arg(long)]
    sentiment: bool,
}

pub fn encoder(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    let dir = config.nlu.encoder.clone().ok_or_else(|| anyhow::anyhow!("nlu.encoder is null in the config"))?;
    let enc = Encoder::load_on(&dir, config.nlu.device.device()?, config.nlu.cpu_precision.get())?;
    let enc = if args.candle { enc.on_candle() } else { enc };
    let kernel = match (enc.kernel(), config.nlu.cpu_precision) {
        ("packed", usher::nlu::config::CpuPrecision::Int8Compute) => {
            format!("packed, int8 products on {}", usher_fastbert::int8_kernel())
        }
        (k, p) => format!("{k}, {p:?}"),
    };
    let texts: Vec<String> =
        usher::nlu::eval::data::read_csv(&args.data)?.into_iter().map(|(t, _)| t).take(args.sentences).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    enc.encode(&refs[..refs.len().min(64)])?; // warm-up
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());

    let t = Instant::now();
    enc.encode(&refs)?;
    let batched = refs.len() as f64 / t.elapsed().as_secs_f64();

    let mut latencies = Vec::with_capacity(refs.len().min(300));
    for text in refs.iter().take(300) {
        let t = Instant::now();
        enc.encode(&[text])?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let single = latencies.len() as f64 / (latencies.iter().sum::<f64>() / 1000.0);
    latencies.sort_by(f64::total_cmp);
    let p50 = latencies[latencies.len() / 2];
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    println!("encoder {} ({kernel}) on {threads} threads, {} sentences", enc.id(), refs.len());
    println!("batch 64 (length-sorted): {batched:.0} sentences/s");
    println!("batch 1:                  {single:.0} sentences/s, p50 {p50:.2} ms, p99 {p99:.2} ms");
    let mut v = serde_json::json!({
        "kernel": kernel, "threads": threads, "sentences": refs.len(), "batch64_per_s": batched,
        "batch1_per_s": single, "p50_ms": p50, "p99_ms": p99,
    });
    if args.sentiment {
        let dir = config.nlu.sentiment.clone().ok_or_else(|| anyhow::anyhow!("nlu.sentiment is null in the config"))?;
        let mood = usher::nlu::sentiment::Sentiment::load(&dir, Some(&enc))?;
        let sample = &refs[..refs.len().min(300)];
        let mean_ms = |f: &dyn Fn(&str) -> anyhow::Result<()>| -> anyhow::Result<f64> {
            let t = Instant::now();
            for text in sample {
                f(text)?;
            }
            Ok(t.elapsed().as_secs_f64() * 1000.0 / sample.len() as f64)
        };
        let nlu = mean_ms(&|t| enc.encode_with_tokens(&[t]).map(drop).map_err(Into::into))?;
        let shared = match mood.branch() {
            Some(b) => Some(mean_ms(&|t| enc.encode_with_branch(&[t], true, &b).map(drop).map_err(Into::into))?),
            None => None,
        };
        let apart = mean_ms(&|t| {
            enc.encode_with_tokens(&[t])?;
            mood.score(&[t])?;
            Ok(())
        })?;
        let layers = mood.branch().and_then(|b| enc.shared_bottom(b.encoder));
        println!("sentiment: {} (bottom layers shared with the NLU pass: {layers:?})", mood.kind());
        println!("one message, NLU pass alone:          {nlu:.2} ms");
        if let Some(shared) = shared {
            println!("one message, with sentiment shared:   {shared:.2} ms (+{:.0} %)", (shared / nlu - 1.0) * 100.0);
        }
        println!("one message, with sentiment apart:    {apart:.2} ms (+{:.0} %)", (apart / nlu - 1.0) * 100.0);
        v["sentiment"] =
            serde_json::json!({ "model": mood.kind(), "nlu_ms": nlu, "shared_ms": shared, "apart_ms": apart });
    }
    if args.json {
        println!("{v}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `usher bench poem`: latency of writing one four-line poem (load excluded).
pub fn poem(config: &Config, runs: usize) -> anyhow::Result<ExitCode> {
    use usher::creative::poem::{Poet, Request};
    let poet = Poet::load(&config.creative.poem)?;
    let themes = ["love", "night", "music", "stage", "ticket", "river", "summer", "dream"];
    latency("poems", runs, |i| {
        let request = Request { seed: i as u64, ..Request::new(themes[i % themes.len()]) };
        poet.compose(&request).map(drop).map_err(Into::into)
    })
}

/// `usher bench melody`: latency of composing one melody and writing its
/// MIDI, WAV and piano roll (what a fan's request costs; load excluded).
pub fn melody(config: &Config, runs: usize) -> anyhow::Result<ExitCode> {
    use usher::creative::melody::{render, Composer};
    let composer = Composer::load(&config.creative.melody)?;
    let out = std::env::temp_dir().join(format!("usher-bench-melody-{}", std::process::id()));
    let result = latency("melodies", runs, |i| {
        render::write_all(
            &composer.compose(i as u64, Default::default())?.melody,
            &out,
            &composer.provenance(i as u64),
            &config.creative.watermark_key,
        )?;
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&out);
    result
}

/// Runs `once(i)` `runs` times and prints p50, p95 and max in ms.
fn latency(what: &str, runs: usize, mut once: impl FnMut(usize) -> anyhow::Result<()>) -> anyhow::Result<ExitCode> {
    let mut ms: Vec<f64> = Vec::with_capacity(runs);
    for i in 0..runs.max(1) {
        let started = std::time::Instant::now();
        once(i)?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    println!("{what}: {}, p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms", ms.len(), pct(0.5), pct(0.95), pct(1.0));
    Ok(ExitCode::SUCCESS)
}
