//! The JSON-RPC front door, opened by the broker because the node worker may
//! not bind: Core's endpoint rules (loopback unless both -rpcallowip and
//! -rpcbind are given, -rpcport or the chain's default port) and the cookie
//! file (`<netdir>/.cookie` or -rpccookiefile) created at start and removed at
//! a clean stop. The bound sockets and the cookie's secret go to the worker.

use std::io::Write;

use bitcoin::hex::DisplayHex;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::config::Config;

/// Core's user name for cookie authentication.
pub const COOKIE_USER: &str = "__cookie__";

/// Why the RPC server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RpcBindError {
    #[error("Invalid port specified in -rpcport: '{0}'")]
    Port(String),
    #[error("Invalid port specified in -rpcbind: '{0}'")]
    BindAddress(String),
    #[error("Unable to start HTTP server. See debug log for details.")]
    NothingBound,
    #[error("Unable to write the RPC cookie file {path}: {source}")]
    Cookie {
        path: String,
        source: std::io::Error,
    },
}

/// The endpoints Core would bind, as (host, port).
pub fn endpoints(config: &Config) -> Result<Vec<(String, u16)>, RpcBindError> {
    let port = match config.get("rpcport") {
        None => config.chain().default_rpc_port(),
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or(RpcBindError::Port(p))?,
    };
    let allow = config.get_all("rpcallowip");
    let bind = config.get_all("rpcbind");
    if allow.is_empty() || bind.is_empty() {
        if !allow.is_empty() {
            tracing::warn!("Option -rpcallowip was specified without -rpcbind; this doesn't usually make sense");
        }
        if !bind.is_empty() {
            tracing::warn!("Option -rpcbind was ignored because -rpcallowip was not specified, refusing to allow everyone to connect");
        }
        return Ok(vec![("::1".into(), port), ("127.0.0.1".into(), port)]);
    }
    bind.iter()
        .map(|b| split_host_port(b, port).ok_or_else(|| RpcBindError::BindAddress(b.clone())))
        .collect()
}

/// `host`, `host:port`, `[v6]:port` or a bare v6 address.
fn split_host_port(s: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().ok().filter(|p| *p != 0)?,
            None if tail.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            Some((host.to_string(), port.parse().ok().filter(|p| *p != 0)?))
        }
        _ => Some((s.to_string(), default_port)),
    }
}

/// Binds every endpoint that can be bound (Core goes on when some fail).
pub fn bind(config: &Config) -> Result<Vec<TcpListener>, RpcBindError> {
    let mut bound = Vec::new();
    for (host, port) in endpoints(config)? {
        tracing::debug!(target: "http", "Binding RPC on address {host} port {port}");
        let addrs: Vec<SocketAddr> = (host.as_str(), port)
            .to_socket_addrs()
            .map(|a| a.collect())
            .unwrap_or_default();
        match addrs.first().map(TcpListener::bind) {
            Some(Ok(l)) => bound.push(l),
            Some(Err(e)) => {
                tracing::warn!("Binding RPC on address {host} port {port} failed ({e}).")
            }
            None => tracing::warn!("Binding RPC on address {host} port {port} failed."),
        }
    }
    if bound.is_empty() {
        tracing::error!("Unable to bind any endpoint for RPC server");
        return Err(RpcBindError::NothingBound);
    }
    Ok(bound)
}

/// The cookie file, while it exists.
#[derive(Debug)]
pub struct Cookie {
    pub path: PathBuf,
    /// `__cookie__:<64 hex digits>`.
    pub credentials: String,
}

/// Where the cookie goes: -rpccookiefile (relative to the network directory),
/// None with -norpccookiefile.
fn cookie_path(config: &Config) -> Option<PathBuf> {
    if config.is_negated("rpccookiefile") {
        return None;
    }
    let name = config
        .get("rpccookiefile")
        .unwrap_or_else(|| ".cookie".into());
    Some(config.net_dir().join(name))
}

/// Core's -rpccookieperms: owner (default), group or all.
fn cookie_mode(config: &Config) -> u32 {
    match config.get("rpccookieperms").as_deref() {
        Some("group") => 0o640,
        Some("all") => 0o644,
        _ => 0o600,
    }
}

/// Writes a fresh cookie (to a temporary file, then renamed into place) unless
/// -rpcpassword is set or the cookie is disabled, as Core does.
pub fn create_cookie(config: &Config) -> Result<Option<Cookie>, RpcBindError> {
    if config.get("rpcpassword").is_some_and(|p| !p.is_empty()) {
        return Ok(None);
    }
    let Some(path) = cookie_path(config) else {
        return Ok(None);
    };
    let err = |source| RpcBindError::Cookie {
        path: path.display().to_string(),
        source,
    };
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| err(std::io::Error::other(e.to_string())))?;
    let hex = secret.to_lower_hex_string();
    let credentials = format!("{COOKIE_USER}:{hex}");
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(cookie_mode(config))
        .open(&tmp)
        .map_err(err)?;
    file.write_all(credentials.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    drop(file);
    std::fs::rename(&tmp, &path).map_err(err)?;
    tracing::info!("Generated RPC authentication cookie {}", path.display());
    Ok(Some(Cookie { path, credentials }))
}

impl Cookie {
    /// Removes the cookie file (at a clean stop).
    pub fn remove(&self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(
                    "Unable to remove the RPC cookie {}: {e}",
                    self.path.display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            split_host_port("127.0.0.1", 1),
            Some(("127.0.0.1".into(), 1))
        );
        assert_eq!(
            split_host_port("127.0.0.1:5", 1),
            Some(("127.0.0.1".into(), 5))
        );
        assert_eq!(split_host_port("[::1]:7", 1), Some(("::1".into(), 7)));
        assert_eq!(split_host_port("::1", 1), Some(("::1".into(), 1)));
        assert_eq!(split_host_port("1.2.3.4:0", 1), None);
        assert_eq!(split_host_port("[::1]x", 1), None);
    }
}
