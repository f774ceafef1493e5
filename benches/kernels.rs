//! Criterion benches: matvec of a 576 x 1536 weight matrix (SmolLM2's FFN down shape,
//! w (576, 1536) @ x (1536) -> out (576)) per weight type, scalar vs every ISA this CPU runs,
//! and the activation quantizers. Speed is reported in benches/README.md, never asserted.

use bytemuck::Zeroable;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use edge::internals::{Activation, Kernels, Matrix};
use edge_formats::blocks::{BlockQ8_K, QK_K};
use edge_formats::{BlockQ8_0, BlockQ8_1, GgmlType};

const ROWS: usize = 576;
const K: usize = 1536;

/// Deterministic pseudo-random values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn matvec(c: &mut Criterion) {
    let w = values(ROWS * K, 1);
    let x = values(K, 2);
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q8_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::F16,
    ] {
        let n_bytes = ty.row_bytes((ROWS * K) as u64).unwrap_or(0) as usize;
        // u32 storage keeps the bytes 4-aligned like the GGUF mapping.
        let mut store = vec![0u32; n_bytes.div_ceil(4)];
        let bytes = &mut bytemuck::cast_slice_mut::<u32, u8>(&mut store)[..n_bytes];
        edge_quantize::codec::quantize_row(ty, &w, bytes).expect("quantize");
        let m = Matrix::from_bytes(ty, bytes, ROWS, K).expect("matrix");
        let mut group = c.benchmark_group(format!("matvec_{}x{}_{}", ROWS, K, ty.name()));
        group.throughput(Throughput::Bytes(n_bytes as u64));
        for kern in Kernels::available() {
            let mut act = Activation::new(K);
            act.prepare(&kern, &x);
            let mut out = vec![0.0f32; ROWS];
            group.bench_function(kern.name(), |b| {
                b.iter(|| kern.matvec(black_box(&mut out), black_box(&m), black_box(&act)))
            });
        }
        group.finish();
    }
}

/// A prompt batch: w (576, 1536) @ 32 activations, as one `matmul` (the type's gemm where it
/// has one) against 32 `matvec`s (same bits, tests/kernels_gemm.rs; the K-quants' gemms take
/// llama.cpp's batch order, within the tolerance stated there).
fn matmul(c: &mut Criterion) {
    const TOKENS: usize = 32;
    let w = values(ROWS * K, 4);
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q8_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ] {
        let n_bytes = ty.row_bytes((ROWS * K) as u64).unwrap_or(0) as usize;
        let mut store = vec![0u32; n_bytes.div_ceil(4)];
        let bytes = &mut bytemuck::cast_slice_mut::<u32, u8>(&mut store)[..n_bytes];
        edge_quantize::codec::quantize_row(ty, &w, bytes).expect("quantize");
        let m = Matrix::from_bytes(ty, bytes, ROWS, K).expect("matrix");
        let mut group = c.benchmark_group(format!("matmul_{}x{}x{TOKENS}_{}", ROWS, K, ty.name()));
        for kern in Kernels::available().filter(|k| k.name() != "scalar") {
            let acts: Vec<Activation> = (0..TOKENS as u64)
                .map(|t| {
                    let mut act = Activation::new(K);
                    act.prepare(&kern, &values(K, 10 + t));
                    act
                })
                .collect();
            let mut out = vec![0.0f32; ROWS * TOKENS];
            group.bench_function(format!("{}/gemm", kern.name()), |b| {
                b.iter(|| {
                    let mut outs: Vec<&mut [f32]> = out.chunks_mut(ROWS).collect();
                    kern.matmul(black_box(&mut outs), black_box(&m), black_box(&acts))
                })
            });
            group.bench_function(format!("{}/matvec_per_token", kern.name()), |b| {
                b.iter(|| {
                    for (o, act) in out.chunks_mut(ROWS).zip(&acts) {
                        kern.matvec(black_box(o), black_box(&m), black_box(act))
                    }
                })
            });
        }
        group.finish();
    }
}

fn quantize(c: &mut Criterion) {
    let x = values(K, 3);
    let mut q0 = vec![BlockQ8_0::default(); K / 32];
    let mut q1 = vec![BlockQ8_1::default(); K / 32];
    let mut qk = vec![BlockQ8_K::zeroed(); K / QK_K];
    let mut group = c.benchmark_group(format!("quantize_activation_{K}"));
    for kern in Kernels::available() {
        group.bench_function(format!("q8_0/{}", kern.name()), |b| {
            b.iter(|| kern.quantize_q8_0(black_box(&x), black_box(&mut q0)))
        });
        group.bench_function(format!("q8_1/{}", kern.name()), |b| {
            b.iter(|| kern.quantize_q8_1(black_box(&x), black_box(&mut q1)))
        });
        group.bench_function(format!("q8_k/{}", kern.name()), |b| {
            b.iter(|| kern.quantize_q8_k(black_box(&x), black_box(&mut qk)))
        });
    }
    group.finish();
}

criterion_group!(benches, matvec, matmul, quantize);
criterion_main!(benches);
