//! Wallet processes measured end to end (issue 8, point 8):
//! (a) createwallet: time until the new bitcoin-wallet process has its
//!     wallet open, and that process's resident memory;
//! (b) catching up 1,000 regtest blocks holding 1,000 transactions to the
//!     wallet (loadwallet of a wallet unloaded before they were mined), time
//!     and resident memory after;
//! (c) getbalance requests per second through node → wallet IPC, next to
//!     getblockcount (no IPC hop) on the same keep-alive connection.
//! Run with `cargo bench --bench wallet`; without `--bench` (as `cargo test
//! --all-targets` runs it) it does a short smoke run of every part.

mod common;

use std::time::{Duration, Instant};

use common::{children_of, Node, RawClient};
use serde_json::json;

/// Resident memory of the broker's bitcoin-wallet children, in KiB.
fn wallet_rss(node: &Node) -> Vec<u64> {
    children_of(node.child.id() as i32)
        .into_iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            status
                .lines()
                .any(|l| l == "Name:\tbitcoin-wallet")
                .then_some(())?;
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .collect()
}

fn rate(count: u64, d: Duration) -> f64 {
    count as f64 / d.as_secs_f64()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (txs, calls) = if full { (1000, 20_000) } else { (5, 50) };
    let (node, _) = Node::start(&["-listen=0", "-fallbackfee=0.0002"]);
    let mut c = RawClient::connect(&node);

    // (a) create.
    let t = Instant::now();
    c.call("createwallet", json!(["payer"]));
    let create = t.elapsed();
    let rss_new = wallet_rss(&node);
    println!(
        "createwallet: {:.1} ms; new wallet process RSS {:?} KiB",
        create.as_secs_f64() * 1e3,
        rss_new
    );

    // (b) a receiver with `txs` addresses, unloaded while it is paid in `txs` blocks.
    c.call("createwallet", json!(["receiver"]));
    let addresses: Vec<String> = (0..txs)
        .map(|_| {
            c.call_at("/wallet/receiver", "getnewaddress", json!([]))
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    c.call("unloadwallet", json!(["receiver"]));
    let payer = c.call_at("/wallet/payer", "getnewaddress", json!([]));
    c.call("generatetoaddress", json!([101 + txs / 50, payer]));
    let t = Instant::now();
    for a in &addresses {
        c.call_at("/wallet/payer", "sendtoaddress", json!([a, 0.001]));
        c.call("generatetoaddress", json!([1, payer]));
    }
    let mined = t.elapsed();
    println!(
        "paying {txs} addresses, one transaction per block: {:.1} s ({:.0} sendtoaddress+generate/s)",
        mined.as_secs_f64(),
        rate(txs, mined)
    );
    let t = Instant::now();
    c.call("loadwallet", json!(["receiver"]));
    let scan = t.elapsed();
    let balance = c.call_at("/wallet/receiver", "getbalance", json!([]));
    assert_eq!(
        (balance.as_f64().unwrap() * 1e8).round() as u64,
        txs * 100_000,
        "the receiver found every payment"
    );
    println!(
        "loadwallet catching up {txs} blocks with {txs} wallet transactions: {:.2} s ({:.0} blocks/s); wallet processes RSS {:?} KiB",
        scan.as_secs_f64(),
        rate(txs, scan),
        wallet_rss(&node)
    );

    // (c) calls per second.
    let t = Instant::now();
    for _ in 0..calls {
        c.call_at("/wallet/receiver", "getbalance", json!([]));
    }
    let through_ipc = t.elapsed();
    let t = Instant::now();
    for _ in 0..calls {
        c.call("getblockcount", json!([]));
    }
    let direct = t.elapsed();
    println!(
        "getbalance via node -> wallet IPC: {:.0} calls/s ({:.0} us each); getblockcount: {:.0} calls/s ({:.0} us each)",
        rate(calls, through_ipc),
        through_ipc.as_secs_f64() * 1e6 / calls as f64,
        rate(calls, direct),
        direct.as_secs_f64() * 1e6 / calls as f64
    );
    node.stop();
}
