//! Facts about blocks that Core keeps in its block index and the kernel's
//! block tree does not hand out directly: header fields as rust-bitcoin types,
//! median time past, cumulative work, Core's difficulty number (chain tips
//! and failure marks are in `block_tree`).

use bitcoin::consensus::deserialize;
use bitcoinkernel::{prelude::*, BlockTreeEntry};
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difficulty_matches_cores_numbers() {
        assert_eq!(difficulty(0x1d00ffff), 1.0);
        assert!((difficulty(0x207fffff) - 4.656542373906925e-10).abs() < 1e-24);
    }
}
