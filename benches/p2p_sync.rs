//! P2P and mempool throughput of the real process sets on loopback (issue 7,
//! point 7):
//! (a) blocks per second while a fresh node syncs N generated regtest blocks
//!     from another of our nodes (headers first, every block validated by
//!     the kernel in the sandboxed worker), against submitting the same
//!     blocks to the kernel plus our UTXO index in this process;
//! (b) `sendrawtransaction` calls per second for a batch of independent
//!     transactions over one keep-alive connection.
//! Run with `cargo bench --bench p2p_sync`; without `--bench` (as `cargo test
//! --all-targets` runs it) a short smoke run.

#![allow(deprecated)]

mod common;
#[path = "../tests/support/op_true.rs"]
mod op_true;

use std::time::{Duration, Instant};

use bitcoin::{OutPoint, Txid};
use bitcoin_mp::chain::{Chain, ChainOptions, SubmitOutcome};
use common::{free_port, Node, RawClient};
use op_true::{address, hex, spend};
use serde_json::{json, Value};

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (blocks, txs) = if full { (3000, 2000) } else { (110, 20) };
    let port = free_port();
    let (a, _) = Node::start(&[
        "-disablewallet",
        "-bind=127.0.0.1",
        &format!("-port={port}"),
    ]);
    let mut rpc = RawClient::connect(&a);
    let mut left = blocks;
    while left > 0 {
        let n = left.min(500);
        rpc.call("generatetoaddress", json!([n, address()]));
        left -= n;
    }
    let raw: Vec<bitcoin::Block> = (1..=blocks)
        .map(|h| {
            let hash = rpc.call("getblockhash", json!([h]));
            let hexed = rpc.call("getblock", json!([hash, 0]));
            let bytes: Vec<u8> = bitcoin::hex::FromHex::from_hex(hexed.as_str().unwrap()).unwrap();
            bitcoin::consensus::deserialize::<bitcoin::Block>(&bytes).unwrap()
        })
        .collect();

    // (a) a fresh node syncs everything from a over P2P.
    let t = Instant::now();
    let (b, _) = Node::start(&[
        "-disablewallet",
        "-listen=0",
        &format!("-connect=127.0.0.1:{port}"),
    ]);
    let mut brpc = RawClient::connect(&b);
    while brpc.call("getblockcount", json!([])) != json!(blocks) {
        assert!(t.elapsed() < Duration::from_secs(900), "sync stalled");
        std::thread::sleep(Duration::from_millis(5));
    }
    let synced = t.elapsed();
    b.stop();

    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::open(&ChainOptions::regtest(dir.path().join("regtest"))).unwrap();
    let t = Instant::now();
    for block in &raw {
        assert_eq!(chain.submit_block(block).unwrap(), SubmitOutcome::Accepted);
    }
    let in_process = t.elapsed();
    drop(chain);

    // (b) a fan-out transaction, confirmed, then one spend per output.
    let coinbase: Txid = raw[0].txdata[0].compute_txid();
    let coin = raw[0].txdata[0].output[0].value.to_sat();
    let fan = spend(&[OutPoint::new(coinbase, 0)], coin, txs, 100_000);
    let each = fan.output[0].value.to_sat();
    rpc.call("sendrawtransaction", json!([hex(&fan)]));
    rpc.call("generatetoaddress", json!([1, address()]));
    let spends: Vec<String> = (0..txs)
        .map(|i| {
            hex(&spend(
                &[OutPoint::new(fan.compute_txid(), i as u32)],
                each,
                1,
                500,
            ))
        })
        .collect();
    let t = Instant::now();
    for s in &spends {
        rpc.call("sendrawtransaction", json!([s]));
    }
    let sent = t.elapsed();
    let pool: Value = rpc.call("getmempoolinfo", json!([]));
    assert_eq!(pool["size"], json!(txs));
    a.stop();

    println!(
        "p2p_sync bench ({} run)",
        if full { "full" } else { "smoke" }
    );
    println!(
        "  (a) sync of {blocks} blocks from a peer (from start-up of the fresh node): {synced:?} = {:.0} blocks/s",
        rate(blocks, synced)
    );
    println!(
        "      the same blocks into the kernel + UTXO index in this process: {in_process:?} = {:.0} blocks/s",
        rate(blocks, in_process)
    );
    println!(
        "  (b) sendrawtransaction, {txs} independent transactions: {sent:?} = {:.0} tx/s",
        rate(txs, sent)
    );
}
