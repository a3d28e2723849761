//! net/bans: Core's ban list (`setban`, `listbanned`, `clearbanned`):
//! subnets (or single Tor and I2P addresses, which have no subnets) with
//! the time each ban was made and ends, kept in Core's
//! `banlist.json` format in the network directory. Expired bans are swept
//! whenever the list is read. Pure data: the worker reads and writes the
//! file through the broker.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::netaddr::{NetAddr, Network};
use crate::rpc::http::Subnet;

/// What one ban covers: Core's CSubNet, which for networks without subnets
/// (Tor, I2P) is a single address. Ordered as Core lists bans: IPv4, IPv6,
/// then the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Banned {
    Subnet(Subnet),
    Host(NetAddr),
}

impl Banned {
    /// An IP, `ip/cidr` or `ip/netmask`, or a `.onion` or `.b32.i2p` name.
    pub fn parse(text: &str) -> Option<Banned> {
        if let Ok(s) = Subnet::parse(text) {
            return Some(Banned::Subnet(s.normalized()));
        }
        let addr = NetAddr::parse_host(text)?;
        matches!(addr.network(), Network::Onion | Network::I2p).then_some(Banned::Host(addr))
    }

    /// Whether a peer at `addr` is inside.
    pub fn covers(&self, addr: &NetAddr) -> bool {
        match self {
            Banned::Subnet(s) => addr.ip().is_some_and(|ip| s.contains(ip)),
            Banned::Host(h) => h == addr,
        }
    }
}

impl std::fmt::Display for Banned {
    /// Core's CSubNet::ToString: `1.2.3.0/24`, or the bare name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Banned::Subnet(s) => write!(f, "{s}"),
            Banned::Host(h) => write!(f, "{h}"),
        }
    }
}

/// One ban's times (seconds since the epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ban {
    pub created: i64,
    pub until: i64,
}

/// The banned subnets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BanList {
    bans: BTreeMap<Banned, Ban>,
}

impl BanList {
    /// Bans `target`; false when it already is.
    pub fn add(&mut self, target: Banned, ban: Ban) -> bool {
        if self.bans.contains_key(&target) {
            return false;
        }
        self.bans.insert(target, ban);
        true
    }

    /// Lifts the ban on exactly `target`; false when there was none.
    pub fn remove(&mut self, target: &Banned) -> bool {
        self.bans.remove(target).is_some()
    }

    pub fn clear(&mut self) {
        self.bans.clear();
    }

    /// Drops the bans that ended before `now`; true if any did.
    pub fn sweep(&mut self, now: i64) -> bool {
        let before = self.bans.len();
        self.bans.retain(|_, b| b.until > now);
        before != self.bans.len()
    }

    /// Whether `addr` falls in a ban still running at `now`.
    pub fn is_banned(&self, addr: &NetAddr, now: i64) -> bool {
        self.bans
            .iter()
            .any(|(s, b)| b.until > now && s.covers(addr))
    }

    pub fn entries(&self) -> impl Iterator<Item = (&Banned, &Ban)> {
        self.bans.iter()
    }

    /// Core's banlist.json.
    pub fn to_json(&self) -> Value {
        json!({
            "banned_nets": self.bans.iter().map(|(s, b)| json!({
                "version": 1,
                "ban_created": b.created,
                "banned_until": b.until,
                "address": s.to_string(),
            })).collect::<Vec<_>>(),
        })
    }

    /// Reads Core's banlist.json; entries that do not parse are skipped.
    pub fn from_json(v: &Value) -> BanList {
        let mut list = BanList::default();
        for e in v
            .get("banned_nets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let subnet = e
                .get("address")
                .and_then(Value::as_str)
                .and_then(Banned::parse);
            let created = e.get("ban_created").and_then(Value::as_i64);
            let until = e.get("banned_until").and_then(Value::as_i64);
            if let (Some(s), Some(created), Some(until)) = (subnet, created, until) {
                list.add(s, Ban { created, until });
            }
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(s: &str) -> Banned {
        Banned::parse(s).unwrap()
    }

    fn ip(s: &str) -> NetAddr {
        NetAddr::parse_host(s).unwrap()
    }

    #[test]
    fn bans_cover_their_subnet_until_they_end() {
        let mut list = BanList::default();
        assert!(list.add(
            subnet("10.0.0.7/24"),
            Ban {
                created: 0,
                until: 100
            }
        ));
        assert!(!list.add(
            subnet("10.0.0.0/24"),
            Ban {
                created: 0,
                until: 200
            }
        ));
        assert!(list.is_banned(&ip("10.0.0.200"), 50));
        assert!(!list.is_banned(&ip("10.0.1.1"), 50));
        assert!(!list.is_banned(&ip("10.0.0.200"), 100));
        assert!(list.sweep(100));
        assert_eq!(list.entries().count(), 0);
    }

    #[test]
    fn banlist_json_round_trips_in_cores_shape() {
        let mut list = BanList::default();
        list.add(
            subnet("127.0.0.1"),
            Ban {
                created: 5,
                until: 10,
            },
        );
        list.add(
            subnet("::1"),
            Ban {
                created: 6,
                until: 11,
            },
        );
        let v = list.to_json();
        assert_eq!(v["banned_nets"][0]["address"], "127.0.0.1/32");
        assert_eq!(v["banned_nets"][0]["version"], 1);
        assert_eq!(BanList::from_json(&v), list);
        assert!(list.remove(&subnet("::1/128")));
        assert!(!list.remove(&subnet("::1/128")));
    }

    #[test]
    fn onion_addresses_are_banned_alone_and_listed_after_ip_subnets() {
        let onion = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion";
        let mut list = BanList::default();
        let ban = Ban {
            created: 1,
            until: 10,
        };
        for s in [onion, "2001:4d48::/19", "127.0.0.0/32", "127.0.0.0/24"] {
            assert!(list.add(subnet(s), ban));
        }
        let order: Vec<String> = list.entries().map(|(s, _)| s.to_string()).collect();
        assert_eq!(
            order,
            ["127.0.0.0/24", "127.0.0.0/32", "2001:4000::/19", onion]
        );
        assert!(list.is_banned(&ip(onion), 5));
        assert!(!list.is_banned(&ip("127.0.1.1"), 5));
        assert_eq!(BanList::from_json(&list.to_json()), list);
        assert!(Banned::parse("nonsense.onion").is_none());
        assert!(Banned::parse(&format!("{onion}/32")).is_none());
    }
}
