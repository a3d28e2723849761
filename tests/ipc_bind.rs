//! `-ipcbind` / `-ipcconnect`: sockets the broker binds, clients that attach,
//! detach and misbehave, and the node that keeps answering.

mod common;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn default_ipcbind_socket_is_node_sock_in_net_dir_with_mode_0600() {
    let node = TestNode::start(&["-ipcbind=unix", "-disablewallet"]);
    let sock = node.net_dir().join("node.sock");
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert!(node.log().contains(&format!(
        "Listening for IPC requests on address unix:{}",
        sock.display()
    )));
    assert_eq!(echo_over(&sock, "hello").unwrap(), "hello");
}

#[test]
fn several_ipcbind_paths_all_answer_and_are_removed_at_stop() {
    let mut node = TestNode::start(&[
        "-ipcbind=unix",
        "-ipcbind=unix:other/second.sock",
        "-disablewallet",
    ]);
    let a = node.net_dir().join("node.sock");
    let b = node.net_dir().join("other/second.sock");
    assert_eq!(echo_over(&a, "a").unwrap(), "a");
    assert_eq!(echo_over(&b, "b").unwrap(), "b");
    assert!(node
        .stop_with(libc::SIGTERM, Duration::from_secs(5))
        .success());
    assert!(
        !a.exists() && !b.exists(),
        "socket files must be removed at stop"
    );
}

#[test]
fn bad_ipcbind_address_is_core_error_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(
        NODE,
        &[
            "-regtest",
            &format!("-datadir={}", dir.path().display()),
            "-ipcbind=tcp:1",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(
        stderr.trim(),
        "Error: Unable to bind to IPC address 'tcp:1'. Unrecognized address 'tcp:1'"
    );
}

#[test]
fn live_socket_is_not_stolen_by_a_second_node_but_a_stale_one_is_replaced() {
    let node = TestNode::start(&["-ipcbind=unix", "-disablewallet"]);
    let sock = node.net_dir().join("node.sock");
    let other = tempfile::tempdir().unwrap();
    let bind = format!("-ipcbind=unix:{}", sock.display());
    let (code, _, stderr) = run(
        NODE,
        &[
            "-regtest",
            &format!("-datadir={}", other.path().display()),
            &bind,
        ],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("another process is listening"), "{stderr}");
    assert_eq!(echo_over(&sock, "mine").unwrap(), "mine");

    // A socket file left behind by a dead process is replaced.
    let stale_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(stale_dir.path().join("regtest")).unwrap();
    let stale = stale_dir.path().join("regtest/node.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let fresh = TestNode::start_in(stale_dir, &["-ipcbind=unix", "-disablewallet"]);
    assert_eq!(
        echo_over(&fresh.net_dir().join("node.sock"), "fresh").unwrap(),
        "fresh"
    );
}

#[test]
fn wallet_ipcconnect_attaches_shows_in_node_log_and_stops_with_the_node() {
    // A node without wallets refuses an attaching one with a clear line.
    let bare = TestNode::start(&["-ipcbind=unix", "-disablewallet"]);
    let dir = bare.datadir_arg();
    assert_eq!(run(WALLET, &["-regtest", &dir, "-wallet=w", "create"]).0, 0);
    let (code, _, stderr) = run(WALLET, &["-regtest", &dir, "-ipcconnect=unix", "-wallet=w"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("Init.makeChain") && stderr.contains("wallets enabled"),
        "{stderr}"
    );
    assert_eq!(
        echo_over(&bare.net_dir().join("node.sock"), "still").unwrap(),
        "still"
    );

    let mut node = TestNode::start(&["-ipcbind=unix"]);
    let dir = node.datadir_arg();
    assert_eq!(run(WALLET, &["-regtest", &dir, "-wallet=w", "create"]).0, 0);
    let mut wallet = Command::new(WALLET)
        .args(["-regtest", &dir, "-ipcconnect=unix", "-wallet=w"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    node.wait_for_log("from bitcoin-wallet", Duration::from_secs(10));
    node.wait_for_log("IPC client bitcoin-wallet", Duration::from_secs(10));
    node.wait_for_log(
        "Wallet \"w\" loaded in attached bitcoin-wallet process",
        Duration::from_secs(10),
    );
    assert!(
        wallet.try_wait().unwrap().is_none(),
        "attached wallet must keep running"
    );
    assert!(node
        .stop_with(libc::SIGTERM, Duration::from_secs(5))
        .success());
    let status = wait_timeout(&mut wallet, Duration::from_secs(5))
        .expect("wallet must stop when the node stops");
    assert!(status.success(), "{status}");
}

#[test]
fn ipcconnect_to_missing_socket_is_one_clear_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = format!("-datadir={}", dir.path().display());
    // The wallet checks its wallet exists before it connects.
    assert_eq!(
        run(WALLET, &["-regtest", &datadir, "-wallet=w", "create"]).0,
        0
    );
    for bin in [WALLET, GUI] {
        let (code, _, stderr) = run(
            bin,
            &["-regtest", &datadir, "-ipcconnect=unix", "-wallet=w"],
        );
        assert_eq!(code, 1, "{bin}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{bin}: {stderr}");
        assert!(
            stderr.starts_with("Error: cannot connect to bitcoin-node at unix:"),
            "{bin}: {stderr}"
        );
    }
}

#[test]
fn garbage_and_oversized_messages_close_only_that_connection() {
    let node = TestNode::start(&["-ipcbind=unix", "-disablewallet"]);
    let sock = node.net_dir().join("node.sock");

    // Garbage: a segment table claiming 100 000 segments.
    let mut g = UnixStream::connect(&sock).unwrap();
    g.write_all(&[0x9f, 0x86, 0x01, 0x00, 1, 2, 3, 4, 5, 6, 7, 8])
        .unwrap();
    // Oversized: one segment of 2^28 words (2 GiB), far beyond the traversal limit.
    let mut h = UnixStream::connect(&sock).unwrap();
    h.write_all(&[0, 0, 0, 0, 0, 0, 0, 0x10]).unwrap();
    h.write_all(&[0u8; 4096]).unwrap();
    let log = node.wait_for_log("too large", Duration::from_secs(10));
    assert!(log.contains("IPC connection with"), "{log}");
    // Both misbehaving connections are closed by the node (after capnp's Abort message)...
    for s in [&mut g, &mut h] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        // EOF, or a reset when the node closed with our unread bytes queued; a timeout is a failure.
        match std::io::Read::read_to_end(s, &mut rest) {
            Ok(_) => {}
            Err(e) => assert_eq!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset,
                "the node must close a misbehaving connection: {e}"
            ),
        }
    }
    // ...and the next client is served.
    assert!(alive(node.pid));
    assert_eq!(echo_over(&sock, "next").unwrap(), "next");
}

#[test]
fn many_clients_attach_and_detach_and_one_that_vanishes_mid_call_does_no_harm() {
    let node = TestNode::start(&["-ipcbind=unix", "-disablewallet"]);
    let sock = node.net_dir().join("node.sock");
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let sock = sock.clone();
            std::thread::spawn(move || echo_over(&sock, &format!("client {i}")))
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap().unwrap(), format!("client {i}"));
    }
    // A client that sends a valid bootstrap request and vanishes before the answer.
    {
        let mut s = UnixStream::connect(&sock).unwrap();
        // Segment table: 1 segment of 5 words. Root: rpc Message struct (1 data
        // word, 1 pointer) with union tag 8 = bootstrap, pointing at a
        // Bootstrap struct (questionId 0, null object id).
        let mut msg = vec![0, 0, 0, 0, 5, 0, 0, 0];
        msg.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
        msg.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0]);
        msg.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
        msg.extend_from_slice(&[0u8; 16]);
        s.write_all(&msg).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(echo_over(&sock, "after").unwrap(), "after");
}
