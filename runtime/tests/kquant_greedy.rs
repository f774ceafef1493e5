//! SmolLM2 quantized by our quantizer to the K-quant mixes (and the pure K files, which put
//! Q2_K..Q6_K on the 30 `ffn_down` matrices) against llama.cpp's greedy text on the same
//! files: equal for every public prompt, or the divergence explained by a near tie (top-2
//! logit gap below 0.05 at the step that diverges), the rule `cli.rs` applies to Q4_0.
//!
//! They are equal only because our AVX2 kernels follow llama.cpp's x86 build where it
//! computes a prompt batch with other K-quant kernels than one token (found by running the
//! same files through llama.cpp built from the same source, AVX2 only, which reproduces all
//! 45 reference texts), each output in its own f32 order (`dispatch::GemmFn`'s exception):
//! - Q2_K, Q3_K, Q5_K, Q6_K: batches of 8 or more tokens go through its tiled K-quant matmul
//!   (ggml-cpu/tiled; with GGML_CPU_TILED_MM=0 llama.cpp's logits equal the single-token
//!   ones): per super-block res = d_w * s1, res -= dmin_w * s2 (fused), acc = fma(res, d_x, acc);
//! - Q4_K is repacked: groups of 4 prompt tokens go through ggml_gemm_q4_K_8x8_q8_K, one fma
//!   per pair of sub-blocks; the rest through the gemv, one fma per super-block;
//! - the last layer's FFN runs on the output token alone (a batch of one), and a whole prompt
//!   up to 512 tokens is one batch (ours: steps of up to 32 tokens that know where they sit
//!   in it, `LlamaBatch`).

mod common;

use common::greedy;

/// Every public prompt through the library with the best kernels of this CPU.
fn greedy_matches_llamacpp(file_type: &str, pure: bool) {
    let label = if pure {
        format!("pure-{file_type}")
    } else {
        file_type.to_string()
    };
    let model_path = common::quantized_mix(file_type, pure);
    greedy::check_all(
        &model_path,
        &format!("smollm2-135m-instruct-{label}"),
        &label,
    );
}

#[test]
fn greedy_q4_k_m_matches_llamacpp() {
    greedy_matches_llamacpp("q4_k_m", false);
}

#[test]
fn greedy_q6_k_matches_llamacpp() {
    greedy_matches_llamacpp("q6_k", false);
}

#[test]
fn greedy_q5_k_m_matches_llamacpp() {
    greedy_matches_llamacpp("q5_k_m", false);
}

#[test]
fn greedy_q3_k_m_matches_llamacpp() {
    greedy_matches_llamacpp("q3_k_m", false);
}

#[test]
fn greedy_pure_q2_k_matches_llamacpp() {
    greedy_matches_llamacpp("q2_k", true);
}

#[test]
fn greedy_pure_q3_k_matches_llamacpp() {
    greedy_matches_llamacpp("q3_k", true);
}

#[test]
fn greedy_pure_q4_k_matches_llamacpp() {
    greedy_matches_llamacpp("q4_k", true);
}

#[test]
fn greedy_pure_q5_k_matches_llamacpp() {
    greedy_matches_llamacpp("q5_k", true);
}

#[test]
fn greedy_pure_q6_k_matches_llamacpp() {
    greedy_matches_llamacpp("q6_k", true);
}
