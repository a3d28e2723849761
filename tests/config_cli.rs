//! Options and bitcoin.conf through the real binaries: Core's messages and exit codes.

mod common;

use common::*;

fn datadir_with_conf(conf: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bitcoin.conf"), conf).unwrap();
    dir
}

#[test]
fn unknown_option_is_invalid_parameter_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(
        NODE,
        &[
            "-regtest",
            &format!("-datadir={}", dir.path().display()),
            "-foo",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(stderr.trim(), "Error: Invalid parameter -foo");
}

#[test]
fn malformed_conf_line_is_core_config_error_exit_1() {
    let dir = datadir_with_conf("regtest=1\nthis line has no equals sign\n");
    let (code, _, stderr) = run(NODE, &[&format!("-datadir={}", dir.path().display())]);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("Error: Error reading configuration file: "),
        "{stderr}"
    );
}

#[test]
fn missing_datadir_is_a_clear_error() {
    let (code, _, stderr) = run(NODE, &["-regtest", "-datadir=/nonexistent/bitcoin-mp-test"]);
    assert_eq!(code, 1);
    assert_eq!(
        stderr.trim(),
        "Error: Specified data directory \"/nonexistent/bitcoin-mp-test\" does not exist."
    );
}

#[test]
fn version_and_help_exit_0_and_help_is_grouped_like_core() {
    let (code, out, _) = run(NODE, &["-version"]);
    assert_eq!(code, 0);
    assert!(out.contains(env!("CARGO_PKG_VERSION")), "{out}");
    let (code, out, _) = run(NODE, &["-help"]);
    assert_eq!(code, 0);
    for heading in [
        "Options:",
        "Connection options:",
        "Debugging/Testing options:",
        "Chain selection options:",
        "RPC server options:",
    ] {
        assert!(out.contains(heading), "missing {heading}");
    }
    for option in [
        "-datadir=<dir>",
        "-ipcbind=<address>",
        "-sandbox=",
        "-debug=<category>",
        "-printtoconsole",
    ] {
        assert!(out.contains(option), "help lacks {option}");
    }
}

#[test]
fn regtest_section_and_chain_from_conf_are_honoured() {
    let dir = datadir_with_conf("regtest=1\n[regtest]\ndisablewallet=1\nipcbind=unix\n");
    let node = TestNode::start_in(dir, &[]);
    // Chain from conf: the net dir is regtest/; section options applied.
    assert!(node.net_dir().join("node.sock").exists());
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        node.children().len(),
        1,
        "disablewallet from [regtest] applies"
    );
}

#[test]
fn bad_whitebind_values_are_refused_with_cores_messages() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = format!("-datadir={}", dir.path().display());
    for (args, message) in [
        (
            &["-whitebind=noban@127.0.0.1/10"][..],
            "Error: Cannot resolve -whitebind address: '127.0.0.1/10'",
        ),
        (
            &["-whitebind=noban@127.0.0.1"][..],
            "Error: Need to specify a port with -whitebind: '127.0.0.1'",
        ),
        (
            &["-whitebind=oopsie@127.0.0.1:1"][..],
            "Error: Invalid P2P permission: 'oopsie'",
        ),
        (
            &["-whitebind=noban@127.0.0.1:1", "-listen=0"][..],
            "Error: Cannot set -bind or -whitebind together with -listen=0",
        ),
    ] {
        let mut all = vec!["-regtest", &datadir, "-dns=0", "-server=0"];
        all.extend_from_slice(args);
        let (code, _, stderr) = run(NODE, &all);
        assert_eq!(code, 1, "{args:?}");
        assert_eq!(stderr.trim(), message, "{args:?}");
    }
}

#[test]
fn bad_proxy_values_are_refused_with_cores_messages() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = format!("-datadir={}", dir.path().display());
    for (value, message) in [
        (
            "-proxy=no:such:host",
            "Error: Invalid -proxy address or hostname: 'no:such:host'",
        ),
        (
            "-proxy=127.0.0.1:9050=",
            "Error: Invalid -proxy address or hostname, ends with '=': '127.0.0.1:9050='",
        ),
        (
            "-proxy=127.0.0.1:9050=carrierpigeon",
            "Error: Unrecognized network in -proxy='127.0.0.1:9050=carrierpigeon': 'carrierpigeon'",
        ),
    ] {
        let (code, _, stderr) = run(NODE, &["-regtest", &datadir, "-dns=0", "-server=0", value]);
        assert_eq!(code, 1, "{value}");
        assert_eq!(stderr.trim(), message, "{value}");
    }
}

#[test]
fn bad_rpcauth_stops_the_node_with_cores_init_error_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = format!("-datadir={}", dir.path().display());
    let (code, _, stderr) = run(NODE, &["-regtest", &datadir, "-listen=0", "-rpcauth=foo"]);
    assert_eq!(code, 1);
    // One line: no panic from the worker on its way out.
    assert_eq!(
        stderr.trim(),
        "Error: Unable to start HTTP server. See debug log for details."
    );
    let log = std::fs::read_to_string(dir.path().join("regtest/debug.log")).unwrap();
    assert!(log.contains("Invalid -rpcauth argument."), "{log}");
}
