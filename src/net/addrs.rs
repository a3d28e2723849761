//! net/addrs: the addresses peers tell us about (`addr`/`addrv2`, BIP155)
//! and the answers to `getaddr`. A bounded book of IPv4/IPv6 addresses with
//! their services and last-seen time; not Core's bucketed addrman (no
//! tried/new tables, no eviction by source), so outbound peers are still
//! chosen by `-connect`/`-addnode`/`-seednode` only.

use std::collections::HashMap;
use std::net::SocketAddr;

use bitcoin::p2p::address::{AddrV2, AddrV2Message, Address};
use bitcoin::p2p::ServiceFlags;

/// Core's MAX_ADDR_TO_SEND: most addresses in one message.
pub const MAX_ADDR_TO_SEND: usize = 1000;
/// Addresses kept at most.
const CAPACITY: usize = 10_000;

/// One known address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Known {
    pub addr: SocketAddr,
    pub services: u64,
    /// Last seen, seconds since the epoch.
    pub time: u32,
}

/// The address book.
#[derive(Default)]
pub struct AddrBook {
    known: HashMap<SocketAddr, Known>,
}

impl AddrBook {
    /// Learns `addr`; keeps the newer time. As Core's AddrMan, addresses
    /// that are not publicly routable (loopback, private ranges) and port 0
    /// are ignored; a full book takes nothing new. Whether it was taken.
    pub fn learn(&mut self, addr: SocketAddr, services: u64, time: u32) -> bool {
        if addr.port() == 0 || !super::netaddr::is_routable(addr.ip()) {
            return false;
        }
        if let Some(k) = self.known.get_mut(&addr) {
            k.time = k.time.max(time);
            k.services |= services;
            return true;
        }
        if self.known.len() >= CAPACITY {
            return false;
        }
        self.known.insert(
            addr,
            Known {
                addr,
                services,
                time,
            },
        );
        true
    }

    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Up to `n` addresses, newest first (getaddr, getnodeaddresses).
    pub fn sample(&self, n: usize) -> Vec<Known> {
        let mut all: Vec<Known> = self.known.values().copied().collect();
        all.sort_by(|a, b| b.time.cmp(&a.time).then(a.addr.cmp(&b.addr)));
        all.truncate(n);
        all
    }

    /// Learns what an `addrv2` message carries (IPv4 and IPv6 only).
    pub fn learn_v2(&mut self, list: &[AddrV2Message]) {
        for m in list {
            let ip = match m.addr {
                AddrV2::Ipv4(ip) => std::net::IpAddr::V4(ip),
                AddrV2::Ipv6(ip) => std::net::IpAddr::V6(ip),
                _ => continue,
            };
            self.learn(SocketAddr::new(ip, m.port), m.services.to_u64(), m.time);
        }
    }

    /// Learns what an `addr` message carries.
    pub fn learn_v1(&mut self, list: &[(u32, Address)]) {
        for (time, a) in list {
            if let Ok(sock) = a.socket_addr() {
                self.learn(sock, a.services.to_u64(), *time);
            }
        }
    }
}

/// `known` as an `addrv2` entry.
pub fn to_v2(k: &Known) -> AddrV2Message {
    let addr = match k.addr.ip().to_canonical() {
        std::net::IpAddr::V4(ip) => AddrV2::Ipv4(ip),
        std::net::IpAddr::V6(ip) => AddrV2::Ipv6(ip),
    };
    AddrV2Message {
        time: k.time,
        services: ServiceFlags::from(k.services),
        addr,
        port: k.addr.port(),
    }
}

/// `known` as an `addr` entry.
pub fn to_v1(k: &Known) -> (u32, Address) {
    (
        k.time,
        Address::new(&k.addr, ServiceFlags::from(k.services)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_bounded_and_round_trips_both_formats() {
        let mut book = AddrBook::default();
        let a: SocketAddr = "1.0.0.1:18444".parse().unwrap();
        assert!(book.learn(a, 1, 100));
        assert!(book.learn(a, 8, 50));
        // Not publicly routable, or port 0: refused, as by Core's AddrMan.
        for refused in [
            "0.0.0.0:1",
            "1.0.0.2:0",
            "127.0.0.1:8333",
            "192.168.1.1:8333",
        ] {
            assert!(!book.learn(refused.parse().unwrap(), 1, 1), "{refused}");
        }
        assert_eq!(
            book.sample(10),
            vec![Known {
                addr: a,
                services: 9,
                time: 100
            }]
        );
        let mut other = AddrBook::default();
        other.learn_v2(&[to_v2(&book.sample(1)[0])]);
        other.learn_v1(&[to_v1(&Known {
            addr: "[2a01::1]:8333".parse().unwrap(),
            services: 1,
            time: 7,
        })]);
        assert_eq!(other.len(), 2);
        for i in 0..CAPACITY + 5 {
            other.learn(
                SocketAddr::from(([11, 1, (i >> 8) as u8, i as u8], 1000 + (i >> 16) as u16)),
                1,
                1,
            );
        }
        assert_eq!(other.len(), CAPACITY);
    }
}
