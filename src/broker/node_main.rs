//! `bitcoin-node` as the user starts it: read options and bitcoin.conf, lock the
//! datadir, open debug.log, bind `-ipcbind` sockets, start the node worker (which
//! asks for wallets), hand it IPC connections, and stop everything cleanly on
//! SIGINT/SIGTERM or when the worker dies.

use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use super::channel::{Event, IncomingConnection};
use super::listen::{self, IpcListener};
use super::lock::lock_directory;
use super::supervise::{RpcFrontDoor, Supervisor};
use crate::cli::{self, fail};
use crate::config::{Config, Program};
use crate::ipc::address::IpcAddress;
use crate::ipc::client::{self, Link};
use crate::ipc::connection::stream_from_fd;
use crate::ipc::debug::{CallLog, Peer};
use crate::ipc::spawn::{take_socket_fd, ChildRole};
use crate::logging::{self, LogConfig};

/// Name Core uses for itself in user-facing messages (the lock error).
pub const CLIENT_NAME: &str = "Bitcoin Core";
/// How long children get to stop before they are killed.
const CHILD_STOP_TIMEOUT: Duration = Duration::from_secs(4);
/// How long the node worker gets to answer its first `Init.construct`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `bitcoin-node` (argv without argv[0]); returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    let config = match cli::parse(Program::Node, args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(e) =
        crate::sandbox::Mode::from_option(&config.get("sandbox").unwrap_or_else(|| "auto".into()))
    {
        return fail(&e.to_string());
    }
    let net_dir = config.net_dir();
    // As Core: a new datadir gets a wallets/ subdirectory from the start.
    if let Err(e) = std::fs::create_dir_all(net_dir.join("wallets")) {
        return fail(&format!(
            "Unable to create the data directory {}: {e}",
            net_dir.display()
        ));
    }
    let log_config = match LogConfig::from_config(&config) {
        Ok(c) => c,
        Err(e) => return fail(&e.to_string()),
    };
    let _lock = match lock_directory(&net_dir, CLIENT_NAME) {
        Ok(l) => l,
        Err(e) => return fail(&e.to_string()),
    };
    let sink = match logging::init_broker(&log_config) {
        Ok(s) => s,
        Err(e) => return fail(&e.to_string()),
    };
    log_startup(&config);
    // The broker keeps no capability: nothing it does needs one.
    match crate::sandbox::harden_broker() {
        Ok(()) => tracing::info!("broker: no_new_privs on, capabilities dropped"),
        Err(e) => tracing::warn!("broker: could not drop privileges: {e}"),
    }
    let code = cli::run_local(run(config, sink.clone()));
    tracing::info!("Shutdown: done");
    sink.flush();
    code
}

fn log_startup(config: &Config) {
    tracing::info!(
        "{} version v{} (multiprocess, sandboxed)",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    );
    tracing::info!("Using data directory {}", config.net_dir().display());
    config.log_args();
    for w in config.warnings() {
        tracing::warn!("{w}");
    }
    for name in config.unimplemented_set() {
        tracing::warn!("Option -{name} is accepted for compatibility but has no effect yet");
    }
}

async fn run(config: Config, sink: logging::Sink) -> i32 {
    // Core checks these before it binds or starts anything; the worker
    // reads them again to open the chain.
    if let Err(e) = crate::node::chain_options(&config)
        .and_then(|_| crate::net::user_agent(&config.get_all("uacomment")))
    {
        return log_fail(&e);
    }
    let connect_policy = match super::connect::ConnectPolicy::from_config(&config) {
        Ok(p) => p,
        Err(e) => return log_fail(&e.to_string()),
    };
    let mut listeners = Vec::new();
    for text in config.get_all("ipcbind") {
        let address = match IpcAddress::parse(&text, &config.net_dir(), "bitcoin-node") {
            Ok(a) => a,
            Err(e) => return log_fail(&format!("Unable to bind to IPC address '{text}'. {e}")),
        };
        match listen::bind(&address) {
            Ok(l) => {
                tracing::info!("Listening for IPC requests on address {address}");
                listeners.push(l);
            }
            Err(e) => return log_fail(&format!("Unable to bind to IPC address '{address}'. {e}")),
        }
    }
    // Spawned by bitcoin-gui: the socket it handed over is served like an -ipcbind client.
    let parent_socket = match config.get("ipcfd") {
        None => None,
        Some(v) => match v
            .parse()
            .ok()
            .filter(|n: &i32| *n > 2)
            .map(|fd| take_socket_fd("ipcfd", fd))
        {
            Some(Ok(fd)) => Some(fd),
            _ => return log_fail(&format!("Invalid -ipcfd number '{v}'")),
        },
    };

    // bitcoind serves JSON-RPC unless -server=0; a GUI-spawned node (-ipcfd)
    // only when asked, as bitcoin-qt.
    let rpc = if config.get_bool("server", parent_socket.is_none()) {
        let listeners = match super::rpc_bind::bind(&config) {
            Ok(l) => l,
            Err(e) => return log_fail(&e.to_string()),
        };
        let cookie = match super::rpc_bind::create_cookie(&config) {
            Ok(c) => c,
            Err(e) => {
                // Core: the reason in the log, the init error on the console.
                tracing::error!("{e}");
                return log_fail("Unable to start HTTP server. See debug log for details.");
            }
        };
        Some(RpcFrontDoor { listeners, cookie })
    } else {
        None
    };
    let p2p = match super::p2p_bind::bind(&config) {
        Ok(l) => l,
        Err(e) => return log_fail(&e.to_string()),
    };
    let sup = Supervisor::new(config, sink, connect_policy);
    *sup.p2p.borrow_mut() = p2p;
    *sup.rpc.borrow_mut() = rpc;
    let (worker, worker_ipc) = match sup.start_child(ChildRole::NodeWorker, "") {
        Ok(w) => w,
        Err(e) => return log_fail(&format!("cannot start the node worker: {e}")),
    };
    // The broker is the worker's first IPC client: the handshake proves the
    // worker is up and serving before anything else is handed to it.
    let worker_link = match handshake(worker_ipc, worker.pid).await {
        Ok(link) => link,
        Err(e) => {
            tracing::error!(
                "node worker (pid {}) did not answer Init.construct: {e}",
                worker.pid
            );
            sup.exit_code.set(1);
            shutdown(&sup, listeners).await;
            return 1;
        }
    };
    tracing::info!("node worker (pid {}) is serving Init", worker.pid);

    if let Some(fd) = parent_socket {
        let hangup = watch_hangup(&fd, sup.stop.clone());
        let incoming = IncomingConnection {
            peer_pid: nix::unistd::getppid().as_raw(),
            peer_uid: nix::unistd::getuid().as_raw(),
            peer_name: parent_name(),
            source: "ipcfd".into(),
        };
        if !sup.hand_to_worker(incoming, &fd).await {
            tracing::error!("cannot hand the -ipcfd connection to the node worker");
        }
        drop(hangup); // detached: it wakes `stop` when the parent hangs up
    }
    let accepting: Vec<_> = listeners
        .iter()
        .map(|l| tokio::task::spawn_local(accept_loop(sup.clone(), l.listener.clone())))
        .collect();

    tokio::select! {
        sig = crate::cli::stop_signal() => tracing::info!("Received {sig}"),
        _ = sup.stop.notified() => {},
    }
    for task in accepting {
        task.abort();
    }
    drop(worker_link);
    shutdown(&sup, listeners).await;
    sup.exit_code.get()
}

fn log_fail(message: &str) -> i32 {
    tracing::error!("{message}");
    fail(message)
}

/// Name of the process that started us (the GUI), for logs.
fn parent_name() -> String {
    let ppid = nix::unistd::getppid().as_raw();
    std::fs::read_to_string(format!("/proc/{ppid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "parent".into())
}

async fn handshake(fd: OwnedFd, pid: i32) -> Result<Link, capnp::Error> {
    let stream = stream_from_fd(fd).map_err(|e| capnp::Error::failed(e.to_string()))?;
    let link = Link::open(stream, |_| {});
    let log = CallLog::new(Peer {
        name: "node-worker".into(),
        pid,
    });
    match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        client::construct(&link.init, &log, "bitcoin-node"),
    )
    .await
    {
        Ok(result) => result.map(|_| link),
        Err(_) => Err(capnp::Error::failed(format!(
            "no answer within {}s",
            HANDSHAKE_TIMEOUT.as_secs()
        ))),
    }
}

/// Accepts `-ipcbind` clients, checks their uid, and hands each to the worker.
async fn accept_loop(sup: Rc<Supervisor>, listener: Rc<tokio::net::UnixListener>) {
    let source = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
        .unwrap_or_else(|| "unix".into());
    let my_uid = nix::unistd::getuid().as_raw();
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("IPC accept on {source}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let cred = match listen::peer_cred(&stream) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(
                    "IPC connection on {source}: cannot read peer credentials ({e}); refused"
                );
                continue;
            }
        };
        if cred.uid != my_uid {
            tracing::warn!(
                "IPC connection on {source} from {} (pid {}, uid {}) refused: not our uid {my_uid}",
                cred.name,
                cred.pid,
                cred.uid
            );
            continue;
        }
        tracing::info!(
            "IPC connection on {source} from {} (pid {})",
            cred.name,
            cred.pid
        );
        if sup.worker().is_none() {
            return;
        }
        let fd = match listen::into_fd(stream) {
            Ok(fd) => fd,
            Err(e) => {
                tracing::warn!("IPC connection on {source}: {e}");
                continue;
            }
        };
        let incoming = IncomingConnection {
            peer_pid: cred.pid,
            peer_uid: cred.uid,
            peer_name: cred.name,
            source: source.clone(),
        };
        if !sup.hand_to_worker(incoming, &fd).await {
            tracing::warn!("cannot hand IPC connection to the node worker");
        }
    }
}

/// Wakes `stop` when the peer of `fd` hangs up (the GUI that spawned us went away).
/// Polls for POLLRDHUP on its own thread so that no data is consumed.
fn watch_hangup(fd: &OwnedFd, stop: Rc<tokio::sync::Notify>) -> tokio::task::JoinHandle<()> {
    let dup = fd.try_clone();
    tokio::task::spawn_local(async move {
        let Ok(dup) = dup else { return };
        let waited = tokio::task::spawn_blocking(move || {
            // POLLRDHUP alone: wake when the peer shuts down its end, read nothing.
            let mut pfd = libc::pollfd {
                fd: dup.as_raw_fd(),
                events: libc::POLLRDHUP,
                revents: 0,
            };
            // SAFETY: one valid pollfd for an fd we own for the duration of the call.
            while unsafe { libc::poll(&mut pfd, 1, -1) } < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
            }
        })
        .await;
        if waited.is_ok() {
            tracing::info!(
                "The process that started bitcoin-node closed its IPC connection; shutting down"
            );
            stop.notify_one();
        }
    })
}

/// Stops every child: asks nicely, waits, then kills stragglers; removes sockets.
async fn shutdown(sup: &Rc<Supervisor>, listeners: Vec<IpcListener>) {
    tracing::info!("Shutdown: In progress...");
    sup.shutting_down.set(true);
    drop(listeners);
    let children: Vec<_> = sup.children.borrow().clone();
    for child in &children {
        if !child.exited.get() {
            sup.send_event(child, Event::Shutdown, &[]).await;
        }
    }
    let deadline = tokio::time::Instant::now() + CHILD_STOP_TIMEOUT;
    while tokio::time::Instant::now() < deadline
        && sup.children.borrow().iter().any(|c| !c.exited.get())
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for child in sup.children.borrow().iter().filter(|c| !c.exited.get()) {
        tracing::warn!(
            "{} (pid {}) did not stop in time; killing it",
            child.role.display_name(),
            child.pid
        );
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    // Give the waiters a moment to reap what was killed.
    let reap_deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while tokio::time::Instant::now() < reap_deadline
        && sup.children.borrow().iter().any(|c| !c.exited.get())
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Some(front) = sup.rpc.borrow_mut().take() {
        if let Some(cookie) = &front.cookie {
            cookie.remove();
        }
    }
}
