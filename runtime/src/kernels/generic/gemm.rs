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
