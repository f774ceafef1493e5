//! ggml's tiled flash attention over an f16 cache on AVX-512 (`generic::attend_f16_tiled`,
//! whose module doc states the arithmetic): the AVX2 entry's scheme with the 16 queries of a
//! pass in one 16-lane vector, and 32 value dimensions per step; each lane runs the same
//! operations in the same order, so the bits are generic's (and AVX2's).

use crate::kernels::generic::{self, FA_TILE_KV};
use crate::kernels::isa_glue::safe_entry;
use half::f16;
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

safe_entry! {
    pub(super) fn attend_f16_tiled(keys: &[f16], values: &[f16], queries: &[&[f32]], first_pos: usize, scale: f32, outs: &mut [&mut [f32]]) => attend_f16_tiled_avx512;
}

/// Queries of one pass: one 16-lane vector.
const PASS: usize = 16;

/// Longest head the pass keeps in its stack buffers; longer heads, or heads that are not a
/// multiple of 16, take the generic entry (the same bits).
const MAX_HEAD: usize = 128;

/// Key rows of one scores block (8 accumulators).
const KEY_BLOCK: usize = 8;

/// Queries of one value block (8 accumulators: 4 queries x 32 dimensions).
const VALUE_QUERIES: usize = 4;

// keys (>= first_pos + n, hd), values (same), queries[i] (hd) -> outs[i] (hd)
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
fn attend_f16_tiled_avx512(
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
    if hd > MAX_HEAD || hd % 16 != 0 || queries[..n].iter().any(|q| q.len() != hd) {
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
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
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
        let mut last = [-1i32; PASS];
        for (lane, l) in last.iter_mut().enumerate().take(m) {
            *l = (self.first_pos + lane) as i32;
        }
        // SAFETY: `last` holds 16 i32.
        let last_pos = unsafe { _mm512_loadu_si512(last.as_ptr() as *const __m512i) };
        let neg_inf = _mm512_set1_ps(f32::NEG_INFINITY);
        let scale_v = _mm512_set1_ps(scale);
        let mut max = neg_inf;
        let mut sum = _mm512_setzero_ps();
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
            let p = self.p.as_mut_ptr() as *mut f32;
            // scale, mask the keys past each lane's position, and take the tile's max
            let mut tile_max = neg_inf;
            for k in 0..n {
                let masked = _mm512_cmpgt_epi32_mask(_mm512_set1_epi32((t0 + k) as i32), last_pos);
                // SAFETY: k * PASS + 16 <= FA_TILE_KV * PASS; row k < n was written by `scores`.
                unsafe {
                    let at = p.add(k * PASS);
                    let s = _mm512_mul_ps(_mm512_loadu_ps(at), scale_v);
                    let s = _mm512_mask_blend_ps(masked, s, neg_inf);
                    _mm512_storeu_ps(at, s);
                    tile_max = _mm512_max_ps(tile_max, s);
                }
            }
            let new_max = _mm512_max_ps(max, tile_max);
            let (mut old, mut new) = ([0.0f32; PASS], [0.0f32; PASS]);
            // SAFETY: both hold 16 lanes.
            unsafe {
                _mm512_storeu_ps(old.as_mut_ptr(), max);
                _mm512_storeu_ps(new.as_mut_ptr(), new_max);
            }
            // expf(max - new_max) (libm, as ggml) where the max grew, else 1
            let mut rescale = [1.0f32; PASS];
            for (lane, r) in rescale.iter_mut().enumerate() {
                if new[lane] > old[lane] {
                    *r = (old[lane] - new[lane]).exp();
                    if let Some(out) = outs.get_mut(lane) {
                        scale_row(out, *r);
                    }
                }
            }
            // SAFETY: rescale holds 16 lanes.
            sum = _mm512_mul_ps(sum, unsafe { _mm512_loadu_ps(rescale.as_ptr()) });
            max = new_max;
            sum = self.weights(n, new_max, sum);
            self.add_values(n, outs);
            t0 += n;
        }
        let mut s = [0.0f32; PASS];
        // SAFETY: s holds 16 lanes.
        unsafe { _mm512_storeu_ps(s.as_mut_ptr(), sum) };
        for (out, &s) in outs.iter_mut().zip(&s).take(m) {
            scale_row(out, if s == 0.0 { 0.0 } else { 1.0 / s });
        }
    }

    /// p[k][i] = fma-chain over d of q_t[d][i] * key_tile[k][d], for the first n keys.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
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
            6 => self.score_block::<6>(k),
            7 => self.score_block::<7>(k),
            _ => {}
        }
    }

    // q_t (hd, PASS), key_tile rows k0..k0 + KB -> p rows k0..k0 + KB
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
    fn score_block<const KB: usize>(&mut self, k0: usize) {
        let hd = self.hd;
        let mut acc = [_mm512_setzero_ps(); KB];
        let (q, keys) = (
            self.q_t.as_ptr() as *const f32,
            self.key_tile.as_ptr() as *const f32,
        );
        for d in 0..hd {
            // SAFETY: d < hd <= MAX_HEAD, so d * PASS + 16 <= q_t's length, and
            // (k0 + KB - 1) * hd + d < FA_TILE_KV * hd (k0 + KB <= n <= FA_TILE_KV).
            unsafe {
                let qv = _mm512_loadu_ps(q.add(d * PASS));
                for (j, a) in acc.iter_mut().enumerate() {
                    let kv = _mm512_set1_ps(*keys.add((k0 + j) * hd + d));
                    *a = _mm512_fmadd_ps(qv, kv, *a);
                }
            }
        }
        for (j, a) in acc.iter().enumerate() {
            // SAFETY: (k0 + j) * PASS + 16 <= FA_TILE_KV * PASS.
            unsafe { _mm512_storeu_ps((self.p.as_mut_ptr() as *mut f32).add((k0 + j) * PASS), *a) };
        }
    }

    /// The first n rows of p: scores -> exp_ggml(s - max) (0 where masked), rows n..(n
    /// rounded up to 8) set to 0; returns f32(f64(sum) + the tile's groups of eight, summed
    /// as `generic::sum8_ggml`, added in f64).
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
    fn weights(&mut self, n: usize, max: __m512, sum: __m512) -> __m512 {
        let neg_inf = _mm512_set1_ps(f32::NEG_INFINITY);
        let p = self.p.as_mut_ptr() as *mut f32;
        let rows = n.div_ceil(8) * 8;
        for k in 0..rows {
            // SAFETY: k < FA_TILE_KV (n <= FA_TILE_KV, a multiple of 8), so k * PASS + 16
            // <= p's length.
            unsafe {
                let at = p.add(k * PASS);
                let w = if k < n {
                    let s = _mm512_loadu_ps(at);
                    let w = exp_ggml_x16(_mm512_sub_ps(s, max));
                    let masked = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(s, neg_inf);
                    _mm512_mask_blend_ps(masked, w, _mm512_setzero_ps())
                } else {
                    _mm512_setzero_ps()
                };
                _mm512_storeu_ps(at, w);
            }
        }
        let mut lo = _mm512_setzero_pd();
        let mut hi = _mm512_setzero_pd();
        for g in (0..rows).step_by(8) {
            // SAFETY: rows g..g + 8 are within p (g + 8 <= rows <= FA_TILE_KV).
            let row = |j: usize| unsafe { _mm512_loadu_ps(p.add((g + j) * PASS)) };
            let a0 = _mm512_add_ps(row(0), row(4));
            let a1 = _mm512_add_ps(row(1), row(5));
            let a2 = _mm512_add_ps(row(2), row(6));
            let a3 = _mm512_add_ps(row(3), row(7));
            let h = _mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3));
            let (h_lo, h_hi) = halves(h);
            lo = _mm512_add_pd(lo, _mm512_cvtps_pd(h_lo));
            hi = _mm512_add_pd(hi, _mm512_cvtps_pd(h_hi));
        }
        let (s_lo, s_hi) = halves(sum);
        let s_lo = _mm512_cvtpd_ps(_mm512_add_pd(_mm512_cvtps_pd(s_lo), lo));
        let s_hi = _mm512_cvtpd_ps(_mm512_add_pd(_mm512_cvtps_pd(s_hi), hi));
        _mm512_castpd_ps(_mm512_insertf64x4::<1>(
            _mm512_castpd256_pd512(_mm256_castps_pd(s_lo)),
            _mm256_castps_pd(s_hi),
        ))
    }

    /// outs[i][j] = fma(p[k][i], value_tile[k][j], outs[i][j]) over the first n keys in order.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
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
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
    fn value_block<const QB: usize>(&self, n: usize, i0: usize, outs: &mut [&mut [f32]]) {
        let hd = self.hd;
        let (p, vals) = (
            self.p.as_ptr() as *const f32,
            self.value_tile.as_ptr() as *const f32,
        );
        let mut j = 0;
        while j < hd {
            // two vectors of dimensions where there are 32 left, else one (hd % 16 == 0)
            let wide = j + 32 <= hd;
            let mut acc = [[_mm512_setzero_ps(); 2]; QB];
            for (a, out) in acc.iter_mut().zip(outs.iter()) {
                // SAFETY: j + 16 (or 32 when wide) <= hd = out.len().
                unsafe {
                    a[0] = _mm512_loadu_ps(out.as_ptr().add(j));
                    if wide {
                        a[1] = _mm512_loadu_ps(out.as_ptr().add(j + 16));
                    }
                }
            }
            for k in 0..n {
                // SAFETY: k < n <= FA_TILE_KV rows of hd in value_tile, j + 32 <= hd when
                // wide (else j + 16); k * PASS + i0 + QB <= FA_TILE_KV * PASS.
                unsafe {
                    let v0 = _mm512_loadu_ps(vals.add(k * hd + j));
                    let v1 = if wide {
                        _mm512_loadu_ps(vals.add(k * hd + j + 16))
                    } else {
                        v0
                    };
                    for (r, a) in acc.iter_mut().enumerate() {
                        let w = _mm512_set1_ps(*p.add(k * PASS + i0 + r));
                        a[0] = _mm512_fmadd_ps(w, v0, a[0]);
                        if wide {
                            a[1] = _mm512_fmadd_ps(w, v1, a[1]);
                        }
                    }
                }
            }
            for (a, out) in acc.iter().zip(outs.iter_mut()) {
                // SAFETY: as for the loads.
                unsafe {
                    _mm512_storeu_ps(out.as_mut_ptr().add(j), a[0]);
                    if wide {
                        _mm512_storeu_ps(out.as_mut_ptr().add(j + 16), a[1]);
                    }
                }
            }
            j += if wide { 32 } else { 16 };
        }
    }
}

/// Lanes 0..8 and 8..16 of v.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
fn halves(v: __m512) -> (__m256, __m256) {
    let d = _mm512_castps_pd(v);
    (
        _mm256_castpd_ps(_mm512_castpd512_pd256(d)),
        _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(d)),
    )
}

/// out (n) *= s, one rounded product each.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
fn scale_row(out: &mut [f32], s: f32) {
    for o in out.iter_mut() {
        *o *= s;
    }
}

/// h (n, n % 16 == 0) -> out (n): exact f16 -> f32.
///
/// # Safety
/// `out` must be valid for writes of h.len() f32.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
unsafe fn widen(out: *mut f32, h: &[f16]) {
    let n = h.len() / 16 * 16;
    for i in (0..n).step_by(16) {
        // SAFETY: i + 16 <= n <= h.len(), which the caller lets us write to out.
        unsafe {
            let x = _mm512_cvtph_ps(_mm256_loadu_si256(h.as_ptr().add(i) as *const __m256i));
            _mm512_storeu_ps(out.add(i), x);
        }
    }
}

/// `generic::exp_ggml` on 16 lanes (ggml's AVX2 `ggml_v_expf` lane by lane).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
fn exp_ggml_x16(x: __m512) -> __m512 {
    let c = |bits: u32| _mm512_castsi512_ps(_mm512_set1_epi32(bits as i32));
    let r = c(0x4b40_0000);
    let z = _mm512_fmadd_ps(x, c(0x3fb8_aa3b), r);
    let n = _mm512_sub_ps(z, r);
    let b = _mm512_fnmadd_ps(n, c(0x35bf_be8e), _mm512_fnmadd_ps(n, c(0x3f31_7200), x));
    let e = _mm512_slli_epi32::<23>(_mm512_castps_si512(z));
    let k = _mm512_castsi512_ps(_mm512_add_epi32(
        e,
        _mm512_castps_si512(_mm512_set1_ps(1.0)),
    ));
    let abs_n = _mm512_abs_ps(n);
    let big = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(abs_n, _mm512_set1_ps(126.0));
    let u = _mm512_mul_ps(b, b);
    let j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(c(0x3c07_2010), b, c(0x3d2b_9f17)), u, {
            _mm512_fmadd_ps(c(0x3e2a_af33), b, c(0x3eff_fedb))
        }),
        u,
        _mm512_mul_ps(c(0x3f7f_fff6), b),
    );
    let normal = _mm512_fmadd_ps(k, j, k);
    if big == 0 {
        return normal;
    }
    let non_positive = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(n, _mm512_setzero_ps());
    let g = _mm512_maskz_mov_epi32(non_positive, _mm512_set1_epi32(0x8200_0000u32 as i32));
    let s1 = _mm512_castsi512_ps(_mm512_add_epi32(g, _mm512_set1_epi32(0x7f00_0000)));
    let s2 = _mm512_castsi512_ps(_mm512_sub_epi32(e, g));
    let huge = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(abs_n, _mm512_set1_ps(192.0));
    let scaled = _mm512_mul_ps(_mm512_fmadd_ps(s2, j, s2), s1);
    let out = _mm512_mask_blend_ps(big, normal, scaled);
    _mm512_mask_blend_ps(huge, out, _mm512_mul_ps(s1, s1))
}
