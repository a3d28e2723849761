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
use std::sync::atomic::{AtomicU32, Ordering};

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Txid};
use redb::{Database, Durability, ReadableTable, TableDefinition, WriteTransaction};

use super::ChainError;

const TXS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("txs");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const TIP_KEY: &str = "tip";
/// Block commits between two durable (fsynced) ones.
const DURABLE_EVERY: u32 = 100;

fn idx_err(e: impl std::fmt::Display) -> ChainError {
    ChainError::Index(format!("txindex: {e}"))
}

/// The transaction index file.
pub struct TxIndex {
    db: Database,
    /// Block commits since the last durable one.
    pending: AtomicU32,
}

impl Drop for TxIndex {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!("{e}: final flush failed");
        }
    }
}

impl TxIndex {
    /// Opens the index in directory `dir`; `wipe` starts it empty (reindex).
    pub fn open(dir: &Path, wipe: bool) -> Result<TxIndex, ChainError> {
        std::fs::create_dir_all(dir).map_err(idx_err)?;
        let path = dir.join("index.redb");
        if wipe {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(idx_err(e)),
            }
        }
        let db = Database::create(&path).map_err(idx_err)?;
        let w = db.begin_write().map_err(idx_err)?;
        {
            w.open_table(TXS).map_err(idx_err)?;
            w.open_table(META).map_err(idx_err)?;
        }
        w.commit().map_err(idx_err)?;
        Ok(TxIndex {
            db,
            pending: AtomicU32::new(0),
        })
    }

    fn begin_block_write(&self) -> Result<WriteTransaction, ChainError> {
        let mut w = self.db.begin_write().map_err(idx_err)?;
        let n = self.pending.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= DURABLE_EVERY {
            self.pending.store(0, Ordering::Relaxed);
        } else {
            w.set_durability(Durability::None);
        }
        Ok(w)
    }

    /// Makes every commit so far durable.
    pub fn flush(&self) -> Result<(), ChainError> {
        self.pending.store(0, Ordering::Relaxed);
        self.db
            .begin_write()
            .map_err(idx_err)?
            .commit()
            .map_err(idx_err)
    }

    /// The last block indexed (all zeros and 0 when none is).
    pub fn tip(&self) -> Result<(BlockHash, u32), ChainError> {
        let r = self.db.begin_read().map_err(idx_err)?;
        let meta = r.open_table(META).map_err(idx_err)?;
        match meta.get(TIP_KEY).map_err(idx_err)? {
            Some(v) if v.value().len() == 36 => {
                let b = v.value();
                let hash = BlockHash::from_slice(&b[..32]).map_err(idx_err)?;
                let height = u32::from_le_bytes(b[32..].try_into().map_err(idx_err)?);
                Ok((hash, height))
            }
            Some(_) => Err(idx_err("bad tip record")),
            None => Ok((BlockHash::all_zeros(), 0)),
        }
    }

    /// The block holding `txid`, if the index has it.
    pub fn find(&self, txid: &Txid) -> Result<Option<BlockHash>, ChainError> {
        let r = self.db.begin_read().map_err(idx_err)?;
        let txs = r.open_table(TXS).map_err(idx_err)?;
        let found = txs.get(&txid.as_byte_array()[..]).map_err(idx_err)?;
        found
            .map(|v| BlockHash::from_slice(v.value()).map_err(idx_err))
            .transpose()
    }

    /// Records `block` (at `height`) as the new tip.
    pub fn connect(&self, block: &bitcoin::Block, height: u32) -> Result<(), ChainError> {
        let hash = block.block_hash();
        let w = self.begin_block_write()?;
        {
            let mut txs = w.open_table(TXS).map_err(idx_err)?;
            for tx in &block.txdata {
                txs.insert(
                    &tx.compute_txid().as_byte_array()[..],
                    &hash.as_byte_array()[..],
                )
                .map_err(idx_err)?;
            }
            set_tip(&w, &hash, height)?;
        }
        w.commit().map_err(idx_err)
    }

    /// Forgets the tip `block` (at `height`), whose parent becomes the tip.
    /// An entry a later block rewrote stays.
    pub fn disconnect(&self, block: &bitcoin::Block, height: u32) -> Result<(), ChainError> {
        let hash = block.block_hash();
        let w = self.begin_block_write()?;
        {
            let mut txs = w.open_table(TXS).map_err(idx_err)?;
            for tx in &block.txdata {
                let key = tx.compute_txid();
                let ours = txs
                    .get(&key.as_byte_array()[..])
                    .map_err(idx_err)?
                    .is_some_and(|v| v.value() == hash.as_byte_array());
                if ours {
                    txs.remove(&key.as_byte_array()[..]).map_err(idx_err)?;
                }
            }
            set_tip(&w, &block.header.prev_blockhash, height.saturating_sub(1))?;
        }
        w.commit().map_err(idx_err)
    }
}

fn set_tip(w: &WriteTransaction, hash: &BlockHash, height: u32) -> Result<(), ChainError> {
    let mut tip = hash.as_byte_array().to_vec();
    tip.extend_from_slice(&height.to_le_bytes());
    let mut meta = w.open_table(META).map_err(idx_err)?;
    meta.insert(TIP_KEY, &tip[..]).map_err(idx_err)?;
    Ok(())
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
