//! The GUI's link to the node, on a thread of its own: starts `bitcoin-node`
//! over a socket pair (`-ipcfd`) or attaches to a running one, gets `Node`
//! through `Init.makeNode`, subscribes to its notifications, and turns the
//! window's commands into `Node` and `Wallet` calls. It writes what it learns
//! into the shared [`Model`] and asks the window to repaint; the window never
//! waits on the node.

use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::model::{self, Command, ConsoleEntry, Fee, Link, Model, WalletView};
use crate::ipc::address::IpcAddress;
use crate::ipc::client::{attach_connected, Attached};
use crate::ipc::debug::{CallLog, Redacted};
use crate::logged_call;
use crate::schema::node_capnp::{node, node_notifications};
use crate::schema::sandbox_capnp::status as sandbox_status;
use crate::schema::wallet_capnp::wallet;

/// How often everything is fetched again without a notification.
const REFRESH: Duration = Duration::from_secs(2);
/// How long a node we started gets to stop after we close its socket.
const NODE_STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Transactions the wallet screens show.
const TRANSACTIONS: i64 = 100;

/// Where the node comes from.
#[derive(Debug)]
pub enum Source {
    /// Start `exe` with `args` and `-ipcfd`; it stops when we close.
    Spawn { exe: PathBuf, args: Vec<String> },
    /// Attach to a node's `-ipcbind` socket; it keeps running when we close.
    Attach(IpcAddress),
    /// Already attached (bitcoin-gui connects before it opens its window, so
    /// a missing node is one line on the console).
    Connected(std::os::unix::net::UnixStream, IpcAddress),
}

/// Connects to a node's `-ipcbind` socket, with the error bitcoin-gui prints.
pub fn connect(address: &IpcAddress) -> Result<std::os::unix::net::UnixStream, String> {
    std::os::unix::net::UnixStream::connect(address.path()).map_err(|source| {
        crate::ipc::client::AttachError::Connect {
            address: address.to_string(),
            source,
        }
        .to_string()
    })
}

/// The running backend, as the window holds it.
pub struct Backend {
    shared: Arc<Mutex<Model>>,
    commands: mpsc::UnboundedSender<Command>,
    quit: Option<tokio::sync::oneshot::Sender<()>>,
    repaint: Arc<Mutex<Option<eframe::egui::Context>>>,
    thread: Option<std::thread::JoinHandle<i32>>,
}

fn lock(shared: &Mutex<Model>) -> MutexGuard<'_, Model> {
    // A panic elsewhere leaves the data as it was: still worth showing.
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

impl Backend {
    /// Starts the backend thread for `source`.
    pub fn start(source: Source) -> Backend {
        let shared = Arc::new(Mutex::new(Model::default()));
        let (commands, rx) = mpsc::unbounded_channel();
        let (quit, quit_rx) = tokio::sync::oneshot::channel();
        let repaint = Arc::new(Mutex::new(None::<eframe::egui::Context>));
        let (s, r) = (shared.clone(), repaint.clone());
        let thread = std::thread::Builder::new()
            .name("gui-backend".into())
            .spawn(move || {
                crate::cli::run_local(async move {
                    let ui = Ui {
                        shared: s,
                        repaint: r,
                    };
                    run(source, ui, rx, quit_rx).await
                })
            })
            .ok();
        Backend {
            shared,
            commands,
            quit: Some(quit),
            repaint,
            thread,
        }
    }

    /// A copy of what the window shows.
    pub fn model(&self) -> Model {
        lock(&self.shared).clone()
    }

    /// Changes the model from the window's side (e.g. clearing messages).
    pub fn edit(&self, f: impl FnOnce(&mut Model)) {
        f(&mut lock(&self.shared));
    }

    pub fn send(&self, command: Command) {
        // The backend is gone only after `finish`; nothing to do then.
        let _ = self.commands.send(command);
    }

    /// The window's context, so the backend can ask it to repaint.
    pub fn set_repaint(&self, ctx: &eframe::egui::Context) {
        let mut r = self.repaint.lock().unwrap_or_else(|p| p.into_inner());
        if r.is_none() {
            *r = Some(ctx.clone());
        }
    }

    /// Closes the link (a node we started then stops) and returns the exit code.
    pub fn finish(&mut self) -> i32 {
        if let Some(q) = self.quit.take() {
            let _ = q.send(());
        }
        match self.thread.take() {
            Some(t) => t.join().unwrap_or(1),
            None => 0,
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The backend's handle on the window.
#[derive(Clone)]
struct Ui {
    shared: Arc<Mutex<Model>>,
    repaint: Arc<Mutex<Option<eframe::egui::Context>>>,
}

impl Ui {
    fn edit(&self, f: impl FnOnce(&mut Model)) {
        f(&mut lock(&self.shared));
        if let Some(ctx) = self
            .repaint
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            ctx.request_repaint();
        }
    }

    fn message(&self, text: String) {
        tracing::warn!("bitcoin-gui: {text}");
        self.edit(|m| m.messages.push(text));
    }
}

/// A notification from the node.
enum Note {
    Tip,
    Header,
    Peers,
    Wallets,
    Shutdown,
}

struct Notifications(mpsc::UnboundedSender<Note>);

impl node_notifications::Server for Notifications {
    async fn tip_changed(
        self: Rc<Self>,
        _: node_notifications::TipChangedParams,
        _: node_notifications::TipChangedResults,
    ) -> Result<(), capnp::Error> {
        let _ = self.0.send(Note::Tip);
        Ok(())
    }
    async fn header_tip_changed(
        self: Rc<Self>,
        _: node_notifications::HeaderTipChangedParams,
        _: node_notifications::HeaderTipChangedResults,
    ) -> Result<(), capnp::Error> {
        let _ = self.0.send(Note::Header);
        Ok(())
    }
    async fn peers_changed(
        self: Rc<Self>,
        _: node_notifications::PeersChangedParams,
        _: node_notifications::PeersChangedResults,
    ) -> Result<(), capnp::Error> {
        let _ = self.0.send(Note::Peers);
        Ok(())
    }
    async fn wallet_changed(
        self: Rc<Self>,
        _: node_notifications::WalletChangedParams,
        _: node_notifications::WalletChangedResults,
    ) -> Result<(), capnp::Error> {
        let _ = self.0.send(Note::Wallets);
        Ok(())
    }
    async fn shutdown(
        self: Rc<Self>,
        _: node_notifications::ShutdownParams,
        _: node_notifications::ShutdownResults,
    ) -> Result<(), capnp::Error> {
        let _ = self.0.send(Note::Shutdown);
        Ok(())
    }
}

/// Connects, then serves the window until it quits; returns the exit code.
async fn run(
    source: Source,
    ui: Ui,
    mut commands: mpsc::UnboundedReceiver<Command>,
    mut quit: tokio::sync::oneshot::Receiver<()>,
) -> i32 {
    let (stream, name, mut child) = match open(&source) {
        Ok(o) => o,
        Err(e) => {
            ui.edit(|m| m.link = Link::Lost(e.clone()));
            let _ = quit.await;
            return crate::cli::fail(&e);
        }
    };
    ui.edit(|m| m.source = name.clone());
    let attached = match &mut child {
        Some(c) => tokio::select! {
            a = attach_connected(stream, &name, "bitcoin-gui") => a.map_err(|e| e.to_string()),
            s = c.wait() => Err(format!("bitcoin-node stopped before answering: {}", s.map(|s| crate::broker::supervise::describe_exit(&s)).unwrap_or_else(|e| e.to_string()))),
        },
        None => attach_connected(stream, &name, "bitcoin-gui")
            .await
            .map_err(|e| e.to_string()),
    };
    let code = match attached {
        Ok(a) => serve(a, &ui, &mut commands, &mut quit).await,
        Err(e) => {
            ui.edit(|m| m.link = Link::Lost(e.clone()));
            tracing::error!("bitcoin-gui: {e}");
            let _ = (&mut quit).await;
            1
        }
    };
    let Some(mut child) = child else {
        return code;
    };
    // Our end is closed: the node we started shuts down.
    let pid = child.id().unwrap_or(0);
    match tokio::time::timeout(NODE_STOP_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => code,
        Ok(Ok(status)) => crate::cli::fail(&format!(
            "bitcoin-node (pid {pid}) {}",
            crate::broker::supervise::describe_exit(&status)
        )),
        Ok(Err(e)) => crate::cli::fail(&e.to_string()),
        Err(_) => crate::cli::fail(&format!(
            "bitcoin-node (pid {pid}) did not stop within {}s",
            NODE_STOP_TIMEOUT.as_secs()
        )),
    }
}

type Opened = (
    tokio::net::UnixStream,
    String,
    Option<tokio::process::Child>,
);

fn open(source: &Source) -> Result<Opened, String> {
    match source {
        Source::Spawn { exe, args } => {
            let (child, fd) =
                crate::ipc::spawn::spawn_with_ipcfd(exe, "bitcoin-node", args.clone())
                    .map_err(|e| e.to_string())?;
            let name = format!("spawned bitcoin-node (pid {})", child.id().unwrap_or(0));
            let stream = crate::ipc::connection::stream_from_fd(fd).map_err(|e| e.to_string())?;
            Ok((stream, name, Some(child)))
        }
        Source::Attach(address) => attached(connect(address)?, address),
        Source::Connected(stream, address) => {
            let stream = stream.try_clone().map_err(|e| e.to_string())?;
            attached(stream, address)
        }
    }
}

fn attached(std: std::os::unix::net::UnixStream, address: &IpcAddress) -> Result<Opened, String> {
    std.set_nonblocking(true).map_err(|e| e.to_string())?;
    let stream = tokio::net::UnixStream::from_std(std).map_err(|e| e.to_string())?;
    Ok((stream, format!("attached to {address}"), None))
}

/// The live session: `Node`, its notifications, the window's commands.
async fn serve(
    attached: Attached,
    ui: &Ui,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    quit: &mut tokio::sync::oneshot::Receiver<()>,
) -> i32 {
    let Attached { init, log, rpc } = attached;
    // The connection runs by itself, so calls progress wherever they are awaited.
    let mut rpc = AbortOnDrop(tokio::task::spawn_local(rpc));
    // The node serves `Node` once its chain and wallets are loaded (bitcoin-qt
    // shows its splash screen until then): ask again until it does.
    let made = tokio::select! {
        r = make_node(&init, &log) => r,
        r = &mut rpc.0 => Err(match r {
            Ok(Err(e)) => e,
            _ => capnp::Error::disconnected("the node closed the connection".into()),
        }),
        _ = &mut *quit => return 0,
    };
    let node = match made {
        Ok(n) => n,
        Err(e) => {
            let e = format!("the node does not serve the GUI: {e}");
            ui.edit(|m| m.link = Link::Lost(e.clone()));
            tracing::error!("bitcoin-gui: {e}");
            let _ = quit.await;
            return 1;
        }
    };
    let session = Session {
        node,
        log,
        ui: ui.clone(),
        wallets: Default::default(),
    };
    let (note_tx, mut notes) = mpsc::unbounded_channel();
    let mut request = session.node.handle_notifications_request();
    request
        .get()
        .set_notifications(capnp_rpc::new_client(Notifications(note_tx)));
    let handler = logged_call!(session.log, "Node.handleNotifications", request)
        .and_then(|r| r.get()?.get_handler());
    if let Err(e) = &handler {
        ui.message(format!("no notifications from the node: {e}"));
    }
    ui.edit(|m| m.link = Link::Connected);
    tracing::info!("bitcoin-gui: connected to the node's Node interface");
    let mut refresh = tokio::time::interval(REFRESH);
    let mut info_due = true;
    let ended = loop {
        tokio::select! {
            r = &mut rpc.0 => break Some(match r {
                Ok(Err(e)) => format!("the connection to the node ended: {e}"),
                _ => "the node closed the connection".to_string(),
            }),
            _ = &mut *quit => break None,
            Some(c) = commands.recv() => {
                if matches!(c, Command::SelectWallet(_) | Command::CreateWallet { .. } | Command::OpenWallet(_)) {
                    info_due = true;
                }
                session.command(c).await;
                session.refresh(info_due).await;
                info_due = false;
            }
            Some(n) = notes.recv() => {
                ui.edit(|m| m.notifications += 1);
                match n {
                    Note::Shutdown => ui.message("the node is shutting down".into()),
                    Note::Wallets => info_due = true,
                    Note::Tip | Note::Header | Note::Peers => {}
                }
                session.refresh(info_due).await;
                info_due = false;
            }
            _ = refresh.tick() => {
                session.refresh(info_due).await;
                info_due = false;
            }
        }
    };
    drop(handler);
    drop(session);
    drop(init);
    drop(rpc);
    match ended {
        None => 0,
        Some(why) => {
            tracing::warn!("bitcoin-gui: {why}");
            ui.edit(|m| m.link = Link::Lost(why));
            // The window stays up to say so until it is closed.
            let _ = quit.await;
            0
        }
    }
}

/// Ends the connection's task (closing our end) when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How long to wait between asking a loading node for `Node`.
const LOADING_RETRY: Duration = Duration::from_millis(250);

/// `Init.makeNode`, asked again while the node is still loading.
async fn make_node(
    init: &crate::schema::init_capnp::init::Client,
    log: &CallLog,
) -> Result<node::Client, capnp::Error> {
    let mut logged = false;
    loop {
        let mut request = init.make_node_request();
        request.get().init_context();
        match logged_call!(log, "Init.makeNode", request).and_then(|r| r.get()?.get_result()) {
            Ok(n) => return Ok(n),
            // Failed: not served yet; anything else (a lost link) ends it.
            Err(e) if e.kind == capnp::ErrorKind::Failed => {
                if !logged {
                    tracing::info!("bitcoin-gui: waiting for the node to finish loading");
                    logged = true;
                }
                tokio::time::sleep(LOADING_RETRY).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// One connection's `Node` and the wallets it handed out.
struct Session {
    node: node::Client,
    log: CallLog,
    ui: Ui,
    wallets: std::cell::RefCell<HashMap<String, wallet::Client>>,
}

/// A failed RPC: Core's code and message.
type RpcFailure = (i32, String);

fn describe((code, message): &RpcFailure) -> String {
    format!("{message} (code {code})")
}

impl Session {
    /// A node RPC with console-style arguments (converted by the node).
    async fn node_rpc(
        &self,
        method: &str,
        args: &[&str],
        wallet: &str,
    ) -> Result<Value, RpcFailure> {
        let mut request = self.node.execute_rpc_request();
        {
            let mut p = request.get();
            p.set_method(method);
            p.set_wallet(wallet);
            let mut list = p.reborrow().init_args(args.len() as u32);
            for (i, a) in args.iter().enumerate() {
                list.set(i as u32, *a);
            }
        }
        // Console arguments may carry passphrases: sizes only.
        let seq = self.log.client_request(
            "Node.executeRpc",
            &Redacted(
                format_args!("(method: {method:?}, args: <{} arguments>)", args.len()),
                &request.get().into_reader(),
            ),
        );
        let response = request.send().promise.await;
        let r = response
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|r| r.get());
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                self.log.client_response(seq, "Node.executeRpc", Err(&e));
                return Err((-1, format!("the node did not answer: {e}")));
            }
        };
        self.log.client_response(
            seq,
            "Node.executeRpc",
            Ok(&format_args!("(failed: {})", r.get_failed())),
        );
        if r.get_failed() {
            let message = r
                .get_message()
                .ok()
                .and_then(|m| m.to_string().ok())
                .unwrap_or_default();
            return Err((r.get_code(), message));
        }
        let text = r
            .get_result()
            .ok()
            .and_then(|t| t.to_string().ok())
            .unwrap_or_default();
        serde_json::from_str(&text).map_err(|e| (-1, format!("unreadable result: {e}")))
    }

    /// The `Wallet` of `name`, from the node the first time.
    async fn wallet(&self, name: &str) -> Result<wallet::Client, RpcFailure> {
        if let Some(w) = self.wallets.borrow().get(name) {
            return Ok(w.clone());
        }
        let mut request = self.node.get_wallet_request();
        request.get().set_name(name);
        let w = logged_call!(self.log, "Node.getWallet", request)
            .and_then(|r| r.get()?.get_wallet())
            .map_err(|e| (-18, e.to_string()))?;
        self.wallets
            .borrow_mut()
            .insert(name.to_string(), w.clone());
        Ok(w)
    }

    /// A wallet RPC on the wallet's own interface (`Wallet.callRpc`).
    async fn wallet_rpc(
        &self,
        name: &str,
        method: &str,
        params: Value,
    ) -> Result<Value, RpcFailure> {
        let w = self.wallet(name).await?;
        let params = params.to_string();
        let mut request = w.call_rpc_request();
        request.get().set_method(method);
        request.get().set_params(&params[..]);
        let seq = self.log.client_request(
            "Wallet.callRpc",
            &Redacted(
                format_args!("(method: {method:?}, params: <{} bytes>)", params.len()),
                &request.get().into_reader(),
            ),
        );
        let response = request.send().promise.await;
        let r = response
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|r| r.get());
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                self.log.client_response(seq, "Wallet.callRpc", Err(&e));
                // The wallet process may be gone: ask the node again next time.
                self.wallets.borrow_mut().remove(name);
                return Err((-18, format!("wallet \"{name}\" did not answer: {e}")));
            }
        };
        self.log.client_response(
            seq,
            "Wallet.callRpc",
            Ok(&format_args!("(failed: {})", r.get_failed())),
        );
        let text = |t: capnp::Result<capnp::text::Reader<'_>>| {
            t.ok().and_then(|t| t.to_string().ok()).unwrap_or_default()
        };
        if r.get_failed() {
            return Err((r.get_code(), text(r.get_message())));
        }
        serde_json::from_str(&text(r.get_result()))
            .map_err(|e| (-1, format!("unreadable result: {e}")))
    }

    /// Fetches status, peers, bans, wallets (and the information page when due).
    async fn refresh(&self, info: bool) {
        let status = self.status().await;
        let peers = self.peers().await;
        let bans = self.bans().await;
        let wallets = self.loaded_wallets().await;
        let wallet_dir = self
            .node_rpc("listwalletdir", &[], "")
            .await
            .ok()
            .and_then(|v| {
                v.get("wallets")?.as_array().map(|a| {
                    a.iter()
                        .filter_map(|w| w.get("name")?.as_str().map(str::to_string))
                        .collect::<Vec<_>>()
                })
            })
            .unwrap_or_default();
        let selected = {
            let m = lock(&self.ui.shared);
            m.wallet.as_ref().map(|w| w.name.clone())
        };
        let selected = match selected {
            Some(s) if wallets.contains(&s) => Some(s),
            _ => wallets.first().cloned(),
        };
        let view = match &selected {
            Some(name) => Some(self.wallet_view(name).await),
            None => None,
        };
        let info = if info { self.info().await } else { None };
        self.ui.edit(|m| {
            if let Some(s) = status {
                m.sync.record(Instant::now(), s.blocks);
                m.status = Some(s);
            }
            m.peers = peers;
            m.bans = bans;
            m.wallets = wallets;
            m.wallet_dir = wallet_dir;
            m.wallet = match (view, m.wallet.take()) {
                // Keep what the screens made (address, txid, PSBT).
                (Some(mut v), Some(old)) if old.name == v.name => {
                    v.receive = old.receive;
                    v.last_sent = old.last_sent;
                    v.last_psbt = old.last_psbt;
                    Some(v)
                }
                (v, _) => v,
            };
            if info.is_some() {
                m.info = info;
            }
        });
    }

    async fn status(&self) -> Option<model::Status> {
        let answer = logged_call!(self.log, "Node.getStatus", self.node.get_status_request());
        let read = |a: &capnp::capability::Response<node::get_status_results::Owned>| -> capnp::Result<model::Status> {
            let s = a.get()?.get_status()?;
            Ok(model::Status {
                chain: s.get_chain()?.to_string()?,
                blocks: s.get_blocks(),
                headers: s.get_headers(),
                best_block_hash: s.get_best_block_hash()?.to_string()?,
                tip_time: s.get_tip_time(),
                verification_progress: s.get_verification_progress(),
                initial_block_download: s.get_initial_block_download(),
                connections_in: s.get_connections_in(),
                connections_out: s.get_connections_out(),
                bytes_recv: s.get_bytes_recv(),
                bytes_sent: s.get_bytes_sent(),
                network_active: s.get_network_active(),
                mempool_size: s.get_mempool_size(),
                warnings: s.get_warnings()?.to_string()?,
            })
        };
        match answer.and_then(|a| read(&a)) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!("bitcoin-gui: Node.getStatus failed: {e}");
                None
            }
        }
    }

    async fn peers(&self) -> Vec<model::Peer> {
        let answer = logged_call!(self.log, "Node.getPeers", self.node.get_peers_request());
        let read = |a: &capnp::capability::Response<node::get_peers_results::Owned>| -> capnp::Result<Vec<model::Peer>> {
            let mut out = Vec::new();
            for p in a.get()?.get_peers()?.iter() {
                out.push(model::Peer {
                    id: p.get_id(),
                    address: p.get_address()?.to_string()?,
                    subversion: p.get_subversion()?.to_string()?,
                    inbound: p.get_inbound(),
                    connection_type: p.get_connection_type()?.to_string()?,
                    transport: p.get_transport()?.to_string()?,
                    ping_time: p.get_ping_time(),
                    bytes_sent: p.get_bytes_sent(),
                    bytes_recv: p.get_bytes_recv(),
                    synced_blocks: p.get_synced_blocks(),
                });
            }
            Ok(out)
        };
        answer.and_then(|a| read(&a)).unwrap_or_default()
    }

    async fn bans(&self) -> Vec<model::Ban> {
        let answer = logged_call!(self.log, "Node.listBanned", self.node.list_banned_request());
        let read = |a: &capnp::capability::Response<node::list_banned_results::Owned>| -> capnp::Result<Vec<model::Ban>> {
            let mut out = Vec::new();
            for b in a.get()?.get_bans()?.iter() {
                out.push(model::Ban {
                    subnet: b.get_subnet()?.to_string()?,
                    banned_until: b.get_banned_until(),
                });
            }
            Ok(out)
        };
        answer.and_then(|a| read(&a)).unwrap_or_default()
    }

    async fn loaded_wallets(&self) -> Vec<String> {
        let answer = logged_call!(
            self.log,
            "Node.listWallets",
            self.node.list_wallets_request()
        );
        let read = |a: &capnp::capability::Response<node::list_wallets_results::Owned>| -> capnp::Result<Vec<String>> {
            let mut out = Vec::new();
            for n in a.get()?.get_names()?.iter() {
                out.push(n?.to_string()?);
            }
            Ok(out)
        };
        answer.and_then(|a| read(&a)).unwrap_or_default()
    }

    async fn info(&self) -> Option<model::Info> {
        let answer = logged_call!(self.log, "Node.getInfo", self.node.get_info_request());
        let read = |a: &capnp::capability::Response<node::get_info_results::Owned>| -> capnp::Result<model::Info> {
            let i = a.get()?.get_info()?;
            let mut processes = Vec::new();
            for p in i.get_processes()?.iter() {
                processes.push(model::ProcessSandbox {
                    process: p.get_process()?.to_string()?,
                    pid: p.get_pid(),
                    summary: sandbox_summary(p)?,
                });
            }
            Ok(model::Info {
                version: i.get_version()?.to_string()?,
                user_agent: i.get_user_agent()?.to_string()?,
                datadir: i.get_datadir()?.to_string()?,
                startup_time: i.get_startup_time(),
                processes,
            })
        };
        answer.and_then(|a| read(&a)).ok()
    }

    /// Balances and transactions of wallet `name`.
    async fn wallet_view(&self, name: &str) -> WalletView {
        let mut view = WalletView {
            name: name.to_string(),
            ..Default::default()
        };
        match self.wallet_rpc(name, "getbalances", json!([])).await {
            Ok(b) => {
                let mine = &b["mine"];
                let btc = |k: &str| mine.get(k).and_then(Value::as_f64).unwrap_or(0.0);
                view.balances = model::Balances {
                    trusted: btc("trusted"),
                    untrusted_pending: btc("untrusted_pending"),
                    immature: btc("immature"),
                };
            }
            Err(e) => tracing::debug!("bitcoin-gui: getbalances: {}", describe(&e)),
        }
        if let Ok(Value::Array(txs)) = self
            .wallet_rpc(name, "listtransactions", json!(["*", TRANSACTIONS]))
            .await
        {
            view.transactions = txs
                .iter()
                .rev()
                .map(|t| model::Transaction {
                    txid: t["txid"].as_str().unwrap_or("").to_string(),
                    category: t["category"].as_str().unwrap_or("").to_string(),
                    amount: t["amount"].as_f64().unwrap_or(0.0),
                    fee: t.get("fee").and_then(Value::as_f64),
                    confirmations: t["confirmations"].as_i64().unwrap_or(0),
                    time: t["time"].as_i64().unwrap_or(0),
                    address: t["address"].as_str().unwrap_or("").to_string(),
                    label: t["label"].as_str().unwrap_or("").to_string(),
                })
                .collect();
        }
        view
    }

    fn selected_wallet(&self) -> Option<String> {
        lock(&self.ui.shared)
            .wallet
            .as_ref()
            .map(|w| w.name.clone())
    }

    /// Runs one of the window's commands.
    async fn command(&self, command: Command) {
        match command {
            Command::Refresh => {}
            Command::Console(line) => self.console(line).await,
            Command::SelectWallet(name) => {
                let view = self.wallet_view(&name).await;
                self.ui.edit(|m| m.wallet = Some(view));
            }
            Command::CreateWallet { name, passphrase } => {
                let mut args = vec![name.as_str(), "false", "false"];
                if !passphrase.is_empty() {
                    args.push(&passphrase);
                }
                self.open_wallet("createwallet", &args, &name).await;
            }
            Command::OpenWallet(name) => {
                self.open_wallet("loadwallet", &[&name], &name).await;
            }
            Command::NewAddress { label, amount } => {
                let Some(w) = self.selected_wallet() else {
                    return self.ui.message("no wallet is loaded".into());
                };
                match self.wallet_rpc(&w, "getnewaddress", json!([label])).await {
                    Ok(Value::String(address)) => {
                        let uri = model::payment_uri(&address, &amount, &label);
                        self.ui.edit(|m| {
                            if let Some(v) = m.wallet.as_mut() {
                                v.receive = Some((address, uri));
                            }
                        });
                    }
                    Ok(other) => self.ui.message(format!("getnewaddress answered {other}")),
                    Err(e) => self.ui.message(format!("New address: {}", describe(&e))),
                }
            }
            Command::Send {
                address,
                amount,
                fee,
                subtract_fee,
            } => self.send(address, amount, fee, subtract_fee).await,
            Command::ExportPsbt {
                address,
                amount,
                fee,
            } => self.export_psbt(address, amount, fee).await,
            Command::ShutdownNode => {
                let r = logged_call!(self.log, "Node.shutdown", self.node.shutdown_request());
                if let Err(e) = r {
                    self.ui.message(format!("Shutdown: {e}"));
                }
            }
        }
    }

    async fn console(&self, line: String) {
        let words = match model::split_command(&line) {
            Ok(w) => w,
            Err(e) => return self.console_output(line, e, true),
        };
        let Some((method, args)) = words.split_first() else {
            return;
        };
        let wallet = self.selected_wallet().unwrap_or_default();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match self.node_rpc(method, &args, &wallet).await {
            // A string result is shown as text, as Core's console does.
            Ok(Value::String(s)) => self.console_output(line, s, false),
            Ok(v) => {
                let text = serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string());
                self.console_output(line, text, false)
            }
            Err(e) => self.console_output(line, describe(&e), true),
        }
    }

    fn console_output(&self, command: String, output: String, error: bool) {
        self.ui.edit(|m| {
            m.console.push(ConsoleEntry {
                command,
                output,
                error,
            })
        });
    }

    async fn open_wallet(&self, method: &str, args: &[&str], name: &str) {
        match self.node_rpc(method, args, "").await {
            Ok(_) => {
                let view = self.wallet_view(name).await;
                self.ui.edit(|m| m.wallet = Some(view));
            }
            Err(e) => self
                .ui
                .message(format!("Wallet \"{name}\": {}", describe(&e))),
        }
    }

    async fn send(&self, address: String, amount: String, fee: Fee, subtract_fee: bool) {
        let Some(w) = self.selected_wallet() else {
            return self.ui.message("no wallet is loaded".into());
        };
        let Some(amount) = parse_amount(&amount) else {
            return self.ui.message(format!("Send: invalid amount {amount:?}"));
        };
        // sendtoaddress: address, amount, comment, comment_to,
        // subtractfeefromamount, replaceable, conf_target, estimate_mode,
        // avoid_reuse, fee_rate.
        let (target, rate) = fee_params(fee);
        let params = json!([
            address,
            amount,
            "",
            "",
            subtract_fee,
            Value::Null,
            target,
            "unset",
            Value::Null,
            rate
        ]);
        match self.wallet_rpc(&w, "sendtoaddress", params).await {
            Ok(Value::String(txid)) => self.ui.edit(|m| {
                if let Some(v) = m.wallet.as_mut() {
                    v.last_sent = Some(txid);
                }
            }),
            Ok(other) => self.ui.message(format!("sendtoaddress answered {other}")),
            Err(e) => self.ui.message(format!("Send: {}", describe(&e))),
        }
    }

    async fn export_psbt(&self, address: String, amount: String, fee: Fee) {
        let Some(w) = self.selected_wallet() else {
            return self.ui.message("no wallet is loaded".into());
        };
        let Some(amount) = parse_amount(&amount) else {
            return self.ui.message(format!("PSBT: invalid amount {amount:?}"));
        };
        let options = match fee {
            Fee::Target(n) => json!({ "conf_target": n }),
            Fee::Rate(r) => json!({ "fee_rate": r }),
        };
        let params = json!([[], [{ address: amount }], 0, options]);
        match self.wallet_rpc(&w, "walletcreatefundedpsbt", params).await {
            Ok(v) => match v["psbt"].as_str() {
                Some(psbt) => {
                    let psbt = psbt.to_string();
                    self.ui.edit(|m| {
                        if let Some(v) = m.wallet.as_mut() {
                            v.last_psbt = Some(psbt);
                        }
                    })
                }
                None => self
                    .ui
                    .message(format!("walletcreatefundedpsbt answered {v}")),
            },
            Err(e) => self.ui.message(format!("PSBT: {}", describe(&e))),
        }
    }
}

/// A BTC amount as typed, as a JSON number (exact decimal), if it is one > 0.
fn parse_amount(text: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(text.trim()).ok()?;
    (v.as_f64()? > 0.0).then_some(v)
}

/// `conf_target` and `fee_rate` arguments for a fee choice.
fn fee_params(fee: Fee) -> (Value, Value) {
    match fee {
        Fee::Target(n) => (json!(n), Value::Null),
        Fee::Rate(r) => (Value::Null, json!(r)),
    }
}

/// One line for a process's sandbox on the information page.
fn sandbox_summary(s: sandbox_status::Reader<'_>) -> capnp::Result<String> {
    if s.get_off() {
        return Ok("sandbox OFF (-sandbox=off)".into());
    }
    let landlock = match s.get_landlock_abi() {
        0 => format!(
            "Landlock not in force ({})",
            s.get_landlock_status()?.to_str()?
        ),
        abi => format!(
            "Landlock ABI {abi} ({})",
            s.get_landlock_status()?.to_str()?
        ),
    };
    let seccomp = if s.get_seccomp() {
        format!("seccomp on ({} system calls allowed)", s.get_syscalls())
    } else {
        "seccomp OFF".to_string()
    };
    let mut parts = vec![landlock, seccomp];
    parts.push(
        if s.get_capabilities_dropped() {
            "capabilities dropped"
        } else {
            "capabilities KEPT"
        }
        .into(),
    );
    parts.push(
        if s.get_namespaces() {
            "user+net+ipc namespaces"
        } else {
            "no namespaces"
        }
        .into(),
    );
    for m in s.get_missing()?.iter() {
        parts.push(format!("missing: {}", m?.to_str()?));
    }
    Ok(parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_must_be_positive_numbers() {
        assert_eq!(parse_amount(" 0.5 ").unwrap().to_string(), "0.5");
        assert!(parse_amount("0").is_none());
        assert!(parse_amount("-1").is_none());
        assert!(parse_amount("one").is_none());
    }

    #[test]
    fn fee_choice_sets_one_of_target_and_rate() {
        assert_eq!(fee_params(Fee::Target(6)), (json!(6), Value::Null));
        assert_eq!(fee_params(Fee::Rate(2.5)), (Value::Null, json!(2.5)));
    }
}
