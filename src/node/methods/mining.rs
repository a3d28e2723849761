//! Mining and generating RPCs: generatetoaddress, submitblock,
//! getmininginfo. Block building and proof-of-work search run on a blocking
//! thread so RPC and IPC stay responsive.

use std::rc::Rc;

use bitcoin::hex::FromHex;
use futures::FutureExt;
use serde_json::{json, Value};

use super::{arg, Handler, Method, NodeCtx, Ty};
use crate::chain::{assemble, SubmitOutcome};
use crate::rpc::json::double;
use crate::rpc::protocol::code;
use crate::rpc::RpcError;

pub fn methods() -> Vec<Method> {
    vec![
        Method {
            name: "generatetoaddress",
            category: "Generating",
            args: &[
                ("nblocks", Ty::Num, true),
                ("address", Ty::Str, true),
                ("maxtries", Ty::Num, false),
            ],
            summary: "Mine to a specified address and return the block hashes.",
            handler: Handler::Async(|ctx, args| generatetoaddress(ctx, args).boxed_local()),
            hidden: false,
        },
        Method {
            name: "submitblock",
            category: "Mining",
            args: &[("hexdata", Ty::Hex, true), ("dummy", Ty::Str, false)],
            summary: "Attempts to submit new block to network.",
            handler: Handler::Async(|ctx, args| submitblock(ctx, args).boxed_local()),
            hidden: false,
        },
        Method {
            name: "submitheader",
            category: "Mining",
            args: &[("hexdata", Ty::Hex, true)],
            summary: "Decode the given hexdata as a header and submit it as a candidate chain tip if valid.\nThrows when the header is invalid.",
            handler: Handler::Sync(submitheader),
            hidden: false,
        },
        Method {
            name: "getmininginfo",
            category: "Mining",
            args: &[],
            summary: "Returns a json object containing mining-related information.",
            handler: Handler::Sync(getmininginfo),
            hidden: false,
        },
    ]
}

fn internal(e: impl std::fmt::Display) -> RpcError {
    RpcError::new(code::INTERNAL_ERROR, e.to_string())
}

async fn generatetoaddress(ctx: Rc<NodeCtx>, args: Vec<Value>) -> Result<Value, RpcError> {
    let n = arg::int(&args, 0, 0)?;
    let address = arg::string(&args, 1).unwrap_or_default();
    let max_tries = arg::int(&args, 2, 1_000_000)?;
    let invalid = || RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Error: Invalid address");
    let script = address
        .parse::<bitcoin::Address<bitcoin::address::NetworkUnchecked>>()
        .map_err(|_| invalid())?
        .require_network(ctx.chain.network())
        .map_err(|_| invalid())?
        .script_pubkey();
    let chain = ctx.chain.clone();
    tokio::task::spawn_blocking(move || {
        let mut hashes = Vec::new();
        let mut tries_left = max_tries.max(0) as u64;
        for _ in 0..n.max(0) {
            let mut block =
                assemble::new_block(&chain, script.clone(), vec![], bitcoin::Amount::ZERO);
            let before = block.header.nonce;
            let found = assemble::grind(&mut block.header, tries_left);
            tries_left =
                tries_left.saturating_sub(u64::from(block.header.nonce.wrapping_sub(before)) + 1);
            if !found {
                break;
            }
            match chain.submit_block(&block).map_err(internal)? {
                SubmitOutcome::Accepted => hashes.push(Value::from(block.block_hash().to_string())),
                other => {
                    return Err(RpcError::new(
                        code::INTERNAL_ERROR,
                        format!("ProcessNewBlock, block not accepted: {other:?}"),
                    ))
                }
            }
        }
        Ok(Value::Array(hashes))
    })
    .await
    .map_err(internal)?
}

async fn submitblock(ctx: Rc<NodeCtx>, args: Vec<Value>) -> Result<Value, RpcError> {
    let hex = arg::string(&args, 0).unwrap_or_default();
    let decode_failed = || RpcError::new(code::DESERIALIZATION_ERROR, "Block decode failed");
    let bytes = Vec::<u8>::from_hex(&hex).map_err(|_| decode_failed())?;
    let block: bitcoin::Block =
        bitcoin::consensus::deserialize(&bytes).map_err(|_| decode_failed())?;
    if block.txdata.first().is_none_or(|t| !t.is_coinbase()) {
        return Err(RpcError::new(
            code::DESERIALIZATION_ERROR,
            "Block does not start with a coinbase",
        ));
    }
    let chain = ctx.chain.clone();
    let outcome = tokio::task::spawn_blocking(move || chain.submit_block(&block))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    Ok(match outcome {
        SubmitOutcome::Accepted => Value::Null,
        SubmitOutcome::Duplicate => "duplicate".into(),
        SubmitOutcome::DuplicateInvalid => "duplicate-invalid".into(),
        SubmitOutcome::Inconclusive => "inconclusive".into(),
        SubmitOutcome::Rejected(reason) => reason.into(),
    })
}

fn submitheader(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let hex = arg::string(args, 0).unwrap_or_default();
    let header: bitcoin::block::Header = Vec::<u8>::from_hex(&hex)
        .ok()
        .and_then(|b| bitcoin::consensus::deserialize(&b).ok())
        .ok_or_else(|| RpcError::new(code::DESERIALIZATION_ERROR, "Block header decode failed"))?;
    if ctx.chain.block_info(&header.prev_blockhash).is_none() {
        return Err(RpcError::new(
            code::VERIFY_ERROR,
            format!(
                "Must submit previous header ({}) first",
                header.prev_blockhash
            ),
        ));
    }
    match ctx.chain.submit_header(&header).map_err(internal)? {
        None => Ok(Value::Null),
        Some(reason) => Err(RpcError::new(code::VERIFY_ERROR, reason)),
    }
}

fn getmininginfo(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    let tip = ctx.chain.tip();
    let info = ctx.chain.block_info(&tip.hash);
    let bits = info
        .as_ref()
        .map(|i| i.header.bits.to_consensus())
        .unwrap_or(0x207fffff);
    Ok(json!({
        "blocks": tip.height,
        "bits": format!("{bits:08x}"),
        "difficulty": double(crate::chain::headers::difficulty(bits)),
        "target": super::encode::target_hex(bits),
        "networkhashps": double(0.0),
        "pooledtx": 0,
        "blockmintxfee": crate::rpc::json::amount(1),
        "chain": super::blockchain::chain_name(ctx.chain.network()),
        "warnings": [],
    }))
}
