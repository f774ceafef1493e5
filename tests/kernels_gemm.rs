//! Batched products: every table's gemm gives, output for output, the bits of its own dot
//! (the contract of `GemmFn`, reference `generic::gemm_by`), for ragged row, token and block
//! counts; and `Kernels::matmul` gives the bits of one `matvec` per token for every weight
//! type, so a prompt batch gives the bits of its tokens one by one. No tolerance: exact.

use edge::internals::{generic, Activation, Kernels, Matrix};
use edge_formats::{BlockQ4_0, BlockQ8_0, GgmlType};
use half::f16;

/// xorshift64* for test inputs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    fn sym(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

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
                for &n_tok in &TOKENS {
                    let xs: Vec<Vec<BlockQ8_0>> =
                        (0..n_tok).map(|_| q8_0_blocks(&mut rng, nb)).collect();
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
        if k.q4_0.gemm.is_none() && k.q8_0.gemm.is_none() {
            continue;
        }
        let (rows, nb) = (17, 5);
        let w4 = q4_0_blocks(&mut rng, rows * nb);
        let w8 = q8_0_blocks(&mut rng, rows * nb);
        let mut xs: Vec<Vec<BlockQ8_0>> = (0..40).map(|_| q8_0_blocks(&mut rng, nb)).collect();
        xs[3].truncate(2);
        for (label, n_rows) in [("short x", rows), ("short out", 11)] {
            if let Some(g) = k.q4_0.gemm {
                check_gemm(label, g, k.q4_0.dot, &w4, nb, &xs, n_rows);
            }
            if let Some(g) = k.q8_0.gemm {
                check_gemm(label, g, k.q8_0.dot, &w8, nb, &xs, n_rows);
            }
            xs[3] = q8_0_blocks(&mut rng, nb);
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
