//! Helpers shared by the integration tests: where the reference data and models are, and
//! scratch folders. Nothing here writes into ../shared.
#![allow(dead_code)]

pub mod counting_alloc;
pub mod hostile;
pub mod kernel_inputs;
pub mod peak_rss;
pub mod tokenizer;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root: the nearest folder above the calling crate with the `Cargo.lock`
/// (these helpers serve the root package's tests and, through `#[path]`, the runtime's).
pub fn workspace() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .unwrap_or(manifest)
        .to_path_buf()
}

/// `../shared` beside the checkout (read-only by intent).
pub fn shared() -> PathBuf {
    workspace().join("../shared")
}

/// `../shared/models`.
pub fn shared_models() -> PathBuf {
    shared().join("models")
}

/// `../shared/models/reference`.
pub fn reference() -> PathBuf {
    shared_models().join("reference")
}

/// The fetched-models cache (`$EDGE_MODELS`, else `~/.cache/edge-models`), filled by
/// `../shared/scripts/fetch-models` once per test process (it is idempotent and locked).
pub fn fetched_models() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os("EDGE_MODELS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/edge-models")
            });
        let status = Command::new(shared().join("scripts/fetch-models"))
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run ../shared/scripts/fetch-models");
        assert!(status.success(), "fetch-models failed");
        dir
    })
}

/// The SmolLM2-135M-Instruct Hugging Face folder (BF16).
pub fn smollm2_folder() -> PathBuf {
    fetched_models().join("smollm2-135m-instruct")
}

/// llama.cpp's own `SmolLM2-135M-Instruct.Q4_1.gguf`.
pub fn smollm2_llamacpp_gguf() -> PathBuf {
    fetched_models().join("llama.cpp/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// Lower-case hex SHA-256 of `bytes`, as the manifests and reference files write digests.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh temporary folder, removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create temp dir")
}

/// A folder for files that live as long as the test process: `<target>/tmp/edge-test-<pid>`.
/// A `TempDir` kept in a static would never be dropped (statics are not), so the folder is
/// removed by an `atexit` handler instead, and the folders of processes that died before
/// exiting are swept when the next process makes its own.
pub fn process_scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    extern "C" fn remove_at_exit() {
        if let Some(dir) = DIR.get() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    unsafe extern "C" {
        fn atexit(callback: extern "C" fn()) -> std::ffi::c_int;
    }
    DIR.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        sweep_dead_scratch(&root);
        let dir = root.join(format!("edge-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the process scratch folder");
        // SAFETY: atexit is the C library's; the callback is a plain function that touches
        // only the initialized static.
        unsafe { atexit(remove_at_exit) };
        dir
    })
}

/// Removes `edge-test-<pid>` folders whose process no longer runs (Linux: no /proc/<pid>).
fn sweep_dead_scratch(root: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix("edge-test-"));
        if let Some(pid) = pid.filter(|p| p.parse::<u32>().is_ok()) {
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Our quantizer's output for `input` (a HF folder) at `ty` (`--type` and `--output-type`),
/// written once per test process into [`process_scratch`].
pub fn quantized(input: &Path, ty: edge_formats::GgmlType) -> PathBuf {
    use std::collections::HashMap;
    use std::sync::Mutex;
    /// (input folder, type id) -> the file written for it.
    type Written = Mutex<HashMap<(PathBuf, u32), PathBuf>>;
    static OUT: OnceLock<Written> = OnceLock::new();
    let cache = OUT.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    let key = (input.to_path_buf(), ty.id());
    if let Some(p) = cache.get(&key) {
        return p.clone();
    }
    let stem = input
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("model");
    let out = process_scratch().join(format!("{stem}-{}.gguf", ty.name().to_lowercase()));
    let opts = edge_quantize::Options {
        input: input.to_path_buf(),
        output: Some(out.clone()),
        file_type: edge_quantize::plan::FileType::of_type(ty).expect("a weight type"),
        pure: false,
        output_ty: Some(ty),
        threads: None,
        verbose: false,
    };
    let written =
        edge_quantize::run(&opts).unwrap_or_else(|e| panic!("quantize {}: {e}", input.display()));
    cache.insert(key, written.clone());
    written
}
