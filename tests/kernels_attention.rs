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
    for hd in [1, 8, 16, 24, 32, 40, 64, 80, 128, 264] {
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
