//! Attention over an f16 KV cache in the arithmetic of ggml's tiled CPU flash attention
//! (`ggml_compute_forward_flash_attn_ext_tiled`, llama.cpp's path for a batch of 64 or more
//! tokens): f32 arithmetic on the keys and values widened to f32 (exact), the query as it is
//! (not rounded to f16), and the keys in tiles of [`FA_TILE_KV`] positions counted from 0.
//!
//! For one query at position `pos` (keys 0..=pos), with M = -inf, S = 0 and acc = 0 (hd):
//! per tile of keys t0..t0 + 64 (those above `pos` masked to -inf):
//! - s_t = fma-chain(q, k_t) * scale, the dot taken in dimension order as one fused
//!   multiply-add chain from 0 (ggml's `simd_gemm`, one output per lane);
//! - M' = max(M, max_t s_t); if M' > M: r = expf(M - M') (libm), acc *= r, S *= r;
//! - p_t = [`exp_ggml`](s_t - M') (ggml's AVX2 vector expf; 0 for a masked key);
//! - S = f32(f64(S) + sum of the tile's groups of eight), each group's eight p summed as
//!   ((p0 + p4) + (p2 + p6)) + ((p1 + p5) + (p3 + p7)) in f32 and the groups added in f64
//!   (`ggml_vec_soft_max_f32` on AVX2);
//! - acc_j = fma(p_t, v_tj, acc_j) over the tile's keys in order.
//!
//! and out = acc * (1 / S). Every ISA's entry gives these bits.

use half::f16;

/// Key/value positions of one tile (`GGML_FA_TILE_KV`); tiles start at position 0.
pub const FA_TILE_KV: usize = 64;

/// ggml's AVX2 `ggml_v_expf` on one lane: e^x by a degree-5 polynomial after the reduction
/// x = n ln2 + b, with the large-|n| cases (|n| > 126) scaled in two steps; -inf gives 0.
/// Within 1.5 ulp of e^x (ggml's claim); what matters here is that it is the same bits.
#[inline(always)]
pub fn exp_ggml(x: f32) -> f32 {
    let c = |bits: u32| f32::from_bits(bits);
    let r = c(0x4b40_0000); // 0x1.8p23
    let z = x.mul_add(c(0x3fb8_aa3b), r); // log2(e)
    let n = z - r;
    // b = x - n * ln2, ln2 in two parts (each a fused negative multiply-add)
    let b = (-n).mul_add(c(0x35bf_be8e), (-n).mul_add(c(0x3f31_7200), x));
    let e = z.to_bits() << 23;
    let k = f32::from_bits(e.wrapping_add(1.0f32.to_bits()));
    let u = b * b;
    let j = c(0x3c07_2010)
        .mul_add(b, c(0x3d2b_9f17))
        .mul_add(u, c(0x3e2a_af33).mul_add(b, c(0x3eff_fedb)))
        .mul_add(u, c(0x3f7f_fff6) * b);
    if n.abs() > 126.0 {
        let g: u32 = if n <= 0.0 { 0x8200_0000 } else { 0 };
        let s1 = f32::from_bits(g.wrapping_add(0x7f00_0000));
        let s2 = f32::from_bits(e.wrapping_sub(g));
        return if n.abs() > 192.0 {
            s1 * s1
        } else {
            s2.mul_add(j, s2) * s1
        };
    }
    k.mul_add(j, k)
}

/// Eight consecutive p of a tile summed as ggml's AVX2 horizontal add does:
/// ((p0 + p4) + (p2 + p6)) + ((p1 + p5) + (p3 + p7)).
#[inline(always)]
pub fn sum8_ggml(p: &[f32; 8]) -> f32 {
    let a = [p[0] + p[4], p[1] + p[5], p[2] + p[6], p[3] + p[7]];
    (a[0] + a[2]) + (a[1] + a[3])
}

/// ggml's tiled flash attention (see the module doc) for queries of one head at positions
/// first_pos.. (query i attends keys 0..=first_pos + i): the portable reference, one query at
/// a time; every ISA's `attend_tiled` gives its bits.
// keys (>= first_pos + n, hd), values (same), queries[i] (hd) -> outs[i] (hd)
pub fn attend_f16_tiled(
    keys: &[f16],
    values: &[f16],
    queries: &[&[f32]],
    first_pos: usize,
    scale: f32,
    outs: &mut [&mut [f32]],
) {
    let Some(hd) = queries.first().map(|q| q.len()).filter(|&hd| hd > 0) else {
        return;
    };
    for (i, (q, out)) in queries.iter().zip(outs.iter_mut()).enumerate() {
        let n_keys = (first_pos + i + 1)
            .min(keys.len() / hd)
            .min(values.len() / hd);
        attend_one_tiled(&keys[..n_keys * hd], &values[..n_keys * hd], q, scale, out);
    }
}

/// One query over all of `keys` (none masked): the module doc's steps.
// keys (n, hd), values (n, hd), q (hd) -> out (hd)
fn attend_one_tiled(keys: &[f16], values: &[f16], q: &[f32], scale: f32, out: &mut [f32]) {
    let hd = q.len();
    let (mut max, mut sum) = (f32::NEG_INFINITY, 0.0f32);
    out.fill(0.0);
    let tiles = keys
        .chunks(FA_TILE_KV * hd)
        .zip(values.chunks(FA_TILE_KV * hd));
    for (tile_keys, tile_values) in tiles {
        // p (FA_TILE_KV): the scores, then their weights; 0 past the keys (masked)
        let mut p = [0.0f32; FA_TILE_KV];
        let n = tile_keys.len() / hd;
        for (s, key) in p.iter_mut().zip(tile_keys.chunks_exact(hd)) {
            let dot = key
                .iter()
                .zip(q)
                .fold(0.0f32, |acc, (k, &x)| x.mul_add(k.to_f32(), acc));
            *s = dot * scale;
        }
        let tile_max = p[..n].iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
        let new_max = max.max(tile_max);
        if new_max > max {
            let rescale = (max - new_max).exp();
            for o in out.iter_mut() {
                *o *= rescale;
            }
            sum *= rescale;
        }
        max = new_max;
        for s in &mut p[..n] {
            *s = exp_ggml(*s - max);
        }
        let mut tile_sum = 0.0f64;
        for group in p.chunks_exact(8) {
            let group: &[f32; 8] = group.try_into().unwrap_or(&[0.0; 8]);
            tile_sum += sum8_ggml(group) as f64;
        }
        sum = (sum as f64 + tile_sum) as f32;
        for (&w, val) in p[..n].iter().zip(tile_values.chunks_exact(hd)) {
            for (o, v) in out.iter_mut().zip(val) {
                *o = w.mul_add(v.to_f32(), *o);
            }
        }
    }
    let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
    for o in out.iter_mut() {
        *o *= inv;
    }
}
