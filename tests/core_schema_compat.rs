//! Wire compatibility with Bitcoin Core: pycapnp clients that load Core's own
//! schema files (init.capnp, echo.capnp, mining.capnp, rpc.capnp,
//! libmultiprocess's proxy.capnp) from the vendored Core source in the
//! libbitcoinkernel-sys crate talk to our node.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

/// The vendored Core source tree, found with `cargo metadata` (never copied).
fn vendored_core_src() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8(out.stdout).unwrap();
    // Find the manifest_path of the libbitcoinkernel-sys package.
    let key = "\"manifest_path\":\"";
    let manifest = json
        .match_indices(key)
        .map(|(i, _)| {
            let rest = &json[i + key.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .find(|p| p.contains("libbitcoinkernel-sys"))
        .expect("libbitcoinkernel-sys in cargo metadata");
    PathBuf::from(manifest)
        .parent()
        .unwrap()
        .join("bitcoin/src")
}

#[test]
fn pycapnp_client_with_cores_own_schemas_gets_hello_back() {
    let src = vendored_core_src();
    let capnp_dir = src.join("ipc/capnp");
    let mp_include = src.join("ipc/libmultiprocess/include");
    assert!(
        capnp_dir.join("init.capnp").exists() && mp_include.join("mp/proxy.capnp").exists(),
        "Core's schemas not found under {}",
        src.display()
    );

    let node = TestNode::start(&["-ipcbind=unix", "-disablewallet", "-debug=ipc"]);
    let sock = node.net_dir().join("node.sock");
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/core_ipc_client.py"
        ))
        .arg(&sock)
        .arg(&capnp_dir)
        .arg(&mp_include)
        .arg("hello")
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "pycapnp client failed (is pycapnp installed? the test command installs it)\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("construct: ok"), "{stdout}");
    assert!(stdout.contains("makeThread: bitcoin-node-"), "{stdout}");
    assert!(stdout.lines().any(|l| l == "echo: hello"), "{stdout}");
    // The node saw Core's client call the methods by Core's ordinals.
    let log = node.wait_for_log("Echo.destroy", std::time::Duration::from_secs(5));
    assert!(log.contains("Init.makeEcho$Params"), "{log}");
}

#[test]
fn pycapnp_miner_with_cores_own_schemas_mines_a_block_through_mining_and_rpc() {
    let src = vendored_core_src();
    let node = TestNode::start(&["-ipcbind=unix", "-disablewallet", "-debug=ipc"]);
    let sock = node.net_dir().join("node.sock");
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/core_ipc_mining.py"
        ))
        .arg(&sock)
        .arg(src.join("ipc/capnp"))
        .arg(src.join("ipc/libmultiprocess/include"))
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pycapnp miner failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nlog:\n{}",
        node.log()
    );
    assert!(stdout.contains("submitSolution: True"), "{stdout}");
    assert!(stdout.contains("getTip: height 1"), "{stdout}");
    assert!(stdout.contains("executeRpc getblockcount: 1"), "{stdout}");
    assert!(stdout.contains("submitBlock(garbage): refused"), "{stdout}");
    // -debug=ipc shows the calls; the RPC request text itself is not logged.
    let log = node.wait_for_log("Rpc.executeRpc$Results", std::time::Duration::from_secs(5));
    for call in [
        "Init.makeMining$Params",
        "Mining.createNewBlock$Params",
        "BlockTemplate.getCoinbaseTx$Results",
        "BlockTemplate.submitSolution$Results (result = true)",
        "Init.makeRpc$Params",
    ] {
        assert!(log.contains(call), "{call} missing from the log:\n{log}");
    }
    assert!(!log.contains("getblockcount\\\""), "{log}");
    // The block is the node's tip over JSON-RPC too.
    assert!(log.contains("UpdateTip: new best="), "{log}");
}
