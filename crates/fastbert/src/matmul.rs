//! `out += x · w` for the linear layers, with `w` pre-packed into panels of
//! 16 columns (each panel `k × 16`, contiguous) so the inner loop streams
//! it. On x86-64 with AVX2 and FMA (checked at run time) a 6 × 16 tile of
//! the output lives in twelve registers; elsewhere a portable loop does the
//! same sums. Rows are blocked so a block of `x` stays in L2 while every
//! panel passes over it; one sentence's rows fit a single block, so each
//! weight is read once per forward pass. With [`Precision::Int8Compute`]
//! the products themselves are integer (`int8`).

// Output columns per panel (`NR`) are the integer kernels' too.
use crate::int8::{self, Grouped, Kernel, Quantised, NR};
/// Output rows per tile.
const MR: usize = 6;
/// Bytes of `x` a row block may take (about half of a core's L2).
const BLOCK_BYTES: usize = 256 * 1024;

/// How the linear layers' weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// 32-bit floats: the checkpoint's values exactly.
    F32,
    /// 8-bit integers with one scale per output column (symmetric, weight
    /// only: activations and sums stay f32). A quarter of the memory, so
    /// MiniLM's linear layers (10.6 MB) stay in cache between messages.
    #[default]
    Int8,
    /// 8-bit weights as `Int8`, and each row of activations quantised to
    /// 8 bits with its own scale: the products are summed in integers
    /// (AVX-512 VNNI or AVX2 where the CPU has them), twice the
    /// multiply-adds per instruction of f32.
    Int8Compute,
}

/// Panel values in one of the [`Precision`]s.
#[derive(Debug, Clone)]
enum Panels {
    F32(Vec<f32>),
    Int8 { values: Vec<i8>, scales: Vec<f32> },
    Int8Compute(Grouped),
}

/// A `k × n` weight matrix in 16-column panels (the last padded with zeros).
#[derive(Debug, Clone)]
pub struct Packed {
    panels: Panels,
    k: usize,
    n: usize,
}

impl Packed {
    /// Packs a row-major `k × n` matrix.
    pub fn new(w: &[f32], k: usize, n: usize, precision: Precision) -> Self {
        let count = n.div_ceil(NR);
        let mut panels = vec![0f32; count * k * NR];
        for (p, panel) in panels.chunks_exact_mut(k * NR).enumerate() {
            for (kk, row) in panel.chunks_exact_mut(NR).enumerate() {
                let from = p * NR;
                let cols = NR.min(n - from);
                row[..cols].copy_from_slice(&w[kk * n + from..kk * n + from + cols]);
            }
        }
        let panels = match precision {
            Precision::F32 => Panels::F32(panels),
            Precision::Int8Compute => Panels::Int8Compute(Grouped::new(&panels, k, count)),
            Precision::Int8 => {
                let mut scales = vec![1f32; count * NR];
                for (p, panel) in panels.chunks_exact(k * NR).enumerate() {
                    for (c, scale) in scales[p * NR..(p + 1) * NR].iter_mut().enumerate() {
                        let max = panel.chunks_exact(NR).map(|row| row[c].abs()).fold(0f32, f32::max);
                        if max > 0.0 {
                            *scale = max / 127.0;
                        }
                    }
                }
                let values = panels
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let scale = scales[i / (k * NR) * NR + i % NR];
                        (v / scale).round().clamp(-127.0, 127.0) as i8
                    })
                    .collect();
                Panels::Int8 { values, scales }
            }
        };
        Self { panels, k, n }
    }

    /// Columns of the output.
    pub fn outputs(&self) -> usize {
        self.n
    }

    fn panel_count(&self) -> usize {
        self.n.div_ceil(NR)
    }

    /// Panel `p`: its values and, for int8, its 16 column scales.
    fn panel(&self, p: usize) -> Panel<'_> {
        let span = p * self.k * NR..(p + 1) * self.k * NR;
        match &self.panels {
            Panels::F32(v) => Panel::F32(&v[span]),
            Panels::Int8 { values, scales } => Panel::Int8(&values[span], &scales[p * NR..(p + 1) * NR]),
            Panels::Int8Compute(_) => unreachable!("integer panels go through int8::tile"),
        }
    }
}

/// One panel's values.
#[derive(Clone, Copy)]
enum Panel<'a> {
    F32(&'a [f32]),
    Int8(&'a [i8], &'a [f32]),
}

/// A raw output pointer that threads writing disjoint columns may share.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: threads given an `Out` write disjoint panels' columns only.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

/// The left operand of a product: floats, or rows quantised for integer panels.
#[derive(Clone, Copy)]
enum Input<'a> {
    F32(&'a [f32]),
    /// Quantised rows, the kernel, and the outliers' dequantised weights.
    Int8(&'a Quantised, Kernel, &'a [f32]),
}

/// `out += x · w` for `m = x.len() / k` rows. With `threads > 1` the panels
/// are shared out among rayon tasks (for small batches that are not split
/// by sentence).
pub fn matmul_add(x: &[f32], w: &Packed, out: &mut [f32], threads: usize) {
    let (k, n) = (w.k, w.n);
    let m = x.len().checked_div(k).unwrap_or(0);
    assert!(x.len() == m * k && out.len() == m * n, "matrix shapes");
    // Integer panels: the rows quantised once, and their outliers' weights.
    let quantised = match &w.panels {
        Panels::Int8Compute(g) => {
            let q = Quantised::new(x, m, k, g.k4());
            let apart = g.rows_of(q.outliers());
            Some((q, apart))
        }
        _ => None,
    };
    let input = match &quantised {
        Some((q, apart)) => Input::Int8(q, Kernel::best(), apart),
        None => Input::F32(x),
    };
    let panels = w.panel_count();
    let o = Out(out.as_mut_ptr());
    if threads > 1 && panels > 1 {
        let per = panels.div_ceil(threads);
        rayon::scope(|s| {
            for t in 0..threads {
                let range = (t * per).min(panels)..((t + 1) * per).min(panels);
                if !range.is_empty() {
                    // SAFETY: each task writes only the columns of its own panels.
                    s.spawn(move |_| unsafe { panels_add(input, m, w, o, range) });
                }
            }
        });
    } else {
        // SAFETY: `out` is m × n and borrowed mutably for the call.
        unsafe { panels_add(input, m, w, o, 0..panels) }
    }
}

/// The integer kernel [`Precision::Int8Compute`] runs on this CPU.
pub fn int8_kernel() -> &'static str {
    Kernel::best().name()
}

/// `out[:, cols of panels] += x · w[:, cols of panels]`.
///
/// # Safety
/// `out` must point to `m × w.n` floats that no other thread writes in
/// these panels' columns.
unsafe fn panels_add(x: Input, m: usize, w: &Packed, out: Out, panels: std::ops::Range<usize>) {
    let (k, n) = (w.k, w.n);
    let block = (BLOCK_BYTES / (4 * k.max(1)) / MR * MR).max(MR);
    let avx2 = has_avx2();
    for r0 in (0..m).step_by(block) {
        let r1 = (r0 + block).min(m);
        for p in panels.clone() {
            let cols = NR.min(n - p * NR);
            for r in (r0..r1).step_by(MR) {
                let rows = MR.min(r1 - r);
                let o = out.0.add(r * n + p * NR);
                match (x, &w.panels) {
                    (Input::Int8(q, kernel, apart), Panels::Int8Compute(g)) => {
                        let held = q.outliers().len() * NR;
                        int8::tile(kernel, q, r, rows, g, p, &apart[p * held..(p + 1) * held], o, n, cols)
                    }
                    (Input::F32(x), _) => tile(avx2, &x[r * k..(r + rows) * k], rows, k, w.panel(p), o, n, cols),
                    (Input::Int8(..), _) => unreachable!("quantised rows only meet integer panels"),
                }
            }
        }
    }
}

pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One tile: `rows` (≤ 6) rows of `x` times one panel, added to `out`
/// (row stride `ldo`, `cols` valid columns).
///
/// # Safety
/// `out` must be valid for `rows` rows of `cols` floats at stride `ldo`.
#[allow(clippy::too_many_arguments)]
unsafe fn tile(avx2: bool, x: &[f32], rows: usize, k: usize, panel: Panel, out: *mut f32, ldo: usize, cols: usize) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        let (values, scales, int8) = match panel {
            Panel::F32(p) => (p.as_ptr() as *const u8, std::ptr::null(), false),
            Panel::Int8(p, s) => (p.as_ptr() as *const u8, s.as_ptr(), true),
        };
        macro_rules! by_rows {
            ($int8:literal) => {
                match rows {
                    1 => avx2::tile::<1, $int8>,
                    2 => avx2::tile::<2, $int8>,
                    3 => avx2::tile::<3, $int8>,
                    4 => avx2::tile::<4, $int8>,
                    5 => avx2::tile::<5, $int8>,
                    _ => avx2::tile::<6, $int8>,
                }
            };
        }
        let f = if int8 { by_rows!(true) } else { by_rows!(false) };
        return f(x.as_ptr(), k, values, scales, k, out, ldo, cols);
    }
    let _ = avx2;
    portable_tile(x, rows, k, panel, out, ldo, cols);
}

/// The tile in plain Rust.
///
/// # Safety
/// As [`tile`].
unsafe fn portable_tile(x: &[f32], rows: usize, k: usize, panel: Panel, out: *mut f32, ldo: usize, cols: usize) {
    let mut acc = [[0f32; NR]; MR];
    let mut w = [0f32; NR];
    for kk in 0..k {
        match panel {
            Panel::F32(p) => w.copy_from_slice(&p[kk * NR..(kk + 1) * NR]),
            Panel::Int8(p, _) => w.iter_mut().zip(&p[kk * NR..(kk + 1) * NR]).for_each(|(d, q)| *d = f32::from(*q)),
        }
        for (r, a) in acc.iter_mut().enumerate().take(rows) {
            let xv = x[r * k + kk];
            for (s, wv) in a.iter_mut().zip(&w) {
                *s += xv * wv;
            }
        }
    }
    let scales = match panel {
        Panel::F32(_) => [1f32; NR],
        Panel::Int8(_, s) => {
            let mut out = [0f32; NR];
            out.copy_from_slice(s);
            out
        }
    };
    for (r, a) in acc.iter().enumerate().take(rows) {
        for (c, v) in a.iter().enumerate().take(cols) {
            *out.add(r * ldo + c) += v * scales[c];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::NR;

    /// `R` rows of `x` (stride `ldx`) times a `k × 16` panel, added to
    /// `out`. The panel holds f32 values, or with `INT8` bytes whose
    /// column sums are then multiplied by the 16 `scales`.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; `x` must hold `R` rows of `k`
    /// floats, `panel` `k × 16` values (bytes with `INT8`, else floats),
    /// `scales` 16 floats with `INT8`, and `out` `R` rows of `cols` floats.
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn tile<const R: usize, const INT8: bool>(
        x: *const f32,
        ldx: usize,
        panel: *const u8,
        scales: *const f32,
        k: usize,
        out: *mut f32,
        ldo: usize,
        cols: usize,
    ) {
        prefetch::<R>(out, ldo);
        let mut lo = [_mm256_setzero_ps(); R];
        let mut hi = [_mm256_setzero_ps(); R];
        for kk in 0..k {
            let (w0, w1) = if INT8 {
                let p = panel.add(kk * NR);
                let lo8 = _mm_loadl_epi64(p as *const __m128i);
                let hi8 = _mm_loadl_epi64(p.add(8) as *const __m128i);
                (_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo8)), _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi8)))
            } else {
                let p = (panel as *const f32).add(kk * NR);
                (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)))
            };
            for r in 0..R {
                let xb = _mm256_set1_ps(*x.add(r * ldx + kk));
                lo[r] = _mm256_fmadd_ps(xb, w0, lo[r]);
                hi[r] = _mm256_fmadd_ps(xb, w1, hi[r]);
            }
        }
        if INT8 {
            let (s0, s1) = (_mm256_loadu_ps(scales), _mm256_loadu_ps(scales.add(8)));
            for r in 0..R {
                lo[r] = _mm256_mul_ps(lo[r], s0);
                hi[r] = _mm256_mul_ps(hi[r], s1);
            }
        }
        add_to(&lo, &hi, out, ldo, cols);
    }

    /// Asks for the tile's output rows early: they are read only at the
    /// end, and a large output does not stay in cache.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn prefetch<const R: usize>(out: *mut f32, ldo: usize) {
        for r in 0..R {
            let o = out.add(r * ldo) as *const i8;
            _mm_prefetch::<_MM_HINT_T0>(o);
            _mm_prefetch::<_MM_HINT_T0>(o.add(60));
        }
    }

    /// Adds a tile's sums (columns 0..8 in `lo`, 8..16 in `hi`) to `out`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn add_to<const R: usize>(lo: &[__m256; R], hi: &[__m256; R], out: *mut f32, ldo: usize, cols: usize) {
        for r in 0..R {
            let o = out.add(r * ldo);
            if cols == NR {
                _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), lo[r]));
                _mm256_storeu_ps(o.add(8), _mm256_add_ps(_mm256_loadu_ps(o.add(8)), hi[r]));
            } else {
                let mut tmp = [0f32; NR];
                _mm256_storeu_ps(tmp.as_mut_ptr(), lo[r]);
                _mm256_storeu_ps(tmp.as_mut_ptr().add(8), hi[r]);
                for (c, v) in tmp.iter().enumerate().take(cols) {
                    *o.add(c) += v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f32], w: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut y = vec![0f32; m * n];
        for r in 0..m {
            for c in 0..n {
                y[r * n + c] = (0..k).map(|i| x[r * k + i] * w[i * n + c]).sum();
            }
        }
        y
    }

    #[test]
    fn packed_products_match_the_naive_sum_for_odd_shapes() {
        for (m, k, n, threads) in [(1, 3, 5, 1), (7, 33, 17, 2), (13, 384, 40, 1), (100, 70, 130, 2), (0, 4, 4, 2)] {
            let x: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0).collect();
            let w: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 7.0).collect();
            for (precision, tolerance) in
                [(Precision::F32, 1e-3), (Precision::Int8, 0.03), (Precision::Int8Compute, 0.06)]
            {
                let mut out = vec![1.0; m * n];
                matmul_add(&x, &Packed::new(&w, k, n, precision), &mut out, threads);
                for (got, want) in out.iter().zip(naive(&x, &w, m, k, n)) {
                    let err = (got - 1.0 - want).abs() / want.abs().max(1.0);
                    assert!(err < tolerance, "{precision:?} {m}x{k}x{n}: {got} vs {want} + 1");
                }
            }
        }
    }

    #[test]
    fn integer_products_keep_outlier_inputs_exact_enough() {
        // Input 3 is 40 times the others in every row, as BERT's outlier
        // dimensions are: set apart, it costs the other inputs no precision.
        let (m, k, n) = (9, 96, 40);
        let x: Vec<f32> =
            (0..m * k).map(|i| if i % k == 3 { 20.0 } else { ((i * 7 % 13) as f32 - 6.0) / 12.0 }).collect();
        let w: Vec<f32> = (0..k * n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 7.0).collect();
        let want = naive(&x, &w, m, k, n);
        let mut out = vec![0.0; m * n];
        matmul_add(&x, &Packed::new(&w, k, n, Precision::Int8Compute), &mut out, 2);
        let worst = out.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let span = want.iter().fold(0f32, |a, v| a.max(v.abs()));
        assert!(worst < 0.01 * span, "worst error {worst} against values up to {span}");
    }

    #[test]
    fn the_portable_tile_matches_the_vector_one() {
        let (k, n) = (29, 16);
        let x: Vec<f32> = (0..6 * k).map(|i| (i % 9) as f32 - 4.0).collect();
        let w: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 - 3.0).collect();
        for precision in [Precision::F32, Precision::Int8] {
            let p = Packed::new(&w, k, n, precision);
            for rows in 1..=6 {
                let (mut a, mut b) = (vec![0f32; rows * n], vec![0f32; rows * n]);
                unsafe {
                    portable_tile(&x, rows, k, p.panel(0), a.as_mut_ptr(), n, n);
                    tile(has_avx2(), &x, rows, k, p.panel(0), b.as_mut_ptr(), n, n);
                }
                assert_eq!(a, b, "{precision:?}, {rows} rows");
            }
        }
    }
}
