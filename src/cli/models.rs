//! `usher models fetch`: the sentence encoder, with a progress bar and checksums.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use usher::nlu::encoder::fetch;

/// Fetches the encoder into `dir` unless it is already there and intact.
pub fn fetch(dir: &Path) -> anyhow::Result<()> {
    if fetch::present(dir) && fetch::verify(dir).is_ok() {
        println!("encoder present and verified in {}", dir.display());
        return Ok(());
    }
    println!("fetching all-MiniLM-L6-v2 into {} …", dir.display());
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template("{msg:18} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    fetch::fetch(dir, &mut |done, total, file| {
        bar.set_length(total);
        bar.set_position(done);
        bar.set_message(file.to_string());
    })?;
    bar.finish();
    println!("encoder fetched and verified (SHA-256) in {}", dir.display());
    Ok(())
}
