//! The wallet RPCs that work with PSBTs and raw transactions:
//! walletcreatefundedpsbt, walletprocesspsbt, signrawtransactionwithwallet,
//! fundrawtransaction, send and psbtbumpfee. Funding goes through
//! `send::fund` (BDK's builder); signing fills in what the wallet knows
//! about its own inputs (previous outputs, key origins), signs with the
//! master key and finalizes with miniscript, as Core's FillPSBT does.

use std::rc::Rc;
use std::str::FromStr;

use bdk_wallet::KeychainKind;
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hex::FromHex;
use bitcoin::psbt::Psbt;
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, Txid};
use miniscript::psbt::PsbtExt;
use serde_json::{json, Value};

use super::engine::Engine;
use super::process::{failure, WalletProcess};
use super::rpc::{
    fee_choice, flag, int, invalid_parameter, opt, recipient, text, txid_arg, unlock_needed, Res,
};
use super::send::{self, Payment};
use crate::rpc::json::amount;
use crate::rpc::protocol::code;

/// Core's FundTransaction reports every funding failure (no fee estimate,
/// insufficient funds) as a wallet error.
fn as_wallet_error(mut e: crate::rpc::RpcError) -> crate::rpc::RpcError {
    if e.code == code::WALLET_INSUFFICIENT_FUNDS {
        e.code = code::WALLET_ERROR;
    }
    e
}

fn decode_psbt(text: &str) -> Result<Psbt, crate::rpc::RpcError> {
    Psbt::from_str(text)
        .map_err(|e| failure(code::DESERIALIZATION_ERROR, format!("TX decode failed {e}")))
}

fn decode_tx(hex: &str) -> Result<Transaction, crate::rpc::RpcError> {
    Vec::<u8>::from_hex(hex)
        .ok()
        .and_then(|b| bitcoin::consensus::deserialize(&b).ok())
        .ok_or_else(|| {
            failure(
                code::DESERIALIZATION_ERROR,
                "TX decode failed. Make sure the tx has at least one input.",
            )
        })
}

/// Core's sighash types the wallet signs with (everything else is refused
/// rather than silently signed as ALL).
fn check_sighash(a: &[Value], i: usize) -> Result<(), crate::rpc::RpcError> {
    match text(a, i).as_deref() {
        None | Some("DEFAULT") | Some("ALL") => Ok(()),
        Some(other)
            if [
                "NONE",
                "SINGLE",
                "ALL|ANYONECANPAY",
                "NONE|ANYONECANPAY",
                "SINGLE|ANYONECANPAY",
            ]
            .contains(&other) =>
        {
            Err(invalid_parameter(format!(
                "Sighash type {other} is not supported by this wallet yet"
            )))
        }
        Some(other) => Err(invalid_parameter(format!(
            "'{other}' is not a valid sighash parameter."
        ))),
    }
}

/// Adds what the wallet knows about its own inputs: the previous output
/// and the keys' origins (so that the master key can sign them).
fn fill(e: &Engine, psbt: &mut Psbt) {
    let outpoints: Vec<OutPoint> = psbt
        .unsigned_tx
        .input
        .iter()
        .map(|i| i.previous_output)
        .collect();
    for (i, outpoint) in outpoints.into_iter().enumerate() {
        let found = e.subs().find_map(|(_, w)| {
            let utxo = w.get_utxo(outpoint)?;
            w.get_psbt_input(utxo, None, false).ok()
        });
        let (Some(src), Some(dst)) = (found, psbt.inputs.get_mut(i)) else {
            continue;
        };
        if dst.witness_utxo.is_none() {
            dst.witness_utxo = src.witness_utxo;
        }
        if dst.non_witness_utxo.is_none() {
            dst.non_witness_utxo = src.non_witness_utxo;
        }
        if dst.redeem_script.is_none() {
            dst.redeem_script = src.redeem_script;
        }
        if dst.witness_script.is_none() {
            dst.witness_script = src.witness_script;
        }
        if dst.tap_internal_key.is_none() {
            dst.tap_internal_key = src.tap_internal_key;
        }
        dst.bip32_derivation.extend(src.bip32_derivation);
        dst.tap_key_origins.extend(src.tap_key_origins);
    }
}

fn is_final(psbt: &Psbt, i: usize) -> bool {
    psbt.inputs[i].final_script_sig.is_some() || psbt.inputs[i].final_script_witness.is_some()
}

/// Fills, signs (when asked and unlocked) and finalizes what it can;
/// returns whether every input is final.
fn process(
    e: &Engine,
    psbt: &mut Psbt,
    sign: bool,
    finalize: bool,
) -> Result<bool, crate::rpc::RpcError> {
    fill(e, psbt);
    if sign && e.has_keys() {
        if e.needs_unlock() {
            return Err(unlock_needed());
        }
        // Inputs it cannot sign stay unsigned; finalizing tells.
        e.sign_psbt(psbt);
    }
    let mut complete = true;
    for i in 0..psbt.inputs.len() {
        if is_final(psbt, i) {
            continue;
        }
        if !finalize || psbt.finalize_inp_mut(&e.secp, i).is_err() {
            complete = false;
        }
    }
    Ok(complete)
}

/// Core's outputs argument: `{"address": amount, "data": "hex"}` or an
/// array of one-key objects.
fn outputs(
    e: &Engine,
    v: Option<&Value>,
) -> Result<Vec<(ScriptBuf, Amount)>, crate::rpc::RpcError> {
    let mut pairs: Vec<(String, Value)> = Vec::new();
    match v {
        Some(Value::Object(m)) => pairs.extend(m.iter().map(|(k, v)| (k.clone(), v.clone()))),
        Some(Value::Array(list)) => {
            for item in list {
                let m = item.as_object().ok_or_else(|| {
                    invalid_parameter("Invalid parameter, key-value pair not an object as expected")
                })?;
                if m.len() != 1 {
                    return Err(invalid_parameter(
                        "Invalid parameter, key-value pair must contain exactly one key",
                    ));
                }
                pairs.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        _ => {
            return Err(invalid_parameter(
                "Invalid parameter, output argument must be non-null",
            ))
        }
    }
    let mut out: Vec<(ScriptBuf, Amount)> = Vec::new();
    for (key, value) in pairs {
        if key == "data" {
            let bytes = value
                .as_str()
                .and_then(|h| Vec::<u8>::from_hex(h).ok())
                .ok_or_else(|| invalid_parameter("Data must be hexadecimal string"))?;
            let push = bitcoin::script::PushBytesBuf::try_from(bytes)
                .map_err(|_| invalid_parameter("Data is too long"))?;
            out.push((ScriptBuf::new_op_return(push), Amount::ZERO));
            continue;
        }
        let r = recipient(e, &key, &value)?;
        if out.iter().any(|(s, _)| *s == r.0) {
            return Err(invalid_parameter(format!(
                "Invalid parameter, duplicated address: {key}"
            )));
        }
        out.push(r);
    }
    if out.is_empty() {
        return Err(invalid_parameter("Invalid parameter, outputs are missing"));
    }
    Ok(out)
}

/// Core's inputs argument: `[{"txid": hex, "vout": n, "sequence": n}, ...]`.
fn inputs(v: Option<&Value>) -> Result<Vec<OutPoint>, crate::rpc::RpcError> {
    let mut out = Vec::new();
    for item in v.and_then(Value::as_array).into_iter().flatten() {
        let txid: Txid = txid_arg(&[item.get("txid").cloned().unwrap_or(Value::Null)], 0)?;
        let vout = item
            .get("vout")
            .and_then(Value::as_i64)
            .ok_or_else(|| invalid_parameter("Invalid parameter, missing vout key"))?;
        let vout = u32::try_from(vout)
            .map_err(|_| invalid_parameter("Invalid parameter, vout cannot be negative"))?;
        out.push(OutPoint::new(txid, vout));
    }
    Ok(out)
}

/// The options shared by walletcreatefundedpsbt, send and fundrawtransaction.
struct Funding {
    fee_rate: Option<i64>,
    subtract: Vec<usize>,
    replaceable: Option<bool>,
    lock_unspents: bool,
}

const KNOWN_OPTIONS: &[&str] = &[
    "add_inputs",
    "include_unsafe",
    "changeAddress",
    "change_address",
    "changePosition",
    "change_position",
    "change_type",
    "includeWatching",
    "include_watching",
    "lockUnspents",
    "lock_unspents",
    "feeRate",
    "fee_rate",
    "subtractFeeFromOutputs",
    "subtract_fee_from_outputs",
    "replaceable",
    "conf_target",
    "estimate_mode",
    "input_weights",
    "max_tx_weight",
    "solving_data",
    "inputs",
    "locktime",
    "psbt",
    "add_to_wallet",
    "minconf",
    "maxconf",
];

fn funding(
    o: &Value,
    conf_target: Option<&Value>,
    mode: Option<&Value>,
    fee_rate: Option<&Value>,
) -> Result<Funding, crate::rpc::RpcError> {
    if let Some(m) = o.as_object() {
        if let Some(unknown) = m.keys().find(|k| !KNOWN_OPTIONS.contains(&k.as_str())) {
            return Err(invalid_parameter(format!(
                "Invalid parameter, unknown option: {unknown}"
            )));
        }
    }
    let mut rate = fee_choice(
        conf_target.or(o.get("conf_target")),
        mode.or(o.get("estimate_mode")),
        fee_rate.or(o.get("fee_rate")),
    )?;
    if let Some(btc_per_kvb) = o.get("feeRate") {
        if rate.is_some() {
            return Err(invalid_parameter(
                "Cannot specify both fee_rate (sat/vB) and feeRate (BTC/kvB)",
            ));
        }
        rate = Some(crate::rpc::amount::amount_from_value(btc_per_kvb)?);
    }
    let subtract = o
        .get("subtractFeeFromOutputs")
        .or(o.get("subtract_fee_from_outputs"))
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_u64().map(|i| i as usize))
                .collect()
        })
        .unwrap_or_default();
    Ok(Funding {
        fee_rate: rate,
        subtract,
        replaceable: o.get("replaceable").and_then(Value::as_bool),
        lock_unspents: o
            .get("lockUnspents")
            .or(o.get("lock_unspents"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

fn payment(
    recipients: Vec<(ScriptBuf, Amount)>,
    must_use: Vec<OutPoint>,
    lock_time: Option<u32>,
    f: &Funding,
) -> Result<Payment, crate::rpc::RpcError> {
    if let Some(bad) = f.subtract.iter().find(|i| **i >= recipients.len()) {
        return Err(invalid_parameter(format!(
            "Invalid parameter, subtractfeefrom position {bad} out of range"
        )));
    }
    Ok(Payment {
        recipients,
        must_use,
        lock_time,
        subtract: f.subtract.clone(),
        fee_rate: f.fee_rate,
        replaceable: f.replaceable,
    })
}

/// The change output's index, or -1.
fn change_position(e: &Engine, tx: &Transaction) -> i64 {
    tx.output
        .iter()
        .position(|o| {
            e.owner(&o.script_pubkey)
                .is_some_and(|(_, k, _)| k == KeychainKind::Internal)
        })
        .map_or(-1, |i| i as i64)
}

fn lock_inputs(p: &WalletProcess, psbt: &Psbt, lock: bool) -> Result<(), crate::rpc::RpcError> {
    if lock {
        p.with(|e| {
            for i in &psbt.unsigned_tx.input {
                e.set_locked(i.previous_output, true, false);
            }
            Ok(())
        })?;
    }
    Ok(())
}

pub async fn walletcreatefundedpsbt(p: &Rc<WalletProcess>, a: &[Value]) -> Res {
    let o = opt(a, 3).cloned().unwrap_or(json!({}));
    let f = funding(&o, None, None, None)?;
    let lock_time = match opt(a, 2) {
        None => None,
        Some(_) => Some(
            u32::try_from(int(a, 2, 0)?)
                .map_err(|_| invalid_parameter("Invalid parameter, locktime out of range"))?,
        ),
    };
    let recipients = p.with(|e| outputs(e, opt(a, 1)))?;
    let payment = payment(recipients, inputs(opt(a, 0))?, lock_time, &f)?;
    let (psbt, fee) = send::fund(p, &payment).await.map_err(as_wallet_error)?;
    lock_inputs(p, &psbt, f.lock_unspents)?;
    let pos = p.with(|e| Ok(change_position(e, &psbt.unsigned_tx)))?;
    Ok(json!({
        "psbt": psbt.to_string(),
        "fee": amount(fee.to_sat() as i64),
        "changepos": pos,
    }))
}

pub fn walletprocesspsbt(e: &Engine, a: &[Value]) -> Res {
    let mut psbt = decode_psbt(&text(a, 0).unwrap_or_default())?;
    check_sighash(a, 2)?;
    let sign = flag(a, 1, true);
    let finalize = flag(a, 4, true);
    let complete = process(e, &mut psbt, sign, finalize)?;
    let mut r = json!({"psbt": psbt.to_string(), "complete": complete});
    if complete && finalize {
        r["hex"] = json!(serialize_hex(&psbt.extract_tx_unchecked_fee_rate()));
    }
    Ok(r)
}

pub fn signrawtransactionwithwallet(e: &Engine, a: &[Value]) -> Res {
    let tx = decode_tx(&text(a, 0).unwrap_or_default())?;
    check_sighash(a, 2)?;
    let mut unsigned = tx.clone();
    for i in &mut unsigned.input {
        i.script_sig = ScriptBuf::new();
        i.witness.clear();
    }
    let mut psbt = Psbt::from_unsigned_tx(unsigned)
        .map_err(|err| failure(code::DESERIALIZATION_ERROR, err.to_string()))?;
    // Inputs signed elsewhere stay as they are.
    for (i, input) in tx.input.iter().enumerate() {
        if !input.script_sig.is_empty() {
            psbt.inputs[i].final_script_sig = Some(input.script_sig.clone());
        }
        if !input.witness.is_empty() {
            psbt.inputs[i].final_script_witness = Some(input.witness.clone());
        }
    }
    let complete = process(e, &mut psbt, true, true)?;
    let signed = psbt.clone().extract_tx_unchecked_fee_rate();
    let mut r = json!({"hex": serialize_hex(&signed), "complete": complete});
    if !complete {
        let errors: Vec<Value> = signed
            .input
            .iter()
            .enumerate()
            .filter(|(i, _)| !is_final(&psbt, *i))
            .map(|(i, input)| {
                let ours = psbt.inputs[i].witness_utxo.is_some() || psbt.inputs[i].non_witness_utxo.is_some();
                json!({
                    "txid": input.previous_output.txid.to_string(),
                    "vout": input.previous_output.vout,
                    "witness": [],
                    "scriptSig": input.script_sig.to_hex_string(),
                    "sequence": input.sequence.0,
                    "error": if ours { "Unable to sign input, invalid stack size (possibly missing key)" } else { "Input not found or already spent" },
                })
            })
            .collect();
        r["errors"] = json!(errors);
    }
    Ok(r)
}

pub async fn fundrawtransaction(p: &Rc<WalletProcess>, a: &[Value]) -> Res {
    let tx = decode_tx(&text(a, 0).unwrap_or_default())?;
    let o = match opt(a, 1) {
        Some(Value::Object(_)) => opt(a, 1).cloned().unwrap_or(json!({})),
        _ => json!({}),
    };
    let f = funding(&o, None, None, None)?;
    let recipients: Vec<(ScriptBuf, Amount)> = tx
        .output
        .iter()
        .map(|o| (o.script_pubkey.clone(), o.value))
        .collect();
    if recipients.is_empty() {
        return Err(invalid_parameter("TX must have at least one output"));
    }
    let must_use = tx.input.iter().map(|i| i.previous_output).collect();
    let payment = payment(
        recipients,
        must_use,
        Some(tx.lock_time.to_consensus_u32()),
        &f,
    )?;
    let (psbt, fee) = send::fund(p, &payment).await.map_err(as_wallet_error)?;
    lock_inputs(p, &psbt, f.lock_unspents)?;
    let pos = p.with(|e| Ok(change_position(e, &psbt.unsigned_tx)))?;
    Ok(json!({
        "hex": serialize_hex(&psbt.unsigned_tx),
        "fee": amount(fee.to_sat() as i64),
        "changepos": pos,
    }))
}

pub async fn send(p: &Rc<WalletProcess>, a: &[Value]) -> Res {
    let o = opt(a, 4).cloned().unwrap_or(json!({}));
    let f = funding(&o, opt(a, 1), opt(a, 2), opt(a, 3))?;
    let recipients = p.with(|e| outputs(e, opt(a, 0)))?;
    let lock_time = o.get("locktime").and_then(Value::as_u64).map(|l| l as u32);
    let payment = payment(recipients, inputs(o.get("inputs"))?, lock_time, &f)?;
    let (mut psbt, _) = send::fund(p, &payment).await?;
    let complete = p.with(|e| process(e, &mut psbt, true, true))?;
    let add_to_wallet = o
        .get("add_to_wallet")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let want_psbt = o.get("psbt").and_then(Value::as_bool).unwrap_or(false);
    let mut r = json!({});
    if want_psbt || !complete {
        r["psbt"] = json!(psbt.to_string());
    }
    if complete {
        let tx = psbt.clone().extract_tx_unchecked_fee_rate();
        if add_to_wallet {
            let txid = send::commit(p, &tx, "", "", None).await?;
            r["txid"] = json!(txid.to_string());
        } else {
            r["txid"] = json!(tx.compute_txid().to_string());
            r["hex"] = json!(serialize_hex(&tx));
        }
    }
    lock_inputs(p, &psbt, f.lock_unspents && !add_to_wallet)?;
    r["complete"] = json!(complete);
    Ok(r)
}

pub async fn psbtbumpfee(p: &Rc<WalletProcess>, a: &[Value]) -> Res {
    let (txid, rate) = super::rpc::bump_args(a)?;
    let (psbt, old_fee, new_fee) = send::bump_psbt(p, txid, rate).await?;
    Ok(json!({
        "psbt": psbt.to_string(),
        "origfee": amount(old_fee.to_sat() as i64),
        "fee": amount(new_fee.to_sat() as i64),
        "errors": [],
    }))
}
