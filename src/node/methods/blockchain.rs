//! Blockchain RPCs: tip and block lookups, headers, chain tips, the UTXO
//! index's `gettxout`/`gettxoutsetinfo`, and an empty mempool's info.

use bitcoin::{BlockHash, OutPoint, Txid};
use serde_json::{json, Value};

use super::arg;
use super::encode;
use super::{Handler::Sync, Method, NodeCtx, Ty};
use crate::chain::block_tree::VerdictError;
use crate::chain::headers::difficulty;
use crate::chain::muhash;
use crate::chain::prune;
use crate::chain::utxo::{SetHash, UnknownHashType};
use crate::chain::ChainError;
use crate::rpc::json::{amount, double};
use crate::rpc::protocol::code;
use crate::rpc::RpcError;

const CAT: &str = "Blockchain";

pub fn methods() -> Vec<Method> {
    let m = |name, args, summary, f| Method {
        name,
        category: CAT,
        args,
        summary,
        handler: Sync(f),
        hidden: false,
    };
    vec![
        m("getbestblockhash", &[], "Returns the hash of the best (tip) block in the most-work fully-validated chain.", getbestblockhash),
        m("getblock", &[("blockhash", Ty::Hex, true), ("verbosity|verbose", Ty::BoolOrNum, false)], "Returns block data: hex (verbosity 0), an object (1), with transactions decoded (2, 3).", getblock),
        m("getblockchaininfo", &[], "Returns an object containing various state info regarding blockchain processing.", getblockchaininfo),
        m("getblockcount", &[], "Returns the height of the most-work fully-validated chain.", getblockcount),
        m("getblockhash", &[("height", Ty::Num, true)], "Returns hash of block in best-block-chain at height provided.", getblockhash),
        m("getblockheader", &[("blockhash", Ty::Hex, true), ("verbose", Ty::Bool, false)], "Returns the block header as an object (verbose) or as hex.", getblockheader),
        m("pruneblockchain", &[("height", Ty::Num, true)], "Attempts to delete block and undo data up to a specified height or timestamp, if eligible for pruning.", pruneblockchain),
        m("getchaintxstats", &[("nblocks", Ty::Num, false), ("blockhash", Ty::Hex, false)], "Compute statistics about the total number and rate of transactions in the chain.", getchaintxstats),
        m("getchaintips", &[], "Return information about all known tips in the block tree.", getchaintips),
        m("getdifficulty", &[], "Returns the proof-of-work difficulty as a multiple of the minimum difficulty.", getdifficulty),
        m("gettxout", &[("txid", Ty::Hex, true), ("n", Ty::Num, true), ("include_mempool", Ty::Bool, false)], "Returns details about an unspent transaction output.", gettxout),
        wait("waitforblock", &[("blockhash", Ty::Hex, true), ("timeout", Ty::Num, false)], "Waits for a specific new block and returns useful info about it.", |c, a| Box::pin(wait_for(c, a, Wait::Block))),
        wait("waitforblockheight", &[("height", Ty::Num, true), ("timeout", Ty::Num, false)], "Waits for (at least) block height and returns the height and hash of the current tip.", |c, a| Box::pin(wait_for(c, a, Wait::Height))),
        wait("waitfornewblock", &[("timeout", Ty::Num, false), ("current_tip", Ty::Hex, false)], "Waits for any new block and returns useful info about it.", |c, a| Box::pin(wait_for(c, a, Wait::NewBlock))),
        m("getindexinfo", &[("index_name", Ty::Str, false)], "Returns the status of one or all available indices currently running in the node.", getindexinfo),
        m("verifychain", &[("checklevel", Ty::Num, false), ("nblocks", Ty::Num, false)], "Verifies blockchain database.", verifychain),
        async_method("preciousblock", CAT, false, BLOCKHASH, "Treats a block as if it were received before others with the same work.\n\nA later preciousblock call can override the effect of an earlier one.\n\nThe effects of preciousblock are not retained across restarts.", |c, a| Box::pin(on_block(c, a, Verdict::Precious))),
        async_method("invalidateblock", "hidden", true, BLOCKHASH, "Permanently marks a block as invalid, as if it violated a consensus rule.", |c, a| Box::pin(on_block(c, a, Verdict::Invalidate))),
        async_method("reconsiderblock", "hidden", true, BLOCKHASH, "Removes invalidity status of a block, its ancestors and its descendants, reconsider them for activation.\nThis can be used to undo the effects of invalidateblock.", |c, a| Box::pin(on_block(c, a, Verdict::Reconsider))),
        m("gettxoutsetinfo", &[("hash_type", Ty::Str, false), ("hash_or_height", Ty::NumOrStr, false), ("use_index", Ty::Bool, false)], "Returns statistics about the unspent transaction output set.", gettxoutsetinfo),
    ]
}

/// A method that runs asynchronously (it waits, or works off the event
/// loop).
fn async_method(
    name: &'static str,
    category: &'static str,
    hidden: bool,
    args: &'static [super::Arg],
    summary: &'static str,
    f: super::AsyncFn,
) -> Method {
    Method {
        name,
        category,
        args,
        summary,
        handler: super::Handler::Async(f),
        hidden,
    }
}

/// The wait RPCs, hidden from `help` as in Core.
fn wait(
    name: &'static str,
    args: &'static [super::Arg],
    summary: &'static str,
    f: super::AsyncFn,
) -> Method {
    async_method(name, CAT, true, args, summary, f)
}

/// The one argument of preciousblock, invalidateblock, reconsiderblock
/// (which run off the event loop: the kernel may move many blocks).
const BLOCKHASH: &[super::Arg] = &[("blockhash", Ty::Hex, true)];

/// The operator's verdict on a block.
enum Verdict {
    Precious,
    Invalidate,
    Reconsider,
}

async fn on_block(
    ctx: std::rc::Rc<NodeCtx>,
    args: Vec<Value>,
    verdict: Verdict,
) -> Result<Value, RpcError> {
    let hash: BlockHash = arg::hash(&args, 0, "blockhash")?;
    let chain = ctx.chain.clone();
    let done = tokio::task::spawn_blocking(move || match verdict {
        Verdict::Precious => chain.precious_block(&hash),
        Verdict::Invalidate => chain.invalidate_block(&hash),
        Verdict::Reconsider => chain.reconsider_block(&hash),
    })
    .await
    .map_err(super::internal)?;
    match done {
        Ok(()) => Ok(Value::Null),
        Err(ChainError::Verdict(VerdictError::NotFound)) => Err(not_found()),
        Err(e) => Err(RpcError::new(code::DATABASE_ERROR, e.to_string())),
    }
}

/// The condition a wait RPC waits for.
type TipTest = Box<dyn Fn(&crate::chain::Tip) -> bool>;

/// Which wait RPC.
enum Wait {
    Block,
    Height,
    NewBlock,
}

/// The three wait RPCs: block until the tip satisfies the call's condition or
/// the timeout (milliseconds, 0 = none) passes; answer with the tip.
async fn wait_for(
    ctx: std::rc::Rc<NodeCtx>,
    args: Vec<Value>,
    kind: Wait,
) -> Result<Value, RpcError> {
    let mut rx = ctx.chain.watch_tip();
    let start = *rx.borrow();
    let (timeout_ms, done): (i64, TipTest) = match kind {
        Wait::Block => {
            let want: BlockHash = arg::hash(&args, 0, "blockhash")?;
            (arg::int(&args, 1, 0)?, Box::new(move |t| t.hash == want))
        }
        Wait::Height => {
            let h = arg::int(&args, 0, 0)?;
            (
                arg::int(&args, 1, 0)?,
                Box::new(move |t| t.height as i64 >= h),
            )
        }
        Wait::NewBlock => {
            let current = match arg::opt(&args, 1) {
                Some(_) => arg::hash::<BlockHash>(&args, 1, "current_tip")?,
                None => start.hash,
            };
            (arg::int(&args, 0, 0)?, Box::new(move |t| t.hash != current))
        }
    };
    if timeout_ms < 0 {
        return Err(RpcError::new(code::MISC_ERROR, "Negative timeout"));
    }
    let wait = async {
        loop {
            if done(&rx.borrow_and_update()) {
                break;
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
    };
    if timeout_ms == 0 {
        wait.await;
    } else {
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(timeout_ms as u64), wait).await;
    }
    let tip = ctx.chain.tip();
    Ok(json!({"hash": tip.hash.to_string(), "height": tip.height}))
}

fn not_found() -> RpcError {
    RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found")
}

fn getbestblockhash(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    Ok(ctx.chain.tip().hash.to_string().into())
}

fn getblockcount(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    Ok(ctx.chain.tip().height.into())
}

fn getblockhash(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let height = arg::int(args, 0, 0)?;
    let out_of_range = || RpcError::new(code::INVALID_PARAMETER, "Block height out of range");
    if height < 0 || height > ctx.chain.tip().height as i64 {
        return Err(out_of_range());
    }
    let info = ctx.chain.block_at(height as i32).ok_or_else(out_of_range)?;
    Ok(info.hash.to_string().into())
}

fn getblockheader(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let hash: BlockHash = arg::hash(args, 0, "hash")?;
    let info = ctx.chain.block_info(&hash).ok_or_else(not_found)?;
    let verbose = arg::opt(args, 1).and_then(Value::as_bool).unwrap_or(true);
    if !verbose {
        return Ok(bitcoin::consensus::encode::serialize_hex(&info.header).into());
    }
    // Core's nTx from the index (0 for a header only, kept when pruned);
    // the block itself when the index is not reachable.
    let n_tx = ctx
        .chain
        .block_tx_count(&hash)
        .map(|n| n as usize)
        .or_else(|| ctx.chain.read_block(&hash).ok().map(|b| b.txdata.len()));
    Ok(encode::header(&ctx.chain, &info, n_tx))
}

fn getblock(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let hash: BlockHash = arg::hash(args, 0, "blockhash")?;
    let verbosity = arg::verbosity(args, 1, 1);
    let info = ctx.chain.block_info(&hash).ok_or_else(not_found)?;
    let block = ctx
        .chain
        .read_block(&hash)
        .map_err(|_| super::block_unreadable(&ctx.chain, &info))?;
    if verbosity <= 0 {
        return Ok(bitcoin::consensus::encode::serialize_hex(&block).into());
    }
    // Core reads the undo data for the fees (verbosity 2) and spent coins
    // (3), when the block has it and is not pruned.
    let undo = if verbosity >= 2 {
        let status = ctx.chain.block_status(&hash);
        if status.is_some_and(|s| s.have_undo && !s.pruned) {
            Some(ctx.chain.spent_coins(&hash).map_err(|_| {
                RpcError::new(
                    code::INTERNAL_ERROR,
                    "Undo data expected but can't be read. This could be due to disk corruption or a conflict with a pruning event.",
                )
            })?)
        } else {
            None
        }
    } else {
        None
    };
    Ok(encode::block(
        &ctx.chain,
        &info,
        &block,
        verbosity,
        undo.as_deref(),
    ))
}

fn getblockchaininfo(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    let tip = ctx.chain.tip();
    let info = ctx.chain.block_info(&tip.hash).ok_or_else(not_found)?;
    let headers = ctx
        .chain
        .best_header()
        .map(|h| h.height)
        .unwrap_or(tip.height);
    let h = &info.header;
    let prune = ctx.chain.prune_state();
    let mut o = json!({
        "chain": chain_name(ctx.chain.network()),
        "blocks": tip.height,
        "headers": headers,
        "bestblockhash": tip.hash.to_string(),
        "bits": format!("{:08x}", h.bits.to_consensus()),
        "target": encode::target_hex(h.bits.to_consensus()),
        "difficulty": double(difficulty(h.bits.to_consensus())),
        "time": h.time,
        "mediantime": ctx.chain.median_time_past(&tip.hash).unwrap_or(h.time),
        "verificationprogress": double(ctx.chain.verification_progress()),
        "initialblockdownload": ctx.chain.initial_block_download(),
        "chainwork": ctx.chain.chain_work(&tip.hash).map(|w| encode::hex(&w.to_be_bytes())).unwrap_or_default(),
        "size_on_disk": size_on_disk(ctx),
        "pruned": prune.is_some(),
    });
    if let Some(p) = prune {
        o["pruneheight"] = json!(p.last_pruned.map_or(0, |h| h + 1));
        let automatic = p.target != prune::PRUNE_TARGET_MANUAL;
        o["automatic_pruning"] = json!(automatic);
        if automatic {
            o["prune_target_size"] = json!(p.target);
        }
    }
    o["warnings"] = json!([]);
    Ok(o)
}

/// Core's getchaintxstats: transaction count and rate over a window of
/// blocks (a month's worth by default) ending at the tip or a given block
/// of the active chain.
fn getchaintxstats(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    /// A month of blocks at Core's ten-minute spacing.
    const MONTH_OF_BLOCKS: i64 = 30 * 24 * 60 * 60 / 600;
    let end = match arg::opt(args, 1) {
        None => ctx
            .chain
            .block_info(&ctx.chain.tip().hash)
            .ok_or_else(not_found)?,
        Some(_) => {
            let hash: BlockHash = arg::hash(args, 1, "blockhash")?;
            let info = ctx.chain.block_info(&hash).ok_or_else(not_found)?;
            if !info.in_active_chain {
                return Err(RpcError::new(
                    code::INVALID_PARAMETER,
                    "Block is not in main chain",
                ));
            }
            info
        }
    };
    let height = i64::from(end.height);
    let count = match arg::opt(args, 0) {
        None => MONTH_OF_BLOCKS.min(height - 1).max(0),
        Some(_) => {
            let n = arg::int(args, 0, 0)?;
            if n < 0 || (n > 0 && n >= height) {
                return Err(RpcError::new(
                    code::INVALID_PARAMETER,
                    "Invalid block count: should be between 0 and the block's height - 1",
                ));
            }
            n
        }
    };
    let start = ctx
        .chain
        .ancestor(&end.hash, (height - count) as i32)
        .ok_or_else(not_found)?;
    let mtp = |hash: &BlockHash| i64::from(ctx.chain.median_time_past(hash).unwrap_or(0));
    let interval = mtp(&end.hash) - mtp(&start.hash);
    let tx_count = |hash: &BlockHash| ctx.chain.chain_tx_count(hash).unwrap_or(0);
    let (end_txs, start_txs) = (tx_count(&end.hash), tx_count(&start.hash));
    let mut o = json!({"time": end.header.time});
    if end_txs != 0 {
        o["txcount"] = json!(end_txs);
    }
    o["window_final_block_hash"] = json!(end.hash.to_string());
    o["window_final_block_height"] = json!(end.height);
    o["window_block_count"] = json!(count);
    if count > 0 {
        o["window_interval"] = json!(interval);
        if end_txs != 0 && start_txs != 0 {
            let window = end_txs - start_txs;
            o["window_tx_count"] = json!(window);
            if interval > 0 {
                o["txrate"] = double(window as f64 / interval as f64);
            }
        }
    }
    Ok(o)
}

/// Core's pruneblockchain: prunes up to a height, or up to the first block
/// two hours before a timestamp (a value above a billion), never the last
/// 288 blocks; answers the height of the last block pruned (-1: none).
fn pruneblockchain(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    /// Core's TIMESTAMP_WINDOW: the slack for blocks with old timestamps.
    const TIMESTAMP_WINDOW: i64 = 2 * 60 * 60;
    let Some(state) = ctx.chain.prune_state() else {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "Cannot prune blocks because node is not in prune mode.",
        ));
    };
    let mut height = arg::int(args, 0, 0)?;
    if height < 0 {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Negative block height.",
        ));
    }
    if height > 1_000_000_000 {
        height = i64::from(
            ctx.chain
                .height_at_time(height - TIMESTAMP_WINDOW)
                .ok_or_else(|| {
                    RpcError::new(
                        code::INVALID_PARAMETER,
                        "Could not find block with at least the specified timestamp.",
                    )
                })?,
        );
    }
    let chain_height = i64::from(ctx.chain.tip().height);
    if chain_height < i64::from(state.prune_after) {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "Blockchain is too short for pruning.",
        ));
    }
    if height > chain_height {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Blockchain is shorter than the attempted prune height.",
        ));
    }
    let keep_from = chain_height - i64::from(prune::MIN_BLOCKS_TO_KEEP);
    if height > keep_from {
        tracing::debug!(target: "rpc", "Attempt to prune blocks close to the tip.  Retaining the minimum number of blocks.");
        height = keep_from;
    }
    ctx.chain
        .prune_to(height as i32)
        .map_err(|e| RpcError::new(code::MISC_ERROR, e.to_string()))?;
    let after = ctx.chain.prune_state().unwrap_or(state);
    Ok(json!(after.last_pruned.unwrap_or(-1)))
}

/// Core's name for a network in RPC answers.
pub fn chain_name(n: bitcoin::Network) -> &'static str {
    match n {
        bitcoin::Network::Bitcoin => "main",
        bitcoin::Network::Testnet => "test",
        bitcoin::Network::Testnet4 => "testnet4",
        bitcoin::Network::Signet => "signet",
        _ => "regtest",
    }
}

/// getblockchaininfo's size_on_disk: the block and undo files' bytes.
fn size_on_disk(ctx: &NodeCtx) -> u64 {
    let blocks = ctx.chain.blocks_dir();
    std::fs::read_dir(blocks)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn getchaintips(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    let tips: Vec<Value> = ctx
        .chain
        .tips()
        .into_iter()
        .map(|t| {
            json!({"height": t.height, "hash": t.hash.to_string(), "branchlen": t.branchlen, "status": t.status})
        })
        .collect();
    Ok(tips.into())
}

fn getdifficulty(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    let tip = ctx.chain.tip();
    let info = ctx.chain.block_info(&tip.hash).ok_or_else(not_found)?;
    Ok(double(difficulty(info.header.bits.to_consensus())))
}

/// Core's optional indexes: only -txindex runs here (synced whenever the
/// node answers, since it follows every block the chain connects).
fn getindexinfo(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let filter = arg::string(args, 0).unwrap_or_default();
    let mut out = serde_json::Map::new();
    if let Some(txindex) = ctx.chain.txindex() {
        let (_, height) = txindex.tip().map_err(|e| super::internal(e.to_string()))?;
        if filter.is_empty() || filter == "txindex" {
            out.insert(
                "txindex".into(),
                json!({"synced": true, "best_block_height": height}),
            );
        }
    }
    Ok(Value::Object(out))
}

/// Core's verifychain: the last `nblocks` blocks (all with 0) at `checklevel`
/// (clamped to 0..=4; level 4 checks as level 3 does).
fn verifychain(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let level = arg::int(args, 0, 3)?.clamp(0, 4) as u32;
    let tip = ctx.chain.tip();
    let mut depth = arg::int(args, 1, 6)?;
    if depth <= 0 || depth > i64::from(tip.height) {
        depth = i64::from(tip.height);
    }
    tracing::info!("Verifying last {depth} blocks at level {level}");
    for height in (tip.height - depth as i32 + 1..=tip.height).rev() {
        let Some(info) = ctx.chain.block_at(height) else {
            return Ok(false.into());
        };
        if let Err(line) = ctx.chain.verify_block(&info, level) {
            tracing::error!("{line}");
            return Ok(false.into());
        }
    }
    tracing::info!("Verification: No coin database inconsistencies in last {depth} blocks");
    Ok(true.into())
}

fn gettxout(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let txid: Txid = arg::hash(args, 0, "txid")?;
    let n = arg::int(args, 1, 0)?;
    let Ok(vout) = u32::try_from(n) else {
        return Ok(Value::Null);
    };
    let include_mempool = arg::opt(args, 2).and_then(Value::as_bool).unwrap_or(true);
    let outpoint = OutPoint::new(txid, vout);
    if include_mempool {
        let pool = ctx.mempool.lock();
        if pool.spender(&outpoint).is_some() {
            return Ok(Value::Null);
        }
        if let Some(e) = pool.get(&txid) {
            let Some(out) = e.tx.output.get(vout as usize) else {
                return Ok(Value::Null);
            };
            return Ok(json!({
                "bestblock": ctx.chain.tip().hash.to_string(),
                "confirmations": 0,
                "value": amount(out.value.to_sat() as i64),
                "scriptPubKey": encode::script_pub_key(&out.script_pubkey, ctx.chain.network()),
                "coinbase": false,
            }));
        }
    }
    let coin = ctx
        .chain
        .utxo()
        .get(&outpoint)
        .map_err(|e| RpcError::new(code::DATABASE_ERROR, e.to_string()))?;
    let Some(coin) = coin else {
        return Ok(Value::Null);
    };
    let tip = ctx.chain.tip();
    Ok(json!({
        "bestblock": tip.hash.to_string(),
        "confirmations": tip.height as i64 - coin.height as i64 + 1,
        "value": amount(coin.txout.value.to_sat() as i64),
        "scriptPubKey": encode::script_pub_key(&coin.txout.script_pubkey, ctx.chain.network()),
        "coinbase": coin.coinbase,
    }))
}

fn gettxoutsetinfo(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let hash_type: SetHash = arg::string(args, 0)
        .as_deref()
        .unwrap_or("hash_serialized_3")
        .parse()
        .map_err(|e: UnknownHashType| RpcError::new(code::INVALID_PARAMETER, e.to_string()))?;
    if arg::opt(args, 1).is_some() {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            "Querying specific block heights requires coinstatsindex",
        ));
    }
    let s = ctx
        .chain
        .utxo()
        .stats(hash_type)
        .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?;
    let tip = ctx.chain.tip();
    let mut out = json!({
        "height": tip.height,
        "bestblock": tip.hash.to_string(),
        "txouts": s.txouts,
        "bogosize": s.bogosize,
    });
    let o = out.as_object_mut().expect("object");
    if let Some(h) = s.hash_serialized {
        o.insert("hash_serialized_3".into(), h.to_string().into());
    }
    if let Some(h) = s.muhash {
        o.insert("muhash".into(), muhash::core_hex(&h).into());
    }
    o.insert(
        "total_amount".into(),
        amount(s.total_amount.to_sat() as i64),
    );
    o.insert("transactions".into(), s.transactions.into());
    o.insert("disk_size".into(), ctx.chain.chainstate_disk_size().into());
    Ok(out)
}
