//! Behaviour of options and bitcoin.conf, Core's way.

use super::*;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn run(dir: &Path, args: &[&str]) -> Result<Config, ConfigError> {
    let mut argv = vec![format!("-datadir={}", dir.display())];
    argv.extend(s(args));
    match Config::from_command_line(Program::Node, &argv)? {
        Parsed::Run(c) => Ok(c),
        _ => panic!("not a run"),
    }
}

fn with_conf(conf: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("bitcoin.conf"), conf).unwrap();
    d
}

#[test]
fn unknown_option_is_core_invalid_parameter() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(
        run(d.path(), &["-foo=1"]).unwrap_err().to_string(),
        "Invalid parameter -foo=1"
    );
    assert_eq!(
        run(d.path(), &["-regtest.port=1"]).unwrap_err().to_string(),
        "Invalid parameter -regtest.port=1"
    );
}

#[test]
fn negation_and_double_negation() {
    let d = tempfile::tempdir().unwrap();
    let c = run(d.path(), &["-nolisten"]).unwrap();
    assert!(c.is_negated("listen") && !c.get_bool("listen", true) && c.get("listen").is_none());
    let c = run(d.path(), &["-nolisten=0"]).unwrap();
    assert!(c.get_bool("listen", false));
    assert!(c.warnings().iter().any(|w| w.contains("double-negative")));
    assert_eq!(
        run(d.path(), &["-nodatadir"]).unwrap_err().to_string(),
        "Negating of -datadir is meaningless and therefore forbidden"
    );
}

#[test]
fn regtest_from_conf_and_section_values_apply() {
    let d = with_conf("regtest=1\nserver=1\n[regtest]\nrpcport=1234\n[main]\nrpcport=9\n");
    let c = run(d.path(), &[]).unwrap();
    assert_eq!(c.chain(), Chain::Regtest);
    assert_eq!(c.get_int("rpcport", 0), 1234);
    assert!(c.get_bool("server", false));
    assert_eq!(c.net_dir(), d.path().join("regtest"));
}

#[test]
fn regtest_section_port_ignored_on_main_and_top_network_only_ignored_on_regtest() {
    let d = with_conf("port=5\n[regtest]\nport=7\n");
    assert_eq!(
        run(d.path(), &[]).unwrap().get("port").as_deref(),
        Some("5")
    );
    let c = run(d.path(), &["-regtest"]).unwrap();
    assert_eq!(c.get("port").as_deref(), Some("7"));
    let d = with_conf("port=5\n");
    let c = run(d.path(), &["-regtest"]).unwrap();
    assert_eq!(c.get("port"), None);
    assert!(c.warnings().iter().any(|w| w
        == "Config setting for -port only applied on regtest network when in [regtest] section."));
}

#[test]
fn negated_list_option_on_command_line_drops_conf_values() {
    let d = with_conf("debug=net\n");
    assert_eq!(
        run(d.path(), &["-debug=ipc"]).unwrap().get_all("debug"),
        s(&["ipc", "net"])
    );
    assert!(run(d.path(), &["-nodebug"])
        .unwrap()
        .get_all("debug")
        .is_empty());
}

#[test]
fn malformed_conf_line_is_core_error() {
    let d = with_conf("server=1\nbroken line\n");
    assert_eq!(
        run(d.path(), &[]).unwrap_err().to_string(),
        "Error reading configuration file: parse error on line 2: broken line"
    );
}

#[test]
fn includeconf_reads_relative_to_datadir_and_is_refused_on_command_line() {
    let d = with_conf("includeconf=extra.conf\n");
    std::fs::write(
        d.path().join("extra.conf"),
        "regtest=1\n[regtest]\nrpcport=4321\nincludeconf=more.conf\n",
    )
    .unwrap();
    let c = run(d.path(), &[]).unwrap();
    assert_eq!(c.get_int("rpcport", 0), 4321);
    assert!(c
        .warnings()
        .iter()
        .any(|w| w.contains("-includeconf cannot be used from included files")));
    let d2 = tempfile::tempdir().unwrap();
    assert_eq!(
        run(d2.path(), &["-includeconf=x"]).unwrap_err().to_string(),
        "-includeconf cannot be used from commandline; -includeconf=x"
    );
    let d3 = with_conf("includeconf=missing.conf\n");
    assert_eq!(
        run(d3.path(), &[]).unwrap_err().to_string(),
        "Error reading configuration file: Failed to include configuration file missing.conf"
    );
}

#[test]
fn missing_datadir_and_explicit_missing_conf_are_errors() {
    let e = Config::from_command_line(Program::Node, &s(&["-datadir=/nonexistent/x"]))
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "Specified data directory \"/nonexistent/x\" does not exist."
    );
    let d = tempfile::tempdir().unwrap();
    assert!(run(d.path(), &["-conf=nope.conf"])
        .unwrap_err()
        .to_string()
        .starts_with("Error reading configuration file: specified config file"));
}

#[test]
fn chain_combination_and_unknown_chain_are_core_errors() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(
        run(d.path(), &["-regtest", "-testnet"]).unwrap_err(),
        ConfigError::ChainCombination
    );
    assert_eq!(
        run(d.path(), &["-chain=foo"]).unwrap_err().to_string(),
        "Unknown chain foo."
    );
    assert_eq!(
        run(d.path(), &["-chain=signet"]).unwrap().net_dir(),
        d.path().join("signet")
    );
}

#[test]
fn positional_token_is_an_error_for_the_node_but_a_command_for_the_wallet() {
    let d = tempfile::tempdir().unwrap();
    assert_eq!(
        run(d.path(), &["oops"]).unwrap_err().to_string(),
        "Command line contains unexpected token 'oops', see bitcoind -h for a list of options."
    );
    let argv = s(&[&format!("-datadir={}", d.path().display()), "info"]);
    let Parsed::Run(c) = Config::from_command_line(Program::Wallet, &argv).unwrap() else {
        panic!()
    };
    assert_eq!(c.positional(), &s(&["info"])[..]);
}

#[test]
fn help_lists_every_shown_option_under_core_headings() {
    let Parsed::Help(text) = Config::from_command_line(Program::Node, &s(&["-help"])).unwrap()
    else {
        panic!()
    };
    for needle in [
        "Usage:  bitcoin-node [options]",
        "Options:",
        "Connection options:",
        "Chain selection options:",
        "RPC server options:",
        "  -ipcbind=<address>",
        "  -sandbox=<auto|require|off>",
        "  -datadir=<dir>",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
    for line in text.lines() {
        assert!(
            line.len() <= 79 || line.starts_with("  -"),
            "overlong: {line}"
        );
    }
    let Parsed::Help(debug) =
        Config::from_command_line(Program::Node, &s(&["-help-debug"])).unwrap()
    else {
        panic!()
    };
    assert!(debug.contains("  -regtest") && !text.contains("  -regtest\n"));
}

#[test]
fn settings_survive_the_trip_to_a_child() {
    let d = with_conf("regtest=1\n[regtest]\ndebug=net\ndebug=ipc\nprinttoconsole=0\n");
    let c = run(d.path(), &["-nolisten"]).unwrap();
    let child = Config::from_settings(
        Program::Node,
        c.chain(),
        c.datadir().to_path_buf(),
        c.to_settings(|_| true),
    );
    for name in ["debug", "printtoconsole", "listen", "regtest"] {
        assert_eq!(child.get(name), c.get(name), "{name}");
        assert_eq!(child.get_all(name), c.get_all(name), "{name}");
        assert_eq!(child.is_negated(name), c.is_negated(name), "{name}");
    }
}

#[test]
fn core_int_parsing() {
    assert_eq!(atoi(" 12abc"), 12);
    assert_eq!(atoi("-5"), -5);
    assert_eq!(atoi("x"), 0);
    assert!(
        interpret_bool("") && interpret_bool("1") && !interpret_bool("0") && !interpret_bool("abc")
    );
}
