//! File opens the broker makes for sandboxed children: the one place that
//! decides which paths a role may open outside its Landlock rules, and the
//! open itself with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` so that
//! neither `..`, an absolute path nor a planted symlink escapes the root.

use std::os::fd::OwnedFd;
use std::path::{Component, Path};

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use crate::ipc::spawn::ChildRole;

/// Longest relative path a child may ask for.
const MAX_PATH: usize = 1024;

/// First path components under the node worker's root (the network data
/// directory) that it may never open through the broker, and why (public
/// so that `fuzz/` can check the policy against an independent model).
pub const WORKER_DENIED: &[(&str, &str)] = &[
    ("wallets", "wallet files belong to wallet processes only"),
    (".lock", "the datadir lock is the broker's"),
    ("debug.log", "the broker is the only writer of debug.log"),
    (
        "bitcoin.conf",
        "the config file may hold rpcpassword; children get settings over IPC",
    ),
    (
        "regtest",
        "another chain's data directory (the main chain's root is the datadir)",
    ),
    ("testnet3", "another chain's data directory"),
    ("testnet4", "another chain's data directory"),
    ("signet", "another chain's data directory"),
];

/// What a child asked to open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenRequest {
    pub path: String,
    pub write: bool,
    pub create: bool,
    pub truncate: bool,
}

/// Why an open was refused or failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FileError {
    #[error("{role} may not open files through the broker")]
    RoleHasNoFiles { role: &'static str },
    #[error("path {0:?} is not a plain relative path")]
    NotRelative(String),
    #[error("path {path:?} is denied: {why}")]
    Denied { path: String, why: &'static str },
    #[error("create and truncate need write access")]
    FlagsNeedWrite,
    #[error("opening {path:?}: {errno}")]
    Open {
        path: String,
        errno: nix::errno::Errno,
    },
}

/// Checks `req` against `role`'s rights. Pure: no file system access.
pub fn check(role: ChildRole, req: &OpenRequest) -> Result<(), FileError> {
    if role != ChildRole::NodeWorker {
        return Err(FileError::RoleHasNoFiles {
            role: role.display_name(),
        });
    }
    if (req.create || req.truncate) && !req.write {
        return Err(FileError::FlagsNeedWrite);
    }
    let path = Path::new(&req.path);
    let plain = !req.path.is_empty()
        && req.path.len() <= MAX_PATH
        && !req.path.contains('\0')
        && path.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(FileError::NotRelative(req.path.clone()));
    }
    let first = path
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .unwrap_or("");
    if let Some((_, why)) = WORKER_DENIED.iter().find(|(name, _)| *name == first) {
        return Err(FileError::Denied {
            path: req.path.clone(),
            why,
        });
    }
    Ok(())
}

/// Checks and opens `req` beneath `root` (an `O_PATH` directory fd).
pub fn open(role: ChildRole, root: &OwnedFd, req: &OpenRequest) -> Result<OwnedFd, FileError> {
    check(role, req)?;
    let mut flags = OFlag::O_CLOEXEC | OFlag::O_NOCTTY | OFlag::O_NOFOLLOW;
    flags |= if req.write {
        OFlag::O_RDWR
    } else {
        OFlag::O_RDONLY
    };
    if req.create {
        flags |= OFlag::O_CREAT;
    }
    if req.truncate {
        flags |= OFlag::O_TRUNC;
    }
    let how = OpenHow::new()
        .flags(flags)
        .mode(if req.create {
            Mode::from_bits_truncate(0o600)
        } else {
            Mode::empty()
        })
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_MAGICLINKS,
        );
    openat2(root, req.path.as_str(), how).map_err(|errno| FileError::Open {
        path: req.path.clone(),
        errno,
    })
}

/// Renames file `from` over `to`, both plain names directly in `root` (one
/// component each, so no directory and no symlink on the way), each allowed
/// to `role` for writing as [`check`] says. The rename replaces `to`
/// atomically, which is what crash-safe rewrites (mempool.dat) need.
pub fn rename(role: ChildRole, root: &OwnedFd, from: &str, to: &str) -> Result<(), FileError> {
    for name in [from, to] {
        check(
            role,
            &OpenRequest {
                path: name.into(),
                write: true,
                create: true,
                truncate: false,
            },
        )?;
        if name.contains('/') {
            return Err(FileError::NotRelative(name.into()));
        }
    }
    nix::fcntl::renameat(root, from, root, to).map_err(|errno| FileError::Open {
        path: from.into(),
        errno,
    })
}

/// The files the node worker may delete: ones it reads once at start and
/// that must not be read again after a crash (Core's anchors.dat).
pub const WORKER_REMOVABLE: &[&str] = &["anchors.dat"];

/// Deletes file `name` directly in `root`, if `role` may ([`WORKER_REMOVABLE`]).
/// A file that is already gone is not an error.
pub fn remove(role: ChildRole, root: &OwnedFd, name: &str) -> Result<(), FileError> {
    if role != ChildRole::NodeWorker {
        return Err(FileError::RoleHasNoFiles {
            role: role.display_name(),
        });
    }
    if !WORKER_REMOVABLE.contains(&name) {
        return Err(FileError::Denied {
            path: name.into(),
            why: "only read-once files (anchors.dat) may be removed",
        });
    }
    match nix::unistd::unlinkat(root, name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(errno) => Err(FileError::Open {
            path: name.into(),
            errno,
        }),
    }
}

/// Opens `dir` as the `O_PATH` root that [`open`] resolves beneath.
pub fn open_root(dir: &Path) -> nix::Result<OwnedFd> {
    nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn the_worker_removes_anchors_dat_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = open_root(dir.path()).unwrap();
        for name in ["anchors.dat", "peers.dat", "mempool.dat"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        remove(ChildRole::NodeWorker, &root, "anchors.dat").unwrap();
        assert!(!dir.path().join("anchors.dat").exists());
        // Gone already: fine.
        remove(ChildRole::NodeWorker, &root, "anchors.dat").unwrap();
        for name in [
            "peers.dat",
            "mempool.dat",
            "../anchors.dat",
            "blocks/anchors.dat",
        ] {
            assert!(
                remove(ChildRole::NodeWorker, &root, name).is_err(),
                "{name}"
            );
        }
        assert!(remove(ChildRole::Wallet, &root, "anchors.dat").is_err());
        assert!(dir.path().join("peers.dat").exists());
    }

    fn req(path: &str, write: bool, create: bool) -> OpenRequest {
        OpenRequest {
            path: path.into(),
            write,
            create,
            truncate: false,
        }
    }

    #[test]
    fn worker_may_rename_plain_names_in_its_root_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = open_root(dir.path()).unwrap();
        std::fs::write(dir.path().join("mempool.dat.new"), b"new").unwrap();
        std::fs::write(dir.path().join("mempool.dat"), b"old").unwrap();
        rename(
            ChildRole::NodeWorker,
            &root,
            "mempool.dat.new",
            "mempool.dat",
        )
        .unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("mempool.dat")).unwrap(),
            b"new"
        );
        assert!(!dir.path().join("mempool.dat.new").exists());
        std::fs::create_dir(dir.path().join("blocks")).unwrap();
        for (from, to) in [
            ("mempool.dat", "../escaped"),
            ("mempool.dat", "blocks/x"),
            ("mempool.dat", "debug.log"),
            ("mempool.dat", "wallets"),
        ] {
            assert!(
                rename(ChildRole::NodeWorker, &root, from, to).is_err(),
                "{to}"
            );
        }
        assert!(rename(ChildRole::Wallet, &root, "mempool.dat", "x").is_err());
        assert!(dir.path().join("mempool.dat").exists());
    }

    #[test]
    fn worker_may_create_and_reopen_a_file_in_its_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = open_root(dir.path()).unwrap();
        let fd = open(ChildRole::NodeWorker, &root, &req("peers.dat", true, true)).unwrap();
        std::fs::File::from(fd).write_all(b"data").unwrap();
        let mut back = String::new();
        std::fs::File::from(
            open(
                ChildRole::NodeWorker,
                &root,
                &req("peers.dat", false, false),
            )
            .unwrap(),
        )
        .read_to_string(&mut back)
        .unwrap();
        assert_eq!(back, "data");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            std::fs::metadata(dir.path().join("peers.dat"))
                .unwrap()
                .mode()
                & 0o777,
            0o600
        );
    }

    #[test]
    fn parent_dirs_absolute_paths_and_dot_components_are_refused() {
        for p in ["../x", "/etc/passwd", "a/../../x", "./x", "", "a\0b"] {
            assert!(
                matches!(
                    check(ChildRole::NodeWorker, &req(p, false, false)),
                    Err(FileError::NotRelative(_))
                ),
                "{p:?}"
            );
        }
    }

    #[test]
    fn wallet_files_lock_log_and_conf_are_denied_to_the_worker() {
        for p in [
            "wallets/w1/wallet.dat",
            ".lock",
            "debug.log",
            "bitcoin.conf",
            "regtest/blocks/blk00000.dat",
        ] {
            assert!(
                matches!(
                    check(ChildRole::NodeWorker, &req(p, false, false)),
                    Err(FileError::Denied { .. })
                ),
                "{p}"
            );
        }
    }

    #[test]
    fn wallets_get_no_brokered_files_and_create_needs_write() {
        assert!(matches!(
            check(ChildRole::Wallet, &req("x", false, false)),
            Err(FileError::RoleHasNoFiles { .. })
        ));
        assert_eq!(
            check(ChildRole::NodeWorker, &req("x", false, true)),
            Err(FileError::FlagsNeedWrite)
        );
    }

    #[test]
    fn planted_symlink_inside_the_root_does_not_lead_out() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("linkdir")).unwrap();
        let root = open_root(dir.path()).unwrap();
        for p in ["link", "linkdir/secret"] {
            let e = open(ChildRole::NodeWorker, &root, &req(p, false, false)).unwrap_err();
            assert!(
                matches!(
                    e,
                    FileError::Open {
                        errno: nix::errno::Errno::ELOOP | nix::errno::Errno::EXDEV,
                        ..
                    }
                ),
                "{p}: {e}"
            );
        }
    }
}
