//! net/netaddr: Core's classification of IP addresses (CNetAddr's
//! IsRoutable and GetNetwork): which ones are reachable on the public
//! internet, the network name RPCs show for a peer's address, and Core's
//! LookupNumeric for comparing `addnode` entries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Core's CNetAddr::IsRoutable: valid, and in none of the local, private,
/// link-local, shared, benchmarking or documentation ranges.
pub fn is_routable(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4_routable(v4),
        IpAddr::V6(v6) => v6_routable(v6),
    }
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

/// Core's GetNetworkName(GetNetwork()) for an IP address.
pub fn network_name(ip: IpAddr) -> &'static str {
    match ip.to_canonical() {
        ip if !is_routable(ip) => "not_publicly_routable",
        IpAddr::V4(_) => "ipv4",
        IpAddr::V6(_) => "ipv6",
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
            assert_eq!(network_name(ip), "not_publicly_routable", "{text}");
        }
        for (text, net) in [
            ("8.8.8.8", "ipv4"),
            ("172.32.0.1", "ipv4"),
            ("::ffff:1.1.1.1", "ipv4"),
            ("2a01:4f8::1", "ipv6"),
        ] {
            let ip: IpAddr = text.parse().unwrap();
            assert!(is_routable(ip), "{text}");
            assert_eq!(network_name(ip), net, "{text}");
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
