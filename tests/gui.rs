//! bitcoin-gui against real regtest nodes. The screens are driven in-process
//! through egui_kittest (AccessKit: the tests click and type as a user
//! would), attached to a node's -ipcbind socket; the real binary opens a real
//! window on an Xvfb display of the test's own, is screenshotted, and stops
//! the process set it started.
#![cfg(feature = "gui")]

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::AtomicI32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin_mp::gui::app::App;
use bitcoin_mp::gui::backend::{Backend, Source};
use common::*;
use eframe::egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use serde_json::json;

/// A window attached to `node`'s -ipcbind socket.
fn window(node: &TestNode) -> Harness<'static, App> {
    let address = bitcoin_mp::ipc::client::connect_address("unix", &node.net_dir()).unwrap();
    let backend = Backend::start(Source::Attach(address));
    Harness::builder()
        .with_size([1100.0, 800.0])
        .build_eframe(move |_cc| App::new(backend, Arc::new(AtomicI32::new(0)), false))
}

/// Steps the window until `cond` holds (the backend answers asynchronously).
fn step_until(
    h: &mut Harness<'static, App>,
    what: &str,
    cond: impl Fn(&Harness<'static, App>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        h.step();
        if cond(h) {
            // Draw once more, so the screen shows what the model now holds.
            h.step();
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; model: {:?}",
            h.state().model()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn has_label(h: &Harness<'static, App>, text: &str) -> bool {
    h.query_by_label(text).is_some()
}

/// Types `text` into the text field labelled `label`, once it has the focus.
fn type_into(h: &mut Harness<'static, App>, label: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !h.get_by_role_and_label(Role::TextInput, label).is_focused() {
        assert!(Instant::now() < deadline, "{label} never took the focus");
        h.get_by_role_and_label(Role::TextInput, label).focus();
        h.step();
    }
    h.get_by_role_and_label(Role::TextInput, label)
        .type_text(text);
    h.step();
    let value = h.get_by_role_and_label(Role::TextInput, label).value();
    assert!(
        value.as_deref().unwrap_or("").ends_with(text),
        "{label} holds {value:?}"
    );
}

/// Clicks the widget labelled `label` (through AccessKit, as a screen reader
/// would: by the widget, not by a position a relayout may have moved).
fn click(h: &mut Harness<'static, App>, label: &str) {
    h.get_by_label(label).click_accesskit();
    h.step();
    h.step();
}

#[test]
fn console_runs_rpc_commands_and_shows_errors() {
    let node = TestNode::start(&["-ipcbind=unix", "-disablewallet"]);
    ok(
        &node,
        "generatetoaddress",
        json!([2, "bcrt1qs758ursh4q9z627kt3pp5yysm78ddny6txaqgw"]),
    );
    let mut h = window(&node);
    step_until(&mut h, "the link", |h| has_label(h, "Connected"));
    click(&mut h, "Console");
    type_into(&mut h, "Command", "getblockcount");
    click(&mut h, "Execute");
    step_until(&mut h, "the count", |h| {
        h.state().model().console.len() == 1
    });
    let entry = h.state().model().console[0].clone();
    assert_eq!(
        (entry.command.as_str(), entry.output.as_str(), entry.error),
        ("getblockcount", "2", false)
    );
    assert!(has_label(&h, "> getblockcount"));
    // Arguments are converted by the method's parameter types: a height is a
    // number, and a string result shows as text.
    type_into(&mut h, "Command", "getblockhash 1");
    click(&mut h, "Execute");
    step_until(&mut h, "the hash", |h| h.state().model().console.len() == 2);
    let hash = ok(&node, "getblockhash", json!([1]));
    assert_eq!(h.state().model().console[1].output, hash.as_str().unwrap());
    // The node's error comes back as Core's message, in the console.
    type_into(&mut h, "Command", "getblockhash ten");
    click(&mut h, "Execute");
    step_until(&mut h, "the error", |h| {
        h.state().model().console.len() == 3
    });
    let e = h.state().model().console[2].clone();
    assert!(e.error);
    assert_eq!(e.output, "Error parsing JSON: ten (code -1)");
    type_into(&mut h, "Command", "nosuchmethod");
    click(&mut h, "Execute");
    step_until(&mut h, "the error", |h| {
        h.state().model().console.len() == 4
    });
    assert_eq!(
        h.state().model().console[3].output,
        "Method not found (code -32601)"
    );
    // `help` lists the commands.
    type_into(&mut h, "Command", "help");
    assert_eq!(h.state().console_input, "help");
    click(&mut h, "Execute");
    step_until(&mut h, "help", |h| h.state().model().console.len() == 5);
    assert!(h.state().model().console[4]
        .output
        .contains("getblockcount"));
    // Up and down walk the history.
    type_into(&mut h, "Command", "x");
    h.key_press(eframe::egui::Key::ArrowUp);
    h.step();
    assert_eq!(h.state().console_input, "help");
    h.key_press(eframe::egui::Key::ArrowUp);
    h.step();
    assert_eq!(h.state().console_input, "nosuchmethod");
    h.key_press(eframe::egui::Key::ArrowDown);
    h.step();
    assert_eq!(h.state().console_input, "help");
}

#[test]
fn overview_follows_blocks_mined_over_rpc_and_peers_screen_lists_a_peer() {
    let other_port = free_port();
    let other = TestNode::start(&[&format!("-port={other_port}"), "-disablewallet"]);
    let node = TestNode::start(&["-ipcbind=unix", "-disablewallet"]);
    let mut h = window(&node);
    step_until(&mut h, "the status", |h| {
        has_label(h, "regtest · 0 blocks · 0 peers")
    });
    // Blocks mined through RPC reach the overview (tip notification).
    let hashes = ok(
        &node,
        "generatetoaddress",
        json!([3, "bcrt1qs758ursh4q9z627kt3pp5yysm78ddny6txaqgw"]),
    );
    let tip = hashes[2].as_str().unwrap().to_string();
    step_until(&mut h, "the new tip", |h| has_label(h, &tip));
    assert!(has_label(&h, "regtest · 3 blocks · 0 peers"));
    assert!(has_label(&h, "Up to date"));
    assert!(
        h.state().model().notifications > 0,
        "no notification arrived"
    );
    // A peer connected through RPC appears on the peers screen.
    ok(
        &node,
        "addnode",
        json!([format!("127.0.0.1:{other_port}"), "onetry"]),
    );
    click(&mut h, "Peers");
    let peer = format!("127.0.0.1:{other_port}");
    step_until(&mut h, "the peer", |h| has_label(h, &peer));
    assert!(has_label(&h, "Outbound"));
    assert_eq!(h.state().model().peers.len(), 1);
    drop(other);
}

#[test]
fn wallet_dialog_send_screen_and_information_page() {
    let node = TestNode::start(&["-ipcbind=unix"]);
    let mut h = window(&node);
    step_until(&mut h, "the link", |h| has_label(h, "Connected"));
    assert!(has_label(&h, "No wallet is loaded."));
    // Create a wallet in the dialog.
    click(&mut h, "Create or open wallet…");
    type_into(&mut h, "Wallet name", "gui");
    click(&mut h, "Create wallet");
    step_until(&mut h, "the wallet", |h| {
        h.state().model().wallet.as_ref().map(|w| w.name.as_str()) == Some("gui")
    });
    assert_eq!(ok(&node, "listwallets", json!([])), json!(["gui"]));
    // Coins for it, mined through RPC, show on the overview.
    mine_to(&node, "gui", 101);
    step_until(&mut h, "the balance", |h| has_label(h, "50.00000000 BTC"));
    // Send to an address of its own: confirmation dialog, then the payment.
    let to = address(&node, "gui");
    click(&mut h, "Send");
    type_into(&mut h, "Pay to", &to);
    type_into(&mut h, "Amount (BTC)", "1.25");
    // The recommended fee needs estimates regtest does not have: the node's
    // error shows as a message and nothing is sent.
    click(&mut h, "Send…");
    assert!(has_label(&h, "Confirm send coins"));
    click(&mut h, "Confirm");
    step_until(&mut h, "the fee error", |h| {
        !h.state().model().messages.is_empty()
    });
    let message = h.state().model().messages[0].clone();
    assert!(message.starts_with("Send: "), "{message}");
    assert!(message.contains("Fee estimation failed"), "{message}");
    assert_eq!(ok(&node, "getrawmempool", json!([])), json!([]));
    click(&mut h, "Dismiss");
    // A custom fee rate works.
    click(&mut h, "Custom");
    click(&mut h, "Send…");
    click(&mut h, "Confirm");
    step_until(&mut h, "the txid", |h| {
        h.state().model().wallet.and_then(|w| w.last_sent).is_some()
    });
    let txid = h.state().model().wallet.unwrap().last_sent.unwrap();
    assert!(has_label(&h, &format!("Sent: {txid}")));
    assert_eq!(ok(&node, "getrawmempool", json!([])), json!([txid]));
    let tx = wok(&node, "gui", "gettransaction", json!([txid]));
    assert_eq!(tx["amount"].as_f64(), Some(0.0), "paid to itself: {tx}");
    // The same payment as an unsigned PSBT.
    click(&mut h, "Create unsigned PSBT");
    step_until(&mut h, "the PSBT", |h| {
        h.state().model().wallet.and_then(|w| w.last_psbt).is_some()
    });
    let psbt = h.state().model().wallet.unwrap().last_psbt.unwrap();
    let psbt: bitcoin::Psbt = psbt.parse().expect("a PSBT");
    let paid = bitcoin::Amount::from_sat(125_000_000);
    assert!(
        psbt.unsigned_tx.output.iter().any(|o| o.value == paid),
        "{psbt:?}"
    );
    assert!(
        psbt.inputs.iter().all(|i| i.final_script_witness.is_none()),
        "unsigned"
    );
    // Receive: a new address with its payment URI and QR code.
    click(&mut h, "Receive");
    type_into(&mut h, "Label", "rent");
    click(&mut h, "New receiving address");
    step_until(&mut h, "the address", |h| {
        h.state().model().wallet.and_then(|w| w.receive).is_some()
    });
    let (addr, uri) = h.state().model().wallet.unwrap().receive.unwrap();
    assert_eq!(uri, format!("bitcoin:{addr}?label=rent"));
    assert_eq!(
        wok(&node, "gui", "getaddressinfo", json!([addr]))["labels"],
        json!(["rent"])
    );
    // Transactions: the payment is listed.
    click(&mut h, "Transactions");
    step_until(&mut h, "the payment", |h| {
        h.state()
            .model()
            .wallet
            .map(|w| w.transactions.iter().any(|t| t.txid == txid))
            .unwrap_or(false)
    });
    // Information: the sandbox of the node worker and of the wallet process.
    click(&mut h, "Information");
    step_until(&mut h, "the processes", |h| {
        h.state()
            .model()
            .info
            .map(|i| i.processes.len() == 2)
            .unwrap_or(false)
    });
    let info = h.state().model().info.unwrap();
    assert_eq!(info.processes[0].process, "node worker");
    assert_eq!(info.processes[1].process, "wallet gui");
    for p in &info.processes {
        assert!(p.summary.contains("seccomp on"), "{p:?}");
        assert!(p.summary.contains("Landlock"), "{p:?}");
        assert!(has_label(&h, &p.summary), "{p:?}");
    }
    assert_eq!(info.processes[0].pid, node.child_named("bitcoin-node"));
}

#[test]
fn real_window_under_xvfb_is_drawn_and_closing_it_stops_the_set_it_started() {
    let x = Xvfb::start();
    let dir = tempfile::tempdir().unwrap();
    let mut gui = Command::new(GUI)
        .args([
            "-regtest",
            &format!("-datadir={}", dir.path().display()),
            "-listen=0",
        ])
        .env("DISPLAY", &x.display)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log_path = dir.path().join("regtest/debug.log");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .contains("Node.getStatus")
        && !std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("Done loading")
    {
        assert!(Instant::now() < deadline, "the node never loaded");
        std::thread::sleep(Duration::from_millis(50));
    }
    let node = children_of(gui.id() as i32);
    assert_eq!(node.len(), 1, "{node:?}");
    assert_eq!(node[0].1, "bitcoin-node");
    let set: Vec<i32> = std::iter::once(node[0].0)
        .chain(children_of(node[0].0).into_iter().map(|(p, _)| p))
        .collect();
    // The window is drawn: a screenshot of the display has many colours.
    let shot = dir.path().join("window.png");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let taken = Command::new("import")
            .args([
                "-display",
                &x.display,
                "-window",
                "root",
                shot.to_str().unwrap(),
            ])
            .status()
            .expect("ImageMagick's import (contrib/install-deps.sh --test installs it)");
        assert!(taken.success());
        let colours = Command::new("identify")
            .args(["-format", "%k", shot.to_str().unwrap()])
            .output()
            .unwrap();
        let colours: u32 = String::from_utf8_lossy(&colours.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        if colours > 20 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the window stayed blank ({colours} colours)"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // SIGTERM closes the window as its close button would.
    unsafe { libc::kill(gui.id() as i32, libc::SIGTERM) };
    let status = wait_timeout(&mut gui, Duration::from_secs(20)).expect("gui stops");
    assert!(status.success(), "{status}");
    for pid in set {
        assert!(
            wait_gone(pid, Duration::from_secs(5)),
            "pid {pid} outlived the GUI"
        );
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("closed its IPC connection; shutting down") && log.contains("Shutdown: done"),
        "{log}"
    );
}

#[test]
fn ipcconnect_window_attaches_and_leaves_the_node_running_on_exit() {
    let x = Xvfb::start();
    let node = TestNode::start(&["-ipcbind=unix", "-disablewallet"]);
    let mut gui = Command::new(GUI)
        .args(["-regtest", &node.datadir_arg(), "-ipcconnect=unix"])
        .env("DISPLAY", &x.display)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    node.wait_for_log("IPC client bitcoin-gui", Duration::from_secs(20));
    unsafe { libc::kill(gui.id() as i32, libc::SIGTERM) };
    let status = wait_timeout(&mut gui, Duration::from_secs(10)).expect("gui stops on SIGTERM");
    assert!(status.success(), "{status}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(alive(node.pid), "the node outlives an attached GUI");
    assert_eq!(ok(&node, "getblockcount", json!([])), json!(0));
    assert_eq!(
        echo_over(&node.net_dir().join("node.sock"), "after gui").unwrap(),
        "after gui"
    );
}

#[test]
fn without_a_display_the_gui_says_so_and_starts_no_node() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(GUI)
        .args(["-regtest", &format!("-datadir={}", dir.path().display())])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Error: cannot open the window"), "{stderr}");
    assert!(
        !dir.path().join("regtest/debug.log").exists(),
        "a node was started"
    );
}
