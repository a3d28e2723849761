//! Outbound connections the broker makes for the node worker (whose sandbox
//! has no `socket`/`connect`): the one place that decides which addresses it
//! may reach, and the connect itself, directly or through `-proxy` (SOCKS5),
//! with Core's `-timeout`. The connected socket goes back in SCM_RIGHTS.
//!
//! Policy: only the node worker may ask; the address is `ip:port` (a
//! hostname only when `-dns` allows lookups, a Tor v3 `.onion` name only
//! through the onion proxy: `-onion`, or `-proxy`); `-onlynet` limits the
//! networks; unspecified, multicast and broadcast addresses and port 0
//! never. `-proxy` is parsed with Core's rules and messages
//! (`addr[:port][=network]`).

use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::time::Duration;

use crate::config::Config;
use crate::ipc::spawn::ChildRole;

/// Core's DEFAULT_CONNECT_TIMEOUT (ms).
const DEFAULT_TIMEOUT_MS: i64 = 5000;
/// Longest address text a child may send.
const MAX_ADDRESS: usize = 300;

/// Why a connect was refused or failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConnectError {
    #[error("{role} may not open connections")]
    RoleHasNoNetwork { role: &'static str },
    #[error("address {0:?} is not host:port")]
    BadAddress(String),
    #[error("address {0} is not a peer address (unspecified, multicast, broadcast or port 0)")]
    NotRoutable(SocketAddr),
    #[error("address {addr} is on network {net}, not in -onlynet")]
    NetworkNotAllowed { addr: SocketAddr, net: &'static str },
    #[error("name lookups are disabled (-dns=0): {0}")]
    NoLookups(String),
    #[error("cannot resolve {0}")]
    Unresolved(String),
    #[error("connecting to {addr}: {why}")]
    Failed { addr: String, why: String },
    #[error("{0} is a Tor address and no onion proxy is set (-proxy or -onion)")]
    NoOnionProxy(String),
    #[error("{0} is on network onion, not in -onlynet")]
    OnionNotAllowed(String),
}

/// Core's DEFAULT_TOR_SOCKS_PORT: a `-proxy` without a port.
const DEFAULT_PROXY_PORT: u16 = 9050;

/// What the node's options allow.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectPolicy {
    /// `-onlynet` networks (empty: all).
    pub onlynet: Vec<String>,
    /// `-proxy` (or `-proxy=...=ipv4`): IPv4 targets go through this SOCKS5 proxy.
    pub ipv4_proxy: Option<SocketAddr>,
    /// `-proxy` (or `-proxy=...=ipv6`): IPv6 targets go through it.
    pub ipv6_proxy: Option<SocketAddr>,
    /// `-onion`, else `-proxy` (or `-proxy=...=onion`): the only way to
    /// Tor v3 addresses.
    pub onion_proxy: Option<SocketAddr>,
    /// `-dns`: hostnames may be looked up.
    pub dns: bool,
    /// `-timeout`.
    pub timeout: Duration,
}

/// A `-proxy` value Core would refuse at startup, with Core's message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProxyError {
    #[error("Invalid -proxy address or hostname, ends with '=': '{0}'")]
    EndsWithEquals(String),
    #[error("Invalid -proxy address or hostname: '{0}'")]
    Invalid(String),
    #[error("Unrecognized network in -proxy='{0}': '{1}'")]
    Network(String, String),
    #[error("-proxy='{0}': unix socket proxies are not supported by this node yet")]
    UnixSocket(String),
}

/// `host[:port]` (port 9050 when missing) as one address, looked up when
/// `dns` allows.
fn proxy_address(text: &str, dns: bool) -> Option<SocketAddr> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    if let Ok(ip) = text
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Some(SocketAddr::new(ip, DEFAULT_PROXY_PORT));
    }
    if !dns {
        return None;
    }
    let with_port = match text.rsplit_once(':') {
        Some((_, p)) if p.parse::<u16>().is_ok() => text.to_string(),
        _ => format!("{text}:{DEFAULT_PROXY_PORT}"),
    };
    with_port.to_socket_addrs().ok()?.next()
}

impl ConnectPolicy {
    /// From the node's options, refusing `-proxy` values as Core does.
    pub fn from_config(config: &Config) -> Result<ConnectPolicy, ProxyError> {
        let timeout = config.get_int("timeout", DEFAULT_TIMEOUT_MS);
        let mut policy = ConnectPolicy {
            onlynet: config.get_all("onlynet"),
            dns: config.get_bool("dns", true),
            timeout: Duration::from_millis(if timeout > 0 {
                timeout as u64
            } else {
                DEFAULT_TIMEOUT_MS as u64
            }),
            ..ConnectPolicy::default()
        };
        for value in config.get_all("proxy") {
            let (text, net) = match value.rsplit_once('=') {
                Some((_, "")) => return Err(ProxyError::EndsWithEquals(value)),
                Some((t, n)) => (t.to_string(), n.to_lowercase()),
                None => (value.clone(), String::new()),
            };
            let proxy = if text.is_empty() || text == "0" {
                None
            } else if text.starts_with("unix:") {
                return Err(ProxyError::UnixSocket(value));
            } else {
                Some(proxy_address(&text, policy.dns).ok_or(ProxyError::Invalid(text))?)
            };
            match net.as_str() {
                "" => {
                    (policy.ipv4_proxy, policy.ipv6_proxy) = (proxy, proxy);
                    policy.onion_proxy = proxy;
                }
                "ipv4" => policy.ipv4_proxy = proxy,
                "ipv6" => policy.ipv6_proxy = proxy,
                "onion" => policy.onion_proxy = proxy,
                // A network this node does not reach yet: accepted, unused.
                "cjdns" => {}
                _ => return Err(ProxyError::Network(value, net)),
            }
        }
        // -onion: Tor's own proxy, over -proxy's; -onion=0 turns Tor off.
        if let Some(onion) = config.get("onion") {
            policy.onion_proxy = if onion.is_empty() || onion == "0" {
                None
            } else {
                Some(proxy_address(&onion, policy.dns).ok_or(ProxyError::Invalid(onion))?)
            };
        }
        Ok(policy)
    }

    /// The proxy for `target`. As in Core, an address that is not publicly
    /// routable (loopback, private ranges) has no network a proxy serves.
    fn proxy_for(&self, target: &SocketAddr) -> Option<SocketAddr> {
        if !crate::net::netaddr::is_routable(target.ip()) {
            return None;
        }
        match network(target.ip()) {
            "ipv4" => self.ipv4_proxy,
            _ => self.ipv6_proxy,
        }
    }
}

/// Core's network name for an address.
fn network(ip: IpAddr) -> &'static str {
    crate::net::netaddr::NetAddr::from_ip(ip).network().name()
}

/// Checks one resolved target against the policy.
fn check(addr: SocketAddr, policy: &ConnectPolicy) -> Result<SocketAddr, ConnectError> {
    let ip = addr.ip();
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    if ip.is_unspecified() || ip.is_multicast() || broadcast || addr.port() == 0 {
        return Err(ConnectError::NotRoutable(addr));
    }
    let net = network(ip);
    if !policy.onlynet.is_empty() && !policy.onlynet.iter().any(|n| n == net) {
        return Err(ConnectError::NetworkNotAllowed { addr, net });
    }
    Ok(addr)
}

/// The targets `address` names, each allowed by `policy`.
pub async fn resolve(
    role: ChildRole,
    policy: &ConnectPolicy,
    address: &str,
) -> Result<SocketAddr, ConnectError> {
    if role != ChildRole::NodeWorker {
        return Err(ConnectError::RoleHasNoNetwork {
            role: role.display_name(),
        });
    }
    if address.len() > MAX_ADDRESS || address.contains(['\0', '/', ' ']) {
        return Err(ConnectError::BadAddress(address.chars().take(64).collect()));
    }
    if let Ok(addr) = address.parse::<SocketAddr>() {
        return check(addr, policy);
    }
    let (host, port) = address
        .rsplit_once(':')
        .filter(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        .ok_or_else(|| ConnectError::BadAddress(address.to_string()))?;
    // A .onion name is never looked up (that would tell the resolver).
    if host.to_ascii_lowercase().ends_with(".onion") {
        return Err(ConnectError::BadAddress(address.to_string()));
    }
    if !policy.dns {
        return Err(ConnectError::NoLookups(host.to_string()));
    }
    let mut found = tokio::net::lookup_host((host, port.parse::<u16>().unwrap_or(0)))
        .await
        .map_err(|_| ConnectError::Unresolved(host.to_string()))?;
    let first = found
        .next()
        .ok_or_else(|| ConnectError::Unresolved(host.to_string()))?;
    check(first, policy)
}

/// `name.onion:port` when `address` is a valid Tor v3 address.
fn onion_target(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    match crate::net::netaddr::NetAddr::parse_host(host)? {
        crate::net::netaddr::NetAddr::Onion(_) => Some((host.to_ascii_lowercase(), port)),
        _ => None,
    }
}

/// Connects to a Tor v3 address through the onion proxy, which resolves
/// the name (Core's ConnectThroughProxy).
async fn connect_onion(
    policy: &ConnectPolicy,
    address: &str,
    host: String,
    port: u16,
) -> Result<OwnedFd, ConnectError> {
    if !policy.onlynet.is_empty() && !policy.onlynet.iter().any(|n| n == "onion") {
        return Err(ConnectError::OnionNotAllowed(address.into()));
    }
    let proxy = policy
        .onion_proxy
        .ok_or_else(|| ConnectError::NoOnionProxy(address.into()))?;
    let failed = |why: String| ConnectError::Failed {
        addr: address.into(),
        why,
    };
    let stream = tokio::time::timeout(
        policy.timeout,
        tokio_socks::tcp::Socks5Stream::connect(proxy, (host.as_str(), port)),
    )
    .await
    .map_err(|_| failed("timed out".into()))?
    .map_err(|e| failed(format!("through proxy {proxy}: {e}")))?
    .into_inner();
    let std = stream.into_std().map_err(|e| failed(e.to_string()))?;
    Ok(OwnedFd::from(std))
}

/// Connects to `address` for `role` as `policy` allows; returns the socket.
pub async fn connect(
    role: ChildRole,
    policy: &ConnectPolicy,
    address: &str,
) -> Result<OwnedFd, ConnectError> {
    if let Some((host, port)) = onion_target(address) {
        if role != ChildRole::NodeWorker {
            return Err(ConnectError::RoleHasNoNetwork {
                role: role.display_name(),
            });
        }
        return connect_onion(policy, address, host, port).await;
    }
    let target = resolve(role, policy, address).await?;
    let failed = |why: String| ConnectError::Failed {
        addr: target.to_string(),
        why,
    };
    let stream = match policy.proxy_for(&target) {
        None => tokio::time::timeout(policy.timeout, tokio::net::TcpStream::connect(target))
            .await
            .map_err(|_| failed("timed out".into()))?
            .map_err(|e| failed(e.to_string()))?,
        Some(proxy) => tokio::time::timeout(
            policy.timeout,
            tokio_socks::tcp::Socks5Stream::connect(proxy, target),
        )
        .await
        .map_err(|_| failed("timed out".into()))?
        .map_err(|e| failed(format!("through proxy {proxy}: {e}")))?
        .into_inner(),
    };
    let std = stream.into_std().map_err(|e| failed(e.to_string()))?;
    Ok(OwnedFd::from(std))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn open() -> ConnectPolicy {
        ConnectPolicy {
            dns: true,
            timeout: Duration::from_secs(5),
            ..ConnectPolicy::default()
        }
    }

    use crate::test_runtime as rt;

    #[test]
    fn the_worker_gets_a_connected_socket_to_an_allowed_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let fd = rt()
            .block_on(connect(ChildRole::NodeWorker, &open(), &addr))
            .unwrap();
        let mut ours = std::net::TcpStream::from(fd);
        ours.set_nonblocking(false).unwrap();
        let (mut theirs, _) = listener.accept().unwrap();
        ours.write_all(b"version").unwrap();
        let mut buf = [0u8; 7];
        theirs.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"version");
    }

    #[test]
    fn policy_refusals_name_the_reason() {
        let r = |role, policy: &ConnectPolicy, a: &str| rt().block_on(resolve(role, policy, a));
        assert_eq!(
            r(ChildRole::Wallet, &open(), "127.0.0.1:8333"),
            Err(ConnectError::RoleHasNoNetwork {
                role: ChildRole::Wallet.display_name()
            })
        );
        for bad in [
            "0.0.0.0:8333",
            "224.0.0.1:8333",
            "255.255.255.255:1",
            "127.0.0.1:0",
            "[::]:8333",
        ] {
            assert!(
                matches!(
                    r(ChildRole::NodeWorker, &open(), bad),
                    Err(ConnectError::NotRoutable(_))
                ),
                "{bad}"
            );
        }
        for bad in ["", "nohost", ":8333", "host:port", "a b:1", "x/y:1"] {
            assert!(
                matches!(
                    r(ChildRole::NodeWorker, &open(), bad),
                    Err(ConnectError::BadAddress(_))
                ),
                "{bad:?}"
            );
        }
        let v6_only = ConnectPolicy {
            onlynet: vec!["ipv6".into()],
            ..open()
        };
        assert!(matches!(
            r(ChildRole::NodeWorker, &v6_only, "127.0.0.1:18444"),
            Err(ConnectError::NetworkNotAllowed { net: "ipv4", .. })
        ));
        assert!(r(ChildRole::NodeWorker, &v6_only, "[::1]:18444").is_ok());
        let no_dns = ConnectPolicy {
            dns: false,
            ..open()
        };
        assert_eq!(
            r(ChildRole::NodeWorker, &no_dns, "localhost:18444"),
            Err(ConnectError::NoLookups("localhost".into()))
        );
        assert!(r(ChildRole::NodeWorker, &open(), "localhost:18444").is_ok());
    }

    #[test]
    fn a_refused_port_is_a_failure_not_a_hang() {
        // A port nothing listens on any more: connection refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = rt()
            .block_on(connect(
                ChildRole::NodeWorker,
                &open(),
                &format!("127.0.0.1:{port}"),
            ))
            .unwrap_err();
        assert!(matches!(err, ConnectError::Failed { .. }), "{err}");
    }

    #[test]
    fn with_a_proxy_the_connection_is_a_socks5_tunnel() {
        let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let policy = ConnectPolicy {
            ipv4_proxy: Some(proxy.local_addr().unwrap()),
            ..open()
        };
        // A minimal SOCKS5 server: no authentication, CONNECT, then it reads
        // what the tunnel carries.
        let server = std::thread::spawn(move || {
            let (mut s, _) = proxy.accept().unwrap();
            let mut greeting = [0u8; 3];
            s.read_exact(&mut greeting).unwrap();
            assert_eq!(greeting, [5, 1, 0]);
            s.write_all(&[5, 0]).unwrap();
            let mut request = [0u8; 10];
            s.read_exact(&mut request).unwrap();
            s.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
            let mut payload = [0u8; 4];
            s.read_exact(&mut payload).unwrap();
            (request, payload)
        });
        let fd = rt()
            .block_on(connect(ChildRole::NodeWorker, &policy, "1.2.3.4:18444"))
            .unwrap();
        let mut tunnel = std::net::TcpStream::from(fd);
        tunnel.set_nonblocking(false).unwrap();
        tunnel.write_all(b"ping").unwrap();
        let (request, payload) = server.join().unwrap();
        // CONNECT to IPv4 1.2.3.4, port 18444 (0x480c).
        assert_eq!(request, [5, 1, 0, 1, 1, 2, 3, 4, 0x48, 0x0c]);
        assert_eq!(&payload, b"ping");
    }

    #[test]
    fn onion_addresses_go_to_the_onion_proxy_by_name_only() {
        const ONION: &str = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion";
        let target = format!("{ONION}:8333");
        // No onion proxy: refused, never looked up.
        let got = rt().block_on(connect(ChildRole::NodeWorker, &open(), &target));
        assert_eq!(got.err(), Some(ConnectError::NoOnionProxy(target.clone())));
        let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let policy = ConnectPolicy {
            onion_proxy: Some(proxy.local_addr().unwrap()),
            ..open()
        };
        let only_ipv4 = ConnectPolicy {
            onlynet: vec!["ipv4".into()],
            ..policy.clone()
        };
        let got = rt().block_on(connect(ChildRole::NodeWorker, &only_ipv4, &target));
        assert_eq!(
            got.err(),
            Some(ConnectError::OnionNotAllowed(target.clone()))
        );
        let server = std::thread::spawn(move || {
            let (mut s, _) = proxy.accept().unwrap();
            let mut greeting = [0u8; 3];
            s.read_exact(&mut greeting).unwrap();
            s.write_all(&[5, 0]).unwrap();
            // CONNECT by domain name: 5 1 0 3 <len> <name> <port>.
            let mut head = [0u8; 5];
            s.read_exact(&mut head).unwrap();
            let mut name = vec![0u8; head[4] as usize + 2];
            s.read_exact(&mut name).unwrap();
            s.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
            (head, name)
        });
        rt().block_on(connect(ChildRole::NodeWorker, &policy, &target))
            .unwrap();
        let (head, name) = server.join().unwrap();
        assert_eq!(&head[..4], &[5, 1, 0, 3]);
        assert_eq!(&name[..name.len() - 2], ONION.as_bytes());
        assert_eq!(&name[name.len() - 2..], &8333u16.to_be_bytes());
        // A name that only looks like an onion address is not one, and is
        // not looked up either.
        let bad = "abc.onion:8333";
        assert_eq!(
            rt().block_on(connect(ChildRole::NodeWorker, &policy, bad))
                .err(),
            Some(ConnectError::BadAddress(bad.into()))
        );
    }

    #[test]
    fn a_loopback_target_is_reached_directly_even_with_a_proxy() {
        // A proxy nothing listens on: using it would fail.
        let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let policy = ConnectPolicy {
            ipv4_proxy: Some(dead_addr),
            ..open()
        };
        let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = peer.local_addr().unwrap().to_string();
        let fd = rt()
            .block_on(connect(ChildRole::NodeWorker, &policy, &target))
            .unwrap();
        let (accepted, _) = peer.accept().unwrap();
        assert_eq!(
            accepted.peer_addr().unwrap(),
            std::net::TcpStream::from(fd).local_addr().unwrap()
        );
    }
}
