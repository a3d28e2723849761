//! net/addrrelay: which peer gets which address, and when (Core's address
//! relay with its protections; the tables are `addrman`, the message
//! formats `addrs`).
//!
//! - A peer takes part in address relay only once it sent us `addr`,
//!   `addrv2` or `getaddr`, or (outbound, not block-relay-only) once we
//!   asked it with `getaddr`. Until then it is sent no addresses and its
//!   address messages are ignored.
//! - Address processing is rate limited per peer by a token bucket that
//!   fills at 0.1 address a second up to 1000 (a `getaddr` we sent grants
//!   1000 more); addresses over the limit are dropped and counted, except
//!   from peers with the `addr` permission.
//! - A recent (under ten minutes), routable address from a small message
//!   (at most ten entries) that is not an answer to our `getaddr` is
//!   forwarded to two other peers (one or two when we cannot reach its
//!   network), chosen by a keyed hash of the address, the peer id and a
//!   24-hour slot, so that repeating an address to us does not spread it
//!   further within a day.
//! - What a peer is to be sent waits in its queue and goes out on a Poisson
//!   timer (30 s on average), as `addrv2` or `addr` by the peer's
//!   `sendaddrv2`, without what the peer already knows (a rolling set of
//!   addresses it sent us or we sent it).
//! - `getaddr` is answered once per connection, inbound only, from a cache
//!   per local socket and network that lives 21 to 27 hours, so that
//!   repeated requests cannot map our tables (peers with the `addr`
//!   permission get a fresh answer).
//!
//! Not done: our own address is not announced (the node does not yet
//! learn or guess its external address).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bitcoin::hashes::siphash24;
use bitcoin::p2p::message::NetworkMessage;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::chain::clock::now_micros;

use super::addrs::{self, Learned, MAX_ADDR_TO_SEND, MAX_PCT_ADDR_TO_SEND};
use super::netaddr::{NetAddr, Network, Service};
use super::{permissions, ConnType, Net, Peer};

/// Core's MAX_ADDR_RATE_PER_SECOND.
pub const MAX_ADDR_RATE_PER_SECOND: f64 = 0.1;
/// Core's MAX_ADDR_PROCESSING_TOKEN_BUCKET: the bucket's soft limit.
pub const MAX_ADDR_PROCESSING_TOKEN_BUCKET: f64 = MAX_ADDR_TO_SEND as f64;
/// Core's AVG_ADDRESS_BROADCAST_INTERVAL, in microseconds.
const AVG_ADDRESS_BROADCAST_INTERVAL_US: f64 = 30_000_000.0;
/// Core's ROTATE_ADDR_RELAY_DEST_INTERVAL, in seconds.
const ROTATE_INTERVAL: u64 = 24 * 3600;
/// Only messages this small are relayed (bigger ones answer `getaddr`s).
const MAX_RELAYED_MESSAGE: usize = 10;
/// Only addresses seen this recently (seconds) are relayed.
const MAX_RELAYED_AGE: i64 = 600;
/// A peer's known set keeps at least this many recent addresses.
const KNOWN_GENERATION: usize = 5000;
/// A cached `getaddr` answer lives 21 hours plus up to 6 more.
const CACHE_LIFETIME_US: i64 = 21 * 3600 * 1_000_000;
const CACHE_SPREAD_US: i64 = 6 * 3600 * 1_000_000;
/// How often queued addresses are checked for being due.
const TICK: Duration = Duration::from_millis(100);
/// Domain separators for the node's keyed hashes.
const DOMAIN_RELAY: u64 = 0x6164_6472_2d72_6c79;
const DOMAIN_KNOWN: u64 = 0x6164_6472_2d6b_6e77;

/// A delay drawn from an exponential distribution of mean `mean_us`: the
/// gaps of a Poisson process.
pub(super) fn poisson_delay(mean_us: f64) -> i64 {
    let u: f64 = rand::thread_rng().gen();
    (-(1.0 - u).ln() * mean_us) as i64
}

/// A keyed SipHash of 64-bit words.
fn keyed_hash(seed: (u64, u64), words: &[u64]) -> u64 {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    siphash24::Hash::hash_with_keys(seed.0, seed.1, &bytes).as_u64()
}

/// An unkeyed hash of an address and port, spreading the moment its relay
/// destinations rotate over the day.
fn service_hash(service: &Service) -> u64 {
    siphash24::Hash::hash_with_keys(0, 0, &service.key()).as_u64()
}

/// The peers (at most two, out of `candidates`) an address goes to now:
/// the same ones for every repeat within its 24-hour slot while the peers
/// stay the same.
pub fn destinations(
    seed: (u64, u64),
    service: &Service,
    reachable: bool,
    now_secs: u64,
    candidates: impl IntoIterator<Item = u64>,
) -> Vec<u64> {
    let addr_hash = service_hash(service);
    let slot = now_secs.wrapping_add(addr_hash) / ROTATE_INTERVAL;
    let base = [DOMAIN_RELAY, addr_hash, slot];
    let wanted = if reachable || keyed_hash(seed, &base) & 1 == 1 {
        2
    } else {
        1
    };
    let mut scored: Vec<(u64, u64)> = candidates
        .into_iter()
        .map(|id| (keyed_hash(seed, &[base[0], base[1], base[2], id]), id))
        .collect();
    scored.sort_unstable_by(|a, b| b.cmp(a));
    scored.into_iter().take(wanted).map(|(_, id)| id).collect()
}

/// Core's address token bucket.
#[derive(Debug)]
pub struct TokenBucket {
    tokens: f64,
    /// When it was last filled (microseconds).
    stamp: i64,
}

impl TokenBucket {
    /// One token to start with.
    pub fn new(now_us: i64) -> TokenBucket {
        TokenBucket {
            tokens: 1.0,
            stamp: now_us,
        }
    }

    /// Adds what the time since the last fill earned, up to the soft limit.
    pub fn refill(&mut self, now_us: i64) {
        if self.tokens < MAX_ADDR_PROCESSING_TOKEN_BUCKET {
            let secs = (now_us - self.stamp).max(0) as f64 / 1e6;
            self.tokens = (self.tokens + secs * MAX_ADDR_RATE_PER_SECOND)
                .min(MAX_ADDR_PROCESSING_TOKEN_BUCKET);
        }
        self.stamp = now_us;
    }

    /// Takes a token; false when there is none.
    pub fn take(&mut self) -> bool {
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// Grants `n` more tokens, beyond the soft limit.
    pub fn grant(&mut self, n: f64) {
        self.tokens += n;
    }
}

/// The addresses a peer knows (Core's rolling filter, as two generations
/// of keyed hashes: the newest `KNOWN_GENERATION` at least are kept).
pub type KnownAddrs = super::rolling::RollingSet<u64, KNOWN_GENERATION>;

/// What getpeerinfo shows of a peer's address relay.
#[derive(Clone, Copy, Debug, Default)]
pub struct AddrRelayStats {
    pub enabled: bool,
    /// Addresses taken from its messages (Core's addr_processed).
    pub processed: u64,
    /// Addresses dropped by the rate limit.
    pub rate_limited: u64,
}

/// One peer's address relay state.
pub struct PeerAddr {
    enabled: Cell<bool>,
    known: RefCell<KnownAddrs>,
    queue: RefCell<Vec<Learned>>,
    /// When its queue may go out next (microseconds; 0: at once).
    next_send: Cell<i64>,
    bucket: RefCell<TokenBucket>,
    /// We asked it with `getaddr` and have not had the answer yet.
    getaddr_sent: Cell<bool>,
    /// Its `getaddr` was answered (once per connection).
    getaddr_answered: Cell<bool>,
    processed: Cell<u64>,
    rate_limited: Cell<u64>,
}

impl PeerAddr {
    pub fn new() -> PeerAddr {
        PeerAddr {
            enabled: Cell::new(false),
            known: RefCell::default(),
            queue: RefCell::default(),
            next_send: Cell::new(0),
            bucket: RefCell::new(TokenBucket::new(now_micros())),
            getaddr_sent: Cell::new(false),
            getaddr_answered: Cell::new(false),
            processed: Cell::new(0),
            rate_limited: Cell::new(0),
        }
    }

    pub fn stats(&self) -> AddrRelayStats {
        AddrRelayStats {
            enabled: self.enabled.get(),
            processed: self.processed.get(),
            rate_limited: self.rate_limited.get(),
        }
    }
}

impl Default for PeerAddr {
    fn default() -> PeerAddr {
        PeerAddr::new()
    }
}

/// A cached `getaddr` answer.
struct CachedAnswer {
    addrs: Vec<Learned>,
    expires_us: i64,
}

/// The node-wide part: the hash keys and the `getaddr` answers.
pub struct AddrRelay {
    seed: (u64, u64),
    /// By the requester's network and the local socket it came in on.
    cache: RefCell<HashMap<(Network, Option<SocketAddr>), CachedAnswer>>,
}

impl Default for AddrRelay {
    fn default() -> AddrRelay {
        let mut rng = rand::thread_rng();
        AddrRelay {
            seed: (rng.gen(), rng.gen()),
            cache: RefCell::default(),
        }
    }
}

impl AddrRelay {
    fn key(&self, service: &Service) -> u64 {
        let mut words = vec![DOMAIN_KNOWN, u64::from(service.port)];
        words.extend(service.addr.addr_bytes().chunks(8).map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(w)
        }));
        words.push(service.addr.addr_bytes().len() as u64);
        keyed_hash(self.seed, &words)
    }

    /// The cached answer for `key`, made with `fresh` when there is none
    /// or it expired.
    fn cached(
        &self,
        key: (Network, Option<SocketAddr>),
        now_us: i64,
        fresh: impl FnOnce() -> Vec<Learned>,
    ) -> Vec<Learned> {
        let mut cache = self.cache.borrow_mut();
        let entry = cache.entry(key).or_insert(CachedAnswer {
            addrs: Vec::new(),
            expires_us: i64::MIN,
        });
        if entry.expires_us < now_us {
            entry.addrs = fresh();
            entry.expires_us =
                now_us + CACHE_LIFETIME_US + rand::thread_rng().gen_range(0..CACHE_SPREAD_US);
        }
        entry.addrs.clone()
    }
}

/// Core's SetupAddressRelay: turns relay on for the peer, unless it is a
/// block-relay-only connection (which must not show that we relay
/// addresses, so that it cannot be linked to our other connections).
fn setup(peer: &Peer) -> bool {
    if peer.info.borrow().conn_type == ConnType::BlockRelay {
        return false;
    }
    peer.addr_relay.enabled.set(true);
    true
}

/// Whether the peer can be sent `service` (only `addrv2` carries Tor, I2P
/// and CJDNS addresses).
fn compatible(peer: &Peer, service: &Service) -> bool {
    peer.wants_addrv2.get() || addrs::v1_compatible(&service.addr)
}

impl Net {
    /// Sends what is due from every peer's queue, on `TICK`.
    pub(super) fn start_addr_relay(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(TICK).await;
                let Some(net) = weak.upgrade() else { return };
                let peers: Vec<Rc<Peer>> = net.peers.borrow().values().cloned().collect();
                for peer in peers {
                    net.send_due_addrs(&peer);
                }
            }
        });
    }

    /// Asks an outbound peer for addresses (after the handshake), which
    /// also lets it send up to `MAX_ADDR_TO_SEND` more than the rate limit.
    pub(super) fn request_addrs(&self, peer: &Peer) {
        if !setup(peer) {
            return;
        }
        peer.push(NetworkMessage::GetAddr);
        peer.addr_relay.getaddr_sent.set(true);
        peer.addr_relay
            .bucket
            .borrow_mut()
            .grant(MAX_ADDR_TO_SEND as f64);
    }

    /// Core answers `getaddr` from inbound peers only, once, with at most
    /// 23% of what it knows (and never more than 1000), leaving out
    /// terrible entries; the answer goes out with the peer's next queue.
    pub(super) fn on_getaddr(&self, peer: &Peer) {
        let id = peer.info.borrow().id;
        if !peer.info.borrow().inbound {
            tracing::debug!(target: "net", "Ignoring \"getaddr\" from {} connection. peer={id}", peer.info.borrow().conn_type.name());
            return;
        }
        setup(peer);
        if peer.addr_relay.getaddr_answered.replace(true) {
            tracing::debug!(target: "net", "Ignoring repeated \"getaddr\". peer={id}");
            return;
        }
        peer.addr_relay.queue.borrow_mut().clear();
        let fresh = || self.addrs_to_share();
        let answer = if peer.info.borrow().permissions & permissions::ADDR == permissions::ADDR {
            fresh()
        } else {
            let (remote, local) = {
                let info = peer.info.borrow();
                (info.addr, info.addr_bind)
            };
            let network = NetAddr::from_ip(remote.ip()).net_class();
            self.addr_relay
                .cached((network, local), now_micros(), fresh)
        };
        for entry in &answer {
            self.queue_addr(peer, entry);
        }
    }

    /// What a `getaddr` answer may hold now (Core's GetAddressesUnsafe).
    fn addrs_to_share(&self) -> Vec<Learned> {
        let now = super::now() as i64;
        self.addrs
            .borrow_mut()
            .get_addr(MAX_ADDR_TO_SEND, MAX_PCT_ADDR_TO_SEND, None, true, now)
            .iter()
            .filter(|a| !self.is_banned(&a.service.addr))
            .map(addrs::learned)
            .collect()
    }

    /// An `addr` or `addrv2` message (`command`) with its entries: rate
    /// limited, learned, and the fresh ones relayed (Core's ProcessAddrs).
    pub(super) fn on_addr(
        &self,
        peer: &Peer,
        command: &str,
        list: Vec<Option<Learned>>,
    ) -> Result<(), super::Fault> {
        let id = peer.info.borrow().id;
        if !setup(peer) {
            tracing::debug!(target: "net", "ignoring {command} message from {} peer={id}", peer.info.borrow().conn_type.name());
            return Ok(());
        }
        if list.len() > MAX_ADDR_TO_SEND {
            return Err(super::Fault::Misbehaving(format!(
                "{command} message size = {}",
                list.len()
            )));
        }
        let total = list.len();
        let now = super::now() as i64;
        let state = &peer.addr_relay;
        state.bucket.borrow_mut().refill(now_micros());
        let exempt = peer.info.borrow().permissions & permissions::ADDR == permissions::ADDR;
        let relay = !state.getaddr_sent.get() && total <= MAX_RELAYED_MESSAGE;
        let mut list = list;
        list.shuffle(&mut rand::thread_rng());
        let (mut processed, mut limited) = (0, 0);
        let mut learned = Vec::new();
        for entry in list {
            if !state.bucket.borrow_mut().take() && !exempt {
                limited += 1;
                continue;
            }
            let Some((service, services, time)) = entry else {
                continue;
            };
            if !addrs::may_serve_addresses(services) {
                continue;
            }
            let time = addrs::fix_time(time, now);
            state
                .known
                .borrow_mut()
                .insert(self.addr_relay.key(&service));
            if self.is_banned(&service.addr) {
                continue;
            }
            processed += 1;
            let reachable = self.reachable.contains(&service.addr.net_class());
            if relay && time > now - MAX_RELAYED_AGE && service.addr.is_routable() {
                self.relay_addr(id, &(service, services, time), reachable);
            }
            if reachable {
                learned.push((service, services, time));
            }
        }
        state.processed.set(state.processed.get() + processed);
        state.rate_limited.set(state.rate_limited.get() + limited);
        let source = NetAddr::from_ip(peer.info.borrow().addr.ip());
        self.addrs
            .borrow_mut()
            .add(&learned, &source, addrs::TIME_PENALTY, now);
        if total < MAX_ADDR_TO_SEND {
            state.getaddr_sent.set(false);
        }
        Ok(())
    }

    /// Queues `entry` for the peers its destinations pick among those in
    /// address relay, other than `from`.
    fn relay_addr(&self, from: u64, entry: &Learned, reachable: bool) {
        let peers = self.peers.borrow();
        let candidates = peers
            .iter()
            .filter(|(id, p)| **id != from && p.addr_relay.enabled.get() && compatible(p, &entry.0))
            .map(|(id, _)| *id);
        let chosen = destinations(
            self.addr_relay.seed,
            &entry.0,
            reachable,
            super::now(),
            candidates,
        );
        for id in chosen {
            if let Some(p) = peers.get(&id) {
                self.queue_addr(p, entry);
            }
        }
    }

    /// Adds `entry` to the peer's queue unless the peer knows it or cannot
    /// take it; a full queue has a random entry replaced.
    fn queue_addr(&self, peer: &Peer, entry: &Learned) {
        let service = &entry.0;
        if !service.addr.is_valid()
            || !compatible(peer, service)
            || peer
                .addr_relay
                .known
                .borrow()
                .contains(&self.addr_relay.key(service))
        {
            return;
        }
        let mut queue = peer.addr_relay.queue.borrow_mut();
        if queue.len() >= MAX_ADDR_TO_SEND {
            let i = rand::thread_rng().gen_range(0..queue.len());
            queue[i] = *entry;
        } else {
            queue.push(*entry);
        }
    }

    /// Sends the peer its queue when its timer is due (Core's
    /// MaybeSendAddr), leaving out what it knows.
    pub(super) fn send_due_addrs(&self, peer: &Peer) {
        let state = &peer.addr_relay;
        if !state.enabled.get() || !peer.info.borrow().handshake_done {
            return;
        }
        let now = now_micros();
        if now <= state.next_send.get() {
            return;
        }
        state
            .next_send
            .set(now + poisson_delay(AVG_ADDRESS_BROADCAST_INTERVAL_US));
        let mut queue = std::mem::take(&mut *state.queue.borrow_mut());
        {
            let mut known = state.known.borrow_mut();
            queue.retain(|e| known.insert(self.addr_relay.key(&e.0)));
        }
        if queue.is_empty() {
            return;
        }
        let id = peer.info.borrow().id;
        let (msg, size) = if peer.wants_addrv2.get() {
            let list: Vec<_> = queue.iter().map(addrs::to_v2).collect();
            let size = bitcoin::consensus::serialize(&list).len();
            (NetworkMessage::AddrV2(list), size)
        } else {
            let list: Vec<_> = queue.iter().filter_map(addrs::to_v1).collect();
            let size = bitcoin::consensus::serialize(&list).len();
            (NetworkMessage::Addr(list), size)
        };
        tracing::debug!(target: "net", "sending {} ({size} bytes) peer={id}", msg.cmd());
        peer.push(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::net::Ipv4Addr;

    fn v4(a: u8, b: u8) -> Service {
        Service {
            addr: NetAddr::Ipv4(Ipv4Addr::new(123, 123, a, b)),
            port: 8333,
        }
    }

    #[test]
    fn token_bucket_fills_slowly_up_to_its_limit_and_grants_beyond_it() {
        let t0 = 1_700_000_000_000_000;
        let mut b = TokenBucket::new(t0);
        assert!(b.take());
        assert!(!b.take());
        // 100 seconds at 0.1 a second: ten more.
        b.refill(t0 + 100_000_000);
        assert_eq!((0..20).filter(|_| b.take()).count(), 10);
        // A clock going back earns nothing.
        b.refill(t0);
        assert!(!b.take());
        // A day fills it to the soft limit only.
        b.refill(t0 + 86_400_000_000);
        assert_eq!((0..5000).filter(|_| b.take()).count(), 1000);
        // A getaddr we sent lets 1000 more in, past the soft limit.
        b.refill(t0 + 2 * 86_400_000_000);
        b.grant(1000.0);
        b.refill(t0 + 3 * 86_400_000_000);
        assert_eq!((0..5000).filter(|_| b.take()).count(), 2000);
    }

    #[test]
    fn known_addrs_roll_over_keeping_the_newest() {
        let mut k = KnownAddrs::default();
        assert!(k.insert(1));
        assert!(!k.insert(1));
        for i in 2..=(KNOWN_GENERATION as u64 * 2 + 1) {
            k.insert(i);
        }
        // The first generation is gone, the newest entries stay.
        assert!(!k.contains(&1));
        assert!(k.contains(&(KNOWN_GENERATION as u64 * 2)));
        assert!(k.contains(&(KNOWN_GENERATION as u64 + 1)));
    }

    #[test]
    fn destinations_are_stable_within_a_day_and_rotate_over_days() {
        let seed = (7, 11);
        let peers: Vec<u64> = (0..20).collect();
        let addr = v4(1, 2);
        let day0 = 1_700_000_000u64;
        let first = destinations(seed, &addr, true, day0, peers.clone());
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], first[1]);
        // Within one slot (every hour over a day) at most one rotation:
        // at most four peers in all.
        let mut seen: HashSet<u64> = HashSet::new();
        for h in 0..24 {
            seen.extend(destinations(
                seed,
                &addr,
                true,
                day0 + h * 3600,
                peers.clone(),
            ));
        }
        assert!(seen.len() <= 4, "{seen:?}");
        // Over many days, many peers.
        let mut seen: HashSet<u64> = HashSet::new();
        for d in 0..10 {
            seen.extend(destinations(
                seed,
                &addr,
                true,
                day0 + d * 86_400,
                peers.clone(),
            ));
        }
        assert!(seen.len() > 4, "{seen:?}");
        // Another node (key) picks others: the choice is not predictable.
        let others: Vec<Vec<u64>> = (0..8)
            .map(|k| destinations((k, 0), &addr, true, day0, peers.clone()))
            .collect();
        assert!(others.iter().any(|o| *o != others[0]));
        // Unreachable networks go to one or two peers; fewer candidates
        // cap the count.
        let n = destinations(seed, &addr, false, day0, peers.clone()).len();
        assert!((1..=2).contains(&n));
        assert_eq!(destinations(seed, &addr, true, day0, [5]).len(), 1);
        assert!(destinations(seed, &addr, true, day0, []).is_empty());
    }

    #[test]
    fn poisson_delays_average_their_mean() {
        let n = 20_000;
        let total: i64 = (0..n).map(|_| poisson_delay(30e6)).sum();
        let mean = total as f64 / n as f64;
        assert!((27e6..33e6).contains(&mean), "{mean}");
        assert!((0..1000).all(|_| poisson_delay(30e6) >= 0));
    }

    #[test]
    fn getaddr_answers_are_cached_per_socket_until_they_expire() {
        let relay = AddrRelay::default();
        let local: SocketAddr = "127.0.0.1:18444".parse().unwrap();
        let other: SocketAddr = "127.0.0.1:18445".parse().unwrap();
        let t0 = 1_700_000_000_000_000;
        let calls = Cell::new(0u8);
        let fresh = || {
            calls.set(calls.get() + 1);
            vec![(v4(0, calls.get()), 9, 0)]
        };
        let a = relay.cached((Network::Ipv4, Some(local)), t0, fresh);
        let b = relay.cached((Network::Ipv4, Some(local)), t0 + CACHE_LIFETIME_US, fresh);
        assert_eq!(a, b);
        let c = relay.cached((Network::Ipv4, Some(other)), t0, fresh);
        assert_ne!(a, c);
        let d = relay.cached((Network::Onion, Some(local)), t0, fresh);
        assert_ne!(a, d);
        let e = relay.cached(
            (Network::Ipv4, Some(local)),
            t0 + CACHE_LIFETIME_US + CACHE_SPREAD_US + 1,
            fresh,
        );
        assert_ne!(a, e);
        assert_eq!(calls.get(), 4);
    }

    #[test]
    fn known_keys_tell_addresses_and_ports_apart() {
        let relay = AddrRelay::default();
        let a = v4(1, 1);
        let mut b = a;
        b.port = 8334;
        assert_ne!(relay.key(&a), relay.key(&b));
        assert_ne!(relay.key(&a), relay.key(&v4(1, 2)));
        assert_eq!(relay.key(&a), relay.key(&v4(1, 1)));
    }
}
