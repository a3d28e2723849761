//! Facts about blocks that Core keeps in its block index and the kernel's
//! block tree does not hand out directly: header fields as rust-bitcoin types,
//! median time past, cumulative work, Core's difficulty number, chain tips.

use bitcoin::consensus::deserialize;
use bitcoinkernel::{prelude::*, BlockTreeEntry, ChainstateManager};
use libbitcoinkernel_sys::btck_BlockHeader;

use super::to_hash;

/// One block as the block tree knows it.
#[derive(Debug, Clone)]
pub struct BlockInfo {
    pub hash: bitcoin::BlockHash,
    pub height: i32,
    pub header: bitcoin::block::Header,
    /// In the active chain (false: a fork or a header-only branch).
    pub in_active_chain: bool,
}

impl BlockInfo {
    pub(crate) fn from_entry(entry: &BlockTreeEntry<'_>, in_active_chain: bool) -> BlockInfo {
        BlockInfo {
            hash: to_hash(entry.block_hash().to_bytes()),
            height: entry.height(),
            header: header_of(entry),
            in_active_chain,
        }
    }
}

/// The kernel's header of `entry` as rust-bitcoin's type; the kernel's
/// copy is freed here.
///
/// `bitcoinkernel` 0.3.2's `BlockTreeEntry::header()` returns a borrowed
/// `BlockHeaderRef` for what the C API hands out as a new header that the
/// caller owns (`btck_block_tree_entry_get_block_header` allocates one), so
/// every call leaked 80 bytes: `chain_work` alone leaked 80 bytes per block
/// of the chain on each call. Found by the leak check of the `ipc_*` fuzz
/// targets. Every header read goes through here.
pub(crate) fn header_of(entry: &BlockTreeEntry<'_>) -> bitcoin::block::Header {
    let h = entry.header();
    // The kernel's header is 80 well-formed bytes; rebuild the fields if not.
    let header = match h.consensus_encode().ok().and_then(|b| deserialize(&b).ok()) {
        Some(header) => header,
        None => bitcoin::block::Header {
            version: bitcoin::block::Version::from_consensus(h.version()),
            prev_blockhash: to_hash(h.prev_hash().to_bytes()),
            merkle_root: bitcoin::TxMerkleNode::all_zeros(),
            time: h.timestamp(),
            bits: bitcoin::CompactTarget::from_consensus(h.bits()),
            nonce: h.nonce(),
        },
    };
    // SAFETY: `BlockHeaderRef` is the header's pointer plus a zero-sized
    // marker (transmute refuses to compile if the sizes ever differ); the
    // kernel allocated this header for this call alone and nothing else
    // refers to it, so it is destroyed exactly once, after its last use.
    unsafe {
        let ptr = std::mem::transmute::<
            bitcoinkernel::core::block::BlockHeaderRef<'_>,
            *const btck_BlockHeader,
        >(h);
        libbitcoinkernel_sys::btck_block_header_destroy(ptr.cast_mut());
    }
    header
}

use bitcoin::hashes::Hash as _;

/// `entry` and its ancestors down to genesis (genesis has no previous entry:
/// asking the kernel for it only logs a complaint).
fn ancestors<'a>(entry: &BlockTreeEntry<'a>) -> impl Iterator<Item = BlockTreeEntry<'a>> {
    std::iter::successors(
        Some(*entry),
        |e| if e.height() > 0 { e.prev() } else { None },
    )
}

/// Median of the timestamps of `entry` and its ten predecessors.
pub fn median_time_past(entry: &BlockTreeEntry<'_>) -> u32 {
    let mut times: Vec<u32> = ancestors(entry)
        .take(11)
        .map(|e| header_of(&e).time)
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}

/// Sum of the work of every block from genesis to `entry`.
pub fn chain_work(entry: &BlockTreeEntry<'_>) -> bitcoin::Work {
    ancestors(entry).fold(bitcoin::Work::from_le_bytes([0; 32]), |work, e| {
        let bits = header_of(&e).bits;
        work + bitcoin::Target::from_compact(bits).to_work()
    })
}

/// Core's GetDifficulty: how many times harder than the minimum difficulty.
pub fn difficulty(bits: u32) -> f64 {
    let mut shift = (bits >> 24) & 0xff;
    let mut diff = 0x0000ffff as f64 / (bits & 0x00ff_ffff) as f64;
    while shift < 29 {
        diff *= 256.0;
        shift += 1;
    }
    while shift > 29 {
        diff /= 256.0;
        shift -= 1;
    }
    diff
}

/// Chain tips: the active tip and the end of every branch off the active chain
/// that the kernel's block tree holds (found by walking back from the best
/// header and the active tip; branches the kernel does not point us to are
/// not listed).
pub fn tips(chainman: &ChainstateManager, branches: &Branches) -> Vec<BlockInfo> {
    let chain = chainman.active_chain();
    let tip = chain.tip();
    let mut out = vec![BlockInfo::from_entry(&tip, true)];
    let best = chainman
        .best_entry()
        .map(|b| to_hash(b.block_hash().to_bytes()));
    let candidates = best
        .iter()
        .chain(branches.tips.iter().filter(|h| Some(**h) != best));
    for hash in candidates {
        let entry =
            chainman.get_block_tree_entry(&bitcoinkernel::BlockHash::from(hash.to_byte_array()));
        if let Some(entry) = entry.filter(|e| !chain.contains(e)) {
            out.push(BlockInfo::from_entry(&entry, false));
        }
    }
    out
}

/// Blocks off the active chain that we know of: the ends of their
/// branches (a header or block whose child we have not seen), and those
/// the kernel refused.
#[derive(Default)]
pub struct Branches {
    tips: std::collections::HashSet<bitcoin::BlockHash>,
    invalid: std::collections::HashSet<bitcoin::BlockHash>,
}

/// Branch ends and invalid blocks remembered at most (a peer sending
/// endless forks cannot grow them without bound; the oldest are not
/// told apart, the set is cleared).
const MAX_BRANCHES: usize = 10_000;

impl Branches {
    /// `header` is in the kernel's block tree now: it ends its branch.
    pub fn added(&mut self, header: &bitcoin::block::Header) {
        if self.tips.len() >= MAX_BRANCHES {
            self.tips.clear();
        }
        self.tips.remove(&header.prev_blockhash);
        self.tips.insert(header.block_hash());
    }

    /// The kernel refused block `hash`.
    pub fn invalid(&mut self, hash: bitcoin::BlockHash) {
        if self.invalid.len() >= MAX_BRANCHES {
            self.invalid.clear();
        }
        self.invalid.insert(hash);
    }

    pub fn is_invalid(&self, hash: &bitcoin::BlockHash) -> bool {
        self.invalid.contains(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_branch_ends_at_its_newest_header_and_invalid_blocks_are_remembered() {
        use bitcoin::hashes::Hash;
        let header = |prev: bitcoin::BlockHash, nonce: u32| bitcoin::block::Header {
            version: bitcoin::block::Version::TWO,
            prev_blockhash: prev,
            merkle_root: bitcoin::TxMerkleNode::all_zeros(),
            time: 0,
            bits: bitcoin::CompactTarget::from_consensus(0x207fffff),
            nonce,
        };
        let mut branches = Branches::default();
        let a = header(bitcoin::BlockHash::all_zeros(), 1);
        let b = header(a.block_hash(), 2);
        let c = header(a.block_hash(), 3);
        branches.added(&a);
        branches.added(&b);
        branches.added(&c);
        // a has children: b and c end the two branches.
        let mut tips: Vec<_> = branches.tips.iter().copied().collect();
        tips.sort();
        let mut want = vec![b.block_hash(), c.block_hash()];
        want.sort();
        assert_eq!(tips, want);
        branches.invalid(c.block_hash());
        assert!(branches.is_invalid(&c.block_hash()));
        assert!(!branches.is_invalid(&b.block_hash()));
    }

    #[test]
    fn difficulty_matches_cores_numbers() {
        assert_eq!(difficulty(0x1d00ffff), 1.0);
        assert!((difficulty(0x207fffff) - 4.656542373906925e-10).abs() < 1e-24);
    }
}
