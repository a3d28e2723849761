//! P2P between two of our nodes on loopback: Core's v1 handshake through
//! sockets the brokers bound and connected, headers-first sync validated by
//! Core's engine, new blocks announced both ways, the network RPCs, and a
//! peer that sends garbage dropped without harm, and a pruned node fetching a
//! block again from its peer (getblockfrompeer).

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{free_port, ok, rpc, wait_for, wait_timeout, TestNode, NODE};
use serde_json::{json, Value};

const ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

/// A node that does not listen and connects to ours on `port` only.
fn follower(port: u16) -> TestNode {
    TestNode::start(&[
        "-disablewallet",
        "-listen=0",
        &format!("-connect=127.0.0.1:{port}"),
    ])
}

fn listening(port: u16) -> TestNode {
    TestNode::start(&["-disablewallet", &format!("-port={port}")])
}

#[test]
fn two_nodes_sync_and_announce_blocks_both_ways() {
    let port = free_port();
    let a = TestNode::start(&["-disablewallet", "-debug=net", &format!("-port={port}")]);
    ok(&a, "generatetoaddress", json!([3, ADDRESS]));
    // -connect: no listening of its own (Core's default then).
    let b = follower(port);
    wait_for("b to sync 3 blocks", || {
        ok(&b, "getblockcount", json!([])) == json!(3)
    });
    assert_eq!(
        ok(&b, "getbestblockhash", json!([])),
        ok(&a, "getbestblockhash", json!([]))
    );
    // Both see one peer, from their own side.
    let pa = ok(&a, "getpeerinfo", json!([]));
    let pb = ok(&b, "getpeerinfo", json!([]));
    assert_eq!(pa.as_array().unwrap().len(), 1, "{pa}");
    assert_eq!(pa[0]["inbound"], true);
    assert_eq!(pa[0]["connection_type"], "inbound");
    assert_eq!(pb[0]["inbound"], false);
    assert_eq!(pb[0]["connection_type"], "manual");
    assert_eq!(
        pb[0]["subver"],
        format!("/bitcoin-mp:{}/", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(pb[0]["version"], 70016);
    assert_eq!(
        pb[0]["servicesnames"],
        json!(["NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"])
    );
    // Both sides speak BIP324 v2 (-v2transport is on by default, as Core).
    assert_eq!(pa[0]["transport_protocol_type"], "v2");
    assert_eq!(pb[0]["transport_protocol_type"], "v2");
    assert_eq!(pa[0]["session_id"].as_str().unwrap().len(), 64);
    assert_eq!(pa[0]["session_id"], pb[0]["session_id"]);
    // Current Core no longer reports the height a peer started at.
    assert!(pb[0].get("startingheight").is_none(), "{}", pb[0]);
    // Each side's feefilter is the other's relay minimum, and both relay
    // transactions; loopback is not a publicly routable network.
    let relayfee = ok(&a, "getnetworkinfo", json!([]))["relayfee"].clone();
    wait_for("b to hear a's feefilter", || {
        ok(&b, "getpeerinfo", json!([]))[0]["minfeefilter"] == relayfee
    });
    assert_eq!(pb[0]["relaytxes"], true);
    assert_eq!(pb[0]["network"], "not_publicly_routable");
    assert_eq!(pb[0]["inv_to_send"], 0);
    // addnode: the same address spelled differently is already added, and
    // an empty address is refused.
    ok(&b, "addnode", json!(["127.0.0.1:1", "add"]));
    assert_eq!(
        rpc(&b, "addnode", json!(["127.1:1", "add"])).unwrap_err(),
        (-23, "Error: Node already added".into())
    );
    assert_eq!(
        rpc(&b, "addnode", json!([" ", "onetry"])).unwrap_err(),
        (-8, "Error: Node address cannot be empty".into())
    );
    ok(&b, "addnode", json!(["127.0.0.1:1", "remove"]));
    assert_eq!(pb[0]["addr"], format!("127.0.0.1:{port}"));
    assert_eq!(ok(&a, "getconnectioncount", json!([])), json!(1));
    let info = ok(&b, "getnetworkinfo", json!([]));
    assert_eq!(
        (info["connections"].clone(), info["connections_out"].clone()),
        (json!(1), json!(1))
    );

    // New blocks travel both ways.
    ok(&a, "generatetoaddress", json!([2, ADDRESS]));
    wait_for("b to follow a", || {
        ok(&b, "getblockcount", json!([])) == json!(5)
    });
    let tip = ok(&b, "generatetoaddress", json!([1, ADDRESS]));
    wait_for("a to follow b", || {
        ok(&a, "getbestblockhash", json!([])) == tip[0]
    });
    // The peer's record follows once a's engine has taken the block.
    wait_for("a to credit b with block 6", || {
        ok(&a, "getpeerinfo", json!([]))[0]["synced_blocks"] == json!(6)
    });

    // Dropping the peer ends the connection on both sides.
    let id = pa[0]["id"].clone();
    assert_eq!(ok(&a, "disconnectnode", json!({"nodeid": id})), Value::Null);
    wait_for("b to notice", || {
        ok(&b, "getconnectioncount", json!([])) == json!(0)
    });
    assert_eq!(
        rpc(&a, "disconnectnode", json!({"nodeid": 99})),
        Err((-29, "Node not found in connected nodes".into()))
    );
}

#[test]
fn addnode_list_and_a_garbage_peer() {
    let port = free_port();
    let a = listening(port);
    let target = format!("127.0.0.1:{port}");
    let b = TestNode::start(&["-disablewallet"]);
    assert_eq!(ok(&b, "getconnectioncount", json!([])), json!(0));
    assert_eq!(ok(&b, "addnode", json!([target, "add"])), Value::Null);
    assert_eq!(
        rpc(&b, "addnode", json!([target, "add"])),
        Err((-23, "Error: Node already added".into()))
    );
    wait_for("the added node to connect", || {
        ok(&b, "getconnectioncount", json!([])) == json!(1)
    });
    let added = ok(&b, "getaddednodeinfo", json!([]));
    assert_eq!(added[0]["addednode"], target);
    assert_eq!(added[0]["connected"], true);
    assert_eq!(ok(&b, "addnode", json!([target, "remove"])), Value::Null);
    assert_eq!(
        rpc(&b, "addnode", json!([target, "remove"])),
        Err((
            -24,
            "Error: Node could not be removed. It has not been added previously.".into()
        ))
    );
    // A v1 peer announcing a 4 GB version message is dropped unanswered;
    // the node and its other peer go on. (Bytes that do not start a v1
    // version header are a BIP324 key to the node, as to Core.)
    let mut garbage = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    garbage.write_all(&[0xfa, 0xbf, 0xb5, 0xda]).unwrap();
    garbage.write_all(b"version\0\0\0\0\0").unwrap();
    garbage.write_all(&[0xff; 8]).unwrap();
    garbage
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let _ = garbage.read_to_end(&mut buf);
    assert_eq!(buf.len(), 0, "nothing answered to garbage");
    wait_for("the garbage peer to be gone", || {
        ok(&a, "getconnectioncount", json!([])) == json!(1)
    });
    ok(&a, "generatetoaddress", json!([1, ADDRESS]));
    wait_for("b to follow", || {
        ok(&b, "getblockcount", json!([])) == json!(1)
    });
    // Wallet-less peers never ask the broker for anything they may not have:
    // a bad address is refused by the broker's policy, with its reason.
    assert_eq!(
        ok(&b, "addnode", json!(["0.0.0.0:1", "onetry"])),
        Value::Null
    );
    b.wait_for_log("is not a peer address", Duration::from_secs(10));
}

#[test]
fn bans_drop_and_refuse_peers_and_survive_a_restart_and_network_activity_toggles() {
    let port = free_port();
    let mut a = listening(port);
    let b = follower(port);
    // b tries a once more (it has no retry loop of its own).
    let knock = || {
        ok(
            &b,
            "addnode",
            json!([format!("127.0.0.1:{port}"), "onetry"]),
        );
    };
    wait_for("b to connect", || {
        ok(&a, "getconnectioncount", json!([])) == json!(1)
    });
    // The peer counts as connected once accepted, before either side's
    // handshake bytes are through: wait for traffic both ways.
    wait_for("bytes both ways", || {
        let totals = ok(&a, "getnettotals", json!([]));
        totals["totalbytesrecv"].as_u64().unwrap() > 0
            && totals["totalbytessent"].as_u64().unwrap() > 0
    });
    let totals = ok(&a, "getnettotals", json!([]));
    assert_eq!(totals["uploadtarget"]["target"], 0);

    // Banning the peer's address drops it; it cannot come back.
    assert_eq!(ok(&a, "setban", json!(["127.0.0.1", "add"])), Value::Null);
    wait_for("the banned peer to go", || {
        ok(&a, "getconnectioncount", json!([])) == json!(0)
    });
    assert_eq!(
        rpc(&a, "setban", json!(["127.0.0.1", "add"])),
        Err((-23, "Error: IP/Subnet already banned".into()))
    );
    assert_eq!(
        rpc(&a, "setban", json!(["not-an-ip", "add"])),
        Err((-30, "Error: Invalid IP/Subnet".into()))
    );
    // A Tor address has no subnets: it is banned alone, listed after the
    // IP subnets.
    let onion = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion";
    assert_eq!(ok(&a, "setban", json!([onion, "add"])), Value::Null);
    let banned = ok(&a, "listbanned", json!([]));
    assert_eq!(banned[0]["address"], "127.0.0.1/32");
    assert_eq!(banned[0]["ban_duration"], 86400);
    assert_eq!(banned[1]["address"], onion);
    assert_eq!(ok(&a, "setban", json!([onion, "remove"])), Value::Null);
    knock();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(ok(&a, "getconnectioncount", json!([])), json!(0));

    // The list is in Core's banlist.json and comes back after a restart.
    wait_for("banlist.json", || {
        a.net_dir().join("banlist.json").is_file()
    });
    let saved: Value =
        serde_json::from_slice(&std::fs::read(a.net_dir().join("banlist.json")).unwrap()).unwrap();
    assert_eq!(saved["banned_nets"][0]["address"], "127.0.0.1/32");
    a.stop_with(libc::SIGTERM, Duration::from_secs(20));
    let datadir = std::mem::replace(&mut a.datadir, tempfile::tempdir().unwrap());
    let a = TestNode::start_in(datadir, &["-disablewallet", &format!("-port={port}")]);
    assert_eq!(
        ok(&a, "listbanned", json!([]))[0]["address"],
        "127.0.0.1/32"
    );
    assert_eq!(
        ok(&a, "setban", json!(["127.0.0.0/8", "add", 60])),
        Value::Null
    );
    assert_eq!(
        ok(&a, "setban", json!(["127.0.0.1", "remove"])),
        Value::Null
    );
    assert_eq!(
        rpc(&a, "setban", json!(["127.0.0.1", "remove"])),
        Err((
            -30,
            "Error: Unban failed. Requested address/subnet was not previously manually banned."
                .into()
        ))
    );
    assert_eq!(ok(&a, "clearbanned", json!([])), Value::Null);
    assert_eq!(ok(&a, "listbanned", json!([])), json!([]));

    // Network activity off: no peers, none taken; on again: they come.
    knock();
    wait_for("b to reconnect", || {
        ok(&a, "getconnectioncount", json!([])) == json!(1)
    });
    assert_eq!(ok(&a, "setnetworkactive", json!([false])), false);
    assert_eq!(ok(&a, "getnetworkinfo", json!([]))["networkactive"], false);
    wait_for("a to drop its peer", || {
        ok(&a, "getconnectioncount", json!([])) == json!(0)
    });
    knock();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(ok(&a, "getconnectioncount", json!([])), json!(0));
    assert_eq!(ok(&a, "setnetworkactive", json!([true])), true);
    knock();
    wait_for("b to connect again", || {
        ok(&a, "getconnectioncount", json!([])) == json!(1)
    });
}

#[test]
fn a_foreign_peer_is_answered_then_dropped_for_bad_framing_while_another_syncs() {
    let port = free_port();
    let a = listening(port);
    let b = follower(port);
    wait_for("b to connect", || {
        ok(&a, "getconnectioncount", json!([])) == json!(1)
    });
    let peer = |how: &str| foreign_peer(port, how);
    // Core's handshake order as a peer with no code of ours sees it.
    let pinged = peer("ping");
    assert!(
        pinged.contains("handshake ok: version wtxidrelay sendaddrv2 verack"),
        "{pinged}"
    );
    assert!(pinged.contains("pong ok"), "{pinged}");
    assert!(peer("bad-checksum").contains("disconnected after bad-checksum"));
    assert!(peer("oversized").contains("disconnected after oversized"));
    assert!(peer("unknown-flood").contains("disconnected after unknown-flood"));
    // The other peer never noticed.
    ok(&a, "generatetoaddress", json!([2, ADDRESS]));
    wait_for("b to keep syncing", || {
        ok(&b, "getblockcount", json!([])) == json!(2)
    });
    assert_eq!(ok(&a, "getconnectioncount", json!([])), json!(1));
}

/// Runs tests/foreign_peer.py against `port` in mode `how`: its output.
fn foreign_peer(port: u16, how: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/foreign_peer.py");
    // The sync mode takes how long to stay; this one leaves at once.
    let stay: &[&str] = if how == "sync" { &["0"] } else { &[] };
    let out = std::process::Command::new("python3")
        .args([script, "127.0.0.1", &port.to_string(), how])
        .args(stay)
        .output()
        .expect("python3");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{how}: {text}");
    text
}

#[test]
fn initial_headers_sync_runs_with_one_peer_while_far_behind() {
    let port = free_port();
    // At the genesis block (2011), far behind today.
    let a = listening(port);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/foreign_peer.py");
    let mut first = std::process::Command::new("python3")
        .args([script, "127.0.0.1", &port.to_string(), "sync", "6"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    wait_for("the first peer's handshake", || {
        ok(&a, "getpeerinfo", json!([]))
            .as_array()
            .is_some_and(|p| p.len() == 1 && p[0]["version"] != json!(0))
    });
    // The second peer, while the first is still there, is not asked.
    let second = foreign_peer(port, "sync");
    assert!(second.contains("no getheaders"), "{second}");
    let mut out = String::new();
    first
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(first.wait().unwrap().success());
    assert!(out.contains("getheaders received"), "{out}");
}

#[test]
fn blocks_are_served_as_cores_and_bloom_requests_end_the_connection() {
    let port = free_port();
    let a = TestNode::start(&["-disablewallet", "-debug=net", &format!("-port={port}")]);
    ok(&a, "generatetoaddress", json!([3, ADDRESS]));
    // getblocks: the three blocks after the genesis block by inv; a block
    // asked for as MSG_BLOCK has its witnesses stripped.
    let served = foreign_peer(port, "getblocks");
    assert!(served.contains("inv blocks 3"), "{served}");
    assert!(served.contains("block without witness"), "{served}");
    // We offer no bloom filters (NODE_BLOOM), and a locator is 101 hashes
    // at most: Core drops peers that do otherwise.
    for how in ["filterload", "mempool", "long-locator", "bad-header"] {
        let out = foreign_peer(port, how);
        assert!(out.contains(&format!("disconnected after {how}")), "{out}");
    }
    let log = a.log();
    assert!(
        log.contains(
            "filterload received despite not offering bloom services, disconnecting peer="
        ),
        "{log}"
    );
    assert!(
        log.contains("mempool request with bloom filters disabled, disconnecting peer="),
        "{log}"
    );
    assert!(
        log.contains("getheaders locator size 102 > 101, disconnecting peer="),
        "{log}"
    );
    // A peer with the default permissions gets our feefilter.
    assert!(foreign_peer(port, "feefilter").contains("feefilter received"));
}

#[test]
fn blocksonly_refuses_peer_transactions_and_whitebind_grants_permissions() {
    let (port, white) = (free_port(), free_port());
    let a = TestNode::start(&[
        "-disablewallet",
        "-blocksonly",
        "-debug=net",
        &format!("-bind=127.0.0.1:{port}"),
        &format!("-whitebind=mempool,relay,noban@127.0.0.1:{white}"),
    ]);
    let info = ok(&a, "getnetworkinfo", json!([]));
    assert_eq!(info["localrelay"], json!(false));
    assert_eq!(
        ok(&a, "getmempoolinfo", json!([]))["maxmempool"],
        json!(5_000_000)
    );
    // Our version says relay=0, no feefilter follows, and a transaction
    // announcement is a protocol violation.
    let out = foreign_peer(port, "feefilter");
    assert!(out.contains("node version relay=0"), "{out}");
    assert!(out.contains("no feefilter"), "{out}");
    let out = foreign_peer(port, "tx-inv");
    assert!(out.contains("disconnected after tx-inv"), "{out}");
    assert!(a.log().contains(
        "transaction (0100000000000000000000000000000000000000000000000000000000000000) inv sent in violation of protocol, disconnecting peer="
    ));
    // On the -whitebind socket the peer has the relay, mempool and noban
    // permissions: our version asks it for transactions, and its mempool
    // request is answered instead of ending the connection.
    let out = foreign_peer(white, "mempool-ok");
    assert!(out.contains("node version relay=1"), "{out}");
    assert!(out.contains("mempool request answered"), "{out}");
    let out = foreign_peer(port, "mempool");
    assert!(out.contains("disconnected after mempool"), "{out}");
    // Misbehaviour does not end a noban peer's connection (Core's
    // MaybeDiscourageAndDisconnect), where it ends another's.
    let out = foreign_peer(white, "bad-header-kept");
    assert!(out.contains("still connected after bad-header"), "{out}");
    assert!(a.log().contains("Not punishing noban peer"));
    let out = foreign_peer(port, "bad-header");
    assert!(out.contains("disconnected after bad-header"), "{out}");
}

#[test]
fn an_inbound_transport_is_detecting_until_its_first_bytes_and_bytes_count_as_they_arrive() {
    let port = free_port();
    let a = listening(port);
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let only_peer = |field: &str| {
        let peers = ok(&a, "getpeerinfo", json!([]));
        peers[0][field].clone()
    };
    wait_for("the peer to be listed", || {
        ok(&a, "getpeerinfo", json!([])).as_array().unwrap().len() == 1
    });
    // Regtest's magic and the start of "version": v1 or v2 is not known yet.
    let mut prefix = vec![0xfa, 0xbf, 0xb5, 0xda];
    prefix.extend_from_slice(b"version\0\0\0\0\0");
    raw.write_all(&prefix[..15]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(only_peer("transport_protocol_type"), json!("detecting"));
    raw.write_all(&prefix[15..]).unwrap();
    wait_for("v1 to be detected", || {
        only_peer("transport_protocol_type") == json!("v1")
    });
    // Sixteen bytes of a 24-byte header: counted before the message is whole.
    wait_for("the partial header to count", || {
        only_peer("bytesrecv") == json!(16)
    });
    assert_eq!(
        ok(&a, "getnettotals", json!([]))["totalbytesrecv"],
        json!(16)
    );
}

#[test]
fn maxconnections_turns_away_inbound_peers_beyond_it() {
    let port = free_port();
    let a = TestNode::start(&[
        "-disablewallet",
        &format!("-port={port}"),
        // Eleven slots go to automatic outbound peers: one inbound is left,
        // and it may relay transactions.
        "-maxconnections=12",
        "-inboundrelaypercent=100",
    ]);
    let _b = follower(port);
    wait_for("b to connect", || {
        ok(&a, "getconnectioncount", json!([])) == json!(1)
    });
    let mut extra = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    // Closed at once, before any byte: not a timeout.
    assert_eq!(extra.read_to_end(&mut buf).unwrap(), 0);
    assert_eq!(ok(&a, "getconnectioncount", json!([])), json!(1));
}

#[test]
fn getaddr_answers_spread_known_addresses_to_outbound_peers() {
    let port = free_port();
    // -connect=0: a opens no connections to the public addresses it is
    // given (tests stay on loopback).
    let a = TestNode::start(&[
        "-disablewallet",
        &format!("-port={port}"),
        "-listen=1",
        "-connect=0",
    ]);
    // Core answers getaddr with 23% of its table: ten addresses give two.
    let mine: Vec<String> = (11..=20).map(|i| format!("{i}.2.3.4")).collect();
    for host in &mine {
        assert_eq!(
            ok(&a, "addpeeraddress", json!([host, 8333])),
            json!({"success": true})
        );
    }
    let info = ok(&a, "getaddrmaninfo", json!([]));
    assert_eq!(info["ipv4"], json!({"new": 10, "tried": 0, "total": 10}));
    assert_eq!(info["all_networks"]["total"], 10);
    assert_eq!(info["onion"]["total"], 0);
    let mut b = follower(port);
    // b asked a (its outbound peer) for addresses and learned some of a's.
    let learned = || -> Vec<Value> {
        ok(&b, "getnodeaddresses", json!([0]))
            .as_array()
            .unwrap()
            .clone()
    };
    // a answers from its address queue, which goes out on a Poisson timer
    // (30 s on average, on the mockable clock): move a's clock on until it
    // has.
    let mut mock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    wait_for("b to learn addresses from a", || {
        mock += 60;
        ok(&a, "setmocktime", json!([mock]));
        learned().len() == 2
    });
    // Both sides take part in address relay now: b asked, a was asked.
    let b_view = &ok(&b, "getpeerinfo", json!([]))[0];
    assert_eq!(b_view["addr_relay_enabled"], true);
    assert_eq!(b_view["addr_processed"], 2);
    assert_eq!(b_view["addr_rate_limited"], 0);
    let a_view = &ok(&a, "getpeerinfo", json!([]))[0];
    assert_eq!(a_view["addr_relay_enabled"], true);
    assert_eq!(a_view["addr_processed"], 0);
    for k in learned() {
        assert!(
            mine.contains(&k["address"].as_str().unwrap().to_string()),
            "{k}"
        );
        assert_eq!(k["port"], 8333);
        assert_eq!(k["network"], "ipv4");
    }
    // In b's new table, with a (its source) as where they came from.
    let raw = ok(&b, "getrawaddrman", json!([]));
    let entries: Vec<&Value> = raw["new"].as_object().unwrap().values().collect();
    assert_eq!(entries.len(), 2, "{raw}");
    assert!(entries
        .iter()
        .all(|e| e["source"] == "127.0.0.1" && e["source_network"] == "not_publicly_routable"));
    // a's own loopback address is not kept: as in Core's AddrMan, only
    // publicly routable addresses are.
    assert_eq!(
        ok(&a, "addpeeraddress", json!(["127.0.0.1", 8333])),
        json!({"success": false, "error": "failed-adding-to-new"})
    );
    assert_eq!(
        rpc(&a, "addpeeraddress", json!(["not_an_ip", 8333])),
        Err((-30, "Invalid IP address".into()))
    );
    assert_eq!(ok(&b, "getnodeaddresses", json!([0, "ipv6"])), json!([]));
    assert_eq!(
        rpc(&b, "getnodeaddresses", json!([-1])),
        Err((-8, "Address count out of range".into()))
    );
    assert_eq!(
        rpc(&b, "getnodeaddresses", json!([1, "venus"])),
        Err((-8, "Network not recognized: venus".into()))
    );

    // peers.dat keeps them across a restart, in the same places.
    ok(&b, "stop", json!([]));
    assert!(b.wait_exit(Duration::from_secs(20)).success());
    let peers_dat = b.net_dir().join("peers.dat");
    assert!(peers_dat.is_file());
    let datadir = std::mem::replace(&mut b.datadir, tempfile::tempdir().unwrap());
    let mut b = TestNode::start_in(datadir, &["-disablewallet", "-listen=0"]);
    assert_eq!(ok(&b, "getrawaddrman", json!([]))["new"], raw["new"]);
    assert!(
        b.log().contains("Loaded 2 addresses from peers.dat"),
        "{}",
        b.log()
    );

    // A damaged file stops the node with Core's message, and is left alone.
    ok(&b, "stop", json!([]));
    assert!(b.wait_exit(Duration::from_secs(20)).success());
    let mut bytes = std::fs::read(&peers_dat).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&peers_dat, &bytes).unwrap();
    let mut child = std::process::Command::new(NODE)
        .args(["-regtest", &b.datadir_arg(), "-disablewallet", "-listen=0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_timeout(&mut child, Duration::from_secs(30)).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("bitcoin-node started on a damaged peers.dat");
    });
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Error: Invalid or corrupt peers.dat (Checksum mismatch, data corrupted)."),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&peers_dat).unwrap(), bytes);
}

#[test]
fn outbound_peers_come_from_the_address_manager_and_addconnection() {
    // Automatic connections go through -proxy, here a closed port on
    // loopback: the attempt is made and fails without leaving the host.
    let closed = free_port();
    let a = TestNode::start(&[
        "-disablewallet",
        "-listen=0",
        "-debug=net",
        &format!("-proxy=127.0.0.1:{closed}"),
    ]);
    ok(&a, "addpeeraddress", json!(["11.2.3.4", 8333]));
    a.wait_for_log(
        "trying v1 connection (outbound-full-relay) to 11.2.3.4:8333",
        Duration::from_secs(20),
    );
    assert_eq!(ok(&a, "getconnectioncount", json!([])), json!(0));

    // addconnection (regtest): Core's test-only way to open automatic
    // kinds of connections, here to one of our nodes on loopback.
    let port = free_port();
    let b = listening(port);
    let target = format!("127.0.0.1:{port}");
    assert_eq!(
        ok(
            &a,
            "addconnection",
            json!([target, "outbound-full-relay", false])
        ),
        json!({"address": target, "connection_type": "outbound-full-relay"})
    );
    wait_for("a full-relay peer", || {
        ok(&a, "getpeerinfo", json!([]))
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["connection_type"] == "outbound-full-relay" && p["relaytxes"] == true)
    });
    ok(
        &a,
        "addconnection",
        json!([target, "block-relay-only", false]),
    );
    wait_for("a block-relay-only peer", || {
        ok(&b, "getpeerinfo", json!([]))
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["relaytxes"] == false)
    });
    // A feeler checks the address and leaves.
    ok(&a, "addconnection", json!([target, "feeler", false]));
    a.wait_for_log("feeler connection completed", Duration::from_secs(20));
    wait_for("two peers left", || {
        ok(&a, "getconnectioncount", json!([])) == json!(2)
    });
    assert_eq!(
        rpc(&a, "addconnection", json!([target, "inbound", false])).map_err(|e| e.0),
        Err(-8)
    );

    // A clean stop keeps the block-relay-only peer in anchors.dat; the next
    // start reads it and deletes it (Core's anchors).
    let mut a = a;
    ok(&a, "stop", json!([]));
    assert!(a.wait_exit(Duration::from_secs(20)).success());
    let anchors = a.net_dir().join("anchors.dat");
    let bytes = std::fs::read(&anchors).unwrap();
    // Magic, one entry, and b's port in it (big-endian).
    assert_eq!(bytes[4], 1);
    assert!(bytes.windows(2).any(|w| w == port.to_be_bytes()));
    let datadir = std::mem::replace(&mut a.datadir, tempfile::tempdir().unwrap());
    let a = TestNode::start_in(datadir, &["-disablewallet", "-listen=0"]);
    a.wait_for_log(
        "1 block-relay-only anchors will be tried for connections.",
        Duration::from_secs(10),
    );
    assert!(!anchors.exists());
}

#[test]
fn a_v2_node_falls_back_to_v1_for_a_peer_without_v2() {
    let port = free_port();
    let a = TestNode::start(&["-disablewallet", &format!("-port={port}"), "-v2transport=0"]);
    let b = TestNode::start(&[
        "-disablewallet",
        "-listen=0",
        "-debug=net",
        &format!("-connect=127.0.0.1:{port}"),
    ]);
    wait_for("b to connect over v1", || {
        ok(&b, "getpeerinfo", json!([]))
            .as_array()
            .is_some_and(|p| p.len() == 1 && p[0]["transport_protocol_type"] == "v1")
    });
    b.wait_for_log(
        "retrying with v1 transport protocol",
        Duration::from_secs(10),
    );
    assert_eq!(
        ok(&a, "getnetworkinfo", json!([]))["localservicesnames"],
        json!(["NETWORK", "WITNESS", "NETWORK_LIMITED"])
    );
    ok(&a, "generatetoaddress", json!([1, ADDRESS]));
    wait_for("b to sync over v1", || {
        ok(&b, "getblockcount", json!([])) == json!(1)
    });
}

#[test]
fn a_peer_whose_block_became_our_tip_sends_the_next_ones_compact_at_once() {
    let port = free_port();
    let a = listening(port);
    let b = follower(port);
    wait_for("b to connect", || {
        ok(&b, "getconnectioncount", json!([])) == json!(1)
    });
    // a's block becomes b's tip: b asks a for high-bandwidth mode.
    ok(&a, "generatetoaddress", json!([1, ADDRESS]));
    wait_for("b to pick a as a high-bandwidth peer", || {
        ok(&b, "getpeerinfo", json!([]))[0]["bip152_hb_to"] == json!(true)
            && ok(&a, "getpeerinfo", json!([]))[0]["bip152_hb_from"] == json!(true)
    });
    let pa = ok(&a, "getpeerinfo", json!([]));
    assert_eq!(pa[0]["bip152_hb_to"], false, "a did not ask b");
    // The next block goes out as an unsolicited cmpctblock: b does not
    // have to ask for it.
    let counts = |field: &str, msg: &str| {
        ok(&a, "getpeerinfo", json!([]))[0][field][msg]
            .as_u64()
            .unwrap_or(0)
    };
    let asked = counts("bytesrecv_per_msg", "getdata");
    let compact = counts("bytessent_per_msg", "cmpctblock");
    ok(&a, "generatetoaddress", json!([1, ADDRESS]));
    wait_for("b to get block 2", || {
        ok(&b, "getblockcount", json!([])) == json!(2)
    });
    assert!(counts("bytessent_per_msg", "cmpctblock") > compact);
    assert_eq!(counts("bytesrecv_per_msg", "getdata"), asked);
}

#[test]
fn a_compact_block_far_past_our_tip_is_not_stored_ahead_of_the_blocks_between() {
    use common::OrdersPeer;
    let source = TestNode::start(&["-disablewallet", "-listen=0"]);
    let hashes = ok(&source, "generatetoaddress", json!([20, ADDRESS]));
    let hashes: Vec<String> = serde_json::from_value(hashes).unwrap();
    let raw = |method: &str, hash: &str| {
        ok(&source, method, json!([hash, false]))
            .as_str()
            .unwrap()
            .to_string()
    };
    let headers: Vec<String> = hashes.iter().map(|h| raw("getblockheader", h)).collect();
    let port = free_port();
    let node = TestNode::start(&[
        "-disablewallet",
        "-debug=cmpctblock",
        &format!("-port={port}"),
    ]);
    // A peer serving blocks and taking compact ones claims 20 blocks; 16
    // are asked of it.
    let mut peer = OrdersPeer::connect_offering(port, false, 9);
    assert_eq!(peer.order("sendcmpct"), "sendcmpct sent");
    assert_eq!(
        peer.order(&format!("headers {}", headers.join(" "))),
        "asked blocks: 16"
    );
    // Its block 1 becomes our tip: we ask it to announce blocks compact.
    peer.order(&format!("block {}", raw("getblock", &hashes[0])));
    wait_for("the peer to be asked for high-bandwidth mode", || {
        ok(&node, "getpeerinfo", json!([]))[0]["bip152_hb_to"] == json!(true)
    });
    // Block 20 announced compact, 19 past our tip: it could be rebuilt
    // from its prefilled coinbase alone, but (as Core) it is handled as a
    // header, not stored ahead of blocks 2 to 19.
    peer.order(&format!("cmpctblock {}", raw("getblock", &hashes[19])));
    let (_, message) = rpc(&node, "getblock", json!([hashes[19]])).unwrap_err();
    assert_eq!(message, "Block not available (not fully downloaded)");
    assert_eq!(ok(&node, "getblockcount", json!([])), json!(1));
    peer.finish();
}

#[test]
fn blocks_are_asked_sixteen_at_a_time_and_a_mutated_block_costs_the_peer_its_connection() {
    use common::OrdersPeer;
    // The chain the foreign peers claim: 20 blocks from another node.
    let source = TestNode::start(&["-disablewallet", "-listen=0"]);
    let hashes = ok(&source, "generatetoaddress", json!([20, ADDRESS]));
    let hashes: Vec<String> = serde_json::from_value(hashes).unwrap();
    let headers: Vec<String> = hashes
        .iter()
        .map(|h| {
            let header = ok(&source, "getblockheader", json!([h, false]));
            header.as_str().unwrap().to_string()
        })
        .collect();
    let block = |i: usize| {
        let block = ok(&source, "getblock", json!([hashes[i], 0]));
        block.as_str().unwrap().to_string()
    };
    let port = free_port();
    let node = TestNode::start(&[
        "-disablewallet",
        "-debug=net",
        "-debug=validation",
        &format!("-port={port}"),
    ]);
    let all_headers = format!("headers {}", headers.join(" "));
    let inflight = || ok(&node, "getpeerinfo", json!([]))[0]["inflight"].clone();

    // NODE_NETWORK | NODE_WITNESS: a peer that serves blocks. Of the 20
    // it announces, 16 are asked of it (the most in flight per peer).
    let mut first = OrdersPeer::connect_offering(port, false, 9);
    assert_eq!(first.order(&all_headers), "asked blocks: 16");
    assert_eq!(inflight(), json!((1..=16).collect::<Vec<i32>>()));
    // Block 1 with its transactions changed under its header: refused
    // before validation, and the peer is dropped.
    assert_eq!(
        first.order(&format!("block {} mutated", block(0))),
        "hung up"
    );
    first.finish();
    wait_for("the mutation to be logged", || {
        node.log().contains("Block mutated: bad-txnmrklroot")
    });
    wait_for("the first peer to be gone", || {
        ok(&node, "getpeerinfo", json!([])) == json!([])
    });
    assert_eq!(ok(&node, "getblockcount", json!([])), 0);

    // Its requests went with it: the next peer is asked for the same 16,
    // then, as blocks come in, for the remaining 4.
    let mut second = OrdersPeer::connect_offering(port, false, 9);
    assert_eq!(second.order(&all_headers), "asked blocks: 16");
    let mut asked_later = 0;
    for i in 0..20 {
        let answer = second.order(&format!("block {}", block(i)));
        let n: usize = answer
            .strip_prefix("asked blocks: ")
            .unwrap()
            .parse()
            .unwrap();
        asked_later += n;
        if i < 16 {
            assert_eq!(inflight().as_array().unwrap().len(), 15 - i + asked_later);
        }
    }
    assert_eq!(asked_later, 4);
    assert_eq!(inflight(), json!([]));
    assert_eq!(ok(&node, "getblockcount", json!([])), 20);
    assert_eq!(ok(&node, "getbestblockhash", json!([])), json!(hashes[19]));
    second.finish();
}

#[test]
fn a_pruned_node_fetches_a_pruned_block_again_from_a_peer() {
    let port = free_port();
    let full = listening(port);
    // 64 KiB block files (-fastprune) of some 250 blocks each: the first
    // file ends more than 288 blocks below a tip at 700.
    let hashes = ok(&full, "generatetoaddress", json!([700, ADDRESS]));
    let pruned = TestNode::start(&[
        "-disablewallet",
        "-listen=0",
        "-prune=1",
        "-fastprune",
        &format!("-connect=127.0.0.1:{port}"),
    ]);
    wait_for("the pruned node to sync", || {
        ok(&pruned, "getblockcount", json!([])) == json!(700)
    });
    let last = ok(&pruned, "pruneblockchain", json!([700]))
        .as_i64()
        .unwrap();
    assert!(last >= 2, "{last}");
    assert_eq!(
        rpc(&pruned, "getblock", json!([hashes[1]])).unwrap_err(),
        (-1, "Block not available (pruned data)".into())
    );
    let peer = ok(&pruned, "getpeerinfo", json!([]))[0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        rpc(&pruned, "getblockfrompeer", json!(["00".repeat(32), peer])).unwrap_err(),
        (-1, "Block header missing".into())
    );
    assert_eq!(
        rpc(&pruned, "getblockfrompeer", json!([hashes[1], peer + 1])).unwrap_err(),
        (-1, "Peer does not exist".into())
    );
    assert_eq!(
        rpc(&pruned, "getblockfrompeer", json!([hashes[699], peer])).unwrap_err(),
        (-1, "Block already downloaded".into())
    );
    assert_eq!(
        ok(&pruned, "getblockfrompeer", json!([hashes[1], peer])),
        json!({})
    );
    wait_for("the fetched block", || {
        rpc(&pruned, "getblock", json!([hashes[1]])).is_ok()
    });
    assert_eq!(
        ok(&pruned, "getblock", json!([hashes[1]]))["height"],
        json!(2)
    );
}

#[test]
fn bantime_sets_how_long_a_ban_without_a_time_lasts() {
    let node = TestNode::start(&["-disablewallet", "-bantime=1234"]);
    ok(&node, "setban", json!(["127.0.0.2", "add"]));
    ok(&node, "setban", json!(["127.0.0.3", "add", 60]));
    let banned = ok(&node, "listbanned", json!([]));
    assert_eq!(banned[0]["address"], json!("127.0.0.2/32"));
    assert_eq!(banned[0]["ban_duration"], json!(1234));
    assert_eq!(banned[1]["ban_duration"], json!(60));
}

#[test]
fn minimumchainwork_holds_back_a_low_work_chain_and_maxtipage_decides_ibd() {
    let port = free_port();
    let a = listening(port);
    // Blocks two hours old: out of IBD for a three-hour -maxtipage, in it
    // for a one-hour one.
    let then = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 7200;
    ok(&a, "setmocktime", json!([then]));
    // 49 blocks: with genesis, work 100 (two per regtest block).
    ok(&a, "generatetoaddress", json!([49, ADDRESS]));
    let mut b = TestNode::start(&[
        "-disablewallet",
        "-listen=0",
        "-debug=net",
        "-minimumchainwork=0x65",
        "-maxtipage=3600",
        &format!("-connect=127.0.0.1:{port}"),
    ]);
    b.wait_for_log(
        "Ignoring low-work chain (height=49)",
        Duration::from_secs(20),
    );
    assert_eq!(ok(&b, "getblockcount", json!([])), json!(0));
    assert_eq!(
        ok(&b, "getchaintips", json!([])).as_array().unwrap().len(),
        1,
        "no header of the low-work chain is stored"
    );
    // One more block reaches 102: the chain is taken and its blocks fetched.
    ok(&a, "generatetoaddress", json!([1, ADDRESS]));
    wait_for("b to sync 50 blocks", || {
        ok(&b, "getblockcount", json!([])) == json!(50)
    });
    let info = ok(&b, "getblockchaininfo", json!([]));
    assert_eq!(
        info["initialblockdownload"], true,
        "tip older than -maxtipage"
    );
    b.stop_with(libc::SIGTERM, Duration::from_secs(20));
    let datadir = std::mem::replace(&mut b.datadir, tempfile::tempdir().unwrap());
    let b = TestNode::start_in(
        datadir,
        &["-disablewallet", "-listen=0", "-maxtipage=10800"],
    );
    assert_eq!(
        ok(&b, "getblockchaininfo", json!([]))["initialblockdownload"],
        false
    );

    // Core's reading of the value.
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = common::run(
        NODE,
        &[
            "-regtest",
            &format!("-datadir={}", dir.path().display()),
            "-minimumchainwork=test",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("Invalid minimum work specified (test), must be up to 64 hex digits"),
        "{stderr}"
    );
}

#[test]
fn a_full_low_work_headers_message_is_presynced_before_anything_is_stored() {
    let port = free_port();
    let a = listening(port);
    // 4101 blocks: with genesis, work 8204 (two per regtest block); the
    // first full headers message (2000) shows 4002.
    ok(&a, "generatetoaddress", json!([4101, ADDRESS]));
    // b needs 6000 (block 2999): the chain is checked twice (presync,
    // then redownload, which reaches that work inside its second full
    // message and ends), and then synced to its end as any other.
    let b = TestNode::start(&[
        "-disablewallet",
        "-listen=0",
        "-debug=net",
        "-minimumchainwork=0x1770",
        &format!("-connect=127.0.0.1:{port}"),
    ]);
    b.wait_for_log(
        "Pre-synchronizing blockheaders, height: 2000",
        Duration::from_secs(30),
    );
    b.wait_for_log("more getheaders (from ", Duration::from_secs(10));
    // Its last block connected (the kernel's UpdateTip line; longer than
    // wait_for's 30 s on a loaded debug build).
    b.wait_for_log("height=4101 version=", Duration::from_secs(240));
    assert_eq!(ok(&b, "getblockcount", json!([])), json!(4101));
    // c needs more than the chain has: after the presync of all of it,
    // nothing was stored and the sync is over.
    let c = TestNode::start(&[
        "-disablewallet",
        "-listen=0",
        "-debug=net",
        "-minimumchainwork=0x3000",
        &format!("-connect=127.0.0.1:{port}"),
    ]);
    c.wait_for_log(
        "Pre-synchronizing blockheaders, height: 2000",
        Duration::from_secs(30),
    );
    wait_for("c's presync to end", || {
        let peers = ok(&c, "getpeerinfo", json!([]));
        peers.as_array().is_some_and(|p| {
            p.len() == 1 && p[0]["presynced_headers"] == -1 && p[0]["synced_headers"] == -1
        })
    });
    assert_eq!(ok(&c, "getblockcount", json!([])), json!(0));
    assert_eq!(
        ok(&c, "getchaintips", json!([])).as_array().unwrap().len(),
        1,
        "no header of the low-work chain is stored"
    );
}

#[test]
fn an_unasked_block_is_kept_only_if_it_could_extend_a_chain_with_our_work() {
    use common::OrdersPeer;
    // A fork of two blocks from another node, and two blocks of our own.
    let source = TestNode::start(&["-disablewallet", "-listen=0"]);
    let fork: Vec<String> =
        serde_json::from_value(ok(&source, "generatetoaddress", json!([2, ADDRESS]))).unwrap();
    let raw = |h: &str| {
        ok(&source, "getblock", json!([h, 0]))
            .as_str()
            .unwrap()
            .to_string()
    };
    let port = free_port();
    let node = TestNode::start(&["-disablewallet", &format!("-port={port}")]);
    ok(
        &node,
        "generatetoaddress",
        json!([2, "bcrt1qtmp74ayg7p24uslctssvjm06q5phz4yrxucgnv"]),
    );
    let mut peer = OrdersPeer::connect_offering(port, false, 9);
    // Fork block 1 has less work than our tip: its header is kept, its
    // data is not (Core's AcceptBlock without force_processing).
    assert_eq!(
        peer.order(&format!("block {}", raw(&fork[0]))),
        "asked blocks: 0"
    );
    assert_eq!(
        rpc(&node, "getblock", json!([fork[0]])),
        Err((-1, "Block not available (not fully downloaded)".into()))
    );
    // Fork block 2 matches our work: kept, and the block missing on the
    // way to it is asked of the peer that sent it.
    assert_eq!(
        peer.order(&format!("block {}", raw(&fork[1]))),
        "asked blocks: 1"
    );
    assert_eq!(ok(&node, "getblock", json!([fork[1]]))["height"], 2);
    assert_eq!(ok(&node, "getblockcount", json!([])), json!(2));
    // Sent again, now asked for: the fork has our work and both stay.
    assert_eq!(
        peer.order(&format!("block {}", raw(&fork[0]))),
        "asked blocks: 0"
    );
    assert_eq!(ok(&node, "getblock", json!([fork[0]]))["height"], 1);
    peer.finish();
}
