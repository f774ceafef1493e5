//! Kernels: every SIMD table this machine runs against the generic reference, and the
//! generic reference against float64 arithmetic on the dequantized values.
//!
//! Tolerances (stated once, used below):
//! - quantizers: bit-identical across ISAs.
//! - quantized dots, ISA vs generic: the per-block integer sums are identical; only the f32
//!   accumulation order differs (on aarch64 also its rounding: one FMA per block and row), so
//!   |simd - generic| <= 2 (nb + 4) eps32 * sum_b |term_b| (term_b = sumi_b d_w d_x, plus
//!   |m s| for Q4_1).
//! - float dots, ISA vs generic: |simd - generic| <= 2 (n + 4) eps32 * sum_i |w_i x_i|.
//! - generic vs float64 on the dequantized values: (nb + 3) eps32 * sum |term_b| for Q4_0 and
//!   Q8_0 (each term is rounded at most twice, then accumulated); Q4_1 adds the error of the
//!   f16 block sum s of Q8_1 (rounded from the f32 scale): sum_b |m_b| |s_b - d_x sum(q_x)|.
//!
//! Absolute sums are taken element-wise (sum_j |w_j x_j| d_w d_x), which bounds the lane-wise
//! partial sums the SIMD kernels scale separately.

use bytemuck::Zeroable;
use edge::internals::{
    generic, Activation, ActivationForm, ActivationForms, Kernels, MatData, Matrix, TypeKernels,
};
use edge_formats::blocks::float::f32_to_bf16_bits;
use edge_formats::blocks::{
    BlockQ2_K, BlockQ3_K, BlockQ4_K, BlockQ5_0, BlockQ5_1, BlockQ5_K, BlockQ6_K, BlockQ8_K, QK_K,
};
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, GgmlType, QK};
use half::{bf16, f16};
mod common;
use common::kernel_inputs::{simd_tables, Rng};

const EPS: f64 = f32::EPSILON as f64;

/// Activation vectors: random at several scales, zeros, exact ties, lone spikes.
fn activation_cases(rng: &mut Rng, n: usize) -> Vec<Vec<f32>> {
    let mut cases = Vec::new();
    for scale in [
        1e-38f32,
        1e-30,
        1e-6,
        1.0,
        3.0e3,
        8.0e6,
        1e30,
        f32::MAX / 2.0,
    ] {
        cases.push((0..n).map(|_| rng.sym() * scale).collect());
    }
    cases.push(vec![0.0; n]);
    cases.push(
        (0..n)
            .map(|i| if i % 2 == 0 { -0.0 } else { 0.0 })
            .collect(),
    );
    // Ties: amax 127 per block makes id = 1, so k + 0.5 lands exactly on a tie.
    cases.push(
        (0..n)
            .map(|i| {
                if i % QK == 0 {
                    127.0
                } else {
                    (rng.below(254) as f32 - 127.0) + 0.5
                }
            })
            .collect(),
    );
    cases.push(
        (0..n)
            .map(|i| if i % 37 == 5 { 100.0 } else { rng.sym() * 1e-3 })
            .collect(),
    );
    cases
}

#[test]
fn q8_0_activation_quantizer_rounds_ties_to_even_by_hand() {
    // amax = 127 -> d = 1, id = 127 / 127 = 1: products are the inputs themselves.
    let mut x = [0.0f32; QK];
    let ties = [
        127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 126.5, -126.5, 0.4999, 2.5001,
    ];
    x[..ties.len()].copy_from_slice(&ties);
    let want: [i8; 12] = [127, 0, 2, 2, 0, -2, -2, 4, 126, -126, 0, 3];
    for k in Kernels::available() {
        let mut out = [BlockQ8_0::default()];
        k.quantize_q8_0(&x, &mut out);
        assert_eq!(out[0].d, f16::from_f32(1.0), "{}", k.name());
        assert_eq!(&out[0].qs[..12], &want, "{}: ties to even", k.name());
        let mut out1 = [BlockQ8_1::default()];
        k.quantize_q8_1(&x, &mut out1);
        assert_eq!(&out1[0].qs[..12], &want, "{}: q8_1 ties to even", k.name());
        let sum: i32 = want.iter().map(|&q| q as i32).sum();
        assert_eq!(
            out1[0].s,
            f16::from_f32(sum as f32),
            "{}: s = d * sum(q)",
            k.name()
        );
    }
}

#[test]
fn file_quantizer_rounds_half_away_from_zero_unlike_activation_quantizer() {
    let mut x = [0.0f32; QK];
    x[0] = 127.0;
    x[1] = 2.5; // file: 3, activation: 2
    x[2] = -0.5; // file: -1, activation: 0
    let mut file_bytes = vec![0u8; GgmlType::Q8_0.row_bytes(QK as u64).unwrap() as usize];
    edge_quantize::codec::quantize_row(GgmlType::Q8_0, &x, &mut file_bytes).unwrap();
    let file: &[BlockQ8_0] = bytemuck::cast_slice(&file_bytes);
    assert_eq!(
        (file[0].qs[1], file[0].qs[2]),
        (3, -1),
        "file quantizer: half away from zero"
    );
    let mut act = [BlockQ8_0::default()];
    generic::quantize_q8_0(&x, &mut act);
    assert_eq!(
        (act[0].qs[1], act[0].qs[2]),
        (2, 0),
        "activation quantizer: half to even"
    );
    assert_ne!(file[0].qs, act[0].qs);
}

#[test]
fn activation_quantizer_error_is_within_half_a_step() {
    // |x - q d16| <= d/2 (rounding) + 127 |d - d16| (q uses the f32 scale, dequant the f16 one).
    let mut rng = Rng(7);
    for x in activation_cases(&mut rng, 96) {
        let mut q = vec![BlockQ8_0::default(); 3];
        generic::quantize_q8_0(&x, &mut q);
        for (b, xb) in q.iter().zip(x.chunks(QK)) {
            let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
            let d = amax / 127.0;
            let d16 = b.d.to_f64();
            if !d16.is_finite() || (d > 0.0 && 127.0 / amax == f64::INFINITY) {
                continue;
            }
            for (v, qv) in xb.iter().zip(b.qs) {
                let err = (*v as f64 - qv as f64 * d16).abs();
                let bound = d / 2.0 * (1.0 + 1e-6) + 127.0 * (d - d16).abs() + 1e-45;
                assert!(err <= bound, "x {v} q {qv} d16 {d16}: err {err} > {bound}");
            }
        }
    }
}

#[test]
fn simd_quantizers_are_bit_identical_to_generic() {
    let mut rng = Rng(11);
    for k in simd_tables() {
        for n in [0usize, 1, 31, 32, 33, 47, 64, 96, 100, 160, 576, 1536, 1537] {
            for x in activation_cases(&mut rng, n) {
                let nb = n.div_ceil(QK);
                let (mut a0, mut b0) = (
                    vec![BlockQ8_0::default(); nb],
                    vec![BlockQ8_0::default(); nb],
                );
                generic::quantize_q8_0(&x, &mut a0);
                k.quantize_q8_0(&x, &mut b0);
                assert_eq!(a0, b0, "{} q8_0 n={n} x[0]={:?}", k.name(), x.first());
                let (mut a1, mut b1) = (
                    vec![BlockQ8_1::default(); nb],
                    vec![BlockQ8_1::default(); nb],
                );
                generic::quantize_q8_1(&x, &mut a1);
                k.quantize_q8_1(&x, &mut b1);
                assert_eq!(a1, b1, "{} q8_1 n={n} x[0]={:?}", k.name(), x.first());
                for (q0, q1) in a0.iter().zip(&a1) {
                    assert_eq!((q0.d, q0.qs), (q1.d, q1.qs), "q8_0 and q8_1 share d and qs");
                }
            }
        }
    }
}

#[test]
fn simd_q8_k_quantizers_are_bit_identical_to_generic() {
    let mut rng = Rng(12);
    for k in simd_tables() {
        for n in [0usize, 1, 255, 256, 257, 576, 1536] {
            let mut cases = activation_cases(&mut rng, n);
            // the first of equal magnitudes sets the sign; NaN, infinities, a subnormal max
            let specials: [fn(usize) -> f32; 4] = [
                |i| [0.5, -5.0, 5.0, -5.0][i % 4],
                |i| {
                    if i % 9 == 4 {
                        f32::NAN
                    } else {
                        i as f32 - 100.0
                    }
                },
                |i| {
                    if i % 13 == 6 {
                        f32::NEG_INFINITY
                    } else {
                        1.0 + i as f32
                    }
                },
                |i| if i % 5 == 0 { -1e-40 } else { 1e-41 },
            ];
            cases.extend(specials.iter().map(|f| (0..n).map(f).collect::<Vec<f32>>()));
            for x in cases {
                let nk = n.div_ceil(QK_K);
                let (mut a, mut b) = (vec![BlockQ8_K::zeroed(); nk], vec![BlockQ8_K::zeroed(); nk]);
                generic::quantize_q8_k(&x, &mut a);
                k.quantize_q8_k(&x, &mut b);
                for (i, (a, b)) in a.iter().zip(&b).enumerate() {
                    assert_eq!(
                        (a.d.to_bits(), a.qs, a.bsums),
                        (b.d.to_bits(), b.qs, b.bsums),
                        "{} q8_k n={n} block {i} x[0]={:?}",
                        k.name(),
                        x.first()
                    );
                }
            }
        }
    }
}

fn rand_f16_scale(rng: &mut Rng, scale: f32) -> f16 {
    f16::from_f32(scale * (0.25 + 0.75 * (rng.sym() + 1.0) / 2.0))
}

fn rand_q4_0(rng: &mut Rng, nb: usize, scale: f32) -> Vec<BlockQ4_0> {
    (0..nb)
        .map(|_| BlockQ4_0 {
            d: rand_f16_scale(rng, scale),
            qs: std::array::from_fn(|_| rng.next() as u8),
        })
        .collect()
}

fn rand_q4_1(rng: &mut Rng, nb: usize, scale: f32) -> Vec<BlockQ4_1> {
    (0..nb)
        .map(|_| BlockQ4_1 {
            d: rand_f16_scale(rng, scale),
            m: f16::from_f32(-8.0 * rand_f16_scale(rng, scale).to_f32()),
            qs: std::array::from_fn(|_| rng.next() as u8),
        })
        .collect()
}

fn rand_q8_0(rng: &mut Rng, nb: usize, scale: f32) -> Vec<BlockQ8_0> {
    (0..nb)
        .map(|_| BlockQ8_0 {
            d: rand_f16_scale(rng, scale),
            qs: std::array::from_fn(|_| (rng.below(255) as i32 - 127) as i8),
        })
        .collect()
}

/// Per-block exact terms in f64: (signed sum, sum of |terms|, extra Q4_1 tolerance).
fn nib(qs: &[u8; 16], j: usize) -> i64 {
    if j < 16 {
        (qs[j] & 15) as i64
    } else {
        (qs[j - 16] >> 4) as i64
    }
}

/// Q4_0 . Q8_0 in f64: (exact sum, sum over elements of |w_j x_j| d_w d_x). The element-wise
/// absolute sum bounds the lane-wise partial sums a SIMD kernel scales separately.
fn exact_q4_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> (f64, f64) {
    let (mut s, mut a) = (0.0, 0.0);
    for (b, y) in w.iter().zip(x) {
        let d = b.d.to_f64() * y.d.to_f64();
        let sumi: i64 = (0..QK).map(|j| (nib(&b.qs, j) - 8) * y.qs[j] as i64).sum();
        let sumabs: i64 = (0..QK)
            .map(|j| ((nib(&b.qs, j) - 8) * y.qs[j] as i64).abs())
            .sum();
        s += sumi as f64 * d;
        a += sumabs as f64 * d.abs();
    }
    (s, a)
}

fn exact_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> (f64, f64) {
    let (mut s, mut a) = (0.0, 0.0);
    for (b, y) in w.iter().zip(x) {
        let d = b.d.to_f64() * y.d.to_f64();
        let sumi: i64 = (0..QK).map(|j| b.qs[j] as i64 * y.qs[j] as i64).sum();
        let sumabs: i64 = (0..QK)
            .map(|j| (b.qs[j] as i64 * y.qs[j] as i64).abs())
            .sum();
        s += sumi as f64 * d;
        a += sumabs as f64 * d.abs();
    }
    (s, a)
}

/// Q4_1 . Q8_1 in f64: (sum of d_w d_x sumi + m s, the absolute terms, and how far that is from
/// the dot of the dequantized values, |m| |s - d_x sum(q_x)| per block: s is the f16 rounding
/// of the *f32* d times sum(q), so it carries its own error, as in ggml).
fn exact_q4_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> (f64, f64, f64) {
    let (mut s, mut a, mut dequant_gap) = (0.0, 0.0, 0.0);
    for (b, y) in w.iter().zip(x) {
        let d = b.d.to_f64() * y.d.to_f64();
        let sumi: i64 = (0..QK).map(|j| nib(&b.qs, j) * y.qs[j] as i64).sum();
        let sumabs: i64 = (0..QK)
            .map(|j| (nib(&b.qs, j) * y.qs[j] as i64).abs())
            .sum();
        let sumq: i64 = y.qs.iter().map(|&q| q as i64).sum();
        let ms = b.m.to_f64() * y.s.to_f64();
        s += sumi as f64 * d + ms;
        a += sumabs as f64 * d.abs() + ms.abs();
        dequant_gap += b.m.to_f64().abs() * (y.s.to_f64() - y.d.to_f64() * sumq as f64).abs();
    }
    (s, a, dequant_gap)
}

/// The f64 dot of the dequantized Q4_1 row and Q8_1 activation.
fn dequantized_q4_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f64 {
    let mut s = 0.0;
    for (b, y) in w.iter().zip(x) {
        for j in 0..QK {
            let wv = nib(&b.qs, j) as f64 * b.d.to_f64() + b.m.to_f64();
            s += wv * (y.qs[j] as f64 * y.d.to_f64());
        }
    }
    s
}

fn check(name: &str, got: f32, want: f64, tol: f64) {
    assert!(
        (got as f64 - want).abs() <= tol,
        "{name}: got {got}, want {want}, |diff| {} > tol {tol}",
        (got as f64 - want).abs()
    );
}

const BLOCK_COUNTS: [usize; 9] = [0, 1, 2, 3, 5, 8, 18, 48, 49];
const SCALES: [f32; 4] = [1e-3, 1.0, 30.0, 1e-7];

#[test]
fn quantized_dots_generic_vs_float64() {
    let mut rng = Rng(3);
    for nb in BLOCK_COUNTS {
        for scale in SCALES {
            let x: Vec<f32> = (0..nb * QK).map(|_| rng.sym() * scale * 10.0).collect();
            let (mut x0, mut x1) = (
                vec![BlockQ8_0::default(); nb],
                vec![BlockQ8_1::default(); nb],
            );
            generic::quantize_q8_0(&x, &mut x0);
            generic::quantize_q8_1(&x, &mut x1);
            let w = rand_q4_0(&mut rng, nb, scale);
            let (want, abs) = exact_q4_0(&w, &x0);
            check(
                "q4_0",
                generic::dot_q4_0_q8_0(&w, &x0),
                want,
                (nb as f64 + 3.0) * EPS * abs,
            );
            let w = rand_q8_0(&mut rng, nb, scale);
            let (want, abs) = exact_q8_0(&w, &x0);
            check(
                "q8_0",
                generic::dot_q8_0_q8_0(&w, &x0),
                want,
                (nb as f64 + 3.0) * EPS * abs,
            );
            let w = rand_q4_1(&mut rng, nb, scale);
            let (want, abs, gap) = exact_q4_1(&w, &x1);
            let got = generic::dot_q4_1_q8_1(&w, &x1);
            check("q4_1", got, want, (nb as f64 + 3.0) * EPS * abs);
            let deq = dequantized_q4_1(&w, &x1);
            check(
                "q4_1 vs dequantized",
                got,
                deq,
                (nb as f64 + 3.0) * EPS * abs + gap * (1.0 + 1e-9),
            );
        }
    }
}

#[test]
fn quantized_dots_simd_vs_generic() {
    let mut rng = Rng(5);
    for k in simd_tables() {
        for nb in BLOCK_COUNTS {
            for scale in SCALES {
                let tol = |abs: f64| 2.0 * (nb as f64 + 4.0) * EPS * abs;
                let name = |t: &str| format!("{} {t} nb={nb} scale={scale}", k.name());
                let x: Vec<f32> = (0..nb * QK).map(|_| rng.sym() * scale * 10.0).collect();
                let (mut x0, mut x1) = (
                    vec![BlockQ8_0::default(); nb],
                    vec![BlockQ8_1::default(); nb],
                );
                k.quantize_q8_0(&x, &mut x0);
                k.quantize_q8_1(&x, &mut x1);

                let w = rand_q4_0(&mut rng, nb, scale);
                let (_, abs) = exact_q4_0(&w, &x0);
                let g = generic::dot_q4_0_q8_0(&w, &x0) as f64;
                check(&name("q4_0"), (k.q4_0.dot)(&w, &x0), g, tol(abs));

                let w = rand_q8_0(&mut rng, nb, scale);
                let (_, abs) = exact_q8_0(&w, &x0);
                let g = generic::dot_q8_0_q8_0(&w, &x0) as f64;
                check(&name("q8_0"), (k.q8_0.dot)(&w, &x0), g, tol(abs));
                // Extreme weights: all nibbles 0 or 15, all q8 at +-127.
                let mut w8 = w.clone();
                for b in &mut w8 {
                    b.qs = std::array::from_fn(|j| if j % 3 == 0 { -127 } else { 127 });
                }
                let (_, abs) = exact_q8_0(&w8, &x0);
                let g = generic::dot_q8_0_q8_0(&w8, &x0) as f64;
                check(&name("q8_0 extreme"), (k.q8_0.dot)(&w8, &x0), g, tol(abs));

                let mut w = rand_q4_1(&mut rng, nb, scale);
                if nb % 2 == 1 {
                    for b in &mut w {
                        b.qs = [0xF0; 16];
                    }
                }
                let (_, abs, _) = exact_q4_1(&w, &x1);
                let g = generic::dot_q4_1_q8_1(&w, &x1) as f64;
                check(&name("q4_1"), (k.q4_1.dot)(&w, &x1), g, tol(abs));

                let mut w4 = rand_q4_0(&mut rng, nb, scale);
                for b in &mut w4 {
                    b.qs = [0x0F; 16]; // -8 and +7
                }
                let (_, abs) = exact_q4_0(&w4, &x0);
                let g = generic::dot_q4_0_q8_0(&w4, &x0) as f64;
                check(&name("q4_0 extreme"), (k.q4_0.dot)(&w4, &x0), g, tol(abs));
            }
        }
    }
}

#[test]
fn float_dots_simd_vs_generic_and_float64() {
    let mut rng = Rng(9);
    let lens: Vec<usize> = (0..=70).chain([127, 576, 1536, 1537]).collect();
    let tables: Vec<Kernels> = Kernels::available().collect();
    for n in lens {
        for scale in [1.0f32, 1e-20, 1e15] {
            let w: Vec<f32> = (0..n).map(|_| rng.sym() * scale).collect();
            let x: Vec<f32> = (0..n).map(|_| rng.sym()).collect();
            let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v / scale)).collect();
            let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
            let exact = |ws: &dyn Fn(usize) -> f64| -> (f64, f64) {
                let terms = (0..n).map(|i| ws(i) * x[i] as f64);
                (terms.clone().sum(), terms.map(f64::abs).sum())
            };
            let (e32, a32) = exact(&|i| w[i] as f64);
            let tol = |a: f64| 2.0 * (n as f64 + 4.0) * EPS * a + 1e-45;
            for k in &tables {
                // x86 takes x rounded to the weights' type for f16 and bf16, as ggml does.
                let x_as = |round: fn(f32) -> f32| -> Vec<f32> {
                    let rounds = matches!(k.name(), "avx2" | "avx512");
                    x.iter()
                        .map(|&v| if rounds { round(v) } else { v })
                        .collect()
                };
                let x16 = x_as(|v| f16::from_f32(v).to_f32());
                let xb = x_as(|v| f32::from_bits(u32::from(f32_to_bf16_bits(v)) << 16));
                let exact = |ws: &dyn Fn(usize) -> f64, x: &[f32]| -> (f64, f64) {
                    let terms = (0..n).map(|i| ws(i) * x[i] as f64);
                    (terms.clone().sum(), terms.map(f64::abs).sum())
                };
                let (e16, a16) = exact(&|i| wh[i].to_f64(), &x16);
                let (eb, ab) = exact(&|i| wb[i].to_f64(), &xb);
                check(
                    &format!("{} f32 n={n}", k.name()),
                    (k.f32.dot)(&w, &x),
                    e32,
                    tol(a32),
                );
                check(
                    &format!("{} f16 n={n}", k.name()),
                    (k.f16.dot)(&wh, &x),
                    e16,
                    tol(a16),
                );
                check(
                    &format!("{} bf16 n={n}", k.name()),
                    (k.bf16.dot)(&wb, &x),
                    eb,
                    tol(ab),
                );
                let g = generic::dot_f32(&w, &x) as f64;
                check(
                    &format!("{} f32 vs generic n={n}", k.name()),
                    (k.f32.dot)(&w, &x),
                    g,
                    tol(a32),
                );
                let g = generic::dot_f16_f32(&wh, &x16) as f64;
                check(
                    &format!("{} f16 vs generic", k.name()),
                    (k.f16.dot)(&wh, &x),
                    g,
                    tol(a16),
                );
                let g = generic::dot_bf16_f32(&wb, &xb) as f64;
                check(
                    &format!("{} bf16 vs generic", k.name()),
                    (k.bf16.dot)(&wb, &x),
                    g,
                    tol(ab),
                );
            }
        }
    }
}

#[test]
fn x86_f16_and_bf16_dots_take_x_rounded_to_the_weights_type() {
    // ggml converts the activation to the weights' type before its f16 / bf16 dot; a one-hot
    // weight row reads back that rounding, in the vector loop (n = 32) and the tail (n = 7).
    let values = [
        1.0f32 + f32::EPSILON,
        f32::from_bits(0x3f80_8000), // bf16 tie, to even (down)
        f32::from_bits(0x3f81_8000), // bf16 tie, to even (up)
        1.0 + 2f32.powi(-11),        // f16 tie
        -3.000_001,
        65519.0, // rounds to the largest f16
        3.0e38,
        1.0e-41,
    ];
    for k in Kernels::available().filter(|k| matches!(k.name(), "avx2" | "avx512")) {
        for n in [32, 7] {
            for (p, &v) in values.iter().enumerate() {
                let p = p % n;
                let mut x = vec![0.25f32; n];
                x[p] = v;
                let one_hot = |i: usize| if i == p { 1.0f32 } else { 0.0 };
                let wh: Vec<f16> = (0..n).map(|i| f16::from_f32(one_hot(i))).collect();
                let wb: Vec<bf16> = (0..n).map(|i| bf16::from_f32(one_hot(i))).collect();
                let want16 = f16::from_f32(v).to_f32();
                let wantb = f32::from_bits(u32::from(f32_to_bf16_bits(v)) << 16);
                let name = k.name();
                assert_eq!((k.f16.dot)(&wh, &x), want16, "{name} f16 n={n} x={v:e}");
                assert_eq!((k.bf16.dot)(&wb, &x), wantb, "{name} bf16 n={n} x={v:e}");
            }
        }
    }
}

/// A (rows, k) matrix of `ty` made by the project's file quantizer from random weights.
fn file_matrix_bytes(rng: &mut Rng, ty: GgmlType, rows: usize, k: usize) -> Vec<u8> {
    let w: Vec<f32> = (0..rows * k).map(|_| rng.sym() * 0.1).collect();
    let mut bytes = vec![0u8; ty.row_bytes((rows * k) as u64).unwrap() as usize];
    edge_quantize::codec::quantize_row(ty, &w, &mut bytes).unwrap();
    bytes
}

/// Copies bytes into u32-aligned storage (the mapping is aligned; a Vec<u8> may not be).
fn aligned(bytes: &[u8]) -> Vec<u32> {
    let mut v = vec![0u32; bytes.len().div_ceil(4)];
    bytemuck::cast_slice_mut::<u32, u8>(&mut v)[..bytes.len()].copy_from_slice(bytes);
    v
}

/// The (rows, k) matrix of type ty whose `len` file bytes `store` holds.
fn view_matrix(ty: GgmlType, store: &[u32], len: usize, rows: usize, k: usize) -> Matrix<'_> {
    Matrix::from_bytes(ty, &bytemuck::cast_slice(store)[..len], rows, k).unwrap()
}

#[test]
fn matvec_every_type_and_isa_matches_row_dots() {
    let mut rng = Rng(13);
    let (rows, k) = (37, 160);
    let x: Vec<f32> = (0..k).map(|_| rng.sym()).collect();
    // Q5_0, Q5_1 and the K-quants: `new_types_matvec_every_isa_matches_row_dots`.
    for ty in [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
    ] {
        let bytes = file_matrix_bytes(&mut rng, ty, rows, k);
        let store = aligned(&bytes);
        let m = view_matrix(ty, &store, bytes.len(), rows, k);
        assert_eq!((m.rows, m.k, m.data.ggml_type()), (rows, k, ty));
        let scalar = Kernels::scalar();
        let mut act = Activation::new(k);
        act.prepare(&scalar, &x);
        let mut want = vec![0.0f32; rows];
        scalar.matvec(&mut want, &m, &act);
        // Scalar matvec = generic dot per row, exactly; and close to float64 of dequantized.
        let mut deq = vec![0.0f32; k];
        let mut xdeq = vec![0.0f32; k];
        for (r, &got) in want.iter().enumerate() {
            generic::dequantize_row(&m, r, &mut deq);
            let (xs, exact_ok) = match ty {
                GgmlType::Q4_1 => (&x, false),
                GgmlType::Q8_0 | GgmlType::Q4_0 => {
                    let xm = Matrix {
                        data: MatData::Q8_0(&act.q8_0),
                        rows: 1,
                        k,
                    };
                    generic::dequantize_row(&xm, 0, &mut xdeq);
                    (&xdeq, true)
                }
                _ => (&x, true),
            };
            let terms: Vec<f64> = deq
                .iter()
                .zip(xs.iter())
                .map(|(a, b)| *a as f64 * *b as f64)
                .collect();
            let e: f64 = terms.iter().sum();
            let a: f64 = terms.iter().map(|t| t.abs()).sum();
            // Q4_1 runs against x quantized to Q8_1: compare loosely with the f32 x (quantization
            // error of x: 1/254 of each block's amax per element).
            let tol = if exact_ok {
                2.0 * (k as f64 + 4.0) * EPS * a
            } else {
                a / 100.0
            };
            check(&format!("{ty} row {r} vs f64"), got, e, tol);
        }
        matvec_matches_scalar_on_every_isa(ty, &m, &x, &want);
    }
}

/// On every ISA this CPU runs: the matvec of `m` with `x` (quantized by that ISA) writes no
/// row past `m.rows`, each row is within 16 (k + 4) eps max|want| of the scalar rows `want`,
/// and the sub-view of rows 5..11 gives the same rows.
fn matvec_matches_scalar_on_every_isa(ty: GgmlType, m: &Matrix, x: &[f32], want: &[f32]) {
    let (rows, k) = (m.rows, m.k);
    let top = want.iter().map(|v| v.abs() as f64).fold(1.0, f64::max);
    for kern in Kernels::available() {
        let mut act = Activation::new(k);
        act.prepare(&kern, x);
        let mut out = vec![f32::NAN; rows + 3];
        kern.matvec(&mut out, m, &act);
        assert!(
            out[rows..].iter().all(|v| v.is_nan()),
            "matvec wrote past rows"
        );
        // x86 rounds x to f16 / bf16 for those weights, as ggml does: the scalar matvec of
        // that x is the reference there.
        let rounded_want;
        let want = match (kern.name(), ty) {
            ("avx2" | "avx512", GgmlType::F16 | GgmlType::BF16) => {
                let round = |v: f32| match ty {
                    GgmlType::F16 => f16::from_f32(v).to_f32(),
                    _ => f32::from_bits(u32::from(f32_to_bf16_bits(v)) << 16),
                };
                let xr: Vec<f32> = x.iter().map(|&v| round(v)).collect();
                let scalar = Kernels::scalar();
                let mut act = Activation::new(k);
                act.prepare(&scalar, &xr);
                rounded_want = {
                    let mut w = vec![0.0f32; rows];
                    scalar.matvec(&mut w, m, &act);
                    w
                };
                &rounded_want[..]
            }
            _ => want,
        };
        for r in 0..rows {
            let tol = 16.0 * (k as f64 + 4.0) * EPS * top;
            check(
                &format!("{} {ty} row {r}", kern.name()),
                out[r],
                want[r] as f64,
                tol,
            );
        }
        let sub = m.rows(5, 11);
        let mut part = vec![0.0f32; 6];
        kern.matvec(&mut part, &sub, &act);
        assert_eq!(&part[..], &out[5..11], "{} {ty} rows(5, 11)", kern.name());
    }
}

#[test]
fn matrix_from_bytes_checks_length_alignment_and_type() {
    let store = vec![0u32; 64];
    let bytes: &[u8] = bytemuck::cast_slice(&store);
    assert!(Matrix::from_bytes(GgmlType::F32, &bytes[..128], 1, 32).is_ok());
    assert!(
        Matrix::from_bytes(GgmlType::F32, &bytes[..124], 1, 32).is_err(),
        "short"
    );
    assert!(
        Matrix::from_bytes(GgmlType::F32, &bytes[1..129], 1, 32).is_err(),
        "misaligned"
    );
    assert!(
        Matrix::from_bytes(GgmlType::Q4_0, &bytes[..18], 1, 31).is_err(),
        "ragged k"
    );
    assert!(Matrix::from_bytes(GgmlType::Q4_0, &bytes[..36], 2, 32).is_ok());
    assert!(
        Matrix::from_bytes(GgmlType::Q8_1, &bytes[..36], 1, 32).is_err(),
        "Q8_1 weights"
    );
    assert!(
        Matrix::from_bytes(GgmlType::Q8_0, &bytes[..34], usize::MAX, 32).is_err(),
        "overflow"
    );
    let err = Matrix::from_bytes(GgmlType::Q4_1, &bytes[..30], 1, 32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("Q4_1"), "{err}");
}

#[test]
fn activation_prepare_reuses_its_buffers() {
    let k = Kernels::detect().expect("EDGE_ISA names an ISA this CPU runs");
    let mut act = Activation::new(1536);
    let ptrs = |a: &Activation| {
        (
            a.f32.as_ptr(),
            a.q8_0.as_ptr(),
            a.q8_1.as_ptr(),
            a.q8_k.as_ptr(),
        )
    };
    let before = ptrs(&act);
    for n in [1536, 576, 64, 1536] {
        let x: Vec<f32> = (0..n).map(|i| (i as f32).sin()).collect();
        act.prepare(&k, &x);
        assert_eq!(
            (act.len(), act.q8_0.len(), act.q8_1.len(), act.q8_k.len()),
            (n, n / QK, n / QK, n.div_ceil(QK_K))
        );
        assert_eq!(before, ptrs(&act));
    }
}

#[test]
fn activation_prepare_quantizes_only_the_forms_of_its_set() {
    let k = Kernels::scalar();
    let x: Vec<f32> = (0..96).map(|i| (i as f32).cos()).collect();
    let q8_0 = ActivationForms::NONE.with(ActivationForm::Q8_0);
    assert!(q8_0.contains(ActivationForm::Q8_0) && !q8_0.contains(ActivationForm::Q8_1));
    assert_eq!(q8_0.iter().collect::<Vec<_>>(), [ActivationForm::Q8_0]);
    assert_eq!(
        ActivationForms::ALL.iter().collect::<Vec<_>>(),
        ActivationForm::ALL
    );
    for (forms, want) in [
        (ActivationForms::NONE, (0, 0)),
        (q8_0, (3, 0)),
        (ActivationForms::NONE.with(ActivationForm::Q8_1), (0, 3)),
        (ActivationForms::ALL, (3, 3)),
    ] {
        let mut act = Activation::with_forms(96, forms);
        act.prepare(&k, &x);
        assert_eq!(act.forms(), forms);
        assert_eq!((act.q8_0.len(), act.q8_1.len()), want, "{forms:?}");
        assert_eq!(act.f32, x, "the f32 copy is always there");
    }
}

#[test]
fn each_weight_type_reads_the_activation_form_of_its_table_entry() {
    let form = Kernels::activation_form;
    assert_eq!(form(GgmlType::Q4_0), Some(ActivationForm::Q8_0));
    assert_eq!(form(GgmlType::Q8_0), Some(ActivationForm::Q8_0));
    assert_eq!(form(GgmlType::Q4_1), Some(ActivationForm::Q8_1));
    for ty in [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q8_1,
        GgmlType::Q8_K,
    ] {
        assert_eq!(form(ty), None, "{ty}");
    }
    for k in Kernels::available() {
        assert_eq!(k.q4_0.reads(), Some(ActivationForm::Q8_0));
        // gemm outputs are checked against dot in tests/kernels_gemm.rs
        if k.name() == "scalar" {
            assert!(
                k.q4_0.gemm.is_none() && k.q8_0.gemm.is_none(),
                "the reference runs matvec per token (generic::gemm_by)"
            );
        }
    }
}

#[test]
fn dispatch_names_and_env() {
    assert_eq!(Kernels::scalar().name(), "scalar");
    assert_eq!(Kernels::by_name("scalar").map(|k| k.name()), Some("scalar"));
    assert!(Kernels::by_name("sse9").is_none());
    let why = edge::Isa::from_name("sse9").unwrap_err().to_string();
    assert!(
        why.contains("unknown ISA") && why.contains("this CPU runs scalar"),
        "{why}"
    );
    #[cfg(target_arch = "x86_64")]
    {
        let has = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c");
        let has512 = has
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512vnni");
        assert_eq!(Kernels::by_name("avx2").is_some(), has);
        assert_eq!(Kernels::by_name("avx512").is_some(), has512);
        let best = match (has512, has) {
            (true, _) => "avx512",
            (false, true) => "avx2",
            _ => "scalar",
        };
        assert_eq!(Kernels::best().name(), best);
        assert!(Kernels::by_name("neon").is_none());
    }
    #[cfg(target_arch = "aarch64")]
    {
        assert!(
            Kernels::by_name("neon").is_some(),
            "NEON is baseline on aarch64"
        );
        let has = std::arch::is_aarch64_feature_detected!("dotprod");
        assert_eq!(Kernels::by_name("dotprod").is_some(), has);
        assert_eq!(Kernels::best().name(), if has { "dotprod" } else { "neon" });
        assert!(Kernels::by_name("avx2").is_none());
        assert!(Kernels::by_name("avx512").is_none());
    }
}

/// On aarch64 the quantized dots keep one f32 lane per row across blocks and add each block's
/// exact integer sum with one FMA (fl(d_w d_x), then fl(acc + sumi * d)): not generic's
/// order, so they are checked against float64 with generic's bound, (nb + 3) eps32 sum|terms|
/// for Q4_0 and Q8_0 and (2 nb + 3) for Q4_1 (the m s term is a second rounded addition).
#[cfg(target_arch = "aarch64")]
#[test]
fn arm_quantized_dots_are_within_the_generic_bound_of_float64() {
    let mut rng = Rng(21);
    for k in simd_tables() {
        for nb in BLOCK_COUNTS {
            for scale in SCALES {
                let name = |t: &str| format!("{} {t} nb={nb} scale={scale}", k.name());
                let bound = |blocks: f64, abs: f64| (blocks + 3.0) * EPS * abs;
                let x: Vec<f32> = (0..nb * QK).map(|_| rng.sym() * scale * 10.0).collect();
                let (mut x0, mut x1) = (
                    vec![BlockQ8_0::default(); nb],
                    vec![BlockQ8_1::default(); nb],
                );
                k.quantize_q8_0(&x, &mut x0);
                k.quantize_q8_1(&x, &mut x1);
                let w = rand_q4_0(&mut rng, nb, scale);
                let (want, abs) = exact_q4_0(&w, &x0);
                check(
                    &name("q4_0"),
                    (k.q4_0.dot)(&w, &x0),
                    want,
                    bound(nb as f64, abs),
                );
                let w = rand_q4_1(&mut rng, nb, scale);
                let (want, abs, _) = exact_q4_1(&w, &x1);
                let tol = bound(2.0 * nb as f64, abs);
                check(&name("q4_1"), (k.q4_1.dot)(&w, &x1), want, tol);
                let w = rand_q8_0(&mut rng, nb, scale);
                let (want, abs) = exact_q8_0(&w, &x0);
                check(
                    &name("q8_0"),
                    (k.q8_0.dot)(&w, &x0),
                    want,
                    bound(nb as f64, abs),
                );
            }
        }
    }
}

/// The multi-row matvecs (AVX2: 8 rows per pass; NEON, dotprod: 8 rows, a ragged last pass
/// filled with copies of its last row) give each row the bits of that row's dot, whatever
/// the row count.
#[test]
fn quantized_matvec_rows_equal_the_row_dot_bit_for_bit_at_every_row_count() {
    let mut rng = Rng(31);
    let nb = 5;
    let x: Vec<f32> = (0..nb * QK).map(|_| rng.sym()).collect();
    for k in Kernels::available() {
        let (mut x0, mut x1) = (
            vec![BlockQ8_0::default(); nb],
            vec![BlockQ8_1::default(); nb],
        );
        k.quantize_q8_0(&x, &mut x0);
        k.quantize_q8_1(&x, &mut x1);
        for rows in 1..=19 {
            let name = |t: &str, r: usize| format!("{} {t} rows={rows} row {r}", k.name());
            let mut out = vec![f32::NAN; rows];
            let w = rand_q4_0(&mut rng, rows * nb, 0.1);
            (k.q4_0.matvec)(&mut out, &w, nb, &x0);
            for (r, (got, row)) in out.iter().zip(w.chunks_exact(nb)).enumerate() {
                let want = (k.q4_0.dot)(row, &x0);
                assert_eq!(got.to_bits(), want.to_bits(), "{}", name("q4_0", r));
            }
            let w = rand_q4_1(&mut rng, rows * nb, 0.1);
            (k.q4_1.matvec)(&mut out, &w, nb, &x1);
            for (r, (got, row)) in out.iter().zip(w.chunks_exact(nb)).enumerate() {
                let want = (k.q4_1.dot)(row, &x1);
                assert_eq!(got.to_bits(), want.to_bits(), "{}", name("q4_1", r));
            }
            let w = rand_q8_0(&mut rng, rows * nb, 0.1);
            (k.q8_0.matvec)(&mut out, &w, nb, &x0);
            for (r, (got, row)) in out.iter().zip(w.chunks_exact(nb)).enumerate() {
                let want = (k.q8_0.dot)(row, &x0);
                assert_eq!(got.to_bits(), want.to_bits(), "{}", name("q8_0", r));
            }
        }
    }
}

#[test]
fn q4_0_matvec_rows_equal_the_row_dot_bit_for_bit() {
    // The AVX2 matvec runs eight rows at a time; each row must still be exactly its dot.
    let mut rng = Rng(29);
    let (rows, nb) = (27, 6);
    let x: Vec<f32> = (0..nb * QK).map(|_| rng.sym()).collect();
    let w = rand_q4_0(&mut rng, rows * nb, 0.1);
    for k in Kernels::available() {
        let mut x0 = vec![BlockQ8_0::default(); nb];
        k.quantize_q8_0(&x, &mut x0);
        let mut out = vec![0.0f32; rows];
        (k.q4_0.matvec)(&mut out, &w, nb, &x0);
        for (r, got) in out.iter().enumerate() {
            let want = (k.q4_0.dot)(&w[r * nb..(r + 1) * nb], &x0);
            assert_eq!(got.to_bits(), want.to_bits(), "{} row {r}", k.name());
        }
    }
}

/// Distance in units in the last place between two finite f32 of the same sign.
fn ulps(a: f32, b: f32) -> u32 {
    (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
}

#[test]
fn ggml_expf_is_within_two_ulps_of_exp() {
    // ggml's SIMD expf (what SwiGLU uses): about 1.5 ulp in the normal range, 0 below about
    // -104 and infinity above about 88.7, like expf.
    let mut worst = 0;
    let mut x = -87.0f32;
    while x < 88.0 {
        let want = (x as f64).exp() as f32;
        worst = worst.max(ulps(generic::expf_ggml(x), want));
        x += 0.001_37;
    }
    assert!(worst <= 2, "worst error {worst} ulps");
    assert_eq!(generic::expf_ggml(0.0), 1.0);
    assert_eq!(generic::expf_ggml(-120.0), 0.0);
    assert_eq!(generic::expf_ggml(89.0), f32::INFINITY);
    // gradual underflow: a subnormal result, not zero
    let sub = generic::expf_ggml(-100.0);
    assert!(sub > 0.0 && sub < f32::MIN_POSITIVE, "{sub}");
    assert!(ulps(sub, (-100.0f64).exp() as f32) <= 2);
}

#[test]
fn swiglu_matches_its_formula_and_is_bit_identical_across_isas() {
    let mut rng = Rng(31);
    for n in [0, 5, 8, 37, 1536] {
        let gate: Vec<f32> = (0..n)
            .map(|i| match i % 11 {
                0 => 0.0,
                1 => -95.0,
                2 => 90.0,
                3 if i % 2 == 0 => f32::NAN,
                _ => rng.sym() * 12.0,
            })
            .collect();
        let up: Vec<f32> = (0..n).map(|_| rng.sym() * 3.0).collect();
        let mut want = gate.clone();
        generic::swiglu(&mut want, &up);
        for (i, w) in want.iter().enumerate() {
            let (g, u) = (gate[i] as f64, up[i] as f64);
            if g.is_nan() {
                assert!(w.is_nan(), "n {n} i {i}: silu(NaN) = {w}");
                continue;
            }
            let exact = g / (1.0 + (-g).exp()) * u;
            assert!(
                (*w as f64 - exact).abs() <= 4.0 * EPS * exact.abs() + 1e-30,
                "n {n} i {i}: {w} vs {exact}"
            );
        }
        for k in Kernels::available() {
            let mut got = gate.clone();
            (k.swiglu)(&mut got, &up);
            let same = got
                .iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{} n {n}", k.name());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Q5_0, Q5_1 and the K-quants (issue 18)
//
// Tolerances, generic vs float64 on the dequantized weights and activation:
// - Q5_0 . Q8_0: as Q4_0, (nb + 3) eps32 * sum |term|.
// - Q5_1 . Q8_1: as Q4_1, plus the f16 rounding of the block sums s.
// - K-quants . Q8_K: the integer lane sums are exact; each lane is scaled once by
//   d_w d_x (two roundings) and summed over nb blocks, then the 8 lanes and the minimum
//   sum are added: (nb + 16) eps32 * A, doubled for the decoders' own rounding of
//   (d sc) q - (dmin m), with A = sum_e |x_e| (|w_e| + |dmin_w| * 63) (the minimum term bounded
//   by its largest value; 0 for Q3_K and Q6_K, which have none).

const K_TYPES: [GgmlType; 5] = [
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
];

/// Weights for a (rows, k) matrix of `ty` by our file quantizer, from values at `scale` with
/// a few outliers (heavy tails exercise the sub-block scales).
fn quantized_weights(rng: &mut Rng, ty: GgmlType, rows: usize, k: usize, scale: f32) -> Vec<u32> {
    let w: Vec<f32> = (0..rows * k)
        .map(|i| {
            let v = rng.sym() * scale;
            if i % 97 == 13 {
                v * 20.0
            } else {
                v
            }
        })
        .collect();
    let mut bytes = vec![0u8; ty.row_bytes((rows * k) as u64).unwrap() as usize];
    edge_quantize::codec::quantize_row(ty, &w, &mut bytes).unwrap();
    aligned(&bytes)
}

fn blocks_of<T: bytemuck::Pod>(store: &[u32], n: usize) -> &[T] {
    let bytes: &[u8] = bytemuck::cast_slice(store);
    bytemuck::cast_slice(&bytes[..n * std::mem::size_of::<T>()])
}

#[test]
fn q8_k_activation_quantizer_by_hand() {
    // max = -127 -> iscale = 1, d = 1: products are the inputs; ties go to even.
    let mut x = [0.0f32; QK_K];
    let vals = [
        -127.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 126.5, 127.0, 0.4999, 2.5001,
    ];
    x[..vals.len()].copy_from_slice(&vals);
    x[200] = 7.0;
    let want: [i8; 12] = [-127, 0, 2, 2, 0, -2, -2, 4, 126, 127, 0, 3];
    for k in Kernels::available() {
        let mut out = [BlockQ8_K::zeroed()];
        k.quantize_q8_k(&x, &mut out);
        let b = &out[0];
        assert_eq!(b.d, 1.0, "{}", k.name());
        assert_eq!(&b.qs[..12], &want, "{}: ties to even", k.name());
        assert_eq!(b.qs[200], 7);
        let sum0: i16 = want.iter().map(|&q| q as i16).sum();
        assert_eq!(b.bsums[0], sum0, "{}: sums of 16", k.name());
        assert_eq!(b.bsums[12], 7);
        assert!(b.bsums[1..12].iter().all(|&s| s == 0));
    }
    // The first value of largest magnitude sets the sign: a positive max gives a negative d
    // and negated q (ggml's iscale = -127 / max).
    let mut y = [0.0f32; QK_K];
    y[3] = 2.0;
    y[9] = -2.0;
    y[10] = 1.0;
    let mut out = [BlockQ8_K::zeroed()];
    generic::quantize_q8_k(&y, &mut out);
    assert_eq!(out[0].d, 1.0 / (-127.0 / 2.0));
    assert_eq!(
        (out[0].qs[3], out[0].qs[9], out[0].qs[10]),
        (-127, 127, -64)
    );
    // Zeros and vanishing blocks: all q 0, d 0; a short last block reads as zero-padded.
    for z in [0.0f32, 1e-39] {
        let mut out = [BlockQ8_K::zeroed(), BlockQ8_K::zeroed()];
        let mut v = vec![z; QK_K + 10];
        v[QK_K] = 1.0;
        generic::quantize_q8_k(&v, &mut out);
        assert!(out[0].qs.iter().all(|&q| q == 0) && out[0].d == 0.0, "{z}");
        assert_eq!((out[1].qs[0], out[1].bsums[0]), (-127, -127));
        assert!(out[1].qs[10..].iter().all(|&q| q == 0));
    }
}

#[test]
fn q5_dots_generic_vs_float64() {
    let mut rng = Rng(21);
    for nb in BLOCK_COUNTS {
        for scale in SCALES {
            let n = nb * QK;
            let x: Vec<f32> = (0..n).map(|_| rng.sym() * scale * 10.0).collect();
            let (mut x0, mut x1) = (
                vec![BlockQ8_0::default(); nb],
                vec![BlockQ8_1::default(); nb],
            );
            generic::quantize_q8_0(&x, &mut x0);
            generic::quantize_q8_1(&x, &mut x1);
            let (mut xd0, mut xd1) = (vec![0.0f32; n], vec![0.0f32; n]);
            edge_formats::blocks::dequantize(&x0, &mut xd0);
            edge_formats::blocks::dequantize(&x1, &mut xd1);

            let s0 = quantized_weights(&mut rng, GgmlType::Q5_0, 1, n, scale);
            let w0: &[BlockQ5_0] = blocks_of(&s0, nb);
            let mut wd = vec![0.0f32; n];
            edge_formats::blocks::dequantize(w0, &mut wd);
            let (e, a) = f64_dot(&wd, &xd0);
            let got = generic::dot_q5_0_q8_0(w0, &x0);
            check(
                &format!("q5_0 nb={nb} scale={scale}"),
                got,
                e,
                (nb as f64 + 3.0) * EPS * a,
            );

            let s1 = quantized_weights(&mut rng, GgmlType::Q5_1, 1, n, scale);
            let w1: &[BlockQ5_1] = blocks_of(&s1, nb);
            edge_formats::blocks::dequantize(w1, &mut wd);
            let (e, a) = f64_dot(&wd, &xd1);
            // The f16 block sums s stand for d_x sum(q_x) in the minimum's term.
            let s_err: f64 = w1
                .iter()
                .zip(&x1)
                .map(|(w, b)| {
                    let sum: i32 = b.qs.iter().map(|&q| q as i32).sum();
                    let exact = b.d.to_f64() * sum as f64;
                    w.m.to_f64().abs() * (b.s.to_f64() - exact).abs()
                })
                .sum();
            let got = generic::dot_q5_1_q8_1(w1, &x1);
            let tol = 2.0 * (nb as f64 + 3.0) * EPS * a + s_err * 1.01;
            check(&format!("q5_1 nb={nb} scale={scale}"), got, e, tol);
        }
    }
}

/// (sum w x, sum |w x|) in f64.
fn f64_dot(w: &[f32], x: &[f32]) -> (f64, f64) {
    w.iter().zip(x).fold((0.0, 0.0), |(e, a), (&w, &x)| {
        let t = w as f64 * x as f64;
        (e + t, a + t.abs())
    })
}

/// The generic dot of a K-quant row and its dequantized values, by type.
fn k_dot_and_dequantized(
    ty: GgmlType,
    store: &[u32],
    nb: usize,
    x: &[BlockQ8_K],
    k: &Kernels,
) -> (f32, Vec<f32>, f64) {
    let mut wd = vec![0.0f32; nb * QK_K];
    use edge_formats::blocks::dequantize as deq;
    let (got, dmin) = match ty {
        GgmlType::Q2_K => {
            let w: &[BlockQ2_K] = blocks_of(store, nb);
            deq(w, &mut wd);
            let dmin = w.iter().map(|b| b.dmin.to_f64().abs()).fold(0.0, f64::max);
            ((k.q2_k.dot)(w, x), dmin)
        }
        GgmlType::Q3_K => {
            let w: &[BlockQ3_K] = blocks_of(store, nb);
            deq(w, &mut wd);
            ((k.q3_k.dot)(w, x), 0.0)
        }
        GgmlType::Q4_K => {
            let w: &[BlockQ4_K] = blocks_of(store, nb);
            deq(w, &mut wd);
            let dmin = w.iter().map(|b| b.dmin.to_f64().abs()).fold(0.0, f64::max);
            ((k.q4_k.dot)(w, x), dmin)
        }
        GgmlType::Q5_K => {
            let w: &[BlockQ5_K] = blocks_of(store, nb);
            deq(w, &mut wd);
            let dmin = w.iter().map(|b| b.dmin.to_f64().abs()).fold(0.0, f64::max);
            ((k.q5_k.dot)(w, x), dmin)
        }
        GgmlType::Q6_K => {
            let w: &[BlockQ6_K] = blocks_of(store, nb);
            deq(w, &mut wd);
            ((k.q6_k.dot)(w, x), 0.0)
        }
        _ => unreachable!("{ty} is not a K-quant"),
    };
    (got, wd, dmin * 63.0)
}

#[test]
fn k_quant_dots_generic_vs_float64() {
    let mut rng = Rng(23);
    let scalar = Kernels::scalar();
    for ty in K_TYPES {
        for nb in [0usize, 1, 2, 3, 6, 7] {
            for scale in SCALES {
                let n = nb * QK_K;
                let x: Vec<f32> = (0..n).map(|_| rng.sym() * scale * 10.0).collect();
                let mut xq = vec![BlockQ8_K::zeroed(); nb];
                generic::quantize_q8_k(&x, &mut xq);
                let mut xd = vec![0.0f32; n];
                edge_formats::blocks::dequantize(&xq, &mut xd);
                let store = quantized_weights(&mut rng, ty, 1, n, scale);
                let (got, wd, min_bound) = k_dot_and_dequantized(ty, &store, nb, &xq, &scalar);
                let (e, _) = f64_dot(&wd, &xd);
                let a: f64 = wd
                    .iter()
                    .zip(&xd)
                    .map(|(&w, &x)| (w.abs() as f64 + min_bound) * (x as f64).abs())
                    .sum();
                let tol = 2.0 * (nb as f64 + 16.0) * EPS * a;
                check(&format!("{ty} nb={nb} scale={scale}"), got, e, tol);
            }
        }
    }
}

#[test]
fn new_types_matvec_every_isa_matches_row_dots() {
    let mut rng = Rng(29);
    let rows = 37;
    for ty in [GgmlType::Q5_0, GgmlType::Q5_1].into_iter().chain(K_TYPES) {
        let k = if ty.block_size() == QK_K { 512 } else { 160 };
        let x: Vec<f32> = (0..k).map(|_| rng.sym()).collect();
        let store = quantized_weights(&mut rng, ty, rows, k, 0.1);
        let len = ty.row_bytes((rows * k) as u64).unwrap() as usize;
        let m = view_matrix(ty, &store, len, rows, k);
        assert_eq!((m.rows, m.k, m.data.ggml_type()), (rows, k, ty));
        assert_eq!(
            Kernels::activation_form(ty),
            Some(if ty.block_size() == QK_K {
                ActivationForm::Q8_K
            } else if ty == GgmlType::Q5_0 {
                ActivationForm::Q8_0
            } else {
                ActivationForm::Q8_1
            }),
            "{ty}"
        );
        let scalar = Kernels::scalar();
        let mut act = Activation::with_forms(k, ActivationForms::for_matrices([&m]));
        act.prepare(&scalar, &x);
        let mut want = vec![0.0f32; rows];
        scalar.matvec(&mut want, &m, &act);
        // Rows of the scalar matvec against the dequantized rows and the f32 x (loosely:
        // the activation's own quantization error is ~1/254 of its block maximum).
        let mut deq = vec![0.0f32; k];
        for (r, &got) in want.iter().enumerate() {
            generic::dequantize_row(&m, r, &mut deq);
            let (e, a) = f64_dot(&deq, &x);
            check(&format!("{ty} row {r} vs f64"), got, e, a / 50.0);
        }
        matvec_matches_scalar_on_every_isa(ty, &m, &x, &want);
    }
}

#[test]
fn k_quant_matrices_need_whole_super_blocks_and_q8_k_is_no_weight() {
    let store = vec![0u32; 512];
    let bytes: &[u8] = bytemuck::cast_slice(&store);
    assert!(Matrix::from_bytes(GgmlType::Q4_K, &bytes[..144], 1, 256).is_ok());
    let err = Matrix::from_bytes(GgmlType::Q4_K, &bytes[..144], 1, 128)
        .unwrap_err()
        .to_string();
    assert!(err.contains("Q4_K") && err.contains("256"), "{err}");
    let err = Matrix::from_bytes(GgmlType::Q8_K, &bytes[..292], 1, 256)
        .unwrap_err()
        .to_string();
    assert!(err.contains("Q8_K"), "{err}");
}

/// n blocks of random bits whose f16 scales `fix` then sets to finite values.
fn random_blocks<B: bytemuck::Pod>(
    rng: &mut Rng,
    n: usize,
    fix: impl Fn(&mut B, &mut Rng),
) -> Vec<B> {
    (0..n)
        .map(|_| {
            let mut b = B::zeroed();
            for byte in bytemuck::bytes_of_mut(&mut b) {
                *byte = rng.next() as u8;
            }
            fix(&mut b, rng);
            b
        })
        .collect()
}

/// An f16 scale: random magnitudes across the range, sometimes 0, sometimes the extremes.
fn edge_f16(rng: &mut Rng) -> f16 {
    match rng.below(8) {
        0 => f16::ZERO,
        1 => f16::MAX,
        2 => f16::from_f32(6.0e-8),
        _ => {
            let scale = 10f32.powi(rng.below(7) as i32 - 4);
            rand_f16_scale(rng, scale)
        }
    }
}

/// Q8_K activations for nb blocks: random at several scales, zeros, ties, spikes.
fn q8_k_cases(rng: &mut Rng, nb: usize) -> Vec<Vec<BlockQ8_K>> {
    activation_cases(rng, nb * QK_K)
        .into_iter()
        .map(|x| {
            let mut q = vec![BlockQ8_K::zeroed(); nb];
            generic::quantize_q8_k(&x, &mut q);
            q
        })
        .collect()
}

/// Every SIMD table's dot for the new types against the generic one, on random blocks with
/// edge scales: |simd - generic| within the accumulation-order bound of the header
/// (4 (nb + 16) eps32 A, A as for the float64 test, from the generic's own terms).
#[test]
fn simd_new_type_dots_match_generic() {
    let mut rng = Rng(31);
    for k in simd_tables() {
        for nb in [0usize, 1, 2, 3, 5, 8] {
            let k_cases = q8_k_cases(&mut rng, nb);
            for (c, xq) in k_cases.iter().enumerate() {
                let mut xd = vec![0.0f32; nb * QK_K];
                edge_formats::blocks::dequantize(xq, &mut xd);
                for ty in K_TYPES {
                    let mut store =
                        vec![
                            0u32;
                            (ty.row_bytes((nb * QK_K) as u64).unwrap() as usize).div_ceil(4) + 1
                        ];
                    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut store);
                    match ty {
                        GgmlType::Q2_K => copy_blocks(
                            bytes,
                            &random_blocks::<BlockQ2_K>(&mut rng, nb, |b, r| {
                                b.d = edge_f16(r);
                                b.dmin = edge_f16(r);
                            }),
                        ),
                        GgmlType::Q3_K => copy_blocks(
                            bytes,
                            &random_blocks::<BlockQ3_K>(&mut rng, nb, |b, r| b.d = edge_f16(r)),
                        ),
                        GgmlType::Q4_K => copy_blocks(
                            bytes,
                            &random_blocks::<BlockQ4_K>(&mut rng, nb, |b, r| {
                                b.d = edge_f16(r);
                                b.dmin = edge_f16(r);
                            }),
                        ),
                        GgmlType::Q5_K => copy_blocks(
                            bytes,
                            &random_blocks::<BlockQ5_K>(&mut rng, nb, |b, r| {
                                b.d = edge_f16(r);
                                b.dmin = edge_f16(r);
                            }),
                        ),
                        _ => copy_blocks(
                            bytes,
                            &random_blocks::<BlockQ6_K>(&mut rng, nb, |b, r| b.d = edge_f16(r)),
                        ),
                    }
                    let (want, wdeq, min_bound) =
                        k_dot_and_dequantized(ty, &store, nb, xq, &Kernels::scalar());
                    let (got, _, _) = k_dot_and_dequantized(ty, &store, nb, xq, &k);
                    let a: f64 = wdeq
                        .iter()
                        .zip(&xd)
                        .map(|(&w, &x)| (w.abs() as f64 + min_bound) * (x as f64).abs())
                        .sum();
                    let tol = 4.0 * (nb as f64 + 16.0) * EPS * a;
                    if !(want.is_finite() && a.is_finite()) {
                        continue; // f32 overflow at extreme scales: no order to compare
                    }
                    check(
                        &format!("{} {ty} nb={nb} case {c}", k.name()),
                        got,
                        want as f64,
                        tol,
                    );
                }
            }
            // Q5_0 and Q5_1 over the same number of 32-blocks as the K rows hold.
            let nb32 = nb * 8;
            for (c, x) in activation_cases(&mut rng, nb32 * QK)
                .into_iter()
                .enumerate()
            {
                let (mut x0, mut x1) = (
                    vec![BlockQ8_0::default(); nb32],
                    vec![BlockQ8_1::default(); nb32],
                );
                generic::quantize_q8_0(&x, &mut x0);
                generic::quantize_q8_1(&x, &mut x1);
                let w0 = random_blocks::<BlockQ5_0>(&mut rng, nb32, |b, r| b.d = edge_f16(r));
                let w1 = random_blocks::<BlockQ5_1>(&mut rng, nb32, |b, r| {
                    b.d = edge_f16(r);
                    b.m = edge_f16(r);
                });
                let bound0: f64 = w0
                    .iter()
                    .zip(&x0)
                    .map(|(w, b)| {
                        let s: i32 = b.qs.iter().map(|&q| (q as i32).abs() * 16).sum();
                        s as f64 * w.d.to_f64().abs() * b.d.to_f64().abs()
                    })
                    .sum();
                let bound1: f64 = w1
                    .iter()
                    .zip(&x1)
                    .map(|(w, b)| {
                        let s: i32 = b.qs.iter().map(|&q| (q as i32).abs() * 31).sum();
                        s as f64 * w.d.to_f64().abs() * b.d.to_f64().abs()
                            + (w.m.to_f64() * b.s.to_f64()).abs()
                    })
                    .sum();
                let tol = |bound: f64| 2.0 * (nb32 as f64 + 4.0) * EPS * bound;
                let (g0, s0) = (generic::dot_q5_0_q8_0(&w0, &x0), (k.q5_0.dot)(&w0, &x0));
                let (g1, s1) = (generic::dot_q5_1_q8_1(&w1, &x1), (k.q5_1.dot)(&w1, &x1));
                if g0.is_finite() {
                    check(
                        &format!("{} q5_0 nb={nb32} case {c}", k.name()),
                        s0,
                        g0 as f64,
                        tol(bound0),
                    );
                }
                if g1.is_finite() {
                    check(
                        &format!("{} q5_1 nb={nb32} case {c}", k.name()),
                        s1,
                        g1 as f64,
                        tol(bound1),
                    );
                }
            }
        }
    }
}

/// Writes `blocks` at the start of `bytes`.
fn copy_blocks<B: bytemuck::Pod>(bytes: &mut [u8], blocks: &[B]) {
    let src: &[u8] = bytemuck::cast_slice(blocks);
    bytes[..src.len()].copy_from_slice(src);
}

/// K-quant weights of every type for `rows` rows of `nb` super-blocks: random bits, edge
/// scales, every third row all zero (zero blocks).
fn k_rows(rng: &mut Rng, ty: GgmlType, rows: usize, nb: usize) -> Vec<u32> {
    let n = rows * nb;
    let mut store = vec![0u32; (ty.row_bytes((n * QK_K) as u64).unwrap() as usize).div_ceil(4)];
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut store);
    let d2 = |b: &mut BlockQ2_K, r: &mut Rng| (b.d, b.dmin) = (edge_f16(r), edge_f16(r));
    let d4 = |b: &mut BlockQ4_K, r: &mut Rng| (b.d, b.dmin) = (edge_f16(r), edge_f16(r));
    let d5 = |b: &mut BlockQ5_K, r: &mut Rng| (b.d, b.dmin) = (edge_f16(r), edge_f16(r));
    match ty {
        GgmlType::Q2_K => copy_blocks(bytes, &random_blocks::<BlockQ2_K>(rng, n, d2)),
        GgmlType::Q3_K => copy_blocks(
            bytes,
            &random_blocks::<BlockQ3_K>(rng, n, |b, r| b.d = edge_f16(r)),
        ),
        GgmlType::Q4_K => copy_blocks(bytes, &random_blocks::<BlockQ4_K>(rng, n, d4)),
        GgmlType::Q5_K => copy_blocks(bytes, &random_blocks::<BlockQ5_K>(rng, n, d5)),
        _ => copy_blocks(
            bytes,
            &random_blocks::<BlockQ6_K>(rng, n, |b, r| b.d = edge_f16(r)),
        ),
    }
    let row_bytes = ty.row_bytes((nb * QK_K) as u64).unwrap() as usize;
    for row in bytes.chunks_exact_mut(row_bytes.max(1)).step_by(3) {
        row.fill(0);
    }
    store
}

/// Equal bits, or both NaN (f32 overflow at extreme scales: inf - inf in either order).
fn same_bits(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// `got`'s matvec of w (rows, nb blocks) @ x and its dot of each row are the bits of `want`'s
/// (the AVX-512 entries against their AVX2 twins); `what` names the case in the panic.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn assert_twins<W, X>(
    what: &str,
    got: &TypeKernels<W, X>,
    want: &TypeKernels<W, X>,
    w: &[W],
    nb: usize,
    x: &[X],
) {
    let rows = w.len() / nb;
    let (mut got_rows, mut want_rows) = (vec![f32::NAN; rows], vec![f32::NAN; rows]);
    (got.matvec)(&mut got_rows, w, nb, x);
    (want.matvec)(&mut want_rows, w, nb, x);
    let same = got_rows
        .iter()
        .zip(&want_rows)
        .all(|(&a, &b)| same_bits(a, b));
    assert!(same, "{what} matvec: {got_rows:?} {want_rows:?}");
    for row in w.chunks_exact(nb) {
        let (a, b) = ((got.dot)(row, x), (want.dot)(row, x));
        assert!(same_bits(a, b), "{what} dot: {a} {b}");
    }
}

/// Every ISA's matvec rows of the new types are their row dots bit for bit, for ragged row
/// counts; on aarch64 the dots are also bit-identical to generic where `arm/` says so (NEON
/// K-quants; Q2_K, Q5_0 and Q5_1 on both ARM tables).
#[test]
fn new_types_matvec_rows_are_row_dots_and_arm_dots_match_generic_bits() {
    let mut rng = Rng(37);
    let arm_bit_identical = |isa: &str, ty: GgmlType| {
        cfg!(target_arch = "aarch64")
            && (isa == "neon" || matches!(ty, GgmlType::Q2_K | GgmlType::Q5_0 | GgmlType::Q5_1))
    };
    for k in Kernels::available() {
        for (rows, nb) in [(1usize, 1usize), (3, 2), (7, 1), (13, 3)] {
            for xq in q8_k_cases(&mut rng, nb) {
                for ty in K_TYPES {
                    let store = k_rows(&mut rng, ty, rows, nb);
                    let len = ty.row_bytes((rows * nb * QK_K) as u64).unwrap() as usize;
                    let m = view_matrix(ty, &store, len, rows, nb * QK_K);
                    let mut out = vec![0.0f32; rows];
                    let row = |r: usize| m.rows(r, r + 1);
                    let dots: Vec<(f32, f32)> = (0..rows)
                        .map(|r| {
                            let one = row(r);
                            macro_rules! dot {
                                ($f:ident, $d:expr) => {{
                                    let w = $d;
                                    ((k.$f.dot)(w, &xq), (Kernels::scalar().$f.dot)(w, &xq))
                                }};
                            }
                            match one.data {
                                MatData::Q2_K(d) => dot!(q2_k, d),
                                MatData::Q3_K(d) => dot!(q3_k, d),
                                MatData::Q4_K(d) => dot!(q4_k, d),
                                MatData::Q5_K(d) => dot!(q5_k, d),
                                MatData::Q6_K(d) => dot!(q6_k, d),
                                _ => unreachable!(),
                            }
                        })
                        .collect();
                    match m.data {
                        MatData::Q2_K(d) => (k.q2_k.matvec)(&mut out, d, nb, &xq),
                        MatData::Q3_K(d) => (k.q3_k.matvec)(&mut out, d, nb, &xq),
                        MatData::Q4_K(d) => (k.q4_k.matvec)(&mut out, d, nb, &xq),
                        MatData::Q5_K(d) => (k.q5_k.matvec)(&mut out, d, nb, &xq),
                        MatData::Q6_K(d) => (k.q6_k.matvec)(&mut out, d, nb, &xq),
                        _ => unreachable!(),
                    }
                    for (r, (&got, &(dot, generic_dot))) in out.iter().zip(&dots).enumerate() {
                        let name = format!("{} {ty} rows={rows} nb={nb} row {r}", k.name());
                        assert!(same_bits(got, dot), "{name}: matvec {got} vs dot {dot}");
                        if arm_bit_identical(k.name(), ty) {
                            assert!(
                                same_bits(dot, generic_dot),
                                "{name}: {dot} vs generic {generic_dot}"
                            );
                        }
                    }
                }
            }
        }
        // Q5_0 / Q5_1 over ragged rows of 32-blocks.
        for (rows, nb) in [(1usize, 1usize), (5, 3), (11, 9), (8, 2), (19, 18)] {
            let x: Vec<f32> = (0..nb * QK).map(|_| rng.sym()).collect();
            let (mut x0, mut x1) = (
                vec![BlockQ8_0::default(); nb],
                vec![BlockQ8_1::default(); nb],
            );
            k.quantize_q8_0(&x, &mut x0);
            k.quantize_q8_1(&x, &mut x1);
            let mut w0 = random_blocks::<BlockQ5_0>(&mut rng, rows * nb, |b, r| b.d = edge_f16(r));
            let mut w1 = random_blocks::<BlockQ5_1>(&mut rng, rows * nb, |b, r| {
                (b.d, b.m) = (edge_f16(r), edge_f16(r))
            });
            w0[..nb].fill(BlockQ5_0::default());
            w1[..nb].fill(BlockQ5_1::default());
            let (mut out0, mut out1) = (vec![0.0f32; rows], vec![0.0f32; rows]);
            (k.q5_0.matvec)(&mut out0, &w0, nb, &x0);
            (k.q5_1.matvec)(&mut out1, &w1, nb, &x1);
            for r in 0..rows {
                let name = format!("{} rows={rows} nb={nb} row {r}", k.name());
                let span = r * nb..(r + 1) * nb;
                let (d0, d1) = (
                    (k.q5_0.dot)(&w0[span.clone()], &x0),
                    (k.q5_1.dot)(&w1[span.clone()], &x1),
                );
                assert!(same_bits(out0[r], d0), "q5_0 {name}");
                assert!(same_bits(out1[r], d1), "q5_1 {name}");
                if arm_bit_identical(k.name(), GgmlType::Q5_0) {
                    let g0 = generic::dot_q5_0_q8_0(&w0[span.clone()], &x0);
                    let g1 = generic::dot_q5_1_q8_1(&w1[span], &x1);
                    assert!(same_bits(d0, g0), "q5_0 {name}: {d0} vs generic {g0}");
                    assert!(same_bits(d1, g1), "q5_1 {name}: {d1} vs generic {g1}");
                }
            }
        }
    }
}

/// f32 values for the f16-attention loops: normal f16 values, f16 subnormals, values below
/// the smallest f16 subnormal, large but finite values (some beyond f16's range), exact ties
/// between two f16 neighbours, and signed zeros.
fn f16_rounding_cases(rng: &mut Rng, n: usize, kind: usize) -> Vec<f32> {
    (0..n)
        .map(|i| match (kind + i) % 7 {
            0 => rng.sym(),
            1 => rng.sym() * 6.0e-5, // f16 subnormals
            2 => rng.sym() * 1.0e-8, // below f16's smallest subnormal
            3 => rng.sym() * 7.0e4,  // around f16::MAX (65504), finite in f32
            4 => rng.sym() * 3.0e38, // far beyond f16, finite in f32
            5 => {
                // Halfway between an f16 and its upper neighbour: a tie.
                let h = f16::from_f32(rng.sym() * 1.0e3);
                let up = f16::from_bits(h.to_bits().wrapping_add(1));
                if up.is_finite() {
                    ((h.to_f64() + up.to_f64()) / 2.0) as f32
                } else {
                    h.to_f32()
                }
            }
            _ => {
                if i % 2 == 0 {
                    0.0
                } else {
                    -0.0
                }
            }
        })
        .collect()
}

#[test]
fn attention_f16_simd_bit_identical_to_generic() {
    let mut rng = Rng(16);
    let tables = simd_tables();
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for n in (0..=40).chain([64, 80, 128, 129]) {
        for kind in 0..7 {
            let acc0: Vec<f32> = f16_rounding_cases(&mut rng, n, kind);
            let v: Vec<f16> = f16_rounding_cases(&mut rng, n, kind + 3)
                .iter()
                .map(|&x| f16::from_f32(x))
                .filter(|h| h.is_finite())
                .chain(std::iter::repeat(f16::ONE))
                .take(n)
                .collect();
            // Weights: softmax-like in (0, 1], the exact 1 and 0, and a large one that
            // overflows f16 in the fma.
            for w in [rng.sym().abs(), 1.0, 0.0, 0.5, 3.0e4, 1.0e-7] {
                for k in &tables {
                    let name = format!("{} n={n} kind={kind} w={w}", k.name());
                    let (mut g, mut s) = (acc0.clone(), acc0.clone());
                    generic::mad_f16(&mut g, &v, w);
                    (k.attention_f16.mad)(&mut s, &v, w);
                    assert_eq!(bits(&s), bits(&g), "mad {name}");

                    let (mut g, mut s) = (acc0.clone(), acc0.clone());
                    generic::scale_f16(&mut g, w);
                    (k.attention_f16.scale)(&mut s, w);
                    assert_eq!(bits(&s), bits(&g), "scale {name}");
                }
            }
            for k in &tables {
                let (mut g, mut s) = (acc0.clone(), acc0.clone());
                generic::round_f16(&mut g);
                (k.attention_f16.round)(&mut s);
                assert_eq!(bits(&s), bits(&g), "round {} n={n} kind={kind}", k.name());
            }
        }
    }
}

#[test]
fn attention_f16_generic_rounds_to_nearest_even() {
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even 1.
    let mut x = [
        1.0 + 2f32.powi(-11),
        1.0 + 3.0 * 2f32.powi(-11),
        7.0e4,
        1.0e-8,
    ];
    generic::round_f16(&mut x);
    assert_eq!(x, [1.0, 1.0 + 2.0 * 2f32.powi(-10), f32::INFINITY, 0.0]);
    // fma, then one rounding: 1 * 2^-11 + 1 is the tie above, not 1 + 2^-11 rounded twice.
    let mut acc = [1.0f32];
    generic::mad_f16(&mut acc, &[f16::from_f32(2f32.powi(-11))], 1.0);
    assert_eq!(acc, [1.0]);
}

/// The avx512 Q5_0 and Q5_1 entries (VNNI, fifth bits through mask registers, two rows per
/// register, 16 rows per pass) are the bits of their AVX2 twins: ragged row counts 1..=40,
/// zero blocks, extreme scales, all-ones and all-zero fifth bits, q8 values +-127. Skipped,
/// with a note, without AVX-512.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_q5_entries_are_the_bits_of_their_avx2_twins() {
    let (Some(avx2), Some(avx512)) = (Kernels::by_name("avx2"), Kernels::by_name("avx512")) else {
        eprintln!("no AVX-512 F/BW/VL/VNNI on this CPU: the avx512 Q5 entries were not checked");
        return;
    };
    let mut rng = Rng(0xA5_0512);
    for nb in [1usize, 2, 5, 18, 48] {
        // Activations: random, all-zero blocks, extreme scales with +-127 (Q8_1: the same
        // values with a random or extreme sum).
        let x0s: Vec<Vec<BlockQ8_0>> = (0..3)
            .map(|kind| {
                (0..nb)
                    .map(|_| match kind {
                        0 => BlockQ8_0 {
                            d: rand_f16_scale(&mut rng, 1e-2),
                            qs: std::array::from_fn(|_| (rng.below(255) as i32 - 127) as i8),
                        },
                        1 if rng.below(2) == 0 => BlockQ8_0::zeroed(),
                        _ => BlockQ8_0 {
                            d: edge_f16(&mut rng),
                            qs: std::array::from_fn(|_| [127, -127][rng.below(2) as usize]),
                        },
                    })
                    .collect()
            })
            .collect();
        let x1s: Vec<Vec<BlockQ8_1>> = x0s
            .iter()
            .map(|x| {
                x.iter()
                    .map(|b| BlockQ8_1 {
                        d: b.d,
                        s: edge_f16(&mut rng),
                        qs: b.qs,
                    })
                    .collect()
            })
            .collect();
        for rows in 1..=40 {
            for kind in 0..3 {
                // Weights: random, extreme nibbles and fifth bits, half the blocks zero.
                let fix_qs = |qs: &mut [u8; 16], qh: &mut [u8; 4], rng: &mut Rng| match kind {
                    1 => {
                        *qs = [[0x00, 0xFF, 0x0F, 0xF0][rng.below(4) as usize]; 16];
                        *qh = [[0x00, 0xFF, 0x55][rng.below(3) as usize]; 4];
                    }
                    2 if rng.below(2) == 0 => (*qs, *qh) = ([0; 16], [0; 4]),
                    _ => {}
                };
                let w0 = random_blocks::<BlockQ5_0>(&mut rng, rows * nb, |b, r| {
                    b.d = edge_f16(r);
                    fix_qs(&mut b.qs, &mut b.qh, r);
                });
                let w1 = random_blocks::<BlockQ5_1>(&mut rng, rows * nb, |b, r| {
                    (b.d, b.m) = (edge_f16(r), edge_f16(r));
                    fix_qs(&mut b.qs, &mut b.qh, r);
                });
                for (xi, (x0, x1)) in x0s.iter().zip(&x1s).enumerate() {
                    let name = |t: &str| format!("{t} nb={nb} rows={rows} w{kind} x{xi}");
                    assert_twins(&name("q5_0"), &avx512.q5_0, &avx2.q5_0, &w0, nb, x0);
                    assert_twins(&name("q5_1"), &avx512.q5_1, &avx2.q5_1, &w1, nb, x1);
                }
            }
        }
    }
}

/// The avx512 Q4_K, Q5_K and Q6_K entries (16, 1 and 8 rows per pass) are the bits of their
/// AVX2 twins: ragged row counts 1..=40, zero blocks, extreme scales, minimums and quants, the
/// Q8_K activation cases plus blocks of -128 and 127. Skipped, with a note, without AVX-512.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_k_quant_entries_are_the_bits_of_their_avx2_twins() {
    let (Some(avx2), Some(avx512)) = (Kernels::by_name("avx2"), Kernels::by_name("avx512")) else {
        eprintln!(
            "no AVX-512 F/BW/VL/VNNI on this CPU: the avx512 K-quant entries were not checked"
        );
        return;
    };
    let mut rng = Rng(0x4_0512);
    for nb in [1usize, 2, 3, 6] {
        let mut xs = q8_k_cases(&mut rng, nb);
        xs.push(
            (0..nb)
                .map(|_| {
                    let mut b = BlockQ8_K::zeroed();
                    b.d = 1e-3;
                    b.qs = std::array::from_fn(|_| [127, -128][rng.below(2) as usize]);
                    for (s, chunk) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
                        *s = chunk.iter().map(|&q| i16::from(q)).sum();
                    }
                    b
                })
                .collect(),
        );
        for rows in (1..=40).step_by(3).chain([16, 32]) {
            for kind in 0..3 {
                // Weights: random, extreme nibbles and 6-bit scales, half the blocks zero.
                let w = random_blocks::<BlockQ4_K>(&mut rng, rows * nb, |b, r| {
                    (b.d, b.dmin) = (edge_f16(r), edge_f16(r));
                    match kind {
                        1 => {
                            b.qs = [[0x00, 0xFF, 0x0F, 0xF0][r.below(4) as usize]; 128];
                            b.scales = [[0xFF, 0x00, 0xC0, 0x3F][r.below(4) as usize]; 12];
                        }
                        2 if r.below(2) == 0 => *b = BlockQ4_K::zeroed(),
                        _ => {}
                    }
                });
                let w6 = random_blocks::<BlockQ6_K>(&mut rng, rows * nb, |b, r| {
                    b.d = edge_f16(r);
                    match kind {
                        1 => {
                            b.ql = [[0x00, 0xFF, 0x0F, 0xF0][r.below(4) as usize]; 128];
                            b.qh = [[0x00, 0xFF, 0x33, 0xCC][r.below(4) as usize]; 64];
                            b.scales = [[-128, 127, 0, -1][r.below(4) as usize]; 16];
                        }
                        2 if r.below(2) == 0 => *b = BlockQ6_K::zeroed(),
                        _ => {}
                    }
                });
                let w5 = random_blocks::<BlockQ5_K>(&mut rng, rows * nb, |b, r| {
                    (b.d, b.dmin) = (edge_f16(r), edge_f16(r));
                    match kind {
                        1 => {
                            b.qs = [[0x00, 0xFF, 0x0F, 0xF0][r.below(4) as usize]; 128];
                            b.qh = [[0x00, 0xFF, 0x55, 0xAA][r.below(4) as usize]; 32];
                            b.scales = [[0xFF, 0x00, 0xC0, 0x3F][r.below(4) as usize]; 12];
                        }
                        2 if r.below(2) == 0 => *b = BlockQ5_K::zeroed(),
                        _ => {}
                    }
                });
                for (xi, x) in xs.iter().enumerate() {
                    let name = |t: &str| format!("{t} nb={nb} rows={rows} w{kind} x{xi}");
                    assert_twins(&name("q5_k"), &avx512.q5_k, &avx2.q5_k, &w5, nb, x);
                    assert_twins(&name("q4_k"), &avx512.q4_k, &avx2.q4_k, &w, nb, x);
                    assert_twins(&name("q6_k"), &avx512.q6_k, &avx2.q6_k, &w6, nb, x);
                }
            }
        }
    }
}

/// The avx512 table's own entries (Q4_0 and Q8_0 with VNNI, 16 and 8 rows per pass) are the
/// bits of their AVX2 twins, which the greedy texts equal to llama.cpp's rely on: ragged row
/// counts 1..=40, block counts across the Q4_0 matvec's 64-block chunks, zero blocks, extreme
/// scales and values (Q8_0 weights down to -128). Skipped, with a note, without AVX-512.
#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_entries_are_the_bits_of_their_avx2_twins() {
    let (Some(avx2), Some(avx512)) = (Kernels::by_name("avx2"), Kernels::by_name("avx512")) else {
        eprintln!("no AVX-512 F/BW/VL/VNNI on this CPU: the avx512 entries were not checked");
        return;
    };
    let mut rng = Rng(0xA512);
    for nb in [1usize, 2, 5, 18, 64, 65, 130] {
        // Activations: random, all-zero blocks, extreme scales with +-127.
        let xs: Vec<Vec<BlockQ8_0>> = (0..3)
            .map(|kind| {
                (0..nb)
                    .map(|_| match kind {
                        0 => BlockQ8_0 {
                            d: rand_f16_scale(&mut rng, 1e-2),
                            qs: std::array::from_fn(|_| (rng.below(255) as i32 - 127) as i8),
                        },
                        1 if rng.below(2) == 0 => BlockQ8_0::zeroed(),
                        _ => BlockQ8_0 {
                            d: edge_f16(&mut rng),
                            qs: std::array::from_fn(|_| [127, -127][rng.below(2) as usize]),
                        },
                    })
                    .collect()
            })
            .collect();
        for rows in 1..=40 {
            for kind in 0..3 {
                // Weights: random, extreme values, half the blocks zero.
                let q4: Vec<BlockQ4_0> = (0..rows * nb)
                    .map(|_| match kind {
                        0 => BlockQ4_0 {
                            d: edge_f16(&mut rng),
                            qs: std::array::from_fn(|_| rng.next() as u8),
                        },
                        1 => BlockQ4_0 {
                            d: edge_f16(&mut rng),
                            qs: [[0x00, 0xFF, 0x0F, 0xF0][rng.below(4) as usize]; 16],
                        },
                        _ if rng.below(2) == 0 => BlockQ4_0::zeroed(),
                        _ => rand_q4_0(&mut rng, 1, 1.0)[0],
                    })
                    .collect();
                let q8: Vec<BlockQ8_0> = (0..rows * nb)
                    .map(|_| match kind {
                        0 => BlockQ8_0 {
                            d: edge_f16(&mut rng),
                            qs: std::array::from_fn(|_| rng.next() as i8),
                        },
                        1 => BlockQ8_0 {
                            d: edge_f16(&mut rng),
                            qs: std::array::from_fn(|_| [127, -127, -128][rng.below(3) as usize]),
                        },
                        _ if rng.below(2) == 0 => BlockQ8_0::zeroed(),
                        _ => rand_q8_0(&mut rng, 1, 1.0)[0],
                    })
                    .collect();
                for (xi, x) in xs.iter().enumerate() {
                    let name = |t: &str| format!("{t} nb={nb} rows={rows} w{kind} x{xi}");
                    assert_twins(&name("q4_0"), &avx512.q4_0, &avx2.q4_0, &q4, nb, x);
                    assert_twins(&name("q8_0"), &avx512.q8_0, &avx2.q8_0, &q8, nb, x);
                }
            }
        }
    }
}
