//! Wire compatibility with Bitcoin Core: a pycapnp client that loads Core's own
//! schema files (init.capnp, echo.capnp, libmultiprocess's proxy.capnp) from the
//! vendored Core source in the libbitcoinkernel-sys crate talks to our node.

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
