//! Hostile model files for the readers (issue 13, items 5, 7 and 8): data regions that overlap,
//! duplicate JSON keys, inputs that are not regular files, `general.alignment = 1`. Every file
//! is made here, in a temporary folder.

use edge_formats::gguf::{GgmlDims, GgufFile, GgufWriter, TensorSpec, Value, ALIGNMENT_KEY};
use edge_formats::safetensors::SafeTensors;
use edge_formats::GgmlType;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A GGUF image with F32 tensors `names`, each of `len` values, and the given metadata.
fn gguf(metadata: &[(String, Value)], names: &[&str], len: u64) -> Vec<u8> {
    let specs: Vec<TensorSpec> = names
        .iter()
        .map(|n| TensorSpec {
            name: n.to_string(),
            dims: GgmlDims(vec![len]),
            ty: GgmlType::F32,
        })
        .collect();
    let mut w = GgufWriter::new(Vec::new(), metadata, &specs).unwrap();
    for (i, _) in names.iter().enumerate() {
        let data: Vec<u8> = (0..len)
            .flat_map(|j| ((i as u64 * 1000 + j) as f32).to_le_bytes())
            .collect();
        w.write_tensor(&data).unwrap();
    }
    w.finish().unwrap()
}

/// Byte position of tensor `name`'s data offset field in a GGUF image of 1-D tensors.
fn offset_field(image: &[u8], name: &str) -> usize {
    let mut needle = (name.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(name.as_bytes());
    let at = image
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .expect("tensor name in the header");
    // name, n_dims u32, one dim u64, type u32, then the offset.
    at + needle.len() + 4 + 8 + 4
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn err_text<T>(r: edge_formats::Result<T>) -> String {
    match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

fn assert_names(e: &str, needles: &[&str]) {
    assert!(!e.contains('\n'), "one line: {e}");
    for n in needles {
        assert!(e.contains(n), "`{n}` not in: {e}");
    }
}

#[test]
fn alignment_one_is_valid_gguf() {
    let dir = tempfile::tempdir().unwrap();
    let meta = vec![(ALIGNMENT_KEY.to_string(), Value::U32(1))];
    // 3 values: 12 bytes per tensor, so the second one starts at an offset that is no multiple
    // of anything but 1 and 4.
    let path = write(dir.path(), "a1.gguf", &gguf(&meta, &["a", "b"], 3));
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.header.alignment, 1);
    let b = file.tensor("b").unwrap().clone();
    assert_eq!(b.offset, 12);
    let bytes = file.tensor_data(&b);
    assert_eq!(&bytes[..4], &1000f32.to_le_bytes());
}

#[test]
fn overlapping_gguf_tensor_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut image = gguf(&[], &["first", "second"], 8);
    // `second` starts inside `first` (alignment 32, 32 bytes each): both read bytes 0..32.
    let at = offset_field(&image, "second");
    image[at..at + 8].copy_from_slice(&0u64.to_le_bytes());
    let path = write(dir.path(), "overlap.gguf", &image);
    assert_names(
        &err_text(GgufFile::open(&path)),
        &["overlap.gguf", "`first`", "`second`", "overlap"],
    );
    // Sanity: the untouched image opens.
    let ok = write(dir.path(), "ok.gguf", &gguf(&[], &["first", "second"], 8));
    assert!(GgufFile::open(&ok).is_ok());
}

/// A safetensors image from a raw JSON header and data bytes.
fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn overlapping_safetensors_data_is_refused() {
    let header = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    let e = err_text(SafeTensors::from_bytes(
        safetensors(header, &[0; 12]),
        Path::new("ov.safetensors"),
    ));
    assert_names(&e, &["ov.safetensors", "`a`", "`b`", "overlap"]);
    // Touching regions are fine, and so is an empty tensor anywhere.
    let header = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#;
    assert!(SafeTensors::from_bytes(safetensors(header, &[0; 12]), Path::new("x")).is_ok());
}

#[test]
fn duplicate_safetensors_keys_are_refused() {
    // serde_json keeps the last of two equal keys: the first tensor would vanish silently.
    let header = r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    let e = err_text(SafeTensors::from_bytes(
        safetensors(header, &[0; 8]),
        Path::new("dup.safetensors"),
    ));
    assert_names(&e, &["dup.safetensors", "duplicate", "`w`"]);
    // A duplicate field inside one tensor's entry.
    let header = r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"data_offsets":[4,8]}}"#;
    let e = err_text(SafeTensors::from_bytes(
        safetensors(header, &[0; 8]),
        Path::new("dup.safetensors"),
    ));
    assert_names(&e, &["`w`", "duplicate", "data_offsets"]);
    // A duplicate alias in `__metadata__`.
    let header = r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"v":"w","v":"x"}}"#;
    let e = err_text(SafeTensors::from_bytes(
        safetensors(header, &[0; 4]),
        Path::new("dup.safetensors"),
    ));
    assert_names(&e, &["__metadata__", "duplicate", "`v`"]);
    // Two `__metadata__` objects.
    let header = r#"{"__metadata__":{},"__metadata__":{}}"#;
    let e = err_text(SafeTensors::from_bytes(
        safetensors(header, &[]),
        Path::new("dup.safetensors"),
    ));
    assert_names(&e, &["duplicate", "__metadata__"]);
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Runs `f` on a thread and fails if it does not return within 10 s (a FIFO blocks forever).
fn within_seconds<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("the reader blocked (it opened a FIFO)")
}

#[test]
fn model_files_must_be_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let fifo = d.join("pipe.gguf");
    mkfifo(&fifo);
    let link = d.join("link.gguf");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    for (p, name) in [(fifo.clone(), "pipe.gguf"), (link, "link.gguf")] {
        let e = within_seconds(move || err_text(GgufFile::open(&p)));
        assert_names(&e, &[name, "FIFO", "not a regular file"]);
    }
    let p = fifo.clone();
    let e = within_seconds(move || err_text(SafeTensors::open(&p)));
    assert_names(&e, &["pipe.gguf", "FIFO", "not a regular file"]);
    // A folder where a GGUF file is expected.
    let e = err_text(GgufFile::open(&d));
    assert_names(&e, &["folder", "not a regular file"]);

    // A sharded folder whose shard is a folder ("No such device" from mmap before) or a FIFO.
    let model = d.join("model");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(
        model.join("model.safetensors.index.json"),
        r#"{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}"#,
    )
    .unwrap();
    std::fs::create_dir(model.join("s1.safetensors")).unwrap();
    mkfifo(&model.join("s2.safetensors"));
    let e = err_text(SafeTensors::open(&model));
    assert_names(&e, &["s1.safetensors", "folder", "not a regular file"]);
    std::fs::remove_dir(model.join("s1.safetensors")).unwrap();
    std::fs::write(
        model.join("s1.safetensors"),
        safetensors(
            r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            &[0; 4],
        ),
    )
    .unwrap();
    let m = model.clone();
    let e = within_seconds(move || err_text(SafeTensors::open(&m)));
    assert_names(&e, &["s2.safetensors", "FIFO", "not a regular file"]);

    // A symlink loop: the real problem, not "missing".
    let looped = d.join("loop.safetensors");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let e = err_text(SafeTensors::open(&looped));
    assert_names(&e, &["loop.safetensors", "symbolic links"]);
}

#[test]
fn duplicate_shard_index_entries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let index =
        r#"{"metadata":{"total_size":8},"weight_map":{"a":"s1.safetensors","a":"s2.safetensors"}}"#;
    std::fs::write(dir.path().join("model.safetensors.index.json"), index).unwrap();
    let e = err_text(SafeTensors::open(dir.path()));
    assert_names(&e, &["model.safetensors.index.json", "duplicate key `a`"]);
    let index = r#"{"weight_map":{"a":1}}"#;
    std::fs::write(dir.path().join("model.safetensors.index.json"), index).unwrap();
    let e = err_text(SafeTensors::open(dir.path()));
    assert_names(&e, &["model.safetensors.index.json", "invalid type"]);
}
