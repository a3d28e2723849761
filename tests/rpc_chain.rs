//! Chain-inspection and header RPCs of a real `bitcoin-node -regtest`:
//! submitheader, getdeploymentinfo (buried deployments, regtest's BIP9
//! testdummy with its signalling statistics, script flags), verifychain,
//! getindexinfo and getmemoryinfo, pruning (-prune, pruneblockchain),
//! getchaintxstats, getnetworkhashps, -stopatheight, -test=bip94 and
//! -blockversion, with Core's fields and errors.

mod common;

use std::time::Duration;

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use common::{members, ok, rpc, TestNode};
use serde_json::{json, Value};

const ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

#[test]
fn submitheader_takes_known_parents_only_and_reports_rejects() {
    let node = TestNode::start(&["-disablewallet"]);
    let hashes = ok(&node, "generatetoaddress", json!([2, ADDRESS]));
    let h2: String = hashes[1].as_str().unwrap().into();
    let hex = ok(&node, "getblockheader", json!([h2, false]));
    let header: bitcoin::block::Header = deserialize_hex(hex.as_str().unwrap()).unwrap();
    // A known valid header is accepted again.
    assert_eq!(ok(&node, "submitheader", json!([hex])), Value::Null);
    // Its parent unknown: Core's message names it.
    let mut orphan = header;
    orphan.prev_blockhash = "11".repeat(32).parse().unwrap();
    assert_eq!(
        rpc(&node, "submitheader", json!([serialize_hex(&orphan)])),
        Err((
            -25,
            format!(
                "Must submit previous header ({}) first",
                orphan.prev_blockhash
            )
        ))
    );
    // Wrong difficulty bits are the kernel's reject reason.
    let mut bad = header;
    bad.bits = bitcoin::CompactTarget::from_consensus(0x1d00ffff);
    let (code, reason) = rpc(&node, "submitheader", json!([serialize_hex(&bad)])).unwrap_err();
    assert_eq!(code, -25);
    assert!(
        reason == "bad-diffbits" || reason == "high-hash",
        "{reason}"
    );
    assert_eq!(
        rpc(&node, "submitheader", json!(["00ff"])),
        Err((-22, "Block header decode failed".into()))
    );
    // A whole block's hex is taken for its header, as Core reads it.
    let block = ok(&node, "getblock", json!([h2, 0]));
    assert_eq!(ok(&node, "submitheader", json!([block])), Value::Null);
    // None of that moved the tip.
    assert_eq!(ok(&node, "getbestblockhash", json!([])), json!(h2));
}

#[test]
fn getblockstats_reports_cores_fields_for_a_coinbase_only_block() {
    let node = TestNode::start(&["-disablewallet"]);
    let hashes = ok(&node, "generatetoaddress", json!([2, ADDRESS]));
    let stats = ok(&node, "getblockstats", json!([2]));
    assert_eq!(
        members(&stats),
        [
            "avgfee",
            "avgfeerate",
            "avgtxsize",
            "blockhash",
            "feerate_percentiles",
            "height",
            "ins",
            "maxfee",
            "maxfeerate",
            "maxtxsize",
            "medianfee",
            "mediantime",
            "mediantxsize",
            "minfee",
            "minfeerate",
            "mintxsize",
            "outs",
            "subsidy",
            "swtotal_size",
            "swtotal_weight",
            "swtxs",
            "time",
            "total_out",
            "total_size",
            "total_weight",
            "totalfee",
            "txs",
            "utxo_increase",
            "utxo_size_inc",
            "utxo_increase_actual",
            "utxo_size_inc_actual"
        ]
    );
    assert_eq!(stats["blockhash"], hashes[1]);
    assert_eq!(stats["height"], 2);
    assert_eq!(stats["txs"], 1);
    assert_eq!(stats["ins"], 0);
    assert_eq!(stats["subsidy"], 5_000_000_000u64);
    assert_eq!(stats["feerate_percentiles"], json!([0, 0, 0, 0, 0]));
    // The coinbase pays the subsidy (P2WPKH, 31 bytes + 40 of overhead) and
    // commits to the witness in an unspendable output.
    assert_eq!(stats["utxo_increase_actual"], 1);
    assert_eq!(stats["utxo_size_inc_actual"], 71);
    assert_eq!(stats["utxo_increase"], 2);
    // By hash, selected statistics only.
    assert_eq!(
        ok(
            &node,
            "getblockstats",
            json!([hashes[0], ["height", "txs"]])
        ),
        json!({"height": 1, "txs": 1})
    );
    // Named as Core names them.
    assert_eq!(
        ok(
            &node,
            "getblockstats",
            json!({"hash_or_height": 1, "stats": ["height"]})
        ),
        json!({"height": 1})
    );
    assert_eq!(
        rpc(&node, "getblockstats", json!([1, ["nosuch"]])),
        Err((-8, "Invalid selected statistic 'nosuch'".into()))
    );
    assert_eq!(
        rpc(&node, "getblockstats", json!([3])),
        Err((-8, "Target block height 3 after current tip 2".into()))
    );
    assert_eq!(
        rpc(&node, "getblockstats", json!([-1])),
        Err((-8, "Target block height -1 is negative".into()))
    );
    assert_eq!(
        rpc(&node, "getblockstats", json!(["00".repeat(32)])),
        Err((-5, "Block not found".into()))
    );
    // Only its header known.
    let unsent = ok(
        &node,
        "generateblock",
        json!({"output": ADDRESS, "transactions": [], "submit": false}),
    );
    ok(&node, "submitheader", json!([unsent["hex"]]));
    let missing = Err((-1, "Block not available (not fully downloaded)".into()));
    assert_eq!(
        rpc(&node, "getblockstats", json!([unsent["hash"]])),
        missing
    );
    assert_eq!(rpc(&node, "getblock", json!([unsent["hash"]])), missing);
}

#[test]
fn removed_generate_points_at_the_cli_option() {
    let node = TestNode::start(&["-disablewallet"]);
    let text = "generate\n\nhas been replaced by the -generate cli option. Refer to -help for more information.\n";
    assert_eq!(
        rpc(&node, "generate", json!([])),
        Err((-32601, text.into()))
    );
    assert_eq!(ok(&node, "help", json!(["generate"])), json!(text));
    // Hidden: not in the command list.
    let list = ok(&node, "help", json!([]));
    assert!(!list.as_str().unwrap().contains("\ngenerate\n"));
}

#[test]
fn getdeploymentinfo_reports_buried_and_bip9_deployments_as_core() {
    let node = TestNode::start(&["-disablewallet"]);
    let at_genesis = ok(&node, "getdeploymentinfo", json!([]));
    assert_eq!(at_genesis["height"], 0);
    assert_eq!(
        at_genesis["script_flags"],
        json!(["NULLDUMMY", "P2SH", "TAPROOT", "WITNESS"])
    );
    let d = &at_genesis["deployments"];
    assert_eq!(
        d["bip34"],
        json!({"type": "buried", "active": true, "height": 1})
    );
    assert_eq!(
        d["segwit"],
        json!({"type": "buried", "active": true, "height": 0})
    );
    assert_eq!(
        d["testdummy"],
        json!({"type": "bip9", "active": false, "bip9": {
            "start_time": 0, "timeout": i64::MAX, "min_activation_height": 0,
            "status": "defined", "since": 0, "status_next": "defined"}})
    );

    // Into the second period (blocks 144..): started, with statistics over
    // the 6 blocks of the period so far, all signalling: our miner sets the
    // bit of a started deployment, as Core's ComputeBlockVersion does.
    ok(&node, "generatetoaddress", json!([149, ADDRESS]));
    let info = ok(&node, "getdeploymentinfo", json!([]));
    assert_eq!(info["height"], 149);
    assert_eq!(
        info["script_flags"],
        json!([
            "CHECKLOCKTIMEVERIFY",
            "CHECKSEQUENCEVERIFY",
            "DERSIG",
            "NULLDUMMY",
            "P2SH",
            "TAPROOT",
            "WITNESS"
        ])
    );
    let bip9 = &info["deployments"]["testdummy"]["bip9"];
    assert_eq!(bip9["bit"], 28);
    assert_eq!(
        (bip9["status"].clone(), bip9["since"].clone()),
        (json!("started"), json!(144))
    );
    assert_eq!(
        bip9["statistics"],
        json!({"period": 144, "elapsed": 6, "count": 6, "threshold": 108, "possible": true})
    );
    assert_eq!(bip9["signalling"], "######");
    let h143 = ok(&node, "getblockhash", json!([143]));
    let h144 = ok(&node, "getblockhash", json!([144]));
    assert_eq!(
        ok(&node, "getblockheader", json!([h143]))["version"],
        0x2000_0000
    );
    assert_eq!(
        ok(&node, "getblockheader", json!([h144]))["version"],
        0x3000_0000
    );
    // At an earlier block by hash.
    let h100 = ok(&node, "getblockhash", json!([100]));
    let old = ok(&node, "getdeploymentinfo", json!([h100]));
    assert_eq!(
        (old["hash"].clone(), old["height"].clone()),
        (h100, json!(100))
    );
    assert_eq!(old["deployments"]["testdummy"]["bip9"]["status"], "defined");
    assert_eq!(
        rpc(&node, "getdeploymentinfo", json!(["00".repeat(32)])),
        Err((-5, "Block not found".into()))
    );
}

#[test]
fn verifychain_indexinfo_and_memoryinfo() {
    let node = TestNode::start(&["-disablewallet"]);
    ok(&node, "generatetoaddress", json!([10, ADDRESS]));
    for level in 0..=4 {
        assert_eq!(
            ok(&node, "verifychain", json!([level, 0])),
            json!(true),
            "level {level}"
        );
    }
    assert_eq!(ok(&node, "verifychain", json!([])), json!(true));
    // Log records reach debug.log through the broker, a moment later.
    node.wait_for_log(
        "Verifying last 6 blocks at level 3",
        Duration::from_secs(10),
    );
    assert_eq!(ok(&node, "getindexinfo", json!([])), json!({}));
    assert_eq!(ok(&node, "getindexinfo", json!(["txindex"])), json!({}));

    let stats = ok(&node, "getmemoryinfo", json!([]));
    assert_eq!(
        stats,
        json!({"locked": {"used": 0, "free": 0, "total": 0, "locked": 0, "chunks_used": 0, "chunks_free": 0}})
    );
    let xml = ok(&node, "getmemoryinfo", json!(["mallocinfo"]));
    assert!(
        xml.as_str().unwrap().starts_with("<malloc version="),
        "{xml}"
    );
    assert_eq!(
        rpc(&node, "getmemoryinfo", json!(["foobar"])),
        Err((-8, "unknown mode foobar".into()))
    );
    // All of it inside the worker's sandbox.
    assert!(
        !node.log().contains("blocked system call"),
        "{}",
        node.log()
    );
}

#[test]
fn txindex_serves_getrawtransaction_without_a_block_hash() {
    let node = TestNode::start(&["-disablewallet", "-txindex"]);
    let hashes = ok(&node, "generatetoaddress", json!([3, ADDRESS]));
    let block = ok(&node, "getblock", json!([hashes[1]]));
    let txid = block["tx"][0].clone();
    let hex = ok(&node, "getrawtransaction", json!([txid]));
    assert_eq!(
        hex,
        ok(&node, "getrawtransaction", json!([txid, 0, hashes[1]]))
    );
    let verbose = ok(&node, "getrawtransaction", json!([txid, 1]));
    assert_eq!(verbose["txid"], txid);
    assert_eq!(verbose["blockhash"], hashes[1]);
    assert_eq!(verbose["confirmations"], 2);
    assert_eq!(verbose["blocktime"], block["time"]);
    // Only an explicit block hash tells whether that block is active.
    assert!(verbose.get("in_active_chain").is_none());
    assert_eq!(
        ok(&node, "getrawtransaction", json!([txid, 1, hashes[1]]))["in_active_chain"],
        true
    );
    assert_eq!(
        rpc(&node, "getrawtransaction", json!(["ab".repeat(32)])),
        Err((
            -5,
            "No such mempool or blockchain transaction. Use gettransaction for wallet transactions."
                .into()
        ))
    );
    let genesis = ok(
        &node,
        "getblock",
        json!([ok(&node, "getblockhash", json!([0]))]),
    );
    assert_eq!(
        rpc(&node, "getrawtransaction", json!([genesis["tx"][0]])),
        Err((
            -5,
            "The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved".into()
        ))
    );
    assert_eq!(
        ok(&node, "getindexinfo", json!([])),
        json!({"txindex": {"synced": true, "best_block_height": 3}})
    );
    assert_eq!(
        ok(&node, "getindexinfo", json!(["txindex"])),
        json!({"txindex": {"synced": true, "best_block_height": 3}})
    );
    assert_eq!(
        ok(&node, "getindexinfo", json!(["coinstatsindex"])),
        json!({})
    );
    // Where Core keeps its index.
    assert!(node.net_dir().join("indexes").join("txindex").is_dir());
}

#[test]
fn logging_switches_debug_categories_while_running() {
    let node = TestNode::start(&["-disablewallet"]);
    let all = ok(&node, "logging", json!([]));
    let names: Vec<&String> = all.as_object().unwrap().keys().collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "Core lists the categories alphabetically");
    assert!(names.iter().any(|n| *n == "validation"));
    assert!(all.as_object().unwrap().values().all(|v| v == false));
    ok(&node, "getblockcount", json!([]));
    assert!(!node.log().contains("ThreadRPCServer method=getblockcount"));

    // On: our own RPC lines and the kernel's validation lines appear.
    let now = ok(&node, "logging", json!([["rpc", "validation"]]));
    assert_eq!(now["rpc"], true);
    assert_eq!(now["validation"], true);
    assert_eq!(now["net"], false);
    ok(&node, "getblockcount", json!([]));
    ok(&node, "generatetoaddress", json!([1, ADDRESS]));
    node.wait_for_log(
        "[rpc] ThreadRPCServer method=getblockcount",
        Duration::from_secs(10),
    );
    node.wait_for_log("[validation] ", Duration::from_secs(10));

    // Include then exclude: "all" on, rpc and validation off again.
    let now = ok(&node, "logging", json!([["all"], ["rpc", "validation"]]));
    assert_eq!(now["rpc"], false);
    assert_eq!(now["net"], true);
    let before = node.log().matches("method=getbestblockhash").count();
    ok(&node, "getbestblockhash", json!([]));
    ok(&node, "logging", json!([[], ["1"]]));
    assert_eq!(
        node.log().matches("method=getbestblockhash").count(),
        before
    );

    // Unknown names are refused, and change nothing.
    assert_eq!(
        rpc(&node, "logging", json!([["net", "nosuch"]])),
        Err((-8, "unknown logging category nosuch".into()))
    );
    assert_eq!(ok(&node, "logging", json!([]))["net"], false);
    assert_eq!(
        rpc(&node, "logging", json!([["none"]])),
        Err((-8, "unknown logging category none".into()))
    );
}

#[test]
fn rpcinfo_echojson_difficulty_and_waitforblock() {
    let node = TestNode::start(&["-disablewallet"]);
    let info = ok(&node, "getrpcinfo", json!([]));
    let active = info["active_commands"].as_array().unwrap();
    assert_eq!(active.len(), 1, "{info}");
    assert_eq!(active[0]["method"], "getrpcinfo");
    assert!(active[0]["duration"].as_u64().is_some());
    let logpath = std::path::PathBuf::from(info["logpath"].as_str().unwrap());
    assert_eq!(logpath, node.net_dir().join("debug.log"));

    let args = json!([1, "two", [3], {"four": 4}, null, true]);
    assert_eq!(ok(&node, "echojson", args.clone()), args);

    // Regtest's minimum difficulty, as a double.
    assert_eq!(
        ok(&node, "getdifficulty", json!([])).to_string(),
        "4.656542373906925e-10"
    );

    // waitforblock: at once for the tip, else the tip when the timeout ends,
    // or the block as soon as it becomes the tip.
    let genesis = ok(&node, "getbestblockhash", json!([]));
    assert_eq!(
        ok(&node, "waitforblock", json!([genesis, 1000])),
        json!({"hash": genesis, "height": 0})
    );
    let other = "11".repeat(32);
    assert_eq!(
        ok(&node, "waitforblock", json!([other, 100])),
        json!({"hash": genesis, "height": 0})
    );
    let unsent = ok(
        &node,
        "generateblock",
        json!({"output": ADDRESS, "transactions": [], "submit": false}),
    );
    let reached = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| ok(&node, "waitforblock", json!([unsent["hash"], 20_000])));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            ok(&node, "submitblock", json!([unsent["hex"]])),
            Value::Null
        );
        waiter.join().unwrap()
    });
    assert_eq!(reached, json!({"hash": unsent["hash"], "height": 1}));
}

#[test]
fn gettxoutsetinfo_hashes_the_set_as_cores_hash_serialized_3_and_muhash() {
    use bitcoin::hashes::{sha256d, Hash};
    use bitcoin_mp::chain::muhash::{core_hex, MuHash3072};
    let node = TestNode::start(&["-disablewallet"]);
    let hashes = ok(&node, "generatetoaddress", json!([3, ADDRESS]));
    // Core's definition: every unspent output in (txid bytes, index) order as
    // outpoint, height * 2 + coinbase flag, then the output itself.
    let mut coins = Vec::new();
    for (i, h) in hashes.as_array().unwrap().iter().enumerate() {
        let hex = ok(&node, "getblock", json!([h, 0]));
        let block: bitcoin::Block = deserialize_hex(hex.as_str().unwrap()).unwrap();
        let cb = &block.txdata[0];
        for (vout, out) in cb.output.iter().enumerate() {
            if !out.script_pubkey.is_op_return() {
                coins.push((cb.compute_txid(), vout as u32, i as u32 + 1, out.clone()));
            }
        }
    }
    coins.sort_by_key(|(txid, vout, _, _)| (txid.to_byte_array(), *vout));
    let mut data = Vec::new();
    // MuHash takes each coin's serialization as one element of a set.
    let mut muhash = MuHash3072::new();
    for (txid, vout, height, out) in &coins {
        let start = data.len();
        data.extend_from_slice(&txid.to_byte_array());
        data.extend_from_slice(&vout.to_le_bytes());
        data.extend_from_slice(&((height << 1) | 1).to_le_bytes());
        data.extend_from_slice(&bitcoin::consensus::serialize(out));
        muhash.insert(&data[start..]);
    }
    let expected = sha256d::Hash::hash(&data).to_string();
    let expected_muhash = core_hex(&muhash.finalize());

    let info = ok(&node, "gettxoutsetinfo", json!([]));
    assert_eq!(
        members(&info),
        [
            "height",
            "bestblock",
            "txouts",
            "bogosize",
            "hash_serialized_3",
            "total_amount",
            "transactions",
            "disk_size"
        ]
    );
    assert_eq!(info["hash_serialized_3"], expected);
    assert_eq!(info["txouts"], coins.len());
    assert_eq!(
        ok(&node, "gettxoutsetinfo", json!(["hash_serialized_3"]))["hash_serialized_3"],
        expected
    );
    let none = ok(&node, "gettxoutsetinfo", json!(["none"]));
    assert!(none.get("hash_serialized_3").is_none() && none.get("muhash").is_none());

    // muhash: in hash_serialized_3's place, 64 hex digits in Core's (uint256
    // GetHex, reversed) byte order, and the other fields the same.
    let mu = ok(&node, "gettxoutsetinfo", json!(["muhash"]));
    assert_eq!(
        members(&mu),
        [
            "height",
            "bestblock",
            "txouts",
            "bogosize",
            "muhash",
            "total_amount",
            "transactions",
            "disk_size"
        ]
    );
    let mu_hex = mu["muhash"].as_str().unwrap().to_owned();
    assert_eq!(mu_hex.len(), 64);
    assert!(mu_hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(mu_hex, expected_muhash);
    for k in [
        "height",
        "bestblock",
        "txouts",
        "bogosize",
        "total_amount",
        "transactions",
    ] {
        assert_eq!(mu[k], info[k], "{k}");
    }
    // Asking for muhash left hash_serialized_3 as it was.
    assert_eq!(
        ok(&node, "gettxoutsetinfo", json!([]))["hash_serialized_3"],
        expected
    );

    // One more block changes both.
    ok(&node, "generatetoaddress", json!([1, ADDRESS]));
    assert_ne!(
        ok(&node, "gettxoutsetinfo", json!([]))["hash_serialized_3"],
        expected
    );
    let mu_after = ok(&node, "gettxoutsetinfo", json!(["muhash"]))["muhash"].clone();
    assert_eq!(mu_after.as_str().unwrap().len(), 64);
    assert_ne!(mu_after, json!(mu_hex));
    assert_eq!(
        rpc(&node, "gettxoutsetinfo", json!(["sha256"])),
        Err((-8, "'sha256' is not a valid hash_type".into()))
    );
}

#[test]
fn testactivationheight_and_vbparams_move_deployments_in_the_engine_too() {
    let node = TestNode::start(&[
        "-disablewallet",
        "-testactivationheight=csv@5",
        "-testactivationheight=segwit@8",
        "-vbparams=testdummy:-2:-2",
    ]);
    let info = ok(&node, "getdeploymentinfo", json!([]));
    assert_eq!(
        info["deployments"]["csv"],
        json!({"type": "buried", "active": false, "height": 5})
    );
    assert_eq!(info["deployments"]["segwit"]["height"], json!(8));
    assert_eq!(
        info["deployments"]["testdummy"]["bip9"]["status"],
        json!("failed")
    );
    assert_eq!(
        info["deployments"]["testdummy"]["bip9"]["start_time"],
        json!(-2)
    );
    // Before segwit the coinbase has no witness: a kernel still on regtest's
    // own parameters (segwit from genesis) would refuse those blocks
    // (bad-witness-nonce-size); after it, the witness reserved value is back.
    let hashes = ok(&node, "generatetoaddress", json!([9, ADDRESS]));
    let coinbase_witness = |i: usize| {
        let block = ok(&node, "getblock", json!([hashes[i], 2]));
        block["tx"][0]["vin"][0].get("txinwitness").cloned()
    };
    assert_eq!(coinbase_witness(6), None, "block 7, before segwit");
    assert_eq!(
        coinbase_witness(7),
        Some(json!(["00".repeat(32)])),
        "block 8"
    );
    let info = ok(&node, "getdeploymentinfo", json!([]));
    assert_eq!(info["deployments"]["csv"]["active"], json!(true));
    assert_eq!(info["deployments"]["segwit"]["active"], json!(true));
}

#[test]
fn malformed_test_deployment_options_stop_the_node_with_cores_message() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = format!("-datadir={}", dir.path().display());
    for (arg, message) in [
        (
            "-testactivationheight=foo@1",
            "Invalid name (foo@1) for -testactivationheight=name@height.",
        ),
        (
            "-testactivationheight=csv",
            "Invalid format (csv) for -testactivationheight=name@height.",
        ),
        (
            "-vbparams=testdummy:1",
            "Version bits parameters malformed, expecting deployment:start:end[:min_activation_height]",
        ),
    ] {
        let (code, _, stderr) = common::run(common::NODE, &["-regtest", &datadir, arg]);
        assert_ne!(code, 0, "{arg}");
        assert!(stderr.contains(message), "{arg}: {stderr}");
    }
}

#[test]
fn test_bip94_refuses_a_timewarp_header_and_blockversion_sets_mined_versions() {
    // Blocks ten minutes apart up to the last before the retarget height
    // (144 on regtest), the last two hours ahead of the clock as Core's
    // mining_basic does.
    let start = 1_600_000_000i64;
    let node = TestNode::start(&[
        "-disablewallet",
        "-test=bip94",
        "-blockversion=1337",
        &format!("-mocktime={start}"),
    ]);
    let mut t = start;
    for _ in 0..142 {
        t += 600;
        ok(&node, "setmocktime", json!([t]));
        ok(&node, "generatetoaddress", json!([1, ADDRESS]));
    }
    ok(&node, "setmocktime", json!([t + 7200]));
    let last = ok(&node, "generatetoaddress", json!([1, ADDRESS]));
    ok(&node, "setmocktime", json!([t]));
    let tip = ok(&node, "getblockheader", json!([last[0]]));
    assert_eq!(tip["version"], 1337);
    assert_eq!(tip["height"], 143);
    let template = ok(&node, "getblocktemplate", json!([{"rules": ["segwit"]}]));
    assert_eq!(template["version"], 1337);
    // At the retarget height the template's earliest time is 600 s before
    // its parent, not the clock.
    assert_eq!(template["mintime"], json!(t + 7200 - 600));
    let raw = ok(&node, "getblockheader", json!([last[0], false]));
    let parent: bitcoin::block::Header = deserialize_hex(raw.as_str().unwrap()).unwrap();
    let header_at = |time: u32| {
        let mut h = parent;
        h.prev_blockhash = parent.block_hash();
        h.time = time;
        while h.validate_pow(h.target()).is_err() {
            h.nonce += 1;
        }
        serialize_hex(&h)
    };
    let boundary = parent.time - 600;
    assert_eq!(
        rpc(&node, "submitheader", json!([header_at(boundary - 1)])),
        Err((-25, "time-timewarp-attack".into()))
    );
    assert_eq!(
        ok(&node, "submitheader", json!([header_at(boundary)])),
        Value::Null
    );
    // -test is for regtest only, as Core's init says.
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = common::run(
        common::NODE,
        &[
            "-testnet4",
            &format!("-datadir={}", dir.path().display()),
            "-test=bip94",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("-test=<option> can only be used with regtest"),
        "{stderr}"
    );
}

#[test]
fn blocks_validated_before_an_earlier_segwit_height_need_a_reindex_as_core_says() {
    let mut node = TestNode::start(&["-disablewallet", "-testactivationheight=segwit@10"]);
    ok(&node, "generatetoaddress", json!([6, ADDRESS]));
    ok(&node, "stop", json!([]));
    assert!(node.wait_exit(Duration::from_secs(30)).success());
    // Blocks 5 and 6 were checked without segwit's rules: the engine will
    // not load them under a segwit height of 5, and Core's init says so.
    let datadir = format!("-datadir={}", node.datadir.path().display());
    let (code, _, stderr) =
        common::run_node_unbound(&["-regtest", &datadir, "-testactivationheight=segwit@5"]);
    assert_ne!(code, 0);
    assert_eq!(
        stderr.trim(),
        "Witness data for blocks after height 5 requires validation. Please restart with -reindex..\nPlease restart with -reindex or -reindex-chainstate to recover."
    );
}

#[test]
fn a_pruned_node_deletes_old_block_files_on_request_and_reports_what_it_lost() {
    let mut node = TestNode::start(&["-disablewallet", "-prune=1", "-fastprune"]);
    let info = ok(&node, "getblockchaininfo", json!([]));
    assert_eq!(info["pruned"], json!(true));
    assert_eq!(info["pruneheight"], json!(0));
    assert_eq!(info["automatic_pruning"], json!(false));
    assert_eq!(info.get("prune_target_size"), None);
    // A pruned node keeps recent blocks only: NETWORK_LIMITED without NETWORK.
    assert_eq!(
        ok(&node, "getnetworkinfo", json!([]))["localservicesnames"],
        json!(["WITNESS", "NETWORK_LIMITED", "P2P_V2"])
    );
    assert_eq!(
        rpc(&node, "pruneblockchain", json!([1])).unwrap_err(),
        (-1, "Blockchain is too short for pruning.".into())
    );
    // -fastprune: 64 KiB block files and pruning from height 100.
    let hashes = ok(&node, "generatetoaddress", json!([700, ADDRESS]));
    assert_eq!(
        rpc(&node, "pruneblockchain", json!([-1])).unwrap_err(),
        (-8, "Negative block height.".into())
    );
    assert_eq!(
        rpc(&node, "pruneblockchain", json!([701])).unwrap_err(),
        (
            -8,
            "Blockchain is shorter than the attempted prune height.".into()
        )
    );
    let first_file = node.net_dir().join("blocks").join("blk00000.dat");
    assert!(first_file.exists());
    // Asked for everything: the last 288 blocks stay.
    let last_pruned = ok(&node, "pruneblockchain", json!([700])).as_i64().unwrap();
    assert!((1..=700 - 288).contains(&last_pruned), "{last_pruned}");
    assert!(!first_file.exists(), "the first block file is deleted");
    let info = ok(&node, "getblockchaininfo", json!([]));
    assert_eq!(info["pruneheight"], json!(last_pruned + 1));
    assert_eq!(
        rpc(&node, "getblock", json!([hashes[0]])).unwrap_err(),
        (-1, "Block not available (pruned data)".into())
    );
    ok(&node, "getblock", json!([hashes[699]]));
    ok(&node, "getblockheader", json!([hashes[0]]));

    // The node comes back pruned; without -prune the engine refuses the
    // store, with Core's message.
    ok(&node, "stop", json!([]));
    assert!(node.wait_exit(Duration::from_secs(30)).success());
    let datadir = format!("-datadir={}", node.datadir.path().display());
    let (code, _, stderr) = common::run_node_unbound(&["-regtest", &datadir, "-disablewallet"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains(
            "You need to rebuild the database using -reindex to go back to unpruned mode"
        ),
        "{stderr}"
    );
    let dir = std::mem::replace(&mut node.datadir, tempfile::tempdir().unwrap());
    let node = TestNode::start_in(dir, &["-disablewallet", "-prune=1", "-fastprune"]);
    let info = ok(&node, "getblockchaininfo", json!([]));
    assert_eq!(info["blocks"], json!(700));
    assert_eq!(info["pruneheight"], json!(last_pruned + 1));
}

#[test]
fn prune_options_are_checked_as_core_checks_them() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = format!("-datadir={}", dir.path().display());
    for (args, message) in [
        (
            &["-prune=549"][..],
            "Prune configured below the minimum of 550 MiB.  Please use a higher number.",
        ),
        (
            &["-prune=-1"][..],
            "Prune cannot be configured with a negative value.",
        ),
        (
            &["-prune=1", "-txindex"][..],
            "Prune mode is incompatible with -txindex.",
        ),
        (
            &["-prune=550", "-reindex-chainstate"][..],
            "Prune mode is incompatible with -reindex-chainstate. Use full -reindex instead.",
        ),
    ] {
        let mut argv = vec!["-regtest", &datadir];
        argv.extend_from_slice(args);
        let (code, _, stderr) = common::run(common::NODE, &argv);
        assert_ne!(code, 0, "{args:?}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // An automatic target is reported in bytes.
    let node = TestNode::start(&["-disablewallet", "-prune=550"]);
    let info = ok(&node, "getblockchaininfo", json!([]));
    assert_eq!(info["automatic_pruning"], json!(true));
    assert_eq!(info["prune_target_size"], json!(550u64 * 1024 * 1024));
    assert_eq!(
        rpc(
            &TestNode::start(&["-disablewallet"]),
            "pruneblockchain",
            json!([1])
        )
        .unwrap_err(),
        (
            -1,
            "Cannot prune blocks because node is not in prune mode.".into()
        )
    );
}

#[test]
fn chain_transaction_stats_and_network_hash_rate_follow_block_times() {
    // Blocks ten minutes apart: one coinbase each, two hashes per block on
    // regtest's minimum difficulty.
    let start = 1_600_000_000i64;
    let node = TestNode::start(&["-disablewallet", &format!("-mocktime={start}")]);
    let mut hashes = Vec::new();
    for i in 1..=20 {
        ok(&node, "setmocktime", json!([start + i * 600]));
        hashes.extend(
            ok(&node, "generatetoaddress", json!([1, ADDRESS]))
                .as_array()
                .unwrap()
                .clone(),
        );
    }
    let stats = ok(&node, "getchaintxstats", json!([]));
    let tip = ok(&node, "getblock", json!([hashes[19]]));
    let first = ok(&node, "getblock", json!([hashes[0]]));
    let interval = tip["mediantime"].as_i64().unwrap() - first["mediantime"].as_i64().unwrap();
    assert_eq!(stats["time"], tip["time"]);
    assert_eq!(stats["txcount"], json!(21), "20 coinbases and genesis");
    assert_eq!(stats["window_final_block_hash"], hashes[19]);
    assert_eq!(stats["window_final_block_height"], json!(20));
    assert_eq!(stats["window_block_count"], json!(19));
    assert_eq!(stats["window_tx_count"], json!(19));
    assert_eq!(stats["window_interval"], json!(interval));
    let rate = stats["txrate"].as_f64().unwrap();
    assert!((rate * interval as f64 - 19.0).abs() < 1e-9, "{rate}");
    // Past the first eleven blocks, median times are ten minutes apart too.
    let one = ok(&node, "getchaintxstats", json!([1, hashes[14]]));
    assert_eq!(one["txcount"], json!(16));
    assert_eq!(one["window_block_count"], json!(1));
    assert!((one["txrate"].as_f64().unwrap() * 600.0 - 1.0).abs() < 1e-9);
    assert_eq!(
        rpc(&node, "getchaintxstats", json!([20])).unwrap_err(),
        (
            -8,
            "Invalid block count: should be between 0 and the block's height - 1".into()
        )
    );
    assert_eq!(
        rpc(&node, "getchaintxstats", json!([null, "00".repeat(32)])).unwrap_err(),
        (-5, "Block not found".into())
    );
    // Two hashes every ten minutes (the window stays clear of genesis, whose
    // time is years before).
    let hps = ok(&node, "getnetworkhashps", json!([10])).as_f64().unwrap();
    assert!((hps * 300.0 - 1.0).abs() < 1e-4, "{hps}");
    assert_eq!(ok(&node, "getnetworkhashps", json!([100, 0])), json!(0));
    assert_eq!(
        ok(&node, "getmininginfo", json!([]))["networkhashps"],
        ok(&node, "getnetworkhashps", json!([]))
    );
    assert_eq!(
        rpc(&node, "getnetworkhashps", json!([0])).unwrap_err(),
        (
            -8,
            "Invalid nblocks. Must be a positive number or -1.".into()
        )
    );
    assert_eq!(
        rpc(&node, "getnetworkhashps", json!([100, 21])).unwrap_err(),
        (-8, "Block does not exist at specified height".into())
    );
    // Every argument of the wrong type is listed, as Core does.
    assert_eq!(
        rpc(&node, "getnetworkhashps", json!(["a", []])).unwrap_err(),
        (
            -3,
            "Wrong type passed:\n{\n    \"Position 1 (nblocks)\": \"JSON value of type string is not of expected type number\",\n    \"Position 2 (height)\": \"JSON value of type array is not of expected type number\"\n}".into()
        )
    );
    // Block times are 32-bit, and so is a mock time.
    assert_eq!(
        rpc(&node, "setmocktime", json!([4_294_967_296u64])).unwrap_err(),
        (
            -8,
            "Mocktime must be in the range [0, 4294967295], not 4294967296.".into()
        )
    );
    // A block's transaction count comes from the index.
    assert_eq!(
        ok(&node, "getblockheader", json!([hashes[4]]))["nTx"],
        json!(1)
    );
}

#[test]
fn stopatheight_stops_the_node_once_the_chain_reaches_it() {
    let mut node = TestNode::start(&["-disablewallet", "-stopatheight=5"]);
    ok(&node, "generatetoaddress", json!([4, ADDRESS]));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        ok(&node, "getblockcount", json!([])),
        json!(4),
        "still serving at 4"
    );
    // The reply may or may not arrive before the node goes.
    let _ = rpc(&node, "generatetoaddress", json!([1, ADDRESS]));
    assert!(node.wait_exit(Duration::from_secs(30)).success());
    assert!(node
        .log()
        .contains("Reached block height 5 (-stopatheight=5): stopping"));
}

#[test]
fn blocksxor_zero_keeps_block_files_plain_and_cannot_undo_a_random_key() {
    // -blocksxor=0 on a new datadir: an all-zero key, blocks written plain
    // (they start with regtest's network magic).
    let mut node = TestNode::start(&["-disablewallet", "-blocksxor=0"]);
    ok(&node, "generatetoaddress", json!([1, ADDRESS]));
    ok(&node, "stop", json!([]));
    assert!(node.wait_exit(Duration::from_secs(30)).success());
    let blocks = node.net_dir().join("blocks");
    assert_eq!(std::fs::read(blocks.join("xor.dat")).unwrap(), [0u8; 8]);
    let blk = std::fs::read(blocks.join("blk00000.dat")).unwrap();
    assert_eq!(blk[..4], [0xfa, 0xbf, 0xb5, 0xda]);

    // The default stores a random key, which -blocksxor=0 may not drop.
    let mut node = TestNode::start(&["-disablewallet"]);
    ok(&node, "stop", json!([]));
    assert!(node.wait_exit(Duration::from_secs(30)).success());
    assert_ne!(
        std::fs::read(node.net_dir().join("blocks").join("xor.dat")).unwrap(),
        [0u8; 8]
    );
    let datadir = format!("-datadir={}", node.datadir.path().display());
    let (code, _, stderr) =
        common::run_node_unbound(&["-regtest", &datadir, "-disablewallet", "-blocksxor=0"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains(
            "The blocksdir XOR-key can not be disabled when a random key was already stored!"
        ),
        "{stderr}"
    );
}

#[test]
fn blocksdir_puts_block_files_elsewhere_and_must_exist() {
    let blocks = tempfile::tempdir().unwrap();
    let missing = blocks.path().join("missing");
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = common::run(
        common::NODE,
        &[
            "-regtest",
            &format!("-datadir={}", dir.path().display()),
            &format!("-blocksdir={}", missing.display()),
        ],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains(&format!(
            "Specified blocks directory \"{}\" does not exist.",
            missing.display()
        )),
        "{stderr}"
    );
    // The sandboxed worker writes the block files under -blocksdir, and
    // the block index stays in the datadir, as Core keeps them.
    let node = TestNode::start(&[
        "-disablewallet",
        &format!("-blocksdir={}", blocks.path().display()),
    ]);
    ok(&node, "generatetoaddress", json!([3, ADDRESS]));
    let elsewhere = blocks.path().join("regtest").join("blocks");
    assert!(elsewhere.join("blk00000.dat").is_file());
    assert!(elsewhere.join("rev00000.dat").is_file());
    assert!(node.net_dir().join("blocks").join("index").is_dir());
    assert!(!node.net_dir().join("blocks").join("blk00000.dat").exists());
    let info = ok(&node, "getblockchaininfo", json!([]));
    assert!(info["size_on_disk"].as_u64().unwrap() > 0, "{info}");
    // The blocks read back from there.
    let tip = ok(&node, "getbestblockhash", json!([]));
    assert_eq!(ok(&node, "getblock", json!([tip]))["height"], 3);
}
