//! net/txrequest: which peer we ask for an announced transaction, and when,
//! as Core's TxRequestTracker. Each announcement (peer, hash) waits until
//! its request time (later for peers we do not prefer, for txid
//! announcements while wtxid peers exist, and for peers with many requests
//! in flight); of the announcements ready for one transaction, a preferred
//! peer's goes first, ties broken by a keyed hash (an attacker cannot
//! arrange to be asked first). One request per transaction is in flight at
//! a time; it counts as failed after a minute or a `notfound`, and the next
//! announcer is asked. Pure data: `Net` sends the `getdata`s.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
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

/// Announced transactions we do not have, by hash (txid or wtxid bytes).
#[derive(Default)]
pub struct TxRequests {
    txs: HashMap<[u8; 32], Vec<Announcement>>,
    seq: u64,
    key: RandomState,
}

/// One request to send, or one that timed out: the hash and whether it is
/// a wtxid.
pub type Request = ([u8; 32], bool);

impl TxRequests {
    /// Notes that `peer` announced `hash`, to be asked for from `reqtime`
    /// (microseconds). A repeated announcement changes nothing.
    pub fn received_inv(
        &mut self,
        peer: u64,
        hash: [u8; 32],
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
    }

    /// Announcements from `peer` we still track (Core's Count).
    pub fn count(&self, peer: u64) -> usize {
        self.txs
            .values()
            .flatten()
            .filter(|a| a.peer == peer)
            .count()
    }

    /// Requests to `peer` in flight (Core's CountInFlight).
    pub fn count_in_flight(&self, peer: u64) -> usize {
        self.txs
            .values()
            .flatten()
            .filter(|a| a.peer == peer && matches!(a.state, State::Requested { .. }))
            .count()
    }

    /// Core's GetRequestable: requests that ran out of time become failed
    /// (returned second, with their peer); then the transactions to ask
    /// `peer` for now, in the order they were announced.
    pub fn requestable(&mut self, peer: u64, now: i64) -> (Vec<Request>, Vec<(u64, Request)>) {
        let mut expired = Vec::new();
        let mut ready: Vec<(u64, Request)> = Vec::new();
        for (hash, anns) in self.txs.iter_mut() {
            for a in anns.iter_mut() {
                if let State::Requested { expiry } = a.state {
                    if expiry <= now {
                        a.state = State::Completed;
                        expired.push((a.peer, (*hash, a.wtxid)));
                    }
                }
            }
            if anns
                .iter()
                .any(|a| matches!(a.state, State::Requested { .. }))
            {
                continue;
            }
            let key = &self.key;
            let best = anns
                .iter()
                .filter(|a| a.state == State::Candidate && a.reqtime <= now)
                .max_by_key(|a| (a.preferred, key.hash_one((hash, a.peer))));
            if let Some(b) = best.filter(|b| b.peer == peer) {
                ready.push((b.seq, (*hash, b.wtxid)));
            }
        }
        self.txs
            .retain(|_, anns| anns.iter().any(|a| a.state != State::Completed));
        ready.sort_by_key(|(seq, _)| *seq);
        (ready.into_iter().map(|(_, r)| r).collect(), expired)
    }

    /// We asked `peer` for `hash`; it counts as failed after `expiry`.
    pub fn requested(&mut self, peer: u64, hash: &[u8; 32], expiry: i64) {
        if let Some(a) = self
            .txs
            .get_mut(hash)
            .and_then(|anns| anns.iter_mut().find(|a| a.peer == peer))
        {
            a.state = State::Requested { expiry };
        }
    }

    /// `peer` answered about `hash` (the transaction or a `notfound`): its
    /// announcement is done, and another peer may be asked.
    pub fn received_response(&mut self, peer: u64, hash: &[u8; 32]) {
        if let Some(anns) = self.txs.get_mut(hash) {
            for a in anns.iter_mut().filter(|a| a.peer == peer) {
                a.state = State::Completed;
            }
            if anns.iter().all(|a| a.state == State::Completed) {
                self.txs.remove(hash);
            }
        }
    }

    /// We have `hash` now (or refused it): nobody is asked for it.
    pub fn forget(&mut self, hash: &[u8; 32]) {
        self.txs.remove(hash);
    }

    /// `peer` is gone with all its announcements.
    pub fn disconnected(&mut self, peer: u64) {
        for anns in self.txs.values_mut() {
            anns.retain(|a| a.peer != peer);
        }
        self.txs
            .retain(|_, anns| anns.iter().any(|a| a.state != State::Completed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
