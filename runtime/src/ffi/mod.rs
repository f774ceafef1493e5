//! libedge's C ABI (`include/edge.h`, generated from this module by cbindgen), thin over the
//! Rust API. DESIGN section 4: names `edge_<noun>_<verb>`, opaque handles, `edge_status`
//! returns with out-parameters, `edge_last_error()` per thread, every entry point inside the
//! panic boundary of [`status`], caller-sized buffers, `*_free(NULL)` a no-op.
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

mod args;
mod chat;
mod generate;
mod log;
mod model;
mod sampler;
mod session;
mod status;
mod system;
mod tokenizer;
