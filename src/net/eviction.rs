//! net/eviction: which inbound peer makes room for a new one, as Core's
//! SelectNodeToEvict. Outbound and noban peers are never chosen; then
//! protected are 4 peers by network group (keyed, so an attacker cannot
//! aim at it), the 8 with the lowest ping, the 4 that last sent us new
//! transactions, up to 8 non-transaction peers that last sent us blocks,
//! the 4 that last sent us blocks, and half of the rest by uptime (up to a
//! quarter kept for localhost, Tor, I2P and CJDNS peers, which are slower
//! by nature). Of what is left, the youngest peer of the network group
//! with the most peers goes. The same choice, among peers that relay
//! transactions only, keeps those within `-inboundrelaypercent` of the
//! inbound slots (Core's EvictTxPeerIfFull).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::hash::BuildHasher;

use super::netaddr::Network;
use super::{outbound, permissions, ConnType, Net, Peer};

/// What eviction looks at of one peer (Core's NodeEvictionCandidate).
#[derive(Clone, Debug)]
pub struct Candidate {
    pub id: u64,
    /// When it connected (seconds).
    pub connected: i64,
    /// Its best ping round trip in microseconds (i64::MAX: none yet).
    pub min_ping_us: i64,
    /// When it last sent a new block / a transaction we took (0: never).
    pub last_block_time: i64,
    pub last_tx_time: i64,
    /// It offers the services we want from peers.
    pub relevant_services: bool,
    /// It asked for transactions.
    pub relay_txs: bool,
    /// It loaded a BIP37 bloom filter.
    pub bloom_filter: bool,
    /// Its network group, hashed with a key of ours.
    pub keyed_net_group: u64,
    pub is_local: bool,
    pub network: Network,
    pub noban: bool,
    pub conn_type: ConnType,
}

/// Sorts `v` by `cmp` and drops (protects) up to `k` of the last ones for
/// which `pred` holds (Core's EraseLastKElements).
fn erase_last_k(
    v: &mut Vec<Candidate>,
    cmp: impl Fn(&Candidate, &Candidate) -> Ordering,
    k: usize,
    pred: impl Fn(&Candidate) -> bool,
) {
    v.sort_by(&cmp);
    let start = v.len() - k.min(v.len());
    let mut i = start;
    let mut kept = v[..start].to_vec();
    while i < v.len() {
        if !pred(&v[i]) {
            kept.push(v[i].clone());
        }
        i += 1;
    }
    *v = kept;
}

/// Orderings in Core's eviction.cpp: the ones most worth keeping last.
fn by_net_group(a: &Candidate, b: &Candidate) -> Ordering {
    a.keyed_net_group.cmp(&b.keyed_net_group)
}

fn by_reverse_min_ping(a: &Candidate, b: &Candidate) -> Ordering {
    b.min_ping_us.cmp(&a.min_ping_us)
}

fn by_reverse_connected(a: &Candidate, b: &Candidate) -> Ordering {
    b.connected.cmp(&a.connected)
}

fn by_tx_time(a: &Candidate, b: &Candidate) -> Ordering {
    a.last_tx_time
        .cmp(&b.last_tx_time)
        .then(a.relay_txs.cmp(&b.relay_txs))
        // Core: a peer with a bloom filter is less worth keeping.
        .then(b.bloom_filter.cmp(&a.bloom_filter))
        .then(b.connected.cmp(&a.connected))
}

fn by_block_relay_only_time(a: &Candidate, b: &Candidate) -> Ordering {
    // Transaction-relaying peers first (less worth keeping here).
    b.relay_txs
        .cmp(&a.relay_txs)
        .then(a.last_block_time.cmp(&b.last_block_time))
        .then(a.relevant_services.cmp(&b.relevant_services))
        .then(b.connected.cmp(&a.connected))
}

fn by_block_time(a: &Candidate, b: &Candidate) -> Ordering {
    a.last_block_time
        .cmp(&b.last_block_time)
        .then(a.relevant_services.cmp(&b.relevant_services))
        .then(b.connected.cmp(&a.connected))
}

/// A disadvantaged network (or localhost) whose peers get protected slots.
#[derive(Clone, Copy)]
struct Disadvantaged {
    is_local: bool,
    network: Network,
    count: usize,
}

impl Disadvantaged {
    fn holds(&self, c: &Candidate) -> bool {
        if self.is_local {
            c.is_local
        } else {
            c.network == self.network
        }
    }
}

/// Core's ProtectEvictionCandidatesByRatio: half of the candidates stay,
/// up to a quarter of them from disadvantaged networks, the rest by uptime.
fn protect_by_ratio(v: &mut Vec<Candidate>) {
    let initial = v.len();
    let total_protect = initial / 2;
    let mut networks = [
        (false, Network::Cjdns),
        (false, Network::I2p),
        (true, Network::Ipv4),
        (false, Network::Onion),
    ]
    .map(|(is_local, network)| Disadvantaged {
        is_local,
        network,
        count: 0,
    });
    for n in networks.iter_mut() {
        n.count = v.iter().filter(|c| n.holds(c)).count();
    }
    networks.sort_by_key(|n| n.count);
    let max_by_network = total_protect / 2;
    let mut protected = 0;
    while protected < max_by_network {
        let with_peers = networks.iter().filter(|n| n.count > 0).count();
        if with_peers == 0 {
            break;
        }
        let per_network = ((max_by_network - protected) / with_peers).max(1);
        let mut any = false;
        for n in networks.iter_mut() {
            if n.count == 0 {
                continue;
            }
            let before = v.len();
            let net = *n;
            erase_last_k(
                v,
                |a, b| {
                    // Others first, then this network's, each youngest first.
                    net.holds(a)
                        .cmp(&net.holds(b))
                        .then(b.connected.cmp(&a.connected))
                },
                per_network,
                |c| net.holds(c),
            );
            let removed = before - v.len();
            if removed > 0 {
                any = true;
                protected += removed;
                if protected >= max_by_network {
                    break;
                }
                n.count -= removed;
            }
        }
        if !any {
            break;
        }
    }
    erase_last_k(v, by_reverse_connected, total_protect - protected, |_| true);
}

/// Core's SelectNodeToEvict: the peer to disconnect, if any may go.
pub fn select(mut v: Vec<Candidate>) -> Option<u64> {
    v.retain(|c| !c.noban && c.conn_type == ConnType::Inbound);
    erase_last_k(&mut v, by_net_group, 4, |_| true);
    erase_last_k(&mut v, by_reverse_min_ping, 8, |_| true);
    erase_last_k(&mut v, by_tx_time, 4, |_| true);
    erase_last_k(&mut v, by_block_relay_only_time, 8, |c| {
        !c.relay_txs && c.relevant_services
    });
    erase_last_k(&mut v, by_block_time, 4, |_| true);
    protect_by_ratio(&mut v);
    if v.is_empty() {
        return None;
    }
    // The network group with the most peers (ties: the one whose oldest
    // member is youngest); the candidates are sorted youngest first.
    let mut groups: BTreeMap<u64, Vec<&Candidate>> = BTreeMap::new();
    let (mut best_group, mut most, mut most_time) = (0, 0, i64::MIN);
    for c in &v {
        let group = groups.entry(c.keyed_net_group).or_default();
        group.push(c);
        let group_time = group[0].connected;
        if group.len() > most || (group.len() == most && group_time > most_time) {
            most = group.len();
            most_time = group_time;
            best_group = c.keyed_net_group;
        }
    }
    groups.get(&best_group).map(|g| g[0].id)
}

impl Net {
    /// Inbound peers (only those that relay transactions, with `tx_relay`).
    pub(super) fn count_inbound(&self, tx_relay: bool) -> usize {
        self.peers
            .borrow()
            .values()
            .filter(|p| p.info.borrow().inbound && (!tx_relay || p.relay.relay_txs.get()))
            .count()
    }

    fn candidate(&self, p: &Peer) -> Candidate {
        let i = p.info.borrow();
        let addr = i.service().addr;
        let wanted = outbound::desirable_services(i.services, self.far_from_tip());
        Candidate {
            id: i.id,
            connected: i.conntime as i64,
            min_ping_us: i.min_ping.map_or(i64::MAX, |s| (s * 1e6) as i64),
            last_block_time: i.last_block as i64,
            last_tx_time: i.last_transaction as i64,
            relevant_services: i.services & wanted == wanted,
            relay_txs: p.relay.relay_txs.get(),
            bloom_filter: p.relay.bloom.borrow().is_some(),
            keyed_net_group: self.group_key.hash_one(addr.group()),
            is_local: addr.is_local(),
            network: addr.net_class(),
            noban: i.permissions & permissions::NO_BAN == permissions::NO_BAN,
            conn_type: i.conn_type,
        }
    }

    /// Core's AttemptToEvictConnection: disconnects the peer eviction
    /// picks (among transaction-relaying ones with `tx_relay_only`, never
    /// `protect`); false when every peer is protected.
    pub(super) fn attempt_to_evict(&self, tx_relay_only: bool, protect: Option<u64>) -> bool {
        let candidates: Vec<Candidate> = self
            .peers
            .borrow()
            .values()
            .filter(|p| Some(p.info.borrow().id) != protect)
            .filter(|p| !tx_relay_only || p.relay.relay_txs.get())
            .map(|p| self.candidate(p))
            .collect();
        let Some(id) = select(candidates) else {
            return false;
        };
        let kind = self
            .peers
            .borrow()
            .get(&id)
            .map(|p| p.info.borrow().conn_type.name());
        tracing::debug!(target: "net", "selected {} connection for eviction, disconnecting peer={id}", kind.unwrap_or("inbound"));
        self.drop_peer(id, "evicted");
        true
    }

    /// Core's MaybeDisconnectForTxRelayCapacity when an inbound peer asks
    /// for transactions: with more such peers than `-inboundrelaypercent`
    /// allows, another one is evicted, or (Err) this one must go.
    pub(super) fn make_room_for_tx_relay(&self, peer: &Peer, after: &str) -> Result<(), String> {
        let (id, inbound) = {
            let i = peer.info.borrow();
            (i.id, i.inbound)
        };
        if !inbound || !peer.relay.relay_txs.get() {
            return Ok(());
        }
        if self.count_inbound(true) <= self.max_inbound_full_relay
            || self.attempt_to_evict(true, Some(id))
        {
            return Ok(());
        }
        tracing::debug!(target: "net", "failed to find a tx-relaying eviction candidate - connection dropped after {after} message, peer={id}");
        Err(format!(
            "failed to find a tx-relaying eviction candidate after {after} message"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: u64) -> Candidate {
        Candidate {
            id,
            connected: 1000 + id as i64,
            min_ping_us: 1000,
            last_block_time: 0,
            last_tx_time: 0,
            relevant_services: true,
            relay_txs: true,
            bloom_filter: false,
            keyed_net_group: 7,
            is_local: false,
            network: Network::Ipv4,
            noban: false,
            conn_type: ConnType::Inbound,
        }
    }

    #[test]
    fn among_peers_without_transactions_a_bloom_filter_counts_against_a_peer() {
        let (mut bloom, plain) = (peer(1), peer(2));
        bloom.bloom_filter = true;
        // Sorted first: protected last.
        assert_eq!(by_tx_time(&bloom, &plain), Ordering::Less);
        assert_eq!(by_tx_time(&plain, &bloom), Ordering::Greater);
        // A transaction sent outweighs it.
        bloom.last_tx_time = 5;
        assert_eq!(by_tx_time(&bloom, &plain), Ordering::Greater);
    }

    #[test]
    fn few_peers_are_all_protected() {
        // Four by network group, then nothing is left.
        assert_eq!(select((0..4).map(peer).collect()), None);
        let mut outbound = peer(9);
        outbound.conn_type = ConnType::OutboundFullRelay;
        let mut noban = peer(10);
        noban.noban = true;
        assert_eq!(select(vec![outbound, noban]), None);
    }

    #[test]
    fn the_youngest_of_the_biggest_group_goes_and_the_protected_stay() {
        // 30 peers in one group; peer 0 has the best ping, peer 1 sent the
        // last transaction, peer 2 the last block.
        let mut v: Vec<Candidate> = (0..30).map(peer).collect();
        v[0].min_ping_us = 1;
        v[1].last_tx_time = 50;
        v[2].last_block_time = 60;
        // Peer 29 is the youngest; make it stand out so it is protected.
        v[29].min_ping_us = 2;
        let evicted = select(v.clone()).unwrap();
        assert!(![0, 1, 2, 29].contains(&evicted), "{evicted}");
        // One peer alone in its own group does not make that group the
        // biggest: the big group's youngest unprotected member goes.
        v.push(Candidate {
            keyed_net_group: 99,
            ..peer(40)
        });
        let evicted = select(v).unwrap();
        assert_ne!(evicted, 40);
    }

    #[test]
    fn localhost_peers_keep_some_slots_by_ratio() {
        // 20 peers left for the ratio step: 10 are protected, up to 5 of
        // them for being local even though they are the youngest.
        let mut v: Vec<Candidate> = (0..20).map(peer).collect();
        for c in v.iter_mut().skip(15) {
            c.is_local = true;
        }
        protect_by_ratio(&mut v);
        assert_eq!(v.len(), 10);
        assert!(v.iter().all(|c| !c.is_local));
    }
}
