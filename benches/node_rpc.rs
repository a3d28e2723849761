//! The node as bitcoind, measured end to end on loopback (issue 6, point 7):
//! (a) the 206 regtest blocks that ship with the `bitcoinkernel` crate, through
//!     `submitblock` on our node and through the bare kernel in this process;
//! (b) `getblockcount` requests per second over keep-alive connections;
//! (c) start-up to RPC-ready and the resident memory of the whole process set.
//! Run with `cargo bench --bench node_rpc`; without `--bench` (as `cargo test
//! --all-targets` runs it) it does a short smoke run of every part.

// corepc-client marks its sync client deprecated in favour of a regtest-only
// crate; it is still the maintained client for Core's RPC.
#![allow(deprecated)]

mod common;

use common::{Node, RawClient};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin_mp::chain::{Chain, ChainOptions, SubmitOutcome};
use bitcoinkernel::{ChainType, ChainstateManagerBuilder, ContextBuilder, ProcessBlockResult};
use serde_json::{json, Value};

/// The kernel crate's test blocks, found through cargo's metadata.
fn kernel_blocks() -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "bitcoinkernel")
        .and_then(|p| p["manifest_path"].as_str())
        .map(PathBuf::from)
        .expect("bitcoinkernel in cargo metadata");
    let file = manifest.parent().unwrap().join("tests/block_data.txt");
    std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// (a) our path: every block through submitblock on one keep-alive
/// connection; then all of them again, which the kernel finds known (the RPC
/// round trip and decoding without validation or indexing).
fn submit_via_rpc(blocks: &[String]) -> (Duration, Duration) {
    let (node, _) = Node::start(&["-listen=0"]);
    let mut client = RawClient::connect(&node);
    let mut submit_all = |expect: Value| {
        let t = Instant::now();
        for hex in blocks {
            let r = client.call("submitblock", json!([hex]));
            assert_eq!(r, expect, "submitblock");
        }
        t.elapsed()
    };
    let new = submit_all(Value::Null);
    let known = submit_all(json!("duplicate"));
    assert_eq!(client.call("getblockcount", json!([])), json!(blocks.len()));
    node.stop();
    (new, known)
}

/// (a) the same blocks as one JSON-RPC batch: one round trip for all.
fn submit_batch(blocks: &[String]) -> Duration {
    let (node, _) = Node::start(&["-listen=0"]);
    let mut client = RawClient::connect(&node);
    let batch: Vec<Value> = blocks
        .iter()
        .enumerate()
        .map(
            |(i, hex)| json!({"jsonrpc": "2.0", "id": i, "method": "submitblock", "params": [hex]}),
        )
        .collect();
    let t = Instant::now();
    let replies = client.post(&Value::Array(batch).to_string());
    let took = t.elapsed();
    let replies: Vec<Value> = serde_json::from_slice(&replies).unwrap();
    assert!(replies
        .iter()
        .all(|r| r["result"].is_null() && r.get("error").is_none()));
    assert_eq!(client.call("getblockcount", json!([])), json!(blocks.len()));
    node.stop();
    took
}

/// (a) the kernel plus our UTXO index, in this process (no RPC, no sandbox).
fn submit_in_process(blocks: &[bitcoin::Block], dir: &Path) -> Duration {
    let chain = Chain::open(&ChainOptions::regtest(dir.join("regtest"))).unwrap();
    let t = Instant::now();
    for b in blocks {
        assert_eq!(chain.submit_block(b).unwrap(), SubmitOutcome::Accepted);
    }
    t.elapsed()
}

/// (a) the bare kernel: the same blocks through process_block in this process.
fn submit_bare(blocks: &[Vec<u8>], dir: &Path) -> Duration {
    let context = ContextBuilder::new()
        .chain_type(ChainType::Regtest)
        .build()
        .unwrap();
    let blocks_dir = dir.join("blocks");
    let chainman = ChainstateManagerBuilder::new(
        &context,
        dir.to_str().unwrap(),
        blocks_dir.to_str().unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let t = Instant::now();
    for raw in blocks {
        let block = bitcoinkernel::Block::new(raw).unwrap();
        assert!(matches!(
            chainman.process_block(&block),
            ProcessBlockResult::NewBlock
        ));
    }
    t.elapsed()
}

/// (b) getblockcount calls per second from `conns` threads, one keep-alive
/// connection each.
fn throughput(conns: usize, secs: f64) -> f64 {
    let (node, _) = Node::start(&["-listen=0"]);
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let (done, count) = (done.clone(), count.clone());
            let mut client = RawClient::connect(&node);
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    client.call("getblockcount", json!([]));
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    done.store(true, Ordering::Relaxed);
    let n = count.load(Ordering::Relaxed);
    let rate = n as f64 / t.elapsed().as_secs_f64();
    for th in threads {
        th.join().unwrap();
    }
    node.stop();
    rate
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, secs) = if full { (5, 5.0) } else { (1, 0.2) };
    let hex = kernel_blocks();
    let hex = if full { hex } else { hex[..10].to_vec() };
    let parsed: Vec<bitcoin::Block> = hex
        .iter()
        .map(|h| bitcoin::consensus::encode::deserialize_hex(h).unwrap())
        .collect();
    let raw: Vec<Vec<u8>> = parsed
        .iter()
        .map(bitcoin::consensus::encode::serialize)
        .collect();

    // (a) alternate the paths so drift on the machine hits all alike.
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (mut ours, mut known, mut batch, mut chain, mut bare) =
        (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let (new, again) = submit_via_rpc(&hex);
        ours.push(ms(new));
        known.push(ms(again));
        batch.push(ms(submit_batch(&hex)));
        let dir = tempfile::tempdir().unwrap();
        chain.push(ms(submit_in_process(&parsed, dir.path())));
        let dir = tempfile::tempdir().unwrap();
        bare.push(ms(submit_bare(&raw, dir.path())));
    }
    let (o, b) = (median(ours), median(bare));
    println!(
        "submit {} blocks: submitblock over RPC {o:.1} ms, bare kernel {b:.1} ms, overhead {:+.1}% (median of {rounds})",
        hex.len(),
        (o / b - 1.0) * 100.0
    );
    println!(
        "  as one JSON-RPC batch {:.1} ms; kernel + UTXO index in-process {:.1} ms; the same blocks again over RPC (known: round trip and decoding only) {:.1} ms",
        median(batch),
        median(chain),
        median(known)
    );

    // (b) keep-alive load at two connection counts.
    for conns in [1, 8] {
        let rates: Vec<f64> = (0..rounds.min(3))
            .map(|_| throughput(conns, secs))
            .collect();
        println!(
            "getblockcount, {conns} keep-alive connection(s): {:.0} req/s",
            median(rates)
        );
    }

    // (c) start-up and memory.
    let mut ready = Vec::new();
    for _ in 0..rounds {
        let (node, took) = Node::start(&["-listen=0"]);
        ready.push(took.as_secs_f64() * 1e3);
        if ready.len() == rounds {
            let rss = node.rss_kib();
            let total: u64 = rss.iter().map(|r| r.1).sum();
            let each: Vec<String> = rss
                .iter()
                .map(|(n, k)| format!("{n} {:.1} MiB", *k as f64 / 1024.0))
                .collect();
            println!(
                "RSS of the process set at rest: {:.1} MiB ({})",
                total as f64 / 1024.0,
                each.join(", ")
            );
        }
        node.stop();
    }
    println!(
        "start-up to RPC-ready: {:.0} ms (median of {rounds})",
        median(ready)
    );
}
