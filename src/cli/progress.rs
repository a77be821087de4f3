//! The training progress bar.

use indicatif::{ProgressBar, ProgressStyle};

/// A progress callback for `(epoch, epochs, loss)` drawing an indicatif bar.
pub fn training_bar(label: &'static str) -> impl FnMut(usize, usize, f32) + Send + 'static {
    let mut bar: Option<ProgressBar> = None;
    move |epoch, epochs, loss| {
        let b = bar.get_or_insert_with(|| {
            let b = ProgressBar::new(epochs as u64);
            let style = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} epochs {prefix}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            b.set_style(style);
            b.set_message(label);
            b
        });
        b.set_position(epoch as u64);
        b.set_prefix(format!("loss {loss:.4}"));
        if epoch >= epochs {
            b.finish();
        }
    }
}

/// A progress callback for `(done, total)` counts drawing an indicatif bar;
/// nothing is drawn when there is nothing to do.
pub fn count_bar(label: &'static str, unit: &'static str) -> impl FnMut(usize, usize) + Send + 'static {
    let mut bar: Option<ProgressBar> = None;
    move |done, total| {
        if total == 0 {
            return;
        }
        let b = bar.get_or_insert_with(|| {
            let b = ProgressBar::new(total as u64);
            let template = format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit}");
            let style = ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            b.set_style(style);
            b.set_message(label);
            b
        });
        b.set_position(done as u64);
        if done >= total {
            b.finish();
        }
    }
}
