//! net/sync: which peers we ask for headers, and when, as Core's
//! net_processing does. While our best header is more than a day old,
//! initial headers sync runs with one peer (the first that serves
//! blocks once its handshake is done); an
//! announcement of an unknown block may start sync with one more peer per
//! new block. Once the best header is close to today, every peer that
//! serves blocks is synced from. Each peer has at most one `getheaders` in
//! flight: another goes out only once headers that connect came back or
//! two minutes passed (Core's MaybeSendGetHeaders).

use std::cell::{Cell, RefCell};

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::GetHeadersMessage;
use bitcoin::p2p::ServiceFlags;
use bitcoin::BlockHash;

use super::{permissions, ConnType, Net, Peer, PROTOCOL_VERSION};

/// Core's HEADERS_RESPONSE_TIME: how long a getheaders counts as in flight.
const HEADERS_RESPONSE_TIME_US: i64 = 2 * 60 * 1_000_000;
/// A best header younger than this means we are close to today.
const CLOSE_TO_TODAY_SECS: i64 = 24 * 60 * 60;
/// Core's HEADERS_DOWNLOAD_TIMEOUT_BASE and _PER_HEADER: how long initial
/// headers sync may take, in microseconds.
const HEADERS_DOWNLOAD_TIMEOUT_BASE_US: i64 = 15 * 60 * 1_000_000;
const HEADERS_DOWNLOAD_TIMEOUT_PER_HEADER_US: i64 = 1000;

/// One peer's part in headers sync.
#[derive(Default)]
pub(super) struct PeerSync {
    /// Initial headers sync runs with this peer (Core's fSyncStarted).
    started: Cell<bool>,
    /// When the getheaders in flight went out (mockable microseconds).
    getheaders_at: Cell<Option<i64>>,
    /// An unknown block's announcement already made us ask this peer for
    /// headers before sync started with it.
    inv_triggered: Cell<bool>,
    /// When initial headers sync with this peer counts as stalled
    /// (mockable microseconds; None once caught up).
    timeout: Cell<Option<i64>>,
    /// A low-work headers sync in progress with this peer (net/presync).
    pub(super) presync: RefCell<Option<crate::chain::headers_sync::HeadersSync>>,
}

/// The node's part: how many peers sync runs with, and the block whose
/// announcement last started sync with a peer.
#[derive(Default)]
pub(super) struct SyncState {
    started: Cell<usize>,
    last_inv_trigger: Cell<Option<BlockHash>>,
    /// When presync progress was last logged (net/presync).
    pub(super) presync_reported: Cell<Option<std::time::Instant>>,
}

impl Net {
    /// Core's CanServeBlocks: the peer offers the whole chain or the
    /// recent part.
    pub(super) fn can_serve_blocks(peer: &Peer) -> bool {
        let services = peer.info.borrow().services;
        services & (ServiceFlags::NETWORK.to_u64() | ServiceFlags::NETWORK_LIMITED.to_u64()) != 0
    }

    /// Whether the best header is less than a day old.
    fn close_to_today(&self) -> bool {
        self.best_header_time() > crate::chain::clock::now() - CLOSE_TO_TODAY_SECS
    }

    /// Core's MaybeSendGetHeaders: asks `peer` for the headers after block
    /// `from`, unless a request to it is still in flight. Whether one went.
    pub(super) fn maybe_send_getheaders(&self, peer: &Peer, from: &BlockHash) -> bool {
        self.maybe_send_getheaders_from(peer, self.chain.locator(from))
    }

    /// [`maybe_send_getheaders`](Self::maybe_send_getheaders) with a
    /// locator of the caller's (a low-work sync's).
    pub(super) fn maybe_send_getheaders_from(&self, peer: &Peer, locator: Vec<BlockHash>) -> bool {
        let now = crate::chain::clock::now_micros();
        if peer
            .sync
            .getheaders_at
            .get()
            .is_some_and(|at| now - at <= HEADERS_RESPONSE_TIME_US)
        {
            return false;
        }
        peer.push(NetworkMessage::GetHeaders(GetHeadersMessage {
            version: PROTOCOL_VERSION,
            locator_hashes: locator,
            stop_hash: BlockHash::from_raw_hash(bitcoin::hashes::Hash::all_zeros()),
        }));
        peer.sync.getheaders_at.set(Some(now));
        true
    }

    /// Headers that connect came from `peer`: its getheaders is answered.
    pub(super) fn headers_answered(&self, peer: &Peer) {
        peer.sync.getheaders_at.set(None);
    }

    /// The best header's hash (the tip when the kernel has no better).
    pub(super) fn best_header_hash(&self) -> BlockHash {
        self.chain
            .best_header()
            .map_or(self.chain.tip().hash, |b| b.hash)
    }

    /// Core's start of headers sync in SendMessages (after the handshake,
    /// then every second): one peer while far behind, all once close.
    pub(super) fn maybe_start_sync(&self, peer: &Peer) {
        let (done, conn) = {
            let i = peer.info.borrow();
            (i.handshake_done, i.conn_type)
        };
        // Headers are synced from peers we stay with, not from an
        // address fetch.
        if !done
            || conn == ConnType::AddrFetch
            || peer.sync.started.get()
            || !Self::can_serve_blocks(peer)
        {
            return;
        }
        // Core's sync_blocks_and_headers_from_peer holds for outbound and
        // noban peers, and for the others when no block is being
        // downloaded; we keep no list of blocks in flight, so it is taken
        // as empty and every peer that serves blocks qualifies.
        if !(self.sync.started.get() == 0 || self.close_to_today()) {
            return;
        }
        // From the block before the best header, so that the answer is
        // never empty when the peer is up to date.
        let best = self.best_header_hash();
        let start = self
            .chain
            .block_info(&best)
            .filter(|b| b.height > 0)
            .map_or(best, |b| b.header.prev_blockhash);
        if self.maybe_send_getheaders(peer, &start) {
            let id = peer.info.borrow().id;
            let height = self.chain.block_info(&start).map_or(-1, |b| b.height);
            tracing::debug!(target: "net", "initial getheaders ({height}) to peer={id}");
            peer.sync.started.set(true);
            self.sync.started.set(self.sync.started.get() + 1);
            // Core: fifteen minutes, and a millisecond per header expected
            // between the best header and now.
            let now = crate::chain::clock::now();
            let spacing = self.chain.network().params().pow_target_spacing as i64;
            let per_header = (now - self.best_header_time()).max(0)
                * HEADERS_DOWNLOAD_TIMEOUT_PER_HEADER_US
                / spacing.max(1);
            peer.sync.timeout.set(Some(
                crate::chain::clock::now_micros() + HEADERS_DOWNLOAD_TIMEOUT_BASE_US + per_header,
            ));
        }
    }

    /// Core's stalling check for initial headers sync (every second): the
    /// only sync peer, still far behind after its time while another
    /// preferred peer could take over, is dropped (Err, the reason), or,
    /// with noban, kept and sync with it given up.
    pub(super) fn headers_sync_timeout(&self, peer: &Peer) -> Result<(), String> {
        let Some(deadline) = peer.sync.timeout.get() else {
            return Ok(());
        };
        if !peer.sync.started.get() {
            return Ok(());
        }
        if self.close_to_today() {
            // Caught up once: no timeout from here on.
            peer.sync.timeout.set(None);
            return Ok(());
        }
        let others_preferred = self
            .peers
            .borrow()
            .values()
            .filter(|p| !std::ptr::eq(&***p, peer) && Self::preferred_download(p))
            .count();
        if crate::chain::clock::now_micros() <= deadline
            || self.sync.started.get() != 1
            || others_preferred == 0
        {
            return Ok(());
        }
        let (id, perms) = {
            let i = peer.info.borrow();
            (i.id, i.permissions)
        };
        if perms & permissions::NO_BAN != permissions::NO_BAN {
            tracing::info!("Timeout downloading headers, disconnecting peer={id}");
            return Err("timeout downloading headers".into());
        }
        tracing::info!("Timeout downloading headers from noban peer, not disconnecting peer={id}");
        peer.sync.started.set(false);
        self.sync
            .started
            .set(self.sync.started.get().saturating_sub(1));
        peer.sync.timeout.set(None);
        Ok(())
    }

    /// Core's fPreferredDownload: outbound or noban, not an address
    /// fetch, and serving blocks.
    pub(super) fn preferred_download(peer: &Peer) -> bool {
        let (inbound, perms, conn) = {
            let i = peer.info.borrow();
            (i.inbound, i.permissions, i.conn_type)
        };
        (!inbound || perms & permissions::NO_BAN == permissions::NO_BAN)
            && conn != ConnType::AddrFetch
            && Self::can_serve_blocks(peer)
    }

    /// The best header's timestamp.
    fn best_header_time(&self) -> i64 {
        self.chain
            .best_header()
            .map_or(0, |b| i64::from(b.header.time))
    }

    /// A peer announced `block`, which we do not know: ask it for headers
    /// if sync runs with it, or, once per new block, with one peer it does
    /// not run with yet (Core's handling of a block inv).
    pub(super) fn on_unknown_block_inv(&self, peer: &Peer, block: BlockHash) {
        let started = peer.sync.started.get();
        if !started
            && (peer.sync.inv_triggered.get() || self.sync.last_inv_trigger.get() == Some(block))
        {
            return;
        }
        if self.maybe_send_getheaders(peer, &self.best_header_hash()) {
            let id = peer.info.borrow().id;
            tracing::debug!(target: "net", "getheaders {block} to peer={id}");
        }
        if !started {
            peer.sync.inv_triggered.set(true);
            self.sync.last_inv_trigger.set(Some(block));
        }
    }

    /// A peer is gone: sync no longer runs with it.
    pub(super) fn sync_peer_gone(&self, peer: &Peer) {
        if peer.sync.started.replace(false) {
            self.sync
                .started
                .set(self.sync.started.get().saturating_sub(1));
        }
    }
}
