//! Progress bars: training epochs and counted work (chunks embedded).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps labelled `label`, ending with `suffix` (an
/// indicatif template fragment).
fn styled(len: usize, label: &'static str, suffix: &str) -> ProgressBar {
    let b = ProgressBar::new(len as u64);
    let style = ProgressStyle::with_template(&format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {suffix}"))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    b.set_style(style);
    b.set_message(label);
    b
}

/// Moves `b` to `done`, finishing it at `total`.
fn advance(b: &ProgressBar, done: usize, total: usize) {
    b.set_position(done as u64);
    if done >= total {
        b.finish();
    }
}

/// A progress callback for `(epoch, epochs, loss)` drawing an indicatif bar;
/// a phase that starts after one finished (fine-tuning, then the head) gets
/// a new bar.
pub fn training_bar(label: &'static str) -> impl FnMut(usize, usize, f32) + Send + 'static {
    let mut bar: Option<ProgressBar> = None;
    move |epoch, epochs, loss| {
        if bar.as_ref().is_some_and(|b| b.is_finished()) {
            bar = None;
        }
        let b = bar.get_or_insert_with(|| styled(epochs, label, "epochs {prefix}"));
        b.set_prefix(format!("loss {loss:.4}"));
        advance(b, epoch, epochs);
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
        let b = bar.get_or_insert_with(|| styled(total, label, unit));
        advance(b, done, total);
    }
}
