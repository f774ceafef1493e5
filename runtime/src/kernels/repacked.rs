//! Q4_0 and Q8_0 matrices repacked at load, four rows interleaved (the idea of ggml's
//! `block_q4_0x4`, our own layout): one block holds block b of rows 4g..4g+4, their quants
//! first, interleaved four bytes at a time, then their four f16 scales. The dotprod kernels
//! multiply one SDOT-by-element against the four rows at once and need no horizontal sum
//! (`arm::dotprod::repacked`). Made only where those kernels run (`model::repack`); every
//! table has an entry for them so that a model repacked for dotprod also runs on any ISA.
//!
//! Exactness: each block's integer sum is exact, so a kernel over this layout gives the bits
//! of its table's dot over the row as the file stores it when it scales the same way: the
//! generic entries here scale in the generic order, the ARM ones in the ARM order.

use super::generic::{scale_q4_0, scale_q8_0};
use edge_formats::blocks::nibbles::unpack_q4;
use edge_formats::blocks::Block;
use edge_formats::{BlockQ4_0, BlockQ8_0, QK};
use half::f16;
use std::mem::size_of;

/// Rows a repacked block interleaves.
pub const ROWS: usize = 4;

/// Block b of four Q4_0 rows. `qs[16c + 4r + j]` is byte `4c + j` of row r's block, XORed
/// with 0x88 so that each nibble n reads as the signed 4-bit value n - 8 (`shl 4` and
/// `and 0xF0` then give (n - 8) * 16 as i8); `d[r]` is row r's scale.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ4_0x4 {
    pub qs: [u8; ROWS * QK / 2],
    pub d: [f16; ROWS],
}

/// Block b of four Q8_0 rows. `qs[16c + 4r + j]` is value `4c + j` of row r's block; `d[r]`
/// is row r's scale.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ8_0x4 {
    pub qs: [i8; ROWS * QK],
    pub d: [f16; ROWS],
}

const _: () = assert!(size_of::<BlockQ4_0x4>() == ROWS * size_of::<BlockQ4_0>());
const _: () = assert!(size_of::<BlockQ8_0x4>() == ROWS * size_of::<BlockQ8_0>());

/// The XOR that makes a stored nibble read as a signed value (see [`BlockQ4_0x4`]).
const NIBBLE_FLIP: u8 = 0x88;

/// w (rows, nb) -> (rows / 4, nb) blocks of four rows: group g's blocks are
/// `[g * nb, (g + 1) * nb)`. None when rows is not a multiple of 4 or w is not rows * nb
/// blocks (the matrix then keeps the file's layout), or the copy cannot be allocated.
pub fn repack_q4_0(w: &[BlockQ4_0], nb: usize) -> Option<Vec<BlockQ4_0x4>> {
    let mut out = Vec::new();
    out.try_reserve_exact(w.len() / ROWS).ok()?;
    extend_q4_0(&mut out, w, nb)?;
    Some(out)
}

/// [`repack_q4_0`] appending to `out` (which then holds the groups of several calls in
/// order: a matrix can be repacked a few rows at a time). None, and nothing appended, when w
/// is not whole groups of rows of nb blocks.
pub fn extend_q4_0(out: &mut Vec<BlockQ4_0x4>, w: &[BlockQ4_0], nb: usize) -> Option<()> {
    let groups = groups_of(w.len(), nb)?;
    for g in 0..groups {
        for b in 0..nb {
            let row = |r: usize| &w[(ROWS * g + r) * nb + b];
            let mut block = BlockQ4_0x4 {
                qs: [0; ROWS * QK / 2],
                d: [f16::ZERO; ROWS],
            };
            for r in 0..ROWS {
                block.d[r] = row(r).d;
                for (i, &q) in row(r).qs.iter().enumerate() {
                    block.qs[16 * (i / 4) + 4 * r + i % 4] = q ^ NIBBLE_FLIP;
                }
            }
            out.push(block);
        }
    }
    Some(())
}

/// w (rows, nb) -> (rows / 4, nb) blocks of four rows, as [`repack_q4_0`].
pub fn repack_q8_0(w: &[BlockQ8_0], nb: usize) -> Option<Vec<BlockQ8_0x4>> {
    let mut out = Vec::new();
    out.try_reserve_exact(w.len() / ROWS).ok()?;
    extend_q8_0(&mut out, w, nb)?;
    Some(out)
}

/// [`repack_q8_0`] appending to `out`, as [`extend_q4_0`].
pub fn extend_q8_0(out: &mut Vec<BlockQ8_0x4>, w: &[BlockQ8_0], nb: usize) -> Option<()> {
    let groups = groups_of(w.len(), nb)?;
    for g in 0..groups {
        for b in 0..nb {
            let row = |r: usize| &w[(ROWS * g + r) * nb + b];
            let mut block = BlockQ8_0x4 {
                qs: [0; ROWS * QK],
                d: [f16::ZERO; ROWS],
            };
            for r in 0..ROWS {
                block.d[r] = row(r).d;
                for (i, &q) in row(r).qs.iter().enumerate() {
                    block.qs[16 * (i / 4) + 4 * r + i % 4] = q;
                }
            }
            out.push(block);
        }
    }
    Some(())
}

/// Groups of four rows in `len` blocks of rows of `nb` blocks (None: not whole groups).
fn groups_of(len: usize, nb: usize) -> Option<usize> {
    let rows = len.checked_div(nb)?;
    (rows * nb == len && rows.is_multiple_of(ROWS)).then_some(rows / ROWS)
}

/// Row r's block (the file's layout) of a repacked block.
pub fn unpack_q4_0(w: &BlockQ4_0x4, r: usize) -> BlockQ4_0 {
    let mut b = BlockQ4_0 {
        d: w.d[r],
        qs: [0; QK / 2],
    };
    for (i, q) in b.qs.iter_mut().enumerate() {
        *q = w.qs[16 * (i / 4) + 4 * r + i % 4] ^ NIBBLE_FLIP;
    }
    b
}

/// Row r's block (the file's layout) of a repacked block.
pub fn unpack_q8_0(w: &BlockQ8_0x4, r: usize) -> BlockQ8_0 {
    let mut b = BlockQ8_0 {
        d: w.d[r],
        qs: [0; QK],
    };
    for (i, q) in b.qs.iter_mut().enumerate() {
        *q = w.qs[16 * (i / 4) + 4 * r + i % 4];
    }
    b
}

/// w (groups * 4 rows, row_len) @ x (row_len) -> out (rows), each row's dot by `dot_row`
/// over its blocks unpacked to the file's layout: rows = min(out.len(), 4 * groups).
#[inline(always)]
pub fn rows_by_unpacking<W, B, X>(
    out: &mut [f32],
    w: &[W],
    row_len: usize,
    x: &[X],
    unpack: impl Fn(&W, usize) -> B,
    dot_row: impl Fn(&mut dyn Iterator<Item = B>, &[X]) -> f32,
) {
    if row_len == 0 {
        out.fill(0.0);
        return;
    }
    for (i, o) in out.iter_mut().enumerate() {
        let Some(group) = w.get(i / ROWS * row_len..(i / ROWS + 1) * row_len) else {
            return;
        };
        *o = dot_row(&mut group.iter().map(|b| unpack(b, i % ROWS)), x);
    }
}

/// The generic Q4_0 matvec over the repacked layout: each row the bits of
/// `generic::dot_q4_0_q8_0` of the row.
// w (rows, row_len) @ x (row_len) -> out (rows)
pub fn matvec_q4_0x4(out: &mut [f32], w: &[BlockQ4_0x4], row_len: usize, x: &[BlockQ8_0]) {
    rows_by_unpacking(out, w, row_len, x, unpack_q4_0, |blocks, x| {
        let mut sumf = 0.0f32;
        for (a, b) in blocks.zip(x) {
            let mut sumi = 0i32;
            for (&q, &y) in unpack_q4(&a.qs).iter().zip(&b.qs) {
                sumi += (i32::from(q) - 8) * i32::from(y);
            }
            sumf = scale_q4_0(sumf, sumi, &a, b);
        }
        sumf
    })
}

/// The generic Q8_0 matvec over the repacked layout: each row the bits of
/// `generic::dot_q8_0_q8_0` of the row.
// w (rows, row_len) @ x (row_len) -> out (rows)
pub fn matvec_q8_0x4(out: &mut [f32], w: &[BlockQ8_0x4], row_len: usize, x: &[BlockQ8_0]) {
    rows_by_unpacking(out, w, row_len, x, unpack_q8_0, |blocks, x| {
        let mut sumf = 0.0f32;
        for (a, b) in blocks.zip(x) {
            let mut sumi = 0i32;
            for (&q, &y) in a.qs.iter().zip(&b.qs) {
                sumi += i32::from(q) * i32::from(y);
            }
            sumf = scale_q8_0(sumf, sumi, &a, b);
        }
        sumf
    })
}

/// Row `row` of a repacked (rows, k) matrix -> out (k) as f32 (the embedding lookup of a
/// repacked token_embd), by the file layout's scalar decoder. Writes min(out.len(), k)
/// values, zeros for a row outside the matrix.
fn dequantize_row<W, B: Block>(
    w: &[W],
    k: usize,
    row: usize,
    out: &mut [f32],
    unpack: impl Fn(&W, usize) -> B,
) {
    let nb = k / QK;
    let k = k.min(out.len());
    let out = &mut out[..k];
    out.fill(0.0);
    let Some(group) = w.get(row / ROWS * nb..(row / ROWS + 1) * nb) else {
        return;
    };
    for (block, o) in group.iter().zip(out.chunks_mut(QK)) {
        unpack(block, row % ROWS).dequantize(o);
    }
}

/// Row `row` of a repacked Q4_0 (rows, k) matrix -> out (k), see [`dequantize_row`].
pub fn dequantize_row_q4_0x4(w: &[BlockQ4_0x4], k: usize, row: usize, out: &mut [f32]) {
    dequantize_row(w, k, row, out, unpack_q4_0)
}

/// Row `row` of a repacked Q8_0 (rows, k) matrix -> out (k), see [`dequantize_row`].
pub fn dequantize_row_q8_0x4(w: &[BlockQ8_0x4], k: usize, row: usize, out: &mut [f32]) {
    dequantize_row(w, k, row, out, unpack_q8_0)
}
