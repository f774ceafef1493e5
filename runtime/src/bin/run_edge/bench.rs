//! `run-edge bench`: prompt and decode speed by llama-bench's method, in its table and JSON
//! shapes, plus the share of the memory-bandwidth bound that decode reaches.
//!
//! pp N: N token ids (BOS, then fixed pseudo-random ids) through the model in one batched
//! call. tg N: N tokens decoded one at a time, no prompt before them. Both start from an
//! empty cache, or with `-d D` from one holding D tokens (filled untimed, as llama-bench's
//! "@ dD" tests). Each test runs once to warm up, then `-r` times measured.

use super::args::{BenchArgs, BenchOutput};
use super::bandwidth;
use super::report;
use super::CliError;
use edge::{default_threads, Session, SessionParams, Storage, TextModel};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    let model = report::open_model(&args.model, args.load.options())?;
    let about = ModelFacts::of(&model);
    let threads = if args.threads.is_empty() {
        vec![default_threads()]
    } else {
        args.threads.clone()
    };
    let kinds: Vec<Test> = args
        .n_prompt
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| Test::Prompt(n))
        .chain(args.n_gen.iter().filter(|&&n| n > 0).map(|&n| Test::Gen(n)))
        .collect();
    if kinds.is_empty() {
        return Err(CliError::msg("nothing to measure: -p and -n are all 0"));
    }
    // Each test at each depth, in llama-bench's order (depths inner).
    let tests: Vec<(Test, usize)> = kinds
        .iter()
        .flat_map(|&test| args.n_depth.iter().map(move |&depth| (test, depth)))
        .collect();
    let n_ctx = tests
        .iter()
        .map(|&(test, depth)| depth.saturating_add(test.n_tokens()))
        .max()
        .unwrap_or(1);

    eprintln!("bench: weights {}", about.storage);
    let mut records = Vec::new();
    let mut bandwidths: HashMap<usize, f64> = HashMap::new();
    for &n_threads in &threads {
        let params = SessionParams {
            n_ctx,
            n_threads,
            kv_type: args.kv_type,
            isa: args.isa,
        };
        let mut session = Session::new(Arc::clone(model.model()), params)?;
        for &(test, depth) in &tests {
            eprintln!("bench: {}, threads: {n_threads}", test.name(depth));
            let ids = token_ids(&model, depth + test.n_tokens());
            let (context, ids) = ids.split_at(depth);
            run_once(&mut session, test, context, ids)?; // warm-up
            let mut samples_ns = Vec::with_capacity(args.repetitions);
            for _ in 0..args.repetitions {
                samples_ns.push(run_once(&mut session, test, context, ids)?);
            }
            let mut record = Record::new(&about, &session, test, depth, &samples_ns);
            if let Test::Gen(n_gen) = test {
                let bandwidth = *bandwidths.entry(n_threads).or_insert_with(|| {
                    eprintln!("bench: read bandwidth, threads: {n_threads}");
                    bandwidth::measure_read_bandwidth(n_threads)
                });
                record.add_bandwidth_bound(&session, n_gen, bandwidth);
            }
            records.push(record);
        }
    }
    match args.output {
        BenchOutput::Md => print_markdown(&records),
        BenchOutput::Json => println!("{}", to_json(&records, true)?),
        BenchOutput::Jsonl => {
            for record in &records {
                println!("{}", to_json(record, false)?);
            }
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Test {
    /// pp N
    Prompt(usize),
    /// tg N
    Gen(usize),
}

impl Test {
    fn n_tokens(self) -> usize {
        match self {
            Test::Prompt(n) | Test::Gen(n) => n,
        }
    }

    /// llama-bench's name: "pp512", "tg128", "tg128 @ d2048".
    fn name(self, depth: usize) -> String {
        let name = match self {
            Test::Prompt(n) => format!("pp{n}"),
            Test::Gen(n) => format!("tg{n}"),
        };
        if depth > 0 {
            format!("{name} @ d{depth}")
        } else {
            name
        }
    }
}

/// BOS (when the model has one), then ids from a fixed linear congruential sequence: valid
/// tokens, the same in every run, no text.
fn token_ids(model: &TextModel, n: usize) -> Vec<u32> {
    let n_vocab = model.model().n_vocab().max(1) as u64;
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut ids: Vec<u32> = model.tokenizer().bos().into_iter().collect();
    while ids.len() < n {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ids.push(((state >> 33) % n_vocab) as u32);
    }
    ids.truncate(n);
    ids
}

/// One run of `test` on `ids` after `context` (untimed) from an empty cache; its time in
/// nanoseconds.
fn run_once(
    session: &mut Session,
    test: Test,
    context: &[u32],
    ids: &[u32],
) -> Result<u64, CliError> {
    session.reset();
    if !context.is_empty() {
        session.forward_batch(context)?;
    }
    let start = Instant::now();
    match test {
        Test::Prompt(_) => {
            session.forward_batch(ids)?;
        }
        Test::Gen(_) => {
            for &id in ids {
                session.forward(id)?;
            }
        }
    }
    Ok(start.elapsed().as_nanos().try_into().unwrap_or(u64::MAX))
}

/// What the table and the records say about the model.
struct ModelFacts {
    filename: String,
    /// llama.cpp's description: architecture, size, main weight type ("llama 135M Q4_0").
    description: String,
    /// Bytes of all tensors (llama-bench's model_size).
    size: u64,
    n_params: u64,
    /// Mapped from the file or resident in memory.
    storage: Storage,
}

impl ModelFacts {
    fn of(model: &TextModel) -> ModelFacts {
        let model = model.model();
        ModelFacts {
            filename: model.path().display().to_string(),
            description: model.description(),
            size: model.size(),
            n_params: model.n_params(),
            storage: model.storage(),
        }
    }
}

/// One test's result, with llama-bench's JSON field names; the fields after `samples_ts` are
/// ours (the bandwidth bound, decode tests only).
#[derive(Debug, Serialize)]
struct Record {
    #[serde(skip)]
    test: Test,
    model_filename: String,
    model_type: String,
    model_size: u64,
    model_n_params: u64,
    backends: &'static str,
    /// Our kernels ("avx2", "neon", ...).
    isa: String,
    n_threads: usize,
    type_k: String,
    type_v: String,
    /// Weights read from the file's mapping (true) or from a copy in memory (false).
    use_mmap: bool,
    n_prompt: usize,
    n_gen: usize,
    n_depth: usize,
    test_time: String,
    avg_ns: u64,
    stddev_ns: u64,
    avg_ts: f64,
    stddev_ts: f64,
    samples_ns: Vec<u64>,
    samples_ts: Vec<f64>,
    /// Weights plus the KV cache read, per decoded token, averaged over the run's positions.
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_per_token: Option<u64>,
    /// Measured read bandwidth with the same thread count, bytes per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    read_bandwidth: Option<f64>,
    /// read_bandwidth / bytes_per_token: tokens per second if decode only streamed memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    bound_ts: Option<f64>,
    /// avg_ts / bound_ts.
    #[serde(skip_serializing_if = "Option::is_none")]
    bound_share: Option<f64>,
}

impl Record {
    fn new(
        about: &ModelFacts,
        session: &Session,
        test: Test,
        n_depth: usize,
        samples_ns: &[u64],
    ) -> Record {
        let n = test.n_tokens();
        let samples_ts: Vec<f64> = samples_ns
            .iter()
            .map(|&ns| n as f64 * 1e9 / (ns.max(1) as f64))
            .collect();
        let ns: Vec<f64> = samples_ns.iter().map(|&ns| ns as f64).collect();
        let (n_prompt, n_gen) = match test {
            Test::Prompt(n) => (n, 0),
            Test::Gen(n) => (0, n),
        };
        Record {
            test,
            model_filename: about.filename.clone(),
            model_type: about.description.clone(),
            model_size: about.size,
            model_n_params: about.n_params,
            backends: "CPU",
            isa: session.isa().name().to_string(),
            n_threads: session.n_threads(),
            type_k: session.kv_type().to_string(),
            type_v: session.kv_type().to_string(),
            use_mmap: about.storage == Storage::Mapped,
            n_prompt,
            n_gen,
            n_depth,
            test_time: utc_now(),
            avg_ns: mean(&ns) as u64,
            stddev_ns: stddev(&ns) as u64,
            avg_ts: mean(&samples_ts),
            stddev_ts: stddev(&samples_ts),
            samples_ns: samples_ns.to_vec(),
            samples_ts,
            bytes_per_token: None,
            read_bandwidth: None,
            bound_ts: None,
            bound_share: None,
        }
    }

    /// Decoding at position p reads every weight once and the keys and values of positions
    /// 0..=p; over a run after d tokens p averages d + (n_gen - 1) / 2. Weights are counted
    /// as the memory plan counts them (the token-embedding table whole).
    fn add_bandwidth_bound(&mut self, session: &Session, n_gen: usize, bandwidth: f64) {
        let plan = session.memory_plan();
        let kv_per_position = plan.kv_bytes as f64 / plan.n_ctx.max(1) as f64;
        let kv_read = kv_per_position * (self.n_depth as f64 + (n_gen as f64 + 1.0) / 2.0);
        let bytes = plan.weights_bytes as f64 + kv_read;
        let bound = bandwidth / bytes;
        self.bytes_per_token = Some(bytes as u64);
        self.read_bandwidth = Some(bandwidth);
        self.bound_ts = Some(bound);
        self.bound_share = Some(self.avg_ts / bound);
    }

    fn test_name(&self) -> String {
        self.test.name(self.n_depth)
    }
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation (n - 1), 0 for fewer than two samples, as llama-bench.
fn stddev(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    let var = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64;
    var.sqrt()
}

fn to_json<T: Serialize>(value: &T, pretty: bool) -> Result<String, CliError> {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    text.map_err(|e| CliError::msg(format!("writing JSON: {e}")))
}

fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", b / (1u64 << 30) as f64)
    } else {
        format!("{:.2} MiB", b / (1u64 << 20) as f64)
    }
}

fn human_params(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2} B", n / 1e9)
    } else {
        format!("{:.2} M", n / 1e6)
    }
}

/// llama-bench's table, then one for the bandwidth bound of the decode tests.
fn print_markdown(records: &[Record]) {
    println!(
        "| {:<30} | {:>10} | {:>10} | {:>7} | {:<7} | {:>13} | {:>20} |",
        "model", "size", "params", "threads", "ISA", "test", "t/s"
    );
    println!(
        "{}",
        separator(&[
            (30, false),
            (10, true),
            (10, true),
            (7, true),
            (7, false),
            (13, true),
            (20, true)
        ])
    );
    for r in records {
        let rate = format!("{:.2} ± {:.2}", r.avg_ts, r.stddev_ts);
        println!(
            "| {:<30} | {:>10} | {:>10} | {:>7} | {:<7} | {:>13} | {:>20} |",
            r.model_type,
            human_size(r.model_size),
            human_params(r.model_n_params),
            r.n_threads,
            r.isa,
            r.test_name(),
            rate,
        );
    }
    let bounded: Vec<&Record> = records.iter().filter(|r| r.bound_ts.is_some()).collect();
    if bounded.is_empty() {
        return;
    }
    println!();
    println!(
        "| {:>7} | {:>13} | {:>14} | {:>14} | {:>12} | {:>8} |",
        "threads", "test", "MB read/token", "read GB/s", "bound t/s", "of bound"
    );
    println!(
        "{}",
        separator(&[
            (7, true),
            (13, true),
            (14, true),
            (14, true),
            (12, true),
            (8, true)
        ])
    );
    for r in bounded {
        let share = format!("{:.0} %", r.bound_share.unwrap_or(0.0) * 100.0);
        println!(
            "| {:>7} | {:>13} | {:>14.1} | {:>14.2} | {:>12.2} | {:>8} |",
            r.n_threads,
            r.test_name(),
            r.bytes_per_token.unwrap_or(0) as f64 / 1e6,
            r.read_bandwidth.unwrap_or(0.0) / 1e9,
            r.bound_ts.unwrap_or(0.0),
            share,
        );
    }
}

/// A markdown separator row for columns of (width, right-aligned).
fn separator(columns: &[(usize, bool)]) -> String {
    let mut row = String::from("|");
    for &(width, right) in columns {
        let dashes = "-".repeat(if right { width - 1 } else { width });
        row.push_str(&format!(" {dashes}{} |", if right { ":" } else { "" }));
    }
    row
}

/// The current time as ISO 8601 UTC (`2025-04-24T11:58:50Z`), as llama-bench's test_time.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 -> (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's days-to-civil algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
