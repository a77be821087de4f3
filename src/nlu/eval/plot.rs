//! The confusion matrix as a heat map PNG (plotters, bitmap backend):
//! rows are gold labels, columns predictions, shade = row-normalised count.

use std::path::Path;

use plotters::prelude::*;

use crate::Error;

/// Draws `confusion[gold][predicted]` to `path`.
pub fn confusion(confusion: &[Vec<u32>], path: &Path) -> Result<(), Error> {
    let k = confusion.len().max(1);
    let cell = (900 / k).clamp(3, 40) as i32;
    let size = (cell * k as i32) as u32;
    let fail = |e: &dyn std::fmt::Display| Error::Model(format!("{}: {e}", path.display()));
    let root = BitMapBackend::new(path, (size, size)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    for (g, row) in confusion.iter().enumerate() {
        let total: u32 = row.iter().sum();
        for (p, &n) in row.iter().enumerate() {
            if n == 0 || total == 0 {
                continue;
            }
            let share = f64::from(n) / f64::from(total);
            let shade = (255.0 * (1.0 - share)) as u8;
            let colour = if g == p { RGBColor(shade, shade, 255) } else { RGBColor(255, shade, shade) };
            let (x, y) = (p as i32 * cell, g as i32 * cell);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], colour.filled())).map_err(|e| fail(&e))?;
        }
    }
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
