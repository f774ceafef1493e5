//! Safetensors reader over memmap2: one file or a sharded folder.
//!
//! File layout: u64 LE header length N, N bytes of JSON (`{name: {dtype, shape,
//! data_offsets: [begin, end]}, "__metadata__": {string: string}}`), then the data; offsets
//! are relative to the end of the header. Every length and offset is checked against the file
//! before use. Aliases: transformers saves tied weights once and records the dropped name in
//! `__metadata__` as `dropped -> kept` (tinystories-656k: `model.embed_tokens.weight ->
//! lm_head.weight`); both names resolve here.
use crate::{Error, Result};
use half::{bf16, f16};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A tensor shape, outermost first (as safetensors and PyTorch store it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape(pub Vec<usize>);

impl Shape {
    /// Total elements, or None on overflow (1 for a scalar).
    pub fn n_elements(&self) -> Option<usize> {
        self.0.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// Elements per row: the innermost dim (1 for a scalar).
    pub fn row_len(&self) -> usize {
        self.0.last().copied().unwrap_or(1)
    }

    /// Rows: the product of every dim but the innermost (1 for a vector or a scalar).
    pub fn n_rows(&self) -> usize {
        let outer = &self.0[..self.0.len().saturating_sub(1)];
        outer
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .unwrap_or(usize::MAX)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    F32,
    F16,
    BF16,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
        }
    }

    /// The spelling safetensors uses: "F32", "F16", "BF16".
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Dtype::F32, Dtype::F16, Dtype::BF16]
            .into_iter()
            .find(|d| d.name() == s)
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Converts little-endian `dtype` elements to f32: `bytes` (n * dtype.size()) -> out (n).
/// F16 and BF16 widen exactly.
pub fn to_f32(dtype: Dtype, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    if Some(bytes.len()) != out.len().checked_mul(dtype.size()) {
        return Err(Error::Range {
            tensor: String::new(),
            what: format!(
                "{} bytes of {dtype} cannot fill {} f32 values",
                bytes.len(),
                out.len()
            ),
        });
    }
    match dtype {
        Dtype::F32 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        Dtype::F16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
        Dtype::BF16 => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = bf16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
    }
    Ok(())
}

/// A view of one tensor's bytes in the mapping.
#[derive(Clone, Copy, Debug)]
pub struct TensorView<'a> {
    /// The name it was looked up by (an alias stays the alias).
    pub name: &'a str,
    pub dtype: Dtype,
    pub shape: &'a Shape,
    pub data: &'a [u8],
}

impl TensorView<'_> {
    /// Converts rows [first_row, first_row + n_rows) to f32: out (n_rows * row_len). A row
    /// is the innermost dim ([`Shape::row_len`]).
    pub fn rows_to_f32(&self, first_row: usize, n_rows: usize, out: &mut [f32]) -> Result<()> {
        let row_bytes = self.shape.row_len() * self.dtype.size();
        let range = first_row
            .checked_add(n_rows)
            .filter(|&end| end <= self.shape.n_rows())
            .and_then(|end| Some(first_row.checked_mul(row_bytes)?..end.checked_mul(row_bytes)?))
            .and_then(|r| self.data.get(r));
        let bytes = range.ok_or_else(|| Error::Range {
            tensor: self.name.to_string(),
            what: format!(
                "rows {first_row}..+{n_rows} out of range (shape {:?})",
                self.shape.0
            ),
        })?;
        to_f32(self.dtype, bytes, out).map_err(|e| match e {
            Error::Range { what, .. } => Error::Range {
                tensor: self.name.to_string(),
                what,
            },
            other => other,
        })
    }
}

/// The bytes of one file: mapped, or owned (for [`SafeTensors::from_bytes`]).
enum Storage {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

struct Shard {
    path: PathBuf,
    storage: Storage,
}

struct Entry {
    shard: usize,
    dtype: Dtype,
    shape: Shape,
    /// Absolute byte range in the shard.
    start: usize,
    end: usize,
}

/// One `.safetensors` file, or every shard of a folder with `model.safetensors.index.json`,
/// with the aliases from `__metadata__` honoured.
pub struct SafeTensors {
    /// What was opened: the file or the folder.
    pub path: PathBuf,
    shards: Vec<Shard>,
    tensors: BTreeMap<String, Entry>,
    /// alias -> stored tensor name.
    aliases: BTreeMap<String, String>,
    /// `__metadata__` of every shard, merged.
    metadata: BTreeMap<String, String>,
}

pub const SINGLE_FILE: &str = "model.safetensors";
pub const SHARD_INDEX: &str = "model.safetensors.index.json";

impl SafeTensors {
    /// A `.safetensors` file; or a folder: its `model.safetensors.index.json` (every shard of
    /// the `weight_map`) if present, else its `model.safetensors`.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.is_dir() {
            let shard = map_file(path)?;
            return Self::from_shards(path, vec![shard]);
        }
        // Anything at these names is used (and must be a regular file): a FIFO, a folder or a
        // symlink loop there is reported as what it is, not as "neither file".
        let index = path.join(SHARD_INDEX);
        if std::fs::symlink_metadata(&index).is_ok() {
            return Self::open_sharded(path, &index);
        }
        let single = path.join(SINGLE_FILE);
        if std::fs::symlink_metadata(&single).is_ok() {
            let shard = map_file(&single)?;
            return Self::from_shards(path, vec![shard]);
        }
        Err(Error::corrupt(
            path,
            format!("folder has neither {SHARD_INDEX} nor {SINGLE_FILE}"),
        ))
    }

    /// Parses one safetensors image held in memory (tests and the fuzzer); `path` is only
    /// used in messages.
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Self> {
        let shard = Shard {
            path: path.to_path_buf(),
            storage: Storage::Owned(bytes),
        };
        Self::from_shards(path, vec![shard])
    }

    fn open_sharded(folder: &Path, index: &Path) -> Result<Self> {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut crate::regular_file::open_regular(index)?, &mut text)
            .map_err(|e| Error::io(index, e))?;
        // Only `weight_map` is used; a duplicate name in it is an error, not the last one kept.
        #[derive(serde::Deserialize)]
        struct ShardIndex {
            weight_map: UniqueStrings,
        }
        let parsed: ShardIndex = serde_json::from_slice(&text)
            .map_err(|e| Error::corrupt(index, format!("invalid shard index: {e}")))?;
        let weight_map = &parsed.weight_map.0;
        let mut files: Vec<&str> = Vec::new();
        let mut expected: Vec<(&str, &str)> = Vec::new();
        for (name, file) in weight_map {
            let file = file.as_str();
            if Path::new(file).components().count() != 1 || file == ".." || file == "." {
                return Err(Error::corrupt(
                    index,
                    format!("weight_map entry `{name}`: shard `{file}` is not a plain file name"),
                ));
            }
            if !files.contains(&file) {
                files.push(file);
            }
            expected.push((name, file));
        }
        files.sort_unstable();
        let shards = files
            .iter()
            .map(|f| map_file(&folder.join(f)))
            .collect::<Result<Vec<_>>>()?;
        let st = Self::from_shards(folder, shards)?;
        for (name, file) in expected {
            let in_shard = st.tensors.get(name).map(|e| &st.shards[e.shard].path);
            if in_shard != Some(&folder.join(file)) {
                return Err(Error::corrupt(
                    index,
                    format!("weight_map puts tensor `{name}` in `{file}`, which does not hold it"),
                ));
            }
        }
        Ok(st)
    }

    fn from_shards(path: &Path, shards: Vec<Shard>) -> Result<Self> {
        let mut st = SafeTensors {
            path: path.to_path_buf(),
            shards: Vec::new(),
            tensors: BTreeMap::new(),
            aliases: BTreeMap::new(),
            metadata: BTreeMap::new(),
        };
        for (i, shard) in shards.into_iter().enumerate() {
            let header = parse_header(shard.storage.bytes(), &shard.path)?;
            for (name, mut entry) in header.tensors {
                entry.shard = i;
                if st.tensors.contains_key(&name) {
                    return Err(Error::corrupt(
                        &shard.path,
                        format!("tensor `{name}` is also stored in another shard"),
                    ));
                }
                st.tensors.insert(name, entry);
            }
            st.metadata.extend(header.metadata);
            st.shards.push(shard);
        }
        for (key, value) in &st.metadata {
            if st.tensors.contains_key(value) && !st.tensors.contains_key(key) {
                st.aliases.insert(key.clone(), value.clone());
            }
        }
        Ok(st)
    }

    /// Every tensor name, aliases included, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .tensors
            .keys()
            .chain(self.aliases.keys())
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names
    }

    /// Number of stored tensors (aliases not counted).
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The merged `__metadata__` of every shard.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    pub fn is_alias(&self, name: &str) -> bool {
        self.aliases.contains_key(name)
    }

    /// The stored tensor an alias stands for.
    pub fn alias_target(&self, name: &str) -> Option<&str> {
        self.aliases.get(name).map(String::as_str)
    }

    /// (stored name or alias key, entry)
    fn resolve(&self, name: &str) -> Option<(&str, &Entry)> {
        if let Some((key, entry)) = self.tensors.get_key_value(name) {
            return Some((key, entry));
        }
        let (key, target) = self.aliases.get_key_value(name)?;
        Some((key, self.tensors.get(target)?))
    }

    /// A tensor by name or alias.
    pub fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        let (key, e) = self.resolve(name)?;
        let data = self.shards[e.shard].storage.bytes().get(e.start..e.end)?;
        Some(TensorView {
            name: key,
            dtype: e.dtype,
            shape: &e.shape,
            data,
        })
    }

    /// The file holding a tensor (or alias).
    pub fn file_of(&self, name: &str) -> Option<&Path> {
        let (_, e) = self.resolve(name)?;
        Some(&self.shards[e.shard].path)
    }

    /// Drops the mapped pages covering a tensor's bytes from this process (madvise
    /// MADV_DONTNEED) once it has been converted, so resident memory stays near one tensor.
    /// Views of it stay valid: the pages are read again from the file on the next access.
    pub fn release(&self, name: &str) -> Result<()> {
        let (_, e) = self.resolve(name).ok_or_else(|| Error::Range {
            tensor: name.to_string(),
            what: "no such tensor to release".into(),
        })?;
        let shard = &self.shards[e.shard];
        let Storage::Mapped(mmap) = &shard.storage else {
            return Ok(());
        };
        if e.end <= e.start {
            return Ok(());
        }
        #[cfg(unix)]
        {
            // memmap2 rounds the start down to its page; the kernel rounds the length up.
            // Pages shared with neighbouring tensors are dropped too, which only costs a re-read.
            // SAFETY: the mapping is read-only and file-backed (never written through), so
            // MADV_DONTNEED discards no data: any later access re-reads the pages from the
            // file; the range lies inside the mapping (checked when the header was parsed).
            unsafe {
                mmap.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    e.start,
                    e.end - e.start,
                )
            }
            .map_err(|err| Error::io(&shard.path, err))?;
        }
        #[cfg(not(unix))]
        let _ = mmap;
        Ok(())
    }
}

fn map_file(path: &Path) -> Result<Shard> {
    let file = crate::regular_file::open_regular(path)?;
    // SAFETY: the mapping is read-only; like every mmap reader we rely on the file not being
    // truncated or rewritten while it is mapped.
    let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
    Ok(Shard {
        path: path.to_path_buf(),
        storage: Storage::Mapped(mmap),
    })
}

struct Header {
    tensors: Vec<(String, Entry)>,
    metadata: BTreeMap<String, String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInfo {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// The header's top-level object, read straight from the JSON text. serde_json's maps keep
/// the last of two equal keys silently (a tensor would vanish); here a duplicate is an error,
/// at every level (entries' fields by serde's derive, `__metadata__` by [`UniqueStrings`]).
#[derive(Default)]
struct RawHeader {
    tensors: Vec<(String, RawInfo)>,
    metadata: BTreeMap<String, String>,
}

/// Reads a [`RawHeader`]; `current` holds the key whose value is being read, so an error
/// inside it can name the tensor.
struct HeaderVisitor<'a> {
    current: &'a std::cell::RefCell<String>,
}

impl<'de> serde::de::Visitor<'de> for HeaderVisitor<'_> {
    type Value = RawHeader;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object of tensor entries")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
        let mut header = RawHeader::default();
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
            }
            self.current.replace(key.clone());
            if key == "__metadata__" {
                header.metadata = map.next_value::<UniqueStrings>()?.0;
            } else {
                header.tensors.push((key, map.next_value()?));
            }
            self.current.borrow_mut().clear();
        }
        Ok(header)
    }
}

/// A JSON object of strings in which a duplicate key is an error.
struct UniqueStrings(BTreeMap<String, String>);

impl<'de> serde::Deserialize<'de> for UniqueStrings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = UniqueStrings;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object of strings")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueStrings, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    if out.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!("duplicate key `{k}`")));
                    }
                    out.insert(k, v);
                }
                Ok(UniqueStrings(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parses the JSON header text, naming the tensor (or `__metadata__`) an error is in.
fn parse_header_json(json: &[u8]) -> std::result::Result<RawHeader, String> {
    let current = std::cell::RefCell::new(String::new());
    let mut de = serde_json::Deserializer::from_slice(json);
    let parsed = serde::Deserializer::deserialize_map(&mut de, HeaderVisitor { current: &current })
        .and_then(|h| de.end().map(|()| h));
    parsed.map_err(|e| match current.borrow().as_str() {
        "" => format!("header JSON at byte offset 8: {e}"),
        "__metadata__" => format!("`__metadata__` is not a map of distinct strings: {e}"),
        name => format!("tensor `{name}`: {e}"),
    })
}

/// Parses and checks the header of a whole safetensors image.
fn parse_header(bytes: &[u8], path: &Path) -> Result<Header> {
    let corrupt = |what: String| Error::corrupt(path, what);
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            corrupt(format!(
                "{} bytes: too short for a safetensors header length",
                bytes.len()
            ))
        })?;
    let header_len = u64::from_le_bytes(len_bytes);
    let available = bytes.len() as u64 - 8;
    if header_len > available {
        return Err(corrupt(format!(
            "header length {header_len} (at byte offset 0) exceeds the {available} bytes after it"
        )));
    }
    let data_start = 8 + header_len as usize;
    let raw = parse_header_json(&bytes[8..data_start]).map_err(corrupt)?;
    let data_len = (bytes.len() - data_start) as u64;

    let mut header = Header {
        tensors: Vec::with_capacity(raw.tensors.len()),
        metadata: raw.metadata,
    };
    for (name, info) in raw.tensors {
        let entry = check_entry(&name, info, data_start, data_len, path)?;
        header.tensors.push((name, entry));
    }
    check_no_overlap(&header.tensors, data_start, path)?;
    Ok(header)
}

/// Two tensors reading the same bytes would silently share weights: refused. Empty tensors
/// hold no bytes and may sit anywhere.
fn check_no_overlap(tensors: &[(String, Entry)], data_start: usize, path: &Path) -> Result<()> {
    let mut by_start: Vec<&(String, Entry)> =
        tensors.iter().filter(|(_, e)| e.end > e.start).collect();
    by_start.sort_by_key(|(_, e)| e.start);
    for pair in by_start.windows(2) {
        let ((a, ea), (b, eb)) = (pair[0], pair[1]);
        if eb.start < ea.end {
            let offsets = |e: &Entry| format!("[{}, {}]", e.start - data_start, e.end - data_start);
            return Err(Error::corrupt(
                path,
                format!(
                    "the data of tensors `{a}` (data_offsets {}) and `{b}` (data_offsets {}) overlap",
                    offsets(ea),
                    offsets(eb)
                ),
            ));
        }
    }
    Ok(())
}

fn check_entry(
    name: &str,
    raw: RawInfo,
    data_start: usize,
    data_len: u64,
    path: &Path,
) -> Result<Entry> {
    let dtype = Dtype::parse(&raw.dtype).ok_or_else(|| {
        Error::unsupported(
            path,
            format!(
                "tensor `{name}`: dtype `{}` is not supported (F32, F16, BF16)",
                raw.dtype
            ),
        )
    })?;
    let corrupt = |what: String| Error::corrupt(path, format!("tensor `{name}`: {what}"));
    let shape = raw
        .shape
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<Vec<usize>>>()
        .map(Shape)
        .ok_or_else(|| corrupt(format!("shape {:?} out of range", raw.shape)))?;
    let n_bytes = shape
        .n_elements()
        .and_then(|n| n.checked_mul(dtype.size()))
        .ok_or_else(|| corrupt(format!("shape {:?} overflows the byte size", shape.0)))?;
    let [begin, end] = raw.data_offsets;
    if begin > end || end > data_len {
        return Err(corrupt(format!(
            "data_offsets [{begin}, {end}] lie outside the {data_len} data bytes (which start at byte offset {data_start})"
        )));
    }
    if end - begin != n_bytes as u64 {
        return Err(corrupt(format!(
            "data_offsets [{begin}, {end}] hold {} bytes, but shape {:?} of {dtype} needs {n_bytes}",
            end - begin,
            shape.0
        )));
    }
    Ok(Entry {
        shard: 0,
        dtype,
        shape,
        start: data_start + begin as usize,
        end: data_start + end as usize,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors image from (name, dtype, shape, bytes) and extra header JSON.
    pub(crate) fn image(tensors: &[(&str, &str, &[usize], Vec<u8>)], metadata: &str) -> Vec<u8> {
        let mut header = String::from("{");
        let mut data = Vec::new();
        for (name, dtype, shape, bytes) in tensors {
            let begin = data.len();
            data.extend_from_slice(bytes);
            header.push_str(&format!(
                "\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape:?},\"data_offsets\":[{begin},{}]}},",
                data.len()
            ));
        }
        header.push_str(&format!("\"__metadata__\":{metadata}}}"));
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&data);
        out
    }

    fn parse(bytes: Vec<u8>) -> Result<SafeTensors> {
        SafeTensors::from_bytes(bytes, Path::new("test.safetensors"))
    }

    #[test]
    fn reads_tensors_and_aliases() {
        let w: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let h: Vec<u8> = [half::f16::from_f32(0.5), half::f16::from_f32(-2.0)]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let st = parse(image(
            &[("w", "F32", &[2, 3], w), ("h", "F16", &[2], h)],
            r#"{"format":"pt","w2":"w"}"#,
        ))
        .unwrap();
        assert_eq!(st.names(), ["h", "w", "w2"]);
        assert!(st.is_alias("w2") && !st.is_alias("w"));
        assert_eq!(st.alias_target("w2"), Some("w"));
        let v = st.tensor("w2").unwrap();
        assert_eq!(v.shape.0, [2, 3]);
        let mut row = [0f32; 3];
        v.rows_to_f32(1, 1, &mut row).unwrap();
        assert_eq!(row, [4.0, 5.0, 6.0]);
        assert!(v.rows_to_f32(2, 1, &mut row).is_err());
        let mut hv = [0f32; 2];
        st.tensor("h").unwrap().rows_to_f32(0, 1, &mut hv).unwrap();
        assert_eq!(hv, [0.5, -2.0]);
        assert!(st.release("w2").is_ok());
    }

    #[test]
    fn bf16_widens_exactly() {
        let x = half::bf16::from_bits(0x3f81); // 1.0078125
        let mut out = [0f32];
        to_f32(Dtype::BF16, &x.to_le_bytes(), &mut out).unwrap();
        assert_eq!(out[0], 1.0078125);
        assert!(to_f32(Dtype::BF16, &[0u8; 3], &mut out).is_err());
    }

    fn err(bytes: Vec<u8>) -> String {
        match parse(bytes) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn corrupt_headers_are_named() {
        let e = err(image(&[("t", "I64", &[1], vec![0; 8])], "{}"));
        assert!(e.contains("`t`") && e.contains("I64"), "{e}");
        let e = err(image(&[("t", "F32", &[3], vec![0; 8])], "{}"));
        assert!(e.contains("`t`") && e.contains("needs 12"), "{e}");
        let mut bad = image(&[("t", "F32", &[2], vec![0; 8])], "{}");
        bad.truncate(bad.len() - 1);
        let e = err(bad);
        assert!(e.contains("`t`") && e.contains("outside"), "{e}");
        let mut huge = image(&[], "{}");
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = err(huge);
        assert!(e.contains("header length"), "{e}");
        let e = err(image(&[("t", "F32", &[usize::MAX, 2], vec![])], "{}"));
        assert!(e.contains("overflows"), "{e}");
        let e = err(b"\x02\0\0\0\0\0\0\0{x".to_vec());
        assert!(e.contains("JSON"), "{e}");
        assert!(err(vec![1, 2]).contains("too short"));
    }

    #[test]
    fn every_truncation_errors() {
        let full = image(&[("t", "F32", &[2], vec![0; 8])], r#"{"a":"t"}"#);
        for n in 0..full.len() {
            assert!(parse(full[..n].to_vec()).is_err(), "prefix {n}");
        }
        assert!(parse(full).is_ok());
    }
}
