//! Fault test: the data directory's disk fills up while the node runs. The
//! datadir is a small tmpfs mounted in a mount namespace of its own (held by
//! a process the test starts; `unshare`/`nsenter` from util-linux), so the
//! test needs no root on the host and leaves no mount behind. The node must
//! stop with Core's one-line fatal error, and after space is freed a restart
//! must come back consistent: chain, UTXO index and wallet agree.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::json;

/// Size of the tmpfs: room for Core's 50 MiB reserve plus the 16 MiB block
/// file and 1 MiB undo file the kernel allocates up front, and some slack.
const TMPFS_MIB: u64 = 96;
/// What the test leaves free when it fills the disk: below Core's reserve,
/// enough for debug.log to keep the error.
const LEFT_FREE: u64 = 8 * 1024 * 1024;

/// A process holding a user and mount namespace with a tmpfs on `dir`.
struct TmpfsHolder {
    child: Child,
    dir: PathBuf,
}

impl TmpfsHolder {
    fn mount(dir: &Path, mib: u64) -> TmpfsHolder {
        let script = format!(
            "mount -t tmpfs -o size={mib}m tmpfs \"$0\" && echo mounted && exec cat >/dev/null"
        );
        let mut child = Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start unshare (util-linux)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "mounted",
            "cannot mount a tmpfs in a user namespace"
        );
        TmpfsHolder {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// `path` under the tmpfs, as this process reaches it.
    fn view(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.child.id()))
            .join(self.dir.strip_prefix("/").unwrap())
    }

    /// `bitcoin-node`, run inside the holder's namespaces (nsenter execs it:
    /// the pid the test gets is the node's).
    fn node_command(&self) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--target={}", self.child.id()))
            .args(["--user", "--mount", "--preserve-credentials", "--"])
            .arg(NODE);
        c
    }

    /// The node's datadir: `<dir>/data`, made inside the tmpfs. The host
    /// gets an empty directory of the same path for `TestNode` to own, which
    /// is not a mount point, so removing it leaves the tmpfs alone.
    fn datadir(&self) -> tempfile::TempDir {
        std::fs::create_dir_all(self.view().join("data")).unwrap();
        tempfile::Builder::new()
            .prefix("data")
            .rand_bytes(0)
            .tempdir_in(&self.dir)
            .unwrap()
    }

    fn start_node(&self, extra: &[&str]) -> TestNode {
        let view = self.view().join("data");
        TestNode::start_with(self.node_command(), self.datadir(), view, extra)
    }

    fn free_bytes(&self) -> u64 {
        bitcoin_mp::chain::disk_space::available(&self.view()).unwrap()
    }

    /// Writes a file that leaves `left` bytes free.
    /// Grows the filler file until `left` bytes are free (again: space that
    /// LevelDB's compaction frees is taken back by the next call).
    fn fill(&self, left: u64) -> PathBuf {
        let path = self.view().join("filler");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let chunk = vec![0x5a_u8; 1 << 20];
        while self.free_bytes() > left {
            let n = (self.free_bytes() - left).min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..n]).unwrap();
            f.flush().unwrap();
        }
        path
    }
}

impl Drop for TmpfsHolder {
    fn drop(&mut self) {
        // Only the holder the test started, by pid; the tmpfs goes with it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn height(node: &TestNode) -> u64 {
    ok(node, "getblockcount", json!([])).as_u64().unwrap()
}

#[test]
fn a_full_disk_stops_the_node_with_core_s_fatal_error_and_a_restart_is_consistent() {
    let host_dir = tempfile::tempdir().unwrap();
    let holder = TmpfsHolder::mount(host_dir.path(), TMPFS_MIB);

    // A wallet and 110 blocks to it, made durable by a clean stop.
    let mut node = holder.start_node(&[]);
    node.create_wallet("w");
    let addr = wok(&node, "w", "getnewaddress", json!([]));
    ok(&node, "generatetoaddress", json!([110, addr]));
    ok(&node, "stop", json!([]));
    assert!(node.wait_exit(Duration::from_secs(30)).success());
    drop(node);

    // Fill the disk to below Core's reserve while the node runs; the next
    // block it would index stops it.
    let mut node = holder.start_node(&["-wallet=w"]);
    assert_eq!(height(&node), 110);
    let filler = holder.fill(LEFT_FREE);
    let mined = rpc(&node, "generatetoaddress", json!([1, addr]));
    let (status, stderr) = node.wait_exit_with_stderr(Duration::from_secs(60));
    assert_eq!(
        status.code(),
        Some(1),
        "mined: {mined:?}; stderr:\n{stderr}"
    );
    let line =
        "Error: A fatal internal error occurred, see debug.log for details: Disk space is too low!";
    assert!(stderr.lines().any(|l| l == line), "stderr:\n{stderr}");
    let log = node.log();
    assert!(log.contains("Disk space is too low!"), "{log}");
    assert!(log.contains("exited with code 1; shutting down"), "{log}");
    assert!(!log.contains("goes on without it"), "{log}");
    // Every process of the set is gone.
    assert!(children_of(node.pid).is_empty());
    drop(node);

    // With the disk still full, a start is refused with Core's message.
    let mut node_cmd = holder.node_command();
    let out = node_cmd
        .arg("-regtest")
        .arg(format!(
            "-datadir={}",
            host_dir.path().join("data").display()
        ))
        .arg(format!("-rpcport={}", free_port()))
        .arg(format!("-port={}", free_port()))
        .arg("-bind=127.0.0.1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Error: Disk space is low for"), "{stderr}");

    // Space freed: the node comes back at a valid tip (the blocks the kernel
    // had made durable), its index and the wallet agree with the chain, and
    // it mines again.
    std::fs::remove_file(&filler).unwrap();
    let node = holder.start_node(&["-wallet=w"]);
    let tip = height(&node);
    assert!(tip >= 110, "tip {tip}");
    let set = ok(&node, "gettxoutsetinfo", json!(["none"]));
    assert_eq!(set["height"].as_u64(), Some(tip));
    assert_eq!(ok(&node, "verifychain", json!([4, 0])), json!(true));
    ok(&node, "generatetoaddress", json!([1, addr]));
    let balances = wok(&node, "w", "getbalances", json!([]));
    // Every block pays the wallet 50 BTC; the ones 100 deep are spendable.
    let mature = tip + 1 - 100;
    assert_eq!(
        balances["mine"]["trusted"].as_f64(),
        Some(50.0 * mature as f64),
        "{balances}"
    );

    // No byte free: a wallet write fails with the disk's error and the node
    // goes on; once space is back, the wallet reopens its file and goes on
    // without handing out an address twice.
    let filler = holder.fill(0);
    let mut given = std::collections::HashSet::new();
    let failure = (0..500)
        .find_map(|_| match wrpc(&node, "w", "getnewaddress", json!([])) {
            Ok(a) => {
                given.insert(a.as_str().unwrap().to_string());
                // The chainstate may have freed a file meanwhile (LevelDB
                // compaction): take that space too.
                holder.fill(0);
                None
            }
            Err(e) => Some(e),
        })
        .expect("500 new addresses written on a full disk");
    assert_eq!(
        failure,
        (
            -20,
            "wallet database: I/O error: No space left on device (os error 28)".into()
        )
    );
    assert_eq!(height(&node), tip + 1);
    std::fs::remove_file(&filler).unwrap();
    for _ in 0..3 {
        let a = wok(&node, "w", "getnewaddress", json!([]));
        assert!(given.insert(a.as_str().unwrap().to_string()), "{a} again");
    }
    node.wait_for_log(
        "wallet database reopened after a failed write",
        Duration::from_secs(5),
    );
    // The file is whole: a restart loads it, and it still hands out new
    // addresses only.
    drop(node);
    let node = holder.start_node(&["-wallet=w"]);
    let a = wok(&node, "w", "getnewaddress", json!([]));
    assert!(given.insert(a.as_str().unwrap().to_string()), "{a} again");
}
