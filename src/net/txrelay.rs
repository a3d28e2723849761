//! net/txrelay: transactions between peers and the mempool. Accepted
//! transactions are announced by wtxid (to peers that sent `wtxidrelay`,
//! BIP339) or txid, to peers that asked for transactions in their version
//! message and whose `feefilter` (BIP133) the transaction's feerate meets;
//! announcements a peer asks for with `getdata` are served from the mempool;
//! unknown announced transactions are requested from one announcer at a
//! time, when `txrequest` says so (Core's delays and timeouts), and what
//! arrives goes
//! through the mempool's full checks on a blocking thread. Refused
//! transactions are remembered (bounded) and not asked for again until the
//! tip moves. Orphans (transactions whose parents we lack) wait in a
//! bounded orphanage while their parents are asked for, and are tried again
//! when a parent is accepted. A parent refused only for its fee and a child
//! spending it are evaluated together as a package (Core's opportunistic
//! 1p1c relay), so a child can pay for its parent, also to replace what the
//! parent conflicts with. Announcements are queued per peer and go out on
//! Core's trickle timer (Poisson, 2 s on average for outbound peers, 5 s
//! for inbound ones on one shared timer, at once for `noban` peers), at most
//! Core's batch size at a time, parents first and then by feerate; a peer
//! gets a transaction with `getdata` only once an announcement round came
//! after the transaction entered the mempool (or from the tip block), so
//! it cannot learn of transactions before they are announced.
//! Core's rules on who may send us transactions (not block-relay-only or
//! feeler peers; with `-blocksonly` only peers with the `relay`
//! permission), `forcerelay` peers' transactions relayed even when we have
//! them, and BIP35 `mempool` requests for peers with the `mempool`
//! permission live here too.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::{Transaction, Txid, Wtxid};

use super::{permissions, txrequest, Net, Peer};
use crate::mempool::{AcceptArgs, RejectKind};

/// Hashes remembered per peer before the set starts over.
const MAX_KNOWN: usize = 50_000;
/// Refused transactions remembered before the set starts over.
const MAX_REJECTS: usize = 50_000;
/// Core's MAX_GETDATA_SZ: items in one `getdata` we send.
const MAX_GETDATA_SIZE: usize = 1000;
/// Core's MAX_INV_SZ: items in one `inv` message.
const MAX_INV_SIZE: usize = 50_000;
/// Core's OUTBOUND_ and INBOUND_INVENTORY_BROADCAST_INTERVAL (average
/// microseconds between announcement rounds).
const OUTBOUND_INV_INTERVAL_US: f64 = 2_000_000.0;
const INBOUND_INV_INTERVAL_US: f64 = 5_000_000.0;
/// Core's INVENTORY_BROADCAST_TARGET (14 per second over the inbound
/// interval) and INVENTORY_BROADCAST_MAX: transactions per round.
const INV_BROADCAST_TARGET: usize = 70;
const INV_BROADCAST_MAX: usize = 1000;

/// The hash of a transaction announcement and whether it is a wtxid (None
/// for other items). MSG_WITNESS_TX names a txid, as MSG_TX does.
pub(super) fn tx_inv(item: &Inventory) -> Option<([u8; 32], bool)> {
    match item {
        Inventory::WTx(w) => Some((w.to_byte_array(), true)),
        Inventory::Transaction(t) | Inventory::WitnessTransaction(t) => {
            Some((t.to_byte_array(), false))
        }
        _ => None,
    }
}

/// The transactions of the tip block, by txid and wtxid, for `getdata`.
#[derive(Default)]
pub(super) struct RecentBlockTxs {
    tip: Option<bitcoin::BlockHash>,
    txs: std::collections::HashMap<[u8; 32], Arc<Transaction>>,
}

/// One peer's transaction relay state.
#[derive(Default)]
pub(super) struct PeerRelay {
    /// The peer's version message asked for transactions.
    pub relay_txs: Cell<bool>,
    /// The peer sent `wtxidrelay` (BIP339).
    pub wtxid_relay: Cell<bool>,
    /// The peer's `feefilter`, sat/kvB.
    pub fee_filter: Cell<i64>,
    /// Transactions (txid or wtxid bytes) the peer has or was told about.
    known: RefCell<HashSet<[u8; 32]>>,
    /// Mempool transactions waiting for the next announcement round (Core's
    /// m_tx_inventory_to_send).
    to_send: RefCell<HashSet<Txid>>,
    /// When the next round may go (microseconds, mockable clock); 0 until
    /// the first one, right after the handshake.
    next_inv_send: Cell<i64>,
    /// The peer's BIP37 filter (see `bloom`): only what it matches is
    /// announced.
    pub bloom: RefCell<Option<super::bloom::BloomFilter>>,
}

impl PeerRelay {
    /// How to announce a transaction to this peer (by wtxid or txid), if
    /// its feerate meets the peer's feefilter, the peer has not heard of it
    /// and its bloom filter (if any) matches; the peer counts as told from
    /// here on. As Core, the feefilter is held against the fee the
    /// transaction pays, not a prioritised one.
    fn announcement(&self, e: &crate::mempool::Entry) -> Option<Inventory> {
        let (txid, wtxid) = (e.txid, e.wtxid);
        if crate::mempool::FeeRate::of(e.fee, e.vsize).0 < self.fee_filter.get()
            || self.knows(&Self::hash_for(self.wtxid_relay.get(), txid, wtxid))
        {
            return None;
        }
        if let Some(filter) = self.bloom.borrow_mut().as_mut() {
            if !filter.relevant_and_update(&e.tx) {
                return None;
            }
        }
        let (inv, hash) = if self.wtxid_relay.get() {
            (Inventory::WTx(wtxid), wtxid.to_byte_array())
        } else {
            (Inventory::Transaction(txid), txid.to_byte_array())
        };
        self.learn(hash).then_some(inv)
    }

    /// Transactions queued for the next round (getpeerinfo's `inv_to_send`).
    pub fn inv_to_send(&self) -> usize {
        self.to_send.borrow().len()
    }

    fn hash_for(wtxid_relay: bool, txid: Txid, wtxid: Wtxid) -> [u8; 32] {
        if wtxid_relay {
            wtxid.to_byte_array()
        } else {
            txid.to_byte_array()
        }
    }

    fn knows(&self, hash: &[u8; 32]) -> bool {
        self.known.borrow().contains(hash)
    }

    fn learn(&self, hash: [u8; 32]) -> bool {
        let mut k = self.known.borrow_mut();
        if k.len() >= MAX_KNOWN {
            k.clear();
        }
        k.insert(hash)
    }
}

/// A transaction refused only for its fee: whole, its wtxid, and the peer
/// that sent it.
pub(super) struct Reconsiderable {
    tx: Arc<Transaction>,
    wtxid: Wtxid,
    from: u64,
}

/// Transactions refused recently, by wtxid; and those refused only for
/// their fee (Core's reconsiderable rejects), kept whole with the peer
/// that sent them, so that a child from the same peer can pay for them
/// (1p1c package relay).
#[derive(Default)]
pub(super) struct RecentRejects {
    set: HashSet<[u8; 32]>,
    reconsiderable: std::collections::HashMap<Txid, Reconsiderable>,
    tip: Option<bitcoin::BlockHash>,
}

/// The rebroadcast schedule and how far `mockscheduler` moved it; the
/// inbound peers' shared announcement timer.
#[derive(Default)]
pub(super) struct Scheduler {
    ahead: Cell<std::time::Duration>,
    wake: Rc<tokio::sync::Notify>,
    next_inv_to_inbounds: Cell<i64>,
}

/// Core's delay between rebroadcast attempts: 10 minutes and up to 5 more.
fn reattempt_delay() -> std::time::Duration {
    let jitter_ms = super::rand_nonce() % (5 * 60 * 1000);
    std::time::Duration::from_secs(10 * 60) + std::time::Duration::from_millis(jitter_ms)
}

/// Fee-refused parents kept for a child to pay for them.
const MAX_RECONSIDERABLE: usize = 100;

impl Net {
    /// Announces every transaction the mempool accepts from now on.
    pub(super) fn start_tx_relay(self: &Rc<Self>) {
        let net = self.clone();
        let mut added = self.mempool.subscribe();
        tokio::task::spawn_local(async move {
            loop {
                match added.recv().await {
                    Ok((txid, _)) => net.announce_tx(txid),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(target: "net", "tx relay lagged by {n} announcements");
                    }
                    Err(_) => break,
                }
            }
        });
    }

    /// Core's ReattemptInitialBroadcast, on its scheduler: 10 to 15
    /// minutes after start and after each run, every transaction submitted
    /// here that no peer has asked for yet is announced again (to peers that
    /// have not heard of it); one that left the pool leaves the set.
    /// `mockscheduler` moves this schedule forward.
    pub(super) fn start_rebroadcast(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        let wake = self.scheduler.wake.clone();
        tokio::task::spawn_local(async move {
            let mut due = tokio::time::Instant::now() + reattempt_delay();
            loop {
                let Some(net) = weak.upgrade() else { return };
                let now = tokio::time::Instant::now() + net.scheduler.ahead.get();
                if now >= due {
                    net.reattempt_initial_broadcast();
                    due = now + reattempt_delay();
                    continue;
                }
                drop(net);
                tokio::select! {
                    _ = tokio::time::sleep(due - now) => {}
                    _ = wake.notified() => {}
                }
            }
        });
    }

    fn reattempt_initial_broadcast(&self) {
        let present: Vec<Txid> = {
            let mut pool = self.mempool.lock();
            let (present, gone): (Vec<Txid>, Vec<Txid>) = pool
                .unbroadcast()
                .iter()
                .partition(|t| pool.get(t).is_some());
            for txid in &gone {
                pool.clear_unbroadcast(txid);
            }
            present
        };
        for txid in present {
            self.announce_tx(txid);
        }
    }

    /// `mockscheduler`: what is due within `delta` runs now.
    pub fn mock_scheduler(&self, delta: std::time::Duration) {
        self.scheduler.ahead.set(self.scheduler.ahead.get() + delta);
        self.scheduler.wake.notify_one();
    }

    /// Queues mempool transaction `txid` for announcement to every peer
    /// that wants transactions, had its first round and has not heard of it
    /// (Core's RelayTransaction; sendrawtransaction's rebroadcast too).
    pub fn announce_tx(&self, txid: Txid) {
        let Some(wtxid) = self.mempool.lock().get(&txid).map(|e| e.wtxid) else {
            return;
        };
        for peer in self.peers.borrow().values() {
            let relay = &peer.relay;
            if !peer.info.borrow().handshake_done
                || !relay.relay_txs.get()
                || relay.next_inv_send.get() == 0
            {
                continue;
            }
            if !relay.knows(&PeerRelay::hash_for(relay.wtxid_relay.get(), txid, wtxid)) {
                relay.to_send.borrow_mut().insert(txid);
            }
        }
    }

    /// An announcement round for every peer whose turn it is.
    pub(super) fn trickle_all(&self) {
        let peers: Vec<Rc<Peer>> = self.peers.borrow().values().cloned().collect();
        for peer in peers {
            self.trickle(&peer);
        }
    }

    /// Core's transaction part of SendMessages: when the peer's Poisson
    /// timer is due (always for `noban` peers), up to a batch of its queued
    /// transactions is announced, parents first, then by feerate; those it
    /// knows, that left the mempool or that its feefilter refuses are
    /// dropped. Afterwards the peer may ask for anything in the mempool now.
    pub(super) fn trickle(&self, peer: &Peer) {
        let (handshake_done, inbound, perms) = {
            let i = peer.info.borrow();
            (i.handshake_done, i.inbound, i.permissions)
        };
        if !handshake_done || !peer.info.borrow().conn_type.relays_txs() {
            return;
        }
        let relay = &peer.relay;
        let now = crate::chain::clock::now_micros();
        let mut due = perms & permissions::NO_BAN == permissions::NO_BAN;
        if relay.next_inv_send.get() < now {
            due = true;
            relay.next_inv_send.set(if inbound {
                self.next_inv_to_inbounds(now)
            } else {
                now + super::addrrelay::poisson_delay(OUTBOUND_INV_INTERVAL_US)
            });
        }
        if !due {
            return;
        }
        if !relay.relay_txs.get() {
            relay.to_send.borrow_mut().clear();
        }
        let pool = self.mempool.lock();
        let mut queued: Vec<(usize, std::cmp::Reverse<i64>, u64, Txid)> = {
            let mut to_send = relay.to_send.borrow_mut();
            to_send.retain(|t| pool.get(t).is_some());
            to_send
                .iter()
                .filter_map(|t| pool.get(t))
                .map(|e| {
                    let rate = crate::mempool::FeeRate::of(pool.modified_fee(e), e.vsize).0;
                    let (depth, sequence) = pool.topological_key(e);
                    (depth, std::cmp::Reverse(rate), sequence, e.txid)
                })
                .collect()
        };
        queued.sort_unstable();
        let max =
            (INV_BROADCAST_TARGET + relay.to_send.borrow().len() / 1000 * 5).min(INV_BROADCAST_MAX);
        let mut invs = Vec::new();
        for (_, _, _, txid) in queued {
            if invs.len() >= max {
                break;
            }
            relay.to_send.borrow_mut().remove(&txid);
            let Some(e) = pool.get(&txid) else { continue };
            if let Some(inv) = relay.announcement(e) {
                invs.push(inv);
            }
        }
        peer.info.borrow_mut().last_inv_sequence = pool.sequence();
        drop(pool);
        for chunk in invs.chunks(MAX_INV_SIZE) {
            peer.push(NetworkMessage::Inv(chunk.to_vec()));
        }
    }

    /// Core's NextInvToInbounds: inbound peers share one timer, so that
    /// several connections from one spy learn no more than one.
    fn next_inv_to_inbounds(&self, now: i64) -> i64 {
        let next = &self.scheduler.next_inv_to_inbounds;
        if next.get() < now {
            next.set(now + super::addrrelay::poisson_delay(INBOUND_INV_INTERVAL_US));
        }
        next.get()
    }

    /// `-blocksonly` is on.
    pub fn blocks_only(&self) -> bool {
        self.blocks_only
    }

    /// Core's RejectIncomingTxs: block-relay-only and feeler peers may never
    /// send us transactions, and with `-blocksonly` only peers with the
    /// `relay` permission may. Our version message tells the peer so.
    pub(super) fn rejects_incoming_txs(&self, peer: &Peer) -> bool {
        let i = peer.info.borrow();
        !i.conn_type.relays_txs()
            || (self.blocks_only && i.permissions & permissions::RELAY != permissions::RELAY)
    }

    /// A `mempool` request (BIP35). A peer we offered bloom filters or one
    /// with the `mempool` permission gets the mempool announced (what its
    /// feefilter and bloom filter allow and it has not heard of); others
    /// are dropped, unless they have `noban` (then the request is
    /// ignored), as in Core.
    pub(super) fn on_mempool_request(&self, peer: &Rc<Peer>) -> Result<(), String> {
        let (id, perms, conn) = {
            let i = peer.info.borrow();
            (i.id, i.permissions, i.conn_type)
        };
        if perms & permissions::MEMPOOL != permissions::MEMPOOL && !self.offers_bloom(peer) {
            if perms & permissions::NO_BAN == permissions::NO_BAN {
                return Ok(());
            }
            tracing::debug!(target: "net", "mempool request with bloom filters disabled, disconnecting peer={id}");
            return Err("mempool request with bloom filters disabled".into());
        }
        if !conn.relays_txs() {
            return Ok(());
        }
        let (invs, sequence) = {
            let pool = self.mempool.lock();
            let invs: Vec<Inventory> = pool
                .entries()
                .filter_map(|e| peer.relay.announcement(e))
                .collect();
            (invs, pool.sequence())
        };
        peer.info.borrow_mut().last_inv_sequence = sequence;
        for chunk in invs.chunks(MAX_INV_SIZE) {
            peer.push(NetworkMessage::Inv(chunk.to_vec()));
        }
        Ok(())
    }

    fn rejected(&self, hash: &[u8; 32]) -> bool {
        let mut r = self.rejects.borrow_mut();
        let tip = self.chain.tip().hash;
        if r.tip != Some(tip) {
            r.set.clear();
            r.reconsiderable.clear();
            r.tip = Some(tip);
        }
        r.set.contains(hash)
    }

    /// Keeps a transaction refused only for its fee, for a child to come.
    fn remember_reconsiderable(&self, tx: &Arc<Transaction>, from: u64) {
        let mut r = self.rejects.borrow_mut();
        if r.reconsiderable.len() >= MAX_RECONSIDERABLE {
            r.reconsiderable.clear();
        }
        let entry = Reconsiderable {
            tx: tx.clone(),
            wtxid: tx.compute_wtxid(),
            from,
        };
        r.reconsiderable.insert(tx.compute_txid(), entry);
    }

    /// Whether a transaction refused for its fee has wtxid (or, without
    /// witnesses, txid) `hash`.
    fn reconsiderable(&self, hash: &[u8; 32]) -> bool {
        self.rejects
            .borrow()
            .reconsiderable
            .values()
            .any(|r| r.wtxid.to_byte_array() == *hash)
    }

    /// Core's opportunistic 1p1c package relay: `parent`, refused alone
    /// for its fee, and `child` spending it, from a peer, go through
    /// submitpackage's evaluation together. Whether both are now in.
    async fn try_1p1c(
        &self,
        peer: &Rc<Peer>,
        parent: Arc<Transaction>,
        child: Arc<Transaction>,
    ) -> bool {
        let (chain, mempool) = (self.chain.clone(), self.mempool.clone());
        let package = vec![parent.clone(), child.clone()];
        let result = match tokio::task::spawn_blocking(move || {
            mempool.submit_package(&chain, &package, None, false)
        })
        .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(target: "net", "checking a package: {e}");
                return false;
            }
        };
        let (ptxid, ctxid) = (parent.compute_txid(), child.compute_txid());
        let id = peer.info.borrow().id;
        match result.error {
            None => {
                tracing::debug!(target: "txpackages", "package evaluation for parent {ptxid} and child {ctxid} from peer={id}: accepted");
                self.rejects.borrow_mut().reconsiderable.remove(&ptxid);
                peer.info.borrow_mut().last_transaction = super::now();
                true
            }
            Some(e) => {
                tracing::debug!(target: "txpackages", "package evaluation for parent {ptxid} and child {ctxid} from peer={id}: {e}");
                false
            }
        }
    }

    /// Core's ProcessInvalidTx: a refused transaction is remembered by
    /// wtxid, except a conflict (it may be mined away), one refused for its
    /// fee (a child may pay for it) and one stripped of its witnesses (the
    /// same txid with them may be fine; a txid-keyed cache would refuse
    /// the good one).
    fn remember_refusal(&self, tx: &Transaction, kind: RejectKind) {
        if !matches!(
            kind,
            RejectKind::Conflict | RejectKind::Reconsiderable | RejectKind::WitnessStripped
        ) {
            self.remember_reject(tx);
        }
        // Inputs policy refuses are refused whatever the witnesses: the
        // txid too, so the same transaction is not asked for again by it
        // (Core's TX_INPUTS_NOT_STANDARD).
        let txid = tx.compute_txid().to_byte_array();
        if kind == RejectKind::InputsNotStandard && txid != tx.compute_wtxid().to_byte_array() {
            self.remember_reject_hash(txid);
        }
    }

    fn remember_reject(&self, tx: &Transaction) {
        // As Core, by wtxid only: a transaction with witnesses may have
        // been malleated, and its txid stands for other witnesses too (one
        // without witnesses has the same txid and wtxid).
        self.remember_reject_hash(tx.compute_wtxid().to_byte_array());
    }

    fn remember_reject_hash(&self, hash: [u8; 32]) {
        let mut r = self.rejects.borrow_mut();
        if r.set.len() >= MAX_REJECTS {
            r.set.clear();
        }
        r.set.insert(hash);
    }

    /// Asks for announced transactions we neither hold nor refused.
    pub(super) fn on_tx_inv(&self, peer: &Rc<Peer>, items: &[Inventory]) {
        // Core: during initial block download transactions cannot be
        // checked yet, so none are asked for.
        if self.chain.initial_block_download() {
            return;
        }
        let id = peer.info.borrow().id;
        let wtxid_relay = peer.relay.wtxid_relay.get();
        // Repeats within one message count once (Core's seen sets).
        let mut seen = HashSet::new();
        for item in items {
            // BIP339: a wtxid-relay peer announces by wtxid, others by
            // txid; MSG_WITNESS_TX counts as a txid from anyone (Core).
            let Some((hash, is_wtxid)) = tx_inv(item) else {
                continue;
            };
            if is_wtxid != wtxid_relay && !matches!(item, Inventory::WitnessTransaction(_)) {
                continue;
            }
            if !seen.insert((hash, is_wtxid)) {
                continue;
            }
            peer.relay.learn(hash);
            // An orphan we hold: the peer may have its parents (Core's
            // orphan resolution candidate), unless none is missing now.
            let orphan = if is_wtxid {
                self.orphans.borrow().get(&hash)
            } else {
                None
            };
            if let Some(orphan) = orphan {
                let mut parents = self.missing_parents(&orphan);
                parents.retain(|p| !self.rejected(&p.to_byte_array()));
                if !parents.is_empty() {
                    self.orphan_resolution_candidate(peer, orphan, &parents);
                }
                continue;
            }
            let have = self.have_tx(&hash, is_wtxid);
            tracing::debug!(target: "net", "got inv: {} peer={id}", format!("{} {}", super::serve::inv_string(item), if have { "have" } else { "new" }));
            if have {
                continue;
            }
            self.add_tx_announcement(peer, hash, is_wtxid);
        }
        self.send_tx_requests(peer);
    }

    /// The parents of `tx` we do not have: not in the mempool, not in a
    /// recent block, not an orphan themselves (Core's unique parents less
    /// AlreadyHaveTx; whether one was refused is the caller's question).
    fn missing_parents(&self, tx: &Transaction) -> BTreeSet<Txid> {
        let pool = self.mempool.lock();
        let orphans = self.orphans.borrow();
        tx.input
            .iter()
            .map(|i| i.previous_output.txid)
            .filter(|p| pool.get(p).is_none())
            .filter(|p| !self.recently_confirmed.contains(&p.to_byte_array()))
            .filter(|p| !orphans.has(&p.to_byte_array()))
            .collect()
    }

    /// `peer` sent or announced orphan `tx`: it counts as a sender of the
    /// orphan and as announcing its missing `parents` (by txid, with the
    /// usual delays), so it is asked for them in turn.
    fn orphan_resolution_candidate(
        &self,
        peer: &Peer,
        tx: Arc<Transaction>,
        parents: &BTreeSet<Txid>,
    ) {
        let id = peer.info.borrow().id;
        self.orphans.borrow_mut().add(tx, id);
        for parent in parents {
            peer.relay.learn(parent.to_byte_array());
            self.add_tx_announcement(peer, parent.to_byte_array(), false);
        }
    }

    /// Core's AddTxAnnouncement: `peer` has transaction `hash`; it is asked
    /// for when its turn comes, bounded per peer, and later for peers we do
    /// not prefer, for txids while wtxid peers exist, and for peers with
    /// many requests in flight.
    fn add_tx_announcement(&self, peer: &Peer, hash: [u8; 32], is_wtxid: bool) {
        let (id, perms) = {
            let i = peer.info.borrow();
            (i.id, i.permissions)
        };
        let relay_perm = perms & permissions::RELAY == permissions::RELAY;
        let preferred = Self::preferred_download(peer);
        let wtxid_peers = self
            .peers
            .borrow()
            .values()
            .any(|p| p.relay.wtxid_relay.get());
        let mut requests = self.tx_requests.borrow_mut();
        if !relay_perm && requests.count(id) >= txrequest::MAX_ANNOUNCEMENTS {
            return;
        }
        let mut delay = 0;
        if !preferred {
            delay += txrequest::NONPREF_PEER_DELAY_US;
        }
        if !is_wtxid && wtxid_peers {
            delay += txrequest::TXID_RELAY_DELAY_US;
        }
        if !relay_perm && requests.count_in_flight(id) >= txrequest::MAX_IN_FLIGHT {
            delay += txrequest::OVERLOADED_PEER_DELAY_US;
        }
        let now = crate::chain::clock::now_micros();
        requests.received_inv(id, hash, is_wtxid, preferred, now + delay);
    }

    /// Core's GetRequestsToSend: asks `peer` for the announced transactions
    /// whose turn it is (one getdata), and logs requests that timed out.
    pub(super) fn send_tx_requests(&self, peer: &Peer) {
        let id = peer.info.borrow().id;
        let now = crate::chain::clock::now_micros();
        let (ready, expired) = self.tx_requests.borrow_mut().requestable(id, now);
        for (from, (hash, wtxid)) in expired {
            tracing::debug!(target: "net", "timeout of inflight {} {} from peer={from}", if wtxid { "wtx" } else { "tx" }, Txid::from_byte_array(hash));
        }
        let mut getdata = Vec::new();
        for (hash, wtxid) in ready {
            if self.have_tx(&hash, wtxid) {
                self.tx_requests.borrow_mut().forget(&hash);
                continue;
            }
            tracing::debug!(target: "net", "Requesting {} {} peer={id}", if wtxid { "wtx" } else { "tx" }, Txid::from_byte_array(hash));
            self.tx_requests.borrow_mut().requested(
                id,
                &hash,
                now + txrequest::GETDATA_TX_INTERVAL_US,
            );
            // Core's GetFetchFlags: witnesses only from a peer that serves
            // them.
            let txid = Txid::from_byte_array(hash);
            getdata.push(if wtxid {
                Inventory::WTx(Wtxid::from_byte_array(hash))
            } else if Net::serves_witnesses(peer) {
                Inventory::WitnessTransaction(txid)
            } else {
                Inventory::Transaction(txid)
            });
        }
        for chunk in getdata.chunks(MAX_GETDATA_SIZE) {
            peer.push(NetworkMessage::GetData(chunk.to_vec()));
        }
    }

    /// A `notfound` from `peer`: the transactions asked for may come from
    /// the next peer that announced them.
    pub(super) fn on_notfound(&self, peer: &Peer, items: &[Inventory]) {
        let id = peer.info.borrow().id;
        for (hash, _) in items.iter().filter_map(tx_inv) {
            self.tx_requests.borrow_mut().received_response(id, &hash);
        }
    }

    /// Whether a transaction announced by `hash` (a wtxid or a txid) is in
    /// the mempool or was refused recently: then it is not asked for.
    fn have_tx(&self, hash: &[u8; 32], wtxid: bool) -> bool {
        let in_pool = {
            let pool = self.mempool.lock();
            if wtxid {
                pool.by_wtxid(&Wtxid::from_byte_array(*hash)).is_some()
            } else {
                pool.get(&Txid::from_byte_array(*hash)).is_some()
            }
        };
        // A transaction refused for its fee counts as had too: only a
        // child's need asks for it again (by txid). So does one a recent
        // block holds.
        in_pool
            || self.rejected(hash)
            || self.reconsiderable(hash)
            || self.recently_confirmed.contains(hash)
            || self.orphans.borrow().has(hash)
    }

    /// Serves a `getdata` item for a transaction; false for other items.
    /// Core's FindTxForGetData: from the mempool only what entered before
    /// the peer's last announcement round, else from the tip block; else a
    /// `notfound` (the item goes to `not_found`).
    pub(super) fn serve_tx(
        &self,
        peer: &Rc<Peer>,
        item: &Inventory,
        not_found: &mut Vec<Inventory>,
    ) -> bool {
        let Some((hash, _)) = tx_inv(item) else {
            return false;
        };
        // Core: no transactions for a connection without transaction relay
        // (not even notfound).
        if !peer.info.borrow().conn_type.relays_txs() {
            return true;
        }
        let last_inv_sequence = peer.info.borrow().last_inv_sequence;
        let tx = {
            let mut pool = self.mempool.lock();
            let entry = match item {
                Inventory::WTx(w) => pool.by_wtxid(w),
                _ => pool.get(&Txid::from_byte_array(hash)),
            };
            let found = entry
                .filter(|e| e.sequence < last_inv_sequence)
                .map(|e| (e.txid, e.tx.clone()));
            if let Some((txid, _)) = &found {
                // Core: a peer asking for it means the broadcast got out.
                pool.clear_unbroadcast(txid);
            }
            found.map(|(_, tx)| tx)
        };
        match tx.or_else(|| self.tip_block_tx(&hash)) {
            Some(tx) => {
                let mut tx: Transaction = (*tx).clone();
                if matches!(item, Inventory::Transaction(_)) {
                    tx.input.iter_mut().for_each(|i| i.witness.clear());
                }
                peer.push(NetworkMessage::Tx(tx));
            }
            None => not_found.push(*item),
        }
        true
    }

    /// A transaction of the tip block by txid or wtxid (Core's
    /// m_most_recent_block_txs: peers that just got the block compact may
    /// ask for some). The block is read once per tip.
    fn tip_block_tx(&self, hash: &[u8; 32]) -> Option<Arc<Transaction>> {
        let tip = self.chain.tip().hash;
        let mut recent = self.recent_block_txs.borrow_mut();
        if recent.tip != Some(tip) {
            recent.tip = Some(tip);
            recent.txs.clear();
            if let Ok(block) = self.chain.read_block(&tip) {
                for tx in block.txdata {
                    let tx = Arc::new(tx);
                    recent
                        .txs
                        .insert(tx.compute_txid().to_byte_array(), tx.clone());
                    recent.txs.insert(tx.compute_wtxid().to_byte_array(), tx);
                }
            }
        }
        recent.txs.get(hash).cloned()
    }

    /// A transaction from a peer: the mempool's checks on a blocking thread.
    pub(super) async fn on_tx(&self, peer: &Rc<Peer>, tx: Transaction) {
        // Core: unsolicited transactions during initial block download are
        // dropped unread (not a protocol violation).
        if self.chain.initial_block_download() {
            return;
        }
        let txid = tx.compute_txid();
        let wtxid: Wtxid = tx.compute_wtxid();
        peer.relay.learn(txid.to_byte_array());
        peer.relay.learn(wtxid.to_byte_array());
        // Whatever comes of it, nobody else is asked for this one (Core's
        // ReceivedResponse, then ForgetTxHash once it is judged). Who else
        // announced it is kept: if it is an orphan, they may have its
        // parents.
        let announcers: Vec<u64> = {
            let mut requests = self.tx_requests.borrow_mut();
            let (t, w) = (txid.to_byte_array(), wtxid.to_byte_array());
            let mut announcers = requests.candidate_peers(&t);
            announcers.extend(requests.candidate_peers(&w));
            requests.forget(&t);
            requests.forget(&w);
            announcers
        };
        let in_pool = self.mempool.lock().by_wtxid(&wtxid).is_some();
        if in_pool || self.rejected(&wtxid.to_byte_array()) {
            // Core: a peer with `forcerelay` gets what it sends relayed
            // even when we have it (a gateway for nodes behind us).
            let (id, perms) = {
                let i = peer.info.borrow();
                (i.id, i.permissions)
            };
            if perms & permissions::FORCE_RELAY == permissions::FORCE_RELAY {
                if in_pool {
                    tracing::info!("Force relaying tx {txid} (wtxid={wtxid}) from peer={id}");
                    self.announce_tx(txid);
                } else {
                    tracing::info!("Not relaying non-mempool transaction {txid} (wtxid={wtxid}) from forcerelay peer={id}");
                }
            }
            return;
        }
        let (chain, mempool) = (self.chain.clone(), self.mempool.clone());
        let tx = Arc::new(tx);
        let shared = tx.clone();
        let args = AcceptArgs::FROM_PEER;
        let result =
            tokio::task::spawn_blocking(move || mempool.accept(&chain, shared, args)).await;
        let id = peer.info.borrow().id;
        match result {
            Ok(Ok(_)) => {
                peer.info.borrow_mut().last_transaction = super::now();
                tracing::debug!(target: "mempool", "AcceptToMemoryPool: peer={id}: accepted {txid} (wtxid={wtxid})");
                self.retry_orphans(txid).await;
            }
            Ok(Err(r)) if r.kind == RejectKind::MissingInputs => {
                // Core logs every refusal, orphans included.
                tracing::debug!(target: "mempoolrej", "{txid} (wtxid={wtxid}) from peer={id} was not accepted: {r}");
                let lacking = self.missing_parents(&tx);
                // Core: a parent refused outright (not for its fee) makes
                // the orphan worthless; it is refused too.
                if lacking.iter().any(|p| self.rejected(&p.to_byte_array())) {
                    tracing::debug!(target: "mempool", "not keeping orphan with rejected parents {txid} (wtxid={wtxid})");
                    // No witness can save it: its txid is refused too (so
                    // its own children are, and txid-relay peers are not
                    // asked for it).
                    self.remember_reject(&tx);
                    self.remember_reject_hash(txid.to_byte_array());
                    return;
                }
                // Its one missing parent was refused for its fee, sent by
                // the same peer: the two may go in together (Core's
                // Find1P1CPackage pairs a peer's transactions only).
                let parent = match lacking.iter().next() {
                    Some(p) if lacking.len() == 1 => self
                        .rejects
                        .borrow()
                        .reconsiderable
                        .get(p)
                        .filter(|r| r.from == id)
                        .map(|r| r.tx.clone()),
                    _ => None,
                };
                if let Some(parent) = parent {
                    if self.try_1p1c(peer, parent, tx.clone()).await {
                        self.retry_orphans(txid).await;
                        return;
                    }
                }
                // Keep it; the parents we lack count as announced by the
                // sender, by txid, and are asked for when their turn comes
                // (Core: a parent that arrives meanwhile is not asked for;
                // one refused for its fee is, as this one may pay for it).
                // Every peer that announced it may have its parents too
                // (Core's orphan resolution candidates): each counts as
                // announcing them, and as a sender of the orphan.
                tracing::debug!(target: "txpackages", "stored orphan tx {txid} (wtxid={wtxid}) from peer={id}");
                let mut candidates = vec![peer.clone()];
                {
                    let peers = self.peers.borrow();
                    for other in &announcers {
                        if let Some(p) = peers.get(other) {
                            if !candidates.iter().any(|c| Rc::ptr_eq(c, p)) {
                                candidates.push(p.clone());
                            }
                        }
                    }
                }
                // (`lacking` holds parents neither had nor refused.)
                for candidate in &candidates {
                    self.orphan_resolution_candidate(candidate, tx.clone(), &lacking);
                }
                self.send_tx_requests(peer);
            }
            Ok(Err(r)) => {
                self.remember_refusal(&tx, r.kind);
                tracing::debug!(target: "mempoolrej", "{txid} (wtxid={wtxid}) from peer={id} was not accepted: {r}");
                if r.kind == RejectKind::Reconsiderable {
                    self.remember_reconsiderable(&tx, id);
                    // A child this peer sent, waiting for it, may pay for it.
                    let children = self.orphans.borrow_mut().children_of(&txid);
                    let mut paid = false;
                    for child in children {
                        let ours = child.from.contains(&id);
                        if !paid && ours && self.try_1p1c(peer, tx.clone(), child.tx.clone()).await
                        {
                            paid = true;
                            self.retry_orphans(child.tx.compute_txid()).await;
                            continue;
                        }
                        // Back in, with every peer that sent it.
                        let mut orphans = self.orphans.borrow_mut();
                        for from in &child.from {
                            orphans.add(child.tx.clone(), *from);
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(target: "net", "checking {txid}: {e}"),
        }
    }

    /// The active chain moved from height `from` to `to`: orphans the new
    /// blocks include or conflict with are dropped, and those waiting for a
    /// transaction the blocks hold are tried again (Core's EraseForBlock
    /// and AddChildrenToWorkSet; the last 10 blocks at most are read, and
    /// none while there are no orphans).
    pub(super) async fn orphans_after_blocks(&self, from: i32, to: i32) {
        if self.orphans.borrow().is_empty() {
            return;
        }
        // Forward: the blocks above the old tip; after a reorg to the
        // same height or lower, the new tip block at least. Ten at most.
        let first = if to > from { from + 1 } else { to };
        let first = first.max(to - 9);
        for height in first..=to {
            let Some(info) = self.chain.block_at(height) else {
                continue;
            };
            let Ok(block) = self.chain.read_block(&info.hash) else {
                continue;
            };
            let erased = self.orphans.borrow_mut().erase_for_block(&block);
            if erased > 0 {
                tracing::debug!(target: "txpackages", "Erased {erased} orphan transaction(s) included or conflicted by block");
            }
            for tx in &block.txdata {
                if self.orphans.borrow().is_empty() {
                    return;
                }
                self.retry_orphans(tx.compute_txid()).await;
            }
        }
    }

    /// Tries again the orphans waiting for `parent` (and, as they get in,
    /// the orphans waiting for them).
    async fn retry_orphans(&self, parent: Txid) {
        let mut todo = vec![parent];
        while let Some(p) = todo.pop() {
            let children = self.orphans.borrow_mut().children_of(&p);
            for orphan in children {
                let (chain, mempool) = (self.chain.clone(), self.mempool.clone());
                let tx = orphan.tx.clone();
                let args = AcceptArgs::FROM_PEER;
                let txid = tx.compute_txid();
                match tokio::task::spawn_blocking(move || mempool.accept(&chain, tx, args)).await {
                    Ok(Ok(_)) => {
                        tracing::debug!(target: "txpackages", "accepted orphan tx {txid}");
                        todo.push(txid);
                    }
                    // Still missing another parent: it waits on.
                    Ok(Err(r)) if r.kind == RejectKind::MissingInputs => {
                        let from = orphan.from.first().copied().unwrap_or(0);
                        self.orphans.borrow_mut().add(orphan.tx, from);
                    }
                    // Refused for good: its own orphans are refused in turn.
                    Ok(Err(r)) => {
                        tracing::debug!(target: "txpackages", "removed orphan tx {txid}: {r}");
                        self.remember_refusal(&orphan.tx, r.kind);
                    }
                    Err(e) => tracing::warn!(target: "net", "checking orphan {txid}: {e}"),
                }
            }
        }
    }

    /// The orphanage (getorphantxs).
    pub fn orphans(&self) -> Vec<(Arc<Transaction>, Vec<u64>)> {
        self.orphans
            .borrow()
            .all()
            .map(|o| (o.tx.clone(), o.from.clone()))
            .collect()
    }
}
