//! Q8_0 weights with SDOT (the NEON dot of `neon::q8` with `sum_products` in SDOT).

use super::sum_products;
use crate::kernels::arm::neon::q8::q8_dots;
use crate::kernels::isa_glue::{row_loop, safe_entry};
use crate::kernels::TypeKernels;
use edge_formats::BlockQ8_0;

/// The dotprod Q8_0 entries.
pub(super) const Q8_0: TypeKernels<BlockQ8_0, BlockQ8_0> =
    TypeKernels::new(dot_q8_0_q8_0, matvec_q8_0);

safe_entry! {
    fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 => dot_q8_0_q8_0_sdot;
    fn matvec_q8_0(out: &mut [f32], w: &[BlockQ8_0], row_len: usize, x: &[BlockQ8_0]) => matvec_q8_0_sdot;
}

row_loop!(
    matvec_q8_0_sdot,
    BlockQ8_0,
    BlockQ8_0,
    dot_q8_0_q8_0_sdot,
    "neon,dotprod"
);

q8_dots!("neon,dotprod", sum_products, dot_q8_0_q8_0_sdot);
