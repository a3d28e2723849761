//! Mempool RPCs with Core's arguments, results and errors:
//! sendrawtransaction, testmempoolaccept, getrawmempool, getmempoolinfo,
//! getmempoolentry, getmempoolancestors, getmempooldescendants,
//! getmempoolcluster, prioritisetransaction, getprioritisedtransactions,
//! savemempool.

use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;

use bitcoin::{Transaction, Txid};
use futures::FutureExt;
use serde_json::{json, Map, Value};

use super::{arg, internal, invalid_parameter, Handler, Method, NodeCtx, Ty};
use crate::mempool::linearize;
use crate::mempool::policy::{self, FeeRate};
use crate::mempool::{
    AcceptArgs, Accepted, Entry, PackageError, PackageResult, PackageTx, Pool, Reject, RejectKind,
};
use crate::rpc::amount::amount_from_value;
use crate::rpc::json::amount;
use crate::rpc::protocol::code;
use crate::rpc::RpcError;

/// Core's DEFAULT_MAX_RAW_TX_FEE_RATE: 0.10 BTC/kvB.
const DEFAULT_MAX_RAW_TX_FEE_RATE: i64 = 10_000_000;
use crate::mempool::package::MAX_PACKAGE_COUNT;

pub fn methods() -> Vec<Method> {
    let s = |name, args, summary, f| Method {
        name,
        category: "Blockchain",
        args,
        summary,
        handler: Handler::Sync(f),
        hidden: false,
    };
    vec![
        s("getmempoolancestors", &[("txid", Ty::Hex, true), ("verbose", Ty::Bool, false)], "If txid is in the mempool, returns all in-mempool ancestors.", getmempoolancestors),
        s("getmempoolcluster", &[("txid", Ty::Hex, true)], "Returns mempool data for given cluster", getmempoolcluster),
        s("getmempooldescendants", &[("txid", Ty::Hex, true), ("verbose", Ty::Bool, false)], "If txid is in the mempool, returns all in-mempool descendants.", getmempooldescendants),
        s("getmempoolentry", &[("txid", Ty::Hex, true)], "Returns mempool data for given transaction", getmempoolentry),
        Method {
            hidden: true,
            ..s("getmempoolfeeratediagram", &[], "Returns the feerate diagram for the whole mempool.", getmempoolfeeratediagram)
        },
        s("getmempoolinfo", &[], "Returns details on the active state of the TX memory pool.", getmempoolinfo),
        s("gettxspendingprevout", &[("outputs", Ty::Arr, true), ("options", Ty::Obj, false)], "Scans the mempool (and the txospenderindex, if available) to find transactions spending any of the given outputs", gettxspendingprevout),
        s("getrawmempool", &[("verbose", Ty::Bool, false), ("mempool_sequence", Ty::Bool, false)], "Returns all transaction ids in memory pool as a json array of string transaction ids.", getrawmempool),
        Method {
            name: "savemempool",
            category: "Blockchain",
            args: &[],
            summary: "Dumps the mempool to disk. It will fail until the previous dump is fully loaded.",
            handler: Handler::Async(|ctx, args| savemempool(ctx, args).boxed_local()),
            hidden: false,
        },
        Method {
            name: "importmempool",
            category: "Blockchain",
            args: &[("filepath", Ty::Str, true), ("options", Ty::Obj, false)],
            summary: "Import a mempool.dat file and attempt to add its contents to the mempool.",
            handler: Handler::Async(|ctx, args| importmempool(ctx, args).boxed_local()),
            hidden: false,
        },
        Method {
            name: "getprioritisedtransactions",
            category: "Mining",
            args: &[],
            summary: "Returns a map of all user-created (see prioritisetransaction) fee deltas by txid, and whether the tx is present in mempool.",
            handler: Handler::Sync(getprioritisedtransactions),
            hidden: false,
        },
        Method {
            name: "prioritisetransaction",
            category: "Mining",
            args: &[("txid", Ty::Hex, true), ("dummy", Ty::Num, false), ("fee_delta", Ty::Num, true)],
            summary: "Accepts the transaction into mined blocks at a higher (or lower) priority",
            handler: Handler::Sync(prioritisetransaction),
            hidden: false,
        },
        Method {
            name: "sendrawtransaction",
            category: "Rawtransactions",
            args: &[("hexstring", Ty::Hex, true), ("maxfeerate", Ty::Amount, false), ("maxburnamount", Ty::Amount, false)],
            summary: "Submit a raw transaction (serialized, hex-encoded) to the network.",
            handler: Handler::Async(|ctx, args| sendrawtransaction(ctx, args).boxed_local()),
            hidden: false,
        },
        Method {
            name: "submitpackage",
            category: "Rawtransactions",
            args: &[("package", Ty::Arr, true), ("maxfeerate", Ty::Amount, false), ("maxburnamount", Ty::Amount, false)],
            summary: "Submit a package of raw transactions (serialized, hex-encoded) to local node.",
            handler: Handler::Async(|ctx, args| submitpackage(ctx, args).boxed_local()),
            hidden: false,
        },
        Method {
            name: "testmempoolaccept",
            category: "Rawtransactions",
            args: &[("rawtxs", Ty::Arr, true), ("maxfeerate", Ty::Amount, false)],
            summary: "Returns result of mempool acceptance tests indicating if raw transaction(s) (serialized, hex-encoded) would be accepted by mempool.",
            handler: Handler::Async(|ctx, args| testmempoolaccept(ctx, args).boxed_local()),
            hidden: false,
        },
    ]
}

/// The first argument of testmempoolaccept and submitpackage: 1 to 25 hex
/// transactions.
fn package_arg(args: &[Value]) -> Result<Vec<Value>, RpcError> {
    let raw = arg::opt(args, 0)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if raw.is_empty() || raw.len() > MAX_PACKAGE_COUNT {
        return Err(invalid_parameter(format!(
            "Array must contain between 1 and {MAX_PACKAGE_COUNT} transactions."
        )));
    }
    Ok(raw)
}

/// A package's hex transactions (testmempoolaccept, submitpackage), with
/// Core's errors for a non-string and an undecodable one.
fn decode_list(raw: &[Value]) -> Result<Vec<Transaction>, RpcError> {
    raw.iter()
        .map(|v| {
            let text = v.as_str().ok_or_else(|| {
                RpcError::new(code::TYPE_ERROR, "JSON value is not a string as expected")
            })?;
            arg::hex_tx(text, true, true).ok_or_else(|| {
                RpcError::new(
                    code::DESERIALIZATION_ERROR,
                    format!("TX decode failed: {text} Make sure the tx has at least one input."),
                )
            })
        })
        .collect()
}

/// Core's ParseFeeRate for `maxfeerate`: BTC/kvB, at most 1 BTC/kvB.
fn max_fee_rate(args: &[Value], i: usize) -> Result<FeeRate, RpcError> {
    let Some(v) = arg::opt(args, i) else {
        return Ok(FeeRate(DEFAULT_MAX_RAW_TX_FEE_RATE));
    };
    let sats = amount_from_value(v)?;
    if sats >= 100_000_000 {
        return Err(invalid_parameter(
            "Fee rates larger than or equal to 1BTC/kvB are not accepted",
        ));
    }
    Ok(FeeRate(sats))
}

/// Runs acceptance on a blocking thread.
async fn run_accept(
    ctx: &NodeCtx,
    tx: Arc<Transaction>,
    test_only: bool,
) -> Result<Result<Accepted, Reject>, RpcError> {
    let (chain, mempool) = (ctx.chain.clone(), ctx.mempool.clone());
    tokio::task::spawn_blocking(move || {
        mempool.accept(
            &chain,
            tx,
            AcceptArgs {
                test_only,
                local: !test_only,
                ..AcceptArgs::FROM_PEER
            },
        )
    })
    .await
    .map_err(internal)
}

/// Core's HandleATMPError as an RPC error.
fn reject_error(r: &Reject) -> RpcError {
    if r.kind == RejectKind::MissingInputs {
        return RpcError::new(code::VERIFY_ERROR, "bad-txns-inputs-missingorspent");
    }
    RpcError::new(code::VERIFY_REJECTED, r.to_string())
}

async fn sendrawtransaction(ctx: Rc<NodeCtx>, args: Vec<Value>) -> Result<Value, RpcError> {
    let max_burn = match arg::opt(&args, 2) {
        Some(v) => amount_from_value(v)?,
        None => 0,
    };
    let tx =
        arg::hex_tx(&arg::string(&args, 0).unwrap_or_default(), true, true).ok_or_else(|| {
            RpcError::new(
                code::DESERIALIZATION_ERROR,
                "TX decode failed. Make sure the tx has at least one input.",
            )
        })?;
    for out in &tx.output {
        let burns = policy::is_unspendable(&out.script_pubkey)
            || out.script_pubkey.instructions().any(|i| i.is_err());
        if burns && policy::signed_value(out) > max_burn {
            return Err(RpcError::new(
                code::VERIFY_ERROR,
                "Unspendable output exceeds maximum configured by user (maxburnamount)",
            ));
        }
    }
    let max_rate = max_fee_rate(&args, 1)?;
    let txid = tx.compute_txid();
    let weight = tx.weight().to_wu() as i64;
    let max_fee = max_rate.fee((weight + 3) / 4);
    // Already confirmed: an output is in the UTXO set.
    for vout in 0..tx.output.len() as u32 {
        if let Ok(Some(_)) = ctx.chain.utxo().get(&bitcoin::OutPoint::new(txid, vout)) {
            return Err(RpcError::new(
                code::VERIFY_ALREADY_IN_CHAIN,
                "Transaction outputs already in utxo set",
            ));
        }
    }
    let in_pool = ctx.mempool.lock().get(&txid).is_some();
    if !in_pool {
        let tx = Arc::new(tx);
        if max_fee > 0 {
            let test = run_accept(&ctx, tx.clone(), true)
                .await?
                .map_err(|r| reject_error(&r))?;
            if test.base_fee > max_fee {
                return Err(RpcError::new(
                    code::VERIFY_ERROR,
                    "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)",
                ));
            }
        }
        // Accepted: the relay announces it as it does every new entry.
        run_accept(&ctx, tx, false)
            .await?
            .map_err(|r| reject_error(&r))?;
    } else if let Some(net) = &ctx.net {
        // Already there: announced again to peers that have not heard of it.
        net.announce_tx(txid);
    }
    Ok(Value::from(txid.to_string()))
}

async fn testmempoolaccept(ctx: Rc<NodeCtx>, args: Vec<Value>) -> Result<Value, RpcError> {
    let raw = package_arg(&args)?;
    let max_rate = max_fee_rate(&args, 1)?;
    let txs: Vec<Arc<Transaction>> = decode_list(&raw)?.into_iter().map(Arc::new).collect();
    let result = if txs.len() == 1 {
        // One transaction is Core's ProcessTransaction, replacements allowed.
        let tx = txs[0].clone();
        let (error, one) = match run_accept(&ctx, tx, true).await? {
            Ok(a) => (None, PackageTx::alone(a)),
            Err(r) => (Some(PackageError::FAILED), PackageTx::Failed(r)),
        };
        PackageResult {
            error,
            txs: vec![Some(one)],
        }
    } else {
        let (chain, mempool, batch) = (ctx.chain.clone(), ctx.mempool.clone(), txs.clone());
        tokio::task::spawn_blocking(move || mempool.test_package(&chain, &batch))
            .await
            .map_err(internal)?
    };
    // After one transaction over the caller's maximum fee, the later ones
    // are left undecided: they would not be submitted either.
    let mut exit_early = false;
    let mut rows = Vec::with_capacity(txs.len());
    for (tx, r) in txs.iter().zip(result.txs) {
        let mut out = Map::new();
        out.insert("txid".into(), tx.compute_txid().to_string().into());
        out.insert("wtxid".into(), tx.compute_wtxid().to_string().into());
        if let Some(PackageError::Policy(why)) = &result.error {
            out.insert("package-error".into(), why.clone().into());
        }
        match r {
            _ if exit_early => {}
            None | Some(PackageTx::InMempool { .. }) => {}
            Some(PackageTx::Accepted {
                accepted,
                feerate,
                includes,
            }) => {
                let max_fee = max_rate.fee(accepted.vsize);
                if max_fee > 0 && accepted.base_fee > max_fee {
                    out.insert("allowed".into(), false.into());
                    out.insert("reject-reason".into(), "max-fee-exceeded".into());
                    exit_early = true;
                } else {
                    out.insert("allowed".into(), true.into());
                    sizes_and_fees(
                        &mut out,
                        tx,
                        (accepted.vsize, accepted.base_fee),
                        Some((feerate, &includes)),
                    );
                }
            }
            Some(PackageTx::Failed(r)) => {
                out.insert("allowed".into(), false.into());
                if r.kind == RejectKind::MissingInputs {
                    out.insert("reject-reason".into(), "missing-inputs".into());
                } else {
                    out.insert("reject-reason".into(), r.reason.clone().into());
                    out.insert("reject-details".into(), r.to_string().into());
                }
            }
        }
        rows.push(Value::Object(out));
    }
    Ok(Value::Array(rows))
}

/// testmempoolaccept's and submitpackage's sizes and fees of an accepted
/// transaction: `vsize` is the sigop-adjusted size (current Core also names
/// it `vsize_adjusted`, beside BIP141's `vsize_bip141`); the effective fee
/// rate only for a transaction judged now, not one already in the pool.
fn sizes_and_fees(
    out: &mut Map<String, Value>,
    tx: &Transaction,
    (vsize, base_fee): (i64, i64),
    effective: Option<(FeeRate, &[bitcoin::Wtxid])>,
) {
    out.insert("vsize_adjusted".into(), vsize.into());
    out.insert("vsize".into(), vsize.into());
    out.insert("vsize_bip141".into(), tx.vsize().into());
    let mut fees = Map::new();
    fees.insert("base".into(), amount(base_fee));
    if let Some((rate, includes)) = effective {
        fees.insert("effective-feerate".into(), amount(rate.0));
        fees.insert(
            "effective-includes".into(),
            includes
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
                .into(),
        );
    }
    out.insert("fees".into(), Value::Object(fees));
}

/// Core's entryToJSON.
fn entry_json(ctx: &NodeCtx, pool: &Pool, e: &Entry) -> Value {
    let bps = ctx.mempool.options().bytes_per_sigop;
    let sum = |set: &BTreeSet<Txid>| -> (i64, i64, i64) {
        set.iter()
            .filter_map(|t| pool.get(t))
            .fold((1, e.vsize, pool.modified_fee(e)), |(n, s, f), x| {
                (n + 1, s + x.vsize, f + pool.modified_fee(x))
            })
    };
    let (anc_n, anc_size, anc_fee) = sum(&pool.ancestors(&e.txid));
    let (desc_n, desc_size, desc_fee) = sum(&pool.descendants(&e.txid));
    let (chunk_fee, chunk_weight) = linearize::chunk_of(pool, &e.txid, bps);
    let mut v = json!({
        "vsize_adjusted": e.vsize,
        "vsize": e.vsize,
        "vsize_bip141": e.tx.vsize(),
        "weight": e.weight,
        "time": e.time,
        "height": e.height,
        "descendantcount": desc_n,
        "descendantsize": desc_size,
        "ancestorcount": anc_n,
        "ancestorsize": anc_size,
        "wtxid": e.wtxid.to_string(),
        "chunkweight": chunk_weight,
        "fees": {
            "base": amount(e.fee),
            "modified": amount(pool.modified_fee(e)),
            "ancestor": amount(anc_fee),
            "descendant": amount(desc_fee),
            "chunk": amount(chunk_fee),
        },
        "depends": e.parents.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        "spentby": e.children.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        "unbroadcast": pool.unbroadcast().contains(&e.txid),
    });
    if ctx.deprecated_rpc.iter().any(|d| d == "bip125") {
        // BIP125: it or an unconfirmed ancestor signals replaceability.
        let signals = |tx: &Transaction| tx.input.iter().any(|i| i.sequence.0 < 0xffff_fffe);
        let replaceable = signals(&e.tx)
            || pool
                .ancestors(&e.txid)
                .iter()
                .filter_map(|t| pool.get(t))
                .any(|a| signals(&a.tx));
        v["bip125-replaceable"] = replaceable.into();
    }
    v
}

fn not_in_mempool() -> RpcError {
    RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Transaction not in mempool")
}

fn getrawmempool(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let verbose = arg::opt(args, 0).and_then(Value::as_bool).unwrap_or(false);
    let with_sequence = arg::opt(args, 1).and_then(Value::as_bool).unwrap_or(false);
    let pool = ctx.mempool.lock();
    if verbose {
        if with_sequence {
            return Err(invalid_parameter(
                "Verbose results cannot contain mempool sequence values.",
            ));
        }
        let mut o = Map::new();
        for e in pool.entries_listed() {
            o.insert(e.txid.to_string(), entry_json(ctx, &pool, e));
        }
        return Ok(Value::Object(o));
    }
    let ids: Vec<Value> = pool
        .entries_listed()
        .iter()
        .map(|e| e.txid.to_string().into())
        .collect();
    if with_sequence {
        return Ok(json!({"txids": ids, "mempool_sequence": pool.sequence()}));
    }
    Ok(Value::Array(ids))
}

fn related(ctx: &NodeCtx, args: &[Value], descendants: bool) -> Result<Value, RpcError> {
    let txid: Txid = arg::hash(args, 0, "txid")?;
    let verbose = arg::opt(args, 1).and_then(Value::as_bool).unwrap_or(false);
    let pool = ctx.mempool.lock();
    if pool.get(&txid).is_none() {
        return Err(not_in_mempool());
    }
    let set = if descendants {
        pool.descendants(&txid)
    } else {
        pool.ancestors(&txid)
    };
    if !verbose {
        return Ok(set.iter().map(|t| Value::from(t.to_string())).collect());
    }
    let mut o = Map::new();
    for t in &set {
        if let Some(e) = pool.get(t) {
            o.insert(t.to_string(), entry_json(ctx, &pool, e));
        }
    }
    Ok(Value::Object(o))
}

fn getmempoolancestors(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    related(ctx, args, false)
}

fn getmempooldescendants(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    related(ctx, args, true)
}

fn getmempoolentry(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let txid: Txid = arg::hash(args, 0, "txid")?;
    let pool = ctx.mempool.lock();
    let e = pool.get(&txid).ok_or_else(not_in_mempool)?;
    Ok(entry_json(ctx, &pool, e))
}

/// Core's gettxspendingprevout, from the mempool only: this node keeps no
/// txospenderindex, so a spend the mempool lacks is an error unless
/// `mempool_only` (its default here) says to report the output unspent.
fn gettxspendingprevout(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let outputs = arg::opt(args, 0)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if outputs.is_empty() {
        return Err(invalid_parameter("Invalid parameter, outputs are missing"));
    }
    let options = arg::options(
        args,
        1,
        &[("mempool_only", Ty::Bool), ("return_spending_tx", Ty::Bool)],
    )?;
    let mempool_only = options["mempool_only"].as_bool().unwrap_or(true);
    let return_tx = options["return_spending_tx"].as_bool().unwrap_or(false);
    let mut wanted = Vec::with_capacity(outputs.len());
    for o in &outputs {
        arg::check_object(o, &[("txid", Ty::Str), ("vout", Ty::Num)], false)?;
        let txid: Txid = arg::hash_in(o, "txid")?;
        let vout = o["vout"].as_i64().unwrap_or(-1);
        if vout < 0 {
            return Err(invalid_parameter(
                "Invalid parameter, vout cannot be negative",
            ));
        }
        wanted.push(bitcoin::OutPoint::new(txid, vout as u32));
    }
    let pool = ctx.mempool.lock();
    let mut rows = Vec::with_capacity(outputs.len());
    for (o, op) in outputs.iter().zip(&wanted) {
        let mut row = o.clone();
        match pool.spender(op).and_then(|t| pool.get(t)) {
            Some(e) => {
                row["spendingtxid"] = e.txid.to_string().into();
                if return_tx {
                    row["spendingtx"] = bitcoin::consensus::encode::serialize_hex(&*e.tx).into();
                }
            }
            None if !mempool_only => {
                return Err(RpcError::new(
                    code::MISC_ERROR,
                    "Mempool lacks a relevant spend, and txospenderindex is unavailable.",
                ));
            }
            None => {}
        }
        rows.push(row);
    }
    Ok(Value::Array(rows))
}

/// Core's hidden getmempoolfeeratediagram.
fn getmempoolfeeratediagram(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    let pool = ctx.mempool.lock();
    let diagram = linearize::feerate_diagram(&pool, ctx.mempool.options().bytes_per_sigop);
    Ok(diagram
        .into_iter()
        .map(|(weight, fee)| json!({"weight": weight, "fee": amount(fee)}))
        .collect())
}

fn getmempoolcluster(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let txid: Txid = arg::hash(args, 0, "txid")?;
    let pool = ctx.mempool.lock();
    if pool.get(&txid).is_none() {
        return Err(not_in_mempool());
    }
    let bps = ctx.mempool.options().bytes_per_sigop;
    let cluster = pool.cluster(&txid);
    let chunks = linearize::cluster_chunks(&pool, &cluster, bps);
    let weight: i64 = chunks.iter().map(|c| c.weight).sum();
    Ok(json!({
        "clusterweight": weight,
        "txcount": cluster.len(),
        "chunks": chunks.iter().map(|c| json!({
            "chunkfee": amount(c.fee),
            "chunkweight": c.weight,
            "txs": c.txs.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    }))
}

fn getmempoolinfo(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    let opts = ctx.mempool.options();
    // Before the lock below: it takes the pool's lock itself.
    let min_fee = ctx.mempool.min_fee();
    let pool = ctx.mempool.lock();
    let mut info = json!({
        "loaded": ctx.mempool.loaded(),
        "size": pool.len(),
        "bytes": pool.total_vsize(),
        "usage": pool.usage(),
        "total_fee": amount(pool.total_fee()),
        "maxmempool": opts.max_size_bytes,
        "mempoolminfee": amount(min_fee.max(opts.min_relay_feerate.0)),
        "minrelaytxfee": amount(opts.min_relay_feerate.0),
        "incrementalrelayfee": amount(opts.incremental_relay_feerate.0),
        "unbroadcastcount": pool.unbroadcast().len(),
        "permitbaremultisig": opts.permit_bare_multisig,
        "maxdatacarriersize": opts.max_datacarrier_bytes.unwrap_or(0),
        "limitclustercount": opts.cluster_count,
        "limitclustersize": opts.cluster_size_vbytes,
        "optimal": true,
    });
    if ctx.deprecated_rpc.iter().any(|d| d == "fullrbf") {
        info["fullrbf"] = true.into();
    }
    Ok(info)
}

fn prioritisetransaction(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let txid: Txid = arg::hash(args, 0, "txid")?;
    if let Some(d) = arg::opt(args, 1) {
        if d.as_f64() != Some(0.0) {
            return Err(invalid_parameter(
                "Priority is no longer supported, dummy argument to prioritisetransaction must be 0.",
            ));
        }
    }
    let delta = arg::int(args, 2, 0)?;
    let opts = ctx.mempool.options();
    let mut pool = ctx.mempool.lock();
    if let Some(e) = pool.get(&txid) {
        if opts.require_standard && !policy::dust_outputs(&e.tx, opts.dust_relay_feerate).is_empty()
        {
            return Err(invalid_parameter(
                "Priority is not supported for transactions with dust outputs.",
            ));
        }
    }
    pool.prioritise(txid, delta);
    Ok(Value::Bool(true))
}

fn getprioritisedtransactions(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    let pool = ctx.mempool.lock();
    let mut o = Map::new();
    for (txid, delta) in pool.deltas() {
        let mut r = Map::new();
        r.insert("fee_delta".into(), (*delta).into());
        match pool.get(txid) {
            Some(e) => {
                r.insert("in_mempool".into(), true.into());
                r.insert("modified_fee".into(), pool.modified_fee(e).into());
            }
            None => {
                r.insert("in_mempool".into(), false.into());
            }
        }
        o.insert(txid.to_string(), Value::Object(r));
    }
    Ok(Value::Object(o))
}

async fn savemempool(ctx: Rc<NodeCtx>, _: Vec<Value>) -> Result<Value, RpcError> {
    if !ctx.mempool.loaded() {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "The mempool was not loaded yet",
        ));
    }
    let Some(broker) = &ctx.broker else {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "Unable to dump mempool to disk",
        ));
    };
    crate::node::mempool_file::save(broker, &ctx.mempool)
        .await
        .map_err(|e| {
            tracing::warn!("savemempool: {e}");
            RpcError::new(code::MISC_ERROR, "Unable to dump mempool to disk")
        })?;
    Ok(json!({
        "filename": ctx.net_dir.join(crate::node::mempool_file::FILE).display().to_string(),
    }))
}

/// Core's importmempool, for files in the network directory: the sandboxed
/// worker reads them through the broker, which opens nothing outside it.
async fn importmempool(ctx: Rc<NodeCtx>, args: Vec<Value>) -> Result<Value, RpcError> {
    if ctx.chain.initial_block_download() {
        return Err(RpcError::new(
            code::CLIENT_IN_INITIAL_DOWNLOAD,
            "Can only import the mempool after the block download and sync is done.",
        ));
    }
    let path = std::path::PathBuf::from(arg::string(&args, 0).unwrap_or_default());
    let relative = if path.is_absolute() {
        path.strip_prefix(&ctx.net_dir)
            .map(|p| p.to_path_buf())
            .ok()
    } else {
        Some(path.clone())
    };
    let Some(name) = relative.and_then(|p| p.to_str().map(str::to_string)) else {
        return Err(RpcError::new(
            code::MISC_ERROR,
            format!(
                "Unable to import mempool file: this node's sandbox reads mempool files from {} only",
                ctx.net_dir.display()
            ),
        ));
    };
    let options = arg::opt(&args, 1).cloned().unwrap_or(Value::Null);
    let flag = |key: &str, default: bool| -> Result<bool, RpcError> {
        match options.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(super::type_error(v, "bool")),
        }
    };
    let opts = crate::mempool::ImportOptions {
        use_current_time: flag("use_current_time", true)?,
        apply_fee_delta: flag("apply_fee_delta_priority", false)?,
        apply_unbroadcast: flag("apply_unbroadcast_set", false)?,
    };
    let Some(broker) = &ctx.broker else {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "Unable to import mempool file, see debug log for details.",
        ));
    };
    if !crate::node::mempool_file::import(broker, &ctx.chain, &ctx.mempool, &name, opts).await {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "Unable to import mempool file, see debug log for details.",
        ));
    }
    Ok(json!({}))
}

/// Core's IsChildWithParentsTree: the last transaction spends from every
/// other one, and none of the others spends from another.
fn child_with_parents(txs: &[Arc<Transaction>]) -> bool {
    let Some((child, parents)) = txs.split_last() else {
        return false;
    };
    let ids: BTreeSet<Txid> = parents.iter().map(|t| t.compute_txid()).collect();
    let spent: BTreeSet<Txid> = child.input.iter().map(|i| i.previous_output.txid).collect();
    ids.iter().all(|p| spent.contains(p))
        && parents.iter().all(|p| {
            p.input
                .iter()
                .all(|i| !ids.contains(&i.previous_output.txid))
        })
}

/// Core's submitpackage for child-with-parents packages.
async fn submitpackage(ctx: Rc<NodeCtx>, args: Vec<Value>) -> Result<Value, RpcError> {
    let raw = package_arg(&args)?;
    // 0 means no limit, as in Core.
    let max_rate = Some(max_fee_rate(&args, 1)?).filter(|r| r.0 != 0);
    let max_burn = match arg::opt(&args, 2) {
        Some(v) => amount_from_value(v)?,
        None => 0,
    };
    let mut txs = Vec::with_capacity(raw.len());
    for tx in decode_list(&raw)? {
        for out in &tx.output {
            if policy::is_unspendable(&out.script_pubkey) && policy::signed_value(out) > max_burn {
                return Err(RpcError::new(
                    code::VERIFY_ERROR,
                    "Unspendable output exceeds maximum configured by user (maxburnamount)",
                ));
            }
        }
        txs.push(Arc::new(tx));
    }
    if txs.len() > 1 && !child_with_parents(&txs) {
        return Err(RpcError::new(
            code::VERIFY_ERROR,
            "package topology disallowed. not child-with-parents or parents depend on each other.",
        ));
    }
    let (chain, mempool, batch) = (ctx.chain.clone(), ctx.mempool.clone(), txs.clone());
    let result =
        tokio::task::spawn_blocking(move || mempool.submit_package(&chain, &batch, max_rate, true))
            .await
            .map_err(internal)?;
    let package_msg = result
        .error
        .as_ref()
        .map_or_else(|| "success".to_string(), PackageError::to_string);
    let mut map = Map::new();
    let mut replaced = BTreeSet::new();
    for (tx, r) in txs.iter().zip(&result.txs) {
        let mut o = Map::new();
        o.insert("txid".into(), tx.compute_txid().to_string().into());
        match r {
            None => {
                o.insert("error".into(), "package-not-validated".into());
            }
            Some(PackageTx::InMempool {
                other_wtxid: Some(w),
                ..
            }) => {
                o.insert("other-wtxid".into(), w.to_string().into());
            }
            Some(PackageTx::InMempool { vsize, fee, .. }) => {
                sizes_and_fees(&mut o, tx, (*vsize, *fee), None);
            }
            Some(PackageTx::Accepted {
                accepted,
                feerate,
                includes,
            }) => {
                replaced.extend(accepted.replaced.iter().copied());
                sizes_and_fees(
                    &mut o,
                    tx,
                    (accepted.vsize, accepted.base_fee),
                    Some((*feerate, includes)),
                );
            }
            Some(PackageTx::Failed(r)) => {
                o.insert("error".into(), r.to_string().into());
            }
        }
        map.insert(tx.compute_wtxid().to_string(), Value::Object(o));
    }
    // New entries are announced by the relay; ones already there again.
    if let Some(net) = &ctx.net {
        for (tx, result) in txs.iter().zip(&result.txs) {
            if matches!(result, Some(PackageTx::InMempool { .. })) {
                net.announce_tx(tx.compute_txid());
            }
        }
    }
    let replaced: Vec<Value> = replaced
        .iter()
        .map(|t| Value::from(t.to_string()))
        .collect();
    Ok(json!({
        "package_msg": package_msg,
        "tx-results": map,
        "replaced-transactions": replaced,
    }))
}
