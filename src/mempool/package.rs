//! mempool/package: Core's package validation. `submit` is Core's
//! AcceptPackage (submitpackage): each transaction alone first, then the
//! ones refused only for their fee or for a parent that was, together, on
//! their combined fee rate (CPFP). `test` is Core's
//! AcceptMultipleTransactions in test mode (testmempoolaccept of several
//! transactions): each judged on its own fee, with the earlier ones as if in
//! the pool, and nothing changes. Both hold the validation and pool locks
//! throughout, so no one sees a package half in.

use std::collections::BTreeSet;
use std::sync::Arc;

use bitcoin::hashes::Hash;
use bitcoin::{Transaction, Txid, Wtxid};

use super::accept::{self, AcceptArgs, Accepted};
use super::linearize;
use super::policy::{FeeRate, Reject, RejectKind};
use super::pool::{Entry, Pool};
use super::Mempool;
use crate::chain::Chain;

/// Core's MAX_PACKAGE_COUNT.
pub const MAX_PACKAGE_COUNT: usize = 25;
/// Core's MAX_PACKAGE_WEIGHT.
const MAX_PACKAGE_WEIGHT: u64 = 404_000;

/// One transaction's fate in a package.
#[derive(Clone, Debug)]
pub enum PackageTx {
    /// Already there (by txid; `other_wtxid` when its witness differs).
    InMempool {
        vsize: i64,
        fee: i64,
        other_wtxid: Option<Wtxid>,
    },
    /// Accepted, judged at `feerate` over the transactions in `includes`.
    Accepted {
        accepted: Accepted,
        feerate: FeeRate,
        includes: Vec<Wtxid>,
    },
    Failed(Reject),
}

impl PackageTx {
    /// A transaction accepted on its own fee rate.
    pub fn alone(a: Accepted) -> PackageTx {
        PackageTx::Accepted {
            feerate: a.effective_feerate(),
            includes: vec![a.wtxid],
            accepted: a,
        }
    }
}

/// Core's PackageValidationState when invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PackageError {
    /// The package as a whole breaks a rule (PCKG_POLICY): its text is
    /// testmempoolaccept's `package-error`.
    Policy(String),
    /// A transaction failed (PCKG_TX): mostly "transaction failed";
    /// "unspent-dust" when a child left its parent's dust unspent.
    Tx(&'static str),
}

impl PackageError {
    /// Core's usual PCKG_TX state.
    pub const FAILED: PackageError = PackageError::Tx("transaction failed");
}

impl std::fmt::Display for PackageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PackageError::Policy(why) => f.write_str(why),
            PackageError::Tx(why) => f.write_str(why),
        }
    }
}

/// What a package evaluation tells the caller.
#[derive(Clone, Debug)]
pub struct PackageResult {
    /// None when every transaction is in the pool (or would be).
    pub error: Option<PackageError>,
    /// One per transaction, in order; None where the evaluation stopped
    /// before it.
    pub txs: Vec<Option<PackageTx>>,
}

impl PackageResult {
    fn refused(n: usize, error: PackageError) -> PackageResult {
        PackageResult {
            error: Some(error),
            txs: vec![None; n],
        }
    }
}

/// Core's IsWellFormedPackage: the rules a package meets before any
/// transaction in it is looked at.
pub fn well_formed(txs: &[Arc<Transaction>]) -> Result<(), String> {
    if txs.len() > MAX_PACKAGE_COUNT {
        return Err("package-too-many-transactions".into());
    }
    let weight: u64 = txs.iter().map(|t| t.weight().to_wu()).sum();
    if txs.len() > 1 && weight > MAX_PACKAGE_WEIGHT {
        return Err("package-too-large".into());
    }
    let mut later: BTreeSet<Txid> = txs.iter().map(|t| t.compute_txid()).collect();
    if later.len() != txs.len() {
        return Err("package-contains-duplicates".into());
    }
    for tx in txs {
        if tx
            .input
            .iter()
            .any(|i| later.contains(&i.previous_output.txid))
        {
            return Err("package-not-sorted".into());
        }
        later.remove(&tx.compute_txid());
    }
    let mut seen = BTreeSet::new();
    for tx in txs {
        if tx.input.is_empty() || tx.input.iter().any(|i| seen.contains(&i.previous_output)) {
            return Err("conflict-in-package".into());
        }
        seen.extend(tx.input.iter().map(|i| i.previous_output));
    }
    Ok(())
}

/// Whether a refusal belongs to the package rather than the transaction:
/// Core checks TRUC and cluster limits over the whole package, so breaking
/// them together with an earlier package transaction (a parent, or a
/// relative in the same cluster) is a package error. Asked while the
/// earlier ones are still in the pool.
fn package_wide(pool: &Pool, r: &Reject, tx: &Transaction, earlier: &[Accepted]) -> bool {
    let shared_rule = r.reason == "TRUC-violation" || r.reason == "too-large-cluster";
    let earlier: BTreeSet<Txid> = earlier.iter().map(|a| a.txid).collect();
    shared_rule
        && tx.input.iter().any(|i| {
            let parent = i.previous_output.txid;
            earlier.contains(&parent)
                || (pool.get(&parent).is_some()
                    && pool.cluster(&parent).iter().any(|t| earlier.contains(t)))
        })
}

/// Takes back what a package evaluation put in, newest first, and puts
/// back what those evicted (parents before children, as they came).
fn take_back(pool: &mut Pool, added: &[Accepted]) {
    for a in added.iter().rev() {
        pool.remove(&a.txid);
    }
    let mut evicted: Vec<&Entry> = added.iter().flat_map(|a| &a.evicted).collect();
    evicted.sort_by_key(|e| e.sequence);
    for e in evicted {
        pool.add(e.clone(), false);
    }
}

/// What Core's PackageRBFChecks needs from before the package went in: the
/// chunk (fee, weight) of each mempool transaction it conflicts with.
struct Conflicts {
    chunks: Vec<(i64, i64)>,
}

/// Core's CFeeRate::ToString: BTC per kvB with eight decimals.
fn btc_per_kvb(rate: FeeRate) -> String {
    format!(
        "{}.{:08} BTC/kvB",
        rate.0 / 100_000_000,
        rate.0 % 100_000_000
    )
}

impl Mempool {
    /// Core's PackageRBFChecks, the part decided before the package goes
    /// in: a replacing package is one parent and its child, with no other
    /// mempool parents, touching at most MAX_REPLACEMENT_CANDIDATES
    /// clusters. None when the package replaces nothing.
    fn package_conflicts(
        &self,
        pool: &Pool,
        package: &[&Arc<Transaction>],
    ) -> Result<Option<Conflicts>, PackageError> {
        let ours: BTreeSet<Txid> = package.iter().map(|t| t.compute_txid()).collect();
        let direct: BTreeSet<Txid> = package
            .iter()
            .flat_map(|t| &t.input)
            .filter_map(|i| pool.spender(&i.previous_output).copied())
            .filter(|t| !ours.contains(t))
            .collect();
        if direct.is_empty() {
            return Ok(None);
        }
        let failed = |why: String| Err(PackageError::Policy(format!("package RBF failed: {why}")));
        if package.len() != 2 {
            return failed("package must be 1-parent-1-child".into());
        }
        let mempool_parent = package
            .iter()
            .flat_map(|t| &t.input)
            .any(|i| pool.get(&i.previous_output.txid).is_some());
        if mempool_parent {
            return failed("new transaction cannot have mempool ancestors".into());
        }
        let clusters: BTreeSet<Txid> = direct
            .iter()
            .filter_map(|c| pool.cluster(c).into_iter().next())
            .collect();
        if clusters.len() > accept::MAX_REPLACEMENT_CANDIDATES {
            return failed(format!(
                "too many potential replacements, rejecting replacement {}; too many conflicting clusters ({} > {})",
                package[1].compute_txid(),
                clusters.len(),
                accept::MAX_REPLACEMENT_CANDIDATES
            ));
        }
        let bps = self.opts.bytes_per_sigop;
        let chunks = direct
            .iter()
            .map(|c| linearize::chunk_of(pool, c, bps))
            .collect();
        Ok(Some(Conflicts { chunks }))
    }

    /// The rest of PackageRBFChecks, with the package in: its fees pay for
    /// what it evicted plus relay of its own size, it is a chunk of its own
    /// (the child raises the parent's fee rate), and it mines better than
    /// each conflict's chunk did (our feerate-diagram check, as for single
    /// replacements).
    fn package_pays_for_replacement(
        &self,
        pool: &Pool,
        members: &[Accepted],
        conflicts: &Conflicts,
    ) -> Result<(), PackageError> {
        let failed = |why: String| Err(PackageError::Policy(format!("package RBF failed: {why}")));
        let child = members.last().map_or_else(Txid::all_zeros, |a| a.txid);
        let fee: i64 = members.iter().map(|a| a.modified_fee).sum();
        let vsize: i64 = members.iter().map(|a| a.vsize).sum();
        let conflicting: i64 = members
            .iter()
            .flat_map(|a| &a.evicted)
            .map(|e| e.fee + pool.delta(&e.txid))
            .sum();
        if fee < conflicting {
            return failed(format!(
                "insufficient anti-DoS fees, rejecting replacement {child}, less fees than conflicting txs; {} < {}",
                accept::format_money(fee),
                accept::format_money(conflicting)
            ));
        }
        let relay = self.opts.incremental_relay_feerate.fee(vsize);
        if fee - conflicting < relay {
            return failed(format!(
                "insufficient anti-DoS fees, rejecting replacement {child}, not enough additional fees to relay; {} < {}",
                accept::format_money(fee - conflicting),
                accept::format_money(relay)
            ));
        }
        let parent = &members[0];
        let package_rate = FeeRate::of(fee, vsize);
        let parent_rate = FeeRate::of(parent.modified_fee, parent.vsize);
        if package_rate.0 <= parent_rate.0 {
            return failed(format!(
                "package feerate is less than or equal to parent feerate, package feerate {} <= parent feerate is {}",
                btc_per_kvb(package_rate),
                btc_per_kvb(parent_rate)
            ));
        }
        let weight: i64 = members
            .iter()
            .filter_map(|a| pool.get(&a.txid))
            .map(|e| e.adjusted_weight(self.opts.bytes_per_sigop))
            .sum();
        let improves = conflicts.chunks.iter().all(|(cfee, cweight)| {
            (fee as i128) * (*cweight as i128) > (*cfee as i128) * (weight as i128)
        });
        if !improves {
            return failed("insufficient feerate: does not improve feerate diagram".into());
        }
        Ok(())
    }
}

impl Mempool {
    /// Core's ProcessNewPackage for submitpackage. The caller has checked
    /// that the package is a child with its parents.
    /// `local`: submitted here (RPC), so unbroadcast until a peer asks.
    pub fn submit_package(
        &self,
        chain: &Chain,
        txs: &[Arc<Transaction>],
        max_feerate: Option<FeeRate>,
        local: bool,
    ) -> PackageResult {
        if let Err(why) = well_formed(txs) {
            return PackageResult::refused(txs.len(), PackageError::Policy(why));
        }
        let _validation = chain.lock_validation();
        let mut pool = self.lock();
        let alone = AcceptArgs {
            local,
            max_feerate,
            ..AcceptArgs::FROM_PEER
        };
        let n = txs.len();
        // Results that stand, and refusals that a package evaluation may
        // still overturn (Core's individual_results_nonfinal).
        let mut decided: Vec<Option<PackageTx>> = vec![None; n];
        let mut refused: Vec<Option<Reject>> = vec![None; n];
        let mut quit_early = false;
        let mut together: Vec<usize> = Vec::new();
        for (i, tx) in txs.iter().enumerate() {
            if let Some(e) = pool.get(&tx.compute_txid()) {
                decided[i] = Some(PackageTx::InMempool {
                    vsize: e.vsize,
                    fee: e.fee,
                    other_wtxid: (e.wtxid != tx.compute_wtxid()).then_some(e.wtxid),
                });
                continue;
            }
            match accept::accept(&mut pool, chain, &self.opts, tx.clone(), alone) {
                Ok(a) => decided[i] = Some(PackageTx::alone(a)),
                Err(r) => {
                    // Only a fee shortfall, or a parent missing because it
                    // fell short, can change when judged together.
                    let again = n > 1
                        && matches!(
                            r.kind,
                            RejectKind::Reconsiderable | RejectKind::MissingInputs
                        );
                    if again {
                        together.push(i);
                    } else {
                        quit_early = true;
                    }
                    refused[i] = Some(r);
                }
            }
        }
        let mut error = quit_early.then_some(PackageError::FAILED);
        let mut judged: Vec<(usize, PackageTx)> = Vec::new();
        if !quit_early && !together.is_empty() {
            let (e, r) = if together.len() == 1 {
                let i = together[0];
                match accept::accept(&mut pool, chain, &self.opts, txs[i].clone(), alone) {
                    Ok(a) => (None, vec![(i, PackageTx::alone(a))]),
                    Err(r) => (Some(PackageError::FAILED), vec![(i, PackageTx::Failed(r))]),
                }
            } else {
                self.accept_together(&mut pool, chain, txs, &together, max_feerate)
            };
            error = e;
            judged = r;
        }
        // Core's LimitMempoolSize once, after the whole package: anything of
        // the package it evicted is "mempool full".
        self.limit_size(&mut pool, true);
        let mut out: Vec<Option<PackageTx>> = Vec::with_capacity(n);
        for (i, tx) in txs.iter().enumerate() {
            let result = match judged.iter().position(|(j, _)| *j == i) {
                Some(k) => Some(judged.swap_remove(k).1),
                None => decided[i]
                    .take()
                    .or_else(|| refused[i].take().map(PackageTx::Failed)),
            };
            let gone = matches!(
                result,
                Some(PackageTx::Accepted { .. } | PackageTx::InMempool { .. })
            ) && pool.get(&tx.compute_txid()).is_none();
            if gone {
                error = Some(PackageError::FAILED);
                out.push(Some(PackageTx::Failed(Reject::new(
                    RejectKind::Policy,
                    "mempool full",
                ))));
                continue;
            }
            if let (Some(PackageTx::Accepted { accepted, .. }), true) = (&result, local) {
                pool.set_unbroadcast(accepted.txid);
            }
            out.push(result);
        }
        let size = pool.len();
        drop(pool);
        for a in out.iter().flatten() {
            if let PackageTx::Accepted { accepted, .. } = a {
                let _ = self.added.send((accepted.txid, accepted.wtxid));
                tracing::debug!(
                    target: "mempool",
                    "AcceptToMemoryPool: accepted {} (poolsz {size})",
                    accepted.txid
                );
            }
        }
        PackageResult { error, txs: out }
    }

    /// Core's AcceptMultipleTransactions for the transactions `which` of
    /// `txs` that could not go in alone: in without their own fee checks,
    /// then judged on their combined fee rate. All or none stay.
    fn accept_together(
        &self,
        pool: &mut Pool,
        chain: &Chain,
        txs: &[Arc<Transaction>],
        which: &[usize],
        max_feerate: Option<FeeRate>,
    ) -> (Option<PackageError>, Vec<(usize, PackageTx)>) {
        let args = AcceptArgs {
            package: true,
            max_feerate,
            ..AcceptArgs::FROM_PEER
        };
        let package: Vec<&Arc<Transaction>> = which.iter().map(|i| &txs[*i]).collect();
        let conflicts = match self.package_conflicts(pool, &package) {
            Ok(c) => c,
            Err(e) => return (Some(e), Vec::new()),
        };
        // members[k] is which[k]: the loop stops at the first refusal.
        let mut members: Vec<Accepted> = Vec::with_capacity(which.len());
        for &i in which {
            match accept::accept(pool, chain, &self.opts, txs[i].clone(), args) {
                Ok(a) => members.push(a),
                Err(r) => {
                    let wide = package_wide(pool, &r, &txs[i], &members);
                    take_back(pool, &members);
                    if wide {
                        return (Some(PackageError::Policy(r.to_string())), Vec::new());
                    }
                    if r.reason == "missing-ephemeral-spends" {
                        let state = PackageError::Tx("unspent-dust");
                        return (Some(state), vec![(i, PackageTx::Failed(r))]);
                    }
                    return (Some(PackageError::FAILED), vec![(i, PackageTx::Failed(r))]);
                }
            }
        }
        let fee: i64 = members.iter().map(|a| a.modified_fee).sum();
        let vsize: i64 = members.iter().map(|a| a.vsize).sum();
        if let Err(r) = accept::check_fee_rate(pool, &self.opts, vsize, fee) {
            take_back(pool, &members);
            let last = which[which.len() - 1];
            return (
                Some(PackageError::FAILED),
                vec![(last, PackageTx::Failed(r))],
            );
        }
        if let Some(conflicts) = &conflicts {
            if let Err(e) = self.package_pays_for_replacement(pool, &members, conflicts) {
                take_back(pool, &members);
                return (Some(e), Vec::new());
            }
        }
        let rate = FeeRate::of(fee, vsize);
        let includes: Vec<Wtxid> = members.iter().map(|a| a.wtxid).collect();
        let results = which
            .iter()
            .copied()
            .zip(members)
            .map(|(i, accepted)| {
                let result = PackageTx::Accepted {
                    accepted,
                    feerate: rate,
                    includes: includes.clone(),
                };
                (i, result)
            })
            .collect();
        (None, results)
    }

    /// Core's ProcessNewPackage in test mode (testmempoolaccept of several
    /// transactions): every check on each transaction, later ones seeing
    /// the earlier ones as in the pool; replacements not allowed. Nothing
    /// changes. As in Core, a transaction that fails before the script
    /// checks is the only one with a result.
    pub fn test_package(&self, chain: &Chain, txs: &[Arc<Transaction>]) -> PackageResult {
        if let Err(why) = well_formed(txs) {
            return PackageResult::refused(txs.len(), PackageError::Policy(why));
        }
        let _validation = chain.lock_validation();
        let mut pool = self.lock();
        let args = AcceptArgs {
            allow_replacement: false,
            scripts: false,
            ..AcceptArgs::FROM_PEER
        };
        let n = txs.len();
        let mut added: Vec<Accepted> = Vec::new();
        for (i, tx) in txs.iter().enumerate() {
            match accept::accept(&mut pool, chain, &self.opts, tx.clone(), args) {
                Ok(a) => added.push(a),
                Err(r) => {
                    let wide = package_wide(&pool, &r, tx, &added);
                    take_back(&mut pool, &added);
                    if wide {
                        return PackageResult::refused(n, PackageError::Policy(r.to_string()));
                    }
                    let mut out = vec![None; n];
                    out[i] = Some(PackageTx::Failed(r));
                    return PackageResult {
                        error: Some(PackageError::FAILED),
                        txs: out,
                    };
                }
            }
        }
        let mut out: Vec<Option<PackageTx>> = vec![None; n];
        let mut error = None;
        for (i, (tx, a)) in txs.iter().zip(&added).enumerate() {
            if let Err(r) = accept::check_scripts(&pool, chain, tx) {
                out[i] = Some(PackageTx::Failed(r));
                error = Some(PackageError::FAILED);
                break;
            }
            out[i] = Some(PackageTx::alone(a.clone()));
        }
        take_back(&mut pool, &added);
        PackageResult { error, txs: out }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::{OutPoint, TxIn, TxOut};

    fn spending(prevs: &[OutPoint], tag: u64) -> Arc<Transaction> {
        Arc::new(Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: prevs
                .iter()
                .map(|p| TxIn {
                    previous_output: *p,
                    ..Default::default()
                })
                .collect(),
            output: vec![TxOut {
                value: bitcoin::Amount::from_sat(tag),
                script_pubkey: bitcoin::ScriptBuf::new(),
            }],
        })
    }

    fn coin(n: u8) -> OutPoint {
        OutPoint::new(Txid::from_byte_array([n; 32]), 0)
    }

    #[test]
    fn well_formed_follows_cores_rules_in_order() {
        let parent = spending(&[coin(1)], 1);
        let child = spending(&[OutPoint::new(parent.compute_txid(), 0)], 2);
        assert_eq!(well_formed(&[parent.clone(), child.clone()]), Ok(()));
        assert_eq!(
            well_formed(&[child.clone(), parent.clone()]),
            Err("package-not-sorted".into())
        );
        assert_eq!(
            well_formed(&[parent.clone(), parent.clone()]),
            Err("package-contains-duplicates".into())
        );
        let rival = spending(&[coin(1)], 3);
        assert_eq!(
            well_formed(&[parent.clone(), rival]),
            Err("conflict-in-package".into())
        );
        let many: Vec<_> = (0..26).map(|i| spending(&[coin(i)], 1)).collect();
        assert_eq!(
            well_formed(&many),
            Err("package-too-many-transactions".into())
        );
        let empty = spending(&[], 4);
        assert_eq!(
            well_formed(&[parent, empty]),
            Err("conflict-in-package".into())
        );
    }
}
