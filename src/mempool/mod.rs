//! mempool/: the node worker's transaction memory pool, ours in Rust and fed
//! by our UTXO index. `policy` holds Core's standardness rules and options,
//! `pool` the entries and their links, `accept` Core's acceptance checks,
//! `package` Core's package validation (submitpackage, testmempoolaccept),
//! `linearize` the mining order (chunks) and block selection, `persist`
//! Core's mempool.dat format. `Mempool` ties them together behind one lock
//! and follows the active chain as a `ChainListener`: mined transactions and
//! their conflicts leave, transactions of disconnected blocks come back.

pub mod accept;
pub mod linearize;
pub mod package;
pub mod persist;
pub mod policy;
pub mod pool;
pub mod script_check;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bitcoin::{Transaction, Txid, Wtxid};

use crate::chain::{clock, Chain, ChainListener};
pub use accept::{AcceptArgs, Accepted};
pub use package::{PackageError, PackageResult, PackageTx};
pub use policy::{FeeRate, PolicyOptions, Reject, RejectKind};
pub use pool::{Entry, Pool};

/// Core's MAX_BLOCK_SIGOPS_COST.
const MAX_BLOCK_SIGOPS_COST: i64 = 80_000;
/// Core's DEFAULT_COINBASE_OUTPUT_MAX_ADDITIONAL_SIGOPS.
const COINBASE_SIGOPS_RESERVE: i64 = 400;

/// Core's MAX_DISCONNECTED_TX_POOL_BYTES: memory for transactions of
/// disconnected blocks waiting to go back into the pool.
const MAX_DISCONNECTED_TX_POOL_BYTES: usize = 20_000_000;

/// About what Core's RecursiveDynamicUsage counts for a transaction: its
/// inputs, outputs, scripts and witnesses on the heap, and the queue's entry.
fn dynamic_usage(tx: &Transaction) -> usize {
    let inputs: usize = tx
        .input
        .iter()
        .map(|i| 104 + i.script_sig.len() + i.witness.iter().map(|w| 24 + w.len()).sum::<usize>())
        .sum();
    let outputs: usize = tx.output.iter().map(|o| 40 + o.script_pubkey.len()).sum();
    inputs + outputs + 128
}

/// What LoadMempool takes over from a file (Core's ImportMempoolOptions).
#[derive(Clone, Copy, Debug)]
pub struct ImportOptions {
    pub use_current_time: bool,
    pub apply_fee_delta: bool,
    pub apply_unbroadcast: bool,
}

impl ImportOptions {
    /// At start-up: everything the file says.
    pub const STARTUP: ImportOptions = ImportOptions {
        use_current_time: false,
        apply_fee_delta: true,
        apply_unbroadcast: true,
    };
}

/// A block template: the block (coinbase first) and, per transaction after
/// the coinbase, its fee and sigop cost.
pub struct Template {
    pub block: bitcoin::Block,
    pub fees: Vec<i64>,
    pub sigops: Vec<i64>,
}

/// The mempool, shared by RPC handlers, the P2P side and the chain.
pub struct Mempool {
    pool: Mutex<Pool>,
    opts: PolicyOptions,
    /// Transactions of blocks that left the active chain, to re-add, with
    /// their dynamic usage in all.
    disconnected: Mutex<(Vec<Transaction>, usize)>,
    /// A block left the active chain since the last tip update.
    reorged: std::sync::atomic::AtomicBool,
    /// Whether mempool.dat was read (or there was none to read).
    loaded: AtomicBool,
    /// Accepted transactions, for relay.
    added: tokio::sync::broadcast::Sender<(Txid, Wtxid)>,
    /// The last assembled block's weight (with the reserved weight) and
    /// transaction count without the coinbase, as Core's BlockAssembler
    /// keeps them for getmininginfo; None until a block is assembled.
    last_block: Mutex<Option<LastBlock>>,
}

/// What getmininginfo reports of the last assembled block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastBlock {
    pub weight: i64,
    pub txs: usize,
}

impl Mempool {
    pub fn new(opts: PolicyOptions) -> Arc<Mempool> {
        let (added, _) = tokio::sync::broadcast::channel(1024);
        Arc::new(Mempool {
            pool: Mutex::new(Pool::default()),
            opts,
            disconnected: Mutex::new((Vec::new(), 0)),
            reorged: std::sync::atomic::AtomicBool::new(false),
            loaded: AtomicBool::new(false),
            added,
            last_block: Mutex::new(None),
        })
    }

    /// The last assembled block's stats (Core's m_last_block_weight and
    /// m_last_block_num_txs).
    pub fn last_block(&self) -> Option<LastBlock> {
        *self.last_block.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn options(&self) -> &PolicyOptions {
        &self.opts
    }

    /// The pool, locked (for reads by RPCs; hold it briefly).
    pub fn lock(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Accepted transactions from now on (txid, wtxid).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<(Txid, Wtxid)> {
        self.added.subscribe()
    }

    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::SeqCst)
    }

    pub fn set_loaded(&self) {
        self.loaded.store(true, Ordering::SeqCst);
    }

    /// Core's ProcessTransaction: the full checks, then (unless testing) the
    /// transaction enters the pool. Blocking: runs scripts.
    pub fn accept(
        &self,
        chain: &Chain,
        tx: Arc<Transaction>,
        args: AcceptArgs,
    ) -> Result<Accepted, Reject> {
        let _validation = chain.lock_validation();
        let mut pool = self.lock();
        let mut result = accept::accept(&mut pool, chain, &self.opts, tx, args);
        // Marked before relay can announce it and a peer ask for it.
        if let (Ok(a), true, false) = (&result, args.local, args.test_only) {
            pool.set_unbroadcast(a.txid);
        }
        // Core's LimitMempoolSize after each acceptance: old entries
        // expire, then the worst chunks go until the pool fits.
        if let (Ok(a), false) = (&result, args.test_only) {
            self.limit_size(&mut pool, !args.bypass_limits);
            if !args.bypass_limits && pool.get(&a.txid).is_none() {
                result = Err(Reject::new(RejectKind::Policy, "mempool full"));
            }
        }
        let size = pool.len();
        drop(pool);
        if let Ok(a) = &result {
            if !args.test_only && !args.package {
                let _ = self.added.send((a.txid, a.wtxid));
                for t in &a.replaced {
                    tracing::debug!(target: "mempool", "replaced {t} with {}", a.txid);
                }
                tracing::debug!(
                    target: "mempool",
                    "AcceptToMemoryPool: accepted {} (poolsz {size})",
                    a.txid
                );
            }
        }
        result
    }

    /// Core's LimitMempoolSize: entries older than `-mempoolexpiry` go,
    /// then (when `trim`) the worst chunks until the pool fits.
    fn limit_size(&self, pool: &mut Pool, trim: bool) {
        let expired = pool.expire(clock::now() - self.opts.expiry_secs);
        if expired > 0 {
            tracing::debug!(target: "mempool", "Expired {expired} transactions from the memory pool");
        }
        if trim {
            self.trim_to_size(pool);
        }
    }

    /// Core's TrimToSize: while the pool is over `-maxmempool`, the chunk
    /// with the lowest feerate of any cluster (always a cluster's last) is
    /// evicted and the rolling minimum fee rises past it.
    fn trim_to_size(&self, pool: &mut Pool) {
        let limit = self.opts.max_size_bytes as usize;
        let mut removed = 0;
        while pool.usage() > limit && !pool.is_empty() {
            let mut worst: Option<linearize::Chunk> = None;
            let mut seen = std::collections::HashSet::new();
            for e in pool.entries() {
                if !seen.insert(e.txid) {
                    continue;
                }
                let cluster = pool.cluster(&e.txid);
                seen.extend(cluster.iter().copied());
                if let Some(last) =
                    linearize::cluster_chunks(pool, &cluster, self.opts.bytes_per_sigop).pop()
                {
                    let lower = worst.as_ref().is_none_or(|w| {
                        (last.fee as i128) * (w.weight as i128)
                            < (w.fee as i128) * (last.weight as i128)
                    });
                    if lower {
                        worst = Some(last);
                    }
                }
            }
            let Some(chunk) = worst else { break };
            let vsize = (chunk.weight + 3) / 4;
            let rate = FeeRate::of(chunk.fee, vsize).0 + self.opts.incremental_relay_feerate.0;
            pool.track_removed(rate, clock::now());
            for t in &chunk.txs {
                pool.remove(t);
            }
            removed += chunk.txs.len();
        }
        if removed > 0 {
            tracing::debug!(target: "mempool", "Removed {removed} txn, rolling minimum fee bumped");
        }
    }

    /// Core's current mempool minimum fee rate (sat/kvB; 0 when none).
    pub fn min_fee(&self) -> i64 {
        self.lock().min_fee(
            self.opts.max_size_bytes as usize,
            self.opts.incremental_relay_feerate.0,
            clock::now(),
        )
    }

    /// Core's BlockAssembler: a block on the tip paying `script`, filled
    /// with the best chunks that fit in `-blockmaxweight` less
    /// `-blockreservedweight`, each transaction's fee and sigop cost beside.
    pub fn new_block(&self, chain: &Chain, script: bitcoin::ScriptBuf) -> Template {
        let picked: Vec<(Transaction, i64, i64)> = {
            let pool = self.lock();
            linearize::select_for_block(
                &pool,
                self.opts.block_max_weight - self.opts.block_reserved_weight,
                MAX_BLOCK_SIGOPS_COST - COINBASE_SIGOPS_RESERVE,
                self.opts.block_min_feerate.0,
                self.opts.bytes_per_sigop,
            )
            .into_iter()
            .filter_map(|t| pool.get(&t).map(|e| ((*e.tx).clone(), e.fee, e.sigop_cost)))
            .collect()
        };
        let fees: Vec<i64> = picked.iter().map(|p| p.1).collect();
        let sigops: Vec<i64> = picked.iter().map(|p| p.2).collect();
        *self.last_block.lock().unwrap_or_else(|p| p.into_inner()) = Some(LastBlock {
            weight: self.opts.block_reserved_weight
                + picked
                    .iter()
                    .map(|p| p.0.weight().to_wu() as i64)
                    .sum::<i64>(),
            txs: picked.len(),
        });
        let total = bitcoin::Amount::from_sat(fees.iter().sum::<i64>().max(0) as u64);
        let txs = picked.into_iter().map(|p| p.0).collect();
        let mut block = crate::chain::assemble::new_block(chain, script, txs, total);
        self.apply_block_version(&mut block);
        Template {
            block,
            fees,
            sigops,
        }
    }

    /// `-blockversion` on an assembled block (the version is not in the
    /// merkle root, so the block stays whole).
    pub fn apply_block_version(&self, block: &mut bitcoin::Block) {
        if let Some(v) = self.opts.block_version {
            block.header.version = bitcoin::block::Version::from_consensus(v);
        }
    }

    /// What mempool.dat would hold now.
    pub fn dump(&self) -> persist::Dump {
        let pool = self.lock();
        let mut deltas = pool.deltas().clone();
        let txs = pool
            .entries_in_order()
            .into_iter()
            .map(|e| {
                let fee_delta = deltas.remove(&e.txid).unwrap_or(0);
                persist::Saved {
                    tx: (*e.tx).clone(),
                    time: e.time,
                    fee_delta,
                }
            })
            .collect();
        persist::Dump {
            txs,
            deltas,
            unbroadcast: pool.unbroadcast().clone(),
        }
    }

    /// Core's LoadMempool: each saved transaction goes through the usual
    /// checks with its saved time (or now); expired ones are skipped; fee
    /// deltas and the unbroadcast set apply as `opts` says. Returns
    /// (accepted, failed, expired).
    pub fn load(
        &self,
        chain: &Chain,
        dump: persist::Dump,
        opts: ImportOptions,
    ) -> (usize, usize, usize) {
        let now = clock::now();
        let (mut ok, mut failed, mut expired) = (0, 0, 0);
        for mut saved in dump.txs {
            let txid = saved.tx.compute_txid();
            if opts.use_current_time {
                saved.time = now;
            }
            if saved.fee_delta != 0 && opts.apply_fee_delta {
                self.lock().prioritise(txid, saved.fee_delta);
            }
            if saved.time <= now - self.opts.expiry_secs {
                expired += 1;
                continue;
            }
            let args = AcceptArgs {
                accept_time: Some(saved.time),
                ..AcceptArgs::FROM_PEER
            };
            match self.accept(chain, Arc::new(saved.tx), args) {
                Ok(_) => ok += 1,
                Err(r) => {
                    tracing::debug!(target: "mempool", "mempool.dat: {txid} not loaded: {r}");
                    failed += 1;
                }
            }
        }
        let mut pool = self.lock();
        if opts.apply_fee_delta {
            for (txid, delta) in dump.deltas {
                pool.prioritise(txid, delta);
            }
        }
        if opts.apply_unbroadcast {
            for txid in dump.unbroadcast {
                pool.set_unbroadcast(txid);
            }
        }
        drop(pool);
        self.set_loaded();
        (ok, failed, expired)
    }

    /// Core's removeForReorg: entries no longer final at the new tip, whose
    /// inputs are gone from both the chain and the pool, or that spend a
    /// coinbase no longer mature, leave with their descendants.
    fn remove_unspendable(&self, chain: &Chain, pool: &mut Pool, reorg: bool) {
        let tip = chain.tip();
        let next_height = (tip.height + 1) as u32;
        let mtp = chain.median_time_past(&tip.hash).unwrap_or(0);
        let bad: Vec<Txid> = pool
            .entries()
            .filter(|e| {
                !accept::is_final(&e.tx, next_height, mtp)
                    || e.tx.input.iter().any(|i| {
                        let op = &i.previous_output;
                        if pool.output(op).is_some() {
                            return false;
                        }
                        match chain.utxo().get(op) {
                            Ok(Some(c)) => {
                                c.coinbase
                                    && next_height.saturating_sub(c.height)
                                        < accept::COINBASE_MATURITY
                            }
                            _ => true,
                        }
                    })
                    // After a reorganisation coins may be younger than
                    // when it entered (Core's removeForReorg).
                    || (reorg && !accept::sequence_locks_hold(pool, chain, &e.tx))
            })
            .map(|e| e.txid)
            .collect();
        for t in bad {
            pool.remove_with_descendants(&t);
        }
    }

    /// Core's TxGraph::Trim after a reorg: transactions of disconnected
    /// blocks go back without the cluster limits, so a cluster may have
    /// grown past them. Each such cluster keeps what fits of its mining
    /// order; the rest leave with their descendants.
    fn trim_clusters(&self, pool: &mut Pool) {
        let max_count = self.opts.cluster_count;
        let max_weight = self.opts.cluster_size_vbytes * accept::WITNESS_SCALE_FACTOR;
        let bps = self.opts.bytes_per_sigop;
        let mut seen = std::collections::HashSet::new();
        let mut oversized = Vec::new();
        for e in pool.entries() {
            if seen.contains(&e.txid) {
                continue;
            }
            let cluster = pool.cluster(&e.txid);
            seen.extend(cluster.iter().copied());
            let weight: i64 = cluster
                .iter()
                .filter_map(|t| pool.get(t))
                .map(|x| x.adjusted_weight(bps))
                .sum();
            if cluster.len() > max_count || weight > max_weight {
                oversized.push(cluster);
            }
        }
        for cluster in oversized {
            let order = linearize::cluster_chunks(pool, &cluster, bps);
            let (mut count, mut weight) = (0usize, 0i64);
            let mut gone = std::collections::BTreeSet::new();
            for txid in order.iter().flat_map(|c| c.txs.iter()) {
                if gone.contains(txid) {
                    continue;
                }
                let Some(e) = pool.get(txid) else { continue };
                let w = e.adjusted_weight(bps);
                if count < max_count && weight + w <= max_weight {
                    count += 1;
                    weight += w;
                    continue;
                }
                gone.insert(*txid);
                gone.extend(pool.descendants(txid));
            }
            for t in &gone {
                pool.remove(t);
                tracing::debug!(target: "mempool", "removed {t} after reorg: its cluster is over the limits");
            }
        }
    }
}

impl ChainListener for Mempool {
    fn block_disconnected(&self, _chain: &Chain, block: &bitcoin::Block) {
        self.reorged
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let mut guard = self.disconnected.lock().unwrap_or_else(|p| p.into_inner());
        let (d, usage) = &mut *guard;
        // Blocks leave tip first; keep the transactions in chain order.
        let txs: Vec<Transaction> = block.txdata.iter().skip(1).cloned().collect();
        *usage += txs.iter().map(dynamic_usage).sum::<usize>();
        d.splice(0..0, txs);
        // Core's MAX_DISCONNECTED_TX_POOL_BYTES: past it, the transactions
        // that left first (the newest blocks', the end here) are dropped.
        while *usage > MAX_DISCONNECTED_TX_POOL_BYTES {
            let Some(tx) = d.pop() else { break };
            *usage -= dynamic_usage(&tx);
            tracing::debug!(target: "mempool", "not re-added after reorg: {} (disconnected transactions over {MAX_DISCONNECTED_TX_POOL_BYTES} bytes)", tx.compute_txid());
        }
    }

    fn block_connected(&self, _chain: &Chain, block: &bitcoin::Block, _height: u32) {
        let mut pool = self.lock();
        let (mined, conflicted) = pool.remove_for_block(&block.txdata[1..]);
        if !mined.is_empty() || !conflicted.is_empty() {
            tracing::debug!(
                target: "mempool",
                "block {}: {} mined, {} conflicts removed",
                block.block_hash(),
                mined.len(),
                conflicted.len()
            );
        }
    }

    fn tip_updated(&self, chain: &Chain) {
        let readd =
            std::mem::take(&mut *self.disconnected.lock().unwrap_or_else(|p| p.into_inner())).0;
        let reorg = self
            .reorged
            .swap(false, std::sync::atomic::Ordering::Relaxed);
        let mut pool = self.lock();
        for tx in readd {
            let args = AcceptArgs {
                bypass_limits: true,
                ..AcceptArgs::FROM_PEER
            };
            // The validation lock is already held by the block submission.
            if let Err(r) = accept::accept(&mut pool, chain, &self.opts, Arc::new(tx), args) {
                tracing::debug!(target: "mempool", "not re-added after reorg: {r}");
            }
        }
        self.remove_unspendable(chain, &mut pool, reorg);
        if reorg {
            self.trim_clusters(&mut pool);
            self.limit_size(&mut pool, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{assemble, kernel_log, ChainOptions, SubmitOutcome};
    use bitcoin::hashes::Hash;
    use bitcoin::{Amount, Block, OutPoint, ScriptBuf, Sequence, TxIn, TxOut, Witness};

    fn op_true() -> ScriptBuf {
        ScriptBuf::from_bytes(vec![0x51])
    }

    /// Spends `from` (worth `value`) to one P2WSH(OP_TRUE) output, paying `fee`.
    fn spend(from: OutPoint, value: u64, fee: u64) -> Transaction {
        Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: from,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(value - fee),
                script_pubkey: ScriptBuf::new_p2wsh(&op_true().wscript_hash()),
            }],
        }
    }

    /// A block on `prev` at `height` paying the subsidy to `script`.
    fn block_on(
        template: &Block,
        prev: bitcoin::BlockHash,
        height: u32,
        script: ScriptBuf,
    ) -> Block {
        let mut b = template.clone();
        b.header.prev_blockhash = prev;
        b.txdata = vec![assemble::coinbase(
            height,
            script,
            assemble::subsidy(height, 150),
        )];
        assemble::add_witness_commitment(&mut b, true);
        b.header.merkle_root = b.compute_merkle_root().unwrap();
        assert!(assemble::grind(&mut b.header, 1_000_000));
        b
    }

    /// Two blocks on block 101 of `hashes`, built before block 102 exists:
    /// a branch that wins over a chain one block longer than 101.
    fn competing_branch(chain: &Chain, hashes: &[bitcoin::BlockHash]) -> (Block, Block) {
        let template = assemble::new_block(chain, op_true(), vec![], Amount::ZERO);
        let other = ScriptBuf::from_bytes(vec![0x52]);
        let f1 = block_on(&template, hashes[100], 102, other.clone());
        let f2 = block_on(&template, f1.block_hash(), 103, other);
        (f1, f2)
    }

    fn submit(chain: &Chain, mut block: Block) -> bitcoin::BlockHash {
        assert!(assemble::grind(&mut block.header, 1_000_000));
        assert_eq!(chain.submit_block(&block).unwrap(), SubmitOutcome::Accepted);
        block.block_hash()
    }

    /// A regtest chain of `n` blocks paying bare OP_TRUE, with the kernel's
    /// logger and the datadir kept alive by the caller.
    fn mined_chain(
        n: usize,
    ) -> (
        bitcoinkernel::Logger,
        tempfile::TempDir,
        Arc<Chain>,
        Vec<bitcoin::BlockHash>,
    ) {
        let log = kernel_log::install(&crate::logging::LogConfig::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let chain = Chain::open(&ChainOptions::regtest(dir.path().join("regtest"))).unwrap();
        let hashes = (0..n)
            .map(|_| {
                submit(
                    &chain,
                    assemble::new_block(&chain, op_true(), vec![], Amount::ZERO),
                )
            })
            .collect();
        (log, dir, chain, hashes)
    }

    /// Core's defaults but for standardness: bare OP_TRUE coinbases are not
    /// standard to spend.
    fn relaxed() -> PolicyOptions {
        let mut opts = PolicyOptions::core_defaults();
        opts.require_standard = false;
        opts
    }

    #[test]
    fn mined_transactions_leave_and_come_back_when_their_block_is_reorged_out() {
        let (_log, _dir, chain, hashes) = mined_chain(101);
        let mempool = Mempool::new(relaxed());
        chain.add_listener(mempool.clone());
        // A competing branch from block 101, built before block 102 exists.
        let (f1, f2) = competing_branch(&chain, &hashes);

        let coinbase = chain.read_block(&hashes[0]).unwrap().txdata[0].compute_txid();
        let tx = spend(OutPoint::new(coinbase, 0), 50 * 100_000_000, 1000);
        let args = AcceptArgs::FROM_PEER;
        let accepted = mempool.accept(&chain, Arc::new(tx.clone()), args).unwrap();
        assert_eq!(accepted.base_fee, 1000);
        // The template takes it and pays its fee to the coinbase.
        let t = mempool.new_block(&chain, op_true());
        assert_eq!(t.block.txdata.len(), 2);
        assert_eq!(t.fees, vec![1000]);
        assert_eq!(
            t.block.txdata[0].output[0].value,
            assemble::subsidy(102, 150) + Amount::from_sat(1000)
        );
        submit(&chain, t.block);
        assert!(mempool.lock().is_empty(), "mined transactions leave");
        // Spending it again now conflicts with the chain.
        let again = mempool
            .accept(&chain, Arc::new(tx.clone()), args)
            .unwrap_err();
        assert_eq!(again.reason, "txn-already-known");

        // The other branch gets longer: block 102 is disconnected and its
        // transaction returns to the mempool.
        assert_eq!(
            chain.submit_block(&f1).unwrap(),
            SubmitOutcome::Inconclusive
        );
        assert_eq!(chain.submit_block(&f2).unwrap(), SubmitOutcome::Accepted);
        assert_eq!(chain.tip().hash, f2.block_hash());
        assert!(
            mempool.lock().get(&tx.compute_txid()).is_some(),
            "re-added after the reorg"
        );
    }

    #[test]
    fn a_reorg_trims_a_returning_cluster_to_the_limits() {
        let (_log, _dir, chain, hashes) = mined_chain(101);
        let mut opts = relaxed();
        opts.cluster_count = 3;
        let mempool = Mempool::new(opts);
        chain.add_listener(mempool.clone());
        let (f1, f2) = competing_branch(&chain, &hashes);
        // A chain of four, mined in block 102: more than a cluster may hold.
        let coinbase = chain.read_block(&hashes[0]).unwrap().txdata[0].compute_txid();
        let mut value = 50 * 100_000_000;
        let mut prev = OutPoint::new(coinbase, 0);
        let mut txs = Vec::new();
        for i in 0..4 {
            let mut tx = spend(prev, value, 1000);
            if i > 0 {
                // Spending P2WSH(OP_TRUE): the script is the witness.
                tx.input[0].witness = Witness::from_slice(&[op_true().as_bytes()]);
            }
            value -= 1000;
            prev = OutPoint::new(tx.compute_txid(), 0);
            txs.push(tx);
        }
        let fees = Amount::from_sat(4000);
        submit(
            &chain,
            assemble::new_block(&chain, op_true(), txs.clone(), fees),
        );
        assert!(mempool.lock().is_empty());
        // The fork wins: the four come back, and the last leaves again.
        assert_eq!(
            chain.submit_block(&f1).unwrap(),
            SubmitOutcome::Inconclusive
        );
        assert_eq!(chain.submit_block(&f2).unwrap(), SubmitOutcome::Accepted);
        let pool = mempool.lock();
        let back: Vec<bool> = txs
            .iter()
            .map(|t| pool.get(&t.compute_txid()).is_some())
            .collect();
        assert_eq!(back, vec![true, true, true, false]);
    }

    #[test]
    fn a_full_pool_evicts_its_worst_chunk_and_raises_the_minimum_fee() {
        let (_log, _dir, chain, hashes) = mined_chain(104);
        let mut opts = relaxed();
        let coin = |i: usize| {
            let cb = chain.read_block(&hashes[i]).unwrap().txdata[0].compute_txid();
            spend(
                OutPoint::new(cb, 0),
                50 * 100_000_000,
                [3000, 1000, 5000, 2000][i],
            )
        };
        let args = AcceptArgs::FROM_PEER;
        // Room for three entries.
        let probe = Mempool::new(opts.clone());
        probe.accept(&chain, Arc::new(coin(0)), args).unwrap();
        opts.max_size_bytes = probe.lock().usage() as u64 * 3;
        let mempool = Mempool::new(opts);
        assert_eq!(mempool.min_fee(), 0);
        for i in 0..3 {
            mempool.accept(&chain, Arc::new(coin(i)), args).unwrap();
        }
        // A fourth that pays more pushes out the cheapest (fee 1000).
        mempool.accept(&chain, Arc::new(coin(3)), args).unwrap();
        let pool = mempool.lock();
        assert_eq!(pool.len(), 3);
        assert!(pool.get(&coin(1).compute_txid()).is_none());
        drop(pool);
        let floor = mempool.min_fee();
        assert!(floor > 1000 * 1000 / coin(1).vsize() as i64, "{floor}");
        // What pays less than the floor is refused with Core's reason.
        let cheap = coin(1);
        let r = mempool.accept(&chain, Arc::new(cheap), args).unwrap_err();
        assert_eq!(r.reason, "mempool min fee not met");
    }

    /// A pool entry for `tx` paying 1000 sat.
    fn entry(tx: &Transaction) -> Entry {
        Entry {
            tx: Arc::new(tx.clone()),
            txid: tx.compute_txid(),
            wtxid: tx.compute_wtxid(),
            fee: 1000,
            weight: tx.weight().to_wu() as i64,
            sigop_cost: 0,
            vsize: tx.vsize() as i64,
            time: 0,
            height: 0,
            sequence: 0,
            spends_coinbase: false,
            parents: Default::default(),
            children: Default::default(),
        }
    }

    #[test]
    fn a_parent_back_from_a_disconnected_block_is_listed_and_saved_before_its_child() {
        let mut pool = Pool::default();
        let parent = spend(
            OutPoint::new(bitcoin::Txid::from_byte_array([4; 32]), 0),
            100_000,
            1000,
        );
        let child = spend(OutPoint::new(parent.compute_txid(), 0), 99_000, 1000);
        // The child was here while its parent was confirmed; the parent
        // comes back after a reorg, later in entry order.
        pool.add(entry(&child), false);
        pool.add(entry(&parent), true);
        let order: Vec<_> = pool.entries_in_order().iter().map(|e| e.txid).collect();
        assert_eq!(order, vec![parent.compute_txid(), child.compute_txid()]);
        // As Core, the one back from a block has entry sequence 0 (peers
        // may ask for it at once); the other its place in the sequence.
        let sequence = |t: &Transaction| pool.get(&t.compute_txid()).unwrap().sequence;
        assert_eq!((sequence(&parent), sequence(&child)), (0, 1));
    }

    #[test]
    fn a_block_spending_the_same_coin_evicts_the_conflict_and_its_children() {
        let mut pool = Pool::default();
        let coin = OutPoint::new(bitcoin::Txid::from_byte_array([1; 32]), 0);
        let parent = spend(coin, 100_000, 1000);
        let child = spend(OutPoint::new(parent.compute_txid(), 0), 99_000, 1000);
        let other = spend(
            OutPoint::new(bitcoin::Txid::from_byte_array([2; 32]), 0),
            100_000,
            1000,
        );
        for t in [&parent, &child, &other] {
            pool.add(entry(t), false);
        }
        assert_eq!(pool.descendants(&parent.compute_txid()).len(), 1);
        assert_eq!(pool.cluster(&child.compute_txid()).len(), 2);
        let rival = spend(coin, 100_000, 5000);
        let (mined, conflicted) = pool.remove_for_block(&[rival]);
        assert!(mined.is_empty());
        assert_eq!(conflicted.len(), 2);
        assert_eq!(pool.len(), 1);
        assert!(pool.get(&other.compute_txid()).is_some());
        assert_eq!(pool.total_fee(), 1000);
    }
}
