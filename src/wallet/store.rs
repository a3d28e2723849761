//! The wallet database: one redb file, `wallet.redb`, in the wallet's own
//! directory. BDK's change sets are appended per address type (JSON, as BDK
//! serializes them) and merged back on load; our own records (keys, labels,
//! transaction notes, settings) sit beside them. One commit writes every
//! pending change in one redb transaction, so a crash leaves either all of
//! it or none (redb's copy-on-write commit). A commit that fails (a full
//! disk) changes nothing on disk; redb then refuses every later write on
//! that handle, so the next commit closes and reopens the file first (redb
//! checks and repairs it on open).

use std::path::{Path, PathBuf};

use bdk_wallet::chain::Merge;
use bdk_wallet::ChangeSet;
use redb::{Database, ReadableTable, TableDefinition};

/// (address type, sequence) → one BDK change set as JSON.
const CHANGES: TableDefinition<(u8, u64), &[u8]> = TableDefinition::new("bdk_changes");
/// Our records by name → JSON.
const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
/// Change sets merged into one when more than this many pile up at load.
const COMPACT_AFTER: usize = 64;

/// Why the database could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("wallet database: {0}")]
    Db(String),
    #[error("wallet database record {0} is corrupt: {1}")]
    Corrupt(String, String),
}

fn db_err<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Db(e.to_string())
}

/// The open database.
pub struct Store {
    /// None only while a reopen is under way.
    db: Option<Database>,
    path: PathBuf,
    /// The last commit failed: reopen before the next one.
    reopen: bool,
}

/// Everything one commit writes.
#[derive(Default)]
pub struct Pending {
    pub changes: Vec<(u8, ChangeSet)>,
    pub records: Vec<(String, serde_json::Value)>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.records.is_empty()
    }
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            db: Some(Self::create(path)?),
            path: path.to_path_buf(),
            reopen: false,
        })
    }

    fn create(path: &Path) -> Result<Database, StoreError> {
        let db = Database::create(path).map_err(db_err)?;
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(CHANGES).map_err(db_err)?;
        tx.open_table(RECORDS).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(db)
    }

    fn db(&self) -> Result<&Database, StoreError> {
        self.db
            .as_ref()
            .ok_or_else(|| StoreError::Db("the database could not be reopened".into()))
    }

    /// The merged change set of each address type, compacting long histories.
    pub fn load_changes(&self) -> Result<Vec<(u8, ChangeSet)>, StoreError> {
        let tx = self.db()?.begin_read().map_err(db_err)?;
        let table = tx.open_table(CHANGES).map_err(db_err)?;
        let mut merged: std::collections::BTreeMap<u8, (ChangeSet, usize)> = Default::default();
        for row in table.iter().map_err(db_err)? {
            let (k, v) = row.map_err(db_err)?;
            let (kind, seq) = k.value();
            let cs: ChangeSet = serde_json::from_slice(v.value())
                .map_err(|e| StoreError::Corrupt(format!("change {kind}/{seq}"), e.to_string()))?;
            let e = merged.entry(kind).or_default();
            e.0.merge(cs);
            e.1 += 1;
        }
        drop(table);
        drop(tx);
        if merged.values().any(|(_, n)| *n > COMPACT_AFTER) {
            self.compact(&merged)?;
        }
        Ok(merged.into_iter().map(|(k, (cs, _))| (k, cs)).collect())
    }

    /// Replaces each type's rows with its one merged change set.
    fn compact(
        &self,
        merged: &std::collections::BTreeMap<u8, (ChangeSet, usize)>,
    ) -> Result<(), StoreError> {
        let tx = self.db()?.begin_write().map_err(db_err)?;
        {
            let mut table = tx.open_table(CHANGES).map_err(db_err)?;
            table.retain(|_, _| false).map_err(db_err)?;
            for (kind, (cs, _)) in merged {
                let bytes = serde_json::to_vec(cs).map_err(db_err)?;
                table.insert((*kind, 0u64), &bytes[..]).map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)
    }

    /// One of our records.
    pub fn record(&self, name: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let tx = self.db()?.begin_read().map_err(db_err)?;
        let table = tx.open_table(RECORDS).map_err(db_err)?;
        let Some(v) = table.get(name).map_err(db_err)? else {
            return Ok(None);
        };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| StoreError::Corrupt(name.to_string(), e.to_string()))
    }

    /// Writes everything pending in one transaction; after a failed one,
    /// reopens the file first.
    pub fn commit(&mut self, pending: &Pending) -> Result<(), StoreError> {
        if pending.is_empty() {
            return Ok(());
        }
        if self.reopen {
            // redb allows one handle per file: close the failed one first.
            self.db = None;
            self.db = Some(Self::create(&self.path)?);
            self.reopen = false;
            tracing::info!("wallet database reopened after a failed write");
        }
        let written = self.write(pending);
        self.reopen = written.is_err();
        written
    }

    fn write(&self, pending: &Pending) -> Result<(), StoreError> {
        let tx = self.db()?.begin_write().map_err(db_err)?;
        {
            let mut table = tx.open_table(CHANGES).map_err(db_err)?;
            for (kind, cs) in &pending.changes {
                let next = table
                    .range((*kind, 0u64)..=(*kind, u64::MAX))
                    .map_err(db_err)?
                    .next_back()
                    .transpose()
                    .map_err(db_err)?
                    .map_or(0, |(k, _)| k.value().1 + 1);
                let bytes = serde_json::to_vec(cs).map_err(db_err)?;
                table.insert((*kind, next), &bytes[..]).map_err(db_err)?;
            }
            let mut records = tx.open_table(RECORDS).map_err(db_err)?;
            for (name, value) in &pending.records {
                let bytes = serde_json::to_vec(value).map_err(db_err)?;
                records.insert(name.as_str(), &bytes[..]).map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_change_sets_survive_reopening_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wallet.redb");
        {
            let mut s = Store::open(&path).unwrap();
            for i in 0..(COMPACT_AFTER + 3) {
                let mut cs = ChangeSet::default();
                cs.local_chain.blocks.insert(
                    i as u32,
                    Some(bitcoin::BlockHash::from_byte_array([i as u8; 32])),
                );
                s.commit(&Pending {
                    changes: vec![(2, cs)],
                    records: vec![("labels".into(), serde_json::json!({ "a": i }))],
                })
                .unwrap();
            }
        }
        let s = Store::open(&path).unwrap();
        let loaded = s.load_changes().unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].1.local_chain.blocks.len(), COMPACT_AFTER + 3);
        assert_eq!(s.record("labels").unwrap().unwrap()["a"], COMPACT_AFTER + 2);
        // After compaction the same state loads again.
        let again = s.load_changes().unwrap();
        assert_eq!(again[0].1, loaded[0].1);
    }

    use bitcoin::hashes::Hash;
}
