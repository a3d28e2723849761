//! mempool/accept: Core's AcceptToMemoryPool for one transaction, in Core's
//! order of checks and with Core's reject reasons: context-free checks,
//! standardness, finality, duplicates and conflicts, inputs from our UTXO
//! index or the mempool, BIP68, input values and coinbase maturity, input
//! and witness standardness, sigops, fees, full-RBF replacement, cluster
//! limits, and last the scripts, verified by Core's own interpreter in the
//! kernel. The kernel verifies the consensus (mandatory) flags only: its API
//! refuses Core's policy-only flags (LOW_S, CLEANSTACK, MINIMALDATA, ...),
//! so those policy rules are not enforced here.

use std::collections::BTreeSet;
use std::sync::Arc;

use bitcoin::{OutPoint, Transaction, TxOut, Txid};

use super::linearize;
use super::policy::{self, FeeRate, PolicyOptions, Reject, RejectKind};
use super::pool::{Entry, Pool};
use super::script_check;
use crate::chain::{clock, Chain};

/// Core's COINBASE_MATURITY.
pub(super) const COINBASE_MATURITY: u32 = 100;
/// Core's MAX_REPLACEMENT_CANDIDATES (distinct clusters a replacement touches).
pub(super) const MAX_REPLACEMENT_CANDIDATES: usize = 100;
/// Weight units per virtual byte.
pub(super) const WITNESS_SCALE_FACTOR: i64 = 4;
/// Height Core gives coins of in-mempool transactions.
const MEMPOOL_HEIGHT: u32 = 0x7fff_ffff;

/// How to run the checks.
#[derive(Clone, Copy, Debug)]
pub struct AcceptArgs {
    /// Check only (testmempoolaccept): nothing changes.
    pub test_only: bool,
    /// A transaction from a disconnected block: no fee or cluster limits.
    pub bypass_limits: bool,
    /// The entry time to record (mempool.dat keeps the original one).
    pub accept_time: Option<i64>,
    /// Submitted here (RPC): unbroadcast until a peer asks for it.
    pub local: bool,
    /// Part of a package whose fee rate the caller checks as a whole: the
    /// transaction's own fee checks are skipped and it is not announced
    /// until the caller says so.
    pub package: bool,
    /// Whether it may replace mempool transactions (Core's
    /// m_allow_replacement; off for testmempoolaccept of a package).
    pub allow_replacement: bool,
    /// The caller's highest fee rate (submitpackage's `maxfeerate`, Core's
    /// m_client_maxfeerate): "max feerate exceeded" above it.
    pub max_feerate: Option<FeeRate>,
    /// Whether to run the scripts (testmempoolaccept of a package runs them
    /// after every transaction's other checks, with `check_scripts`).
    pub scripts: bool,
}

impl AcceptArgs {
    /// A transaction from a peer: every check, nothing special.
    pub const FROM_PEER: AcceptArgs = AcceptArgs {
        test_only: false,
        bypass_limits: false,
        accept_time: None,
        local: false,
        package: false,
        allow_replacement: true,
        max_feerate: None,
        scripts: true,
    };
}

/// What a successful acceptance tells the caller.
#[derive(Clone, Debug)]
pub struct Accepted {
    pub txid: Txid,
    pub wtxid: bitcoin::Wtxid,
    pub vsize: i64,
    pub base_fee: i64,
    /// The base fee plus the prioritisetransaction delta.
    pub modified_fee: i64,
    /// Transactions the replacement evicted.
    pub replaced: Vec<Txid>,
    /// Their entries, as they were: a package whose later checks fail puts
    /// them back.
    pub evicted: Vec<Entry>,
}

impl Accepted {
    /// Modified fee over vsize, sat/kvB (testmempoolaccept's effective-feerate).
    pub fn effective_feerate(&self) -> FeeRate {
        FeeRate::of(self.modified_fee, self.vsize)
    }
}

/// One spent coin as the checks need it.
struct SpentCoin {
    txout: TxOut,
    height: u32,
    coinbase: bool,
}

pub(super) fn format_money(sats: i64) -> String {
    let sign = if sats < 0 { "-" } else { "" };
    let a = sats.unsigned_abs();
    let frac = format!("{:08}", a % 100_000_000);
    let trimmed = frac.trim_end_matches('0');
    // Core's FormatMoney keeps at least two decimals.
    let frac = if trimmed.len() < 2 {
        &frac[..2]
    } else {
        trimmed
    };
    format!("{sign}{}.{frac}", a / 100_000_000)
}

/// Core's IsFinalTx for the next block.
pub(super) fn is_final(tx: &Transaction, height: u32, mtp: u32) -> bool {
    let lock = tx.lock_time.to_consensus_u32();
    if lock == 0 {
        return true;
    }
    let limit = if lock < 500_000_000 { height } else { mtp };
    if lock < limit {
        return true;
    }
    tx.input.iter().all(|i| i.sequence.0 == 0xffff_ffff)
}

/// Core's BIP68 sequence locks of a mempool transaction after a
/// reorganisation (removeForReorg): its coins' heights as they are now.
pub(super) fn sequence_locks_hold(pool: &Pool, chain: &Chain, tx: &Transaction) -> bool {
    if tx.version.0 < 2 {
        return true;
    }
    let mut heights = Vec::with_capacity(tx.input.len());
    for input in &tx.input {
        let op = &input.previous_output;
        let height = if pool.output(op).is_some() {
            MEMPOOL_HEIGHT
        } else {
            match chain.utxo().get(op) {
                Ok(Some(c)) => c.height,
                _ => return false,
            }
        };
        heights.push(height);
    }
    sequence_locks_at(chain, tx, heights)
}

/// Core's BIP68 sequence locks, evaluated for the block after the tip.
fn sequence_locks_ok(chain: &Chain, tx: &Transaction, coins: &[SpentCoin]) -> bool {
    sequence_locks_at(chain, tx, coins.iter().map(|c| c.height))
}

/// BIP68 for the next block, given each input's coin height
/// (MEMPOOL_HEIGHT for an unconfirmed one).
fn sequence_locks_at(
    chain: &Chain,
    tx: &Transaction,
    heights: impl IntoIterator<Item = u32>,
) -> bool {
    if tx.version.0 < 2 {
        return true;
    }
    let tip = chain.tip();
    let next_height = tip.height + 1;
    let tip_mtp = chain.median_time_past(&tip.hash).unwrap_or(0) as i64;
    let (mut min_height, mut min_time) = (-1i64, -1i64);
    for (input, height) in tx.input.iter().zip(heights) {
        let seq = input.sequence.0;
        if seq & (1 << 31) != 0 {
            continue;
        }
        let coin_height = if height == MEMPOOL_HEIGHT {
            next_height
        } else {
            height as i32
        };
        let value = (seq & 0xffff) as i64;
        if seq & (1 << 22) != 0 {
            let base = (coin_height - 1).max(0);
            let coin_time = chain
                .block_at(base)
                .and_then(|b| chain.median_time_past(&b.hash))
                .unwrap_or(0) as i64;
            min_time = min_time.max(coin_time + (value << 9) - 1);
        } else {
            min_height = min_height.max(coin_height as i64 + value - 1);
        }
    }
    min_height < next_height as i64 && min_time < tip_mtp
}

/// Core's AcceptToMemoryPool with `pool` locked and the chain held still.
pub fn accept(
    pool: &mut Pool,
    chain: &Chain,
    opts: &PolicyOptions,
    tx: Arc<Transaction>,
    args: AcceptArgs,
) -> Result<Accepted, Reject> {
    let txid = tx.compute_txid();
    let wtxid = tx.compute_wtxid();
    let consensus = |r: &str| Reject::new(RejectKind::Consensus, r);
    let policy_reject = |r: &str| Reject::new(RejectKind::Policy, r);
    let fee_reject = |r: &str| Reject::new(RejectKind::Reconsiderable, r);

    policy::check_transaction(&tx)?;
    if tx.is_coinbase() {
        return Err(consensus("coinbase"));
    }
    if opts.require_standard {
        policy::check_standard(&tx, opts)?;
    }
    policy::check_size_small(&tx)?;
    let tip = chain.tip();
    let next_height = (tip.height + 1) as u32;
    let tip_mtp = chain.median_time_past(&tip.hash).unwrap_or(0);
    if !is_final(&tx, next_height, tip_mtp) {
        return Err(Reject::new(RejectKind::Premature, "non-final"));
    }
    if pool.by_wtxid(&wtxid).is_some() {
        return Err(Reject::new(RejectKind::Conflict, "txn-already-in-mempool"));
    }
    if pool.get(&txid).is_some() {
        return Err(Reject::new(
            RejectKind::Conflict,
            "txn-same-nonwitness-data-in-mempool",
        ));
    }
    // Full RBF: every conflict may be replaced.
    let mut conflicts: BTreeSet<Txid> = tx
        .input
        .iter()
        .filter_map(|i| pool.spender(&i.previous_output).copied())
        .collect();
    if !conflicts.is_empty() && !args.allow_replacement {
        return Err(policy_reject("bip125-replacement-disallowed"));
    }

    let mut coins = Vec::with_capacity(tx.input.len());
    for input in &tx.input {
        let op = input.previous_output;
        if let Some(out) = pool.output(&op) {
            coins.push(SpentCoin {
                txout: out.clone(),
                height: MEMPOOL_HEIGHT,
                coinbase: false,
            });
            continue;
        }
        match chain.utxo().get(&op) {
            Ok(Some(c)) => coins.push(SpentCoin {
                txout: c.txout,
                height: c.height,
                coinbase: c.coinbase,
            }),
            Ok(None) => {
                let known = (0..tx.output.len() as u32).any(|vout| {
                    matches!(chain.utxo().get(&OutPoint::new(txid, vout)), Ok(Some(_)))
                });
                if known {
                    return Err(Reject::new(RejectKind::Conflict, "txn-already-known"));
                }
                return Err(Reject::new(
                    RejectKind::MissingInputs,
                    "bad-txns-inputs-missingorspent",
                ));
            }
            Err(e) => {
                return Err(Reject::new(RejectKind::Policy, "mempool-error").with(e.to_string()))
            }
        }
    }
    if !sequence_locks_ok(chain, &tx, &coins) {
        return Err(Reject::new(RejectKind::Premature, "non-BIP68-final"));
    }

    // Core's CheckTxInputs.
    let mut value_in: i64 = 0;
    for coin in &coins {
        if coin.coinbase && next_height.saturating_sub(coin.height) < COINBASE_MATURITY {
            return Err(Reject::new(
                RejectKind::Premature,
                "bad-txns-premature-spend-of-coinbase",
            )
            .with(format!(
                "tried to spend coinbase at depth {}",
                next_height.saturating_sub(coin.height)
            )));
        }
        value_in = value_in.saturating_add(policy::signed_value(&coin.txout));
        if !(0..=crate::rpc::amount::MAX_MONEY).contains(&value_in) {
            return Err(consensus("bad-txns-inputvalues-outofrange"));
        }
    }
    let value_out: i64 = tx.output.iter().map(policy::signed_value).sum();
    if value_in < value_out {
        return Err(consensus("bad-txns-in-belowout").with(format!(
            "value in ({}) < value out ({})",
            format_money(value_in),
            format_money(value_out)
        )));
    }
    let fee = value_in - value_out;
    let spent: Vec<TxOut> = coins.iter().map(|c| c.txout.clone()).collect();
    if opts.require_standard {
        policy::check_inputs_standard(&tx, &spent)?;
        if tx.input.iter().any(|i| !i.witness.is_empty()) && !policy::witness_standard(&tx, &spent)
        {
            return Err(Reject::new(RejectKind::Policy, "bad-witness-nonstandard"));
        }
    }
    let spent_by: std::collections::HashMap<OutPoint, &TxOut> = tx
        .input
        .iter()
        .map(|i| i.previous_output)
        .zip(&spent)
        .collect();
    let sigop_cost = tx.total_sigop_cost(|op| spent_by.get(op).map(|o| (*o).clone())) as i64;
    let weight = tx.weight().to_wu() as i64;
    let vsize = policy::virtual_size(weight, sigop_cost, opts.bytes_per_sigop);
    // Core's sigop-adjusted weight (what Entry::adjusted_weight gives once
    // it is in the pool).
    let adjusted_weight = weight.max(sigop_cost * opts.bytes_per_sigop);
    let modified_fee = fee + pool.delta(&txid);

    if opts.require_standard
        && !policy::dust_outputs(&tx, opts.dust_relay_feerate).is_empty()
        && (fee != 0 || modified_fee != 0)
    {
        return Err(policy_reject("dust").with("tx with dust output must be 0-fee"));
    }
    if sigop_cost > policy::MAX_STANDARD_TX_SIGOPS_COST {
        return Err(policy_reject("bad-txns-too-many-sigops").with(sigop_cost.to_string()));
    }
    if !args.bypass_limits && !args.package {
        check_fee_rate(pool, opts, vsize, modified_fee)?;
    }

    // Everything the replacement evicts: the conflicts and their descendants.
    let mut evicted: BTreeSet<Txid> = BTreeSet::new();
    for c in &conflicts {
        evicted.insert(*c);
        evicted.extend(pool.descendants(c));
    }
    let parents: BTreeSet<Txid> = tx
        .input
        .iter()
        .map(|i| i.previous_output.txid)
        .filter(|p| pool.get(p).is_some())
        .collect();
    let mut ancestors: BTreeSet<Txid> = parents.clone();
    for p in &parents {
        ancestors.extend(pool.ancestors(p));
    }
    // Core's TRUC sibling eviction: a version 3 child whose parent already
    // has its one child may replace that sibling under the RBF rules
    // (single transactions only, not packages).
    let mut sibling_eviction = false;
    if !args.bypass_limits {
        if let Some(violation) = truc_violation(pool, &tx, &parents, &conflicts, vsize) {
            match violation.sibling {
                Some(sibling) if !args.package && args.allow_replacement => {
                    conflicts.insert(sibling);
                    evicted.insert(sibling);
                    evicted.extend(pool.descendants(&sibling));
                    sibling_eviction = true;
                }
                _ => return Err(policy_reject("TRUC-violation").with(violation.why)),
            }
        }
    }
    // Core names the sibling in the replacement's reject reasons.
    let rbf_reason = |reason: &str| {
        if sibling_eviction {
            format!("{reason} (including sibling eviction)")
        } else {
            reason.to_string()
        }
    };
    if let Some(bad) = ancestors.iter().find(|a| evicted.contains(*a)) {
        return Err(consensus("bad-txns-spends-conflicting-tx")
            .with(format!("{txid} spends conflicting transaction {bad}")));
    }
    // Core checks the caller's maximum after its PreChecks, before the
    // replacement rules.
    if let Some(max) = args.max_feerate {
        if FeeRate::of(modified_fee, vsize).0 > max.0 {
            return Err(policy_reject("max feerate exceeded"));
        }
    }
    // Core's CheckEphemeralSpends: dust of an unconfirmed parent (only a
    // 0-fee transaction has any) must be spent by its child. Not for
    // transactions coming back from disconnected blocks.
    if opts.require_standard && !args.bypass_limits {
        for parent in &parents {
            let Some(p) = pool.get(parent) else { continue };
            let unspent = policy::dust_outputs(&p.tx, opts.dust_relay_feerate)
                .into_iter()
                .any(|vout| {
                    let dust = OutPoint::new(*parent, vout as u32);
                    !tx.input.iter().any(|i| i.previous_output == dust)
                });
            if unspent {
                return Err(policy_reject("missing-ephemeral-spends").with(format!(
                    "tx {txid} (wtxid={wtxid}) did not spend parent's ephemeral dust"
                )));
            }
        }
    }

    // In a package, the replacement rules are the package's (its caller's
    // Core PackageRBFChecks), not each transaction's.
    if !conflicts.is_empty() && !args.package {
        let clusters: BTreeSet<Txid> = conflicts
            .iter()
            .filter_map(|c| pool.cluster(c).into_iter().next())
            .collect();
        if clusters.len() > MAX_REPLACEMENT_CANDIDATES {
            return Err(policy_reject(&rbf_reason("too many potential replacements")).with(format!(
                "rejecting replacement {txid}; too many conflicting clusters ({} > {MAX_REPLACEMENT_CANDIDATES})",
                clusters.len()
            )));
        }
        let conflicting_fees: i64 = evicted
            .iter()
            .filter_map(|t| pool.get(t))
            .map(|e| pool.modified_fee(e))
            .sum();
        if modified_fee < conflicting_fees {
            return Err(fee_reject(&rbf_reason("insufficient fee")).with(format!(
                "rejecting replacement {txid}, less fees than conflicting txs; {} < {}",
                format_money(modified_fee),
                format_money(conflicting_fees)
            )));
        }
        let additional = modified_fee - conflicting_fees;
        let relay = opts.incremental_relay_feerate.fee(vsize);
        if additional < relay {
            return Err(fee_reject(&rbf_reason("insufficient fee")).with(format!(
                "rejecting replacement {txid}, not enough additional fees to relay; {} < {}",
                format_money(additional),
                format_money(relay)
            )));
        }
    }

    // Cluster limits: the new transaction joins its parents' clusters, less
    // what it evicts. The size limit is on the members' sigop-adjusted
    // weights together, as Core's TxGraph counts it (not on the sum of
    // their rounded vsizes).
    if !args.bypass_limits {
        let mut cluster: BTreeSet<Txid> = BTreeSet::new();
        for p in &parents {
            cluster.extend(pool.cluster(p));
        }
        cluster.retain(|t| !evicted.contains(t));
        let weight_sum: i64 = cluster
            .iter()
            .filter_map(|t| pool.get(t))
            .map(|e| e.adjusted_weight(opts.bytes_per_sigop))
            .sum::<i64>()
            + adjusted_weight;
        if cluster.len() + 1 > opts.cluster_count
            || weight_sum > opts.cluster_size_vbytes * WITNESS_SCALE_FACTOR
        {
            return Err(policy_reject("too-large-cluster"));
        }
    }

    // The replacement must improve the feerate diagram; ours compares the
    // new transaction's chunk (with its ancestors) with each conflict's.
    if !conflicts.is_empty() && !args.package {
        let mut anc_fee = modified_fee;
        let mut anc_weight = adjusted_weight;
        for a in &ancestors {
            if let Some(e) = pool.get(a) {
                anc_fee += pool.modified_fee(e);
                anc_weight += e.adjusted_weight(opts.bytes_per_sigop);
            }
        }
        for c in &conflicts {
            let (cfee, cweight) = linearize::chunk_of(pool, c, opts.bytes_per_sigop);
            if (anc_fee as i128) * (cweight as i128) <= (cfee as i128) * (anc_weight as i128) {
                return Err(fee_reject(&rbf_reason("replacement-failed"))
                    .with("insufficient feerate: does not improve feerate diagram"));
            }
        }
    }

    if args.scripts {
        check_upgradable_witness(&tx, &spent)?;
        verify_scripts(&tx, &spent)?;
    }

    let mut accepted = Accepted {
        txid,
        wtxid,
        vsize,
        base_fee: fee,
        modified_fee,
        replaced: evicted.iter().copied().collect(),
        evicted: Vec::new(),
    };
    if args.test_only {
        return Ok(accepted);
    }
    accepted.evicted = evicted.iter().filter_map(|t| pool.remove(t)).collect();
    pool.add(
        Entry {
            tx,
            txid,
            wtxid,
            fee,
            weight,
            sigop_cost,
            vsize,
            time: args.accept_time.unwrap_or_else(clock::now),
            height: tip.height.max(0) as u32,
            sequence: 0,
            spends_coinbase: coins.iter().any(|c| c.coinbase),
            parents: BTreeSet::new(),
            children: BTreeSet::new(),
        },
        args.bypass_limits,
    );
    Ok(accepted)
}

/// Core's CheckFeeRate: `fee` for `vsize` bytes (one transaction's, or a
/// package's together) meets the mempool's minimum and the relay minimum.
pub(super) fn check_fee_rate(
    pool: &mut Pool,
    opts: &PolicyOptions,
    vsize: i64,
    fee: i64,
) -> Result<(), Reject> {
    let floor = pool.min_fee(
        opts.max_size_bytes as usize,
        opts.incremental_relay_feerate.0,
        clock::now(),
    );
    let reject_fee = FeeRate(floor).fee(vsize);
    if reject_fee > 0 && fee < reject_fee {
        return Err(
            Reject::new(RejectKind::Reconsiderable, "mempool min fee not met")
                .with(format!("{fee} < {reject_fee}")),
        );
    }
    let min = opts.min_relay_feerate.fee(vsize);
    if fee < min {
        return Err(
            Reject::new(RejectKind::Reconsiderable, "min relay fee not met")
                .with(format!("{fee} < {min}")),
        );
    }
    Ok(())
}

/// The script checks `accept` skips when told to, for a transaction whose
/// inputs are in the pool or the UTXO set.
pub(super) fn check_scripts(pool: &Pool, chain: &Chain, tx: &Transaction) -> Result<(), Reject> {
    let mut spent = Vec::with_capacity(tx.input.len());
    for input in &tx.input {
        let op = input.previous_output;
        let out = match pool.output(&op) {
            Some(out) => Some(out.clone()),
            None => chain.utxo().get(&op).ok().flatten().map(|c| c.txout),
        };
        spent.push(out.ok_or_else(|| {
            Reject::new(RejectKind::MissingInputs, "bad-txns-inputs-missingorspent")
        })?);
    }
    check_upgradable_witness(tx, &spent)?;
    verify_scripts(tx, &spent)
}

/// Core's TRUC_VERSION and its limits (BIP431).
const TRUC_VERSION: i32 = 3;
const TRUC_MAX_VSIZE: i64 = 10_000;
const TRUC_CHILD_MAX_VSIZE: i64 = 1_000;

/// A broken TRUC rule: why, and the one sibling whose eviction may cure it.
struct TrucViolation {
    why: String,
    /// Set when the only rule broken is the parent's one-child limit and its
    /// child has no other ancestor and no descendant (Core's
    /// consider_sibling_eviction).
    sibling: Option<Txid>,
}

/// Core's SingleTRUCChecks: version 3 and other transactions do not spend
/// each other unconfirmed; a version 3 transaction is at most 10 kvB, has at
/// most one unconfirmed parent (itself without one) and that parent at most
/// one child, and as a child is at most 1 kvB.
fn truc_violation(
    pool: &Pool,
    tx: &Transaction,
    parents: &BTreeSet<Txid>,
    conflicts: &BTreeSet<Txid>,
    vsize: i64,
) -> Option<TrucViolation> {
    let rule = |why: String| TrucViolation { why, sibling: None };
    let (txid, wtxid) = (tx.compute_txid(), tx.compute_wtxid());
    let truc = tx.version.0 == TRUC_VERSION;
    for p in parents.iter().filter_map(|p| pool.get(p)) {
        let parent_truc = p.tx.version.0 == TRUC_VERSION;
        if parent_truc && !truc {
            return Some(rule(format!(
                "non-version=3 tx {txid} (wtxid={wtxid}) cannot spend from version=3 tx {} (wtxid={})",
                p.txid, p.wtxid
            )));
        }
        if truc && !parent_truc {
            return Some(rule(format!(
                "version=3 tx {txid} (wtxid={wtxid}) cannot spend from non-version=3 tx {} (wtxid={})",
                p.txid, p.wtxid
            )));
        }
    }
    if !truc {
        return None;
    }
    if vsize > TRUC_MAX_VSIZE {
        return Some(rule(format!(
            "version=3 tx {txid} (wtxid={wtxid}) is too big: {vsize} > {TRUC_MAX_VSIZE} virtual bytes"
        )));
    }
    let too_many = || {
        Some(rule(format!(
            "tx {txid} (wtxid={wtxid}) would have too many ancestors"
        )))
    };
    if parents.len() + 1 > 2 {
        return too_many();
    }
    let parent = parents.iter().next().and_then(|p| pool.get(p))?;
    if !pool.ancestors(&parent.txid).is_empty() {
        return too_many();
    }
    if vsize > TRUC_CHILD_MAX_VSIZE {
        return Some(rule(format!(
            "version=3 child tx {txid} (wtxid={wtxid}) is too big: {vsize} > {TRUC_CHILD_MAX_VSIZE} virtual bytes"
        )));
    }
    let others = pool.descendants(&parent.txid);
    let replaced = others.iter().any(|c| conflicts.contains(c));
    if !others.is_empty() && !replaced {
        // One child with no other ancestor may be evicted instead.
        let sibling = match others.iter().collect::<Vec<_>>()[..] {
            [only] if pool.ancestors(only).len() == 1 => Some(*only),
            _ => None,
        };
        return Some(TrucViolation {
            why: format!(
                "tx {} (wtxid={}) would exceed descendant count limit",
                parent.txid, parent.wtxid
            ),
            sibling,
        });
    }
    None
}

/// Core's SCRIPT_VERIFY_DISCOURAGE_UPGRADABLE_WITNESS_PROGRAM, one of the
/// policy flags the kernel's interface does not take: spending a witness
/// program of a version (or v1 length) no soft fork has defined yet is not
/// relayed. Pay-to-anchor is defined.
fn check_upgradable_witness(tx: &Transaction, spent: &[TxOut]) -> Result<(), Reject> {
    for (i, (input, prev)) in tx.input.iter().zip(spent).enumerate() {
        let mut script = prev.script_pubkey.clone();
        let mut p2sh = false;
        if script.is_p2sh() {
            if let Some(redeem) = policy::p2sh_redeem(&input.script_sig) {
                script = redeem;
                p2sh = true;
            }
        }
        let Some(version) = script.witness_version() else {
            continue;
        };
        let program = &script.as_bytes()[2..];
        let defined = match version.to_num() {
            0 => true,
            1 => !p2sh && (program.len() == 32 || program == [0x4e, 0x73]),
            _ => false,
        };
        if !defined {
            return Err(Reject::new(
                RejectKind::Policy,
                "mempool-script-verify-flag-failed (Witness version reserved for soft-fork upgrades)",
            )
            .with(input_details(tx, i)));
        }
    }
    Ok(())
}

/// Core's details of a script failure: which input, of which transaction,
/// spending what.
fn input_details(tx: &Transaction, i: usize) -> String {
    let spending = tx
        .input
        .get(i)
        .map(|input| input.previous_output.to_string())
        .unwrap_or_default();
    format!(
        "input {i} of {} (wtxid {}), spending {spending}",
        tx.compute_txid(),
        tx.compute_wtxid()
    )
}

/// Core's PolicyScriptChecks: every input's script through the kernel's
/// interpreter with Core's standard flags. A failure is Core's
/// "mempool-script-verify-flag-failed (<script error>)"; one of a
/// transaction without witnesses that spends a witness program may be
/// only its missing witnesses (Core's TX_WITNESS_STRIPPED), so it is not
/// remembered as refused.
fn verify_scripts(tx: &Transaction, spent: &[TxOut]) -> Result<(), Reject> {
    let refused = |kind, why: &str, input| {
        Reject::new(kind, format!("mempool-script-verify-flag-failed ({why})"))
            .with(input_details(tx, input))
    };
    match script_check::check_standard_scripts(tx, spent) {
        Ok(None) => Ok(()),
        Ok(Some(failure)) => {
            let kind = if failure.stripped {
                RejectKind::WitnessStripped
            } else {
                RejectKind::Policy
            };
            Err(refused(kind, &failure.error, failure.input))
        }
        Err(e) => Err(refused(RejectKind::Consensus, &e.to_string(), 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_formatted_as_core() {
        assert_eq!(format_money(0), "0.00");
        assert_eq!(format_money(100_000_000), "1.00");
        assert_eq!(format_money(150_000_000), "1.50");
        assert_eq!(format_money(12_345), "0.00012345");
        assert_eq!(format_money(-5_000), "-0.00005");
    }

    #[test]
    fn finality_follows_height_time_and_sequences() {
        let mut tx = Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::from_consensus(10),
            input: vec![bitcoin::TxIn {
                sequence: bitcoin::Sequence(0xffff_fffe),
                ..Default::default()
            }],
            output: vec![],
        };
        assert!(!is_final(&tx, 10, 0));
        assert!(is_final(&tx, 11, 0));
        tx.input[0].sequence = bitcoin::Sequence::MAX;
        assert!(is_final(&tx, 10, 0));
    }
}
