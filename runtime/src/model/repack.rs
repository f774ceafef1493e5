//! Weights repacked at load for the dotprod kernels: every Q4_0 and Q8_0 matrix whose row
//! count is a multiple of 4 gets a copy in the four-row layout of `kernels::repacked`, its
//! views then read the copy, and when the file is mapped, the mapped pages of what was copied
//! are given back to the kernel as the copy proceeds (`release_mapped`), so resident memory
//! stays about the file's size (the copies are as large as what they copy). A file read into
//! anonymous memory (`Storage::Resident`, not the default on ARM) keeps its pages: an
//! anonymous page given back would read as zeros, so its copies come on top of the file.
//! Only when the ISA the process detects is dotprod (`EDGE_ISA` honoured): elsewhere the
//! file's layout is read in place.

use crate::kernels::repacked::{extend_q4_0, extend_q8_0, BlockQ4_0x4, BlockQ8_0x4, ROWS};
use crate::kernels::{MatData, Matrix};
use crate::{Error, Isa, Result};
use std::collections::HashMap;

/// A repacked copy of one matrix.
enum Copy {
    Q4_0(Box<[BlockQ4_0x4]>),
    Q8_0(Box<[BlockQ8_0x4]>),
}

/// The repacked copies of one model's matrices, by the address of the data they copy (a
/// tied output shares token_embd's copy). The heap buffers never move, so views into them
/// stay valid while this lives.
#[derive(Default)]
pub(crate) struct Repacked {
    copies: HashMap<usize, Copy>,
    bytes: u64,
}

/// Rows repacked between two releases of mapped pages (a multiple of 4).
const CHUNK_ROWS: usize = 256;

/// w (rows, nb) repacked by `extend` CHUNK_ROWS rows at a time, each chunk's pages in
/// `mapping` (the file's mapping, None for a resident file) released once copied. None when
/// the copy cannot be allocated or w is not whole groups.
fn by_chunks<B, P>(
    w: &[B],
    nb: usize,
    mapping: Option<&[u8]>,
    extend: fn(&mut Vec<P>, &[B], usize) -> Option<()>,
) -> Option<Vec<P>> {
    let mut out = Vec::new();
    out.try_reserve_exact(w.len() / ROWS).ok()?;
    // Each release also covers the previous chunk, so the page two chunks share goes too.
    let mut previous = w.as_ptr() as usize;
    for chunk in w.chunks(CHUNK_ROWS * nb) {
        extend(&mut out, chunk, nb)?;
        let end = chunk.as_ptr() as usize + std::mem::size_of_val(chunk);
        if let Some(mapping) = mapping {
            release_mapped(mapping, (previous, end - previous));
        }
        previous = chunk.as_ptr() as usize;
    }
    Some(out)
}

/// True when matrices should be repacked: the kernels the process detects are dotprod's.
pub(crate) fn wanted() -> bool {
    Isa::detect().is_ok_and(|isa| isa.name() == "dotprod")
}

impl Repacked {
    /// Copies every Q4_0 and Q8_0 matrix of `matrices` with a multiple of 4 rows (each data
    /// range once), [`CHUNK_ROWS`] rows at a time, giving back the pages of each chunk in
    /// `mapping` (the file's read-only mapping) once it is copied: resident memory grows by
    /// about one chunk over the file's size, never by a second copy of the weights. `mapping`
    /// must be None unless the bytes are a file mapping (a resident file's anonymous pages
    /// cannot be given back). Errors: [`Error::Model`] when a copy cannot be allocated.
    pub(crate) fn of<'m>(
        matrices: impl Iterator<Item = &'m Matrix<'m>>,
        mapping: Option<&[u8]>,
    ) -> Result<Self> {
        let mut out = Repacked::default();
        for m in matrices {
            let nb = m.k / edge_formats::QK;
            let (key, bytes) = match m.data {
                MatData::Q4_0(d) => (d.as_ptr() as usize, std::mem::size_of_val(d)),
                MatData::Q8_0(d) => (d.as_ptr() as usize, std::mem::size_of_val(d)),
                _ => continue,
            };
            if nb == 0 || !m.rows.is_multiple_of(4) || out.copies.contains_key(&key) {
                continue;
            }
            let no_room = || {
                Error::Model(format!(
                    "{} matrix ({}, {}): cannot allocate {bytes} bytes to repack it",
                    m.data.ggml_type(),
                    m.rows,
                    m.k
                ))
            };
            let copy = match m.data {
                MatData::Q4_0(d) => Copy::Q4_0(
                    by_chunks(d, nb, mapping, extend_q4_0)
                        .ok_or_else(no_room)?
                        .into(),
                ),
                MatData::Q8_0(d) => Copy::Q8_0(
                    by_chunks(d, nb, mapping, extend_q8_0)
                        .ok_or_else(no_room)?
                        .into(),
                ),
                _ => continue,
            };
            out.bytes += bytes as u64;
            out.copies.insert(key, copy);
        }
        Ok(out)
    }

    /// The view of `m` in its repacked copy, or `m` itself when it has none.
    pub(crate) fn view<'a>(&'a self, m: Matrix<'a>) -> Matrix<'a> {
        let key = match m.data {
            MatData::Q4_0(d) => d.as_ptr() as usize,
            MatData::Q8_0(d) => d.as_ptr() as usize,
            _ => return m,
        };
        let data = match self.copies.get(&key) {
            Some(Copy::Q4_0(c)) => MatData::Q4_0x4(c),
            Some(Copy::Q8_0(c)) => MatData::Q8_0x4(c),
            None => return m,
        };
        Matrix { data, ..m }
    }

    /// Bytes of the copies (the same as the data they copy).
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Gives back to the kernel the resident pages of `range` (a slice of the read-only file
/// mapping `mapping`): the whole pages inside it. Nothing happens for a range outside the
/// mapping (an aligned copy's) or where the platform has no `madvise`. `mapping` must map a
/// file: never call this on anonymous memory (a `Storage::Resident` file), whose pages would
/// come back as zeros under live `&[u8]` views.
pub(crate) fn release_mapped(mapping: &[u8], range: (usize, usize)) {
    let (start, len) = range;
    let map_start = mapping.as_ptr() as usize;
    if start < map_start || start + len > map_start + mapping.len() {
        return;
    }
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0);
        if page == 0 {
            return;
        }
        let first = start.next_multiple_of(page);
        let end = (start + len) / page * page;
        if end > first {
            // SAFETY: [first, end) is whole pages inside the mapping, which the caller
            // guarantees is a read-only mapping of a file (never anonymous memory:
            // `Repacked::of` gets None for a resident file) that we never write:
            // MADV_DONTNEED only drops its resident pages, and a later read (none is
            // expected: the views now point at the copies) faults the same bytes back in from
            // the file. No reference sees other contents, so it is sound even though `&[u8]`
            // views of the range still exist.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_DONTNEED);
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Write;

    /// The process's resident file-backed bytes (RssFile of /proc/self/status).
    fn rss_file() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let line = status.lines().find(|l| l.starts_with("RssFile:"));
        let kib = line.and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok());
        kib.unwrap_or(0) * 1024
    }

    #[test]
    fn releasing_a_range_drops_its_pages_and_keeps_its_bytes() {
        const LEN: usize = 32 << 20;
        let mut file = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..LEN).map(|i| (i * 7 % 251) as u8).collect();
        file.write_all(&data).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: a fresh read-only private mapping of LEN bytes of a file we own, unmapped
        // below; nothing else refers to it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                LEN,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        // SAFETY: the mapping is LEN readable bytes and lives until munmap below.
        let mapping = unsafe { std::slice::from_raw_parts(ptr as *const u8, LEN) };
        let sum = |s: &[u8]| s.iter().map(|&b| u64::from(b)).sum::<u64>();
        let before = sum(mapping);
        let resident = rss_file();
        // A range with ragged ends: its whole pages go, the partial ones at its ends stay.
        release_mapped(mapping, (ptr as usize + 100, LEN - 200));
        let released = resident.saturating_sub(rss_file());
        assert!(
            released >= (LEN as u64) * 9 / 10,
            "{released} of {LEN} bytes released"
        );
        assert_eq!(sum(mapping), before, "the bytes read back from the file");
        // A range outside the mapping is left alone.
        release_mapped(&mapping[..4096], (ptr as usize + 8192, 4096));
        // SAFETY: the mapping made above, no longer referenced.
        unsafe { libc::munmap(ptr, LEN) };
    }
}
