//! mempool/linearize: the order in which a cluster's transactions would be
//! mined, split into chunks of falling feerate (Core's cluster mempool
//! idea), and block template selection from those chunks. The linearization
//! is the greedy one: repeatedly take the remaining transaction whose
//! remaining ancestor set has the highest feerate, together with that set;
//! then merge neighbouring sets whose feerate rises into one chunk. Core
//! searches for an optimal linearization on top of this; ours is what its
//! ancestor-set mining did, and is exact for chains and single parents.

use std::collections::{BTreeSet, HashSet};

use bitcoin::Txid;

use super::pool::Pool;

/// A chunk: transactions mined together, in topological order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub txs: Vec<Txid>,
    /// Sum of modified fees.
    pub fee: i64,
    /// Sum of sigops-adjusted weights.
    pub weight: i64,
}

impl Chunk {
    /// Whether `self` pays a higher feerate than `other` (fee/weight).
    fn better_than(&self, other: &Chunk) -> bool {
        (self.fee as i128) * (other.weight as i128) > (other.fee as i128) * (self.weight as i128)
    }
}

/// The chunks of the cluster of `txid`, best first.
pub fn cluster_chunks(pool: &Pool, cluster: &BTreeSet<Txid>, bytes_per_sigop: i64) -> Vec<Chunk> {
    let mut left: BTreeSet<Txid> = cluster.clone();
    let mut sets: Vec<Chunk> = Vec::new();
    while !left.is_empty() {
        let mut best: Option<Chunk> = None;
        for t in &left {
            let mut set: Vec<Txid> = pool
                .ancestors(t)
                .into_iter()
                .filter(|a| left.contains(a))
                .collect();
            set.push(*t);
            let chunk = make_chunk(pool, set, bytes_per_sigop);
            if best.as_ref().is_none_or(|b| chunk.better_than(b)) {
                best = Some(chunk);
            }
        }
        let Some(chosen) = best else { break };
        for t in &chosen.txs {
            left.remove(t);
        }
        sets.push(chosen);
    }
    // Chunking: a set that pays more than the one before it joins it.
    let mut chunks: Vec<Chunk> = Vec::new();
    for set in sets {
        let mut cur = set;
        while let Some(prev) = chunks.last() {
            if !cur.better_than(prev) {
                break;
            }
            let mut prev = chunks.pop().expect("checked");
            prev.txs.extend(cur.txs);
            prev.fee += cur.fee;
            prev.weight += cur.weight;
            cur = prev;
        }
        chunks.push(cur);
    }
    chunks
}

/// A chunk of `txs` (an ancestor-closed set) put in topological order.
fn make_chunk(pool: &Pool, mut txs: Vec<Txid>, bytes_per_sigop: i64) -> Chunk {
    txs.sort_by_cached_key(|t| pool.get(t).map(|e| pool.topological_key(e)));
    let (mut fee, mut weight) = (0, 0);
    for t in &txs {
        if let Some(e) = pool.get(t) {
            fee += pool.modified_fee(e);
            weight += e.adjusted_weight(bytes_per_sigop);
        }
    }
    Chunk { txs, fee, weight }
}

/// The chunk holding `txid`: (fee, weight).
pub fn chunk_of(pool: &Pool, txid: &Txid, bytes_per_sigop: i64) -> (i64, i64) {
    cluster_chunks(pool, &pool.cluster(txid), bytes_per_sigop)
        .into_iter()
        .find(|c| c.txs.contains(txid))
        .map(|c| (c.fee, c.weight))
        .unwrap_or((0, 0))
}

/// What goes into a block: chunks of every cluster by falling feerate while
/// they fit in `max_weight` and `max_sigops`, none below `min_feerate`
/// (sat/kvB). A chunk that does not fit closes its cluster (later chunks
/// may depend on it). Returns txids in an order valid for a block.
pub fn select_for_block(
    pool: &Pool,
    max_weight: i64,
    max_sigops: i64,
    min_feerate: i64,
    bytes_per_sigop: i64,
) -> Vec<Txid> {
    let mut seen: HashSet<Txid> = HashSet::new();
    // (cluster index, position in cluster, chunk)
    let mut all: Vec<(usize, usize, Chunk)> = Vec::new();
    let mut cluster_ix = 0;
    for e in pool.entries_in_order() {
        if seen.contains(&e.txid) {
            continue;
        }
        let cluster = pool.cluster(&e.txid);
        seen.extend(cluster.iter().copied());
        for (pos, chunk) in cluster_chunks(pool, &cluster, bytes_per_sigop)
            .into_iter()
            .enumerate()
        {
            all.push((cluster_ix, pos, chunk));
        }
        cluster_ix += 1;
    }
    // Best feerate first; within a cluster the chunk order stays.
    all.sort_by(|a, b| {
        let (x, y) = (&a.2, &b.2);
        let lhs = (y.fee as i128) * (x.weight as i128);
        let rhs = (x.fee as i128) * (y.weight as i128);
        lhs.cmp(&rhs).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1))
    });
    let mut closed: HashSet<usize> = HashSet::new();
    let (mut weight, mut sigops) = (0i64, 0i64);
    let mut out = Vec::new();
    for (cluster, _, chunk) in all {
        if closed.contains(&cluster) {
            continue;
        }
        // Core's blockmintxfee compares the chunk feerate per vbyte.
        let vsize = (chunk.weight + 3) / 4;
        if (chunk.fee as i128) * 1000 < (min_feerate as i128) * (vsize as i128) {
            closed.insert(cluster);
            continue;
        }
        let chunk_sigops: i64 = chunk
            .txs
            .iter()
            .filter_map(|t| pool.get(t))
            .map(|e| e.sigop_cost)
            .sum();
        let chunk_weight: i64 = chunk
            .txs
            .iter()
            .filter_map(|t| pool.get(t))
            .map(|e| e.weight)
            .sum();
        if weight + chunk_weight > max_weight || sigops + chunk_sigops > max_sigops {
            closed.insert(cluster);
            continue;
        }
        weight += chunk_weight;
        sigops += chunk_sigops;
        out.extend(chunk.txs);
    }
    out
}
