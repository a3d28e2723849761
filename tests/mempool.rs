//! The mempool through the real node: transactions spending P2WSH(OP_TRUE)
//! coinbases go through sendrawtransaction and testmempoolaccept with Core's
//! answers and reject reasons, chains show as ancestors and descendants,
//! full-RBF replacement, block templates and mined blocks take them, the
//! mempool survives a restart through mempool.dat, three nodes in a line
//! relay transactions and blocks, and a longer partition's branch moves a
//! mined transaction back to the mempool.

mod common;
#[path = "support/op_true.rs"]
mod op_true;

use std::time::Duration;

use bitcoin::hashes::Hash;
use bitcoin::{OutPoint, ScriptBuf, Transaction, Txid};
use common::{
    free_port, members, ok, rpc, wait_for, wait_for_relay, wait_for_tx_relay, OrdersPeer, TestNode,
};
use op_true::{address, hex, spend};
use serde_json::{json, Value};

/// The coinbase outpoint of block `height`.
fn coinbase_at(node: &TestNode, height: u64) -> OutPoint {
    let hash = ok(node, "getblockhash", json!([height]));
    let block = ok(node, "getblock", json!([hash, 1]));
    let txid: Txid = block["tx"][0].as_str().unwrap().parse().unwrap();
    OutPoint::new(txid, 0)
}

fn mempool(node: &TestNode) -> Vec<String> {
    let v = ok(node, "getrawmempool", json!([]));
    let mut ids: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// A BTC amount from an answer (amounts keep Core's 8 decimals as text).
fn btc(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not an amount: {v}"))
}

const COINBASE: u64 = 50 * 100_000_000;

#[test]
fn transactions_enter_link_replace_and_get_mined() {
    let node = TestNode::start(&["-disablewallet"]);
    // No block assembled yet: no stats of one.
    let info = ok(&node, "getmininginfo", json!([]));
    assert!(info.get("currentblocktx").is_none(), "{info}");
    assert!(info.get("currentblockweight").is_none(), "{info}");
    ok(&node, "generatetoaddress", json!([101, address()]));
    // scantxoutset finds the coinbases by descriptor (what Core's MiniWallet does).
    let scan = ok(
        &node,
        "scantxoutset",
        json!(["start", [format!("addr({})", address())]]),
    );
    assert_eq!(scan["success"], true);
    assert_eq!(scan["unspents"].as_array().unwrap().len(), 101);
    assert_eq!(btc(&scan["total_amount"]), 5050.0);
    assert_eq!(
        scan["unspents"][0]["desc"]
            .as_str()
            .unwrap()
            .split('#')
            .next(),
        Some(format!("addr({})", address())).as_deref()
    );
    assert_eq!(ok(&node, "scantxoutset", json!(["status"])), Value::Null);
    assert_eq!(
        rpc(&node, "scantxoutset", json!(["begin"])).unwrap_err(),
        (-8, "Invalid action 'begin'".into())
    );

    // testmempoolaccept, then sendrawtransaction.
    let parent = spend(&[coinbase_at(&node, 1)], COINBASE, 2, 10_000);
    let tested = ok(&node, "testmempoolaccept", json!([[hex(&parent)]]));
    assert_eq!(tested[0]["allowed"], true, "{tested}");
    assert_eq!(tested[0]["txid"], parent.compute_txid().to_string());
    assert_eq!(btc(&tested[0]["fees"]["base"]), 0.0001);
    let vsize = tested[0]["vsize"].as_i64().unwrap();
    assert_eq!(vsize, parent.vsize() as i64);
    // Current Core's two sizes behind it (no sigops to adjust for here).
    assert_eq!(tested[0]["vsize_bip141"], json!(parent.vsize()));
    assert_eq!(tested[0]["vsize_adjusted"], json!(vsize));
    assert!(
        mempool(&node).is_empty(),
        "testmempoolaccept changes nothing"
    );
    let txid = ok(&node, "sendrawtransaction", json!([hex(&parent)]));
    assert_eq!(txid, parent.compute_txid().to_string());
    // Sending it again answers the txid (Core re-announces it).
    assert_eq!(ok(&node, "sendrawtransaction", json!([hex(&parent)])), txid);
    // ...but testing it again says it is there.
    let again = ok(&node, "testmempoolaccept", json!([[hex(&parent)]]));
    assert_eq!(again[0]["reject-reason"], "txn-already-in-mempool");

    // A child: ancestors, descendants and the entry's fields.
    let child = spend(
        &[OutPoint::new(parent.compute_txid(), 0)],
        (COINBASE - 10_000) / 2,
        1,
        5_000,
    );
    ok(&node, "sendrawtransaction", json!([hex(&child)]));
    let (p, c) = (
        parent.compute_txid().to_string(),
        child.compute_txid().to_string(),
    );
    assert_eq!(ok(&node, "getmempoolancestors", json!([c])), json!([p]));
    assert_eq!(ok(&node, "getmempooldescendants", json!([p])), json!([c]));
    let entry = ok(&node, "getmempoolentry", json!([c]));
    assert_eq!(entry["ancestorcount"], 2);
    assert_eq!(entry["descendantcount"], 1);
    assert_eq!(entry["depends"], json!([p]));
    assert_eq!(btc(&entry["fees"]["base"]), 0.00005);
    assert_eq!(btc(&entry["fees"]["ancestor"]), 0.00015);
    assert_eq!(
        ok(&node, "getmempoolentry", json!([p]))["spentby"],
        json!([c])
    );
    let info = ok(&node, "getmempoolinfo", json!([]));
    assert_eq!(info["size"], 2);
    assert_eq!(info["loaded"], true);
    assert_eq!(btc(&info["total_fee"]), 0.00015);
    assert_eq!(btc(&info["minrelaytxfee"]), 0.000001);
    let cluster = ok(&node, "getmempoolcluster", json!([p]));
    assert_eq!(cluster["txcount"], 2);
    let verbose = ok(&node, "getrawmempool", json!([true]));
    assert_eq!(
        verbose[&c]["ancestorsize"].as_i64().unwrap(),
        vsize + child.vsize() as i64
    );
    let seq = ok(&node, "getrawmempool", json!([false, true]));
    assert!(seq["mempool_sequence"].as_u64().unwrap() >= 2, "{seq}");
    assert_eq!(
        rpc(
            &node,
            "getmempoolentry",
            json!([Txid::all_zeros().to_string()])
        )
        .unwrap_err(),
        (-5, "Transaction not in mempool".into())
    );

    // The outputs show in gettxout with the mempool, the spent one is gone.
    assert_eq!(ok(&node, "gettxout", json!([p, 0])), Value::Null);
    assert_eq!(ok(&node, "gettxout", json!([p, 1]))["confirmations"], 0);
    assert!(ok(&node, "getrawtransaction", json!([c])).is_string());

    // Rejections with Core's codes and reasons.
    let immature = spend(&[coinbase_at(&node, 100)], COINBASE, 1, 10_000);
    assert_eq!(
        rpc(&node, "sendrawtransaction", json!([hex(&immature)])).unwrap_err(),
        (
            -26,
            "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 2".into()
        )
    );
    let orphan = spend(&[OutPoint::new(Txid::all_zeros(), 3)], COINBASE, 1, 10_000);
    assert_eq!(
        rpc(&node, "sendrawtransaction", json!([hex(&orphan)])).unwrap_err(),
        (-25, "bad-txns-inputs-missingorspent".into())
    );
    assert_eq!(
        ok(&node, "testmempoolaccept", json!([[hex(&orphan)]]))[0]["reject-reason"],
        "missing-inputs"
    );
    let free = spend(&[coinbase_at(&node, 2)], COINBASE, 1, 0);
    let (code, msg) = rpc(&node, "sendrawtransaction", json!([hex(&free)])).unwrap_err();
    assert_eq!(code, -26);
    assert!(msg.starts_with("min relay fee not met, 0 < "), "{msg}");
    let greedy = spend(&[coinbase_at(&node, 2)], COINBASE, 1, 100_000_000);
    assert_eq!(
        rpc(&node, "sendrawtransaction", json!([hex(&greedy)])).unwrap_err(),
        (
            -25,
            "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)".into()
        )
    );
    assert_eq!(
        ok(&node, "testmempoolaccept", json!([[hex(&greedy)]]))[0]["reject-reason"],
        "max-fee-exceeded"
    );
    let (code, msg) = rpc(&node, "sendrawtransaction", json!(["00"])).unwrap_err();
    assert_eq!(
        (code, msg.as_str()),
        (
            -22,
            "TX decode failed. Make sure the tx has at least one input."
        )
    );

    // Replacement: paying less than what it evicts fails, paying more wins
    // and takes the child with the parent.
    let cheap = spend(&[coinbase_at(&node, 1)], COINBASE, 1, 12_000);
    let (code, msg) = rpc(&node, "sendrawtransaction", json!([hex(&cheap)])).unwrap_err();
    assert_eq!(code, -26);
    assert!(
        msg.starts_with("insufficient fee, rejecting replacement"),
        "{msg}"
    );
    let rich = spend(&[coinbase_at(&node, 1)], COINBASE, 1, 40_000);
    let r = ok(&node, "sendrawtransaction", json!([hex(&rich)]));
    assert_eq!(mempool(&node), vec![r.as_str().unwrap().to_string()]);

    // Prioritisation is recorded and shows in the modified fee.
    assert_eq!(
        ok(&node, "prioritisetransaction", json!([r, 0, 1000])),
        true
    );
    let prio = ok(&node, "getprioritisedtransactions", json!([]));
    assert_eq!(prio[r.as_str().unwrap()]["fee_delta"], 1000);
    assert_eq!(prio[r.as_str().unwrap()]["in_mempool"], true);
    assert_eq!(
        btc(&ok(&node, "getmempoolentry", json!([r]))["fees"]["modified"]),
        0.00041
    );

    // The block template carries it; mining takes it out of the mempool.
    let gbt = ok(&node, "getblocktemplate", json!([{"rules": ["segwit"]}]));
    assert_eq!(gbt["transactions"][0]["txid"], r);
    assert_eq!(gbt["transactions"][0]["fee"], 40_000);
    assert_eq!(gbt["coinbasevalue"], COINBASE + 40_000, "{gbt}");
    let info = ok(&node, "getmininginfo", json!([]));
    assert_eq!(info["currentblocktx"], 1);
    assert_eq!(
        info["currentblockweight"],
        8000 + rich.weight().to_wu(),
        "{info}"
    );
    let mined = ok(&node, "generatetoaddress", json!([1, address()]));
    let block = ok(&node, "getblock", json!([mined[0], 1]));
    assert_eq!(block["tx"][1], r);
    assert!(mempool(&node).is_empty());
    assert_eq!(ok(&node, "getmininginfo", json!([]))["pooledtx"], 0);
    // Now confirmed: sending it again says so.
    assert_eq!(
        rpc(&node, "sendrawtransaction", json!([hex(&rich)])).unwrap_err(),
        (-27, "Transaction outputs already in utxo set".into())
    );
}

#[test]
fn the_mempool_survives_a_restart_through_mempool_dat() {
    let mut node = TestNode::start(&["-disablewallet"]);
    ok(&node, "generatetoaddress", json!([101, address()]));
    let tx = spend(&[coinbase_at(&node, 1)], COINBASE, 1, 10_000);
    let txid = ok(&node, "sendrawtransaction", json!([hex(&tx)]));
    ok(&node, "prioritisetransaction", json!([txid, 0, 777]));
    let saved = ok(&node, "savemempool", json!([]));
    let file = node.net_dir().join("mempool.dat");
    assert_eq!(saved["filename"], file.display().to_string());
    assert!(file.is_file());
    assert!(!node.net_dir().join("mempool.dat.new").exists());
    ok(&node, "stop", json!([]));
    assert!(node.wait_exit(Duration::from_secs(20)).success());

    let datadir = std::mem::replace(&mut node.datadir, tempfile::tempdir().unwrap());
    let node = TestNode::start_in(datadir, &["-disablewallet"]);
    wait_for("the mempool to load", || {
        ok(&node, "getmempoolinfo", json!([]))["loaded"] == true
    });
    assert_eq!(
        mempool(&node),
        vec![txid.as_str().unwrap().to_string()],
        "{}",
        node.log()
    );
    assert_eq!(
        btc(&ok(&node, "getmempoolentry", json!([txid]))["fees"]["modified"]),
        0.00010777
    );
    assert!(
        node.log()
            .contains("Imported mempool transactions from file: 1 succeeded"),
        "{}",
        node.log()
    );

    // -persistmempool=0 neither loads nor saves.
    let datadir = {
        let mut node = node;
        node.stop_with(libc::SIGTERM, Duration::from_secs(20));
        std::mem::replace(&mut node.datadir, tempfile::tempdir().unwrap())
    };
    let node = TestNode::start_in(datadir, &["-disablewallet", "-persistmempool=0"]);
    assert!(mempool(&node).is_empty());
    assert_eq!(ok(&node, "getmempoolinfo", json!([]))["loaded"], true);
}

#[test]
fn invalidateblock_sends_transactions_back_and_reconsider_and_precious_choose_tips() {
    let mut node = TestNode::start(&["-disablewallet", "-persistmempool=0"]);
    ok(&node, "generatetoaddress", json!([101, address()]));
    let tx = spend(&[coinbase_at(&node, 1)], COINBASE, 1, 10_000);
    let txid = ok(&node, "sendrawtransaction", json!([hex(&tx)]));
    let mined = ok(&node, "generatetoaddress", json!([2, address()]));
    assert!(mempool(&node).is_empty());
    let tips = |node: &TestNode| ok(node, "getchaintips", json!([]));
    // Block 102 (with the transaction) and 103 leave the chain; the
    // transaction is back in the mempool; the branch is listed invalid.
    assert_eq!(ok(&node, "invalidateblock", json!([mined[0]])), Value::Null);
    assert_eq!(ok(&node, "getblockcount", json!([])), 101);
    assert_eq!(mempool(&node), vec![txid.as_str().unwrap().to_string()]);
    let active = ok(&node, "getbestblockhash", json!([]));
    let invalid_branch = json!([
        {"height": 103, "hash": mined[1], "branchlen": 2, "status": "invalid"},
        {"height": 101, "hash": active, "branchlen": 0, "status": "active"},
    ]);
    assert_eq!(tips(&node), invalid_branch);
    assert_eq!(
        rpc(&node, "invalidateblock", json!(["00".repeat(32)])).unwrap_err(),
        (-5, "Block not found".into())
    );
    // The kernel keeps the mark: after a restart the branch is still
    // invalid and the chain stays at 101.
    ok(&node, "stop", json!([]));
    assert!(node.wait_exit(Duration::from_secs(20)).success());
    let datadir = std::mem::replace(&mut node.datadir, tempfile::tempdir().unwrap());
    let node = TestNode::start_in(datadir, &["-disablewallet", "-persistmempool=0"]);
    assert_eq!(tips(&node), invalid_branch);
    // reconsiderblock: the branch is back, and the transaction mined again.
    ok(&node, "sendrawtransaction", json!([hex(&tx)]));
    assert_eq!(ok(&node, "reconsiderblock", json!([mined[0]])), Value::Null);
    assert_eq!(ok(&node, "getbestblockhash", json!([])), mined[1]);
    assert!(mempool(&node).is_empty());
    // preciousblock: of two tips with equal work, the precious one wins.
    ok(&node, "invalidateblock", json!([mined[1]]));
    // (Paid elsewhere: the same coinbase would make the same, invalid, block.)
    let elsewhere = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
    let other = ok(&node, "generatetoaddress", json!([1, elsewhere]));
    assert_eq!(ok(&node, "getbestblockhash", json!([])), other[0]);
    // Reconsidered, the first-received of the two equal tips wins again.
    ok(&node, "reconsiderblock", json!([mined[1]]));
    assert_eq!(ok(&node, "getbestblockhash", json!([])), mined[1]);
    assert_eq!(ok(&node, "preciousblock", json!([other[0]])), Value::Null);
    assert_eq!(ok(&node, "getbestblockhash", json!([])), other[0]);
    let listed = tips(&node);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed
        .contains(&json!({"height": 103, "hash": other[0], "branchlen": 0, "status": "active"})));
    assert!(listed.contains(
        &json!({"height": 103, "hash": mined[1], "branchlen": 1, "status": "valid-fork"})
    ));
}

#[test]
fn three_nodes_in_a_line_sync_relay_and_mine_transactions() {
    // a <- b <- c: b connects to a and listens for c.
    let (port_a, port_b) = (free_port(), free_port());
    let a = TestNode::start(&["-disablewallet", &format!("-port={port_a}")]);
    ok(&a, "generatetoaddress", json!([101, address()]));
    let b = TestNode::start(&[
        "-disablewallet",
        "-listen=1",
        "-debug=cmpctblock",
        &format!("-port={port_b}"),
        &format!("-connect=127.0.0.1:{port_a}"),
    ]);
    let c = TestNode::start(&[
        "-disablewallet",
        "-listen=0",
        &format!("-connect=127.0.0.1:{port_b}"),
    ]);
    for (name, node) in [("b", &b), ("c", &c)] {
        wait_for(&format!("{name} to sync"), || {
            ok(node, "getblockcount", json!([])) == json!(101)
        });
    }
    wait_for_tx_relay(&[&a, &b, &c]);
    // A transaction sent to a crosses b to c.
    let tx = spend(&[coinbase_at(&a, 1)], COINBASE, 1, 10_000);
    let txid = ok(&a, "sendrawtransaction", json!([hex(&tx)]));
    let id = txid.as_str().unwrap().to_string();
    for (name, node) in [("b", &b), ("c", &c)] {
        wait_for_relay(&format!("{name} to get a's transaction"), || {
            mempool(node).contains(&id)
        });
    }
    // And back: c's own transaction reaches a.
    let tx2 = spend(&[coinbase_at(&c, 2)], COINBASE, 1, 10_000);
    let txid2 = ok(&c, "sendrawtransaction", json!([hex(&tx2)]));
    wait_for_relay("a to get c's transaction", || {
        mempool(&a).contains(&txid2.as_str().unwrap().to_string())
    });
    // c mines both; every mempool empties when the block arrives.
    let mined = ok(&c, "generatetoaddress", json!([1, address()]));
    assert_eq!(
        ok(&c, "getblock", json!([mined[0], 1]))["tx"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    for (name, node) in [("a", &a), ("b", &b), ("c", &c)] {
        wait_for(&format!("{name}'s mempool to empty"), || {
            mempool(node).is_empty()
        });
        assert_eq!(ok(node, "getbestblockhash", json!([])), mined[0]);
    }
    // b had both transactions: it rebuilt c's block from its compact form.
    let hash = mined[0].as_str().unwrap();
    b.wait_for_log(
        &format!("Successfully reconstructed block {hash} with 3 txn"),
        Duration::from_secs(10),
    );
    // A block with a transaction nobody was sent: b asks c for it.
    let unseen = spend(&[coinbase_at(&c, 3)], COINBASE, 1, 10_000);
    let made = ok(&c, "generateblock", json!([address(), [hex(&unseen)]]));
    for (name, node) in [("a", &a), ("b", &b)] {
        wait_for(&format!("{name} to take the block"), || {
            ok(node, "getbestblockhash", json!([])) == made["hash"]
        });
    }
    b.wait_for_log(
        "1 of 2 transactions missing, asking peer",
        Duration::from_secs(10),
    );
}

#[test]
fn a_longer_partition_wins_and_moves_mined_transactions_back_to_the_mempool() {
    let port = free_port();
    let a = TestNode::start(&["-disablewallet", &format!("-port={port}")]);
    ok(&a, "generatetoaddress", json!([101, address()]));
    let peer = format!("127.0.0.1:{port}");
    let b = TestNode::start(&["-disablewallet", "-listen=0", &format!("-connect={peer}")]);
    wait_for("b to sync", || {
        ok(&b, "getblockcount", json!([])) == json!(101)
    });
    wait_for_tx_relay(&[&a, &b]);
    // Partition: b drops a.
    let id = ok(&b, "getpeerinfo", json!([]))[0]["id"].clone();
    ok(&b, "disconnectnode", json!({"nodeid": id}));
    wait_for("the partition", || {
        ok(&a, "getconnectioncount", json!([])) == json!(0)
    });
    // a mines a transaction in one block; b mines two empty ones.
    let tx = spend(&[coinbase_at(&a, 1)], COINBASE, 1, 10_000);
    let txid = ok(&a, "sendrawtransaction", json!([hex(&tx)]));
    ok(&a, "generatetoaddress", json!([1, address()]));
    assert!(mempool(&a).is_empty());
    ok(&b, "generatetoaddress", json!([2, address()]));
    let best = ok(&b, "getbestblockhash", json!([]));
    // Healed: a takes b's longer branch and gets the transaction back.
    ok(&b, "addnode", json!([peer, "onetry"]));
    wait_for("a to reorg to b's branch", || {
        ok(&a, "getbestblockhash", json!([])) == best
    });
    wait_for("the transaction back in a's mempool", || {
        mempool(&a).contains(&txid.as_str().unwrap().to_string())
    });
    // Reorged transactions are not announced on their own (as Core);
    // sending it again re-announces it, and b mines it.
    assert_eq!(ok(&a, "sendrawtransaction", json!([hex(&tx)])), txid);
    wait_for_relay("b to get it", || {
        mempool(&b).contains(&txid.as_str().unwrap().to_string())
    });
    let mined = ok(&b, "generatetoaddress", json!([1, address()]));
    assert_eq!(ok(&b, "getblock", json!([mined[0], 1]))["tx"][1], txid);
    wait_for("a to follow", || mempool(&a).is_empty());
}

#[test]
fn an_orphan_waits_for_its_parent_from_a_foreign_peer() {
    let port = free_port();
    let node = TestNode::start(&["-disablewallet", &format!("-port={port}")]);
    ok(&node, "generatetoaddress", json!([101, address()]));
    let parent = spend(&[coinbase_at(&node, 1)], COINBASE, 1, 10_000);
    let child = spend(
        &[OutPoint::new(parent.compute_txid(), 0)],
        COINBASE - 10_000,
        1,
        10_000,
    );
    // A peer that stays connected: its orphans stay while it does.
    let mut peer = OrdersPeer::connect(port, true);
    // The parent stripped of its witness is refused, but not remembered:
    // its txid stands for the good parent too (Core's TX_WITNESS_STRIPPED).
    let mut stripped = parent.clone();
    stripped.input[0].witness.clear();
    assert_eq!(peer.order(&format!("tx {}", hex(&stripped))), "tx sent");
    assert!(mempool(&node).is_empty());
    // The child: it waits in the orphanage (a parent refused outright would
    // have made it worthless).
    assert_eq!(peer.order(&format!("tx {}", hex(&child))), "tx sent");
    assert!(mempool(&node).is_empty());
    let orphans = ok(&node, "getorphantxs", json!([1]));
    assert_eq!(
        orphans[0]["txid"],
        child.compute_txid().to_string(),
        "{orphans}"
    );
    assert_eq!(orphans[0]["vsize"], child.vsize());
    // Its parent arrives: both are in.
    assert_eq!(peer.order(&format!("tx {}", hex(&parent))), "tx sent");
    wait_for("parent and child in the mempool", || {
        mempool(&node).len() == 2
    });
    assert_eq!(ok(&node, "getorphantxs", json!([])), json!([]));
    assert_eq!(
        rpc(&node, "getorphantxs", json!([true])).unwrap_err(),
        (-3, "Verbosity was boolean but only integer allowed".into())
    );
    // An orphan whose parent nobody has: it leaves with the only peer
    // that sent it (Core's EraseForPeer).
    let stray = spend(
        &[OutPoint::new(Txid::from_byte_array([7; 32]), 0)],
        COINBASE,
        1,
        10_000,
    );
    assert_eq!(peer.order(&format!("tx {}", hex(&stray))), "tx sent");
    assert_eq!(
        ok(&node, "getorphantxs", json!([]))[0],
        json!(stray.compute_txid().to_string())
    );
    peer.finish();
    wait_for("the orphan to leave with its peer", || {
        ok(&node, "getorphantxs", json!([])) == json!([])
    });
}

#[test]
fn version_3_transactions_follow_trucs_topology_rules() {
    let node = TestNode::start(&["-disablewallet"]);
    ok(&node, "generatetoaddress", json!([101, address()]));
    let v3 = |mut tx: Transaction| {
        tx.version = bitcoin::transaction::Version(3);
        tx
    };
    let parent = v3(spend(&[coinbase_at(&node, 1)], COINBASE, 2, 10_000));
    ok(&node, "sendrawtransaction", json!([hex(&parent)]));
    let each = parent.output[0].value.to_sat();
    let child = v3(spend(
        &[OutPoint::new(parent.compute_txid(), 0)],
        each,
        1,
        10_000,
    ));
    ok(&node, "sendrawtransaction", json!([hex(&child)]));
    // A second child of the same parent: the parent may have one only, so
    // the newcomer must replace the first child under the RBF rules (Core's
    // sibling eviction). Paying the same fee is not enough.
    let second = v3(spend(
        &[OutPoint::new(parent.compute_txid(), 1)],
        each,
        1,
        10_000,
    ));
    let (code, msg) = rpc(&node, "sendrawtransaction", json!([hex(&second)])).unwrap_err();
    assert_eq!(code, -26);
    let expected = format!(
        "insufficient fee (including sibling eviction), rejecting replacement {}, not enough additional fees to relay; 0.00 < ",
        second.compute_txid()
    );
    assert!(msg.starts_with(&expected), "{msg}");
    // Paying more evicts the first child.
    let third = v3(spend(
        &[OutPoint::new(parent.compute_txid(), 1)],
        each,
        1,
        20_000,
    ));
    let tested = ok(&node, "testmempoolaccept", json!([[hex(&third)]]));
    assert_eq!(tested[0]["allowed"], json!(true), "{tested}");
    ok(&node, "sendrawtransaction", json!([hex(&third)]));
    let mut pool: Vec<String> =
        serde_json::from_value(ok(&node, "getrawmempool", json!([]))).unwrap();
    pool.sort();
    let mut expected = vec![
        parent.compute_txid().to_string(),
        third.compute_txid().to_string(),
    ];
    expected.sort();
    assert_eq!(pool, expected, "the first child was evicted");
    // A version 2 transaction may not spend an unconfirmed version 3 one.
    let v2_child = spend(&[OutPoint::new(parent.compute_txid(), 1)], each, 1, 10_000);
    let tested = ok(&node, "testmempoolaccept", json!([[hex(&v2_child)]]));
    assert_eq!(tested[0]["reject-reason"], "TRUC-violation");
    assert!(tested[0]["reject-details"]
        .as_str()
        .unwrap()
        .contains("cannot spend from version=3 tx"));
}

#[test]
fn a_child_pays_for_its_parent_in_a_package() {
    let node = TestNode::start(&["-disablewallet"]);
    ok(&node, "generatetoaddress", json!([101, address()]));
    let parent = spend(&[coinbase_at(&node, 1)], COINBASE, 1, 0);
    let (code, msg) = rpc(&node, "sendrawtransaction", json!([hex(&parent)])).unwrap_err();
    assert_eq!(code, -26);
    assert!(msg.starts_with("min relay fee not met"), "{msg}");
    let child = spend(
        &[OutPoint::new(parent.compute_txid(), 0)],
        COINBASE,
        1,
        20_000,
    );
    let result = ok(&node, "submitpackage", json!([[hex(&parent), hex(&child)]]));
    assert_eq!(result["package_msg"], "success", "{result}");
    let (pw, cw) = (
        parent.compute_wtxid().to_string(),
        child.compute_wtxid().to_string(),
    );
    let parent_result = &result["tx-results"][&pw];
    assert_eq!(parent_result["txid"], parent.compute_txid().to_string());
    assert_eq!(btc(&parent_result["fees"]["base"]), 0.0);
    // Both are judged on the package's fee rate.
    assert_eq!(
        parent_result["fees"]["effective-feerate"],
        result["tx-results"][&cw]["fees"]["effective-feerate"]
    );
    assert_eq!(parent_result["fees"]["effective-includes"], json!([pw, cw]));
    assert_eq!(mempool(&node).len(), 2);
    // A package whose parts do not form child-with-parents is refused.
    let stranger = spend(&[coinbase_at(&node, 2)], COINBASE, 1, 10_000);
    assert_eq!(
        rpc(
            &node,
            "submitpackage",
            json!([[hex(&stranger), hex(&child)]])
        )
        .unwrap_err(),
        (
            -25,
            "package topology disallowed. not child-with-parents or parents depend on each other."
                .into()
        )
    );
}

#[test]
fn packages_follow_cores_package_rules() {
    let node = TestNode::start(&["-disablewallet"]);
    ok(&node, "generatetoaddress", json!([110, address()]));
    let parent = spend(&[coinbase_at(&node, 1)], COINBASE, 1, 10_000);
    let child = spend(
        &[OutPoint::new(parent.compute_txid(), 0)],
        COINBASE - 10_000,
        1,
        10_000,
    );
    let (ph, ch) = (hex(&parent), hex(&child));

    // testmempoolaccept of a package: the child sees its parent, each is
    // judged on its own fee, and nothing enters the pool.
    let tested = ok(&node, "testmempoolaccept", json!([[ph, ch]]));
    for (row, tx) in tested.as_array().unwrap().iter().zip([&parent, &child]) {
        assert_eq!(row["allowed"], json!(true), "{tested}");
        assert_eq!(row["wtxid"], tx.compute_wtxid().to_string());
        assert_eq!(row["vsize_bip141"], json!(tx.vsize()));
        assert_eq!(btc(&row["fees"]["base"]), 0.0001);
        assert_eq!(
            row["fees"]["effective-includes"],
            json!([tx.compute_wtxid().to_string()])
        );
    }
    assert!(mempool(&node).is_empty());
    // Out of order: a package error on every row and no verdicts.
    let tested = ok(&node, "testmempoolaccept", json!([[ch, ph]]));
    for row in tested.as_array().unwrap() {
        assert_eq!(row["package-error"], "package-not-sorted", "{tested}");
        assert!(row.get("allowed").is_none(), "{tested}");
    }
    // A parent short of fee fails, and its child is not judged.
    let free_parent = spend(&[coinbase_at(&node, 2)], COINBASE, 1, 0);
    let paying_child = spend(
        &[OutPoint::new(free_parent.compute_txid(), 0)],
        COINBASE,
        1,
        20_000,
    );
    let tested = ok(
        &node,
        "testmempoolaccept",
        json!([[hex(&free_parent), hex(&paying_child)]]),
    );
    assert_eq!(tested[0]["allowed"], json!(false), "{tested}");
    assert_eq!(tested[0]["reject-reason"], "min relay fee not met");
    assert!(tested[1].get("allowed").is_none(), "{tested}");

    // submitpackage's maxfeerate: the parent goes over it alone, so the
    // package stops there and the child lacks its input.
    let result = ok(&node, "submitpackage", json!([[ph, ch], 0.00001]));
    assert_eq!(result["package_msg"], "transaction failed", "{result}");
    let rows = &result["tx-results"];
    assert_eq!(
        rows[parent.compute_wtxid().to_string()]["error"],
        "max feerate exceeded"
    );
    assert_eq!(
        rows[child.compute_wtxid().to_string()]["error"],
        "bad-txns-inputs-missingorspent"
    );
    assert!(mempool(&node).is_empty());

    // A version 3 parent with a version 2 child: Core's package TRUC check
    // refuses the package as a whole.
    let mut truc_parent = spend(&[coinbase_at(&node, 3)], COINBASE, 1, 0);
    truc_parent.version = bitcoin::transaction::Version(3);
    let v2_child = spend(
        &[OutPoint::new(truc_parent.compute_txid(), 0)],
        COINBASE,
        1,
        20_000,
    );
    let result = ok(
        &node,
        "submitpackage",
        json!([[hex(&truc_parent), hex(&v2_child)]]),
    );
    let expected = format!(
        "TRUC-violation, non-version=3 tx {} (wtxid={}) cannot spend from version=3 tx {} (wtxid={})",
        v2_child.compute_txid(),
        v2_child.compute_wtxid(),
        truc_parent.compute_txid(),
        truc_parent.compute_wtxid()
    );
    assert_eq!(result["package_msg"], expected, "{result}");
    // Each keeps its own refusal from when it was tried alone.
    let parent_error = result["tx-results"][truc_parent.compute_wtxid().to_string()]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        parent_error.starts_with("min relay fee not met"),
        "{result}"
    );
    assert!(mempool(&node).is_empty());

    // Within the limit, the package goes in and both rows carry the sizes.
    let result = ok(&node, "submitpackage", json!([[ph, ch], 0.5]));
    assert_eq!(result["package_msg"], "success", "{result}");
    let row = &result["tx-results"][child.compute_wtxid().to_string()];
    assert_eq!(row["vsize_adjusted"], row["vsize"]);
    assert_eq!(row["vsize_bip141"], json!(child.vsize()));
    assert_eq!(mempool(&node).len(), 2);
    // Submitted again: both already there, without an effective fee rate.
    let again = ok(&node, "submitpackage", json!([[ph, ch]]));
    assert_eq!(again["package_msg"], "success", "{again}");
    let row = &again["tx-results"][parent.compute_wtxid().to_string()];
    assert!(row["fees"].get("effective-feerate").is_none(), "{again}");
    assert_eq!(btc(&row["fees"]["base"]), 0.0001);

    // Who spends what, from the mempool (Core's gettxspendingprevout).
    let parent_in = parent.input[0].previous_output;
    let child_out = json!({"txid": child.compute_txid().to_string(), "vout": 0});
    let spends = ok(
        &node,
        "gettxspendingprevout",
        json!([
            [{"txid": parent_in.txid.to_string(), "vout": parent_in.vout}, child_out],
            {"return_spending_tx": true}
        ]),
    );
    assert_eq!(spends[0]["spendingtxid"], parent.compute_txid().to_string());
    assert_eq!(spends[0]["spendingtx"], json!(ph));
    assert_eq!(
        spends[1], child_out,
        "an unspent output comes back as asked"
    );
    let (code, msg) = rpc(
        &node,
        "gettxspendingprevout",
        json!([[child_out], {"mempool_only": false}]),
    )
    .unwrap_err();
    assert_eq!(code, -1);
    assert_eq!(
        msg,
        "Mempool lacks a relevant spend, and txospenderindex is unavailable."
    );
    assert_eq!(
        rpc(
            &node,
            "gettxspendingprevout",
            json!([[{"txid": child.compute_txid().to_string(), "vout": 0, "n": 1}]])
        )
        .unwrap_err(),
        (-3, "Unexpected key n".into())
    );
    assert_eq!(
        rpc(
            &node,
            "gettxspendingprevout",
            json!([[{"txid": child.compute_txid().to_string()}]])
        )
        .unwrap_err(),
        (-3, "Missing vout".into())
    );
    // Mempool entries carry both sizes, as in current Core.
    let entry = ok(
        &node,
        "getmempoolentry",
        json!([child.compute_txid().to_string()]),
    );
    assert_eq!(entry["vsize_bip141"], json!(child.vsize()));
    assert_eq!(entry["vsize_adjusted"], entry["vsize"]);
    let raw = ok(
        &node,
        "getrawtransaction",
        json!([child.compute_txid().to_string(), 1]),
    );
    assert_eq!(raw["vsize_adjusted"], entry["vsize"]);
    // The mempool's feerate diagram: from (0, 0) to both transactions' totals.
    let diagram = ok(&node, "getmempoolfeeratediagram", json!([]));
    let points = diagram.as_array().unwrap();
    assert_eq!(points[0]["weight"], 0, "{diagram}");
    assert_eq!(btc(&points[0]["fee"]), 0.0, "{diagram}");
    let last = points.last().unwrap();
    assert_eq!(
        last["weight"],
        json!(parent.weight().to_wu() + child.weight().to_wu())
    );
    assert_eq!(btc(&last["fee"]), 0.0002);
}

#[test]
fn a_child_pays_for_its_parent_to_replace_a_package() {
    let node = TestNode::start(&["-disablewallet"]);
    ok(&node, "generatetoaddress", json!([110, address()]));
    let coin = coinbase_at(&node, 1);
    let package = |parent_fee: u64, child_fee: u64, outputs: usize| {
        let parent = spend(&[coin], COINBASE, outputs, parent_fee);
        let each = parent.output[0].value.to_sat();
        let child = spend(
            &[OutPoint::new(parent.compute_txid(), 0)],
            each,
            1,
            child_fee,
        );
        (parent, child)
    };
    let (p1, c1) = package(1_000, 1_000, 1);
    let first = ok(&node, "submitpackage", json!([[hex(&p1), hex(&c1)]]));
    assert_eq!(first["package_msg"], "success", "{first}");
    let mut before = vec![p1.compute_txid().to_string(), c1.compute_txid().to_string()];
    before.sort();
    assert_eq!(mempool(&node), before);

    // testmempoolaccept of a package never replaces.
    let (p2, c2) = package(1_000, 50_000, 2);
    let tested = ok(&node, "testmempoolaccept", json!([[hex(&p2), hex(&c2)]]));
    assert_eq!(tested[0]["reject-reason"], "bip125-replacement-disallowed");

    // Paying less in all than the package it would evict: refused as a
    // package, and the first package is back in the pool as it was.
    let (p3, c3) = package(1_000, 500, 3);
    let refused = ok(&node, "submitpackage", json!([[hex(&p3), hex(&c3)]]));
    let msg = refused["package_msg"].as_str().unwrap();
    assert!(
        msg.starts_with(&format!(
            "package RBF failed: insufficient anti-DoS fees, rejecting replacement {}, less fees than conflicting txs",
            c3.compute_txid()
        )),
        "{refused}"
    );
    assert_eq!(mempool(&node), before);
    let entry = ok(
        &node,
        "getmempoolentry",
        json!([c1.compute_txid().to_string()]),
    );
    assert_eq!(entry["depends"], json!([p1.compute_txid().to_string()]));

    // The child pays for both: the parent's conflict and its child go.
    let replaced = ok(&node, "submitpackage", json!([[hex(&p2), hex(&c2)]]));
    assert_eq!(replaced["package_msg"], "success", "{replaced}");
    let mut gone: Vec<String> =
        serde_json::from_value(replaced["replaced-transactions"].clone()).unwrap();
    gone.sort();
    assert_eq!(gone, before);
    let mut after = vec![p2.compute_txid().to_string(), c2.compute_txid().to_string()];
    after.sort();
    assert_eq!(mempool(&node), after);

    // A package of three replacing something is not Core's 1-parent-1-child.
    let p4 = spend(&[coinbase_at(&node, 2)], COINBASE, 2, 1_000);
    ok(&node, "sendrawtransaction", json!([hex(&p4)]));
    let rival = spend(&[coinbase_at(&node, 2)], COINBASE, 2, 0);
    let p5 = spend(&[coinbase_at(&node, 3)], COINBASE, 1, 0);
    let each = rival.output[0].value.to_sat();
    let kid = spend(
        &[
            OutPoint::new(rival.compute_txid(), 0),
            OutPoint::new(p5.compute_txid(), 0),
        ],
        each,
        1,
        90_000,
    );
    let three = ok(
        &node,
        "submitpackage",
        json!([[hex(&rival), hex(&p5), hex(&kid)]]),
    );
    assert_eq!(
        three["package_msg"], "package RBF failed: package must be 1-parent-1-child",
        "{three}"
    );
}

#[test]
fn a_child_pays_for_its_dusty_parent_and_both_cross_the_network() {
    let port_a = free_port();
    let a = TestNode::start(&["-disablewallet", &format!("-port={port_a}")]);
    ok(&a, "generatetoaddress", json!([101, address()]));
    let b = TestNode::start(&[
        "-disablewallet",
        "-listen=0",
        "-debug=txpackages",
        &format!("-connect=127.0.0.1:{port_a}"),
    ]);
    wait_for("b to sync", || {
        ok(&b, "getblockcount", json!([])) == json!(101)
    });
    wait_for_tx_relay(&[&a, &b]);
    // A 0-fee parent with an ephemeral dust output (0 sat): it cannot go in
    // alone, and its child must spend the dust.
    let mut parent = spend(&[coinbase_at(&a, 1)], COINBASE, 1, 0);
    let mut dust = parent.output[0].clone();
    dust.value = bitcoin::Amount::ZERO;
    parent.output.push(dust);
    let (code, msg) = rpc(&a, "sendrawtransaction", json!([hex(&parent)])).unwrap_err();
    assert_eq!(code, -26);
    assert!(msg.starts_with("min relay fee not met"), "{msg}");
    let skips_dust = spend(
        &[OutPoint::new(parent.compute_txid(), 0)],
        COINBASE,
        1,
        20_000,
    );
    let refused = ok(
        &a,
        "submitpackage",
        json!([[hex(&parent), hex(&skips_dust)]]),
    );
    assert_eq!(refused["package_msg"], "unspent-dust", "{refused}");
    assert_eq!(
        refused["tx-results"][skips_dust.compute_wtxid().to_string()]["error"],
        format!(
            "missing-ephemeral-spends, tx {} (wtxid={}) did not spend parent's ephemeral dust",
            skips_dust.compute_txid(),
            skips_dust.compute_wtxid()
        )
    );
    assert!(mempool(&a).is_empty());
    // Spending both outputs, the child pays for the parent.
    let child = spend(
        &[
            OutPoint::new(parent.compute_txid(), 0),
            OutPoint::new(parent.compute_txid(), 1),
        ],
        COINBASE / 2,
        1,
        20_000,
    );
    let accepted = ok(&a, "submitpackage", json!([[hex(&parent), hex(&child)]]));
    assert_eq!(accepted["package_msg"], "success", "{accepted}");
    let mut both = vec![
        parent.compute_txid().to_string(),
        child.compute_txid().to_string(),
    ];
    both.sort();
    assert_eq!(mempool(&a), both);
    // b refuses the parent alone for its fee, then takes it with the child
    // (Core's 1p1c package relay).
    wait_for_relay("b to take the package", || mempool(&b) == both);
    b.wait_for_log("package evaluation for parent", Duration::from_secs(10));
}

#[test]
fn a_transaction_submitted_without_peers_is_announced_again_on_the_schedule() {
    let port_a = free_port();
    let a = TestNode::start(&["-disablewallet", &format!("-port={port_a}")]);
    ok(&a, "generatetoaddress", json!([101, address()]));
    let tx = spend(&[coinbase_at(&a, 1)], COINBASE, 1, 10_000);
    let txid = ok(&a, "sendrawtransaction", json!([hex(&tx)]));
    let entry = ok(&a, "getmempoolentry", json!([txid]));
    assert_eq!(entry["unbroadcast"], true);
    assert_eq!(ok(&a, "getmempoolinfo", json!([]))["unbroadcastcount"], 1);
    let b = TestNode::start(&[
        "-disablewallet",
        "-listen=0",
        &format!("-connect=127.0.0.1:{port_a}"),
    ]);
    wait_for("b to sync", || {
        ok(&b, "getblockcount", json!([])) == json!(101)
    });
    // Nothing announces it to the new peer until the rebroadcast is due:
    // 10 to 15 minutes, or at once after mockscheduler moves past them.
    std::thread::sleep(Duration::from_millis(500));
    assert!(mempool(&b).is_empty());
    assert_eq!(
        rpc(&a, "mockscheduler", json!([0])).unwrap_err(),
        (
            -1,
            "delta_time must be between 1 and 3600 seconds (1 hr)".into()
        )
    );
    wait_for_tx_relay(&[&a, &b]);
    ok(&a, "mockscheduler", json!([15 * 60]));
    let id = txid.as_str().unwrap().to_string();
    wait_for_relay("b to get the transaction", || mempool(&b).contains(&id));
    wait_for("a to see it sent out", || {
        ok(&a, "getmempoolentry", json!([id]))["unbroadcast"] == json!(false)
    });
}

#[test]
fn announcements_wait_for_their_round_and_unannounced_transactions_are_not_served() {
    let port = free_port();
    let node = TestNode::start(&["-disablewallet", &format!("-port={port}")]);
    ok(&node, "generatetoaddress", json!([101, address()]));
    // The clock stands still: no announcement round comes due by itself.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    ok(&node, "setmocktime", json!([now]));
    let mut peer = OrdersPeer::connect(port, true);
    let peer_info = || ok(&node, "getpeerinfo", json!([]))[0].clone();
    // The first round came right after the handshake.
    assert_eq!(peer_info()["last_inv_sequence"], 1);
    let tx = spend(&[coinbase_at(&node, 1)], COINBASE, 1, 10_000);
    let txid = ok(&node, "sendrawtransaction", json!([hex(&tx)]));
    let txid = txid.as_str().unwrap().to_string();
    assert_eq!(
        ok(&node, "getrawmempool", json!([false, true]))["mempool_sequence"],
        2
    );
    assert_eq!(peer_info()["inv_to_send"], 1);
    // Asked for before it was announced: notfound, and no inv yet.
    assert_eq!(peer.order(&format!("getdata {txid}")), "getdata: notfound");
    // The clock moves on: the round announces it, then it is served.
    ok(&node, "setmocktime", json!([now + 120]));
    assert_eq!(
        peer.order(&format!("wait-inv {txid}")),
        format!("inv: {txid}")
    );
    let info = peer_info();
    assert_eq!(info["inv_to_send"], 0, "{info}");
    assert_eq!(info["last_inv_sequence"], 2, "{info}");
    assert_eq!(peer.order(&format!("getdata {txid}")), "getdata: tx");
    // Mined, it left the mempool; the tip block still serves it.
    ok(&node, "generatetoaddress", json!([1, address()]));
    assert!(mempool(&node).is_empty());
    assert_eq!(peer.order(&format!("getdata {txid}")), "getdata: tx");
    peer.finish();
}

#[test]
fn bloom_filters_choose_what_a_peer_hears_of_and_what_a_merkleblock_proves() {
    let port = free_port();
    let node = TestNode::start(&[
        "-disablewallet",
        "-peerbloomfilters",
        "-debug=net",
        // Announcement rounds at once, and misbehaviour logged, not punished.
        "-whitelist=noban@127.0.0.1",
        &format!("-port={port}"),
    ]);
    ok(&node, "generatetoaddress", json!([102, address()]));
    let names = ok(&node, "getnetworkinfo", json!([]))["localservicesnames"].clone();
    assert!(
        names.as_array().unwrap().contains(&json!("BLOOM")),
        "{names}"
    );
    // A peer whose version message asks for no transactions.
    let mut peer = OrdersPeer::connect(port, false);
    assert_ne!(peer.services & 4, 0, "NODE_BLOOM offered");
    assert_eq!(ok(&node, "getpeerinfo", json!([]))[0]["relaytxes"], false);
    // Core's p2p_filter.py filter (19 hash functions, BLOOM_UPDATE_ALL),
    // which holds the hash of the P2SH script a914{ff x 20}87.
    let watched = ScriptBuf::from_bytes([vec![0xa9, 0x14], vec![0xff; 20], vec![0x87]].concat());
    let filter = "400008008000002000c000200400082400048000002000000000800000400002402000 19 1";
    assert_eq!(
        peer.order(&format!("filterload {filter}")),
        "filterload sent"
    );
    assert_eq!(ok(&node, "getpeerinfo", json!([]))[0]["relaytxes"], true);
    // One transaction pays the watched script, one does not: only the
    // first is announced (the other was queued first).
    let other = spend(&[coinbase_at(&node, 2)], COINBASE, 1, 10_000);
    let mut paying = spend(&[coinbase_at(&node, 1)], COINBASE, 2, 10_000);
    paying.output[0].script_pubkey = watched;
    ok(&node, "sendrawtransaction", json!([hex(&other)]));
    let paying_id = ok(&node, "sendrawtransaction", json!([hex(&paying)]));
    let paying_id = paying_id.as_str().unwrap().to_string();
    assert_eq!(
        peer.order(&format!("wait-inv {paying_id}")),
        format!("inv: {paying_id}")
    );
    // A block with both: the merkleblock proves the watched one, which
    // follows it alone.
    let block = ok(&node, "generatetoaddress", json!([1, address()]))[0].clone();
    let block = block.as_str().unwrap();
    assert_eq!(
        peer.order(&format!("merkleblock {block}")),
        format!("merkleblock: yes txs: {paying_id}")
    );
    // A filteradd over 520 bytes is misbehaviour (logged; noban keeps it).
    assert_eq!(
        peer.order(&format!("filteradd {}", "cc".repeat(521))),
        "filteradd sent"
    );
    node.wait_for_log("Misbehaving: peer=", Duration::from_secs(10));
    // Without the filter every transaction is announced again.
    assert_eq!(peer.order("filterclear"), "filterclear sent");
    let next = spend(&[coinbase_at(&node, 3)], COINBASE, 1, 10_000);
    let next_id = ok(&node, "sendrawtransaction", json!([hex(&next)]));
    let next_id = next_id.as_str().unwrap().to_string();
    assert_eq!(
        peer.order(&format!("wait-inv {next_id}")),
        format!("inv: {next_id}")
    );
    // Without a filter a filtered block is not served.
    assert_eq!(
        peer.order(&format!("merkleblock {block}")),
        "merkleblock: no txs: "
    );
    peer.finish();
}

#[test]
fn a_mined_block_shows_fees_and_spent_coins_from_its_undo_data() {
    let node = TestNode::start(&["-disablewallet"]);
    ok(&node, "generatetoaddress", json!([101, address()]));
    let tx = spend(&[coinbase_at(&node, 1)], COINBASE, 1, 12_345);
    ok(&node, "sendrawtransaction", json!([hex(&tx)]));
    let hash = ok(&node, "generatetoaddress", json!([1, address()]))[0].clone();
    // Verbosity 1: txids, and what the miner put in the coinbase.
    let one = ok(&node, "getblock", json!([hash, 1]));
    let two = ok(&node, "getblock", json!([hash, 2]));
    let coinbase = &two["tx"][0];
    assert_eq!(
        one["coinbase_tx"],
        json!({
            "version": coinbase["version"],
            "locktime": coinbase["locktime"],
            "sequence": coinbase["vin"][0]["sequence"],
            "coinbase": coinbase["vin"][0]["coinbase"],
            "witness": coinbase["vin"][0]["txinwitness"][0],
        })
    );
    // Verbosity 2: the fee (none for the coinbase), no spent coins.
    assert_eq!(btc(&two["tx"][1]["fee"]), 0.00012345);
    assert!(coinbase.get("fee").is_none());
    assert!(two["tx"][1]["vin"][0].get("prevout").is_none());
    // Verbosity 3: each input's spent coin, Core's fields.
    let three = ok(&node, "getblock", json!([hash, 3]));
    let prevout = &three["tx"][1]["vin"][0]["prevout"];
    assert_eq!(prevout["generated"], json!(true));
    assert_eq!(prevout["height"], json!(1));
    assert_eq!(btc(&prevout["value"]), 50.0);
    assert_eq!(prevout["scriptPubKey"]["address"], json!(address()));
    assert_eq!(
        members(&three["tx"][1]["vin"][0]),
        [
            "txid",
            "vout",
            "scriptSig",
            "txinwitness",
            "prevout",
            "sequence"
        ]
    );
    // A recent tip is fully verified.
    assert_eq!(
        ok(&node, "getblockchaininfo", json!([]))["verificationprogress"],
        json!(1)
    );
}
