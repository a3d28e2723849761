//! net/: the node worker's P2P side (first part of the P2P issue): peers
//! over sockets the broker hands it (accepted on the `-listen` sockets it
//! bound, or connected by `Broker.connect` for `-connect`, `-addnode` and the
//! `addnode` RPC), Core's v1 handshake, ping, and headers-first block sync
//! with Core's engine validating every header and block. New tips are
//! announced by headers (to peers that sent `sendheaders`) or inv.
//! Misbehaving peers (bad framing, invalid headers or blocks) are
//! disconnected, unless Core spares them (noban, manual), and logged in the
//! `net` category. The parts: `serve` (what peers may ask of the chain),
//! `sync` (whom we ask for headers), `compact` (BIP152), `txrelay` and
//! `txrequest` (transactions to and from the mempool), `feefilter`,
//! `addrman`/`addrrelay`/`outbound` (addresses and automatic connections),
//! `eviction` (inbound slots), `bans`, `permissions`, `transport`/`codec`.

pub mod addrman;
pub mod addrrelay;
pub mod addrs;
pub mod bans;
mod blockdl;
pub mod bloom;
pub mod codec;
mod compact;
mod confirmed;
mod eviction;
mod feefilter;
pub mod netaddr;
mod orphanage;
mod outbound;
pub mod permissions;
mod presync;
mod rolling;
mod serve;
mod sync;
pub mod transport;
mod txrelay;
mod txrequest;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::{Magic, ServiceFlags};
use bitcoin::BlockHash;
use tokio::sync::mpsc;

use crate::broker::client::BrokerClient;
use crate::chain::{BlockInfo, Chain, SubmitOutcome};

/// Core's PROTOCOL_VERSION.
pub(super) const PROTOCOL_VERSION: u32 = 70016;
/// Core's MIN_PEER_PROTO_VERSION: older peers are dropped.
const MIN_PEER_PROTO_VERSION: u32 = 31800;
/// Core's MAX_BLOCKS_TO_ANNOUNCE: a longer reorganisation is announced
/// by an `inv` of the tip.
const MAX_BLOCKS_TO_ANNOUNCE: usize = 8;
/// Core's MAX_HEADERS_RESULTS.
pub(super) const MAX_HEADERS: usize = 2000;
/// Bytes a peer may leave unread before it is dropped (Core stops serving
/// at `-maxsendbuffer`; a peer this far behind is not reading at all).
const MAX_SEND_QUEUE: usize = 64 * 1024 * 1024;
/// Core's PING_INTERVAL and TIMEOUT_INTERVAL (a ping unanswered this long
/// ends the connection), in microseconds of the mockable clock.
const PING_INTERVAL_US: i64 = 120_000_000;
const PING_TIMEOUT_US: i64 = 20 * 60 * 1_000_000;
/// Messages of unknown type a peer may send before it is dropped.
const MAX_UNKNOWN_MESSAGES: u32 = 1000;
/// Core's ban list file in the network directory.
const BANLIST: &str = "banlist.json";
/// Core's address manager file in the network directory.
pub const PEERS_DAT: &str = "peers.dat";
/// Core's file of block-relay-only peers kept across a clean restart.
pub const ANCHORS_DAT: &str = "anchors.dat";
/// Core's DUMP_PEERS_INTERVAL.
const DUMP_PEERS_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Core's WTXID_RELAY_VERSION (BIP339).
const WTXID_RELAY_VERSION: u32 = 70016;
/// A peer must finish the handshake within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// BIP324's service bit.
const NODE_P2P_V2: u64 = 1 << 11;
/// Core's automatic outbound limits: full-relay peers, block-relay-only
/// peers, and all automatic outbound connections (one more for a feeler).
const MAX_OUTBOUND_FULL_RELAY: usize = 8;
const MAX_BLOCK_RELAY_ONLY: usize = 2;
const MAX_AUTOMATIC_OUTBOUND: usize = MAX_OUTBOUND_FULL_RELAY + MAX_BLOCK_RELAY_ONLY + 1;
/// Core's FEELER_INTERVAL (the mean of an exponential wait).
const FEELER_INTERVAL: Duration = Duration::from_secs(120);
/// Seconds between seed nodes while too few peers come from the address
/// manager (Core's ADD_NEXT_SEEDNODE), and "too few".
const SEEDNODE_WAIT: i64 = 10;
const SEED_OUTBOUND_THRESHOLD: usize = 2;
/// An addr-fetch connection ends after this (Core: 10 times the average
/// address broadcast interval).
const ADDR_FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// Core's ConnectionType: why a connection exists, which decides what
/// goes over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnType {
    Inbound,
    /// `-connect`, `-addnode`, `addnode`, `-seednode`.
    Manual,
    /// Chosen from the address manager: blocks, transactions, addresses.
    OutboundFullRelay,
    /// Blocks only: no transactions, no addresses.
    BlockRelay,
    /// Asks for addresses and leaves.
    AddrFetch,
    /// Checks that an address answers, then leaves.
    Feeler,
}

impl ConnType {
    /// Core's ConnectionTypeAsString.
    pub fn name(self) -> &'static str {
        match self {
            ConnType::Inbound => "inbound",
            ConnType::Manual => "manual",
            ConnType::OutboundFullRelay => "outbound-full-relay",
            ConnType::BlockRelay => "block-relay-only",
            ConnType::AddrFetch => "addr-fetch",
            ConnType::Feeler => "feeler",
        }
    }

    /// The kinds `addconnection` opens.
    pub fn parse_automatic(name: &str) -> Option<ConnType> {
        [
            ConnType::OutboundFullRelay,
            ConnType::BlockRelay,
            ConnType::AddrFetch,
            ConnType::Feeler,
        ]
        .into_iter()
        .find(|c| c.name() == name)
    }

    /// Whether transactions go over such a connection (Core sets up no
    /// transaction relay for block-relay-only and feeler connections).
    pub fn relays_txs(self) -> bool {
        !matches!(self, ConnType::BlockRelay | ConnType::Feeler)
    }
}

/// What `getpeerinfo` shows of one peer.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub inbound: bool,
    pub conn_type: ConnType,
    /// The address we connected to (an outbound connection through a
    /// proxy has the proxy's socket address in `addr`).
    pub target: Option<netaddr::Service>,
    pub version: u32,
    pub subver: String,
    pub services: u64,
    pub start_height: i32,
    pub conntime: u64,
    pub last_send: u64,
    pub last_recv: u64,
    pub bytes_sent: u64,
    pub bytes_recv: u64,
    pub synced_headers: i32,
    /// The height a low-work headers sync with the peer reached (-1: none).
    pub presynced_headers: i64,
    pub synced_blocks: i32,
    pub handshake_done: bool,
    /// `-whitelist` permissions (Core's NetPermissionFlags bits).
    pub permissions: u32,
    /// The BIP324 v2 session id (None: v1).
    pub session_id: Option<[u8; 32]>,
    /// Core's transport_protocol_type: "detecting" while an inbound
    /// connection's first bytes are awaited, then "v1" or "v2".
    pub transport: &'static str,
    pub prefers_headers: bool,
    /// Our side of the connection.
    pub addr_bind: Option<SocketAddr>,
    /// Wire bytes by message type (Core's bytessent_per_msg / bytesrecv_per_msg).
    pub sent_per_msg: BTreeMap<String, u64>,
    pub recv_per_msg: BTreeMap<String, u64>,
    /// The nonce of the ping in flight (Core's m_ping_nonce_sent).
    pub ping_nonce: Option<u64>,
    /// When we last sent a ping, in microseconds of the mockable clock
    /// (Core's m_ping_start).
    pub ping_start: i64,
    /// The `ping` RPC asked for one.
    pub ping_queued: bool,
    /// Last and best round trip of a ping, in seconds.
    pub ping_time: Option<f64>,
    pub min_ping: Option<f64>,
    /// The peer's version message asked for transactions.
    pub relay_txs: bool,
    /// The peer's `feefilter` (BIP133), sat/kvB.
    pub min_fee_filter: i64,
    /// When the peer last sent a new block, or a transaction that entered
    /// the mempool (Core's last_block and last_transaction; 0: never).
    pub last_block: u64,
    pub last_transaction: u64,
    /// The mempool sequence when the peer was last sent an `inv` of
    /// transactions (Core's last_inv_sequence).
    pub last_inv_sequence: u64,
    /// Transactions queued for the next announcement round.
    pub inv_to_send: usize,
    /// Heights of the blocks asked of the peer (getpeerinfo's inflight).
    pub inflight: Vec<i32>,
    /// BIP152 high-bandwidth mode: we asked the peer, the peer asked us.
    pub bip152_hb_to: bool,
    pub bip152_hb_from: bool,
    /// Address relay (see `addrrelay`).
    pub addr_relay: addrrelay::AddrRelayStats,
}

impl PeerInfo {
    /// The peer's address as the address manager knows it: where we
    /// connected to, or where it came from.
    pub fn service(&self) -> netaddr::Service {
        self.target
            .unwrap_or_else(|| netaddr::Service::from_socket(self.addr))
    }
}

struct Peer {
    info: RefCell<PeerInfo>,
    magic: Magic,
    /// Encoded messages for the writer: (message type, wire bytes).
    tx: mpsc::UnboundedSender<(&'static str, Vec<u8>)>,
    /// Bytes queued and not yet written.
    queued: Cell<usize>,
    /// Set when a peer lets more than `MAX_SEND_QUEUE` pile up.
    overflowed: Cell<bool>,
    task: RefCell<Option<tokio::task::AbortHandle>>,
    /// Transaction relay state (see `txrelay`).
    relay: txrelay::PeerRelay,
    /// The peer sent `sendaddrv2` (BIP155) before verack.
    wants_addrv2: Cell<bool>,
    /// The connection runs BIP324 v2 (set once the transport is up).
    v2: Cell<bool>,
    /// Address relay state (see `addrrelay`).
    addr_relay: addrrelay::PeerAddr,
    /// Compact block state (see `compact`).
    compact: compact::PeerCompact,
    /// Messages of unknown type received so far.
    unknown: Cell<u32>,
    /// The nonce of the version message we sent (a node that receives it
    /// back on an inbound connection is talking to itself).
    nonce: Cell<u64>,
    /// The last block of a cut `getblocks` answer (see `serve`).
    continuation: Cell<Option<BlockHash>>,
    /// Bytes read from the socket so far (getpeerinfo's bytesrecv).
    received: Arc<std::sync::atomic::AtomicU64>,
    /// The best block the peer told us of (Core's pindexBestKnownBlock)
    /// and the last header we sent it (pindexBestHeaderSent).
    best_known: Cell<Option<BlockHash>>,
    best_sent: Cell<Option<BlockHash>>,
    /// The last block the peer announced that we did not know then (Core's
    /// hashLastUnknownBlock).
    last_unknown: Cell<Option<BlockHash>>,
    /// Headers sync with this peer (see `sync`).
    sync: sync::PeerSync,
    /// Our feefilter to this peer (see `feefilter`).
    fee_filter_out: feefilter::PeerFeeFilter,
    /// Blocks asked of this peer (see `blockdl`).
    download: blockdl::PeerDownload,
}

impl Peer {
    /// Queues `msg` for the writer, unless the peer is not reading what it
    /// asked for (then it is dropped at the next message it sends).
    fn push(&self, msg: NetworkMessage) {
        let command = msg.cmd();
        let framing = transport::framing(self.v2.get(), &msg);
        let bytes = transport::encode(self.v2.get(), self.magic, msg);
        tracing::debug!(target: "net", "sending {command} ({} bytes) peer={}", bytes.len() - framing, self.info.borrow().id);
        if self.queued.get() + bytes.len() > MAX_SEND_QUEUE {
            self.overflowed.set(true);
            return;
        }
        self.queued.set(self.queued.get() + bytes.len());
        let _ = self.tx.send((command, bytes));
    }
}

/// The worker's peers.
pub struct Net {
    chain: Arc<Chain>,
    broker: Rc<BrokerClient>,
    magic: Magic,
    user_agent: String,
    peers: RefCell<BTreeMap<u64, Rc<Peer>>>,
    next_id: Cell<u64>,
    /// `-addnode` entries and `addnode add` ones.
    added: RefCell<Vec<String>>,
    mempool: Arc<crate::mempool::Mempool>,
    /// Transactions recently refused (not asked for again).
    rejects: RefCell<txrelay::RecentRejects>,
    /// Transactions waiting for their parents.
    orphans: RefCell<orphanage::Orphanage>,
    /// Transactions of blocks connected since the last disconnect.
    recently_confirmed: Arc<confirmed::RecentlyConfirmed>,
    /// Announced transactions and whom to ask for them (see `txrequest`).
    tx_requests: RefCell<txrequest::TxRequests>,
    /// Which block is asked of which peer (see `blockdl`).
    blocks: blockdl::BlockDownload,
    /// One message handled at a time across all peers, as Core's single
    /// message handler thread: a handler that waits on the engine does not
    /// let another peer's message overtake it (fair, first come first
    /// served).
    message_turn: tokio::sync::Mutex<()>,
    /// The tip block's transactions, for `getdata` (see `txrelay`).
    recent_block_txs: RefCell<txrelay::RecentBlockTxs>,
    /// Peers we asked for high-bandwidth compact blocks, oldest first
    /// (Core's lNodesAnnouncingHeaderAndIDs; ids of gone peers stay).
    hb_peers: RefCell<std::collections::VecDeque<u64>>,
    scheduler: txrelay::Scheduler,
    /// `setban` subnets (kept in banlist.json).
    bans: RefCell<bans::BanList>,
    /// `setnetworkactive`: false drops every peer and takes no new ones.
    active: Cell<bool>,
    /// `-maxconnections`.
    max_connections: usize,
    /// Inbound slots, and those of them for peers that relay transactions
    /// (beyond them an inbound peer is evicted, or the new one refused).
    max_inbound: usize,
    max_inbound_full_relay: usize,
    /// The key network groups are hashed with for eviction.
    group_key: std::collections::hash_map::RandomState,
    /// `-v2transport`: offer and accept BIP324.
    v2transport: bool,
    /// `-whitelist` entries.
    whitelist: RefCell<Vec<permissions::WhitelistEntry>>,
    /// `-whitebind` entries.
    whitebinds: RefCell<Vec<permissions::WhitebindEntry>>,
    /// Addresses peers told us about (peers.dat).
    addrs: RefCell<addrman::AddrMan>,
    /// Which peer gets which address when (see `addrrelay`).
    addr_relay: addrrelay::AddrRelay,
    /// The networks we can reach (whose addresses we keep from peers).
    reachable: Vec<netaddr::Network>,
    /// `-cjdnsreachable`: fc00::/8 addresses are CJDNS ones.
    cjdns_reachable: bool,
    /// Automatic outbound connections being opened, by kind.
    opening: RefCell<Vec<ConnType>>,
    /// `-peertimeout`.
    peer_timeout: i64,
    /// `-blocksonly`: peers without the relay permission may not send us
    /// transactions.
    blocks_only: bool,
    /// `-peerbloomfilters`.
    peer_bloom_filters: bool,
    /// `-bantime`.
    ban_time: i64,
    /// `-prune`: we keep only recent blocks, so offer NETWORK_LIMITED
    /// without NETWORK.
    pruned: bool,
    /// Which peers headers sync runs with (see `sync`).
    sync: sync::SyncState,
    /// Whether outbound peers come from the address manager (no
    /// `-connect`): then block-relay-only peers are kept in anchors.dat.
    automatic: Cell<bool>,
    /// Block-relay-only peers of the last run to try first (anchors.dat).
    anchors: RefCell<Vec<addrs::Learned>>,
    /// One banlist.json write at a time, each of the list as it is then.
    saving_bans: Rc<tokio::sync::Mutex<()>>,
    /// Bytes written to and read from all peers, closed ones included.
    total_sent: Cell<u64>,
    total_recv: Arc<std::sync::atomic::AtomicU64>,
}

/// Seconds since the epoch, mockable as Core's GetTime (setmocktime).
fn now() -> u64 {
    crate::chain::clock::now().max(0) as u64
}

/// Why a peer's connection ended early.
enum PeerEnd {
    /// The v2 handshake was hung up on: try v1 on a new connection.
    RetryV1(String),
    Error(String),
}

/// Core's limits for automatic outbound connections under
/// `-maxconnections`: (full relay, block-relay-only, all automatic).
fn outbound_limits(max_connections: usize) -> (usize, usize, usize) {
    let full = MAX_OUTBOUND_FULL_RELAY.min(max_connections);
    let block = MAX_BLOCK_RELAY_ONLY.min(max_connections - full);
    (full, block, MAX_AUTOMATIC_OUTBOUND.min(max_connections))
}

/// Why a message from a peer ends (or may end) its connection.
#[derive(Debug)]
enum Fault {
    /// Core's fDisconnect: the connection ends whatever the peer may do.
    Disconnect(String),
    /// Core's Misbehaving: the connection ends unless the peer has the
    /// `noban` permission or is a manual connection.
    Misbehaving(String),
}

impl From<String> for Fault {
    fn from(why: String) -> Fault {
        Fault::Disconnect(why)
    }
}

impl From<&str> for Fault {
    fn from(why: &str) -> Fault {
        Fault::Disconnect(why.to_string())
    }
}

/// Why `connect` failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("{0}")]
    Broker(String),
    #[error("{0}")]
    Socket(#[from] std::io::Error),
    #[error("network activity is off (setnetworkactive false)")]
    Inactive,
}

/// The P2P options Net starts with.
pub struct NetOptions {
    /// Our user agent, from [`user_agent`].
    pub user_agent: String,
    /// `-maxconnections`.
    pub max_connections: usize,
    /// `-inboundrelaypercent`: the share of inbound slots for peers that
    /// relay transactions.
    pub inbound_relay_percent: usize,
    /// `-v2transport`.
    pub v2transport: bool,
    /// The networks we reach (Core's g_reachable_nets).
    pub reachable: Vec<netaddr::Network>,
    /// `-peertimeout`: seconds before a new peer's inactivity counts.
    pub peer_timeout: i64,
    /// `-blocksonly`.
    pub blocks_only: bool,
    /// `-peerbloomfilters`: offer BIP37 bloom filters (NODE_BLOOM).
    pub peer_bloom_filters: bool,
    /// `-bantime`: seconds a `setban` without a time lasts.
    pub ban_time: i64,
}

/// Core's MAX_SUBVERSION_LENGTH: the longest user agent sent.
const MAX_SUBVERSION_LENGTH: usize = 256;

/// Our user agent (Core's FormatSubVersion) with the `-uacomment` values,
/// which Core's init checks: only its SAFE_CHARS_UA_COMMENT, and 256
/// characters at most in all.
pub fn user_agent(comments: &[String]) -> Result<String, String> {
    let safe = |c: char| c.is_ascii_alphanumeric() || " .,;-_?@".contains(c);
    if let Some(bad) = comments.iter().find(|c| !c.chars().all(safe)) {
        return Err(format!(
            "User Agent comment ({bad}) contains unsafe characters."
        ));
    }
    let comments = if comments.is_empty() {
        String::new()
    } else {
        format!("({})", comments.join("; "))
    };
    let agent = format!("/bitcoin-mp:{}{comments}/", env!("CARGO_PKG_VERSION"));
    if agent.len() > MAX_SUBVERSION_LENGTH {
        return Err(format!("Total length of network version string ({}) exceeds maximum length ({MAX_SUBVERSION_LENGTH}). Reduce the number or size of uacomments.", agent.len()));
    }
    Ok(agent)
}

impl Net {
    pub fn new(
        chain: Arc<Chain>,
        mempool: Arc<crate::mempool::Mempool>,
        broker: Rc<BrokerClient>,
        opts: NetOptions,
        addrman: addrman::AddrMan,
    ) -> Rc<Net> {
        let NetOptions {
            user_agent,
            max_connections,
            inbound_relay_percent,
            v2transport,
            reachable,
            peer_timeout,
            blocks_only,
            peer_bloom_filters,
            ban_time,
        } = opts;
        // Core's CConnman::Init: the automatic outbound slots (full relay,
        // block relay, one feeler) come off -maxconnections first.
        let (full, block, _) = outbound_limits(max_connections);
        let max_inbound = max_connections.saturating_sub(full + block + 1);
        let magic = chain.network().magic();
        let recently_confirmed = Arc::new(confirmed::RecentlyConfirmed::default());
        chain.add_listener(recently_confirmed.clone());
        let pruned = chain.prune_state().is_some();
        Rc::new(Net {
            user_agent,
            chain,
            broker,
            magic,
            peers: RefCell::default(),
            next_id: Cell::new(0),
            added: RefCell::default(),
            mempool,
            rejects: RefCell::default(),
            orphans: RefCell::default(),
            recently_confirmed,
            tx_requests: RefCell::default(),
            blocks: blockdl::BlockDownload::default(),
            message_turn: tokio::sync::Mutex::new(()),
            recent_block_txs: RefCell::default(),
            hb_peers: RefCell::default(),
            scheduler: txrelay::Scheduler::default(),
            bans: RefCell::default(),
            active: Cell::new(true),
            max_connections,
            max_inbound,
            max_inbound_full_relay: inbound_relay_percent * max_inbound / 100,
            group_key: std::collections::hash_map::RandomState::new(),
            v2transport,
            whitelist: RefCell::default(),
            whitebinds: RefCell::default(),
            addrs: RefCell::new(addrman),
            addr_relay: addrrelay::AddrRelay::default(),
            cjdns_reachable: reachable.contains(&netaddr::Network::Cjdns),
            opening: RefCell::default(),
            automatic: Cell::new(false),
            peer_timeout,
            blocks_only,
            peer_bloom_filters,
            ban_time,
            pruned,
            sync: sync::SyncState::default(),
            anchors: RefCell::default(),
            reachable,
            saving_bans: Rc::default(),
            total_sent: Cell::new(0),
            total_recv: Arc::default(),
        })
    }

    /// Accepts peers on the listening sockets until the worker ends, and
    /// announces every new tip.
    pub fn start(self: &Rc<Self>, listeners: Vec<std::net::TcpListener>) {
        for l in listeners {
            let net = self.clone();
            tokio::task::spawn_local(async move {
                let _ = l.set_nonblocking(true);
                let Ok(listener) = tokio::net::TcpListener::from_std(l) else {
                    return;
                };
                loop {
                    match listener.accept().await {
                        Ok((_, addr)) if !net.active.get() => {
                            tracing::debug!(target: "net", "connection from {addr} dropped (network not active)");
                        }
                        Ok((ref stream, addr))
                            if net.is_banned(&netaddr::NetAddr::from_ip(addr.ip()))
                                && net.permissions(addr.ip(), true, stream.local_addr().ok())
                                    & permissions::NO_BAN
                                    != permissions::NO_BAN =>
                        {
                            tracing::debug!(target: "net", "connection from {addr} dropped (banned)");
                        }
                        Ok(_)
                            if net.count_inbound(false) >= net.max_inbound
                                && !net.attempt_to_evict(false, None) =>
                        {
                            tracing::debug!(target: "net", "failed to find an eviction candidate - connection dropped (full)");
                        }
                        Ok((stream, addr)) => {
                            net.start_peer(stream, addr, ConnType::Inbound, None, None)
                        }
                        Err(e) => {
                            tracing::warn!(target: "net", "accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            });
        }
        self.start_tx_relay();
        self.start_rebroadcast();
        self.start_addr_relay();
        let net = self.clone();
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(DUMP_PEERS_INTERVAL).await;
                net.save_peers().await;
            }
        });
        let net = self.clone();
        tokio::task::spawn_local(async move {
            let mut tip = net.chain.watch_tip();
            let mut last_height = tip.borrow().height;
            let mut announced = tip.borrow().hash;
            while tip.changed().await.is_ok() {
                let (hash, height) = {
                    let t = tip.borrow();
                    (t.hash, t.height)
                };
                let blocks = net.blocks_to_announce(announced, hash);
                announced = hash;
                net.announce(&blocks);
                // Orphans are tried in the message handler's turn.
                let turn = net.message_turn.lock().await;
                net.orphans_after_blocks(last_height, height).await;
                drop(turn);
                last_height = height;
            }
        });
    }

    /// Opens an outbound connection through the broker: BIP324 v2 when
    /// `-v2transport` is on, v1 again on a new connection if the peer hangs
    /// up on the v2 handshake.
    pub async fn connect(self: &Rc<Self>, address: &str, conn: ConnType) -> Result<(), NetError> {
        self.connect_with(address, conn, self.v2transport).await
    }

    /// [`connect`](Self::connect) with the transport chosen: v2 (with the
    /// v1 fallback) or v1 only.
    pub async fn connect_with(
        self: &Rc<Self>,
        address: &str,
        conn: ConnType,
        v2: bool,
    ) -> Result<(), NetError> {
        if !self.active.get() {
            return Err(NetError::Inactive);
        }
        tracing::debug!(target: "net", "trying {} connection ({}) to {address}", if v2 { "v2" } else { "v1" }, conn.name());
        let fd = self
            .broker
            .connect(address)
            .await
            .map_err(|e| NetError::Broker(e.to_string()))?;
        let std = std::net::TcpStream::from(fd);
        std.set_nonblocking(true)?;
        let addr = std.peer_addr()?;
        let stream = tokio::net::TcpStream::from_std(std)?;
        let target = netaddr::Service::parse(address, self.default_port());
        self.start_peer(stream, addr, conn, target, v2.then(|| address.to_string()));
        Ok(())
    }

    fn outbound_limits(&self) -> (usize, usize, usize) {
        outbound_limits(self.max_connections)
    }

    /// Open and opening connections of kind `conn`, and all automatic
    /// outbound ones.
    fn count_outbound(&self, conn: ConnType) -> (usize, usize) {
        let automatic = |c: ConnType| !matches!(c, ConnType::Inbound | ConnType::Manual);
        let peers = self.peers.borrow();
        let open = peers.values().map(|p| p.info.borrow().conn_type);
        let opening = self.opening.borrow();
        let all: Vec<ConnType> = open.chain(opening.iter().copied()).collect();
        (
            all.iter().filter(|c| **c == conn).count(),
            all.iter().filter(|c| automatic(**c)).count(),
        )
    }

    /// The groups and kinds of our outbound peers, for choosing the next.
    fn current_outbound(&self) -> outbound::Current {
        let mut current = outbound::Current {
            full_relay: self.count_outbound(ConnType::OutboundFullRelay).0,
            ..Default::default()
        };
        for p in self.peers.borrow().values() {
            let info = p.info.borrow();
            if !matches!(
                info.conn_type,
                ConnType::Manual | ConnType::OutboundFullRelay | ConnType::BlockRelay
            ) {
                continue;
            }
            let addr = info.service().addr;
            if addr.ip().is_some() {
                current.groups.insert(addr.group());
            } else {
                current.privacy_peers += 1;
            }
        }
        current
    }

    /// Core's addconnection (regtest): opens a connection of kind `conn`
    /// to `address` unless that kind, or automatic outbound connections
    /// as a whole, are at their limit; false then.
    pub fn add_connection(self: &Rc<Self>, address: &str, conn: ConnType, v2: bool) -> bool {
        let (full, block, all) = self.outbound_limits();
        let (same, automatic) = self.count_outbound(conn);
        let limit = match conn {
            ConnType::OutboundFullRelay => Some(full),
            ConnType::BlockRelay => Some(block),
            _ => None,
        };
        if limit.is_some_and(|l| same >= l) || automatic >= all {
            return false;
        }
        self.open_automatic(address.to_string(), conn, v2, None);
        true
    }

    /// Opens an automatic connection in the background; `attempt` is the
    /// address-manager entry it came from and whether a failure counts.
    fn open_automatic(
        self: &Rc<Self>,
        address: String,
        conn: ConnType,
        v2: bool,
        attempt: Option<(netaddr::Service, bool)>,
    ) {
        self.opening.borrow_mut().push(conn);
        let net = self.clone();
        tokio::task::spawn_local(async move {
            let result = net.connect_with(&address, conn, v2).await;
            {
                let mut opening = net.opening.borrow_mut();
                if let Some(i) = opening.iter().position(|c| *c == conn) {
                    opening.remove(i);
                }
            }
            if let Some((service, count)) = attempt {
                net.addrs
                    .borrow_mut()
                    .attempt(&service, count, now() as i64);
            }
            if let Err(e) = result {
                tracing::debug!(target: "net", "{} connection to {address} failed: {e}", conn.name());
            }
        });
    }

    /// Core's ThreadOpenConnections without `-connect`: every half second,
    /// a full-relay peer from the address manager while there are fewer
    /// than eight, else a feeler every two minutes on average.
    ///
    /// `-seednode` addresses are asked for addresses (addr-fetch): at once
    /// when the address manager is empty, else one every ten seconds while
    /// fewer than two full-relay peers are connected.
    pub fn start_automatic_connections(
        self: &Rc<Self>,
        mut seeds: Vec<String>,
        anchors: Vec<addrs::Learned>,
    ) {
        self.automatic.set(true);
        *self.anchors.borrow_mut() = anchors;
        let net = self.clone();
        tokio::task::spawn_local(async move {
            let mut add_seed = net.addrs.borrow().size(None, None) == 0 && !seeds.is_empty();
            let mut seed_timer = crate::chain::clock::now();
            let exp = |mean: Duration| {
                Duration::from_micros(addrrelay::poisson_delay(mean.as_micros() as f64) as u64)
            };
            let mut next_feeler = tokio::time::Instant::now() + exp(FEELER_INTERVAL);
            let mut first = true;
            loop {
                if add_seed {
                    add_seed = false;
                    if let Some(seed) = seeds.pop() {
                        if net.addrs.borrow().size(None, None) == 0 {
                            tracing::info!("Empty addrman, adding seednode ({seed}) to addrfetch");
                        } else {
                            tracing::info!("Couldn't connect to peers from addrman after {} seconds. Adding seednode ({seed}) to addrfetch", SEEDNODE_WAIT);
                        }
                        let v2 = net.v2transport;
                        net.open_automatic(seed, ConnType::AddrFetch, v2, None);
                    }
                }
                // The first round at once (anchors are tried first).
                if !std::mem::take(&mut first) {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                if !net.active.get() {
                    continue;
                }
                let current = net.current_outbound();
                if !seeds.is_empty() && current.full_relay < SEED_OUTBOUND_THRESHOLD {
                    let t = crate::chain::clock::now();
                    if t > seed_timer + SEEDNODE_WAIT {
                        seed_timer = t;
                        add_seed = true;
                    }
                }
                let (full, block, all) = net.outbound_limits();
                let (block_relay, automatic) = net.count_outbound(ConnType::BlockRelay);
                if automatic >= all {
                    continue;
                }
                // Core's order: anchors, full-relay peers, block-relay-only
                // peers, then now and then a feeler.
                let anchor = !net.anchors.borrow().is_empty() && block_relay < block;
                let conn = if anchor {
                    ConnType::BlockRelay
                } else if current.full_relay < full {
                    ConnType::OutboundFullRelay
                } else if block_relay < block {
                    ConnType::BlockRelay
                } else if tokio::time::Instant::now() >= next_feeler {
                    next_feeler = tokio::time::Instant::now() + exp(FEELER_INTERVAL);
                    ConnType::Feeler
                } else {
                    continue;
                };
                let t = now() as i64;
                net.addrs.borrow_mut().resolve_collisions(t);
                let connected: Vec<netaddr::Service> = net
                    .peers
                    .borrow()
                    .values()
                    .map(|p| p.info.borrow().service())
                    .collect();
                let port = net.default_port();
                let added: Vec<netaddr::Service> = net
                    .added
                    .borrow()
                    .iter()
                    .filter_map(|a| netaddr::Service::parse(a, port))
                    .collect();
                let skip = |s: &netaddr::Service| connected.contains(s) || added.contains(s);
                let rules = outbound::Rules {
                    reachable: &net.reachable,
                    far_from_tip: net.far_from_tip(),
                    skip: &skip,
                    now: t,
                };
                let picked = if anchor {
                    let mut anchors = net.anchors.borrow_mut();
                    let found = std::iter::from_fn(|| anchors.pop())
                        .find(|a| outbound::anchor_usable(a, &current, &rules));
                    if let Some((s, _, _)) = &found {
                        tracing::debug!(target: "net", "Trying to make an anchor connection to {s}");
                    }
                    found
                } else {
                    let feeler = conn == ConnType::Feeler;
                    outbound::choose(&mut net.addrs.borrow_mut(), feeler, &current, &rules)
                        .map(|a| addrs::learned(&a))
                };
                let Some((service, services, _)) = picked else {
                    continue;
                };
                // Core's OpenNetworkConnection: no automatic connection to
                // a banned address.
                if net.is_banned(&service.addr) {
                    continue;
                }
                let count = outbound::count_failures(&current, net.max_connections);
                // BIP324 when both sides offer it.
                let v2 = net.v2transport && services & NODE_P2P_V2 != 0;
                net.open_automatic(service.to_string(), conn, v2, Some((service, count)));
            }
        });
    }

    /// The chain's default P2P port (for addresses given without one).
    fn default_port(&self) -> u16 {
        crate::config::Chain::from_name(self.chain.network().to_core_arg())
            .map_or(0, |c| c.default_p2p_port())
    }

    /// Remembers (`add`) or forgets (`remove`) an added node; false when
    /// there was nothing to change.
    pub fn set_added(&self, address: &str, add: bool) -> bool {
        let mut added = self.added.borrow_mut();
        // Core's AddNode also refuses another spelling of the same address
        // (`127.1` for `127.0.0.1`); removal goes by the exact text.
        let port = self.default_port();
        let same = |a: &str| {
            a == address
                || (add
                    && netaddr::lookup_numeric(address, port).is_some()
                    && netaddr::lookup_numeric(a, port) == netaddr::lookup_numeric(address, port))
        };
        let known = added.iter().any(|a| same(a));
        match (add, known) {
            (true, false) => added.push(address.to_string()),
            (false, true) => added.retain(|a| a != address),
            _ => return false,
        }
        true
    }

    /// Our user agent (Core's subversion, with the -uacomment values).
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    pub fn added(&self) -> Vec<String> {
        self.added.borrow().clone()
    }

    /// Every peer, by id.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.peers
            .borrow()
            .values()
            .map(|p| {
                let mut info = p.info.borrow().clone();
                info.bytes_recv = p.received.load(std::sync::atomic::Ordering::Relaxed);
                info.relay_txs = p.relay.relay_txs.get();
                info.min_fee_filter = p.relay.fee_filter.get();
                info.inv_to_send = p.relay.inv_to_send();
                info.inflight = p.download.heights();
                info.bip152_hb_to = p.compact.hb_to.get();
                info.bip152_hb_from = p.compact.hb_from.get();
                info.addr_relay = p.addr_relay.stats();
                info
            })
            .collect()
    }

    /// Core's FetchBlock (getblockfrompeer): asks peer `id` for block
    /// `block` (known by its header), forgetting any other request for it;
    /// the block then goes to the engine as any other. Errors are Core's.
    pub fn fetch_block(&self, id: i64, block: &crate::chain::BlockInfo) -> Result<(), String> {
        let peer = u64::try_from(id)
            .ok()
            .and_then(|id| self.peers.borrow().get(&id).cloned())
            .ok_or("Peer does not exist")?;
        let (services, ready) = {
            let i = peer.info.borrow();
            (i.services, i.handshake_done)
        };
        if services & ServiceFlags::WITNESS.to_u64() == 0 {
            return Err("Pre-SegWit peer".into());
        }
        for owner in self.in_flight_peers(&block.hash) {
            let owner = self.peers.borrow().get(&owner).cloned();
            if let Some(owner) = owner {
                self.remove_block_request(&owner, &block.hash);
            }
        }
        if !ready {
            return Err("Peer not fully connected".into());
        }
        self.mark_in_flight(&peer, &block.hash);
        peer.push(NetworkMessage::GetData(vec![Inventory::WitnessBlock(
            block.hash,
        )]));
        tracing::debug!(target: "net", "Requesting block {} from peer={id}", block.hash);
        Ok(())
    }

    /// Sends a ping to every peer that finished its handshake (the `ping`
    /// RPC); the round trip shows in getpeerinfo.
    pub fn ping_all(&self) {
        for peer in self.peers.borrow().values() {
            peer.info.borrow_mut().ping_queued = true;
        }
    }

    /// Core's InactivityCheck, once `-peertimeout` has passed since the
    /// connection: a peer that never sent or was never sent anything, one
    /// silent either way for twenty minutes, one without a finished version
    /// handshake, or one that left a ping unanswered for twenty minutes is
    /// done (the error says why, in Core's words). An address fetch ends
    /// after five minutes whatever `-peertimeout` is.
    fn inactivity_check(&self, peer: &Peer) -> Result<(), String> {
        let now = now() as i64;
        let i = peer.info.borrow();
        // An address fetch that got no addresses in five minutes (Core
        // checks this whatever -peertimeout is).
        let since = now - i.conntime as i64;
        if i.conn_type == ConnType::AddrFetch && since > ADDR_FETCH_TIMEOUT.as_secs() as i64 {
            return Err("addrfetch connection timeout".into());
        }
        if since <= self.peer_timeout {
            return Ok(());
        }
        if i.last_send == 0 || i.last_recv == 0 {
            return Err(format!(
                "socket no message in first {} seconds, {}{}",
                self.peer_timeout,
                if i.last_recv == 0 {
                    "never received from peer, "
                } else {
                    ""
                },
                if i.last_send == 0 {
                    "never sent to peer"
                } else {
                    ""
                }
            )
            .trim_end_matches(", ")
            .to_string());
        }
        let timeout = PING_TIMEOUT_US / 1_000_000;
        if now > i.last_send as i64 + timeout {
            return Err(format!(
                "socket sending timeout: {}s",
                now - i.last_send as i64
            ));
        }
        if now > i.last_recv as i64 + timeout {
            return Err(format!(
                "socket receive timeout: {}s",
                now - i.last_recv as i64
            ));
        }
        if !i.handshake_done {
            return Err("version handshake timeout".into());
        }
        // Core's MaybeSendPing: a ping unanswered for TIMEOUT_INTERVAL.
        let now_us = crate::chain::clock::now_micros();
        if i.ping_nonce.is_some() && now_us > i.ping_start + PING_TIMEOUT_US {
            return Err(format!(
                "ping timeout: {:.6}s",
                (now_us - i.ping_start) as f64 / 1e6
            ));
        }
        Ok(())
    }

    /// Core's MaybeSendPing: after the handshake, a ping the `ping` RPC
    /// queued, or one every PING_INTERVAL when none is in flight (an
    /// unanswered one ends the peer in `inactivity_check`).
    fn maybe_ping(&self, peer: &Peer) {
        let due = {
            let i = peer.info.borrow();
            let now = crate::chain::clock::now_micros();
            i.handshake_done
                && (i.ping_queued
                    || (i.ping_nonce.is_none() && now > i.ping_start + PING_INTERVAL_US))
        };
        if due {
            send_ping(peer);
        }
    }

    /// Drops peer `id` (or the peer at `addr`); false when there is none.
    pub fn disconnect(&self, id: Option<u64>, addr: Option<&str>) -> bool {
        let found: Vec<u64> = self
            .peers
            .borrow()
            .iter()
            .filter(|(pid, p)| {
                id == Some(**pid) || addr.is_some_and(|a| p.info.borrow().addr.to_string() == a)
            })
            .map(|(pid, _)| *pid)
            .collect();
        for pid in &found {
            self.drop_peer(*pid, "disconnected by request");
        }
        !found.is_empty()
    }

    /// An addr-fetch connection is done once a peer sent more than one
    /// address (one may be its self-announcement), as in Core.
    fn end_addr_fetch(&self, peer: &Rc<Peer>, sent: usize) -> Result<(), String> {
        if peer.info.borrow().conn_type == ConnType::AddrFetch && sent > 1 {
            return Err("addrfetch connection completed".into());
        }
        Ok(())
    }

    /// getnodeaddresses: up to `count` (0: all) known good addresses in
    /// random order, of net class `network` when given.
    pub fn node_addresses(
        &self,
        count: usize,
        network: Option<netaddr::Network>,
    ) -> Vec<addrman::AddrInfo> {
        self.addrs
            .borrow_mut()
            .get_addr(count, 0, network, true, now() as i64)
    }

    /// Core's test-only addpeeraddress: `host` (numeric, `.onion` or
    /// `.b32.i2p`) and `port` announcing itself, then moved to the tried
    /// table when `tried`. None for a host that does not parse; else
    /// success and Core's error text.
    pub fn add_peer_address(
        &self,
        host: &str,
        port: u16,
        tried: bool,
    ) -> Option<(bool, Option<&'static str>)> {
        let addr = netaddr::NetAddr::parse_host(host)?.maybe_cjdns(self.cjdns_reachable);
        let service = netaddr::Service { addr, port };
        let services = (ServiceFlags::NETWORK | ServiceFlags::WITNESS).to_u64();
        let t = now() as i64;
        let mut book = self.addrs.borrow_mut();
        if !book.add(&[(service, services, t)], &addr, 0, t) {
            return Some((false, Some("failed-adding-to-new")));
        }
        if tried && !book.good(&service, t) {
            return Some((false, Some("failed-adding-to-tried")));
        }
        Some((true, None))
    }

    /// Core's test-only sendmsgtopeer: `payload` as a message of type
    /// `command` (at most 12 ASCII characters) to peer `id`, unchecked.
    /// Whether the peer exists.
    pub fn send_raw(&self, id: u64, command: &str, payload: Vec<u8>) -> bool {
        let Ok(command) = bitcoin::p2p::message::CommandString::try_from(command.to_string())
        else {
            return false;
        };
        let Some(peer) = self.peers.borrow().get(&id).cloned() else {
            return false;
        };
        peer.push(NetworkMessage::Unknown { command, payload });
        true
    }

    /// getaddrmaninfo: (new, tried) per network, all networks for None.
    pub fn addrman_counts(&self, network: Option<netaddr::Network>) -> (usize, usize) {
        let book = self.addrs.borrow();
        (
            book.size(network, Some(true)),
            book.size(network, Some(false)),
        )
    }

    /// getrawaddrman: one table's entries with their places.
    pub fn addrman_entries(&self, tried: bool) -> Vec<(addrman::AddrInfo, addrman::Position)> {
        self.addrs.borrow().entries(tried)
    }

    /// Core's DumpAnchors at a clean shutdown when outbound peers come
    /// from the address manager: our block-relay-only peers (two at most),
    /// tried first at the next start.
    pub async fn save_anchors(&self) {
        if !self.automatic.get() {
            return;
        }
        let anchors: Vec<addrs::Learned> = self
            .peers
            .borrow()
            .values()
            .map(|p| p.info.borrow())
            .filter(|i| i.conn_type == ConnType::BlockRelay)
            .map(|i| (i.service(), i.services, now() as i64))
            .take(MAX_BLOCK_RELAY_ONLY)
            .collect();
        tracing::info!(
            "DumpAnchors: Flush {} outbound block-relay-only peer addresses to anchors.dat started",
            anchors.len()
        );
        let bytes = addrman::anchors_to_file(self.magic.to_bytes(), &anchors);
        match self.broker.replace_file(ANCHORS_DAT, &bytes).await {
            Ok(()) => tracing::info!("DumpAnchors: Flush {} outbound block-relay-only peer addresses to anchors.dat completed", anchors.len()),
            Err(e) => tracing::warn!(target: "net", "saving {ANCHORS_DAT}: {e}"),
        }
    }

    /// Writes peers.dat through the broker (Core's DumpPeerAddresses).
    pub async fn save_peers(&self) {
        let bytes = self.addrs.borrow().to_file(self.magic.to_bytes());
        let start = std::time::Instant::now();
        match self.broker.replace_file(PEERS_DAT, &bytes).await {
            Ok(()) => {
                tracing::debug!(target: "net", "Flushed {} addresses to peers.dat  {}ms", self.addrs.borrow().size(None, None), start.elapsed().as_millis())
            }
            Err(e) => tracing::warn!(target: "net", "saving {PEERS_DAT}: {e}"),
        }
    }

    /// The networks we reach.
    pub fn reachable(&self) -> &[netaddr::Network] {
        &self.reachable
    }

    /// `-bantime`: how long a ban without a time lasts, in seconds.
    pub fn default_ban_time(&self) -> i64 {
        self.ban_time
    }

    /// `-v2transport`.
    pub fn v2_enabled(&self) -> bool {
        self.v2transport
    }

    /// Core's local service bits: NETWORK_LIMITED and WITNESS, NETWORK
    /// unless pruning, BLOOM with `-peerbloomfilters`, and P2P_V2 with
    /// `-v2transport`.
    pub fn local_services(&self) -> u64 {
        let mut s = (ServiceFlags::NETWORK_LIMITED | ServiceFlags::WITNESS).to_u64();
        if !self.pruned {
            s |= ServiceFlags::NETWORK.to_u64();
        }
        if self.peer_bloom_filters {
            s |= ServiceFlags::BLOOM.to_u64();
        }
        if self.v2transport {
            s |= NODE_P2P_V2;
        }
        s
    }

    /// The services we offer `peer` (Core's m_our_services): ours, and
    /// BLOOM for a peer with the `bloomfilter` permission.
    fn services_for(&self, peer: &Peer) -> u64 {
        let mut s = self.local_services();
        if peer.info.borrow().permissions & permissions::BLOOM_FILTER != 0 {
            s |= ServiceFlags::BLOOM.to_u64();
        }
        s
    }

    /// Whether `peer` may use bloom filters (we offered NODE_BLOOM).
    fn offers_bloom(&self, peer: &Peer) -> bool {
        self.services_for(peer) & ServiceFlags::BLOOM.to_u64() != 0
    }

    /// Sets the `-whitelist` entries.
    pub fn set_whitelist(&self, entries: Vec<permissions::WhitelistEntry>) {
        *self.whitelist.borrow_mut() = entries;
    }

    /// Sets the `-whitebind` entries.
    pub fn set_whitebinds(&self, entries: Vec<permissions::WhitebindEntry>) {
        *self.whitebinds.borrow_mut() = entries;
    }

    /// A peer's permissions: `-whitelist` ones for its address, and for an
    /// inbound one the `-whitebind` ones of the socket it came in on.
    fn permissions(&self, ip: std::net::IpAddr, inbound: bool, local: Option<SocketAddr>) -> u32 {
        let bind = match local {
            Some(local) if inbound => {
                permissions::whitebind_flags(&self.whitebinds.borrow(), local)
            }
            _ => 0,
        };
        permissions::flags_for(&self.whitelist.borrow(), ip, inbound) | bind
    }

    /// (bytes sent, bytes received) over all peers since start.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.total_sent.get(),
            self.total_recv.load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    pub fn is_active(&self) -> bool {
        self.active.get()
    }

    /// Core's SetNetworkActive: off drops every peer and takes no new ones.
    pub fn set_active(&self, active: bool) {
        if self.active.replace(active) != active {
            tracing::info!("SetNetworkActive: {active}");
        }
        if !active {
            let ids: Vec<u64> = self.peers.borrow().keys().copied().collect();
            for id in ids {
                self.drop_peer(id, "network activity turned off");
            }
        }
    }

    fn is_banned(&self, addr: &netaddr::NetAddr) -> bool {
        self.bans
            .borrow()
            .is_banned(addr, crate::chain::clock::now())
    }

    /// Bans `subnet` until `until`, drops the peers inside it and saves the
    /// list; false when it was already banned.
    pub fn ban(self: &Rc<Self>, subnet: bans::Banned, until: i64) -> bool {
        let now = crate::chain::clock::now();
        if !self.bans.borrow_mut().add(
            subnet,
            bans::Ban {
                created: now,
                until,
            },
        ) {
            return false;
        }
        let inside: Vec<u64> = self
            .peers
            .borrow()
            .iter()
            .filter(|(_, p)| subnet.covers(&p.info.borrow().service().addr))
            .map(|(id, _)| *id)
            .collect();
        for id in inside {
            self.drop_peer(id, "banned");
        }
        self.save_bans();
        true
    }

    /// Lifts the ban on `subnet`; false when there was none.
    pub fn unban(self: &Rc<Self>, subnet: &bans::Banned) -> bool {
        let removed = self.bans.borrow_mut().remove(subnet);
        if removed {
            self.save_bans();
        }
        removed
    }

    pub fn clear_bans(self: &Rc<Self>) {
        self.bans.borrow_mut().clear();
        self.save_bans();
    }

    /// The bans still running.
    pub fn banned(&self) -> Vec<(bans::Banned, bans::Ban)> {
        let mut list = self.bans.borrow_mut();
        list.sweep(crate::chain::clock::now());
        list.entries().map(|(s, b)| (*s, *b)).collect()
    }

    /// Reads banlist.json through the broker; when it is missing or not
    /// valid, starts empty and writes a fresh one, as Core's BanMan does.
    pub async fn load_bans(self: &Rc<Self>) {
        let read = self.broker.read_file(BANLIST).await;
        match read.map(|b| serde_json::from_slice::<serde_json::Value>(&b)) {
            Ok(Ok(v)) => *self.bans.borrow_mut() = bans::BanList::from_json(&v),
            other => {
                if let Ok(Err(e)) = other {
                    tracing::warn!(target: "net", "{BANLIST} is not valid JSON ({e})");
                }
                tracing::info!("Recreating the banlist database");
                self.save_bans();
            }
        }
    }

    fn save_bans(self: &Rc<Self>) {
        let net = self.clone();
        tokio::task::spawn_local(async move {
            let _one_at_a_time = net.saving_bans.lock().await;
            let bytes = serde_json::to_vec_pretty(&net.bans.borrow().to_json()).unwrap_or_default();
            if let Err(e) = net.broker.replace_file(BANLIST, &bytes).await {
                tracing::warn!(target: "net", "saving {BANLIST}: {e}");
            }
        });
    }

    /// Core's FinalizeNode for the address manager: a full outbound peer
    /// that completed the handshake was online until now.
    fn note_gone(&self, peer: &Peer) {
        self.sync_peer_gone(peer);
        self.downloads_gone(peer);
        self.orphans
            .borrow_mut()
            .erase_for_peer(peer.info.borrow().id);
        self.tx_requests
            .borrow_mut()
            .disconnected(peer.info.borrow().id);
        let info = &*peer.info.borrow();
        let counted = matches!(
            info.conn_type,
            ConnType::OutboundFullRelay | ConnType::Manual
        );
        if counted && info.handshake_done {
            self.addrs
                .borrow_mut()
                .connected(&info.service(), now() as i64);
        }
    }

    fn drop_peer(&self, id: u64, why: &str) {
        if let Some(peer) = self.peers.borrow_mut().remove(&id) {
            tracing::debug!(target: "net", "disconnecting peer={id}: {why}");
            self.note_gone(&peer);
            if let Some(task) = peer.task.borrow_mut().take() {
                task.abort();
            }
            tracing::debug!(target: "net", "Cleared nodestate for peer={id}");
        }
    }

    /// Runs a new peer. `v2_to` is set for an outbound connection that
    /// tries BIP324 first: the address to reconnect to with v1 if the peer
    /// hangs up on the v2 handshake.
    fn start_peer(
        self: &Rc<Self>,
        stream: tokio::net::TcpStream,
        addr: SocketAddr,
        conn: ConnType,
        target: Option<netaddr::Service>,
        v2_to: Option<String>,
    ) {
        let inbound = conn == ConnType::Inbound;
        let _ = stream.set_nodelay(true);
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (tx, rx) = mpsc::unbounded_channel();
        let peer = Rc::new(Peer {
            info: RefCell::new(PeerInfo {
                id,
                addr,
                inbound,
                conn_type: conn,
                target,
                version: 0,
                subver: String::new(),
                services: 0,
                start_height: -1,
                conntime: now(),
                last_send: 0,
                last_recv: 0,
                bytes_sent: 0,
                bytes_recv: 0,
                synced_headers: -1,
                presynced_headers: -1,
                synced_blocks: -1,
                handshake_done: false,
                permissions: self.permissions(addr.ip(), inbound, stream.local_addr().ok()),
                session_id: None,
                transport: if v2_to.is_some() {
                    "v2"
                } else if inbound && self.v2transport {
                    "detecting"
                } else {
                    "v1"
                },
                prefers_headers: false,
                addr_bind: stream.local_addr().ok(),
                sent_per_msg: BTreeMap::new(),
                recv_per_msg: BTreeMap::new(),
                ping_nonce: None,
                ping_start: 0,
                ping_queued: false,
                ping_time: None,
                min_ping: None,
                relay_txs: false,
                min_fee_filter: 0,
                last_block: 0,
                last_transaction: 0,
                last_inv_sequence: 0,
                inv_to_send: 0,
                inflight: Vec::new(),
                bip152_hb_to: false,
                bip152_hb_from: false,
                addr_relay: Default::default(),
            }),
            magic: self.magic,
            tx,
            queued: Cell::new(0),
            overflowed: Cell::new(false),
            task: RefCell::new(None),
            relay: txrelay::PeerRelay::default(),
            wants_addrv2: Cell::new(false),
            addr_relay: addrrelay::PeerAddr::new(),
            v2: Cell::new(false),
            compact: compact::PeerCompact::default(),
            unknown: Cell::new(0),
            nonce: Cell::new(0),
            continuation: Cell::new(None),
            received: Arc::default(),
            best_known: Cell::new(None),
            best_sent: Cell::new(None),
            last_unknown: Cell::new(None),
            sync: sync::PeerSync::default(),
            fee_filter_out: feefilter::PeerFeeFilter::default(),
            download: blockdl::PeerDownload::default(),
        });
        self.peers.borrow_mut().insert(id, peer.clone());
        tracing::debug!(target: "net", "{} connection peer={id} {addr}", if inbound { "inbound" } else { "outbound" });
        tracing::debug!(target: "net", "Added connection peer={id}");
        // Core's InactivityCheck and MaybeSendPing, every second on the
        // mockable clock, for as long as the peer lasts; transaction
        // announcement rounds are checked ten times a second (Core's
        // message handler wakes at least that often). The once-a-second
        // work runs in the message handler's turn, as Core's SendMessages
        // cannot run while a block is being connected: the download window
        // and stall checks then see the tip the block moved to. A busy turn
        // puts the work off to the next tick.
        let weak = Rc::downgrade(&peer);
        let watcher = Rc::downgrade(self);
        tokio::task::spawn_local(async move {
            let mut due = false;
            for tick in 1u64.. {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let (Some(p), Some(net)) = (weak.upgrade(), watcher.upgrade()) else {
                    break;
                };
                if p.tx.is_closed() || !net.peers.borrow().contains_key(&id) {
                    break;
                }
                net.trickle(&p);
                due |= tick % 10 == 0;
                if !due {
                    continue;
                }
                let Ok(_turn) = net.message_turn.try_lock() else {
                    continue;
                };
                due = false;
                if let Err(why) = net
                    .inactivity_check(&p)
                    .and_then(|()| net.headers_sync_timeout(&p))
                    .and_then(|()| net.block_download_timeouts(&p))
                {
                    tracing::debug!(target: "net", "{why}, disconnecting peer={id}");
                    net.drop_peer(id, &why);
                    break;
                }
                net.maybe_ping(&p);
                net.maybe_start_sync(&p);
                net.request_blocks(&p);
                net.maybe_send_feefilter(&p);
                net.send_tx_requests(&p);
            }
        });
        let net = self.clone();
        let handle = tokio::task::spawn_local(async move {
            let why = match net.run_peer(&peer, stream, rx, v2_to.is_some()).await {
                Ok(()) => "connection closed".to_string(),
                Err(PeerEnd::RetryV1(why)) => {
                    tracing::debug!(target: "net", "{why}; retrying with v1 transport protocol for peer={id}");
                    if let Some(address) = v2_to {
                        let again = net.clone();
                        tokio::task::spawn_local(async move {
                            if let Err(e) = again.connect_with(&address, conn, false).await {
                                tracing::info!(target: "net", "connecting to {address}: {e}");
                            }
                        });
                    }
                    why
                }
                Err(PeerEnd::Error(e)) => e,
            };
            tracing::debug!(target: "net", "peer={id} {addr}: {why}");
            net.peers.borrow_mut().remove(&id);
            net.note_gone(&peer);
            tracing::debug!(target: "net", "Cleared nodestate for peer={id}");
        });
        if let Some(p) = self.peers.borrow().get(&id) {
            *p.task.borrow_mut() = Some(handle.abort_handle());
        }
    }

    fn version_message(&self, to: &Peer, relay: bool) -> NetworkMessage {
        let peer = to.info.borrow().addr;
        let nonce = rand_nonce();
        to.nonce.set(nonce);
        let services = ServiceFlags::from(self.services_for(to));
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        let mut v = VersionMessage::new(
            services,
            now() as i64,
            bitcoin::p2p::Address::new(&peer, ServiceFlags::NONE),
            bitcoin::p2p::Address::new(&unspecified, services),
            nonce,
            self.user_agent.clone(),
            self.chain.tip().height,
        );
        v.version = PROTOCOL_VERSION;
        v.relay = relay;
        NetworkMessage::Version(v)
    }

    /// Core's UpdatedBlockTip: the blocks up to `new_tip` that joined the
    /// active chain since `old_tip` (8 at most, oldest first), or none during initial
    /// block download.
    fn blocks_to_announce(&self, old_tip: BlockHash, new_tip: BlockHash) -> Vec<BlockInfo> {
        if self.chain.initial_block_download() {
            return Vec::new();
        }
        let mut blocks = Vec::new();
        let mut cur = self.chain.block_info(&new_tip);
        while let Some(info) = cur {
            if self.is_ancestor(&info, old_tip) {
                break;
            }
            cur = self.chain.block_info(&info.header.prev_blockhash);
            blocks.push(info);
            if blocks.len() == MAX_BLOCKS_TO_ANNOUNCE {
                break;
            }
        }
        blocks.reverse();
        blocks
    }

    /// Core's block announcement in SendMessages: each peer gets the new
    /// `blocks` it lacks as headers (or one `cmpctblock` if it asked for
    /// high-bandwidth compact blocks), starting at the first one whose
    /// parent it has; otherwise, or when it wants no headers, or for more
    /// than 8 blocks, an `inv` of the tip it lacks.
    fn announce(&self, blocks: &[BlockInfo]) {
        let Some(tip) = blocks.last() else {
            return;
        };
        // Built once, for the peers that asked for high-bandwidth mode.
        let mut compact: Option<Option<NetworkMessage>> = None;
        // Peer-independent: whether the blocks form one line, and the
        // parent of the first (each later one's parent is the one before).
        let in_line = blocks
            .windows(2)
            .all(|w| w[1].header.prev_blockhash == w[0].hash);
        let first_parent = self.chain.block_info(&blocks[0].header.prev_blockhash);
        for peer in self.peers.borrow().values() {
            let (done, prefers_headers) = {
                let p = peer.info.borrow();
                (p.handshake_done, p.prefers_headers)
            };
            if !done {
                continue;
            }
            let hb = peer.compact.hb_from.get() && peer.compact.v2.get();
            let mut revert = (!prefers_headers && (!hb || blocks.len() > 1))
                || blocks.len() > MAX_BLOCKS_TO_ANNOUNCE
                || !in_line;
            let mut headers: Vec<&BlockInfo> = Vec::new();
            if !revert {
                for (i, info) in blocks.iter().enumerate() {
                    let parent = if i == 0 {
                        first_parent.as_ref()
                    } else {
                        Some(&blocks[i - 1])
                    };
                    if !headers.is_empty() {
                        headers.push(info);
                    } else if self.peer_has_block(peer, info) {
                        continue;
                    } else if info.height == 0
                        || parent.is_some_and(|parent| self.peer_has_block(peer, parent))
                    {
                        headers.push(info);
                    } else {
                        // Nothing would connect.
                        revert = true;
                        break;
                    }
                }
            }
            if !revert && !headers.is_empty() {
                let last = headers[headers.len() - 1].hash;
                let msg = if headers.len() == 1 && hb {
                    compact
                        .get_or_insert_with(|| {
                            self.chain
                                .read_block(&last)
                                .ok()
                                .and_then(|b| Self::compact_message(&b))
                        })
                        .clone()
                } else if prefers_headers {
                    Some(NetworkMessage::Headers(
                        headers.iter().map(|i| i.header).collect(),
                    ))
                } else {
                    None
                };
                match msg {
                    Some(msg) => {
                        peer.best_sent.set(Some(last));
                        peer.push(msg);
                    }
                    None => revert = true,
                }
            }
            if revert && !self.peer_has_block(peer, tip) {
                peer.push(NetworkMessage::Inv(vec![Inventory::Block(tip.hash)]));
            }
        }
    }

    /// Core's UpdateBlockAvailability: the peer has `block`; it becomes the
    /// best block known of the peer if it has at least as much work (a
    /// sibling announced later replaces the first).
    fn note_known(&self, peer: &Peer, block: &BlockInfo) {
        let better = match peer.best_known.get() {
            Some(best) => match (
                self.chain.chain_work(&block.hash),
                self.chain.chain_work(&best),
            ) {
                (Some(work), Some(best_work)) => work >= best_work,
                (Some(_), None) => true,
                (None, _) => false,
            },
            None => true,
        };
        if better {
            peer.best_known.set(Some(block.hash));
        }
    }

    /// Core's ProcessBlockAvailability: an announced block we did not know
    /// then may be known now.
    fn update_block_availability(&self, peer: &Peer) {
        if let Some(info) = peer
            .last_unknown
            .get()
            .and_then(|h| self.chain.block_info(&h))
        {
            peer.last_unknown.set(None);
            self.note_known(peer, &info);
        }
    }

    /// Core's PeerHasHeader: the block is on the way to the best block the
    /// peer told us of, or to the last header we sent it (then it is not
    /// announced to it).
    fn peer_has_block(&self, peer: &Peer, block: &BlockInfo) -> bool {
        self.update_block_availability(peer);
        [peer.best_known.get(), peer.best_sent.get()]
            .into_iter()
            .flatten()
            .any(|tip| self.is_ancestor(block, tip))
    }

    /// Whether `block` is `tip` or one of its ancestors (looked up a
    /// hundred blocks back at most).
    fn is_ancestor(&self, block: &BlockInfo, mut tip: BlockHash) -> bool {
        for _ in 0..100 {
            if tip == block.hash {
                return true;
            }
            match self.chain.block_info(&tip) {
                Some(t) if t.height > block.height => tip = t.header.prev_blockhash,
                _ => return false,
            }
        }
        false
    }

    /// Serves one peer until it goes away or misbehaves (the error says why).
    async fn run_peer(
        self: &Rc<Self>,
        peer: &Rc<Peer>,
        stream: tokio::net::TcpStream,
        mut rx: mpsc::UnboundedReceiver<(&'static str, Vec<u8>)>,
        try_v2: bool,
    ) -> Result<(), PeerEnd> {
        let magic = self.magic;
        let network = self.chain.network();
        let inbound = peer.info.borrow().inbound;
        if !inbound && try_v2 {
            tracing::debug!(target: "net", "start sending v2 handshake to peer={}", peer.info.borrow().id);
        }
        let counters = transport::ByteCounters {
            peer: peer.received.clone(),
            total: self.total_recv.clone(),
        };
        let setup = async {
            if inbound {
                transport::accept(stream, magic, network, self.v2transport, counters).await
            } else {
                transport::connect(stream, network, try_v2, counters).await
            }
        };
        let (mut reader, mut writer, v2) = tokio::time::timeout(HANDSHAKE_TIMEOUT, setup)
            .await
            .map_err(|_| PeerEnd::Error("no transport handshake in time".into()))?
            .map_err(|e| match e {
                transport::TransportError::RetryV1(why) => PeerEnd::RetryV1(why),
                transport::TransportError::Handshake(why) => {
                    tracing::debug!(target: "net", "V2 transport error: {why}, peer={}", peer.info.borrow().id);
                    PeerEnd::Error(format!("v2 transport error: {why}"))
                }
                other => PeerEnd::Error(other.to_string()),
            })?;
        peer.v2.set(v2.is_some());
        peer.info.borrow_mut().transport = if v2.is_some() { "v2" } else { "v1" };
        if let Some(id) = v2 {
            tracing::debug!(target: "net", "v2 session {} with peer={}", bitcoin::hex::DisplayHex::to_lower_hex_string(&id[..]), peer.info.borrow().id);
        }
        peer.info.borrow_mut().session_id = v2;
        let writer_peer = peer.clone();
        let writer_net = self.clone();
        let writing = tokio::task::spawn_local(async move {
            while let Some((command, bytes)) = rx.recv().await {
                if writer.write(&bytes).await.is_err() {
                    break;
                }
                writer_peer
                    .queued
                    .set(writer_peer.queued.get().saturating_sub(bytes.len()));
                writer_net
                    .total_sent
                    .set(writer_net.total_sent.get() + bytes.len() as u64);
                let mut info = writer_peer.info.borrow_mut();
                info.bytes_sent += bytes.len() as u64;
                *info.sent_per_msg.entry(command.to_string()).or_default() += bytes.len() as u64;
                info.last_send = now();
            }
        });
        let _writing = AbortOnDrop(writing.abort_handle());
        if !inbound {
            peer.push(self.version_message(peer, !self.rejects_incoming_txs(peer)));
        }
        let started = tokio::time::Instant::now();
        loop {
            let read = reader.read(magic);
            let read = if peer.info.borrow().handshake_done {
                read.await
            } else {
                let left = HANDSHAKE_TIMEOUT.saturating_sub(started.elapsed());
                tokio::time::timeout(left, read)
                    .await
                    .map_err(|_| PeerEnd::Error("no handshake in time".into()))?
            };
            let (msg, size) = match read {
                Ok(m) => m,
                Err(codec::FrameError::Undecodable { command, size, .. }) if command == "pong" => {
                    on_pong(peer, None, size);
                    continue;
                }
                Err(codec::FrameError::Undecodable { command, size, why }) => {
                    // Core's ProcessMessages: the exception is logged and
                    // the peer's next message is read.
                    let id = count_unread(peer, &command, size);
                    if command != "*other*" {
                        tracing::debug!(target: "net", "received: {command} ({size} bytes) peer={id}");
                        tracing::debug!(target: "net", "ProcessMessages({command}, {size} bytes): Exception '{why}' caught");
                    }
                    continue;
                }
                Err(codec::FrameError::AgainstRules { command, size, why }) => {
                    let id = count_unread(peer, &command, size);
                    tracing::debug!(target: "net", "received: {command} ({size} bytes) peer={id}");
                    if self.punishes(peer, &why) {
                        return Err(PeerEnd::Error(why));
                    }
                    continue;
                }
                Err(e) => {
                    tracing::debug!(target: "net", "{e}, disconnecting peer={}", peer.info.borrow().id);
                    return Err(PeerEnd::Error(e.to_string()));
                }
            };
            tracing::debug!(target: "net", "received: {} ({} bytes) peer={}", msg.cmd(), transport::payload_size(peer.v2.get(), &msg, size), peer.info.borrow().id);
            {
                let mut info = peer.info.borrow_mut();
                // Core counts types it does not know as "*other*".
                let kind = match msg {
                    NetworkMessage::Unknown { .. } => "*other*".to_string(),
                    _ => msg.cmd().to_string(),
                };
                *info.recv_per_msg.entry(kind).or_default() += size as u64;
                info.last_recv = now();
            }
            let turn = self.message_turn.lock().await;
            match self.handle(peer, msg).await {
                Ok(()) => {}
                Err(Fault::Disconnect(why)) => return Err(PeerEnd::Error(why)),
                Err(Fault::Misbehaving(why)) => {
                    if self.punishes(peer, &why) {
                        return Err(PeerEnd::Error(why));
                    }
                }
            }
            if peer.overflowed.get() {
                return Err(PeerEnd::Error(
                    "send buffer full: the peer does not read".into(),
                ));
            }
            // Core's SendMessages after each message: headers sync starts
            // or times out now, not only at the next second.
            self.headers_sync_timeout(peer).map_err(PeerEnd::Error)?;
            self.maybe_start_sync(peer);
            self.request_blocks(peer);
            self.maybe_send_feefilter(peer);
            self.send_tx_requests(peer);
            // Core runs SendMessages for every peer after each message, so
            // a message from one peer lets due announcements go to all.
            self.trickle_all();
            drop(turn);
        }
    }

    /// Core's Misbehaving and MaybeDiscourageAndDisconnect: whether the
    /// peer's connection ends for `why`. Peers with `noban` and manual
    /// connections stay. (Core also discourages the address of a peer not
    /// on the local host; we keep no discouragement list.)
    fn punishes(&self, peer: &Peer, why: &str) -> bool {
        let (id, perms, conn, local) = {
            let i = peer.info.borrow();
            (
                i.id,
                i.permissions,
                i.conn_type,
                i.service().addr.is_local(),
            )
        };
        tracing::debug!(target: "net", "Misbehaving: peer={id}: {why}");
        if perms & permissions::NO_BAN == permissions::NO_BAN {
            tracing::warn!("Not punishing noban peer {id}!");
            return false;
        }
        if conn == ConnType::Manual {
            tracing::warn!("Not punishing manually connected peer {id}!");
            return false;
        }
        if local {
            tracing::debug!(target: "net", "Warning: disconnecting but not discouraging local peer {id}!");
        } else {
            tracing::debug!(target: "net", "Disconnecting and discouraging peer {id}!");
        }
        true
    }

    async fn handle(self: &Rc<Self>, peer: &Rc<Peer>, msg: NetworkMessage) -> Result<(), Fault> {
        let send = |m| peer.push(m);
        // Core ignores (and logs) what comes before the handshake is done.
        let (id, version, done) = {
            let i = peer.info.borrow();
            (i.id, i.version, i.handshake_done)
        };
        let handshake = matches!(
            msg,
            NetworkMessage::Version(_)
                | NetworkMessage::Verack
                | NetworkMessage::WtxidRelay
                | NetworkMessage::SendAddrV2
        ) || msg.cmd() == "sendtxrcncl";
        if version == 0 && !matches!(msg, NetworkMessage::Version(_)) {
            tracing::debug!(target: "net", "non-version message before version handshake. Message \"{}\" from peer={id}", msg.cmd());
            return Ok(());
        }
        if version != 0 && !done && !handshake {
            tracing::debug!(target: "net", "Unsupported message \"{}\" prior to verack from peer={id}", msg.cmd());
            return Ok(());
        }
        self.send_due_addrs(peer);
        match msg {
            NetworkMessage::Version(v) => {
                let inbound = {
                    let mut info = peer.info.borrow_mut();
                    if info.version != 0 {
                        // Core logs and ignores it.
                        tracing::debug!(target: "net", "redundant version message from peer={id}");
                        return Ok(());
                    }
                    if v.version < MIN_PEER_PROTO_VERSION {
                        tracing::debug!(target: "net", "peer using obsolete version {}, disconnecting peer={id}", v.version);
                        return Err(format!("peer using obsolete version {}", v.version).into());
                    }
                    info.version = v.version;
                    info.subver = v.user_agent.clone();
                    info.services = v.services.to_u64();
                    info.start_height = v.start_height;
                    info.inbound
                };
                let (conn, addr, service) = {
                    let i = peer.info.borrow();
                    (i.conn_type, i.addr, i.service())
                };
                peer.relay.relay_txs.set(v.relay && conn.relays_txs());
                if inbound {
                    // Core's CheckIncomingNonce: our own version message
                    // came back, so this connection is to ourselves.
                    let to_self = self.peers.borrow().values().any(|p| {
                        let i = p.info.borrow();
                        !i.inbound && !i.handshake_done && p.nonce.get() == v.nonce
                    });
                    if to_self {
                        tracing::info!("connected to self at {addr}, disconnecting");
                        return Err("connected to self".into());
                    }
                    send(self.version_message(peer, !self.rejects_incoming_txs(peer)));
                }
                // BIP339 and BIP155: between version and verack.
                if v.version >= WTXID_RELAY_VERSION {
                    send(NetworkMessage::WtxidRelay);
                    send(NetworkMessage::SendAddrV2);
                }
                // Core: too many inbound peers relaying transactions make
                // another one go, or this one.
                self.make_room_for_tx_relay(peer, "version")?;
                send(NetworkMessage::Verack);
                if matches!(
                    conn,
                    ConnType::OutboundFullRelay | ConnType::BlockRelay | ConnType::AddrFetch
                ) {
                    let offered = v.services.to_u64();
                    let want = outbound::desirable_services(offered, self.far_from_tip());
                    if offered & want != want {
                        return Err(format!("peer does not offer the expected services ({offered:08x} offered, {want:08x} expected)").into());
                    }
                }
                if !inbound {
                    // Core: the connection proves the address works (it
                    // moves to the tried table), and the services it
                    // states replace what gossip said.
                    let mut book = self.addrs.borrow_mut();
                    book.set_services(&service, v.services.to_u64());
                    book.good(&service, now() as i64);
                }
                if conn == ConnType::Feeler {
                    return Err("feeler connection completed".into());
                }
            }
            NetworkMessage::Verack if peer.info.borrow().handshake_done => {
                tracing::debug!(target: "net", "ignoring redundant verack message from peer={}", peer.info.borrow().id);
            }
            NetworkMessage::Verack => {
                peer.info.borrow_mut().handshake_done = true;
                tracing::debug!(target: "net", "New {} peer connected: version: {}, blocks={}, peer={}", if peer.info.borrow().inbound { "inbound" } else { "outbound" }, peer.info.borrow().version, peer.info.borrow().start_height, peer.info.borrow().id);
                let conn = peer.info.borrow().conn_type;
                // Core asks outbound peers that relay addresses for them
                // (not block-relay-only ones).
                if !matches!(conn, ConnType::Inbound | ConnType::BlockRelay) {
                    self.request_addrs(peer);
                }
                send(NetworkMessage::SendHeaders);
                self.offer_compact(peer);
                self.maybe_send_feefilter(peer);
                self.maybe_start_sync(peer);
                send_ping(peer);
            }
            NetworkMessage::Ping(nonce) => send(NetworkMessage::Pong(nonce)),
            NetworkMessage::Pong(nonce) => on_pong(peer, Some(nonce), 8),
            NetworkMessage::SendHeaders => peer.info.borrow_mut().prefers_headers = true,
            NetworkMessage::GetHeaders(g) => {
                serve::check_locator("getheaders", &g.locator_hashes, id)?;
                if !self.serves_headers(peer) {
                    tracing::debug!(target: "net", "Ignoring getheaders from peer={id} because active chain has too little work; sending empty response");
                    send(NetworkMessage::Headers(Vec::new()));
                    return Ok(());
                }
                if let Some(headers) = self.headers_after(&g.locator_hashes, &g.stop_hash, id) {
                    // Core: the last header sent, or our tip when there
                    // was nothing to send.
                    let last = headers
                        .last()
                        .map_or(self.chain.tip().hash, |h| h.block_hash());
                    peer.best_sent.set(Some(last));
                    send(NetworkMessage::Headers(headers));
                }
            }
            NetworkMessage::GetBlocks(g) => {
                serve::check_locator("getblocks", &g.locator_hashes, id)?;
                self.on_getblocks(peer, &g.locator_hashes, &g.stop_hash);
            }
            NetworkMessage::Headers(headers) => self.on_headers(peer, headers).await?,
            NetworkMessage::SendAddrV2 => {
                if peer.info.borrow().handshake_done {
                    let id = peer.info.borrow().id;
                    tracing::debug!(target: "net", "sendaddrv2 received after verack, disconnecting peer={id}");
                    return Err("sendaddrv2 received after verack".into());
                }
                peer.wants_addrv2.set(true);
            }
            NetworkMessage::GetAddr => self.on_getaddr(peer),
            NetworkMessage::Addr(list) => {
                self.on_addr(peer, "addr", addrs::parse_v1(&list))?;
                self.end_addr_fetch(peer, list.len())?;
            }
            NetworkMessage::AddrV2(list) => {
                self.on_addr(peer, "addrv2", addrs::parse_v2(&list))?;
                self.end_addr_fetch(peer, list.len())?;
            }
            NetworkMessage::WtxidRelay => {
                if peer.info.borrow().handshake_done {
                    return Err("wtxidrelay received after verack".into());
                }
                peer.relay.wtxid_relay.set(true);
            }
            NetworkMessage::FeeFilter(rate)
                if (0..=crate::rpc::amount::MAX_MONEY).contains(&rate) =>
            {
                peer.relay.fee_filter.set(rate);
            }
            NetworkMessage::Tx(_) if self.rejects_incoming_txs(peer) => {
                tracing::debug!(target: "net", "transaction sent in violation of protocol, disconnecting peer={id}");
                return Err("transaction sent in violation of protocol".into());
            }
            NetworkMessage::Tx(tx) => self.on_tx(peer, tx).await,
            NetworkMessage::Inv(items) => {
                let mut known_block = false;
                for item in &items {
                    if let Inventory::Block(h) | Inventory::WitnessBlock(h) = item {
                        match self.chain.block_info(h) {
                            Some(info) => {
                                self.note_known(peer, &info);
                                known_block = true;
                            }
                            None => peer.last_unknown.set(Some(*h)),
                        }
                    }
                }
                // Core's SendMessages after the inv: a block we have the
                // header of may now be fetched from this peer (a missing
                // block on the way to it, as after a headers message).
                if known_block {
                    self.request_blocks(peer);
                }
                if self.rejects_incoming_txs(peer) {
                    if let Some((hash, _)) = items.iter().find_map(txrelay::tx_inv) {
                        let tx = <bitcoin::Txid as bitcoin::hashes::Hash>::from_byte_array(hash);
                        tracing::debug!(target: "net", "transaction ({tx}) inv sent in violation of protocol, disconnecting peer={id}");
                        return Err(format!(
                            "transaction ({tx}) inv sent in violation of protocol"
                        )
                        .into());
                    }
                }
                self.on_tx_inv(peer, &items);
                // Headers first: an unknown block is asked for by its
                // headers (the last one announced counts, as in Core).
                let unknown = items.iter().rev().find_map(|i| match i {
                    Inventory::Block(h) | Inventory::WitnessBlock(h)
                        if self.chain.block_info(h).is_none() =>
                    {
                        Some(*h)
                    }
                    _ => None,
                });
                if let Some(block) = unknown {
                    self.on_unknown_block_inv(peer, block);
                }
            }
            NetworkMessage::GetData(items) => {
                tracing::debug!(target: "net", "received getdata ({} invsz) peer={id}", items.len());
                if let Some(first) = items.first() {
                    tracing::debug!(target: "net", "received getdata for: {} peer={id}", serve::inv_string(first));
                }
                // Core answers the transactions it cannot serve with one
                // `notfound` at the end.
                let mut not_found = Vec::new();
                for item in items {
                    if self.serve_tx(peer, &item, &mut not_found) {
                        continue;
                    }
                    if let Inventory::CompactBlock(h) = item {
                        self.serve_compact(peer, h);
                        continue;
                    }
                    self.serve_block(peer, &item)?;
                }
                if !not_found.is_empty() {
                    peer.push(NetworkMessage::NotFound(not_found));
                }
            }
            NetworkMessage::Block(block) => self.on_block(peer, block, false).await?,
            NetworkMessage::SendCmpct(s) => self.on_sendcmpct(peer, &s),
            NetworkMessage::Unknown { command, .. } => {
                // Core ignores message types it does not know; a peer that
                // sends little else is not a peer.
                let n = peer.unknown.get() + 1;
                peer.unknown.set(n);
                tracing::debug!(target: "net", "Unknown command \"{command}\" from peer={}", peer.info.borrow().id);
                if n > MAX_UNKNOWN_MESSAGES {
                    return Err(format!("unknown message flood ({n} messages)").into());
                }
            }
            NetworkMessage::CmpctBlock(c) => self.on_cmpctblock(peer, c.compact_block).await?,
            NetworkMessage::GetBlockTxn(g) => self.serve_blocktxn(peer, &g)?,
            NetworkMessage::BlockTxn(b) => self.on_blocktxn(peer, b).await?,
            NetworkMessage::MemPool => self.on_mempool_request(peer)?,
            NetworkMessage::NotFound(items) => self.on_notfound(peer, &items),
            // Bloom filters (BIP37) only when we offered NODE_BLOOM (BIP111):
            // Core drops a peer that sends them anyway.
            m @ (NetworkMessage::FilterLoad(_)
            | NetworkMessage::FilterAdd(_)
            | NetworkMessage::FilterClear)
                if !self.offers_bloom(peer) =>
            {
                let cmd = m.cmd();
                tracing::debug!(target: "net", "{cmd} received despite not offering bloom services, disconnecting peer={id}");
                return Err(format!("{cmd} received despite not offering bloom services").into());
            }
            NetworkMessage::FilterLoad(f) => self.on_filterload(peer, &f)?,
            NetworkMessage::FilterAdd(f) => self.on_filteradd(peer, &f.data)?,
            NetworkMessage::FilterClear => self.on_filterclear(peer)?,
            // Accepted and not acted on.
            _ => {}
        }
        Ok(())
    }

    async fn on_headers(
        self: &Rc<Self>,
        peer: &Rc<Peer>,
        headers: Vec<bitcoin::block::Header>,
    ) -> Result<(), Fault> {
        if headers.len() > MAX_HEADERS {
            return Err(Fault::Misbehaving(format!(
                "headers message size = {}",
                headers.len()
            )));
        }
        // Core: an empty headers message answers our getheaders, and ends
        // a low-work sync.
        if headers.is_empty() {
            self.end_presync(peer);
            self.headers_answered(peer);
            return Ok(());
        }
        let full = headers.len() == MAX_HEADERS;
        // With a low-work sync running, the headers are its to check; what
        // it hands back has shown enough work.
        let (headers, work_checked) = match self.continue_presync(peer, &headers) {
            Some(ready) if ready.is_empty() => return Ok(()),
            Some(ready) => (ready, true),
            None => (headers, false),
        };
        // Headers that do not connect to what we know (an announcement that
        // skipped blocks): ask for the way there, as Core does.
        let Some(first) = headers.first() else {
            return Ok(());
        };
        if self.chain.block_info(&first.prev_blockhash).is_none() {
            self.maybe_send_getheaders(peer, &self.best_header_hash());
            return Ok(());
        }
        self.headers_answered(peer);
        if !work_checked && !self.enough_header_work(peer, &headers) {
            return Ok(());
        }
        let best_before = self.chain.best_header().map(|b| b.hash);
        // One trip to a blocking thread for the whole message: the engine
        // takes the headers in order and stops at the first invalid one.
        let chain = self.chain.clone();
        let batch = headers.clone();
        let rejected = tokio::task::spawn_blocking(move || {
            for h in &batch {
                if let Some(reason) = chain.submit_header(h)? {
                    return Ok(Some((h.block_hash(), reason)));
                }
            }
            Ok::<_, crate::chain::ChainError>(None)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        if let Some((hash, reason)) = rejected {
            return block_fault(&format!("invalid header {hash}"), &reason);
        }
        self.log_header_progress(best_before, &headers);
        for header in &headers {
            let hash = header.block_hash();
            if let Some(info) = self.chain.block_info(&hash) {
                peer.info.borrow_mut().synced_headers = info.height;
                peer.best_known.set(Some(hash));
            }
        }
        // The blocks themselves: at once from this peer when we are near
        // the tip, else as the download scheduler allots them.
        if let Some(last) = headers
            .last()
            .and_then(|h| self.chain.block_info(&h.block_hash()))
        {
            self.headers_direct_fetch(peer, &last);
        }
        self.request_blocks(peer);
        // A full message: the peer may have more. A low-work sync asks for
        // its own; one that just ended leaves the asking to us (Core).
        if full && peer.sync.presync.borrow().is_none() {
            if let Some(last) = headers.last() {
                self.maybe_send_getheaders(peer, &last.block_hash());
            }
        }
        Ok(())
    }

    /// Core's ApproximateBestBlockDepth >= NODE_NETWORK_LIMITED_ALLOW_CONN_BLOCKS
    /// (144): our tip's time is a day of block spacings or more ago.
    fn far_from_tip(&self) -> bool {
        self.tip_depth() >= 144
    }

    /// Core's anti-DoS check on a headers message that connects: headers
    /// already on our chain or our best header's, and any from a noban
    /// peer, pass; otherwise the chain they end must reach the threshold
    /// (our tip less 144 blocks, and the minimum chain work). Below it a
    /// full message starts a low-work sync (net/presync) and a shorter one
    /// is ignored; nothing is stored either way.
    fn enough_header_work(&self, peer: &Peer, headers: &[bitcoin::block::Header]) -> bool {
        let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
            return true;
        };
        let on_best = self.chain.block_info(&last.block_hash()).is_some_and(|b| {
            b.in_active_chain
                || self
                    .chain
                    .ancestor(&self.best_header_hash(), b.height)
                    .is_some_and(|a| a.hash == b.hash)
        });
        let noban = peer.info.borrow().permissions & permissions::NO_BAN != 0;
        if on_best || noban || !self.low_work(&first.prev_blockhash, headers) {
            return true;
        }
        self.start_presync(peer, headers);
        false
    }

    /// Core's "Synchronizing blockheaders" line after a headers message
    /// moved the best header (from `before`), during initial block
    /// download.
    fn log_header_progress(&self, before: Option<BlockHash>, headers: &[bitcoin::block::Header]) {
        let best = self.chain.best_header().map(|b| b.hash);
        if best == before || !self.chain.initial_block_download() {
            return;
        }
        let Some(last) = headers
            .last()
            .and_then(|h| self.chain.block_info(&h.block_hash()))
        else {
            return;
        };
        tracing::info!(
            "Synchronizing blockheaders, height: {} (~{:.2}%)",
            last.height,
            self.header_progress(i64::from(last.height), i64::from(last.header.time))
        );
    }

    /// Core: no headers from our active chain until it has the minimum
    /// chain work (a peer with the download permission gets them anyway).
    fn serves_headers(&self, peer: &Peer) -> bool {
        if peer.info.borrow().permissions & permissions::DOWNLOAD != 0 {
            return true;
        }
        self.chain
            .chain_work(&self.chain.tip().hash)
            .is_some_and(|w| w >= self.chain.minimum_chain_work())
    }

    /// A whole block, or one rebuilt from a compact block (`via_compact`:
    /// as BIP152 lets peers relay those after checking the header only,
    /// an invalid one is no fault of the peer's, as in Core).
    async fn on_block(
        self: &Rc<Self>,
        peer: &Rc<Peer>,
        block: bitcoin::Block,
        via_compact: bool,
    ) -> Result<(), Fault> {
        let hash = block.block_hash();
        // Core's force_processing: a block we asked for (of anyone) is
        // always processed; one a peer sent unasked only if it could
        // extend a chain with our tip's work.
        let requested = via_compact || !self.in_flight_peers(&hash).is_empty();
        // Whatever comes of it, the peer delivered what it was asked for.
        self.remove_block_request(peer, &hash);
        // Core: a block whose transactions do not match its header (or
        // its witness commitment) is refused before it is looked at. A
        // rebuilt compact block was checked already, without blame.
        if !via_compact
            && self
                .chain
                .block_info(&block.header.prev_blockhash)
                .is_some()
        {
            if let Some(why) = self.block_mutation(&block) {
                tracing::debug!(target: "validation", "Block mutated: {why}");
                return Err(Fault::Misbehaving("mutated block".into()));
            }
        }
        // Core's min_pow_checked: a block whose header is new must end a
        // chain with the anti-DoS work, or its header is not stored.
        if self.chain.block_info(&hash).is_none()
            && self
                .chain
                .block_info(&block.header.prev_blockhash)
                .is_some()
            && self.low_work(
                &block.header.prev_blockhash,
                std::slice::from_ref(&block.header),
            )
        {
            tracing::debug!(target: "validation", "AcceptBlockHeader: not adding new block header {hash}, missing anti-dos proof-of-work validation");
            return Ok(());
        }
        let chain = self.chain.clone();
        let height_before = self.chain.tip().height;
        let id = peer.info.borrow().id;
        if !via_compact {
            self.note_block_source(hash, id);
        }
        let submitted = tokio::task::spawn_blocking(move || {
            if requested {
                chain.submit_block_checked(&block)
            } else {
                chain.submit_unrequested_block(&block)
            }
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        // Core's BlockChecked for this block and for blocks it made the
        // engine connect and find invalid: each one's sender is blamed.
        let checked_here = !matches!(submitted.outcome, SubmitOutcome::Inconclusive);
        if checked_here {
            self.block_checked(&hash);
        }
        for valid in &submitted.others_valid {
            self.block_checked(valid);
        }
        let mut fault = None;
        for (invalid, reason) in &submitted.others_invalid {
            let Some(source) = self.block_checked(invalid) else {
                continue;
            };
            let why = format!("invalid block {invalid}: {reason}");
            if source == id {
                fault = Some(block_fault(&why, reason));
                continue;
            }
            let sender = self.peers.borrow().get(&source).cloned();
            if let Some(sender) = sender {
                if self.punishes(&sender, &why) {
                    self.drop_peer(source, &why);
                }
            }
        }
        if let Some(Err(f)) = fault {
            return Err(f);
        }
        let outcome = submitted.outcome;
        match outcome {
            SubmitOutcome::Rejected(reason) if via_compact => {
                tracing::debug!(target: "net", "compact block {hash} from peer={} is invalid: {reason}", peer.info.borrow().id);
            }
            SubmitOutcome::Rejected(reason) => {
                return block_fault(&format!("invalid block {hash}"), &reason);
            }
            // Core: a block already known invalid counts against outbound
            // peers only.
            SubmitOutcome::DuplicateInvalid if !peer.info.borrow().inbound && !via_compact => {
                return Err(Fault::Misbehaving(format!("invalid block {hash}")));
            }
            SubmitOutcome::DuplicateInvalid => {
                tracing::debug!(target: "net", "block {hash} is known to be invalid");
            }
            outcome => {
                // An unasked block the engine ignored may be asked for
                // later (Core: it has no data for it yet).
                if outcome != SubmitOutcome::Duplicate || self.chain.have_block_data(&hash) {
                    self.block_received(peer, hash);
                }
                self.blocks_connected(self.chain.tip().height - height_before);
                let mut peer_info = peer.info.borrow_mut();
                if let Some(info) = self.chain.block_info(&hash) {
                    peer_info.synced_blocks = info.height;
                    self.note_known(peer, &info);
                }
                if outcome != SubmitOutcome::Duplicate {
                    peer_info.last_block = now();
                }
                drop(peer_info);
                // Core's BlockChecked: a peer whose block is our new tip
                // may announce the next ones compact.
                let tip = self.chain.tip().hash == hash;
                if outcome == SubmitOutcome::Accepted && tip && !self.chain.initial_block_download()
                {
                    self.select_high_bandwidth(peer);
                }
            }
        }
        Ok(())
    }
}

/// Counts a frame that did not become a message in the peer's received
/// bytes per type (with its 24-byte header); the peer's id.
fn count_unread(peer: &Peer, command: &str, size: usize) -> u64 {
    let mut info = peer.info.borrow_mut();
    *info.recv_per_msg.entry(command.to_string()).or_default() += (size + 24) as u64;
    info.id
}

/// Core's MaybePunishNodeForBlock for a header or block the engine refused
/// with `reason`: a timestamp too far ahead is no fault of the peer's (it
/// is only logged); anything else is misbehaviour.
fn block_fault(what: &str, reason: &str) -> Result<(), Fault> {
    if reason.starts_with("time-too-new") {
        tracing::debug!(target: "net", "{what}: {reason}");
        return Ok(());
    }
    Err(Fault::Misbehaving(format!("{what}: {reason}")))
}

/// Sends `peer` a ping and notes when (Core pings right after the handshake
/// and every `PING_INTERVAL`).
fn send_ping(peer: &Peer) {
    let nonce = rand_nonce().max(1);
    let now = crate::chain::clock::now_micros();
    {
        let mut info = peer.info.borrow_mut();
        info.ping_nonce = Some(nonce);
        info.ping_start = now;
        info.ping_queued = false;
    }
    peer.push(NetworkMessage::Ping(nonce));
}

/// Core's PONG handling: `nonce` None for a payload too short to hold one
/// (`size` bytes). A matching nonce finishes the ping and records the round
/// trip; a short payload or a zero nonce cancels it; anything else is
/// logged and the ping stays.
fn on_pong(peer: &Peer, nonce: Option<u64>, size: usize) {
    let mut info = peer.info.borrow_mut();
    let expected = info.ping_nonce.unwrap_or(0);
    let (finished, problem) = match (nonce, info.ping_nonce) {
        (None, _) => (true, Some("Short payload")),
        (Some(_), None) => (false, Some("Unsolicited pong without ping")),
        (Some(n), Some(sent)) if n == sent => {
            let rtt = crate::chain::clock::now_micros() - info.ping_start;
            if rtt >= 0 {
                let secs = rtt as f64 / 1e6;
                info.ping_time = Some(secs);
                info.min_ping = Some(info.min_ping.map_or(secs, |m| m.min(secs)));
                (true, None)
            } else {
                (true, Some("Timing mishap"))
            }
        }
        (Some(0), Some(_)) => (true, Some("Nonce zero")),
        (Some(_), Some(_)) => (false, Some("Nonce mismatch")),
    };
    if let Some(problem) = problem {
        tracing::debug!(target: "net", "pong peer={}: {problem}, {expected:x} expected, {:x} received, {size} bytes", info.id, nonce.unwrap_or(0));
    }
    if finished {
        info.ping_nonce = None;
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A nonce for the version message (self-connection detection).
fn rand_nonce() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return now() ^ u64::from(std::process::id());
    }
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::user_agent;

    #[test]
    fn user_agent_comments_are_checked_as_core_checks_them() {
        let agent = user_agent(&["testnode0".into(), "foo".into()]).unwrap();
        assert!(agent.ends_with("(testnode0; foo)/"), "{agent}");
        for bad in ["/", ":", "(", ")", "₿"] {
            assert_eq!(
                user_agent(&[bad.into()]).unwrap_err(),
                format!("User Agent comment ({bad}) contains unsafe characters.")
            );
        }
        let long = user_agent(&["a".repeat(256)]).unwrap_err();
        assert!(
            long.starts_with("Total length of network version string (")
                && long.ends_with(
                    ") exceeds maximum length (256). Reduce the number or size of uacomments."
                ),
            "{long}"
        );
    }
}
