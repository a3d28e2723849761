//! Start-up shared by every spawned child (node worker, wallet): claim the fds
//! named on the command line, get settings from the broker (never from
//! bitcoin.conf), send logs to the broker, enter the sandbox, then serve `Init`
//! until the broker says stop, the link to the parent closes, or SIGTERM.

use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

use futures::StreamExt;
use tokio::signal::unix::{signal, SignalKind};

use super::connection::{serve, stream_from_fd};
use super::debug::{CallLog, Peer};
use super::init::{InitServer, InterfaceSlot};
use super::spawn::{ChildArgs, ChildRole};
use crate::broker::channel::{Event, IncomingConnection};
use crate::broker::client::{BrokerClient, EventWithFds};
use crate::config::{Chain, Config, Program};
use crate::logging::{self, LogConfig};
use crate::sandbox;

/// Marks a body's error as one of Core's init questions a daemon cannot
/// ask ("... Please restart with -reindex or -reindex-chainstate to
/// recover."): bitcoind prints those without the "Error: " caption.
pub const QUESTION: &str = "[question] ";

/// Why a child could not start.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error(transparent)]
    Args(#[from] super::spawn::SpawnError),
    #[error("broker: {0}")]
    Broker(#[from] crate::broker::client::BrokerError),
    #[error("unknown chain '{0}' from the broker")]
    Chain(String),
    #[error("{0}")]
    Log(String),
    #[error("sandbox: {0}")]
    Sandbox(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Inside the broker's own 4 s wait for children to stop.
const BODY_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Fires once when the child is stopping.
#[derive(Clone)]
pub struct Stopping(tokio::sync::watch::Receiver<bool>);

impl Stopping {
    /// Resolves when the child is told to stop (at once if it already was).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|s| *s).await;
    }
}

/// A started child: its settings, its broker link, and its parent's `Init` link.
pub struct Child {
    pub role: ChildRole,
    pub config: Config,
    pub broker: Rc<BrokerClient>,
    pub events: futures::channel::mpsc::UnboundedReceiver<EventWithFds>,
    pub parent_ipc: OwnedFd,
}

/// Runs a child's whole life on a single-threaded runtime; returns its exit code.
/// `body` runs after start-up, alongside serving `Init` on the parent link and
/// on every connection the broker hands over; its error stops the child (exit 1).
/// What `body` puts in the slot it gets is served by `Init.makeRpc`/`makeMining`.
/// When the child is told to stop, the `Stopping` signal fires and `body` has
/// `BODY_STOP_GRACE` to finish its own shutdown work (e.g. saving mempool.dat)
/// and return before it is dropped.
pub fn run<F, Fut>(role: ChildRole, args: &[String], body: F) -> i32
where
    F: FnOnce(Rc<BrokerClient>, Config, InterfaceSlot, Stopping) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>> + 'static,
{
    // Close every inherited fd before anything (the runtime included) opens its own.
    let child_args = match ChildArgs::parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("Error: {}: {e}", role.display_name());
            return 1;
        }
    };
    if let Err(e) = sandbox::close_inherited_fds(&[
        0,
        1,
        2,
        child_args.ipc_fd,
        child_args.broker_fd,
        child_args.log_fd,
    ]) {
        eprintln!("Error: {}: closing inherited fds: {e}", role.display_name());
        return 1;
    }
    crate::cli::run_local(async move {
        let child = match start(role, child_args).await {
            Ok(c) => c,
            Err(e) => {
                // Logging may not be up yet: stderr reaches the broker's terminal.
                eprintln!("Error: {}: {e}", role.display_name());
                tracing::error!("{}: {e}", role.display_name());
                return 1;
            }
        };
        let slot = InterfaceSlot::default();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut body = tokio::task::spawn_local(body(
            child.broker.clone(),
            child.config.clone(),
            slot.clone(),
            Stopping(stop_rx),
        ));
        let serving = serve_until_stopped(child, slot);
        tokio::pin!(serving);
        // The body failing (e.g. the chain cannot be opened) stops the child.
        let (code, body_done) = tokio::select! {
            code = &mut serving => (code, false),
            r = &mut body => match r {
                Ok(Err(e)) => {
                    // A declined question prints as Core's, with no caption.
                    match e.strip_prefix(QUESTION) {
                        Some(question) => {
                            tracing::info!("{question}");
                            eprintln!("{question}");
                        }
                        None => {
                            tracing::error!("{}: {e}", role.display_name());
                            eprintln!("Error: {e}");
                        }
                    }
                    (1, true)
                }
                _ => (serving.await, true),
            },
        };
        // A finished JoinHandle must not be polled again.
        if !body_done {
            let _ = stop_tx.send(true);
            if tokio::time::timeout(BODY_STOP_GRACE, &mut body)
                .await
                .is_err()
            {
                body.abort();
                let _ = body.await;
            }
        }
        code
    })
}

async fn start(role: ChildRole, child_args: ChildArgs) -> Result<Child, ChildError> {
    let fds = child_args.take_fds()?;
    let (broker, events) = BrokerClient::start(fds.broker)?;
    let settings = broker.get_settings().await?;
    let chain = Chain::from_name(&settings.chain)
        .ok_or_else(|| ChildError::Chain(settings.chain.clone()))?;
    let program = match role {
        ChildRole::NodeWorker => Program::Node,
        ChildRole::Wallet => Program::Wallet,
    };
    let config = Config::from_settings(program, chain, settings.data_dir.clone(), settings.args);
    let log_config = LogConfig::from_config(&config).map_err(|e| ChildError::Log(e.to_string()))?;
    let log_fd = fds.log.as_raw_fd();
    logging::init_child(&log_config, fds.log).map_err(|e| ChildError::Log(e.to_string()))?;
    enter_sandbox(role, &config, &settings.wallet_name, log_fd)?;
    Ok(Child {
        role,
        config,
        broker,
        events,
        parent_ipc: fds.ipc,
    })
}

/// Applies the role's sandbox as `-sandbox` says and logs what is in force.
fn enter_sandbox(
    role: ChildRole,
    config: &Config,
    wallet_name: &str,
    log_fd: std::os::fd::RawFd,
) -> Result<(), ChildError> {
    let mode = sandbox::Mode::from_option(&config.get("sandbox").unwrap_or_else(|| "auto".into()))
        .map_err(|e| ChildError::Sandbox(e.to_string()))?;
    let sandbox_role = match role {
        ChildRole::NodeWorker => sandbox::Role::NodeWorker,
        ChildRole::Wallet => sandbox::Role::Wallet,
    };
    // A wallet process sees its own wallet's directory only (the broker
    // checked the name and made or found the directory).
    let wallet_dir = match role {
        ChildRole::Wallet => {
            crate::wallet::name::check(wallet_name).map_err(ChildError::Sandbox)?;
            Some(config.net_dir().join("wallets").join(wallet_name))
        }
        ChildRole::NodeWorker => None,
    };
    // The node worker's block files may live under -blocksdir (checked by
    // the broker before it started us).
    let blocks_dir = match role {
        ChildRole::NodeWorker => config.blocks_dir(),
        ChildRole::Wallet => None,
    };
    let paths = sandbox::Paths {
        datadir: config.datadir().to_path_buf(),
        net_dir: config.net_dir(),
        wallet_dir,
        blocks_dir,
    };
    let report = sandbox::apply(sandbox_role, mode, &paths, Some(log_fd))
        .map_err(|e| ChildError::Sandbox(e.to_string()))?;
    for line in report.log_lines() {
        tracing::info!("{}: {line}", role.display_name());
    }
    if mode == sandbox::Mode::Off {
        tracing::warn!(
            "{}: SANDBOX DISABLED (-sandbox=off): this process runs with every right its user has",
            role.display_name()
        );
    }
    Ok(())
}

/// Serves `Init` on one connection; logs when it ends.
fn serve_connection(
    fd: OwnedFd,
    peer: Peer,
    process: &'static str,
    source: String,
    slot: InterfaceSlot,
) {
    tokio::task::spawn_local(async move {
        let stream = match stream_from_fd(fd) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("IPC connection from {peer} via {source}: {e}");
                return;
            }
        };
        let server = InitServer::new(CallLog::new(peer.clone()), process, slot).into_client();
        match serve(stream, server.client).await {
            Ok(()) => tracing::info!(
                "IPC client {} (pid {}) disconnected from {source}",
                peer.name,
                peer.pid
            ),
            Err(e) => tracing::warn!(
                "IPC connection with {} (pid {}) via {source} closed: {e}",
                peer.name,
                peer.pid
            ),
        }
    });
}

async fn serve_until_stopped(mut child: Child, slot: InterfaceSlot) -> i32 {
    let process = child.role.exe_name();
    // The worker's link is to the broker (its parent); a wallet's is to the node
    // worker, a sibling whose pid it is not told.
    let parent = match child.role {
        ChildRole::NodeWorker => Peer {
            name: "bitcoin-node".into(),
            pid: nix::unistd::getppid().as_raw(),
        },
        ChildRole::Wallet => Peer {
            name: "node-worker".into(),
            pid: 0,
        },
    };
    let parent_stream = match stream_from_fd(child.parent_ipc) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{}: parent IPC socket: {e}", child.role.display_name());
            return 1;
        }
    };
    let parent_server = InitServer::new(CallLog::new(parent), process, slot.clone()).into_client();
    let parent_link = serve(parent_stream, parent_server.client);
    tokio::pin!(parent_link);
    let mut sigterm = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{}: cannot handle SIGTERM: {e}", child.role.display_name());
            return 1;
        }
    };
    loop {
        tokio::select! {
            r = &mut parent_link => {
                if let Err(e) = r {
                    tracing::warn!("{}: link to bitcoin-node failed: {e}", child.role.display_name());
                }
                tracing::info!("{}: bitcoin-node closed its link; stopping", child.role.display_name());
                return 0;
            }
            ev = child.events.next() => match ev {
                Some((Event::Shutdown, _)) => {
                    tracing::info!("{}: shutdown requested by bitcoin-node", child.role.display_name());
                    return 0;
                }
                Some((Event::IncomingConnection(c), mut fds)) if fds.len() == 1 => {
                    let IncomingConnection { peer_pid, peer_name, source, .. } = c;
                    tracing::info!("IPC client {peer_name} (pid {peer_pid}) connected via {source}");
                    serve_connection(fds.remove(0), Peer { name: peer_name, pid: peer_pid }, process, source, slot.clone());
                }
                Some((Event::IncomingConnection(_), _)) => tracing::warn!("broker sent a connection without exactly one fd; ignored"),
                None => {
                    tracing::info!("{}: broker channel closed; stopping", child.role.display_name());
                    return 0;
                }
            },
            _ = sigterm.recv() => {
                tracing::info!("{}: SIGTERM; stopping", child.role.display_name());
                return 0;
            }
        }
    }
}
