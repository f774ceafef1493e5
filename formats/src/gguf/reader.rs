//! GGUF v3 reader: parses and validates the header of a byte image; [`GgufFile`] holds a
//! file's bytes (mapped with memmap2, or read into anonymous memory: [`Storage`]) and hands out
//! tensor data as slices of them.
//!
//! Every count and length read from the file is checked against the bytes left before
//! anything is allocated, so a corrupt header is an error naming the key or tensor and the
//! byte offset, never a huge allocation or a panic.
use super::cursor::Cursor;
use super::{Array, GgmlDims, Metadata, Value, ValueType, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC};
use crate::{Error, GgmlType, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// ggml's GGML_MAX_DIMS: no tensor has more dims.
pub const MAX_DIMS: u32 = 4;
/// Deepest array nesting accepted (arrays of arrays of ...); bounds the parser's recursion.
pub const MAX_ARRAY_DEPTH: usize = 16;

/// Smallest possible metadata entry: empty key (u64), value type (u32), one-byte value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// Smallest possible tensor info: empty name (u64), n_dims (u32), type (u32), offset (u64).
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 4 + 8;

#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    pub dims: GgmlDims,
    pub ty: GgmlType,
    /// Offset of the data relative to the start of the data section.
    pub offset: u64,
    /// Size of the data in bytes (from dims and type).
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Total elements (checked against overflow when the header was parsed).
    pub fn n_elements(&self) -> u64 {
        self.dims.n_elements().unwrap_or(u64::MAX)
    }
}

/// Bytes of a tensor of type `ty` with `dims`, or a message saying why there is no such size
/// (row length not a whole number of blocks, overflow).
pub fn tensor_n_bytes(ty: GgmlType, dims: &GgmlDims) -> std::result::Result<u64, String> {
    let n_elements = dims
        .n_elements()
        .filter(|&n| n <= i64::MAX as u64)
        .ok_or_else(|| format!("dims {:?} overflow the element count", dims.0))?;
    let row_len = dims.row_len();
    if !row_len.is_multiple_of(ty.block_size() as u64) {
        return Err(format!(
            "row length {row_len} is not a multiple of the {ty} block size {}",
            ty.block_size()
        ));
    }
    ty.row_bytes(n_elements)
        .ok_or_else(|| format!("dims {:?} of type {ty} overflow the byte size", dims.0))
}

/// `n` rounded up to a multiple of `alignment` (a power of two), or None on overflow.
pub(super) fn align_up(n: u64, alignment: u64) -> Option<u64> {
    Some(n.checked_add(alignment - 1)? & !(alignment - 1))
}

/// Checks `general.alignment`: any integer type, a nonzero power of two that fits in u32.
pub(super) fn alignment_of(metadata: &Metadata) -> std::result::Result<u64, String> {
    match metadata.get(ALIGNMENT_KEY) {
        None => Ok(DEFAULT_ALIGNMENT),
        Some(v) => match v.as_u32() {
            Some(a) if a.is_power_of_two() => Ok(a.into()),
            _ => Err(format!(
                "key `{ALIGNMENT_KEY}`: {} {v:.4} is not a nonzero power of two",
                v.type_description()
            )),
        },
    }
}

/// Everything before the tensor data, parsed and checked against the file length.
#[derive(Clone, Debug)]
pub struct GgufHeader {
    pub metadata: Metadata,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    /// Absolute byte offset of the data section.
    pub data_offset: u64,
}

impl GgufHeader {
    /// Parses and validates a whole GGUF image (used by [`GgufFile::open`] and the fuzzer):
    /// after this, every tensor's data lies inside `bytes`.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self> {
        let mut cur = Cursor::new(bytes, path);
        read_preamble(&mut cur)?;
        let n_tensors = cur.u64("tensor count")?;
        let n_kv = cur.u64("metadata count")?;
        check_count(&cur, n_kv, MIN_KV_BYTES, "metadata count", 16)?;
        check_count(&cur, n_tensors, MIN_TENSOR_INFO_BYTES, "tensor count", 8)?;

        let metadata = read_metadata(&mut cur, n_kv)?;
        check_count(&cur, n_tensors, MIN_TENSOR_INFO_BYTES, "tensor count", 8)?;
        let alignment = alignment_of(&metadata).map_err(|e| cur.corrupt(e))?;
        let mut tensors = Vec::with_capacity(n_tensors as usize);
        let mut names = HashSet::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let at = cur.pos();
            let info = read_tensor_info(&mut cur, i)?;
            if !names.insert(info.name.clone()) {
                return Err(cur.corrupt(format!(
                    "duplicate tensor name `{}` (tensor info {i} at byte offset {at})",
                    info.name
                )));
            }
            tensors.push(info);
        }

        let header_end = cur.pos() as u64;
        let data_offset = align_up(header_end, alignment).ok_or_else(|| {
            cur.corrupt(format!("alignment {alignment} overflows the data offset"))
        })?;
        let header = GgufHeader {
            metadata,
            tensors,
            alignment,
            data_offset,
        };
        header.check_data_ranges(bytes.len() as u64, path)?;
        Ok(header)
    }

    fn check_data_ranges(&self, file_len: u64, path: &Path) -> Result<()> {
        if !self.tensors.is_empty() && self.data_offset > file_len {
            return Err(Error::corrupt(
                path,
                format!(
                    "data section starts at byte offset {} (aligned to {}), past the end of the file ({file_len} bytes)",
                    self.data_offset, self.alignment
                ),
            ));
        }
        for t in &self.tensors {
            if !t.offset.is_multiple_of(self.alignment) {
                return Err(Error::corrupt(
                    path,
                    format!(
                        "tensor `{}`: data offset {} is not a multiple of the alignment {}",
                        t.name, t.offset, self.alignment
                    ),
                ));
            }
            let range = self.data_range(t);
            match range {
                Some((_, end)) if end <= file_len => {}
                _ => {
                    return Err(Error::corrupt(
                        path,
                        format!(
                            "tensor `{}`: {} bytes of data at byte offset {} + {} lie outside the file ({file_len} bytes)",
                            t.name, t.n_bytes, self.data_offset, t.offset
                        ),
                    ))
                }
            }
        }
        self.check_no_overlap(path)
    }

    /// Two tensors reading the same bytes would silently share weights: refused. Empty
    /// tensors hold no bytes and may sit anywhere.
    fn check_no_overlap(&self, path: &Path) -> Result<()> {
        let mut by_offset: Vec<&TensorInfo> =
            self.tensors.iter().filter(|t| t.n_bytes > 0).collect();
        by_offset.sort_by_key(|t| t.offset);
        for pair in by_offset.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            // Cannot overflow: every range was checked to lie inside the file.
            if b.offset < a.offset + a.n_bytes {
                return Err(Error::corrupt(
                    path,
                    format!(
                        "the data of tensors `{}` (offset {}, {} bytes) and `{}` (offset {}, {} bytes) overlap",
                        a.name, a.offset, a.n_bytes, b.name, b.offset, b.n_bytes
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Absolute [start, end) of a tensor's data, or None on overflow.
    fn data_range(&self, info: &TensorInfo) -> Option<(u64, u64)> {
        let start = self.data_offset.checked_add(info.offset)?;
        Some((start, start.checked_add(info.n_bytes)?))
    }

    /// A tensor's bytes within the whole image `bytes`; None if they do not lie inside it
    /// (never for a tensor of this header over the image it was parsed from).
    pub fn tensor_data<'a>(&self, bytes: &'a [u8], info: &TensorInfo) -> Option<&'a [u8]> {
        let (start, end) = self.data_range(info)?;
        bytes.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

fn read_preamble(cur: &mut Cursor) -> Result<()> {
    let magic = cur.take(4, "magic")?;
    if magic != MAGIC {
        return Err(cur.corrupt(format!(
            "not a GGUF file: magic {magic:02x?} at byte offset 0 (expected \"GGUF\")"
        )));
    }
    let version = cur.u32("version")?;
    match version {
        3 => Ok(()),
        1 | 2 => Err(Error::unsupported(
            cur.path(),
            format!("GGUF version {version} is not supported (only version 3); re-convert the model with a current llama.cpp"),
        )),
        v if v.swap_bytes() == 3 => Err(Error::unsupported(
            cur.path(),
            "big-endian GGUF is not supported (only little-endian version 3)",
        )),
        v => Err(Error::unsupported(
            cur.path(),
            format!("GGUF version {v} at byte offset 4 is not supported (only version 3)"),
        )),
    }
}

/// Errors when `count` items of at least `min_bytes` each cannot fit in what is left.
fn check_count(cur: &Cursor, count: u64, min_bytes: u64, what: &str, at: usize) -> Result<()> {
    let left = cur.remaining() as u64;
    if count > left / min_bytes {
        return Err(cur.corrupt(format!(
            "{what} {count} (at byte offset {at}) cannot fit in the {left} bytes left after byte offset {}",
            cur.pos()
        )));
    }
    Ok(())
}

/// Parsed metadata may take at most this many times its size on disk in memory (plus
/// `METADATA_MEMORY_SLACK`). Arrays are compact ([`Array`]: one byte per `uint8` element, a
/// string's bytes plus its end offset), so only scalars and arrays of arrays, one [`Value`]
/// each, come near it.
pub const METADATA_MEMORY_FACTOR: u64 = 8;

/// Memory parsed metadata may take beyond `METADATA_MEMORY_FACTOR` times its size on disk
/// (16 MiB: small byte arrays such as a precompiled character map stay readable).
pub const METADATA_MEMORY_SLACK: u64 = 16 << 20;

/// The memory the values parsed so far take, against the bytes they came from.
struct MemoryTally {
    /// Where the metadata starts in the file.
    start: usize,
    /// Bytes of `Value`s, array elements and entries parsed so far (string heap excluded,
    /// which is never more than the string's bytes on disk).
    value_bytes: u64,
}

/// The bytes one element of type `elem` takes in memory: in an [`Array`] when `in_array`, else
/// as a [`Value`].
fn bytes_in_memory(elem: ValueType, in_array: bool) -> u64 {
    let bytes = match (in_array, elem) {
        (true, ValueType::String) => std::mem::size_of::<usize>(),
        (true, ValueType::Array) | (false, _) => std::mem::size_of::<Value>(),
        (true, fixed) => fixed.fixed_size().unwrap_or(std::mem::size_of::<Value>()),
    };
    bytes as u64
}

impl MemoryTally {
    /// Accounts for `count` values of `elem` about to be parsed at the cursor; errors, before
    /// anything is allocated, when they would take more memory than the metadata may.
    fn reserve(
        &mut self,
        cur: &Cursor,
        count: u64,
        elem: ValueType,
        in_array: bool,
        ctx: &str,
        at: usize,
    ) -> Result<()> {
        let value_size = bytes_in_memory(elem, in_array);
        let in_memory = self
            .value_bytes
            .saturating_add(count.saturating_mul(value_size));
        let on_disk =
            (cur.pos() - self.start) as u64 + count.saturating_mul(elem.min_encoded_size() as u64);
        let allowed = on_disk
            .saturating_mul(METADATA_MEMORY_FACTOR)
            .saturating_add(METADATA_MEMORY_SLACK);
        if in_memory > allowed {
            return Err(cur.corrupt(format!(
                "{ctx}: array at byte offset {at} of {count} {elem} elements would take {in_memory} \
                 bytes in memory, more than {METADATA_MEMORY_FACTOR} times the metadata's {on_disk} \
                 bytes on disk (+ {} MiB)",
                METADATA_MEMORY_SLACK >> 20
            )));
        }
        self.value_bytes = in_memory;
        Ok(())
    }
}

fn read_metadata(cur: &mut Cursor, n_kv: u64) -> Result<Metadata> {
    let mut metadata = Metadata::new();
    let mut tally = MemoryTally {
        start: cur.pos(),
        value_bytes: 0,
    };
    for i in 0..n_kv {
        let at = cur.pos();
        let raw_key = cur.raw_string(&format!("metadata entry {i}: key"))?;
        let key = std::str::from_utf8(raw_key).map_err(|e| {
            cur.corrupt(format!(
                "metadata entry {i}: key {:?} at byte offset {at} is not valid UTF-8 ({e})",
                String::from_utf8_lossy(raw_key)
            ))
        })?;
        let ctx = format!("key `{key}`");
        let type_at = cur.pos();
        let type_id = cur.u32(&ctx)?;
        let ty = ValueType::from_id(type_id).ok_or_else(|| {
            cur.corrupt(format!(
                "{ctx}: unknown value type id {type_id} at byte offset {type_at}"
            ))
        })?;
        // The entry, its index slot and their two copies of the key, beyond the value.
        let entry_bytes = std::mem::size_of::<(String, Value)>()
            + std::mem::size_of::<(String, usize)>()
            + 2 * key.len();
        tally.value_bytes = tally.value_bytes.saturating_add(entry_bytes as u64);
        tally.reserve(cur, 1, ty, false, &ctx, type_at)?;
        let value = read_value(cur, ty, &ctx, 0, &mut tally)?;
        if metadata.contains(key) {
            return Err(cur.corrupt(format!(
                "duplicate metadata key `{key}` at byte offset {at}"
            )));
        }
        metadata.set(key, value);
    }
    Ok(metadata)
}

fn read_value(
    cur: &mut Cursor,
    ty: ValueType,
    ctx: &str,
    depth: usize,
    tally: &mut MemoryTally,
) -> Result<Value> {
    Ok(match ty {
        ValueType::U8 => Value::U8(cur.u8(ctx)?),
        ValueType::I8 => Value::I8(cur.i8(ctx)?),
        ValueType::U16 => Value::U16(cur.u16(ctx)?),
        ValueType::I16 => Value::I16(cur.i16(ctx)?),
        ValueType::U32 => Value::U32(cur.u32(ctx)?),
        ValueType::I32 => Value::I32(cur.i32(ctx)?),
        ValueType::F32 => Value::F32(cur.f32(ctx)?),
        ValueType::U64 => Value::U64(cur.u64(ctx)?),
        ValueType::I64 => Value::I64(cur.i64(ctx)?),
        ValueType::F64 => Value::F64(cur.f64(ctx)?),
        ValueType::Bool => {
            let at = cur.pos();
            match cur.u8(ctx)? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => {
                    return Err(cur.corrupt(format!(
                        "{ctx}: bool at byte offset {at} has byte value {b} (expected 0 or 1)"
                    )))
                }
            }
        }
        ValueType::String => Value::String(cur.string(ctx)?.to_string()),
        ValueType::Array => read_array(cur, ctx, depth, tally)?,
    })
}

fn read_array(cur: &mut Cursor, ctx: &str, depth: usize, tally: &mut MemoryTally) -> Result<Value> {
    let at = cur.pos();
    if depth >= MAX_ARRAY_DEPTH {
        return Err(cur.corrupt(format!(
            "{ctx}: arrays nested deeper than {MAX_ARRAY_DEPTH} at byte offset {at}"
        )));
    }
    let type_id = cur.u32(ctx)?;
    let elem = ValueType::from_id(type_id).ok_or_else(|| {
        cur.corrupt(format!(
            "{ctx}: array at byte offset {at} has unknown element type id {type_id}"
        ))
    })?;
    let count = cur.u64(ctx)?;
    let left = cur.remaining() as u64;
    if count > left / elem.min_encoded_size() as u64 {
        return Err(cur.corrupt(format!(
            "{ctx}: array at byte offset {at} claims {count} {elem} elements, which cannot fit in the {left} bytes left"
        )));
    }
    tally.reserve(cur, count, elem, true, ctx, at)?;
    if let Some(size) = elem.fixed_size().filter(|_| elem != ValueType::Bool) {
        // Whole numbers at once: `count` of them fit in what is left (checked above).
        let bytes = cur.take(count.saturating_mul(size as u64), ctx)?;
        if let Some(items) = Array::from_le_bytes(elem, bytes) {
            return Ok(Value::Array(items));
        }
    }
    let mut items = Array::with_capacity(elem, count as usize);
    for _ in 0..count {
        let item = read_value(cur, elem, ctx, depth + 1, tally)?;
        // Cannot fail: read_value gives an `elem`.
        let _ = items.push(item);
    }
    Ok(Value::Array(items))
}

fn read_tensor_info(cur: &mut Cursor, index: u64) -> Result<TensorInfo> {
    let at = cur.pos();
    let name = cur
        .string(&format!("tensor info {index} (at byte offset {at}): name"))?
        .to_string();
    let ctx = format!("tensor `{name}` (info at byte offset {at})");
    let n_dims = cur.u32(&ctx)?;
    if n_dims > MAX_DIMS {
        return Err(cur.corrupt(format!("{ctx}: {n_dims} dims (at most {MAX_DIMS})")));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        let d = cur.u64(&ctx)?;
        if d > i64::MAX as u64 {
            return Err(cur.corrupt(format!("{ctx}: dim {d} is out of range")));
        }
        dims.push(d);
    }
    let dims = GgmlDims(dims);
    let type_at = cur.pos();
    let type_id = cur.u32(&ctx)?;
    let ty = GgmlType::from_id(type_id).ok_or_else(|| {
        Error::unsupported(
            cur.path(),
            format!(
                "{ctx}: unknown or unsupported ggml type id {type_id} at byte offset {type_at}"
            ),
        )
    })?;
    let offset = cur.u64(&ctx)?;
    let n_bytes = tensor_n_bytes(ty, &dims).map_err(|e| cur.corrupt(format!("{ctx}: {e}")))?;
    Ok(TensorInfo {
        name,
        dims,
        ty,
        offset,
        n_bytes,
    })
}

/// Where the bytes of a [`GgufFile`] live. Either way they are one read-only, page-aligned
/// `&[u8]` of the whole file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// A read-only mapping of the file: nothing is copied, opening is fast, the pages are the
    /// page cache's (shared with other processes mapping the same file, dropped and read
    /// again under memory pressure). The file must not be truncated or rewritten while open.
    Mapped,
    /// The file read at open into anonymous memory advised to use transparent huge pages
    /// (Linux): opening reads the whole file and the pages are this process's own, but a
    /// pass over the weights takes a TLB miss per 2 MiB instead of per 4 KiB page and the
    /// hardware prefetchers are not stopped at every 4 KiB boundary. Later changes to the
    /// file do not matter.
    Resident,
}

impl Storage {
    /// "mapped" or "resident", as reports print it.
    pub fn name(self) -> &'static str {
        match self {
            Storage::Mapped => "mapped",
            Storage::Resident => "resident",
        }
    }
}

impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Bytes read per `read` call when a file is loaded [`Storage::Resident`].
const READ_CHUNK: usize = 8 << 20;
/// Transparent huge page size on x86-64 and most aarch64 kernels: a resident copy is
/// allocated in whole multiples of it, so that the kernel places it on a huge-page boundary
/// (Linux aligns anonymous mappings whose length is a multiple of it) and its first and last
/// bytes are in huge pages too.
const HUGE_PAGE: usize = 2 << 20;

/// A GGUF file in memory: its parsed header and its bytes ([`Storage`]).
pub struct GgufFile {
    pub path: PathBuf,
    pub header: GgufHeader,
    /// The whole file; a resident copy's mapping may be longer (rounded to huge pages).
    memory: memmap2::Mmap,
    /// The file's length: `memory[..len]` is the file.
    len: usize,
    storage: Storage,
}

impl GgufFile {
    /// Maps the file ([`Storage::Mapped`]) and parses its header.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_as(path, Storage::Mapped)
    }

    /// Opens the file with its bytes in `storage` and parses its header. Errors: the file is
    /// not a regular file, cannot be read or mapped, its resident copy cannot be allocated, or
    /// its header is malformed; each names the file.
    pub fn open_as(path: &Path, storage: Storage) -> Result<Self> {
        let file = crate::regular_file::open_regular(path)?;
        let (memory, len) = match storage {
            Storage::Mapped => {
                // SAFETY: the mapping is read-only and private to this process; like every
                // mmap reader we rely on the file not being truncated or rewritten while it
                // is mapped.
                let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
                let len = mmap.len();
                (mmap, len)
            }
            Storage::Resident => read_resident(file, path)?,
        };
        let header = GgufHeader::parse(&memory[..len], path)?;
        Ok(GgufFile {
            path: path.to_path_buf(),
            header,
            memory,
            len,
            storage,
        })
    }

    /// Where the file's bytes live.
    pub fn storage(&self) -> Storage {
        self.storage
    }

    /// True when the bytes are a mapping of the file ([`Storage::Mapped`]): its pages can be
    /// dropped (`MADV_DONTNEED`) and read back from the file.
    pub fn is_mapped(&self) -> bool {
        self.storage == Storage::Mapped
    }

    pub fn metadata(&self) -> &Metadata {
        &self.header.metadata
    }
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.header.tensors
    }
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.header.tensor(name)
    }
    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.memory[..self.len]
    }
    /// The tensor's bytes, a slice of [`GgufFile::bytes`]. Those start on a page boundary
    /// (mapped or resident) and data offsets are multiples of the alignment (>= 32 by
    /// default), so the slice can be cast to blocks. An info that does not belong to this
    /// file and lies outside it gives an empty slice.
    pub fn tensor_data(&self, info: &TensorInfo) -> &[u8] {
        self.header.tensor_data(self.bytes(), info).unwrap_or(&[])
    }
    /// The tensor's data as a slice of `T` (f32, f16, a block type), checking that the bytes
    /// are exactly a whole number of `T` and aligned for it.
    pub fn tensor_as<T: bytemuck::Pod>(&self, info: &TensorInfo) -> Result<&[T]> {
        let data = self.header.tensor_data(self.bytes(), info).ok_or_else(|| {
            Error::corrupt(
                &self.path,
                format!("tensor `{}`: data lies outside the file", info.name),
            )
        })?;
        bytemuck::try_cast_slice(data).map_err(|e| {
            Error::corrupt(
                &self.path,
                format!(
                    "tensor `{}`: {} bytes of {} cannot be viewed as {} ({e:?})",
                    info.name,
                    data.len(),
                    info.ty,
                    std::any::type_name::<T>()
                ),
            )
        })
    }
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("storage", &self.storage)
            .finish_non_exhaustive()
    }
}

/// The bytes of `file` read into a fresh anonymous mapping advised `MADV_HUGEPAGE`, then made
/// read-only: (the mapping, the file's length). The file is read with `read`, not through a
/// mapping, so the process never holds its pages twice. Errors name `path`: the copy cannot
/// be allocated, or the file cannot be read whole (e.g. it shrank since it was opened).
fn read_resident(mut file: std::fs::File, path: &Path) -> Result<(memmap2::Mmap, usize)> {
    use std::io::Read;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    let len = usize::try_from(meta.len()).map_err(|_| {
        Error::unsupported(path, format!("{} bytes do not fit in memory", meta.len()))
    })?;
    let no_room = |e: std::io::Error| {
        let what = format!("cannot allocate {len} bytes to read the file into memory ({e})");
        Error::io(path, std::io::Error::new(e.kind(), what))
    };
    let rounded = len
        .checked_next_multiple_of(HUGE_PAGE)
        .ok_or_else(|| no_room(std::io::Error::from(std::io::ErrorKind::OutOfMemory)))?;
    let mut memory = memmap2::MmapMut::map_anon(rounded).map_err(no_room)?;
    // Huge pages are an optimization: without them (THP off, another OS) the copy works
    // the same with small pages.
    #[cfg(target_os = "linux")]
    let _ = memory.advise(memmap2::Advice::HugePage);
    for chunk in memory[..len].chunks_mut(READ_CHUNK) {
        file.read_exact(chunk).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Error::corrupt(
                path,
                format!("the file ended before its {len} bytes were read (truncated meanwhile)"),
            ),
            _ => Error::io(path, e),
        })?;
    }
    let memory = memory.make_read_only().map_err(|e| Error::io(path, e))?;
    Ok((memory, len))
}
