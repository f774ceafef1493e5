//! The quantizer's planning from a Hugging Face folder, from arbitrary bytes: the input is
//! config.json, tokenizer.json and model.safetensors separated by `PART_SEPARATOR` (see
//! tests/hostile_fuzz_seeds.rs), written to a folder; the folder is opened, planned for a file
//! type, its types assigned and the model it would write validated, and the first rows of each
//! planned tensor converted. Nothing is written. Any panic, abort, hang or blow-up is a bug.
#![no_main]

use edge_quantize::plan::{self, FileType, TypePolicy};
use edge_quantize::source::{self, Source};
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const PART_SEPARATOR: &[u8] = b"\n\0\0--edge-fuzz-part--\0\0\n";

/// One folder per fuzzing process, rewritten for each input.
fn folder() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let p = std::env::temp_dir().join(format!("edge-fuzz-folder-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&p);
        p
    })
}

fn split(data: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let at = |from: usize| {
        data.get(from..)?
            .windows(PART_SEPARATOR.len())
            .position(|w| w == PART_SEPARATOR)
            .map(|p| from + p)
    };
    let a = at(0)?;
    let b = at(a + PART_SEPARATOR.len())?;
    Some((
        &data[..a],
        &data[a + PART_SEPARATOR.len()..b],
        &data[b + PART_SEPARATOR.len()..],
    ))
}

fuzz_target!(|data: &[u8]| {
    let Some((config, tokenizer, weights)) = split(data) else {
        return;
    };
    let dir = folder();
    for (name, bytes) in [
        ("config.json", config),
        ("tokenizer.json", tokenizer),
        ("model.safetensors", weights),
    ] {
        if std::fs::write(dir.join(name), bytes).is_err() {
            return;
        }
    }
    let Ok(source) = Source::open(dir) else {
        return;
    };
    // A file type with block constraints (and fallbacks) and one without.
    let file_type = if data.len() % 2 == 0 { "q4_0" } else { "f16" };
    let Some(file_type) = FileType::parse(file_type) else {
        return;
    };
    let Ok(policy) = TypePolicy::new(file_type, false, None) else {
        return;
    };
    let Ok(mut plan) = source.plan(&policy) else {
        return;
    };
    if plan::assign_types(&mut plan, &policy).is_err() {
        return;
    }
    let _ = source::validate_plan(dir, &mut plan);
    let mut row = Vec::new();
    for t in &plan.tensors {
        let Ok(rows) = source.rows(t) else {
            continue;
        };
        let row_len = t.dims.row_len() as usize;
        if row_len > 1 << 16 {
            continue;
        }
        row.resize(row_len, 0f32);
        for r in 0..(t.dims.n_rows() as usize).min(2) {
            let _ = rows.read_row(r, &mut row);
        }
    }
});
