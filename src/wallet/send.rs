//! Spending: fee rate choice (Core's order: fee_rate argument, settxfee,
//! -paytxfee, -fallbackfee; never below the node's relay floor), building
//! with BDK (coins of the change type's account first, the other address
//! types' coins joining when it cannot pay), signing with the master key,
//! broadcasting through the node, and fee bumps.

use std::collections::BTreeSet;
use std::rc::Rc;

use bdk_wallet::error::CreateTxError;
use bdk_wallet::KeychainKind;
use bitcoin::psbt::Psbt;
use bitcoin::{Amount, FeeRate, OutPoint, ScriptBuf, Sequence, Transaction, Txid};
use miniscript::psbt::PsbtExt;

use super::engine::{Account, Engine};
use super::keys::AddrType;
use super::process::{failure, WalletProcess};
use crate::rpc::protocol::code;
use crate::rpc::RpcError;

/// One payment request.
#[derive(Default)]
pub struct Payment {
    pub recipients: Vec<(ScriptBuf, Amount)>,
    /// Inputs the transaction must spend (walletcreatefundedpsbt, send).
    pub must_use: Vec<OutPoint>,
    /// nLockTime (None: BDK's anti-fee-sniping choice, the tip height).
    pub lock_time: Option<u32>,
    /// Indexes of recipients that pay the fee.
    pub subtract: Vec<usize>,
    /// Explicit fee rate, sat/kvB.
    pub fee_rate: Option<i64>,
    pub replaceable: Option<bool>,
}

fn insufficient(message: impl Into<String>) -> RpcError {
    failure(code::WALLET_INSUFFICIENT_FUNDS, message)
}

/// The fee rate to pay, sat/kvB.
pub async fn choose_fee_rate(p: &WalletProcess, explicit: Option<i64>) -> Result<i64, RpcError> {
    let (min_relay, mempool_min, _) = p.fee_rates().await?;
    let floor = min_relay
        .max(mempool_min)
        .max(p.options.min_tx_fee.min(min_relay));
    if let Some(rate) = explicit {
        if rate < floor {
            return Err(failure(
                code::WALLET_ERROR,
                format!(
                    "Fee rate ({:.3} sat/vB) is lower than the minimum fee rate setting ({:.3} sat/vB)",
                    rate as f64 / 1000.0,
                    floor as f64 / 1000.0
                ),
            ));
        }
        return Ok(rate);
    }
    let set = p.with(|e| Ok(e.meta.pay_tx_fee))?;
    let rate = if set > 0 {
        set
    } else if p.options.pay_tx_fee > 0 {
        p.options.pay_tx_fee
    } else if p.options.fallback_fee > 0 {
        p.options.fallback_fee
    } else {
        return Err(insufficient(
            "Fee estimation failed. Fallbackfee is disabled. Wait a few blocks or enable -fallbackfee.",
        ));
    };
    Ok(rate.max(floor))
}

fn bdk_rate(sat_per_kvb: i64) -> FeeRate {
    FeeRate::from_sat_per_kwu((sat_per_kvb.max(0) as u64).div_ceil(4))
}

/// Outputs this wallet must not spend now: immature coinbases (Core's
/// count), untrusted unconfirmed coins, and locked ones.
fn unspendable(e: &Engine, spend_zero_conf_change: bool) -> Vec<OutPoint> {
    let locked = e.locked();
    e.coins()
        .into_iter()
        .filter(|c| {
            !c.mature()
                || (c.depth == 0 && !(c.trusted && spend_zero_conf_change))
                || locked.contains(&c.out.outpoint)
        })
        .map(|c| c.out.outpoint)
        .collect()
}

/// The change type's account, which builds the transaction.
fn change_kind(p: &WalletProcess) -> AddrType {
    p.options.change_type.unwrap_or(p.options.address_type)
}

/// Builds an unsigned transaction paying `payment` at `rate` (sat/kvB).
fn build(
    p: &WalletProcess,
    e: &mut Engine,
    payment: &Payment,
    rate: i64,
    with_other_types: bool,
    exact: Option<(&[OutPoint], Amount)>,
) -> Result<Psbt, CreateTxError> {
    let kind = change_kind(p);
    let skip = unspendable(e, p.options.spend_zero_conf_change);
    let tip = e.tip_height();
    // Coins of the other accounts, as inputs the builder must use (BDK
    // spends every foreign input it is given): the largest until they and
    // the change account's coins cover the payment and a fee margin, or
    // exactly those of `exact`.
    let mut foreign = Vec::new();
    if with_other_types || exact.is_some() {
        let skipped: BTreeSet<OutPoint> = skip.iter().copied().collect();
        let mut coins = e.coins();
        coins.sort_by_key(|c| std::cmp::Reverse(c.out.txout.value));
        let own: Amount = coins
            .iter()
            .filter(|c| c.account == Account::Active(kind) && !skipped.contains(&c.out.outpoint))
            .map(|c| c.out.txout.value)
            .sum();
        let needed = payment.recipients.iter().map(|(_, a)| *a).sum::<Amount>()
            + Amount::from_sat((rate.max(0) as u64) * 2);
        let mut gathered = own;
        for c in coins {
            if c.account == Account::Active(kind) || skipped.contains(&c.out.outpoint) {
                continue;
            }
            match exact {
                Some((inputs, _)) if !inputs.contains(&c.out.outpoint) => continue,
                None if gathered >= needed => break,
                _ => {}
            }
            gathered += c.out.txout.value;
            let Some(owner) = e.wallet(c.account) else {
                continue;
            };
            let Ok(input) = owner.get_psbt_input(c.out.clone(), None, false) else {
                continue;
            };
            let Ok(weight) = owner
                .public_descriptor(c.out.keychain)
                .max_weight_to_satisfy()
            else {
                continue;
            };
            foreign.push((c.out.outpoint, input, weight));
        }
    }
    let rbf = payment.replaceable.unwrap_or(p.options.wallet_rbf);
    let w = e.sub_mut(kind).ok_or(CreateTxError::NoRecipients)?;
    let mut b = w.build_tx();
    b.unspendable(skip);
    b.current_height(tip);
    let sequence = if rbf {
        Sequence::ENABLE_RBF_NO_LOCKTIME
    } else {
        Sequence::ENABLE_LOCKTIME_NO_RBF
    };
    b.set_exact_sequence(sequence);
    let foreign_points: Vec<OutPoint> = foreign.iter().map(|(o, _, _)| *o).collect();
    for (outpoint, input, weight) in foreign {
        // The same sequence as our own inputs (BDK's plain add_foreign_utxo
        // would make these final, and the transaction not replaceable).
        if b.add_foreign_utxo_with_sequence(outpoint, input, weight, sequence)
            .is_err()
        {
            continue;
        }
    }
    if !payment.must_use.is_empty() {
        b.add_utxos(&payment.must_use)
            .map_err(|_| CreateTxError::NoUtxosSelected)?;
    }
    if let Some(l) = payment.lock_time {
        b.nlocktime(bitcoin::absolute::LockTime::from_consensus(l));
    }
    match exact {
        Some((inputs, fee)) => {
            let own: Vec<OutPoint> = inputs
                .iter()
                .filter(|o| !foreign_points.contains(o))
                .copied()
                .collect();
            b.add_utxos(&own)
                .map_err(|_| CreateTxError::NoUtxosSelected)?;
            b.manually_selected_only();
            b.fee_absolute(fee);
        }
        None => {
            b.fee_rate(bdk_rate(rate));
        }
    }
    for (spk, amount) in &payment.recipients {
        b.add_recipient(spk.clone(), *amount);
    }
    b.finish()
}

fn create_error(e: CreateTxError) -> RpcError {
    match e {
        CreateTxError::NoUtxosSelected => failure(
            code::WALLET_ERROR,
            "Not solvable pre-selected input: an input is not this wallet's unspent output",
        ),
        CreateTxError::CoinSelection(_) => insufficient("Insufficient funds"),
        CreateTxError::OutputBelowDustLimit(_) => insufficient("Transaction amount too small"),
        other => insufficient(other.to_string()),
    }
}

/// Signs every input the master key can sign, and finalizes.
pub fn sign(e: &Engine, psbt: &mut Psbt) -> Result<(), RpcError> {
    if !e.has_keys() {
        return Err(failure(
            code::WALLET_ERROR,
            "Error: Private keys are disabled for this wallet",
        ));
    }
    if e.needs_unlock() {
        return Err(failure(
            code::WALLET_UNLOCK_NEEDED,
            "Error: Please enter the wallet passphrase with walletpassphrase first.",
        ));
    }
    e.sign_psbt(psbt);
    psbt.finalize_mut(&e.secp).map_err(|errs| {
        failure(
            code::WALLET_ERROR,
            format!(
                "Signing transaction failed: {}",
                errs.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    })
}

/// Builds and signs a payment; the transaction and its fee.
pub async fn create(
    p: &Rc<WalletProcess>,
    payment: &Payment,
) -> Result<(Transaction, Amount), RpcError> {
    if p.with(|e| Ok(e.needs_unlock()))? {
        return Err(failure(
            code::WALLET_UNLOCK_NEEDED,
            "Error: Please enter the wallet passphrase with walletpassphrase first.",
        ));
    }
    let (mut psbt, fee) = fund(p, payment).await?;
    p.with(|e| {
        sign(e, &mut psbt)?;
        let tx = psbt
            .extract_tx()
            .map_err(|err| failure(code::WALLET_ERROR, err.to_string()))?;
        Ok((tx, fee))
    })
}

/// Builds an unsigned transaction for a payment (coin selection, change,
/// fee); the PSBT and its fee.
pub async fn fund(p: &Rc<WalletProcess>, payment: &Payment) -> Result<(Psbt, Amount), RpcError> {
    let rate = choose_fee_rate(p, payment.fee_rate).await?;
    p.with(|e| {
        let mut psbt = match build(p, e, payment, rate, false, None) {
            Err(CreateTxError::CoinSelection(_)) => build(p, e, payment, rate, true, None),
            other => other,
        };
        // Paying (nearly) everything with the fee taken from the amounts:
        // first leave room for the fee, then subtract_fee takes it exactly.
        if !payment.subtract.is_empty() && matches!(psbt, Err(CreateTxError::CoinSelection(_))) {
            for vbytes in [200, 1000, 5000] {
                let Some(reduced) = reduced_by(payment, rate * vbytes / 1000) else {
                    break;
                };
                psbt = build(p, e, &reduced, rate, true, None);
                if psbt.is_ok() {
                    break;
                }
            }
        }
        let mut psbt = psbt.map_err(create_error)?;
        if !payment.subtract.is_empty() {
            psbt = subtract_fee(p, e, payment, rate, &psbt)?;
        }
        let fee = psbt.fee().map_err(|err| insufficient(err.to_string()))?;
        if fee.to_sat() as i64 > p.options.max_tx_fee {
            return Err(insufficient(
                "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
            ));
        }
        Ok((psbt, fee))
    })
}

/// `payment` with `margin` sat taken from the recipients that pay the fee
/// (None when one of them cannot give its share).
fn reduced_by(payment: &Payment, margin: i64) -> Option<Payment> {
    let n = payment.subtract.len() as u64;
    let share = (margin.max(0) as u64).div_ceil(n.max(1));
    let mut recipients = payment.recipients.clone();
    for &i in &payment.subtract {
        let (_, amount) = recipients.get_mut(i)?;
        *amount = amount
            .checked_sub(Amount::from_sat(share))
            .filter(|a| *a > Amount::ZERO)?;
    }
    Some(Payment {
        recipients,
        must_use: payment.must_use.clone(),
        lock_time: payment.lock_time,
        subtract: Vec::new(),
        fee_rate: payment.fee_rate,
        replaceable: payment.replaceable,
    })
}

/// Rebuilds `first` with its fee taken from the chosen recipients' amounts.
fn subtract_fee(
    p: &WalletProcess,
    e: &mut Engine,
    payment: &Payment,
    rate: i64,
    first: &Psbt,
) -> Result<Psbt, RpcError> {
    let fee = first.fee().map_err(|err| insufficient(err.to_string()))?;
    let inputs: Vec<OutPoint> = first
        .unsigned_tx
        .input
        .iter()
        .map(|i| i.previous_output)
        .collect();
    let n = payment.subtract.len() as u64;
    let share = fee.to_sat() / n;
    let mut remainder = fee.to_sat() % n;
    let mut reduced = Payment {
        recipients: payment.recipients.clone(),
        subtract: Vec::new(),
        fee_rate: payment.fee_rate,
        replaceable: payment.replaceable,
        must_use: Vec::new(),
        lock_time: payment.lock_time,
    };
    for &i in &payment.subtract {
        let take = share + std::mem::take(&mut remainder);
        let (_, amount) = &mut reduced.recipients[i];
        *amount = amount
            .checked_sub(Amount::from_sat(take))
            .filter(|a| *a > Amount::ZERO)
            .ok_or_else(|| insufficient("The transaction amount is too small to pay the fee"))?;
    }
    build(p, e, &reduced, rate, true, Some((&inputs, fee))).map_err(create_error)
}

/// Broadcasts a signed transaction and records it as the wallet's own.
pub async fn commit(
    p: &Rc<WalletProcess>,
    tx: &Transaction,
    comment: &str,
    comment_to: &str,
    replaces: Option<Txid>,
) -> Result<Txid, RpcError> {
    // The fee was checked against -maxtxfee when building.
    p.broadcast(tx, 0).await?;
    let txid = tx.compute_txid();
    let now = crate::chain::clock::now().max(0) as u64;
    p.with(|e| {
        e.apply_unconfirmed(&[std::sync::Arc::new(tx.clone())], now);
        let note = e.meta.txs.entry(txid).or_default();
        note.time_received = now as i64;
        note.comment = comment.to_string();
        note.comment_to = comment_to.to_string();
        note.replaces = replaces;
        if let Some(old) = replaces {
            e.meta.txs.entry(old).or_default().replaced_by = Some(txid);
        }
        e.touch_meta();
        e.commit_all()
            .map_err(|err| failure(code::DATABASE_ERROR, err.to_string()))
    })?;
    Ok(txid)
}

/// bumpfee: a replacement paying `rate` (or the old rate plus the node's
/// incremental relay fee); returns (new txid, old fee, new fee).
pub async fn bump(
    p: &Rc<WalletProcess>,
    txid: Txid,
    explicit: Option<i64>,
) -> Result<(Txid, Amount, Amount), RpcError> {
    let (mut psbt, old_fee, new_fee) = bump_psbt(p, txid, explicit).await?;
    let tx = p.with(|e| {
        sign(e, &mut psbt)?;
        psbt.extract_tx()
            .map_err(|err| failure(code::WALLET_ERROR, err.to_string()))
    })?;
    let new = commit(p, &tx, "", "", Some(txid)).await?;
    Ok((new, old_fee, new_fee))
}

/// The unsigned replacement of `txid` (psbtbumpfee; bumpfee signs it):
/// (PSBT, old fee, new fee).
pub async fn bump_psbt(
    p: &Rc<WalletProcess>,
    txid: Txid,
    explicit: Option<i64>,
) -> Result<(Psbt, Amount, Amount), RpcError> {
    let (_, _, incremental) = p.fee_rates().await?;
    // Without an explicit rate: what a new transaction would pay, if more.
    let usual = choose_fee_rate(p, None).await.unwrap_or(0);
    p.with(|e| {
        let view = e.transaction(&txid).ok_or_else(|| {
            failure(
                code::INVALID_ADDRESS_OR_KEY,
                "Invalid or non-wallet transaction id",
            )
        })?;
        if view.position.is_confirmed() {
            return Err(failure(
                code::WALLET_ERROR,
                "Transaction has been mined, or is conflicted with a mined transaction",
            ));
        }
        let old_fee = view.fee.ok_or_else(|| {
            failure(
                code::INVALID_ADDRESS_OR_KEY,
                "Transaction does not have a change output",
            )
        })?;
        let vsize = view.tx.vsize() as i64;
        let old_rate = old_fee.to_sat() as i64 * 1000 / vsize.max(1);
        // BDK asks for at least 1 sat/vB more than the old rate rounded up
        // to whole sat/vB; Core for the incremental relay fee more.
        let rate =
            explicit.unwrap_or(((old_rate + 999) / 1000 * 1000 + incremental.max(1000)).max(usual));
        // The account that spent the first input builds the replacement.
        let first = view.tx.input[0].previous_output;
        let kind = e
            .subs()
            .find(|(_, w)| w.spk_index().txout(first).is_some())
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                failure(
                    code::WALLET_ERROR,
                    "Transaction contains inputs that don't belong to this wallet",
                )
            })?;
        let w = e
            .sub_mut(kind)
            .ok_or_else(|| failure(code::WALLET_ERROR, "no account"))?;
        let mut attempt = |fee_rate: FeeRate| {
            let mut b = w
                .build_fee_bump(txid)
                .map_err(|err| failure(code::INVALID_PARAMETER, err.to_string()))?;
            b.fee_rate(fee_rate);
            Ok::<_, RpcError>(b.finish())
        };
        let mut built = attempt(bdk_rate(rate))?;
        // BDK measures the old rate its own way: without an explicit rate,
        // pay the least it accepts when our choice falls just short.
        if let (None, Err(CreateTxError::FeeRateTooLow { required })) = (explicit, &built) {
            let required = *required;
            built = attempt(required)?;
        }
        let psbt = built.map_err(|err| match err {
            CreateTxError::FeeRateTooLow { .. } | CreateTxError::FeeTooLow { .. } => failure(
                code::INVALID_PARAMETER,
                format!("Insufficient total fee: {err}"),
            ),
            CreateTxError::CoinSelection(_) => insufficient("Insufficient funds"),
            other => failure(code::WALLET_ERROR, other.to_string()),
        })?;
        let new_fee = psbt
            .fee()
            .map_err(|err| failure(code::WALLET_ERROR, err.to_string()))?;
        Ok((psbt, old_fee, new_fee))
    })
}

/// The derivation path of an owned script, as Core's hdkeypath writes it.
pub fn key_path(e: &Engine, kind: AddrType, keychain: KeychainKind, index: u32) -> String {
    let account = kind.account_path(e.network).to_string().replace('\'', "h");
    format!("{account}/{}/{index}", keychain as u8)
}
