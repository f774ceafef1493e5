//! The four-row repacked Q4_0 and Q8_0 layouts (`kernels::repacked`, made at load where the
//! dotprod kernels run): the repacking is lossless, and every table's repacked matvec gives,
//! row by row, the bits of a dot over the row as the file stores it: the table's own
//! `q4_0.dot` / `q8_0.dot` on aarch64 (NEON and dotprod scale each block's exact sum with
//! one FMA, and so do their repacked kernels), the generic dot elsewhere (the generic
//! entries; x86 never repacks). No tolerance: bit-identical, on random and edge inputs
//! (extreme and subnormal f16 scales, zero blocks, -128 and +-127 quants, every nibble),
//! row counts that end in partial passes, and outputs shorter than the matrix. Rows that are
//! not a multiple of 4 are not repacked (the matrix keeps the file's layout). A batch
//! (`Kernels::matmul`, the dotprod gemm for two or more tokens) gives each token the bits of
//! its matvec, for every token count up to past a gemm call's, ragged tiles and thread
//! chunks included.

use bytemuck::Zeroable;
use edge::internals::repacked::{
    repack_q4_0, repack_q8_0, unpack_q4_0, unpack_q8_0, BlockQ4_0x4, BlockQ8_0x4,
};
use edge::internals::{generic, Activation, Kernels, MatData, Matrix, MAX_BATCH};
use edge_formats::{BlockQ4_0, BlockQ8_0, QK};
use half::f16;
mod common;
use common::kernel_inputs::Rng;

/// Scales from the edges of f16: zero, subnormal, tiny, one, the largest, both signs.
fn edge_f16(rng: &mut Rng) -> f16 {
    let edges = [
        0.0, 6.0e-8, -6.0e-8, 6.1e-5, 1.0, -1.0, 0.37, 65504.0, -65504.0,
    ];
    match rng.below(3) {
        0 => f16::from_f32(edges[rng.below(edges.len() as u64) as usize]),
        _ => f16::from_f32(rng.sym() * 2.0),
    }
}

fn weights_q4_0(rng: &mut Rng, n: usize) -> Vec<BlockQ4_0> {
    (0..n)
        .map(|_| match rng.below(4) {
            0 => BlockQ4_0::zeroed(),
            1 => BlockQ4_0 {
                d: edge_f16(rng),
                qs: [[0x00, 0xFF, 0x0F, 0xF0, 0x88][rng.below(5) as usize]; 16],
            },
            _ => BlockQ4_0 {
                d: edge_f16(rng),
                qs: std::array::from_fn(|_| rng.next() as u8),
            },
        })
        .collect()
}

fn weights_q8_0(rng: &mut Rng, n: usize) -> Vec<BlockQ8_0> {
    (0..n)
        .map(|_| match rng.below(4) {
            0 => BlockQ8_0::zeroed(),
            1 => BlockQ8_0 {
                d: edge_f16(rng),
                qs: std::array::from_fn(|_| [127, -127, -128][rng.below(3) as usize]),
            },
            _ => BlockQ8_0 {
                d: edge_f16(rng),
                qs: std::array::from_fn(|_| rng.next() as i8),
            },
        })
        .collect()
}

/// Activations of nb blocks, quantized by `k`: random at several scales, zeros, spikes.
fn activations(k: &Kernels, rng: &mut Rng, nb: usize) -> Vec<Activation> {
    activation_cases(k, rng, nb, 7)
}

/// `count` activations of nb blocks, quantized by `k`: in turn random at five scales, zeros
/// and spikes (each random one drawn afresh).
fn activation_cases(k: &Kernels, rng: &mut Rng, nb: usize, count: usize) -> Vec<Activation> {
    let n = nb * QK;
    let scales = [1e-30f32, 1e-3, 1.0, 3.0e4, 1e30];
    (0..count)
        .map(|i| {
            let x: Vec<f32> = match i % 7 {
                5 => vec![0.0; n],
                6 => (0..n)
                    .map(|e| if e % 29 == 3 { 1e4 } else { 1e-4 })
                    .collect(),
                s => (0..n).map(|_| rng.sym() * scales[s]).collect(),
            };
            let mut act = Activation::new(n);
            act.prepare(k, &x);
            act
        })
        .collect()
}

type Q4Dot = fn(&[BlockQ4_0], &[BlockQ8_0]) -> f32;
type Q8Dot = fn(&[BlockQ8_0], &[BlockQ8_0]) -> f32;

/// The dots a table's repacked kernels must give the bits of (see the file's doc).
fn reference_dot(k: &Kernels) -> (Q4Dot, Q8Dot) {
    if cfg!(target_arch = "aarch64") {
        (k.q4_0.dot, k.q8_0.dot)
    } else {
        (generic::dot_q4_0_q8_0, generic::dot_q8_0_q8_0)
    }
}

/// Equal bits, or both NaN.
fn same(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
}

#[test]
fn repacking_is_lossless_and_needs_whole_groups_of_four_rows() {
    let mut rng = Rng(0x5eed_4a11);
    for nb in [1, 2, 5] {
        for rows in [4, 8, 12, 24] {
            let q4 = weights_q4_0(&mut rng, rows * nb);
            let q8 = weights_q8_0(&mut rng, rows * nb);
            let p4 = repack_q4_0(&q4, nb).expect("whole groups");
            let p8 = repack_q8_0(&q8, nb).expect("whole groups");
            assert_eq!((p4.len(), p8.len()), (rows / 4 * nb, rows / 4 * nb));
            for r in 0..rows {
                for b in 0..nb {
                    let at = r / 4 * nb + b;
                    assert_eq!(
                        unpack_q4_0(&p4[at], r % 4),
                        q4[r * nb + b],
                        "q4_0 r{r} b{b}"
                    );
                    assert_eq!(
                        unpack_q8_0(&p8[at], r % 4),
                        q8[r * nb + b],
                        "q8_0 r{r} b{b}"
                    );
                }
            }
        }
        for rows in [1, 2, 3, 5, 7, 10] {
            assert!(repack_q4_0(&weights_q4_0(&mut rng, rows * nb), nb).is_none());
            assert!(repack_q8_0(&weights_q8_0(&mut rng, rows * nb), nb).is_none());
        }
    }
}

#[test]
fn repacked_rows_decode_like_the_file_rows() {
    let mut rng = Rng(0x00de_c0de);
    let (rows, nb) = (12, 3);
    let q4 = weights_q4_0(&mut rng, rows * nb);
    let q8 = weights_q8_0(&mut rng, rows * nb);
    let (p4, p8) = (repack_q4_0(&q4, nb).unwrap(), repack_q8_0(&q8, nb).unwrap());
    let k = nb * QK;
    let file = |data| Matrix { data, rows, k };
    for (plain, packed) in [
        (file(MatData::Q4_0(&q4)), file(MatData::Q4_0x4(&p4))),
        (file(MatData::Q8_0(&q8)), file(MatData::Q8_0x4(&p8))),
    ] {
        for row in 0..=rows {
            let (mut a, mut b) = (vec![f32::NAN; k], vec![f32::NAN; k]);
            generic::dequantize_row(&plain, row, &mut a);
            generic::dequantize_row(&packed, row, &mut b);
            assert!(same(&a, &b), "row {row}");
        }
    }
}

#[test]
fn every_table_gives_the_bits_of_its_dot_on_repacked_rows() {
    let mut rng = Rng(0x0a76_0a72);
    for k in Kernels::available() {
        let (dot4, dot8) = reference_dot(&k);
        for nb in [1, 2, 7] {
            let xs = activations(&k, &mut rng, nb);
            // Passes of 8 groups of 4 rows, then of 4 groups, then of 1: 36 rows = 8 + 1
            // groups, 52 = 8 + 4 + 1, 20 = 4 + 1, 8 = 1 + 1.
            for rows in [4, 8, 20, 36, 52] {
                let q4 = weights_q4_0(&mut rng, rows * nb);
                let q8 = weights_q8_0(&mut rng, rows * nb);
                let (p4, p8) = (repack_q4_0(&q4, nb).unwrap(), repack_q8_0(&q8, nb).unwrap());
                let kk = nb * QK;
                let m4 = Matrix {
                    data: MatData::Q4_0x4(&p4),
                    rows,
                    k: kk,
                };
                let m8 = Matrix {
                    data: MatData::Q8_0x4(&p8),
                    rows,
                    k: kk,
                };
                for (xi, x) in xs.iter().enumerate() {
                    let xq = &x.q8_0[..];
                    let want4: Vec<f32> = q4.chunks_exact(nb).map(|r| dot4(r, xq)).collect();
                    let want8: Vec<f32> = q8.chunks_exact(nb).map(|r| dot8(r, xq)).collect();
                    let name = format!("{} nb={nb} rows={rows} x{xi}", k.name());
                    // Whole output, then an output one row short (the kernel writes no more).
                    for len in [rows, rows - 1] {
                        let mut got = vec![f32::NAN; rows];
                        k.matvec(&mut got[..len], &m4, x);
                        assert!(
                            same(&got[..len], &want4[..len]),
                            "q4_0 {name} len={len}: {got:?} {want4:?}"
                        );
                        assert!(
                            got[len..].iter().all(|v| v.is_nan()),
                            "q4_0 {name}: wrote past out"
                        );
                        let mut got = vec![f32::NAN; rows];
                        k.matvec(&mut got[..len], &m8, x);
                        assert!(
                            same(&got[..len], &want8[..len]),
                            "q8_0 {name} len={len}: {got:?} {want8:?}"
                        );
                        assert!(
                            got[len..].iter().all(|v| v.is_nan()),
                            "q8_0 {name}: wrote past out"
                        );
                    }
                    // Chunks of whole groups (how threads split a matrix) give the same bits.
                    for (m, want) in [(&m4, &want4), (&m8, &want8)] {
                        let mut got = vec![f32::NAN; rows];
                        for a in (0..rows).step_by(8) {
                            let part = m.rows(a, a + 8);
                            k.matvec(&mut got[a..a + part.rows], &part, x);
                        }
                        assert!(same(&got, want), "chunks {name}");
                    }
                }
                // A batch gives the bits of one matvec per token.
                let mut outs: Vec<Vec<f32>> = vec![vec![f32::NAN; rows]; xs.len()];
                let mut views: Vec<&mut [f32]> =
                    outs.iter_mut().map(|o| o.as_mut_slice()).collect();
                k.matmul(&mut views, &m4, &xs);
                for (o, x) in outs.iter().zip(&xs) {
                    let mut one = vec![f32::NAN; rows];
                    k.matvec(&mut one, &m4, x);
                    assert!(same(o, &one), "matmul {} nb={nb} rows={rows}", k.name());
                }
            }
        }
    }
}

/// outs[t] = m @ xs[t] by `k.matmul` over the first `len` rows, in row chunks of `chunk`
/// (how the threads split a matrix); NaN past `len`.
fn matmul_by_chunks(
    k: &Kernels,
    m: &Matrix,
    xs: &[Activation],
    len: usize,
    chunk: usize,
) -> Vec<Vec<f32>> {
    let mut outs: Vec<Vec<f32>> = vec![vec![f32::NAN; m.rows]; xs.len()];
    for a in (0..len).step_by(chunk) {
        let part = m.rows(a, a + chunk);
        let end = (a + part.rows).min(len);
        let mut views: Vec<&mut [f32]> = outs.iter_mut().map(|o| &mut o[a..end]).collect();
        k.matmul(&mut views, &part, xs);
    }
    outs
}

#[test]
fn a_batch_gives_each_token_the_bits_of_its_matvec() {
    let mut rng = Rng(0x0a76_9e33);
    // Token counts past a gemm call's (GEMM_TOKENS = MAX_BATCH = 32): tiles of 4 tokens with
    // ragged ends, and a second call.
    let most = MAX_BATCH + 3;
    for k in Kernels::available() {
        for nb in [1, 2, 7] {
            let xs = activation_cases(&k, &mut rng, nb, most);
            // Passes of 2 groups of 4 rows, the last group alone: 4 = 1, 12 = 2 + 1,
            // 20 = 2 + 2 + 1, 36 and 52 several passes.
            for rows in [4, 8, 12, 20, 36, 52] {
                let q4 = weights_q4_0(&mut rng, rows * nb);
                let q8 = weights_q8_0(&mut rng, rows * nb);
                let (p4, p8) = (repack_q4_0(&q4, nb).unwrap(), repack_q8_0(&q8, nb).unwrap());
                let kk = nb * QK;
                for (ty, data) in [
                    ("q4_0", MatData::Q4_0x4(&p4)),
                    ("q8_0", MatData::Q8_0x4(&p8)),
                ] {
                    let m = Matrix { data, rows, k: kk };
                    let want: Vec<Vec<f32>> = xs
                        .iter()
                        .map(|x| {
                            let mut one = vec![f32::NAN; rows];
                            k.matvec(&mut one, &m, x);
                            one
                        })
                        .collect();
                    for n in 1..=most {
                        // Whole outputs, outputs ending in a partial group, chunks of 16 rows.
                        for (len, chunk) in
                            [(rows, rows), (rows - 1, rows), (rows - 3, rows), (rows, 16)]
                        {
                            let got = matmul_by_chunks(&k, &m, &xs[..n], len, chunk);
                            for (t, (g, w)) in got.iter().zip(&want).enumerate() {
                                let name = format!(
                                    "{ty} {} nb={nb} rows={rows} n={n} len={len} chunk={chunk} t={t}",
                                    k.name()
                                );
                                assert!(same(&g[..len], &w[..len]), "{name}: {g:?} {w:?}");
                                assert!(
                                    g[len..].iter().all(|v| v.is_nan()),
                                    "{name}: wrote past out"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_layout_is_four_file_blocks_in_size() {
    assert_eq!(std::mem::size_of::<BlockQ4_0x4>(), 4 * 18);
    assert_eq!(std::mem::size_of::<BlockQ8_0x4>(), 4 * 34);
}
