//! scantxoutset: Core's scan of the UTXO set for the outputs of given
//! descriptors, over our UTXO index (what Core's MiniWallet uses to find its
//! coins). Scans run to completion inside the call, so `status` always
//! answers that none is running and `abort` that there was nothing to abort.

use std::collections::HashSet;

use bitcoin::ScriptBuf;
use serde_json::{json, Value};

use super::descriptors::descriptor_range;
use super::{arg, internal, invalid_parameter, Handler, Method, NodeCtx, Ty};
use crate::rpc::json::amount;
use crate::rpc::RpcError;
use crate::script::{descriptor, infer};

/// Core's default range for ranged descriptors in scans: 0 to 1000.
const DEFAULT_RANGE: (u32, u32) = (0, 1000);

pub fn methods() -> Vec<Method> {
    vec![Method {
        name: "scantxoutset",
        category: "Blockchain",
        args: &[("action", Ty::Str, true), ("scanobjects", Ty::Arr, false)],
        summary: "Scans the unspent transaction output set for entries that match certain output descriptors.",
        handler: Handler::Sync(scantxoutset),
        hidden: false,
    }]
}

/// The scripts of every scan object, each with the descriptor it came from.
fn scripts(ctx: &NodeCtx, objects: &[Value]) -> Result<HashSet<ScriptBuf>, RpcError> {
    let mut out = HashSet::new();
    for o in objects {
        let (text, range) = match o {
            Value::String(s) => (s.clone(), None),
            Value::Object(m) => {
                let desc = m.get("desc").and_then(Value::as_str).ok_or_else(|| {
                    invalid_parameter("Scan object needs to be either a string or an object")
                })?;
                (
                    desc.to_string(),
                    m.get("range").map(descriptor_range).transpose()?,
                )
            }
            _ => {
                return Err(invalid_parameter(
                    "Scan object needs to be either a string or an object",
                ))
            }
        };
        let parsed = descriptor::parse(&text, false, ctx.chain.network()).map_err(|e| {
            RpcError::new(
                crate::rpc::protocol::code::INVALID_ADDRESS_OR_KEY,
                e.to_string(),
            )
        })?;
        for d in &parsed.descriptors {
            let (low, high) = if d.is_range() {
                range.unwrap_or(DEFAULT_RANGE)
            } else {
                (0, 0)
            };
            for i in low..=high {
                for s in d
                    .scripts_at(i)
                    .map_err(|e| invalid_parameter(e.to_string()))?
                {
                    out.insert(s);
                }
            }
        }
    }
    Ok(out)
}

fn scantxoutset(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let action = arg::string(args, 0).unwrap_or_default();
    match action.as_str() {
        "status" => return Ok(Value::Null),
        "abort" => return Ok(Value::Bool(false)),
        "start" => {}
        other => return Err(invalid_parameter(format!("Invalid action '{other}'"))),
    }
    let Some(objects) = arg::opt(args, 1).and_then(Value::as_array) else {
        return Err(invalid_parameter(
            "scanobjects argument is required for the start action",
        ));
    };
    let wanted = scripts(ctx, objects)?;
    // The index must not move under the scan.
    let _still = ctx.chain.lock_validation();
    let tip = ctx.chain.tip();
    let network = ctx.chain.network();
    let mut found = Vec::new();
    let mut total: u64 = 0;
    let mut scanned: u64 = 0;
    ctx.chain
        .utxo()
        .for_each(|op, coin| {
            scanned += 1;
            if wanted.contains(&coin.txout.script_pubkey) {
                total += coin.txout.value.to_sat();
                found.push((op, coin));
            }
        })
        .map_err(internal)?;
    let unspents: Vec<Value> = found
        .iter()
        .map(|(op, coin)| {
            let blockhash = ctx
                .chain
                .block_at(coin.height as i32)
                .map(|b| b.hash.to_string())
                .unwrap_or_default();
            json!({
                "txid": op.txid.to_string(),
                "vout": op.vout,
                "scriptPubKey": bitcoin::hex::DisplayHex::to_lower_hex_string(coin.txout.script_pubkey.as_bytes()),
                "desc": infer::infer(&coin.txout.script_pubkey, network),
                "amount": amount(coin.txout.value.to_sat() as i64),
                "coinbase": coin.coinbase,
                "height": coin.height,
                "blockhash": blockhash,
                "confirmations": tip.height as i64 - coin.height as i64 + 1,
            })
        })
        .collect();
    Ok(json!({
        "success": true,
        "txouts": scanned,
        "height": tip.height,
        "bestblock": tip.hash.to_string(),
        "unspents": unspents,
        "total_amount": amount(total as i64),
    }))
}
