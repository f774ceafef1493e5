//! The reference of every gemm: one `dot` per output (the contract of `dispatch::GemmFn`).

/// w (rows, row_len) @ xs[t] (row_len) -> out[t] (rows): `out[t][r] = dot(w row r, xs[t])`
/// for t < min(out.len(), xs.len()) and r < min(w.len() / row_len, out[t].len()). Every gemm
/// kernel gives these bits.
pub fn gemm_by<W, X>(
    out: &mut [&mut [f32]],
    w: &[W],
    row_len: usize,
    xs: &[&[X]],
    dot: impl Fn(&[W], &[X]) -> f32,
) {
    for (o, x) in out.iter_mut().zip(xs) {
        super::rows_by(o, w, row_len, x, &dot);
    }
}

/// What every gemm kernel does first, over its n = min(out.len(), xs.len()) tokens: a call
/// with row_len 0, or with a token whose x is shorter than a row (a shorter dot), goes whole
/// to `fallback` and leaves the kernel nothing to do (None); otherwise the rows every output
/// takes, min(every out[t].len(), w.len() / row_len).
#[inline(always)]
pub fn gemm_rows<W, X>(
    out: &mut [&mut [f32]],
    w: &[W],
    row_len: usize,
    xs: &[&[X]],
    fallback: impl FnOnce(&mut [&mut [f32]], &[W], usize, &[&[X]]),
) -> Option<usize> {
    let n = out.len().min(xs.len());
    if row_len == 0 || xs[..n].iter().any(|x| x.len() < row_len) {
        fallback(out, w, row_len, xs);
        return None;
    }
    let rows = out[..n].iter().map(|o| o.len()).min().unwrap_or(0);
    Some(rows.min(w.len() / row_len))
}

/// [`gemm_rows`] whose fallback is one `dot` per output ([`gemm_by`]).
#[inline(always)]
pub fn gemm_rows_or_dots<W, X>(
    out: &mut [&mut [f32]],
    w: &[W],
    row_len: usize,
    xs: &[&[X]],
    dot: impl Fn(&[W], &[X]) -> f32,
) -> Option<usize> {
    gemm_rows(out, w, row_len, xs, |out, w, k, xs| {
        gemm_by(out, w, k, xs, dot)
    })
}

/// [`gemm_rows`] whose fallback is one `matvec` per token.
#[inline(always)]
pub fn gemm_rows_or_matvecs<W, X>(
    out: &mut [&mut [f32]],
    w: &[W],
    row_len: usize,
    xs: &[&[X]],
    matvec: impl Fn(&mut [f32], &[W], usize, &[X]),
) -> Option<usize> {
    gemm_rows(out, w, row_len, xs, |out, w, k, xs| {
        for (o, x) in out.iter_mut().zip(xs) {
            matvec(o, w, k, x);
        }
    })
}
