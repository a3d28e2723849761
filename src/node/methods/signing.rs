//! signrawtransactionwithkey and combinerawtransaction: Core's signing of a
//! raw transaction with given private keys, and the merging of copies
//! signed apart (rpc/rawtransaction.cpp and rawtransaction_util.cpp):
//! the coins come from the mempool and the UTXO set, or from `prevtxs`
//! (with the redeem and witness scripts P2SH and P2WSH spends need), the
//! signing from script/sign.rs, each input's script check from the kernel
//! (mempool/script_check.rs, Core's standard flags).

use bitcoin::hex::DisplayHex;
use bitcoin::{Amount, NetworkKind, OutPoint, PrivateKey, ScriptBuf, Transaction, TxOut, Txid};
use serde_json::{json, Map, Value};

use super::{arg, invalid_parameter, Handler, Method, NodeCtx, Ty};
use crate::mempool::script_check;
use crate::rpc::amount::amount_from_value;
use crate::rpc::protocol::code;
use crate::rpc::RpcError;
use crate::script::sign::{self, Keystore, MISSING_AMOUNT, UNKNOWN_AMOUNT};

pub fn methods() -> Vec<Method> {
    vec![
        Method {
            name: "combinerawtransaction",
            category: "Rawtransactions",
            args: &[("txs", Ty::Arr, true)],
            summary: "Combine multiple partially signed transactions into one transaction.",
            handler: Handler::Sync(combinerawtransaction),
            hidden: false,
        },
        Method {
            name: "signrawtransactionwithkey",
            category: "Rawtransactions",
            args: &[
                ("hexstring", Ty::Str, true),
                ("privkeys", Ty::Arr, true),
                ("prevtxs", Ty::Arr, false),
                ("sighashtype", Ty::Str, false),
            ],
            summary: "Sign inputs for raw transaction (serialized, hex-encoded).",
            handler: Handler::Sync(signrawtransactionwithkey),
            hidden: false,
        },
    ]
}

fn combinerawtransaction(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let txs = arg::opt(args, 0)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if txs.len() < 2 {
        return Err(RpcError::new(
            code::DESERIALIZATION_ERROR,
            "Missing transactions. At least two transactions required.",
        ));
    }
    let variants = txs
        .iter()
        .enumerate()
        .map(|(i, hex)| {
            hex.as_str()
                .and_then(|h| arg::hex_tx(h, true, true))
                .ok_or_else(|| {
                    RpcError::new(
                        code::DESERIALIZATION_ERROR,
                        format!(
                            "TX decode failed for tx {i}. Make sure the tx has at least one input."
                        ),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Copies of one transaction: the same txid once the scripts are gone.
    let stripped = |tx: &Transaction| {
        let mut tx = tx.clone();
        tx.input
            .iter_mut()
            .for_each(|i| i.script_sig = ScriptBuf::new());
        tx.compute_txid()
    };
    let first = stripped(&variants[0]);
    if let Some(k) = variants.iter().position(|v| stripped(v) != first) {
        return Err(invalid_parameter(format!(
            "Transaction number {} not compatible with first transaction",
            k + 1
        )));
    }
    let coins = find_coins(ctx, &variants[0])?
        .into_iter()
        .map(|(_, c)| {
            c.ok_or_else(|| RpcError::new(code::VERIFY_ERROR, "Input not found or already spent"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let merged = sign::combine(&variants, &coins, &kernel_verify);
    Ok(bitcoin::consensus::serialize(&merged)
        .to_lower_hex_string()
        .into())
}

/// Core's FindCoins: each input's spent output from the mempool, else the
/// UTXO set; None when neither has it.
fn find_coins(ctx: &NodeCtx, tx: &Transaction) -> Result<Vec<(OutPoint, Option<TxOut>)>, RpcError> {
    let pool = ctx.mempool.lock();
    let utxo = ctx.chain.utxo();
    tx.input
        .iter()
        .map(|i| {
            let o = i.previous_output;
            let coin = match pool.get(&o.txid) {
                Some(e) => e.tx.output.get(o.vout as usize).cloned(),
                None => utxo
                    .get(&o)
                    .map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))?
                    .map(|c| c.txout),
            };
            Ok((o, coin))
        })
        .collect()
}

/// An input's script check by the kernel with Core's standard flags.
fn kernel_verify(tx: &Transaction, spent: &[TxOut], i: usize) -> Option<String> {
    script_check::check_standard_input(tx, spent, i).unwrap_or_else(|e| Some(e.to_string()))
}

fn signrawtransactionwithkey(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let mut tx =
        arg::hex_tx(&arg::string(args, 0).unwrap_or_default(), true, true).ok_or_else(|| {
            RpcError::new(
                code::DESERIALIZATION_ERROR,
                "TX decode failed. Make sure the tx has at least one input.",
            )
        })?;
    let mut keys = Keystore::default();
    let network = NetworkKind::from(ctx.chain.network());
    for k in arg::opt(args, 1)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = k
            .as_str()
            .and_then(|s| PrivateKey::from_wif(s).ok())
            .filter(|key| key.network == network)
            .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Invalid private key"))?;
        keys.add_key(key);
    }
    let mut coins = find_coins(ctx, &tx)?;
    if let Some(prevtxs) = arg::opt(args, 2).and_then(Value::as_array) {
        for p in prevtxs {
            parse_prevout(p, &mut keys, &mut coins)?;
        }
    }
    let sighash = match arg::string(args, 3) {
        None => sign::SIGHASH_DEFAULT,
        Some(name) => sign::sighash_from_str(&name).ok_or_else(|| {
            invalid_parameter(format!("'{name}' is not a valid sighash parameter."))
        })?,
    };
    let input_coins: Vec<Option<TxOut>> = tx
        .input
        .iter()
        .map(|i| {
            coins
                .iter()
                .find(|(o, _)| *o == i.previous_output)
                .and_then(|(_, c)| c.clone())
        })
        .collect();
    let signed = sign::sign_transaction(&mut tx, &keys, &input_coins, sighash, &kernel_verify);
    let mut errors = Vec::new();
    for (i, error) in &signed.errors {
        let input = &tx.input[*i];
        if error == MISSING_AMOUNT {
            let coin = input_coins[*i]
                .as_ref()
                .expect("a missing amount has a coin");
            return Err(RpcError::new(
                code::TYPE_ERROR,
                format!("Missing amount for {}", txout_string(coin)),
            ));
        }
        errors.push(json!({
            "txid": input.previous_output.txid.to_string(),
            "vout": input.previous_output.vout,
            "witness": input.witness.iter().map(|w| w.to_lower_hex_string()).collect::<Vec<_>>(),
            "scriptSig": input.script_sig.as_bytes().to_lower_hex_string(),
            "sequence": input.sequence.0,
            "error": error,
        }));
    }
    let mut result = Map::new();
    result.insert(
        "hex".into(),
        bitcoin::consensus::serialize(&tx)
            .to_lower_hex_string()
            .into(),
    );
    result.insert("complete".into(), signed.complete.into());
    if !errors.is_empty() {
        result.insert("errors".into(), errors.into());
    }
    Ok(Value::Object(result))
}

/// Core's ParsePrevouts for one entry: the coin it describes replaces what
/// the node found (unless the node's has another script), and its redeem
/// or witness script joins the keystore once it is shown to fit.
fn parse_prevout(
    p: &Value,
    keys: &mut Keystore,
    coins: &mut Vec<(OutPoint, Option<TxOut>)>,
) -> Result<(), RpcError> {
    if !p.is_object() {
        return Err(RpcError::new(
            code::DESERIALIZATION_ERROR,
            "expected object with {\"txid'\",\"vout\",\"scriptPubKey\"}",
        ));
    }
    arg::check_fields(
        p,
        &[
            ("txid", Ty::Str),
            ("vout", Ty::Num),
            ("scriptPubKey", Ty::Str),
        ],
        false,
    )?;
    let txid: Txid = arg::hash_in(p, "txid")?;
    let vout = p["vout"]
        .as_i64()
        .filter(|n| i32::try_from(*n).is_ok())
        .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "JSON integer out of range"))?;
    if vout < 0 {
        return Err(RpcError::new(
            code::DESERIALIZATION_ERROR,
            "vout cannot be negative",
        ));
    }
    let outpoint = OutPoint::new(txid, vout as u32);
    let script_pubkey = ScriptBuf::from_bytes(hex_field(p, "scriptPubKey")?);
    let known = coins
        .iter()
        .find(|(o, _)| *o == outpoint)
        .and_then(|(_, c)| c.as_ref());
    if let Some(coin) = known.filter(|c| c.script_pubkey != script_pubkey) {
        return Err(RpcError::new(
            code::DESERIALIZATION_ERROR,
            format!(
                "Previous output scriptPubKey mismatch:\n{}\nvs:\n{}",
                crate::script::asm::asm(&coin.script_pubkey),
                crate::script::asm::asm(&script_pubkey)
            ),
        ));
    }
    let value = match p.get("amount") {
        Some(v) => Amount::from_sat(amount_from_value(v)? as u64),
        None => UNKNOWN_AMOUNT,
    };
    let coin = TxOut {
        value,
        script_pubkey: script_pubkey.clone(),
    };
    match coins.iter_mut().find(|(o, _)| *o == outpoint) {
        Some(entry) => entry.1 = Some(coin),
        None => coins.push((outpoint, Some(coin))),
    }
    let (is_p2sh, is_p2wsh) = (script_pubkey.is_p2sh(), script_pubkey.is_p2wsh());
    if !is_p2sh && !is_p2wsh {
        return Ok(());
    }
    arg::check_fields(
        p,
        &[("redeemScript", Ty::Str), ("witnessScript", Ty::Str)],
        true,
    )?;
    let present = |name: &str| p.get(name).is_some_and(|v| !v.is_null());
    let (has_rs, has_ws) = (present("redeemScript"), present("witnessScript"));
    if !has_rs && !has_ws {
        return Err(invalid_parameter("Missing redeemScript/witnessScript"));
    }
    // The witness script when given, else the redeem script.
    let script = ScriptBuf::from_bytes(if has_ws {
        hex_field(p, "witnessScript")?
    } else {
        hex_field(p, "redeemScript")?
    });
    keys.add_script(script.clone());
    // Its P2WSH form too, for a P2SH-P2WSH spend.
    let p2wsh = ScriptBuf::new_p2wsh(&script.wscript_hash());
    keys.add_script(p2wsh.clone());
    if has_ws && has_rs && p["witnessScript"] != p["redeemScript"] {
        let redeem = ScriptBuf::from_bytes(hex_field(p, "redeemScript")?);
        if redeem != p2wsh {
            return Err(invalid_parameter(
                "redeemScript does not correspond to witnessScript",
            ));
        }
    }
    let fits = if is_p2sh {
        script_pubkey == ScriptBuf::new_p2sh(&script.script_hash())
            || script_pubkey == ScriptBuf::new_p2sh(&p2wsh.script_hash())
    } else {
        script_pubkey == p2wsh
    };
    if !fits {
        return Err(invalid_parameter(
            "redeemScript/witnessScript does not match scriptPubKey",
        ));
    }
    Ok(())
}

/// Core's ParseHexO: a hex field, or "<name> must be hexadecimal string".
fn hex_field(o: &Value, name: &str) -> Result<Vec<u8>, RpcError> {
    super::rawtx::parse_hex(o[name].as_str().unwrap_or_default(), name)
}

/// Core's CTxOut::ToString.
fn txout_string(out: &TxOut) -> String {
    let sat = out.value.to_sat();
    let hex = out.script_pubkey.as_bytes().to_lower_hex_string();
    format!(
        "CTxOut(nValue={}.{:08}, scriptPubKey={})",
        sat / 100_000_000,
        sat % 100_000_000,
        &hex[..hex.len().min(30)]
    )
}
