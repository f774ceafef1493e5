//! Batched products for f32, f16 and bf16 weights in llama.cpp's batch arithmetic: its x86
//! build multiplies 2+ tokens by such a matrix with llamafile's tinyBLAS (when k % 8 == 0),
//! not with the dot a single token takes. Per output, one accumulator of 8 lanes runs along
//! k, acc = fma(w[l..l + 8], x[l..l + 8], acc), and is summed as ggml's hsum_float_8; f16 and
//! bf16 weights meet x rounded to their type (ggml first converts the batch to the weights'
//! dot type).
//! So these outputs are not the bits of the dot (4 x 8 accumulators, its tail in f64): the
//! exception of `dispatch::GemmFn`, taken by batches of 2+ tokens (`GemmTakes`). A row
//! length that is not a multiple of 8 runs the dot, as llama.cpp does.

use super::float::{dot_bf16_f32_avx2, dot_f16_f32_avx2, dot_f32_avx2, load_bf16, round_to_bf16};
use super::hsum_f32x8;
use crate::kernels::generic::{gemm_by, gemm_rows_or_dots};
use crate::kernels::isa_glue::safe_entry;
use half::{bf16, f16};
use std::arch::x86_64::*;

/// Rows and tokens of one tile: ROWS * TOKENS accumulators, ROWS weight vectors and one x
/// vector live at a time (13 of the 16 registers).
const ROWS: usize = 4;
const TOKENS: usize = 2;

/// Elements per accumulator step (tinyBLAS's KN for 8-lane vectors).
const LANES: usize = 8;

safe_entry! {
    pub(super) fn gemm_f32(out: &mut [&mut [f32]], w: &[f32], row_len: usize, xs: &[&[f32]])
        => gemm_f32_avx2;
    pub(super) fn gemm_f16(out: &mut [&mut [f32]], w: &[f16], row_len: usize, xs: &[&[f32]])
        => gemm_f16_avx2;
    pub(super) fn gemm_bf16(out: &mut [&mut [f32]], w: &[bf16], row_len: usize, xs: &[&[f32]])
        => gemm_bf16_avx2;
}

/// One gemm per weight type: `$load_w(ptr)` gives 8 weights as f32, `$load_x(ptr)` 8
/// activations as the product takes them.
macro_rules! tinyblas_gemm {
    ($name:ident, $tile:ident, $wty:ty, $dot:ident, |$pw:ident| $load_w:expr, |$px:ident| $load_x:expr) => {
        // w (rows, k) @ xs[t] (k) -> out[t] (rows).
        #[target_feature(enable = "avx2,fma,f16c")]
        fn $name(out: &mut [&mut [f32]], w: &[$wty], k: usize, xs: &[&[f32]]) {
            if k % LANES != 0 {
                return gemm_by(out, w, k, xs, |r, x| $dot(r, x));
            }
            let Some(rows) = gemm_rows_or_dots(out, w, k, xs, |r, x| $dot(r, x)) else {
                return;
            };
            let n_tok = out.len().min(xs.len());
            let mut r0 = 0;
            while r0 < rows {
                let n_rows = ROWS.min(rows - r0);
                let mut t0 = 0;
                while t0 < n_tok {
                    let n_toks = TOKENS.min(n_tok - t0);
                    if n_rows == ROWS && n_toks == TOKENS {
                        $tile::<ROWS, TOKENS>(out, w, k, xs, r0, t0);
                    } else {
                        for r in r0..r0 + n_rows {
                            for t in t0..t0 + n_toks {
                                $tile::<1, 1>(out, w, k, xs, r, t);
                            }
                        }
                    }
                    t0 += n_toks;
                }
                r0 += n_rows;
            }
        }

        // Rows r0..r0 + R times tokens t0..t0 + T: every output one 8-lane accumulator.
        #[inline]
        #[target_feature(enable = "avx2,fma,f16c")]
        fn $tile<const R: usize, const T: usize>(
            out: &mut [&mut [f32]],
            w: &[$wty],
            k: usize,
            xs: &[&[f32]],
            r0: usize,
            t0: usize,
        ) {
            let row: [&[$wty]; R] = std::array::from_fn(|i| &w[(r0 + i) * k..(r0 + i + 1) * k]);
            let x: [&[f32]; T] = std::array::from_fn(|j| &xs[t0 + j][..k]);
            let mut acc = [[_mm256_setzero_ps(); R]; T];
            for l in (0..k).step_by(LANES) {
                let wv: [__m256; R] = std::array::from_fn(|i| {
                    let $pw = row[i][l..l + LANES].as_ptr();
                    // SAFETY: l + 8 <= k = row[i].len(), so 8 elements are in bounds.
                    unsafe { $load_w }
                });
                for (acc_t, x_t) in acc.iter_mut().zip(&x) {
                    let $px = x_t[l..l + LANES].as_ptr();
                    // SAFETY: l + 8 <= k = x_t.len().
                    let xv = unsafe { $load_x };
                    for (a, wv) in acc_t.iter_mut().zip(&wv) {
                        *a = _mm256_fmadd_ps(*wv, xv, *a);
                    }
                }
            }
            for (j, acc_t) in acc.iter().enumerate() {
                for (i, a) in acc_t.iter().enumerate() {
                    out[t0 + j][r0 + i] = hsum_f32x8(*a);
                }
            }
        }
    };
}

tinyblas_gemm!(
    gemm_f32_avx2,
    tile_f32,
    f32,
    dot_f32_avx2,
    |p| _mm256_loadu_ps(p),
    |p| _mm256_loadu_ps(p)
);
tinyblas_gemm!(
    gemm_f16_avx2,
    tile_f16,
    f16,
    dot_f16_f32_avx2,
    |p| _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)),
    // x through f16 and back, rounding to nearest even as ggml's conversion does.
    |p| _mm256_cvtph_ps(_mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(
        _mm256_loadu_ps(p)
    ))
);
tinyblas_gemm!(
    gemm_bf16_avx2,
    tile_bf16,
    bf16,
    dot_bf16_f32_avx2,
    |p| load_bf16(p),
    |p| round_to_bf16(_mm256_loadu_ps(p))
);
