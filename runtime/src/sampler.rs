//! Sampling: greedy, temperature, top-k, top-p, min-p, repetition penalty.
//!
//! The steps of [`Sampler::sample`], in llama.cpp's default chain order:
//!
//! 1. **candidates**: (logit, id) for every token; a NaN logit counts as -inf.
//! 2. **repetition penalty** (`repeat_penalty != 1`, `repeat_last_n > 0`): for each *distinct*
//!    token among the last `repeat_last_n` accepted ones, once:
//!    `logit > 0 ? logit / penalty : logit * penalty` (llama.cpp's penalties sampler).
//! 3. **greedy** when `temp <= 0`: the highest penalized logit (ties: lowest id). Done.
//! 4. **top-k** (`top_k > 0`): keep the k highest. Candidates are then sorted by logit
//!    descending, ties by id ascending (deterministic).
//! 5. **top-p** (`top_p < 1`): softmax of the remaining logits (temperature 1, as llama.cpp:
//!    the temperature comes later); keep the shortest prefix whose cumulative probability is
//!    >= top_p.
//! 6. **min-p** (`min_p > 0`): keep tokens with p >= min_p * p_max, i.e.
//!    exp(logit - max_logit) >= min_p.
//! 7. **temperature**: logit / temp.
//! 8. **dist**: softmax (in f64) over what is left, one uniform draw u in [0, 1) from the
//!    seeded PCG32 stream, the first candidate (in sorted order) whose cumulative weight
//!    exceeds u * total.
//!
//! At least one candidate always survives each step. Reproducible across runs and
//! platforms: the generator is PCG32 (defined below), u = (next_u32 >> 8) * 2^-24, and the
//! exponential is our own (`exp_f64`, only +, *, and exact scaling), not the platform libm.
//! All scratch is allocated in [`Sampler::new`]; `sample` and `accept` allocate nothing.

use crate::alloc;

/// Sampling parameters. `Default` = llama.cpp's defaults, with a fixed seed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerParams {
    /// Temperature; <= 0 means greedy.
    pub temp: f32,
    /// Keep the k most likely tokens; 0 = off.
    pub top_k: usize,
    /// Nucleus probability mass; >= 1 = off.
    pub top_p: f32,
    /// Minimum probability relative to the most likely token; <= 0 = off.
    pub min_p: f32,
    /// Repetition penalty; 1 = off.
    pub repeat_penalty: f32,
    /// How many of the last accepted tokens the penalty looks at; 0 = off.
    pub repeat_last_n: usize,
    /// Seed of the PCG32 stream.
    pub seed: u64,
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams {
            temp: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: SamplerParams::DEFAULT_SEED,
        }
    }
}

impl SamplerParams {
    /// The seed `SamplerParams::default()` uses.
    pub const DEFAULT_SEED: u64 = 0x5EED;

    /// Greedy decoding (temp 0), nothing else.
    pub fn greedy() -> Self {
        SamplerParams {
            temp: 0.0,
            ..Default::default()
        }
    }
}

/// PCG32 (O'Neill 2014, `pcg32_random_r`: 64-bit LCG state, XSH-RR output), seeded as
/// `pcg32_srandom_r(seed, stream)`.
#[derive(Clone, Copy, Debug)]
pub struct Pcg32 {
    state: u64,
    inc: u64,
}

impl Pcg32 {
    const MULT: u64 = 6364136223846793005;
    /// The default stream of the PCG reference implementation.
    pub const DEFAULT_STREAM: u64 = 0xda3e39cb94b95bdb;

    /// The generator `pcg32_srandom_r(seed, stream)` makes.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Pcg32 {
            state: 0,
            inc: (stream << 1) | 1,
        };
        rng.next_u32();
        rng.state = rng.state.wrapping_add(seed);
        rng.next_u32();
        rng
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(Self::MULT).wrapping_add(self.inc);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    /// Uniform in [0, 1) on the grid k * 2^-24 (exact in f32 and f64).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }
}

/// exp(x) for x <= 0 in f64, platform-independent: x = k ln2 + r with |r| <= ln2 / 2, a
/// degree-13 Taylor polynomial for e^r (error < 1e-15 relative), scaled by 2^k through the
/// exponent bits. Returns 0 below -708 (where the result would be subnormal) and for NaN.
pub fn exp_f64(x: f64) -> f64 {
    if x.is_nan() || x < -708.0 {
        return 0.0;
    }
    if x > 0.0 {
        // Not needed by the sampler (arguments are <= 0); keep it correct for small x.
        return 1.0 / exp_f64(-x);
    }
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // fdlibm ln2_hi
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76); // fdlibm ln2_lo
    const INV_LN2: f64 = std::f64::consts::LOG2_E;
    let kf = (x * INV_LN2).round_ties_even();
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    // Horner: sum r^n / n!, n = 0..=13.
    const INV_FACT: [f64; 14] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let mut p = 0.0f64;
    for c in INV_FACT.iter().rev() {
        p = p * r + c;
    }
    let k = kf as i64; // in [-1022, 0]
    p * f64::from_bits(((k + 1023) as u64) << 52)
}

/// Picks the next token from logits; see the module documentation for the steps.
#[derive(Clone, Debug)]
pub struct Sampler {
    params: SamplerParams,
    n_vocab: usize,
    rng: Pcg32,
    /// (logit, id) for the current step; the first `n_live` are the survivors.
    candidates: Vec<(f32, u32)>,
    n_live: usize,
    /// Probabilities of the survivors after the last `sample` (same order as candidates).
    probs: Vec<f64>,
    /// The last `repeat_last_n` accepted tokens, a ring: `history[(head + i) % cap]`.
    history: Vec<u32>,
    head: usize,
    /// Per-token stamp so the penalty applies once per distinct token.
    seen: Vec<u32>,
    stamp: u32,
}

/// The buffers of a sampler, allocated by its constructor.
struct Scratch {
    candidates: Vec<(f32, u32)>,
    probs: Vec<f64>,
    history: Vec<u32>,
    seen: Vec<u32>,
}

/// Logit descending, then id ascending.
fn by_logit_desc(a: &(f32, u32), b: &(f32, u32)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

impl Sampler {
    /// The longest repetition window `Sampler::new` keeps (4 MB of history): a longer one is
    /// clamped to it. `Sampler::for_context` clamps to the session's context instead.
    pub const MAX_REPEAT_LAST_N: usize = 1 << 20;

    /// Allocates all scratch for a vocabulary of `n_vocab` tokens. `repeat_last_n` above
    /// [`Sampler::MAX_REPEAT_LAST_N`] is clamped to it.
    pub fn new(params: SamplerParams, n_vocab: usize) -> Sampler {
        let window = params.repeat_last_n.min(Self::MAX_REPEAT_LAST_N);
        Self::assemble(
            SamplerParams {
                repeat_last_n: window,
                ..params
            },
            n_vocab,
            Scratch {
                candidates: Vec::with_capacity(n_vocab),
                probs: Vec::with_capacity(n_vocab),
                history: Vec::with_capacity(window),
                seen: vec![0; n_vocab],
            },
        )
    }

    /// As `new` for a session of `n_ctx` positions: `repeat_last_n` is clamped to `n_ctx`
    /// (no more tokens than that are accepted between resets, so the result is the same),
    /// and a refused allocation is `Error::OutOfMemory` rather than an abort.
    pub fn for_context(
        params: SamplerParams,
        n_vocab: usize,
        n_ctx: usize,
    ) -> crate::Result<Sampler> {
        let window = params.repeat_last_n.min(n_ctx);
        Ok(Self::assemble(
            SamplerParams {
                repeat_last_n: window,
                ..params
            },
            n_vocab,
            Scratch {
                candidates: alloc::with_capacity("sampler candidates", n_vocab)?,
                probs: alloc::with_capacity("sampler probabilities", n_vocab)?,
                history: alloc::with_capacity("repetition history", window)?,
                seen: alloc::zeroed("sampler scratch", n_vocab)?,
            },
        ))
    }

    /// `params.repeat_last_n` is the window `scratch.history` was sized for.
    fn assemble(params: SamplerParams, n_vocab: usize, scratch: Scratch) -> Sampler {
        Sampler {
            params,
            n_vocab,
            rng: Pcg32::new(params.seed, Pcg32::DEFAULT_STREAM),
            candidates: scratch.candidates,
            n_live: 0,
            probs: scratch.probs,
            history: scratch.history,
            head: 0,
            seen: scratch.seen,
            stamp: 0,
        }
    }

    /// The parameters in force (`repeat_last_n` as clamped by the constructor).
    pub fn params(&self) -> &SamplerParams {
        &self.params
    }

    /// Forgets the history and restarts the random stream from the seed.
    pub fn reset(&mut self) {
        self.history.clear();
        self.head = 0;
        self.rng = Pcg32::new(self.params.seed, Pcg32::DEFAULT_STREAM);
        self.n_live = 0;
    }

    /// Records a token that was emitted (for the repetition penalty).
    pub fn accept(&mut self, token: u32) {
        let cap = self.params.repeat_last_n;
        if cap == 0 {
            return;
        }
        if self.history.len() < cap {
            self.history.push(token);
        } else {
            self.history[self.head] = token;
            self.head = (self.head + 1) % cap;
        }
    }

    /// The survivors of the last `sample` with their final probabilities, in sorted order
    /// (logit descending, ties by id) when any filter sorted them. For greedy: the one token
    /// with probability 1.
    pub fn last_candidates(&self) -> impl Iterator<Item = (u32, f64)> + '_ {
        self.candidates[..self.n_live]
            .iter()
            .zip(&self.probs)
            .map(|(c, p)| (c.1, *p))
    }

    /// The next token for `logits` (the first min(logits.len(), n_vocab) are used; an empty
    /// input gives 0). Allocates nothing.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let n = logits.len().min(self.n_vocab);
        self.candidates.clear();
        self.probs.clear();
        self.n_live = 0;
        if n == 0 {
            return 0;
        }
        if self.params.temp <= 0.0 && !self.penalty_applies() {
            // Greedy without a penalty: the same token in one pass over the logits.
            let best = argmax(&logits[..n]);
            self.candidates.push(best);
            self.n_live = 1;
            self.probs.push(1.0);
            return best.1;
        }
        self.candidates.extend(
            logits[..n]
                .iter()
                .enumerate()
                .map(|(i, &l)| (if l.is_nan() { f32::NEG_INFINITY } else { l }, i as u32)),
        );
        self.apply_penalty();
        let p = self.params;

        if p.temp <= 0.0 {
            let best = self.candidates.iter().copied().min_by(by_logit_desc);
            let best = best.unwrap_or((0.0, 0));
            self.candidates[0] = best;
            self.n_live = 1;
            self.probs.push(1.0);
            return best.1;
        }

        let mut live = n;
        if p.top_k > 0 && p.top_k < live {
            self.candidates
                .select_nth_unstable_by(p.top_k - 1, by_logit_desc);
            live = p.top_k;
        }
        let needs_sort = p.top_k > 0 || p.top_p < 1.0 || p.min_p > 0.0;
        if needs_sort {
            self.candidates[..live].sort_unstable_by(by_logit_desc);
        }
        let max_logit = if needs_sort {
            self.candidates[0].0
        } else {
            self.candidates
                .iter()
                .map(|c| c.0)
                .fold(f32::NEG_INFINITY, f32::max)
        };

        if p.top_p < 1.0 {
            // Softmax at temperature 1 over the (sorted) survivors.
            let total: f64 = self.candidates[..live]
                .iter()
                .map(|c| exp_f64(c.0 as f64 - max_logit as f64))
                .sum();
            let mut cum = 0.0f64;
            let mut keep = live;
            for (i, c) in self.candidates[..live].iter().enumerate() {
                cum += exp_f64(c.0 as f64 - max_logit as f64) / total;
                if cum >= p.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            live = keep.max(1);
        }

        if p.min_p > 0.0 {
            let threshold = p.min_p as f64;
            let keep = self.candidates[..live]
                .iter()
                .take_while(|c| exp_f64(c.0 as f64 - max_logit as f64) >= threshold)
                .count();
            live = keep.max(1);
        }

        // Temperature, softmax in f64, one draw.
        let temp = p.temp as f64;
        let mut total = 0.0f64;
        for c in &self.candidates[..live] {
            let w = exp_f64((c.0 as f64 - max_logit as f64) / temp);
            self.probs.push(w);
            total += w;
        }
        self.n_live = live;
        let u = self.rng.next_f32() as f64;
        let target = u * total;
        let mut cum = 0.0f64;
        let mut chosen = self.candidates[live - 1].1;
        for (c, w) in self.candidates[..live].iter().zip(&self.probs) {
            cum += w;
            if cum > target {
                chosen = c.1;
                break;
            }
        }
        if total > 0.0 {
            for w in &mut self.probs {
                *w /= total;
            }
        }
        chosen
    }

    /// Whether step 2 changes any logit.
    fn penalty_applies(&self) -> bool {
        self.params.repeat_penalty != 1.0 && !self.history.is_empty()
    }

    /// Step 2: llama.cpp's repetition penalty, once per distinct token in the window.
    fn apply_penalty(&mut self) {
        let penalty = self.params.repeat_penalty;
        if !self.penalty_applies() {
            return;
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.fill(0);
            self.stamp = 1;
        }
        for &t in &self.history {
            let i = t as usize;
            let (Some(seen), Some(c)) = (self.seen.get_mut(i), self.candidates.get_mut(i)) else {
                continue;
            };
            if *seen == self.stamp {
                continue;
            }
            *seen = self.stamp;
            c.0 = if c.0 > 0.0 {
                c.0 / penalty
            } else {
                c.0 * penalty
            };
        }
    }
}

/// The greedy pick of step 3 over raw logits: (the highest logit, NaN as -inf, by
/// `total_cmp`; its lowest id). Two passes that compile to vector code: the highest key,
/// then the first logit with that key.
fn argmax(logits: &[f32]) -> (f32, u32) {
    // logit -> i32 ordered as `f32::total_cmp`, NaN as -inf.
    let key = |l: f32| {
        let l = if l.is_nan() { f32::NEG_INFINITY } else { l };
        let bits = l.to_bits() as i32;
        bits ^ (((bits >> 31) as u32) >> 1) as i32
    };
    let best = logits.iter().fold(i32::MIN, |m, &l| m.max(key(l)));
    const CHUNK: usize = 16;
    let chunk_has = |c: &[f32]| c.iter().fold(false, |any, &l| any | (key(l) == best));
    let start = logits
        .chunks(CHUNK)
        .position(chunk_has)
        .map_or(0, |c| c * CHUNK);
    let id = logits[start..]
        .iter()
        .position(|&l| key(l) == best)
        .map_or(0, |i| start + i);
    let logit = logits.get(id).copied().unwrap_or(0.0);
    (
        if logit.is_nan() {
            f32::NEG_INFINITY
        } else {
            logit
        },
        id as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The greedy pick as step 1 and 3 define it: candidates, then the least by
    /// `by_logit_desc`.
    fn reference(logits: &[f32]) -> (f32, u32) {
        logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (if l.is_nan() { f32::NEG_INFINITY } else { l }, i as u32))
            .min_by(by_logit_desc)
            .unwrap_or((0.0, 0))
    }

    #[test]
    fn argmax_is_the_greedy_pick_of_the_candidates() {
        let nan = f32::NAN;
        let (inf, ninf) = (f32::INFINITY, f32::NEG_INFINITY);
        let cases: Vec<Vec<f32>> = vec![
            vec![1.0],
            vec![nan],
            vec![nan, nan, ninf],
            vec![ninf, nan, ninf],
            vec![-0.0, 0.0, -0.0],
            vec![0.0, -0.0],
            vec![-3.0, -1.0, -2.0, -1.0],
            vec![1.0, inf, nan, inf],
            (0..100).map(|i| ((i * 37) % 23) as f32).collect(),
            (0..70)
                .map(|i| if i % 9 == 4 { nan } else { -(i as f32) })
                .collect(),
            (0..49).map(|i| f32::from_bits(0x7f80_0001 + i)).collect(),
        ];
        for logits in cases {
            let (want, got) = (reference(&logits), argmax(&logits));
            assert_eq!(
                (want.0.to_bits(), want.1),
                (got.0.to_bits(), got.1),
                "{logits:?}"
            );
            let mut s = Sampler::new(SamplerParams::greedy(), logits.len());
            assert_eq!(s.sample(&logits), want.1);
            assert_eq!(s.last_candidates().collect::<Vec<_>>(), vec![(want.1, 1.0)]);
        }
    }
}
