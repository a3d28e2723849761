//! The node worker's loaded wallets: one `bitcoin-wallet` process each,
//! started by the broker on our request, reached over its `Init` socket:
//! `makeWalletLoader` with our `Chain`, then `createWallet`/`loadWallet`.
//! Wallet RPCs are routed here (Core's rules for choosing the wallet of a
//! request) and forwarded as `Wallet.callRpc`. A wallet process that dies
//! is dropped from the list; `loadwallet` starts it again.

use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::ipc::chain::{ChainHub, ChainServer};
use crate::broker::client::{BrokerClient, BrokerError};
use crate::chain::Chain;
use crate::ipc::client::{handshake, Link};
use crate::ipc::connection::stream_from_fd;
use crate::ipc::debug::{CallLog, Peer, Redacted};
use crate::logged_call;
use crate::mempool::Mempool;
use crate::rpc::http::Dispatcher;
use crate::rpc::protocol::code;
use crate::rpc::RpcError;
use crate::schema::chain_capnp::chain;
use crate::schema::wallet_capnp::{wallet, wallet_loader};

/// Core's createwallet options we pass to the wallet process.
#[derive(Default, Clone)]
pub struct CreateOptions {
    pub disable_private_keys: bool,
    pub blank: bool,
    pub passphrase: String,
    pub avoid_reuse: bool,
    pub load_on_startup: bool,
}

struct Loaded {
    /// Tells this load apart from an earlier or later one of the same name.
    serial: u64,
    pid: i32,
    wallet: wallet::Client,
    log: CallLog,
    /// A process the broker spawned for us: holds the connection open, and
    /// dropping it ends the process. None for a process that attached itself
    /// (`bitcoin-wallet -ipcconnect`), whose connection is its own.
    _link: Option<Link>,
}

/// The wallets this node has loaded.
pub struct Wallets {
    broker: Rc<BrokerClient>,
    chain: Arc<Chain>,
    mempool: Arc<Mempool>,
    hub: Rc<ChainHub>,
    /// The node's RPC methods (set once they exist; the wallets' Chain uses
    /// them). Weak: the methods hold these wallets.
    dispatcher: OnceCell<Weak<dyn Dispatcher>>,
    loaded: RefCell<BTreeMap<String, Loaded>>,
    /// Names being created or loaded now.
    pending: RefCell<BTreeSet<String>>,
    serials: std::cell::Cell<u64>,
    me: Weak<Wallets>,
}

/// Core's read-write settings file in the network directory.
const SETTINGS_FILE: &str = "settings.json";

/// How long a wallet may take to write its state at shutdown.
const UNLOAD_TIMEOUT: Duration = Duration::from_secs(10);

fn wallet_error(message: impl Into<String>) -> RpcError {
    RpcError::new(code::WALLET_ERROR, message)
}

/// Core's error for a wallet that is loaded already.
fn already_loaded(name: &str) -> RpcError {
    RpcError::new(
        code::WALLET_ALREADY_LOADED,
        format!("Wallet \"{name}\" is already loaded."),
    )
}

/// The broker's reason for a refusal.
fn refusal(e: BrokerError) -> String {
    match e {
        BrokerError::Refused { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// The broker's refusal as Core's error for createwallet/loadwallet.
fn spawn_error(e: BrokerError, create: bool) -> RpcError {
    let reason = refusal(e);
    if !create && reason.contains("Path does not exist") {
        RpcError::new(code::WALLET_NOT_FOUND, reason)
    } else {
        wallet_error(reason)
    }
}

/// A wallet process's refusal: it sends Core's code and message as the
/// failure's description, `<code>\u{1f}<message>` (the RPC layer may prefix
/// "remote exception: ").
fn capnp_failure(e: capnp::Error) -> RpcError {
    if e.kind == capnp::ErrorKind::Disconnected {
        return wallet_error(
            "The wallet process ended before it answered (its reason is in debug.log)",
        );
    }
    let text = if e.extra.is_empty() {
        e.to_string()
    } else {
        e.extra.clone()
    };
    match text.split_once(crate::wallet::ERROR_SEPARATOR) {
        Some((c, m)) => {
            let digits = c.rsplit(' ').next().unwrap_or(c);
            RpcError::new(digits.parse().unwrap_or(code::WALLET_ERROR), m)
        }
        None => wallet_error(text),
    }
}

impl Wallets {
    pub fn new(
        broker: Rc<BrokerClient>,
        chain: Arc<Chain>,
        mempool: Arc<Mempool>,
        hub: Rc<ChainHub>,
    ) -> Rc<Wallets> {
        Rc::new_cyclic(|me| Wallets {
            broker,
            chain,
            mempool,
            hub,
            dispatcher: OnceCell::new(),
            loaded: RefCell::default(),
            pending: RefCell::default(),
            serials: Default::default(),
            me: me.clone(),
        })
    }

    /// Gives the wallets' `Chain` the node's RPC methods.
    pub fn set_dispatcher(&self, d: &Rc<dyn Dispatcher>) {
        let _ = self.dispatcher.set(Rc::downgrade(d));
    }

    /// At shutdown: every wallet writes its state and its process ends,
    /// before the chain closes (Core unloads wallets first too).
    pub async fn shutdown(&self) {
        let names = self.names();
        for name in names {
            if tokio::time::timeout(UNLOAD_TIMEOUT, self.unload(&name))
                .await
                .is_err()
            {
                tracing::warn!("Wallet \"{name}\" did not answer the unload request in time");
            }
        }
        self.loaded.borrow_mut().clear();
    }

    /// The loaded wallets' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.loaded.borrow().keys().cloned().collect()
    }

    /// The wallet processes' pids by wallet name.
    /// A loaded wallet's own interface (the GUI gets it through `Node`).
    pub fn client(&self, name: &str) -> Option<wallet::Client> {
        self.loaded.borrow().get(name).map(|l| l.wallet.clone())
    }

    pub fn pids(&self) -> Vec<(String, i32)> {
        self.loaded
            .borrow()
            .iter()
            .map(|(n, l)| (n.clone(), l.pid))
            .collect()
    }

    /// The wallet names found in the wallet directory (by the broker).
    pub async fn wallet_dir(&self) -> Result<Vec<String>, RpcError> {
        self.broker
            .list_wallet_dir()
            .await
            .map_err(|e| wallet_error(e.to_string()))
    }

    fn next_serial(&self) -> u64 {
        self.serials.set(self.serials.get() + 1);
        self.serials.get()
    }

    /// The `Chain` a wallet process gets (`Init.makeChain` for one that
    /// attached by itself).
    pub fn chain_for(&self, log: CallLog) -> Result<chain::Client, RpcError> {
        let dispatcher = self
            .dispatcher
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| wallet_error("the node is still starting"))?;
        Ok(capnp_rpc::new_client(ChainServer {
            chain: self.chain.clone(),
            mempool: self.mempool.clone(),
            dispatcher,
            hub: self.hub.clone(),
            wallets: self.me.clone(),
            log,
        }))
    }

    /// createwallet (`Some(options)`) or loadwallet (`None`): starts the
    /// wallet's process and opens the wallet in it. Returns the warnings.
    pub async fn open(
        &self,
        name: &str,
        create: Option<CreateOptions>,
    ) -> Result<Vec<String>, RpcError> {
        if self.loaded.borrow().contains_key(name) || !self.pending.borrow_mut().insert(name.into())
        {
            if create.is_some() {
                return Err(wallet_error(format!(
                    "Wallet file verification failed. Failed to create database path '{name}'. Database already exists."
                )));
            }
            return Err(already_loaded(name));
        }
        let result = self.open_process(name, create).await;
        self.pending.borrow_mut().remove(name);
        let (loaded, warnings) = result?;
        tracing::info!(
            "Wallet \"{name}\" loaded in bitcoin-wallet process {}",
            loaded.pid
        );
        self.loaded.borrow_mut().insert(name.to_string(), loaded);
        Ok(warnings)
    }

    async fn open_process(
        &self,
        name: &str,
        create: Option<CreateOptions>,
    ) -> Result<(Loaded, Vec<String>), RpcError> {
        let (pid, fd) = self
            .broker
            .spawn_wallet(name, create.is_some())
            .await
            .map_err(|e| spawn_error(e, create.is_some()))?;
        let stream = stream_from_fd(fd).map_err(|e| wallet_error(e.to_string()))?;
        let me = self.me.clone();
        let owned = name.to_string();
        let serial = self.next_serial();
        let link = Link::open(stream, move |result| {
            match result {
                Ok(()) => tracing::info!(
                    "bitcoin-wallet for \"{owned}\" (pid {pid}) closed its IPC connection"
                ),
                Err(e) => {
                    tracing::warn!("bitcoin-wallet for \"{owned}\" (pid {pid}) IPC connection: {e}")
                }
            }
            if let Some(me) = me.upgrade() {
                me.forget(&owned, serial, "its process ended");
            }
        });
        let log = CallLog::new(Peer {
            name: "bitcoin-wallet".into(),
            pid,
        });
        handshake(
            &link.init,
            &log,
            "bitcoin-node",
            "node-wallet-client",
            "wallet",
        )
        .await
        .map_err(|e| wallet_error(format!("wallet process failed the IPC handshake: {e}")))?;
        let mut req = link.init.make_wallet_loader_request();
        req.get().set_chain(self.chain_for(log.clone())?);
        let loader: wallet_loader::Client = logged_call!(log, "Init.makeWalletLoader", req)
            .and_then(|r| r.get()?.get_result())
            .map_err(capnp_failure)?;
        let (wallet, warnings) = match create {
            Some(o) => {
                let mut req = loader.create_wallet_request();
                req.get().set_name(name);
                let mut b = req.get().init_options();
                b.set_disable_private_keys(o.disable_private_keys);
                b.set_blank(o.blank);
                b.set_passphrase(&o.passphrase[..]);
                b.set_avoid_reuse(o.avoid_reuse);
                b.set_load_on_startup(o.load_on_startup);
                // Sizes only: the options carry the passphrase.
                let seq = log.client_request(
                    "WalletLoader.createWallet",
                    &Redacted(
                        format_args!("(name: {name:?}, options: <redacted>)"),
                        &req.get().into_reader(),
                    ),
                );
                let r = req.send().promise.await;
                log.client_response(
                    seq,
                    "WalletLoader.createWallet",
                    r.as_ref().map(|_| &"(wallet: <capability>)" as _),
                );
                let r = r.map_err(capnp_failure)?;
                let r = r.get().map_err(capnp_failure)?;
                (
                    r.get_wallet().map_err(capnp_failure)?,
                    texts(r.get_warnings()),
                )
            }
            None => {
                let mut req = loader.load_wallet_request();
                req.get().set_name(name);
                let r = logged_call!(log, "WalletLoader.loadWallet", req).map_err(capnp_failure)?;
                let r = r.get().map_err(capnp_failure)?;
                (
                    r.get_wallet().map_err(capnp_failure)?,
                    texts(r.get_warnings()),
                )
            }
        };
        Ok((
            Loaded {
                serial,
                pid,
                wallet,
                log,
                _link: Some(link),
            },
            warnings,
        ))
    }

    /// Drops load `serial` of wallet `name` from the list (it may be gone
    /// already, or loaded again since).
    fn forget(&self, name: &str, serial: u64, why: &str) {
        let mut loaded = self.loaded.borrow_mut();
        if loaded.get(name).is_some_and(|l| l.serial == serial) {
            tracing::warn!("Wallet \"{name}\" is no longer loaded: {why}");
            loaded.remove(name);
        }
    }

    /// A wallet process started by hand offers its wallet (over the
    /// `Chain` it got from `Init.makeChain`). Returns the registration's
    /// serial for [`Wallets::release`].
    pub fn register_attached(
        &self,
        name: &str,
        pid: i32,
        wallet: wallet::Client,
        log: CallLog,
    ) -> Result<u64, RpcError> {
        crate::wallet::name::check(name).map_err(wallet_error)?;
        if self.loaded.borrow().contains_key(name) || self.pending.borrow().contains(name) {
            return Err(already_loaded(name));
        }
        let serial = self.next_serial();
        self.loaded.borrow_mut().insert(
            name.to_string(),
            Loaded {
                serial,
                pid,
                wallet,
                log,
                _link: None,
            },
        );
        tracing::info!("Wallet \"{name}\" loaded in attached bitcoin-wallet process {pid}");
        Ok(serial)
    }

    /// An attached wallet's registration ended (released, or its connection closed).
    pub fn release(&self, name: &str, serial: u64) {
        self.forget(name, serial, "its attached process let go of it or ended");
    }

    /// The wallets `settings.json` names for loading at start (Core's
    /// load_on_startup list).
    pub async fn startup_list(&self) -> Vec<String> {
        wallet_list(&self.settings().await)
    }

    /// settings.json as an object (empty when missing or unreadable).
    async fn settings(&self) -> Value {
        self.broker
            .read_file(SETTINGS_FILE)
            .await
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| serde_json::json!({}))
    }

    /// Adds `name` to (or removes it from) the load-on-startup list; a
    /// warning for the RPC result when settings.json cannot be written.
    pub async fn set_load_on_startup(&self, name: &str, load: bool) -> Option<String> {
        let mut settings = self.settings().await;
        let mut list = wallet_list(&settings);
        list.retain(|n| n != name);
        if load {
            list.push(name.to_string());
        }
        settings["wallet"] = serde_json::json!(list);
        let text = serde_json::to_string_pretty(&settings).unwrap_or_default() + "\n";
        match self
            .broker
            .replace_file(SETTINGS_FILE, text.as_bytes())
            .await
        {
            Ok(()) => None,
            Err(e) => {
                tracing::warn!("settings.json: {e}");
                Some("Wallet load on startup setting could not be updated, so wallet may not be loaded next node startup.".to_string())
            }
        }
    }

    /// unloadwallet: the wallet writes everything and its process ends.
    pub async fn unload(&self, name: &str) -> Result<(), RpcError> {
        let Some(loaded) = self.loaded.borrow_mut().remove(name) else {
            return Err(RpcError::new(
                code::WALLET_NOT_FOUND,
                "Requested wallet does not exist or is not loaded",
            ));
        };
        let req = loaded.wallet.unload_request();
        if let Err(e) = logged_call!(loaded.log, "Wallet.unload", req) {
            tracing::warn!("unloading wallet \"{name}\": {e}");
        }
        tracing::info!("Wallet \"{name}\" unloaded (process {} ends)", loaded.pid);
        Ok(())
    }

    /// backupwallet: the wallet's process writes everything and stages a
    /// copy in its own directory; the broker copies that to `destination`.
    pub async fn backup(&self, requested: Option<&str>, destination: &str) -> Result<(), RpcError> {
        let name = self.resolve(requested)?;
        self.call(Some(&name), "backupwallet", Vec::new()).await?;
        self.broker
            .export_backup(&name, destination)
            .await
            .map_err(|e| wallet_error(format!("Error: Wallet backup failed! {}", refusal(e))))
    }

    /// restorewallet: the broker copies the backup in as wallet `name`,
    /// which is then loaded. Core's codes: -8 for a missing backup, -18 for
    /// one that is not a wallet, -36 when the wallet exists.
    pub async fn restore(&self, name: &str, source: &str) -> Result<Vec<String>, RpcError> {
        if let Err(e) = self.broker.restore_wallet(name, source).await {
            let reason = refusal(e);
            let code = if reason.starts_with("Backup file does not exist") {
                code::INVALID_PARAMETER
            } else if reason.contains("Data is not in recognized format") {
                code::WALLET_NOT_FOUND
            } else if reason.starts_with("Failed to restore wallet. Database file exists") {
                code::WALLET_ALREADY_EXISTS
            } else {
                code::WALLET_ERROR
            };
            return Err(RpcError::new(code, reason));
        }
        self.open(name, None).await
    }

    /// Core's GetWalletForJSONRPCRequest: the URI's wallet, or the only one.
    pub fn resolve(&self, requested: Option<&str>) -> Result<String, RpcError> {
        let loaded = self.loaded.borrow();
        match requested {
            Some(name) if loaded.contains_key(name) => Ok(name.to_string()),
            Some(_) => Err(RpcError::new(
                code::WALLET_NOT_FOUND,
                "Requested wallet does not exist or is not loaded",
            )),
            None => match loaded.len() {
                1 => Ok(loaded.keys().next().cloned().unwrap_or_default()),
                0 => Err(RpcError::new(
                    code::WALLET_NOT_FOUND,
                    "No wallet is loaded. Load a wallet using loadwallet or create a new one with createwallet. (Note: A default wallet is no longer automatically created)",
                )),
                _ => Err(RpcError::new(
                    code::WALLET_NOT_SPECIFIED,
                    "Multiple wallets are loaded. Please select which wallet to use by requesting the RPC through the /wallet/<walletname> URI path.",
                )),
            },
        }
    }

    /// Forwards one wallet RPC to the wallet's process.
    pub async fn call(
        &self,
        requested: Option<&str>,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Value, RpcError> {
        let name = self.resolve(requested)?;
        let (wallet, log) = {
            let loaded = self.loaded.borrow();
            let l = &loaded[&name];
            (l.wallet.clone(), l.log.clone())
        };
        let params = Value::Array(args).to_string();
        let mut req = wallet.call_rpc_request();
        req.get().set_method(method);
        req.get().set_params(&params[..]);
        // Sizes only: arguments may carry passphrases, results private data.
        let seq = log.client_request(
            "Wallet.callRpc",
            &Redacted(
                format_args!("(method: {method:?}, params: <{} bytes>)", params.len()),
                &req.get().into_reader(),
            ),
        );
        let response = req.send().promise.await;
        let r = match &response {
            Ok(r) => r.get(),
            Err(e) => Err(e.clone()),
        };
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                log.client_response(seq, "Wallet.callRpc", Err(&e));
                return Err(wallet_error(format!(
                    "wallet \"{name}\" did not answer: {e}"
                )));
            }
        };
        let text = |t: capnp::Result<capnp::text::Reader<'_>>| {
            t.ok().and_then(|t| t.to_string().ok()).unwrap_or_default()
        };
        let result = text(r.get_result());
        log.client_response(
            seq,
            "Wallet.callRpc",
            Ok(&format_args!(
                "(result: <{} bytes>, failed: {})",
                result.len(),
                r.get_failed()
            )),
        );
        if r.get_failed() {
            return Err(RpcError::new(r.get_code(), text(r.get_message())));
        }
        serde_json::from_str(&result)
            .map_err(|e| wallet_error(format!("wallet \"{name}\" sent a malformed result: {e}")))
    }
}

/// settings.json's "wallet" entry: one name or a list of them.
fn wallet_list(settings: &Value) -> Vec<String> {
    match &settings["wallet"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(list) => list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn texts(list: capnp::Result<capnp::text_list::Reader<'_>>) -> Vec<String> {
    list.map(|l| {
        l.iter()
            .filter_map(|t| t.ok().and_then(|t| t.to_string().ok()))
            .collect()
    })
    .unwrap_or_default()
}
