//! Integer arithmetic for [`Precision::Int8Compute`](crate::Precision):
//! each row of `x` (one token) is quantised to i8 with its own scale, the
//! products with the int8 weight panels are summed in i32, and the two
//! scales are applied once per output.
//!
//! The panels here hold 16 columns in groups of 4 consecutive inputs: for
//! each group, column 0's four bytes, then column 1's, … column 15's (64
//! bytes), the layout of `vpdpbusd`, which multiplies 4 u8 × i8 pairs and
//! adds them to one i32 lane. Three kernels give the same integers:
//! - AVX-512 VNNI (`vpdpbusd` on 256-bit registers), when the CPU has it:
//!   activations offset to u8 (`x + 128`), the offset taken off at the end
//!   with the columns' sums;
//! - AVX2 (`vpmaddubsw` + `vpmaddwd`): |x| as u8 times w with x's sign, so
//!   a pair of products (at most 2 × 127 × 127) never saturates i16;
//! - portable Rust.

/// Output columns per panel.
pub(crate) const NR: usize = 16;
/// Inputs per group.
const KG: usize = 4;

/// Int8 weights in grouped panels, with per-column scales and sums.
#[derive(Debug, Clone)]
pub(crate) struct Grouped {
    values: Vec<i8>,
    scales: Vec<f32>,
    sums: Vec<i32>,
    /// Inputs rounded up to a whole group.
    k4: usize,
}

impl Grouped {
    /// From `panels` (`count` panels of `k × 16` floats, row-major in each).
    pub(crate) fn new(panels: &[f32], k: usize, count: usize) -> Self {
        let k4 = k.div_ceil(KG) * KG;
        let mut values = vec![0i8; count * k4 * NR];
        let mut scales = vec![1f32; count * NR];
        let mut sums = vec![0i32; count * NR];
        for (p, panel) in panels.chunks_exact(k * NR).enumerate() {
            for c in 0..NR {
                let max = (0..k).map(|kk| panel[kk * NR + c].abs()).fold(0f32, f32::max);
                let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
                scales[p * NR + c] = scale;
                for kk in 0..k {
                    let q = (panel[kk * NR + c] / scale).round().clamp(-127.0, 127.0) as i8;
                    values[p * k4 * NR + (kk / KG) * KG * NR + c * KG + kk % KG] = q;
                    sums[p * NR + c] += i32::from(q);
                }
            }
        }
        Self { values, scales, sums, k4 }
    }

    /// Inputs rounded up to a whole group of 4.
    pub(crate) fn k4(&self) -> usize {
        self.k4
    }

    /// For each panel, the dequantised weights of `inputs` (`inputs.len()`
    /// rows of 16): what the outliers set apart are multiplied with.
    pub(crate) fn rows_of(&self, inputs: &[usize]) -> Vec<f32> {
        let count = self.scales.len() / NR;
        let mut out = Vec::with_capacity(count * inputs.len() * NR);
        for p in 0..count {
            let (values, scales, _) = self.panel(p);
            for &input in inputs {
                let row = &values[(input / KG) * KG * NR + input % KG..];
                out.extend((0..NR).map(|c| f32::from(row[c * KG]) * scales[c]));
            }
        }
        out
    }

    fn panel(&self, p: usize) -> (&[i8], &[f32], &[i32]) {
        let span = p * self.k4 * NR..(p + 1) * self.k4 * NR;
        (&self.values[span], &self.scales[p * NR..(p + 1) * NR], &self.sums[p * NR..(p + 1) * NR])
    }
}

/// Inputs whose magnitude passes this somewhere in the batch are outliers
/// (LLM.int8()'s threshold): their products stay in f32.
const OUTLIER: f32 = 6.0;
/// Most outlier inputs per product (MiniLM has one to three).
const MOST_OUTLIERS: usize = 16;

/// Rows of `x` quantised: `k4` bytes per row (the tail zero), one scale
/// each, with the outlier inputs zeroed there and kept in f32 apart.
///
/// A few of BERT's hidden dimensions carry values 20-100 times the others
/// (MiniLM's dimension 99 reaches 30 after a layer norm where the median
/// is 0.3); one scale per token would spend the 8 bits on them, so they
/// are multiplied in f32 (with the dequantised weights), as in
/// LLM.int8(), and the rest of the row gets the 8 bits.
pub(crate) struct Quantised {
    values: Vec<i8>,
    scales: Vec<f32>,
    k4: usize,
    /// The outlier inputs, and their values (`m × outliers.len()`).
    outliers: Vec<usize>,
    apart: Vec<f32>,
}

impl Quantised {
    /// Each of the `m` rows of `x` (`k` wide), its outliers set apart and
    /// the rest scaled so its largest magnitude is 127.
    pub(crate) fn new(x: &[f32], m: usize, k: usize, k4: usize) -> Self {
        let mut peak = vec![0f32; k];
        for row in x.chunks_exact(k).take(m) {
            peak.iter_mut().zip(row).for_each(|(p, v)| *p = p.max(v.abs()));
        }
        let mut outliers: Vec<usize> = (0..k).filter(|&c| peak[c] > OUTLIER).collect();
        if outliers.len() > MOST_OUTLIERS {
            outliers.sort_by(|a, b| peak[*b].total_cmp(&peak[*a]));
            outliers.truncate(MOST_OUTLIERS);
            outliers.sort_unstable();
        }
        let mut values = vec![0i8; m * k4];
        let mut scales = vec![0f32; m];
        let mut apart = Vec::with_capacity(m * outliers.len());
        let mut keep = vec![1f32; k];
        outliers.iter().for_each(|&c| keep[c] = 0.0);
        for (r, row) in x.chunks_exact(k).enumerate().take(m) {
            apart.extend(outliers.iter().map(|&c| row[c]));
            scales[r] = quantise_row(row, &keep, &mut values[r * k4..r * k4 + k]);
        }
        Self { values, scales, k4, outliers, apart }
    }

    /// The inputs set apart as outliers.
    pub(crate) fn outliers(&self) -> &[usize] {
        &self.outliers
    }
}

/// Quantises `row` into `out` (inputs with `keep` 0 become 0) and returns
/// its scale; compiled for AVX2 where the CPU has it, where the loops
/// vectorise (rounding, clamping and converting eight values at a time).
fn quantise_row(row: &[f32], keep: &[f32], out: &mut [i8]) -> f32 {
    #[inline(always)]
    fn run(row: &[f32], keep: &[f32], out: &mut [i8]) -> f32 {
        let max = row.iter().zip(keep).fold(0f32, |a, (v, k)| a.max(v.abs() * k));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        let inv = 1.0 / scale;
        for ((q, v), k) in out.iter_mut().zip(row).zip(keep) {
            *q = (v * inv * k).round_ties_even().clamp(-127.0, 127.0) as i32 as i8;
        }
        scale
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(row: &[f32], keep: &[f32], out: &mut [i8]) -> f32 {
            run(row, keep, out)
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { avx2(row, keep, out) };
        }
    }
    run(row, keep, out)
}

/// Which integer kernel this CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    Vnni,
    Avx2,
    Portable,
}

impl Kernel {
    /// The fastest this CPU has (checked at run time).
    pub(crate) fn best() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512vl") {
                return Self::Vnni;
            }
            if is_x86_feature_detected!("avx2") {
                return Self::Avx2;
            }
        }
        Self::Portable
    }

    /// Its name, for benchmarks and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vnni => "avx512-vnni",
            Self::Avx2 => "avx2",
            Self::Portable => "portable",
        }
    }
}

/// `out[rows, panel p's columns] += x · w` for rows `r..r + rows` (≤ 6);
/// `apart` holds the panel's dequantised weights of `x`'s outliers
/// ([`Grouped::rows_of`]).
///
/// # Safety
/// `out` must point to row `r`, column `16 p` of an output with row stride
/// `ldo`, valid for `rows` rows of `cols` floats.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn tile(
    kernel: Kernel,
    x: &Quantised,
    r: usize,
    rows: usize,
    w: &Grouped,
    p: usize,
    apart: &[f32],
    out: *mut f32,
    ldo: usize,
    cols: usize,
) {
    let (values, scales, sums) = w.panel(p);
    let mut acc = [[0i32; NR]; 6];
    let xs = &x.values[r * x.k4..(r + rows) * x.k4];
    let held = x.outliers.len();
    let f = Finish {
        rows,
        xscales: &x.scales[r..r + rows],
        wscales: scales,
        values: &x.apart[r * held..(r + rows) * held],
        weights: apart,
    };
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Vnni => {
            x86::vnni(xs, rows, x.k4, values, sums, &mut acc);
            x86::finish(&f, &acc, out, ldo, cols);
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => {
            x86::avx2(xs, rows, x.k4, values, &mut acc);
            x86::finish(&f, &acc, out, ldo, cols);
        }
        _ => {
            portable(xs, rows, x.k4, values, &mut acc);
            f.add(&acc, out, ldo, cols);
        }
    }
}

/// What turns a tile's integer sums into floats added to the output.
struct Finish<'a> {
    rows: usize,
    /// Each row's scale.
    xscales: &'a [f32],
    /// The panel's column scales.
    wscales: &'a [f32],
    /// The rows' outlier values (`rows × held`), and the outliers'
    /// dequantised weights in this panel (`held × 16`).
    values: &'a [f32],
    weights: &'a [f32],
}

impl Finish<'_> {
    /// `out += acc × row scale × column scale + outliers × their weights`.
    ///
    /// # Safety
    /// As [`tile`].
    #[inline(always)]
    unsafe fn add(&self, acc: &[[i32; NR]; 6], out: *mut f32, ldo: usize, cols: usize) {
        let held = self.weights.len() / NR;
        for (i, a) in acc.iter().enumerate().take(self.rows) {
            let mut sum = [0f32; NR];
            for c in 0..NR {
                sum[c] = a[c] as f32 * self.xscales[i] * self.wscales[c];
            }
            for j in 0..held {
                let v = self.values[i * held + j];
                let w = &self.weights[j * NR..(j + 1) * NR];
                for c in 0..NR {
                    sum[c] += v * w[c];
                }
            }
            let o = out.add(i * ldo);
            for (c, s) in sum.iter().enumerate().take(cols) {
                *o.add(c) += s;
            }
        }
    }
}

/// The sums in plain Rust.
fn portable(x: &[i8], rows: usize, k4: usize, panel: &[i8], acc: &mut [[i32; NR]; 6]) {
    for g in 0..k4 / KG {
        let wg = &panel[g * KG * NR..(g + 1) * KG * NR];
        for (i, a) in acc.iter_mut().enumerate().take(rows) {
            let xg = &x[i * k4 + g * KG..i * k4 + (g + 1) * KG];
            for (c, s) in a.iter_mut().enumerate() {
                let wc = &wg[c * KG..(c + 1) * KG];
                *s += xg.iter().zip(wc).map(|(a, b)| i32::from(*a) * i32::from(*b)).sum::<i32>();
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Finish, KG, NR};

    /// `run!(R)` with `R` the tile's row count (1 to 6) as a constant.
    macro_rules! by_rows {
        ($rows:expr, $run:ident) => {
            match $rows {
                1 => $run!(1),
                2 => $run!(2),
                3 => $run!(3),
                4 => $run!(4),
                5 => $run!(5),
                _ => $run!(6),
            }
        };
    }

    /// [`Finish::add`] compiled for AVX2 and FMA (16 floats a row are two registers).
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; as [`super::tile`] otherwise.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn finish(f: &Finish, acc: &[[i32; NR]; 6], out: *mut f32, ldo: usize, cols: usize) {
        f.add(acc, out, ldo, cols)
    }

    /// Broadcasts row `i`'s group `g` (4 bytes) to every 32-bit lane.
    #[inline(always)]
    unsafe fn group(x: &[i8], i: usize, k4: usize, g: usize) -> __m256i {
        _mm256_set1_epi32(std::ptr::read_unaligned(x.as_ptr().add(i * k4 + g * KG) as *const i32))
    }

    /// # Safety
    /// The CPU must have AVX-512 VNNI and VL; `x` holds `rows` rows of `k4`
    /// bytes, `panel` `k4 × 16` grouped bytes.
    #[target_feature(enable = "avx2,avx512f,avx512vl,avx512vnni")]
    pub unsafe fn vnni(x: &[i8], rows: usize, k4: usize, panel: &[i8], sums: &[i32], acc: &mut [[i32; NR]; 6]) {
        macro_rules! run {
            ($r:literal) => {{
                let flip = _mm256_set1_epi8(-128);
                let mut lo = [_mm256_setzero_si256(); $r];
                let mut hi = [_mm256_setzero_si256(); $r];
                for g in 0..k4 / KG {
                    let p = panel.as_ptr().add(g * KG * NR) as *const __m256i;
                    let (w0, w1) = (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)));
                    for i in 0..$r {
                        // x + 128 as u8: the offset comes off below.
                        let xb = _mm256_xor_si256(group(x, i, k4, g), flip);
                        lo[i] = _mm256_dpbusd_epi32(lo[i], xb, w0);
                        hi[i] = _mm256_dpbusd_epi32(hi[i], xb, w1);
                    }
                }
                let s = sums.as_ptr() as *const __m256i;
                let (s0, s1) =
                    (_mm256_slli_epi32(_mm256_loadu_si256(s), 7), _mm256_slli_epi32(_mm256_loadu_si256(s.add(1)), 7));
                for i in 0..$r {
                    let a = acc[i].as_mut_ptr() as *mut __m256i;
                    _mm256_storeu_si256(a, _mm256_sub_epi32(lo[i], s0));
                    _mm256_storeu_si256(a.add(1), _mm256_sub_epi32(hi[i], s1));
                }
            }};
        }
        by_rows!(rows, run)
    }

    /// # Safety
    /// The CPU must have AVX2; as [`vnni`] otherwise.
    #[target_feature(enable = "avx2")]
    pub unsafe fn avx2(x: &[i8], rows: usize, k4: usize, panel: &[i8], acc: &mut [[i32; NR]; 6]) {
        macro_rules! run {
            ($r:literal) => {{
                let ones = _mm256_set1_epi16(1);
                let mut lo = [_mm256_setzero_si256(); $r];
                let mut hi = [_mm256_setzero_si256(); $r];
                for g in 0..k4 / KG {
                    let p = panel.as_ptr().add(g * KG * NR) as *const __m256i;
                    let (w0, w1) = (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1)));
                    for i in 0..$r {
                        let xb = group(x, i, k4, g);
                        let ax = _mm256_sign_epi8(xb, xb);
                        let p0 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w0, xb));
                        let p1 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w1, xb));
                        lo[i] = _mm256_add_epi32(lo[i], _mm256_madd_epi16(p0, ones));
                        hi[i] = _mm256_add_epi32(hi[i], _mm256_madd_epi16(p1, ones));
                    }
                }
                for i in 0..$r {
                    let a = acc[i].as_mut_ptr() as *mut __m256i;
                    _mm256_storeu_si256(a, lo[i]);
                    _mm256_storeu_si256(a.add(1), hi[i]);
                }
            }};
        }
        by_rows!(rows, run)
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    fn panels(w: &[f32], k: usize, n: usize) -> (Vec<f32>, usize) {
        let count = n.div_ceil(NR);
        let mut out = vec![0f32; count * k * NR];
        for p in 0..count {
            for kk in 0..k {
                for c in 0..NR.min(n - p * NR) {
                    out[p * k * NR + kk * NR + c] = w[kk * n + p * NR + c];
                }
            }
        }
        (out, count)
    }

    #[test]
    fn every_kernel_gives_the_same_integers() {
        // Extreme values too: ±127 everywhere is where i16 pairs would saturate.
        for (k, fill) in [(7usize, 0u8), (64, 1), (384, 2), (1536, 3)] {
            let x: Vec<f32> = (0..6 * k)
                .map(|i| match fill {
                    0 => 1.0,
                    1 => {
                        if i % 2 == 0 {
                            -1.0
                        } else {
                            1.0
                        }
                    }
                    _ => ((i * 37 % 101) as f32 - 50.0) / 13.0,
                })
                .collect();
            let w: Vec<f32> =
                (0..k * NR).map(|i| if fill < 2 { -1.0 } else { ((i * 11 % 97) as f32 - 48.0) / 9.0 }).collect();
            let (p, count) = panels(&w, k, NR);
            let g = Grouped::new(&p, k, count);
            let q = Quantised::new(&x, 6, k, g.k4);
            let mut want = [[0i32; NR]; 6];
            portable(&q.values, 6, g.k4, g.panel(0).0, &mut want);
            for kernel in [Kernel::best(), Kernel::Avx2] {
                if kernel == Kernel::Portable || (kernel == Kernel::Avx2 && !is_x86_feature_detected!("avx2")) {
                    continue;
                }
                for rows in 1..=6 {
                    let mut got = [[0i32; NR]; 6];
                    let (values, _, sums) = g.panel(0);
                    unsafe {
                        match kernel {
                            Kernel::Vnni => x86::vnni(&q.values, rows, g.k4, values, sums, &mut got),
                            _ => x86::avx2(&q.values, rows, g.k4, values, &mut got),
                        }
                    }
                    assert_eq!(got[..rows], want[..rows], "{kernel:?}, k {k}, {rows} rows");
                }
            }
        }
    }
}
