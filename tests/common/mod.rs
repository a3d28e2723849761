//! Shared helpers for integration tests: start the real binaries on a
//! temporary datadir, read their debug.log, find their children, stop only
//! the processes a test started, by pid, and post JSON-RPC with the cookie.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const NODE: &str = env!("CARGO_BIN_EXE_bitcoin-node");
pub const WALLET: &str = env!("CARGO_BIN_EXE_bitcoin-wallet");
pub const GUI: &str = env!("CARGO_BIN_EXE_bitcoin-gui");

/// A `bitcoin-node -regtest` process set on its own temporary datadir.
pub struct TestNode {
    pub datadir: tempfile::TempDir,
    pub child: Option<Child>,
    pub pid: i32,
    /// The JSON-RPC port (a free one unless the test chose -rpcport).
    pub rpc_port: u16,
    /// Where the test reads the datadir: `datadir` itself, unless the node
    /// runs in another mount namespace (then through `/proc/<pid>/root`).
    pub view: PathBuf,
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl TestNode {
    /// Starts `bitcoin-node -regtest -datadir=<tmp>` plus `extra` and waits until
    /// the node worker serves Init.
    pub fn start(extra: &[&str]) -> TestNode {
        let datadir = tempfile::tempdir().expect("tempdir");
        TestNode::start_in(datadir, extra)
    }

    pub fn start_in(datadir: tempfile::TempDir, extra: &[&str]) -> TestNode {
        let view = datadir.path().to_path_buf();
        TestNode::start_with(Command::new(NODE), datadir, view, extra)
    }

    /// Starts the node with `command` (bitcoin-node, or a launcher whose
    /// arguments end with it) on `datadir`, which the test sees at `view`.
    pub fn start_with(
        mut command: Command,
        datadir: tempfile::TempDir,
        view: PathBuf,
        extra: &[&str],
    ) -> TestNode {
        let given = extra
            .iter()
            .find_map(|a| a.strip_prefix("-rpcport=").and_then(|p| p.parse().ok()));
        let rpc_port = given.unwrap_or_else(free_port);
        // debug.log is appended to across restarts: wait for a new line.
        let log_path = view.join("regtest").join("debug.log");
        let serving_before = std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .matches("is serving Init")
            .count();
        // P2P on loopback and a free port unless the test says otherwise.
        let mut p2p = Vec::new();
        if !extra.iter().any(|a| a.starts_with("-port=")) {
            p2p.push(format!("-port={}", free_port()));
        }
        if !extra
            .iter()
            .any(|a| a.starts_with("-bind=") || a.starts_with("-listen"))
        {
            p2p.push("-bind=127.0.0.1".to_string());
        }
        let child = command
            .arg("-regtest")
            .arg(format!("-datadir={}", datadir.path().display()))
            .arg(format!("-rpcport={rpc_port}"))
            .args(&p2p)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bitcoin-node");
        let pid = child.id() as i32;
        let node = TestNode {
            datadir,
            child: Some(child),
            pid,
            rpc_port,
            view,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while node.log().matches("is serving Init").count() <= serving_before {
            assert!(
                Instant::now() < deadline,
                "node not serving within 60s; log:\n{}",
                node.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        node
    }

    pub fn net_dir(&self) -> PathBuf {
        self.view.join("regtest")
    }

    pub fn datadir_arg(&self) -> String {
        format!("-datadir={}", self.datadir.path().display())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.net_dir().join("debug.log")).unwrap_or_default()
    }

    /// Waits until debug.log contains `needle`; panics with the log otherwise.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            if Instant::now() > deadline {
                panic!("debug.log never showed {needle:?}; it has:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// createwallet `name` over RPC: the broker starts its bitcoin-wallet
    /// process; returns once the wallet is loaded in it.
    pub fn create_wallet(&self, name: &str) {
        ok(self, "createwallet", serde_json::json!([name]));
        self.wait_for_log(
            &format!("Wallet \"{name}\" loaded in bitcoin-wallet process"),
            Duration::from_secs(10),
        );
    }

    /// Direct children of the broker: (pid, executable name).
    pub fn children(&self) -> Vec<(i32, String)> {
        children_of(self.pid)
    }

    pub fn child_named(&self, name: &str) -> i32 {
        self.children()
            .into_iter()
            .find(|(_, n)| n == name)
            .map(|(p, _)| p)
            .unwrap_or_else(|| panic!("no {name} child of {}", self.pid))
    }

    /// Sends `sig` to the broker and waits for it to exit; returns the exit status.
    pub fn stop_with(&mut self, sig: i32, timeout: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("node already stopped");
        unsafe { libc::kill(self.pid, sig) };
        wait_timeout(&mut child, timeout).unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "bitcoin-node did not stop within {timeout:?}; log:\n{}",
                self.log()
            )
        })
    }

    /// Waits for the broker to exit on its own; its status and what the
    /// process set wrote on stderr.
    pub fn wait_exit_with_stderr(
        &mut self,
        timeout: Duration,
    ) -> (std::process::ExitStatus, String) {
        let mut stderr = self.child.as_mut().and_then(|c| c.stderr.take());
        let status = self.wait_exit(timeout);
        let mut text = String::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_string(&mut text);
        }
        (status, text)
    }

    /// Waits for the broker to exit on its own.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("node already stopped");
        wait_timeout(&mut child, timeout).unwrap_or_else(|| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "bitcoin-node did not exit within {timeout:?}; log:\n{}",
                self.log()
            )
        })
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.stop_on_drop();
        // contrib/fuzz-record-seeds.sh: keep the log with the IPC requests
        // the run recorded before the datadir goes.
        if let Some(dir) = std::env::var_os("IPC_RECORD_DIR") {
            let to = Path::new(&dir).join(format!("{}-debug.log", self.pid));
            let _ = std::fs::copy(self.net_dir().join("debug.log"), to);
        }
    }
}

impl TestNode {
    fn stop_on_drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let kids = children_of(self.pid);
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
            if wait_timeout(&mut child, Duration::from_secs(10)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
                for (pid, _) in kids {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

/// Polls `cond` every 100 ms until it holds; fails the test after 30 s.
pub fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    wait_for_within(what, Duration::from_secs(30), cond);
}

/// Waits for a transaction to cross a connection on Core's announcement
/// timers: an inbound peer's round comes on a shared Poisson timer with a
/// 5 s mean, whose tail passes 30 s once in 400 hops; as Core's
/// sync_mempools, 60 s are allowed.
pub fn wait_for_relay(what: &str, cond: impl FnMut() -> bool) {
    wait_for_within(what, Duration::from_secs(60), cond);
}

/// Polls `cond` every 100 ms until it holds; fails the test after `limit`.
pub fn wait_for_within(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls a child until it exits or `timeout` passes.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Direct children of `pid` from /proc: (pid, comm).
pub fn children_of(pid: i32) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // Fields after the parenthesised comm: state ppid ...
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let rest: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        if rest.get(1).and_then(|s| s.parse::<i32>().ok()) == Some(pid) {
            let comm = std::fs::read_to_string(format!("/proc/{p}/comm"))
                .unwrap_or_default()
                .trim()
                .to_string();
            out.push((p, comm));
        }
    }
    out
}

/// True while a process with this pid exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .map(|i| !stat[i + 2..].starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Waits until `pid` is gone.
pub fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

/// Runs a binary to completion: (exit code, stdout, stderr).
pub fn run(bin: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run binary");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `bitcoin-node` with `args` on a free RPC port and without P2P
/// listening, for a start that fails only after the broker bound its
/// sockets (the engine refusing the datadir): tests running at the same
/// time cannot take each other's default ports.
pub fn run_node_unbound(args: &[&str]) -> (i32, String, String) {
    let rpcport = format!("-rpcport={}", free_port());
    let mut all = args.to_vec();
    all.extend([rpcport.as_str(), "-listen=0"]);
    run(NODE, &all)
}

/// Attaches to a node's socket with the library's client, runs an Echo round
/// trip, and returns what came back.
pub fn echo_over(socket: &Path, text: &str) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let socket = socket.to_path_buf();
    let text = text.to_string();
    local.block_on(&rt, async move {
        let address = bitcoin_mp::ipc::address::IpcAddress::Unix(socket);
        let attached = bitcoin_mp::ipc::client::attach(&address, "test-client")
            .await
            .map_err(|e| e.to_string())?;
        let bitcoin_mp::ipc::client::Attached { init, log, rpc } = attached;
        let driver = tokio::task::spawn_local(rpc);
        let map = bitcoin_mp::ipc::client::construct(&init, &log, "test-client")
            .await
            .map_err(|e| e.to_string())?;
        let thread = bitcoin_mp::ipc::client::make_thread(&map, &log, "t")
            .await
            .map_err(|e| e.to_string())?;
        bitcoin_mp::ipc::client::echo_check(&init, &log, &thread, &text)
            .await
            .map_err(|e| e.to_string())?;
        driver.abort();
        Ok(text)
    })
}

/// One raw HTTP/1.1 exchange; returns (status, body).
pub fn http(port: u16, request: &str) -> (u16, String) {
    try_http(port, request).expect("connect to the RPC port")
}

/// `http`, or None when nothing answers on `port` (a node going away).
pub fn try_http(port: u16, request: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// A node's RPC port and cookie, for a thread that outlives its `TestNode`
/// borrow (a workload running while the test kills processes).
#[derive(Clone)]
pub struct RpcClient {
    port: u16,
    auth: String,
}

impl RpcClient {
    pub fn of(node: &TestNode) -> RpcClient {
        RpcClient {
            port: node.rpc_port,
            auth: basic_auth(node),
        }
    }

    /// One call posted to `path`: the result or (code, message); None when
    /// the node is gone or answered nothing.
    pub fn call(
        &self,
        path: &str,
        method: &str,
        params: Value,
    ) -> Option<Result<Value, (i64, String)>> {
        let body =
            serde_json::json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params})
                .to_string();
        let (status, text) = try_http(
            self.port,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                self.auth,
                body.len()
            ),
        )?;
        let reply: Value = serde_json::from_str(text.trim())
            .ok()
            .filter(|_| status != 0)?;
        Some(match &reply["error"] {
            Value::Null => Ok(reply["result"].clone()),
            e => Err((
                e["code"].as_i64().unwrap_or(0),
                e["message"].as_str().unwrap_or_default().to_string(),
            )),
        })
    }
}

/// The `Authorization` value for the node's cookie.
pub fn basic_auth(node: &TestNode) -> String {
    use base64::Engine;
    let cookie = std::fs::read_to_string(node.net_dir().join(".cookie")).unwrap();
    base64::engine::general_purpose::STANDARD.encode(cookie.trim())
}

/// A request posted to the RPC port with the node's cookie; (status, body).
pub fn post(node: &TestNode, path: &str, body: &str) -> (u16, String) {
    let auth = basic_auth(node);
    http(
        node.rpc_port,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// A JSON-RPC request body posted with the node's cookie; (status, reply).
pub fn call_at(node: &TestNode, path: &str, body: &str) -> (u16, Value) {
    let (status, text) = post(node, path, body);
    (
        status,
        serde_json::from_str(text.trim()).unwrap_or(Value::Null),
    )
}

/// One call posted to `path` (`/` or `/wallet/<name>`): the result, or (code, message).
pub fn rpc_at(
    node: &TestNode,
    path: &str,
    method: &str,
    params: Value,
) -> Result<Value, (i64, String)> {
    let body = serde_json::json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params});
    let (_, reply) = call_at(node, path, &body.to_string());
    match &reply["error"] {
        Value::Null => Ok(reply["result"].clone()),
        e => Err((
            e["code"].as_i64().unwrap(),
            e["message"].as_str().unwrap().to_string(),
        )),
    }
}

/// One call: the result, or (code, message).
pub fn rpc(node: &TestNode, method: &str, params: Value) -> Result<Value, (i64, String)> {
    rpc_at(node, "/", method, params)
}

/// A wallet RPC through `/wallet/<name>`: the result, or (code, message).
pub fn wrpc(
    node: &TestNode,
    wallet: &str,
    method: &str,
    params: Value,
) -> Result<Value, (i64, String)> {
    rpc_at(node, &format!("/wallet/{wallet}"), method, params)
}

/// A wallet RPC that must succeed.
pub fn wok(node: &TestNode, wallet: &str, method: &str, params: Value) -> Value {
    wrpc(node, wallet, method, params)
        .unwrap_or_else(|e| panic!("{wallet} {method}: {e:?}\n{}", node.log()))
}

/// An object's member names in the order the node wrote them.
pub fn members(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

pub fn ok(node: &TestNode, method: &str, params: Value) -> Value {
    rpc(node, method, params).unwrap_or_else(|e| panic!("{method}: {e:?}\n{}", node.log()))
}

/// An amount in BTC (a JSON number) in satoshis.
/// Waits until every peer of each node has sent its feefilter out of IBD
/// (the relay minimum, not the top bucket a syncing node sends): until
/// then a transaction announced to it is filtered out for good, as Core.
pub fn wait_for_tx_relay(nodes: &[&TestNode]) {
    for node in nodes {
        let relayfee = ok(node, "getnetworkinfo", serde_json::json!([]))["relayfee"].clone();
        wait_for("every peer's feefilter out of IBD", || {
            let peers = ok(node, "getpeerinfo", serde_json::json!([]));
            let peers = peers.as_array().unwrap();
            !peers.is_empty() && peers.iter().all(|p| p["minfeefilter"] == relayfee)
        });
    }
}

pub fn sats(v: &Value) -> i64 {
    (v.as_f64().expect("amount") * 1e8).round() as i64
}

/// A new address of `wallet`.
pub fn address(node: &TestNode, wallet: &str) -> String {
    wok(node, wallet, "getnewaddress", serde_json::json!([]))
        .as_str()
        .unwrap()
        .to_string()
}

/// Mines `blocks` blocks to a new address of `wallet`.
pub fn mine_to(node: &TestNode, wallet: &str, blocks: u64) {
    let a = address(node, wallet);
    ok(node, "generatetoaddress", serde_json::json!([blocks, a]));
}

/// An Xvfb display of a test's own (Mesa renders in software), for the tests
/// that open bitcoin-gui's real window. Xvfb picks a free display number and
/// says which (`-displayfd`); dropping this stops it, by pid.
pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    pub fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb (contrib/install-deps.sh --test installs it)");
        let mut out = child.stdout.take().expect("Xvfb stdout");
        let mut number = String::new();
        let mut byte = [0u8; 1];
        while out.read(&mut byte).map(|n| n == 1).unwrap_or(false) && byte[0] != b'\n' {
            number.push(byte[0] as char);
        }
        assert!(!number.is_empty(), "Xvfb did not report a display");
        Xvfb {
            child,
            display: format!(":{}", number.trim()),
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tests/foreign_peer.py in its `orders` mode: a peer that is not ours,
/// told line by line what to send; each order gets one line back.
pub struct OrdersPeer {
    child: std::process::Child,
    orders: Option<std::process::ChildStdin>,
    answers: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    /// The services the node's version message offered.
    pub services: u64,
}

impl OrdersPeer {
    /// Connects; `relay` is the version message's relay flag.
    pub fn connect(port: u16, relay: bool) -> OrdersPeer {
        Self::connect_offering(port, relay, 0)
    }

    /// Connects offering `services` (NODE_NETWORK is 1, NODE_WITNESS 8).
    pub fn connect_offering(port: u16, relay: bool, services: u64) -> OrdersPeer {
        use std::io::BufRead;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/foreign_peer.py");
        let mode = if relay { "orders" } else { "orders-norelay" };
        let mut child = std::process::Command::new("python3")
            .args([
                script,
                "127.0.0.1",
                &port.to_string(),
                mode,
                &services.to_string(),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let orders = child.stdin.take();
        let answers = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut peer = OrdersPeer {
            child,
            orders,
            answers,
            services: 0,
        };
        loop {
            let line = peer.line();
            if let Some(s) = line.split("services=").nth(1) {
                peer.services = u64::from_str_radix(s, 16).unwrap();
            }
            if line == "ready" {
                return peer;
            }
        }
    }

    pub fn line(&mut self) -> String {
        self.answers
            .next()
            .expect("a line from the foreign peer")
            .unwrap()
    }

    pub fn order(&mut self, order: &str) -> String {
        use std::io::Write;
        writeln!(self.orders.as_mut().unwrap(), "{order}").unwrap();
        self.line()
    }

    /// Ends the peer; it must have run without error.
    pub fn finish(mut self) {
        drop(self.orders.take());
        assert!(self.child.wait().unwrap().success());
    }
}
