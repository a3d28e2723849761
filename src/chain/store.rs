//! What our redb indexes (`utxo`, `txindex`) share: their file (started
//! empty on reindex), block commits that skip the fsync and are made durable
//! every `DURABLE_EVERY` commits and when the index is dropped, and the tip
//! record (block hash and height) each keeps beside its data.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use redb::{Database, Durability, TableDefinition, WriteTransaction};

use super::ChainError;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const TIP_KEY: &str = "tip";
/// Block commits between two durable (fsynced) ones.
const DURABLE_EVERY: u32 = 100;

/// One index file.
pub struct Store {
    pub db: Database,
    /// Which index, for messages.
    name: &'static str,
    /// Block commits since the last durable one.
    pending: AtomicU32,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!("{e}: final flush failed");
        }
    }
}

impl Store {
    /// An error of index `name`.
    pub fn err(&self, e: impl std::fmt::Display) -> ChainError {
        ChainError::Index(format!("{}: {e}", self.name))
    }

    /// Opens (creating) the file at `path`, empty when `wipe`; `tables`
    /// creates the index's own tables.
    pub fn open(
        name: &'static str,
        path: &Path,
        wipe: bool,
        tables: impl FnOnce(&WriteTransaction) -> Result<(), redb::TableError>,
    ) -> Result<Store, ChainError> {
        let err = |e: &dyn std::fmt::Display| ChainError::Index(format!("{name}: {e}"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
        }
        if wipe {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(err(&e)),
            }
        }
        let db = Database::create(path).map_err(|e| err(&e))?;
        let w = db.begin_write().map_err(|e| err(&e))?;
        w.open_table(META).map_err(|e| err(&e))?;
        tables(&w).map_err(|e| err(&e))?;
        w.commit().map_err(|e| err(&e))?;
        Ok(Store {
            db,
            name,
            pending: AtomicU32::new(0),
        })
    }

    /// A write transaction for one block: committed without an fsync.
    pub fn begin_block_write(&self) -> Result<WriteTransaction, ChainError> {
        let mut w = self.db.begin_write().map_err(|e| self.err(e))?;
        let n = self.pending.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= DURABLE_EVERY {
            self.pending.store(0, Ordering::Relaxed);
        } else {
            w.set_durability(Durability::None);
        }
        Ok(w)
    }

    /// Makes every commit so far durable (one fsync).
    pub fn flush(&self) -> Result<(), ChainError> {
        self.pending.store(0, Ordering::Relaxed);
        let w = self.db.begin_write().map_err(|e| self.err(e))?;
        w.commit().map_err(|e| self.err(e))
    }

    /// The last block applied (all zeros and 0 when none is).
    pub fn tip(&self) -> Result<(BlockHash, u32), ChainError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let meta = r.open_table(META).map_err(|e| self.err(e))?;
        match meta.get(TIP_KEY).map_err(|e| self.err(e))? {
            Some(v) if v.value().len() == 36 => {
                let b = v.value();
                let hash = BlockHash::from_slice(&b[..32]).map_err(|e| self.err(e))?;
                let height = u32::from_le_bytes(b[32..].try_into().map_err(|e| self.err(e))?);
                Ok((hash, height))
            }
            Some(_) => Err(self.err("bad tip record")),
            None => Ok((BlockHash::all_zeros(), 0)),
        }
    }

    /// Records the tip inside the block's write transaction `w`.
    pub fn set_tip(
        &self,
        w: &WriteTransaction,
        hash: &BlockHash,
        height: u32,
    ) -> Result<(), ChainError> {
        let mut tip = hash.as_byte_array().to_vec();
        tip.extend_from_slice(&height.to_le_bytes());
        let mut meta = w.open_table(META).map_err(|e| self.err(e))?;
        meta.insert(TIP_KEY, &tip[..]).map_err(|e| self.err(e))?;
        Ok(())
    }
}
