//! `EDGE_ISA`: a value that is unknown, or names an ISA this CPU cannot run, is refused with
//! one error line naming the value and the ISAs this CPU has (as `--isa` is refused), and a
//! non-zero exit; a valid value is honoured.

mod common;

use edge::Isa;
use edge_formats::GgmlType;
use std::path::PathBuf;
use std::process::Output;

fn tinystories() -> PathBuf {
    common::quantized(
        &common::shared_models().join("tinystories-656k"),
        GgmlType::F32,
    )
}

fn run_with_isa(isa: &str, extra: &[&str]) -> Output {
    common::run_edge()
        .env("EDGE_ISA", isa)
        .arg("-m")
        .arg(tinystories())
        .args(["-p", "Once", "-n", "2"])
        .args(extra)
        .output()
        .unwrap()
}

/// The one stderr line of a refused run.
fn refused(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr:?}");
    assert!(stderr.starts_with("error: "), "stderr: {stderr:?}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr:?}");
    let available: Vec<&str> = Isa::available().map(|isa| isa.name()).collect();
    assert!(
        stderr.contains(&format!("this CPU runs {}", available.join(", "))),
        "the available ISAs are not named: {stderr:?}"
    );
    stderr
}

#[test]
fn unknown_edge_isa_is_an_error_naming_the_value_and_the_available_isas() {
    let err = refused(&run_with_isa("bogus", &[]));
    assert!(err.contains("EDGE_ISA=bogus"), "{err:?}");
    assert!(err.contains("unknown ISA"), "{err:?}");
}

#[test]
fn unsupported_edge_isa_is_an_error_naming_the_value_and_the_available_isas() {
    let foreign = if cfg!(target_arch = "x86_64") {
        "neon"
    } else {
        "avx2"
    };
    let err = refused(&run_with_isa(foreign, &[]));
    assert!(err.contains(&format!("EDGE_ISA={foreign}")), "{err:?}");
    assert!(err.contains("not supported by this CPU"), "{err:?}");
}

#[test]
fn valid_edge_isa_is_used_and_isa_flag_takes_precedence() {
    let out = run_with_isa("scalar", &["--temp", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_with_isa("bogus", &["--temp", "0", "--isa", "scalar"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
