//! Portable scalar kernels: the reference every SIMD kernel is tested against (DESIGN
//! convention 4). The arithmetic follows ggml so results agree with llama.cpp to rounding:
//! integer sums within a block, f32 scaling and accumulation in ggml's order.
//!
//! Length conventions (no kernel panics on them): dot products run over the shorter of the
//! two inputs; quantizers write `min(out.len(), ceil(x.len() / 32))` blocks and treat the
//! missing tail of a partial last block as zeros; matvec loops write
//! `min(out.len(), w.len() / row_len)` rows.

use super::{MatData, Matrix};
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};
use half::{bf16, f16};

/// One block of up to 32 activations quantized to 8 bits, the way ggml's AVX2/NEON
/// `quantize_row_q8_0`/`quantize_row_q8_1` do it: amax = max |x|, d = amax / 127 (f32, stored
/// as f16 round-to-nearest-even), id = 127 / amax (from the f32 amax, not from the rounded d),
/// q = round_half_to_even(x * id) saturated to i8. Returns (d, q, sum of q).
///
/// One deliberate difference from ggml x86: when 127 / amax overflows to infinity (amax below
/// about 7.5e-37, where d rounds to 0 in f16 anyway and the block contributes nothing), id is
/// 0 and all q are 0, instead of the x86 conversion's -128 for infinite products.
/// Inputs must be finite (NaN-free).
#[inline(always)]
pub fn quantize_block_q8(x: &[f32]) -> (f32, [i8; QK], i32) {
    let mut amax = 0.0f32;
    for &v in x.iter().take(QK) {
        amax = amax.max(v.abs());
    }
    let d = amax / 127.0;
    let id = activation_inverse_scale(amax);
    let mut qs = [0i8; QK];
    let mut sum = 0i32;
    for (q, &v) in qs.iter_mut().zip(x) {
        // `as i8` saturates; |v * id| <= 127 up to rounding for finite inputs.
        *q = (v * id).round_ties_even() as i8;
        sum += *q as i32;
    }
    (d, qs, sum)
}

/// 127 / amax, or 0 when amax is 0 or the quotient is not finite (see `quantize_block_q8`).
#[inline(always)]
pub fn activation_inverse_scale(amax: f32) -> f32 {
    if amax == 0.0 {
        return 0.0;
    }
    let id = 127.0 / amax;
    if id.is_finite() {
        id
    } else {
        0.0
    }
}

/// The block loop of the SIMD activation quantizers: x (n) -> out (ceil(n / 32) blocks), each
/// whole block of 32 by `full_block`, the rest (a partial last block) by the generic `tail`.
/// `#[inline(always)]` so that `full_block` inlines under the caller's `#[target_feature]`.
#[inline(always)]
pub fn quantize_blocks_by<B>(
    x: &[f32],
    out: &mut [B],
    mut full_block: impl FnMut(&[f32; QK], &mut B),
    tail: fn(&[f32], &mut [B]),
) {
    let full = (x.len() / QK).min(out.len());
    for (block, xb) in out[..full].iter_mut().zip(x.chunks_exact(QK)) {
        let Ok(xb) = <&[f32; QK]>::try_from(xb) else {
            continue;
        };
        full_block(xb, block);
    }
    tail(&x[full * QK..], &mut out[full..]);
}

/// x (n) -> out (ceil(n / 32) blocks). Activation quantizer, ties to even (ggml SIMD
/// quantize_row_q8_0).
pub fn quantize_q8_0(x: &[f32], out: &mut [BlockQ8_0]) {
    for (block, xb) in out.iter_mut().zip(x.chunks(QK)) {
        let (d, qs, _) = quantize_block_q8(xb);
        *block = BlockQ8_0 {
            d: f16::from_f32(d),
            qs,
        };
    }
}

/// x (n) -> out (ceil(n / 32) blocks). Activation quantizer, ties to even, with
/// s = f16(d * sum(q)) computed from the f32 d (ggml SIMD quantize_row_q8_1).
pub fn quantize_q8_1(x: &[f32], out: &mut [BlockQ8_1]) {
    for (block, xb) in out.iter_mut().zip(x.chunks(QK)) {
        let (d, qs, sum) = quantize_block_q8(xb);
        *block = BlockQ8_1 {
            d: f16::from_f32(d),
            s: f16::from_f32(d * sum as f32),
            qs,
        };
    }
}

/// Signed 4-bit value j of a Q4_0 block (element j in the low nibble of byte j, element
/// j + 16 in the high nibble), minus the offset 8.
#[inline(always)]
fn nibbles(qs: &[u8; QK / 2]) -> ([i32; QK / 2], [i32; QK / 2]) {
    let mut lo = [0i32; QK / 2];
    let mut hi = [0i32; QK / 2];
    for j in 0..QK / 2 {
        lo[j] = (qs[j] & 0x0F) as i32;
        hi[j] = (qs[j] >> 4) as i32;
    }
    (lo, hi)
}

/// w (nb blocks) . x (nb blocks) -> f32. ggml_vec_dot_q4_0_q8_0 (generic): per block
/// sumi = sum (q - 8) * y in i32, then sumf += sumi * d_w * d_x (left to right) in f32.
pub fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let (lo, hi) = nibbles(&a.qs);
        let mut sumi = 0i32;
        for j in 0..QK / 2 {
            sumi += (lo[j] - 8) * b.qs[j] as i32;
            sumi += (hi[j] - 8) * b.qs[j + QK / 2] as i32;
        }
        sumf = scale_q4_0(sumf, sumi, a, b);
    }
    sumf
}

/// w (nb blocks) . x (nb blocks) -> f32. ggml_vec_dot_q4_1_q8_1 (generic): per block
/// sumf += (d_w * d_x) * sumi + m_w * s_x in f32.
pub fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let (lo, hi) = nibbles(&a.qs);
        let mut sumi = 0i32;
        for j in 0..QK / 2 {
            sumi += lo[j] * b.qs[j] as i32;
            sumi += hi[j] * b.qs[j + QK / 2] as i32;
        }
        sumf = scale_q4_1(sumf, sumi, a, b);
    }
    sumf
}

/// w (nb blocks) . x (nb blocks) -> f32. ggml_vec_dot_q8_0_q8_0 (generic): per block
/// sumf += sumi * (d_w * d_x) in f32.
pub fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        let mut sumi = 0i32;
        for j in 0..QK {
            sumi += a.qs[j] as i32 * b.qs[j] as i32;
        }
        sumf = scale_q8_0(sumf, sumi, a, b);
    }
    sumf
}

/// The f32 scaling of one block's exact integer sum `sumi` into the running sum, in ggml's
/// generic order; every kernel that reduces a block to its i32 sum first scales with these.
#[inline(always)]
pub fn scale_q4_0(sumf: f32, sumi: i32, a: &BlockQ4_0, b: &BlockQ8_0) -> f32 {
    sumf + sumi as f32 * a.d.to_f32() * b.d.to_f32()
}
#[inline(always)]
pub fn scale_q4_1(sumf: f32, sumi: i32, a: &BlockQ4_1, b: &BlockQ8_1) -> f32 {
    sumf + ((a.d.to_f32() * b.d.to_f32()) * sumi as f32 + a.m.to_f32() * b.s.to_f32())
}
#[inline(always)]
pub fn scale_q8_0(sumf: f32, sumi: i32, a: &BlockQ8_0, b: &BlockQ8_0) -> f32 {
    sumf + sumi as f32 * (a.d.to_f32() * b.d.to_f32())
}

/// w (n) . x (n) -> f32, accumulated left to right in f32.
pub fn dot_f32(w: &[f32], x: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        sum += a * b;
    }
    sum
}

/// w (n, f16) . x (n) -> f32: each weight widened exactly to f32, accumulated left to right.
pub fn dot_f16_f32(w: &[f16], x: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        sum += a.to_f32() * b;
    }
    sum
}

/// w (n, bf16) . x (n) -> f32: each weight widened exactly to f32, accumulated left to right.
pub fn dot_bf16_f32(w: &[bf16], x: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    for (a, b) in w.iter().zip(x) {
        sum += bf16_to_f32(*a) * b;
    }
    sum
}

/// bf16 -> f32 is exact: the bf16 bits are the top half of the f32.
#[inline(always)]
pub fn bf16_to_f32(v: bf16) -> f32 {
    f32::from_bits((v.to_bits() as u32) << 16)
}

/// Lanes of ggml's SIMD SwiGLU loop; the last n % 8 elements use libm's expf, as there.
pub const SWIGLU_LANES: usize = 8;

/// The constants of [`expf_ggml`], shared with its SIMD twins.
pub mod expf_ggml_constants {
    /// 0x1.8p23: adding it rounds an f32 below 2^22 in magnitude to an integer.
    pub const SHIFT: f32 = 12582912.0;
    /// 0x1.715476p+0 = 1 / ln 2
    pub const LOG2E: f32 = f32::from_bits(0x3fb8_aa3b);
    /// ln 2 = LN2_HI + LN2_LO: 0x1.62e4p-1 and 0x1.7f7d1cp-20.
    pub const LN2_HI: f32 = f32::from_bits(0x3f31_7200);
    pub const LN2_LO: f32 = f32::from_bits(0x35bf_be8e);
    /// e^b - 1 ~ C0 b + C1 b^2 + C2 b^3 + C3 b^4 + C4 b^5 on |b| <= ln2 / 2:
    /// 0x1.ffffecp-1, 0x1.fffdb6p-2, 0x1.555e66p-3, 0x1.573e2ep-5, 0x1.0e4020p-7.
    pub const C: [f32; 5] = [
        f32::from_bits(0x3f7f_fff6),
        f32::from_bits(0x3eff_fedb),
        f32::from_bits(0x3e2a_af33),
        f32::from_bits(0x3d2b_9f17),
        f32::from_bits(0x3c07_2010),
    ];
}

/// e^x as ggml's SIMD `ggml_v_expf` computes it on x86 (the Arm optimized-routines
/// algorithm, about 1.5 ulp): x = n ln2 + b with n = round(x / ln2), e^b by a degree-5
/// polynomial, scaled by 2^n through the exponent bits; 2^n is split in two factors when
/// |n| > 126 so that the result underflows or overflows gradually, as expf does.
/// Every step is one f32 operation or one fused multiply-add, in the same order as there.
pub fn expf_ggml(x: f32) -> f32 {
    use expf_ggml_constants::*;
    let z = x.mul_add(LOG2E, SHIFT);
    let n = z - SHIFT;
    let b = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, x));
    let e = z.to_bits() << 23;
    let k = f32::from_bits(e.wrapping_add(1.0f32.to_bits()));
    let u = b * b;
    let j = C[4]
        .mul_add(b, C[3])
        .mul_add(u, C[2].mul_add(b, C[1]))
        .mul_add(u, C[0] * b);
    // Written as the SIMD comparison (false for NaN), so that NaN takes the same branch.
    let beyond_126 = n.abs() > 126.0;
    if !beyond_126 {
        return j.mul_add(k, k);
    }
    let g = if n <= 0.0 { 0x8200_0000u32 } else { 0 };
    let s1 = f32::from_bits(g.wrapping_add(0x7f00_0000));
    let s2 = f32::from_bits(e.wrapping_sub(g));
    if n.abs() > 192.0 {
        s1 * s1
    } else {
        s2.mul_add(j, s2) * s1
    }
}

/// SwiGLU in place as ggml_vec_swiglu_f32 computes it: gate = silu(gate) * up with
/// silu(g) = g / (1 + e^-g), e^-g by [`expf_ggml`] on whole groups of 8 and by libm's expf on
/// the tail.
// gate (n), up (n) -> gate (n)
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    let n = gate.len().min(up.len());
    let simd = n - n % SWIGLU_LANES;
    for (i, (g, &u)) in gate.iter_mut().zip(up).enumerate() {
        let v = *g;
        let e = if i < simd { expf_ggml(-v) } else { (-v).exp() };
        *g = v / (1.0 + e) * u;
    }
}

/// The row loop every ISA shares: out[r] = dot(w row r, x) for w (rows, row_len) stored
/// row-major, rows = min(out.len(), w.len() / row_len). `#[inline(always)]` so that each ISA's
/// `#[target_feature]` matvec inlines its own dot product here.
#[inline(always)]
pub fn rows_by<W, X>(
    out: &mut [f32],
    w: &[W],
    row_len: usize,
    x: &[X],
    dot: impl Fn(&[W], &[X]) -> f32,
) {
    if row_len == 0 {
        out.fill(0.0);
        return;
    }
    for (o, row) in out.iter_mut().zip(w.chunks_exact(row_len)) {
        *o = dot(row, x);
    }
}

// w (rows, nb blocks) @ x (nb blocks) -> out (rows), for each pair.
pub fn matvec_q4_0(out: &mut [f32], w: &[BlockQ4_0], row_len: usize, x: &[BlockQ8_0]) {
    rows_by(out, w, row_len, x, dot_q4_0_q8_0)
}
pub fn matvec_q4_1(out: &mut [f32], w: &[BlockQ4_1], row_len: usize, x: &[BlockQ8_1]) {
    rows_by(out, w, row_len, x, dot_q4_1_q8_1)
}
pub fn matvec_q8_0(out: &mut [f32], w: &[BlockQ8_0], row_len: usize, x: &[BlockQ8_0]) {
    rows_by(out, w, row_len, x, dot_q8_0_q8_0)
}
// w (rows, k) @ x (k) -> out (rows), for each float type.
pub fn matvec_f32(out: &mut [f32], w: &[f32], row_len: usize, x: &[f32]) {
    rows_by(out, w, row_len, x, dot_f32)
}
pub fn matvec_f16(out: &mut [f32], w: &[f16], row_len: usize, x: &[f32]) {
    rows_by(out, w, row_len, x, dot_f16_f32)
}
pub fn matvec_bf16(out: &mut [f32], w: &[bf16], row_len: usize, x: &[f32]) {
    rows_by(out, w, row_len, x, dot_bf16_f32)
}

/// Row `row` of w (rows, k) -> out (k), as f32 (embedding lookup). ggml dequantize_row_q4_0,
/// _q4_1, _q8_0: x = d * (q - 8), x = d * q + m, x = d * q, each in f32.
/// Writes min(out.len(), k) values; a row outside the matrix writes zeros (callers check
/// token ids before calling).
pub fn dequantize_row(w: &Matrix, row: usize, out: &mut [f32]) {
    let k = w.k.min(out.len());
    let out = &mut out[..k];
    let bs = w.data.ggml_type().block_size();
    let per_row = w.k / bs;
    let (a, b) = (
        row.saturating_mul(per_row),
        row.saturating_add(1).saturating_mul(per_row),
    );
    fn get<T>(s: &[T], a: usize, b: usize) -> &[T] {
        s.get(a..b).unwrap_or(&[])
    }
    out.fill(0.0);
    if row >= w.rows {
        return;
    }
    match w.data {
        MatData::F32(s) => {
            for (o, v) in out.iter_mut().zip(get(s, a, b)) {
                *o = *v;
            }
        }
        MatData::F16(s) => {
            for (o, v) in out.iter_mut().zip(get(s, a, b)) {
                *o = v.to_f32();
            }
        }
        MatData::BF16(s) => {
            for (o, v) in out.iter_mut().zip(get(s, a, b)) {
                *o = bf16_to_f32(*v);
            }
        }
        MatData::Q8_0(s) => {
            for (ob, blk) in out.chunks_mut(QK).zip(get(s, a, b)) {
                let d = blk.d.to_f32();
                for (o, q) in ob.iter_mut().zip(blk.qs) {
                    *o = q as f32 * d;
                }
            }
        }
        MatData::Q4_0(s) => {
            for (ob, blk) in out.chunks_mut(QK).zip(get(s, a, b)) {
                let d = blk.d.to_f32();
                let (lo, hi) = nibbles(&blk.qs);
                for (j, o) in ob.iter_mut().enumerate() {
                    let q = if j < QK / 2 { lo[j] } else { hi[j - QK / 2] };
                    *o = (q - 8) as f32 * d;
                }
            }
        }
        MatData::Q4_1(s) => {
            for (ob, blk) in out.chunks_mut(QK).zip(get(s, a, b)) {
                let (d, m) = (blk.d.to_f32(), blk.m.to_f32());
                let (lo, hi) = nibbles(&blk.qs);
                for (j, o) in ob.iter_mut().enumerate() {
                    let q = if j < QK / 2 { lo[j] } else { hi[j - QK / 2] };
                    *o = q as f32 * d + m;
                }
            }
        }
    }
}
