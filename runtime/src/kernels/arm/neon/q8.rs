//! Q8_0 weights against Q8_0 activations (ggml_vec_dot_q8_0_q8_0): each block reduced to its
//! exact i32 sum, then scaled in the generic order.

use super::sum_products;
use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::TypeKernels;
use edge_formats::BlockQ8_0;

/// The NEON Q8_0 entries.
pub(super) const Q8_0: TypeKernels<BlockQ8_0, BlockQ8_0> =
    TypeKernels::new(dot_q8_0_q8_0, matvec_q8_0);

safe_entry! {
    fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 => dot_q8_0_q8_0_neon;
    fn matvec_q8_0(out: &mut [f32], w: &[BlockQ8_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q8_0_neon;
}

row_loop!(
    matvec_q8_0_neon,
    BlockQ8_0,
    BlockQ8_0,
    dot_q8_0_q8_0_neon,
    "neon"
);

/// The Q8_0 dot, w (nb) . x (nb) -> f32, with `$sum_products` reducing a block to its exact
/// i32 sum. Shared by the NEON and dotprod tables.
macro_rules! q8_dots {
    ($features:literal, $sum_products:ident, $q8_0:ident) => {
        #[target_feature(enable = $features)]
        fn $q8_0(w: &[edge_formats::BlockQ8_0], x: &[edge_formats::BlockQ8_0]) -> f32 {
            let mut sumf = 0.0f32;
            for (a, b) in w.iter().zip(x) {
                let sumi = $sum_products(
                    $crate::kernels::arm::neon::load_q8(&a.qs),
                    $crate::kernels::arm::neon::load_q8(&b.qs),
                );
                sumf = $crate::kernels::generic::scale_q8_0(sumf, sumi, a, b);
            }
            sumf
        }
    };
}
pub(in crate::kernels::arm) use q8_dots;

q8_dots!("neon", sum_products, dot_q8_0_q8_0_neon);
