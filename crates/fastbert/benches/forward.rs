//! `cargo bench -p usher-fastbert`: the packed forward pass on a
//! MiniLM-shaped model (6 layers, 384 wide, 12 heads) with random weights —
//! speed does not depend on the values — over sentences whose token counts
//! follow BANKING77's (median ≈ 13, mean ≈ 16 with [CLS] and [SEP]).
//! Prints batch-64 throughput and batch-1 latency, with int8 weights or,
//! given `-- --f32`, f32 ones, or `-- --int8-compute`, int8 weights and
//! activations with integer products. Usher's own
//! `usher bench encoder` measures the real model end to end.

use std::time::Instant;

use usher_fastbert::{Config, Embeddings, Layer, Model, Precision};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }
}

fn model(c: &Config, rng: &mut Rng) -> Model {
    let (h, i) = (c.hidden, c.intermediate);
    let mut values = |n: usize| -> Vec<f32> { (0..n).map(|_| (rng.next() - 0.5) * 0.08).collect() };
    let sizes = |name: &str| -> usize {
        match name {
            "word_embeddings.weight" => c.vocab * h,
            "position_embeddings.weight" => c.max_positions * h,
            "intermediate.dense.weight" | "output.dense.weight" => h * i,
            "intermediate.dense.bias" => i,
            n if n.ends_with(".weight") && !n.contains("LayerNorm") && !n.starts_with("token") => h * h,
            _ => h,
        }
    };
    let names = [
        "word_embeddings.weight",
        "position_embeddings.weight",
        "token_type_embeddings.weight",
        "LayerNorm.weight",
        "LayerNorm.bias",
    ];
    let table: std::collections::HashMap<String, Vec<f32>> =
        names.iter().map(|n| (n.to_string(), values(sizes(n)))).collect();
    let embeddings = Embeddings::load(c, &|n| table.get(n).cloned()).expect("embeddings");
    let layer_names = [
        "attention.self.query",
        "attention.self.key",
        "attention.self.value",
        "attention.output.dense",
        "intermediate.dense",
        "output.dense",
    ];
    let layers = (0..6)
        .map(|_| {
            let mut t = std::collections::HashMap::new();
            for n in layer_names {
                for part in ["weight", "bias"] {
                    let name = format!("{n}.{part}");
                    t.insert(name.clone(), values(sizes(&name)));
                }
            }
            for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
                t.insert(format!("{n}.weight"), vec![1.0; h]);
                t.insert(format!("{n}.bias"), vec![0.0; h]);
            }
            Layer::load(c, &|n| t.get(n).cloned()).expect("layer")
        })
        .collect();
    Model::new(*c, embeddings, layers).expect("model")
}

fn main() {
    let precision = if std::env::args().any(|a| a == "--f32") {
        Precision::F32
    } else if std::env::args().any(|a| a == "--int8-compute") {
        Precision::Int8Compute
    } else {
        Precision::Int8
    };
    let c =
        Config { hidden: 384, heads: 12, intermediate: 1536, vocab: 30522, max_positions: 512, eps: 1e-12, precision };
    let mut rng = Rng(42);
    let m = model(&c, &mut rng);
    let sentences: Vec<Vec<u32>> = (0..1000)
        .map(|_| {
            let words = 3.0 - rng.next().ln() * 8.0;
            let tokens = (2.0 + words.min(60.0) * 1.25) as usize;
            (0..tokens).map(|_| (rng.next() * c.vocab as f32) as u32 % c.vocab as u32).collect()
        })
        .collect();
    let mut sorted: Vec<&[u32]> = sentences.iter().map(Vec::as_slice).collect();
    sorted.sort_by_key(|s| s.len());
    let tokens: usize = sorted.iter().map(|s| s.len()).sum();
    m.embed(&sorted[..64]).expect("warm-up");
    let t = Instant::now();
    for batch in sorted.chunks(64) {
        m.embed(batch).expect("batch");
    }
    let batched = sorted.len() as f64 / t.elapsed().as_secs_f64();
    let mut ms: Vec<f64> = sentences
        .iter()
        .take(300)
        .map(|s| {
            let t = Instant::now();
            m.embed(&[s.as_slice()]).expect("single");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "{precision:?} weights, {} sentences ({:.1} tokens on average), {} threads",
        sorted.len(),
        tokens as f64 / sorted.len() as f64,
        rayon::current_num_threads()
    );
    println!("batch 64: {batched:.0} sentences/s");
    println!("batch 1: p50 {:.2} ms, p99 {:.2} ms", ms[ms.len() / 2], ms[ms.len() * 99 / 100]);
}
