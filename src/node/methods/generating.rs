//! Generating RPCs (regtest mining by the node itself): generatetoaddress,
//! generatetodescriptor and generateblock. Block building and the nonce
//! search run on a blocking thread so RPC and IPC stay responsive.

use std::rc::Rc;

use bitcoin::hex::FromHex;
use bitcoin::{Amount, Block, ScriptBuf, Transaction};
use futures::FutureExt;
use serde_json::{json, Value};

use super::{arg, internal, Handler, Method, NodeCtx, Ty};
use crate::chain::{assemble, Chain, SubmitOutcome};
use crate::rpc::protocol::code;
use crate::rpc::RpcError;
use crate::script::descriptor;

/// Core's DEFAULT_MAX_TRIES.
const DEFAULT_MAX_TRIES: i64 = 1_000_000;

/// Core's answer to the removed `generate` RPC.
const GENERATE_REPLACED: &str =
    "has been replaced by the -generate cli option. Refer to -help for more information.";

/// Core keeps `generate` as a hidden method that only points at bitcoin-cli.
fn generate_removed(_: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    Err(RpcError::new(
        code::METHOD_NOT_FOUND,
        format!("generate\n\n{GENERATE_REPLACED}\n"),
    ))
}

pub fn methods() -> Vec<Method> {
    let m = |name, args, summary, handler| Method {
        name,
        category: "Generating",
        args,
        summary,
        handler: Handler::Async(handler),
        hidden: false,
    };
    vec![
        Method {
            name: "generate",
            category: "Generating",
            args: &[],
            summary: GENERATE_REPLACED,
            handler: Handler::Sync(generate_removed),
            hidden: true,
        },
        m(
            "generateblock",
            &[
                ("output", Ty::Str, true),
                ("transactions", Ty::Arr, true),
                ("submit", Ty::Bool, false),
            ],
            "Mine a set of ordered transactions to a specified address or descriptor and return the block hash.",
            |ctx, args| generateblock(ctx, args).boxed_local(),
        ),
        m(
            "generatetoaddress",
            &[
                ("nblocks", Ty::Num, true),
                ("address", Ty::Str, true),
                ("maxtries", Ty::Num, false),
            ],
            "Mine to a specified address and return the block hashes.",
            |ctx, args| generatetoaddress(ctx, args).boxed_local(),
        ),
        m(
            "generatetodescriptor",
            &[
                ("num_blocks", Ty::Num, true),
                ("descriptor", Ty::Str, true),
                ("maxtries", Ty::Num, false),
            ],
            "Mine to a specified descriptor and return the block hashes.",
            |ctx, args| generatetodescriptor(ctx, args).boxed_local(),
        ),
    ]
}

fn address_script(chain: &Chain, text: &str) -> Option<ScriptBuf> {
    text.parse::<bitcoin::Address<bitcoin::address::NetworkUnchecked>>()
        .ok()?
        .require_network(chain.network())
        .ok()
        .map(|a| a.script_pubkey())
}

/// Core's getScriptFromDescriptor: Ok(Err(why)) when `text` does not parse
/// as a descriptor (callers may try it as an address); Err for descriptors
/// that parse but give no single output script.
fn descriptor_script(chain: &Chain, text: &str) -> Result<Result<ScriptBuf, String>, RpcError> {
    let parsed = match descriptor::parse(text, false, chain.network()) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e.to_string())),
    };
    if parsed.descriptors.len() > 1 {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Multipath descriptor not accepted",
        ));
    }
    let Some(desc) = parsed.descriptors.first() else {
        return Ok(Err("empty descriptor".into()));
    };
    if desc.is_range() {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Ranged descriptor not accepted. Maybe pass through deriveaddresses first?",
        ));
    }
    let scripts = desc
        .scripts_at(0)
        .map_err(|e| RpcError::new(code::INVALID_ADDRESS_OR_KEY, e.to_string()))?;
    // combo() gives 2 or 4 scripts: P2PKH, or P2WPKH when the key is compressed.
    let script = match scripts.len() {
        1 => scripts.into_iter().next(),
        4 => scripts.into_iter().nth(2),
        _ => scripts.into_iter().nth(1),
    };
    Ok(script.ok_or_else(|| "no output script".to_string()))
}

/// Builds, grinds and submits `n` blocks paying `script` (Core's generateBlocks).
async fn generate(
    ctx: &NodeCtx,
    script: ScriptBuf,
    n: i64,
    max_tries: i64,
) -> Result<Value, RpcError> {
    let chain = ctx.chain.clone();
    let mempool = ctx.mempool.clone();
    tokio::task::spawn_blocking(move || {
        let mut hashes = Vec::new();
        let mut tries_left = max_tries.max(0) as u64;
        for _ in 0..n.max(0) {
            let block = mempool.new_block(&chain, script.clone()).block;
            let Some(block) = mine(&chain, block, &mut tries_left, true)? else {
                break;
            };
            hashes.push(Value::from(block.block_hash().to_string()));
        }
        Ok(Value::Array(hashes))
    })
    .await
    .map_err(internal)?
}

/// Searches the nonce (spending `tries_left`) and, if `submit`, hands the
/// block to the kernel; None when the tries ran out.
fn mine(
    chain: &Chain,
    mut block: Block,
    tries_left: &mut u64,
    submit: bool,
) -> Result<Option<Block>, RpcError> {
    let before = block.header.nonce;
    let found = assemble::grind(&mut block.header, *tries_left);
    *tries_left = tries_left.saturating_sub(u64::from(block.header.nonce.wrapping_sub(before)) + 1);
    if !found {
        return Ok(None);
    }
    if submit {
        match chain.submit_block(&block).map_err(internal)? {
            SubmitOutcome::Accepted => {}
            other => {
                return Err(RpcError::new(
                    code::INTERNAL_ERROR,
                    format!("ProcessNewBlock, block not accepted: {other:?}"),
                ))
            }
        }
    }
    Ok(Some(block))
}

async fn generatetoaddress(ctx: Rc<NodeCtx>, args: Vec<Value>) -> Result<Value, RpcError> {
    let n = arg::int(&args, 0, 0)?;
    let address = arg::string(&args, 1).unwrap_or_default();
    let max_tries = arg::int(&args, 2, DEFAULT_MAX_TRIES)?;
    let script = address_script(&ctx.chain, &address)
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Error: Invalid address"))?;
    generate(&ctx, script, n, max_tries).await
}

async fn generatetodescriptor(ctx: Rc<NodeCtx>, args: Vec<Value>) -> Result<Value, RpcError> {
    let n = arg::int(&args, 0, 0)?;
    let text = arg::string(&args, 1).unwrap_or_default();
    let max_tries = arg::int(&args, 2, DEFAULT_MAX_TRIES)?;
    let script = descriptor_script(&ctx.chain, &text)?
        .map_err(|why| RpcError::new(code::INVALID_ADDRESS_OR_KEY, why))?;
    generate(&ctx, script, n, max_tries).await
}

async fn generateblock(ctx: Rc<NodeCtx>, args: Vec<Value>) -> Result<Value, RpcError> {
    let output = arg::string(&args, 0).unwrap_or_default();
    let invalid_output = || {
        RpcError::new(
            code::INVALID_ADDRESS_OR_KEY,
            "Error: Invalid address or descriptor",
        )
    };
    // A descriptor first; failing that, an address (Core's order).
    let script = match descriptor_script(&ctx.chain, &output)? {
        Ok(s) => s,
        Err(_) => address_script(&ctx.chain, &output).ok_or_else(invalid_output)?,
    };
    let mut txs = Vec::new();
    for item in arg::opt(&args, 1)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = item.as_str().ok_or_else(|| {
            RpcError::new(code::TYPE_ERROR, "JSON value is not a string as expected")
        })?;
        if let (64, Ok(txid)) = (text.len(), text.parse::<bitcoin::Txid>()) {
            let tx = ctx.mempool.lock().get(&txid).map(|e| (*e.tx).clone());
            txs.push(tx.ok_or_else(|| {
                RpcError::new(
                    code::INVALID_ADDRESS_OR_KEY,
                    format!("Transaction {text} not in mempool."),
                )
            })?);
            continue;
        }
        let tx: Transaction = Vec::<u8>::from_hex(text)
            .ok()
            .and_then(|b| bitcoin::consensus::deserialize(&b).ok())
            .filter(|t: &Transaction| !t.input.is_empty())
            .ok_or_else(|| {
                RpcError::new(
                    code::DESERIALIZATION_ERROR,
                    format!("Transaction decode failed for {text}. Make sure the tx has at least one input."),
                )
            })?;
        txs.push(tx);
    }
    let submit = arg::opt(&args, 2).and_then(Value::as_bool).unwrap_or(true);
    let chain = ctx.chain.clone();
    let mempool = ctx.mempool.clone();
    tokio::task::spawn_blocking(move || {
        // The coinbase claims the subsidy only, as Core's generateblock.
        let mut block = assemble::new_block(&chain, script, txs, Amount::ZERO);
        mempool.apply_block_version(&mut block);
        let mut tries = DEFAULT_MAX_TRIES as u64;
        let block = mine(&chain, block, &mut tries, false)?
            .ok_or_else(|| RpcError::new(code::MISC_ERROR, "Failed to make block."))?;
        if submit {
            let submitted = chain.submit_block_checked(&block).map_err(internal)?;
            match (submitted.outcome, submitted.state) {
                (SubmitOutcome::Accepted, _) => {}
                (SubmitOutcome::Rejected(reason), state) => {
                    return Err(RpcError::new(
                        code::VERIFY_ERROR,
                        format!("TestBlockValidity failed: {}", state.unwrap_or(reason)),
                    ))
                }
                (other, _) => {
                    return Err(RpcError::new(
                        code::INTERNAL_ERROR,
                        format!("ProcessNewBlock, block not accepted: {other:?}"),
                    ))
                }
            }
            return Ok(json!({"hash": block.block_hash().to_string()}));
        }
        Ok(json!({
            "hash": block.block_hash().to_string(),
            "hex": bitcoin::consensus::encode::serialize_hex(&block),
        }))
    })
    .await
    .map_err(internal)?
}
