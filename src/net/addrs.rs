//! net/addrs: the address messages (`addr`, `addrv2` of BIP155) as the
//! address manager sees them: what a peer's message carries, with Core's
//! checks (services worth keeping, times fixed up), and what we send back
//! for `getaddr`. The tables themselves are `addrman`.

use bitcoin::p2p::address::{AddrV2Message, Address};
use bitcoin::p2p::ServiceFlags;

use super::addrman::AddrInfo;
use super::netaddr::{NetAddr, Network, Service};

/// Core's MAX_ADDR_TO_SEND: most addresses in one message.
pub const MAX_ADDR_TO_SEND: usize = 1000;
/// Core's MAX_PCT_ADDR_TO_SEND: share of the tables one `getaddr` gets.
pub const MAX_PCT_ADDR_TO_SEND: usize = 23;
/// Core: learned addresses are dated two hours back.
pub const TIME_PENALTY: i64 = 2 * 3600;

/// One address a peer told us about.
pub type Learned = (Service, u64, i64);

/// Core's MayHaveUsefulAddressDB: a full or pruned (limited) node.
fn may_serve_addresses(services: u64) -> bool {
    let useful = (ServiceFlags::NETWORK | ServiceFlags::NETWORK_LIMITED).to_u64();
    services & useful != 0
}

/// What Core's ProcessAddrs keeps of a message's entries: nodes that may
/// serve blocks, on a network we reach; a time before 1973 or more than
/// ten minutes ahead becomes five days ago.
fn keep(list: impl Iterator<Item = Learned>, reachable: &[Network], now: i64) -> Vec<Learned> {
    list.filter(|(_, services, _)| may_serve_addresses(*services))
        .filter(|(s, _, _)| reachable.contains(&s.addr.net_class()))
        .map(|(s, services, time)| {
            let time = if time <= 100_000_000 || time > now + 600 {
                now - 5 * 86_400
            } else {
                time
            };
            (s, services, time)
        })
        .collect()
}

/// The entries of an `addrv2` message worth learning.
pub fn from_v2(list: &[AddrV2Message], reachable: &[Network], now: i64) -> Vec<Learned> {
    let parsed = list.iter().filter_map(|m| {
        let addr = NetAddr::from_v2(&m.addr)?;
        Some((
            Service { addr, port: m.port },
            m.services.to_u64(),
            m.time as i64,
        ))
    });
    keep(parsed, reachable, now)
}

/// The entries of an `addr` message worth learning.
pub fn from_v1(list: &[(u32, Address)], reachable: &[Network], now: i64) -> Vec<Learned> {
    let parsed = list.iter().filter_map(|(time, a)| {
        let sock = a.socket_addr().ok()?;
        Some((
            Service::from_socket(sock),
            a.services.to_u64(),
            *time as i64,
        ))
    });
    keep(parsed, reachable, now)
}

/// An entry for an `addrv2` message.
pub fn to_v2(info: &AddrInfo) -> AddrV2Message {
    AddrV2Message {
        time: info.time.clamp(0, u32::MAX as i64) as u32,
        services: ServiceFlags::from(info.services),
        addr: info.service.addr.to_v2(),
        port: info.service.port,
    }
}

/// An entry for an `addr` message (IPv4 and IPv6 only).
pub fn to_v1(info: &AddrInfo) -> Option<(u32, Address)> {
    let sock = info.service.socket()?;
    Some((
        info.time.clamp(0, u32::MAX as i64) as u32,
        Address::new(&sock, ServiceFlags::from(info.services)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::p2p::address::AddrV2;

    #[test]
    fn keeps_useful_reachable_entries_and_fixes_times() {
        let now = 1_700_000_000;
        let net = (ServiceFlags::NETWORK | ServiceFlags::WITNESS).to_u64();
        let v4 = |a: [u8; 4], services: u64, time: u32| AddrV2Message {
            time,
            services: ServiceFlags::from(services),
            addr: AddrV2::Ipv4(a.into()),
            port: 8333,
        };
        let onion = AddrV2Message {
            time: now as u32,
            services: ServiceFlags::from(net),
            addr: AddrV2::TorV3([7; 32]),
            port: 8333,
        };
        let list = [
            v4([1, 2, 3, 4], net, now as u32 - 60),
            // No NETWORK or NETWORK_LIMITED: nothing to sync from.
            v4([1, 2, 3, 5], ServiceFlags::WITNESS.to_u64(), now as u32),
            // From the future: five days ago.
            v4([1, 2, 3, 6], net, now as u32 + 3600),
            onion.clone(),
        ];
        let got = from_v2(&list, &[Network::Ipv4, Network::Ipv6], now);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].2, now - 60);
        assert_eq!(got[1].2, now - 5 * 86_400);
        // With onion reachable (a proxy), the onion entry is kept too.
        assert_eq!(
            from_v2(&list, &[Network::Ipv4, Network::Onion], now).len(),
            3
        );
        // A private address is never reachable as a public network.
        let private = [v4([192, 168, 1, 1], net, now as u32)];
        assert!(from_v2(&private, &Network::PUBLIC, now).is_empty());
        let v1 = from_v1(
            &[(
                now as u32,
                Address::new(&"[2a01::1]:8333".parse().unwrap(), ServiceFlags::from(net)),
            )],
            &Network::PUBLIC,
            now,
        );
        assert_eq!(v1[0].0.addr, NetAddr::parse_host("2a01::1").unwrap());
    }
}
