//! net/netaddr: Core's classification of peer addresses (CNetAddr,
//! CService): the BIP155 networks (IPv4, IPv6, Tor v3, I2P, CJDNS), which
//! addresses are reachable on the public internet, the network an address
//! counts as, the group it shares buckets with in the address manager, its
//! text form (`.onion`, `.b32.i2p`), and Core's LookupNumeric for comparing
//! `addnode` entries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Core's CNetAddr::IsRoutable for an IP address: valid, and in none of
/// the local, private, link-local, shared, benchmarking or documentation
/// ranges.
pub fn is_routable(ip: IpAddr) -> bool {
    NetAddr::from_ip(ip).is_routable()
}

fn v4_routable(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let invalid = ip.is_unspecified() || ip.is_broadcast();
    let local = a == 127 || a == 0;
    let rfc1918 = a == 10 || (a == 192 && b == 168) || (a == 172 && (16..=31).contains(&b));
    let rfc2544 = a == 198 && (b == 18 || b == 19);
    let rfc3927 = a == 169 && b == 254;
    let rfc6598 = a == 100 && (64..=127).contains(&b);
    let rfc5737 = (a == 192 && b == 0 && c == 2)
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113);
    !(invalid || local || rfc1918 || rfc2544 || rfc3927 || rfc6598 || rfc5737)
}

fn v6_routable(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let invalid = ip.is_unspecified() || (s[0] == 0x2001 && s[1] == 0x0db8);
    let local = ip.is_loopback();
    let rfc4862 = s[0] == 0xfe80 && s[1] == 0 && s[2] == 0 && s[3] == 0;
    let rfc4193 = s[0] & 0xfe00 == 0xfc00;
    let rfc4843 = s[0] == 0x2001 && s[1] & 0xfff0 == 0x0010;
    let rfc7343 = s[0] == 0x2001 && s[1] & 0xfff0 == 0x0020;
    !(invalid || local || rfc4862 || rfc4193 || rfc4843 || rfc7343)
}

/// Core's enum Network, in its order: the first byte of a group key is
/// one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Network {
    Unroutable = 0,
    Ipv4 = 1,
    Ipv6 = 2,
    Onion = 3,
    I2p = 4,
    Cjdns = 5,
    Internal = 6,
}

impl Network {
    /// The networks an address can be on (Core's GetNetworkNames order).
    pub const PUBLIC: [Network; 5] = [
        Network::Ipv4,
        Network::Ipv6,
        Network::Onion,
        Network::I2p,
        Network::Cjdns,
    ];

    /// Core's GetNetworkName.
    pub fn name(self) -> &'static str {
        match self {
            Network::Unroutable => "not_publicly_routable",
            Network::Ipv4 => "ipv4",
            Network::Ipv6 => "ipv6",
            Network::Onion => "onion",
            Network::I2p => "i2p",
            Network::Cjdns => "cjdns",
            Network::Internal => "internal",
        }
    }

    /// Core's ParseNetwork: a network name in any case (`tor` for onion);
    /// None for anything else.
    pub fn parse(name: &str) -> Option<Network> {
        match name.to_ascii_lowercase().as_str() {
            "ipv4" => Some(Network::Ipv4),
            "ipv6" => Some(Network::Ipv6),
            "onion" | "tor" => Some(Network::Onion),
            "i2p" => Some(Network::I2p),
            "cjdns" => Some(Network::Cjdns),
            _ => None,
        }
    }
}

/// A peer's network address without its port (Core's CNetAddr). IPv4
/// mapped into IPv6 is kept as IPv4, as Core does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetAddr {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// A Tor v3 service's public key.
    Onion([u8; 32]),
    /// An I2P destination's hash.
    I2p([u8; 32]),
    Cjdns(Ipv6Addr),
}

/// An address and port (Core's CService).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Service {
    pub addr: NetAddr,
    pub port: u16,
}

/// The version byte of a Tor v3 address.
const TORV3_VERSION: u8 = 3;

/// The two checksum bytes of a Tor v3 address (rend-spec-v3).
fn onion_checksum(pubkey: &[u8; 32]) -> [u8; 2] {
    use sha3::Digest;
    let mut h = sha3::Sha3_256::new();
    h.update(b".onion checksum");
    h.update(pubkey);
    h.update([TORV3_VERSION]);
    let d = h.finalize();
    [d[0], d[1]]
}

/// RFC 4648 base32, lower case, as Core writes onion and I2P names.
fn base32_lower(bytes: &[u8], pad: bool) -> String {
    let e = if pad {
        data_encoding::BASE32
    } else {
        data_encoding::BASE32_NOPAD
    };
    e.encode(bytes).to_ascii_lowercase()
}

/// Base32 in either case; None when it does not decode.
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let upper = text.to_ascii_uppercase();
    data_encoding::BASE32
        .decode(upper.as_bytes())
        .or_else(|_| data_encoding::BASE32_NOPAD.decode(upper.as_bytes()))
        .ok()
}

impl NetAddr {
    pub fn from_ip(ip: IpAddr) -> NetAddr {
        match ip.to_canonical() {
            IpAddr::V4(v4) => NetAddr::Ipv4(v4),
            IpAddr::V6(v6) => NetAddr::Ipv6(v6),
        }
    }

    /// An `addrv2` address; None for networks we do not keep (Tor v2,
    /// unknown ones) and for IPv6 that embeds IPv4 (Core counts those as
    /// invalid in BIP155 encoding).
    pub fn from_v2(a: &bitcoin::p2p::address::AddrV2) -> Option<NetAddr> {
        use bitcoin::p2p::address::AddrV2;
        match a {
            AddrV2::Ipv4(ip) => Some(NetAddr::Ipv4(*ip)),
            AddrV2::Ipv6(ip) if ip.to_ipv4_mapped().is_none() => Some(NetAddr::Ipv6(*ip)),
            AddrV2::TorV3(k) => Some(NetAddr::Onion(*k)),
            AddrV2::I2p(k) => Some(NetAddr::I2p(*k)),
            AddrV2::Cjdns(ip) => Some(NetAddr::Cjdns(*ip)),
            _ => None,
        }
    }

    /// The `addrv2` form.
    pub fn to_v2(&self) -> bitcoin::p2p::address::AddrV2 {
        use bitcoin::p2p::address::AddrV2;
        match *self {
            NetAddr::Ipv4(ip) => AddrV2::Ipv4(ip),
            NetAddr::Ipv6(ip) => AddrV2::Ipv6(ip),
            NetAddr::Onion(k) => AddrV2::TorV3(k),
            NetAddr::I2p(k) => AddrV2::I2p(k),
            NetAddr::Cjdns(ip) => AddrV2::Cjdns(ip),
        }
    }

    /// The IP address, for IPv4 and IPv6 (what an `addr` message and a
    /// socket can carry).
    pub fn ip(&self) -> Option<IpAddr> {
        match *self {
            NetAddr::Ipv4(ip) => Some(IpAddr::V4(ip)),
            NetAddr::Ipv6(ip) => Some(IpAddr::V6(ip)),
            _ => None,
        }
    }

    /// The network the address is on (Core's GetNetwork).
    pub fn network(&self) -> Network {
        match self {
            NetAddr::Ipv4(_) => Network::Ipv4,
            NetAddr::Ipv6(_) => Network::Ipv6,
            NetAddr::Onion(_) => Network::Onion,
            NetAddr::I2p(_) => Network::I2p,
            NetAddr::Cjdns(_) => Network::Cjdns,
        }
    }

    /// Core's IsLocal: 127/8, 0/8 and ::1.
    pub fn is_local(&self) -> bool {
        match self {
            NetAddr::Ipv4(ip) => matches!(ip.octets()[0], 127 | 0),
            NetAddr::Ipv6(ip) => ip.is_loopback(),
            _ => false,
        }
    }

    /// Core's IsValid: could name a real host.
    pub fn is_valid(&self) -> bool {
        match self {
            NetAddr::Ipv4(ip) => !ip.is_unspecified() && !ip.is_broadcast(),
            NetAddr::Ipv6(ip) => {
                let s = ip.segments();
                !(ip.is_unspecified() || (s[0] == 0x2001 && s[1] == 0x0db8))
            }
            NetAddr::Cjdns(ip) => ip.octets()[0] == 0xfc,
            NetAddr::Onion(_) | NetAddr::I2p(_) => true,
        }
    }

    /// Core's IsRoutable: valid and outside the local, private and special
    /// ranges.
    pub fn is_routable(&self) -> bool {
        self.is_valid()
            && match *self {
                NetAddr::Ipv4(ip) => v4_routable(ip),
                NetAddr::Ipv6(ip) => v6_routable(ip),
                _ => true,
            }
    }

    /// Core's GetLinkedIPv4 where HasLinkedIPv4: the IPv4 address an
    /// address is or embeds (mapped, NAT64, 6to4, Teredo).
    fn linked_ipv4(&self) -> Option<u32> {
        if !self.is_routable() {
            return None;
        }
        match self {
            NetAddr::Ipv4(ip) => Some(u32::from(*ip)),
            NetAddr::Ipv6(ip) => {
                let b = ip.octets();
                let last = u32::from_be_bytes([b[12], b[13], b[14], b[15]]);
                let rfc6052 = b[..12] == [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0];
                let rfc6145 = b[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0];
                if rfc6052 || rfc6145 {
                    Some(last)
                } else if b[..2] == [0x20, 0x02] {
                    // RFC 3964, 6to4.
                    Some(u32::from_be_bytes([b[2], b[3], b[4], b[5]]))
                } else if b[..4] == [0x20, 0x01, 0, 0] {
                    // RFC 4380, Teredo: bit-flipped.
                    Some(!last)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// Core's GetNetClass: the network an address counts as for grouping
    /// and for the `network` RPC fields.
    pub fn net_class(&self) -> Network {
        if !self.is_routable() {
            Network::Unroutable
        } else if self.linked_ipv4().is_some() {
            Network::Ipv4
        } else {
            self.network()
        }
    }

    /// Core's GetAddrBytes: IPv4 as its 16-byte IPv4-mapped IPv6 form,
    /// the others as they are.
    pub fn addr_bytes(&self) -> Vec<u8> {
        match self {
            NetAddr::Ipv4(ip) => ip.to_ipv6_mapped().octets().to_vec(),
            NetAddr::Ipv6(ip) | NetAddr::Cjdns(ip) => ip.octets().to_vec(),
            NetAddr::Onion(k) | NetAddr::I2p(k) => k.to_vec(),
        }
    }

    /// Core's NetGroupManager::GetGroup without an asmap: the key of the
    /// group whose addresses share address-manager buckets (/16 for IPv4,
    /// /32 for IPv6, /36 for he.net, 4 bits for Tor and I2P, 12 for CJDNS).
    pub fn group(&self) -> Vec<u8> {
        let class = self.net_class();
        let mut key = vec![class as u8];
        let bits = if self.is_local() || class == Network::Unroutable {
            0
        } else if let Some(v4) = self.linked_ipv4() {
            key.extend_from_slice(&v4.to_be_bytes()[..2]);
            return key;
        } else {
            match self {
                NetAddr::Onion(_) | NetAddr::I2p(_) => 4,
                NetAddr::Cjdns(_) => 12,
                NetAddr::Ipv6(ip) if ip.segments()[..2] == [0x2001, 0x0470] => 36,
                _ => 32,
            }
        };
        let bytes = self.addr_bytes();
        let whole = bits / 8;
        key.extend_from_slice(&bytes[..whole]);
        if bits % 8 > 0 {
            key.push(bytes[whole] | ((1u8 << (8 - bits % 8)) - 1));
        }
        key
    }

    /// Core's LookupHost without name resolution: a numeric IPv4 (also in
    /// inet_aton's short forms) or IPv6 address, optionally in brackets, a
    /// Tor v3 `.onion` name or an I2P `.b32.i2p` name.
    pub fn parse_host(text: &str) -> Option<NetAddr> {
        if text.contains('\0') {
            return None;
        }
        if let Some(name) = text.strip_suffix(".onion") {
            let b = base32_decode(name)?;
            if b.len() != 35 || b[34] != TORV3_VERSION {
                return None;
            }
            let key: [u8; 32] = b[..32].try_into().ok()?;
            return (b[32..34] == onion_checksum(&key)).then_some(NetAddr::Onion(key));
        }
        if text.len() == 60 && text[52..].eq_ignore_ascii_case(".b32.i2p") {
            let b = base32_decode(&format!("{}====", &text[..52]))?;
            return Some(NetAddr::I2p(b.try_into().ok()?));
        }
        let host = text
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(text);
        match host.parse::<IpAddr>() {
            Ok(ip) => Some(NetAddr::from_ip(ip)),
            Err(_) => inet_aton(host).map(NetAddr::Ipv4),
        }
    }

    /// Core's MaybeFlipIPv6toCJDNS: an IPv6 address in fc00::/8 is a CJDNS
    /// one when CJDNS is reachable (`-cjdnsreachable`).
    pub fn maybe_cjdns(self, cjdns_reachable: bool) -> NetAddr {
        match self {
            NetAddr::Ipv6(ip) if cjdns_reachable && ip.octets()[0] == 0xfc => NetAddr::Cjdns(ip),
            other => other,
        }
    }
}

impl std::fmt::Display for NetAddr {
    /// Core's ToStringAddr.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetAddr::Ipv4(ip) => write!(f, "{ip}"),
            NetAddr::Ipv6(ip) | NetAddr::Cjdns(ip) => write!(f, "{ip}"),
            NetAddr::Onion(k) => {
                let mut b = k.to_vec();
                b.extend_from_slice(&onion_checksum(k));
                b.push(TORV3_VERSION);
                write!(f, "{}.onion", base32_lower(&b, true))
            }
            NetAddr::I2p(k) => write!(f, "{}.b32.i2p", base32_lower(k, false)),
        }
    }
}

impl Service {
    pub fn from_socket(s: SocketAddr) -> Service {
        Service {
            addr: NetAddr::from_ip(s.ip()),
            port: s.port(),
        }
    }

    /// `host[:port]` with a numeric, `.onion` or `.b32.i2p` host (Core's
    /// Lookup without name resolution); `default_port` when none is given.
    pub fn parse(text: &str, default_port: u16) -> Option<Service> {
        let (host, port) = split_host_port(text, default_port)?;
        Some(Service {
            addr: NetAddr::parse_host(host)?,
            port,
        })
    }

    /// The socket address, for IPv4 and IPv6.
    pub fn socket(&self) -> Option<SocketAddr> {
        self.addr.ip().map(|ip| SocketAddr::new(ip, self.port))
    }

    /// Core's CService::GetKey: the address bytes, then the port big-endian.
    pub fn key(&self) -> Vec<u8> {
        let mut k = self.addr.addr_bytes();
        k.extend_from_slice(&self.port.to_be_bytes());
        k
    }
}

impl std::fmt::Display for Service {
    /// Core's ToStringAddrPort.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.addr {
            NetAddr::Ipv6(_) | NetAddr::Cjdns(_) => write!(f, "[{}]:{}", self.addr, self.port),
            _ => write!(f, "{}:{}", self.addr, self.port),
        }
    }
}

/// Core's LookupNumeric: `host[:port]` or `[v6][:port]` with a numeric
/// host (IPv4 also in inet_aton's short forms, such as `127.1`), without
/// name resolution; `default_port` when none is given.
pub fn lookup_numeric(text: &str, default_port: u16) -> Option<SocketAddr> {
    let (host, port) = split_host_port(text, default_port)?;
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => IpAddr::V4(inet_aton(host)?),
    };
    Some(SocketAddr::new(ip, port))
}

/// Core's SplitHostPort: a trailing `:port` is split off unless the colon
/// belongs to a bare IPv6 address; brackets around the host are removed.
fn split_host_port(text: &str, default_port: u16) -> Option<(&str, u16)> {
    let (host, port) = match text.rfind(':') {
        Some(colon) if text.starts_with('[') || text[..colon].find(':').is_none() => {
            (&text[..colon], Some(text[colon + 1..].parse::<u16>().ok()?))
        }
        _ => (text, None),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some((host, port.unwrap_or(default_port)))
}

/// inet_aton: one to four parts, each decimal, octal (leading 0) or hex
/// (0x); the last part fills the bytes the others leave.
fn inet_aton(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<u32> = text
        .split('.')
        .map(|p| {
            if let Some(hex) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
                u32::from_str_radix(hex, 16).ok()
            } else if p.len() > 1 && p.starts_with('0') {
                u32::from_str_radix(&p[1..], 8).ok()
            } else if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                p.parse().ok()
            } else {
                None
            }
        })
        .collect::<Option<_>>()?;
    let (last, head) = parts.split_last()?;
    if head.len() > 3 || head.iter().any(|p| *p > 255) {
        return None;
    }
    let room = 8 * (4 - head.len() as u32);
    if room < 32 && *last >= 1 << room {
        return None;
    }
    let value = head
        .iter()
        .enumerate()
        .fold(*last, |acc, (i, p)| acc | (p << (24 - 8 * i as u32)));
    Some(Ipv4Addr::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_private_and_documentation_ranges_are_not_routable() {
        for text in [
            "127.0.0.1",
            "10.1.2.3",
            "172.20.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "198.18.0.1",
            "192.0.2.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            assert!(!is_routable(ip), "{text}");
            assert_eq!(
                NetAddr::from_ip(ip).net_class().name(),
                "not_publicly_routable",
                "{text}"
            );
        }
        for (text, net) in [
            ("8.8.8.8", "ipv4"),
            ("172.32.0.1", "ipv4"),
            ("::ffff:1.1.1.1", "ipv4"),
            ("2a01:4f8::1", "ipv6"),
        ] {
            let ip: IpAddr = text.parse().unwrap();
            assert!(is_routable(ip), "{text}");
            assert_eq!(NetAddr::from_ip(ip).net_class().name(), net, "{text}");
        }
    }

    #[test]
    fn numeric_lookups_take_short_ipv4_forms_and_default_ports() {
        let v4 = |t: &str| lookup_numeric(t, 18444).map(|a| a.to_string());
        assert_eq!(v4("127.1:1234").as_deref(), Some("127.0.0.1:1234"));
        assert_eq!(v4("127.0.0.1").as_deref(), Some("127.0.0.1:18444"));
        assert_eq!(v4("0x7f.1").as_deref(), Some("127.0.0.1:18444"));
        assert_eq!(v4("[::1]:8333").as_deref(), Some("[::1]:8333"));
        assert_eq!(v4("::1").as_deref(), Some("[::1]:18444"));
        assert_eq!(v4("example.com:8333"), None);
        assert_eq!(v4("256.1.1.1"), None);
        assert_eq!(v4("1.2.3.4:x"), None);
    }
}
