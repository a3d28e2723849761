//! getblockstats: Core's per-block statistics (fees and fee rates from the
//! block's undo data, sizes, weights, segwit share, UTXO set growth), all of
//! them or the selected ones.

use std::collections::BTreeSet;

use bitcoin::consensus::encode::serialize;
use bitcoin::{Block, TxOut};
use serde_json::{json, Map, Value};

use super::{arg, internal, Handler::Sync, Method, NodeCtx, Ty};
use crate::chain::assemble::{halving_interval, subsidy};
use crate::chain::BlockInfo;
use crate::rpc::protocol::code;
use crate::rpc::RpcError;

/// Core's PER_UTXO_OVERHEAD: an outpoint and a height/coinbase word.
const PER_UTXO_OVERHEAD: i64 = 36 + 4;

pub fn methods() -> Vec<Method> {
    vec![Method {
        name: "getblockstats",
        category: "Blockchain",
        args: &[("hash_or_height", Ty::NumOrStr, true), ("stats", Ty::Arr, false)],
        summary: "Compute per block statistics for a given window. All amounts are in satoshis.\nIt won't work for some heights with pruning.",
        handler: Sync(getblockstats),
        hidden: false,
    }]
}

/// Core's ParseHashOrHeight.
fn block_by_hash_or_height(
    ctx: &NodeCtx,
    v: &Value,
    args: &[Value],
    i: usize,
) -> Result<BlockInfo, RpcError> {
    if let Some(height) = v.as_i64() {
        let tip = ctx.chain.tip().height;
        if height < 0 {
            return Err(RpcError::new(
                code::INVALID_PARAMETER,
                format!("Target block height {height} is negative"),
            ));
        }
        if height > i64::from(tip) {
            return Err(RpcError::new(
                code::INVALID_PARAMETER,
                format!("Target block height {height} after current tip {tip}"),
            ));
        }
        return ctx
            .chain
            .block_at(height as i32)
            .ok_or_else(|| internal("active chain shorter than its tip"));
    }
    let hash: bitcoin::BlockHash = arg::hash(args, i, "hash_or_height")?;
    ctx.chain
        .block_info(&hash)
        .ok_or_else(|| RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found"))
}

fn out_size(o: &TxOut) -> i64 {
    serialize(o).len() as i64 + PER_UTXO_OVERHEAD
}

/// Core's CalculateTruncatedMedian.
fn truncated_median(mut v: Vec<i64>) -> i64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let n = v.len();
    if n.is_multiple_of(2) {
        (v[n / 2 - 1] + v[n / 2]) / 2
    } else {
        v[n / 2]
    }
}

/// Core's CalculatePercentilesByWeight: the 10/25/50/75/90th percentile fee
/// rates by weight.
fn percentiles(mut scores: Vec<(i64, i64)>, total_weight: i64) -> [i64; 5] {
    let mut out = [0; 5];
    if scores.is_empty() {
        return out;
    }
    scores.sort_unstable();
    let w = total_weight as f64;
    let marks = [w / 10.0, w / 4.0, w / 2.0, w * 3.0 / 4.0, w * 9.0 / 10.0];
    let mut next = 0;
    let mut cumulative = 0;
    for (rate, weight) in &scores {
        cumulative += weight;
        while next < 5 && cumulative as f64 >= marks[next] {
            out[next] = *rate;
            next += 1;
        }
    }
    let last = scores[scores.len() - 1].0;
    for o in out.iter_mut().skip(next) {
        *o = last;
    }
    out
}

/// Every statistic of `block` (spent: its undo data) in Core's order.
fn all_stats(
    ctx: &NodeCtx,
    info: &BlockInfo,
    block: &Block,
    spent: &[Vec<TxOut>],
) -> Map<String, Value> {
    let (mut ins, mut outs, mut utxos) = (0i64, 0i64, 0i64);
    let (mut total_out, mut total_size, mut total_weight, mut totalfee) = (0i64, 0i64, 0i64, 0i64);
    let (mut swtxs, mut swtotal_size, mut swtotal_weight) = (0i64, 0i64, 0i64);
    let (mut utxo_size_inc, mut utxo_size_inc_actual) = (0i64, 0i64);
    let (mut maxfee, mut minfee, mut maxfeerate, mut minfeerate) = (0i64, i64::MAX, 0i64, i64::MAX);
    let (mut maxtxsize, mut mintxsize) = (0i64, i64::MAX);
    let (mut fees, mut sizes, mut rates) = (Vec::new(), Vec::new(), Vec::new());
    for (i, tx) in block.txdata.iter().enumerate() {
        outs += tx.output.len() as i64;
        let mut tx_out = 0i64;
        for o in &tx.output {
            tx_out += o.value.to_sat() as i64;
            utxo_size_inc += out_size(o);
            // Genesis outputs and unspendable ones never enter the UTXO set.
            if info.height == 0 || o.script_pubkey.is_op_return() || o.script_pubkey.len() > 10_000
            {
                continue;
            }
            utxos += 1;
            utxo_size_inc_actual += out_size(o);
        }
        if tx.is_coinbase() {
            continue;
        }
        ins += tx.input.len() as i64;
        total_out += tx_out;
        let size = tx.total_size() as i64;
        sizes.push(size);
        maxtxsize = maxtxsize.max(size);
        mintxsize = mintxsize.min(size);
        total_size += size;
        let weight = tx.weight().to_wu() as i64;
        total_weight += weight;
        if tx.input.iter().any(|i| !i.witness.is_empty()) {
            swtxs += 1;
            swtotal_size += size;
            swtotal_weight += weight;
        }
        let mut tx_in = 0i64;
        for prev in spent.get(i - 1).map(Vec::as_slice).unwrap_or(&[]) {
            tx_in += prev.value.to_sat() as i64;
            utxo_size_inc -= out_size(prev);
            utxo_size_inc_actual -= out_size(prev);
        }
        let fee = tx_in - tx_out;
        fees.push(fee);
        maxfee = maxfee.max(fee);
        minfee = minfee.min(fee);
        totalfee += fee;
        // sat/vB: fee * 4 / weight.
        let rate = if weight > 0 { fee * 4 / weight } else { 0 };
        rates.push((rate, weight));
        maxfeerate = maxfeerate.max(rate);
        minfeerate = minfeerate.min(rate);
    }
    let txs = block.txdata.len() as i64;
    let others = txs - 1;
    let mtp = ctx
        .chain
        .median_time_past(&info.hash)
        .unwrap_or(info.header.time);
    let reward = subsidy(info.height as u32, halving_interval(ctx.chain.network()));
    let v = json!({
        "avgfee": if others > 0 { totalfee / others } else { 0 },
        "avgfeerate": if total_weight > 0 { totalfee * 4 / total_weight } else { 0 },
        "avgtxsize": if others > 0 { total_size / others } else { 0 },
        "blockhash": info.hash.to_string(),
        "feerate_percentiles": percentiles(rates, total_weight),
        "height": info.height,
        "ins": ins,
        "maxfee": maxfee,
        "maxfeerate": maxfeerate,
        "maxtxsize": maxtxsize,
        "medianfee": truncated_median(fees),
        "mediantime": mtp,
        "mediantxsize": truncated_median(sizes),
        "minfee": if minfee == i64::MAX { 0 } else { minfee },
        "minfeerate": if minfeerate == i64::MAX { 0 } else { minfeerate },
        "mintxsize": if mintxsize == i64::MAX { 0 } else { mintxsize },
        "outs": outs,
        "subsidy": reward.to_sat(),
        "swtotal_size": swtotal_size,
        "swtotal_weight": swtotal_weight,
        "swtxs": swtxs,
        "time": info.header.time,
        "total_out": total_out,
        "total_size": total_size,
        "total_weight": total_weight,
        "totalfee": totalfee,
        "txs": txs,
        "utxo_increase": outs - ins,
        "utxo_size_inc": utxo_size_inc,
        "utxo_increase_actual": utxos - ins,
        "utxo_size_inc_actual": utxo_size_inc_actual,
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn getblockstats(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let target = arg::opt(args, 0).cloned().unwrap_or(Value::Null);
    let info = block_by_hash_or_height(ctx, &target, args, 0)?;
    let mut selected = BTreeSet::new();
    for s in arg::opt(args, 1)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = s.as_str().ok_or_else(|| {
            RpcError::new(code::TYPE_ERROR, "JSON value is not a string as expected")
        })?;
        selected.insert(name.to_string());
    }
    let block = ctx
        .chain
        .read_block(&info.hash)
        .map_err(|_| super::block_unreadable(&ctx.chain, &info))?;
    let spent = if info.height == 0 {
        Vec::new()
    } else {
        ctx.chain
            .spent_outputs(&info.hash)
            .map_err(|_| RpcError::new(code::MISC_ERROR, "Can't read undo data from disk"))?
    };
    let all = all_stats(ctx, &info, &block, &spent);
    if selected.is_empty() {
        return Ok(Value::Object(all));
    }
    let mut out = Map::new();
    for name in selected {
        let Some(v) = all.get(&name) else {
            return Err(RpcError::new(
                code::INVALID_PARAMETER,
                format!("Invalid selected statistic '{name}'"),
            ));
        };
        out.insert(name, v.clone());
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_percentiles_follow_cores_arithmetic() {
        assert_eq!(truncated_median(vec![]), 0);
        assert_eq!(truncated_median(vec![5, 1, 3]), 3);
        assert_eq!(truncated_median(vec![4, 1, 3, 2]), 2);
        assert_eq!(percentiles(vec![], 0), [0; 5]);
        // Two transactions of equal weight: the cheaper covers the first half.
        assert_eq!(
            percentiles(vec![(10, 100), (2, 100)], 200),
            [2, 2, 2, 10, 10]
        );
    }
}
