//! The P2P listening sockets, bound by the broker because the node worker may
//! not bind: `-bind=addr[:port]` entries (default every interface) on
//! `-port` or the chain's P2P port. `-listen` defaults as Core's: on,
//! unless `-connect` or `-proxy` is given (and on whenever `-bind` or
//! `-whitebind` is). `-whitebind` sockets are bound like `-bind` ones; the
//! node worker gives their peers the permissions (net/permissions).

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use crate::config::Config;

/// Why the P2P listeners cannot be bound.
#[derive(Debug, thiserror::Error)]
pub enum P2pBindError {
    #[error("Invalid port specified in -port: '{0}'")]
    Port(String),
    #[error("Cannot resolve -bind address: '{0}'")]
    BindAddress(String),
    #[error("Unable to bind to {0} on this computer. {1} is probably already running.")]
    InUse(SocketAddr, &'static str),
    #[error("Failed to listen on any port. Use -listen=0 if you want this.")]
    NothingBound,
    #[error("{0}")]
    Whitebind(String),
    #[error("Cannot set -bind or -whitebind together with -listen=0")]
    BindWithoutListen,
}

/// A listening socket as Core makes one: SO_REUSEADDR, and IPv6 sockets
/// IPv6-only so that `[::]` and `0.0.0.0` can share a port.
fn listen_on(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// Core's `-listen` default (InitParameterInteraction): `-bind` turns it on,
/// `-connect` (other than `0`) and `-proxy` turn it off.
pub fn listen_default(config: &Config) -> bool {
    if !config.get_all("bind").is_empty() || !config.get_all("whitebind").is_empty() {
        return true;
    }
    let connect = config
        .get_all("connect")
        .iter()
        .any(|c| !c.is_empty() && c != "0");
    let proxy = config
        .get("proxy")
        .is_some_and(|p| !p.is_empty() && p != "0");
    !(connect || proxy)
}

/// Binds what `-listen`, `-bind`, `-whitebind` and `-port` ask for.
pub fn bind(config: &Config) -> Result<Vec<TcpListener>, P2pBindError> {
    let binding = !config.get_all("bind").is_empty() || !config.get_all("whitebind").is_empty();
    if !config.get_bool("listen", listen_default(config)) {
        if binding {
            return Err(P2pBindError::BindWithoutListen);
        }
        return Ok(Vec::new());
    }
    let whitebinds: Vec<SocketAddr> = crate::net::permissions::from_config(config)
        .map_err(P2pBindError::Whitebind)?
        .1
        .into_iter()
        .map(|e| e.addr)
        .collect();
    let port = match config.get("port") {
        None => config.chain().default_p2p_port(),
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or(P2pBindError::Port(p))?,
    };
    let mut binds = config.get_all("bind");
    if binds.is_empty() && whitebinds.is_empty() {
        binds = vec!["0.0.0.0".into(), "[::]".into()];
    }
    binds.extend(whitebinds.iter().map(|a| a.to_string()));
    let mut bound = Vec::new();
    for b in binds {
        // Core's `-bind=addr=onion` suffix names a purpose: the address is
        // the part before it.
        let text = b.split('=').next().unwrap_or_default().to_string();
        let with_port = if text.parse::<SocketAddr>().is_ok() {
            text.clone()
        } else if text.starts_with('[') && text.ends_with(']') {
            format!("{text}:{port}")
        } else if text.contains(':') && !text.contains('.') {
            format!("[{text}]:{port}")
        } else if text
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            text.clone()
        } else {
            format!("{text}:{port}")
        };
        let addr = with_port
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| P2pBindError::BindAddress(b.clone()))?;
        match listen_on(addr) {
            Ok(l) => {
                tracing::info!("Bound to {addr}");
                bound.push(l);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return Err(P2pBindError::InUse(addr, "bitcoin-node"))
            }
            Err(e) => tracing::warn!("Unable to bind to {addr}: {e}"),
        }
    }
    if bound.is_empty() {
        return Err(P2pBindError::NothingBound);
    }
    Ok(bound)
}
