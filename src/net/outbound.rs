//! net/outbound: which automatic outbound connection to open next and to
//! which address, as Core's ThreadOpenConnections decides when `-connect`
//! is not given: full-relay peers up to eight, in distinct IPv4/IPv6
//! groups, offering the services we need; otherwise now and then a
//! feeler that checks one address (a pending tried-table collision first)
//! and leaves. The connecting itself (through the broker) is `Net`'s.

use std::collections::HashSet;

use bitcoin::p2p::ServiceFlags;

use super::addrman::{AddrInfo, AddrMan};
use super::addrs::{self, Learned};
use super::netaddr::{NetAddr, Network, Service};

/// Addresses drawn from the address manager per round at most.
const MAX_TRIES: usize = 100;
/// Before this many draws, addresses tried in the last ten minutes are
/// skipped.
const RECENT_TRY_TRIES: usize = 30;
const RECENT_TRY: i64 = 600;

/// What the connections we have leave room for.
#[derive(Clone, Debug, Default)]
pub struct Current {
    /// Automatic full-relay peers, open or being opened.
    pub full_relay: usize,
    /// Groups of our outbound IPv4/IPv6 peers (automatic and manual).
    pub groups: HashSet<Vec<u8>>,
    /// Outbound peers on Tor, I2P or CJDNS (their groups say nothing of
    /// the route).
    pub privacy_peers: usize,
}

impl Current {
    /// Whether an IPv4/IPv6 address is in the group of one of our outbound
    /// peers (Core keeps those in distinct groups).
    fn shares_group(&self, addr: &NetAddr) -> bool {
        addr.ip().is_some() && self.groups.contains(&addr.group())
    }
}

/// Core's GetDesirableServiceFlags: witness blocks and the whole chain,
/// or only the recent blocks from a pruned (limited) peer unless our tip is
/// `far_from_tip` (Core's ApproximateBestBlockDepth of 144 blocks or more:
/// a tip a day old or older by its time, whatever the IBD latch says).
pub fn desirable_services(services: u64, far_from_tip: bool) -> u64 {
    let limited = ServiceFlags::from(services).has(ServiceFlags::NETWORK_LIMITED);
    let chain = if limited && !far_from_tip {
        ServiceFlags::NETWORK_LIMITED
    } else {
        ServiceFlags::NETWORK
    };
    (chain | ServiceFlags::WITNESS).to_u64()
}

/// Core's HasAllDesirableServiceFlags.
pub fn has_desirable_services(services: u64, far_from_tip: bool) -> bool {
    let want = desirable_services(services, far_from_tip);
    services & want == want
}

/// The rules an address must pass to be connected to.
pub struct Rules<'a> {
    pub reachable: &'a [Network],
    /// Our tip is a day or more behind (see [`desirable_services`]).
    pub far_from_tip: bool,
    /// Addresses we must not open an automatic connection to: ones we are
    /// connected to already, and `addnode` entries (their own slots).
    pub skip: &'a dyn Fn(&Service) -> bool,
    pub now: i64,
}

/// Core's address choice for one new connection: a full-relay peer, or a
/// feeler (`feeler`). None when a hundred draws found nothing suitable.
pub fn choose(
    book: &mut AddrMan,
    feeler: bool,
    current: &Current,
    rules: &Rules<'_>,
) -> Option<AddrInfo> {
    for tries in 1..=MAX_TRIES {
        let picked = if feeler {
            match book.select_tried_collision() {
                Some(old) if (rules.skip)(&old.service) => {
                    // Already connected to the entry a newcomer collides
                    // with: it is good, and the feeler tests a new one.
                    book.good(&old.service, rules.now);
                    book.select(true, rules.reachable, rules.now)
                }
                Some(old) => Some(old),
                None => book.select(true, rules.reachable, rules.now),
            }
        } else {
            book.select(false, rules.reachable, rules.now)
        };
        let a = picked?;
        let addr = &a.service.addr;
        if !feeler && current.shares_group(addr) {
            continue;
        }
        if !addr.is_valid() || addr.is_local() {
            return None;
        }
        if !rules.reachable.contains(&addr.network()) {
            continue;
        }
        if rules.now - a.last_try < RECENT_TRY && tries < RECENT_TRY_TRIES {
            continue;
        }
        let services_ok = if feeler {
            addrs::may_serve_addresses(a.services)
        } else {
            has_desirable_services(a.services, rules.far_from_tip)
        };
        if !services_ok || (rules.skip)(&a.service) {
            continue;
        }
        return Some(a);
    }
    None
}

/// Core's checks on an anchor (a block-relay-only peer of the last run)
/// before connecting to it again.
pub fn anchor_usable(a: &Learned, current: &Current, rules: &Rules<'_>) -> bool {
    let (s, services, _) = a;
    s.addr.is_valid()
        && !s.addr.is_local()
        && rules.reachable.contains(&s.addr.network())
        && has_desirable_services(*services, rules.far_from_tip)
        && !current.shares_group(&s.addr)
        && !(rules.skip)(s)
}

/// Core's count_failures: failed attempts count against an address only
/// when we are evidently online (two distinct outbound groups, or as many
/// as automatic connections allow).
pub fn count_failures(current: &Current, max_automatic: usize) -> bool {
    current.groups.len() + current.privacy_peers >= max_automatic.saturating_sub(1).min(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::netaddr::NetAddr;

    const NOW: i64 = 1_700_000_000;
    const GOOD: u64 = 9; // NETWORK | WITNESS

    fn svc(text: &str) -> Service {
        Service {
            addr: NetAddr::parse_host(text).unwrap(),
            port: 8333,
        }
    }

    fn book(entries: &[(&str, u64)]) -> AddrMan {
        let mut m = AddrMan::new(true, 1);
        for (a, services) in entries {
            let s = svc(a);
            assert!(m.add(&[(s, *services, NOW)], &s.addr, 0, NOW), "{a}");
        }
        m
    }

    fn rules<'a>(skip: &'a dyn Fn(&Service) -> bool) -> Rules<'a> {
        Rules {
            reachable: &[Network::Ipv4, Network::Ipv6],
            far_from_tip: false,
            skip,
            now: NOW + 3600,
        }
    }

    #[test]
    fn full_relay_needs_services_a_new_group_and_no_open_connection() {
        let none = |_: &Service| false;
        // Without witness: never chosen.
        let mut m = book(&[("1.2.3.4", 1)]);
        assert!(choose(&mut m, false, &Current::default(), &rules(&none)).is_none());
        // A feeler only asks for an address database.
        assert!(choose(&mut m, true, &Current::default(), &rules(&none)).is_some());

        let mut m = book(&[("1.2.3.4", GOOD), ("1.2.9.9", GOOD)]);
        let got = choose(&mut m, false, &Current::default(), &rules(&none)).unwrap();
        assert!(["1.2.3.4", "1.2.9.9"].contains(&got.service.addr.to_string().as_str()));
        // Both are in 1.2/16, where we have a peer already.
        let mut busy = Current::default();
        busy.groups.insert(svc("1.2.0.1").addr.group());
        assert!(choose(&mut m, false, &busy, &rules(&none)).is_none());
        // Connected already, or an addnode entry: skipped.
        let taken = |s: &Service| s.addr.to_string().starts_with("1.2.");
        assert!(choose(&mut m, false, &Current::default(), &rules(&taken)).is_none());
        // Onion addresses need a proxy (not reachable here).
        let mut m = book(&[(
            "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion",
            GOOD,
        )]);
        assert!(choose(&mut m, false, &Current::default(), &rules(&none)).is_none());
    }

    #[test]
    fn recent_attempts_wait_unless_nothing_else_is_left() {
        let none = |_: &Service| false;
        let mut m = book(&[("1.2.3.4", GOOD)]);
        m.attempt(&svc("1.2.3.4"), true, NOW + 3590);
        // Tried ten seconds ago: after 30 draws it is taken anyway.
        assert!(choose(&mut m, false, &Current::default(), &rules(&none)).is_some());
    }

    #[test]
    fn desirable_services_follow_sync_state() {
        let limited = (ServiceFlags::NETWORK_LIMITED | ServiceFlags::WITNESS).to_u64();
        assert!(has_desirable_services(limited, false));
        assert!(!has_desirable_services(limited, true));
        assert!(has_desirable_services(GOOD, true));
        assert!(!has_desirable_services(1, false));
        let mut c = Current::default();
        assert!(!count_failures(&c, 125));
        c.groups.insert(vec![1, 1, 2]);
        c.groups.insert(vec![1, 3, 4]);
        assert!(count_failures(&c, 125));
    }
}
