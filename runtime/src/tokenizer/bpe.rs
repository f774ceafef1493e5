//! Rank-ordered BPE merging over one word: a doubly linked list of symbols and a min-heap of
//! candidate pairs keyed by (merge rank, left position), as the Hugging Face `tokenizers`
//! library's `Word::merge_all` and llama.cpp's `llm_tokenizer_bpe_session` do. O(n log n) in
//! the word length, so a 1 MB "word" (a SentencePiece-style text with no pre-tokenizer) is fine.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// No neighbour.
const NONE: u32 = u32::MAX;

/// A multiplicative hasher for the merge table's u64 keys (two token ids); keys are not
/// attacker-chosen in a way that matters here, and SipHash would dominate the merge loop.
#[derive(Default)]
pub(crate) struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.0 ^= self.0 >> 32;
    }
}

/// (left id, right id) -> (rank, merged id). Rank is the merge's index in the merge list.
#[derive(Clone, Debug, Default)]
pub(crate) struct MergeTable {
    map: HashMap<u64, (u32, u32), BuildHasherDefault<PairHasher>>,
}

fn pair_key(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

impl MergeTable {
    pub(crate) fn with_capacity(n: usize) -> Self {
        MergeTable {
            map: HashMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

    /// Adds a merge; the first rank given for a pair is kept (llama.cpp's `bpe_ranks`).
    pub(crate) fn insert(&mut self, left: u32, right: u32, rank: u32, merged: u32) {
        self.map
            .entry(pair_key(left, right))
            .or_insert((rank, merged));
    }

    pub(crate) fn get(&self, left: u32, right: u32) -> Option<(u32, u32)> {
        self.map.get(&pair_key(left, right)).copied()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[derive(Clone, Copy, Debug)]
struct Symbol {
    id: u32,
    prev: u32,
    next: u32,
    alive: bool,
}

/// Reusable buffers for [`merge_word`].
#[derive(Default)]
pub(crate) struct BpeScratch {
    symbols: Vec<Symbol>,
    /// Min-heap of (rank, left position).
    heap: BinaryHeap<Reverse<(u32, u32)>>,
}

/// Merges the symbol ids `word` by rank and appends the resulting ids to `out`.
// word (n ids) -> out (+ m <= n ids)
pub(crate) fn merge_word(
    word: &[u32],
    merges: &MergeTable,
    scratch: &mut BpeScratch,
    out: &mut Vec<u32>,
) {
    let n = word.len();
    if n <= 1 || merges.is_empty() || n >= NONE as usize {
        out.extend_from_slice(word);
        return;
    }
    let symbols = &mut scratch.symbols;
    let heap = &mut scratch.heap;
    symbols.clear();
    heap.clear();
    symbols.extend(word.iter().enumerate().map(|(i, &id)| Symbol {
        id,
        prev: if i == 0 { NONE } else { i as u32 - 1 },
        next: if i + 1 == n { NONE } else { i as u32 + 1 },
        alive: true,
    }));
    for i in 0..n - 1 {
        if let Some((rank, _)) = merges.get(word[i], word[i + 1]) {
            heap.push(Reverse((rank, i as u32)));
        }
    }
    while let Some(Reverse((rank, pos))) = heap.pop() {
        let left = symbols[pos as usize];
        if !left.alive || left.next == NONE {
            continue;
        }
        let right = symbols[left.next as usize];
        // A stale entry: one side changed since it was queued (ranks are unique per pair).
        let Some((current_rank, merged)) = merges.get(left.id, right.id) else {
            continue;
        };
        if current_rank != rank {
            continue;
        }
        symbols[pos as usize].id = merged;
        symbols[pos as usize].next = right.next;
        symbols[left.next as usize].alive = false;
        if right.next != NONE {
            symbols[right.next as usize].prev = pos;
        }
        if left.prev != NONE {
            if let Some((r, _)) = merges.get(symbols[left.prev as usize].id, merged) {
                heap.push(Reverse((r, left.prev)));
            }
        }
        if right.next != NONE {
            if let Some((r, _)) = merges.get(merged, symbols[right.next as usize].id) {
                heap.push(Reverse((r, pos)));
            }
        }
    }
    let mut i = 0u32;
    while i != NONE {
        let s = symbols[i as usize];
        out.push(s.id);
        i = s.next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_by_rank_then_leftmost() {
        // ids: a=0 b=1 ab=2 bb=3 abb=4
        let mut m = MergeTable::with_capacity(4);
        m.insert(1, 1, 0, 3); // b b -> bb (rank 0)
        m.insert(0, 1, 1, 2); // a b -> ab (rank 1)
        m.insert(0, 3, 2, 4); // a bb -> abb (rank 2)
        let mut out = Vec::new();
        merge_word(&[0, 1, 1], &m, &mut BpeScratch::default(), &mut out);
        assert_eq!(out, vec![4]);
        out.clear();
        // b b b: leftmost pair first -> bb b
        merge_word(&[1, 1, 1], &m, &mut BpeScratch::default(), &mut out);
        assert_eq!(out, vec![3, 1]);
        out.clear();
        merge_word(&[0, 1, 0, 1], &m, &mut BpeScratch::default(), &mut out);
        assert_eq!(out, vec![2, 2]);
    }
}
