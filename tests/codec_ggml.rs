//! The block codecs against ggml: the checks of llama.cpp's `tests/test-quantize-fns.cpp`
//! (ported metric and thresholds), derived error bounds on random normal data, f16/bf16
//! conversions against ggml's algorithms, and byte identity with the tensors of the GGUF files
//! llama.cpp's `llama-quantize --pure` made from the same F32 weights.

mod common;

use edge_formats::blocks::{bf16_bits_to_f32, f16_bits_to_f32};
use edge_formats::gguf::GgufFile;
use edge_formats::{BlockQ4_0, BlockQ4_1, BlockQ8_0, BlockQ8_1, GgmlType, QK};
use edge_quantize::codec::{self, dequantize_row, quantize_row, relative_rms_error};
use half::f16;

// ---------------------------------------------------------------------------------------
// test-quantize-fns.cpp
// ---------------------------------------------------------------------------------------

/// test-quantize-fns: MAX_QUANTIZATION_TOTAL_ERROR, the threshold for every type it does not
/// list separately (Q4_0, Q4_1, Q8_0 among them; the 2-bit/3-bit/binary/ternary/FP4
/// thresholds only apply to those types).
const MAX_QUANTIZATION_TOTAL_ERROR: f32 = 0.002;
/// test-quantize-fns: MAX_QUANTIZATION_REFERENCE_ERROR (reference vs CPU quantizer).
const MAX_QUANTIZATION_REFERENCE_ERROR: f32 = 0.0001;
/// test-quantize-fns: MAX_DOT_PRODUCT_ERROR (Q4_0, Q4_1, Q8_0 are not "low-bit" types there).
const MAX_DOT_PRODUCT_ERROR: f32 = 0.02;
/// test-quantize-fns: test_size = 32 * 128.
const TEST_SIZE: usize = 32 * 128;

/// test-quantize-fns `generate_data`: `0.1 + amplitude * cosf(i + offset)`, the sum in double
/// then stored as float.
fn generate_data(offset: f32, n: usize, amplitude: f32) -> Vec<f32> {
    (0..n)
        .map(|i| (0.1f64 + f64::from(amplitude * (i as f32 + offset).cos())) as f32)
        .collect()
}

/// test-quantize-fns `array_rmse`: note it is sqrt(sum of squares) / n, not an RMS.
fn array_rmse(a: &[f32], b: &[f32]) -> f32 {
    let sum: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = f64::from(x - y);
            d * d
        })
        .sum();
    (sum.sqrt() / a.len() as f64) as f32
}

/// test-quantize-fns `dot_product`: float products summed in double.
fn dot_product(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x * y))
        .sum::<f64>() as f32
}

fn round_trip(ty: GgmlType, x: &[f32]) -> Vec<f32> {
    let mut bytes = vec![0u8; ty.row_bytes(x.len() as u64).unwrap() as usize];
    quantize_row(ty, x, &mut bytes).unwrap();
    let mut y = vec![0.0f32; x.len()];
    dequantize_row(ty, &bytes, &mut y).unwrap();
    y
}

#[test]
fn ggml_total_quantization_error() {
    let data = generate_data(0.0, TEST_SIZE, 2.0);
    // Q8_1 has no dequantizer in ggml's type table, so ggml does not test it; ours is Q8_0's.
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q8_0,
        GgmlType::Q8_1,
    ] {
        let err = array_rmse(&data, &round_trip(ty, &data));
        eprintln!("{ty} absolute quantization error: {err:.6}");
        assert!(err < MAX_QUANTIZATION_TOTAL_ERROR, "{ty}: {err}");
        assert!(err > 0.0, "{ty}: no error at all is not a quantizer");
    }
}

/// ggml's SIMD Q8_0 quantizer (its CPU `from_float`), which test-quantize-fns compares with
/// the reference: same scale, q = round half to even (`_mm256_cvtps_epi32`, `vcvtnq_s32_f32`).
fn quantize_q8_0_ties_even(x: &[f32]) -> Vec<BlockQ8_0> {
    x.chunks_exact(QK)
        .map(|b| {
            let amax = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            BlockQ8_0 {
                d: f16::from_f32(d),
                qs: std::array::from_fn(|j| (b[j] * id).round_ties_even() as i8),
            }
        })
        .collect()
}

#[test]
fn ggml_reference_implementation_error() {
    // For Q4_0/Q4_1 ggml's CPU quantizer is the reference itself (error 0); Q8_0's differs
    // in its rounding of ties.
    let data = generate_data(0.0, TEST_SIZE, 2.0);
    let simd = quantize_q8_0_ties_even(&data);
    let mut simd_out = vec![0.0f32; TEST_SIZE];
    edge_formats::blocks::dequantize_q8_0(&simd, &mut simd_out);
    let ours = round_trip(GgmlType::Q8_0, &data);
    let err = array_rmse(&simd_out, &ours);
    eprintln!("Q8_0 reference implementation error: {err:.6}");
    assert!(err < MAX_QUANTIZATION_REFERENCE_ERROR, "{err}");
}

/// Q4_0 x Q8_0, ggml `ggml_vec_dot_q4_0_q8_0` (generic): integer sum per block, scaled by
/// both f16 scales.
fn vec_dot_q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    let mut sum = 0.0f32;
    for (bx, by) in x.iter().zip(y) {
        let mut sumi = 0i32;
        for j in 0..QK / 2 {
            let lo = i32::from(bx.qs[j] & 0x0f) - 8;
            let hi = i32::from(bx.qs[j] >> 4) - 8;
            sumi += lo * i32::from(by.qs[j]) + hi * i32::from(by.qs[j + QK / 2]);
        }
        sum += sumi as f32 * bx.d.to_f32() * by.d.to_f32();
    }
    sum
}

/// Q4_1 x Q8_1, ggml `ggml_vec_dot_q4_1_q8_1`: d_x * d_y * sumi + m_x * s_y.
fn vec_dot_q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    let mut sum = 0.0f32;
    for (bx, by) in x.iter().zip(y) {
        let mut sumi = 0i32;
        for j in 0..QK / 2 {
            sumi += i32::from(bx.qs[j] & 0x0f) * i32::from(by.qs[j])
                + i32::from(bx.qs[j] >> 4) * i32::from(by.qs[j + QK / 2]);
        }
        sum += bx.d.to_f32() * by.d.to_f32() * sumi as f32 + bx.m.to_f32() * by.s.to_f32();
    }
    sum
}

/// Q8_0 x Q8_0, ggml `ggml_vec_dot_q8_0_q8_0`.
fn vec_dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    let mut sum = 0.0f32;
    for (bx, by) in x.iter().zip(y) {
        let sumi: i32 = bx
            .qs
            .iter()
            .zip(&by.qs)
            .map(|(&a, &b)| i32::from(a) * i32::from(b))
            .sum();
        sum += sumi as f32 * (bx.d.to_f32() * by.d.to_f32());
    }
    sum
}

#[test]
fn ggml_dot_product_error() {
    let a = generate_data(0.0, TEST_SIZE, 2.0);
    let b = generate_data(1.0, TEST_SIZE, 2.0);
    let reference = dot_product(&a, &b);
    let nb = TEST_SIZE / QK;

    let mut b8_0 = vec![BlockQ8_0::default(); nb];
    codec::quantize_q8_0(&b, &mut b8_0);
    let mut b8_1 = vec![BlockQ8_1::default(); nb];
    codec::quantize_q8_1(&b, &mut b8_1);

    let mut a4_0 = vec![BlockQ4_0::default(); nb];
    codec::quantize_q4_0(&a, &mut a4_0);
    let mut a4_1 = vec![BlockQ4_1::default(); nb];
    codec::quantize_q4_1(&a, &mut a4_1);
    let mut a8_0 = vec![BlockQ8_0::default(); nb];
    codec::quantize_q8_0(&a, &mut a8_0);

    for (name, result) in [
        ("Q4_0", vec_dot_q4_0_q8_0(&a4_0, &b8_0)),
        ("Q4_1", vec_dot_q4_1_q8_1(&a4_1, &b8_1)),
        ("Q8_0", vec_dot_q8_0_q8_0(&a8_0, &b8_0)),
    ] {
        let err = (result - reference).abs() / TEST_SIZE as f32;
        eprintln!("{name} dot product error: {err:.6} (ref {reference}, got {result})");
        assert!(err < MAX_DOT_PRODUCT_ERROR, "{name}: {err}");
    }
}

// ---------------------------------------------------------------------------------------
// Random normal rows: derived error bounds
// ---------------------------------------------------------------------------------------

/// SplitMix64 (Steele, Lea, Flood 2014): a fixed, seedable PRNG.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1]: 53 random bits, never 0 (Box-Muller takes its log).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal pair by Box-Muller.
    fn normal_pair(&mut self) -> (f64, f64) {
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let t = std::f64::consts::TAU * self.uniform();
        (r * t.cos(), r * t.sin())
    }
}

fn normal_rows(seed: u64, n: usize) -> Vec<f32> {
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (a, b) = rng.normal_pair();
        out.push(a as f32);
        out.push(b as f32);
    }
    out.truncate(n);
    out
}

// Expected relative RMS error for x ~ N(0, 1) in blocks of 32 (E[x^2] = 1):
// rounding to a grid of step s leaves an error ~ uniform on [-s/2, s/2], variance s^2 / 12,
// for every element but those that land exactly on the grid by construction.
// With M = max |x| of a block and R = max x - min x, for 32 normal samples
// E[M^2] = 5.72 and E[R^2] = 17.63 (Monte Carlo, 40 000 blocks, +-0.5%).
// - Q8_0: s = M / 127, 31 of 32 elements round: rel = sqrt(31/32 * E[M^2] / 127^2 / 12)
//   = 0.00535.
// - Q4_0: s = M / 8, 31 of 32 round: sqrt(31/32 * 5.72 / 64 / 12) = 0.0849; on the side
//   opposite the max the grid stops at +7 s, clamping values in (7.5 s, 8 s]: the Monte Carlo
//   of the exact algorithm gives 0.0859.
// - Q4_1: s = R / 15, 30 of 32 round (min and max are exact): sqrt(30/32 * 17.63 / 225 / 12)
//   = 0.0782.
// The f16 rounding of d (and of m for Q4_1) adds relative ~2^-12 per element, negligible.
// Over 4096 blocks the sampling error of each figure is about 1%; we assert the expected
// value within +-6%, so a wrong grid (e.g. step M/127 -> M/128, or ties misplaced by a
// whole step) fails while seed noise does not.
const EXPECTED_REL_RMS: [(GgmlType, f64); 3] = [
    (GgmlType::Q8_0, 0.00535),
    (GgmlType::Q4_0, 0.0859),
    (GgmlType::Q4_1, 0.0782),
];

#[test]
fn random_normal_relative_rms_error() {
    let x = normal_rows(0x5eed_c0de, 4096 * QK);
    for (ty, expected) in EXPECTED_REL_RMS {
        let err = relative_rms_error(&x, &round_trip(ty, &x));
        eprintln!("{ty}: relative RMS error {err:.5} (expected {expected})");
        assert!(
            (err - expected).abs() <= 0.06 * expected,
            "{ty}: relative RMS error {err}, expected {expected} +- 6%"
        );
    }
    // The brief's round figures hold with room to spare.
    assert!(relative_rms_error(&x, &round_trip(GgmlType::Q8_0, &x)) < 0.0057);
    for ty in [GgmlType::Q4_0, GgmlType::Q4_1] {
        assert!(relative_rms_error(&x, &round_trip(ty, &x)) < 0.092);
    }
}

// ---------------------------------------------------------------------------------------
// f16 / bf16 against ggml's conversions
// ---------------------------------------------------------------------------------------

/// ggml `ggml_compute_fp32_to_fp16`, the portable algorithm of the FP16 library
/// (Maratyszcza): scale |x| so that the f32 adder rounds at the f16 mantissa position,
/// add a power of two that fixes the exponent (at least the subnormal one), and read the
/// f16 exponent and mantissa out of the sum. NaN -> sign | 0x7e00.
fn ggml_portable_fp32_to_fp16(x: f32) -> u16 {
    let w = x.to_bits();
    let twice = w.wrapping_add(w); // exponent and mantissa shifted up, sign dropped
    let sign = (w & 0x8000_0000) >> 16;
    if twice > 0xff00_0000 {
        return sign as u16 | 0x7e00;
    }
    // 2^112 then 2^-110: overflows to inf beyond the f16 range, else multiplies by 4.
    let scaled = (x.abs() * f32::from_bits(0x7780_0000)) * f32::from_bits(0x0880_0000);
    let exp_bias = (twice & 0xff00_0000).max(0x7100_0000);
    let sum = f32::from_bits((exp_bias >> 1) + 0x0780_0000) + scaled;
    let bits = sum.to_bits();
    sign as u16 | (((bits >> 13) & 0x7c00) + (bits & 0x0fff)) as u16
}

/// f32 bit patterns that exercise every rounding position: every upper half with lower
/// halves around the f16 half-ulp (bit 12) and the bf16 half-ulp (bit 15), plus a stride
/// through all 2^32 patterns.
fn f32_patterns() -> impl Iterator<Item = u32> {
    const LOWS: [u32; 14] = [
        0, 1, 0x0fff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x3000, 0x7fff, 0x8000, 0x8001, 0x9000,
        0xe000, 0xffff,
    ];
    (0..=0xffffu32)
        .flat_map(|hi| LOWS.iter().map(move |lo| (hi << 16) | lo))
        .chain((0..=u32::MAX).step_by(997))
}

#[test]
fn f16_conversion_matches_ggml_portable_algorithm() {
    let mut checked = 0u64;
    for bits in f32_patterns() {
        let x = f32::from_bits(bits);
        assert_eq!(
            codec::f32_to_f16_bits(x),
            ggml_portable_fp32_to_fp16(x),
            "f32 {bits:#010x}"
        );
        checked += 1;
    }
    assert!(checked > 5_000_000);
    // Widening is exact: every f16 pattern survives f16 -> f32 -> f16 (NaNs canonicalize).
    for h in 0..=u16::MAX {
        let x = f16_bits_to_f32(h);
        let expected = if x.is_nan() { (h & 0x8000) | 0x7e00 } else { h };
        assert_eq!(codec::f32_to_f16_bits(x), expected, "f16 {h:#06x}");
        assert_eq!(x.to_bits(), f16::from_bits(h).to_f32().to_bits());
    }
}

#[test]
fn bf16_conversion_matches_ggml_and_half() {
    for bits in f32_patterns() {
        let x = f32::from_bits(bits);
        // ggml `ggml_compute_fp32_to_bf16` spelled out: NaN keeps its top half with the quiet
        // bit, else add 0x7fff + lowest kept bit and truncate (no flush of subnormals).
        let ggml = if bits & 0x7fff_ffff > 0x7f80_0000 {
            ((bits >> 16) | 0x40) as u16
        } else {
            ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
        };
        let ours = codec::f32_to_bf16_bits(x);
        assert_eq!(ours, ggml, "f32 {bits:#010x}");
        // half's conversion agrees bit for bit (NaN included).
        assert_eq!(ours, half::bf16::from_f32(x).to_bits(), "f32 {bits:#010x}");
    }
    for h in 0..=u16::MAX {
        let x = bf16_bits_to_f32(h);
        let expected = if x.is_nan() { h | 0x40 } else { h };
        assert_eq!(codec::f32_to_bf16_bits(x), expected, "bf16 {h:#06x}");
    }
}

// ---------------------------------------------------------------------------------------
// Byte identity with llama.cpp's files
// ---------------------------------------------------------------------------------------

fn llama_cpp_made(name: &str) -> GgufFile {
    let path = common::shared_models().join("llama.cpp-made").join(name);
    GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn f32_tensor(file: &GgufFile, name: &str) -> Vec<f32> {
    let info = file
        .tensor(name)
        .unwrap_or_else(|| panic!("no tensor {name}"));
    assert_eq!(info.ty, GgmlType::F32, "{name}");
    file.tensor_data(info)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Every 2-D tensor of llama.cpp's `tinystories-656k.<ty>.gguf` (token_embd included) must be
/// our quantization of the same tensor of the F32 file, byte for byte; 1-D tensors are F32 and
/// copied. Returns the relative RMS error of each quantized tensor.
fn assert_bit_exact(ty: GgmlType) -> Vec<(String, f64)> {
    let source = llama_cpp_made("tinystories-656k.f32.gguf");
    let target = llama_cpp_made(&format!(
        "tinystories-656k.{}.gguf",
        ty.name().to_lowercase()
    ));
    assert_eq!(source.tensors().len(), target.tensors().len());
    let mut errors = Vec::new();
    let mut n_quantized = 0;
    for info in target.tensors() {
        let x = f32_tensor(&source, &info.name);
        let expected_ty = if info.dims.0.len() >= 2 {
            ty
        } else {
            GgmlType::F32
        };
        assert_eq!(info.ty, expected_ty, "{}: type", info.name);
        assert_eq!(
            x.len() as u64,
            info.dims.n_elements().unwrap(),
            "{}",
            info.name
        );
        let theirs = target.tensor_data(info);
        let mut ours = vec![0u8; theirs.len()];
        // Row by row, as the quantizer streams them.
        let row_len = info.dims.row_len() as usize;
        let row_bytes = info.ty.row_bytes(row_len as u64).unwrap() as usize;
        for (src, dst) in x
            .chunks_exact(row_len)
            .zip(ours.chunks_exact_mut(row_bytes))
        {
            quantize_row(info.ty, src, dst).unwrap();
        }
        if let Some(at) = ours.iter().zip(theirs).position(|(a, b)| a != b) {
            let block = at / info.ty.block_bytes();
            let bb = info.ty.block_bytes();
            panic!(
                "{ty} {}: first difference at byte {at} (block {block}):\n ours   {:02x?}\n theirs {:02x?}\n input {:?}",
                info.name,
                &ours[block * bb..(block + 1) * bb],
                &theirs[block * bb..(block + 1) * bb],
                &x[block * info.ty.block_size()..(block + 1) * info.ty.block_size()],
            );
        }
        if info.ty != GgmlType::F32 {
            n_quantized += 1;
            let mut y = vec![0.0f32; x.len()];
            dequantize_row(info.ty, theirs, &mut y).unwrap();
            errors.push((info.name.clone(), relative_rms_error(&x, &y)));
        }
    }
    // 2 layers x 7 matrices + token_embd (tied: no output.weight), per the manifests.
    assert_eq!(n_quantized, 15, "{ty}: quantized tensors");
    errors
}

#[test]
fn llama_cpp_q8_0_tensors_bit_exact() {
    for (name, err) in assert_bit_exact(GgmlType::Q8_0) {
        eprintln!("Q8_0 {name}: relative RMS error {err:.5}");
        assert!(err < 0.01, "{name}: {err}");
    }
}

#[test]
fn llama_cpp_q4_0_tensors_bit_exact() {
    for (name, err) in assert_bit_exact(GgmlType::Q4_0) {
        eprintln!("Q4_0 {name}: relative RMS error {err:.5}");
        assert!(err < 0.15, "{name}: {err}");
    }
}

#[test]
fn llama_cpp_q4_1_tensors_bit_exact() {
    for (name, err) in assert_bit_exact(GgmlType::Q4_1) {
        eprintln!("Q4_1 {name}: relative RMS error {err:.5}");
        assert!(err < 0.15, "{name}: {err}");
    }
}

// ---------------------------------------------------------------------------------------
// Byte identity at SmolLM2 size, against the manifests of llama.cpp's files
// ---------------------------------------------------------------------------------------

/// `convert_hf_to_gguf.py`'s Q/K row permutation (`LlamaModel.permute`): within each head of
/// `head_dim` rows, HF row `a * head_dim/2 + b` becomes GGUF row `2 * b + a` (interleaved
/// rotary pairs). w (rows, cols) -> out (rows, cols).
fn permute_qk(w: &[f32], rows: usize, cols: usize, n_head: usize) -> Vec<f32> {
    let head_dim = rows / n_head;
    let half = head_dim / 2;
    let mut out = vec![0.0f32; w.len()];
    for h in 0..n_head {
        for a in 0..2 {
            for b in 0..half {
                let src = h * head_dim + a * half + b;
                let dst = h * head_dim + 2 * b + a;
                out[dst * cols..(dst + 1) * cols].copy_from_slice(&w[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

/// The Hugging Face name of a 2-D GGUF tensor of a Llama model, and how many heads its rows
/// are permuted over (0: not permuted).
fn hf_name(gguf: &str, n_head: usize, n_head_kv: usize) -> (String, usize) {
    if gguf == "token_embd.weight" {
        return ("model.embed_tokens.weight".into(), 0);
    }
    let rest = gguf.strip_prefix("blk.").unwrap();
    let (layer, what) = rest.split_once('.').unwrap();
    let (hf, heads) = match what {
        "attn_q.weight" => ("self_attn.q_proj.weight", n_head),
        "attn_k.weight" => ("self_attn.k_proj.weight", n_head_kv),
        "attn_v.weight" => ("self_attn.v_proj.weight", 0),
        "attn_output.weight" => ("self_attn.o_proj.weight", 0),
        "ffn_gate.weight" => ("mlp.gate_proj.weight", 0),
        "ffn_up.weight" => ("mlp.up_proj.weight", 0),
        "ffn_down.weight" => ("mlp.down_proj.weight", 0),
        other => panic!("unexpected 2-D tensor {gguf} ({other})"),
    };
    (format!("model.layers.{layer}.{hf}"), heads)
}

/// Every 2-D tensor of llama.cpp's SmolLM2-135M-Instruct Q8_0, Q4_0 and Q4_1 files (made from
/// the BF16 folder via an F32 GGUF): our quantization of the BF16 weights, widened exactly to
/// f32 and Q/K-permuted as llama.cpp's converter does, has the manifest's sha256. The weights
/// sit on a 4-bit grid (see ../shared/models/README.md), so ties are frequent here.
#[test]
fn smollm2_tensors_match_llama_cpp_manifests() {
    let folder = common::smollm2_folder();
    let st = edge_formats::safetensors::SafeTensors::open(&folder.join("model.safetensors"))
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
    let types = [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1];
    let manifests: Vec<serde_json::Value> = types
        .iter()
        .map(|ty| {
            let path = common::shared_models().join(format!(
                "llama.cpp-made/smollm2-135m-instruct.{}.manifest.json",
                ty.name().to_lowercase()
            ));
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
        })
        .collect();
    let (n_head, n_head_kv) = (9, 3);
    let mut checked = 0;
    for entry in manifests[0]["tensors"].as_array().unwrap() {
        let dims: Vec<usize> = entry["dims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        if dims.len() != 2 {
            continue;
        }
        let name = entry["name"].as_str().unwrap();
        let (hf, heads) = hf_name(name, n_head, n_head_kv);
        let view = st.tensor(&hf).unwrap_or_else(|| panic!("no {hf}"));
        assert_eq!(view.dtype, edge_formats::safetensors::Dtype::BF16, "{hf}");
        let (cols, rows) = (dims[0], dims[1]);
        let mut x = vec![0.0f32; rows * cols];
        dequantize_row(GgmlType::BF16, view.data, &mut x).unwrap();
        if heads > 0 {
            x = permute_qk(&x, rows, cols, heads);
        }
        for (ty, manifest) in types.iter().zip(&manifests) {
            let expected = manifest["tensors"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == name)
                .unwrap_or_else(|| panic!("{ty} manifest: no {name}"));
            assert_eq!(expected["type"], ty.name(), "{name}");
            let mut out = vec![0u8; ty.row_bytes(x.len() as u64).unwrap() as usize];
            quantize_row(*ty, &x, &mut out).unwrap();
            assert_eq!(
                out.len() as u64,
                expected["nbytes"].as_u64().unwrap(),
                "{ty} {name}"
            );
            assert_eq!(
                common::sha256_hex(&out),
                expected["sha256"].as_str().unwrap(),
                "{ty} {name}: bytes differ from llama.cpp's"
            );
        }
        checked += 1;
    }
    // 30 layers x 7 matrices + token_embd.
    assert_eq!(checked, 211);
}
