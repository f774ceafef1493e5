//! The `Kernels` table: one function pointer per kernel, chosen once at startup from the
//! CPU's features (DESIGN convention 3). Every ISA fills the same table with functions of
//! identical signatures; a kernel an ISA does not specialize is the generic one.

use super::{generic, Activation, MatData, Matrix};
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, QK};
use half::{bf16, f16};

/// w (rows, row_len blocks or elements) @ x (row_len) -> out (rows).
pub type MatvecFn<W, X> = fn(out: &mut [f32], w: &[W], row_len: usize, x: &[X]);

/// The kernels of one ISA. `Copy`; build it once with [`Kernels::detect`] and pass it around.
/// Fields are public function pointers (call as `(k.dot_f32)(a, b)`); the quantizers and
/// `matvec` also have methods of the same name.
#[derive(Clone, Copy, Debug)]
pub struct Kernels {
    pub(crate) name: &'static str,
    /// x (n) -> out (ceil(n/32)): activation quantizer, round half to even.
    pub quantize_q8_0: fn(x: &[f32], out: &mut [BlockQ8_0]),
    /// x (n) -> out (ceil(n/32)): activation quantizer with block sums, round half to even.
    pub quantize_q8_1: fn(x: &[f32], out: &mut [BlockQ8_1]),
    /// w (nb) . x (nb) -> f32
    pub dot_q4_0_q8_0: fn(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32,
    pub dot_q4_1_q8_1: fn(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32,
    pub dot_q8_0_q8_0: fn(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32,
    /// w (n) . x (n) -> f32
    pub dot_f32: fn(w: &[f32], x: &[f32]) -> f32,
    pub dot_f16_f32: fn(w: &[f16], x: &[f32]) -> f32,
    pub dot_bf16_f32: fn(w: &[bf16], x: &[f32]) -> f32,
    /// Row loops over the dot products above, one per weight type.
    pub matvec_q4_0: MatvecFn<BlockQ4_0, BlockQ8_0>,
    pub matvec_q4_1: MatvecFn<BlockQ4_1, BlockQ8_1>,
    pub matvec_q8_0: MatvecFn<BlockQ8_0, BlockQ8_0>,
    pub matvec_f32: MatvecFn<f32, f32>,
    pub matvec_f16: MatvecFn<f16, f32>,
    pub matvec_bf16: MatvecFn<bf16, f32>,
    /// gate (n), up (n) -> gate (n): silu(gate) * up, ggml's arithmetic (`generic::swiglu`).
    pub swiglu: fn(gate: &mut [f32], up: &[f32]),
}

/// Names `by_name` and `EDGE_ISA` accept, best last.
pub const ISA_NAMES: [&str; 4] = ["scalar", "avx2", "neon", "dotprod"];

impl Kernels {
    /// The portable scalar reference.
    pub fn scalar() -> Kernels {
        Kernels {
            name: "scalar",
            quantize_q8_0: generic::quantize_q8_0,
            quantize_q8_1: generic::quantize_q8_1,
            dot_q4_0_q8_0: generic::dot_q4_0_q8_0,
            dot_q4_1_q8_1: generic::dot_q4_1_q8_1,
            dot_q8_0_q8_0: generic::dot_q8_0_q8_0,
            dot_f32: generic::dot_f32,
            dot_f16_f32: generic::dot_f16_f32,
            dot_bf16_f32: generic::dot_bf16_f32,
            matvec_q4_0: generic::matvec_q4_0,
            matvec_q4_1: generic::matvec_q4_1,
            matvec_q8_0: generic::matvec_q8_0,
            matvec_f32: generic::matvec_f32,
            matvec_f16: generic::matvec_f16,
            matvec_bf16: generic::matvec_bf16,
            swiglu: generic::swiglu,
        }
    }

    /// The best kernels this CPU runs, or the ones `EDGE_ISA` names (scalar|avx2|neon|dotprod)
    /// when that ISA is supported here. An unknown or unsupported `EDGE_ISA` falls back to the
    /// best available (callers that must refuse it use [`Kernels::by_name`]).
    pub fn detect() -> Kernels {
        if let Ok(name) = std::env::var("EDGE_ISA") {
            if let Some(k) = Kernels::by_name(name.trim()) {
                return k;
            }
        }
        Kernels::best()
    }

    /// The best kernels this CPU supports, ignoring `EDGE_ISA`.
    pub fn best() -> Kernels {
        ISA_NAMES
            .iter()
            .rev()
            .find_map(|n| Kernels::by_name(n))
            .unwrap_or_else(Kernels::scalar)
    }

    /// The kernels of the named ISA ("scalar", "avx2", "neon", "dotprod"; case-insensitive),
    /// or None if the name is unknown or this CPU cannot run that ISA.
    pub fn by_name(name: &str) -> Option<Kernels> {
        match name.to_ascii_lowercase().as_str() {
            "scalar" | "generic" => Some(Kernels::scalar()),
            #[cfg(target_arch = "x86_64")]
            "avx2" => super::x86::avx2::kernels(),
            #[cfg(target_arch = "aarch64")]
            "neon" => super::arm::neon::kernels(),
            #[cfg(target_arch = "aarch64")]
            "dotprod" => super::arm::dotprod::kernels(),
            _ => None,
        }
    }

    /// Every ISA this CPU can run, scalar first (for tests and benches).
    pub fn available() -> impl Iterator<Item = Kernels> {
        ISA_NAMES.iter().filter_map(|n| Kernels::by_name(n))
    }

    /// "scalar", "avx2", "neon" or "dotprod".
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Replaces the name (for ISA modules building on `scalar()`).
    pub(crate) fn named(self, name: &'static str) -> Kernels {
        Kernels { name, ..self }
    }

    /// x (n) -> out (ceil(n/32) blocks), round half to even.
    pub fn quantize_q8_0(&self, x: &[f32], out: &mut [BlockQ8_0]) {
        (self.quantize_q8_0)(x, out)
    }

    /// x (n) -> out (ceil(n/32) blocks), round half to even, with s = d * sum(q).
    pub fn quantize_q8_1(&self, x: &[f32], out: &mut [BlockQ8_1]) {
        (self.quantize_q8_1)(x, out)
    }

    /// w (rows, k) @ x (k) -> out (rows); single-threaded over the given rows (split the
    /// work with `Matrix::rows`). Q4_0 and Q8_0 read x.q8_0, Q4_1 reads x.q8_1, floats read
    /// x.f32. Writes min(out.len(), w.rows) values. `x` must have been prepared from a vector
    /// of length w.k (checked in debug builds; in release a shorter x reads as a shorter dot).
    pub fn matvec(&self, out: &mut [f32], w: &Matrix, x: &Activation) {
        debug_assert_eq!(
            w.k,
            x.len(),
            "matvec: matrix row length vs activation length"
        );
        debug_assert!(
            match w.data {
                MatData::Q4_0(_) | MatData::Q8_0(_) => x.q8_0.len() * QK >= x.len(),
                MatData::Q4_1(_) => x.q8_1.len() * QK >= x.len(),
                _ => true,
            },
            "matvec: the activation was not prepared in the form this matrix reads"
        );
        let rows = w.rows.min(out.len());
        let out = &mut out[..rows];
        let nb = w.k / QK;
        fn head<T>(s: &[T], n: usize) -> &[T] {
            &s[..n.min(s.len())]
        }
        match w.data {
            MatData::Q4_0(d) => (self.matvec_q4_0)(out, d, nb, head(&x.q8_0, nb)),
            MatData::Q4_1(d) => (self.matvec_q4_1)(out, d, nb, head(&x.q8_1, nb)),
            MatData::Q8_0(d) => (self.matvec_q8_0)(out, d, nb, head(&x.q8_0, nb)),
            MatData::F32(d) => (self.matvec_f32)(out, d, w.k, head(&x.f32, w.k)),
            MatData::F16(d) => (self.matvec_f16)(out, d, w.k, head(&x.f32, w.k)),
            MatData::BF16(d) => (self.matvec_bf16)(out, d, w.k, head(&x.f32, w.k)),
        }
    }
}

impl Default for Kernels {
    fn default() -> Self {
        Kernels::detect()
    }
}
