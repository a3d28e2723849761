//! The wallet process's servers: `WalletLoader` (handed out by
//! `Init.makeWalletLoader` with the node's `Chain`), `Wallet` (RPC calls,
//! unload) and the `ChainNotifications` it registers with the node; and the
//! chain sync behind them: the wallet pulls the blocks it has not seen from
//! the node (finding the fork point with the node's block hashes after a
//! reorg), so a missed notification or a restart only means more to pull.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use bdk_wallet::chain::BlockId;
use bitcoin::consensus::deserialize;
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash, Network, Transaction};

use super::engine::Engine;
use super::options::WalletOptions;
use crate::chain::clock::now;
use crate::ipc::debug::{CallLog, Redacted, Summary};
use crate::ipc::init::ProcessInterfaces;
use crate::logged_call;
use crate::rpc::protocol::code;
use crate::rpc::RpcError;
use crate::schema::chain_capnp::{chain, chain_notifications, handler};
use crate::schema::wallet_capnp::{wallet, wallet_loader};

/// Blocks applied between commits (and progress lines) during a long sync.
const COMMIT_EVERY: u32 = 200;

/// The process's one wallet and its link to the node.
pub struct WalletProcess {
    pub name: String,
    pub dir: PathBuf,
    pub network: Network,
    pub options: WalletOptions,
    pub engine: RefCell<Option<Engine>>,
    chain: RefCell<Option<(chain::Client, CallLog)>>,
    _handler: RefCell<Option<handler::Client>>,
    sync_lock: tokio::sync::Mutex<()>,
    /// A rescan in progress: when it started and how far it is (0..1).
    pub scanning: Cell<Option<(std::time::Instant, f64)>>,
    /// Fires when the node unloads the wallet (an attached process then ends).
    pub unloaded: tokio::sync::Notify,
}

/// A wallet RPC error with Core's code.
pub fn failure(code: i32, message: impl Into<String>) -> RpcError {
    RpcError::new(code, message)
}

/// Core's code and message in a capnp failure (the node splits them again).
fn to_capnp(e: RpcError) -> capnp::Error {
    capnp::Error::failed(format!("{}{}{}", e.code, super::ERROR_SEPARATOR, e.message))
}

fn hash_of(bytes: &[u8]) -> Option<BlockHash> {
    <[u8; 32]>::try_from(bytes)
        .ok()
        .map(BlockHash::from_byte_array)
}

impl WalletProcess {
    pub fn new(name: String, dir: PathBuf, network: Network, options: WalletOptions) -> Rc<Self> {
        Rc::new(WalletProcess {
            name,
            dir,
            network,
            options,
            engine: RefCell::new(None),
            chain: RefCell::new(None),
            _handler: RefCell::new(None),
            sync_lock: tokio::sync::Mutex::new(()),
            scanning: Cell::new(None),
            unloaded: tokio::sync::Notify::new(),
        })
    }

    /// Links the wallet to the node's `Chain` (calls are logged in `log`).
    pub fn set_chain(&self, chain: chain::Client, log: CallLog) {
        *self.chain.borrow_mut() = Some((chain, log));
    }

    /// Opens the existing wallet and catches up with the node.
    pub async fn open_existing(self: &Rc<Self>) -> Result<(), RpcError> {
        let engine = Engine::load(&self.dir, &self.name, self.network)
            .map_err(|e| failure(code::WALLET_ERROR, format!("Wallet loading failed. {e}")))?;
        *self.engine.borrow_mut() = Some(engine);
        self.attach().await?;
        let height = self.with(|e| Ok(e.tip_height())).unwrap_or(0);
        tracing::info!("Wallet \"{}\" loaded, synced to height {height}", self.name);
        Ok(())
    }

    fn chain(&self) -> Result<(chain::Client, CallLog), RpcError> {
        self.chain
            .borrow()
            .clone()
            .ok_or_else(|| failure(code::WALLET_ERROR, "the wallet has no link to the node"))
    }

    /// Runs `f` on the open wallet.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Engine) -> Result<T, RpcError>,
    ) -> Result<T, RpcError> {
        let mut e = self.engine.borrow_mut();
        let engine = e
            .as_mut()
            .ok_or_else(|| failure(code::WALLET_NOT_FOUND, "The wallet is not loaded"))?;
        f(engine)
    }

    /// Writes what is pending and closes the wallet's database.
    pub fn close(&self) {
        if let Some(mut engine) = self.engine.borrow_mut().take() {
            if let Err(e) = engine.commit_all() {
                tracing::error!("Wallet \"{}\": {e}", self.name);
            }
        }
    }

    /// Writes what is pending.
    pub fn commit(&self) -> Result<(), RpcError> {
        self.with(|e| {
            e.commit_all()
                .map_err(|err| failure(code::DATABASE_ERROR, err.to_string()))
        })
    }

    // ---- calls to the node ----

    pub async fn tip(&self) -> Result<BlockId, RpcError> {
        let (chain, log) = self.chain()?;
        let r = logged_call!(log, "Chain.getTip", chain.get_tip_request()).map_err(node_error)?;
        let r = r.get().map_err(node_error)?;
        let hash = hash_of(r.get_hash().map_err(node_error)?)
            .ok_or_else(|| failure(code::WALLET_ERROR, "the node has no chain tip"))?;
        Ok(BlockId {
            height: u32::try_from(r.get_height()).unwrap_or(0),
            hash,
        })
    }

    pub async fn block_hash(&self, height: u32) -> Result<Option<BlockHash>, RpcError> {
        let (chain, log) = self.chain()?;
        let mut req = chain.get_block_hash_request();
        req.get().set_height(height as i32);
        let r = logged_call!(log, "Chain.getBlockHash", req).map_err(node_error)?;
        Ok(hash_of(
            r.get()
                .map_err(node_error)?
                .get_hash()
                .map_err(node_error)?,
        ))
    }

    pub async fn block(&self, height: u32) -> Result<Option<(Block, BlockHash)>, RpcError> {
        let (chain, log) = self.chain()?;
        let mut req = chain.get_block_request();
        req.get().set_height(height as i32);
        let seq = log.client_request(
            "Chain.getBlock",
            &Redacted(format_args!("(height: {height})"), &req.get().into_reader()),
        );
        let r = req.send().promise.await.map_err(node_error)?;
        let r = r.get().map_err(node_error)?;
        let bytes = r.get_block().map_err(node_error)?;
        log.client_response(
            seq,
            "Chain.getBlock",
            Ok(&format_args!("(block: <{} bytes>)", bytes.len())),
        );
        if bytes.is_empty() {
            return Ok(None);
        }
        let block: Block = deserialize(bytes).map_err(|e| {
            failure(
                code::WALLET_ERROR,
                format!("the node sent a malformed block: {e}"),
            )
        })?;
        let hash = block.block_hash();
        Ok(Some((block, hash)))
    }

    /// Submits a transaction to the node's mempool (and relay); Core's
    /// reject reason and code on failure.
    pub async fn broadcast(&self, tx: &Transaction, max_fee_rate: i64) -> Result<(), RpcError> {
        let (chain, log) = self.chain()?;
        let mut req = chain.broadcast_transaction_request();
        req.get().set_tx(&bitcoin::consensus::serialize(tx));
        req.get().set_max_fee_rate(max_fee_rate);
        let r = logged_call!(log, "Chain.broadcastTransaction", req).map_err(node_error)?;
        let r = r.get().map_err(node_error)?;
        let error = r
            .get_error()
            .map_err(node_error)?
            .to_string()
            .unwrap_or_default();
        if error.is_empty() {
            Ok(())
        } else {
            Err(failure(r.get_error_code(), error))
        }
    }

    /// Where the node has block `hash`: (height, in the active chain); None
    /// when it does not know it.
    pub async fn find_block(&self, hash: &BlockHash) -> Result<Option<(u32, bool)>, RpcError> {
        let (chain, log) = self.chain()?;
        let mut req = chain.find_block_request();
        req.get().set_hash(hash.as_byte_array());
        let r = logged_call!(log, "Chain.findBlock", req).map_err(node_error)?;
        let r = r.get().map_err(node_error)?;
        Ok(u32::try_from(r.get_height())
            .ok()
            .map(|h| (h, r.get_in_active_chain())))
    }

    /// The first active-chain block with a time at or after `time`.
    pub async fn first_block_with_time(&self, time: i64) -> Result<Option<u32>, RpcError> {
        let (chain, log) = self.chain()?;
        let mut req = chain.find_first_block_with_time_request();
        req.get().set_time(time);
        let r = logged_call!(log, "Chain.findFirstBlockWithTime", req).map_err(node_error)?;
        Ok(u32::try_from(r.get().map_err(node_error)?.get_height()).ok())
    }

    /// Whether the node's mempool holds `txid`.
    pub async fn in_mempool(&self, txid: &bitcoin::Txid) -> Result<bool, RpcError> {
        let (chain, log) = self.chain()?;
        let mut req = chain.is_in_mempool_request();
        req.get().set_txid(txid.as_byte_array());
        let r = logged_call!(log, "Chain.isInMempool", req).map_err(node_error)?;
        Ok(r.get().map_err(node_error)?.get_in_mempool())
    }

    /// The node's fee rates, sat/kvB: (min relay, mempool minimum, incremental).
    pub async fn fee_rates(&self) -> Result<(i64, i64, i64), RpcError> {
        let (chain, log) = self.chain()?;
        let r =
            logged_call!(log, "Chain.feeRates", chain.fee_rates_request()).map_err(node_error)?;
        let r = r.get().map_err(node_error)?;
        Ok((r.get_min_relay(), r.get_mempool_min(), r.get_incremental()))
    }

    async fn mempool(&self) -> Result<Vec<Arc<Transaction>>, RpcError> {
        let (chain, log) = self.chain()?;
        let r = logged_call!(
            log,
            "Chain.mempoolTransactions",
            chain.mempool_transactions_request()
        )
        .map_err(node_error)?;
        let list = r.get().map_err(node_error)?.get_txs().map_err(node_error)?;
        Ok(list
            .iter()
            .filter_map(|b| b.ok().and_then(|b| deserialize::<Transaction>(b).ok()))
            .map(Arc::new)
            .collect())
    }

    // ---- sync ----

    /// Catches up with the node's active chain (Core's
    /// BlockUntilSyncedToCurrentChain, done by pulling).
    pub async fn sync(&self) -> Result<(), RpcError> {
        let _guard = self.sync_lock.lock().await;
        for _ in 0..16 {
            let tip = self.tip().await?;
            let last = self.with(|e| Ok(e.last_block()))?;
            if last.map(|b| b.hash) == Some(tip.hash) {
                return Ok(());
            }
            let fork = self.fork_point(tip.height).await?;
            if last.is_some_and(|b| b.height > fork.height) {
                tracing::info!(
                    "Wallet \"{}\": the node's chain no longer has our blocks above height {}; rewinding",
                    self.name,
                    fork.height
                );
                self.with(|e| {
                    e.rewind(fork)
                        .map_err(|err| failure(code::WALLET_ERROR, err.to_string()))
                })?;
            }
            self.pull(fork, tip.height).await?;
        }
        Ok(())
    }

    /// The highest block the wallet and the node's active chain share.
    async fn fork_point(&self, node_height: u32) -> Result<BlockId, RpcError> {
        self.shared_at_or_below(node_height).await?.ok_or_else(|| {
            failure(
                code::WALLET_ERROR,
                "the wallet shares no block with the node's chain (is it another network?)",
            )
        })
    }

    /// The highest of the wallet's blocks at or below `height` that the
    /// node's active chain also has.
    pub async fn shared_at_or_below(&self, height: u32) -> Result<Option<BlockId>, RpcError> {
        let heights = self.with(|e| Ok(e.checkpoint_heights()))?;
        for h in heights.into_iter().filter(|h| *h <= height) {
            let ours = self.with(|e| Ok(e.hash_at(h)))?;
            let theirs = self.block_hash(h).await?;
            if let (Some(a), Some(b)) = (ours, theirs) {
                if a == b {
                    return Ok(Some(BlockId { height: h, hash: a }));
                }
            }
        }
        Ok(None)
    }

    /// Applies the node's blocks above `fork` up to `to`, committing as it goes.
    async fn pull(&self, fork: BlockId, to: u32) -> Result<(), RpcError> {
        let mut prev = fork;
        let total = to.saturating_sub(fork.height).max(1);
        let long = total > COMMIT_EVERY;
        if long {
            tracing::info!(
                "Wallet \"{}\": catching up {} blocks from height {}",
                self.name,
                total,
                fork.height + 1
            );
            self.scanning.set(Some((std::time::Instant::now(), 0.0)));
        }
        for h in fork.height + 1..=to {
            let Some((block, hash)) = self.block(h).await? else {
                break; // the node's chain changed under us: the caller looks again
            };
            if block.header.prev_blockhash != prev.hash {
                break;
            }
            self.with(|e| {
                e.apply_block(&block, h, prev)
                    .map_err(|err| failure(code::WALLET_ERROR, err.to_string()))
            })?;
            prev = BlockId { height: h, hash };
            let done = h - fork.height;
            if done.is_multiple_of(COMMIT_EVERY) {
                self.commit()?;
                if long {
                    let progress = done as f64 / total as f64;
                    self.scanning
                        .set(self.scanning.get().map(|(t, _)| (t, progress)));
                    tracing::info!(
                        "Wallet \"{}\": still rescanning. At block {h}. Progress={progress:.6}",
                        self.name
                    );
                }
            }
        }
        self.scanning.set(None);
        self.commit()
    }

    /// Re-reads blocks `from..=to` of the active chain (rescanblockchain).
    pub async fn rescan(&self, from: u32, to: u32) -> Result<Option<BlockId>, RpcError> {
        let _guard = self.sync_lock.lock().await;
        let start = std::time::Instant::now();
        self.scanning.set(Some((start, 0.0)));
        tracing::info!("Wallet \"{}\": rescan started from block {from}", self.name);
        let mut ids = Vec::new();
        for h in from..=to {
            if let Some(hash) = self.block_hash(h).await? {
                ids.push(BlockId { height: h, hash });
            }
        }
        if let Err(e) = self.with(|e| {
            e.insert_checkpoints(&ids)
                .map_err(|err| failure(code::WALLET_ERROR, err.to_string()))
        }) {
            self.scanning.set(None);
            return Err(e);
        }
        let mut last = None;
        let total = (to.saturating_sub(from) + 1) as f64;
        // The genesis block's output cannot be spent: nothing to find there.
        for h in from.max(1)..=to {
            let Some((block, hash)) = self.block(h).await? else {
                break;
            };
            // Connected to the wallet's own highest block below it (a
            // sparse chain, e.g. born at the tip, may lack h - 1; BDK needs
            // a block both chains share).
            let below = self.with(|e| {
                Ok(e.checkpoint_heights()
                    .into_iter()
                    .find(|ch| *ch < h)
                    .and_then(|ch| e.hash_at(ch).map(|hash| BlockId { height: ch, hash })))
            })?;
            let connected_to = match below {
                Some(b) if b.height + 1 == h && b.hash != block.header.prev_blockhash => {
                    self.scanning.set(None);
                    return Err(failure(
                        code::WALLET_ERROR,
                        "the node's chain changed during the rescan; try again",
                    ));
                }
                Some(b) => b,
                None => BlockId { height: 0, hash },
            };
            let applied = self.with(|e| {
                e.apply_block(&block, h, connected_to)
                    .map_err(|err| failure(code::WALLET_ERROR, err.to_string()))
            });
            if let Err(e) = applied {
                self.scanning.set(None);
                return Err(e);
            }
            last = Some(BlockId { height: h, hash });
            self.scanning
                .set(Some((start, f64::from(h - from + 1) / total)));
        }
        self.scanning.set(None);
        tracing::info!(
            "Wallet \"{}\": rescan completed in {} ms",
            self.name,
            start.elapsed().as_millis()
        );
        self.commit()?;
        Ok(last)
    }

    /// Records unconfirmed transactions the node has (ours are kept).
    fn take_unconfirmed(&self, txs: &[Arc<Transaction>]) {
        let applied = self.with(|e| {
            e.apply_unconfirmed(txs, now() as u64);
            e.commit_all()
                .map_err(|err| failure(code::DATABASE_ERROR, err.to_string()))
        });
        if let Err(e) = applied {
            tracing::warn!("Wallet \"{}\": {}", self.name, e.message);
        }
    }

    /// After opening: registers for notifications, catches up, reads the mempool.
    async fn attach(self: &Rc<Self>) -> Result<(), RpcError> {
        let (chain, log) = self.chain()?;
        let mut req = chain.handle_notifications_request();
        let me = notifications_client(self);
        req.get().set_notifications(me);
        let h = logged_call!(log, "Chain.handleNotifications", req)
            .and_then(|r| r.get()?.get_handler())
            .map_err(node_error)?;
        *self._handler.borrow_mut() = Some(h);
        self.sync().await?;
        let txs = self.mempool().await?;
        self.take_unconfirmed(&txs);
        self.resubmit(&txs).await;
        Ok(())
    }

    /// Hands the node our own unconfirmed transactions that its mempool
    /// lacks (Core's ResubmitWalletTransactions at load): after a restart
    /// or a crash of either side they are relayed again.
    async fn resubmit(&self, in_mempool: &[Arc<Transaction>]) {
        let known: std::collections::BTreeSet<bitcoin::Txid> =
            in_mempool.iter().map(|t| t.compute_txid()).collect();
        let ours: Vec<Arc<Transaction>> = self
            .with(|e| {
                Ok(e.transactions()
                    .into_iter()
                    .filter(|t| !t.position.is_confirmed() && t.sent > bitcoin::Amount::ZERO)
                    .filter(|t| {
                        !e.meta
                            .txs
                            .get(&t.tx.compute_txid())
                            .is_some_and(|n| n.abandoned)
                    })
                    .map(|t| t.tx)
                    .collect())
            })
            .unwrap_or_default();
        for tx in ours {
            let txid = tx.compute_txid();
            if known.contains(&txid) {
                continue;
            }
            match self.broadcast(&tx, 0).await {
                Ok(()) => {
                    let _ = self.with(|e| {
                        e.mark_in_mempool(txid);
                        Ok(())
                    });
                    tracing::info!("Wallet \"{}\": resubmitted transaction {txid}", self.name)
                }
                Err(e) => tracing::warn!(
                    "Wallet \"{}\": transaction {txid} was not accepted again: {}",
                    self.name,
                    e.message
                ),
            }
        }
    }
}

fn node_error(e: capnp::Error) -> RpcError {
    failure(code::WALLET_ERROR, format!("the node did not answer: {e}"))
}

/// What `Init.makeWalletLoader` serves in a wallet process.
pub struct WalletInterfaces(pub Rc<WalletProcess>);

impl ProcessInterfaces for WalletInterfaces {
    fn wallet_loader(&self, log: CallLog, chain: chain::Client) -> Option<wallet_loader::Client> {
        self.0.set_chain(chain, log.clone());
        Some(capnp_rpc::new_client(LoaderServer {
            process: self.0.clone(),
            log,
        }))
    }
}

struct LoaderServer {
    process: Rc<WalletProcess>,
    log: CallLog,
}

impl LoaderServer {
    fn check_name(&self, name: &str) -> Result<(), capnp::Error> {
        if name != self.process.name {
            return Err(to_capnp(failure(
                code::WALLET_ERROR,
                format!(
                    "this wallet process holds wallet \"{}\", not \"{name}\"",
                    self.process.name
                ),
            )));
        }
        if self.process.engine.borrow().is_some() {
            return Err(to_capnp(failure(
                code::WALLET_ALREADY_LOADED,
                format!("Wallet \"{name}\" is already loaded."),
            )));
        }
        Ok(())
    }

    fn wallet_client(&self) -> wallet::Client {
        wallet_client(&self.process, &self.log)
    }
}

impl wallet_loader::Server for LoaderServer {
    async fn create_wallet(
        self: Rc<Self>,
        params: wallet_loader::CreateWalletParams,
        mut results: wallet_loader::CreateWalletResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let name = p
            .get_name()?
            .to_string()
            .map_err(|e| capnp::Error::failed(e.to_string()))?;
        let seq = self.log.server_request(
            "WalletLoader.createWallet",
            &Redacted(format_args!("(name: {name:?}, options: <redacted>)"), &p),
        );
        self.check_name(&name)?;
        let o = p.get_options()?;
        let passphrase = zeroize::Zeroizing::new(
            o.get_passphrase()?
                .to_string()
                .map_err(|e| capnp::Error::failed(e.to_string()))?,
        );
        let proc = &self.process;
        let tip = proc.tip().await.map_err(to_capnp)?;
        let genesis = proc
            .block_hash(0)
            .await
            .map_err(to_capnp)?
            .ok_or_else(|| capnp::Error::failed("the node has no genesis block".into()))?;
        let engine = Engine::create(
            &proc.dir,
            &name,
            proc.network,
            BlockId {
                height: 0,
                hash: genesis,
            },
            tip,
            now(),
            &passphrase,
            o.get_blank(),
            o.get_disable_private_keys(),
            o.get_avoid_reuse(),
        )
        .map_err(|e| to_capnp(failure(code::WALLET_ERROR, e.to_string())))?;
        *proc.engine.borrow_mut() = Some(engine);
        proc.attach().await.map_err(to_capnp)?;
        tracing::info!("Wallet \"{name}\" created at height {}", tip.height);
        let mut warnings = Vec::new();
        if o.get_disable_private_keys() || o.get_blank() {
            warnings.push("Wallet created without keys: importing descriptors is not supported yet, so it can only be used for PSBTs it is given.".to_string());
        }
        let mut list = results.get().init_warnings(warnings.len() as u32);
        for (i, w) in warnings.iter().enumerate() {
            list.set(i as u32, &w[..]);
        }
        results.get().set_wallet(self.wallet_client());
        self.log
            .server_response(seq, "WalletLoader.createWallet", &"(wallet: <capability>)");
        Ok(())
    }

    async fn load_wallet(
        self: Rc<Self>,
        params: wallet_loader::LoadWalletParams,
        mut results: wallet_loader::LoadWalletResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let seq = self.log.server_request("WalletLoader.loadWallet", &p);
        let name = p
            .get_name()?
            .to_string()
            .map_err(|e| capnp::Error::failed(e.to_string()))?;
        self.check_name(&name)?;
        self.process.open_existing().await.map_err(to_capnp)?;
        results.get().set_wallet(self.wallet_client());
        self.log
            .server_response(seq, "WalletLoader.loadWallet", &"(wallet: <capability>)");
        Ok(())
    }
}

/// The `Wallet` capability of `process` (calls logged in `log`).
pub fn wallet_client(process: &Rc<WalletProcess>, log: &CallLog) -> wallet::Client {
    capnp_rpc::new_client(WalletServer {
        process: process.clone(),
        log: log.clone(),
    })
}

struct WalletServer {
    process: Rc<WalletProcess>,
    log: CallLog,
}

impl wallet::Server for WalletServer {
    async fn call_rpc(
        self: Rc<Self>,
        params: wallet::CallRpcParams,
        mut results: wallet::CallRpcResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let method = p
            .get_method()?
            .to_string()
            .map_err(|e| capnp::Error::failed(e.to_string()))?;
        let text = zeroize::Zeroizing::new(
            p.get_params()?
                .to_string()
                .map_err(|e| capnp::Error::failed(e.to_string()))?,
        );
        // Sizes only: arguments may carry passphrases.
        let seq = self.log.server_request(
            "Wallet.callRpc",
            &Redacted(
                format_args!("(method: {method:?}, params: <{} bytes>)", text.len()),
                &p,
            ),
        );
        let args: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
        let outcome = super::rpc::call(&self.process, &method, args).await;
        let mut r = results.get();
        match outcome {
            Ok(v) => r.set_result(&v.to_string()[..]),
            Err(e) => {
                r.set_failed(true);
                r.set_code(e.code);
                r.set_message(&e.message[..]);
            }
        }
        self.log.server_response(
            seq,
            "Wallet.callRpc",
            &format_args!(
                "(failed: {})",
                results.get().reborrow_as_reader().get_failed()
            ),
        );
        Ok(())
    }

    async fn get_name(
        self: Rc<Self>,
        _params: wallet::GetNameParams,
        mut results: wallet::GetNameResults,
    ) -> Result<(), capnp::Error> {
        results.get().set_name(&self.process.name[..]);
        Ok(())
    }

    async fn unload(
        self: Rc<Self>,
        _params: wallet::UnloadParams,
        _results: wallet::UnloadResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Wallet.unload", &Summary("()"));
        let _guard = self.process.sync_lock.lock().await;
        self.process.close();
        *self.process._handler.borrow_mut() = None;
        tracing::info!("Wallet \"{}\" unloaded", self.process.name);
        self.process.unloaded.notify_one();
        self.log.server_response(seq, "Wallet.unload", &"()");
        Ok(())
    }

    async fn get_sandbox(
        self: Rc<Self>,
        _params: wallet::GetSandboxParams,
        mut results: wallet::GetSandboxResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Wallet.getSandbox", &Summary("()"));
        crate::sandbox::write_status(
            results.get().init_status(),
            &format!("wallet {}", self.process.name),
            std::process::id() as i32,
            crate::sandbox::in_force(),
        );
        self.log
            .server_response(seq, "Wallet.getSandbox", &results.get().into_reader());
        Ok(())
    }
}

/// The `ChainNotifications` capability `process` hands the node (public for
/// the fuzz targets, which drive it with arbitrary calls).
pub fn notifications_client(process: &Rc<WalletProcess>) -> chain_notifications::Client {
    capnp_rpc::new_client(Notifications(Rc::downgrade(process)))
}

/// The node's notifications: a new tip starts a sync; a mempool transaction
/// is recorded when it is ours.
struct Notifications(std::rc::Weak<WalletProcess>);

impl Notifications {
    fn process(&self) -> Result<Rc<WalletProcess>, capnp::Error> {
        self.0
            .upgrade()
            .ok_or_else(|| capnp::Error::failed("wallet closed".into()))
    }
}

impl chain_notifications::Server for Notifications {
    async fn block_connected(
        self: Rc<Self>,
        _params: chain_notifications::BlockConnectedParams,
        _results: chain_notifications::BlockConnectedResults,
    ) -> Result<(), capnp::Error> {
        Ok(())
    }

    async fn block_disconnected(
        self: Rc<Self>,
        _params: chain_notifications::BlockDisconnectedParams,
        _results: chain_notifications::BlockDisconnectedResults,
    ) -> Result<(), capnp::Error> {
        Ok(())
    }

    async fn updated_block_tip(
        self: Rc<Self>,
        _params: chain_notifications::UpdatedBlockTipParams,
        _results: chain_notifications::UpdatedBlockTipResults,
    ) -> Result<(), capnp::Error> {
        let p = self.process()?;
        tokio::task::spawn_local(async move {
            if p.engine.borrow().is_none() {
                return;
            }
            if let Err(e) = p.sync().await {
                tracing::warn!("Wallet \"{}\": sync: {}", p.name, e.message);
            }
        });
        Ok(())
    }

    async fn transaction_added_to_mempool(
        self: Rc<Self>,
        params: chain_notifications::TransactionAddedToMempoolParams,
        _results: chain_notifications::TransactionAddedToMempoolResults,
    ) -> Result<(), capnp::Error> {
        let p = self.process()?;
        let tx: Transaction = deserialize(params.get()?.get_tx()?)
            .map_err(|e| capnp::Error::failed(format!("bad transaction: {e}")))?;
        if p.engine.borrow().is_some() {
            p.take_unconfirmed(&[Arc::new(tx)]);
        }
        Ok(())
    }

    async fn transaction_removed_from_mempool(
        self: Rc<Self>,
        _params: chain_notifications::TransactionRemovedFromMempoolParams,
        _results: chain_notifications::TransactionRemovedFromMempoolResults,
    ) -> Result<(), capnp::Error> {
        Ok(())
    }

    async fn chain_state_flushed(
        self: Rc<Self>,
        _params: chain_notifications::ChainStateFlushedParams,
        _results: chain_notifications::ChainStateFlushedResults,
    ) -> Result<(), capnp::Error> {
        let p = self.process()?;
        if p.engine.borrow().is_some() {
            let _ = p.commit();
        }
        Ok(())
    }
}
