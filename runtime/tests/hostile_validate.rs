//! Files quantize must not write and run-edge must not load (issue 13, item 6): each case is a
//! copy of tinystories-656k breaking one rule of `edge_formats::validate`, the one validator
//! both binaries use. run-edge refuses each with one `error:` line naming the problem; the
//! quantize side of the same cases is `quantize/tests/hostile_validate.rs`.

mod common;

use common::hostile::{expect_refusal, invalid_gguf_cases, write_invalid_gguf};
use common::{run_edge_limited, tinystories_q8};
use edge_formats::gguf::GgufFile;

#[test]
fn run_edge_refuses_every_invalid_model_in_one_line() {
    let dir = common::tempdir();
    let src = GgufFile::open(&tinystories_q8()).unwrap();
    for case in invalid_gguf_cases(&src) {
        let path = dir.path().join(format!("{}.gguf", case.name));
        write_invalid_gguf(&src, &case, &path);
        let out = run_edge_limited(&["-m", path.to_str().unwrap(), "-p", "Once", "-n", "4"]);
        expect_refusal(&out, &case.needles);
    }
}
