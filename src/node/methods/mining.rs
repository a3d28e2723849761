//! Mining RPCs: submitblock, submitheader, getmininginfo, getblocktemplate.
//! Block validation runs on a blocking thread so RPC and IPC stay responsive.

use std::rc::Rc;

use bitcoin::hex::FromHex;
use bitcoin::ScriptBuf;
use futures::FutureExt;
use serde_json::{json, Value};

use super::{arg, encode, internal, Handler, Method, NodeCtx, Ty};
use crate::chain::{assemble, deployments, SubmitOutcome};
use crate::rpc::json::double;
use crate::rpc::protocol::code;
use crate::rpc::RpcError;

pub fn methods() -> Vec<Method> {
    vec![
        Method {
            name: "submitblock",
            category: "Mining",
            args: &[("hexdata", Ty::Hex, true), ("dummy", Ty::Str, false)],
            summary: "Attempts to submit new block to network.",
            handler: Handler::Async(|ctx, args| submitblock(ctx, args).boxed_local()),
            hidden: false,
        },
        Method {
            name: "getblocktemplate",
            category: "Mining",
            args: &[("template_request", Ty::Obj, false)],
            summary: "If the request parameters include a 'mode' key, that is used to explicitly select between the default 'template' request or a 'proposal'.\nIt returns data needed to construct a block to work on.",
            handler: Handler::Async(|ctx, args| getblocktemplate(ctx, args).boxed_local()),
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
            name: "getnetworkhashps",
            category: "Mining",
            args: &[("nblocks", Ty::Num, false), ("height", Ty::Num, false)],
            summary: "Returns the estimated network hashes per second based on the last n blocks.\nPass in [blocks] to override # of blocks, -1 specifies since last difficulty change.\nPass in [height] to estimate the network speed at the time when a certain block was found.",
            handler: Handler::Sync(getnetworkhashps),
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

async fn submitblock(ctx: Rc<NodeCtx>, args: Vec<Value>) -> Result<Value, RpcError> {
    let hex = arg::string(&args, 0).unwrap_or_default();
    let decode_failed = || RpcError::new(code::DESERIALIZATION_ERROR, "Block decode failed");
    let bytes = Vec::<u8>::from_hex(&hex).map_err(|_| decode_failed())?;
    // As Core: bytes after the block are ignored, and a block without a
    // coinbase is the engine's to reject (after its proof-of-work check).
    let decoded: Option<(bitcoin::Block, usize)> =
        bitcoin::consensus::deserialize_partial(&bytes).ok();
    let chain = ctx.chain.clone();
    let outcome = tokio::task::spawn_blocking(move || match decoded {
        Some((mut block, _)) => {
            assemble::fill_witness_nonce(&chain, &mut block);
            chain.submit_block(&block).map(Some)
        }
        // What rust-bitcoin refuses the engine may still read.
        None => chain.submit_raw_block(&bytes),
    })
    .await
    .map_err(internal)?
    .map_err(internal)?
    .ok_or_else(decode_failed)?;
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
    // Core reads the header off the front and ignores what follows (a whole
    // block's hex is accepted).
    let header: bitcoin::block::Header = Vec::<u8>::from_hex(&hex)
        .ok()
        .and_then(|b| bitcoin::consensus::deserialize_partial(&b).ok())
        .map(|(h, _)| h)
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
    let (bits, time) = info
        .as_ref()
        .map(|i| (i.header.bits, i.header.time))
        .unwrap_or((bitcoin::CompactTarget::from_consensus(0x207fffff), 0));
    // Core's NextEmptyBlockIndex: the block after the tip, its difficulty
    // as the next block's rules set it.
    let next_height = (tip.height + 1) as u32;
    let next_bits = crate::chain::assemble::next_bits(&ctx.chain, next_height, bits, time);
    let difficulty = |bits: bitcoin::CompactTarget| {
        json!({
            "bits": format!("{:08x}", bits.to_consensus()),
            "difficulty": double(crate::chain::headers::difficulty(bits.to_consensus())),
            "target": super::encode::target_hex(bits.to_consensus()),
        })
    };
    let mut out = serde_json::Map::new();
    out.insert("blocks".into(), json!(tip.height));
    if let Some(last) = ctx.mempool.last_block() {
        out.insert("currentblockweight".into(), json!(last.weight));
        out.insert("currentblocktx".into(), json!(last.txs));
    }
    if let Value::Object(now) = difficulty(bits) {
        out.extend(now);
    }
    out.insert(
        "networkhashps".into(),
        double(network_hashps(ctx, 120, -1)?),
    );
    out.insert("pooledtx".into(), json!(ctx.mempool.lock().len()));
    out.insert(
        "blockmintxfee".into(),
        crate::rpc::json::amount(ctx.mempool.options().block_min_feerate.0),
    );
    out.insert(
        "chain".into(),
        json!(super::blockchain::chain_name(ctx.chain.network())),
    );
    let mut next = difficulty(next_bits);
    next["height"] = json!(next_height);
    out.insert("next".into(), next);
    out.insert("warnings".into(), json!([]));
    Ok(Value::Object(out))
}

fn getnetworkhashps(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let lookup = arg::int(args, 0, 120)?;
    let height = arg::int(args, 1, -1)?;
    Ok(double(network_hashps(ctx, lookup, height)?))
}

/// Core's GetNetworkHashPS: the work of the `lookup` blocks ending at
/// `height` (-1: the tip; lookup -1: since the last difficulty change)
/// over the spread of their times.
fn network_hashps(ctx: &NodeCtx, lookup: i64, height: i64) -> Result<f64, RpcError> {
    if lookup < -1 || lookup == 0 {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Invalid nblocks. Must be a positive number or -1.",
        ));
    }
    let tip = ctx.chain.tip().height;
    if height < -1 || height > i64::from(tip) {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Block does not exist at specified height",
        ));
    }
    let at = if height >= 0 { height as i32 } else { tip };
    let Some(end) = ctx.chain.block_at(at).filter(|b| b.height > 0) else {
        return Ok(0.0);
    };
    let interval = i64::from(ctx.chain.params().difficulty_adjustment_interval() as u32);
    let mut lookup = if lookup == -1 {
        i64::from(end.height) % interval + 1
    } else {
        lookup
    };
    lookup = lookup.min(i64::from(end.height));
    // The window's first block is read once: its time counts, and its work
    // is the start.
    let start = ctx
        .chain
        .block_at((i64::from(end.height) - lookup) as i32)
        .ok_or_else(|| internal("block missing"))?;
    let (mut min_time, mut max_time) = (
        end.header.time.min(start.header.time),
        end.header.time.max(start.header.time),
    );
    for h in (start.height + 1)..end.height {
        let t = ctx
            .chain
            .block_at(h)
            .ok_or_else(|| internal("block missing"))?
            .header
            .time;
        min_time = min_time.min(t);
        max_time = max_time.max(t);
    }
    if min_time == max_time {
        return Ok(0.0);
    }
    let (Some(end_work), Some(start_work)) = (
        ctx.chain.chain_work(&end.hash),
        ctx.chain.chain_work(&start.hash),
    ) else {
        return Ok(0.0);
    };
    Ok(work_f64(&(end_work - start_work)) / f64::from(max_time - min_time))
}

/// A 256-bit work as a double (Core's arith_uint256::getdouble).
fn work_f64(w: &bitcoin::Work) -> f64 {
    w.to_be_bytes()
        .iter()
        .fold(0.0, |acc, b| acc * 256.0 + f64::from(*b))
}

/// Core's getblocktemplate (BIP22/23/9/145): a template on the tip (waiting
/// first for the tip to leave `longpollid`'s block), or a proposal checked
/// as Core's proposal mode answers it.
async fn getblocktemplate(ctx: Rc<NodeCtx>, args: Vec<Value>) -> Result<Value, RpcError> {
    let request = arg::opt(&args, 0).cloned().unwrap_or(json!({}));
    let mode = match request.get("mode") {
        None | Some(Value::Null) => "template",
        Some(Value::String(m)) => m.as_str(),
        Some(_) => return Err(RpcError::new(code::INVALID_PARAMETER, "Invalid mode")),
    };
    if mode == "proposal" {
        return proposal(&ctx, &request);
    }
    if mode != "template" {
        return Err(RpcError::new(code::INVALID_PARAMETER, "Invalid mode"));
    }
    let rules: Vec<&str> = request
        .get("rules")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let network = ctx.chain.network();
    if network == bitcoin::Network::Signet && !rules.contains(&"signet") {
        return Err(RpcError::new(code::INVALID_PARAMETER, "getblocktemplate must be called with the signet rule set (call with {\"rules\": [\"segwit\", \"signet\"]})"));
    }
    if !rules.contains(&"segwit") {
        return Err(RpcError::new(code::INVALID_PARAMETER, "getblocktemplate must be called with the segwit rule set (call with {\"rules\": [\"segwit\"]})"));
    }
    // Only test chains serve templates without peers (no P2P yet).
    if network == bitcoin::Network::Bitcoin {
        return Err(RpcError::new(
            code::CLIENT_NOT_CONNECTED,
            "Bitcoin Core is not connected!",
        ));
    }
    if let Some(lp) = request.get("longpollid") {
        let watched = match lp {
            Value::String(s) if s.len() >= 64 => {
                Some(s[..64].parse::<bitcoin::BlockHash>().map_err(|_| {
                    RpcError::new(
                        code::INVALID_PARAMETER,
                        "longpollid must be hexadecimal string",
                    )
                })?)
            }
            // Core: anything else means "the current tip".
            _ => Some(ctx.chain.tip().hash),
        };
        let mut watch = ctx.chain.watch_tip();
        while Some(watch.borrow_and_update().hash) == watched {
            if watch.changed().await.is_err() {
                return Err(RpcError::new(code::CLIENT_NOT_CONNECTED, "Shutting down"));
            }
        }
    }

    let chain = ctx.chain.clone();
    let script = ScriptBuf::from_bytes(vec![bitcoin::opcodes::OP_TRUE.to_u8()]);
    let template = ctx.mempool.new_block(&chain, script);
    let mut block = template.block;
    let prev = block.header.prev_blockhash;
    let prev_info = chain
        .block_info(&prev)
        .ok_or_else(|| internal("tip not in the block index"))?;
    let height = prev_info.height + 1;

    // Deployments for the next block, as Core's GBTStatus.
    let mut rules_out = vec![json!("csv"), json!("!segwit"), json!("taproot")];
    let mut vbavailable = serde_json::Map::new();
    let (versions, times) = chain.ancestry(&prev).unwrap_or_default();
    let mut version = block.header.version.to_consensus();
    for d in deployments::bip9(network) {
        let state = deployments::bip9_info(&d, &versions, &times).next;
        // testdummy is Core's only BIP9 deployment and an optional GBT rule.
        match state {
            deployments::State::Started => {
                vbavailable.insert(d.name.into(), d.bit.into());
            }
            deployments::State::LockedIn => {
                version |= 1 << d.bit;
                vbavailable.insert(d.name.into(), d.bit.into());
            }
            deployments::State::Active => rules_out.push(json!(d.name)),
            _ => {}
        }
    }
    block.header.version = bitcoin::block::Version::from_consensus(version);
    let coinbase = &block.txdata[0];
    let commitment = coinbase
        .output
        .iter()
        .find(|o| o.value == bitcoin::Amount::ZERO)
        .map(|o| encode::hex(o.script_pubkey.as_bytes()));
    let bits = block.header.bits.to_consensus();
    let mut result = json!({
        "capabilities": ["proposal"],
        "version": version,
        "rules": rules_out,
        "vbavailable": vbavailable,
        "vbrequired": 0,
        "previousblockhash": prev.to_string(),
        "transactions": template_transactions(&block, &template.fees, &template.sigops),
        "coinbaseaux": {},
        "coinbasevalue": coinbase.output[0].value.to_sat(),
        "longpollid": format!("{prev}0"),
        "target": encode::target_hex(bits),
        "mintime": assemble::minimum_time(&chain, &prev, height as u32, prev_info.header.time),
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": "00000000ffffffff",
        "sigoplimit": 80_000,
        "sizelimit": 4_000_000,
        "weightlimit": 4_000_000,
        "curtime": block.header.time,
        "bits": format!("{bits:08x}"),
        "height": height,
    });
    if let Some(c) = commitment {
        result["default_witness_commitment"] = c.into();
    }
    Ok(result)
}

/// getblocktemplate's `transactions`: each one after the coinbase with its
/// data, ids, fee, sigops, weight, and the 1-based template positions of the
/// transactions it spends from.
fn template_transactions(block: &bitcoin::Block, fees: &[i64], sigops: &[i64]) -> Value {
    let txs = &block.txdata[1..];
    let index: std::collections::HashMap<bitcoin::Txid, usize> = txs
        .iter()
        .enumerate()
        .map(|(i, t)| (t.compute_txid(), i + 1))
        .collect();
    txs.iter()
        .enumerate()
        .map(|(i, tx)| {
            let mut depends: Vec<usize> = tx
                .input
                .iter()
                .filter_map(|input| index.get(&input.previous_output.txid).copied())
                .collect();
            depends.sort_unstable();
            depends.dedup();
            json!({
                "data": bitcoin::consensus::encode::serialize_hex(tx),
                "txid": tx.compute_txid().to_string(),
                "hash": tx.compute_wtxid().to_string(),
                "depends": depends,
                "fee": fees.get(i).copied().unwrap_or(0),
                "sigops": sigops.get(i).copied().unwrap_or(0),
                "weight": tx.weight().to_wu(),
            })
        })
        .collect()
}

/// getblocktemplate's proposal mode: BIP22 answers for a block a miner built.
fn proposal(ctx: &NodeCtx, request: &Value) -> Result<Value, RpcError> {
    let Some(data) = request.get("data").and_then(Value::as_str) else {
        return Err(RpcError::new(
            code::TYPE_ERROR,
            "Missing data String key for proposal",
        ));
    };
    let block: bitcoin::Block = Vec::<u8>::from_hex(data)
        .ok()
        .and_then(|b| bitcoin::consensus::deserialize(&b).ok())
        .ok_or_else(|| RpcError::new(code::DESERIALIZATION_ERROR, "Block decode failed"))?;
    if let Some(known) = ctx.chain.block_info(&block.block_hash()) {
        return Ok(if known.in_active_chain {
            "duplicate"
        } else {
            "duplicate-inconclusive"
        }
        .into());
    }
    Ok(match ctx.chain.precheck_block(&block, true, false) {
        None => Value::Null,
        Some(reason) => reason.into(),
    })
}
