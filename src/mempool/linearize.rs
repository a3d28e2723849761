//! mempool/linearize: the order in which a cluster's transactions would be
//! mined, split into chunks of falling feerate (Core's cluster mempool
//! idea), and block template selection from those chunks. The linearization
//! is the greedy one: repeatedly take the remaining transaction whose
//! remaining ancestor set has the highest feerate, together with that set;
//! then merge neighbouring sets whose feerate rises into one chunk. Core
//! searches for an optimal linearization on top of this; ours is what its
//! ancestor-set mining did, and is exact for chains and single parents.

use std::collections::{BTreeSet, HashMap, HashSet};

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

/// One cluster member as the linearization needs it, looked up once.
struct Member {
    txid: Txid,
    /// Indices (into the cluster's members) of its in-mempool ancestors.
    ancestors: Vec<usize>,
    fee: i64,
    weight: i64,
    /// Topological order: ancestor count, then entry sequence.
    order: (usize, u64),
}

/// The chunks of `cluster` (a whole cluster of the pool), best first.
pub fn cluster_chunks(pool: &Pool, cluster: &BTreeSet<Txid>, bytes_per_sigop: i64) -> Vec<Chunk> {
    let index: HashMap<Txid, usize> = cluster.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let members: Vec<Member> = cluster
        .iter()
        .map(|t| {
            let ancestors = pool.ancestors(t);
            let (fee, weight, sequence) = pool.get(t).map_or((0, 0, 0), |e| {
                (
                    pool.modified_fee(e),
                    e.adjusted_weight(bytes_per_sigop),
                    e.sequence,
                )
            });
            Member {
                txid: *t,
                order: (ancestors.len(), sequence),
                ancestors: ancestors
                    .iter()
                    .filter_map(|a| index.get(a).copied())
                    .collect(),
                fee,
                weight,
            }
        })
        .collect();
    let mut left = vec![true; members.len()];
    let mut remaining = members.len();
    let mut sets: Vec<Chunk> = Vec::new();
    while remaining > 0 {
        // The remaining transaction whose remaining ancestor set pays best
        // (ties: the lowest txid, the cluster's order).
        let mut best: Option<(usize, i64, i64)> = None;
        for (i, m) in members.iter().enumerate().filter(|(i, _)| left[*i]) {
            let (mut fee, mut weight) = (m.fee, m.weight);
            for &a in m.ancestors.iter().filter(|a| left[**a]) {
                fee += members[a].fee;
                weight += members[a].weight;
            }
            let better = best.is_none_or(|(_, bf, bw)| {
                (fee as i128) * (bw as i128) > (bf as i128) * (weight as i128)
            });
            if better {
                best = Some((i, fee, weight));
            }
        }
        let Some((chosen, fee, weight)) = best else {
            break;
        };
        let mut set: Vec<usize> = members[chosen]
            .ancestors
            .iter()
            .copied()
            .filter(|a| left[*a])
            .chain(std::iter::once(chosen))
            .collect();
        set.sort_by_key(|i| members[*i].order);
        for i in &set {
            left[*i] = false;
        }
        remaining -= set.len();
        sets.push(Chunk {
            txs: set.iter().map(|i| members[*i].txid).collect(),
            fee,
            weight,
        });
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

/// The chunk holding `txid`: (fee, weight).
pub fn chunk_of(pool: &Pool, txid: &Txid, bytes_per_sigop: i64) -> (i64, i64) {
    cluster_chunks(pool, &pool.cluster(txid), bytes_per_sigop)
        .into_iter()
        .find(|c| c.txs.contains(txid))
        .map(|c| (c.fee, c.weight))
        .unwrap_or((0, 0))
}

/// Every cluster's chunks, best feerate first; a cluster's chunks keep
/// their order. Each with its cluster's index.
fn mempool_chunks(pool: &Pool, bytes_per_sigop: i64) -> Vec<(usize, Chunk)> {
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
    all.sort_by(|a, b| {
        let (x, y) = (&a.2, &b.2);
        let lhs = (y.fee as i128) * (x.weight as i128);
        let rhs = (x.fee as i128) * (y.weight as i128);
        lhs.cmp(&rhs).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1))
    });
    all.into_iter().map(|(c, _, chunk)| (c, chunk)).collect()
}

/// Core's GetFeerateDiagram: from (0, 0), the running totals of
/// sigop-adjusted weight and modified fee after each chunk, in mining
/// order (getmempoolfeeratediagram).
pub fn feerate_diagram(pool: &Pool, bytes_per_sigop: i64) -> Vec<(i64, i64)> {
    let mut out = vec![(0, 0)];
    for (_, chunk) in mempool_chunks(pool, bytes_per_sigop) {
        let (weight, fee) = out[out.len() - 1];
        out.push((weight + chunk.weight, fee + chunk.fee));
    }
    out
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
    let all = mempool_chunks(pool, bytes_per_sigop);
    let mut closed: HashSet<usize> = HashSet::new();
    let (mut weight, mut sigops) = (0i64, 0i64);
    let mut out = Vec::new();
    for (cluster, chunk) in all {
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
