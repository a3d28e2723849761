//! Core's IPC interfaces the node worker serves on `-ipcbind` connections
//! (and to the process that spawned it): `Rpc` (`rpc`: JSON-RPC over Cap'n
//! Proto, what `bitcoin-cli -ipcconnect` uses) and `Mining` with its
//! `BlockTemplate`s (`mining`: what Stratum v2 template providers use), and
//! our `Node` for bitcoin-gui (`node`). All run on the worker's
//! single-threaded executor and reach the chain and the RPC methods the HTTP
//! server uses.

pub mod chain;
mod mining;
pub mod node;
mod rpc;

use std::rc::Rc;
use std::sync::Arc;

use crate::chain::Chain;
use crate::ipc::debug::CallLog;
use crate::ipc::init::ProcessInterfaces;
use crate::rpc::http::Dispatcher;
use crate::rpc::whitelist::Whitelist;
use crate::schema::{chain_capnp, mining_capnp, node_capnp, rpc_capnp};

/// A text parameter as a `String`; text that is not UTF-8 fails the call.
fn text(r: capnp::Result<capnp::text::Reader<'_>>) -> Result<String, capnp::Error> {
    r?.to_string()
        .map_err(|e| capnp::Error::failed(format!("not UTF-8: {e}")))
}

/// What `Init.makeRpc` and `Init.makeMining` hand out.
pub struct NodeIpc {
    pub chain: Arc<Chain>,
    pub mempool: Arc<crate::mempool::Mempool>,
    pub dispatcher: Rc<dyn Dispatcher>,
    pub whitelist: Rc<Whitelist>,
    /// None with -disablewallet. Weak: the wallets outlive no one.
    pub wallets: Option<std::rc::Weak<crate::node::wallets::Wallets>>,
    /// `<datadir>/<chain>` (the GUI's information page shows it).
    pub net_dir: std::path::PathBuf,
    /// Unix time the worker began serving.
    pub started: i64,
    /// Turns true when the worker begins to shut down (GUI notifications).
    pub closing: tokio::sync::watch::Receiver<bool>,
}

impl ProcessInterfaces for NodeIpc {
    fn rpc(&self, log: CallLog) -> Option<rpc_capnp::rpc::Client> {
        Some(capnp_rpc::new_client(rpc::RpcServer {
            log,
            dispatcher: self.dispatcher.clone(),
            whitelist: self.whitelist.clone(),
        }))
    }

    fn mining(&self, log: CallLog) -> Option<mining_capnp::mining::Client> {
        Some(capnp_rpc::new_client(mining::MiningServer::new(
            self.chain.clone(),
            self.mempool.clone(),
            log,
        )))
    }

    fn node(&self, log: CallLog) -> Option<node_capnp::node::Client> {
        Some(capnp_rpc::new_client(node::NodeServer {
            log,
            chain: self.chain.clone(),
            dispatcher: self.dispatcher.clone(),
            wallets: self.wallets.clone(),
            net_dir: self.net_dir.clone(),
            started: self.started,
            closing: self.closing.clone(),
            arg_types: Rc::new(node::arg_types()),
        }))
    }

    fn chain(&self, log: CallLog) -> Option<chain_capnp::chain::Client> {
        let wallets = self.wallets.as_ref()?.upgrade()?;
        wallets.chain_for(log).ok()
    }
}
