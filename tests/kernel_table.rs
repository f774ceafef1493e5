//! The kernel table: on every SIMD table this machine runs, each weight type's entries are
//! that ISA's own kernels, not the generic fill-in `Kernels::scalar()` hands out for what an
//! ISA does not specialize (DESIGN convention 3). A table built on another SIMD table takes
//! that table's entries where it does not specialize: dotprod NEON's, avx512 AVX2's (the
//! rule: an avx512 entry is its own for the types of `AVX512_OWN`, else exactly AVX2's).
//! The ARM tables have a prompt gemm for every quantized type. Runs natively (avx2, avx512
//! where the CPU has it) and under qemu for the Cortex-A72 (neon) and A76 (dotprod) via
//! `scripts/aarch64-test`.

use edge::internals::Kernels;
mod common;
use common::kernel_inputs::simd_tables;

/// Each weight type's (dot, matvec) entries as addresses.
fn entries(k: &Kernels) -> Vec<(&'static str, [usize; 2])> {
    macro_rules! by_type {
        ($($ty:ident),*) => {
            vec![$((stringify!($ty), [k.$ty.dot as usize, k.$ty.matvec as usize])),*]
        };
    }
    by_type!(q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k, f32, f16, bf16)
}

/// The weight types an ISA has no kernel for: they run the generic one.
/// (None since NEON has its f16 dot.)
fn generic_on(_isa: &str) -> &'static [&'static str] {
    &[]
}

/// The weight types whose dotprod kernels are SDOT's own (the rest are NEON's).
const DOTPROD_OWN: [&str; 10] = [
    "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k",
];

#[test]
fn every_weight_type_runs_its_isa_kernel_not_the_generic_one() {
    let scalar = entries(&Kernels::scalar());
    for k in simd_tables() {
        for ((ty, got), (_, generic)) in entries(&k).iter().zip(&scalar) {
            if generic_on(k.name()).contains(ty) {
                assert_eq!(
                    got,
                    generic,
                    "{} {ty} has a kernel now: drop it from generic_on",
                    k.name()
                );
            } else {
                assert_ne!(
                    got[0],
                    generic[0],
                    "{} {ty}: dot is the generic one",
                    k.name()
                );
                assert_ne!(
                    got[1],
                    generic[1],
                    "{} {ty}: matvec is the generic one",
                    k.name()
                );
            }
        }
    }
}

/// The weight types whose avx512 kernels are its own (VNNI); the others are AVX2's.
const AVX512_OWN: [&str; 7] = ["q4_0", "q5_0", "q5_1", "q8_0", "q4_k", "q5_k", "q6_k"];

#[test]
fn avx512_entries_are_its_own_where_it_specializes_else_avx2_s() {
    let (Some(avx2), Some(avx512)) = (Kernels::by_name("avx2"), Kernels::by_name("avx512")) else {
        eprintln!("no AVX-512 on this CPU: nothing to compare");
        return;
    };
    for ((ty, own), (_, twin)) in entries(&avx512).iter().zip(&entries(&avx2)) {
        if AVX512_OWN.contains(ty) {
            assert_ne!(own[0], twin[0], "avx512 {ty}: dot is AVX2's");
            assert_ne!(own[1], twin[1], "avx512 {ty}: matvec is AVX2's");
        } else {
            assert_eq!(
                own, twin,
                "avx512 {ty}: not AVX2's entry: a kernel of its own goes in AVX512_OWN"
            );
        }
    }
}

/// The weight types whose avx512 gemms are its own (VNNI); the others are AVX2's.
const AVX512_OWN_GEMM: [&str; 8] = [
    "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q4_k", "q5_k", "q6_k",
];

#[test]
fn avx512_gemms_are_its_own_where_it_specializes_else_avx2_s() {
    let (Some(avx2), Some(avx512)) = (Kernels::by_name("avx2"), Kernels::by_name("avx512")) else {
        eprintln!("no AVX-512 on this CPU: nothing to compare");
        return;
    };
    macro_rules! gemms {
        ($k:expr; $($ty:ident),*) => {
            vec![$((stringify!($ty), $k.$ty.gemm.map(|g| g as usize), $k.$ty.gemm_takes)),*]
        };
    }
    let own = gemms!(avx512; q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k);
    let twin = gemms!(avx2; q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k);
    for ((ty, own, own_takes), (_, twin, twin_takes)) in own.iter().zip(&twin) {
        assert_eq!(
            own_takes, twin_takes,
            "avx512 {ty}: takes other tokens than AVX2"
        );
        if AVX512_OWN_GEMM.contains(ty) {
            assert!(own.is_some() && own != twin, "avx512 {ty}: gemm is AVX2's");
        } else {
            assert_eq!(
                own, twin,
                "avx512 {ty}: a gemm of its own goes in AVX512_OWN_GEMM"
            );
        }
    }
}

#[test]
fn dotprod_quantized_entries_are_its_own_not_neons() {
    let (Some(neon), Some(dotprod)) = (Kernels::by_name("neon"), Kernels::by_name("dotprod"))
    else {
        eprintln!("no dotprod on this CPU: nothing to compare");
        return;
    };
    for ((ty, sdot), (_, plain)) in entries(&dotprod).iter().zip(&entries(&neon)) {
        if DOTPROD_OWN.contains(ty) {
            assert_ne!(sdot[0], plain[0], "dotprod {ty}: dot is NEON's");
            assert_ne!(sdot[1], plain[1], "dotprod {ty}: matvec is NEON's");
        }
    }
}

#[test]
fn simd_activation_quantizers_are_their_isa_kernels() {
    let scalar = Kernels::scalar();
    for k in simd_tables() {
        assert_ne!(
            k.quantize_q8_0 as usize,
            scalar.quantize_q8_0 as usize,
            "{} q8_0",
            k.name()
        );
        assert_ne!(
            k.quantize_q8_1 as usize,
            scalar.quantize_q8_1 as usize,
            "{} q8_1",
            k.name()
        );
    }
}

/// Whether each quantized weight type has a prompt gemm, by name: Q4_0 and Q8_0 in the
/// file's layout or in the four-row repacked one (which the dotprod table runs).
fn gemms(k: &Kernels) -> Vec<(&'static str, bool)> {
    macro_rules! by_type {
        ($($ty:ident),*) => {
            vec![$((stringify!($ty), k.$ty.gemm.is_some())),*]
        };
    }
    let mut gemms = by_type!(q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k);
    gemms.push(("q4_0", k.q4_0.gemm.is_some() || k.q4_0x4_gemm.is_some()));
    gemms.push(("q8_0", k.q8_0.gemm.is_some() || k.q8_0x4_gemm.is_some()));
    gemms
}

#[test]
fn arm_tables_have_a_prompt_gemm_for_every_quantized_type() {
    // A prompt of n tokens reads each weight once per gemm pass, not n times (one matvec
    // per token).
    for k in simd_tables() {
        if !matches!(k.name(), "neon" | "dotprod") {
            continue;
        }
        for (ty, has_gemm) in gemms(&k) {
            assert!(has_gemm, "{} {ty}: no prompt gemm", k.name());
        }
    }
}
