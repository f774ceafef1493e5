//! The `tokenizers` library's reference ids (../shared/models/reference/tokenizer/<model>.json)
//! and the check every tokenizer test runs against them.

use edge::Tokenizer;

#[derive(serde::Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

/// One reference text with the ids `tokenizers` gives it (with and without special-token
/// parsing) and its decoding.
#[derive(serde::Deserialize)]
pub struct Case {
    pub text: String,
    pub ids: Vec<u32>,
    pub ids_no_special_parsing: Vec<u32>,
    pub decoded: String,
}

/// The reference cases of `model` (never empty).
pub fn reference(model: &str) -> Vec<Case> {
    let path = super::reference().join(format!("tokenizer/{model}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reference: Reference = serde_json::from_str(&text).unwrap();
    assert!(!reference.cases.is_empty());
    reference.cases
}

/// Checks every case (ids, ids without special parsing, and the decoding when `check_decoded`);
/// fails with all the mismatches as readable lines.
pub fn check_cases(tokenizer: &Tokenizer, cases: &[Case], check_decoded: bool) {
    let mut failures = Vec::new();
    for case in cases {
        let ids = tokenizer.encode(&case.text, true, true);
        if ids != case.ids {
            failures.push(format!(
                "{:?}: ids {ids:?}, expected {:?}",
                case.text, case.ids
            ));
        }
        let plain = tokenizer.encode(&case.text, true, false);
        if plain != case.ids_no_special_parsing {
            failures.push(format!(
                "{:?}: ids without special parsing {plain:?}, expected {:?}",
                case.text, case.ids_no_special_parsing
            ));
        }
        if check_decoded {
            let decoded = tokenizer.decode(&case.ids, true);
            if decoded != case.decoded {
                failures.push(format!(
                    "{:?}: decoded {decoded:?}, expected {:?}",
                    case.text, case.decoded
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The tokenizer of tiny-random-llama-256 (byte tokens `<0x00>`..`<0xFF>` at ids 2048..2303),
/// read from the GGUF our quantizer writes.
pub fn tiny_random_256() -> Tokenizer {
    let gguf = super::quantized(
        &super::shared_models().join("tiny-random-llama-256"),
        edge_formats::GgmlType::Q8_0,
    );
    let file = edge_formats::gguf::GgufFile::open(&gguf).unwrap();
    Tokenizer::from_metadata(file.metadata()).unwrap()
}
