//! Shared by the `ipc_*` targets: the real servers of our Cap'n Proto
//! interfaces, built once per fuzzing process on a regtest chain in a
//! temporary directory (Core's engine, our mempool, the node's RPC methods,
//! and a wallet with mature coins), and a driver that makes one call with
//! arbitrary parameters to one of them.
//!
//! Input: `<method name>\0<parameters>`: the name picks the method's ordinal
//! from the interface's table (an input naming no method of it is skipped;
//! `fuzz/dict/ipc.dict` lists the names); the parameters are a Cap'n Proto
//! message (segment table, then segments) whose root becomes the call's
//! parameter struct, whatever it holds.
//!
//! Invariants every target checks: no call panics; a call that may not wait
//! by design answers (a result or an error) within `CALL_TIMEOUT`; and after
//! the call a well-formed canary call to the same server still gets the
//! right answer.
#![allow(dead_code)]

use std::cell::OnceCell;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::Network;
use bitcoin_mp::chain::{Chain, ChainOptions};
use bitcoin_mp::config::{Config, Parsed, Program};
use bitcoin_mp::ipc::debug::{CallLog, Peer};
use bitcoin_mp::ipc::init::ProcessInterfaces;
use bitcoin_mp::mempool::{Mempool, PolicyOptions};
use bitcoin_mp::node::ipc::chain::{ChainHub, ChainServer};
use bitcoin_mp::node::ipc::NodeIpc;
use bitcoin_mp::node::methods::{Methods, NodeCtx};
use bitcoin_mp::rpc::http::Dispatcher;
use bitcoin_mp::rpc::whitelist::Whitelist;
use bitcoin_mp::schema::chain_capnp::chain;
use bitcoin_mp::wallet::engine::Engine;
use bitcoin_mp::wallet::options::WalletOptions;
use bitcoin_mp::wallet::process::WalletProcess;
use capnp::any_pointer;
use serde_json::{json, Value};

/// How long a call that should not wait may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The servers' shared state, made once per process.
pub struct World {
    pub rt: tokio::runtime::Runtime,
    pub local: tokio::task::LocalSet,
    _dir: tempfile::TempDir,
    pub chain: Arc<Chain>,
    pub mempool: Arc<Mempool>,
    pub node: Rc<NodeIpc>,
    pub dispatcher: Rc<dyn Dispatcher>,
    pub hub: Rc<ChainHub>,
    pub wallet: Rc<WalletProcess>,
    pub log: CallLog,
}

thread_local! {
    static WORLD: OnceCell<&'static World> = const { OnceCell::new() };
}

/// The process's world (built on first use; kept for the process's life).
pub fn world() -> &'static World {
    WORLD.with(|w| *w.get_or_init(|| Box::leak(Box::new(build()))))
}

fn log() -> CallLog {
    CallLog::new(Peer {
        name: "fuzzer".into(),
        pid: 0,
    })
}

impl World {
    /// A fresh `Chain` server over the world's node.
    pub fn chain_client(&self) -> chain::Client {
        capnp_rpc::new_client(ChainServer {
            chain: self.chain.clone(),
            mempool: self.mempool.clone(),
            dispatcher: self.dispatcher.clone(),
            hub: self.hub.clone(),
            wallets: Weak::new(),
            log: self.log.clone(),
        })
    }

    /// Runs `f` on the world's single-threaded executor.
    pub fn run<F: std::future::Future>(&self, f: F) -> F::Output {
        self.local.block_on(&self.rt, f)
    }

    /// One of the node's RPC methods (as the HTTP server would run it).
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        let params = params.as_array().cloned().unwrap_or_default();
        let req = bitcoin_mp::rpc::Request::internal(method, params, None);
        self.dispatcher
            .call(req)
            .await
            .unwrap_or_else(|e| panic!("setup: {method}: {}", e.message))
    }
}

fn build() -> World {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let dir = tempfile::tempdir().expect("temporary directory");
    let net_dir = dir.path().join("regtest");
    let chain = Chain::open(&ChainOptions::regtest(net_dir.clone())).expect("regtest chain");
    let mempool = Mempool::new(PolicyOptions::core_defaults());
    let (node, dispatcher, hub) = local.block_on(&rt, async {
        let ctx = Rc::new(NodeCtx {
            chain: chain.clone(),
            started: std::time::Instant::now(),
            stop: Rc::new(tokio::sync::Notify::new()),
            log_path: String::new(),
            active: Default::default(),
            log_config: Default::default(),
            kernel_log: None,
            net: None,
            mempool: mempool.clone(),
            broker: None,
            net_dir: net_dir.clone(),
            deprecated_rpc: Vec::new(),
            wallets: None,
        });
        let dispatcher: Rc<dyn Dispatcher> = Rc::new(Methods::new(ctx));
        let node = Rc::new(NodeIpc {
            chain: chain.clone(),
            mempool: mempool.clone(),
            dispatcher: dispatcher.clone(),
            whitelist: Rc::new(Whitelist::new(&[], None)),
            wallets: None,
            net_dir: net_dir.clone(),
            started: 0,
            // Never closing: the sender lives as long as the process.
            closing: {
                let (tx, rx) = tokio::sync::watch::channel(false);
                std::mem::forget(tx);
                rx
            },
        });
        (node, dispatcher, ChainHub::start(&chain, &mempool))
    });
    let args: Vec<String> = ["-regtest", "-fallbackfee=0.0002"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let config = match Config::from_command_line(Program::Wallet, &args) {
        Ok(Parsed::Run(c)) => c,
        _ => panic!("setup: wallet options"),
    };
    let options = WalletOptions::from_config(&config).expect("wallet options");
    let wallet_dir = net_dir.join("wallets").join("fuzz");
    std::fs::create_dir_all(&wallet_dir).expect("wallet directory");
    drop(Engine::create_at_genesis(&wallet_dir, "fuzz", Network::Regtest, 0).expect("wallet"));
    let wallet = WalletProcess::new("fuzz".into(), wallet_dir, Network::Regtest, options);
    let world = World {
        rt,
        local,
        _dir: dir,
        chain,
        mempool,
        node,
        dispatcher,
        hub,
        wallet,
        log: log(),
    };
    world.run(async {
        world
            .wallet
            .set_chain(world.chain_client(), world.log.clone());
        world.wallet.open_existing().await.expect("open wallet");
        let address = bitcoin_mp::wallet::rpc::call(&world.wallet, "getnewaddress", vec![])
            .await
            .expect("address");
        world.rpc("generatetoaddress", json!([110, address])).await;
    });
    world
}

/// Splits an input into a method of `methods` (its ordinal) and its
/// parameter message.
pub fn parse<'a>(
    methods: &[&'a str],
    data: &'a [u8],
) -> Option<(
    u16,
    &'a str,
    capnp::message::Reader<capnp::serialize::OwnedSegments>,
)> {
    let nul = data.iter().position(|b| *b == 0)?;
    let name = std::str::from_utf8(&data[..nul]).ok()?;
    let ordinal = methods.iter().position(|m| *m == name)? as u16;
    let mut rest = &data[nul + 1..];
    let options = *capnp::message::ReaderOptions::new()
        .traversal_limit_in_words(Some(1 << 16))
        .nesting_limit(32);
    let message = capnp::serialize::read_message(&mut rest, options).ok()?;
    Some((ordinal, methods[ordinal as usize], message))
}

/// Makes call `ordinal` of interface `interface_id` on `client` with the
/// message's root as parameters. `may_wait`: the method may block by design
/// (waits for a new tip, say); then running past `CALL_TIMEOUT` is no
/// failure and the call is dropped.
pub async fn call(
    client: &capnp::capability::Client,
    interface_id: u64,
    ordinal: u16,
    name: &str,
    params: &capnp::message::Reader<capnp::serialize::OwnedSegments>,
    may_wait: bool,
) {
    let Ok(root) = params.get_root::<any_pointer::Reader>() else {
        return;
    };
    let mut request =
        client.new_call::<any_pointer::Owned, any_pointer::Owned>(interface_id, ordinal, None);
    if request.get().set_as(root).is_err() {
        return;
    }
    match tokio::time::timeout(CALL_TIMEOUT, request.send().promise).await {
        Ok(Ok(response)) => {
            // Read the whole answer, as a client would.
            if let Ok(r) = response.get() {
                let _ = r.target_size();
            }
        }
        Ok(Err(_)) => {}
        Err(_) => assert!(may_wait, "{name} did not answer within {CALL_TIMEOUT:?}"),
    }
}

/// The node worker's `Init`, serving the world's node interfaces.
pub fn init_client(w: &World) -> bitcoin_mp::schema::init_capnp::init::Client {
    let slot: bitcoin_mp::ipc::init::InterfaceSlot = Default::default();
    *slot.borrow_mut() = Some(w.node.clone() as Rc<dyn ProcessInterfaces>);
    bitcoin_mp::ipc::init::InitServer::new(w.log.clone(), "bitcoin-node", slot).into_client()
}

/// The wallet is loaded (opened again if a call unloaded it) and its next
/// RPC brings it to the node's tip.
pub async fn wallet_follows_the_node(w: &World) {
    if w.wallet.engine.borrow().is_none() {
        w.wallet
            .open_existing()
            .await
            .expect("the wallet opens again");
    }
    let info = bitcoin_mp::wallet::rpc::call(&w.wallet, "getwalletinfo", vec![])
        .await
        .expect("canary getwalletinfo");
    let tip = w.chain.tip();
    assert_eq!(info["walletname"], "fuzz");
    assert_eq!(info["lastprocessedblock"]["height"], tip.height, "{info}");
    assert_eq!(
        info["lastprocessedblock"]["hash"],
        tip.hash.to_string(),
        "{info}"
    );
}
