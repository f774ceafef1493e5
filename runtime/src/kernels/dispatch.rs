//! The `Kernels` table: per weight type a [`TypeKernels`] (its dot product, its matvec row
//! loop, a slot for a batched gemm), plus the activation quantizers and SwiGLU; chosen once at
//! startup from the CPU's features (DESIGN convention 3). Every ISA fills the same table with
//! functions of identical signatures; an entry an ISA does not specialize is the generic one.

use super::repacked::{self, BlockQ4_0x4, BlockQ8_0x4};
use super::{generic, Activation, ActivationForm, ActivationInput, MatData, Matrix};
use crate::Result;
use edge_formats::blocks::{
    BlockQ2_K, BlockQ3_K, BlockQ4_K, BlockQ5_0, BlockQ5_1, BlockQ5_K, BlockQ6_K, BlockQ8_K,
};
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, GgmlType};
use half::{bf16, f16};

/// w (row_len) . x (row_len) -> f32, row_len in blocks (quantized) or elements (float).
pub type DotFn<W, X> = fn(w: &[W], x: &[X]) -> f32;

/// w (rows, row_len blocks or elements) @ x (row_len) -> out (rows).
pub type MatvecFn<W, X> = fn(out: &mut [f32], w: &[W], row_len: usize, x: &[X]);

/// w (rows, row_len) @ xs[t] (row_len) -> out[t] (rows) for every token t < min(out.len(),
/// xs.len()), rows = min(w.len() / row_len, every out[t].len()): the batched product a prompt
/// runs instead of one matvec per token. Contract: every output is the bits of
/// `dot(row r of w, xs[t])` (`generic::gemm_by` is the reference; tests/kernels_gemm.rs), so
/// only the tiling over rows and tokens differs, never a reduction's order.
///
/// Exception, the AVX2 K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K): llama.cpp's x86 build
/// multiplies a prompt batch with other kernels than a single token, in another f32 order
/// (Q2_K/Q3_K/Q5_K/Q6_K its tiled K-quant matmul, Q4_K its repacked 8x8 gemm), and greedy
/// text equals llama.cpp's only if ours does the same. Their gemm entries give each output in
/// that batch arithmetic instead: not the bits of their dot but within
/// 4 (nb + 16) eps32 * sum_e |x_e| (|w_e| + 63 |dmin_w|) of it (the same exact integer sums,
/// other f32 roundings), and the bits of a scalar model of the same arithmetic
/// (tests/kernels_gemm.rs). So do the AVX2 F32 and F16 gemms (llamafile's tinyBLAS order for
/// batches of 2+ tokens: one 8-lane accumulator per output, x rounded to f16 for F16
/// weights; `x86/avx2/float_gemm.rs`). Which tokens take
/// such a gemm is llama.cpp's choice too, the entry's [`GemmTakes`]. Both ways, an output
/// depends on its row and token only, never on the tiling or the thread count.
pub type GemmFn<W, X> = fn(out: &mut [&mut [f32]], w: &[W], row_len: usize, xs: &[&[X]]);

/// Tokens a gemm call takes at most (`Kernels::matmul` cuts longer batches).
pub const GEMM_TOKENS: usize = 32;

/// Which tokens of a batch a type's gemm takes (the others go through `matvec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmTakes {
    /// Every token of a batch of two or more (the gemm gives the bits of `dot`).
    Any,
    /// Every token of a [`LlamaBatch`] of at least this many tokens, none of a smaller one
    /// (llama.cpp's tiled K-quant matmul from 8 tokens, its float tinyBLAS from 2).
    BatchOfAtLeast(usize),
    /// The tokens of the whole groups of this many, counted from the start of the
    /// [`LlamaBatch`] (llama.cpp's repacked Q4_K gemm; the remainder takes the gemv).
    WholeGroupsOf(usize),
}

/// Where the tokens of one matrix product sit in the batch llama.cpp would have computed
/// them in (a prompt is one llama.cpp batch of up to [`LLAMA_UBATCH`] tokens): what decides
/// which kernels llama.cpp uses for them ([`GemmTakes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LlamaBatch {
    /// Tokens in llama.cpp's batch.
    pub len: usize,
    /// Index in it of the product's first token.
    pub first: usize,
}

impl LlamaBatch {
    /// A batch made of exactly the product's `n` tokens.
    pub const fn whole(n: usize) -> Self {
        LlamaBatch { len: n, first: 0 }
    }
}

/// Tokens llama.cpp computes in one batch at most (its default `n_ubatch`); a longer prompt
/// is several batches of this many, the last one shorter.
pub const LLAMA_UBATCH: usize = 512;

/// The kernels of one weight type `W` whose dot product reads activations `X` (f32 or a
/// quantized [`ActivationForm`]).
pub struct TypeKernels<W, X> {
    /// One row times the activation.
    pub dot: DotFn<W, X>,
    /// The row loop over `dot` (or a kernel that does several rows at once, with each row's
    /// result the bits of `dot`).
    pub matvec: MatvecFn<W, X>,
    /// A batched product with each output the bits of `dot` (the K-quants on AVX2: the
    /// exception of [`GemmFn`]), where an ISA has one (else `matvec` per token).
    pub gemm: Option<GemmFn<W, X>>,
    /// Which tokens `gemm` takes.
    pub gemm_takes: GemmTakes,
}

// Manual impls: the entries are function pointers, whatever W and X are.
impl<W, X> Clone for TypeKernels<W, X> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W, X> Copy for TypeKernels<W, X> {}
impl<W, X> std::fmt::Debug for TypeKernels<W, X> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypeKernels")
            .field("gemm", &self.gemm.is_some())
            .field("gemm_takes", &self.gemm_takes)
            .finish_non_exhaustive()
    }
}

impl<W, X: ActivationInput> TypeKernels<W, X> {
    /// `dot` and `matvec`, no gemm.
    pub const fn new(dot: DotFn<W, X>, matvec: MatvecFn<W, X>) -> Self {
        TypeKernels {
            dot,
            matvec,
            gemm: None,
            gemm_takes: GemmTakes::Any,
        }
    }

    /// These entries with `gemm` as the batched product (each output the bits of `dot`).
    pub const fn with_gemm(self, gemm: GemmFn<W, X>) -> Self {
        TypeKernels {
            gemm: Some(gemm),
            gemm_takes: GemmTakes::Any,
            ..self
        }
    }

    /// These entries with `gemm` as llama.cpp's batch arithmetic for the tokens `takes`
    /// selects (the exception of [`GemmFn`]).
    pub const fn with_batch_gemm(self, gemm: GemmFn<W, X>, takes: GemmTakes) -> Self {
        TypeKernels {
            gemm: Some(gemm),
            gemm_takes: takes,
            ..self
        }
    }

    /// How many of the `n` tokens at `batch` take `gemm`: always a prefix of them.
    pub fn gemm_tokens(&self, n: usize, batch: LlamaBatch) -> usize {
        if self.gemm.is_none() {
            return 0;
        }
        match self.gemm_takes {
            GemmTakes::Any if n > 1 => n,
            GemmTakes::Any => 0,
            GemmTakes::BatchOfAtLeast(min) if batch.len >= min => n,
            GemmTakes::BatchOfAtLeast(_) => 0,
            GemmTakes::WholeGroupsOf(g) => {
                let whole = batch.len - batch.len % g.max(1);
                n.min(whole.saturating_sub(batch.first))
            }
        }
    }

    /// The activation form `dot` reads (None: the f32 copy).
    pub const fn reads(&self) -> Option<ActivationForm> {
        X::FORM
    }

    /// w (rows, k) @ x (k) -> out (rows), reading x in this type's form.
    #[inline(always)]
    fn matvec_activation(&self, out: &mut [f32], w: &[W], k: usize, x: &Activation) {
        let xs = X::of(x);
        debug_assert!(
            xs.len() * X::ELEMENTS >= x.len(),
            "matvec: the activation was not prepared in the form this matrix reads"
        );
        let row_len = k / X::ELEMENTS;
        (self.matvec)(out, w, row_len, &xs[..row_len.min(xs.len())])
    }

    /// w (rows, k) @ xs[t] (k) -> out[t] (rows) for every token: `gemm` over tiles of up to
    /// GEMM_TOKENS tokens for the tokens it takes at `batch` ([`Self::gemm_tokens`]),
    /// `matvec` for the others.
    #[inline(always)]
    fn matmul_activations(
        &self,
        out: &mut [&mut [f32]],
        w: &[W],
        k: usize,
        xs: &[Activation],
        batch: LlamaBatch,
    ) {
        let row_len = k / X::ELEMENTS;
        let n_gemm = self.gemm_tokens(xs.len(), batch);
        let (out_gemm, out_rest) = out.split_at_mut(n_gemm);
        let (xs_gemm, xs_rest) = xs.split_at(n_gemm);
        if let Some(gemm) = self.gemm {
            for (outs, acts) in out_gemm
                .chunks_mut(GEMM_TOKENS)
                .zip(xs_gemm.chunks(GEMM_TOKENS))
            {
                let mut inputs: [&[X]; GEMM_TOKENS] = [&[]; GEMM_TOKENS];
                for (input, act) in inputs.iter_mut().zip(acts) {
                    let x = X::of(act);
                    *input = &x[..row_len.min(x.len())];
                }
                gemm(outs, w, row_len, &inputs[..acts.len()]);
            }
        }
        for (o, x) in out_rest.iter_mut().zip(xs_rest) {
            self.matvec_activation(o, w, k, x);
        }
    }
}

/// The inner loops of attention over an f16 KV cache (ggml's flash-attention arithmetic):
/// every ISA's entries give the generic entries' results to the bit.
#[derive(Clone, Copy, Debug)]
pub struct AttentionF16Kernels {
    /// acc (n) += v (n) * w, per element `acc_i = f16(fma(v_i, w, acc_i))` (kept as f32).
    pub mad: fn(acc: &mut [f32], v: &[f16], w: f32),
    /// acc (n) *= s, per element `acc_i = f16(acc_i * s)` (kept as f32).
    pub scale: fn(acc: &mut [f32], s: f32),
    /// x (n) -> x (n), every element rounded to the nearest f16, ties to even (kept as f32).
    pub round: fn(x: &mut [f32]),
    /// For each key row of keys (n, hd) in order, for each query i (hd, rounded to f16):
    /// `generic::online_softmax_step` with score `dot(key, q_i) * scale` (this ISA's f16
    /// dot), updating max[i], sum[i] and accs[i] (hd); a batch's queries share each row read.
    #[allow(clippy::type_complexity)]
    pub attend: fn(
        keys: &[f16],
        values: &[f16],
        queries: &[&[f32]],
        scale: f32,
        max: &mut [f32],
        sum: &mut [f32],
        accs: &mut [&mut [f32]],
    ),
    /// ggml's tiled flash attention (`generic::attend_f16_tiled` states its arithmetic: f32
    /// on the widened keys and values, keys in tiles of 64 from position 0), llama.cpp's path
    /// for a batch of 64 or more tokens: queries of one head at positions first_pos..
    /// (query i attends keys 0..=first_pos + i, q not rounded) -> outs[i] (hd), normalized.
    /// Each query's result depends on nothing but its own inputs.
    #[allow(clippy::type_complexity)]
    pub attend_tiled: fn(
        keys: &[f16],
        values: &[f16],
        queries: &[&[f32]],
        first_pos: usize,
        scale: f32,
        outs: &mut [&mut [f32]],
    ),
}

/// The kernels of one ISA. `Copy`; build it once with [`Kernels::detect`] and pass it around.
/// Per weight type, call its entries as `(k.q4_0.dot)(w, x)`; [`Kernels::matvec`] dispatches
/// on a matrix's type.
#[derive(Clone, Copy, Debug)]
pub struct Kernels {
    pub(crate) name: &'static str,
    /// x (n) -> out (ceil(n/32)): [`ActivationForm::Q8_0`], round half to even.
    pub quantize_q8_0: fn(x: &[f32], out: &mut [BlockQ8_0]),
    /// x (n) -> out (ceil(n/32)): [`ActivationForm::Q8_1`] (with block sums), round half to
    /// even.
    pub quantize_q8_1: fn(x: &[f32], out: &mut [BlockQ8_1]),
    /// x (n) -> out (ceil(n/256)): [`ActivationForm::Q8_K`] (with sums of 16), round half to
    /// even.
    pub quantize_q8_k: fn(x: &[f32], out: &mut [BlockQ8_K]),
    pub q4_0: TypeKernels<BlockQ4_0, BlockQ8_0>,
    pub q4_1: TypeKernels<BlockQ4_1, BlockQ8_1>,
    pub q5_0: TypeKernels<BlockQ5_0, BlockQ8_0>,
    pub q5_1: TypeKernels<BlockQ5_1, BlockQ8_1>,
    pub q8_0: TypeKernels<BlockQ8_0, BlockQ8_0>,
    pub q2_k: TypeKernels<BlockQ2_K, BlockQ8_K>,
    pub q3_k: TypeKernels<BlockQ3_K, BlockQ8_K>,
    pub q4_k: TypeKernels<BlockQ4_K, BlockQ8_K>,
    pub q5_k: TypeKernels<BlockQ5_K, BlockQ8_K>,
    pub q6_k: TypeKernels<BlockQ6_K, BlockQ8_K>,
    pub f32: TypeKernels<f32, f32>,
    pub f16: TypeKernels<f16, f32>,
    pub bf16: TypeKernels<bf16, f32>,
    /// Q4_0 repacked four rows at a time (`MatData::Q4_0x4`): each row the bits of this
    /// table's `q4_0.dot` on ARM, of the generic dot elsewhere (`kernels::repacked`).
    pub q4_0x4: MatvecFn<BlockQ4_0x4, BlockQ8_0>,
    /// Q8_0 repacked four rows at a time (`MatData::Q8_0x4`), as `q4_0x4`.
    pub q8_0x4: MatvecFn<BlockQ8_0x4, BlockQ8_0>,
    /// The batched product over `MatData::Q4_0x4` for two or more tokens, each output the
    /// bits of `q4_0x4` for its token, where an ISA has one (else `q4_0x4` per token).
    pub q4_0x4_gemm: Option<GemmFn<BlockQ4_0x4, BlockQ8_0>>,
    /// The batched product over `MatData::Q8_0x4`, as `q4_0x4_gemm`.
    pub q8_0x4_gemm: Option<GemmFn<BlockQ8_0x4, BlockQ8_0>>,
    /// gate (n), up (n) -> gate (n): silu(gate) * up, ggml's arithmetic (`generic::swiglu`).
    pub swiglu: fn(gate: &mut [f32], up: &[f32]),
    /// Attention over an f16 KV cache: the value updates and the q rounding.
    pub attention_f16: AttentionF16Kernels,
}

/// Names `by_name` and `EDGE_ISA` accept, best last.
pub const ISA_NAMES: [&str; 5] = ["scalar", "avx2", "avx512", "neon", "dotprod"];

/// The portable reference table.
const GENERIC: Kernels = Kernels {
    name: "scalar",
    quantize_q8_0: generic::quantize_q8_0,
    quantize_q8_1: generic::quantize_q8_1,
    quantize_q8_k: generic::quantize_q8_k,
    q4_0: generic::Q4_0,
    q4_1: generic::Q4_1,
    q5_0: generic::Q5_0,
    q5_1: generic::Q5_1,
    q8_0: generic::Q8_0,
    q2_k: generic::Q2_K,
    q3_k: generic::Q3_K,
    q4_k: generic::Q4_K,
    q5_k: generic::Q5_K,
    q6_k: generic::Q6_K,
    f32: generic::F32,
    f16: generic::F16,
    bf16: generic::BF16,
    q4_0x4: repacked::matvec_q4_0x4,
    q8_0x4: repacked::matvec_q8_0x4,
    q4_0x4_gemm: None,
    q8_0x4_gemm: None,
    swiglu: generic::swiglu,
    attention_f16: generic::ATTENTION_F16,
};

impl Kernels {
    /// The portable scalar reference.
    pub fn scalar() -> Kernels {
        GENERIC
    }

    /// The activation form the dot product of weight type `ty` reads (None: the f32 copy, or
    /// not a weight type). Fixed by the types of the table's entries, the same on every ISA.
    pub fn activation_form(ty: GgmlType) -> Option<ActivationForm> {
        match ty {
            GgmlType::Q4_0 => GENERIC.q4_0.reads(),
            GgmlType::Q4_1 => GENERIC.q4_1.reads(),
            GgmlType::Q5_0 => GENERIC.q5_0.reads(),
            GgmlType::Q5_1 => GENERIC.q5_1.reads(),
            GgmlType::Q8_0 => GENERIC.q8_0.reads(),
            GgmlType::Q2_K => GENERIC.q2_k.reads(),
            GgmlType::Q3_K => GENERIC.q3_k.reads(),
            GgmlType::Q4_K => GENERIC.q4_k.reads(),
            GgmlType::Q5_K => GENERIC.q5_k.reads(),
            GgmlType::Q6_K => GENERIC.q6_k.reads(),
            GgmlType::F32 => GENERIC.f32.reads(),
            GgmlType::F16 => GENERIC.f16.reads(),
            GgmlType::BF16 => GENERIC.bf16.reads(),
            // Activation types, not weight types.
            GgmlType::Q8_1 | GgmlType::Q8_K => None,
        }
    }

    /// The kernels of [`crate::Isa::detect`]: `EDGE_ISA`'s, or the best this CPU runs.
    pub fn detect() -> Result<Kernels> {
        crate::Isa::detect().map(|isa| *isa.kernels())
    }

    /// The best kernels this CPU supports, ignoring `EDGE_ISA`.
    pub fn best() -> Kernels {
        ISA_NAMES
            .iter()
            .rev()
            .find_map(|n| Kernels::by_name(n))
            .unwrap_or_else(Kernels::scalar)
    }

    /// The kernels of the named ISA ("scalar", "avx2", "avx512", "neon", "dotprod";
    /// case-insensitive),
    /// or None if the name is unknown or this CPU cannot run that ISA.
    pub fn by_name(name: &str) -> Option<Kernels> {
        match name.to_ascii_lowercase().as_str() {
            "scalar" | "generic" => Some(Kernels::scalar()),
            #[cfg(target_arch = "x86_64")]
            "avx2" => super::x86::avx2::kernels(),
            #[cfg(target_arch = "x86_64")]
            "avx512" => super::x86::avx512::kernels(),
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

    /// "scalar", "avx2", "avx512", "neon" or "dotprod".
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

    /// x (n) -> out (ceil(n/256) blocks), round half to even, with the sums of each 16.
    pub fn quantize_q8_k(&self, x: &[f32], out: &mut [BlockQ8_K]) {
        (self.quantize_q8_k)(x, out)
    }

    /// w (rows, k) @ x (k) -> out (rows); single-threaded over the given rows (split the
    /// work with `Matrix::rows`). Each weight type reads x in the form of its table entry
    /// ([`Kernels::activation_form`]), floats read x.f32. Writes min(out.len(), w.rows)
    /// values. `x` must have been prepared from a vector of length w.k (checked in debug
    /// builds; in release a shorter x reads as a shorter dot).
    pub fn matvec(&self, out: &mut [f32], w: &Matrix, x: &Activation) {
        debug_assert_eq!(
            w.k,
            x.len(),
            "matvec: matrix row length vs activation length"
        );
        let rows = w.rows.min(out.len());
        let out = &mut out[..rows];
        match w.data {
            MatData::Q4_0(d) => self.q4_0.matvec_activation(out, d, w.k, x),
            MatData::Q4_1(d) => self.q4_1.matvec_activation(out, d, w.k, x),
            MatData::Q5_0(d) => self.q5_0.matvec_activation(out, d, w.k, x),
            MatData::Q5_1(d) => self.q5_1.matvec_activation(out, d, w.k, x),
            MatData::Q8_0(d) => self.q8_0.matvec_activation(out, d, w.k, x),
            MatData::Q2_K(d) => self.q2_k.matvec_activation(out, d, w.k, x),
            MatData::Q3_K(d) => self.q3_k.matvec_activation(out, d, w.k, x),
            MatData::Q4_K(d) => self.q4_k.matvec_activation(out, d, w.k, x),
            MatData::Q5_K(d) => self.q5_k.matvec_activation(out, d, w.k, x),
            MatData::Q6_K(d) => self.q6_k.matvec_activation(out, d, w.k, x),
            MatData::F32(d) => self.f32.matvec_activation(out, d, w.k, x),
            MatData::F16(d) => self.f16.matvec_activation(out, d, w.k, x),
            MatData::BF16(d) => self.bf16.matvec_activation(out, d, w.k, x),
            MatData::Q4_0x4(d) => matvec_repacked(self.q4_0x4, out, d, w.k, x),
            MatData::Q8_0x4(d) => matvec_repacked(self.q8_0x4, out, d, w.k, x),
        }
    }

    /// w (rows, k) @ xs[t] (k) -> out[t] (rows) for t < min(out.len(), xs.len()), each output
    /// the bits of the `matvec` of that token (the type's gemm where it has one); single-
    /// threaded over the given rows like `matvec`. Writes min(out[t].len(), w.rows) values.
    /// The tokens are one llama.cpp batch of their own: the AVX2 K-quants give llama.cpp's
    /// batch arithmetic where it would use it (see [`Kernels::matmul_in`]).
    pub fn matmul(&self, out: &mut [&mut [f32]], w: &Matrix, xs: &[Activation]) {
        let n = out.len().min(xs.len());
        self.matmul_in(out, w, xs, LlamaBatch::whole(n))
    }

    /// `matmul` for tokens that sit at `batch` in llama.cpp's batch: every output is the bits
    /// of its token's `matvec`, except for the types whose gemm follows llama.cpp's batch
    /// arithmetic (the exception of [`GemmFn`]) on the tokens that llama.cpp computes with it.
    pub fn matmul_in(
        &self,
        out: &mut [&mut [f32]],
        w: &Matrix,
        xs: &[Activation],
        batch: LlamaBatch,
    ) {
        let n = out.len().min(xs.len());
        let (out, xs) = (&mut out[..n], &xs[..n]);
        for (o, x) in out.iter_mut().zip(xs) {
            debug_assert_eq!(
                w.k,
                x.len(),
                "matmul: matrix row length vs activation length"
            );
            let rows = w.rows.min(o.len());
            *o = &mut std::mem::take(o)[..rows];
        }
        match w.data {
            MatData::Q4_0(d) => self.q4_0.matmul_activations(out, d, w.k, xs, batch),
            MatData::Q4_1(d) => self.q4_1.matmul_activations(out, d, w.k, xs, batch),
            MatData::Q5_0(d) => self.q5_0.matmul_activations(out, d, w.k, xs, batch),
            MatData::Q5_1(d) => self.q5_1.matmul_activations(out, d, w.k, xs, batch),
            MatData::Q8_0(d) => self.q8_0.matmul_activations(out, d, w.k, xs, batch),
            MatData::Q2_K(d) => self.q2_k.matmul_activations(out, d, w.k, xs, batch),
            MatData::Q3_K(d) => self.q3_k.matmul_activations(out, d, w.k, xs, batch),
            MatData::Q4_K(d) => self.q4_k.matmul_activations(out, d, w.k, xs, batch),
            MatData::Q5_K(d) => self.q5_k.matmul_activations(out, d, w.k, xs, batch),
            MatData::Q6_K(d) => self.q6_k.matmul_activations(out, d, w.k, xs, batch),
            MatData::F32(d) => self.f32.matmul_activations(out, d, w.k, xs, batch),
            MatData::F16(d) => self.f16.matmul_activations(out, d, w.k, xs, batch),
            MatData::BF16(d) => self.bf16.matmul_activations(out, d, w.k, xs, batch),
            MatData::Q4_0x4(d) => matmul_repacked(self.q4_0x4, self.q4_0x4_gemm, out, d, w.k, xs),
            MatData::Q8_0x4(d) => matmul_repacked(self.q8_0x4, self.q8_0x4_gemm, out, d, w.k, xs),
        }
    }
}

/// w (rows, k) @ x (k) -> out (rows) for a repacked matrix, reading x's Q8_0 form.
#[inline(always)]
fn matvec_repacked<W>(
    matvec: MatvecFn<W, BlockQ8_0>,
    out: &mut [f32],
    w: &[W],
    k: usize,
    x: &Activation,
) {
    let xs = BlockQ8_0::of(x);
    let row_len = k / BlockQ8_0::ELEMENTS;
    matvec(out, w, row_len, &xs[..row_len.min(xs.len())])
}

/// w (rows, k) @ xs[t] (k) -> out[t] (rows) for a repacked matrix, reading each x's Q8_0
/// form: `gemm` over tiles of up to GEMM_TOKENS tokens for a batch of two or more where the
/// table has one (each output the bits of its token's `matvec`), else `matvec` per token.
#[inline(always)]
fn matmul_repacked<W>(
    matvec: MatvecFn<W, BlockQ8_0>,
    gemm: Option<GemmFn<W, BlockQ8_0>>,
    out: &mut [&mut [f32]],
    w: &[W],
    k: usize,
    xs: &[Activation],
) {
    let gemm = gemm.filter(|_| xs.len() > 1);
    let Some(gemm) = gemm else {
        for (o, x) in out.iter_mut().zip(xs) {
            matvec_repacked(matvec, o, w, k, x);
        }
        return;
    };
    let row_len = k / BlockQ8_0::ELEMENTS;
    for (outs, acts) in out.chunks_mut(GEMM_TOKENS).zip(xs.chunks(GEMM_TOKENS)) {
        let mut inputs: [&[BlockQ8_0]; GEMM_TOKENS] = [&[]; GEMM_TOKENS];
        for (input, act) in inputs.iter_mut().zip(acts) {
            let x = BlockQ8_0::of(act);
            *input = &x[..row_len.min(x.len())];
        }
        gemm(outs, w, row_len, &inputs[..acts.len()]);
    }
}
