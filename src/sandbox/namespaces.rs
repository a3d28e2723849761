//! Namespaces: the child leaves the host's user, network and IPC namespaces.
//! In a new user namespace (our own uid and gid mapped to themselves, so
//! files keep their owner), it makes a network namespace with no interface
//! but a down loopback (sockets it was handed keep working; nothing it
//! creates reaches any network) and an IPC namespace (no SysV or POSIX IPC
//! object of the host). The capabilities the new user namespace grants are
//! dropped with every other right right after (see `apply_with`).
//!
//! A PID namespace is not made: it only applies to processes forked after
//! `unshare`, and sandboxed children fork nothing (seccomp refuses
//! process-creating clones); Landlock's signal scoping and path rules keep
//! them from other processes instead.

use std::io::Write;

use nix::sched::{unshare, CloneFlags};

/// Why a namespace could not be entered.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("unshare({0}): {1}")]
    Unshare(&'static str, nix::Error),
    #[error("writing {0}: {1}")]
    Map(&'static str, std::io::Error),
}

fn write_proc(path: &'static str, text: &str) -> Result<(), NamespaceError> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| NamespaceError::Map(path, e))
}

/// Moves this (single-threaded) process into new user, network and IPC
/// namespaces.
pub fn enter_private() -> Result<(), NamespaceError> {
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    unshare(CloneFlags::CLONE_NEWUSER).map_err(|e| NamespaceError::Unshare("user", e))?;
    // An unprivileged process may map only its own ids, and gid_map only
    // after giving up setgroups(2) in the namespace. Mapping root needs
    // CAP_SETFCAP in the parent namespace, which a process run as root no
    // longer has in here: its ids then stay unmapped (shown as the overflow
    // id inside), which changes nothing outside, where files keep their
    // owner.
    write_proc("/proc/self/setgroups", "deny")?;
    if !uid.is_root() {
        write_proc("/proc/self/uid_map", &format!("{uid} {uid} 1"))?;
        write_proc("/proc/self/gid_map", &format!("{gid} {gid} 1"))?;
    }
    unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWIPC)
        .map_err(|e| NamespaceError::Unshare("network, IPC", e))?;
    Ok(())
}
