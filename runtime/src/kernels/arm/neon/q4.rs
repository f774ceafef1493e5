//! Q4_0 and Q4_1 weights against Q8_0 and Q8_1 activations (ggml_vec_dot_q4_0_q8_0,
//! _q4_1_q8_1): each block reduced to its exact i32 sum, then scaled in the generic order.

use super::sum_products;
use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::TypeKernels;
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1};

/// The NEON Q4_0 entries.
pub(super) const Q4_0: TypeKernels<BlockQ4_0, BlockQ8_0> =
    TypeKernels::new(dot_q4_0_q8_0, matvec_q4_0);
/// The NEON Q4_1 entries.
pub(super) const Q4_1: TypeKernels<BlockQ4_1, BlockQ8_1> =
    TypeKernels::new(dot_q4_1_q8_1, matvec_q4_1);

safe_entry! {
    fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 => dot_q4_0_q8_0_neon;
    fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 => dot_q4_1_q8_1_neon;
    fn matvec_q4_0(out: &mut [f32], w: &[BlockQ4_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q4_0_neon;
    fn matvec_q4_1(out: &mut [f32], w: &[BlockQ4_1], row_len: usize, x: &[BlockQ8_1]) => matvec_q4_1_neon;
}

row_loop!(
    matvec_q4_0_neon,
    BlockQ4_0,
    BlockQ8_0,
    dot_q4_0_q8_0_neon,
    "neon"
);
row_loop!(
    matvec_q4_1_neon,
    BlockQ4_1,
    BlockQ8_1,
    dot_q4_1_q8_1_neon,
    "neon"
);

/// The Q4 dots, w (nb) . x (nb) -> f32, with `$sum_products` reducing a block to its exact
/// i32 sum. Shared by the NEON and dotprod tables, which differ in `$sum_products`.
macro_rules! q4_dots {
    ($features:literal, $sum_products:ident, $q4_0:ident, $q4_1:ident) => {
        #[target_feature(enable = $features)]
        fn $q4_0(w: &[edge_formats::BlockQ4_0], x: &[edge_formats::BlockQ8_0]) -> f32 {
            let eight = std::arch::aarch64::vdupq_n_s8(8);
            let mut sumf = 0.0f32;
            for (a, b) in w.iter().zip(x) {
                let (lo, hi) = $crate::kernels::arm::neon::unpack_nibbles(&a.qs);
                let q = (
                    std::arch::aarch64::vsubq_s8(lo, eight),
                    std::arch::aarch64::vsubq_s8(hi, eight),
                );
                sumf = $crate::kernels::generic::scale_q4_0(
                    sumf,
                    $sum_products(q, $crate::kernels::arm::neon::load_q8(&b.qs)),
                    a,
                    b,
                );
            }
            sumf
        }

        #[target_feature(enable = $features)]
        fn $q4_1(w: &[edge_formats::BlockQ4_1], x: &[edge_formats::BlockQ8_1]) -> f32 {
            let mut sumf = 0.0f32;
            for (a, b) in w.iter().zip(x) {
                let sumi = $sum_products(
                    $crate::kernels::arm::neon::unpack_nibbles(&a.qs),
                    $crate::kernels::arm::neon::load_q8(&b.qs),
                );
                sumf = $crate::kernels::generic::scale_q4_1(sumf, sumi, a, b);
            }
            sumf
        }
    };
}
pub(in crate::kernels::arm) use q4_dots;

q4_dots!("neon", sum_products, dot_q4_0_q8_0_neon, dot_q4_1_q8_1_neon);
