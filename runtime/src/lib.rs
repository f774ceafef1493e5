//! edge: runs quantized Llama-family GGUF models on small CPUs.
//!
//! Open a [`TextModel`] (weights, tokenizer and chat template of one GGUF file), make a
//! [`Generator`] over a [`Session`] (the KV cache and every buffer, allocated once), and
//! stream text:
//!
//! ```no_run
//! use edge::{GenerateParams, Generator, Prompt, SessionParams, TextModel};
//! use std::ops::ControlFlow;
//! use std::sync::Arc;
//!
//! # fn main() -> edge::Result<()> {
//! let model = Arc::new(TextModel::open("model.gguf".as_ref())?);
//! let mut generator = Generator::new(model, SessionParams::default(), GenerateParams::default())?;
//! let outcome = generator.generate(Prompt::Text("Once upon a time"), |piece| {
//!     print!("{piece}");
//!     ControlFlow::Continue(())
//! })?;
//! eprintln!("\n{} tokens, stopped by {}", outcome.generated_tokens, outcome.stop.name());
//! # Ok(())
//! # }
//! ```
//!
//! The lower layers are public too: [`Model`] (the weights; [`LoadOptions`] say whether
//! they are mapped or read into memory), [`Session::forward`]
//! (logits of one token), [`Sampler`], [`Tokenizer`], [`ChatTemplate`], and [`Isa`] (which
//! kernels run). Every fallible call returns [`Error`], whose [`Error::kind`] sorts it into a
//! few [`ErrorKind`]s.

#![warn(missing_docs)]
// Unsafe code only in the modules that need it: SIMD kernels, the worker pool and the
// disjoint output rows it hands out, fallible zeroed allocation, the model's self-borrow, the
// C ABI.
#![deny(unsafe_code)]

#[allow(unsafe_code)]
mod alloc;
mod chat;
mod error;
// The C ABI (libedge.so / libedge.a, include/edge.h): raw pointers from C.
#[allow(unsafe_code)]
mod ffi;
#[allow(unsafe_code)]
mod forward;
mod generate;
mod isa;
// Reached from outside only through `internals` (tests and benches).
#[allow(missing_docs, unsafe_code)]
mod kernels;
#[allow(unsafe_code)]
mod model;
pub mod perplexity;
mod sampler;
mod session;
#[allow(unsafe_code)]
mod threads;
mod tokenizer;

pub use chat::{ChatMessage, ChatTemplate};
pub use edge_formats::gguf::Storage;
pub use error::{Error, ErrorKind, Result};
pub use generate::{GenerateParams, Generator, Outcome, Pieces, Prompt, StopReason, TextModel};
pub use isa::Isa;
pub use model::{LoadOptions, Model};
pub use sampler::{Sampler, SamplerParams};
pub use session::{default_threads, KvType, MemoryPlan, Session, SessionParams, DEFAULT_MAX_CTX};
pub use tokenizer::{StreamDecoder, Tokenizer};

/// Internals that the workspace's tests and benches reach into: the kernel table and the
/// generic kernels, the sampler's random stream. **Not part of the API**: anything here may
/// change or go away in any release.
#[doc(hidden)]
pub mod internals {
    /// Tokens a prompt step runs per weight read (`tests/forward_model.rs`).
    pub use crate::forward::MAX_BATCH;
    /// The four-row repacked Q4_0 and Q8_0 layouts (`tests/kernels_repacked.rs`).
    pub use crate::kernels::repacked;
    /// The kernel table and its generic reference (`tests/kernels_generic.rs`,
    /// `benches/kernels.rs`).
    pub use crate::kernels::{
        generic, Activation, ActivationForm, ActivationForms, GemmTakes, Kernels, LlamaBatch,
        MatData, Matrix, TypeKernels,
    };
    /// The sampler's random stream and exponential (`tests/sampler.rs`).
    pub use crate::sampler::{exp_f64, Pcg32};
}
