//! mempool/pool: the transactions the mempool holds and the links between
//! them. Entries by txid with indexes by wtxid and by the outpoints they
//! spend; parent and child links to other entries; fee deltas from
//! `prioritisetransaction`; totals. No policy here: `accept` decides what
//! goes in, `linearize` orders what is in.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bitcoin::{OutPoint, Transaction, TxOut, Txid, Wtxid};

/// One transaction in the mempool.
#[derive(Clone, Debug)]
pub struct Entry {
    pub tx: Arc<Transaction>,
    pub txid: Txid,
    pub wtxid: Wtxid,
    /// Base fee in satoshis (what the transaction pays).
    pub fee: i64,
    /// BIP141 weight.
    pub weight: i64,
    /// Core's sigop cost of the transaction.
    pub sigop_cost: i64,
    /// Virtual size, sigop-adjusted (Core's GetTxSize).
    pub vsize: i64,
    /// When it entered the mempool (seconds since the epoch).
    pub time: i64,
    /// Chain height when it entered.
    pub height: u32,
    /// Order of entry: the mempool sequence when it came in (Core's entry
    /// sequence).
    pub sequence: u64,
    pub spends_coinbase: bool,
    /// In-mempool transactions it spends from.
    pub parents: BTreeSet<Txid>,
    /// In-mempool transactions spending from it.
    pub children: BTreeSet<Txid>,
}

impl Entry {
    /// Core's sigops-adjusted weight (chunk weights are in it).
    pub fn adjusted_weight(&self, bytes_per_sigop: i64) -> i64 {
        self.weight.max(self.sigop_cost * bytes_per_sigop)
    }
}

/// The mempool's contents.
#[derive(Default)]
pub struct Pool {
    entries: HashMap<Txid, Entry>,
    by_wtxid: HashMap<Wtxid, Txid>,
    /// Which entry spends each outpoint.
    spenders: HashMap<OutPoint, Txid>,
    /// prioritisetransaction's fee deltas, also for transactions not (yet) in.
    deltas: BTreeMap<Txid, i64>,
    /// Submitted locally and not yet announced to a peer that asked for it.
    unbroadcast: BTreeSet<Txid>,
    /// Core's mempool sequence: bumped on every addition and removal.
    sequence: u64,
    total_vsize: i64,
    total_fee: i64,
    usage: usize,
    /// Core's rolling minimum fee rate (sat/kvB) after size-limit evictions,
    /// the time it was last decayed, and whether a block came since it rose.
    rolling_min_fee: f64,
    rolling_updated: i64,
    block_since_bump: bool,
}

impl Pool {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, txid: &Txid) -> Option<&Entry> {
        self.entries.get(txid)
    }

    pub fn by_wtxid(&self, wtxid: &Wtxid) -> Option<&Entry> {
        self.by_wtxid.get(wtxid).and_then(|t| self.entries.get(t))
    }

    /// The entry spending `outpoint`, if any.
    pub fn spender(&self, outpoint: &OutPoint) -> Option<&Txid> {
        self.spenders.get(outpoint)
    }

    /// The output `outpoint` of an in-mempool transaction.
    pub fn output(&self, outpoint: &OutPoint) -> Option<&TxOut> {
        self.entries
            .get(&outpoint.txid)
            .and_then(|e| e.tx.output.get(outpoint.vout as usize))
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// Every entry, parents before children: by in-mempool ancestor count,
    /// then order of entry (what mempool.dat holds, which must load back in
    /// order, and what mining starts from). Entry order alone is not
    /// enough: a transaction that returns from a disconnected block enters
    /// after children of it that were already here.
    pub fn entries_in_order(&self) -> Vec<&Entry> {
        self.parents_first(|e| e.sequence)
    }

    /// Every entry as getrawmempool lists them: parents first, then by
    /// txid. Unlike entry order, the list is the same after a
    /// reorganisation sends mined transactions back (Core's list, in mining
    /// order, does not depend on when they entered either).
    pub fn entries_listed(&self) -> Vec<&Entry> {
        self.parents_first(|e| e.txid)
    }

    /// Every entry by in-mempool ancestor count, ties broken by `tie`.
    fn parents_first<K: Ord>(&self, tie: impl Fn(&Entry) -> K) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self.entries.values().collect();
        v.sort_by_cached_key(|e| (self.ancestors(&e.txid).len(), tie(e)));
        v
    }

    /// Sorting by this puts parents before their children.
    pub fn topological_key(&self, e: &Entry) -> (usize, u64) {
        (self.ancestors(&e.txid).len(), e.sequence)
    }

    pub fn delta(&self, txid: &Txid) -> i64 {
        self.deltas.get(txid).copied().unwrap_or(0)
    }

    pub fn deltas(&self) -> &BTreeMap<Txid, i64> {
        &self.deltas
    }

    /// Base fee plus the prioritisation delta.
    pub fn modified_fee(&self, e: &Entry) -> i64 {
        e.fee + self.delta(&e.txid)
    }

    /// Core's PrioritiseTransaction: deltas add up; a zero sum is forgotten.
    pub fn prioritise(&mut self, txid: Txid, delta: i64) {
        let sum = self.delta(&txid).saturating_add(delta);
        if sum == 0 {
            self.deltas.remove(&txid);
        } else {
            self.deltas.insert(txid, sum);
        }
    }

    /// Core's mempool sequence, which starts at 1.
    pub fn sequence(&self) -> u64 {
        self.sequence + 1
    }

    pub fn total_vsize(&self) -> i64 {
        self.total_vsize
    }

    pub fn total_fee(&self) -> i64 {
        self.total_fee
    }

    /// An estimate of the memory the entries take, in bytes.
    pub fn usage(&self) -> usize {
        self.usage
    }

    pub fn unbroadcast(&self) -> &BTreeSet<Txid> {
        &self.unbroadcast
    }

    pub fn set_unbroadcast(&mut self, txid: Txid) {
        if self.entries.contains_key(&txid) {
            self.unbroadcast.insert(txid);
        }
    }

    pub fn clear_unbroadcast(&mut self, txid: &Txid) {
        if self.unbroadcast.remove(txid) {
            tracing::debug!(target: "mempool", "Removed {txid} from set of unbroadcast txns");
        }
    }

    /// Every in-mempool ancestor of `txid` (not itself).
    pub fn ancestors(&self, txid: &Txid) -> BTreeSet<Txid> {
        self.walk(txid, |e| &e.parents)
    }

    /// Every in-mempool descendant of `txid` (not itself).
    pub fn descendants(&self, txid: &Txid) -> BTreeSet<Txid> {
        self.walk(txid, |e| &e.children)
    }

    fn walk(&self, txid: &Txid, next: impl Fn(&Entry) -> &BTreeSet<Txid>) -> BTreeSet<Txid> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<Txid> = self
            .entries
            .get(txid)
            .map(|e| next(e).iter().copied().collect())
            .unwrap_or_default();
        while let Some(t) = todo.pop() {
            if seen.insert(t) {
                if let Some(e) = self.entries.get(&t) {
                    todo.extend(next(e).iter().copied());
                }
            }
        }
        seen
    }

    /// Every entry connected to `txid` by parent or child links, itself
    /// included (its cluster).
    pub fn cluster(&self, txid: &Txid) -> BTreeSet<Txid> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![*txid];
        while let Some(t) = todo.pop() {
            if !seen.insert(t) {
                continue;
            }
            if let Some(e) = self.entries.get(&t) {
                todo.extend(e.parents.iter().chain(&e.children).copied());
            }
        }
        seen.retain(|t| self.entries.contains_key(t));
        seen
    }

    /// Adds `entry`, linking it to in-mempool parents and to entries that
    /// already spend its outputs (after a reorg). Its sequence is assigned:
    /// the mempool sequence it was added at (a peer may have it once an
    /// announcement went out after that), or, as Core, 0 for a transaction
    /// back from a disconnected block (`from_block`: peers may have seen it
    /// in the block).
    pub fn add(&mut self, mut entry: Entry, from_block: bool) {
        let txid = entry.txid;
        entry.sequence = if from_block { 0 } else { self.sequence() };
        entry.parents = entry
            .tx
            .input
            .iter()
            .map(|i| i.previous_output.txid)
            .filter(|p| self.entries.contains_key(p))
            .collect();
        entry.children = (0..entry.tx.output.len() as u32)
            .filter_map(|vout| self.spenders.get(&OutPoint::new(txid, vout)).copied())
            .collect();
        for p in &entry.parents {
            if let Some(pe) = self.entries.get_mut(p) {
                pe.children.insert(txid);
            }
        }
        for c in &entry.children {
            if let Some(ce) = self.entries.get_mut(c) {
                ce.parents.insert(txid);
            }
        }
        for input in &entry.tx.input {
            self.spenders.insert(input.previous_output, txid);
        }
        self.by_wtxid.insert(entry.wtxid, txid);
        self.total_vsize += entry.vsize;
        self.total_fee += entry.fee;
        self.usage += entry_usage(&entry);
        self.sequence += 1;
        self.entries.insert(txid, entry);
    }

    /// Removes `txid` only (its children stay, unlinked). Returns it.
    pub fn remove(&mut self, txid: &Txid) -> Option<Entry> {
        let entry = self.entries.remove(txid)?;
        for p in &entry.parents {
            if let Some(pe) = self.entries.get_mut(p) {
                pe.children.remove(txid);
            }
        }
        for c in &entry.children {
            if let Some(ce) = self.entries.get_mut(c) {
                ce.parents.remove(txid);
            }
        }
        for input in &entry.tx.input {
            if self.spenders.get(&input.previous_output) == Some(txid) {
                self.spenders.remove(&input.previous_output);
            }
        }
        self.by_wtxid.remove(&entry.wtxid);
        if self.unbroadcast.remove(txid) {
            tracing::debug!(target: "mempool", "Removed {txid} from set of unbroadcast txns before confirmation that txn was sent out");
        }
        self.total_vsize -= entry.vsize;
        self.total_fee -= entry.fee;
        self.usage -= entry_usage(&entry);
        self.sequence += 1;
        Some(entry)
    }

    /// Removes `txid` and all its descendants. Returns what was removed.
    pub fn remove_with_descendants(&mut self, txid: &Txid) -> Vec<Entry> {
        let mut all: Vec<Txid> = self.descendants(txid).into_iter().collect();
        all.push(*txid);
        all.iter().filter_map(|t| self.remove(t)).collect()
    }

    /// Core's Expire: entries that entered before `cutoff` leave with their
    /// descendants. Returns how many left.
    pub fn expire(&mut self, cutoff: i64) -> usize {
        let old: Vec<Txid> = self
            .entries
            .values()
            .filter(|e| e.time < cutoff)
            .map(|e| e.txid)
            .collect();
        old.iter()
            .map(|t| self.remove_with_descendants(t).len())
            .sum()
    }

    /// Core's trackPackageRemoved: an eviction at `rate` raises the floor.
    pub fn track_removed(&mut self, rate: i64, now: i64) {
        if rate as f64 > self.rolling_min_fee {
            self.rolling_min_fee = rate as f64;
            self.rolling_updated = now;
            self.block_since_bump = false;
        }
    }

    /// Core's GetMinFee: the rolling floor, halving every 12 hours (faster
    /// when the pool is far below `limit`) once a block has come, gone
    /// under half the incremental relay fee; never below that fee while set.
    pub fn min_fee(&mut self, limit: usize, incremental: i64, now: i64) -> i64 {
        if !self.block_since_bump || self.rolling_min_fee == 0.0 {
            return self.rolling_min_fee.round() as i64;
        }
        if now > self.rolling_updated + 10 {
            let mut halflife = 60.0 * 60.0 * 12.0;
            if self.usage < limit / 4 {
                halflife /= 4.0;
            } else if self.usage < limit / 2 {
                halflife /= 2.0;
            }
            self.rolling_min_fee /= 2f64.powf((now - self.rolling_updated) as f64 / halflife);
            self.rolling_updated = now;
            if self.rolling_min_fee < incremental as f64 / 2.0 {
                self.rolling_min_fee = 0.0;
                return 0;
            }
        }
        (self.rolling_min_fee.round() as i64).max(incremental)
    }

    /// Core's removeForBlock: the block's transactions leave (their children
    /// stay), then whatever conflicts with them leaves with its descendants.
    /// Their fee deltas are forgotten. Returns (mined, conflicted) txids.
    pub fn remove_for_block(&mut self, txs: &[Transaction]) -> (Vec<Txid>, Vec<Txid>) {
        let mut mined = Vec::new();
        let mut conflicted = Vec::new();
        for tx in txs {
            let txid = tx.compute_txid();
            if self.remove(&txid).is_some() {
                mined.push(txid);
            }
            for input in &tx.input {
                if let Some(spender) = self.spenders.get(&input.previous_output).copied() {
                    if spender != txid {
                        conflicted.extend(
                            self.remove_with_descendants(&spender)
                                .into_iter()
                                .map(|e| e.txid),
                        );
                    }
                }
            }
            self.deltas.remove(&txid);
        }
        self.block_since_bump = true;
        (mined, conflicted)
    }
}

/// The memory an entry costs, estimated as Core's DynamicMemoryUsage does
/// for its entries: the transaction's bytes, allocation overhead for each
/// input and output and their scripts, and the entry with its indexes.
fn entry_usage(e: &Entry) -> usize {
    e.tx.total_size() + 64 * (e.tx.input.len() + e.tx.output.len()) + 512
}
