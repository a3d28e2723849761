//! The P2P listening sockets, bound by the broker because the node worker may
//! not bind: `-bind=addr[:port]` entries (default every interface) on
//! `-port` or the chain's P2P port. Listening is off unless `-listen=1`
//! while the P2P side is being built (Core listens by default).

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
}

/// Binds what `-listen`, `-bind` and `-port` ask for (nothing without
/// `-listen=1`).
pub fn bind(config: &Config) -> Result<Vec<TcpListener>, P2pBindError> {
    if !config.get_bool("listen", false) {
        return Ok(Vec::new());
    }
    let port = match config.get("port") {
        None => config.chain().default_p2p_port(),
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or(P2pBindError::Port(p))?,
    };
    let mut binds = config.get_all("bind");
    if binds.is_empty() {
        binds = vec!["0.0.0.0".into(), "[::]".into()];
    }
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
        match TcpListener::bind(addr) {
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
