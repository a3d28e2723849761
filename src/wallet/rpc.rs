//! The wallet RPCs a wallet process serves (the node checked the argument
//! count and types and forwards them positional): Core's names, result
//! fields, error codes and messages. Every call first catches up with the
//! node's chain, as Core's BlockUntilSyncedToCurrentChain.

use std::rc::Rc;

use bdk_wallet::chain::ChainPosition;
use bdk_wallet::KeychainKind;
use bitcoin::hashes::Hash;
use bitcoin::{Address, Amount, BlockHash, OutPoint, ScriptBuf, Transaction, Txid};
use serde_json::{json, Map, Value};

use super::engine::{Account, Engine, WalletTxView, COINBASE_MATURITY};
use super::keys::{AddrType, KeyError};
use super::process::{failure, WalletProcess};
use super::send::{self, Payment};
use crate::chain::clock::now;
use crate::rpc::amount::{amount_from_value, parse_fixed_point};
use crate::rpc::json::amount;
use crate::rpc::protocol::code;
use crate::rpc::RpcError;

/// Core's MAX_SLEEP_TIME for walletpassphrase: about three years.
const MAX_UNLOCK_SECONDS: i64 = 100_000_000;
/// Core's FEATURE_LATEST wallet version.
const WALLET_VERSION: i64 = 169_900;

// The node's readers of RPC arguments (same errors as every other method).
use crate::node::methods::arg::hash_str;
pub(super) use crate::node::methods::arg::{int, opt, string as text};

pub(super) type Res = Result<Value, RpcError>;

pub(super) fn flag(args: &[Value], i: usize, default: bool) -> bool {
    opt(args, i).and_then(Value::as_bool).unwrap_or(default)
}

pub(super) fn invalid_parameter(message: impl Into<String>) -> RpcError {
    failure(code::INVALID_PARAMETER, message)
}

pub(super) fn unlock_needed() -> RpcError {
    failure(
        code::WALLET_UNLOCK_NEEDED,
        "Error: Please enter the wallet passphrase with walletpassphrase first.",
    )
}

pub(super) fn txid_arg(args: &[Value], i: usize) -> Result<Txid, RpcError> {
    hash_str(&text(args, i).unwrap_or_default(), "txid")
}

/// An address of the wallet's network, as Core's DecodeDestination reads it.
pub(super) fn script_of(e: &Engine, address: &str) -> Result<ScriptBuf, String> {
    crate::script::address::decode(address, e.network)
        .map(|d| d.script_pubkey())
        .map_err(|err| err.to_string())
}

fn address_of(e: &Engine, script: &ScriptBuf) -> Option<String> {
    Address::from_script(script, e.network)
        .ok()
        .map(|a| a.to_string())
}

/// A fee rate given in sat/vB (3 decimals), as sat/kvB.
pub(super) fn sat_per_vb(v: &Value) -> Result<i64, RpcError> {
    let t = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => {
            return Err(failure(
                code::TYPE_ERROR,
                "Amount is not a number or string",
            ))
        }
    };
    parse_fixed_point(&t, 3)
        .filter(|r| *r >= 0)
        .ok_or_else(|| failure(code::TYPE_ERROR, "Invalid amount"))
}

/// Core's SetFeeEstimateMode checks: conf_target/estimate_mode with fee_rate.
pub(super) fn fee_choice(
    conf_target: Option<&Value>,
    mode: Option<&Value>,
    fee_rate: Option<&Value>,
) -> Result<Option<i64>, RpcError> {
    if let Some(m) = mode.and_then(Value::as_str) {
        if !["unset", "economical", "conservative"].contains(&m.to_ascii_lowercase().as_str()) {
            return Err(invalid_parameter(
                "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\"",
            ));
        }
    }
    let Some(rate) = fee_rate else {
        return Ok(None);
    };
    if conf_target.is_some() {
        return Err(invalid_parameter("Cannot specify both conf_target and fee_rate. Please provide either a confirmation target in blocks for automatic fee estimation, or an explicit fee rate."));
    }
    if mode
        .and_then(Value::as_str)
        .is_some_and(|m| !m.eq_ignore_ascii_case("unset"))
    {
        return Err(invalid_parameter(
            "Cannot specify both estimate_mode and fee_rate",
        ));
    }
    sat_per_vb(rate).map(Some)
}

/// Runs one wallet RPC.
pub async fn call(p: &Rc<WalletProcess>, method: &str, args: Vec<Value>) -> Res {
    p.sync().await?;
    let a = &args[..];
    match method {
        "getwalletinfo" => p.with(|e| Ok(getwalletinfo(p, e))),
        "getnewaddress" => p.with(|e| new_address(p, e, text(a, 1), false, text(a, 0))),
        "getrawchangeaddress" => p.with(|e| new_address(p, e, text(a, 0), true, None)),
        "getaddressinfo" => p.with(|e| getaddressinfo(e, a)),
        "getbalance" => p.with(|e| getbalance(e, a)),
        "getbalances" => p.with(|e| Ok(getbalances(e))),
        "getreceivedbyaddress" => p.with(|e| getreceivedbyaddress(e, a)),
        "listunspent" => p.with(|e| listunspent(e, a)),
        "listtransactions" => p.with(|e| listtransactions(e, a)),
        "listsinceblock" => listsinceblock(p, a).await,
        "gettransaction" => p.with(|e| gettransaction(e, a)),
        "listdescriptors" => p.with(|e| listdescriptors(e, a, p.options.keypool as usize)),
        "lockunspent" => p.with(|e| lockunspent(e, a)),
        "listlockunspent" => p.with(|e| Ok(listlockunspent(e))),
        "settxfee" => settxfee(p, a).await,
        "sendtoaddress" => sendtoaddress(p, a).await,
        "sendmany" => sendmany(p, a).await,
        "bumpfee" => bumpfee(p, a).await,
        "abandontransaction" => abandontransaction(p, a).await,
        "removeprunedfunds" => p.with(|e| removeprunedfunds(e, a)),
        "rescanblockchain" => rescanblockchain(p, a).await,
        "signmessage" => p.with(|e| signmessage(e, a)),
        "encryptwallet" => p.with(|e| encryptwallet(e, a)),
        "walletpassphrase" => walletpassphrase(p, a),
        "setlabel" => p.with(|e| setlabel(e, a)),
        "listlabels" => p.with(|e| Ok(listlabels(e, a))),
        "getaddressesbylabel" => p.with(|e| getaddressesbylabel(e, a)),
        "getreceivedbylabel" => p.with(|e| getreceivedbylabel(e, a)),
        "walletcreatefundedpsbt" => super::psbt::walletcreatefundedpsbt(p, a).await,
        "walletprocesspsbt" => p.with(|e| super::psbt::walletprocesspsbt(e, a)),
        "signrawtransactionwithwallet" => {
            p.with(|e| super::psbt::signrawtransactionwithwallet(e, a))
        }
        "fundrawtransaction" => super::psbt::fundrawtransaction(p, a).await,
        "send" => super::psbt::send(p, a).await,
        "psbtbumpfee" => super::psbt::psbtbumpfee(p, a).await,
        "importdescriptors" => super::import::importdescriptors(p, a).await,
        "walletpassphrasechange" => p.with(|e| walletpassphrasechange(e, a)),
        // The node's backupwallet: stage a copy for the broker to take out.
        "backupwallet" => p.with(|e| stage_backup(p, e)),
        "walletlock" => p.with(|e| {
            if !e.is_encrypted() {
                return Err(failure(
                    code::WALLET_WRONG_ENC_STATE,
                    "Error: running with an unencrypted wallet, but walletlock was called.",
                ));
            }
            e.lock();
            Ok(Value::Null)
        }),
        other => Err(failure(
            code::METHOD_NOT_FOUND,
            format!("Method not found: {other} is not served by this wallet process yet"),
        )),
    }
}

// ---- information ----

fn last_block_json(e: &Engine) -> Value {
    match e.last_block() {
        Some(b) => json!({"hash": b.hash.to_string(), "height": b.height}),
        None => Value::Null,
    }
}

fn getwalletinfo(p: &WalletProcess, e: &Engine) -> Value {
    let keypool = if e.has_keys() {
        p.options.keypool as usize * e.subs().count()
    } else {
        0
    };
    let mut o = json!({
        "walletname": e.name,
        "walletversion": WALLET_VERSION,
        "format": "redb",
        "txcount": e.tx_count(),
        "keypoolsize": keypool,
        "keypoolsize_hd_internal": keypool,
    });
    if e.is_encrypted() {
        o["unlocked_until"] = json!(if e.is_locked() { 0 } else { e.unlocked_until });
    }
    o["paytxfee"] = amount(e.meta.pay_tx_fee);
    o["private_keys_enabled"] = json!(!e.meta.private_keys_disabled);
    o["avoid_reuse"] = json!(e.meta.avoid_reuse);
    o["scanning"] = match p.scanning.get() {
        Some((start, progress)) => {
            json!({"duration": start.elapsed().as_secs(), "progress": progress})
        }
        None => json!(false),
    };
    o["descriptors"] = json!(true);
    o["external_signer"] = json!(false);
    o["blank"] = json!(e.meta.blank);
    o["birthtime"] = json!(e.meta.birth_time);
    o["lastprocessedblock"] = last_block_json(e);
    o
}

fn address_type(
    p: &WalletProcess,
    given: Option<String>,
    change: bool,
) -> Result<AddrType, RpcError> {
    match given {
        Some(t) => AddrType::parse(&t).ok_or_else(|| {
            failure(
                code::INVALID_ADDRESS_OR_KEY,
                format!("Unknown address type '{t}'"),
            )
        }),
        None if change => Ok(p.options.change_type.unwrap_or(p.options.address_type)),
        None => Ok(p.options.address_type),
    }
}

fn new_address(
    p: &WalletProcess,
    e: &mut Engine,
    kind: Option<String>,
    change: bool,
    label: Option<String>,
) -> Res {
    if label.as_deref() == Some("*") {
        return Err(failure(
            code::WALLET_INVALID_LABEL_NAME,
            "Invalid label name",
        ));
    }
    let kind = address_type(p, kind, change)?;
    let address = e.new_address(kind, change).ok_or_else(|| {
        failure(
            code::WALLET_ERROR,
            "Error: This wallet has no available keys",
        )
    })?;
    if !change {
        e.meta
            .labels
            .insert(address.to_string(), label.unwrap_or_default());
    }
    e.touch_meta();
    e.commit_all()
        .map_err(|err| failure(code::DATABASE_ERROR, err.to_string()))?;
    Ok(json!(address.to_string()))
}

fn getaddressinfo(e: &Engine, a: &[Value]) -> Res {
    let address = text(a, 0).unwrap_or_default();
    let dest = crate::script::address::decode(&address, e.network)
        .map_err(|err| failure(code::INVALID_ADDRESS_OR_KEY, err.to_string()))?;
    let script = dest.script_pubkey();
    let owner = e.owner(&script);
    let mut o = json!({
        "address": address,
        "scriptPubKey": script.to_hex_string(),
        "ismine": e.is_mine(&script),
        "solvable": e.is_mine(&script),
    });
    if let Some((kind, keychain, index)) = owner {
        if let Some((pubkey, desc)) = e.key_info(kind, keychain, index) {
            o["desc"] = json!(desc);
            if let Some(w) = e.sub(kind) {
                o["parent_desc"] = json!(public_descriptor_text(w, keychain));
            }
            o["pubkey_hex"] = json!(pubkey);
        }
    } else {
        o["desc"] = json!(crate::script::infer::infer(&script, e.network));
    }
    o["iswatchonly"] = json!(false);
    // Core's DescribeWalletAddress starts from DescribeAddress.
    if let (Some(dest), Some(fields)) = (
        crate::script::address::Destination::from_script(&script),
        o.as_object_mut(),
    ) {
        fields.extend(dest.describe());
    }
    if let Some((kind, keychain, index)) = owner {
        let pubkey = o.as_object_mut().and_then(|m| m.remove("pubkey_hex"));
        if kind != AddrType::Bech32m {
            if kind == AddrType::P2shSegwit {
                o["script"] = json!("witness_v0_keyhash");
                o["embedded"] = json!({"isscript": false, "iswitness": true, "witness_version": 0});
            }
            if let Some(pk) = pubkey {
                o["pubkey"] = pk;
                o["iscompressed"] = json!(true);
            }
        }
        o["ischange"] = json!(keychain == KeychainKind::Internal);
        o["timestamp"] = json!(e.meta.birth_time);
        o["hdkeypath"] = json!(send::key_path(e, kind, keychain, index));
        if let Some(fp) = e.key_info(kind, keychain, index).and_then(|(_, d)| {
            d.split_once('[')
                .and_then(|(_, r)| r.get(..8))
                .map(str::to_string)
        }) {
            o["hdmasterfingerprint"] = json!(fp);
        }
    } else {
        o["ischange"] = json!(false);
    }
    let labels: Vec<&String> = e.meta.labels.get(&address).into_iter().collect();
    o["labels"] = json!(labels);
    Ok(o)
}

// ---- balances and coins ----

fn sum(coins: impl Iterator<Item = Amount>) -> Value {
    amount(coins.map(|a| a.to_sat() as i64).sum())
}

fn getbalance(e: &Engine, a: &[Value]) -> Res {
    if let Some(d) = opt(a, 0) {
        if d.as_str() != Some("*") {
            return Err(failure(
                code::METHOD_DEPRECATED,
                "dummy first argument must be excluded or set to \"*\".",
            ));
        }
    }
    let minconf = int(a, 1, 0)?.max(0) as u32;
    let coins = e.coins();
    Ok(sum(coins
        .iter()
        .filter(|c| c.mature() && c.depth >= minconf && (c.depth > 0 || c.trusted))
        .map(|c| c.out.txout.value)))
}

fn getbalances(e: &Engine) -> Value {
    let coins = e.coins();
    let trusted = coins
        .iter()
        .filter(|c| c.mature() && (c.depth > 0 || c.trusted));
    let pending = coins.iter().filter(|c| c.depth == 0 && !c.trusted);
    let immature = coins.iter().filter(|c| !c.mature() && c.depth > 0);
    let mut mine = json!({
        "trusted": sum(trusted.map(|c| c.out.txout.value)),
        "untrusted_pending": sum(pending.map(|c| c.out.txout.value)),
        "immature": sum(immature.map(|c| c.out.txout.value)),
    });
    if e.meta.avoid_reuse {
        mine["used"] = amount(0);
    }
    json!({"mine": mine, "lastprocessedblock": last_block_json(e)})
}

fn getreceivedbyaddress(e: &Engine, a: &[Value]) -> Res {
    let address = text(a, 0).unwrap_or_default();
    let script = script_of(e, &address)
        .map_err(|_| failure(code::INVALID_ADDRESS_OR_KEY, "Invalid Bitcoin address"))?;
    if !e.is_mine(&script) {
        return Err(failure(code::WALLET_ERROR, "Address not found in wallet"));
    }
    let minconf = int(a, 1, 1)?.max(0) as u32;
    Ok(amount(received_by(
        e,
        &[script],
        minconf,
        flag(a, 2, false),
    )))
}

fn public_descriptor_text(w: &bdk_wallet::Wallet, keychain: KeychainKind) -> String {
    let text = w.public_descriptor(keychain).to_string();
    let body = text.split('#').next().unwrap_or(&text).replace('\'', "h");
    crate::script::infer::with_checksum(&body)
}

// ---- labels ----

fn label_arg(a: &[Value], i: usize) -> Result<String, RpcError> {
    let label = text(a, i).unwrap_or_default();
    if label == "*" {
        return Err(failure(
            code::WALLET_INVALID_LABEL_NAME,
            "Invalid label name",
        ));
    }
    Ok(label)
}

fn setlabel(e: &mut Engine, a: &[Value]) -> Res {
    let address = text(a, 0).unwrap_or_default();
    script_of(e, &address)
        .map_err(|_| failure(code::INVALID_ADDRESS_OR_KEY, "Invalid Bitcoin address"))?;
    let label = label_arg(a, 1)?;
    e.meta.labels.insert(address, label);
    e.touch_meta();
    e.commit_all()
        .map_err(|err| failure(code::DATABASE_ERROR, err.to_string()))?;
    Ok(Value::Null)
}

/// Core's address book purpose: "receive" for our own addresses.
fn purpose(e: &Engine, address: &str) -> &'static str {
    match script_of(e, address) {
        Ok(s) if e.is_mine(&s) => "receive",
        _ => "send",
    }
}

fn listlabels(e: &Engine, a: &[Value]) -> Value {
    let wanted = text(a, 0);
    let labels: std::collections::BTreeSet<&String> = e
        .meta
        .labels
        .iter()
        .filter(|(addr, _)| wanted.as_deref().is_none_or(|w| purpose(e, addr) == w))
        .map(|(_, l)| l)
        .collect();
    json!(labels)
}

fn getaddressesbylabel(e: &Engine, a: &[Value]) -> Res {
    let label = label_arg(a, 0)?;
    let mut out = Map::new();
    for (addr, l) in &e.meta.labels {
        if *l == label {
            out.insert(addr.clone(), json!({"purpose": purpose(e, addr)}));
        }
    }
    if out.is_empty() {
        return Err(failure(
            code::WALLET_INVALID_LABEL_NAME,
            format!("No addresses with label {label}"),
        ));
    }
    Ok(Value::Object(out))
}

fn getreceivedbylabel(e: &Engine, a: &[Value]) -> Res {
    let label = label_arg(a, 0)?;
    let scripts: Vec<ScriptBuf> = e
        .meta
        .labels
        .iter()
        .filter(|(_, l)| **l == label)
        .filter_map(|(addr, _)| script_of(e, addr).ok())
        .filter(|s| e.is_mine(s))
        .collect();
    let minconf = int(a, 1, 1)?.max(0) as u32;
    Ok(amount(received_by(e, &scripts, minconf, flag(a, 2, false))))
}

/// What `scripts` received in transactions with at least `minconf`
/// confirmations (immature coinbases only when asked).
fn received_by(e: &Engine, scripts: &[ScriptBuf], minconf: u32, immature_too: bool) -> i64 {
    let mut total = 0i64;
    for t in e.transactions() {
        let depth = e.depth_of(&t.position);
        if t.tx.is_coinbase() && !immature_too && depth <= COINBASE_MATURITY {
            continue;
        }
        if depth < minconf {
            continue;
        }
        total +=
            t.tx.output
                .iter()
                .filter(|o| scripts.contains(&o.script_pubkey))
                .map(|o| o.value.to_sat() as i64)
                .sum::<i64>();
    }
    total
}

fn listunspent(e: &Engine, a: &[Value]) -> Res {
    let minconf = int(a, 0, 1)?;
    let maxconf = int(a, 1, 9_999_999)?;
    let mut only: Option<Vec<ScriptBuf>> = None;
    if let Some(list) = opt(a, 2).and_then(Value::as_array) {
        let mut scripts = Vec::new();
        for v in list {
            let s = v.as_str().unwrap_or_default();
            let script = script_of(e, s).map_err(|_| {
                failure(
                    code::INVALID_ADDRESS_OR_KEY,
                    format!("Invalid Bitcoin address: {s}"),
                )
            })?;
            if scripts.contains(&script) {
                return Err(invalid_parameter(format!(
                    "Invalid parameter, duplicated address: {s}"
                )));
            }
            scripts.push(script);
        }
        only = Some(scripts);
    }
    let include_unsafe = flag(a, 3, true);
    let q = opt(a, 4).cloned().unwrap_or(json!({}));
    let min_amount = q
        .get("minimumAmount")
        .map(amount_from_value)
        .transpose()?
        .unwrap_or(0);
    let max_amount = q
        .get("maximumAmount")
        .map(amount_from_value)
        .transpose()?
        .unwrap_or(i64::MAX);
    let locked = e.locked();
    let mut out = Vec::new();
    for c in e.coins() {
        let depth = i64::from(c.depth);
        let safe = c.depth > 0 || c.trusted;
        let value = c.out.txout.value.to_sat() as i64;
        if !c.mature()
            || depth < minconf
            || depth > maxconf
            || (!safe && !include_unsafe)
            || locked.contains(&c.out.outpoint)
            || value < min_amount
            || value > max_amount
            || only
                .as_ref()
                .is_some_and(|s| !s.contains(&c.out.txout.script_pubkey))
        {
            continue;
        }
        let script = &c.out.txout.script_pubkey;
        let mut o = json!({
            "txid": c.out.outpoint.txid.to_string(),
            "vout": c.out.outpoint.vout,
        });
        if let Some(addr) = address_of(e, script) {
            if let Some(label) = e.meta.labels.get(&addr) {
                o["label"] = json!(label);
            }
            o["address"] = json!(addr);
        }
        o["scriptPubKey"] = json!(script.to_hex_string());
        o["amount"] = amount(value);
        o["confirmations"] = json!(c.depth);
        o["spendable"] = json!(true);
        o["solvable"] = json!(true);
        match c.account {
            Account::Active(kind) => {
                if let Some((_, desc)) = e.key_info(kind, c.out.keychain, c.out.derivation_index) {
                    o["desc"] = json!(desc);
                }
                if let Some(w) = e.sub(kind) {
                    o["parent_descs"] = json!([public_descriptor_text(w, c.out.keychain)]);
                }
            }
            Account::Imported(id) => {
                o["desc"] = json!(crate::script::infer::infer(script, e.network));
                if let Some(m) = e.meta.imported.iter().find(|m| m.id == id) {
                    o["parent_descs"] = json!([m.desc]);
                }
            }
        }
        o["safe"] = json!(safe);
        out.push(o);
    }
    Ok(Value::Array(out))
}

// ---- transactions ----

fn signals_rbf(tx: &Transaction) -> bool {
    tx.input.iter().any(|i| i.sequence.is_rbf())
}

/// Core's WalletTxToJSON: the fields every listing of a transaction shows.
fn tx_fields(e: &Engine, t: &WalletTxView, o: &mut Map<String, Value>) {
    let txid = t.tx.compute_txid();
    let depth = e.depth_of(&t.position);
    let note = e.meta.txs.get(&txid).cloned().unwrap_or_default();
    o.insert("confirmations".into(), json!(depth));
    if t.tx.is_coinbase() {
        o.insert("generated".into(), json!(true));
    }
    let mut time = note.time_received;
    match &t.position {
        ChainPosition::Confirmed { anchor, .. } => {
            o.insert("blockhash".into(), json!(anchor.block_id.hash.to_string()));
            o.insert("blockheight".into(), json!(anchor.block_id.height));
            o.insert("blocktime".into(), json!(anchor.confirmation_time));
            if time == 0 {
                time = anchor.confirmation_time as i64;
            }
        }
        ChainPosition::Unconfirmed { first_seen, .. } => {
            o.insert(
                "trusted".into(),
                json!(e.from_me(&t.tx) && e.in_mempool.contains(&txid)),
            );
            if time == 0 {
                time = first_seen.map_or(0, |s| s as i64);
            }
        }
    }
    o.insert("txid".into(), json!(txid.to_string()));
    o.insert("wtxid".into(), json!(t.tx.compute_wtxid().to_string()));
    o.insert("walletconflicts".into(), json!([]));
    if let Some(by) = note.replaced_by {
        o.insert("replaced_by_txid".into(), json!(by.to_string()));
    }
    if let Some(old) = note.replaces {
        o.insert("replaces_txid".into(), json!(old.to_string()));
    }
    o.insert("mempoolconflicts".into(), json!([]));
    if !note.comment.is_empty() {
        o.insert("comment".into(), json!(note.comment));
    }
    if !note.comment_to.is_empty() {
        o.insert("to".into(), json!(note.comment_to));
    }
    o.insert("time".into(), json!(time));
    o.insert("timereceived".into(), json!(time));
    let rbf = if depth == 0 && signals_rbf(&t.tx) {
        "yes"
    } else {
        "no"
    };
    o.insert("bip125-replaceable".into(), json!(rbf));
}

/// One transaction's entries as listtransactions shows them: a "send" per
/// output paid to others (when the wallet spent), a "receive" (or
/// generate/immature/orphan) per output it received; change is left out
/// unless `include_change`.
fn entries(
    e: &Engine,
    t: &WalletTxView,
    label: Option<&str>,
    include_change: bool,
) -> Vec<Map<String, Value>> {
    let from_me = t.sent > Amount::ZERO;
    let depth = e.depth_of(&t.position);
    let fee = t.fee.map_or(0, |f| f.to_sat() as i64);
    let abandoned = e
        .meta
        .txs
        .get(&t.tx.compute_txid())
        .is_some_and(|n| n.abandoned);
    let mut list = Vec::new();
    for (vout, out) in t.tx.output.iter().enumerate() {
        let mine = e.is_mine(&out.script_pubkey);
        let change = e.is_change(&out.script_pubkey);
        if from_me && change && !include_change {
            continue;
        }
        let address = address_of(e, &out.script_pubkey);
        let entry_label = address.as_ref().and_then(|a| e.meta.labels.get(a)).cloned();
        let mut base = Map::new();
        if let Some(a) = &address {
            base.insert("address".into(), json!(a));
        }
        if from_me && (!mine || change) && label.is_none() {
            let mut s = base.clone();
            s.insert("category".into(), json!("send"));
            s.insert("amount".into(), amount(-(out.value.to_sat() as i64)));
            if let Some(l) = &entry_label {
                s.insert("label".into(), json!(l));
            }
            s.insert("vout".into(), json!(vout));
            s.insert("fee".into(), amount(-fee));
            s.insert("abandoned".into(), json!(abandoned));
            list.push(s);
        }
        if mine && (!change || include_change) {
            if label.is_some_and(|l| entry_label.as_deref() != Some(l)) {
                continue;
            }
            let category = if t.tx.is_coinbase() {
                if depth == 0 {
                    "orphan"
                } else if depth <= COINBASE_MATURITY {
                    "immature"
                } else {
                    "generate"
                }
            } else {
                "receive"
            };
            let mut r = base;
            r.insert("category".into(), json!(category));
            r.insert("amount".into(), amount(out.value.to_sat() as i64));
            if let Some(l) = &entry_label {
                r.insert("label".into(), json!(l));
            }
            r.insert("vout".into(), json!(vout));
            if from_me {
                r.insert("abandoned".into(), json!(abandoned));
            }
            list.push(r);
        }
    }
    list
}

/// Entries of `t` with the transaction's fields, for listings.
fn listed(e: &Engine, t: &WalletTxView, label: Option<&str>, include_change: bool) -> Vec<Value> {
    entries(e, t, label, include_change)
        .into_iter()
        .map(|mut m| {
            tx_fields(e, t, &mut m);
            Value::Object(m)
        })
        .collect()
}

/// Transactions oldest first (block height, then time received).
fn ordered(e: &Engine) -> Vec<WalletTxView> {
    let mut txs = e.transactions();
    let key = |t: &WalletTxView| {
        let height = match &t.position {
            ChainPosition::Confirmed { anchor, .. } => anchor.block_id.height,
            ChainPosition::Unconfirmed { .. } => u32::MAX,
        };
        let time = e
            .meta
            .txs
            .get(&t.tx.compute_txid())
            .map_or(0, |n| n.time_received);
        (height, time)
    };
    txs.sort_by_key(key);
    txs
}

fn listtransactions(e: &Engine, a: &[Value]) -> Res {
    let label = text(a, 0);
    if label.as_deref() == Some("") {
        return Err(failure(
            code::WALLET_INVALID_LABEL_NAME,
            "Label argument must be a valid label name or \"*\".",
        ));
    }
    let label = label.filter(|l| l != "*");
    let count = int(a, 1, 10)?;
    let skip = int(a, 2, 0)?;
    if count < 0 {
        return Err(invalid_parameter("Negative count"));
    }
    if skip < 0 {
        return Err(invalid_parameter("Negative from"));
    }
    let all: Vec<Value> = ordered(e)
        .iter()
        .flat_map(|t| listed(e, t, label.as_deref(), false))
        .collect();
    let end = all.len().saturating_sub(skip as usize);
    let start = end.saturating_sub(count as usize);
    Ok(Value::Array(all[start..end].to_vec()))
}

fn gettransaction(e: &Engine, a: &[Value]) -> Res {
    let txid = txid_arg(a, 0)?;
    let verbose = flag(a, 2, false);
    let t = e.transaction(&txid).ok_or_else(|| {
        failure(
            code::INVALID_ADDRESS_OR_KEY,
            "Invalid or non-wallet transaction id",
        )
    })?;
    let value_out: i64 = t.tx.output.iter().map(|o| o.value.to_sat() as i64).sum();
    let credit = t.received.to_sat() as i64;
    let debit = t.sent.to_sat() as i64;
    let mut o = Map::new();
    if debit > 0 {
        o.insert("amount".into(), amount(credit - value_out));
        o.insert("fee".into(), amount(value_out - debit));
    } else {
        o.insert("amount".into(), amount(credit));
    }
    tx_fields(e, &t, &mut o);
    let details: Vec<Value> = entries(e, &t, None, false)
        .into_iter()
        .map(Value::Object)
        .collect();
    o.insert("details".into(), Value::Array(details));
    o.insert(
        "hex".into(),
        json!(bitcoin::consensus::encode::serialize_hex(&*t.tx)),
    );
    if verbose {
        o.insert(
            "decoded".into(),
            crate::node::methods::encode::tx(&t.tx, e.network, false),
        );
    }
    Ok(Value::Object(o))
}

async fn listsinceblock(p: &Rc<WalletProcess>, a: &[Value]) -> Res {
    let target = int(a, 1, 1)?;
    if target < 1 {
        return Err(invalid_parameter("Invalid parameter"));
    }
    let include_removed = flag(a, 3, true);
    let include_change = flag(a, 4, false);
    let label = text(a, 5);
    let mut since = None;
    if let Some(h) = text(a, 0).filter(|h| !h.is_empty()) {
        let hash: BlockHash = hash_str(&h, "blockhash")?;
        let (height, active) = p
            .find_block(&hash)
            .await?
            .ok_or_else(|| failure(code::INVALID_ADDRESS_OR_KEY, "Block not found"))?;
        // A block off the active chain: everything from the fork point on.
        since = Some(if active {
            height
        } else {
            // A stale block: from the highest block below it still in the chain.
            p.shared_at_or_below(height.saturating_sub(1))
                .await?
                .map_or(0, |b| b.height)
        });
    }
    let tip = p.with(|e| Ok(e.tip_height()))?;
    let last_height = (i64::from(tip) + 1 - target).max(0) as u32;
    let lastblock = p
        .block_hash(last_height)
        .await?
        .unwrap_or(BlockHash::all_zeros());
    p.with(|e| {
        let mut txs = Vec::new();
        for t in ordered(e) {
            let confirmed_at = match &t.position {
                ChainPosition::Confirmed { anchor, .. } => Some(anchor.block_id.height),
                ChainPosition::Unconfirmed { .. } => None,
            };
            if since.is_some_and(|s| confirmed_at.is_some_and(|h| h <= s)) {
                continue;
            }
            txs.extend(listed(e, &t, label.as_deref(), include_change));
        }
        let mut o = json!({"transactions": txs});
        if include_removed {
            o["removed"] = json!([]);
        }
        o["lastblock"] = json!(lastblock.to_string());
        Ok(o)
    })
}

fn listdescriptors(e: &Engine, a: &[Value], keypool: usize) -> Res {
    let private = flag(a, 0, false);
    if private {
        if !e.has_keys() {
            return Err(failure(code::WALLET_ERROR, "Can't get descriptor string."));
        }
        if e.is_locked() {
            return Err(unlock_needed());
        }
    }
    let mut list = Vec::new();
    for (kind, w) in e.subs() {
        let secret = match (private, e.master()) {
            (true, Some(m)) => Some(
                super::keys::descriptors(&e.secp, m, *kind, e.network, true)
                    .map_err(|err| failure(code::WALLET_ERROR, err.to_string()))?,
            ),
            _ => None,
        };
        for keychain in [KeychainKind::External, KeychainKind::Internal] {
            let desc = match &secret {
                Some((recv, change)) => {
                    crate::script::infer::with_checksum(if keychain == KeychainKind::External {
                        recv
                    } else {
                        change
                    })
                }
                None => public_descriptor_text(w, keychain),
            };
            let next = w.next_derivation_index(keychain);
            list.push(json!({
                "desc": desc,
                "timestamp": e.meta.birth_time,
                "active": true,
                "internal": keychain == KeychainKind::Internal,
                "range": [0, next as usize + keypool - 1],
                "next": next,
                "next_index": next,
            }));
        }
    }
    for m in &e.meta.imported {
        let mut d = json!({"desc": m.desc, "timestamp": m.timestamp, "active": false});
        if let Some(end) = m.range_end {
            d["range"] = json!([0, end]);
            d["next"] = json!(end + 1);
            d["next_index"] = json!(end + 1);
        }
        list.push(d);
    }
    // Core lists them in the order of their text.
    list.sort_by(|a, b| a["desc"].as_str().cmp(&b["desc"].as_str()));
    Ok(json!({"wallet_name": e.name, "descriptors": list}))
}

// ---- locks and fees ----

fn lockunspent(e: &mut Engine, a: &[Value]) -> Res {
    let unlock = flag(a, 0, false);
    let persistent = flag(a, 2, false);
    let Some(list) = opt(a, 1).and_then(Value::as_array) else {
        if unlock {
            for o in e.locked() {
                e.set_locked(o, false, false);
            }
            e.commit_all()
                .map_err(|err| failure(code::DATABASE_ERROR, err.to_string()))?;
        }
        return Ok(json!(true));
    };
    if unlock && persistent {
        return Err(invalid_parameter(
            "Invalid parameter, the persistent flag can only be true when locking outputs",
        ));
    }
    let locked = e.locked();
    let mut outpoints = Vec::new();
    for item in list {
        let txid = item.get("txid").and_then(Value::as_str).unwrap_or_default();
        let vout = item
            .get("vout")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid_parameter("Invalid parameter, missing vout key"))?;
        if vout < 0 {
            return Err(invalid_parameter(
                "Invalid parameter, vout cannot be negative",
            ));
        }
        let txid = txid_arg(&[json!(txid)], 0)?;
        let t = e
            .transaction(&txid)
            .ok_or_else(|| invalid_parameter("Invalid parameter, unknown transaction"))?;
        if vout as usize >= t.tx.output.len() {
            return Err(invalid_parameter(
                "Invalid parameter, vout index out of bounds",
            ));
        }
        let outpoint = OutPoint::new(txid, vout as u32);
        let unspent = e.coins().iter().any(|c| c.out.outpoint == outpoint);
        if !unspent {
            return Err(invalid_parameter(
                "Invalid parameter, expected unspent output",
            ));
        }
        let is_locked = locked.contains(&outpoint);
        if unlock && !is_locked {
            return Err(invalid_parameter(
                "Invalid parameter, expected locked output",
            ));
        }
        if !unlock && is_locked {
            return Err(invalid_parameter(
                "Invalid parameter, output already locked",
            ));
        }
        outpoints.push(outpoint);
    }
    for o in outpoints {
        e.set_locked(o, !unlock, persistent);
    }
    e.commit_all()
        .map_err(|err| failure(code::DATABASE_ERROR, err.to_string()))?;
    Ok(json!(true))
}

fn listlockunspent(e: &Engine) -> Value {
    let list: Vec<Value> = e
        .locked()
        .into_iter()
        .map(|o| json!({"txid": o.txid.to_string(), "vout": o.vout}))
        .collect();
    Value::Array(list)
}

async fn settxfee(p: &Rc<WalletProcess>, a: &[Value]) -> Res {
    let rate = amount_from_value(opt(a, 0).unwrap_or(&Value::Null))?;
    let (min_relay, _, _) = p.fee_rates().await?;
    if rate != 0 && rate < min_relay {
        return Err(invalid_parameter(format!(
            "txfee cannot be less than min relay tx fee ({})",
            fee_rate_text(min_relay)
        )));
    }
    if rate != 0 && rate < p.options.min_tx_fee {
        return Err(invalid_parameter(format!(
            "txfee cannot be less than wallet min fee ({})",
            fee_rate_text(p.options.min_tx_fee)
        )));
    }
    if rate > p.options.max_tx_fee {
        return Err(invalid_parameter(format!(
            "txfee cannot be more than wallet max tx fee ({})",
            fee_rate_text(p.options.max_tx_fee)
        )));
    }
    p.with(|e| {
        e.meta.pay_tx_fee = rate;
        e.touch_meta();
        e.commit_all()
            .map_err(|err| failure(code::DATABASE_ERROR, err.to_string()))
    })?;
    Ok(json!(true))
}

/// Core's CFeeRate::ToString: "0.00001000 BTC/kvB".
fn fee_rate_text(sat_per_kvb: i64) -> String {
    format!(
        "{}.{:08} BTC/kvB",
        sat_per_kvb / 100_000_000,
        sat_per_kvb % 100_000_000
    )
}

// ---- sending ----

pub(super) fn recipient(
    e: &Engine,
    address: &str,
    value: &Value,
) -> Result<(ScriptBuf, Amount), RpcError> {
    let script = script_of(e, address).map_err(|_| {
        failure(
            code::INVALID_ADDRESS_OR_KEY,
            format!("Invalid Bitcoin address: {address}"),
        )
    })?;
    let sats = amount_from_value(value)?;
    if sats <= 0 {
        return Err(failure(code::TYPE_ERROR, "Invalid amount for send"));
    }
    Ok((script, Amount::from_sat(sats as u64)))
}

fn sent_result(txid: Txid, verbose: bool) -> Value {
    if verbose {
        json!({"txid": txid.to_string(), "fee_reason": "Fallback fee"})
    } else {
        json!(txid.to_string())
    }
}

async fn sendtoaddress(p: &Rc<WalletProcess>, a: &[Value]) -> Res {
    let address = text(a, 0).unwrap_or_default();
    let fee_rate = fee_choice(opt(a, 6), opt(a, 7), opt(a, 9))?;
    let r = p.with(|e| recipient(e, &address, opt(a, 1).unwrap_or(&Value::Null)))?;
    let payment = Payment {
        recipients: vec![r],
        subtract: if flag(a, 4, false) {
            vec![0]
        } else {
            Vec::new()
        },
        fee_rate,
        replaceable: opt(a, 5).and_then(Value::as_bool),
        ..Payment::default()
    };
    let (tx, _) = send::create(p, &payment).await?;
    let txid = send::commit(
        p,
        &tx,
        &text(a, 2).unwrap_or_default(),
        &text(a, 3).unwrap_or_default(),
        None,
    )
    .await?;
    Ok(sent_result(txid, flag(a, 10, false)))
}

async fn sendmany(p: &Rc<WalletProcess>, a: &[Value]) -> Res {
    if text(a, 0).is_some_and(|d| !d.is_empty()) {
        return Err(invalid_parameter("Dummy value must be set to \"\""));
    }
    let amounts = opt(a, 1)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if amounts.is_empty() {
        return Err(invalid_parameter(
            "Transaction must have at least one recipient",
        ));
    }
    let subtract_from: Vec<String> = opt(a, 4)
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let fee_rate = fee_choice(opt(a, 6), opt(a, 7), opt(a, 8))?;
    let mut recipients = Vec::new();
    let mut subtract = Vec::new();
    p.with(|e| {
        for (i, (address, value)) in amounts.iter().enumerate() {
            let r = recipient(e, address, value)?;
            if recipients.iter().any(|(s, _)| *s == r.0) {
                return Err(invalid_parameter(format!(
                    "Invalid parameter, duplicated address: {address}"
                )));
            }
            recipients.push(r);
            if subtract_from.contains(address) {
                subtract.push(i);
            }
        }
        Ok(())
    })?;
    let payment = Payment {
        recipients,
        subtract,
        fee_rate,
        replaceable: opt(a, 5).and_then(Value::as_bool),
        ..Payment::default()
    };
    let (tx, _) = send::create(p, &payment).await?;
    let txid = send::commit(p, &tx, &text(a, 3).unwrap_or_default(), "", None).await?;
    Ok(sent_result(txid, flag(a, 9, false)))
}

/// bumpfee's and psbtbumpfee's arguments: the txid and the fee rate asked.
pub(super) fn bump_args(a: &[Value]) -> Result<(Txid, Option<i64>), RpcError> {
    let txid = txid_arg(a, 0)?;
    let o = opt(a, 1).cloned().unwrap_or(json!({}));
    let rate = fee_choice(
        o.get("conf_target"),
        o.get("estimate_mode"),
        o.get("fee_rate"),
    )?;
    Ok((txid, rate))
}

async fn bumpfee(p: &Rc<WalletProcess>, a: &[Value]) -> Res {
    let (txid, rate) = bump_args(a)?;
    if p.with(|e| Ok(e.needs_unlock()))? {
        return Err(unlock_needed());
    }
    let (new, old_fee, new_fee) = send::bump(p, txid, rate).await?;
    Ok(json!({
        "txid": new.to_string(),
        "origfee": amount(old_fee.to_sat() as i64),
        "fee": amount(new_fee.to_sat() as i64),
        "errors": [],
    }))
}

/// removeprunedfunds (deprecated; the node lets it through only with
/// -deprecatedrpc=removeprunedfunds). The wallet (bdk_wallet) keeps every
/// transaction it saw and cannot forget one: an unknown txid gets Core's
/// error, a known one a clear refusal.
fn removeprunedfunds(e: &mut Engine, a: &[Value]) -> Res {
    let txid = txid_arg(a, 0)?;
    if e.transaction(&txid).is_none() {
        return Err(failure(
            code::WALLET_ERROR,
            "Transaction does not exist in wallet.",
        ));
    }
    Err(failure(
        code::WALLET_ERROR,
        "Removing a transaction is not supported: this wallet keeps every transaction it has seen",
    ))
}

async fn abandontransaction(p: &Rc<WalletProcess>, a: &[Value]) -> Res {
    let txid = txid_arg(a, 0)?;
    let confirmed = p.with(|e| {
        e.transaction(&txid)
            .map(|t| t.position.is_confirmed())
            .ok_or_else(|| {
                failure(
                    code::INVALID_ADDRESS_OR_KEY,
                    "Invalid or non-wallet transaction id",
                )
            })
    })?;
    if confirmed || p.in_mempool(&txid).await? {
        return Err(failure(
            code::INVALID_ADDRESS_OR_KEY,
            "Transaction not eligible for abandonment",
        ));
    }
    p.with(|e| {
        // The transaction and its in-wallet descendants.
        let mut gone = vec![txid];
        let mut i = 0;
        while i < gone.len() {
            let parent = gone[i];
            for t in e.transactions() {
                let id = t.tx.compute_txid();
                if !gone.contains(&id)
                    && t.tx
                        .input
                        .iter()
                        .any(|inp| inp.previous_output.txid == parent)
                {
                    gone.push(id);
                }
            }
            i += 1;
        }
        e.evict(&gone, now() as u64);
        for id in gone {
            e.meta.txs.entry(id).or_default().abandoned = true;
        }
        e.touch_meta();
        e.commit_all()
            .map_err(|err| failure(code::DATABASE_ERROR, err.to_string()))
    })?;
    Ok(Value::Null)
}

async fn rescanblockchain(p: &Rc<WalletProcess>, a: &[Value]) -> Res {
    let tip = p.tip().await?.height;
    let start = int(a, 0, 0)?;
    if start < 0 || start > i64::from(tip) {
        return Err(invalid_parameter("Invalid start_height"));
    }
    let stop = match opt(a, 1) {
        None => i64::from(tip),
        Some(_) => {
            let s = int(a, 1, 0)?;
            if s < 0 || s > i64::from(tip) {
                return Err(invalid_parameter("Invalid stop_height"));
            }
            if s < start {
                return Err(invalid_parameter(
                    "stop_height must be greater than start_height",
                ));
            }
            s
        }
    };
    let last = p.rescan(start as u32, stop as u32).await?;
    Ok(json!({
        "start_height": start,
        "stop_height": last.map_or(stop, |b| i64::from(b.height)),
    }))
}

// ---- keys ----

fn signmessage(e: &Engine, a: &[Value]) -> Res {
    let address = text(a, 0).unwrap_or_default();
    let message = text(a, 1).unwrap_or_default();
    let script =
        script_of(e, &address).map_err(|_| failure(code::TYPE_ERROR, "Invalid address"))?;
    if !script.is_p2pkh() {
        return Err(failure(code::TYPE_ERROR, "Address does not refer to key"));
    }
    if e.is_locked() {
        return Err(unlock_needed());
    }
    let (kind, keychain, index) = e
        .owner(&script)
        .ok_or_else(|| failure(code::WALLET_ERROR, "Private key not available"))?;
    let key = e
        .private_key(kind, keychain, index)
        .ok_or_else(|| failure(code::WALLET_ERROR, "Private key not available"))?;
    let hash = bitcoin::sign_message::signed_msg_hash(&message);
    let msg = bitcoin::secp256k1::Message::from_digest(hash.to_byte_array());
    let sig = e.secp.sign_ecdsa_recoverable(&msg, &key.inner);
    let signature = bitcoin::sign_message::MessageSignature::new(sig, key.compressed);
    Ok(json!(signature.to_base64()))
}

fn passphrase_arg(a: &[Value], i: usize) -> Result<zeroize::Zeroizing<String>, RpcError> {
    let p = zeroize::Zeroizing::new(text(a, i).unwrap_or_default());
    if p.is_empty() {
        return Err(invalid_parameter("passphrase cannot be empty"));
    }
    Ok(p)
}

fn key_failure(err: KeyError) -> RpcError {
    match err {
        KeyError::WrongPassphrase => failure(code::WALLET_PASSPHRASE_INCORRECT, err.to_string()),
        other => failure(code::WALLET_ERROR, other.to_string()),
    }
}

fn encryptwallet(e: &mut Engine, a: &[Value]) -> Res {
    if !e.has_keys() {
        return Err(failure(
            code::WALLET_ENCRYPTION_FAILED,
            "Error: wallet does not contain private keys, nothing to encrypt.",
        ));
    }
    if e.is_encrypted() {
        return Err(failure(
            code::WALLET_WRONG_ENC_STATE,
            "Error: running with an encrypted wallet, but encryptwallet was called.",
        ));
    }
    if !e.has_seed() {
        return Err(failure(
            code::WALLET_ENCRYPTION_FAILED,
            "Error: this wallet has no seed of its own; encrypting a wallet of imported keys only is not supported yet.",
        ));
    }
    let passphrase = passphrase_arg(a, 0)?;
    e.seal(None, &passphrase).map_err(|err| {
        failure(
            code::WALLET_ENCRYPTION_FAILED,
            format!("Error: Failed to encrypt the wallet. {err}"),
        )
    })?;
    e.lock();
    e.commit_all()
        .map_err(|err| failure(code::DATABASE_ERROR, err.to_string()))?;
    Ok(json!("wallet encrypted; The keypool has been flushed and a new HD seed was generated. You need to make a new backup with the backupwallet RPC."))
}

fn walletpassphrase(p: &Rc<WalletProcess>, a: &[Value]) -> Res {
    let timeout = int(a, 1, 0)?;
    let generation = p.with(|e| {
        if !e.is_encrypted() {
            return Err(failure(
                code::WALLET_WRONG_ENC_STATE,
                "Error: running with an unencrypted wallet, but walletpassphrase was called.",
            ));
        }
        if timeout < 0 {
            return Err(invalid_parameter("Timeout cannot be negative."));
        }
        let passphrase = passphrase_arg(a, 0)?;
        e.unlock(&passphrase).map_err(key_failure)?;
        let seconds = timeout.min(MAX_UNLOCK_SECONDS);
        e.unlocked_until = now() + seconds;
        e.unlock_generation += 1;
        Ok((e.unlock_generation, seconds))
    })?;
    let (generation, seconds) = generation;
    let weak = Rc::downgrade(p);
    tokio::task::spawn_local(async move {
        tokio::time::sleep(std::time::Duration::from_secs(seconds as u64)).await;
        if let Some(p) = weak.upgrade() {
            let _ = p.with(|e| {
                if e.unlock_generation == generation {
                    e.lock();
                }
                Ok(())
            });
        }
    });
    Ok(Value::Null)
}

fn walletpassphrasechange(e: &mut Engine, a: &[Value]) -> Res {
    if !e.is_encrypted() {
        return Err(failure(
            code::WALLET_WRONG_ENC_STATE,
            "Error: running with an unencrypted wallet, but walletpassphrasechange was called.",
        ));
    }
    let old = passphrase_arg(a, 0)?;
    let new = passphrase_arg(a, 1)?;
    e.seal(Some(&old), &new).map_err(key_failure)?;
    e.commit_all()
        .map_err(|err| failure(code::DATABASE_ERROR, err.to_string()))?;
    Ok(Value::Null)
}

/// Writes everything, then copies the database to the staged backup file in
/// the wallet's own directory (the broker copies it to the destination: the
/// sandbox lets this process write nowhere else). The process is the
/// database's only writer and no write transaction is open, so the copy is
/// the database as of this commit.
fn stage_backup(p: &WalletProcess, e: &mut Engine) -> Res {
    let failed = |why: String| {
        failure(
            code::WALLET_ERROR,
            format!("Error: Wallet backup failed! {why}"),
        )
    };
    e.commit_all().map_err(|err| failed(err.to_string()))?;
    let staged = p.dir.join(crate::broker::backups::STAGED_BACKUP);
    let tmp = p
        .dir
        .join(format!("{}.tmp", crate::broker::backups::STAGED_BACKUP));
    let copy = || -> std::io::Result<()> {
        use std::io::{Read, Write};
        let mut from = std::fs::File::open(p.dir.join(super::name::DB_FILE))?;
        let mut to = std::fs::File::create(&tmp)?;
        // A plain read/write loop: std::io::copy between files would use
        // copy_file_range, which the wallet's seccomp policy does not allow.
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = from.read(&mut buf)?;
            if n == 0 {
                break;
            }
            to.write_all(&buf[..n])?;
        }
        to.sync_all()?;
        std::fs::rename(&tmp, &staged)
    };
    copy().map_err(|err| failed(err.to_string()))?;
    Ok(Value::Null)
}
