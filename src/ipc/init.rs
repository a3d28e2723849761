//! The `Init` bootstrap capability every process serves, with the thread-map
//! handshake of Core's IPC (`construct`, `ThreadMap.makeThread`) and `Echo`.
//! `makeRpc`, `makeMining`, `makeChain`, `makeNode` and `makeWalletLoader` hand out what a process
//! registered in its `InterfaceSlot` (the node worker once its chain is open,
//! a wallet process at start); elsewhere, or before that, they fail with a
//! clear error.
//! Calls run on the connection's single-threaded executor; the `Context`'s
//! thread handle is accepted and named in logs, not used for dispatch.

use std::cell::RefCell;
use std::rc::Rc;

use super::debug::CallLog;
use crate::schema::chain_capnp::chain;
use crate::schema::echo_capnp::echo;
use crate::schema::init_capnp::init;
use crate::schema::mining_capnp::mining;
use crate::schema::node_capnp::node;
use crate::schema::proxy_capnp::{thread, thread_map};
use crate::schema::rpc_capnp::rpc;
use crate::schema::wallet_capnp::wallet_loader;

/// Core's answer to the retired `makeMiningOld2` method.
pub const OLD_MINING_ERROR: &str =
    "Old mining interface (@2) not supported. Please update your client!";

/// The interfaces `Init` hands out, as a process that serves them makes them
/// for one connection (`log` logs that connection's calls). What a process
/// does not serve stays `None`: the node worker serves Rpc and Mining, a
/// wallet process its WalletLoader.
pub trait ProcessInterfaces {
    fn rpc(&self, _log: CallLog) -> Option<rpc::Client> {
        None
    }
    fn mining(&self, _log: CallLog) -> Option<mining::Client> {
        None
    }
    fn wallet_loader(&self, _log: CallLog, _chain: chain::Client) -> Option<wallet_loader::Client> {
        None
    }
    /// The node's `Chain` for a wallet process that attached by itself.
    fn chain(&self, _log: CallLog) -> Option<chain::Client> {
        None
    }
    /// The node worker's `Node`, for bitcoin-gui.
    fn node(&self, _log: CallLog) -> Option<node::Client> {
        None
    }
}

/// Where a process registers its `ProcessInterfaces` once it can serve them.
pub type InterfaceSlot = Rc<RefCell<Option<Rc<dyn ProcessInterfaces>>>>;

/// How long an Init.make* call to a starting process waits for the process
/// to register its interfaces: a node serves Init on -ipcbind while its
/// chain still loads, and a wallet process before its body has its loader
/// (the node asks for it right after the handshake).
const REGISTRATION_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves `Init` on one connection.
pub struct InitServer {
    log: CallLog,
    process: &'static str,
    interfaces: InterfaceSlot,
}

impl InitServer {
    /// `process` names this side in thread names (e.g. `bitcoin-node`).
    pub fn new(log: CallLog, process: &'static str, interfaces: InterfaceSlot) -> InitServer {
        InitServer {
            log,
            process,
            interfaces,
        }
    }

    /// Waits until the process registered its interfaces, `limit` at most.
    async fn wait_registered(&self, limit: std::time::Duration) {
        let start = tokio::time::Instant::now();
        while self.interfaces.borrow().is_none() && start.elapsed() < limit {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    /// What `make` finds among the registered interfaces (once the process
    /// registered them, [`REGISTRATION_WAIT`] at most), or the error `method`
    /// answers without it.
    async fn interface<T>(
        &self,
        method: &str,
        make: impl FnOnce(&dyn ProcessInterfaces) -> Option<T>,
    ) -> Result<T, capnp::Error> {
        self.wait_registered(REGISTRATION_WAIT).await;
        let registered = self.interfaces.borrow().clone();
        registered.and_then(|i| make(&*i)).ok_or_else(|| {
            let who = if method == "Init.makeWalletLoader" {
                "only a wallet process serves it"
            } else if method == "Init.makeNode" {
                "only a running node serves it, once its chain and wallets are loaded"
            } else if method == "Init.makeChain" {
                "only a running node with wallets enabled serves it"
            } else {
                "only a running node serves it, once its chain is loaded"
            };
            capnp::Error::failed(format!(
                "{method}: not available from {} ({who})",
                self.process
            ))
        })
    }

    /// A capability client for this server, to bootstrap an RPC system with.
    pub fn into_client(self) -> init::Client {
        capnp_rpc::new_client(self)
    }
}

impl init::Server for InitServer {
    async fn construct(
        self: Rc<Self>,
        params: init::ConstructParams,
        mut results: init::ConstructResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Init.construct", &params.get()?);
        let map: thread_map::Client = capnp_rpc::new_client(ThreadMapServer {
            log: self.log.clone(),
            process: self.process,
        });
        results.get().set_thread_map(map);
        self.log
            .server_response(seq, "Init.construct", &results.get().into_reader());
        Ok(())
    }

    async fn make_echo(
        self: Rc<Self>,
        params: init::MakeEchoParams,
        mut results: init::MakeEchoResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Init.makeEcho", &params.get()?);
        let e: echo::Client = capnp_rpc::new_client(EchoServer {
            log: self.log.clone(),
        });
        results.get().set_result(e);
        self.log
            .server_response(seq, "Init.makeEcho", &results.get().into_reader());
        Ok(())
    }

    async fn make_rpc(
        self: Rc<Self>,
        params: init::MakeRpcParams,
        mut results: init::MakeRpcResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Init.makeRpc", &params.get()?);
        match self
            .interface("Init.makeRpc", |i| i.rpc(self.log.clone()))
            .await
        {
            Ok(c) => results.get().set_result(c),
            Err(e) => {
                self.log.server_error(seq, "Init.makeRpc", &e);
                return Err(e);
            }
        }
        self.log
            .server_response(seq, "Init.makeRpc", &results.get().into_reader());
        Ok(())
    }

    async fn make_mining(
        self: Rc<Self>,
        params: init::MakeMiningParams,
        mut results: init::MakeMiningResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Init.makeMining", &params.get()?);
        match self
            .interface("Init.makeMining", |i| i.mining(self.log.clone()))
            .await
        {
            Ok(c) => results.get().set_result(c),
            Err(e) => {
                self.log.server_error(seq, "Init.makeMining", &e);
                return Err(e);
            }
        }
        self.log
            .server_response(seq, "Init.makeMining", &results.get().into_reader());
        Ok(())
    }

    async fn make_wallet_loader(
        self: Rc<Self>,
        params: init::MakeWalletLoaderParams,
        mut results: init::MakeWalletLoaderResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let seq = self.log.server_request("Init.makeWalletLoader", &p);
        let chain = p.get_chain()?;
        match self
            .interface("Init.makeWalletLoader", |i| {
                i.wallet_loader(self.log.clone(), chain)
            })
            .await
        {
            Ok(c) => results.get().set_result(c),
            Err(e) => {
                self.log.server_error(seq, "Init.makeWalletLoader", &e);
                return Err(e);
            }
        }
        self.log
            .server_response(seq, "Init.makeWalletLoader", &results.get().into_reader());
        Ok(())
    }

    async fn make_chain(
        self: Rc<Self>,
        params: init::MakeChainParams,
        mut results: init::MakeChainResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Init.makeChain", &params.get()?);
        match self
            .interface("Init.makeChain", |i| i.chain(self.log.clone()))
            .await
        {
            Ok(c) => results.get().set_result(c),
            Err(e) => {
                self.log.server_error(seq, "Init.makeChain", &e);
                return Err(e);
            }
        }
        self.log
            .server_response(seq, "Init.makeChain", &results.get().into_reader());
        Ok(())
    }

    async fn make_node(
        self: Rc<Self>,
        params: init::MakeNodeParams,
        mut results: init::MakeNodeResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Init.makeNode", &params.get()?);
        match self
            .interface("Init.makeNode", |i| i.node(self.log.clone()))
            .await
        {
            Ok(c) => results.get().set_result(c),
            Err(e) => {
                self.log.server_error(seq, "Init.makeNode", &e);
                return Err(e);
            }
        }
        self.log
            .server_response(seq, "Init.makeNode", &results.get().into_reader());
        Ok(())
    }

    async fn make_mining_old2(
        self: Rc<Self>,
        params: init::MakeMiningOld2Params,
        _results: init::MakeMiningOld2Results,
    ) -> Result<(), capnp::Error> {
        let seq = self
            .log
            .server_request("Init.makeMiningOld2", &params.get()?);
        let err = capnp::Error::failed(OLD_MINING_ERROR.to_string());
        self.log.server_error(seq, "Init.makeMiningOld2", &err);
        Err(err)
    }
}

/// Hands out named server threads, as libmultiprocess clients expect. Clients
/// serve one too (passed in `construct`) so the other side can call back.
pub struct ThreadMapServer {
    log: CallLog,
    process: &'static str,
}

impl ThreadMapServer {
    /// A thread map for `process`, logging calls on `log`.
    pub fn client(log: CallLog, process: &'static str) -> thread_map::Client {
        capnp_rpc::new_client(ThreadMapServer { log, process })
    }
}

impl thread_map::Server for ThreadMapServer {
    async fn make_thread(
        self: Rc<Self>,
        params: thread_map::MakeThreadParams,
        mut results: thread_map::MakeThreadResults,
    ) -> Result<(), capnp::Error> {
        let seq = self
            .log
            .server_request("ThreadMap.makeThread", &params.get()?);
        let requested = params
            .get()?
            .get_name()?
            .to_string()
            .map_err(|e| capnp::Error::failed(format!("thread name is not UTF-8: {e}")))?;
        // The server-side name says which process serves it, as Core's do.
        let name = format!("{}-{}/{}", self.process, std::process::id(), requested);
        let t: thread::Client = capnp_rpc::new_client(ThreadServer { name });
        results.get().set_result(t);
        self.log
            .server_response(seq, "ThreadMap.makeThread", &results.get().into_reader());
        Ok(())
    }

    async fn make_pool(
        self: Rc<Self>,
        params: thread_map::MakePoolParams,
        _results: thread_map::MakePoolResults,
    ) -> Result<(), capnp::Error> {
        // Calls already run on this connection's executor; a pool needs nothing more.
        let seq = self
            .log
            .server_request("ThreadMap.makePool", &params.get()?);
        self.log.server_response(seq, "ThreadMap.makePool", &"()");
        Ok(())
    }
}

/// One named server thread.
struct ThreadServer {
    name: String,
}

impl thread::Server for ThreadServer {
    async fn get_name(
        self: Rc<Self>,
        _params: thread::GetNameParams,
        mut results: thread::GetNameResults,
    ) -> Result<(), capnp::Error> {
        results.get().set_result(&self.name[..]);
        Ok(())
    }
}

/// Round-trip test and benchmark interface.
pub struct EchoServer {
    log: CallLog,
}

impl echo::Server for EchoServer {
    async fn echo(
        self: Rc<Self>,
        params: echo::EchoParams,
        mut results: echo::EchoResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let seq = self.log.server_request("Echo.echo", &p);
        results.get().set_result(p.get_echo()?);
        self.log
            .server_response(seq, "Echo.echo", &results.get().into_reader());
        Ok(())
    }

    async fn destroy(
        self: Rc<Self>,
        params: echo::DestroyParams,
        _results: echo::DestroyResults,
    ) -> Result<(), capnp::Error> {
        // The capability is released when the client drops its reference.
        let seq = self.log.server_request("Echo.destroy", &params.get()?);
        self.log.server_response(seq, "Echo.destroy", &"()");
        Ok(())
    }
}
