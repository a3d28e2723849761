//! net/confirmed: the transactions of recently connected blocks, by txid
//! and wtxid (Core's m_recent_confirmed_transactions). A transaction
//! announced or needed as an orphan's parent that a recent block holds is
//! not asked for. A disconnected block empties the set (its transactions
//! may be needed again); blocks connected during initial block download
//! are not noted.

use std::sync::Mutex;

use bitcoin::hashes::Hash;

use super::rolling::RollingSet;
use crate::chain::{Chain, ChainListener};

/// Core keeps 48000 entries; two generations of half that here.
const GENERATION: usize = 24_000;

#[derive(Default)]
pub struct RecentlyConfirmed {
    set: Mutex<RollingSet<[u8; 32], GENERATION>>,
}

impl RecentlyConfirmed {
    pub fn contains(&self, hash: &[u8; 32]) -> bool {
        self.lock().contains(hash)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RollingSet<[u8; 32], GENERATION>> {
        self.set.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ChainListener for RecentlyConfirmed {
    fn block_disconnected(&self, _: &Chain, _: &bitcoin::Block) {
        self.lock().clear();
    }

    fn block_connected(&self, chain: &Chain, block: &bitcoin::Block, _: u32) {
        // As Core: not during initial block download, when no transactions
        // are taken from peers (an old block's transactions may be asked
        // for once out of it).
        if chain.initial_block_download() {
            return;
        }
        let mut set = self.lock();
        for tx in &block.txdata {
            let (txid, wtxid) = (tx.compute_txid(), tx.compute_wtxid());
            set.insert(txid.to_byte_array());
            if wtxid.to_byte_array() != txid.to_byte_array() {
                set.insert(wtxid.to_byte_array());
            }
        }
    }

    fn tip_updated(&self, _: &Chain) {}
}
