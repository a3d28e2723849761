//! net/orphanage: transactions waiting for their parents, with the peers
//! that announced them, bounded as Core's TxOrphanage (Core 30): a
//! transaction heavier than a standard one is not kept; the whole may use
//! a latency score of 3000 (one per announcement, one more per ten inputs
//! of each orphan) and 404,000 weight units per announcing peer; past
//! either, the oldest announcements of the peer with the highest share of
//! its allowance (latency score over 3000 split among the announcing
//! peers, weight over 404,000; ties: the newest peer) go first.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use bitcoin::hashes::Hash;
use bitcoin::{Transaction, Txid, Wtxid};

/// Core's DEFAULT_MAX_ORPHANAGE_LATENCY_SCORE.
const MAX_LATENCY_SCORE: u64 = 3000;
/// Core's DEFAULT_RESERVED_ORPHAN_WEIGHT_PER_PEER.
const RESERVED_WEIGHT_PER_PEER: u64 = 404_000;
/// Core's MAX_STANDARD_TX_WEIGHT: heavier orphans are not kept.
const MAX_ORPHAN_WEIGHT: u64 = 400_000;

/// One orphan and the peers that announced it, first announcer first.
pub struct Orphan {
    pub tx: Arc<Transaction>,
    pub from: Vec<u64>,
    /// When each of `from` announced it (the orphanage's sequence).
    announced: Vec<u64>,
}

impl Orphan {
    /// Core's Announcement::GetLatencyScore.
    fn latency_score(&self) -> u64 {
        1 + self.tx.input.len() as u64 / 10
    }

    fn weight(&self) -> u64 {
        self.tx.weight().to_wu()
    }
}

/// The orphans by wtxid, oldest first.
#[derive(Default)]
pub struct Orphanage {
    list: Vec<(Wtxid, Orphan)>,
    /// The next announcement's sequence number.
    sequence: u64,
}

impl Orphanage {
    /// `peer` sent or announced `tx`: kept (or one more announcer), then
    /// the orphanage is trimmed to its limits.
    pub fn add(&mut self, tx: Arc<Transaction>, peer: u64) {
        let wtxid = tx.compute_wtxid();
        let sequence = self.sequence;
        if let Some((_, o)) = self.list.iter_mut().find(|(w, _)| *w == wtxid) {
            if o.from.contains(&peer) {
                return;
            }
            o.from.push(peer);
            o.announced.push(sequence);
        } else {
            if tx.weight().to_wu() > MAX_ORPHAN_WEIGHT {
                tracing::debug!(target: "txpackages", "ignoring large orphan tx (size: {}, txid: {}, wtxid: {wtxid})", tx.weight().to_wu(), tx.compute_txid());
                return;
            }
            self.list.push((
                wtxid,
                Orphan {
                    tx,
                    from: vec![peer],
                    announced: vec![sequence],
                },
            ));
        }
        self.sequence += 1;
        self.limit();
    }

    /// Whether an orphan has this wtxid (a txid asked about here stands
    /// for a transaction without witnesses, as Core: never a txid match,
    /// which another witness could fake).
    pub fn has(&self, wtxid: &[u8; 32]) -> bool {
        self.list.iter().any(|(w, _)| w.as_byte_array() == wtxid)
    }

    /// The orphan with this wtxid.
    pub fn get(&self, wtxid: &[u8; 32]) -> Option<Arc<Transaction>> {
        self.list
            .iter()
            .find(|(w, _)| w.as_byte_array() == wtxid)
            .map(|(_, o)| o.tx.clone())
    }

    /// Takes out the orphans that spend an output of `parent`.
    pub fn children_of(&mut self, parent: &Txid) -> Vec<Orphan> {
        let (children, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.list)
            .into_iter()
            .partition(|(_, o)| o.tx.input.iter().any(|i| i.previous_output.txid == *parent));
        self.list = rest;
        children.into_iter().map(|(_, o)| o).collect()
    }

    pub fn all(&self) -> impl Iterator<Item = &Orphan> {
        self.list.iter().map(|(_, o)| o)
    }

    /// Core's EraseForPeer: `peer` is gone; an orphan nobody else
    /// announced goes with it.
    pub fn erase_for_peer(&mut self, peer: u64) {
        for (_, o) in self.list.iter_mut() {
            remove_announcer(o, peer);
        }
        self.list.retain(|(_, o)| !o.from.is_empty());
    }

    /// Core's EraseForBlock: orphans the block's transactions include or
    /// conflict with (spend a coin they spend) go; how many went.
    pub fn erase_for_block(&mut self, block: &bitcoin::Block) -> usize {
        let spent: HashSet<bitcoin::OutPoint> = block
            .txdata
            .iter()
            .flat_map(|tx| tx.input.iter().map(|i| i.previous_output))
            .collect();
        let before = self.list.len();
        self.list.retain(|(_, o)| {
            !o.tx
                .input
                .iter()
                .any(|i| spent.contains(&i.previous_output))
        });
        before - self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Core's LimitOrphans: while over the global latency score or weight,
    /// the oldest announcement of the peer using most of its allowance
    /// goes (an orphan with no announcer left goes with it).
    fn limit(&mut self) {
        loop {
            let usage = self.usage_by_peer();
            let peers = usage.len().max(1) as u64;
            let total_latency: u64 = self
                .list
                .iter()
                .map(|(_, o)| o.latency_score() - 1 + o.from.len() as u64)
                .sum();
            let total_weight: u64 = self.list.iter().map(|(_, o)| o.weight()).sum();
            if total_latency <= MAX_LATENCY_SCORE
                && total_weight <= RESERVED_WEIGHT_PER_PEER * peers
            {
                return;
            }
            let max_latency = (MAX_LATENCY_SCORE / peers).max(1);
            // The DoS score: the larger of the two shares, as a fraction
            // compared by cross-multiplication.
            let score = |(latency, weight): (u64, u64)| {
                if latency * RESERVED_WEIGHT_PER_PEER >= weight * max_latency {
                    (latency, max_latency)
                } else {
                    (weight, RESERVED_WEIGHT_PER_PEER)
                }
            };
            let Some((&worst, _)) = usage.iter().max_by(|(a, ua), (b, ub)| {
                let ((na, da), (nb, db)) = (score(**ua), score(**ub));
                (u128::from(na) * u128::from(db))
                    .cmp(&(u128::from(nb) * u128::from(da)))
                    .then(a.cmp(b))
            }) else {
                return;
            };
            let Some(oldest) = self
                .list
                .iter()
                .filter_map(|(w, o)| {
                    let i = o.from.iter().position(|p| *p == worst)?;
                    Some((o.announced[i], *w))
                })
                .min()
                .map(|(_, w)| w)
            else {
                return;
            };
            tracing::debug!(target: "txpackages", "peer={worst} orphanage overflow, removed 1 announcement of {oldest}");
            if let Some((_, o)) = self.list.iter_mut().find(|(w, _)| *w == oldest) {
                remove_announcer(o, worst);
            }
            self.list.retain(|(_, o)| !o.from.is_empty());
        }
    }

    /// Each announcing peer's latency score and weight.
    fn usage_by_peer(&self) -> HashMap<u64, (u64, u64)> {
        let mut usage: HashMap<u64, (u64, u64)> = HashMap::new();
        for (_, o) in &self.list {
            for peer in &o.from {
                let u = usage.entry(*peer).or_default();
                u.0 += o.latency_score();
                u.1 += o.weight();
            }
        }
        usage
    }
}

fn remove_announcer(o: &mut Orphan, peer: u64) {
    if let Some(i) = o.from.iter().position(|p| *p == peer) {
        o.from.remove(i);
        o.announced.remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orphan(n: u32, inputs: usize) -> Arc<Transaction> {
        let input = (0..inputs)
            .map(|i| bitcoin::TxIn {
                previous_output: bitcoin::OutPoint::new(Txid::from_byte_array([7; 32]), i as u32),
                ..Default::default()
            })
            .collect();
        Arc::new(Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::from_consensus(n),
            input,
            output: vec![bitcoin::TxOut {
                value: bitcoin::Amount::from_sat(1000),
                script_pubkey: bitcoin::ScriptBuf::new(),
            }],
        })
    }

    #[test]
    fn the_orphanage_keeps_thousands_and_trims_the_peer_using_most_of_its_share() {
        let mut o = Orphanage::default();
        // Core's old limit of 100 is gone: one peer's 1600 small orphans
        // stay (1600 of 3000 latency, 384,000 of 404,000 weight).
        for n in 0..1600 {
            o.add(orphan(n, 1), 1);
        }
        assert_eq!(o.all().count(), 1600);
        // A second peer's orphans: now each peer may use 1500; peer 1 is
        // over it and loses its oldest first once the total passes 3000.
        for n in 10_000..11_500 {
            o.add(orphan(n, 1), 2);
        }
        assert_eq!(o.all().count(), 3000);
        assert_eq!(o.all().filter(|x| x.from == [2]).count(), 1500);
        let kept_of_1: Vec<u32> = o
            .all()
            .filter(|x| x.from == [1])
            .map(|x| x.tx.lock_time.to_consensus_u32())
            .collect();
        assert_eq!(kept_of_1.len(), 1500);
        assert_eq!(kept_of_1.first(), Some(&100), "the oldest went first");
        // An announcement of an orphan another peer sent costs one more:
        // peer 1 is over its share again and loses its oldest.
        o.add(orphan(10_000, 1), 1);
        assert_eq!(o.all().count(), 3000 - 1);
        assert!(!o.all().any(|x| x.tx.lock_time.to_consensus_u32() == 100));
        // Ten inputs count one more each, and the gone peer's orphans go.
        o.erase_for_peer(1);
        assert_eq!(o.all().count(), 1500);
        assert!(o.all().all(|x| x.from == [2]));
        o.add(orphan(20_000, 25), 3);
        assert_eq!(
            o.all()
                .map(|x| x.latency_score() - 1 + x.from.len() as u64)
                .sum::<u64>(),
            1503
        );
    }
}
