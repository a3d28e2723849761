//! Our UTXO index: every unspent output of the active chain by outpoint, in a
//! crash-safe `redb` file (`<net_dir>/indexes/utxo.redb`). The kernel offers no
//! coin lookup, so this serves `gettxout`, `gettxoutsetinfo` and block
//! assembly. Each block is applied in one transaction together with its undo
//! record (what it spent, what it created) and the new index tip, so a crash
//! leaves the index at some block boundary; `Chain::sync_index` then walks it
//! back to the fork point with the undo records and forward with the kernel's
//! blocks. Like Core, the genesis block's outputs and provably unspendable
//! outputs are not in the set.
//!
//! Block commits are not fsynced one by one: redb keeps the file consistent at
//! its last durable commit and a crash loses only the commits after it, which
//! the reconciliation replays from the kernel's blocks. Every
//! `DURABLE_EVERY`-th block commit (see `store`), and `flush` when the index is dropped at
//! shutdown, makes everything durable (and lets redb reuse freed pages).

use std::path::Path;

use bitcoin::hashes::{sha256, sha256d, Hash};
use bitcoin::{Amount, OutPoint, ScriptBuf, TxOut, Txid};
use redb::{ReadableTable, TableDefinition};

use super::muhash::MuHash3072;
use super::store::Store;
use super::ChainError;

const COINS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("coins");
const UNDO: TableDefinition<&[u8], &[u8]> = TableDefinition::new("undo");
/// Core's MAX_SCRIPT_SIZE: longer scripts are unspendable.
const MAX_SCRIPT_SIZE: usize = 10_000;

/// One unspent output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coin {
    pub height: u32,
    pub coinbase: bool,
    pub txout: TxOut,
}

/// Which hash of the set `UtxoIndex::stats` computes, as Core's
/// `CoinStatsHashType`: only the one asked for, so `none` hashes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetHash {
    None,
    /// `hash_serialized_3`.
    Serialized,
    /// `muhash` (see `super::muhash`).
    MuHash,
}

/// A `hash_type` that is none of Core's three.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not a valid hash_type")]
pub struct UnknownHashType(pub String);

impl std::str::FromStr for SetHash {
    type Err = UnknownHashType;

    /// Core's ParseHashType.
    fn from_str(s: &str) -> Result<SetHash, UnknownHashType> {
        match s {
            "none" => Ok(SetHash::None),
            "hash_serialized_3" => Ok(SetHash::Serialized),
            "muhash" => Ok(SetHash::MuHash),
            other => Err(UnknownHashType(other.into())),
        }
    }
}

/// Totals over the whole set (`gettxoutsetinfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetStats {
    pub txouts: u64,
    pub transactions: u64,
    pub bogosize: u64,
    pub total_amount: Amount,
    /// Core's `hash_serialized_3`: double SHA-256 over every coin in
    /// outpoint order (with `SetHash::Serialized`).
    pub hash_serialized: Option<sha256d::Hash>,
    /// Core's `muhash`: MuHash3072 of every coin (with `SetHash::MuHash`).
    pub muhash: Option<sha256::Hash>,
}

fn idx_err(e: impl std::fmt::Display) -> ChainError {
    ChainError::Index(e.to_string())
}

fn outpoint_key(op: &OutPoint) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..32].copy_from_slice(op.txid.as_byte_array());
    k[32..].copy_from_slice(&op.vout.to_le_bytes());
    k
}

fn encode_coin(c: &Coin, out: &mut Vec<u8>) {
    out.extend_from_slice(&c.height.to_le_bytes());
    out.push(c.coinbase as u8);
    out.extend_from_slice(&c.txout.value.to_sat().to_le_bytes());
    out.extend_from_slice(c.txout.script_pubkey.as_bytes());
}

fn decode_coin(b: &[u8]) -> Result<Coin, ChainError> {
    if b.len() < 13 {
        return Err(idx_err("short coin record"));
    }
    let height = u32::from_le_bytes(b[0..4].try_into().map_err(idx_err)?);
    let value = u64::from_le_bytes(b[5..13].try_into().map_err(idx_err)?);
    Ok(Coin {
        height,
        coinbase: b[4] != 0,
        txout: TxOut {
            value: Amount::from_sat(value),
            script_pubkey: ScriptBuf::from_bytes(b[13..].to_vec()),
        },
    })
}

/// Core's IsUnspendable: OP_RETURN outputs and oversized scripts never enter the set.
fn unspendable(script: &bitcoin::Script) -> bool {
    script.is_op_return() || script.len() > MAX_SCRIPT_SIZE
}

/// Core's GetBogoSize of one coin.
fn bogosize(script: &bitcoin::Script) -> u64 {
    (32 + 4 + 4 + 8 + 2 + script.len()) as u64
}

/// A little reader over an undo record.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ChainError> {
        if self.0.len() < n {
            return Err(idx_err("truncated undo record"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, ChainError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(idx_err)?,
        ))
    }
}

/// The index file.
pub struct UtxoIndex {
    store: Store,
}

impl UtxoIndex {
    /// Opens the index at `path`; `wipe` starts it empty (reindex).
    pub fn open(path: &Path, wipe: bool) -> Result<UtxoIndex, ChainError> {
        let store = Store::open("UTXO index", path, wipe, |w| {
            w.open_table(COINS)?;
            w.open_table(UNDO)?;
            Ok(())
        })?;
        Ok(UtxoIndex { store })
    }

    /// Makes every commit so far durable (one fsync).
    pub fn flush(&self) -> Result<(), ChainError> {
        self.store.flush()
    }

    /// The last block applied (all zeros and 0 when only genesis is).
    pub fn tip(&self) -> Result<(bitcoin::BlockHash, u32), ChainError> {
        self.store.tip()
    }

    /// Does the index hold the undo record of block `hash`?
    pub fn has_undo(&self, hash: &bitcoin::BlockHash) -> Result<bool, ChainError> {
        let r = self.store.db.begin_read().map_err(idx_err)?;
        let undos = r.open_table(UNDO).map_err(idx_err)?;
        Ok(undos
            .get(&hash.as_byte_array()[..])
            .map_err(idx_err)?
            .is_some())
    }

    /// Looks up one unspent output.
    pub fn get(&self, op: &OutPoint) -> Result<Option<Coin>, ChainError> {
        let r = self.store.db.begin_read().map_err(idx_err)?;
        let coins = r.open_table(COINS).map_err(idx_err)?;
        let found = coins.get(&outpoint_key(op)[..]).map_err(idx_err)?;
        found.map(|v| decode_coin(v.value())).transpose()
    }

    /// Applies `block` (at `height`, on top of the current index tip).
    pub fn connect(&self, block: &bitcoin::Block, height: u32) -> Result<(), ChainError> {
        let mut undo = Vec::new();
        undo.extend_from_slice(block.header.prev_blockhash.as_byte_array());
        undo.extend_from_slice(&height.to_le_bytes());
        undo.extend_from_slice(&(block.txdata.len() as u32).to_le_bytes());
        let w = self.store.begin_block_write()?;
        {
            let mut coins = w.open_table(COINS).map_err(idx_err)?;
            let mut buf = Vec::new();
            for tx in &block.txdata {
                let txid = tx.compute_txid();
                undo.extend_from_slice(txid.as_byte_array());
                undo.extend_from_slice(&(tx.output.len() as u32).to_le_bytes());
                let spends = if tx.is_coinbase() {
                    &[][..]
                } else {
                    &tx.input[..]
                };
                undo.extend_from_slice(&(spends.len() as u32).to_le_bytes());
                for input in spends {
                    let key = outpoint_key(&input.previous_output);
                    let spent = coins
                        .remove(&key[..])
                        .map_err(idx_err)?
                        .ok_or_else(|| {
                            idx_err(format!(
                                "block {} spends {} which the index does not hold",
                                block.block_hash(),
                                input.previous_output
                            ))
                        })?
                        .value()
                        .to_vec();
                    undo.extend_from_slice(&key);
                    undo.extend_from_slice(&(spent.len() as u32).to_le_bytes());
                    undo.extend_from_slice(&spent);
                }
                for (vout, out) in tx.output.iter().enumerate() {
                    if unspendable(&out.script_pubkey) {
                        continue;
                    }
                    buf.clear();
                    encode_coin(
                        &Coin {
                            height,
                            coinbase: tx.is_coinbase(),
                            txout: out.clone(),
                        },
                        &mut buf,
                    );
                    let key = outpoint_key(&OutPoint::new(txid, vout as u32));
                    coins.insert(&key[..], &buf[..]).map_err(idx_err)?;
                }
            }
            let hash = block.block_hash();
            let mut undos = w.open_table(UNDO).map_err(idx_err)?;
            undos
                .insert(&hash.as_byte_array()[..], &undo[..])
                .map_err(idx_err)?;
            self.store.set_tip(&w, &hash, height)?;
        }
        w.commit().map_err(idx_err)
    }

    /// Undoes the index tip with its undo record.
    pub fn disconnect_tip(&self) -> Result<(), ChainError> {
        let (hash, height) = self.tip()?;
        if height == 0 {
            return Err(idx_err("cannot disconnect the genesis block"));
        }
        let w = self.store.begin_block_write()?;
        {
            let mut undos = w.open_table(UNDO).map_err(idx_err)?;
            let record = undos
                .remove(&hash.as_byte_array()[..])
                .map_err(idx_err)?
                .ok_or_else(|| idx_err(format!("no undo record for {hash}")))?
                .value()
                .to_vec();
            let mut c = Cursor(&record);
            let prev = c.take(32)?.to_vec();
            let _height = c.u32()?;
            let ntx = c.u32()?;
            // Parse every transaction's part first, then undo in reverse order.
            type Spent<'r> = Vec<(&'r [u8], &'r [u8])>;
            let mut txs: Vec<(Txid, u32, Spent)> = Vec::with_capacity(ntx as usize);
            for _ in 0..ntx {
                let txid = Txid::from_slice(c.take(32)?).map_err(idx_err)?;
                let nout = c.u32()?;
                let nspent = c.u32()?;
                let mut spent = Vec::with_capacity(nspent as usize);
                for _ in 0..nspent {
                    let key = c.take(36)?;
                    let len = c.u32()? as usize;
                    spent.push((key, c.take(len)?));
                }
                txs.push((txid, nout, spent));
            }
            let mut coins = w.open_table(COINS).map_err(idx_err)?;
            for (txid, nout, spent) in txs.iter().rev() {
                for vout in 0..*nout {
                    let key = outpoint_key(&OutPoint::new(*txid, vout));
                    coins.remove(&key[..]).map_err(idx_err)?;
                }
                for (key, coin) in spent.iter().rev() {
                    coins.insert(*key, *coin).map_err(idx_err)?;
                }
            }
            let prev = bitcoin::BlockHash::from_slice(&prev).map_err(idx_err)?;
            self.store.set_tip(&w, &prev, height - 1)?;
        }
        w.commit().map_err(idx_err)
    }

    /// Calls `f` with every coin in outpoint order (scantxoutset).
    pub fn for_each(&self, mut f: impl FnMut(OutPoint, Coin)) -> Result<(), ChainError> {
        let r = self.store.db.begin_read().map_err(idx_err)?;
        let coins = r.open_table(COINS).map_err(idx_err)?;
        for item in coins.iter().map_err(idx_err)? {
            let (k, v) = item.map_err(idx_err)?;
            let key = k.value();
            let txid: [u8; 32] = key[..32].try_into().map_err(idx_err)?;
            let vout = u32::from_le_bytes(key[32..36].try_into().map_err(idx_err)?);
            f(
                OutPoint::new(Txid::from_byte_array(txid), vout),
                decode_coin(v.value())?,
            );
        }
        Ok(())
    }

    /// Totals over every unspent output (a full scan, as Core's), with the
    /// set hash `hash` names.
    pub fn stats(&self, hash: SetHash) -> Result<SetStats, ChainError> {
        let r = self.store.db.begin_read().map_err(idx_err)?;
        let coins = r.open_table(COINS).map_err(idx_err)?;
        let mut hasher = SetHasher::new(hash);
        let mut s = SetStats {
            txouts: 0,
            transactions: 0,
            bogosize: 0,
            total_amount: Amount::ZERO,
            hash_serialized: None,
            muhash: None,
        };
        // One transaction's outputs at a time: keys order them by txid, but
        // their little-endian index is not numeric order past 255.
        let mut group: Vec<(u32, Coin)> = Vec::new();
        let mut last_txid: Option<[u8; 32]> = None;
        let mut total: u64 = 0;
        for item in coins.iter().map_err(idx_err)? {
            let (k, v) = item.map_err(idx_err)?;
            let coin = decode_coin(v.value())?;
            let key = k.value();
            let txid: [u8; 32] = key[..32].try_into().map_err(idx_err)?;
            let vout = u32::from_le_bytes(key[32..36].try_into().map_err(idx_err)?);
            if last_txid != Some(txid) {
                if let Some(prev) = last_txid {
                    hasher.outputs(&prev, &mut group);
                }
                s.transactions += 1;
                last_txid = Some(txid);
            }
            s.txouts += 1;
            s.bogosize += bogosize(&coin.txout.script_pubkey);
            total = total.saturating_add(coin.txout.value.to_sat());
            if hasher.wants_coins() {
                group.push((vout, coin));
            }
        }
        if let Some(prev) = last_txid {
            hasher.outputs(&prev, &mut group);
        }
        (s.hash_serialized, s.muhash) = hasher.finish();
        s.total_amount = Amount::from_sat(total);
        Ok(s)
    }
}

/// The set hash being computed over a scan (Core's ComputeUTXOStats'
/// `hash_obj`).
enum SetHasher {
    None,
    Serialized(sha256::HashEngine),
    /// The hash, and a buffer for one coin's serialization.
    MuHash(MuHash3072, Vec<u8>),
}

impl SetHasher {
    fn new(hash: SetHash) -> SetHasher {
        match hash {
            SetHash::None => SetHasher::None,
            SetHash::Serialized => SetHasher::Serialized(sha256d::Hash::engine()),
            SetHash::MuHash => SetHasher::MuHash(MuHash3072::new(), Vec::new()),
        }
    }

    fn wants_coins(&self) -> bool {
        !matches!(self, SetHasher::None)
    }

    /// Hashes one transaction's unspent outputs, by index, and empties `group`.
    fn outputs(&mut self, txid: &[u8; 32], group: &mut Vec<(u32, Coin)>) {
        group.sort_unstable_by_key(|(vout, _)| *vout);
        for (vout, coin) in group.drain(..) {
            match self {
                SetHasher::None => {}
                SetHasher::Serialized(engine) => tx_out_ser(engine, txid, vout, &coin),
                SetHasher::MuHash(muhash, buf) => {
                    buf.clear();
                    tx_out_ser(buf, txid, vout, &coin);
                    muhash.insert(buf);
                }
            }
        }
    }

    /// (`hash_serialized_3`, `muhash`): the one that was asked for.
    fn finish(self) -> (Option<sha256d::Hash>, Option<sha256::Hash>) {
        match self {
            SetHasher::None => (None, None),
            SetHasher::Serialized(engine) => (Some(sha256d::Hash::from_engine(engine)), None),
            SetHasher::MuHash(muhash, _) => (None, Some(muhash.finalize())),
        }
    }
}

/// Core's TxOutSer of one coin: the outpoint, height * 2 + coinbase, the
/// output.
fn tx_out_ser(w: &mut impl bitcoin::io::Write, txid: &[u8; 32], vout: u32, coin: &Coin) {
    use bitcoin::consensus::Encodable;
    // Writing into a hash engine or a Vec cannot fail.
    let _ = w.write_all(txid);
    let _ = w.write_all(&vout.to_le_bytes());
    let _ = w.write_all(&((coin.height << 1) | u32::from(coin.coinbase)).to_le_bytes());
    let _ = coin.txout.consensus_encode(w);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::transaction::Version;
    use bitcoin::{Sequence, Transaction, TxIn, Witness};

    fn coinbase(tag: u8) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::from_bytes(vec![1, tag]),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(50),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            }],
        }
    }

    fn spend(prev: OutPoint, outputs: usize) -> Transaction {
        Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: vec![TxIn {
                previous_output: prev,
                ..Default::default()
            }],
            output: (0..outputs)
                .map(|i| TxOut {
                    value: Amount::from_sat(10 + i as u64),
                    script_pubkey: ScriptBuf::from_bytes(vec![0x52]),
                })
                .collect(),
        }
    }

    fn block(prev: bitcoin::BlockHash, txdata: Vec<Transaction>) -> bitcoin::Block {
        bitcoin::Block {
            header: bitcoin::block::Header {
                version: bitcoin::block::Version::TWO,
                prev_blockhash: prev,
                merkle_root: bitcoin::TxMerkleNode::all_zeros(),
                time: txdata.len() as u32,
                bits: bitcoin::CompactTarget::from_consensus(0x207fffff),
                nonce: 0,
            },
            txdata,
        }
    }

    #[test]
    fn set_hash_takes_outputs_in_numeric_index_order() {
        use bitcoin::consensus::serialize;
        let dir = tempfile::tempdir().unwrap();
        let idx = UtxoIndex::open(&dir.path().join("u.redb"), false).unwrap();
        let cb = coinbase(1);
        let b1 = block(bitcoin::BlockHash::all_zeros(), vec![cb.clone()]);
        idx.connect(&b1, 1).unwrap();
        // 300 outputs: little-endian keys put 256 before 1.
        let wide = spend(OutPoint::new(cb.compute_txid(), 0), 300);
        idx.connect(&block(b1.block_hash(), vec![coinbase(2), wide.clone()]), 2)
            .unwrap();
        let cb2 = coinbase(2);
        let mut coins: Vec<(Txid, u32, u32, bool, TxOut)> =
            vec![(cb2.compute_txid(), 0, 2, true, cb2.output[0].clone())];
        for (i, o) in wide.output.iter().enumerate() {
            coins.push((wide.compute_txid(), i as u32, 2, false, o.clone()));
        }
        coins.sort_by_key(|c| (c.0.to_byte_array(), c.1));
        let mut data = Vec::new();
        for (txid, vout, height, coinbase, out) in &coins {
            data.extend_from_slice(&txid.to_byte_array());
            data.extend_from_slice(&vout.to_le_bytes());
            data.extend_from_slice(&((height << 1) | u32::from(*coinbase)).to_le_bytes());
            data.extend_from_slice(&serialize(out));
        }
        let s = idx.stats(SetHash::Serialized).unwrap();
        assert_eq!(s.txouts, 301);
        assert_eq!(s.hash_serialized, Some(sha256d::Hash::hash(&data)));
        assert_eq!(s.muhash, None);
        // MuHash over the same serializations, one coin each, in any order.
        let mut muhash = MuHash3072::new();
        for (txid, vout, height, coinbase, out) in coins.iter().rev() {
            let mut one = Vec::new();
            one.extend_from_slice(&txid.to_byte_array());
            one.extend_from_slice(&vout.to_le_bytes());
            one.extend_from_slice(&((height << 1) | u32::from(*coinbase)).to_le_bytes());
            one.extend_from_slice(&serialize(out));
            muhash.insert(&one);
        }
        let m = idx.stats(SetHash::MuHash).unwrap();
        assert_eq!(m.muhash, Some(muhash.finalize()));
        assert_eq!(m.hash_serialized, None);
        assert_eq!((m.txouts, m.transactions), (s.txouts, s.transactions));
        let n = idx.stats(SetHash::None).unwrap();
        assert_eq!((n.hash_serialized, n.muhash), (None, None));
        assert_eq!((n.txouts, n.bogosize), (s.txouts, s.bogosize));
    }

    #[test]
    fn connect_then_disconnect_restores_the_set_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let idx = UtxoIndex::open(&dir.path().join("u.redb"), false).unwrap();
        let cb1 = coinbase(1);
        let b1 = block(bitcoin::BlockHash::all_zeros(), vec![cb1.clone()]);
        idx.connect(&b1, 1).unwrap();
        let before = idx.stats(SetHash::Serialized).unwrap();
        let before_muhash = idx.stats(SetHash::MuHash).unwrap().muhash;
        assert_eq!(before.txouts, 1);
        // Block 2 spends block 1's coinbase, and a second tx spends the first's
        // output inside the same block.
        let t1 = spend(OutPoint::new(cb1.compute_txid(), 0), 2);
        let t2 = spend(OutPoint::new(t1.compute_txid(), 0), 1);
        let b2 = block(b1.block_hash(), vec![coinbase(2), t1.clone(), t2.clone()]);
        idx.connect(&b2, 2).unwrap();
        assert_eq!(idx.tip().unwrap(), (b2.block_hash(), 2));
        assert!(idx
            .get(&OutPoint::new(cb1.compute_txid(), 0))
            .unwrap()
            .is_none());
        assert!(idx
            .get(&OutPoint::new(t1.compute_txid(), 0))
            .unwrap()
            .is_none());
        let kept = idx
            .get(&OutPoint::new(t1.compute_txid(), 1))
            .unwrap()
            .unwrap();
        assert_eq!(
            (kept.height, kept.coinbase, kept.txout.value.to_sat()),
            (2, false, 11)
        );
        assert_eq!(idx.stats(SetHash::None).unwrap().txouts, 3);

        idx.disconnect_tip().unwrap();
        assert_eq!(idx.tip().unwrap(), (b1.block_hash(), 1));
        assert_eq!(idx.stats(SetHash::Serialized).unwrap(), before);
        assert_eq!(idx.stats(SetHash::MuHash).unwrap().muhash, before_muhash);
        let back = idx
            .get(&OutPoint::new(cb1.compute_txid(), 0))
            .unwrap()
            .unwrap();
        assert!(back.coinbase);
    }

    #[test]
    fn a_block_spending_an_unknown_coin_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let idx = UtxoIndex::open(&dir.path().join("u.redb"), false).unwrap();
        let b1 = block(bitcoin::BlockHash::all_zeros(), vec![coinbase(1)]);
        idx.connect(&b1, 1).unwrap();
        let bogus = spend(OutPoint::new(Txid::all_zeros(), 7), 1);
        let b2 = block(b1.block_hash(), vec![coinbase(2), bogus]);
        assert!(idx.connect(&b2, 2).is_err());
        assert_eq!(idx.tip().unwrap(), (b1.block_hash(), 1));
        assert_eq!(idx.stats(SetHash::None).unwrap().txouts, 1);
    }

    #[test]
    fn op_return_outputs_stay_out_and_reopen_keeps_the_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.redb");
        let mut cb = coinbase(1);
        cb.output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(vec![0x6a, 0x01, 0x00]),
        });
        {
            let idx = UtxoIndex::open(&path, false).unwrap();
            idx.connect(&block(bitcoin::BlockHash::all_zeros(), vec![cb]), 1)
                .unwrap();
            assert_eq!(idx.stats(SetHash::None).unwrap().txouts, 1);
        }
        let idx = UtxoIndex::open(&path, false).unwrap();
        let s = idx.stats(SetHash::None).unwrap();
        assert_eq!((s.txouts, s.transactions, s.bogosize), (1, 1, 51));
        assert_eq!(
            UtxoIndex::open(&path, true)
                .unwrap()
                .stats(SetHash::None)
                .unwrap()
                .txouts,
            0
        );
    }
}
