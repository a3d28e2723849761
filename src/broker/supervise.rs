//! Children of the broker: starting them, reading their log records into
//! debug.log, answering their broker-channel requests (the one dispatch table,
//! with who may ask what), and reporting how each one ended.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::rc::Rc;

use tokio::sync::Notify;

use super::channel::{
    decode_request, encode_broker_message, BrokerMessage, Channel, Event, IncomingConnection,
    Reply, Request, Settings,
};
use crate::config::Config;
use crate::ipc::debug;
use crate::ipc::spawn::{sibling_exe, spawn_child, ChildRole, SpawnError, SpawnedChild};
use crate::logging::{self, Sink};

/// Exit code a child uses when its sandbox stopped it (SIGSYS handler).
pub const SANDBOX_VIOLATION_EXIT: i32 = crate::sandbox::seccomp::VIOLATION_EXIT;
/// How long a wallet spawn waits for an earlier process of the same wallet
/// (just unloaded) to end before refusing.
const WALLET_EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// Most wallet processes one node runs at once.
const MAX_WALLETS: usize = 64;
/// Most malformed log records reported per child before going quiet.
const MAX_BAD_RECORD_WARNINGS: u32 = 5;

/// Options a wallet process receives; everything else stays with the broker.
const WALLET_SETTINGS: &[&str] = &[
    "debug",
    "debugexclude",
    "loglevel",
    "logtimemicros",
    "logthreadnames",
    "logsourcelocations",
    "logtimestamps",
    "logips",
    "sandbox",
    "wallet",
    "walletdir",
    "fallbackfee",
    "paytxfee",
    "mintxfee",
    "walletrbf",
    "addresstype",
    "changetype",
    "keypool",
    "avoidpartialspends",
    "spendzeroconfchange",
    "txconfirmtarget",
    "maxtxfee",
    "discardfee",
    "consolidatefeerate",
    "walletbroadcast",
    "walletnotify",
    "disablewallet",
];

/// What the broker knows about one running child.
pub struct ChildHandle {
    pub role: ChildRole,
    pub pid: i32,
    /// A wallet process's wallet name (empty for the worker).
    pub wallet_name: String,
    /// The child's broker channel, for events (None once it ended).
    pub channel: RefCell<Option<Rc<Channel>>>,
    pub exited: Cell<bool>,
}

/// Shared broker state for the tasks on its `LocalSet`.
pub struct Supervisor {
    pub config: Config,
    pub sink: Sink,
    pub children: RefCell<Vec<Rc<ChildHandle>>>,
    pub shutting_down: Cell<bool>,
    /// Notified when the node must stop (signal, worker death, GUI gone).
    pub stop: Rc<Notify>,
    /// Exit code for the broker: 1 once the worker died unexpectedly.
    pub exit_code: Cell<i32>,
    /// `O_PATH` fd of the network data directory: the node worker's root for
    /// brokered file opens (None if it could not be opened; opens are then refused).
    worker_root: Option<OwnedFd>,
    /// The JSON-RPC sockets and cookie (None with -server=0).
    pub rpc: RefCell<Option<RpcFrontDoor>>,
    /// What outbound connections the node's options allow.
    connect_policy: super::connect::ConnectPolicy,
    /// The P2P listening sockets (empty without -listen).
    pub p2p: RefCell<Vec<std::net::TcpListener>>,
}

/// What the broker opened for the node worker's JSON-RPC server.
pub struct RpcFrontDoor {
    pub listeners: Vec<std::net::TcpListener>,
    pub cookie: Option<super::rpc_bind::Cookie>,
}

impl Supervisor {
    pub fn new(
        config: Config,
        sink: Sink,
        connect_policy: super::connect::ConnectPolicy,
    ) -> Rc<Supervisor> {
        let worker_root = super::files::open_root(&config.net_dir())
            .map_err(|e| {
                tracing::error!(
                    "cannot open {} for brokered file access: {e}",
                    config.net_dir().display()
                )
            })
            .ok();
        Rc::new(Supervisor {
            worker_root,
            connect_policy,
            p2p: RefCell::default(),
            config,
            sink,
            children: RefCell::default(),
            shutting_down: Cell::new(false),
            stop: Rc::new(Notify::new()),
            exit_code: Cell::new(0),
            rpc: RefCell::new(None),
        })
    }

    /// Starts a child of `role` and the tasks that serve it. Returns the
    /// broker's end of its `Init` socket pair.
    pub fn start_child(
        self: &Rc<Self>,
        role: ChildRole,
        wallet_name: &str,
    ) -> Result<(Rc<ChildHandle>, OwnedFd), SpawnError> {
        let exe = sibling_exe(role)?;
        let SpawnedChild {
            process,
            pid,
            ipc,
            broker,
            log,
            ..
        } = spawn_child(role, &exe)?;
        let channel = Rc::new(Channel::new(broker).map_err(|source| SpawnError::Exec {
            exe: exe.clone(),
            source,
        })?);
        let handle = Rc::new(ChildHandle {
            role,
            pid,
            wallet_name: wallet_name.to_string(),
            channel: RefCell::new(Some(channel.clone())),
            exited: Cell::new(false),
        });
        self.children.borrow_mut().push(handle.clone());
        if wallet_name.is_empty() {
            tracing::info!("Started {} (pid {pid})", role.display_name());
        } else {
            tracing::info!(
                "Started {} (pid {pid}) for wallet \"{wallet_name}\"",
                role.display_name()
            );
        }
        tokio::task::spawn_local(read_logs(self.sink.clone(), role, pid, log));
        tokio::task::spawn_local(serve_requests(self.clone(), handle.clone(), channel));
        tokio::task::spawn_local(wait_for_exit(self.clone(), handle.clone(), process));
        Ok((handle, ipc))
    }

    /// The node worker's handle, while it runs.
    pub fn worker(&self) -> Option<Rc<ChildHandle>> {
        self.children
            .borrow()
            .iter()
            .find(|c| c.role == ChildRole::NodeWorker && !c.exited.get())
            .cloned()
    }

    /// Sends an event (with fds) to a child; false if it is gone.
    pub async fn send_event(
        &self,
        child: &ChildHandle,
        event: Event,
        fds: &[std::os::fd::RawFd],
    ) -> bool {
        let chan = child.channel.borrow().clone();
        let Some(chan) = chan else { return false };
        if debug::enabled() {
            tracing::debug!(target: "ipc", "IPC broker send event to {} (pid {}) {event:?}", child.role.display_name(), child.pid);
        }
        chan.send(&encode_broker_message(&BrokerMessage::Event(event)), fds)
            .await
            .is_ok()
    }

    /// Hands an accepted IPC connection to the node worker, which serves `Init`
    /// on it; false when there is no worker or it cannot be reached.
    pub async fn hand_to_worker(&self, incoming: IncomingConnection, fd: &OwnedFd) -> bool {
        let Some(worker) = self.worker() else {
            return false;
        };
        self.send_event(
            &worker,
            Event::IncomingConnection(incoming),
            &[fd.as_raw_fd()],
        )
        .await
    }

    fn settings_for(&self, child: &ChildHandle) -> Settings {
        let args = match child.role {
            ChildRole::NodeWorker => self.config.to_settings(|_| true),
            ChildRole::Wallet => self
                .config
                .to_settings(|name| WALLET_SETTINGS.contains(&name)),
        };
        Settings {
            chain: self.config.chain().name().to_string(),
            data_dir: self.config.datadir().to_path_buf(),
            net_dir: self.config.net_dir(),
            args,
            wallet_name: child.wallet_name.clone(),
        }
    }

    /// `<datadir>/<chain>/wallets` (Core's default -walletdir).
    fn wallets_dir(&self) -> std::path::PathBuf {
        self.config.net_dir().join("wallets")
    }

    fn wallet_count(&self) -> usize {
        self.children
            .borrow()
            .iter()
            .filter(|c| c.role == ChildRole::Wallet && !c.exited.get())
            .count()
    }

    /// The dispatch table: every request kind, who may send it, and the answer.
    /// A file operation in the worker's root directory (a rename, a
    /// removal): `done` when it worked, else the refusal, logged.
    fn in_worker_root(
        &self,
        from: &ChildHandle,
        req: &Request,
        what: &str,
        op: impl FnOnce(&OwnedFd) -> Result<(), super::files::FileError>,
        done: Reply,
    ) -> (Reply, Vec<OwnedFd>) {
        let Some(root) = &self.worker_root else {
            return (
                Reply::Error(format!("no root directory for {}", req.method())),
                Vec::new(),
            );
        };
        match op(root) {
            Ok(()) => (done, Vec::new()),
            Err(e) => {
                tracing::warn!(
                    "broker: denied {} {what} from {} (pid {}): {e}",
                    req.method(),
                    from.role.display_name(),
                    from.pid
                );
                (Reply::Error(e.to_string()), Vec::new())
            }
        }
    }

    async fn handle(self: &Rc<Self>, from: &ChildHandle, req: &Request) -> (Reply, Vec<OwnedFd>) {
        match (req, from.role) {
            (Request::GetSettings, _) => (Reply::Settings(self.settings_for(from)), Vec::new()),
            (Request::ListWalletDir, ChildRole::NodeWorker) => (
                Reply::WalletDir(crate::wallet::name::list(&self.wallets_dir())),
                Vec::new(),
            ),
            (Request::SpawnWallet { name, create }, ChildRole::NodeWorker) => {
                if let Err(e) = crate::wallet::name::check(name) {
                    return (Reply::Error(e), Vec::new());
                }
                let running = || {
                    self.children.borrow().iter().any(|c| {
                        c.role == ChildRole::Wallet && !c.exited.get() && c.wallet_name == *name
                    })
                };
                // An unloaded wallet's process may still be writing and exiting.
                let deadline = tokio::time::Instant::now() + WALLET_EXIT_WAIT;
                while running() && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                if running() {
                    return (
                        Reply::Error(format!("wallet \"{name}\" already has a running process")),
                        Vec::new(),
                    );
                }
                if self.shutting_down.get() {
                    return (Reply::Error("shutting down".into()), Vec::new());
                }
                if self.config.get_bool("disablewallet", false) {
                    return (
                        Reply::Error("wallets are disabled (-disablewallet)".into()),
                        Vec::new(),
                    );
                }
                if self.wallet_count() >= MAX_WALLETS {
                    return (
                        Reply::Error(format!("too many wallet processes (limit {MAX_WALLETS})")),
                        Vec::new(),
                    );
                }
                let prepared = if *create {
                    crate::wallet::name::make_dir(&self.wallets_dir(), name)
                } else {
                    crate::wallet::name::find_dir(&self.wallets_dir(), name)
                };
                if let Err(e) = prepared {
                    return (Reply::Error(e), Vec::new());
                }
                match self.start_child(ChildRole::Wallet, name) {
                    Ok((handle, ipc)) => (Reply::WalletSpawned { pid: handle.pid }, vec![ipc]),
                    Err(e) => (Reply::Error(e.to_string()), Vec::new()),
                }
            }
            (Request::RpcServer, ChildRole::NodeWorker) => {
                let front = self.rpc.borrow();
                let Some(front) = front.as_ref() else {
                    return (
                        Reply::Error("the RPC server is disabled (-server=0)".into()),
                        Vec::new(),
                    );
                };
                let fds: Result<Vec<OwnedFd>, _> = front
                    .listeners
                    .iter()
                    .map(|l| l.try_clone().map(OwnedFd::from))
                    .collect();
                match fds {
                    Ok(fds) => (
                        Reply::RpcServer {
                            cookie: super::channel::Secret(
                                front
                                    .cookie
                                    .as_ref()
                                    .map(|c| c.credentials.clone())
                                    .unwrap_or_default(),
                            ),
                        },
                        fds,
                    ),
                    Err(e) => (
                        Reply::Error(format!("cannot share the RPC sockets: {e}")),
                        Vec::new(),
                    ),
                }
            }
            (Request::RequestShutdown, ChildRole::NodeWorker) => {
                tracing::info!("Shutdown requested by the node worker (stop RPC)");
                self.stop.notify_one();
                (Reply::ShutdownRequested, Vec::new())
            }
            (Request::P2pServer, ChildRole::NodeWorker) => {
                let fds: Result<Vec<OwnedFd>, _> = self
                    .p2p
                    .borrow()
                    .iter()
                    .map(|l| l.try_clone().map(OwnedFd::from))
                    .collect();
                match fds {
                    Ok(fds) => (Reply::P2pServer, fds),
                    Err(e) => (
                        Reply::Error(format!("cannot share the P2P sockets: {e}")),
                        Vec::new(),
                    ),
                }
            }
            (Request::RenameFile { from: f, to }, role) => self.in_worker_root(
                from,
                req,
                &format!("{f:?} -> {to:?}"),
                |root| super::files::rename(role, root, f, to),
                Reply::FileRenamed,
            ),
            (Request::RemoveFile(name), role) => self.in_worker_root(
                from,
                req,
                &format!("{name:?}"),
                |root| super::files::remove(role, root, name),
                Reply::FileRemoved,
            ),
            (Request::ExportBackup { wallet, path }, ChildRole::NodeWorker) => {
                let done = super::backups::export(
                    self.config.datadir(),
                    &self.wallets_dir(),
                    wallet,
                    path,
                );
                match done {
                    Ok(to) => {
                        tracing::info!("Wallet \"{wallet}\" backed up to {}", to.display());
                        (Reply::BackupWritten, Vec::new())
                    }
                    Err(e) => {
                        tracing::warn!("broker: backup of wallet \"{wallet}\" to {path:?}: {e}");
                        (Reply::Error(e.to_string()), Vec::new())
                    }
                }
            }
            (Request::RestoreWallet { wallet, path }, ChildRole::NodeWorker) => {
                match super::backups::restore(&self.wallets_dir(), wallet, path) {
                    Ok(()) => {
                        tracing::info!("Wallet \"{wallet}\" restored from {path:?}");
                        (Reply::WalletRestored, Vec::new())
                    }
                    Err(e) => {
                        tracing::warn!("broker: restoring wallet \"{wallet}\" from {path:?}: {e}");
                        (Reply::Error(e.to_string()), Vec::new())
                    }
                }
            }
            (
                Request::SpawnWallet { .. }
                | Request::ExportBackup { .. }
                | Request::RestoreWallet { .. }
                | Request::ListWalletDir
                | Request::RpcServer
                | Request::RequestShutdown
                | Request::P2pServer,
                role,
            ) => {
                tracing::warn!(
                    "broker: denied {} from {} (pid {}): not allowed for this role",
                    req.method(),
                    role.display_name(),
                    from.pid
                );
                (
                    Reply::Error("not allowed for this process".into()),
                    Vec::new(),
                )
            }
            (Request::Connect(address), role) => {
                match super::connect::connect(role, &self.connect_policy, address).await {
                    Ok(fd) => {
                        tracing::debug!(target: "net", "broker: connected {} (pid {}) to {address}", role.display_name(), from.pid);
                        (Reply::Connected, vec![fd])
                    }
                    Err(e) => {
                        tracing::warn!(
                            "broker: denied or failed {} {address:?} from {} (pid {}): {e}",
                            req.method(),
                            role.display_name(),
                            from.pid
                        );
                        (Reply::Error(e.to_string()), Vec::new())
                    }
                }
            }
            (Request::OpenFile(open), role) => {
                let Some(root) = &self.worker_root else {
                    return (
                        Reply::Error("no root directory for brokered opens".into()),
                        Vec::new(),
                    );
                };
                match super::files::open(role, root, open) {
                    Ok(fd) => (Reply::FileOpened, vec![fd]),
                    // A file that is not there yet (mempool.dat on a first
                    // start) is an answer, not a denial.
                    Err(
                        e @ super::files::FileError::Open {
                            errno: nix::errno::Errno::ENOENT,
                            ..
                        },
                    ) => (Reply::Error(e.to_string()), Vec::new()),
                    Err(e) => {
                        tracing::warn!(
                            "broker: denied {} {:?} from {} (pid {}): {e}",
                            req.method(),
                            open.path,
                            role.display_name(),
                            from.pid
                        );
                        (Reply::Error(e.to_string()), Vec::new())
                    }
                }
            }
        }
    }
}

/// Copies a child's log records into debug.log until it closes its log fd.
async fn read_logs(sink: Sink, role: ChildRole, pid: i32, fd: OwnedFd) {
    let chan = match Channel::new(fd) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("log channel of {} (pid {pid}): {e}", role.display_name());
            return;
        }
    };
    let mut bad = 0u32;
    loop {
        match chan.recv().await {
            // Every earlier record is written: the child may go on.
            Ok(Some(d)) if logging::decode_sync(&d.bytes).is_some() => {
                if let Err(e) = chan.send(&d.bytes, &[]).await {
                    tracing::warn!("log channel of {} (pid {pid}): {e}", role.display_name());
                    return;
                }
            }
            Ok(Some(d)) => match logging::decode_record(&d.bytes) {
                Ok(record) => sink.write(&record),
                Err(e) => {
                    bad += 1;
                    if bad <= MAX_BAD_RECORD_WARNINGS {
                        tracing::warn!(
                            "malformed log record from {} (pid {pid}): {e}",
                            role.display_name()
                        );
                    }
                }
            },
            Ok(None) => return,
            Err(e) => {
                tracing::warn!("log channel of {} (pid {pid}): {e}", role.display_name());
                return;
            }
        }
    }
}

/// Answers one child's broker-channel requests until it closes the channel.
async fn serve_requests(sup: Rc<Supervisor>, child: Rc<ChildHandle>, chan: Rc<Channel>) {
    loop {
        let d = match chan.recv().await {
            Ok(Some(d)) => d,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(
                    "broker channel of {} (pid {}): {e}; closing it",
                    child.role.display_name(),
                    child.pid
                );
                break;
            }
        };
        if !d.fds.is_empty() {
            tracing::warn!(
                "broker: {} (pid {}) sent file descriptors; request dropped",
                child.role.display_name(),
                child.pid
            );
            continue;
        }
        let (id, req) = match decode_request(&d.bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(
                    "broker: malformed request from {} (pid {}): {e}; closing its channel",
                    child.role.display_name(),
                    child.pid
                );
                break;
            }
        };
        if debug::enabled() {
            tracing::debug!(target: "ipc", "IPC broker recv request #{id} from {} (pid {}) {} {req:?}", child.role.display_name(), child.pid, req.method());
        }
        let (reply, fds) = sup.handle(&child, &req).await;
        if debug::enabled() {
            tracing::debug!(target: "ipc", "IPC broker send response #{id} to {} (pid {}) {} {reply:?}", child.role.display_name(), child.pid, req.method());
        }
        let fds: Vec<_> = fds.iter().map(|f| f.as_raw_fd()).collect();
        if let Err(e) = chan
            .send(
                &encode_broker_message(&BrokerMessage::Reply { id, reply }),
                &fds,
            )
            .await
        {
            tracing::warn!(
                "broker: cannot answer {} (pid {}): {e}",
                child.role.display_name(),
                child.pid
            );
            break;
        }
    }
    child.channel.borrow_mut().take();
}

/// Describes how a process ended, in words an operator understands.
pub fn describe_exit(status: &ExitStatus) -> String {
    if let Some(code) = status.code() {
        if code == SANDBOX_VIOLATION_EXIT {
            return format!("was stopped by its sandbox (exit code {code}; the blocked system call is logged above)");
        }
        return format!("exited with code {code}");
    }
    if status.signal() == Some(libc::SIGSYS) {
        // Seccomp kills with SIGSYS when the handler cannot run (signals blocked).
        return "was stopped by its sandbox (killed by SIGSYS: a blocked system call)".to_string();
    }
    if let Some(sig) = status.signal() {
        let name = nix::sys::signal::Signal::try_from(sig)
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|_| format!("signal {sig}"));
        let core = if status.core_dumped() {
            " (core dumped)"
        } else {
            ""
        };
        return format!("was killed by {name}{core}");
    }
    format!("ended ({status})")
}

/// Waits for a child to end and reacts: the worker's death stops the node,
/// a wallet's is logged and the node goes on.
async fn wait_for_exit(
    sup: Rc<Supervisor>,
    child: Rc<ChildHandle>,
    mut process: tokio::process::Child,
) {
    let status = process.wait().await;
    child.exited.set(true);
    let what = child.role.display_name();
    let pid = child.pid;
    match status {
        // Also a wallet the worker unloaded (unloadwallet, or the worker's
        // own shutdown before it ends).
        Ok(s) if s.success() && (sup.shutting_down.get() || child.role == ChildRole::Wallet) => {
            tracing::info!("{what} (pid {pid}) exited cleanly")
        }
        Ok(s) if sup.shutting_down.get() => {
            tracing::warn!("{what} (pid {pid}) {} during shutdown", describe_exit(&s))
        }
        Ok(s) => match child.role {
            ChildRole::NodeWorker => {
                tracing::error!("{what} (pid {pid}) {}; shutting down", describe_exit(&s));
                sup.exit_code.set(1);
                sup.stop.notify_one();
            }
            ChildRole::Wallet => tracing::warn!(
                "{what} (pid {pid}) {}; the node goes on without it",
                describe_exit(&s)
            ),
        },
        Err(e) => tracing::error!("cannot wait for {what} (pid {pid}): {e}"),
    }
}
