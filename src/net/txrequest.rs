//! net/txrequest: which peer we ask for an announced transaction, and when,
//! as Core's TxRequestTracker. Each announcement (peer, hash) waits until
//! its request time (later for peers we do not prefer, for txid
//! announcements while wtxid peers exist, and for peers with many requests
//! in flight); of the announcements ready for one transaction, a preferred
//! peer's goes first, ties broken by a keyed hash (an attacker cannot
//! arrange to be asked first). One request per transaction is in flight at
//! a time; it counts as failed after a minute or a `notfound`, and the next
//! announcer is asked. Per-peer indexes and an expiry queue keep every call
//! proportional to one peer's announcements (or to what expires), not to
//! all of them. Pure data: `Net` sends the `getdata`s.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher;

/// Core's MAX_PEER_TX_REQUEST_IN_FLIGHT and MAX_PEER_TX_ANNOUNCEMENTS.
pub const MAX_IN_FLIGHT: usize = 100;
pub const MAX_ANNOUNCEMENTS: usize = 5000;
/// Core's NONPREF_PEER_TX_DELAY, TXID_RELAY_DELAY and
/// OVERLOADED_PEER_TX_DELAY (microseconds).
pub const NONPREF_PEER_DELAY_US: i64 = 2_000_000;
pub const TXID_RELAY_DELAY_US: i64 = 2_000_000;
pub const OVERLOADED_PEER_DELAY_US: i64 = 2_000_000;
/// Core's GETDATA_TX_INTERVAL: how long a request may stay unanswered.
pub const GETDATA_TX_INTERVAL_US: i64 = 60_000_000;

type Hash = [u8; 32];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Candidate,
    Requested { expiry: i64 },
    Completed,
}

#[derive(Clone, Debug)]
struct Announcement {
    peer: u64,
    wtxid: bool,
    preferred: bool,
    reqtime: i64,
    seq: u64,
    state: State,
}

/// One peer's share: the hashes it announced (in any state) and how many
/// of them are requested from it now.
#[derive(Default)]
struct PeerIndex {
    hashes: HashSet<Hash>,
    in_flight: usize,
}

/// Announced transactions we do not have, by hash (txid or wtxid bytes).
#[derive(Default)]
pub struct TxRequests {
    txs: HashMap<Hash, Vec<Announcement>>,
    peers: HashMap<u64, PeerIndex>,
    /// Requests in flight by expiry: (expiry, hash, peer).
    expiries: BTreeSet<(i64, Hash, u64)>,
    seq: u64,
    key: RandomState,
}

/// One request to send, or one that timed out: the hash and whether it is
/// a wtxid.
pub type Request = (Hash, bool);

impl TxRequests {
    /// Notes that `peer` announced `hash`, to be asked for from `reqtime`
    /// (microseconds). A repeated announcement changes nothing.
    pub fn received_inv(
        &mut self,
        peer: u64,
        hash: Hash,
        wtxid: bool,
        preferred: bool,
        reqtime: i64,
    ) {
        let anns = self.txs.entry(hash).or_default();
        if anns.iter().any(|a| a.peer == peer) {
            return;
        }
        self.seq += 1;
        anns.push(Announcement {
            peer,
            wtxid,
            preferred,
            reqtime,
            seq: self.seq,
            state: State::Candidate,
        });
        self.peers.entry(peer).or_default().hashes.insert(hash);
    }

    /// Peers whose announcement of `hash` is not done yet (Core's
    /// GetCandidatePeers).
    pub fn candidate_peers(&self, hash: &Hash) -> Vec<u64> {
        self.txs.get(hash).map_or_else(Vec::new, |anns| {
            anns.iter()
                .filter(|a| a.state != State::Completed)
                .map(|a| a.peer)
                .collect()
        })
    }

    /// Announcements from `peer` we still track (Core's Count).
    pub fn count(&self, peer: u64) -> usize {
        self.peers.get(&peer).map_or(0, |p| p.hashes.len())
    }

    /// Requests to `peer` in flight (Core's CountInFlight).
    pub fn count_in_flight(&self, peer: u64) -> usize {
        self.peers.get(&peer).map_or(0, |p| p.in_flight)
    }

    /// Core's GetRequestable: requests that ran out of time become failed
    /// (returned second, with their peer); then the transactions to ask
    /// `peer` for now, in the order they were announced.
    pub fn requestable(&mut self, peer: u64, now: i64) -> (Vec<Request>, Vec<(u64, Request)>) {
        let mut expired = Vec::new();
        while let Some(&(expiry, hash, from)) = self.expiries.first() {
            if expiry > now {
                break;
            }
            self.expiries.pop_first();
            if let Some(a) = self.announcement(&hash, from) {
                a.state = State::Completed;
                expired.push((from, (hash, a.wtxid)));
            }
            let p = self.peer_index(from);
            p.in_flight = p.in_flight.saturating_sub(1);
            self.drop_if_done(&hash);
        }
        let mut ready: Vec<(u64, Request)> = Vec::new();
        let key = &self.key;
        for hash in self.peers.get(&peer).into_iter().flat_map(|p| &p.hashes) {
            let Some(anns) = self.txs.get(hash) else {
                continue;
            };
            if anns
                .iter()
                .any(|a| matches!(a.state, State::Requested { .. }))
            {
                continue;
            }
            let best = anns
                .iter()
                .filter(|a| a.state == State::Candidate && a.reqtime <= now)
                .max_by_key(|a| (a.preferred, key.hash_one((hash, a.peer))));
            if let Some(b) = best.filter(|b| b.peer == peer) {
                ready.push((b.seq, (*hash, b.wtxid)));
            }
        }
        ready.sort_by_key(|(seq, _)| *seq);
        (ready.into_iter().map(|(_, r)| r).collect(), expired)
    }

    /// We asked `peer` for `hash`; it counts as failed after `expiry`.
    pub fn requested(&mut self, peer: u64, hash: &Hash, expiry: i64) {
        let Some(a) = self.announcement(hash, peer) else {
            return;
        };
        let before = std::mem::replace(&mut a.state, State::Requested { expiry });
        match before {
            State::Requested { expiry: old } => {
                self.expiries.remove(&(old, *hash, peer));
            }
            _ => self.peer_index(peer).in_flight += 1,
        }
        self.expiries.insert((expiry, *hash, peer));
    }

    /// `peer` answered about `hash` (the transaction or a `notfound`): its
    /// announcement is done, and another peer may be asked.
    pub fn received_response(&mut self, peer: u64, hash: &Hash) {
        let Some(a) = self.announcement(hash, peer) else {
            return;
        };
        let before = std::mem::replace(&mut a.state, State::Completed);
        self.unflight(peer, hash, before);
        self.drop_if_done(hash);
    }

    /// We have `hash` now (or refused it): nobody is asked for it.
    pub fn forget(&mut self, hash: &Hash) {
        for a in self.txs.remove(hash).unwrap_or_default() {
            self.unflight(a.peer, hash, a.state);
            self.unindex(a.peer, hash);
        }
    }

    /// `peer` is gone with all its announcements.
    pub fn disconnected(&mut self, peer: u64) {
        let Some(index) = self.peers.remove(&peer) else {
            return;
        };
        for hash in index.hashes {
            let Some(anns) = self.txs.get_mut(&hash) else {
                continue;
            };
            if let Some(pos) = anns.iter().position(|a| a.peer == peer) {
                if let State::Requested { expiry } = anns.remove(pos).state {
                    self.expiries.remove(&(expiry, hash, peer));
                }
            }
            self.drop_if_done(&hash);
        }
    }

    fn announcement(&mut self, hash: &Hash, peer: u64) -> Option<&mut Announcement> {
        self.txs.get_mut(hash)?.iter_mut().find(|a| a.peer == peer)
    }

    fn peer_index(&mut self, peer: u64) -> &mut PeerIndex {
        self.peers.entry(peer).or_default()
    }

    /// A request that ended (state `before`) is no longer in flight.
    fn unflight(&mut self, peer: u64, hash: &Hash, before: State) {
        if let State::Requested { expiry } = before {
            self.expiries.remove(&(expiry, *hash, peer));
            let p = self.peer_index(peer);
            p.in_flight = p.in_flight.saturating_sub(1);
        }
    }

    fn unindex(&mut self, peer: u64, hash: &Hash) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.hashes.remove(hash);
            if p.hashes.is_empty() && p.in_flight == 0 {
                self.peers.remove(&peer);
            }
        }
    }

    /// Once every announcement of `hash` is done, the hash goes.
    fn drop_if_done(&mut self, hash: &Hash) {
        let done = self
            .txs
            .get(hash)
            .is_some_and(|anns| anns.iter().all(|a| a.state == State::Completed));
        if done {
            self.forget(hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl TxRequests {
        /// The indexes agree with the announcements they index.
        fn assert_consistent(&self) {
            let mut peers: HashMap<u64, (usize, usize)> = HashMap::new();
            let mut expiries = BTreeSet::new();
            for (hash, anns) in &self.txs {
                assert!(anns.iter().any(|a| a.state != State::Completed));
                for a in anns {
                    let e = peers.entry(a.peer).or_default();
                    e.0 += 1;
                    if let State::Requested { expiry } = a.state {
                        e.1 += 1;
                        expiries.insert((expiry, *hash, a.peer));
                    }
                }
            }
            for (peer, (count, in_flight)) in &peers {
                assert_eq!(self.count(*peer), *count, "count of peer {peer}");
                assert_eq!(
                    self.count_in_flight(*peer),
                    *in_flight,
                    "in flight of peer {peer}"
                );
            }
            assert_eq!(self.peers.len(), peers.len());
            assert_eq!(self.expiries, expiries);
        }
    }

    #[test]
    fn the_indexes_follow_every_change() {
        let mut t = TxRequests::default();
        let hash = |i: u8| [i; 32];
        let mut now = 0;
        // A fixed pseudo-random walk over announcements, requests,
        // answers, expiries, forgets and disconnects.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..5000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let peer = x % 5;
            let h = hash((x >> 8) as u8 % 20);
            match (x >> 16) % 7 {
                0 | 1 => t.received_inv(
                    peer,
                    h,
                    x & 1 == 0,
                    x & 2 == 0,
                    now + (x >> 24) as i64 % 3_000_000,
                ),
                2 => {
                    for (h, _) in t.requestable(peer, now).0 {
                        t.requested(peer, &h, now + GETDATA_TX_INTERVAL_US);
                    }
                }
                3 => t.received_response(peer, &h),
                4 => now += (x >> 20) as i64 % 20_000_000,
                5 if x & 0xf00 == 0 => t.disconnected(peer),
                5 => t.forget(&h),
                _ => {
                    t.requestable(peer, now);
                }
            }
            t.assert_consistent();
        }
    }

    const H: [u8; 32] = [7; 32];

    #[test]
    fn one_peer_at_a_time_preferred_first_then_the_next_on_failure() {
        let mut t = TxRequests::default();
        // Peer 1 (not preferred, ready at 2 s) and peer 2 (preferred, at 0).
        t.received_inv(1, H, true, false, 2_000_000);
        t.received_inv(2, H, true, true, 0);
        assert_eq!(t.requestable(1, 0).0, vec![]);
        assert_eq!(t.requestable(2, 0).0, vec![(H, true)]);
        t.requested(2, &H, GETDATA_TX_INTERVAL_US);
        assert_eq!(t.count_in_flight(2), 1);
        // In flight: nobody else is asked, even once ready.
        assert_eq!(t.requestable(1, 3_000_000).0, vec![]);
        // A notfound from peer 2 lets peer 1 be asked.
        t.received_response(2, &H);
        assert_eq!(t.requestable(1, 3_000_000).0, vec![(H, true)]);
        t.requested(1, &H, 3_000_000 + GETDATA_TX_INTERVAL_US);
        // Peer 1 never answers: after a minute the request fails and the
        // transaction is forgotten (nobody else announced it).
        let (ready, expired) = t.requestable(1, 3_000_000 + GETDATA_TX_INTERVAL_US);
        assert!(ready.is_empty());
        assert_eq!(expired, vec![(1, (H, true))]);
        assert_eq!(t.count(1), 0);
    }

    #[test]
    fn a_gone_peer_or_a_received_transaction_ends_the_requests() {
        let mut t = TxRequests::default();
        t.received_inv(1, H, false, true, 0);
        t.received_inv(2, H, false, true, 0);
        let first = if t.requestable(1, 0).0.is_empty() {
            2
        } else {
            1
        };
        let second = 3 - first;
        t.requested(first, &H, GETDATA_TX_INTERVAL_US);
        t.disconnected(first);
        assert_eq!(t.requestable(second, 0).0, vec![(H, false)]);
        t.forget(&H);
        assert_eq!(t.count(second), 0);
        assert_eq!(t.requestable(second, 0).0, vec![]);
    }
}
