//! bitcoin-node as bitcoind on regtest: a real Core RPC client (corepc-client)
//! with cookie and -rpcauth credentials, Core's HTTP/JSON-RPC answers, mining
//! through Core's engine inside the sandboxed worker, restarts and kill -9.
// corepc-client's sync client is deprecated in favour of a regtest-only crate.
#![allow(deprecated)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{basic_auth, call_at, http, members, post, TestNode};
use corepc_client::client_sync::v30::Client;
use corepc_client::client_sync::Auth;
use serde_json::{json, Value};

const ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

fn url(node: &TestNode) -> String {
    format!("http://127.0.0.1:{}", node.rpc_port)
}

fn cookie_client(node: &TestNode) -> Client {
    let cookie = node.net_dir().join(".cookie");
    Client::new_with_auth(&url(node), Auth::CookieFile(cookie))
        .unwrap_or_else(|e| panic!("client: {e}\n{}", node.log()))
}

fn address() -> bitcoin::Address {
    ADDRESS
        .parse::<bitcoin::Address<_>>()
        .unwrap()
        .require_network(bitcoin::Network::Regtest)
        .unwrap()
}

#[test]
fn cookie_client_mines_and_reads_the_chain_with_cores_fields() {
    let node = TestNode::start(&[]);
    let client = cookie_client(&node);
    assert_eq!(client.get_block_count().unwrap().0, 0);
    let genesis = client.get_best_block_hash().unwrap().0;
    assert_eq!(
        genesis,
        "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    );
    let mined = client.generate_to_address(5, &address()).unwrap().0;
    assert_eq!(mined.len(), 5);
    assert_eq!(client.get_block_count().unwrap().0, 5);
    assert_eq!(client.get_best_block_hash().unwrap().0, mined[4]);
    assert_eq!(client.get_block_hash(3).unwrap().0, mined[2]);

    let info: Value = client.call("getblockchaininfo", &[]).unwrap();
    for field in [
        "chain",
        "blocks",
        "headers",
        "bestblockhash",
        "bits",
        "target",
        "difficulty",
        "time",
        "mediantime",
        "verificationprogress",
        "initialblockdownload",
        "chainwork",
        "size_on_disk",
        "pruned",
        "warnings",
    ] {
        assert!(
            info.get(field).is_some(),
            "getblockchaininfo lacks {field}: {info}"
        );
    }
    assert_eq!(info["chain"], "regtest");
    assert_eq!(info["blocks"], 5);
    assert_eq!(info["initialblockdownload"], false);
    assert_eq!(info["chainwork"].as_str().unwrap().len(), 64);
    assert_eq!(info["difficulty"].to_string(), "4.656542373906925e-10");

    let block: Value = client
        .call("getblock", &[json!(mined[4]), json!(2)])
        .unwrap();
    assert_eq!(block["height"], 5);
    assert_eq!(block["confirmations"], 1);
    assert_eq!(block["previousblockhash"], mined[3]);
    assert_eq!(block["nTx"], 1);
    let coinbase = &block["tx"][0];
    assert_eq!(coinbase["vout"][0]["value"].to_string(), "50.00000000");
    assert_eq!(coinbase["vout"][0]["scriptPubKey"]["address"], ADDRESS);
    assert_eq!(
        coinbase["vout"][0]["scriptPubKey"]["type"],
        "witness_v0_keyhash"
    );
    // Core's witness commitment output follows the reward.
    assert!(coinbase["vout"][1]["scriptPubKey"]["hex"]
        .as_str()
        .unwrap()
        .starts_with("6a24aa21a9ed"));
    let header: Value = client.call("getblockheader", &[json!(mined[0])]).unwrap();
    assert_eq!(header["nextblockhash"], mined[1]);
    assert_eq!(header["confirmations"], 5);
    let raw: String = client
        .call("getblock", &[json!(mined[0]), json!(0)])
        .unwrap();
    assert!(
        raw.starts_with("00000020"),
        "version 0x20000000 first: {raw}"
    );

    // The coinbase of block 1 is in the UTXO index; genesis's is not.
    let txid = client
        .call::<Value>("getblock", &[json!(mined[0])])
        .unwrap()["tx"][0]
        .as_str()
        .unwrap()
        .to_string();
    let out: Value = client.call("gettxout", &[json!(txid), json!(0)]).unwrap();
    assert_eq!(out["confirmations"], 5);
    assert_eq!(out["coinbase"], true);
    assert_eq!(out["value"].to_string(), "50.00000000");
    let none: Value = client.call("gettxout", &[json!(txid), json!(7)]).unwrap();
    assert!(none.is_null());
    let set: Value = client.call("gettxoutsetinfo", &[json!("none")]).unwrap();
    assert_eq!(set["height"], 5);
    assert_eq!(set["txouts"], 5);
    assert_eq!(set["transactions"], 5);
    assert_eq!(set["total_amount"].to_string(), "250.00000000");
    let mempool: Value = client.call("getmempoolinfo", &[]).unwrap();
    assert_eq!(
        (mempool["loaded"].clone(), mempool["size"].clone()),
        (json!(true), json!(0))
    );
    let mining: Value = client.call("getmininginfo", &[]).unwrap();
    assert_eq!(mining["blocks"], 5);
    assert_eq!(mining["chain"], "regtest");
    // The blocks generated were assembled empty: only the reserved weight.
    assert_eq!(
        (
            mining["currentblocktx"].clone(),
            mining["currentblockweight"].clone()
        ),
        (json!(0), json!(8000))
    );
    assert_eq!(mining["next"]["height"], 6);
    assert_eq!(mining["next"]["bits"], "207fffff");
    assert_eq!(mining["next"]["target"], mining["target"]);
    let tips: Value = client.call("getchaintips", &[]).unwrap();
    assert_eq!(
        tips,
        json!([{"height": 5, "hash": mined[4], "branchlen": 0, "status": "active"}])
    );
    // A header on block 3 that is not block 4: a second tip, headers only.
    let raw: String = client
        .call("getblockheader", &[json!(mined[3]), json!(false)])
        .unwrap();
    let raw: Vec<u8> = bitcoin::hex::FromHex::from_hex(&raw).unwrap();
    let mut sibling: bitcoin::block::Header = bitcoin::consensus::deserialize(&raw).unwrap();
    sibling.time += 1;
    while sibling.validate_pow(sibling.target()).is_err() {
        sibling.nonce += 1;
    }
    let submitted: Value = client
        .call(
            "submitheader",
            &[json!(bitcoin::consensus::encode::serialize_hex(&sibling))],
        )
        .unwrap();
    assert_eq!(submitted, Value::Null);
    let tips: Value = client.call("getchaintips", &[]).unwrap();
    assert_eq!(
        tips,
        json!([
            {"height": 5, "hash": mined[4], "branchlen": 0, "status": "active"},
            {"height": 4, "hash": sibling.block_hash().to_string(), "branchlen": 1, "status": "headers-only"}
        ])
    );
    let valid: Value = client.call("validateaddress", &[json!(ADDRESS)]).unwrap();
    assert_eq!(
        (valid["isvalid"].clone(), valid["witness_version"].clone()),
        (json!(true), json!(0))
    );
    // Core's message for what is wrong, and where.
    let wrong_version: Value = client
        .call(
            "validateaddress",
            &[json!("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7k35mrzd")],
        )
        .unwrap();
    assert_eq!(
        wrong_version,
        json!({"isvalid": false, "error_locations": [], "error": "Version 0 witness address must use Bech32 checksum"})
    );
    let too_long: Value = client
        .call(
            "validateaddress",
            &[json!(format!("bcrt1q{}", "q".repeat(90)))],
        )
        .unwrap();
    assert_eq!(too_long["error"], "Bech32 string too long");
    assert_eq!(
        too_long["error_locations"],
        json!((90..96).collect::<Vec<_>>())
    );

    // An empty mempool in Core's three shapes.
    let pool: Value = client.call("getrawmempool", &[]).unwrap();
    assert_eq!(pool, json!([]));
    let pool: Value = client.call("getrawmempool", &[json!(true)]).unwrap();
    assert_eq!(pool, json!({}));
    let pool: Value = client
        .call("getrawmempool", &[json!(false), json!(true)])
        .unwrap();
    assert_eq!(pool, json!({"txids": [], "mempool_sequence": 1}));
    let synced: Value = client
        .call("syncwithvalidationinterfacequeue", &[])
        .unwrap();
    assert_eq!(synced, Value::Null);
    // uptime runs on a steady clock: a mock time a day ahead does not move it.
    let before: u64 = client.call("uptime", &[]).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let _: Value = client.call("setmocktime", &[json!(now + 86_400)]).unwrap();
    let after: u64 = client.call("uptime", &[]).unwrap();
    let _: Value = client.call("setmocktime", &[json!(0)]).unwrap();
    assert!(after - before < 60, "{before} -> {after}");

    // Everything above ran in the sandboxed worker.
    assert!(node.log().contains("seccomp on"), "{}", node.log());
    assert!(
        !node.log().contains("blocked system call"),
        "{}",
        node.log()
    );
}

#[test]
fn errors_have_cores_codes_and_http_statuses() {
    let node = TestNode::start(&[]);
    let call = |body: &str| {
        let (status, text) = post(&node, "/", body);
        (
            status,
            serde_json::from_str::<Value>(text.trim()).unwrap_or(Value::Null),
        )
    };
    let (status, v) = call(r#"{"method":"nosuchmethod","id":1}"#);
    assert_eq!(status, 404);
    assert_eq!(
        v,
        json!({"result": null, "error": {"code": -32601, "message": "Method not found"}, "id": 1})
    );
    let (status, v) = call(r#"{"method":"getblockhash","params":["x"],"id":2}"#);
    assert_eq!(status, 500);
    assert_eq!(v["error"]["code"], -3);
    assert_eq!(
        v["error"]["message"],
        "Wrong type passed:\n{\n    \"Position 1 (height)\": \"JSON value of type string is not of expected type number\"\n}"
    );
    let (_, v) = call(r#"{"method":"getblockhash","params":[99],"id":3}"#);
    assert_eq!(
        v["error"],
        json!({"code": -8, "message": "Block height out of range"})
    );
    let (_, v) = call(r#"{"method":"getblockhash","params":{"height":0},"id":4}"#);
    assert_eq!(
        v["result"],
        "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    );
    let (_, v) = call(r#"{"method":"getblockhash","params":{"heigth":0},"id":5}"#);
    assert_eq!(
        v["error"],
        json!({"code": -8, "message": "Unknown named parameter heigth"})
    );
    let (status, v) = call(r#"{"method":"getblockhash","id":6}"#);
    assert_eq!((status, v["error"]["code"].clone()), (500, json!(-1)));
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("getblockhash height"));
    // JSON-RPC 2.0: errors ride on HTTP 200, notifications get 204.
    let (status, v) = call(r#"{"jsonrpc":"2.0","method":"nosuchmethod","id":7}"#);
    assert_eq!(status, 200);
    assert_eq!(
        v,
        json!({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": 7})
    );
    let (status, body) = post(&node, "/", r#"{"jsonrpc":"2.0","method":"getblockcount"}"#);
    assert_eq!((status, body.as_str()), (204, ""));
    // A batch answers every call that has an id, in order.
    let (status, v) = call(
        r#"[{"jsonrpc":"2.0","method":"getblockcount","id":1},{"jsonrpc":"2.0","method":"getblockcount"},{"method":"x","id":2}]"#,
    );
    assert_eq!(status, 200);
    assert_eq!(
        v,
        json!([{"jsonrpc": "2.0", "result": 0, "id": 1}, {"result": null, "error": {"code": -32601, "message": "Method not found"}, "id": 2}])
    );
    // A malformed notification in a batch gets no reply either; a batch of
    // notifications only is answered with 204.
    let (status, v) = call(
        r#"[{"jsonrpc":"2.0","params":[]},{"jsonrpc":"2.0","method":"getblockcount","id":3}]"#,
    );
    assert_eq!(
        (status, v),
        (200, json!([{"jsonrpc": "2.0", "result": 0, "id": 3}]))
    );
    let (status, body) = post(&node, "/", r#"[{"jsonrpc":"2.0","params":[]}]"#);
    assert_eq!((status, body.as_str()), (204, ""));
    // Unparsable bodies and non-objects in a batch answer with "id": null.
    let (status, v) = call("{not json");
    assert_eq!(
        (status, v),
        (
            500,
            json!({"result": null, "error": {"code": -32700, "message": "Parse error"}, "id": null})
        )
    );
    let (_, v) = call("[1]");
    assert_eq!(
        v,
        json!([{"result": null, "error": {"code": -32600, "message": "Invalid Request object"}, "id": null}])
    );
    let (status, v) = call(r#"{"jsonrpc":"3.0","method":"getblockcount","id":1}"#);
    assert_eq!(
        (status, v["error"]["message"].clone()),
        (400, json!("JSON-RPC version not supported"))
    );
    // Non-wallet methods answer on a wallet URI too.
    let (status, v) = call_at(&node, "/wallet/w1", r#"{"method":"getblockcount","id":1}"#);
    assert_eq!((status, v["result"].clone()), (200, json!(0)));
    let (status, _) = post(&node, "/nowhere", r#"{"method":"getblockcount"}"#);
    assert_eq!(status, 404);
    // HTTP-level refusals.
    let (status, _) = http(
        node.rpc_port,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 405);
    let (status, _) = http(
        node.rpc_port,
        "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(status, 401);
    let bad = Client::new_with_auth(
        &url(&node),
        Auth::UserPass("__cookie__".into(), "wrong".into()),
    )
    .unwrap();
    assert!(bad.get_block_count().is_err());
    // A malformed submitblock is a decode error; the node goes on.
    let (_, v) = call(r#"{"method":"submitblock","params":["00ff"],"id":1}"#);
    assert_eq!(
        v["error"],
        json!({"code": -22, "message": "Block decode failed"})
    );
    let (_, v) = call(r#"{"method":"getblockcount","id":1}"#);
    assert_eq!(v["result"], 0);
    // A body over 32 MiB is refused before it is read, with Core's reason phrase.
    let auth = common::basic_auth(&node);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", node.rpc_port)).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Length: 40000000\r\n\r\n"
    )
    .unwrap();
    // The body goes out from another thread: the server stops reading it.
    let mut writer = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![b'0'; 1 << 20];
        for _ in 0..40 {
            if writer.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut head = [0u8; 64];
    let n = s.read(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 413 Content too large"), "{head}");
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    let (_, v) = call(r#"{"method":"getblockcount","id":1}"#);
    assert_eq!(v["result"], 0);
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let node = TestNode::start(&[]);
    let auth = basic_auth(&node);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", node.rpc_port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = r#"{"method":"getblockcount","id":1}"#;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    for _ in 0..3 {
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(
            text.ends_with("{\"result\":0,\"error\":null,\"id\":1}\n"),
            "{text}"
        );
    }
}

#[test]
fn rpcauth_credentials_work_and_no_cookie_with_rpcpassword() {
    // python3 -c 'import hmac;print(hmac.new(b"a1b2c3",b"pw","sha256").hexdigest())'
    let entry =
        "-rpcauth=alice:a1b2c3$8843222f6240ccaacfb85ab35f4e1a79d3f28921cd9ef8af101f508e8cfe20e1";
    let node = TestNode::start(&[entry, "-rpcuser=bob", "-rpcpassword=builder"]);
    assert!(
        !node.net_dir().join(".cookie").exists(),
        "-rpcpassword means no cookie"
    );
    let alice =
        Client::new_with_auth(&url(&node), Auth::UserPass("alice".into(), "pw".into())).unwrap();
    assert_eq!(alice.get_block_count().unwrap().0, 0);
    let bob =
        Client::new_with_auth(&url(&node), Auth::UserPass("bob".into(), "builder".into())).unwrap();
    assert_eq!(bob.generate_to_address(1, &address()).unwrap().0.len(), 1);
    let wrong =
        Client::new_with_auth(&url(&node), Auth::UserPass("alice".into(), "pW".into())).unwrap();
    assert!(wrong.get_block_count().is_err());
}

#[test]
fn rpcwhitelist_limits_listed_users_and_refuses_unlisted_ones() {
    let entry =
        "-rpcauth=alice:a1b2c3$8843222f6240ccaacfb85ab35f4e1a79d3f28921cd9ef8af101f508e8cfe20e1";
    let node = TestNode::start(&[
        entry,
        "-rpcwhitelist=alice:getblockcount,getbestblockhash",
        "-rpcwhitelist=alice:getblockcount stop",
    ]);
    let as_alice = |body: &str| {
        let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "alice:pw");
        http(
            node.rpc_port,
            &format!(
                "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    // The two entries intersect: only getblockcount is left for alice.
    let (status, body) = as_alice(r#"{"method":"getblockcount","id":1}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(as_alice(r#"{"method":"getbestblockhash","id":1}"#).0, 403);
    assert_eq!(as_alice(r#"{"method":"stop","id":1}"#).0, 403);
    // One refused call refuses the whole batch.
    let (status, _) = as_alice(r#"[{"method":"getblockcount","id":1},{"method":"stop","id":2}]"#);
    assert_eq!(status, 403);
    // With a whitelist given, users without one (the cookie) may call nothing.
    let (status, _) = post(&node, "/", r#"{"method":"getblockcount","id":1}"#);
    assert_eq!(status, 403);
    assert!(node
        .wait_for_log("not allowed to call method stop", Duration::from_secs(5))
        .contains("RPC User alice"));
}

#[test]
fn stop_rpc_ends_the_process_set_and_removes_the_cookie_and_restart_resumes() {
    let mut node = TestNode::start(&[]);
    let client = cookie_client(&node);
    let mined = client.generate_to_address(7, &address()).unwrap().0;
    assert_eq!(client.stop().unwrap(), "Bitcoin Core stopping");
    let status = node.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}\n{}", node.log());
    assert!(!node.net_dir().join(".cookie").exists());
    assert!(node.net_dir().join("blocks").is_dir() && node.net_dir().join("chainstate").is_dir());

    let datadir = std::mem::replace(&mut node.datadir, tempfile::tempdir().unwrap());
    let node = TestNode::start_in(datadir, &[]);
    let client = cookie_client(&node);
    assert_eq!(client.get_block_count().unwrap().0, 7);
    assert_eq!(client.get_best_block_hash().unwrap().0, mined[6]);
    let set: Value = client.call("gettxoutsetinfo", &[json!("none")]).unwrap();
    assert_eq!(set["txouts"], 7);
    drop(client);
    let datadir = {
        let mut node = node;
        node.stop_with(libc::SIGTERM, Duration::from_secs(20));
        std::mem::replace(&mut node.datadir, tempfile::tempdir().unwrap())
    };
    // -reindex rebuilds everything from the block files to the same tip.
    let node = TestNode::start_in(datadir, &["-reindex"]);
    let client = cookie_client(&node);
    assert_eq!(client.get_best_block_hash().unwrap().0, mined[6]);
    let set: Value = client.call("gettxoutsetinfo", &[json!("none")]).unwrap();
    assert_eq!(set["txouts"], 7);
}

#[test]
fn kill_9_during_generation_comes_back_consistent() {
    let mut node = TestNode::start(&[]);
    let client = cookie_client(&node);
    client.generate_to_address(3, &address()).unwrap();
    let port = node.rpc_port;
    let cookie = std::fs::read_to_string(node.net_dir().join(".cookie")).unwrap();
    // Generate in the background and kill every process of the set mid-way.
    let miner = std::thread::spawn(move || {
        let c = Client::new_with_auth(
            &format!("http://127.0.0.1:{port}"),
            Auth::UserPass(
                "__cookie__".into(),
                cookie.trim().trim_start_matches("__cookie__:").into(),
            ),
        )
        .unwrap();
        let _ = c.generate_to_address(200, &address());
    });
    std::thread::sleep(Duration::from_millis(300));
    let kids = node.children();
    unsafe { libc::kill(node.pid, libc::SIGKILL) };
    for (pid, _) in &kids {
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    let _ = node.wait_exit(Duration::from_secs(10));
    for (pid, _) in &kids {
        assert!(common::wait_gone(*pid, Duration::from_secs(10)));
    }
    let _ = miner.join();
    let datadir = std::mem::replace(&mut node.datadir, tempfile::tempdir().unwrap());
    let node = TestNode::start_in(datadir, &[]);
    let client = cookie_client(&node);
    // Core's engine flushes its block index lazily, so blocks mined just
    // before a kill -9 may be gone (as with bitcoind); what must hold is a
    // valid tip and our UTXO index reconciled with it: one coinbase output
    // per block, whatever the index had committed before the kill.
    let height = client.get_block_count().unwrap().0;
    let tip = client.get_best_block_hash().unwrap().0;
    let block: Value = client.call("getblock", &[json!(tip)]).unwrap();
    assert_eq!(block["height"].as_u64().unwrap(), height as u64);
    let set: Value = client.call("gettxoutsetinfo", &[json!("none")]).unwrap();
    assert_eq!(set["txouts"].as_u64().unwrap(), height as u64);
    // And it goes on mining on top.
    client.generate_to_address(2, &address()).unwrap();
    assert_eq!(client.get_block_count().unwrap().0, height + 2);
}

#[test]
fn raw_transactions_fee_estimates_and_waiting_for_blocks() {
    let node = TestNode::start(&[]);
    let client = cookie_client(&node);
    let mined = client.generate_to_address(2, &address()).unwrap().0;
    let block: Value = client.call("getblock", &[json!(mined[1])]).unwrap();
    let txid = block["tx"][0].as_str().unwrap().to_string();
    let hex: String = client
        .call(
            "getrawtransaction",
            &[json!(txid), json!(0), json!(mined[1])],
        )
        .unwrap();
    let decoded: Value = client.call("decoderawtransaction", &[json!(hex)]).unwrap();
    assert_eq!(decoded["txid"], txid);
    assert_eq!(decoded["locktime"], 1, "coinbase locked to height-1");
    assert_eq!(decoded["vin"][0]["sequence"], 4294967294u32);
    assert!(decoded.get("hex").is_none());
    let verbose: Value = client
        .call(
            "getrawtransaction",
            &[json!(txid), json!(true), json!(mined[1])],
        )
        .unwrap();
    assert_eq!(verbose["in_active_chain"], true);
    assert_eq!(verbose["blockhash"], mined[1]);
    assert_eq!(verbose["confirmations"], 1);
    assert_eq!(verbose["hex"], hex);
    let err = client
        .call::<Value>("getrawtransaction", &[json!(txid)])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("No such mempool transaction. Use -txindex or provide a block hash"),
        "{err}"
    );
    let err = client
        .call::<Value>("decoderawtransaction", &[json!("00")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("TX decode failed"), "{err}");
    let fee: Value = client.call("estimatesmartfee", &[json!(6)]).unwrap();
    assert_eq!(
        fee,
        json!({"errors": ["Insufficient data or no feerate found"], "blocks": 0})
    );
    assert!(client
        .call::<Value>("estimatesmartfee", &[json!(0)])
        .is_err());
    // Core's estimator choice and verbosity, each answering without data.
    let mempool_policy: Value = client
        .call(
            "estimatesmartfee",
            &[
                json!(1),
                json!("conservative"),
                json!({"fee_rate_estimator": "MEMPOOL_POLICY", "verbosity": 2}),
            ],
        )
        .unwrap();
    assert_eq!(
        mempool_policy,
        json!({
            "errors": ["mempool_policy: Not enough recent block data for fee rate estimation"],
            "blocks": 2,
            "mempool_health_statistics": [],
        })
    );
    for (options, message) in [
        (
            json!({"block_policy_only": true}),
            "Unexpected key block_policy_only",
        ),
        (
            json!({"verbosity": "2"}),
            "JSON value of type string for field verbosity is not of expected type number",
        ),
    ] {
        let err = client
            .call::<Value>("estimatesmartfee", &[json!(1), json!("unset"), options])
            .unwrap_err()
            .to_string();
        assert!(err.contains(message), "{err}");
    }
    // estimaterawfee: the horizons tracking the target, each failing over
    // the whole feerate range.
    let raw: Value = client.call("estimaterawfee", &[json!(20)]).unwrap();
    assert_eq!(members(&raw), ["medium", "long"]);
    assert_eq!(raw["long"]["scale"], 24);
    assert_eq!(raw["medium"]["fail"]["startrange"], 0);
    assert_eq!(
        raw["medium"]["errors"],
        json!(["Insufficient data or no feerate found which meets threshold"])
    );
    let raw: Value = client
        .call("estimaterawfee", &[json!(1), json!(1)])
        .unwrap();
    assert_eq!(members(&raw), ["short", "medium", "long"]);
    for (args, message) in [
        (
            json!([1009]),
            "Invalid conf_target, must be between 1 and 1008",
        ),
        (json!([1, 1.5]), "Invalid threshold"),
    ] {
        let args: Vec<Value> = args.as_array().unwrap().clone();
        let err = client
            .call::<Value>("estimaterawfee", &args)
            .unwrap_err()
            .to_string();
        assert!(err.contains(message), "{err}");
    }

    // waitforblockheight returns at once when reached, or the tip at the timeout.
    let now: Value = client
        .call("waitforblockheight", &[json!(2), json!(1000)])
        .unwrap();
    assert_eq!(now, json!({"hash": mined[1], "height": 2}));
    let later: Value = client
        .call("waitforblockheight", &[json!(5), json!(200)])
        .unwrap();
    assert_eq!(later["height"], 2);
    // waitfornewblock wakes when another client mines.
    let port = node.rpc_port;
    let cookie = node.net_dir().join(".cookie");
    let waiter = std::thread::spawn(move || {
        let c = Client::new_with_auth(
            &format!("http://127.0.0.1:{port}"),
            Auth::CookieFile(cookie),
        )
        .unwrap();
        c.call::<Value>("waitfornewblock", &[json!(30_000)])
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(300));
    let new = client.generate_to_address(1, &address()).unwrap().0;
    let woke = waiter.join().unwrap();
    assert_eq!(woke, json!({"hash": new[0], "height": 3}));
}

#[test]
fn request_heads_are_limited_by_size_and_time_as_core() {
    let node = TestNode::start(&["-rpcservertimeout=2"]);
    let port = node.rpc_port;
    let get = |target: &str, extra: &str| {
        http(
            port,
            &format!("GET {target} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"),
        )
        .0
    };
    // Under 8 KiB (request line, headers and the blank line): read, and not
    // found at this path; over it: a bad request.
    assert_eq!(get(&format!("/{}", "x".repeat(8000)), ""), 404);
    assert_eq!(get(&format!("/{}", "x".repeat(8192)), ""), 400);
    // Many short header lines count by their bytes, not their number.
    let lines = |n: usize| {
        (0..n)
            .map(|i| format!("h{i:04}: foo\r\n"))
            .collect::<String>()
    };
    assert_eq!(get("/x", &lines(600)), 404);
    assert_eq!(get("/x", &lines(800)), 400);

    // An unfinished head is dropped after -rpcservertimeout.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /x HTTP/1.1\r\nHost: x\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = std::time::Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    // The server still answers.
    assert_eq!(get("/x", ""), 404);
}

/// What a call logs is in debug.log when its answer arrives, although the
/// worker's records reach the file through the broker: Core's test
/// framework reads the log right after a call (assert_debug_log).
#[test]
fn debug_log_holds_what_a_call_logged_when_it_answers() {
    // Every category on, as Core's framework runs nodes: the broker has a
    // backlog of records when each call answers.
    let node = TestNode::start(&["-disablewallet", "-debug"]);
    for round in 1..=20 {
        for active in [false, true] {
            common::ok(&node, "generatetoaddress", json!([1, ADDRESS]));
            common::ok(&node, "setnetworkactive", json!([active]));
            let line = format!("SetNetworkActive: {active}\n");
            let seen = node.log().matches(&line).count();
            assert_eq!(seen, round, "round {round}: {line:?} not yet in debug.log");
        }
    }
}
