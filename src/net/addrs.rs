//! net/addrs: the address messages (`addr`, `addrv2` of BIP155) as the
//! address manager sees them: what a peer's message carries, with Core's
//! checks (services worth keeping, times fixed up), and what we send back
//! for `getaddr`. The tables themselves are `addrman`.

use bitcoin::p2p::address::{AddrV2Message, Address};
use bitcoin::p2p::ServiceFlags;

use super::addrman::AddrInfo;
use super::netaddr::{NetAddr, Service};

/// Core's MAX_ADDR_TO_SEND: most addresses in one message.
pub const MAX_ADDR_TO_SEND: usize = 1000;
/// Core's MAX_PCT_ADDR_TO_SEND: share of the tables one `getaddr` gets.
pub const MAX_PCT_ADDR_TO_SEND: usize = 23;
/// Core: learned addresses are dated two hours back.
pub const TIME_PENALTY: i64 = 2 * 3600;

/// One address a peer told us about.
pub type Learned = (Service, u64, i64);

/// Core's MayHaveUsefulAddressDB: a full or pruned (limited) node.
pub fn may_serve_addresses(services: u64) -> bool {
    let useful = (ServiceFlags::NETWORK | ServiceFlags::NETWORK_LIMITED).to_u64();
    services & useful != 0
}

/// Core's fix-up of a peer's claimed time: before 1973 or more than ten
/// minutes ahead becomes five days ago.
pub fn fix_time(time: i64, now: i64) -> i64 {
    if time <= 100_000_000 || time > now + 600 {
        now - 5 * 86_400
    } else {
        time
    }
}

/// Every entry of an `addrv2` message, None for one of a network we do
/// not know (it still counts against the sender's rate limit).
pub fn parse_v2(list: &[AddrV2Message]) -> Vec<Option<Learned>> {
    list.iter()
        .map(|m| {
            let addr = NetAddr::from_v2(&m.addr)?;
            Some((
                Service { addr, port: m.port },
                m.services.to_u64(),
                m.time as i64,
            ))
        })
        .collect()
}

/// Every entry of an `addr` message.
pub fn parse_v1(list: &[(u32, Address)]) -> Vec<Option<Learned>> {
    list.iter()
        .map(|(time, a)| {
            let sock = a.socket_addr().ok()?;
            Some((
                Service::from_socket(sock),
                a.services.to_u64(),
                *time as i64,
            ))
        })
        .collect()
}

/// What a table entry says about its address, as sent to peers.
pub fn learned(info: &AddrInfo) -> Learned {
    (info.service, info.services, info.time)
}

/// An entry for an `addrv2` message.
pub fn to_v2((service, services, time): &Learned) -> AddrV2Message {
    AddrV2Message {
        time: (*time).clamp(0, u32::MAX as i64) as u32,
        services: ServiceFlags::from(*services),
        addr: service.addr.to_v2(),
        port: service.port,
    }
}

/// Whether an address fits an `addr` message (IPv4 and IPv6 only; Core's
/// IsAddrV1Compatible).
pub fn v1_compatible(addr: &NetAddr) -> bool {
    matches!(addr, NetAddr::Ipv4(_) | NetAddr::Ipv6(_))
}

/// An entry for an `addr` message (IPv4 and IPv6 only).
pub fn to_v1((service, services, time): &Learned) -> Option<(u32, Address)> {
    if !v1_compatible(&service.addr) {
        return None;
    }
    let sock = service.socket()?;
    Some((
        (*time).clamp(0, u32::MAX as i64) as u32,
        Address::new(&sock, ServiceFlags::from(*services)),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::netaddr::Network;
    use super::*;
    use bitcoin::p2p::address::AddrV2;

    #[test]
    fn parses_every_entry_and_fixes_times() {
        let now = 1_700_000_000;
        let net = (ServiceFlags::NETWORK | ServiceFlags::WITNESS).to_u64();
        let list = [
            AddrV2Message {
                time: now as u32 - 60,
                services: ServiceFlags::from(net),
                addr: AddrV2::Ipv4([1, 2, 3, 4].into()),
                port: 8333,
            },
            AddrV2Message {
                time: now as u32,
                services: ServiceFlags::from(net),
                addr: AddrV2::TorV3([7; 32]),
                port: 8333,
            },
            // A network BIP155 leaves to the future: kept as None, so it
            // still counts against the sender's rate limit.
            AddrV2Message {
                time: now as u32,
                services: ServiceFlags::from(net),
                addr: AddrV2::Unknown(42, vec![1, 2]),
                port: 8333,
            },
        ];
        let got = parse_v2(&list);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].unwrap().0.addr.net_class(), Network::Ipv4);
        assert_eq!(got[1].unwrap().0.addr.net_class(), Network::Onion);
        assert!(got[2].is_none());
        // Only an address that can travel in `addr` becomes one.
        assert!(to_v1(&got[0].unwrap()).is_some());
        assert!(to_v1(&got[1].unwrap()).is_none());
        assert_eq!(to_v2(&got[1].unwrap()), list[1]);
        let v1 = parse_v1(&[(
            now as u32,
            Address::new(&"[2a01::1]:8333".parse().unwrap(), ServiceFlags::from(net)),
        )]);
        assert_eq!(
            v1[0].unwrap().0.addr,
            NetAddr::parse_host("2a01::1").unwrap()
        );
        // No NETWORK or NETWORK_LIMITED: nothing to sync from.
        assert!(may_serve_addresses(net));
        assert!(may_serve_addresses(ServiceFlags::NETWORK_LIMITED.to_u64()));
        assert!(!may_serve_addresses(ServiceFlags::WITNESS.to_u64()));
        // From the future or before 1973: five days ago.
        assert_eq!(fix_time(now - 60, now), now - 60);
        assert_eq!(fix_time(now + 3600, now), now - 5 * 86_400);
        assert_eq!(fix_time(1000, now), now - 5 * 86_400);
    }
}
