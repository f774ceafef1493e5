//! Q4_0 and Q4_1 weights with SDOT (the NEON dots of `neon::q4` with `sum_products` in SDOT).

use super::sum_products;
use crate::kernels::arm::neon::q4::q4_dots;
use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::TypeKernels;
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1};

/// The dotprod Q4_0 entries.
pub(super) const Q4_0: TypeKernels<BlockQ4_0, BlockQ8_0> =
    TypeKernels::new(dot_q4_0_q8_0, matvec_q4_0);
/// The dotprod Q4_1 entries.
pub(super) const Q4_1: TypeKernels<BlockQ4_1, BlockQ8_1> =
    TypeKernels::new(dot_q4_1_q8_1, matvec_q4_1);

safe_entry! {
    fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 => dot_q4_0_q8_0_sdot;
    fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 => dot_q4_1_q8_1_sdot;
    fn matvec_q4_0(out: &mut [f32], w: &[BlockQ4_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q4_0_sdot;
    fn matvec_q4_1(out: &mut [f32], w: &[BlockQ4_1], row_len: usize, x: &[BlockQ8_1]) => matvec_q4_1_sdot;
}

row_loop!(
    matvec_q4_0_sdot,
    BlockQ4_0,
    BlockQ8_0,
    dot_q4_0_q8_0_sdot,
    "neon,dotprod"
);
row_loop!(
    matvec_q4_1_sdot,
    BlockQ4_1,
    BlockQ8_1,
    dot_q4_1_q8_1_sdot,
    "neon,dotprod"
);

q4_dots!(
    "neon,dotprod",
    sum_products,
    dot_q4_0_q8_0_sdot,
    dot_q4_1_q8_1_sdot
);
