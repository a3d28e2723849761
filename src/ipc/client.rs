//! The client side of `Init`: Core's handshake (`construct` exchanging thread
//! maps, then a named thread), an `Echo` check, and attaching to a running
//! node's `-ipcbind` socket as `bitcoin-wallet`/`bitcoin-gui -ipcconnect` do.

use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::RpcSystem;

use super::address::IpcAddress;
use super::connection::connect_init;
use super::debug::{CallLog, Peer};
use super::init::ThreadMapServer;
use crate::logged_call;
use crate::schema::init_capnp::init;
use crate::schema::proxy_capnp::{thread, thread_map};

/// Why attaching to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("cannot connect to bitcoin-node at {address}: {source}. Is bitcoin-node running with -ipcbind={address}?")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("bitcoin-node at {address} did not complete the IPC handshake: {source}")]
    Handshake {
        address: String,
        source: capnp::Error,
    },
}

/// `Init.construct`: hands the server our thread map, returns the server's.
pub async fn construct(
    init: &init::Client,
    log: &CallLog,
    process: &'static str,
) -> Result<thread_map::Client, capnp::Error> {
    let mut request = init.construct_request();
    request
        .get()
        .set_thread_map(ThreadMapServer::client(log.clone(), process));
    let response = logged_call!(log, "Init.construct", request)?;
    response.get()?.get_thread_map()
}

/// `ThreadMap.makeThread(name)`.
pub async fn make_thread(
    map: &thread_map::Client,
    log: &CallLog,
    name: &str,
) -> Result<thread::Client, capnp::Error> {
    let mut request = map.make_thread_request();
    request.get().set_name(name);
    let response = logged_call!(log, "ThreadMap.makeThread", request)?;
    response.get()?.get_result()
}

/// Gets an `Echo` on `thread` and checks that it answers `text` with `text`.
pub async fn echo_check(
    init: &init::Client,
    log: &CallLog,
    thread: &thread::Client,
    text: &str,
) -> Result<(), capnp::Error> {
    let mut request = init.make_echo_request();
    request.get().init_context().set_thread(thread.clone());
    let echo = logged_call!(log, "Init.makeEcho", request)?
        .get()?
        .get_result()?;
    let mut request = echo.echo_request();
    request.get().init_context().set_thread(thread.clone());
    request.get().set_echo(text);
    let response = logged_call!(log, "Echo.echo", request)?;
    let got = response
        .get()?
        .get_result()?
        .to_string()
        .map_err(|e| capnp::Error::failed(e.to_string()))?;
    if got != text {
        return Err(capnp::Error::failed(format!(
            "Echo answered {got:?} to {text:?}"
        )));
    }
    Ok(())
}

/// Core's client handshake on a fresh connection: `construct`, a thread named
/// `thread_name`, and an `Echo` round trip of `echo_text` on it.
pub async fn handshake(
    init: &init::Client,
    log: &CallLog,
    process: &'static str,
    thread_name: &str,
    echo_text: &str,
) -> Result<(), capnp::Error> {
    let map = construct(init, log, process).await?;
    let thread = make_thread(&map, log, thread_name).await?;
    echo_check(init, log, &thread, echo_text).await
}

/// Our client end of a peer's `Init`, its connection driven by a local task;
/// dropping the link closes the connection.
pub struct Link {
    pub init: init::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    /// Connects to the `Init` served on `stream`; `on_end` runs when the peer
    /// closes the connection (not when the link is dropped).
    pub fn open(
        stream: tokio::net::UnixStream,
        on_end: impl FnOnce(Result<(), capnp::Error>) + 'static,
    ) -> Link {
        let (init, rpc) = connect_init(stream);
        let task = tokio::task::spawn_local(async move { on_end(rpc.await) });
        Link { init, task }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A live connection to a node's `Init`.
pub struct Attached {
    pub init: init::Client,
    pub log: CallLog,
    /// Drives the connection; finishes when the node closes it.
    pub rpc: RpcSystem<Side>,
}

/// Connects to `address`, runs the handshake and an `Echo` check, as `process`.
pub async fn attach(address: &IpcAddress, process: &'static str) -> Result<Attached, AttachError> {
    let addr = address.to_string();
    let stream = tokio::net::UnixStream::connect(address.path())
        .await
        .map_err(|source| AttachError::Connect {
            address: addr.clone(),
            source,
        })?;
    attach_connected(stream, &addr, process).await
}

/// Runs the handshake on an already-connected stream (`addr` names it in errors).
pub async fn attach_connected(
    stream: tokio::net::UnixStream,
    addr: &str,
    process: &'static str,
) -> Result<Attached, AttachError> {
    let addr = addr.to_string();
    let (init, rpc) = connect_init(stream);
    let log = CallLog::new(Peer {
        name: "bitcoin-node".into(),
        pid: 0,
    });
    let mut rpc = rpc;
    let thread_name = format!("{process}-{}", std::process::id());
    let handshake = handshake(&init, &log, process, &thread_name, "attach");
    // Drive the connection while the handshake runs.
    let outcome = tokio::select! {
        r = handshake => r,
        r = &mut rpc => Err(r.err().unwrap_or_else(|| capnp::Error::disconnected("the node closed the connection".into()))),
    };
    outcome.map_err(|source| AttachError::Handshake {
        address: addr,
        source,
    })?;
    Ok(Attached { init, log, rpc })
}

/// Resolves `-ipcconnect`'s value (`unix`, `unix:PATH`, or bare/`1`/`auto` for
/// the default socket) against the network data directory.
pub fn connect_address(
    value: &str,
    net_dir: &std::path::Path,
) -> Result<IpcAddress, super::address::AddressError> {
    let text = match value {
        "" | "1" | "auto" => "unix",
        other => other,
    };
    IpcAddress::parse(text, net_dir, "bitcoin-node")
}

/// Runs a hand-started process attached to a running node until the node
/// closes the connection or we get SIGINT/SIGTERM. Returns the exit code.
pub fn run_attached(address: IpcAddress, process: &'static str) -> i32 {
    crate::cli::run_local(async move {
        let attached = match attach(&address, process).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!("Error: {e}");
                return 1;
            }
        };
        tracing::info!("{process}: attached to bitcoin-node at {address}");
        let Attached { init, rpc, .. } = attached;
        tokio::select! {
            r = rpc => {
                match r {
                    Ok(()) => tracing::info!("{process}: bitcoin-node closed the connection; stopping"),
                    Err(e) => tracing::info!("{process}: connection to bitcoin-node ended ({e}); stopping"),
                }
            }
            sig = crate::cli::stop_signal() => tracing::info!("{process}: {sig}; detaching from bitcoin-node"),
        }
        drop(init);
        0
    })
}

/// With `-ipcconnect` set: attaches as `process` and runs until detached,
/// returning the exit code. Without it: None.
pub fn attach_if_asked(config: &crate::config::Config, process: &'static str) -> Option<i32> {
    let value = config.get("ipcconnect")?;
    Some(match connect_address(&value, &config.net_dir()) {
        Ok(address) => run_attached(address, process),
        Err(e) => crate::cli::fail(&e.to_string()),
    })
}
