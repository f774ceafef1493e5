//! The batched f16-attention entry (`AttentionF16Kernels::attend`): for every table, each
//! query's state after a run of keys has the bits of the one-query loop built from the same
//! table's f16 dot, `scale` and `mad` (ggml's online softmax, keys in order), whatever the
//! number of queries sharing the key reads. No tolerance: exact.

use edge::internals::{generic, Kernels};
use half::f16;
mod common;
use common::kernel_inputs::Rng;

/// The one-query reference: `generic::online_softmax_step` with the table's own entries.
fn attend_one(
    k: &Kernels,
    keys: &[f16],
    values: &[f16],
    q: &[f32],
    scale: f32,
) -> (f32, f32, Vec<f32>) {
    let hd = q.len();
    let (mut max, mut sum, mut acc) = (f32::NEG_INFINITY, 0.0f32, vec![0.0f32; hd]);
    for (key, val) in keys.chunks_exact(hd).zip(values.chunks_exact(hd)) {
        let score = (k.f16.dot)(key, q) * scale;
        generic::online_softmax_step(
            score,
            &mut max,
            &mut sum,
            &mut acc,
            val,
            k.attention_f16.scale,
            k.attention_f16.mad,
        );
    }
    (max, sum, acc)
}

#[test]
fn attend_gives_each_query_the_bits_of_the_one_query_loop() {
    let mut rng = Rng(15);
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for hd in [1, 8, 16, 24, 32, 40, 64, 80, 96, 128, 264] {
        for n_keys in [1, 2, 7, 33] {
            for n_queries in [1, 3, 8] {
                // values up to +-300: with up to 33 keys the f16 accumulator may overflow
                let keys: Vec<f16> = (0..n_keys * hd)
                    .map(|_| f16::from_f32(rng.sym() * 4.0))
                    .collect();
                let values: Vec<f16> = (0..n_keys * hd)
                    .map(|_| f16::from_f32(rng.sym() * 300.0))
                    .collect();
                let queries: Vec<Vec<f32>> = (0..n_queries)
                    .map(|_| {
                        (0..hd)
                            .map(|_| f16::from_f32(rng.sym() * 3.0).to_f32())
                            .collect()
                    })
                    .collect();
                let scale = 1.0 / (hd as f32).sqrt();
                for k in Kernels::available() {
                    let name = format!("{} hd={hd} keys={n_keys} queries={n_queries}", k.name());
                    let qs: Vec<&[f32]> = queries.iter().map(|q| q.as_slice()).collect();
                    let mut max = vec![f32::NEG_INFINITY; n_queries];
                    let mut sum = vec![0.0f32; n_queries];
                    let mut accs = vec![vec![0.0f32; hd]; n_queries];
                    // the keys in two runs, as the causal triangle calls it
                    let split = (n_keys / 2) * hd;
                    for (ks, vs) in [
                        (&keys[..split], &values[..split]),
                        (&keys[split..], &values[split..]),
                    ] {
                        let mut acc_refs: Vec<&mut [f32]> =
                            accs.iter_mut().map(|a| a.as_mut_slice()).collect();
                        (k.attention_f16.attend)(
                            ks,
                            vs,
                            &qs,
                            scale,
                            &mut max,
                            &mut sum,
                            &mut acc_refs,
                        );
                    }
                    for (i, q) in queries.iter().enumerate() {
                        let (m, s, acc) = attend_one(&k, &keys, &values, q, scale);
                        assert_eq!(max[i].to_bits(), m.to_bits(), "max {name} query {i}");
                        assert_eq!(sum[i].to_bits(), s.to_bits(), "sum {name} query {i}");
                        assert_eq!(bits(&accs[i]), bits(&acc), "acc {name} query {i}");
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tiled entry (`AttentionF16Kernels::attend_tiled`, ggml's tiled flash attention, the path
// of a prompt batch of 64+ tokens over an f16 cache).

/// Random f16 keys and values of `n_keys` positions and f32 queries (not rounded).
fn tiled_inputs(
    rng: &mut Rng,
    hd: usize,
    n_keys: usize,
    n_queries: usize,
    value_scale: f32,
) -> (Vec<f16>, Vec<f16>, Vec<Vec<f32>>) {
    let keys = (0..n_keys * hd)
        .map(|_| f16::from_f32(rng.sym() * 4.0))
        .collect();
    let values = (0..n_keys * hd)
        .map(|_| f16::from_f32(rng.sym() * value_scale))
        .collect();
    let queries = (0..n_queries)
        .map(|_| (0..hd).map(|_| rng.sym() * 3.0).collect())
        .collect();
    (keys, values, queries)
}

/// `attend_tiled` of table `k`: outs (n_queries, hd).
fn run_tiled(
    k: &Kernels,
    keys: &[f16],
    values: &[f16],
    queries: &[Vec<f32>],
    first_pos: usize,
    scale: f32,
) -> Vec<Vec<f32>> {
    let hd = queries[0].len();
    let qs: Vec<&[f32]> = queries.iter().map(|q| q.as_slice()).collect();
    // garbage in the outputs: the entry must overwrite them
    let mut outs = vec![vec![f32::NAN; hd]; queries.len()];
    let mut refs: Vec<&mut [f32]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
    (k.attention_f16.attend_tiled)(keys, values, &qs, first_pos, scale, &mut refs);
    outs
}

#[test]
fn attend_tiled_gives_the_generic_bits_on_every_table() {
    // ragged query counts around the 16-query pass, positions whose tiles cross the causal
    // diagonal and the 64-key tile edges, heads the SIMD path takes and ones it leaves to
    // generic (hd > 128, hd % 8 != 0)
    let mut rng = Rng(64);
    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for hd in [8, 24, 64, 72, 128, 136, 12] {
        for (first_pos, n_queries) in [
            (0, 1),
            (0, 16),
            (0, 17),
            (5, 33),
            (60, 8),
            (63, 64),
            (64, 3),
            (100, 65),
        ] {
            let n_keys = first_pos + n_queries + 3; // rows past the last query are not read
            let (keys, values, queries) = tiled_inputs(&mut rng, hd, n_keys, n_queries, 2.0);
            let scale = 1.0 / (hd as f32).sqrt();
            let want = run_tiled(
                &Kernels::scalar(),
                &keys,
                &values,
                &queries,
                first_pos,
                scale,
            );
            for k in Kernels::available() {
                let got = run_tiled(&k, &keys, &values, &queries, first_pos, scale);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(
                        bits(g),
                        bits(w),
                        "{} hd={hd} first_pos={first_pos} query {i}",
                        k.name()
                    );
                }
            }
        }
    }
}

/// Causal attention of one query over keys 0..n in f64 -> out (hd).
fn attend_f64(keys: &[f16], values: &[f16], q: &[f32], n: usize, scale: f32) -> Vec<f64> {
    let hd = q.len();
    let scores: Vec<f64> = (0..n)
        .map(|t| {
            let key = &keys[t * hd..(t + 1) * hd];
            key.iter()
                .zip(q)
                .map(|(k, &x)| k.to_f64() * x as f64)
                .sum::<f64>()
                * scale as f64
        })
        .collect();
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f64 = weights.iter().sum();
    (0..hd)
        .map(|j| {
            (0..n)
                .map(|t| weights[t] * values[t * hd + j].to_f64())
                .sum::<f64>()
                / sum
        })
        .collect()
}

#[test]
fn attend_tiled_is_within_f32_rounding_of_float64() {
    // Bound: |out - exact| <= 2^-14 max|v|. The scores' fma chains err by at most
    // hd 2^-24 sum|q k| scale (~2^-14 absolute here: |q| <= 3, |k| <= 4, hd <= 128, scale
    // 1/sqrt(hd)), which moves each weight by that relative amount; ggml's exp is within
    // 2 ulp, the f64 group sums and the f32 value sums (n <= 200 terms of a convex
    // combination) add n 2^-24 relative: all together well below 2^-14 of the largest value.
    let mut rng = Rng(65);
    for hd in [16, 64, 128] {
        for (first_pos, n_queries) in [(0, 17), (63, 40), (150, 33)] {
            let n_keys = first_pos + n_queries;
            let (keys, values, queries) = tiled_inputs(&mut rng, hd, n_keys, n_queries, 2.0);
            let scale = 1.0 / (hd as f32).sqrt();
            let max_v = values.iter().map(|v| v.to_f64().abs()).fold(0.0, f64::max);
            let tol = max_v * 2f64.powi(-14);
            for k in Kernels::available() {
                let got = run_tiled(&k, &keys, &values, &queries, first_pos, scale);
                for (i, (g, q)) in got.iter().zip(&queries).enumerate() {
                    let want = attend_f64(&keys, &values, q, first_pos + i + 1, scale);
                    for (j, (&g, &w)) in g.iter().zip(&want).enumerate() {
                        assert!(
                            (g as f64 - w).abs() <= tol,
                            "{} hd={hd} first_pos={first_pos} query {i} dim {j}: {g} vs {w}",
                            k.name()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn attend_tiled_is_within_f16_rounding_of_the_one_token_path() {
    // The one-token path (what a batch below 64 tokens takes) rounds q to f16 and its value
    // accumulator to f16 after every key: each of the n keys adds at most half an f16 ulp of
    // the accumulator (2^-11 relative to a value of at most max|v|), and q's rounding moves each
    // score by 2^-11 sum|q k| scale (relative weight change); bound n 2^-11 max|v| + 2^-9 max|v|.
    let mut rng = Rng(66);
    for hd in [64, 128] {
        for (first_pos, n_queries) in [(0, 20), (70, 10)] {
            let n_keys = first_pos + n_queries;
            let (keys, values, queries) = tiled_inputs(&mut rng, hd, n_keys, n_queries, 2.0);
            let scale = 1.0 / (hd as f32).sqrt();
            let max_v = values.iter().map(|v| v.to_f64().abs()).fold(0.0, f64::max);
            for k in Kernels::available() {
                let got = run_tiled(&k, &keys, &values, &queries, first_pos, scale);
                for (i, (g, q)) in got.iter().zip(&queries).enumerate() {
                    let n = first_pos + i + 1;
                    let mut q16 = q.clone();
                    (k.attention_f16.round)(&mut q16);
                    let (_, sum, acc) =
                        attend_one(&k, &keys[..n * hd], &values[..n * hd], &q16, scale);
                    let tol = max_v * (n as f64 * 2f64.powi(-11) + 2f64.powi(-9));
                    for (j, (&g, &a)) in g.iter().zip(&acc).enumerate() {
                        let one = a as f64 / sum as f64;
                        assert!(
                            (g as f64 - one).abs() <= tol,
                            "{} hd={hd} query {i} dim {j}: tiled {g} vs one-token {one}",
                            k.name()
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn exp_ggml_matches_exp_within_two_ulp() {
    // ggml's vector expf (the softmax of the tiled path): within 2 ulp of e^x where the
    // result is normal, exactly 0 at -inf and far below.
    for i in 0..20000 {
        let x = -87.0 + i as f32 * 0.0044;
        let (got, want) = (generic::exp_ggml(x), (x as f64).exp());
        let ulp = (want as f32).abs() * f32::EPSILON;
        assert!(
            (got as f64 - want).abs() <= 2.0 * ulp as f64,
            "x={x}: {got} vs {want}"
        );
    }
    assert_eq!(generic::exp_ggml(f32::NEG_INFINITY), 0.0);
    assert_eq!(generic::exp_ggml(-200.0), 0.0);
}
