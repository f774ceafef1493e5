//! AVX-512 (F, BW, VL) + VNNI kernels on top of the AVX2 table: the Q4_0, Q5_0, Q5_1, Q8_0, Q4_K,
//! Q5_K and Q6_K dots and matvecs, and the Q4_0, Q8_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K gemms,
//! with `vpdpbusd`; the tiled f16 attention on 16 lanes, and the one-token f16 attention with
//! each query's value sum in registers; every other entry is the AVX2 one.
//! The K-quant gemms give the bits of AVX2's (llama.cpp's batch arithmetic, `gemm_k`).
//!
//! Each row's arithmetic is the AVX2 entry's to the bit (tests/kernels_generic.rs): a VNNI
//! i32 lane sums the same 4 adjacent byte products that `maddubs` + `madd` sum (exactly: no
//! product pair reaches i16 saturation on the q8 domain [-127, 127]), and the f32 steps are
//! the same operations in the same order. So the greedy texts stay llama.cpp's.
//!
//! Valgrind hides AVX-512 from CPUID: the table exists only when `is_x86_feature_detected!`
//! confirms every feature at run time, never from the build target.

mod attention;
mod attention_one;
mod gemm;
mod gemm_k;
mod gemm_q4_1;
mod gemm_q5;
mod gemm_q8;
mod k_quants;
mod q4;
mod q5;
mod q5_k;
mod q8;

use super::avx2;
use crate::kernels::{AttentionF16Kernels, Kernels, TypeKernels};

/// The AVX-512 table, or None when this CPU lacks AVX-512 F/BW/VL/VNNI or the AVX2 table's
/// features.
pub fn kernels() -> Option<Kernels> {
    if !(is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni"))
    {
        return None;
    }
    let base = avx2::kernels()?;
    Some(Kernels {
        q4_0: TypeKernels {
            dot: q4::dot_q4_0_q8_0,
            matvec: q4::matvec_q4_0,
            ..base.q4_0
        }
        .with_gemm(gemm::gemm_q4_0),
        q5_0: TypeKernels {
            dot: q5::dot_q5_0_q8_0,
            matvec: q5::matvec_q5_0,
            ..base.q5_0
        }
        .with_gemm(gemm_q5::gemm_q5_0),
        q5_1: TypeKernels {
            dot: q5::dot_q5_1_q8_1,
            matvec: q5::matvec_q5_1,
            ..base.q5_1
        }
        .with_gemm(gemm_q5::gemm_q5_1),
        // The K gemms: the bits of AVX2's (llama.cpp's batch order, not the dot's), taking
        // the tokens AVX2's take.
        q4_k: TypeKernels {
            dot: k_quants::dot_q4_k_q8_k,
            matvec: k_quants::matvec_q4_k,
            ..base.q4_k
        }
        .with_batch_gemm(gemm_k::gemm_q4_k, base.q4_k.gemm_takes),
        q5_k: TypeKernels {
            dot: q5_k::dot_q5_k_q8_k,
            matvec: q5_k::matvec_q5_k,
            ..base.q5_k
        }
        .with_batch_gemm(gemm_k::gemm_q5_k, base.q5_k.gemm_takes),
        q6_k: TypeKernels {
            dot: k_quants::dot_q6_k_q8_k,
            matvec: k_quants::matvec_q6_k,
            ..base.q6_k
        }
        .with_batch_gemm(gemm_k::gemm_q6_k, base.q6_k.gemm_takes),
        q8_0: TypeKernels {
            dot: q8::dot_q8_0_q8_0,
            matvec: q8::matvec_q8_0,
            ..base.q8_0
        }
        .with_gemm(gemm_q8::gemm_q8_0),
        q4_1: base.q4_1.with_gemm(gemm_q4_1::gemm_q4_1),
        attention_f16: AttentionF16Kernels {
            attend: attention_one::attend_f16,
            attend_tiled: attention::attend_f16_tiled,
            ..base.attention_f16
        },
        ..base.named("avx512")
    })
}
