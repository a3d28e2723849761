//! `-txindex`: the block holding every transaction of the active chain, by
//! txid, in its own crash-safe `redb` file (`<net_dir>/indexes/txindex/`,
//! where Core keeps its own). Like Core's, it skips the genesis block and
//! follows the active chain on its own tip: `Chain` rewinds it over blocks
//! that left the active chain (reading them back from the kernel) and feeds
//! it every block the UTXO index connects, so enabling it on an existing
//! datadir builds it from the kernel's block files at startup.
//!
//! Commits skip the fsync the way the UTXO index's do (a crash loses at most
//! the blocks since the last durable commit, which the next start replays).

use std::path::Path;

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Txid};
use redb::{ReadableTable, TableDefinition};

use super::store::Store;
use super::ChainError;

const TXS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("txs");

/// The transaction index file.
pub struct TxIndex {
    store: Store,
}

impl TxIndex {
    /// Opens the index in directory `dir`; `wipe` starts it empty (reindex).
    pub fn open(dir: &Path, wipe: bool) -> Result<TxIndex, ChainError> {
        let store = Store::open("txindex", &dir.join("index.redb"), wipe, |w| {
            w.open_table(TXS).map(|_| ())
        })?;
        Ok(TxIndex { store })
    }

    /// Makes every commit so far durable.
    pub fn flush(&self) -> Result<(), ChainError> {
        self.store.flush()
    }

    /// The last block indexed (all zeros and 0 when none is).
    pub fn tip(&self) -> Result<(BlockHash, u32), ChainError> {
        self.store.tip()
    }

    /// The block holding `txid`, if the index has it.
    pub fn find(&self, txid: &Txid) -> Result<Option<BlockHash>, ChainError> {
        let err = |e: &dyn std::fmt::Display| self.store.err(e);
        let r = self.store.db.begin_read().map_err(|e| err(&e))?;
        let txs = r.open_table(TXS).map_err(|e| err(&e))?;
        let found = txs.get(&txid.as_byte_array()[..]).map_err(|e| err(&e))?;
        found
            .map(|v| BlockHash::from_slice(v.value()).map_err(|e| err(&e)))
            .transpose()
    }

    /// Records `block` (at `height`) as the new tip.
    pub fn connect(&self, block: &bitcoin::Block, height: u32) -> Result<(), ChainError> {
        let err = |e: &dyn std::fmt::Display| self.store.err(e);
        let hash = block.block_hash();
        let w = self.store.begin_block_write()?;
        {
            let mut txs = w.open_table(TXS).map_err(|e| err(&e))?;
            for tx in &block.txdata {
                txs.insert(
                    &tx.compute_txid().as_byte_array()[..],
                    &hash.as_byte_array()[..],
                )
                .map_err(|e| err(&e))?;
            }
            self.store.set_tip(&w, &hash, height)?;
        }
        w.commit().map_err(|e| err(&e))
    }

    /// Forgets the tip `block` (at `height`), whose parent becomes the tip.
    /// An entry a later block rewrote stays.
    pub fn disconnect(&self, block: &bitcoin::Block, height: u32) -> Result<(), ChainError> {
        let err = |e: &dyn std::fmt::Display| self.store.err(e);
        let hash = block.block_hash();
        let w = self.store.begin_block_write()?;
        {
            let mut txs = w.open_table(TXS).map_err(|e| err(&e))?;
            for tx in &block.txdata {
                let key = tx.compute_txid();
                let ours = txs
                    .get(&key.as_byte_array()[..])
                    .map_err(|e| err(&e))?
                    .is_some_and(|v| v.value() == hash.as_byte_array());
                if ours {
                    txs.remove(&key.as_byte_array()[..]).map_err(|e| err(&e))?;
                }
            }
            self.store
                .set_tip(&w, &block.header.prev_blockhash, height.saturating_sub(1))?;
        }
        w.commit().map_err(|e| err(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{OutPoint, ScriptBuf, Transaction, TxIn};

    fn block(prev: BlockHash, tag: u8) -> bitcoin::Block {
        let tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::from_bytes(vec![1, tag]),
                ..Default::default()
            }],
            output: vec![],
        };
        bitcoin::Block {
            header: bitcoin::block::Header {
                version: bitcoin::block::Version::TWO,
                prev_blockhash: prev,
                merkle_root: bitcoin::TxMerkleNode::all_zeros(),
                time: u32::from(tag),
                bits: bitcoin::CompactTarget::from_consensus(0x207fffff),
                nonce: 0,
            },
            txdata: vec![tx],
        }
    }

    #[test]
    fn finds_connected_transactions_and_forgets_disconnected_ones() {
        let dir = tempfile::tempdir().unwrap();
        let b1 = block(BlockHash::all_zeros(), 1);
        let b2 = block(b1.block_hash(), 2);
        let tx1 = b1.txdata[0].compute_txid();
        let tx2 = b2.txdata[0].compute_txid();
        {
            let idx = TxIndex::open(dir.path(), false).unwrap();
            idx.connect(&b1, 1).unwrap();
            idx.connect(&b2, 2).unwrap();
            assert_eq!(idx.find(&tx2).unwrap(), Some(b2.block_hash()));
            idx.disconnect(&b2, 2).unwrap();
            assert_eq!(idx.find(&tx2).unwrap(), None);
            assert_eq!(idx.tip().unwrap(), (b1.block_hash(), 1));
        }
        // Survives a reopen; a wipe starts over.
        let idx = TxIndex::open(dir.path(), false).unwrap();
        assert_eq!(idx.find(&tx1).unwrap(), Some(b1.block_hash()));
        drop(idx);
        let idx = TxIndex::open(dir.path(), true).unwrap();
        assert_eq!(idx.find(&tx1).unwrap(), None);
        assert_eq!(idx.tip().unwrap().1, 0);
    }
}
