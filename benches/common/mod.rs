//! Shared by the benches that run the real binaries: a `bitcoin-node`
//! process set on a fresh regtest datadir, and a bare keep-alive JSON-RPC
//! client over HTTP/1.1 whose own cost stays small next to the server's.
#![allow(dead_code, deprecated)]

use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use corepc_client::client_sync::v30::Client;
use corepc_client::client_sync::Auth;
use serde_json::{json, Value};

pub struct Node {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Node {
    /// Starts bitcoin-node on a fresh regtest datadir; returns it with the
    /// time from spawn until an RPC call succeeded.
    pub fn start(extra: &[&str]) -> (Node, Duration) {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let started = Instant::now();
        let child = Command::new(env!("CARGO_BIN_EXE_bitcoin-node"))
            .arg("-regtest")
            .arg(format!("-datadir={}", dir.path().display()))
            .arg(format!("-rpcport={port}"))
            .arg("-printtoconsole=0")
            .args(extra)
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

    pub fn client(&self) -> Option<Client> {
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
    pub fn rss_kib(&self) -> Vec<(String, u64)> {
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

    pub fn stop(mut self) {
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

pub fn children_of(pid: i32) -> Vec<i32> {
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A bare keep-alive HTTP/1.1 JSON-RPC client (as wrk is), so the client's
/// own cost stays small next to the server's.
pub struct RawClient {
    writer: std::net::TcpStream,
    reader: std::io::BufReader<std::net::TcpStream>,
    auth: String,
}

impl RawClient {
    pub fn connect(node: &Node) -> RawClient {
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
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.call_at("/", method, params)
    }

    /// [`call`](Self::call) on another URI path (e.g. `/wallet/<name>`).
    pub fn call_at(&mut self, path: &str, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let reply: Value = serde_json::from_slice(&self.post_at(path, &body.to_string())).unwrap();
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }

    /// One POST of `body`; returns the reply body (panics unless 200).
    pub fn post(&mut self, body: &str) -> Vec<u8> {
        self.post_at("/", body)
    }

    /// [`post`](Self::post) to `path`.
    pub fn post_at(&mut self, path: &str, body: &str) -> Vec<u8> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
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
pub fn read_response(r: &mut impl BufRead) -> (u16, Vec<u8>) {
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
