//! AVX2 + FMA + F16C kernels, the twins of `generic` (same signatures, same length rules).
//!
//! Each kernel is an `unsafe #[target_feature]` function behind a safe wrapper; the
//! wrappers are reachable only through the table [`kernels`] returns, which it returns only
//! after `is_x86_feature_detected!` confirmed avx2, fma and f16c.
//!
//! Agreement with `generic` (tested in tests/kernels_generic.rs):
//! - quantizers: bit-identical (same f32 amax, d, id and product; `_mm256_round_ps` with
//!   round-to-nearest is ties-to-even like `f32::round_ties_even`).
//! - quantized dots: the per-block integer sums are identical; the f32 accumulation is the one
//!   llama.cpp's AVX2 build uses for the type, so results differ from generic by f32 rounding
//!   only and from llama.cpp not at all: Q8_0 and Q4_1 as `vec_dot` (8 lanes,
//!   `fma(d_w * d_x, lane_sum, acc)`, then a horizontal sum), Q4_0 as the repacked
//!   gemv/gemm (`fma(block_sum, d_w * d_x, acc)`, block after block).
//! - float dots: ggml_vec_dot_f32/f16's 4 x 8 lanes of fma accumulators, its reduction order,
//!   the tail in f64.
//! - SwiGLU: bit-identical (`generic::expf_ggml` on 8 lanes).
//!
//! Domain: q8 values in [-127, 127] (what every quantizer produces; `_mm256_sign_epi8` cannot
//! negate -128, exactly as in ggml).

use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::{generic, Kernels};
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};
use half::{bf16, f16};
use std::arch::x86_64::*;

/// The AVX2 table, or None when this CPU lacks AVX2, FMA or F16C.
pub fn kernels() -> Option<Kernels> {
    if !(is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c"))
    {
        return None;
    }
    Some(Kernels {
        quantize_q8_0,
        quantize_q8_1,
        dot_q4_0_q8_0,
        dot_q4_1_q8_1,
        dot_q8_0_q8_0,
        dot_f32,
        dot_f16_f32,
        dot_bf16_f32,
        matvec_q4_0,
        matvec_q4_1,
        matvec_q8_0,
        matvec_f32,
        matvec_f16,
        matvec_bf16,
        swiglu,
        ..Kernels::scalar().named("avx2")
    })
}

safe_entry! {
    fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) => quantize_q8_0_avx2;
    fn quantize_q8_1(x: &[f32], out: &mut [BlockQ8_1]) => quantize_q8_1_avx2;
    fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 => dot_q4_0_q8_0_avx2;
    fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 => dot_q4_1_q8_1_avx2;
    fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 => dot_q8_0_q8_0_avx2;
    fn dot_f32(w: &[f32], x: &[f32]) -> f32 => dot_f32_avx2;
    fn dot_f16_f32(w: &[f16], x: &[f32]) -> f32 => dot_f16_f32_avx2;
    fn dot_bf16_f32(w: &[bf16], x: &[f32]) -> f32 => dot_bf16_f32_avx2;
    fn matvec_q4_0(out: &mut [f32], w: &[BlockQ4_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q4_0_avx2;
    fn matvec_q4_1(out: &mut [f32], w: &[BlockQ4_1], row_len: usize, x: &[BlockQ8_1]) => matvec_q4_1_avx2;
    fn matvec_q8_0(out: &mut [f32], w: &[BlockQ8_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q8_0_avx2;
    fn matvec_f32(out: &mut [f32], w: &[f32], row_len: usize, x: &[f32]) => matvec_f32_avx2;
    fn matvec_f16(out: &mut [f32], w: &[f16], row_len: usize, x: &[f32]) => matvec_f16_avx2;
    fn matvec_bf16(out: &mut [f32], w: &[bf16], row_len: usize, x: &[f32]) => matvec_bf16_avx2;
    fn swiglu(gate: &mut [f32], up: &[f32]) => swiglu_avx2;
}

row_loop!(
    matvec_q4_1_avx2,
    BlockQ4_1,
    BlockQ8_1,
    dot_q4_1_q8_1_avx2,
    "avx2,fma,f16c"
);
row_loop!(
    matvec_q8_0_avx2,
    BlockQ8_0,
    BlockQ8_0,
    dot_q8_0_q8_0_avx2,
    "avx2,fma,f16c"
);
row_loop!(matvec_f32_avx2, f32, f32, dot_f32_avx2, "avx2,fma,f16c");
row_loop!(matvec_f16_avx2, f16, f32, dot_f16_f32_avx2, "avx2,fma,f16c");
row_loop!(
    matvec_bf16_avx2,
    bf16,
    f32,
    dot_bf16_f32_avx2,
    "avx2,fma,f16c"
);

/// f16 -> f32 exactly (F16C).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_to_f32(h: f16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h.to_bits() as i32)))
}

/// Sum of the 8 lanes: (hi + lo) pairwise, as ggml's hsum_float_8.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_f32x8(v: __m256) -> f32 {
    let s4 = _mm_add_ps(_mm256_extractf128_ps::<1>(v), _mm256_castps256_ps128(v));
    let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    let s1 = _mm_add_ss(s2, _mm_movehdup_ps(s2));
    _mm_cvtss_f32(s1)
}

/// Sum of the 8 i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_i32x8(v: __m256i) -> i32 {
    let s4 = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
    let s1 = _mm_add_epi32(s2, _mm_shuffle_epi32::<0b10_11_00_01>(s2));
    _mm_cvtsi128_si32(s1)
}

/// One full block of 32 activations -> (d, the 32 rounded products as 4 x 8 i32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_block(xb: &[f32; QK]) -> (f32, [__m256i; 4]) {
    // SAFETY: xb has 32 f32; each load reads 8 of them at offsets 0, 8, 16, 24.
    let v = unsafe {
        [
            _mm256_loadu_ps(xb.as_ptr()),
            _mm256_loadu_ps(xb.as_ptr().add(8)),
            _mm256_loadu_ps(xb.as_ptr().add(16)),
            _mm256_loadu_ps(xb.as_ptr().add(24)),
        ]
    };
    let sign = _mm256_set1_ps(-0.0);
    let mut amax = _mm256_andnot_ps(sign, v[0]);
    for vi in &v[1..] {
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, *vi));
    }
    let m4 = _mm_max_ps(
        _mm256_extractf128_ps::<1>(amax),
        _mm256_castps256_ps128(amax),
    );
    let m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    let m1 = _mm_max_ss(m2, _mm_movehdup_ps(m2));
    let amax = _mm_cvtss_f32(m1);
    let d = amax / 127.0;
    let id = _mm256_set1_ps(generic::activation_inverse_scale(amax));
    const NEAREST_EVEN: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    let q = v.map(|vi| _mm256_cvtps_epi32(_mm256_round_ps::<NEAREST_EVEN>(_mm256_mul_ps(vi, id))));
    (d, q)
}

/// 4 x 8 i32 (each in [-127, 127]) -> 32 i8 in order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn pack_i8(q: [__m256i; 4], out: &mut [i8; QK]) {
    let a = _mm256_packs_epi32(q[0], q[1]); // 0-3 8-11 4-7 12-15 (16-bit)
    let b = _mm256_packs_epi32(q[2], q[3]); // 16-19 24-27 20-23 28-31
    let ab = _mm256_packs_epi16(a, b); // 0-3 8-11 16-19 24-27 4-7 12-15 20-23 28-31
    let ordered = _mm256_permutevar8x32_epi32(ab, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    // SAFETY: out has exactly 32 bytes.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, ordered) }
}

// x (n) -> out (ceil(n/32)); ggml quantize_row_q8_0 (AVX2 path).
#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_q8_0_avx2(x: &[f32], out: &mut [BlockQ8_0]) {
    let full_block = |xb: &[f32; QK], block: &mut BlockQ8_0| {
        let (d, q) = quantize_block(xb);
        block.d = f16::from_f32(d);
        pack_i8(q, &mut block.qs);
    };
    generic::quantize_blocks_by(x, out, full_block, generic::quantize_q8_0);
}

// x (n) -> out (ceil(n/32)); ggml quantize_row_q8_1 (AVX2 path).
#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_q8_1_avx2(x: &[f32], out: &mut [BlockQ8_1]) {
    let full_block = |xb: &[f32; QK], block: &mut BlockQ8_1| {
        let (d, q) = quantize_block(xb);
        let sum = hsum_i32x8(_mm256_add_epi32(
            _mm256_add_epi32(q[0], q[1]),
            _mm256_add_epi32(q[2], q[3]),
        ));
        block.d = f16::from_f32(d);
        block.s = f16::from_f32(d * sum as f32);
        pack_i8(q, &mut block.qs);
    };
    generic::quantize_blocks_by(x, out, full_block, generic::quantize_q8_1);
}

/// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..16), then high (16..32).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn unpack_nibbles(qs: &[u8; QK / 2]) -> __m256i {
    // SAFETY: qs has exactly 16 bytes.
    let lo = unsafe { _mm_loadu_si128(qs.as_ptr() as *const __m128i) };
    let hi = _mm_srli_epi16::<4>(lo);
    _mm256_and_si256(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(0x0F))
}

/// 32 i8 of a q8 block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_q8(qs: &[i8; QK]) -> __m256i {
    // SAFETY: qs has exactly 32 bytes.
    unsafe { _mm256_loadu_si256(qs.as_ptr() as *const __m256i) }
}

/// Signed x (i8, not -128) times y (i8), summed in i32 lanes of 4 products, as f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn mul_sum_i8_f32(x: __m256i, y: __m256i) -> __m256 {
    let ax = _mm256_sign_epi8(x, x);
    let sy = _mm256_sign_epi8(y, x);
    mul_sum_u8_i8_f32(ax, sy)
}

/// Unsigned x (u8 <= 127) times signed y (i8), summed in i32 lanes of 4 products, as f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn mul_sum_u8_i8_f32(x: __m256i, y: __m256i) -> __m256 {
    _mm256_cvtepi32_ps(mul_sum_u8_i8_i32(x, y))
}

/// Unsigned x (u8 <= 127) times signed y (i8), summed in i32 lanes of 4 products.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn mul_sum_u8_i8_i32(x: __m256i, y: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1))
}

/// 8 * (sum of the 32 i8 of a q8 block): what the Q4_0 offset of 8 takes from a dot with the
/// raw nibbles, sum((n - 8) y) = sum(n y) - 8 sum(y), exactly in integers.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_0_offset_sum(qy: __m256i) -> i32 {
    8 * hsum_i32x8(mul_sum_u8_i8_i32(_mm256_set1_epi8(1), qy))
}

/// Lane j of the result is the sum of the 8 lanes of v[j].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_i32x8_8(v: &[__m256i; 8]) -> __m256i {
    let s01 = _mm256_hadd_epi32(v[0], v[1]);
    let s23 = _mm256_hadd_epi32(v[2], v[3]);
    let s45 = _mm256_hadd_epi32(v[4], v[5]);
    let s67 = _mm256_hadd_epi32(v[6], v[7]);
    // halves of rows 0-3 and of rows 4-7, low 128 bits then high
    let s0123 = _mm256_hadd_epi32(s01, s23);
    let s4567 = _mm256_hadd_epi32(s45, s67);
    _mm256_add_epi32(
        _mm256_permute2x128_si256::<0x20>(s0123, s4567),
        _mm256_permute2x128_si256::<0x31>(s0123, s4567),
    )
}

// w (nb) . x (nb) -> f32. ggml's AVX2 builds repack Q4_0 matrices and multiply them with
// ggml_gemv/gemm_q4_0_8x8_q8_0, which add whole blocks in order:
// acc = fma(sum_i(w_i * x_i), d_w * d_x, acc). This follows that order, not vec_dot's lanes.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q4_0_q8_0_avx2(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    let mut acc = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let qy = load_q8(&b.qs);
        let isum = hsum_i32x8(mul_sum_u8_i8_i32(unpack_nibbles(&a.qs), qy)) - q4_0_offset_sum(qy);
        acc = (isum as f32).mul_add(f16_to_f32(a.d) * f16_to_f32(b.d), acc);
    }
    acc
}

// w (rows, nb) @ x (nb) -> out (rows): eight rows at a time (lane j = row j), each row with
// exactly the arithmetic of `dot_q4_0_q8_0_avx2`; leftover rows through that dot.
#[target_feature(enable = "avx2,fma,f16c")]
fn matvec_q4_0_avx2(out: &mut [f32], w: &[BlockQ4_0], nb: usize, x: &[BlockQ8_0]) {
    if nb == 0 {
        out.fill(0.0);
        return;
    }
    let rows = out.len().min(w.len() / nb);
    let x = &x[..nb.min(x.len())];
    let (groups, rest) = out[..rows].split_at_mut(rows - rows % 8);
    for (g, out8) in groups.chunks_exact_mut(8).enumerate() {
        let w8 = &w[g * 8 * nb..(g + 1) * 8 * nb];
        let mut acc = _mm256_setzero_ps();
        for (b, xb) in x.iter().enumerate() {
            let qy = load_q8(&xb.qs);
            let offset = _mm256_set1_epi32(q4_0_offset_sum(qy));
            let row_block = |j: usize| &w8[j * nb + b];
            let sums: [__m256i; 8] =
                std::array::from_fn(|j| mul_sum_u8_i8_i32(unpack_nibbles(&row_block(j).qs), qy));
            let isum = _mm256_cvtepi32_ps(_mm256_sub_epi32(hsum_i32x8_8(&sums), offset));
            let dw_bits: [u16; 8] = std::array::from_fn(|j| row_block(j).d.to_bits());
            // SAFETY: dw_bits is 8 u16 = 16 bytes.
            let dw =
                _mm256_cvtph_ps(unsafe { _mm_loadu_si128(dw_bits.as_ptr() as *const __m128i) });
            let d = _mm256_mul_ps(dw, _mm256_set1_ps(f16_to_f32(xb.d)));
            acc = _mm256_fmadd_ps(isum, d, acc);
        }
        // SAFETY: out8 has exactly 8 f32.
        unsafe { _mm256_storeu_ps(out8.as_mut_ptr(), acc) };
    }
    let first = rows - rest.len();
    for (r, o) in rest.iter_mut().enumerate() {
        let row = first + r;
        *o = dot_q4_0_q8_0_avx2(&w[row * nb..(row + 1) * nb], x);
    }
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q4_1_q8_1 (AVX2 path): lanes + sum of m * s.
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q4_1_q8_1_avx2(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        summs += f16_to_f32(a.m) * f16_to_f32(b.s);
        let d = _mm256_set1_ps(f16_to_f32(a.d) * f16_to_f32(b.d));
        let q = mul_sum_u8_i8_f32(unpack_nibbles(&a.qs), load_q8(&b.qs));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum_f32x8(acc) + summs
}

// w (nb) . x (nb) -> f32; ggml_vec_dot_q8_0_q8_0 (AVX2 path).
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_q8_0_q8_0_avx2(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (a, b) in w.iter().zip(x) {
        let d = _mm256_set1_ps(f16_to_f32(a.d) * f16_to_f32(b.d));
        let q = mul_sum_i8_f32(load_q8(&a.qs), load_q8(&b.qs));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum_f32x8(acc)
}

/// Sum of the 8 lanes in the order of ggml's `GGML_F32x8_REDUCE`: (lo + hi), then two
/// horizontal adds, ((0+4) + (1+5)) + ((2+6) + (3+7)).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_f32x8_hadd(v: __m256) -> f32 {
    let s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s2 = _mm_hadd_ps(s4, s4);
    _mm_cvtss_f32(_mm_hadd_ps(s2, s2))
}

/// The float dots as ggml_vec_dot_f32 / ggml_vec_dot_f16 compute them: 4 x 8 lanes of fma
/// accumulators over chunks of 32, reduced as (a0 + a2) + (a1 + a3) then across lanes; the
/// tail (n % 32) is added in f64, one product at a time, and the sum rounded to f32 last.
/// `load_w(i)` gives 8 weights as f32 starting at element i (< n - 7).
macro_rules! float_dot {
    ($name:ident, $wty:ty, |$w:ident, $i:ident| $load:expr, $widen:expr) => {
        #[target_feature(enable = "avx2,fma,f16c")]
        fn $name($w: &[$wty], x: &[f32]) -> f32 {
            let n = $w.len().min(x.len());
            let (wp, xp) = (&$w[..n], &x[..n]);
            let load_x = |i: usize| {
                // SAFETY: callers pass i + 8 <= n = xp.len().
                unsafe { _mm256_loadu_ps(xp.as_ptr().add(i)) }
            };
            let load_w = |$i: usize| {
                let $w = wp;
                // SAFETY: callers pass i + 8 <= n = wp.len().
                unsafe { $load }
            };
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut i = 0;
            while i + 32 <= n {
                for (j, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(load_w(i + 8 * j), load_x(i + 8 * j), *a);
                }
                i += 32;
            }
            let sum4 = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
            let mut sum = hsum_f32x8_hadd(sum4) as f64;
            let widen = $widen;
            for (a, b) in wp[i..].iter().zip(&xp[i..]) {
                sum += (widen(*a) * b) as f64;
            }
            sum as f32
        }
    };
}

float_dot!(
    dot_f32_avx2,
    f32,
    |w, i| _mm256_loadu_ps(w.as_ptr().add(i)),
    |v: f32| v
);
float_dot!(
    dot_f16_f32_avx2,
    f16,
    |w, i| _mm256_cvtph_ps(_mm_loadu_si128(w.as_ptr().add(i) as *const __m128i)),
    |v: f16| v.to_f32()
);
float_dot!(
    dot_bf16_f32_avx2,
    bf16,
    |w, i| {
        let raw = _mm_loadu_si128(w.as_ptr().add(i) as *const __m128i);
        _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(raw)))
    },
    generic::bf16_to_f32
);

/// `generic::expf_ggml` on 8 lanes, operation for operation.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn expf_ggml_x8(x: __m256) -> __m256 {
    use generic::expf_ggml_constants::*;
    let shift = _mm256_set1_ps(SHIFT);
    let z = _mm256_fmadd_ps(x, _mm256_set1_ps(LOG2E), shift);
    let n = _mm256_sub_ps(z, shift);
    let b = _mm256_fnmadd_ps(
        n,
        _mm256_set1_ps(LN2_LO),
        _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x),
    );
    let e = _mm256_slli_epi32::<23>(_mm256_castps_si256(z));
    let k = _mm256_castsi256_ps(_mm256_add_epi32(
        e,
        _mm256_set1_epi32(1.0f32.to_bits() as i32),
    ));
    let c = |i: usize| _mm256_set1_ps(C[i]);
    let u = _mm256_mul_ps(b, b);
    let j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(
            _mm256_fmadd_ps(c(4), b, c(3)),
            u,
            _mm256_fmadd_ps(c(2), b, c(1)),
        ),
        u,
        _mm256_mul_ps(c(0), b),
    );
    let abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0), n);
    let big = _mm256_cmp_ps::<_CMP_GT_OQ>(abs_n, _mm256_set1_ps(126.0));
    let scaled = _mm256_fmadd_ps(j, k, k);
    if _mm256_movemask_ps(big) == 0 {
        return scaled;
    }
    // |n| > 126: 2^n as s1 * s2 (s1 * s1 beyond 192), as in generic::expf_ggml.
    let g = _mm256_and_si256(
        _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LE_OQ>(n, _mm256_setzero_ps())),
        _mm256_set1_epi32(0x8200_0000u32 as i32),
    );
    let s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f00_0000)));
    let s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    let huge = _mm256_cmp_ps::<_CMP_GT_OQ>(abs_n, _mm256_set1_ps(192.0));
    let split = _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1);
    let mid = _mm256_blendv_ps(scaled, split, big);
    _mm256_blendv_ps(mid, _mm256_mul_ps(s1, s1), huge)
}

// gate (n), up (n) -> gate (n); ggml_vec_swiglu_f32 (AVX2 path), tail as generic::swiglu.
#[target_feature(enable = "avx2,fma,f16c")]
fn swiglu_avx2(gate: &mut [f32], up: &[f32]) {
    let n = gate.len().min(up.len());
    let simd = n - n % generic::SWIGLU_LANES;
    let one = _mm256_set1_ps(1.0);
    for i in (0..simd).step_by(8) {
        // SAFETY: i + 8 <= simd <= n, the length of both slices' prefixes used here.
        unsafe {
            let g = _mm256_loadu_ps(gate.as_ptr().add(i));
            let u = _mm256_loadu_ps(up.as_ptr().add(i));
            let e = expf_ggml_x8(_mm256_sub_ps(_mm256_setzero_ps(), g));
            let silu = _mm256_div_ps(g, _mm256_add_ps(one, e));
            _mm256_storeu_ps(gate.as_mut_ptr().add(i), _mm256_mul_ps(silu, u));
        }
    }
    generic::swiglu(&mut gate[simd..n], &up[simd..n]);
}
