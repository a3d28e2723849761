//! Raw-transaction and fee RPCs: createrawtransaction, decoderawtransaction,
//! decodescript, getrawtransaction (by block hash or through -txindex),
//! estimatesmartfee and estimaterawfee as Core answers them without data
//! (we keep no fee estimator yet).

use std::collections::HashSet;

use bitcoin::absolute::LockTime;
use bitcoin::hashes::{hash160, Hash};
use bitcoin::opcodes::all::{OP_CHECKSIGADD, OP_RETURN};
use bitcoin::script::{Instruction, PushBytesBuf};
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, BlockHash, OutPoint, Script, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    Txid, WPubkeyHash, Witness,
};
use serde_json::{json, Map, Value};

use super::{arg, encode, invalid_parameter, type_error, Handler::Sync, Method, NodeCtx, Ty};
use crate::rpc::amount::amount_from_value;
use crate::rpc::protocol::code;
use crate::rpc::RpcError;
use crate::script::infer;
use crate::script::solver::{self, compressed_key, Template};

pub fn methods() -> Vec<Method> {
    let m = |name, category, args, summary, f| Method {
        name,
        category,
        args,
        summary,
        handler: Sync(f),
        hidden: false,
    };
    vec![
        m("createrawtransaction", "Rawtransactions", &[("inputs", Ty::Arr, true), ("outputs", Ty::Any, true), ("locktime", Ty::Num, false), ("replaceable", Ty::Bool, false), ("version", Ty::Num, false)], "Create a transaction spending the given inputs and creating new outputs.", createrawtransaction),
        m("decoderawtransaction", "Rawtransactions", &[("hexstring", Ty::Hex, true), ("iswitness", Ty::Bool, false)], "Return a JSON object representing the serialized, hex-encoded transaction.", decoderawtransaction),
        m("decodescript", "Rawtransactions", &[("hexstring", Ty::Hex, true)], "Decode a hex-encoded script.", decodescript),
        m("getrawtransaction", "Rawtransactions", &[("txid", Ty::Hex, true), ("verbosity|verbose", Ty::BoolOrNum, false), ("blockhash", Ty::Hex, false)], "Return the raw transaction data, from the block given by blockhash or, with -txindex, from any block of the active chain.", getrawtransaction),
        m("estimatesmartfee", "Util", &[("conf_target", Ty::Num, true), ("estimate_mode", Ty::Str, false), ("options", Ty::Obj, false)], "Estimates the approximate fee per kilobyte needed for a transaction to begin confirmation within conf_target blocks.", estimatesmartfee),
        Method {
            hidden: true,
            ..m("estimaterawfee", "Util", &[("conf_target", Ty::Num, true), ("threshold", Ty::Num, false)], "WARNING: This interface is unstable and may disappear or change! Estimates the approximate fee per kilobyte needed for a transaction to begin confirmation within conf_target blocks if possible.", estimaterawfee)
        },
    ]
}

fn decoderawtransaction(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    // `iswitness` given: only that reading; not given: both.
    let iswitness = arg::opt(args, 1).and_then(Value::as_bool);
    let tx = arg::hex_tx(
        &arg::string(args, 0).unwrap_or_default(),
        iswitness != Some(true),
        iswitness != Some(false),
    )
    .ok_or_else(|| RpcError::new(code::DESERIALIZATION_ERROR, "TX decode failed"))?;
    Ok(encode::tx(&tx, ctx.chain.network(), false))
}

/// Core's getrawtransaction: from the given block, or (no block given) from
/// the mempool, then the -txindex.
fn getrawtransaction(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let txid: Txid = arg::hash(args, 0, "parameter 1")?;
    let genesis = bitcoin::blockdata::constants::genesis_block(ctx.chain.network());
    if txid.to_raw_hash() == genesis.header.merkle_root.to_raw_hash() {
        return Err(RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            "The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved",
        ));
    }
    let verbosity = arg::verbosity(args, 1, 0);
    let not_found = |why: &str| {
        RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            format!("{why}. Use gettransaction for wallet transactions."),
        )
    };
    let given = arg::opt(args, 2).is_some();
    if !given {
        let in_pool = ctx
            .mempool
            .lock()
            .get(&txid)
            .map(|e| (e.tx.clone(), e.vsize));
        if let Some((tx, vsize)) = in_pool {
            if verbosity <= 0 {
                return Ok(bitcoin::consensus::encode::serialize_hex(&*tx).into());
            }
            let mut v = encode::tx(&tx, ctx.chain.network(), true);
            // Current Core adds the sigop-adjusted size of a mempool entry.
            v["vsize_adjusted"] = vsize.into();
            return Ok(v);
        }
    }
    let hash: BlockHash = if given {
        arg::hash(args, 2, "parameter 3")?
    } else {
        let Some(txindex) = ctx.chain.txindex() else {
            return Err(not_found("No such mempool transaction. Use -txindex or provide a block hash to enable blockchain transaction queries"));
        };
        txindex
            .find(&txid)
            .map_err(|e| super::internal(e.to_string()))?
            .ok_or_else(|| not_found("No such mempool or blockchain transaction"))?
    };
    let info = ctx
        .chain
        .block_info(&hash)
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block hash not found"))?;
    let block = ctx
        .chain
        .read_block(&hash)
        .map_err(|_| RpcError::new(code::MISC_ERROR, "Block not available"))?;
    let Some(tx) = block.txdata.iter().find(|t| t.compute_txid() == txid) else {
        return Err(not_found(if given {
            "No such transaction found in the provided block"
        } else {
            "No such mempool or blockchain transaction"
        }));
    };
    if verbosity <= 0 {
        return Ok(bitcoin::consensus::encode::serialize_hex(tx).into());
    }
    let mut v = json!({});
    let o = v.as_object_mut().expect("object");
    // Only a caller who named the block learns whether it is active.
    if given {
        o.insert("in_active_chain".into(), info.in_active_chain.into());
    }
    if let Value::Object(t) = encode::tx(tx, ctx.chain.network(), true) {
        o.extend(t);
    }
    o.insert("blockhash".into(), hash.to_string().into());
    if info.in_active_chain {
        let tip = ctx.chain.tip();
        o.insert(
            "confirmations".into(),
            (tip.height - info.height + 1).into(),
        );
        o.insert("time".into(), info.header.time.into());
        o.insert("blocktime".into(), info.header.time.into());
    } else {
        o.insert("confirmations".into(), 0.into());
    }
    Ok(v)
}

/// Core's highest confirmation target (the block policy estimator's long
/// horizon: 42 periods of 24 blocks).
const MAX_CONF_TARGET: i64 = 1008;

/// Core's ParseConfirmTarget.
fn conf_target(args: &[Value]) -> Result<i64, RpcError> {
    let target = arg::int(args, 0, 0)?;
    if !(1..=MAX_CONF_TARGET).contains(&target) {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            format!("Invalid conf_target, must be between 1 and {MAX_CONF_TARGET}"),
        ));
    }
    Ok(target)
}

fn estimatesmartfee(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    conf_target(args)?;
    if let Some(mode) = arg::string(args, 1) {
        if !["unset", "economical", "conservative"].contains(&mode.to_lowercase().as_str()) {
            return Err(RpcError::new(code::INVALID_PARAMETER, "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\""));
        }
    }
    let options = arg::options(
        args,
        2,
        &[("fee_rate_estimator", Ty::Str), ("verbosity", Ty::Num)],
    )?;
    // Core: unknown estimator names mean "none" (the lower of both, or the
    // first one's error).
    let estimator = options["fee_rate_estimator"]
        .as_str()
        .unwrap_or("none")
        .to_lowercase();
    let (error, blocks) = if estimator == "mempool_policy" {
        let why = if ctx.mempool.loaded() {
            "Not enough recent block data for fee rate estimation"
        } else {
            "Mempool not loaded yet, no fee rate estimate available"
        };
        (format!("mempool_policy: {why}"), 2)
    } else {
        // The block policy estimator with no block span recorded: its
        // returned target is 0.
        ("Insufficient data or no feerate found".to_string(), 0)
    };
    let mut result = json!({"errors": [error], "blocks": blocks});
    if options["verbosity"].as_i64().unwrap_or(1) >= 2 {
        // No mined blocks tracked by the mempool estimator.
        result["mempool_health_statistics"] = json!([]);
    }
    Ok(result)
}

/// Core's estimaterawfee without data: for each horizon tracking the
/// target, its decay and scale and the one failing range (every feerate,
/// nothing counted).
fn estimaterawfee(_: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let target = conf_target(args)?;
    let threshold = arg::opt(args, 1).and_then(Value::as_f64).unwrap_or(0.95);
    if !(0.0..=1.0).contains(&threshold) {
        return Err(invalid_parameter("Invalid threshold"));
    }
    // Core's horizons: (name, highest target tracked, decay, scale).
    const HORIZONS: [(&str, i64, f64, i64); 3] = [
        ("short", 12, 0.962, 1),
        ("medium", 48, 0.9952, 2),
        ("long", MAX_CONF_TARGET, 0.99931, 24),
    ];
    let mut result = Map::new();
    for (name, highest, decay, scale) in HORIZONS {
        if target > highest {
            continue;
        }
        result.insert(
            name.into(),
            json!({
                "decay": decay,
                "scale": scale,
                "fail": {
                    "startrange": 0,
                    "endrange": 1e99,
                    "withintarget": 0,
                    "totalconfirmed": 0,
                    "inmempool": 0,
                    "leftmempool": 0,
                },
                "errors": ["Insufficient data or no feerate found which meets threshold"],
            }),
        );
    }
    Ok(Value::Object(result))
}

/// Core's ParseHexV, with its message naming the argument.
pub(super) fn parse_hex(text: &str, name: &str) -> Result<Vec<u8>, RpcError> {
    arg::hex_bytes(text).ok_or_else(|| {
        invalid_parameter(format!("{name} must be hexadecimal string (not '{text}')"))
    })
}

fn decodescript(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let text = arg::string(args, 0).unwrap_or_default();
    // An empty script is valid.
    let bytes = if text.is_empty() {
        Vec::new()
    } else {
        parse_hex(&text, "argument")?
    };
    let script = ScriptBuf::from_bytes(bytes);
    let network = ctx.chain.network();
    let mut o = encode::script_json(&script, infer::infer(&script, network), network, false);
    let template = solver::solve(&script);
    if can_wrap(&script, &template) {
        let p2sh = |s: &Script| Address::p2sh_from_hash(s.script_hash(), network).to_string();
        o.insert("p2sh".into(), p2sh(&script).into());
        if can_wrap_p2wsh(&template) {
            let segwit = match template {
                Template::PubKey(key) => {
                    ScriptBuf::new_p2wpkh(&WPubkeyHash::from_raw_hash(hash160::Hash::hash(key)))
                }
                Template::PubKeyHash => {
                    let hash = WPubkeyHash::from_slice(&script.as_bytes()[3..23])
                        .expect("a P2PKH script holds 20 bytes of hash");
                    ScriptBuf::new_p2wpkh(&hash)
                }
                _ => script.to_p2wsh(),
            };
            // Core infers a P2WSH output knowing its witness script.
            let desc = if segwit.is_p2wsh() {
                infer::infer_p2wsh(&script, network)
            } else {
                infer::infer(&segwit, network)
            };
            let mut sr = encode::script_json(&segwit, desc, network, true);
            sr.insert("p2sh-segwit".into(), p2sh(&segwit).into());
            o.insert("segwit".into(), Value::Object(sr));
        }
    }
    Ok(Value::Object(o))
}

/// Core's decodescript rule for returning `p2sh`: a template that may be
/// wrapped, with only valid opcodes, spendable, and nothing tapscript-only.
fn can_wrap(script: &Script, template: &Template<'_>) -> bool {
    let wrappable = matches!(
        template,
        Template::Multisig { .. }
            | Template::NonStandard
            | Template::PubKey(_)
            | Template::PubKeyHash
            | Template::WitnessV0KeyHash
            | Template::WitnessV0ScriptHash
    );
    let b = script.as_bytes();
    let unspendable = b.first() == Some(&OP_RETURN.to_u8()) || b.len() > 10_000;
    wrappable
        && !unspendable
        && script.instructions().all(|i| match i {
            Ok(Instruction::PushBytes(p)) => p.len() <= 520,
            // OP_NOP10 is the last opcode Core's HasValidOps allows.
            Ok(Instruction::Op(op)) => {
                let op = op.to_u8();
                op <= 0xb9 && op != OP_CHECKSIGADD.to_u8() && !op_success(op)
            }
            Err(_) => false,
        })
}

/// Core's IsOpSuccess (tapscript's OP_SUCCESSx).
fn op_success(op: u8) -> bool {
    matches!(op, 80 | 98 | 126..=129 | 131..=134 | 137..=138 | 141..=142 | 149..=153 | 187..=254)
}

/// Core's rule for the `segwit` member: no P2SH or witness programs, and no
/// uncompressed keys.
fn can_wrap_p2wsh(template: &Template<'_>) -> bool {
    match template {
        Template::PubKey(_) | Template::Multisig { .. } => {
            template.keys().iter().all(|k| compressed_key(k))
        }
        Template::NonStandard | Template::PubKeyHash => true,
        _ => false,
    }
}

/// Largest lock time (Core's LOCKTIME_MAX).
const LOCKTIME_MAX: i64 = 0xFFFF_FFFF;

fn createrawtransaction(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let lock_time = match arg::opt(args, 2) {
        None => 0,
        Some(v) => {
            let t = v
                .as_i64()
                .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "JSON integer out of range"))?;
            if !(0..=LOCKTIME_MAX).contains(&t) {
                return Err(invalid_parameter(
                    "Invalid parameter, locktime out of range",
                ));
            }
            t as u32
        }
    };
    let replaceable = arg::opt(args, 3).and_then(Value::as_bool);
    let version = arg::int(args, 4, 2)?;
    if !(1..=3).contains(&version) {
        return Err(invalid_parameter(
            "Invalid parameter, version out of range(1~3)",
        ));
    }
    let input = raw_inputs(arg::opt(args, 0), replaceable.unwrap_or(true), lock_time)?;
    let output = raw_outputs(arg::opt(args, 1), ctx.chain.network())?;
    let signals_rbf = input.iter().any(|i| i.sequence.is_rbf());
    if replaceable == Some(true) && !input.is_empty() && !signals_rbf {
        return Err(invalid_parameter(
            "Invalid parameter combination: Sequence number(s) contradict replaceable option",
        ));
    }
    let tx = Transaction {
        version: Version(version as i32),
        lock_time: LockTime::from_consensus(lock_time),
        input,
        output,
    };
    Ok(bitcoin::consensus::encode::serialize_hex(&tx).into())
}

/// Core's AddInputs: the default sequence signals replaceability, else
/// enables the lock time, else is final.
fn raw_inputs(
    inputs: Option<&Value>,
    replaceable: bool,
    lock_time: u32,
) -> Result<Vec<TxIn>, RpcError> {
    let default_sequence = if replaceable {
        Sequence::ENABLE_RBF_NO_LOCKTIME
    } else if lock_time != 0 {
        Sequence::ENABLE_LOCKTIME_NO_RBF
    } else {
        Sequence::MAX
    };
    let empty = Vec::new();
    let inputs = inputs.and_then(Value::as_array).unwrap_or(&empty);
    inputs
        .iter()
        .map(|input| {
            let o = input
                .as_object()
                .ok_or_else(|| type_error(input, "object"))?;
            let txid = o.get("txid").unwrap_or(&Value::Null);
            let txid: Txid = arg::hash_str(
                txid.as_str().ok_or_else(|| type_error(txid, "string"))?,
                "txid",
            )?;
            let vout = match o.get("vout") {
                Some(v @ Value::Number(_)) => v
                    .as_i64()
                    .filter(|n| i32::try_from(*n).is_ok())
                    .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "JSON integer out of range"))?,
                _ => return Err(invalid_parameter("Invalid parameter, missing vout key")),
            };
            if vout < 0 {
                return Err(invalid_parameter(
                    "Invalid parameter, vout cannot be negative",
                ));
            }
            let sequence = match o.get("sequence") {
                Some(v @ Value::Number(_)) => {
                    let n = v
                        .as_i64()
                        .filter(|n| (0..=0xFFFF_FFFF).contains(n))
                        .ok_or_else(|| {
                            invalid_parameter("Invalid parameter, sequence number is out of range")
                        })?;
                    Sequence(n as u32)
                }
                _ => default_sequence,
            };
            Ok(TxIn {
                previous_output: OutPoint {
                    txid,
                    vout: vout as u32,
                },
                script_sig: ScriptBuf::new(),
                sequence,
                witness: Witness::new(),
            })
        })
        .collect()
}

/// Core's NormalizeOutputs and ParseOutputs: `{address: amount, ...}` or
/// `[{address: amount}, {"data": hex}, ...]`, at most one data output and no
/// address twice.
fn raw_outputs(outputs: Option<&Value>, network: bitcoin::Network) -> Result<Vec<TxOut>, RpcError> {
    let pairs: Vec<(&String, &Value)> = match outputs {
        Some(Value::Object(m)) => m.iter().collect(),
        Some(Value::Array(list)) => {
            let mut pairs = Vec::new();
            for item in list {
                let m: &Map<String, Value> = item.as_object().ok_or_else(|| {
                    invalid_parameter("Invalid parameter, key-value pair not an object as expected")
                })?;
                if m.len() != 1 {
                    return Err(invalid_parameter(
                        "Invalid parameter, key-value pair must contain exactly one key",
                    ));
                }
                pairs.extend(m.iter());
            }
            pairs
        }
        Some(other) => return Err(type_error(other, "array")),
        None => {
            return Err(invalid_parameter(
                "Invalid parameter, output argument must be non-null",
            ))
        }
    };
    let mut seen = HashSet::new();
    let mut has_data = false;
    let mut out = Vec::new();
    for (name, value) in pairs {
        if name == "data" {
            if has_data {
                return Err(invalid_parameter("Invalid parameter, duplicate key: data"));
            }
            has_data = true;
            // Core reads the value's text: a string's, a number's, else nothing.
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            let data = PushBytesBuf::try_from(parse_hex(&text, "Data")?)
                .map_err(|_| invalid_parameter("Data is too large"))?;
            out.push(TxOut {
                value: Amount::ZERO,
                script_pubkey: ScriptBuf::new_op_return(data),
            });
            continue;
        }
        let sats = amount_from_value(value)?;
        let address = name
            .parse::<Address<_>>()
            .ok()
            .and_then(|a| a.require_network(network).ok())
            .ok_or_else(|| {
                RpcError::new(
                    code::INVALID_ADDRESS_OR_KEY,
                    format!("Invalid Bitcoin address: {name}"),
                )
            })?;
        let script_pubkey = address.script_pubkey();
        if !seen.insert(script_pubkey.clone()) {
            return Err(invalid_parameter(format!(
                "Invalid parameter, duplicated address: {name}"
            )));
        }
        out.push(TxOut {
            value: Amount::from_sat(sats as u64),
            script_pubkey,
        });
    }
    Ok(out)
}
