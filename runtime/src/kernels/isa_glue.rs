//! Macros every per-ISA kernel module shares: the safe entry points of its table and the row
//! loops over its dot products. Only the SIMD kernels themselves stay per ISA.

/// Safe entry points: each calls its `#[target_feature]` twin `$imp`.
macro_rules! safe_entry {
    ($($vis:vis fn $name:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? => $imp:ident;)*) => {$(
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            // SAFETY: only reachable through the table its ISA module's `kernels()`
            // builds, which it builds only after checking that the CPU has every feature
            // `$imp` enables.
            unsafe { $imp($($arg),*) }
        }
    )*};
}
pub(crate) use safe_entry;

/// Row loops: w (rows, row_len) @ x (row_len) -> out (rows), the dot `$dot` inlined into
/// `generic::rows_by` under `$features`.
macro_rules! row_loop {
    ($name:ident, $w:ty, $x:ty, $dot:ident, $features:literal) => {
        #[target_feature(enable = $features)]
        fn $name(out: &mut [f32], w: &[$w], row_len: usize, x: &[$x]) {
            $crate::kernels::generic::rows_by(out, w, row_len, x, |row, x| $dot(row, x))
        }
    };
}
pub(crate) use row_loop;
