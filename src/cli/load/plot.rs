//! `usher bench plot-load`: latency against offered load, one line per store
//! and percentile, from the JSON lines `scripts/bench-load.sh` prints.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use plotters::prelude::*;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSON lines of open-loop runs (`store`, `offered_per_s`, `p50_ms`, `p99_ms`).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The PNG to write.
    #[arg(long)]
    out: PathBuf,
    /// A TrueType font for the labels.
    #[arg(long, default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
    font: PathBuf,
}

/// One point: offered messages/s, p50 and p99 in ms.
type Point = (f64, f64, f64);

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut series: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for path in &args.runs {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        for (n, line) in text.lines().enumerate().filter(|(_, l)| l.trim_start().starts_with('{')) {
            let v: serde_json::Value =
                serde_json::from_str(line).with_context(|| format!("{}:{}: not JSON", path.display(), n + 1))?;
            if v["mode"] != "open" {
                continue;
            }
            let num = |k: &str| v[k].as_f64().with_context(|| format!("{}:{}: no number `{k}`", path.display(), n + 1));
            let store = v["store"].as_str().unwrap_or("server").to_string();
            series.entry(store).or_default().push((num("offered_per_s")?, num("p50_ms")?, num("p99_ms")?));
        }
    }
    anyhow::ensure!(!series.is_empty(), "no open-loop runs (\"mode\": \"open\") in the files given");
    let font = std::fs::read(&args.font).with_context(|| format!("reading the font {}", args.font.display()))?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(font.into_boxed_slice()))
        .map_err(|_| anyhow::anyhow!("{} is not a TrueType font", args.font.display()))?;
    draw(&series, &args.out).map_err(|e| anyhow::anyhow!("drawing {}: {e}", args.out.display()))?;
    println!("wrote {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

fn draw(series: &BTreeMap<String, Vec<Point>>, out: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let points = series.values().flatten();
    let x_max = points.clone().map(|p| p.0).fold(1.0, f64::max) * 1.05;
    let y_max = points.clone().map(|p| p.2).fold(10.0, f64::max) * 1.5;
    let y_min = points.map(|p| p.1).fold(f64::INFINITY, f64::min).clamp(0.1, 10.0) / 1.5;
    let root = BitMapBackend::new(out, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Usher: reply latency against offered load (open loop)", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..x_max, (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("offered messages/s")
        .y_desc("latency, ms (log)")
        .label_style(("sans-serif", 14))
        .draw()?;
    let colours = [BLUE, RED, GREEN, MAGENTA];
    for (i, (store, points)) in series.iter().enumerate() {
        let mut points = points.clone();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let colour = colours[i % colours.len()];
        for (label, pick, width) in [("p99", 2usize, 3u32), ("p50", 1, 1)] {
            let line: Vec<(f64, f64)> = points.iter().map(|p| (p.0, if pick == 1 { p.1 } else { p.2 })).collect();
            chart
                .draw_series(LineSeries::new(line.clone(), colour.stroke_width(width)))?
                .label(format!("{store} {label}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(width)));
            chart.draw_series(line.into_iter().map(|p| Circle::new(p, 3, colour.filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}
