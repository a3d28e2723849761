//! `-ipcbind` listeners, bound by the broker so no child needs `bind`: a stale
//! socket file is replaced only when nothing answers on it, the socket is mode
//! 0600, and each accepted peer is checked with `SO_PEERCRED` (same uid).

use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use tokio::net::{UnixListener, UnixStream};

use crate::ipc::address::IpcAddress;

/// Why binding failed.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("another process is listening on {0}")]
    InUse(String),
    #[error("{0} exists and is not a socket")]
    NotASocket(String),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// A bound `-ipcbind` socket; its file is removed when dropped.
pub struct IpcListener {
    pub address: IpcAddress,
    pub listener: std::rc::Rc<UnixListener>,
}

impl Drop for IpcListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.address.path());
    }
}

/// Binds `address`, creating missing parent directories as Core does.
pub fn bind(address: &IpcAddress) -> Result<IpcListener, BindError> {
    let path = address.path();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    replace_if_stale(path)?;
    // Bind under a restrictive umask so the socket is never reachable by others,
    // not even between bind and chmod. The umask is process-wide: one bind at a
    // time, so that two binds cannot restore each other's masks.
    static UMASK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let bound = {
        let _guard = UMASK.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: umask only swaps the process's file-mode mask.
        let old = unsafe { libc::umask(0o177) };
        let bound = std::os::unix::net::UnixListener::bind(path);
        unsafe { libc::umask(old) };
        bound
    };
    let std_listener = bound?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    std_listener.set_nonblocking(true)?;
    Ok(IpcListener {
        address: address.clone(),
        listener: std::rc::Rc::new(UnixListener::from_std(std_listener)?),
    })
}

fn replace_if_stale(path: &Path) -> Result<(), BindError> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
        Ok(meta) if !meta.file_type().is_socket() => {
            Err(BindError::NotASocket(path.display().to_string()))
        }
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => Err(BindError::InUse(path.display().to_string())),
            Err(_) => {
                std::fs::remove_file(path)?;
                Ok(())
            }
        },
    }
}

/// The checked identity of an accepted peer.
#[derive(Clone, Debug)]
pub struct PeerCred {
    pub pid: i32,
    pub uid: u32,
    pub name: String,
}

/// Reads the peer's credentials and process name.
pub fn peer_cred(stream: &UnixStream) -> io::Result<PeerCred> {
    let cred = stream.peer_cred()?;
    let pid = cred.pid().unwrap_or(0);
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    Ok(PeerCred {
        pid,
        uid: cred.uid(),
        name,
    })
}

/// Converts an accepted tokio stream into an fd to pass to the node worker.
pub fn into_fd(stream: UnixStream) -> io::Result<OwnedFd> {
    let std_stream = stream.into_std()?;
    std_stream.set_nonblocking(false)?;
    Ok(OwnedFd::from(std_stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    use crate::test_runtime as rt;

    #[test]
    fn socket_is_0600_and_removed_on_drop() {
        rt().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let addr = IpcAddress::Unix(dir.path().join("sub/node.sock"));
            let l = bind(&addr).unwrap();
            assert_eq!(
                std::fs::metadata(addr.path()).unwrap().mode() & 0o777,
                0o600
            );
            drop(l);
            assert!(!addr.path().exists());
        });
    }

    #[test]
    fn stale_socket_is_replaced_but_live_one_is_not() {
        rt().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let addr = IpcAddress::Unix(dir.path().join("node.sock"));
            let live = bind(&addr).unwrap();
            assert!(matches!(bind(&addr), Err(BindError::InUse(_))));
            drop(live);
            // A socket file whose listener is gone (a crashed node) is stale.
            // Made by binding without listening: a listener closed here could
            // still be open in a child that another test is forking right
            // now (until its exec), and then it would answer the connect.
            {
                use nix::sys::socket::{bind, socket, AddressFamily, SockFlag, SockType, UnixAddr};
                let fd = socket(
                    AddressFamily::Unix,
                    SockType::Stream,
                    SockFlag::SOCK_CLOEXEC,
                    None,
                )
                .unwrap();
                bind(
                    std::os::fd::AsRawFd::as_raw_fd(&fd),
                    &UnixAddr::new(addr.path()).unwrap(),
                )
                .unwrap();
            }
            assert!(addr.path().exists());
            let fresh = bind(&addr).unwrap();
            assert!(std::os::unix::net::UnixStream::connect(addr.path()).is_ok());
            drop(fresh);
        });
    }

    #[test]
    fn regular_file_in_the_way_is_refused() {
        rt().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("node.sock");
            std::fs::write(&p, b"keep me").unwrap();
            assert!(matches!(
                bind(&IpcAddress::Unix(p.clone())),
                Err(BindError::NotASocket(_))
            ));
            assert_eq!(std::fs::read(&p).unwrap(), b"keep me");
        });
    }
}
