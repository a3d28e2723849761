//! net/bans: Core's ban list (`setban`, `listbanned`, `clearbanned`):
//! subnets with the time each ban was made and ends, kept in Core's
//! `banlist.json` format in the network directory. Expired bans are swept
//! whenever the list is read. Pure data: the worker reads and writes the
//! file through the broker.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{json, Value};

use crate::rpc::http::Subnet;

/// One ban's times (seconds since the epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ban {
    pub created: i64,
    pub until: i64,
}

/// The banned subnets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BanList {
    bans: BTreeMap<Subnet, Ban>,
}

impl BanList {
    /// Bans `subnet`; false when it already is.
    pub fn add(&mut self, subnet: Subnet, ban: Ban) -> bool {
        let subnet = subnet.normalized();
        if self.bans.contains_key(&subnet) {
            return false;
        }
        self.bans.insert(subnet, ban);
        true
    }

    /// Lifts the ban on exactly `subnet`; false when there was none.
    pub fn remove(&mut self, subnet: &Subnet) -> bool {
        self.bans.remove(&subnet.normalized()).is_some()
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

    /// Whether `ip` falls in a ban still running at `now`.
    pub fn is_banned(&self, ip: IpAddr, now: i64) -> bool {
        self.bans
            .iter()
            .any(|(s, b)| b.until > now && s.contains(ip))
    }

    pub fn entries(&self) -> impl Iterator<Item = (&Subnet, &Ban)> {
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
                .and_then(|a| Subnet::parse(a).ok());
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

    fn subnet(s: &str) -> Subnet {
        Subnet::parse(s).unwrap()
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
        assert!(list.is_banned("10.0.0.200".parse().unwrap(), 50));
        assert!(!list.is_banned("10.0.1.1".parse().unwrap(), 50));
        assert!(!list.is_banned("10.0.0.200".parse().unwrap(), 100));
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
}
