//! Batched products: every table's gemm gives, output for output, the bits of its own dot
//! (the contract of `GemmFn`, reference `generic::gemm_by`), for ragged row, token and block
//! counts; and `Kernels::matmul` gives the bits of one `matvec` per token for every weight
//! type, so a prompt batch gives the bits of its tokens one by one. No tolerance: exact.
//!
//! The exception (`GemmFn`'s doc): the AVX2 K-quant gemms follow llama.cpp's batch
//! arithmetic, so their outputs are checked against their dot within a stated tolerance, and
//! `Kernels::matmul_in` against llama.cpp's choice of which tokens take them.

use edge::internals::{
    generic, Activation, GemmTakes, Kernels, LlamaBatch, Matrix, TypeKernels, MAX_BATCH,
};
use edge_formats::blocks::float::f32_to_bf16_bits;
use edge_formats::blocks::q2_k::unpack_2bit;
use edge_formats::blocks::q3_k::unpack_q3_scales;
use edge_formats::blocks::q4_k::{scale_min_k4, unpack_4bit_k};
use edge_formats::blocks::q6_k::unpack_q6_k;
use edge_formats::blocks::{
    BlockQ2_K, BlockQ3_K, BlockQ4_K, BlockQ5_0, BlockQ5_1, BlockQ5_K, BlockQ6_K, BlockQ8_K, QK_K,
};
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, GgmlType};
use half::{bf16, f16};
mod common;
use common::kernel_inputs::Rng;

/// A q8 value in the kernels' domain [-127, 127]; one block in four is all at the extremes
/// (the largest integer sums a block can have).
fn q8_values(rng: &mut Rng, extreme: bool) -> [i8; 32] {
    std::array::from_fn(|_| {
        let v = (rng.next() % 255) as i32 - 127;
        match (extreme, v < 0) {
            (false, _) => v as i8,
            (true, true) => -127,
            (true, false) => 127,
        }
    })
}

fn scale(rng: &mut Rng) -> f16 {
    f16::from_f32(rng.sym() * 2.0f32.powi((rng.next() % 20) as i32 - 10))
}

fn q4_0_blocks(rng: &mut Rng, n: usize) -> Vec<BlockQ4_0> {
    (0..n)
        .map(|i| BlockQ4_0 {
            d: scale(rng),
            qs: if i % 4 == 3 {
                [if i % 8 == 3 { 0xFF } else { 0x00 }; 16]
            } else {
                std::array::from_fn(|_| rng.next() as u8)
            },
        })
        .collect()
}

fn q8_0_blocks(rng: &mut Rng, n: usize) -> Vec<BlockQ8_0> {
    (0..n)
        .map(|i| BlockQ8_0 {
            d: scale(rng),
            qs: q8_values(rng, i % 4 == 3),
        })
        .collect()
}

/// Q5_0 blocks: random values and fifth bits; one block in four all 0 or all 31.
fn q5_0_blocks(rng: &mut Rng, n: usize) -> Vec<BlockQ5_0> {
    (0..n)
        .map(|i| {
            let (qh, qs) = q5_bits(rng, i);
            BlockQ5_0 {
                d: scale(rng),
                qh,
                qs,
            }
        })
        .collect()
}

fn q5_1_blocks(rng: &mut Rng, n: usize) -> Vec<BlockQ5_1> {
    (0..n)
        .map(|i| {
            let (qh, qs) = q5_bits(rng, i);
            BlockQ5_1 {
                d: scale(rng),
                m: scale(rng),
                qh,
                qs,
            }
        })
        .collect()
}

fn q5_bits(rng: &mut Rng, i: usize) -> ([u8; 4], [u8; 16]) {
    if i % 4 == 3 {
        let b = if i % 8 == 3 { 0xFF } else { 0x00 };
        ([b; 4], [b; 16])
    } else {
        (
            (rng.next() as u32).to_le_bytes(),
            std::array::from_fn(|_| rng.next() as u8),
        )
    }
}

fn q4_1_blocks(rng: &mut Rng, n: usize) -> Vec<BlockQ4_1> {
    (0..n)
        .map(|i| BlockQ4_1 {
            d: scale(rng),
            m: scale(rng),
            qs: if i % 4 == 3 {
                [if i % 8 == 3 { 0xFF } else { 0x00 }; 16]
            } else {
                std::array::from_fn(|_| rng.next() as u8)
            },
        })
        .collect()
}

fn q8_1_blocks(rng: &mut Rng, n: usize) -> Vec<BlockQ8_1> {
    (0..n)
        .map(|i| BlockQ8_1 {
            d: scale(rng),
            s: scale(rng),
            qs: q8_values(rng, i % 4 == 3),
        })
        .collect()
}

const ROWS: [usize; 7] = [1, 3, 8, 9, 16, 23, 40];
const TOKENS: [usize; 9] = [1, 2, 3, 4, 5, 8, 13, 32, 35];
const BLOCKS: [usize; 5] = [1, 2, 15, 17, 33];

/// out[t][r] for a gemm of `rows` x `n_tok`, every value poisoned first.
fn outputs(rows: usize, n_tok: usize) -> Vec<Vec<f32>> {
    vec![vec![f32::NAN; rows]; n_tok]
}

fn bits(v: &[Vec<f32>]) -> Vec<Vec<u32>> {
    v.iter()
        .map(|o| o.iter().map(|x| x.to_bits()).collect())
        .collect()
}

/// A table's gemm entry (`GemmFn`).
type Gemm<W, X> = fn(&mut [&mut [f32]], &[W], usize, &[&[X]]);

/// Runs `gemm` and `gemm_by(dot)` on the same inputs and compares bit for bit.
fn check_gemm<W, X>(
    label: &str,
    gemm: Gemm<W, X>,
    dot: fn(&[W], &[X]) -> f32,
    w: &[W],
    nb: usize,
    xs: &[Vec<X>],
    rows: usize,
) {
    let inputs: Vec<&[X]> = xs.iter().map(|x| x.as_slice()).collect();
    let mut got = outputs(rows, xs.len());
    let mut want = outputs(rows, xs.len());
    {
        let mut outs: Vec<&mut [f32]> = got.iter_mut().map(|o| o.as_mut_slice()).collect();
        gemm(&mut outs, w, nb, &inputs);
    }
    {
        let mut outs: Vec<&mut [f32]> = want.iter_mut().map(|o| o.as_mut_slice()).collect();
        generic::gemm_by(&mut outs, w, nb, &inputs, dot);
    }
    assert_eq!(bits(&got), bits(&want), "{label}");
}

#[test]
fn every_gemm_output_is_the_bits_of_its_dot() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut checked = 0;
    for k in Kernels::available() {
        for &nb in &BLOCKS {
            for &rows in &ROWS {
                let w4 = q4_0_blocks(&mut rng, rows * nb);
                let w8 = q8_0_blocks(&mut rng, rows * nb);
                let w5_0 = q5_0_blocks(&mut rng, rows * nb);
                let w5_1 = q5_1_blocks(&mut rng, rows * nb);
                let w4_1 = q4_1_blocks(&mut rng, rows * nb);
                for &n_tok in &TOKENS {
                    let xs: Vec<Vec<BlockQ8_0>> =
                        (0..n_tok).map(|_| q8_0_blocks(&mut rng, nb)).collect();
                    let xs1: Vec<Vec<BlockQ8_1>> =
                        (0..n_tok).map(|_| q8_1_blocks(&mut rng, nb)).collect();
                    let label = |ty| {
                        format!(
                            "{} {ty}: {rows} rows, {n_tok} tokens, {nb} blocks",
                            k.name()
                        )
                    };
                    if let Some(gemm) = k.q4_0.gemm {
                        check_gemm(&label("q4_0"), gemm, k.q4_0.dot, &w4, nb, &xs, rows);
                        checked += 1;
                    }
                    if let Some(gemm) = k.q8_0.gemm {
                        check_gemm(&label("q8_0"), gemm, k.q8_0.dot, &w8, nb, &xs, rows);
                        checked += 1;
                    }
                    if let Some(gemm) = k.q5_0.gemm {
                        check_gemm(&label("q5_0"), gemm, k.q5_0.dot, &w5_0, nb, &xs, rows);
                        checked += 1;
                    }
                    if let Some(gemm) = k.q5_1.gemm {
                        check_gemm(&label("q5_1"), gemm, k.q5_1.dot, &w5_1, nb, &xs1, rows);
                        checked += 1;
                    }
                    if let Some(gemm) = k.q4_1.gemm {
                        check_gemm(&label("q4_1"), gemm, k.q4_1.dot, &w4_1, nb, &xs1, rows);
                        checked += 1;
                    }
                }
            }
        }
    }
    eprintln!("gemm cases checked: {checked}");
}

#[test]
fn gemm_edge_shapes_follow_the_dot() {
    // a token shorter than a row (dot runs over the shorter), more tokens than one tile
    // takes, an output shorter than the matrix, no blocks at all
    let mut rng = Rng(7);
    for k in Kernels::available() {
        if k.q4_0.gemm.is_none()
            && k.q8_0.gemm.is_none()
            && k.q5_0.gemm.is_none()
            && k.q5_1.gemm.is_none()
        {
            continue;
        }
        let (rows, nb) = (17, 5);
        let w4 = q4_0_blocks(&mut rng, rows * nb);
        let w8 = q8_0_blocks(&mut rng, rows * nb);
        let w5 = q5_0_blocks(&mut rng, rows * nb);
        let mut xs: Vec<Vec<BlockQ8_0>> = (0..40).map(|_| q8_0_blocks(&mut rng, nb)).collect();
        xs[3].truncate(2);
        for (label, n_rows) in [("short x", rows), ("short out", 11)] {
            if let Some(g) = k.q4_0.gemm {
                check_gemm(label, g, k.q4_0.dot, &w4, nb, &xs, n_rows);
            }
            if let Some(g) = k.q8_0.gemm {
                check_gemm(label, g, k.q8_0.dot, &w8, nb, &xs, n_rows);
            }
            if let Some(g) = k.q5_0.gemm {
                check_gemm(label, g, k.q5_0.dot, &w5, nb, &xs, n_rows);
            }
            xs[3] = q8_0_blocks(&mut rng, nb);
        }
        if let Some(g) = k.q5_1.gemm {
            let w5_1 = q5_1_blocks(&mut rng, rows * nb);
            let mut xs1: Vec<Vec<BlockQ8_1>> = (0..40).map(|_| q8_1_blocks(&mut rng, nb)).collect();
            check_gemm("q5_1 short out", g, k.q5_1.dot, &w5_1, nb, &xs1, 11);
            xs1[3].truncate(2);
            check_gemm("q5_1 short x", g, k.q5_1.dot, &w5_1, nb, &xs1, rows);
        }
        if let Some(g) = k.q4_1.gemm {
            let w4_1 = q4_1_blocks(&mut rng, rows * nb);
            let mut xs1: Vec<Vec<BlockQ8_1>> = (0..40).map(|_| q8_1_blocks(&mut rng, nb)).collect();
            check_gemm("q4_1 short out", g, k.q4_1.dot, &w4_1, nb, &xs1, 11);
            xs1[3].truncate(2);
            check_gemm("q4_1 short x", g, k.q4_1.dot, &w4_1, nb, &xs1, rows);
        }
        if let Some(g) = k.q4_0.gemm {
            let mut got = outputs(3, 2);
            let mut outs: Vec<&mut [f32]> = got.iter_mut().map(|o| o.as_mut_slice()).collect();
            g(&mut outs, &[], 0, &[&[], &[]]);
            assert!(
                got.iter().flatten().all(|v| v.to_bits() == 0),
                "{}",
                k.name()
            );
        }
    }
}

#[test]
fn matmul_gives_the_bits_of_one_matvec_per_token() {
    let mut rng = Rng(42);
    let (rows, k_len) = (37, 96);
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q8_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::F32,
        GgmlType::F16,
    ] {
        let w: Vec<f32> = (0..rows * k_len).map(|_| rng.sym()).collect();
        let n_bytes = ty.row_bytes((rows * k_len) as u64).unwrap() as usize;
        let mut store = vec![0u32; n_bytes.div_ceil(4)];
        let bytes = &mut bytemuck::cast_slice_mut::<u32, u8>(&mut store)[..n_bytes];
        edge_quantize::codec::quantize_row(ty, &w, bytes).unwrap();
        let m = Matrix::from_bytes(ty, bytes, rows, k_len).unwrap();
        for kern in Kernels::available() {
            if float_batch_arithmetic(&kern, ty) {
                continue; // tested below, against the model of llama.cpp's batch order
            }
            for n_tok in [1, 2, 7, 32, 33] {
                let acts: Vec<Activation> = (0..n_tok)
                    .map(|_| {
                        let x: Vec<f32> = (0..k_len).map(|_| rng.sym()).collect();
                        let mut a = Activation::new(k_len);
                        a.prepare(&kern, &x);
                        a
                    })
                    .collect();
                let mut got = outputs(rows, n_tok);
                {
                    let mut outs: Vec<&mut [f32]> =
                        got.iter_mut().map(|o| o.as_mut_slice()).collect();
                    kern.matmul(&mut outs, &m, &acts);
                }
                let want: Vec<Vec<f32>> = acts
                    .iter()
                    .map(|a| {
                        let mut o = vec![f32::NAN; rows];
                        kern.matvec(&mut o, &m, a);
                        o
                    })
                    .collect();
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{} {}: {n_tok} tokens",
                    kern.name(),
                    ty.name()
                );
            }
        }
    }
}

#[test]
fn q4_0_matvec_rows_equal_the_dot_across_block_chunks() {
    // The AVX2 Q4_0 matvec takes x's offsets and scales 64 blocks at a time and keeps the
    // running sums in `out` between chunks: rows longer than a chunk keep their dot's bits.
    let mut rng = Rng(31);
    let rows = 19;
    for nb in [63, 64, 65, 130] {
        let w = q4_0_blocks(&mut rng, rows * nb);
        let x = q8_0_blocks(&mut rng, nb);
        for k in Kernels::available() {
            let mut out = vec![f32::NAN; rows];
            (k.q4_0.matvec)(&mut out, &w, nb, &x);
            for (r, got) in out.iter().enumerate() {
                let want = (k.q4_0.dot)(&w[r * nb..(r + 1) * nb], &x);
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{} nb={nb} row {r}",
                    k.name()
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The K-quants: llama.cpp's batch arithmetic (the exception of `GemmFn`).
//
// Tolerance, gemm vs dot: both take the same exact integer sums per super-block (s1 = sum of
// sc * q . y, s2 = sum of m * bsums) and differ only in the f32 steps that scale and add them
// (a few roundings per super-block and the final sums), each within (nb + 16) eps32 * A of the
// exact value, A = sum_e |x_e| (|w_e| + |dmin_w| * 63), doubled for the decoders' rounding
// (the bound of tests/kernels_generic.rs): |gemm - dot| <= 4 (nb + 16) eps32 * A.

const K_TYPES: [GgmlType; 5] = [
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// A (rows, k) matrix of `ty` by our file quantizer (4-byte aligned store), with outliers.
fn k_matrix_store(rng: &mut Rng, ty: GgmlType, rows: usize, k: usize) -> (Vec<u32>, usize) {
    let w: Vec<f32> = (0..rows * k)
        .map(|i| rng.sym() * if i % 97 == 13 { 20.0 } else { 1.0 })
        .collect();
    let n_bytes = ty.row_bytes((rows * k) as u64).unwrap() as usize;
    let mut store = vec![0u32; n_bytes.div_ceil(4)];
    let bytes = &mut bytemuck::cast_slice_mut::<u32, u8>(&mut store)[..n_bytes];
    edge_quantize::codec::quantize_row(ty, &w, bytes).unwrap();
    (store, n_bytes)
}

/// The largest |dmin| of the blocks (0 for the types without minimums).
fn max_dmin(ty: GgmlType, bytes: &[u8]) -> f64 {
    fn of<B: bytemuck::Pod>(bytes: &[u8], dmin: impl Fn(&B) -> f16) -> f64 {
        let blocks: &[B] = bytemuck::cast_slice(bytes);
        blocks
            .iter()
            .map(|b| dmin(b).to_f64().abs())
            .fold(0.0, f64::max)
    }
    match ty {
        GgmlType::Q2_K => of::<BlockQ2_K>(bytes, |b| b.dmin),
        GgmlType::Q4_K => of::<BlockQ4_K>(bytes, |b| b.dmin),
        GgmlType::Q5_K => of::<BlockQ5_K>(bytes, |b| b.dmin),
        _ => 0.0,
    }
}

/// How many of `n` tokens at `batch` take the gemm of `ty` in `k`.
fn gemm_tokens(k: &Kernels, ty: GgmlType, n: usize, batch: LlamaBatch) -> usize {
    match ty {
        GgmlType::Q2_K => k.q2_k.gemm_tokens(n, batch),
        GgmlType::Q3_K => k.q3_k.gemm_tokens(n, batch),
        GgmlType::Q4_K => k.q4_k.gemm_tokens(n, batch),
        GgmlType::Q5_K => k.q5_k.gemm_tokens(n, batch),
        GgmlType::Q6_K => k.q6_k.gemm_tokens(n, batch),
        _ => unreachable!("not a K type"),
    }
}

#[test]
fn k_quant_gemm_selection_is_llamacpp_s() {
    // Tiled (Q2_K, Q3_K, Q5_K, Q6_K): every token of a llama.cpp batch of 8 or more, none of
    // a smaller one. Q4_K: the whole groups of 4 from the batch's start.
    let at = |len, first| LlamaBatch { len, first };
    let tiled = GemmTakes::BatchOfAtLeast(8);
    let groups = GemmTakes::WholeGroupsOf(4);
    // avx512's K-quant gemms take the tokens AVX2's take.
    for k in Kernels::available().filter(|k| matches!(k.name(), "avx2" | "avx512")) {
        for ty in K_TYPES {
            let takes = match ty {
                GgmlType::Q2_K => k.q2_k.gemm_takes,
                GgmlType::Q3_K => k.q3_k.gemm_takes,
                GgmlType::Q4_K => k.q4_k.gemm_takes,
                GgmlType::Q5_K => k.q5_k.gemm_takes,
                _ => k.q6_k.gemm_takes,
            };
            let want = if ty == GgmlType::Q4_K { groups } else { tiled };
            assert_eq!(takes, want, "{}", ty.name());
        }
        for (n, batch, tiled_n, q4_k_n) in [
            (1, at(1, 0), 0, 0),
            (7, at(7, 0), 0, 4),
            (8, at(8, 0), 8, 8),
            (13, at(13, 0), 13, 12),
            (1, at(33, 32), 1, 0),
            (32, at(70, 32), 32, 32),
            (6, at(70, 64), 6, 4),
            (3, at(70, 67), 3, 1),
        ] {
            assert_eq!(
                gemm_tokens(&k, GgmlType::Q6_K, n, batch),
                tiled_n,
                "{n} {batch:?}"
            );
            assert_eq!(
                gemm_tokens(&k, GgmlType::Q4_K, n, batch),
                q4_k_n,
                "{n} {batch:?}"
            );
        }
    }
}

#[test]
fn k_quant_matmul_is_the_dot_or_within_the_batch_tolerance() {
    let mut rng = Rng(0x4B51_5541_4E54);
    let rows = 13;
    let batches = [
        LlamaBatch::whole(13),
        LlamaBatch::whole(5),
        LlamaBatch { len: 45, first: 32 },
    ];
    for ty in K_TYPES {
        for nb in [1, 3, 9] {
            let k_len = nb * QK_K;
            let (store, n_bytes) = k_matrix_store(&mut rng, ty, rows, k_len);
            let bytes = &bytemuck::cast_slice::<u32, u8>(&store)[..n_bytes];
            let m = Matrix::from_bytes(ty, bytes, rows, k_len).unwrap();
            let mut wd = vec![0.0f32; rows * k_len];
            edge_formats::blocks::dequantize_row(ty, bytes, &mut wd).unwrap();
            let dmin63 = max_dmin(ty, bytes) * 63.0;
            let n_tok = 13;
            let xs: Vec<Vec<f32>> = (0..n_tok)
                .map(|_| (0..k_len).map(|_| rng.sym()).collect())
                .collect();
            for kern in Kernels::available() {
                let acts: Vec<Activation> = xs
                    .iter()
                    .map(|x| {
                        let mut a = Activation::new(k_len);
                        a.prepare(&kern, x);
                        a
                    })
                    .collect();
                let dots: Vec<Vec<f32>> = acts
                    .iter()
                    .map(|a| {
                        let mut o = vec![f32::NAN; rows];
                        kern.matvec(&mut o, &m, a);
                        o
                    })
                    .collect();
                for batch in batches {
                    let n = if batch.len < n_tok { batch.len } else { n_tok };
                    let mut got = outputs(rows, n);
                    {
                        let mut outs: Vec<&mut [f32]> =
                            got.iter_mut().map(|o| o.as_mut_slice()).collect();
                        kern.matmul_in(&mut outs, &m, &acts[..n], batch);
                    }
                    // Split by rows (what the threads do): the same bits.
                    let mut split = outputs(rows, n);
                    for (a, b) in [(0, 5), (5, rows)] {
                        let mut outs: Vec<&mut [f32]> =
                            split.iter_mut().map(|o| &mut o[a..b]).collect();
                        kern.matmul_in(&mut outs, &m.rows(a, b), &acts[..n], batch);
                    }
                    let label = format!("{} {} nb={nb} {batch:?}", kern.name(), ty.name());
                    assert_eq!(bits(&got), bits(&split), "{label}: split by rows");
                    let n_gemm = gemm_tokens(&kern, ty, n, batch);
                    assert_eq!(
                        bits(&got[n_gemm..]),
                        bits(&dots[n_gemm..n]),
                        "{label}: tokens past the gemm's are their matvec"
                    );
                    for (t, (g, d)) in got.iter().zip(&dots).enumerate().take(n_gemm) {
                        for r in 0..rows {
                            let a: f64 = wd[r * k_len..(r + 1) * k_len]
                                .iter()
                                .zip(&xs[t])
                                .map(|(&w, &x)| {
                                    (x as f64).abs() * 1.01 * ((w as f64).abs() + dmin63)
                                })
                                .sum();
                            let tol = 4.0 * (nb as f64 + 16.0) * f32::EPSILON as f64 * a;
                            let diff = (g[r] as f64 - d[r] as f64).abs();
                            assert!(
                                diff <= tol,
                                "{label}: token {t} row {r}: gemm {} dot {} (diff {diff:e} > {tol:e})",
                                g[r],
                                d[r]
                            );
                        }
                    }
                }
            }
        }
    }
}

// A scalar model of llama.cpp's batch arithmetic, from the blocks' integers: s1 and s2 are
// exact; only the f32 steps are modelled, so an AVX2 gemm must give these bits.

/// The tiled matmul per super-block: res = d_w s1 (rounded), res = fma(-dmin_w, s2, res),
/// acc = fma(res, d_x, acc).
fn model_tiled(blocks: impl Iterator<Item = (f32, i32, Option<(f32, i32)>, f32)>) -> f32 {
    blocks.fold(0.0f32, |acc, (d_w, s1, dmin, d_x)| {
        let mut res = d_w * s1 as f32;
        if let Some((dmin_w, s2)) = dmin {
            res = (-dmin_w).mul_add(s2 as f32, res);
        }
        res.mul_add(d_x, acc)
    })
}

/// sum over e of scale(e) * q[e] * y[e], exact.
fn isum(q: &[i32; QK_K], y: &[i8; QK_K], scale: impl Fn(usize) -> i32) -> i32 {
    (0..QK_K).map(|e| scale(e) * q[e] * i32::from(y[e])).sum()
}

fn model_q2_k(w: &[BlockQ2_K], x: &[BlockQ8_K]) -> f32 {
    model_tiled(w.iter().zip(x).map(|(a, b)| {
        let q = unpack_2bit(&a.qs).map(i32::from);
        let s1 = isum(&q, &b.qs, |e| i32::from(a.scales[e / 16] & 15));
        let s2 = (0..16)
            .map(|j| i32::from(a.scales[j] >> 4) * i32::from(b.bsums[j]))
            .sum();
        (a.d.to_f32(), s1, Some((a.dmin.to_f32(), s2)), b.d)
    }))
}

fn model_q3_k(w: &[BlockQ3_K], x: &[BlockQ8_K]) -> f32 {
    model_tiled(w.iter().zip(x).map(|(a, b)| {
        let low = unpack_2bit(&a.qs);
        let q: [i32; QK_K] = std::array::from_fn(|e| {
            let high = (a.hmask[e % 32] >> (e / 32)) & 1;
            i32::from(low[e]) - if high != 0 { 0 } else { 4 }
        });
        let scales = unpack_q3_scales(&a.scales);
        let s1 = isum(&q, &b.qs, |e| i32::from(scales[e / 16]) - 32);
        (a.d.to_f32(), s1, None, b.d)
    }))
}

/// The 6-bit scales and minimums of a Q4_K/Q5_K block, and m * (the sums of 32) per sub-block.
fn scales_and_mins(packed: &[u8; 12], bsums: &[i16; 16]) -> ([i32; 8], [i32; 8]) {
    let pairs: [(u8, u8); 8] = std::array::from_fn(|j| scale_min_k4(j, packed));
    let mins = std::array::from_fn(|j| {
        i32::from(pairs[j].1) * (i32::from(bsums[2 * j]) + i32::from(bsums[2 * j + 1]))
    });
    (pairs.map(|p| i32::from(p.0)), mins)
}

fn model_q5_k(w: &[BlockQ5_K], x: &[BlockQ8_K]) -> f32 {
    model_tiled(w.iter().zip(x).map(|(a, b)| {
        let low = unpack_4bit_k(&a.qs);
        let q: [i32; QK_K] =
            std::array::from_fn(|e| i32::from(low[e] | (((a.qh[e % 32] >> (e / 32)) & 1) << 4)));
        let (scales, mins) = scales_and_mins(&a.scales, &b.bsums);
        let s1 = isum(&q, &b.qs, |e| scales[e / 32]);
        let s2 = mins.iter().sum();
        (a.d.to_f32(), s1, Some((a.dmin.to_f32(), s2)), b.d)
    }))
}

fn model_q6_k(w: &[BlockQ6_K], x: &[BlockQ8_K]) -> f32 {
    model_tiled(w.iter().zip(x).map(|(a, b)| {
        let q = unpack_q6_k(&a.ql, &a.qh).map(|v| i32::from(v) - 32);
        let s1 = isum(&q, &b.qs, |e| i32::from(a.scales[e / 16]));
        (a.d.to_f32(), s1, None, b.d)
    }))
}

/// ggml_gemm_q4_K_8x8_q8_K per row: per pair of sub-blocks, acc = fma(isum, d_w d_x, acc)
/// and acc_m = fma(imin, dmin_w d_x, acc_m); acc - acc_m.
fn model_q4_k(w: &[BlockQ4_K], x: &[BlockQ8_K]) -> f32 {
    let (mut acc, mut acc_m) = (0.0f32, 0.0f32);
    for (a, b) in w.iter().zip(x) {
        let q = unpack_4bit_k(&a.qs).map(i32::from);
        let (scales, mins) = scales_and_mins(&a.scales, &b.bsums);
        let (d, dmin) = (a.d.to_f32() * b.d, a.dmin.to_f32() * b.d);
        for pair in 0..4 {
            let s: i32 = (64 * pair..64 * pair + 64)
                .map(|e| scales[e / 32] * q[e] * i32::from(b.qs[e]))
                .sum();
            acc = (s as f32).mul_add(d, acc);
            acc_m = ((mins[2 * pair] + mins[2 * pair + 1]) as f32).mul_add(dmin, acc_m);
        }
    }
    acc - acc_m
}

/// The blocks of a matrix store.
fn cast<W: bytemuck::Pod>(bytes: &[u8]) -> &[W] {
    bytemuck::cast_slice(bytes)
}

/// Runs a table's K gemm and `generic::gemm_by(model)` on one matrix and compares bits.
fn check_k_gemm<W>(
    label: &str,
    gemm: Option<Gemm<W, BlockQ8_K>>,
    model: fn(&[W], &[BlockQ8_K]) -> f32,
    w: &[W],
    nb: usize,
    xs: &[Vec<BlockQ8_K>],
    rows: usize,
) -> bool {
    let Some(gemm) = gemm else { return false };
    let inputs: Vec<&[BlockQ8_K]> = xs.iter().map(|x| x.as_slice()).collect();
    let (mut got, mut want) = (outputs(rows, xs.len()), outputs(rows, xs.len()));
    {
        let mut outs: Vec<&mut [f32]> = got.iter_mut().map(|o| o.as_mut_slice()).collect();
        gemm(&mut outs, w, nb, &inputs);
    }
    {
        let mut outs: Vec<&mut [f32]> = want.iter_mut().map(|o| o.as_mut_slice()).collect();
        generic::gemm_by(&mut outs, w, nb, &inputs, model);
    }
    assert_eq!(bits(&got), bits(&want), "{label}");
    true
}

#[test]
fn k_quant_gemms_are_the_bits_of_the_batch_arithmetic_model() {
    let mut rng = Rng(0x7115_D000);
    let mut checked = 0;
    // ragged row groups (16 rows a pass in avx512), token tiles and calls (35 > GEMM_TOKENS),
    // super-block chunks (9 > 4)
    for (rows, nb, n_tok) in [(11, 1, 9), (11, 2, 9), (11, 5, 9), (37, 9, 35), (17, 4, 5)] {
        for ty in K_TYPES {
            let (store, n_bytes) = k_matrix_store(&mut rng, ty, rows, nb * QK_K);
            for kern in Kernels::available() {
                if !k_gemms_take_batches(&kern) {
                    continue;
                }
                let xs: Vec<Vec<BlockQ8_K>> = (0..n_tok)
                    .map(|_| {
                        let x: Vec<f32> = (0..nb * QK_K).map(|_| rng.sym()).collect();
                        let mut q = vec![bytemuck::Zeroable::zeroed(); nb];
                        kern.quantize_q8_k(&x, &mut q);
                        q
                    })
                    .collect();
                let label = format!("{} {} nb={nb}", kern.name(), ty.name());
                let bytes = &bytemuck::cast_slice::<u32, u8>(&store)[..n_bytes];
                checked += usize::from(match ty {
                    GgmlType::Q2_K => check_k_gemm(
                        &label,
                        kern.q2_k.gemm,
                        model_q2_k,
                        cast(bytes),
                        nb,
                        &xs,
                        rows,
                    ),
                    GgmlType::Q3_K => check_k_gemm(
                        &label,
                        kern.q3_k.gemm,
                        model_q3_k,
                        cast(bytes),
                        nb,
                        &xs,
                        rows,
                    ),
                    GgmlType::Q4_K => check_k_gemm(
                        &label,
                        kern.q4_k.gemm,
                        model_q4_k,
                        cast(bytes),
                        nb,
                        &xs,
                        rows,
                    ),
                    GgmlType::Q5_K => check_k_gemm(
                        &label,
                        kern.q5_k.gemm,
                        model_q5_k,
                        cast(bytes),
                        nb,
                        &xs,
                        rows,
                    ),
                    _ => check_k_gemm(
                        &label,
                        kern.q6_k.gemm,
                        model_q6_k,
                        cast(bytes),
                        nb,
                        &xs,
                        rows,
                    ),
                });
            }
        }
    }
    eprintln!("K gemm cases checked against the model: {checked}");
}

/// Raw Q8_K blocks: values in [-128, 127] (the quantizer's domain), one block in four all at
/// the extremes, bsums their sums of 16, scales over 20 binary orders.
fn q8_k_blocks(rng: &mut Rng, n: usize) -> Vec<BlockQ8_K> {
    (0..n)
        .map(|i| {
            let qs: [i8; QK_K] = std::array::from_fn(|_| {
                let v = (rng.next() % 256) as i32 - 128;
                match (i % 4 == 3, v < 0) {
                    (false, _) => v as i8,
                    (true, true) => -128,
                    (true, false) => 127,
                }
            });
            let bsums = std::array::from_fn(|j| {
                qs[16 * j..16 * j + 16].iter().map(|&q| i16::from(q)).sum()
            });
            BlockQ8_K {
                d: scale(rng).to_f32(),
                qs,
                bsums,
            }
        })
        .collect()
}

/// Raw block bytes: random, or (one block in four) all zero or all ones, then the scales
/// (`f16` fields) replaced by `scale`.
fn raw_bits<const N: usize>(rng: &mut Rng, i: usize) -> [u8; N] {
    if i % 4 == 3 {
        [if i % 8 == 3 { 0xFF } else { 0x00 }; N]
    } else {
        std::array::from_fn(|_| rng.next() as u8)
    }
}

/// True when the table's K gemms take tokens as llama.cpp's batch does (x86: the batch
/// arithmetic the model checks); false for gemms that take any token and give the bits of their
/// dot (the ARM tables, `k_quant_gemms_taking_any_token_are_the_bits_of_their_dot`).
fn k_gemms_take_batches(kern: &Kernels) -> bool {
    kern.q4_k.gemm_takes != GemmTakes::Any || kern.q6_k.gemm_takes != GemmTakes::Any
}

#[test]
fn k_gemms_are_the_bits_of_the_model_on_raw_and_extreme_blocks() {
    let mut rng = Rng(0xED6E_5EED);
    let mut checked = 0;
    for (rows, nb, n_tok) in [(1, 1, 1), (16, 4, 4), (17, 5, 9), (37, 9, 33), (15, 1, 8)] {
        let w4: Vec<BlockQ4_K> = (0..rows * nb)
            .map(|i| BlockQ4_K {
                d: scale(&mut rng),
                dmin: scale(&mut rng),
                scales: raw_bits(&mut rng, i),
                qs: raw_bits(&mut rng, i),
            })
            .collect();
        let w6: Vec<BlockQ6_K> = (0..rows * nb)
            .map(|i| BlockQ6_K {
                ql: raw_bits(&mut rng, i),
                qh: raw_bits(&mut rng, i),
                scales: raw_bits::<16>(&mut rng, i).map(|b| b as i8),
                d: scale(&mut rng),
            })
            .collect();
        let w5: Vec<BlockQ5_K> = (0..rows * nb)
            .map(|i| BlockQ5_K {
                d: scale(&mut rng),
                dmin: scale(&mut rng),
                scales: raw_bits(&mut rng, i),
                qh: raw_bits(&mut rng, i),
                qs: raw_bits(&mut rng, i),
            })
            .collect();
        let xs: Vec<Vec<BlockQ8_K>> = (0..n_tok).map(|_| q8_k_blocks(&mut rng, nb)).collect();
        for kern in Kernels::available() {
            if !k_gemms_take_batches(&kern) {
                continue;
            }
            let label = format!("{} {rows} rows, {nb} blocks, {n_tok} tokens", kern.name());
            checked += usize::from(check_k_gemm(
                &format!("q4_k {label}"),
                kern.q4_k.gemm,
                model_q4_k,
                &w4,
                nb,
                &xs,
                rows,
            ));
            checked += usize::from(check_k_gemm(
                &format!("q5_k {label}"),
                kern.q5_k.gemm,
                model_q5_k,
                &w5,
                nb,
                &xs,
                rows,
            ));
            checked += usize::from(check_k_gemm(
                &format!("q6_k {label}"),
                kern.q6_k.gemm,
                model_q6_k,
                &w6,
                nb,
                &xs,
                rows,
            ));
        }
    }
    eprintln!("K gemm cases on raw blocks: {checked}");
}

/// Checks a K gemm that takes any token (the ARM tables) against its own dot, bit for bit;
/// false when the entries have no such gemm.
fn check_any_token_k_gemm<W>(
    label: &str,
    k: TypeKernels<W, BlockQ8_K>,
    w: &[W],
    nb: usize,
    xs: &[Vec<BlockQ8_K>],
    rows: usize,
) -> bool {
    match (k.gemm, k.gemm_takes) {
        (Some(gemm), GemmTakes::Any) => {
            check_gemm(label, gemm, k.dot, w, nb, xs, rows);
            true
        }
        _ => false,
    }
}

/// [`check_any_token_k_gemm`] for the `ty` entries of `kern`, on the blocks in `bytes`.
fn check_any_token_k_gemm_of(
    kern: &Kernels,
    ty: GgmlType,
    label: &str,
    bytes: &[u8],
    nb: usize,
    xs: &[Vec<BlockQ8_K>],
    rows: usize,
) -> bool {
    match ty {
        GgmlType::Q2_K => check_any_token_k_gemm(label, kern.q2_k, cast(bytes), nb, xs, rows),
        GgmlType::Q3_K => check_any_token_k_gemm(label, kern.q3_k, cast(bytes), nb, xs, rows),
        GgmlType::Q4_K => check_any_token_k_gemm(label, kern.q4_k, cast(bytes), nb, xs, rows),
        GgmlType::Q5_K => check_any_token_k_gemm(label, kern.q5_k, cast(bytes), nb, xs, rows),
        GgmlType::Q6_K => check_any_token_k_gemm(label, kern.q6_k, cast(bytes), nb, xs, rows),
        _ => unreachable!("not a K type"),
    }
}

#[test]
fn k_quant_gemms_taking_any_token_are_the_bits_of_their_dot() {
    // The ARM K gemms (Q2_K ... Q6_K): ragged rows, every token count of a prompt step and
    // past it (passes of 4 or 8 and their remainders), an output shorter than the matrix, a token
    // shorter than a row.
    let mut rng = Rng(0x4B47_454D);
    let mut checked = 0;
    for nb in [1, 2, 5] {
        for rows in [1, 3, 9] {
            for ty in K_TYPES {
                let (store, n_bytes) = k_matrix_store(&mut rng, ty, rows, nb * QK_K);
                let bytes = &bytemuck::cast_slice::<u32, u8>(&store)[..n_bytes];
                for kern in Kernels::available() {
                    let tokens: Vec<Vec<BlockQ8_K>> = (0..MAX_BATCH + 3)
                        .map(|_| {
                            let x: Vec<f32> = (0..nb * QK_K).map(|_| rng.sym()).collect();
                            let mut q = vec![bytemuck::Zeroable::zeroed(); nb];
                            kern.quantize_q8_k(&x, &mut q);
                            q
                        })
                        .collect();
                    for n_tok in 1..=MAX_BATCH + 3 {
                        let mut xs = tokens[..n_tok].to_vec();
                        let mut shapes = vec![("whole", rows)];
                        if rows > 1 {
                            shapes.push(("short out", rows - 1));
                        }
                        if nb > 1 && n_tok > 2 {
                            xs[1].truncate(nb - 1);
                            shapes.push(("short x", rows));
                        }
                        for (shape, out_rows) in shapes {
                            let label = format!(
                                "{} {} {shape}: {rows} rows, {n_tok} tokens, {nb} blocks",
                                kern.name(),
                                ty.name()
                            );
                            checked += usize::from(check_any_token_k_gemm_of(
                                &kern, ty, &label, bytes, nb, &xs, out_rows,
                            ));
                        }
                    }
                }
            }
        }
    }
    eprintln!("K gemm cases checked against the dot: {checked}");
}

// ---------------------------------------------------------------------------------------------
// F32 and F16 on x86: llama.cpp's batch order (llamafile's tinyBLAS), another exception of
// `GemmFn`: one 8-lane fma accumulator per output along k, summed as hsum_float_8; f16 weights
// meet x rounded to f16.

/// Whether this table's `ty` gemm follows llama.cpp's float batch order (x86 F32, F16, BF16).
fn float_batch_arithmetic(k: &Kernels, ty: GgmlType) -> bool {
    match ty {
        GgmlType::F32 => k.f32.gemm_takes != GemmTakes::Any,
        GgmlType::F16 => k.f16.gemm_takes != GemmTakes::Any,
        GgmlType::BF16 => k.bf16.gemm_takes != GemmTakes::Any,
        _ => false,
    }
}

/// The model: w (k) . x (k) as tinyBLAS sums it, lane j taking the elements j mod 8.
fn tinyblas_model(w: &[f32], x: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    for (wc, xc) in w.chunks_exact(8).zip(x.chunks_exact(8)) {
        for ((lane, a), b) in lanes.iter_mut().zip(wc).zip(xc) {
            *lane = a.mul_add(*b, *lane);
        }
    }
    let s4: [f32; 4] = std::array::from_fn(|i| lanes[i + 4] + lanes[i]);
    (s4[0] + s4[2]) + (s4[1] + s4[3])
}

/// A float type's gemm over its matrix: (outputs, k, tokens).
type FloatGemm<'a> = Box<dyn Fn(&mut [&mut [f32]], usize, &[&[f32]]) + 'a>;
/// A float type's dot of one row's elements (a range of the matrix) with x.
type FloatDot<'a> = Box<dyn Fn(std::ops::Range<usize>, &[f32]) -> f32 + 'a>;

/// One float weight type's gemm, dot, weights widened to f32 and x as its product takes it.
struct FloatCase<'a> {
    name: &'static str,
    gemm: FloatGemm<'a>,
    dot: FloatDot<'a>,
    widened: Vec<f32>,
    round_x: fn(f32) -> f32,
}

#[test]
fn float_gemms_take_batches_of_two_in_llamacpp_s_order() {
    let mut rng = Rng(0xF10A7);
    let rows = 37; // not a multiple of the 4-row tile
    for kern in Kernels::available() {
        if !matches!(kern.name(), "avx2" | "avx512") {
            continue;
        }
        for takes in [
            kern.f32.gemm_takes,
            kern.f16.gemm_takes,
            kern.bf16.gemm_takes,
        ] {
            assert_eq!(takes, GemmTakes::BatchOfAtLeast(2), "{}", kern.name());
        }
        for k_len in [0, 8, 96, 20] {
            let w: Vec<f32> = (0..rows * k_len).map(|_| rng.sym()).collect();
            let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
            let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
            let cases = [
                FloatCase {
                    name: "f32",
                    gemm: Box::new(|o, k, xs| kern.f32.gemm.unwrap()(o, &w, k, xs)),
                    dot: Box::new(|r, x| (kern.f32.dot)(&w[r], x)),
                    widened: w.clone(),
                    round_x: |v| v,
                },
                FloatCase {
                    name: "f16",
                    gemm: Box::new(|o, k, xs| kern.f16.gemm.unwrap()(o, &wh, k, xs)),
                    dot: Box::new(|r, x| (kern.f16.dot)(&wh[r], x)),
                    widened: wh.iter().map(|v| v.to_f32()).collect(),
                    round_x: |v| f16::from_f32(v).to_f32(),
                },
                FloatCase {
                    name: "bf16",
                    gemm: Box::new(|o, k, xs| kern.bf16.gemm.unwrap()(o, &wb, k, xs)),
                    dot: Box::new(|r, x| (kern.bf16.dot)(&wb[r], x)),
                    widened: wb.iter().map(|v| v.to_f32()).collect(),
                    round_x: |v| f32::from_bits(u32::from(f32_to_bf16_bits(v)) << 16),
                },
            ];
            for n_tok in [1, 2, 3, 7, 33] {
                let xs: Vec<Vec<f32>> = (0..n_tok)
                    .map(|_| (0..k_len).map(|_| 8.0 * rng.sym()).collect())
                    .collect();
                let x_refs: Vec<&[f32]> = xs.iter().map(|x| x.as_slice()).collect();
                for case in &cases {
                    let mut got = outputs(rows, n_tok);
                    {
                        let mut outs: Vec<&mut [f32]> =
                            got.iter_mut().map(|o| o.as_mut_slice()).collect();
                        (case.gemm)(&mut outs, k_len, &x_refs);
                    }
                    let want: Vec<Vec<f32>> = xs
                        .iter()
                        .map(|x| {
                            let xr: Vec<f32> = x.iter().map(|&v| (case.round_x)(v)).collect();
                            (0..rows)
                                .map(|r| {
                                    let range = r * k_len..(r + 1) * k_len;
                                    if k_len % 8 != 0 {
                                        (case.dot)(range, x) // llama.cpp's dot, as the table's
                                    } else {
                                        tinyblas_model(&case.widened[range], &xr)
                                    }
                                })
                                .collect()
                        })
                        .collect();
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "{} {}: k {k_len}, {n_tok} tokens",
                        kern.name(),
                        case.name
                    );
                }
            }
        }
    }
}

#[test]
fn k_quant_gemms_taking_any_token_are_the_bits_of_their_dot_on_raw_and_extreme_blocks() {
    // Raw block bits (every scale and minimum code, all-zero and all-ones blocks) against Q8_K
    // blocks at the extremes, over 20 binary orders of scale.
    let mut rng = Rng(0x4B47_5241);
    let mut checked = 0;
    for (rows, nb, n_tok) in [(1, 1, 1), (5, 4, 4), (17, 5, 9), (9, 9, 35), (15, 1, 8)] {
        let w2: Vec<BlockQ2_K> = (0..rows * nb)
            .map(|i| BlockQ2_K {
                scales: raw_bits(&mut rng, i),
                qs: raw_bits(&mut rng, i),
                d: scale(&mut rng),
                dmin: scale(&mut rng),
            })
            .collect();
        let w3: Vec<BlockQ3_K> = (0..rows * nb)
            .map(|i| BlockQ3_K {
                hmask: raw_bits(&mut rng, i),
                qs: raw_bits(&mut rng, i),
                scales: raw_bits(&mut rng, i),
                d: scale(&mut rng),
            })
            .collect();
        let w4: Vec<BlockQ4_K> = (0..rows * nb)
            .map(|i| BlockQ4_K {
                d: scale(&mut rng),
                dmin: scale(&mut rng),
                scales: raw_bits(&mut rng, i),
                qs: raw_bits(&mut rng, i),
            })
            .collect();
        let w5: Vec<BlockQ5_K> = (0..rows * nb)
            .map(|i| BlockQ5_K {
                d: scale(&mut rng),
                dmin: scale(&mut rng),
                scales: raw_bits(&mut rng, i),
                qh: raw_bits(&mut rng, i),
                qs: raw_bits(&mut rng, i),
            })
            .collect();
        let w6: Vec<BlockQ6_K> = (0..rows * nb)
            .map(|i| BlockQ6_K {
                ql: raw_bits(&mut rng, i),
                qh: raw_bits(&mut rng, i),
                scales: raw_bits::<16>(&mut rng, i).map(|b| b as i8),
                d: scale(&mut rng),
            })
            .collect();
        let xs: Vec<Vec<BlockQ8_K>> = (0..n_tok).map(|_| q8_k_blocks(&mut rng, nb)).collect();
        for kern in Kernels::available() {
            let label = |ty: &str| {
                format!(
                    "{} {ty}: {rows} rows, {nb} blocks, {n_tok} tokens",
                    kern.name()
                )
            };
            let (k, r) = (&kern, rows);
            checked += usize::from(check_any_token_k_gemm(
                &label("q2_k"),
                k.q2_k,
                &w2,
                nb,
                &xs,
                r,
            )) + usize::from(check_any_token_k_gemm(
                &label("q3_k"),
                k.q3_k,
                &w3,
                nb,
                &xs,
                r,
            )) + usize::from(check_any_token_k_gemm(
                &label("q4_k"),
                k.q4_k,
                &w4,
                nb,
                &xs,
                r,
            )) + usize::from(check_any_token_k_gemm(
                &label("q5_k"),
                k.q5_k,
                &w5,
                nb,
                &xs,
                r,
            )) + usize::from(check_any_token_k_gemm(
                &label("q6_k"),
                k.q6_k,
                &w6,
                nb,
                &xs,
                r,
            ));
        }
    }
    eprintln!("K gemm cases on raw blocks checked against the dot: {checked}");
}
