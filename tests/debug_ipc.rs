//! `-debug=ipc`: every request and response across a process boundary is
//! logged with direction, peer, Interface.method and the message text; none
//! of it without the flag.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn debug_ipc_logs_requests_and_responses_in_capnp_text_form() {
    let node = TestNode::start(&["-ipcbind=unix", "-debug=ipc"]);
    node.create_wallet("w");
    assert_eq!(
        echo_over(&node.net_dir().join("node.sock"), "logged text").unwrap(),
        "logged text"
    );
    let log = node.wait_for_log("IPC server send response", Duration::from_secs(5));
    let log = node
        .wait_for_log("result = \"logged text\"", Duration::from_secs(5))
        .to_string()
        + &log;
    // The worker serving our test client (server side, the peer named by its pid).
    assert!(
        log.lines()
            .any(|l| l.contains("[ipc] IPC server recv request")
                && l.contains(&format!("-{} Echo.echo$Params", std::process::id()))
                && l.contains("echo = \"logged text\"")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("[ipc] IPC server send response")
                && l.contains("Echo.echo$Results (result = \"logged text\")")),
        "{log}"
    );
    // The broker's handshake with the worker (client side) and the worker's with the wallet.
    assert!(
        log.lines().any(|l| l.contains("IPC client send request")
            && l.contains("to node-worker-")
            && l.contains("Init.construct$Params")),
        "{log}"
    );
    assert!(
        log.lines().any(|l| l.contains("IPC client recv response")
            && l.contains("from bitcoin-wallet-")
            && l.contains("Echo.echo$Results")),
        "{log}"
    );
    // The broker channel is a process boundary too.
    assert!(
        log.contains("IPC broker recv request") && log.contains("Broker.getSettings"),
        "{log}"
    );
}

#[test]
fn without_debug_ipc_nothing_is_logged_about_ipc_messages() {
    let node = TestNode::start(&["-ipcbind=unix"]);
    node.create_wallet("w");
    assert_eq!(
        echo_over(&node.net_dir().join("node.sock"), "quiet").unwrap(),
        "quiet"
    );
    std::thread::sleep(Duration::from_millis(200));
    let log = node.log();
    assert!(!log.contains("[ipc]"), "{log}");
    assert!(!log.contains("quiet"), "{log}");
}

#[test]
fn secrets_never_reach_the_log_even_with_debug_ipc() {
    let node = TestNode::start(&[
        "-debug=ipc",
        "-rpcuser=secret-user-name",
        "-rpcpassword=secret-password",
        "-rpcauth=alice:f7efda5c189b999524f151318c0c86$d5b51b3beffbc0",
        "-torpassword=secret-tor",
        "-uacomment=visible-comment",
    ]);
    // The worker asked the broker for its settings, and that was logged.
    let log = node.wait_for_log("Broker.getSettings", Duration::from_secs(30));
    for secret in [
        "secret-user-name",
        "secret-password",
        "f7efda5c189b999524f151318c0c86",
        "secret-tor",
    ] {
        assert!(!log.contains(secret), "{secret} leaked:\n{log}");
    }
    // Core's startup lines name every option, secrets masked.
    for line in [
        "Command-line arg: rpcauth=****",
        "Command-line arg: rpcpassword=****",
        "Command-line arg: rpcuser=****",
        "Command-line arg: torpassword=****",
        "Command-line arg: uacomment=\"visible-comment\"",
    ] {
        assert!(log.contains(line), "{line} missing:\n{log}");
    }
}
