//! IPC Echo round trip between two processes versus a raw socketpair round
//! trip with the same payload. Run with `cargo bench --bench ipc_echo`.
//!
//! The bench re-executes itself as the server process: for "raw" the child
//! echoes bytes back on a SOCK_STREAM socketpair; for "echo" it serves our
//! `Init` over one and the parent calls `Init.makeEcho` once, then `Echo.echo`
//! in a loop; "echo-sandboxed" is the same server inside the wallet role's real
//! sandbox (Landlock + seccomp). Under `cargo test` it runs a few iterations only.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, Instant};

use bitcoin_mp::ipc::client::{construct, make_thread};
use bitcoin_mp::ipc::connection::{connect_init, serve, stream_from_fd};
use bitcoin_mp::ipc::debug::{CallLog, Peer};
use bitcoin_mp::ipc::init::InitServer;

const SIZES: [usize; 3] = [16, 1024, 64 * 1024];
const CHILD_FD: i32 = 3;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(mode) = args.iter().find_map(|a| a.strip_prefix("--serve=")) {
        serve_child(mode);
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let rounds = if full { 20_000 } else { 20 };
    println!(
        "{:>8} {:>12} {:>12} {:>7} {:>16} {:>9}",
        "payload", "raw us/rt", "echo us/rt", "ratio", "sandboxed us/rt", "overhead"
    );
    for size in SIZES {
        let rounds = if size >= 64 * 1024 {
            rounds / 4
        } else {
            rounds
        };
        let raw = bench_raw(size, rounds);
        let echo = bench_echo(size, rounds, "echo");
        let boxed = bench_echo(size, rounds, "echo-sandboxed");
        println!(
            "{:>8} {:>12.2} {:>12.2} {:>6.2}x {:>16.2} {:>8.1}%",
            size,
            micros(raw),
            micros(echo),
            echo.as_secs_f64() / raw.as_secs_f64(),
            micros(boxed),
            (boxed.as_secs_f64() / echo.as_secs_f64() - 1.0) * 100.0
        );
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Starts this binary as a server on one end of a fresh socketpair.
fn spawn_server(
    mode: &str,
    wallet_dir: Option<&std::path::Path>,
) -> (std::process::Child, UnixStream) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let theirs_fd = theirs.as_raw_fd();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg(format!("--serve={mode}"));
    if let Some(dir) = wallet_dir {
        cmd.env("BENCH_WALLET_DIR", dir);
    }
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::dup2(theirs_fd, CHILD_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().unwrap();
    drop(theirs);
    (child, ours)
}

fn serve_child(mode: &str) {
    // SAFETY: the parent put our end of the socketpair at CHILD_FD.
    let fd = unsafe { OwnedFd::from_raw_fd(CHILD_FD) };
    match mode {
        "raw" => {
            let mut s = UnixStream::from(fd);
            // One write per message each way, as Cap'n Proto does.
            let mut buf = vec![0u8; 4 + 64 * 1024];
            while s.read_exact(&mut buf[..4]).is_ok() {
                let n = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                s.read_exact(&mut buf[4..4 + n]).unwrap();
                s.write_all(&buf[..4 + n]).unwrap();
            }
        }
        _ => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            // As in the real children: the runtime exists before the sandbox closes in.
            if mode == "echo-sandboxed" {
                // The wallet role's real policy, on a wallet directory the parent owns.
                let dir = std::path::PathBuf::from(
                    std::env::var_os("BENCH_WALLET_DIR").expect("BENCH_WALLET_DIR"),
                );
                let paths = bitcoin_mp::sandbox::Paths {
                    datadir: dir.clone(),
                    net_dir: dir.clone(),
                    wallet_dir: Some(dir),
                    blocks_dir: None,
                };
                bitcoin_mp::sandbox::apply(
                    bitcoin_mp::sandbox::Role::Wallet,
                    bitcoin_mp::sandbox::Mode::Require,
                    &paths,
                    None,
                )
                .unwrap();
            }
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, async move {
                let stream = stream_from_fd(fd).unwrap();
                let server = InitServer::new(
                    CallLog::new(Peer {
                        name: "bench".into(),
                        pid: 0,
                    }),
                    "bench-server",
                    Default::default(),
                )
                .into_client();
                let _ = serve(stream, server.client).await;
            });
        }
    }
}

/// Length-prefixed payload out and back, as a plain socket round trip.
fn bench_raw(size: usize, rounds: usize) -> Duration {
    let (mut child, mut s) = spawn_server("raw", None);
    let mut message = (size as u32).to_le_bytes().to_vec();
    message.extend(std::iter::repeat_n(0x61u8, size));
    let mut back = vec![0u8; 4 + size];
    let mut round = |s: &mut UnixStream| {
        s.write_all(&message).unwrap();
        s.read_exact(&mut back).unwrap();
    };
    for _ in 0..rounds / 10 + 1 {
        round(&mut s);
    }
    let start = Instant::now();
    for _ in 0..rounds {
        round(&mut s);
    }
    let per = start.elapsed() / rounds as u32;
    drop(s);
    child.wait().unwrap();
    per
}

/// `Echo.echo` with the same payload as text, over Cap'n Proto RPC.
fn bench_echo(size: usize, rounds: usize, mode: &str) -> Duration {
    let wallet_dir = tempfile::tempdir().unwrap();
    let (mut child, s) = spawn_server(mode, Some(wallet_dir.path()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let per = local.block_on(&rt, async move {
        s.set_nonblocking(true).unwrap();
        let stream = stream_from_fd(OwnedFd::from(s)).unwrap();
        let (init, rpc) = connect_init(stream);
        let driver = tokio::task::spawn_local(rpc);
        let log = CallLog::new(Peer {
            name: "bench-server".into(),
            pid: 0,
        });
        let map = construct(&init, &log, "bench").await.unwrap();
        let thread = make_thread(&map, &log, "bench").await.unwrap();
        let mut req = init.make_echo_request();
        req.get().init_context().set_thread(thread.clone());
        let echo = req
            .send()
            .promise
            .await
            .unwrap()
            .get()
            .unwrap()
            .get_result()
            .unwrap();
        let payload = "a".repeat(size);
        let call = || {
            let mut req = echo.echo_request();
            req.get().set_echo(&payload[..]);
            req.send().promise
        };
        for _ in 0..rounds / 10 + 1 {
            let r = call().await.unwrap();
            assert_eq!(r.get().unwrap().get_result().unwrap().len() as usize, size);
        }
        let start = Instant::now();
        for _ in 0..rounds {
            let r = call().await.unwrap();
            assert_eq!(r.get().unwrap().get_result().unwrap().len() as usize, size);
        }
        let per = start.elapsed() / rounds as u32;
        drop((echo, thread, map, init));
        driver.abort();
        per
    });
    // Dropping the local set drops the aborted connection task, closing our end.
    drop(local);
    drop(rt);
    child.wait().unwrap();
    per
}
