//! Raw-transaction and fee RPCs: decoderawtransaction, getrawtransaction
//! (by block hash; -txindex is not built yet), estimatesmartfee without data.

use bitcoin::hex::FromHex;
use bitcoin::{BlockHash, Transaction, Txid};
use serde_json::{json, Value};

use super::{arg, encode, Handler::Sync, Method, NodeCtx, Ty};
use crate::rpc::protocol::code;
use crate::rpc::RpcError;

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
        m("decoderawtransaction", "Rawtransactions", &[("hexstring", Ty::Hex, true), ("iswitness", Ty::Bool, false)], "Return a JSON object representing the serialized, hex-encoded transaction.", decoderawtransaction),
        m("getrawtransaction", "Rawtransactions", &[("txid", Ty::Hex, true), ("verbosity|verbose", Ty::BoolOrNum, false), ("blockhash", Ty::Hex, false)], "Return the raw transaction data, from the block given by blockhash.", getrawtransaction),
        m("estimatesmartfee", "Util", &[("conf_target", Ty::Num, true), ("estimate_mode", Ty::Str, false)], "Estimates the approximate fee per kilobyte needed for a transaction to begin confirmation within conf_target blocks.", estimatesmartfee),
    ]
}

fn decoderawtransaction(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let failed = || RpcError::new(code::DESERIALIZATION_ERROR, "TX decode failed");
    let bytes =
        Vec::<u8>::from_hex(&arg::string(args, 0).unwrap_or_default()).map_err(|_| failed())?;
    let tx: Transaction = bitcoin::consensus::deserialize(&bytes).map_err(|_| failed())?;
    Ok(encode::tx(&tx, ctx.chain.network(), false))
}

fn getrawtransaction(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let txid: Txid = arg::hash(args, 0, "parameter 1")?;
    let verbosity = arg::verbosity(args, 1, 0);
    let Some(_) = arg::opt(args, 2) else {
        return Err(RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            "No such mempool or blockchain transaction. Use -txindex or provide a block hash to enable blockchain transaction queries. Use gettransaction for wallet transactions.",
        ));
    };
    let hash: BlockHash = arg::hash(args, 2, "parameter 3")?;
    let info = ctx
        .chain
        .block_info(&hash)
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block hash not found"))?;
    let block = ctx
        .chain
        .read_block(&hash)
        .map_err(|_| RpcError::new(code::MISC_ERROR, "Block not available"))?;
    let Some(tx) = block.txdata.iter().find(|t| t.compute_txid() == txid) else {
        return Err(RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            "No such transaction found in the provided block. Use gettransaction for wallet transactions.",
        ));
    };
    if verbosity <= 0 {
        return Ok(bitcoin::consensus::encode::serialize_hex(tx).into());
    }
    let mut v = json!({"in_active_chain": info.in_active_chain});
    let o = v.as_object_mut().expect("object");
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

fn estimatesmartfee(_: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let target = arg::int(args, 0, 0)?;
    if !(1..=1008).contains(&target) {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Invalid conf_target, must be between 1 and 1008",
        ));
    }
    if let Some(mode) = arg::string(args, 1) {
        if !["unset", "economical", "conservative"].contains(&mode.to_lowercase().as_str()) {
            return Err(RpcError::new(code::INVALID_PARAMETER, "Invalid estimate_mode parameter, must be one of: \"unset\", \"economical\", \"conservative\""));
        }
    }
    // No fee estimator yet: Core's answer when it has no data.
    Ok(json!({"errors": ["Insufficient data or no feerate found"], "blocks": 0}))
}
