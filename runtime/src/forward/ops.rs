//! Small f32 vector operations of the Llama block: RMSNorm, RoPE, softmax, residual (SwiGLU is
//! a kernel: `Kernels::swiglu`).
//! Each takes its output first and states its math in one line.

/// RMSNorm as ggml computes it (ggml_compute_forward_rms_norm_f32, then ggml_mul by the
/// weight): sum of squares of f32 products accumulated in f64, mean rounded to f32,
/// scale = 1 / sqrt(mean + eps) in f32, out = (x * scale) * w.
// x (n), w (n) -> out (n)
pub fn rms_norm(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    let mut sum = 0.0f64;
    for &v in x {
        sum += (v * v) as f64;
    }
    let mean = (sum / x.len().max(1) as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(w) {
        *o = (v * scale) * g;
    }
}

/// out += x
// x (n) -> out (n)
pub fn add_in_place(out: &mut [f32], x: &[f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o += v;
    }
}

/// Softmax in place with max subtraction: x_i = exp(x_i - max) / sum_j exp(x_j - max); the
/// sum is accumulated in f64 (as ggml_vec_soft_max_f32 does with ggml_float).
// x (n) -> x (n)
pub fn softmax_in_place(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // the exponentials first, then their sum in order: the same sum, without carrying it
    // across every exp call
    for v in x.iter_mut() {
        *v = (*v - max).exp();
    }
    let mut sum = 0.0f64;
    for &v in x.iter() {
        sum += v as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// cos/sin of every RoPE angle for positions 0..n_ctx, computed once (no powf/sin while
/// decoding). theta(pos, i) = pos * base^(-2i / n_rot) for the pair i < n_rot / 2, in f32 as
/// ggml's rope cache computes it: theta(pos, 0) = pos, then theta *= base^(-2 / n_rot) per pair,
/// cos and sin of the f32 angle. Matching ggml to the bit keeps greedy decoding on llama.cpp's
/// path; each step adds half an ulp of error, so pair i is within about i ulps of the exact
/// angle.
#[derive(Clone, Debug)]
pub struct RopeTable {
    /// Rotated dims per head (even).
    pub n_rot: usize,
    /// cos (n_ctx, n_rot / 2)
    pub cos: Vec<f32>,
    /// sin (n_ctx, n_rot / 2)
    pub sin: Vec<f32>,
}

impl RopeTable {
    pub fn new(n_ctx: usize, n_rot: usize, freq_base: f32) -> crate::Result<Self> {
        let half = n_rot / 2;
        let mut cos = crate::alloc::with_capacity("RoPE table", n_ctx.saturating_mul(half))?;
        let mut sin = crate::alloc::with_capacity("RoPE table", n_ctx.saturating_mul(half))?;
        let theta_scale = freq_base.powf(-2.0 / n_rot as f32);
        for pos in 0..n_ctx {
            let mut theta = pos as f32;
            for _ in 0..half {
                cos.push(theta.cos());
                sin.push(theta.sin());
                theta *= theta_scale;
            }
        }
        Ok(RopeTable { n_rot, cos, sin })
    }

    /// Bytes of both tables.
    pub fn n_bytes(&self) -> usize {
        (self.cos.len() + self.sin.len()) * 4
    }

    /// RoPE mode 0 ("normal", as llama.cpp applies it to GGUF's permuted Q/K): in every head
    /// of `x`, each adjacent pair (x[2i], x[2i+1]) with 2i < n_rot is rotated by theta(pos, i):
    /// (a, b) -> (a cos - b sin, a sin + b cos), the first product of each fused (as GCC
    /// contracts ggml's expression). Dims from n_rot on are left as they are.
    /// `pos` must be below the table's n_ctx (the session checks it).
    // x (n_heads * head_dim) -> x (n_heads * head_dim)
    pub fn apply(&self, x: &mut [f32], head_dim: usize, pos: usize) {
        let half = self.n_rot / 2;
        let start = pos * half;
        let (Some(cos), Some(sin)) = (
            self.cos.get(start..start + half),
            self.sin.get(start..start + half),
        ) else {
            return;
        };
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA (checked above).
            return unsafe { rotate_heads_fma(x, head_dim, self.n_rot, cos, sin) };
        }
        rotate_heads(x, head_dim, self.n_rot, cos, sin)
    }
}

/// [`rotate_heads`] with `mul_add` as one instruction (the baseline x86-64 build calls libm's
/// `fmaf`; both are the exact fused operation, so the bits are the same).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
fn rotate_heads_fma(x: &mut [f32], head_dim: usize, n_rot: usize, cos: &[f32], sin: &[f32]) {
    rotate_heads(x, head_dim, n_rot, cos, sin)
}

/// The rotation of [`RopeTable::apply`] with one position's cos and sin (n_rot / 2 each).
// x (n_heads * head_dim) -> x (n_heads * head_dim)
#[inline(always)]
fn rotate_heads(x: &mut [f32], head_dim: usize, n_rot: usize, cos: &[f32], sin: &[f32]) {
    for head in x.chunks_exact_mut(head_dim) {
        for ((pair, &c), &s) in head[..n_rot].chunks_exact_mut(2).zip(cos).zip(sin) {
            let (a, b) = (pair[0], pair[1]);
            pair[0] = a.mul_add(c, -(b * s));
            pair[1] = a.mul_add(s, b * c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_matches_formula() {
        let x = [1.0f32, -2.0, 3.0, 0.5];
        let w = [1.0f32, 2.0, 0.5, -1.0];
        let mut out = [0.0f32; 4];
        rms_norm(&mut out, &x, &w, 1e-5);
        let ms: f64 = (1.0 + 4.0 + 9.0 + 0.25) / 4.0;
        let s = 1.0 / (ms + 1e-5).sqrt();
        for i in 0..4 {
            let expect = x[i] as f64 * s * w[i] as f64;
            assert!(
                (out[i] as f64 - expect).abs() < 1e-6,
                "{i}: {} vs {expect}",
                out[i]
            );
        }
    }

    #[test]
    fn softmax_sums_to_one_and_survives_large_values() {
        let mut x = [1000.0f32, 1001.0, 999.0, f32::NEG_INFINITY];
        softmax_in_place(&mut x);
        let sum: f32 = x.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        assert_eq!(x[3], 0.0);
        let e = [(-1.0f64).exp(), 1.0, (-2.0f64).exp()];
        let t: f64 = e.iter().sum();
        for i in 0..3 {
            assert!((x[i] as f64 - e[i] / t).abs() < 1e-6);
        }
    }

    #[test]
    fn rope_rotates_adjacent_pairs_by_the_table_angles() {
        let (n_rot, head_dim, base) = (4, 6, 10000.0f32);
        let table = RopeTable::new(8, n_rot, base).unwrap();
        let pos = 5;
        let orig: Vec<f32> = (0..12).map(|i| i as f32 * 0.25 - 1.0).collect();
        let mut x = orig.clone();
        table.apply(&mut x, head_dim, pos);
        for h in 0..2 {
            for i in 0..n_rot / 2 {
                let theta = pos as f64 * (base as f64).powf(-2.0 * i as f64 / n_rot as f64);
                let (a, b) = (orig[h * 6 + 2 * i] as f64, orig[h * 6 + 2 * i + 1] as f64);
                let ea = a * theta.cos() - b * theta.sin();
                let eb = a * theta.sin() + b * theta.cos();
                assert!((x[h * 6 + 2 * i] as f64 - ea).abs() < 1e-5);
                assert!((x[h * 6 + 2 * i + 1] as f64 - eb).abs() < 1e-5);
            }
            // dims past n_rot are untouched
            assert_eq!(x[h * 6 + 4], orig[h * 6 + 4]);
            assert_eq!(x[h * 6 + 5], orig[h * 6 + 5]);
        }
        // position 0 is the identity
        let mut y = orig.clone();
        table.apply(&mut y, head_dim, 0);
        assert_eq!(y, orig);
    }
}
