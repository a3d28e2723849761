//! net/addrman: the address manager, as Core's AddrMan. Addresses peers
//! tell us about go to the "new" table (1024 buckets of 64, chosen by the
//! address's group and the group of whoever told us, keyed by a secret so
//! that no one can aim at a bucket); addresses we have connected to move to
//! the "tried" table (256 buckets of 64). Outbound connections are chosen
//! from both, and `getaddr` is answered from them. `peers.dat` holds the
//! tables in Core's format (so a `bitcoind` data directory keeps its
//! addresses); `-test=addrman` makes the key and the random choices
//! deterministic and `-checkaddrman` runs Core's consistency checks.

use std::collections::{BTreeSet, HashMap};

use bitcoin::consensus::encode::VarInt;
use bitcoin::hashes::{sha256d, Hash, HashEngine};
use rand::{Rng, SeedableRng};

use super::netaddr::{NetAddr, Network, Service};

/// Core's ADDRMAN_TRIED_BUCKET_COUNT, ADDRMAN_NEW_BUCKET_COUNT and
/// ADDRMAN_BUCKET_SIZE.
pub const TRIED_BUCKETS: usize = 256;
pub const NEW_BUCKETS: usize = 1024;
pub const BUCKET_SIZE: usize = 64;
/// Tried buckets one group may use; new buckets one source group may use;
/// new buckets one address may be in.
const TRIED_BUCKETS_PER_GROUP: u64 = 8;
const NEW_BUCKETS_PER_SOURCE_GROUP: u64 = 64;
const NEW_BUCKETS_PER_ADDRESS: i32 = 8;
/// Addresses not seen for this long are terrible (ADDRMAN_HORIZON).
const HORIZON: i64 = 30 * 24 * 3600;
/// Failed attempts after which a never-successful address is terrible.
const RETRIES: i32 = 3;
/// Failed attempts in MIN_FAIL after which an address is terrible.
const MAX_FAILURES: i32 = 10;
const MIN_FAIL: i64 = 7 * 24 * 3600;
/// A tried entry that worked within this long is not replaced.
const REPLACEMENT: i64 = 4 * 3600;
/// Pending tried-table collisions kept at most.
const SET_TRIED_COLLISION_SIZE: usize = 10;
/// A collision not resolved by a test connection within this is resolved
/// for the newcomer.
const TEST_WINDOW: i64 = 40 * 60;

/// Core's file format versions: we write V4 (BIP155 addresses, several
/// ports per IP) and read V0 to V4.
const FORMAT_V1_DETERMINISTIC: u8 = 1;
const FORMAT_V2_ASMAP: u8 = 2;
const FORMAT_V3_BIP155: u8 = 3;
const FILE_FORMAT: u8 = 4;
const INCOMPATIBILITY_BASE: u8 = 32;
/// CAddress's disk version: the low bits are ignored, 1 << 29 marks BIP155.
const DISK_VERSION_INIT: u32 = 220_000;
const DISK_VERSION_IGNORE_MASK: u32 = 0b0000_0000_0000_0111_1111_1111_1111_1111;
const DISK_VERSION_ADDRV2: u32 = 1 << 29;

/// Why peers.dat could not be read; the texts are Core's (its functional
/// tests match them). `Version` is the one Core answers by moving the file
/// aside and starting afresh; the others stop the node.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddrManError {
    #[error("Unsupported format of addrman database: {format}. It is compatible with formats >={lowest}, but the maximum supported by this version of bitcoin-node is {FILE_FORMAT}.")]
    Version { format: u8, lowest: u8 },
    #[error("AutoFile::read: end of file: iostream error")]
    Eof,
    #[error("Invalid network magic number")]
    Magic,
    #[error("Checksum mismatch, data corrupted")]
    Checksum,
    /// Core's std::ios_base::failure texts (libstdc++ adds the suffix).
    #[error("{0}: iostream error")]
    Corrupt(String),
}

/// One known address with what we know of it (Core's AddrInfo).
#[derive(Clone, Debug, PartialEq)]
pub struct AddrInfo {
    pub service: Service,
    pub services: u64,
    /// Last seen, as peers report it (seconds since the epoch).
    pub time: i64,
    /// Who told us first.
    pub source: NetAddr,
    pub last_success: i64,
    /// Failed attempts since the last success.
    pub attempts: i32,
    /// Memory only.
    pub last_try: i64,
    last_count_attempt: i64,
    ref_count: i32,
    in_tried: bool,
    random_pos: usize,
}

/// Where an entry is: its table, bucket and position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub tried: bool,
    pub bucket: usize,
    pub position: usize,
}

/// SHA256d of the parts, first 8 bytes little-endian (Core's
/// HashWriter::GetCheapHash).
fn cheap_hash(parts: &[&[u8]]) -> u64 {
    let mut e = sha256d::Hash::engine();
    for p in parts {
        e.input(p);
    }
    let h = sha256d::Hash::from_engine(e).to_byte_array();
    u64::from_le_bytes(h[..8].try_into().expect("8 bytes"))
}

/// A byte vector as Core serializes one: CompactSize length, then bytes.
fn ser_vec(v: &[u8]) -> Vec<u8> {
    let mut out = bitcoin::consensus::serialize(&VarInt(v.len() as u64));
    out.extend_from_slice(v);
    out
}

impl AddrInfo {
    fn new(service: Service, services: u64, time: i64, source: NetAddr) -> AddrInfo {
        AddrInfo {
            service,
            services,
            time,
            source,
            last_success: 0,
            attempts: 0,
            last_try: 0,
            last_count_attempt: 0,
            ref_count: 0,
            in_tried: false,
            random_pos: 0,
        }
    }

    fn network(&self) -> Network {
        self.service.addr.network()
    }

    /// Core's GetTriedBucket.
    fn tried_bucket(&self, key: &[u8; 32]) -> usize {
        let h1 = cheap_hash(&[key, &ser_vec(&self.service.key())]);
        let h2 = cheap_hash(&[
            key,
            &ser_vec(&self.service.addr.group()),
            &(h1 % TRIED_BUCKETS_PER_GROUP).to_le_bytes(),
        ]);
        (h2 % TRIED_BUCKETS as u64) as usize
    }

    /// Core's GetNewBucket for source `src`.
    fn new_bucket_from(&self, key: &[u8; 32], src: &NetAddr) -> usize {
        let src_group = ser_vec(&src.group());
        let h1 = cheap_hash(&[key, &ser_vec(&self.service.addr.group()), &src_group]);
        let h2 = cheap_hash(&[
            key,
            &src_group,
            &(h1 % NEW_BUCKETS_PER_SOURCE_GROUP).to_le_bytes(),
        ]);
        (h2 % NEW_BUCKETS as u64) as usize
    }

    fn new_bucket(&self, key: &[u8; 32]) -> usize {
        self.new_bucket_from(key, &self.source)
    }

    /// Core's GetBucketPosition.
    fn bucket_position(&self, key: &[u8; 32], new: bool, bucket: usize) -> usize {
        let h = cheap_hash(&[
            key,
            &[if new { b'N' } else { b'K' }],
            &(bucket as i32).to_le_bytes(),
            &ser_vec(&self.service.key()),
        ]);
        (h % BUCKET_SIZE as u64) as usize
    }

    /// Core's IsTerrible: bad enough to be overwritten or not handed out.
    pub fn is_terrible(&self, now: i64) -> bool {
        if now - self.last_try <= 60 {
            return false;
        }
        self.time > now + 600
            || now - self.time > HORIZON
            || (self.last_success == 0 && self.attempts >= RETRIES)
            || (now - self.last_success > MIN_FAIL && self.attempts >= MAX_FAILURES)
    }

    /// Core's GetChance: how likely Select is to take this entry.
    fn chance(&self, now: i64) -> f64 {
        let recent = if now - self.last_try < 600 { 0.01 } else { 1.0 };
        recent * 0.66f64.powi(self.attempts.min(8))
    }
}

/// The address manager (Core's AddrManImpl).
pub struct AddrMan {
    key: [u8; 32],
    rng: rand::rngs::StdRng,
    next_id: i64,
    info: HashMap<i64, AddrInfo>,
    by_service: HashMap<Service, i64>,
    /// Every id, in an order shuffled as GetAddr goes.
    random: Vec<i64>,
    n_tried: usize,
    n_new: usize,
    tried: Vec<[i64; BUCKET_SIZE]>,
    new: Vec<[i64; BUCKET_SIZE]>,
    /// When Good was last called (1 so that "never" is older).
    last_good: i64,
    tried_collisions: BTreeSet<i64>,
    /// (new, tried) per network.
    counts: HashMap<Network, (usize, usize)>,
    /// `-checkaddrman`: run the consistency check 1 in this many changes.
    check_ratio: u32,
}

impl AddrMan {
    /// An empty manager; `deterministic` (`-test=addrman`) fixes the key at
    /// Core's uint256{1} and seeds the random choices.
    pub fn new(deterministic: bool, check_ratio: u32) -> AddrMan {
        let (key, rng) = if deterministic {
            let mut k = [0u8; 32];
            k[0] = 1;
            (k, rand::rngs::StdRng::seed_from_u64(0))
        } else {
            let mut rng = rand::rngs::StdRng::from_entropy();
            (rng.gen(), rng)
        };
        AddrMan {
            key,
            rng,
            next_id: 0,
            info: HashMap::new(),
            by_service: HashMap::new(),
            random: Vec::new(),
            n_tried: 0,
            n_new: 0,
            tried: vec![[-1; BUCKET_SIZE]; TRIED_BUCKETS],
            new: vec![[-1; BUCKET_SIZE]; NEW_BUCKETS],
            last_good: 1,
            tried_collisions: BTreeSet::new(),
            counts: HashMap::new(),
            check_ratio,
        }
    }

    /// Addresses on `net` (all networks for None) in the new table
    /// (`Some(true)`), the tried one (`Some(false)`) or both.
    pub fn size(&self, net: Option<Network>, in_new: Option<bool>) -> usize {
        let (new, tried) = match net {
            None => (self.n_new, self.n_tried),
            Some(n) => self.counts.get(&n).copied().unwrap_or_default(),
        };
        match in_new {
            Some(true) => new,
            Some(false) => tried,
            None => new + tried,
        }
    }

    fn count(&mut self, net: Network, new: isize, tried: isize) {
        let c = self.counts.entry(net).or_default();
        c.0 = c.0.wrapping_add_signed(new);
        c.1 = c.1.wrapping_add_signed(tried);
    }

    fn find(&self, s: &Service) -> Option<i64> {
        self.by_service.get(s).copied()
    }

    fn create(&mut self, info: AddrInfo) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        let net = info.network();
        self.by_service.insert(info.service, id);
        let mut info = info;
        info.random_pos = self.random.len();
        self.random.push(id);
        self.info.insert(id, info);
        self.n_new += 1;
        self.count(net, 1, 0);
        id
    }

    fn swap_random(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let (ia, ib) = (self.random[a], self.random[b]);
        if let Some(i) = self.info.get_mut(&ia) {
            i.random_pos = b;
        }
        if let Some(i) = self.info.get_mut(&ib) {
            i.random_pos = a;
        }
        self.random.swap(a, b);
    }

    /// Removes a new-table entry no bucket refers to any more.
    fn delete(&mut self, id: i64) {
        let Some(pos) = self.info.get(&id).map(|i| i.random_pos) else {
            return;
        };
        let last = self.random.len() - 1;
        self.swap_random(pos, last);
        self.random.pop();
        if let Some(info) = self.info.remove(&id) {
            self.by_service.remove(&info.service);
            self.count(info.network(), -1, 0);
        }
        self.n_new -= 1;
    }

    /// Empties new[bucket][pos], deleting its entry when nothing else
    /// refers to it.
    fn clear_new(&mut self, bucket: usize, pos: usize) {
        let id = self.new[bucket][pos];
        if id == -1 {
            return;
        }
        self.new[bucket][pos] = -1;
        let gone = self.info.get_mut(&id).is_some_and(|i| {
            i.ref_count -= 1;
            i.ref_count == 0
        });
        if gone {
            self.delete(id);
        }
    }

    /// Moves entry `id` from the new table to the tried one; whatever held
    /// its tried slot goes back to the new table.
    fn make_tried(&mut self, id: i64) {
        let key = self.key;
        let Some(info) = self.info.get(&id).cloned() else {
            return;
        };
        let mut refs = info.ref_count;
        let start = info.new_bucket(&key);
        for n in 0..NEW_BUCKETS {
            let bucket = (start + n) % NEW_BUCKETS;
            let pos = info.bucket_position(&key, true, bucket);
            if self.new[bucket][pos] == id {
                self.new[bucket][pos] = -1;
                refs -= 1;
                if refs == 0 {
                    break;
                }
            }
        }
        self.n_new -= 1;
        self.count(info.network(), -1, 0);
        let bucket = info.tried_bucket(&key);
        let pos = info.bucket_position(&key, false, bucket);
        let evict = self.tried[bucket][pos];
        if evict != -1 {
            let Some(old) = self.info.get(&evict).cloned() else {
                return;
            };
            self.tried[bucket][pos] = -1;
            self.n_tried -= 1;
            self.count(old.network(), 0, -1);
            let ub = old.new_bucket(&key);
            let up = old.bucket_position(&key, true, ub);
            self.clear_new(ub, up);
            if let Some(o) = self.info.get_mut(&evict) {
                o.in_tried = false;
                o.ref_count = 1;
            }
            self.new[ub][up] = evict;
            self.n_new += 1;
            self.count(old.network(), 1, 0);
            tracing::debug!(target: "addrman", "Moved {} from tried[{bucket}][{pos}] to new[{ub}][{up}] to make space", old.service);
        }
        self.tried[bucket][pos] = id;
        self.n_tried += 1;
        self.count(info.network(), 0, 1);
        if let Some(i) = self.info.get_mut(&id) {
            i.ref_count = 0;
            i.in_tried = true;
        }
    }

    /// Core's AddSingle: whether the address took a (new) slot.
    fn add_single(
        &mut self,
        service: Service,
        services: u64,
        time: i64,
        source: &NetAddr,
        mut penalty: i64,
        now: i64,
    ) -> bool {
        if !service.addr.is_routable() {
            return false;
        }
        // A source announcing itself gets no penalty.
        if service.addr == *source {
            penalty = 0;
        }
        let key = self.key;
        let id = match self.find(&service) {
            Some(id) => {
                let Some(info) = self.info.get_mut(&id) else {
                    return false;
                };
                let online = now - time < 24 * 3600;
                let interval = if online { 3600 } else { 24 * 3600 };
                if info.time < time - interval - penalty {
                    info.time = (time - penalty).max(0);
                }
                info.services |= services;
                if time <= info.time || info.in_tried || info.ref_count == NEW_BUCKETS_PER_ADDRESS {
                    return false;
                }
                // Each further reference is twice as hard to get.
                let refs = info.ref_count;
                if refs > 0 && self.rng.gen_range(0..1u32 << refs) != 0 {
                    return false;
                }
                id
            }
            None => self.create(AddrInfo::new(
                service,
                services,
                (time - penalty).max(0),
                *source,
            )),
        };
        let Some(info) = self.info.get(&id) else {
            return false;
        };
        let bucket = info.new_bucket_from(&key, source);
        let pos = info.bucket_position(&key, true, bucket);
        let refs = info.ref_count;
        let there = self.new[bucket][pos];
        let mut insert = there == -1;
        if there != id {
            if !insert {
                let existing = &self.info[&there];
                if existing.is_terrible(now) || (existing.ref_count > 1 && refs == 0) {
                    insert = true;
                }
            }
            if insert {
                self.clear_new(bucket, pos);
                if let Some(i) = self.info.get_mut(&id) {
                    i.ref_count += 1;
                }
                self.new[bucket][pos] = id;
                tracing::debug!(target: "addrman", "Added {service} to new[{bucket}][{pos}]");
            } else if refs == 0 {
                self.delete(id);
            }
        }
        insert
    }

    /// Core's Add: learns `addrs` (address, services, time) from `source`,
    /// their times moved back by `penalty` seconds; whether any was taken.
    pub fn add(
        &mut self,
        addrs: &[(Service, u64, i64)],
        source: &NetAddr,
        penalty: i64,
        now: i64,
    ) -> bool {
        let mut added = 0;
        for (s, services, time) in addrs {
            if self.add_single(*s, *services, *time, source, penalty, now) {
                added += 1;
            }
        }
        if added > 0 {
            tracing::debug!(target: "addrman", "Added {added} addresses (of {}) from {source}: {} tried, {} new", addrs.len(), self.n_tried, self.n_new);
        }
        self.check();
        added > 0
    }

    /// Core's Good (with test-before-evict): we connected to `s`. Moves it
    /// to the tried table unless that would evict another entry, which is
    /// then kept as a collision to test. Whether it moved.
    pub fn good(&mut self, s: &Service, now: i64) -> bool {
        let moved = self.good_inner(s, true, now);
        self.check();
        moved
    }

    fn good_inner(&mut self, s: &Service, test_before_evict: bool, now: i64) -> bool {
        self.last_good = now;
        let Some(id) = self.find(s) else {
            return false;
        };
        let key = self.key;
        let Some(info) = self.info.get_mut(&id) else {
            return false;
        };
        info.last_success = now;
        info.last_try = now;
        info.attempts = 0;
        if info.in_tried || info.ref_count == 0 {
            return false;
        }
        let bucket = info.tried_bucket(&key);
        let pos = info.bucket_position(&key, false, bucket);
        if test_before_evict && self.tried[bucket][pos] != -1 {
            if self.tried_collisions.len() < SET_TRIED_COLLISION_SIZE {
                self.tried_collisions.insert(id);
            }
            tracing::debug!(target: "addrman", "Collision while attempting to move {s} to tried table. Collisions={}", self.tried_collisions.len());
            return false;
        }
        self.make_tried(id);
        tracing::debug!(target: "addrman", "Moved {s} to tried[{bucket}][{pos}]");
        true
    }

    /// Core's Attempt: we tried to connect to `s`; a failure counts when
    /// Good was called since the last counted one.
    pub fn attempt(&mut self, s: &Service, count_failure: bool, now: i64) {
        let last_good = self.last_good;
        if let Some(info) = self.find(s).and_then(|id| self.info.get_mut(&id)) {
            info.last_try = now;
            if count_failure && info.last_count_attempt < last_good {
                info.last_count_attempt = now;
                info.attempts += 1;
            }
        }
    }

    /// Core's Connected: a peer we were connected to went away; its time
    /// is refreshed (at most every 20 minutes).
    pub fn connected(&mut self, s: &Service, now: i64) {
        if let Some(info) = self.find(s).and_then(|id| self.info.get_mut(&id)) {
            if now - info.time > 20 * 60 {
                info.time = now;
            }
        }
    }

    /// Core's SetServices: what a peer we connected to says it offers.
    pub fn set_services(&mut self, s: &Service, services: u64) {
        if let Some(info) = self.find(s).and_then(|id| self.info.get_mut(&id)) {
            info.services = services;
        }
    }

    fn entry(&self, tried: bool, bucket: usize, pos: usize) -> i64 {
        if tried {
            self.tried[bucket][pos]
        } else {
            self.new[bucket][pos]
        }
    }

    /// Core's Select: an address to connect to, from the new table only or
    /// from either (half the time each), limited to `networks` when not
    /// empty; entries tried recently or failing are less likely.
    pub fn select(&mut self, new_only: bool, networks: &[Network], now: i64) -> Option<AddrInfo> {
        let (mut new_count, mut tried_count) = (self.n_new, self.n_tried);
        if !networks.is_empty() {
            (new_count, tried_count) = networks.iter().fold((0, 0), |(n, t), net| {
                let (a, b) = self.counts.get(net).copied().unwrap_or_default();
                (n + a, t + b)
            });
        }
        if (new_only && new_count == 0) || new_count + tried_count == 0 {
            return None;
        }
        let search_tried = if new_only || tried_count == 0 {
            false
        } else if new_count == 0 {
            true
        } else {
            self.rng.gen_bool(0.5)
        };
        let buckets = if search_tried {
            TRIED_BUCKETS
        } else {
            NEW_BUCKETS
        };
        let mut factor = 1.0f64;
        loop {
            let bucket = self.rng.gen_range(0..buckets);
            let start = self.rng.gen_range(0..BUCKET_SIZE);
            let found = (0..BUCKET_SIZE)
                .map(|i| self.entry(search_tried, bucket, (start + i) % BUCKET_SIZE))
                .find(|id| {
                    *id != -1
                        && (networks.is_empty() || networks.contains(&self.info[id].network()))
                });
            let Some(id) = found else { continue };
            let info = &self.info[&id];
            if f64::from(self.rng.gen_range(0..1u32 << 30))
                < factor * info.chance(now) * f64::from(1u32 << 30)
            {
                tracing::debug!(target: "addrman", "Selected {} from {}", info.service, if search_tried { "tried" } else { "new" });
                return Some(info.clone());
            }
            factor *= 1.2;
        }
    }

    /// Core's GetAddr: up to `max` (0: no limit) and `max_pct` percent (0:
    /// no limit) of the entries in random order, of net class `network`
    /// when given, without terrible ones when `filtered`.
    pub fn get_addr(
        &mut self,
        max: usize,
        max_pct: usize,
        network: Option<Network>,
        filtered: bool,
        now: i64,
    ) -> Vec<AddrInfo> {
        let mut n = self.random.len();
        if max_pct != 0 {
            n = max_pct.min(100) * n / 100;
        }
        if max != 0 {
            n = n.min(max);
        }
        let mut out = Vec::with_capacity(n);
        for i in 0..self.random.len() {
            if out.len() >= n {
                break;
            }
            let j = self.rng.gen_range(i..self.random.len());
            self.swap_random(i, j);
            let info = &self.info[&self.random[i]];
            if network.is_some_and(|net| info.service.addr.net_class() != net) {
                continue;
            }
            if filtered && info.is_terrible(now) {
                continue;
            }
            out.push(info.clone());
        }
        out
    }

    /// Every entry of one table with its bucket and position, in bucket
    /// order (getrawaddrman).
    pub fn entries(&self, tried: bool) -> Vec<(AddrInfo, Position)> {
        let buckets = if tried { TRIED_BUCKETS } else { NEW_BUCKETS };
        let mut out = Vec::new();
        for bucket in 0..buckets {
            for position in 0..BUCKET_SIZE {
                let id = self.entry(tried, bucket, position);
                if let Some(info) = self.info.get(&id) {
                    out.push((
                        info.clone(),
                        Position {
                            tried,
                            bucket,
                            position,
                        },
                    ));
                }
            }
        }
        out
    }

    /// Core's ResolveCollisions: a pending newcomer to the tried table
    /// replaces the entry it collides with once that has failed a test
    /// connection, or when no test happened in TEST_WINDOW.
    pub fn resolve_collisions(&mut self, now: i64) {
        let key = self.key;
        for id in std::mem::take(&mut self.tried_collisions) {
            let Some(new) = self.info.get(&id).cloned() else {
                continue;
            };
            if !new.service.addr.is_valid() {
                continue;
            }
            let bucket = new.tried_bucket(&key);
            let pos = new.bucket_position(&key, false, bucket);
            let Some(old) = self.info.get(&self.tried[bucket][pos]).cloned() else {
                continue;
            };
            let keep = if now - old.last_success < REPLACEMENT {
                false
            } else if now - old.last_try < REPLACEMENT {
                if now - old.last_try > 60 {
                    tracing::debug!(target: "addrman", "Replacing {} with {} in tried table", old.service, new.service);
                    self.good_inner(&new.service, false, now);
                    false
                } else {
                    true
                }
            } else if now - new.last_success > TEST_WINDOW {
                tracing::debug!(target: "addrman", "Unable to test; replacing {} with {} in tried table anyway", old.service, new.service);
                self.good_inner(&new.service, false, now);
                false
            } else {
                true
            };
            if keep {
                self.tried_collisions.insert(id);
            }
        }
        self.check();
    }

    /// Core's SelectTriedCollision: the tried entry a pending newcomer
    /// collides with, to test with a feeler connection.
    pub fn select_tried_collision(&mut self) -> Option<AddrInfo> {
        if self.tried_collisions.is_empty() {
            return None;
        }
        let n = self.rng.gen_range(0..self.tried_collisions.len());
        let id = *self.tried_collisions.iter().nth(n)?;
        let Some(new) = self.info.get(&id) else {
            self.tried_collisions.remove(&id);
            return None;
        };
        let bucket = new.tried_bucket(&self.key);
        let pos = new.bucket_position(&self.key, false, bucket);
        self.info.get(&self.tried[bucket][pos]).cloned()
    }

    /// `-checkaddrman`: Core's consistency check, 1 in `check_ratio` times.
    fn check(&mut self) {
        if self.check_ratio == 0 || self.rng.gen_range(0..self.check_ratio) >= 1 {
            return;
        }
        let code = self.consistency();
        if code != 0 {
            tracing::error!("ADDRMAN CONSISTENCY CHECK FAILED!!! err={code}");
        }
    }

    /// Core's CheckAddrman: 0, or the code of the first inconsistency.
    pub fn consistency(&self) -> i32 {
        let key = &self.key;
        if self.random.len() != self.n_tried + self.n_new {
            return -7;
        }
        let mut tried_ids = std::collections::HashSet::new();
        let mut new_refs: HashMap<i64, i32> = HashMap::new();
        let mut local: HashMap<Network, (usize, usize)> = HashMap::new();
        for (id, info) in &self.info {
            if info.in_tried {
                if info.last_success == 0 {
                    return -1;
                }
                if info.ref_count != 0 {
                    return -2;
                }
                tried_ids.insert(*id);
                local.entry(info.network()).or_default().1 += 1;
            } else {
                if !(0..=NEW_BUCKETS_PER_ADDRESS).contains(&info.ref_count) {
                    return -3;
                }
                if info.ref_count == 0 {
                    return -4;
                }
                new_refs.insert(*id, info.ref_count);
                local.entry(info.network()).or_default().0 += 1;
            }
            if self.by_service.get(&info.service) != Some(id) {
                return -5;
            }
            if self.random.get(info.random_pos) != Some(id) {
                return -14;
            }
            if info.last_try < 0 {
                return -6;
            }
            if info.last_success < 0 {
                return -8;
            }
        }
        if tried_ids.len() != self.n_tried {
            return -9;
        }
        if new_refs.len() != self.n_new {
            return -10;
        }
        for (b, bucket) in self.tried.iter().enumerate() {
            for (p, id) in bucket.iter().enumerate().filter(|(_, id)| **id != -1) {
                if !tried_ids.contains(id) {
                    return -11;
                }
                let info = &self.info[id];
                if info.tried_bucket(key) != b {
                    return -17;
                }
                if info.bucket_position(key, false, b) != p {
                    return -18;
                }
                tried_ids.remove(id);
            }
        }
        for (b, bucket) in self.new.iter().enumerate() {
            for (p, id) in bucket.iter().enumerate().filter(|(_, id)| **id != -1) {
                let Some(refs) = new_refs.get_mut(id) else {
                    return -12;
                };
                if self.info[id].bucket_position(key, true, b) != p {
                    return -19;
                }
                *refs -= 1;
                if *refs == 0 {
                    new_refs.remove(id);
                }
            }
        }
        if !tried_ids.is_empty() {
            return -13;
        }
        if !new_refs.is_empty() {
            return -15;
        }
        if self.key == [0; 32] {
            return -16;
        }
        if self.counts.len() < local.len() {
            return -20;
        }
        for (net, count) in &self.counts {
            if local.get(net).copied().unwrap_or_default() != *count {
                return -21;
            }
        }
        0
    }

    /// peers.dat's bytes: the network magic, the tables in Core's format
    /// V4, then SHA256d of all that.
    pub fn to_file(&self, magic: [u8; 4]) -> Vec<u8> {
        let mut out = magic.to_vec();
        out.push(FILE_FORMAT);
        out.push(INCOMPATIBILITY_BASE + FILE_FORMAT);
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&(self.n_new as i32).to_le_bytes());
        out.extend_from_slice(&(self.n_tried as i32).to_le_bytes());
        out.extend_from_slice(&((NEW_BUCKETS as i32) ^ (1 << 30)).to_le_bytes());
        let mut index: HashMap<i64, i32> = HashMap::new();
        let mut ids: Vec<i64> = self.info.keys().copied().collect();
        ids.sort_unstable();
        for id in ids.iter().filter(|id| self.info[id].ref_count > 0) {
            index.insert(*id, index.len() as i32);
            write_info(&mut out, &self.info[id]);
        }
        for id in ids.iter().filter(|id| self.info[id].in_tried) {
            write_info(&mut out, &self.info[id]);
        }
        for bucket in &self.new {
            let ids: Vec<i32> = bucket
                .iter()
                .filter_map(|id| index.get(id).copied())
                .collect();
            out.extend_from_slice(&(ids.len() as i32).to_le_bytes());
            for i in ids {
                out.extend_from_slice(&i.to_le_bytes());
            }
        }
        // No asmap: its version is the null hash.
        out.extend_from_slice(&[0; 32]);
        let sum = sha256d::Hash::hash(&out).to_byte_array();
        out.extend_from_slice(&sum);
        out
    }

    /// Reads peers.dat (Core's DeserializeDB and AddrMan::Unserialize):
    /// magic, tables in formats V0 to V4, checksum; then Core's
    /// consistency check.
    pub fn from_file(
        bytes: &[u8],
        magic: [u8; 4],
        deterministic: bool,
        check_ratio: u32,
    ) -> Result<AddrMan, AddrManError> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != magic {
            return Err(AddrManError::Magic);
        }
        let mut m = AddrMan::new(deterministic, check_ratio);
        let format = r.u8()?;
        let compat = r.u8()?;
        if compat < INCOMPATIBILITY_BASE {
            return Err(AddrManError::Corrupt(format!("Corrupted addrman database: The compat value ({compat}) is lower than the expected minimum value {INCOMPATIBILITY_BASE}.")));
        }
        let lowest = compat - INCOMPATIBILITY_BASE;
        if lowest > FILE_FORMAT {
            return Err(AddrManError::Version { format, lowest });
        }
        let v2 = format >= FORMAT_V3_BIP155;
        m.key = r.take(32)?.try_into().expect("32 bytes");
        let n_new = r.i32()?;
        let n_tried = r.i32()?;
        let mut n_buckets = r.i32()?;
        if format >= FORMAT_V1_DETERMINISTIC {
            n_buckets ^= 1 << 30;
        }
        let max_new = (NEW_BUCKETS * BUCKET_SIZE) as i32;
        if !(0..=max_new).contains(&n_new) {
            return Err(AddrManError::Corrupt(format!(
                "Corrupt AddrMan serialization: nNew={n_new}, should be in [0, {max_new}]"
            )));
        }
        let max_tried = (TRIED_BUCKETS * BUCKET_SIZE) as i32;
        if !(0..=max_tried).contains(&n_tried) {
            return Err(AddrManError::Corrupt(format!(
                "Corrupt AddrMan serialization: nTried={n_tried}, should be in [0, {max_tried}]"
            )));
        }
        let key = m.key;
        for n in 0..n_new as i64 {
            let mut info = read_info(&mut r, v2)?;
            info.random_pos = m.random.len();
            m.random.push(n);
            m.count(info.network(), 1, 0);
            m.by_service.insert(info.service, n);
            m.info.insert(n, info);
        }
        m.next_id = n_new as i64;
        m.n_new = n_new as usize;
        for _ in 0..n_tried {
            let mut info = read_info(&mut r, v2)?;
            let bucket = info.tried_bucket(&key);
            let pos = info.bucket_position(&key, false, bucket);
            if info.service.addr.is_valid() && m.tried[bucket][pos] == -1 {
                let id = m.next_id;
                m.next_id += 1;
                info.random_pos = m.random.len();
                info.in_tried = true;
                m.random.push(id);
                m.count(info.network(), 0, 1);
                m.by_service.insert(info.service, id);
                m.info.insert(id, info);
                m.tried[bucket][pos] = id;
                m.n_tried += 1;
            }
        }
        let mut bucket_entries = Vec::new();
        for bucket in 0..n_buckets.max(0) {
            let n = r.i32()?;
            for _ in 0..n.max(0) {
                let index = r.i32()?;
                if (0..n_new).contains(&index) {
                    bucket_entries.push((bucket as usize, index as i64));
                }
            }
        }
        let asmap_version = if format >= FORMAT_V2_ASMAP {
            r.take(32)?.to_vec()
        } else {
            vec![0; 32]
        };
        let restore = n_buckets as usize == NEW_BUCKETS && asmap_version == [0; 32];
        for (bucket, id) in bucket_entries {
            let Some(info) = m.info.get(&id) else {
                continue;
            };
            if !info.service.addr.is_valid() || info.ref_count >= NEW_BUCKETS_PER_ADDRESS {
                continue;
            }
            let mut b = bucket;
            let mut pos = if b < NEW_BUCKETS {
                info.bucket_position(&key, true, b)
            } else {
                0
            };
            if !(restore && m.new[b][pos] == -1) {
                b = info.new_bucket(&key);
                pos = info.bucket_position(&key, true, b);
                if m.new[b][pos] != -1 {
                    continue;
                }
            }
            m.new[b][pos] = id;
            if let Some(i) = m.info.get_mut(&id) {
                i.ref_count += 1;
            }
        }
        let orphans: Vec<i64> = m
            .info
            .iter()
            .filter(|(_, i)| !i.in_tried && i.ref_count == 0)
            .map(|(id, _)| *id)
            .collect();
        for id in orphans {
            m.delete(id);
        }
        // The checksum covers everything read so far.
        let sum = sha256d::Hash::hash(&bytes[..r.at]).to_byte_array();
        if r.take(32)? != sum {
            return Err(AddrManError::Checksum);
        }
        let code = m.consistency();
        if code != 0 {
            return Err(AddrManError::Corrupt(format!(
                "Corrupt data. Consistency check failed with code {code}"
            )));
        }
        Ok(m)
    }
}

/// anchors.dat's bytes (Core's DumpAnchors): the network magic, the
/// addresses (CompactSize count, then each in disk format V2), SHA256d of
/// all that.
pub fn anchors_to_file(magic: [u8; 4], anchors: &[(Service, u64, i64)]) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend_from_slice(&bitcoin::consensus::serialize(
        &VarInt(anchors.len() as u64),
    ));
    for (s, services, time) in anchors {
        write_address(&mut out, s, *services, *time);
    }
    let sum = sha256d::Hash::hash(&out).to_byte_array();
    out.extend_from_slice(&sum);
    out
}

/// Reads anchors.dat (Core's ReadAnchors).
pub fn anchors_from_file(
    bytes: &[u8],
    magic: [u8; 4],
) -> Result<Vec<(Service, u64, i64)>, AddrManError> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != magic {
        return Err(AddrManError::Magic);
    }
    let n = r.compact()?;
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(read_address(&mut r, true)?);
    }
    let sum = sha256d::Hash::hash(&bytes[..r.at]).to_byte_array();
    if r.take(32)? != sum {
        return Err(AddrManError::Checksum);
    }
    Ok(out)
}

/// A cursor over peers.dat's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], AddrManError> {
        let end = self.at.checked_add(n).ok_or(AddrManError::Eof)?;
        let s = self.bytes.get(self.at..end).ok_or(AddrManError::Eof)?;
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, AddrManError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, AddrManError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }

    fn i32(&mut self) -> Result<i32, AddrManError> {
        Ok(self.u32()? as i32)
    }

    fn i64(&mut self) -> Result<i64, AddrManError> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    /// Core's CompactSize (non-canonical encodings refused as Core does).
    fn compact(&mut self) -> Result<u64, AddrManError> {
        let non_canonical = || AddrManError::Corrupt("non-canonical ReadCompactSize()".into());
        Ok(match self.u8()? {
            0xfd => {
                let v = u16::from_le_bytes(self.take(2)?.try_into().expect("2")) as u64;
                if v < 0xfd {
                    return Err(non_canonical());
                }
                v
            }
            0xfe => {
                let v = self.u32()? as u64;
                if v < 0x10000 {
                    return Err(non_canonical());
                }
                v
            }
            0xff => {
                let v = u64::from_le_bytes(self.take(8)?.try_into().expect("8"));
                if v < 0x1_0000_0000 {
                    return Err(non_canonical());
                }
                v
            }
            b => b as u64,
        })
    }

    /// A CNetAddr: 16 bytes in V1 (IPv4 mapped into IPv6), network id and
    /// length-prefixed bytes in V2. Addresses we cannot hold read as the
    /// invalid `::`, as Core makes them.
    fn netaddr(&mut self, v2: bool) -> Result<NetAddr, AddrManError> {
        let invalid = NetAddr::Ipv6(std::net::Ipv6Addr::UNSPECIFIED);
        if !v2 {
            let b: [u8; 16] = self.take(16)?.try_into().expect("16");
            return Ok(NetAddr::from_ip(std::net::Ipv6Addr::from(b).into()));
        }
        let net = self.u8()?;
        let len = self.compact()?;
        if len > 512 {
            return Err(AddrManError::Corrupt(format!(
                "Address too long: {len} > 512"
            )));
        }
        let b = self.take(len as usize)?;
        let sized = |want: usize, name: &str| {
            if b.len() == want {
                Ok(())
            } else {
                Err(AddrManError::Corrupt(format!(
                    "BIP155 {name} address with length {} (should be {want})",
                    b.len()
                )))
            }
        };
        Ok(match net {
            1 => {
                sized(4, "IPv4")?;
                NetAddr::Ipv4(<[u8; 4]>::try_from(b).expect("4").into())
            }
            2 => {
                sized(16, "IPv6")?;
                let ip = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).expect("16"));
                if ip.to_ipv4_mapped().is_some() {
                    invalid
                } else {
                    NetAddr::Ipv6(ip)
                }
            }
            4 => {
                sized(32, "TORv3")?;
                NetAddr::Onion(b.try_into().expect("32"))
            }
            5 => {
                sized(32, "I2P")?;
                NetAddr::I2p(b.try_into().expect("32"))
            }
            6 => {
                sized(16, "CJDNS")?;
                NetAddr::Cjdns(std::net::Ipv6Addr::from(
                    <[u8; 16]>::try_from(b).expect("16"),
                ))
            }
            _ => invalid,
        })
    }
}

/// An AddrInfo as Core writes it: CAddress in disk format V2 (version,
/// time, CompactSize services, BIP155 address, big-endian port), source,
/// last success (i64), attempts (i32).
fn write_info(out: &mut Vec<u8>, info: &AddrInfo) {
    write_address(out, &info.service, info.services, info.time);
    out.extend_from_slice(&bitcoin::consensus::serialize(&info.source.to_v2()));
    out.extend_from_slice(&info.last_success.to_le_bytes());
    out.extend_from_slice(&info.attempts.to_le_bytes());
}

/// A CAddress in Core's disk format V2: version, time, CompactSize
/// services, BIP155 address, big-endian port.
fn write_address(out: &mut Vec<u8>, service: &Service, services: u64, time: i64) {
    out.extend_from_slice(&(DISK_VERSION_INIT | DISK_VERSION_ADDRV2).to_le_bytes());
    out.extend_from_slice(&(time.clamp(0, u32::MAX as i64) as u32).to_le_bytes());
    out.extend_from_slice(&bitcoin::consensus::serialize(&VarInt(services)));
    out.extend_from_slice(&bitcoin::consensus::serialize(&service.addr.to_v2()));
    out.extend_from_slice(&service.port.to_be_bytes());
}

/// A CAddress in disk format (V1 or, when allowed, V2): the address,
/// services and time.
fn read_address(r: &mut Reader<'_>, v2_allowed: bool) -> Result<(Service, u64, i64), AddrManError> {
    let version = r.u32()? & !DISK_VERSION_IGNORE_MASK;
    let v2 = match version {
        0 => false,
        DISK_VERSION_ADDRV2 if v2_allowed => true,
        _ => {
            return Err(AddrManError::Corrupt(
                "Unsupported CAddress disk format version".into(),
            ))
        }
    };
    let time = r.u32()? as i64;
    let services = if v2 {
        r.compact()?
    } else {
        u64::from_le_bytes(r.take(8)?.try_into().expect("8"))
    };
    let addr = r.netaddr(v2)?;
    let port = u16::from_be_bytes(r.take(2)?.try_into().expect("2"));
    Ok((Service { addr, port }, services, time))
}

fn read_info(r: &mut Reader<'_>, v2_allowed: bool) -> Result<AddrInfo, AddrManError> {
    let (service, services, time) = read_address(r, v2_allowed)?;
    // The source is written with the stream's encoding, not the entry's.
    let source = r.netaddr(v2_allowed)?;
    let mut info = AddrInfo::new(service, services, time, source);
    info.last_success = r.i64()?;
    info.attempts = r.i32()?;
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGTEST: [u8; 4] = [0xfa, 0xbf, 0xb5, 0xda];

    fn svc(text: &str, port: u16) -> Service {
        Service {
            addr: NetAddr::parse_host(text).unwrap().maybe_cjdns(true),
            port,
        }
    }

    /// Core's addpeeraddress: the address is its own source; then Good.
    fn add_peer(m: &mut AddrMan, s: Service, tried: bool, now: i64) -> (bool, bool) {
        let added = m.add(&[(s, 9, now)], &s.addr, 0, now);
        (added, added && tried && m.good(&s, now))
    }

    /// rpc_net.py's seed_addrman with a deterministic addrman: the
    /// buckets and positions Core's test expects.
    fn seeded(now: i64) -> AddrMan {
        let mut m = AddrMan::new(true, 1);
        for (a, port, tried) in [
            ("1.2.3.4", 8333, true),
            ("2.0.0.0", 8333, false),
            ("1233:3432:2434:2343:3234:2345:6546:4534", 8333, true),
            ("2803:0:1234:abcd::1", 45324, false),
            ("fc00:1:2:3:4:5:6:7", 8333, false),
            (
                "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion",
                8333,
                true,
            ),
            (
                "nrfj6inpyf73gpkyool35hcmne5zwfmse3jl3aw23vk7chdemalyaqad.onion",
                45324,
                true,
            ),
            (
                "c4gfnttsuwqomiygupdqqqyy5y5emnk5c73hrfvatri67prd7vyq.b32.i2p",
                8333,
                false,
            ),
        ] {
            let (added, moved) = add_peer(&mut m, svc(a, port), tried, now);
            assert!(added && moved == tried, "{a}");
        }
        m
    }

    fn positions(m: &AddrMan, tried: bool) -> Vec<(String, String)> {
        let mut v: Vec<_> = m
            .entries(tried)
            .into_iter()
            .map(|(i, p)| {
                (
                    i.service.addr.to_string(),
                    format!("{}/{}", p.bucket, p.position),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn buckets_and_positions_are_cores() {
        let m = seeded(1_700_000_000);
        let s = |v: &[(&str, &str)]| {
            let mut v: Vec<_> = v
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            positions(&m, false),
            s(&[
                ("2.0.0.0", "82/8"),
                ("fc00:1:2:3:4:5:6:7", "336/24"),
                (
                    "c4gfnttsuwqomiygupdqqqyy5y5emnk5c73hrfvatri67prd7vyq.b32.i2p",
                    "963/46"
                ),
                ("2803:0:1234:abcd::1", "613/6"),
            ])
        );
        assert_eq!(
            positions(&m, true),
            s(&[
                ("1.2.3.4", "6/33"),
                ("1233:3432:2434:2343:3234:2345:6546:4534", "197/34"),
                (
                    "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion",
                    "72/61"
                ),
                (
                    "nrfj6inpyf73gpkyool35hcmne5zwfmse3jl3aw23vk7chdemalyaqad.onion",
                    "139/46"
                ),
            ])
        );
        assert_eq!(m.size(Some(Network::Onion), Some(false)), 2);
        assert_eq!(m.size(Some(Network::Cjdns), None), 1);
        assert_eq!(m.size(None, None), 8);
        assert_eq!(m.consistency(), 0);
    }

    #[test]
    fn addpeeraddress_outcomes_follow_core() {
        let now = 1_700_000_000;
        let mut m = AddrMan::new(true, 1);
        // Not routable: never taken.
        assert_eq!(
            add_peer(&mut m, svc("127.0.0.1", 8333), false, now),
            (false, false)
        );
        assert_eq!(
            add_peer(&mut m, svc("1.0.0.0", 8333), false, now),
            (true, false)
        );
        // The same again brings nothing new.
        assert_eq!(
            add_peer(&mut m, svc("1.0.0.0", 8333), true, now),
            (false, false)
        );
        assert_eq!(
            add_peer(&mut m, svc("1.2.3.4", 8333), true, now),
            (true, true)
        );
        assert_eq!(
            add_peer(&mut m, svc("1.2.3.4", 8333), false, now),
            (false, false)
        );
        // Core's rpc_net.py: this one collides with 1.2.3.4 in the tried table.
        assert_eq!(
            add_peer(&mut m, svc("1.2.5.45", 8333), true, now),
            (true, false)
        );
        assert_eq!(
            (m.size(None, Some(true)), m.size(None, Some(false))),
            (2, 1)
        );
        assert_eq!(m.consistency(), 0);
    }

    #[test]
    fn peers_dat_round_trips_and_refuses_damage() {
        let now = 1_700_000_000;
        let m = seeded(now);
        let file = m.to_file(REGTEST);
        let back = AddrMan::from_file(&file, REGTEST, true, 1).unwrap();
        assert_eq!(positions(&back, false), positions(&m, false));
        assert_eq!(positions(&back, true), positions(&m, true));
        assert_eq!(back.to_file(REGTEST), file);
        assert_eq!(
            AddrMan::from_file(&file, [0x0a, 0x03, 0xcf, 0x40], true, 1).err(),
            Some(AddrManError::Magic)
        );
        assert_eq!(
            AddrMan::from_file(&file[..file.len() - 1], REGTEST, true, 1).err(),
            Some(AddrManError::Eof)
        );
        let mut bad = file.clone();
        bad[40] ^= 1;
        assert!(AddrMan::from_file(&bad, REGTEST, true, 1).is_err());
        let mut future = file.clone();
        future[5] = INCOMPATIBILITY_BASE + 111;
        assert_eq!(
            AddrMan::from_file(&future, REGTEST, true, 1).err(),
            Some(AddrManError::Version {
                format: 4,
                lowest: 111
            })
        );
    }

    /// feature_addrman.py's mocked file: format 1 (V1 addresses), no
    /// entries, key 1.
    #[test]
    fn reads_cores_empty_format_one_file() {
        let mut f = REGTEST.to_vec();
        f.push(1);
        f.push(INCOMPATIBILITY_BASE + 4);
        let mut key = [0u8; 32];
        key[0] = 1;
        f.extend_from_slice(&key);
        f.extend_from_slice(&0i32.to_le_bytes());
        f.extend_from_slice(&0i32.to_le_bytes());
        f.extend_from_slice(&((1024i32) ^ (1 << 30)).to_le_bytes());
        for _ in 0..1024 {
            f.extend_from_slice(&0i32.to_le_bytes());
        }
        let sum = sha256d::Hash::hash(&f).to_byte_array();
        let mut ok = f.clone();
        ok.extend_from_slice(&sum);
        assert_eq!(
            AddrMan::from_file(&ok, REGTEST, false, 1)
                .unwrap()
                .size(None, None),
            0
        );
        // A null key fails Core's consistency check with code -16.
        let mut nokey = f.clone();
        nokey[6..38].fill(0);
        let sum = sha256d::Hash::hash(&nokey).to_byte_array();
        nokey.extend_from_slice(&sum);
        assert_eq!(
            AddrMan::from_file(&nokey, REGTEST, false, 1)
                .err()
                .map(|e| e.to_string()),
            Some("Corrupt data. Consistency check failed with code -16: iostream error".into())
        );
    }

    #[test]
    fn anchors_round_trip_and_damage_is_refused() {
        let list = vec![
            (svc("1.2.3.4", 8333), 9, 1_700_000_000),
            (
                svc(
                    "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion",
                    8333,
                ),
                9 | 1 << 11,
                1_700_000_001,
            ),
        ];
        let file = anchors_to_file(REGTEST, &list);
        assert_eq!(anchors_from_file(&file, REGTEST).unwrap(), list);
        // feature_anchors.py's damage: a byte inserted at 20.
        let mut bad = file.clone();
        bad.insert(20, b'1');
        assert!(anchors_from_file(&bad, REGTEST).is_err());
        assert!(anchors_from_file(&file[..file.len() - 1], REGTEST).is_err());
    }

    #[test]
    fn select_and_get_addr_hand_out_known_entries() {
        let now = 1_700_000_000;
        let mut m = seeded(now);
        for _ in 0..20 {
            let got = m.select(false, &[], now).unwrap();
            assert!(m.find(&got.service).is_some());
            let onion = m.select(false, &[Network::Onion], now).unwrap();
            assert_eq!(onion.service.addr.network(), Network::Onion);
            let new = m.select(true, &[], now).unwrap();
            assert!(!m.info[&m.find(&new.service).unwrap()].in_tried);
        }
        assert_eq!(m.get_addr(0, 0, None, true, now).len(), 8);
        assert_eq!(m.get_addr(3, 0, None, true, now).len(), 3);
        assert_eq!(m.get_addr(0, 23, None, true, now).len(), 1);
        assert_eq!(m.get_addr(0, 0, Some(Network::Ipv6), true, now).len(), 2);
        // Ten years later every entry is terrible (not seen in 30 days).
        assert!(m
            .get_addr(0, 0, None, true, now + 10 * 365 * 86400)
            .is_empty());
        assert_eq!(m.consistency(), 0);
    }

    #[test]
    fn failed_attempts_and_collisions_resolve() {
        let now = 1_700_000_000;
        let mut m = AddrMan::new(true, 1);
        add_peer(&mut m, svc("1.2.3.4", 8333), true, now);
        add_peer(&mut m, svc("1.2.5.45", 8333), true, now);
        let old = m.select_tried_collision().unwrap();
        assert_eq!(old.service, svc("1.2.3.4", 8333));
        // The old entry answered a test within REPLACEMENT: it stays.
        m.resolve_collisions(now + 100);
        assert!(m.select_tried_collision().is_none());
        assert_eq!(m.entries(true)[0].0.service, svc("1.2.3.4", 8333));
        // A newcomer whose test of the old entry failed replaces it.
        assert!(!m.good(&svc("1.2.5.45", 8333), now + 5 * 3600));
        m.attempt(&svc("1.2.3.4", 8333), true, now + 5 * 3600);
        m.resolve_collisions(now + 5 * 3600 + 61);
        assert_eq!(m.entries(true)[0].0.service, svc("1.2.5.45", 8333));
        // The old one went back to the new table.
        assert_eq!(m.size(None, Some(true)), 1);
        assert_eq!(m.consistency(), 0);
    }
}
