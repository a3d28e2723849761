//! Wallets through the real node: each loaded wallet is its own sandboxed
//! bitcoin-wallet process; coins mined to one wallet are sent to another,
//! confirmed and fee-bumped; encryption keeps keys unusable while locked and
//! the passphrase out of the log; a wallet process killed with SIGKILL
//! leaves the node running and loads again with nothing lost; a restart
//! keeps wallets and chain; a wallet started by hand with -ipcconnect
//! registers with the node and serves its RPCs.

mod common;

use std::time::Duration;

use common::{address, alive, mine_to, ok, rpc, sats, wait_for, wait_gone, wok, wrpc, TestNode};
use serde_json::{json, Value};

/// Fee rate used when there is no estimate (20 sat/vB).
const FALLBACK: &str = "-fallbackfee=0.0002";

fn mempool(node: &TestNode) -> Vec<String> {
    serde_json::from_value(ok(node, "getrawmempool", json!([]))).unwrap()
}

/// The broker's bitcoin-wallet children.
fn wallet_pids(node: &TestNode) -> Vec<i32> {
    node.children()
        .into_iter()
        .filter(|(_, n)| n == "bitcoin-wallet")
        .map(|(p, _)| p)
        .collect()
}

fn status_field(pid: i32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn two_wallets_in_two_sandboxed_processes_send_confirm_and_bump() {
    let node = TestNode::start(&[FALLBACK]);
    assert_eq!(
        ok(&node, "createwallet", json!(["w1"])),
        json!({"name": "w1"})
    );
    assert_eq!(
        ok(&node, "createwallet", json!(["w2"])),
        json!({"name": "w2"})
    );
    assert_eq!(ok(&node, "listwallets", json!([])), json!(["w1", "w2"]));
    let names: Vec<&str> = ["w1", "w2"].to_vec();
    let dir = ok(&node, "listwalletdir", json!([]));
    for n in &names {
        assert!(
            dir["wallets"]
                .as_array()
                .unwrap()
                .contains(&json!({"name": n})),
            "{dir}"
        );
    }
    // One process per wallet, each in seccomp filter mode without capabilities.
    let pids = wallet_pids(&node);
    assert_eq!(pids.len(), 2, "{:?}", node.children());
    for pid in &pids {
        assert_eq!(status_field(*pid, "Seccomp:"), "2", "wallet {pid}");
        assert_eq!(
            status_field(*pid, "CapEff:"),
            "0000000000000000",
            "wallet {pid}"
        );
        assert_eq!(status_field(*pid, "NoNewPrivs:"), "1", "wallet {pid}");
    }
    // Routing: two wallets and no /wallet/ path is Core's -19.
    let err = rpc(&node, "getbalance", json!([])).unwrap_err();
    assert_eq!(err.0, -19, "{err:?}");
    assert_eq!(
        wrpc(&node, "nope", "getbalance", json!([])).unwrap_err().0,
        -18
    );
    let again = rpc(&node, "createwallet", json!(["w1"])).unwrap_err();
    assert_eq!(again.0, -4, "{again:?}");
    assert!(again.1.contains("Database already exists"), "{again:?}");

    mine_to(&node, "w1", 101);
    assert_eq!(
        sats(&wok(&node, "w1", "getbalance", json!([]))),
        50 * 100_000_000
    );
    let b = wok(&node, "w1", "getbalances", json!([]));
    assert_eq!(sats(&b["mine"]["immature"]), 100 * 50 * 100_000_000, "{b}");
    assert_eq!(b["lastprocessedblock"]["height"], 101);

    let to = wok(&node, "w2", "getnewaddress", json!(["savings", "bech32m"]));
    let to = to.as_str().unwrap();
    assert!(to.starts_with("bcrt1p"), "{to}");
    let info = wok(&node, "w2", "getaddressinfo", json!([to]));
    assert_eq!(info["ismine"], true, "{info}");
    assert_eq!(info["labels"], json!(["savings"]));
    assert_eq!(
        wok(&node, "w1", "getaddressinfo", json!([to]))["ismine"],
        false
    );
    // Core's DescribeAddress fields: taproot is a script; a witness version
    // no soft fork defines says nothing of it.
    assert_eq!(info["isscript"], true, "{info}");
    assert_eq!(info["witness_version"], 1, "{info}");
    let v2 = bitcoin::Address::from_script(
        &bitcoin::ScriptBuf::from_bytes(vec![0x52, 2, 0xab, 0xcd]),
        bitcoin::Network::Regtest,
    )
    .unwrap();
    let info = wok(&node, "w1", "getaddressinfo", json!([v2.to_string()]));
    assert!(info.get("isscript").is_none(), "{info}");
    assert_eq!(info["witness_version"], 2, "{info}");
    assert_eq!(info["witness_program"], "abcd", "{info}");
    // removeprunedfunds is deprecated in Core: refused without
    // -deprecatedrpc=removeprunedfunds.
    assert_eq!(
        wrpc(&node, "w1", "removeprunedfunds", json!(["00".repeat(32)])).unwrap_err(),
        (
            -32,
            "DEPRECATION WARNING: This feature will be removed in the next major release. Start bitcoind with the `-deprecatedrpc=removeprunedfunds` option in order to use this.".into()
        )
    );

    // Errors with Core's codes.
    assert_eq!(
        wrpc(
            &node,
            "w1",
            "sendtoaddress",
            json!(["bcrt1qnotanaddress", 1])
        )
        .unwrap_err()
        .0,
        -5
    );
    assert_eq!(
        wrpc(&node, "w1", "sendtoaddress", json!([to, 1000]))
            .unwrap_err()
            .0,
        -6
    );
    assert_eq!(
        wrpc(&node, "w1", "sendtoaddress", json!([to, 0]))
            .unwrap_err()
            .0,
        -3
    );

    let txid = wok(&node, "w1", "sendtoaddress", json!([to, 1.5]));
    let txid = txid.as_str().unwrap().to_string();
    assert_eq!(mempool(&node), vec![txid.clone()]);
    wait_for("w2 to see the payment", || {
        sats(&wok(&node, "w2", "getbalances", json!([]))["mine"]["untrusted_pending"])
            == 150_000_000
    });
    let sent = wok(&node, "w1", "gettransaction", json!([txid]));
    assert_eq!(sats(&sent["amount"]), -150_000_000, "{sent}");
    assert_eq!(sent["confirmations"], 0);
    assert_eq!(sent["bip125-replaceable"], "yes");
    let fee = -sats(&sent["fee"]);
    assert!(fee > 0, "{sent}");

    let bumped = wok(&node, "w1", "bumpfee", json!([txid]));
    let new_txid = bumped["txid"].as_str().unwrap().to_string();
    assert_ne!(new_txid, txid);
    assert_eq!(sats(&bumped["origfee"]), fee);
    let new_fee = sats(&bumped["fee"]);
    assert!(new_fee > fee, "{bumped}");
    assert_eq!(mempool(&node), vec![new_txid.clone()]);
    let old = wok(&node, "w1", "gettransaction", json!([txid]));
    assert_eq!(old["replaced_by_txid"], json!(new_txid), "{old}");

    mine_to(&node, "w1", 1);
    assert!(mempool(&node).is_empty());
    let got = wok(&node, "w2", "gettransaction", json!([new_txid]));
    assert_eq!(got["confirmations"], 1, "{got}");
    assert_eq!(sats(&got["amount"]), 150_000_000);
    assert_eq!(got["details"][0]["category"], "receive");
    assert_eq!(
        sats(&wok(&node, "w2", "getbalance", json!([]))),
        150_000_000
    );
    // Two mature coinbases (heights 1 and 2) less the payment and its fee.
    assert_eq!(
        sats(&wok(&node, "w1", "getbalance", json!([]))),
        2 * 50 * 100_000_000 - 150_000_000 - new_fee
    );
    let listed = wok(&node, "w1", "listtransactions", json!(["*", 100]));
    let send = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["category"] == "send")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(send["txid"], json!(new_txid));
    assert_eq!(sats(&send["amount"]), -150_000_000);
    let unspent = wok(&node, "w2", "listunspent", json!([]));
    assert_eq!(unspent.as_array().unwrap().len(), 1, "{unspent}");
    assert_eq!(unspent[0]["label"], "savings");
    assert_eq!(unspent[0]["confirmations"], 1);

    // The wallet files are in the wallet's own directory.
    for n in names {
        assert!(node
            .net_dir()
            .join("wallets")
            .join(n)
            .join("wallet.redb")
            .is_file());
    }
}

#[test]
fn encryption_keeps_keys_locked_and_the_passphrase_out_of_the_log() {
    let node = TestNode::start(&[FALLBACK, "-debug=ipc"]);
    ok(&node, "createwallet", json!(["safe"]));
    mine_to(&node, "safe", 101);
    let to = address(&node, "safe");
    assert_eq!(
        wrpc(&node, "safe", "walletlock", json!([])).unwrap_err().0,
        -15
    );
    let done = wok(
        &node,
        "safe",
        "encryptwallet",
        json!(["correct horse battery"]),
    );
    assert!(
        done.as_str().unwrap().starts_with("wallet encrypted"),
        "{done}"
    );
    assert_eq!(
        wrpc(&node, "safe", "encryptwallet", json!(["again"]))
            .unwrap_err()
            .0,
        -15
    );
    // Locked: no signing, addresses still come.
    assert_eq!(
        wrpc(&node, "safe", "sendtoaddress", json!([to, 1]))
            .unwrap_err()
            .0,
        -13
    );
    assert!(address(&node, "safe").starts_with("bcrt1q"));
    assert_eq!(
        wrpc(&node, "safe", "walletpassphrase", json!(["wrong", 60]))
            .unwrap_err()
            .0,
        -14
    );
    wok(
        &node,
        "safe",
        "walletpassphrase",
        json!(["correct horse battery", 2]),
    );
    let info = wok(&node, "safe", "getwalletinfo", json!([]));
    assert!(info["unlocked_until"].as_i64().unwrap() > 0, "{info}");
    wok(&node, "safe", "sendtoaddress", json!([to, 1]));
    // The unlock ends by itself.
    wait_for("the unlock timeout", || {
        wrpc(&node, "safe", "sendtoaddress", json!([to, 1]))
            .err()
            .map(|e| e.0)
            == Some(-13)
    });
    assert_eq!(
        wok(&node, "safe", "getwalletinfo", json!([]))["unlocked_until"],
        0
    );
    assert_eq!(
        wrpc(
            &node,
            "safe",
            "walletpassphrasechange",
            json!(["wrong", "new one"])
        )
        .unwrap_err()
        .0,
        -14
    );
    wok(
        &node,
        "safe",
        "walletpassphrasechange",
        json!(["correct horse battery", "new one"]),
    );
    // Still encrypted after unload and load.
    ok(&node, "unloadwallet", json!(["safe"]));
    ok(&node, "loadwallet", json!(["safe"]));
    assert_eq!(
        wrpc(&node, "safe", "sendtoaddress", json!([to, 1]))
            .unwrap_err()
            .0,
        -13
    );
    assert_eq!(
        wrpc(
            &node,
            "safe",
            "walletpassphrase",
            json!(["correct horse battery", 60])
        )
        .unwrap_err()
        .0,
        -14
    );
    wok(&node, "safe", "walletpassphrase", json!(["new one", 60]));
    wok(&node, "safe", "sendtoaddress", json!([to, 1]));
    wok(&node, "safe", "walletlock", json!([]));
    assert_eq!(
        wrpc(&node, "safe", "sendtoaddress", json!([to, 1]))
            .unwrap_err()
            .0,
        -13
    );
    // -debug=ipc logged the calls, never the passphrases.
    let log = node.log();
    assert!(log.contains("Wallet.callRpc"), "no IPC lines");
    for secret in ["correct horse battery", "new one"] {
        assert!(!log.contains(secret), "{secret:?} reached debug.log");
    }
    let db = std::fs::read(node.net_dir().join("wallets/safe/wallet.redb")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("new one"));
}

#[test]
fn a_killed_wallet_process_leaves_the_node_running_and_loads_again() {
    let node = TestNode::start(&[FALLBACK]);
    ok(&node, "createwallet", json!(["w"]));
    mine_to(&node, "w", 101);
    let to = wok(&node, "w", "getnewaddress", json!(["", "legacy"]));
    let txid = wok(&node, "w", "sendtoaddress", json!([to, 7]));
    let before = wok(&node, "w", "getbalances", json!([]));
    let pid = wallet_pids(&node)[0];
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(wait_gone(pid, Duration::from_secs(10)));
    // The node goes on; the wallet is no longer loaded.
    assert!(alive(node.pid));
    assert_eq!(ok(&node, "getblockcount", json!([])), 101);
    wait_for("the wallet to be dropped", || {
        ok(&node, "listwallets", json!([])) == json!([])
    });
    assert_eq!(
        wrpc(&node, "w", "getbalance", json!([])).unwrap_err().0,
        -18
    );
    // Blocks mined meanwhile are pulled at load.
    ok(&node, "generatetoaddress", json!([1, to]));
    ok(&node, "loadwallet", json!(["w"]));
    assert_ne!(wallet_pids(&node), vec![pid]);
    let tx = wok(&node, "w", "gettransaction", json!([txid]));
    assert_eq!(tx["confirmations"], 1, "{tx}");
    let after = wok(&node, "w", "getbalances", json!([]));
    assert_eq!(after["lastprocessedblock"]["height"], 102);
    // The payment went to ourselves (its fee was already counted before the
    // kill); one more coinbase matured.
    assert_eq!(
        sats(&after["mine"]["trusted"]),
        sats(&before["mine"]["trusted"]) + 50 * 100_000_000,
        "{before} {after}"
    );
    // A second load of a loaded wallet is refused.
    assert_eq!(rpc(&node, "loadwallet", json!(["w"])).unwrap_err().0, -35);
}

#[test]
fn a_restart_keeps_wallets_chain_and_unconfirmed_payments() {
    let mut node = TestNode::start(&[FALLBACK]);
    ok(&node, "createwallet", json!(["keep"]));
    mine_to(&node, "keep", 101);
    let to = address(&node, "keep");
    let txid = wok(&node, "keep", "sendtoaddress", json!([to, 3]));
    ok(&node, "stop", json!([]));
    assert!(node.wait_exit(Duration::from_secs(30)).success());
    let datadir = std::mem::replace(&mut node.datadir, tempfile::tempdir().unwrap());
    let node = TestNode::start_in(datadir, &[FALLBACK, "-wallet=keep"]);
    assert_eq!(ok(&node, "getblockcount", json!([])), 101);
    assert_eq!(ok(&node, "listwallets", json!([])), json!(["keep"]));
    assert_eq!(mempool(&node), vec![txid.as_str().unwrap().to_string()]);
    assert_eq!(
        wok(&node, "keep", "gettransaction", json!([txid]))["confirmations"],
        0
    );
}

#[test]
fn disablewallet_leaves_the_wallet_methods_out() {
    let node = TestNode::start(&["-disablewallet"]);
    assert_eq!(
        rpc(&node, "createwallet", json!(["x"])).unwrap_err().0,
        -32601
    );
    assert_eq!(rpc(&node, "getbalance", json!([])).unwrap_err().0, -32601);
    assert!(node.children().iter().all(|(_, n)| n != "bitcoin-wallet"));
}

#[test]
fn psbts_and_raw_transactions_are_funded_signed_and_sent() {
    let node = TestNode::start(&[FALLBACK]);
    node.create_wallet("a");
    node.create_wallet("b");
    mine_to(&node, "a", 110);
    let to_b = address(&node, "b");

    // Funded by a, not signable by b, signed and finalized by a.
    let funded = wok(
        &node,
        "a",
        "walletcreatefundedpsbt",
        json!([[], [{ &to_b: 1 }]]),
    );
    assert!(sats(&funded["fee"]) > 0, "{funded}");
    assert!(funded["changepos"].as_i64().unwrap() >= 0, "{funded}");
    let psbt = funded["psbt"].as_str().unwrap();
    let by_b = wok(&node, "b", "walletprocesspsbt", json!([psbt]));
    assert_eq!(by_b["complete"], false, "{by_b}");
    let by_a = wok(&node, "a", "walletprocesspsbt", json!([psbt]));
    assert_eq!(by_a["complete"], true, "{by_a}");
    let txid = ok(&node, "sendrawtransaction", json!([by_a["hex"]]));
    assert!(mempool(&node).contains(&txid.as_str().unwrap().to_string()));
    assert_eq!(
        wrpc(&node, "a", "walletprocesspsbt", json!(["not a psbt"]))
            .unwrap_err()
            .0,
        -22
    );

    // A raw transaction: funded, then signed by the wallet.
    let raw = ok(&node, "createrawtransaction", json!([[], { &to_b: 2 }]));
    let funded = wok(&node, "a", "fundrawtransaction", json!([raw]));
    let signed = wok(
        &node,
        "a",
        "signrawtransactionwithwallet",
        json!([funded["hex"]]),
    );
    assert_eq!(signed["complete"], true, "{signed}");
    let accepted = ok(&node, "testmempoolaccept", json!([[signed["hex"]]]));
    assert_eq!(accepted[0]["allowed"], true, "{accepted}");
    ok(&node, "sendrawtransaction", json!([signed["hex"]]));
    // b cannot sign a's inputs and says which.
    let by_b = wok(
        &node,
        "b",
        "signrawtransactionwithwallet",
        json!([funded["hex"]]),
    );
    assert_eq!(by_b["complete"], false);
    assert!(!by_b["errors"].as_array().unwrap().is_empty(), "{by_b}");

    // send, then a replacement as a PSBT.
    let sent = wok(&node, "a", "send", json!([{ &to_b: 0.5 }]));
    assert_eq!(sent["complete"], true, "{sent}");
    let sent_txid = sent["txid"].as_str().unwrap().to_string();
    assert!(mempool(&node).contains(&sent_txid));
    let bump = wok(&node, "a", "psbtbumpfee", json!([sent_txid]));
    assert!(sats(&bump["fee"]) > sats(&bump["origfee"]), "{bump}");
    let signed = wok(&node, "a", "walletprocesspsbt", json!([bump["psbt"]]));
    assert_eq!(signed["complete"], true);
    let replacement = ok(&node, "sendrawtransaction", json!([signed["hex"]]));
    let pool = mempool(&node);
    assert!(
        pool.contains(&replacement.as_str().unwrap().to_string()) && !pool.contains(&sent_txid)
    );

    mine_to(&node, "a", 1);
    assert_eq!(sats(&wok(&node, "b", "getbalance", json!([]))), 350_000_000);
}

#[test]
fn the_offline_tool_creates_a_wallet_the_node_then_loads() {
    let node = TestNode::start(&[FALLBACK]);
    ok(
        &node,
        "generatetoaddress",
        json!([3, "bcrt1qjqmxmkpmxt80xz4y3746zgt0q3u3ferr34acd5"]),
    );
    let datadir = node.datadir_arg();
    let (code, out, err) = common::run(
        common::WALLET,
        &["-regtest", &datadir, "-wallet=offline", "create"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Name: offline") && out.contains("Encrypted: no"),
        "{out}"
    );
    let (code, out, _) = common::run(
        common::WALLET,
        &["-regtest", &datadir, "-wallet=offline", "info"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("Transactions: 0"), "{out}");
    let (code, _, err) = common::run(
        common::WALLET,
        &["-regtest", &datadir, "-wallet=offline", "create"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("Database already exists"), "{err}");
    let (code, _, err) = common::run(common::WALLET, &["-regtest", &datadir, "create"]);
    assert_eq!(code, 1);
    assert!(err.contains("Wallet name must be provided"), "{err}");
    // Born at genesis: loading it catches up with the node's chain.
    ok(&node, "loadwallet", json!(["offline"]));
    let info = wok(&node, "offline", "getwalletinfo", json!([]));
    assert_eq!(info["lastprocessedblock"]["height"], 3, "{info}");
}

#[test]
fn kill_9_of_the_whole_set_while_paying_leaves_a_consistent_wallet() {
    let mut first = TestNode::start(&[FALLBACK]);
    first.create_wallet("w");
    mine_to(&first, "w", 110);
    // A clean stop writes the chain (Core's engine flushes lazily, so a kill
    // may take back any block mined after this, as with bitcoind).
    ok(&first, "stop", json!([]));
    assert!(first.wait_exit(Duration::from_secs(30)).success());
    let datadir = std::mem::replace(&mut first.datadir, tempfile::tempdir().unwrap());
    let mut node = TestNode::start_in(datadir, &[FALLBACK, "-wallet=w"]);
    let to = address(&node, "w");
    // Pay and mine in the background; kill every process of the set mid-way.
    let client = common::RpcClient::of(&node);
    let worker = std::thread::spawn(move || {
        for _ in 0..200 {
            // The node goes away mid-loop: a refused connection ends it.
            let paid = client.call("/wallet/w", "sendtoaddress", json!([to, 0.1]));
            let mined = client.call("/", "generatetoaddress", json!([1, to]));
            if paid.is_none() || mined.is_none() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    let kids = node.children();
    unsafe { libc::kill(node.pid, libc::SIGKILL) };
    for (pid, _) in &kids {
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    let _ = node.wait_exit(Duration::from_secs(10));
    for (pid, _) in &kids {
        assert!(wait_gone(*pid, Duration::from_secs(10)));
    }
    let _ = worker.join();
    let datadir = std::mem::replace(&mut node.datadir, tempfile::tempdir().unwrap());
    let node = TestNode::start_in(datadir, &[FALLBACK, "-wallet=w"]);
    // The wallet follows the node's chain, whatever the kill left of it.
    let info = wok(&node, "w", "getwalletinfo", json!([]));
    assert_eq!(
        info["lastprocessedblock"]["hash"],
        ok(&node, "getbestblockhash", json!([])),
        "{info}"
    );
    // Every confirmed coin it holds is unspent in the node's UTXO set.
    let coins = wok(&node, "w", "listunspent", json!([1]));
    assert!(ok(&node, "getblockcount", json!([])).as_u64().unwrap() >= 110);
    for c in coins.as_array().unwrap() {
        let out = ok(&node, "gettxout", json!([c["txid"], c["vout"], false]));
        assert!(
            !out.is_null(),
            "wallet coin {c} is not in the node's UTXO set"
        );
        assert_eq!(sats(&out["value"]), sats(&c["amount"]));
    }
    // And it goes on paying (payments built on blocks the kill took back
    // wait, unconfirmed, until the chain reaches their lock time).
    mine_to(&node, "w", 101);
    let txid = wok(&node, "w", "sendtoaddress", json!([address(&node, "w"), 1]));
    ok(&node, "generatetoaddress", json!([1, address(&node, "w")]));
    assert_eq!(
        wok(&node, "w", "gettransaction", json!([txid]))["confirmations"],
        1
    );
}

#[test]
fn imported_keys_are_found_by_a_rescan_and_spent() {
    use bitcoin::secp256k1::Secp256k1;
    let node = TestNode::start(&[FALLBACK]);
    node.create_wallet("imp");
    let secp = Secp256k1::new();
    let key = bitcoin::PrivateKey::from_slice(&[7u8; 32], bitcoin::Network::Regtest).unwrap();
    let legacy = bitcoin::Address::p2pkh(key.public_key(&secp), bitcoin::Network::Regtest);
    // Mined before the import: only a rescan finds them.
    ok(&node, "generatetoaddress", json!([101, legacy.to_string()]));
    assert_eq!(sats(&wok(&node, "imp", "getbalance", json!([]))), 0);

    let text = format!("combo({})", key.to_wif());
    let sum = ok(&node, "getdescriptorinfo", json!([text]))["checksum"].clone();
    let desc = format!("{text}#{}", sum.as_str().unwrap());
    let missing = wrpc(&node, "imp", "importdescriptors", json!([[{"desc": desc}]])).unwrap_err();
    assert_eq!(missing.0, -3, "{missing:?}");
    let bad = wok(
        &node,
        "imp",
        "importdescriptors",
        json!([[{"desc": text, "timestamp": 0}]]),
    );
    assert_eq!(bad[0]["success"], false, "{bad}");
    assert_eq!(bad[0]["error"]["code"], -5, "{bad}");
    let done = wok(
        &node,
        "imp",
        "importdescriptors",
        json!([[{"desc": desc, "timestamp": 0, "label": "coinbase"}]]),
    );
    assert_eq!(done, json!([{"success": true}]));
    assert_eq!(
        sats(&wok(&node, "imp", "getbalance", json!([]))),
        50 * 100_000_000
    );
    let info = wok(&node, "imp", "getaddressinfo", json!([legacy.to_string()]));
    assert_eq!(info["ismine"], true, "{info}");
    assert_eq!(info["labels"], json!(["coinbase"]));
    let listed = wok(&node, "imp", "listdescriptors", json!([]));
    assert_eq!(
        listed["descriptors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["active"] == false)
            .count(),
        3,
        "{listed}: combo() as its pkh, wpkh and sh(wpkh) forms"
    );
    // Labels: the import's, and one set afterwards.
    let by_label = wok(&node, "imp", "getaddressesbylabel", json!(["coinbase"]));
    assert_eq!(
        by_label[legacy.to_string()],
        json!({"purpose": "receive"}),
        "{by_label}"
    );
    assert_eq!(
        wrpc(&node, "imp", "getaddressesbylabel", json!(["none"]))
            .unwrap_err()
            .0,
        -11
    );
    wok(
        &node,
        "imp",
        "setlabel",
        json!([legacy.to_string(), "mined"]),
    );
    assert!(wok(&node, "imp", "listlabels", json!([]))
        .as_array()
        .unwrap()
        .contains(&json!("mined")));
    assert_eq!(
        sats(&wok(&node, "imp", "getreceivedbylabel", json!(["mined"]))),
        50 * 100_000_000
    );
    // The imported key signs.
    let to = address(&node, "imp");
    let txid = wok(&node, "imp", "sendtoaddress", json!([to, 10]));
    ok(&node, "generatetoaddress", json!([1, legacy.to_string()]));
    assert_eq!(
        wok(&node, "imp", "gettransaction", json!([txid]))["confirmations"],
        1
    );
    // Survives a reload.
    ok(&node, "unloadwallet", json!(["imp"]));
    ok(&node, "loadwallet", json!(["imp"]));
    assert!(sats(&wok(&node, "imp", "getbalance", json!([]))) > 50 * 100_000_000);
    // Imported keys are sealed with the wallet's seed: never stored in the
    // clear, and unusable while an encrypted wallet is locked.
    let db = std::fs::read(node.net_dir().join("wallets/imp/wallet.redb")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains(&key.to_wif()));
    wok(&node, "imp", "encryptwallet", json!(["pw"]));
    assert_eq!(
        wrpc(&node, "imp", "sendtoaddress", json!([to, 60]))
            .unwrap_err()
            .0,
        -13
    );
    wok(&node, "imp", "walletpassphrase", json!(["pw", 60]));
    // More than the seed's own coins: the imported key must sign too.
    let all = wok(&node, "imp", "getbalance", json!([]));
    let txid = wok(
        &node,
        "imp",
        "sendtoaddress",
        json!([to, all, "", "", true]),
    );
    assert!(mempool(&node).contains(&txid.as_str().unwrap().to_string()));
}

#[test]
fn load_on_startup_and_rescans_below_a_wallet_born_at_the_tip() {
    let mut first = TestNode::start(&[FALLBACK]);
    // Coins to a descriptor before the wallet exists.
    let text = "wpkh(tprv8ZgxMBicQKsPd7Uf69XL1XwhmjHopUGep8GuEiJDZmbQz6o58LninorQAfcKZWARbtRtfnLcJ5MQ2AtHcQJCCRUcMRvmDUjyEmNUWwx8UbK/0/*)";
    let sum = ok(&first, "getdescriptorinfo", json!([text]))["checksum"].clone();
    let desc = format!("{text}#{}", sum.as_str().unwrap());
    let paid = ok(&first, "deriveaddresses", json!([desc, [3, 3]]))[0].clone();
    ok(&first, "generatetoaddress", json!([120, paid]));
    let created = ok(
        &first,
        "createwallet",
        json!({"wallet_name": "late", "load_on_startup": true}),
    );
    assert_eq!(created, json!({"name": "late"}));
    let settings = std::fs::read_to_string(first.net_dir().join("settings.json")).unwrap();
    assert!(settings.contains("\"late\""), "{settings}");
    // Born at height 120: the import rescans below its birth.
    let done = wok(
        &first,
        "late",
        "importdescriptors",
        json!([[{"desc": desc, "timestamp": 0}]]),
    );
    assert_eq!(done, json!([{"success": true}]));
    assert_eq!(
        sats(&wok(&first, "late", "getbalance", json!([]))),
        20 * 50 * 100_000_000
    );
    let scanned = wok(&first, "late", "rescanblockchain", json!([100]));
    assert_eq!(scanned, json!({"start_height": 100, "stop_height": 120}));
    assert_eq!(
        wrpc(&first, "late", "rescanblockchain", json!([500]))
            .unwrap_err()
            .0,
        -8
    );

    ok(&first, "stop", json!([]));
    assert!(first.wait_exit(Duration::from_secs(30)).success());
    let datadir = std::mem::replace(&mut first.datadir, tempfile::tempdir().unwrap());
    let node = TestNode::start_in(datadir, &[FALLBACK]);
    wait_for("settings.json's wallet to load", || {
        ok(&node, "listwallets", json!([])) == json!(["late"])
    });
    assert_eq!(
        sats(&wok(&node, "late", "getbalance", json!([]))),
        20 * 50 * 100_000_000
    );
    ok(
        &node,
        "unloadwallet",
        json!({"wallet_name": "late", "load_on_startup": false}),
    );
    let settings = std::fs::read_to_string(node.net_dir().join("settings.json")).unwrap();
    assert!(!settings.contains("\"late\""), "{settings}");
}

/// `bitcoin-wallet -ipcconnect=unix -wallet=NAME` started by hand.
fn attach_by_hand(node: &TestNode, name: &str) -> std::process::Child {
    std::process::Command::new(common::WALLET)
        .args([
            "-regtest",
            &node.datadir_arg(),
            "-ipcconnect=unix",
            &format!("-wallet={name}"),
            FALLBACK,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start bitcoin-wallet")
}

fn listed(node: &TestNode, name: &str) -> bool {
    ok(node, "listwallets", json!([]))
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w == name)
}

#[test]
fn a_wallet_started_by_hand_attaches_serves_its_rpcs_and_detaches() {
    let node = TestNode::start(&[FALLBACK, "-ipcbind=unix"]);
    node.create_wallet("spawned");
    let datadir = node.datadir_arg();
    let (code, out, err) = common::run(
        common::WALLET,
        &["-regtest", &datadir, "-wallet=byhand", "create"],
    );
    assert_eq!(code, 0, "{out}{err}");
    // Refused before connecting: no wallet named, or one that does not exist.
    let (code, _, err) = common::run(common::WALLET, &["-regtest", &datadir, "-ipcconnect=unix"]);
    assert_eq!(code, 1);
    assert!(err.contains("needs -wallet=NAME"), "{err}");
    let (code, _, err) = common::run(
        common::WALLET,
        &["-regtest", &datadir, "-ipcconnect=unix", "-wallet=nosuch"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("Path does not exist"), "{err}");

    let mut hand = attach_by_hand(&node, "byhand");
    let pid = hand.id() as i32;
    wait_for("the attached wallet to register", || {
        listed(&node, "byhand")
    });
    // Not a child of the node's broker, and sandboxed all the same.
    assert!(!wallet_pids(&node).contains(&pid));
    assert_eq!(status_field(pid, "Seccomp:"), "2");
    assert_eq!(status_field(pid, "NoNewPrivs:"), "1");
    assert_eq!(status_field(pid, "CapEff:"), "0000000000000000");
    assert!(node.log().contains(&format!(
        "Wallet \"byhand\" loaded in attached bitcoin-wallet process {pid}"
    )));

    // Its RPCs route to it: it is paid, pays the spawned wallet, and sees both confirmed.
    mine_to(&node, "byhand", 101);
    assert_eq!(
        sats(&wok(&node, "byhand", "getbalance", json!([]))),
        50 * 100_000_000
    );
    let to = address(&node, "spawned");
    let txid = wok(&node, "byhand", "sendtoaddress", json!([to, 1.25]));
    assert_eq!(mempool(&node), vec![txid.as_str().unwrap().to_string()]);
    mine_to(&node, "spawned", 1);
    assert_eq!(
        sats(&wok(&node, "spawned", "getbalance", json!([]))),
        125_000_000
    );
    let fee = sats(&wok(&node, "byhand", "gettransaction", json!([txid]))["fee"]);
    assert!(fee < 0);
    let after = 100 * 100_000_000 - 125_000_000 + fee;
    assert_eq!(sats(&wok(&node, "byhand", "getbalance", json!([]))), after);

    // A second process for it, or loadwallet from the node, is refused.
    let (code, _, err) = common::run(
        common::WALLET,
        &["-regtest", &datadir, "-ipcconnect=unix", "-wallet=byhand"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("Cannot acquire lock"), "{err}");
    assert_eq!(
        rpc(&node, "loadwallet", json!(["byhand"])).unwrap_err().0,
        -35
    );

    // SIGKILL: the node drops it and goes on; attached again, nothing is lost.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = hand.wait();
    wait_for("the node to drop the killed wallet", || {
        !listed(&node, "byhand")
    });
    assert_eq!(
        wrpc(&node, "byhand", "getbalance", json!([]))
            .unwrap_err()
            .0,
        -18
    );
    assert_eq!(ok(&node, "getblockcount", json!([])), 102);
    let mut hand = attach_by_hand(&node, "byhand");
    wait_for("the wallet to attach again", || listed(&node, "byhand"));
    assert_eq!(sats(&wok(&node, "byhand", "getbalance", json!([]))), after);

    // unloadwallet ends the attached process cleanly.
    ok(&node, "unloadwallet", json!(["byhand"]));
    let status = common::wait_timeout(&mut hand, Duration::from_secs(10)).expect("exits");
    assert!(status.success(), "{status}");
    assert!(!listed(&node, "byhand"));

    // Stopping the node ends it too, with its wallet written.
    let mut hand = attach_by_hand(&node, "byhand");
    wait_for("the wallet to attach once more", || listed(&node, "byhand"));
    let mut node = node;
    ok(&node, "stop", json!([]));
    assert!(node.wait_exit(Duration::from_secs(30)).success());
    let status = common::wait_timeout(&mut hand, Duration::from_secs(10)).expect("exits");
    assert!(status.success(), "{status}");
    let (code, out, err) = common::run(
        common::WALLET,
        &["-regtest", &datadir, "-wallet=byhand", "info"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Transactions: 102"), "{out}");
}

#[test]
fn backupwallet_and_restorewallet_go_through_the_broker_inside_the_datadir() {
    let node = TestNode::start(&[FALLBACK]);
    node.create_wallet("w");
    node.create_wallet("other");
    mine_to(&node, "w", 101);
    let root = node.datadir.path().to_path_buf();
    let backup = root.join("w.bak");
    let b = backup.to_string_lossy().to_string();
    assert_eq!(wok(&node, "w", "backupwallet", json!([b])), Value::Null);
    let bytes = std::fs::read(&backup).unwrap();
    assert!(bytes.starts_with(b"redb"), "a redb database");
    // Nothing staged is left in the wallet's directory.
    let wdir = node.net_dir().join("wallets/w");
    assert_eq!(std::fs::read_dir(&wdir).unwrap().count(), 1);

    // Spent after the backup: the restored wallet finds it on the chain.
    let to = address(&node, "other");
    wok(&node, "w", "sendtoaddress", json!([to, 2]));
    mine_to(&node, "other", 1);
    let balance = sats(&wok(&node, "w", "getbalance", json!([])));
    assert!(balance < 100 * 100_000_000 - 200_000_000 && balance > 0);
    let r = ok(&node, "restorewallet", json!(["restored", b, true]));
    assert_eq!(r["name"], "restored");
    assert_eq!(
        sats(&wok(&node, "restored", "getbalance", json!([]))),
        balance
    );
    let settings = std::fs::read_to_string(node.net_dir().join("settings.json")).unwrap();
    assert!(settings.contains("restored"), "{settings}");

    // Core's errors for restores, and nothing made for a bad one.
    let err = rpc(&node, "restorewallet", json!(["restored", b])).unwrap_err();
    assert_eq!(err.0, -36, "{err:?}");
    assert!(err
        .1
        .starts_with("Failed to restore wallet. Database file exists in"));
    let missing = root.join("nope.bak").to_string_lossy().to_string();
    let err = rpc(&node, "restorewallet", json!(["r2", missing])).unwrap_err();
    assert_eq!(err, (-8, "Backup file does not exist".to_string()));
    let junk = root.join("junk.bak");
    std::fs::write(&junk, "invalid_wallet_content").unwrap();
    let err = rpc(&node, "restorewallet", json!(["r2", junk])).unwrap_err();
    assert_eq!(err.0, -18, "{err:?}");
    assert!(
        err.1.ends_with("Data is not in recognized format."),
        "{err:?}"
    );
    assert!(!node.net_dir().join("wallets/r2").exists());
    let err = rpc(&node, "restorewallet", json!(["", b])).unwrap_err();
    assert_eq!(err, (-8, "Wallet name cannot be empty".to_string()));

    // Backups stay inside the datadir, out of wallets and chain data, and
    // never replace a file that is not a wallet backup.
    let outside = tempfile::tempdir().unwrap();
    let notes = root.join("notes.txt");
    std::fs::write(&notes, "mine").unwrap();
    for bad in [
        outside.path().join("w.bak"),
        wdir.join("wallet.redb"),
        node.net_dir().join("wallets"),
        node.net_dir().join("blocks/w.bak"),
        root.join("bitcoin.conf"),
        notes.clone(),
    ] {
        let err = wrpc(&node, "w", "backupwallet", json!([bad])).unwrap_err();
        assert_eq!(err.0, -4, "{bad:?}: {err:?}");
        assert!(err.1.contains("backup failed"), "{err:?}");
    }
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine");
    assert!(!outside.path().join("w.bak").exists());
    assert!(!root.join("bitcoin.conf").exists());
    assert_eq!(std::fs::read_dir(&wdir).unwrap().count(), 1);
    // A second backup replaces the first.
    wok(&node, "w", "backupwallet", json!([b]));
    assert_ne!(std::fs::read(&backup).unwrap(), bytes);
}

#[test]
fn coins_of_another_address_type_keep_the_replaceable_sequence() {
    let node = TestNode::start(&[FALLBACK]);
    node.create_wallet("w");
    // Every coin is on a legacy address; payments from the default (bech32)
    // account then spend them as the other account's inputs.
    let legacy = wok(&node, "w", "getnewaddress", json!(["", "legacy"]));
    ok(&node, "generatetoaddress", json!([101, legacy]));
    let to = address(&node, "w");
    let raw = ok(&node, "createrawtransaction", json!([[], {to.clone(): 1}]));
    for (options, sequence) in [
        (json!({"replaceable": true}), 0xffff_fffd_u64),
        (json!({}), 0xffff_fffd),
        (json!({"replaceable": false}), 0xffff_fffe),
    ] {
        let funded = wok(&node, "w", "fundrawtransaction", json!([raw, options]));
        let tx = ok(&node, "decoderawtransaction", json!([funded["hex"]]));
        for input in tx["vin"].as_array().unwrap() {
            assert_eq!(
                input["sequence"].as_u64(),
                Some(sequence),
                "{options}: {tx}"
            );
        }
    }
    let txid = wok(&node, "w", "sendtoaddress", json!([to, 1]));
    let tx = wok(&node, "w", "gettransaction", json!([txid]));
    assert_eq!(tx["bip125-replaceable"], "yes", "{tx}");
}
