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

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin_mp::chain::{Chain, ChainOptions, SubmitOutcome};
use bitcoinkernel::{ChainType, ChainstateManagerBuilder, ContextBuilder, ProcessBlockResult};
use corepc_client::client_sync::v30::Client;
use corepc_client::client_sync::Auth;
use serde_json::{json, Value};

struct Node {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Node {
    /// Starts bitcoin-node on a fresh regtest datadir; returns it with the
    /// time from spawn until an RPC call succeeded.
    fn start() -> (Node, Duration) {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_bitcoin-node"))
            .arg("-regtest")
            .arg(format!("-datadir={}", dir.path().display()))
            .arg(format!("-rpcport={port}"))
            .arg("-printtoconsole=0")
            .arg("-listen=0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let node = Node { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(client) = node.client() {
                if client.get_block_count().is_ok() {
                    return (node, started.elapsed());
                }
            }
            assert!(Instant::now() < deadline, "node did not answer RPC");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn client(&self) -> Option<Client> {
        let cookie = self.dir.path().join("regtest").join(".cookie");
        if !cookie.exists() {
            return None;
        }
        Client::new_with_auth(
            &format!("http://127.0.0.1:{}", self.port),
            Auth::CookieFile(cookie),
        )
        .ok()
    }

    /// Resident memory of the node and every process below it, in KiB.
    fn rss_kib(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        let mut todo = vec![self.child.id() as i32];
        while let Some(pid) = todo.pop() {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let field = |k: &str| {
                status
                    .lines()
                    .find(|l| l.starts_with(k))
                    .map(|l| l[k.len()..].trim().to_string())
            };
            let name = field("Name:").unwrap_or_default();
            let rss = field("VmRSS:")
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            out.push((name, rss));
            todo.extend(children_of(pid));
        }
        out
    }

    fn stop(mut self) {
        if let Some(c) = self.client() {
            let _ = c.call::<Value>("stop", &[]);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn children_of(pid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            // Field 4 (after the parenthesised name) is the parent pid.
            stat.rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().nth(1))
                .and_then(|pp| pp.parse::<i32>().ok())
                == Some(pid)
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
    let (node, _) = Node::start();
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
    let (node, _) = Node::start();
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

/// A bare keep-alive HTTP/1.1 JSON-RPC client (as wrk is), so the client's
/// own cost stays small next to the server's.
struct RawClient {
    writer: std::net::TcpStream,
    reader: std::io::BufReader<std::net::TcpStream>,
    auth: String,
}

impl RawClient {
    fn connect(node: &Node) -> RawClient {
        let cookie = std::fs::read_to_string(node.dir.path().join("regtest/.cookie")).unwrap();
        let stream = std::net::TcpStream::connect(("127.0.0.1", node.port)).unwrap();
        stream.set_nodelay(true).unwrap();
        RawClient {
            writer: stream.try_clone().unwrap(),
            reader: std::io::BufReader::new(stream),
            auth: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, cookie.trim()),
        }
    }

    /// One call; returns the reply's `result` (panics on an error reply).
    fn call(&mut self, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let reply: Value = serde_json::from_slice(&self.post(&body.to_string())).unwrap();
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    /// One POST of `body`; returns the reply body (panics unless 200).
    fn post(&mut self, body: &str) -> Vec<u8> {
        let request = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.auth,
            body.len()
        );
        self.writer.write_all(request.as_bytes()).unwrap();
        let (status, reply) = read_response(&mut self.reader);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
        reply
    }
}

/// Reads one HTTP response (status line, headers, Content-Length body).
fn read_response(r: &mut impl BufRead) -> (u16, Vec<u8>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut length = 0;
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).unwrap();
    (status, body)
}

/// (b) getblockcount calls per second from `conns` threads, one keep-alive
/// connection each.
fn throughput(conns: usize, secs: f64) -> f64 {
    let (node, _) = Node::start();
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
        let (node, took) = Node::start();
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
