//! The generating and template RPCs of a real `bitcoin-node -regtest`:
//! generatetodescriptor, generateblock (submitted or returned as hex) and
//! getblocktemplate (template fields, long polling, proposals).

mod common;

use std::time::Duration;

use bitcoin::consensus::encode::{deserialize_hex, serialize_hex};
use common::{ok, rpc, TestNode};
use serde_json::{json, Value};

const ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
/// A raw() script and a combo() of a compressed key (the generator point).
const RAW: &str = "raw(0014751e76e8199196d454941c45d1b3a323f1433bd6)";
const COMBO: &str = "combo(0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798)";

#[test]
fn generatetodescriptor_and_generateblock_pay_the_right_script() {
    let node = TestNode::start(&["-disablewallet"]);
    let hashes = ok(&node, "generatetodescriptor", json!([2, RAW]));
    assert_eq!(hashes.as_array().unwrap().len(), 2);
    let block = ok(&node, "getblock", json!([hashes[1], 2]));
    assert_eq!(
        block["tx"][0]["vout"][0]["scriptPubKey"]["hex"],
        "0014751e76e8199196d454941c45d1b3a323f1433bd6"
    );
    // combo() of a compressed key pays its P2WPKH script.
    let h = ok(&node, "generatetodescriptor", json!([1, COMBO]));
    let block = ok(&node, "getblock", json!([h[0], 2]));
    assert_eq!(
        block["tx"][0]["vout"][0]["scriptPubKey"]["type"],
        "witness_v0_keyhash"
    );
    assert_eq!(
        rpc(&node, "generatetodescriptor", json!([1, "wpkh(tpubD6NzVbkrYhZ4WaWSyoBvQwbpLkojyoTZPRsgXELWz3Popb3qkjcJyJUGLnL4qHHoQvao8ESaAstxYSnhyswJ76uZPStJRJCTKvosUCJZL5B/*)"])),
        Err((-8, "Ranged descriptor not accepted. Maybe pass through deriveaddresses first?".into()))
    );
    assert_eq!(
        rpc(&node, "generatetodescriptor", json!([1, "x"]))
            .unwrap_err()
            .0,
        -5
    );

    // generateblock: an address or a descriptor; submit=false returns the hex.
    let made = ok(&node, "generateblock", json!([ADDRESS, [], false]));
    let raw: bitcoin::Block = deserialize_hex(made["hex"].as_str().unwrap()).unwrap();
    assert_eq!(made["hash"], json!(raw.block_hash().to_string()));
    assert_eq!(ok(&node, "getblockcount", json!([])), json!(3));
    assert_eq!(ok(&node, "submitblock", json!([made["hex"]])), Value::Null);
    let made = ok(&node, "generateblock", json!([RAW, []]));
    assert!(made.get("hex").is_none());
    assert_eq!(ok(&node, "getbestblockhash", json!([])), made["hash"]);

    // A transaction spending a mature coinbase goes into the block.
    let first = ok(&node, "getblock", json!([hashes[0], 2]));
    ok(&node, "generatetoaddress", json!([100, ADDRESS]));
    let spend = bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: bitcoin::OutPoint {
                txid: first["tx"][0]["txid"].as_str().unwrap().parse().unwrap(),
                vout: 0,
            },
            ..Default::default()
        }],
        output: vec![bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(49_0000_0000),
            script_pubkey: bitcoin::ScriptBuf::from_bytes(vec![0x51]),
        }],
    };
    // raw() pays a P2WPKH we hold no key for: the spend is invalid, and the
    // block is refused with the kernel's reason.
    let (code, message) = rpc(
        &node,
        "generateblock",
        json!([ADDRESS, [serialize_hex(&spend)]]),
    )
    .unwrap_err();
    assert_eq!(code, -25, "{message}");
    assert!(
        message.starts_with("TestBlockValidity failed: "),
        "{message}"
    );
    assert_eq!(
        rpc(&node, "generateblock", json!([ADDRESS, ["00".repeat(32)]])),
        Err((
            -5,
            format!("Transaction {} not in mempool.", "00".repeat(32))
        ))
    );
    assert_eq!(
        rpc(&node, "generateblock", json!([ADDRESS, ["zz"]])),
        Err((
            -22,
            "Transaction decode failed for zz. Make sure the tx has at least one input.".into()
        ))
    );
    assert_eq!(
        rpc(&node, "generateblock", json!(["nonsense", []])),
        Err((-5, "Error: Invalid address or descriptor".into()))
    );
}

#[test]
fn getblocktemplate_gives_cores_fields_long_polls_and_checks_proposals() {
    let node = TestNode::start(&["-disablewallet"]);
    ok(&node, "generatetoaddress", json!([1, ADDRESS]));
    assert_eq!(
        rpc(&node, "getblocktemplate", json!([])).unwrap_err().0,
        -8,
        "segwit rule required"
    );
    let t = ok(&node, "getblocktemplate", json!([{"rules": ["segwit"]}]));
    let tip = ok(&node, "getbestblockhash", json!([]));
    let keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "capabilities",
            "version",
            "rules",
            "vbavailable",
            "vbrequired",
            "previousblockhash",
            "transactions",
            "coinbaseaux",
            "coinbasevalue",
            "longpollid",
            "target",
            "mintime",
            "mutable",
            "noncerange",
            "sigoplimit",
            "sizelimit",
            "weightlimit",
            "curtime",
            "bits",
            "height",
            "default_witness_commitment"
        ]
    );
    assert_eq!(t["previousblockhash"], tip);
    assert_eq!(t["height"], 2);
    assert_eq!(t["coinbasevalue"], 50_0000_0000u64);
    assert_eq!(t["bits"], "207fffff");
    assert_eq!(t["rules"], json!(["csv", "!segwit", "taproot"]));
    assert_eq!(t["version"], 0x2000_0000);
    assert!(t["default_witness_commitment"]
        .as_str()
        .unwrap()
        .starts_with("6a24aa21a9ed"));

    // A long poll on the current tip returns once a block arrives.
    let lp = t["longpollid"].as_str().unwrap().to_string();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            ok(
                &node,
                "getblocktemplate",
                json!([{"rules": ["segwit"], "longpollid": lp}]),
            )
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            !waiter.is_finished(),
            "long poll returned before a new block"
        );
        ok(&node, "generatetoaddress", json!([1, ADDRESS]));
        let next = waiter.join().unwrap();
        assert_eq!(next["height"], 3);
    });

    // Proposals: a block built by generateblock without submitting passes;
    // once known it is a duplicate; a stale one is not on the tip.
    let made = ok(&node, "generateblock", json!([ADDRESS, [], false]));
    let hex = made["hex"].as_str().unwrap();
    assert_eq!(
        ok(
            &node,
            "getblocktemplate",
            json!([{"mode": "proposal", "data": hex}])
        ),
        Value::Null
    );
    ok(&node, "submitblock", json!([hex]));
    assert_eq!(
        ok(
            &node,
            "getblocktemplate",
            json!([{"mode": "proposal", "data": hex}])
        ),
        json!("duplicate")
    );
    let mut stale: bitcoin::Block = deserialize_hex(hex).unwrap();
    stale.header.time += 1;
    assert_eq!(
        ok(
            &node,
            "getblocktemplate",
            json!([{"mode": "proposal", "data": serialize_hex(&stale)}])
        ),
        json!("inconclusive-not-best-prevblk")
    );
    assert_eq!(
        rpc(&node, "getblocktemplate", json!([{"mode": "proposal"}])),
        Err((-3, "Missing data String key for proposal".into()))
    );
    assert_eq!(
        rpc(&node, "getblocktemplate", json!([{"mode": "x"}])),
        Err((-8, "Invalid mode".into()))
    );
}

#[test]
fn submitblock_leaves_malformed_blocks_to_the_engine_as_core() {
    use bitcoin::hashes::Hash;
    let node = TestNode::start(&["-disablewallet"]);
    // A zero header (no proof of work) and no transactions, with trailing
    // bytes: decoded, then refused by the proof-of-work check.
    let zeros = "00".repeat(81) + &"11".repeat(100);
    assert_eq!(ok(&node, "submitblock", json!([zeros])), json!("high-hash"));
    // Valid work but no coinbase: the engine's block checks refuse it.
    let made = ok(
        &node,
        "generateblock",
        json!({"output": "raw(51)", "transactions": [], "submit": false}),
    );
    let mut block: bitcoin::Block = deserialize_hex(made["hex"].as_str().unwrap()).unwrap();
    block.txdata.clear();
    // The merkle root of no transactions is all zeros.
    block.header.merkle_root = bitcoin::TxMerkleNode::from_byte_array([0; 32]);
    while block.header.validate_pow(block.header.target()).is_err() {
        block.header.nonce += 1;
    }
    let reason = ok(&node, "submitblock", json!([serialize_hex(&block)]));
    assert_eq!(reason, json!("bad-blk-length"));
    assert_eq!(ok(&node, "getblockcount", json!([])), json!(0));
    assert_eq!(
        rpc(&node, "submitblock", json!(["00ff"])),
        Err((-22, "Block decode failed".into()))
    );
}

#[test]
fn setmocktime_moves_the_kernels_clock_for_block_times() {
    let node = TestNode::start(&["-disablewallet"]);
    let made = ok(
        &node,
        "generateblock",
        json!({"output": "raw(51)", "transactions": [], "submit": false}),
    );
    let mut block: bitcoin::Block = deserialize_hex(made["hex"].as_str().unwrap()).unwrap();
    // Three hours ahead: more than the two the engine allows.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    block.header.time = (now + 3 * 3600) as u32;
    while block.header.validate_pow(block.header.target()).is_err() {
        block.header.nonce += 1;
    }
    let hex = serialize_hex(&block);
    assert_eq!(
        ok(&node, "submitblock", json!([hex])),
        json!("time-too-new")
    );
    assert_eq!(ok(&node, "getblockcount", json!([])), json!(0));
    // With the node's clock set an hour before the block, the engine
    // reads the same time: the block is no longer too new.
    ok(&node, "setmocktime", json!([now + 2 * 3600]));
    assert_eq!(ok(&node, "submitblock", json!([hex])), Value::Null);
    assert_eq!(ok(&node, "getblockcount", json!([])), json!(1));
}
