//! The workspace's test helpers (tests/common at the root), plus what only the runtime's
//! tests need. Nothing here writes into ../shared.
#![allow(dead_code)]

#[path = "../../../tests/common/mod.rs"]
mod workspace_helpers;
pub use workspace_helpers::*;

use std::process::Command;

/// The `run-edge` binary built for these tests.
pub fn run_edge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_run-edge"))
}

/// A reference JSON file under `../shared/models/reference`.
pub fn reference_json(relative: &str) -> serde_json::Value {
    let path = reference().join(relative);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The public SmolLM2 prompts (`public-<i>.json`), in order.
pub fn smollm2_public_cases() -> Vec<serde_json::Value> {
    (0..)
        .map(|i| reference().join(format!("smollm2-135m-instruct/public-{i}.json")))
        .take_while(|p| p.exists())
        .map(|p| serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        .collect()
}
