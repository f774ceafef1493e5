//! ggml's tiled flash attention over an f16 cache on AVX2 (`generic::attend_f16_tiled`, whose
//! module doc states the arithmetic): 16 queries per pass as two 8-lane vectors, so the
//! scores, the running max and sum, the softmax and its group sums are each one lane's
//! operations in the generic order; each key tile is widened to f32 once per pass and read
//! from L1 by every query. The bits are generic's.

use crate::kernels::generic::{self, FA_TILE_KV};
use half::f16;
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// Queries of one pass: two 8-lane vectors.
const PASS: usize = 16;

/// Longest head the pass keeps in its stack buffers; longer heads take the generic entry
/// (the same bits).
const MAX_HEAD: usize = 128;

/// Key rows of one scores block (12 accumulators: 6 keys x 2 query vectors).
const KEY_BLOCK: usize = 6;

/// Queries of one value block (8 accumulators: 4 queries x 16 dimensions).
const VALUE_QUERIES: usize = 4;

// keys (>= first_pos + n, hd), values (same), queries[i] (hd) -> outs[i] (hd)
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn attend_f16_tiled_avx2(
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
    let n = queries.len().min(outs.len());
    if hd > MAX_HEAD || hd % 8 != 0 || queries[..n].iter().any(|q| q.len() != hd) {
        return generic::attend_f16_tiled(keys, values, queries, first_pos, scale, outs);
    }
    let mut pass = Pass {
        hd,
        first_pos,
        n_queries: 0,
        q_t: MaybeUninit::uninit(),
        key_tile: MaybeUninit::uninit(),
        value_tile: MaybeUninit::uninit(),
        p: MaybeUninit::uninit(),
    };
    let mut start = 0;
    while start < n {
        let end = (start + PASS).min(n);
        (pass.first_pos, pass.n_queries) = (first_pos + start, end - start);
        pass.run(
            keys,
            values,
            &queries[start..end],
            scale,
            &mut outs[start..end],
        );
        start = end;
    }
}

/// One pass's buffers, all f32, left uninitialized (they are large, and a call runs several
/// tiles): every element is written through the pointers before it is read.
struct Pass {
    hd: usize,
    /// Position of query 0.
    first_pos: usize,
    n_queries: usize,
    /// q_t (hd, PASS): the queries transposed, 0 past n_queries.
    q_t: MaybeUninit<[f32; MAX_HEAD * PASS]>,
    /// key_tile (FA_TILE_KV, hd): the tile's keys widened.
    key_tile: MaybeUninit<[f32; FA_TILE_KV * MAX_HEAD]>,
    /// value_tile (FA_TILE_KV, hd): the tile's values widened.
    value_tile: MaybeUninit<[f32; FA_TILE_KV * MAX_HEAD]>,
    /// p (FA_TILE_KV, PASS): the tile's scores, then their softmax weights.
    p: MaybeUninit<[f32; FA_TILE_KV * PASS]>,
}

impl Pass {
    // keys, values (>= first_pos + n_queries, hd), queries[i] (hd) -> outs[i] (hd)
    #[target_feature(enable = "avx2,fma,f16c")]
    fn run(
        &mut self,
        keys: &[f16],
        values: &[f16],
        queries: &[&[f32]],
        scale: f32,
        outs: &mut [&mut [f32]],
    ) {
        let hd = self.hd;
        let m = self.n_queries;
        let q_t = self.q_t.as_mut_ptr() as *mut f32;
        for d in 0..hd {
            for i in 0..PASS {
                let x = queries.get(i).filter(|_| i < m).map_or(0.0, |q| q[d]);
                // SAFETY: d * PASS + i < MAX_HEAD * PASS (hd <= MAX_HEAD).
                unsafe { q_t.add(d * PASS + i).write(x) };
            }
        }
        for out in outs.iter_mut().take(m) {
            out.fill(0.0);
        }
        let n_keys = (self.first_pos + m)
            .min(keys.len() / hd)
            .min(values.len() / hd);
        // the last position each lane attends; -1 for lanes past the queries (all masked)
        let last = |lane: usize| {
            if lane < m {
                (self.first_pos + lane) as i32
            } else {
                -1
            }
        };
        let lanes = |base: usize| {
            _mm256_setr_epi32(
                last(base),
                last(base + 1),
                last(base + 2),
                last(base + 3),
                last(base + 4),
                last(base + 5),
                last(base + 6),
                last(base + 7),
            )
        };
        let last_pos = [lanes(0), lanes(8)];
        let mut max = [_mm256_set1_ps(f32::NEG_INFINITY); 2];
        let mut sum = [_mm256_setzero_ps(); 2];
        let mut t0 = 0;
        while t0 < n_keys {
            let n = FA_TILE_KV.min(n_keys - t0);
            // SAFETY: n * hd <= FA_TILE_KV * MAX_HEAD elements of each tile buffer.
            unsafe {
                widen(
                    self.key_tile.as_mut_ptr() as *mut f32,
                    &keys[t0 * hd..(t0 + n) * hd],
                );
                widen(
                    self.value_tile.as_mut_ptr() as *mut f32,
                    &values[t0 * hd..(t0 + n) * hd],
                );
            }
            self.scores(n);
            let scale_v = _mm256_set1_ps(scale);
            let neg_inf = _mm256_set1_ps(f32::NEG_INFINITY);
            let p = self.p.as_mut_ptr() as *mut f32;
            for v in 0..2 {
                // scale, mask the keys past each lane's position, and take the tile's max
                let mut tile_max = neg_inf;
                for k in 0..n {
                    let at = k * PASS + v * 8;
                    let masked =
                        _mm256_cmpgt_epi32(_mm256_set1_epi32((t0 + k) as i32), last_pos[v]);
                    // SAFETY: at + 8 <= FA_TILE_KV * PASS; row k < n was written by `scores`.
                    unsafe {
                        let s = _mm256_mul_ps(_mm256_loadu_ps(p.add(at)), scale_v);
                        let s = _mm256_blendv_ps(s, neg_inf, _mm256_castsi256_ps(masked));
                        _mm256_storeu_ps(p.add(at), s);
                        tile_max = _mm256_max_ps(tile_max, s);
                    }
                }
                let new_max = _mm256_max_ps(max[v], tile_max);
                let rescale = rescales(max[v], new_max);
                sum[v] = _mm256_mul_ps(sum[v], rescale);
                let mut r = [0.0f32; 8];
                // SAFETY: r holds 8 lanes.
                unsafe { _mm256_storeu_ps(r.as_mut_ptr(), rescale) };
                for (lane, &r) in r.iter().enumerate() {
                    if let (true, Some(out)) = (r != 1.0, outs.get_mut(v * 8 + lane)) {
                        scale_row(out, r);
                    }
                }
                max[v] = new_max;
                sum[v] = self.weights(v, n, new_max, sum[v]);
            }
            self.add_values(n, outs);
            t0 += n;
        }
        let mut s = [0.0f32; PASS];
        // SAFETY: s holds 16 lanes.
        unsafe {
            _mm256_storeu_ps(s.as_mut_ptr(), sum[0]);
            _mm256_storeu_ps(s.as_mut_ptr().add(8), sum[1]);
        }
        for (out, &s) in outs.iter_mut().zip(&s).take(m) {
            scale_row(out, if s == 0.0 { 0.0 } else { 1.0 / s });
        }
    }

    /// p[k][i] = fma-chain over d of q_t[d][i] * key_tile[k][d], for the first n keys.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn scores(&mut self, n: usize) {
        let mut k = 0;
        while k + KEY_BLOCK <= n {
            self.score_block::<KEY_BLOCK>(k);
            k += KEY_BLOCK;
        }
        match n - k {
            1 => self.score_block::<1>(k),
            2 => self.score_block::<2>(k),
            3 => self.score_block::<3>(k),
            4 => self.score_block::<4>(k),
            5 => self.score_block::<5>(k),
            _ => {}
        }
    }

    // q_t (hd, PASS), key_tile rows k0..k0 + KB -> p rows k0..k0 + KB
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn score_block<const KB: usize>(&mut self, k0: usize) {
        let hd = self.hd;
        let mut acc = [[_mm256_setzero_ps(); 2]; KB];
        let (q, keys) = (
            self.q_t.as_ptr() as *const f32,
            self.key_tile.as_ptr() as *const f32,
        );
        for d in 0..hd {
            // SAFETY: d < hd <= MAX_HEAD, so d * PASS + 16 <= q_t's length, and
            // (k0 + KB - 1) * hd + d < FA_TILE_KV * hd (k0 + KB <= n <= FA_TILE_KV).
            unsafe {
                let q0 = _mm256_loadu_ps(q.add(d * PASS));
                let q1 = _mm256_loadu_ps(q.add(d * PASS + 8));
                for (j, a) in acc.iter_mut().enumerate() {
                    let kv = _mm256_broadcast_ss(&*keys.add((k0 + j) * hd + d));
                    a[0] = _mm256_fmadd_ps(q0, kv, a[0]);
                    a[1] = _mm256_fmadd_ps(q1, kv, a[1]);
                }
            }
        }
        for (j, a) in acc.iter().enumerate() {
            // SAFETY: (k0 + j) * PASS + 16 <= FA_TILE_KV * PASS.
            unsafe {
                let at = (self.p.as_mut_ptr() as *mut f32).add((k0 + j) * PASS);
                _mm256_storeu_ps(at, a[0]);
                _mm256_storeu_ps(at.add(8), a[1]);
            }
        }
    }

    /// Lanes v*8..v*8 + 8 of the first n rows of p: scores -> exp_ggml(s - max) (0 where
    /// masked), rows n..(n rounded up to 8) set to 0; returns f32(f64(sum) + the tile's
    /// groups of eight, summed as `generic::sum8_ggml`, added in f64).
    #[target_feature(enable = "avx2,fma,f16c")]
    fn weights(&mut self, v: usize, n: usize, max: __m256, sum: __m256) -> __m256 {
        let neg_inf = _mm256_set1_ps(f32::NEG_INFINITY);
        let p = self.p.as_mut_ptr() as *mut f32;
        let rows = n.div_ceil(8) * 8;
        for k in 0..rows {
            // SAFETY: k < FA_TILE_KV (n <= FA_TILE_KV, a multiple of 8), so k * PASS + v * 8
            // + 8 <= p's length.
            unsafe {
                let at = p.add(k * PASS + v * 8);
                let w = if k < n {
                    let s = _mm256_loadu_ps(at);
                    let w = exp_ggml_x8(_mm256_sub_ps(s, max));
                    let masked = _mm256_cmp_ps::<_CMP_EQ_OQ>(s, neg_inf);
                    _mm256_andnot_ps(masked, w)
                } else {
                    _mm256_setzero_ps()
                };
                _mm256_storeu_ps(at, w);
            }
        }
        let mut lo = _mm256_setzero_pd();
        let mut hi = _mm256_setzero_pd();
        for g in (0..rows).step_by(8) {
            // SAFETY: rows g..g + 8 are within p (g + 8 <= rows <= FA_TILE_KV).
            let row = |j: usize| unsafe { _mm256_loadu_ps(p.add((g + j) * PASS + v * 8)) };
            let a0 = _mm256_add_ps(row(0), row(4));
            let a1 = _mm256_add_ps(row(1), row(5));
            let a2 = _mm256_add_ps(row(2), row(6));
            let a3 = _mm256_add_ps(row(3), row(7));
            let h = _mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3));
            lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(h)));
            hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(h)));
        }
        let s_lo = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(sum)), lo);
        let s_hi = _mm256_add_pd(_mm256_cvtps_pd(_mm256_extractf128_ps::<1>(sum)), hi);
        _mm256_set_m128(_mm256_cvtpd_ps(s_hi), _mm256_cvtpd_ps(s_lo))
    }

    /// outs[i][j] = fma(p[k][i], value_tile[k][j], outs[i][j]) over the first n keys in order.
    #[target_feature(enable = "avx2,fma,f16c")]
    fn add_values(&self, n: usize, outs: &mut [&mut [f32]]) {
        let m = self.n_queries.min(outs.len());
        let mut i = 0;
        while i + VALUE_QUERIES <= m {
            self.value_block::<VALUE_QUERIES>(n, i, &mut outs[i..i + VALUE_QUERIES]);
            i += VALUE_QUERIES;
        }
        match m - i {
            1 => self.value_block::<1>(n, i, &mut outs[i..]),
            2 => self.value_block::<2>(n, i, &mut outs[i..]),
            3 => self.value_block::<3>(n, i, &mut outs[i..]),
            _ => {}
        }
    }

    // p (n, lanes i0..i0 + QB), value_tile (n, hd) -> outs[..QB] (hd), += in key order
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn value_block<const QB: usize>(&self, n: usize, i0: usize, outs: &mut [&mut [f32]]) {
        let hd = self.hd;
        let (p, vals) = (
            self.p.as_ptr() as *const f32,
            self.value_tile.as_ptr() as *const f32,
        );
        let mut j = 0;
        while j < hd {
            // two vectors of dimensions where there are 16 left, else one (hd % 8 == 0)
            let wide = j + 16 <= hd;
            let mut acc = [[_mm256_setzero_ps(); 2]; QB];
            for (a, out) in acc.iter_mut().zip(outs.iter()) {
                // SAFETY: j + 8 (or 16 when wide) <= hd = out.len().
                unsafe {
                    a[0] = _mm256_loadu_ps(out.as_ptr().add(j));
                    if wide {
                        a[1] = _mm256_loadu_ps(out.as_ptr().add(j + 8));
                    }
                }
            }
            for k in 0..n {
                // SAFETY: k < n <= FA_TILE_KV rows of hd in value_tile, j + 16 <= hd when
                // wide (else j + 8); k * PASS + i0 + QB <= FA_TILE_KV * PASS.
                unsafe {
                    let v0 = _mm256_loadu_ps(vals.add(k * hd + j));
                    let v1 = if wide {
                        _mm256_loadu_ps(vals.add(k * hd + j + 8))
                    } else {
                        v0
                    };
                    for (r, a) in acc.iter_mut().enumerate() {
                        let w = _mm256_broadcast_ss(&*p.add(k * PASS + i0 + r));
                        a[0] = _mm256_fmadd_ps(w, v0, a[0]);
                        if wide {
                            a[1] = _mm256_fmadd_ps(w, v1, a[1]);
                        }
                    }
                }
            }
            for (a, out) in acc.iter().zip(outs.iter_mut()) {
                // SAFETY: as for the loads.
                unsafe {
                    _mm256_storeu_ps(out.as_mut_ptr().add(j), a[0]);
                    if wide {
                        _mm256_storeu_ps(out.as_mut_ptr().add(j + 8), a[1]);
                    }
                }
            }
            j += if wide { 16 } else { 8 };
        }
    }
}

/// Per lane: expf(max - new_max) (libm, as ggml) where new_max > max, else 1.
#[target_feature(enable = "avx2,fma,f16c")]
fn rescales(max: __m256, new_max: __m256) -> __m256 {
    let (mut old, mut new) = ([0.0f32; 8], [0.0f32; 8]);
    // SAFETY: both hold 8 lanes.
    unsafe {
        _mm256_storeu_ps(old.as_mut_ptr(), max);
        _mm256_storeu_ps(new.as_mut_ptr(), new_max);
    }
    let mut r = [1.0f32; 8];
    for ((r, &o), &n) in r.iter_mut().zip(&old).zip(&new) {
        if n > o {
            *r = (o - n).exp();
        }
    }
    // SAFETY: r holds 8 lanes.
    unsafe { _mm256_loadu_ps(r.as_ptr()) }
}

/// out (n) *= s, one rounded product each.
#[target_feature(enable = "avx2,fma,f16c")]
fn scale_row(out: &mut [f32], s: f32) {
    let sv = _mm256_set1_ps(s);
    let n8 = out.len() / 8 * 8;
    for j in (0..n8).step_by(8) {
        // SAFETY: j + 8 <= n8 <= out.len().
        unsafe {
            let at = out.as_mut_ptr().add(j);
            _mm256_storeu_ps(at, _mm256_mul_ps(_mm256_loadu_ps(at), sv));
        }
    }
    for o in &mut out[n8..] {
        *o *= s;
    }
}

/// h (n, n % 8 == 0) -> out (n): exact f16 -> f32.
///
/// # Safety
/// `out` must be valid for writes of h.len() f32.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn widen(out: *mut f32, h: &[f16]) {
    let n = h.len() / 8 * 8;
    for i in (0..n).step_by(8) {
        // SAFETY: i + 8 <= n <= h.len(), which the caller lets us write to out.
        unsafe {
            let x = _mm256_cvtph_ps(_mm_loadu_si128(h.as_ptr().add(i) as *const __m128i));
            _mm256_storeu_ps(out.add(i), x);
        }
    }
}

/// `generic::exp_ggml` on 8 lanes (ggml's AVX2 `ggml_v_expf`, the same operations).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn exp_ggml_x8(x: __m256) -> __m256 {
    let c = |bits: u32| _mm256_castsi256_ps(_mm256_set1_epi32(bits as i32));
    let r = c(0x4b40_0000);
    let z = _mm256_fmadd_ps(x, c(0x3fb8_aa3b), r);
    let n = _mm256_sub_ps(z, r);
    let b = _mm256_fnmadd_ps(n, c(0x35bf_be8e), _mm256_fnmadd_ps(n, c(0x3f31_7200), x));
    let e = _mm256_slli_epi32::<23>(_mm256_castps_si256(z));
    let k = _mm256_castsi256_ps(_mm256_add_epi32(
        e,
        _mm256_castps_si256(_mm256_set1_ps(1.0)),
    ));
    let abs_n = _mm256_andnot_ps(_mm256_set1_ps(-0.0), n);
    let big = _mm256_cmp_ps::<_CMP_GT_OQ>(abs_n, _mm256_set1_ps(126.0));
    let u = _mm256_mul_ps(b, b);
    let j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(c(0x3c07_2010), b, c(0x3d2b_9f17)), u, {
            _mm256_fmadd_ps(c(0x3e2a_af33), b, c(0x3eff_fedb))
        }),
        u,
        _mm256_mul_ps(c(0x3f7f_fff6), b),
    );
    let normal = _mm256_fmadd_ps(k, j, k);
    if _mm256_movemask_ps(big) == 0 {
        return normal;
    }
    let g = _mm256_and_si256(
        _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LE_OQ>(n, _mm256_setzero_ps())),
        _mm256_set1_epi32(0x8200_0000u32 as i32),
    );
    let s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f00_0000)));
    let s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    let huge = _mm256_cmp_ps::<_CMP_GT_OQ>(abs_n, _mm256_set1_ps(192.0));
    let scaled = _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1);
    let out = _mm256_blendv_ps(normal, scaled, big);
    _mm256_blendv_ps(out, _mm256_mul_ps(s1, s1), huge)
}
