//! `-ipcbind` / `-ipcconnect` addresses, parsed as Core parses them:
//! `unix` (the default socket, `<netdir>/node.sock`) or `unix:PATH`, where a
//! relative PATH is taken relative to the network data directory.

use std::fmt;
use std::path::{Path, PathBuf};

/// Longest path a `sockaddr_un` can hold, less its terminating NUL.
const MAX_UNIX_PATH: usize = 107;

/// A parsed IPC address. Only unix sockets exist today, as in Core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpcAddress {
    /// A unix stream socket at this (absolute or net-dir-relative, now resolved) path.
    Unix(PathBuf),
}

/// Why an address was refused; the text is Core's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    #[error("Unrecognized address '{0}'")]
    Unrecognized(String),
    #[error("Unix address path \"{0}\" exceeded maximum socket path length")]
    TooLong(String),
}

impl IpcAddress {
    /// Parses `unix` or `unix:PATH`. `exe_name` names the default socket the way
    /// Core does (`bitcoin-node` → `node.sock`).
    pub fn parse(text: &str, net_dir: &Path, exe_name: &str) -> Result<IpcAddress, AddressError> {
        let path = if text == "unix" {
            let stem = exe_name.strip_prefix("bitcoin-").unwrap_or(exe_name);
            net_dir.join(format!("{stem}.sock"))
        } else if let Some(rest) = text.strip_prefix("unix:") {
            if rest.is_empty() {
                return Err(AddressError::Unrecognized(text.to_string()));
            }
            net_dir.join(rest)
        } else {
            return Err(AddressError::Unrecognized(text.to_string()));
        };
        if path.as_os_str().len() > MAX_UNIX_PATH {
            return Err(AddressError::TooLong(path.display().to_string()));
        }
        Ok(IpcAddress::Unix(path))
    }

    /// The socket's filesystem path.
    pub fn path(&self) -> &Path {
        match self {
            IpcAddress::Unix(p) => p,
        }
    }
}

impl fmt::Display for IpcAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IpcAddress::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_unix_is_node_sock_in_net_dir() {
        let a = IpcAddress::parse("unix", Path::new("/d/regtest"), "bitcoin-node").unwrap();
        assert_eq!(a.path(), Path::new("/d/regtest/node.sock"));
        assert_eq!(a.to_string(), "unix:/d/regtest/node.sock");
    }

    #[test]
    fn relative_path_is_relative_to_net_dir_and_absolute_stays() {
        let rel =
            IpcAddress::parse("unix:sub/x.sock", Path::new("/d/regtest"), "bitcoin-node").unwrap();
        assert_eq!(rel.path(), Path::new("/d/regtest/sub/x.sock"));
        let abs =
            IpcAddress::parse("unix:/tmp/y.sock", Path::new("/d/regtest"), "bitcoin-node").unwrap();
        assert_eq!(abs.path(), Path::new("/tmp/y.sock"));
    }

    #[test]
    fn other_schemes_are_core_unrecognized_address() {
        let e = IpcAddress::parse("tcp:127.0.0.1:1", Path::new("/d"), "bitcoin-node").unwrap_err();
        assert_eq!(e.to_string(), "Unrecognized address 'tcp:127.0.0.1:1'");
        assert!(IpcAddress::parse("unix:", Path::new("/d"), "bitcoin-node").is_err());
    }

    #[test]
    fn overlong_path_is_refused() {
        let long = format!("unix:/{}", "a".repeat(200));
        let e = IpcAddress::parse(&long, Path::new("/d"), "bitcoin-node").unwrap_err();
        assert!(matches!(e, AddressError::TooLong(_)));
    }
}
