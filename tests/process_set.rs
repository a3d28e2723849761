//! The process set: broker, sandboxed node worker and wallet start together,
//! stop together on SIGINT/SIGTERM, and react as designed when one dies.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

#[test]
fn node_runs_broker_worker_and_wallet_and_sigterm_stops_all_within_5s() {
    let mut node = TestNode::start(&[]);
    node.create_wallet("w");
    let kids = node.children();
    let names: Vec<&str> = kids.iter().map(|(_, n)| n.as_str()).collect();
    assert!(names.contains(&"bitcoin-node"), "worker missing: {kids:?}");
    assert!(
        names.contains(&"bitcoin-wallet"),
        "wallet missing: {kids:?}"
    );
    assert_eq!(kids.len(), 2, "exactly two children: {kids:?}");

    let started = Instant::now();
    let status = node.stop_with(libc::SIGTERM, Duration::from_secs(5));
    assert!(status.success(), "clean exit expected, got {status}");
    assert!(started.elapsed() < Duration::from_secs(5));
    for (pid, name) in kids {
        assert!(
            wait_gone(pid, Duration::from_secs(1)),
            "{name} (pid {pid}) outlived the broker"
        );
    }
    let log = node.log();
    assert!(log.contains("Shutdown: done"), "{log}");
    assert!(
        log.contains("node worker") && log.contains("exited cleanly"),
        "{log}"
    );
}

#[test]
fn sigint_stops_the_process_set_cleanly() {
    let mut node = TestNode::start(&[]);
    let kids = node.children();
    let status = node.stop_with(libc::SIGINT, Duration::from_secs(5));
    assert!(status.success(), "{status}");
    for (pid, _) in kids {
        assert!(wait_gone(pid, Duration::from_secs(1)));
    }
    assert!(node.log().contains("Received SIGINT"));
}

#[test]
fn disablewallet_starts_no_wallet_process() {
    let node = TestNode::start(&["-disablewallet"]);
    std::thread::sleep(Duration::from_millis(300));
    let kids = node.children();
    assert_eq!(kids.len(), 1, "{kids:?}");
    assert_eq!(kids[0].1, "bitcoin-node");
}

#[test]
fn second_node_on_same_datadir_fails_with_core_lock_error() {
    let node = TestNode::start(&["-disablewallet"]);
    let datadir = node.datadir_arg();
    let (code, _, stderr) = run(NODE, &["-regtest", &datadir]);
    assert_eq!(code, 1);
    let expected = format!(
        "Error: Cannot obtain a lock on directory {}. Bitcoin Core is probably already running.",
        node.net_dir().display()
    );
    assert_eq!(stderr.trim(), expected);
}

#[test]
fn killed_worker_is_reported_by_signal_name_and_the_node_stops() {
    let mut node = TestNode::start(&[]);
    node.create_wallet("w");
    let worker = node.child_named("bitcoin-node");
    let wallet = node.child_named("bitcoin-wallet");
    unsafe { libc::kill(worker, libc::SIGKILL) };
    let status = node.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "a dead worker is a failed node");
    assert!(
        wait_gone(wallet, Duration::from_secs(2)),
        "wallet must stop with the node"
    );
    let log = node.log();
    assert!(
        log.contains(&format!(
            "node worker (pid {worker}) was killed by SIGKILL; shutting down"
        )),
        "{log}"
    );
    assert!(log.contains("Shutdown: done"), "{log}");
}

#[test]
fn killed_wallet_is_reported_and_the_node_goes_on() {
    let node = TestNode::start(&["-ipcbind=unix"]);
    node.create_wallet("w");
    let wallet = node.child_named("bitcoin-wallet");
    unsafe { libc::kill(wallet, libc::SIGKILL) };
    node.wait_for_log(
        &format!(
            "bitcoin-wallet (pid {wallet}) was killed by SIGKILL; the node goes on without it"
        ),
        Duration::from_secs(10),
    );
    assert!(alive(node.pid));
    assert_eq!(
        echo_over(&node.net_dir().join("node.sock"), "still here").unwrap(),
        "still here"
    );
}

#[test]
fn children_start_with_an_empty_environment_and_only_fd_options() {
    let node = TestNode::start(&[]);
    node.create_wallet("w");
    for name in ["bitcoin-node", "bitcoin-wallet"] {
        let pid = node.child_named(name);
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        assert!(environ.is_empty(), "{name} inherited an environment");
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
        let args: Vec<&str> = cmdline
            .split('\0')
            .filter(|s| !s.is_empty())
            .skip(1)
            .collect();
        assert!(
            args.iter()
                .all(|a| ["-ipcrole=worker", "-ipcfd=3", "-brokerfd=4", "-logfd=5"].contains(a)),
            "{name} got options beyond its fds: {args:?}"
        );
    }
}

#[test]
fn child_fds_are_only_the_three_sockets_and_stdio() {
    let node = TestNode::start(&[]);
    node.create_wallet("w");
    let wallet = node.child_named("bitcoin-wallet");
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{wallet}/fd"))
        .unwrap()
        .flatten()
        .map(|e| {
            std::fs::read_link(e.path())
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        })
        .collect();
    // stdio, three sockets, the runtime's own epoll/eventfd descriptors and
    // its own wallet's database; no other file.
    let own = node.net_dir().join("wallets/w/");
    let own = own.canonicalize().unwrap_or(own);
    for target in &fds {
        assert!(
            !target.starts_with('/')
                || target.starts_with(&own.display().to_string())
                || target.starts_with("/dev/null")
                || target.starts_with("/dev/pts")
                || target.starts_with("/dev/tty"),
            "wallet holds a file: {target} (all: {fds:?})"
        );
    }
    assert!(
        fds.iter().filter(|t| t.starts_with("socket:")).count() >= 3,
        "{fds:?}"
    );
}

#[test]
fn worker_and_wallet_run_with_no_new_privs_no_capabilities_namespaces_and_landlock() {
    let node = TestNode::start(&[]);
    node.create_wallet("w");
    for name in ["bitcoin-node", "bitcoin-wallet"] {
        let pid = node.child_named(name);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        assert_eq!(field("NoNewPrivs:"), "1", "{name}");
        assert_eq!(field("CapEff:"), "0000000000000000", "{name}");
        assert_eq!(field("CapPrm:"), "0000000000000000", "{name}");
        assert_eq!(field("Seccomp:"), "2", "{name}: seccomp filter mode");
        // Out of the host's user, network and IPC namespaces (ours).
        for ns in ["user", "net", "ipc"] {
            let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap();
            let ours = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
            assert_ne!(theirs, ours, "{name}: {ns} namespace");
        }
    }
    let log = node.log();
    for name in ["node worker", "bitcoin-wallet"] {
        let line = format!(
            "{name}: sandbox: no_new_privs on, capabilities dropped, namespaces user+net+ipc, Landlock ABI "
        );
        assert!(log.contains(&line), "{line}\n{log}");
    }
}

#[test]
fn sandbox_require_starts_when_every_layer_is_available() {
    let node = TestNode::start(&["-sandbox=require"]);
    node.create_wallet("w");
    let worker = node.child_named("bitcoin-node");
    let status = std::fs::read_to_string(format!("/proc/{worker}/status")).unwrap();
    assert!(status.lines().any(|l| l == "Seccomp:\t2"), "{status}");
    assert!(!node.log().contains("missing layer"), "{}", node.log());
}

#[test]
fn bad_sandbox_value_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(NODE)
        .args([
            "-regtest",
            &format!("-datadir={}", dir.path().display()),
            "-sandbox=maybe",
            "-disablewallet",
            "-listen=0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error: Invalid -sandbox value 'maybe' (use auto, require or off)"
    );
}

/// A duplicate of descriptor `fd` of process `pid` (pidfd_getfd, so the test
/// can speak on a child's own end of its broker and log channels).
fn steal_fd(pid: i32, fd: i32) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    assert!(
        pidfd >= 0,
        "pidfd_open({pid}): {}",
        std::io::Error::last_os_error()
    );
    let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, fd, 0) } as i32;
    let err = std::io::Error::last_os_error();
    unsafe { libc::close(pidfd) };
    assert!(dup >= 0, "pidfd_getfd({pid}, {fd}): {err}");
    unsafe { std::os::fd::OwnedFd::from_raw_fd(dup) }
}

fn send_datagram(fd: &std::os::fd::OwnedFd, bytes: &[u8]) {
    use std::os::fd::AsRawFd;
    let sent = nix::sys::socket::send(fd.as_raw_fd(), bytes, nix::sys::socket::MsgFlags::empty());
    assert_eq!(sent, Ok(bytes.len()));
}

#[test]
fn garbage_on_a_wallets_broker_and_log_channels_closes_only_that_channel() {
    let node = TestNode::start(&[]);
    node.create_wallet("a");
    let a = node.child_named("bitcoin-wallet");
    node.create_wallet("b");
    // Wallet a's own ends of its channels (-brokerfd=4, -logfd=5): what a
    // compromised wallet process could send.
    let log = steal_fd(a, 5);
    let broker = steal_fd(a, 4);
    // A segment table claiming 2^32 segments: no Cap'n Proto message.
    send_datagram(&log, &[0xff; 16]);
    node.wait_for_log(
        &format!("malformed log record from bitcoin-wallet (pid {a})"),
        Duration::from_secs(10),
    );
    send_datagram(&broker, &[0xff; 16]);
    node.wait_for_log(
        &format!("malformed request from bitcoin-wallet (pid {a})"),
        Duration::from_secs(10),
    );
    drop((log, broker));
    // The broker, the worker and the other wallet go on: the worker's channel
    // still starts wallets, wallet b's still exports a backup, RPC answers.
    assert!(alive(node.pid));
    node.create_wallet("c");
    let dest = node.datadir.path().join("b.backup");
    let backup = wok(
        &node,
        "b",
        "backupwallet",
        serde_json::json!([dest.display().to_string()]),
    );
    assert_eq!(backup, Value::Null);
    assert!(dest.is_file(), "backup of b not written");
    assert_eq!(ok(&node, "getblockcount", serde_json::json!([])), 0);
}
