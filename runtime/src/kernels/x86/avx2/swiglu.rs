//! SwiGLU (ggml_vec_swiglu_f32, AVX2 path): bit-identical to `generic::swiglu`.

use crate::kernels::generic;
use crate::kernels::isa_glue::safe_entry;
use std::arch::x86_64::*;

safe_entry! {
    pub(super) fn swiglu(gate: &mut [f32], up: &[f32]) => swiglu_avx2;
}

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
