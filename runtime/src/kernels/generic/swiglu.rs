//! SwiGLU and the exponential ggml computes it with.

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
