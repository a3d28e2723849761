//! The `Chain` interface the node worker hands each wallet process, and the
//! `ChainNotifications` it sends them. Reads go to the chain directly;
//! broadcasts and acceptance tests run the node's own `sendrawtransaction`
//! and `testmempoolaccept` methods (same checks, same reject reasons and
//! codes). Notifications: a chain listener and the mempool's feed put events
//! on one queue; `ChainHub` copies each event, in order, to every registered
//! wallet, one queue per wallet so that a slow wallet holds up only itself.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use bitcoin::consensus::serialize;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, Transaction, Txid};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::chain::{Chain, ChainListener};
use crate::ipc::debug::{CallLog, Summary};
use crate::logged_call;
use crate::mempool::Mempool;
use crate::node::wallets::Wallets;
use crate::rpc::http::Dispatcher;
use crate::rpc::Request;
use crate::schema::chain_capnp::{chain, chain_notifications, handler};

/// One change a wallet hears about.
#[derive(Clone, Debug)]
enum Event {
    Connected(i32, BlockHash),
    Disconnected(i32, BlockHash),
    Tip(i32, BlockHash),
    TxAdded(Arc<Transaction>),
}

/// Feeds chain changes from validation threads to the hub's local task.
struct Feed(mpsc::UnboundedSender<Event>);

impl ChainListener for Feed {
    fn block_disconnected(&self, chain: &Chain, block: &bitcoin::Block) {
        // The block stays in the kernel's tree, which knows its height.
        let hash = block.block_hash();
        let height = chain.block_info(&hash).map_or(-1, |i| i.height);
        let _ = self.0.send(Event::Disconnected(height, hash));
    }

    fn block_connected(&self, _chain: &Chain, block: &bitcoin::Block, height: u32) {
        let _ = self
            .0
            .send(Event::Connected(height as i32, block.block_hash()));
    }

    fn tip_updated(&self, chain: &Chain) {
        let tip = chain.tip();
        let _ = self.0.send(Event::Tip(tip.height, tip.hash));
    }
}

/// The registered wallets' notification queues.
#[derive(Default)]
pub struct ChainHub {
    next: std::cell::Cell<u64>,
    wallets: RefCell<BTreeMap<u64, mpsc::UnboundedSender<Event>>>,
}

impl ChainHub {
    /// Starts the hub: follows `chain` and `mempool` until the worker ends.
    pub fn start(chain: &Arc<Chain>, mempool: &Arc<Mempool>) -> Rc<ChainHub> {
        let hub = Rc::new(ChainHub::default());
        let (tx, mut rx) = mpsc::unbounded_channel();
        chain.add_listener(Arc::new(Feed(tx.clone())));
        let mut added = mempool.subscribe();
        let pool = mempool.clone();
        tokio::task::spawn_local(async move {
            loop {
                match added.recv().await {
                    Ok((txid, _)) => {
                        let found = pool.lock().get(&txid).map(|e| e.tx.clone());
                        if let Some(t) = found {
                            if tx.send(Event::TxAdded(t)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("wallet notifications missed {n} mempool additions");
                    }
                    Err(_) => return,
                }
            }
        });
        let h = hub.clone();
        tokio::task::spawn_local(async move {
            while let Some(ev) = rx.recv().await {
                h.wallets
                    .borrow_mut()
                    .retain(|_, q| q.send(ev.clone()).is_ok());
            }
        });
        hub
    }

    /// Registers a wallet's notifications; they flow until the id is removed.
    fn register(&self, client: chain_notifications::Client, log: CallLog) -> u64 {
        let id = self.next.get() + 1;
        self.next.set(id);
        let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
        self.wallets.borrow_mut().insert(id, tx);
        tokio::task::spawn_local(async move {
            while let Some(ev) = rx.recv().await {
                if let Err(e) = notify(&client, &log, ev).await {
                    tracing::debug!(target: "ipc", "wallet notification to {} failed: {e}", log.peer());
                    return;
                }
            }
        });
        id
    }

    fn unregister(&self, id: u64) {
        self.wallets.borrow_mut().remove(&id);
    }
}

async fn notify(
    client: &chain_notifications::Client,
    log: &CallLog,
    ev: Event,
) -> Result<(), capnp::Error> {
    match ev {
        Event::Connected(height, hash) => {
            let mut r = client.block_connected_request();
            r.get().set_height(height);
            r.get().set_hash(hash.as_byte_array());
            logged_call!(log, "ChainNotifications.blockConnected", r)?;
        }
        Event::Disconnected(height, hash) => {
            let mut r = client.block_disconnected_request();
            r.get().set_height(height);
            r.get().set_hash(hash.as_byte_array());
            logged_call!(log, "ChainNotifications.blockDisconnected", r)?;
        }
        Event::Tip(height, hash) => {
            let mut r = client.updated_block_tip_request();
            r.get().set_height(height);
            r.get().set_hash(hash.as_byte_array());
            logged_call!(log, "ChainNotifications.updatedBlockTip", r)?;
        }
        Event::TxAdded(tx) => {
            let mut r = client.transaction_added_to_mempool_request();
            r.get().set_tx(&serialize(&*tx));
            logged_call!(log, "ChainNotifications.transactionAddedToMempool", r)?;
        }
    }
    Ok(())
}

/// Stops one wallet's notifications when released or told to.
struct HandlerServer {
    hub: Rc<ChainHub>,
    id: u64,
}

impl Drop for HandlerServer {
    fn drop(&mut self) {
        self.hub.unregister(self.id);
    }
}

impl handler::Server for HandlerServer {
    async fn disconnect(
        self: Rc<Self>,
        _params: handler::DisconnectParams,
        _results: handler::DisconnectResults,
    ) -> Result<(), capnp::Error> {
        self.hub.unregister(self.id);
        Ok(())
    }
}

/// An attached wallet's registration: released (or its connection gone),
/// the node stops routing RPCs to it.
struct Registration {
    wallets: Weak<Wallets>,
    name: String,
    serial: u64,
}

impl Registration {
    fn release(&self) {
        if let Some(w) = self.wallets.upgrade() {
            w.release(&self.name, self.serial);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.release();
    }
}

impl handler::Server for Registration {
    async fn disconnect(
        self: Rc<Self>,
        _params: handler::DisconnectParams,
        _results: handler::DisconnectResults,
    ) -> Result<(), capnp::Error> {
        self.release();
        Ok(())
    }
}

/// `Chain` for one wallet connection.
pub struct ChainServer {
    pub chain: Arc<Chain>,
    pub mempool: Arc<Mempool>,
    pub dispatcher: Rc<dyn Dispatcher>,
    pub hub: Rc<ChainHub>,
    /// Where `registerWallet` puts an attached wallet.
    pub wallets: Weak<Wallets>,
    pub log: CallLog,
}

fn hash_of(bytes: &[u8]) -> Result<BlockHash, capnp::Error> {
    <[u8; 32]>::try_from(bytes)
        .map(BlockHash::from_byte_array)
        .map_err(|_| capnp::Error::failed("a block hash is 32 bytes".into()))
}

impl ChainServer {
    /// Runs one of the node's RPC methods, as the wallet's request would.
    async fn call(&self, method: &str, params: Vec<Value>) -> Result<Value, crate::rpc::RpcError> {
        self.dispatcher
            .call(Request::internal(method, params, None))
            .await
    }
}

impl chain::Server for ChainServer {
    async fn get_tip(
        self: Rc<Self>,
        params: chain::GetTipParams,
        mut results: chain::GetTipResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Chain.getTip", &params.get()?);
        let tip = self.chain.tip();
        results.get().set_height(tip.height);
        results.get().set_hash(tip.hash.as_byte_array());
        self.log
            .server_response(seq, "Chain.getTip", &results.get().into_reader());
        Ok(())
    }

    async fn get_block_hash(
        self: Rc<Self>,
        params: chain::GetBlockHashParams,
        mut results: chain::GetBlockHashResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let seq = self.log.server_request("Chain.getBlockHash", &p);
        if let Some(info) = self.chain.block_at(p.get_height()) {
            results.get().set_hash(info.hash.as_byte_array());
        }
        self.log
            .server_response(seq, "Chain.getBlockHash", &results.get().into_reader());
        Ok(())
    }

    async fn get_block(
        self: Rc<Self>,
        params: chain::GetBlockParams,
        mut results: chain::GetBlockResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let seq = self.log.server_request("Chain.getBlock", &p);
        if let Some(info) = self.chain.block_at(p.get_height()) {
            if let Ok(block) = self.chain.read_block(&info.hash) {
                results.get().set_block(&serialize(&block));
                results.get().set_hash(info.hash.as_byte_array());
            }
        }
        self.log.server_response(
            seq,
            "Chain.getBlock",
            &format_args!(
                "(block: <{} bytes>)",
                results.get().reborrow_as_reader().get_block()?.len()
            ),
        );
        Ok(())
    }

    async fn find_block(
        self: Rc<Self>,
        params: chain::FindBlockParams,
        mut results: chain::FindBlockResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let seq = self.log.server_request("Chain.findBlock", &p);
        let hash = hash_of(p.get_hash()?)?;
        match self.chain.block_info(&hash) {
            Some(info) => {
                results.get().set_height(info.height);
                results.get().set_time(info.header.time as i64);
                results.get().set_in_active_chain(info.in_active_chain);
            }
            None => results.get().set_height(-1),
        }
        self.log
            .server_response(seq, "Chain.findBlock", &results.get().into_reader());
        Ok(())
    }

    async fn find_first_block_with_time(
        self: Rc<Self>,
        params: chain::FindFirstBlockWithTimeParams,
        mut results: chain::FindFirstBlockWithTimeResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let seq = self.log.server_request("Chain.findFirstBlockWithTime", &p);
        let time = p.get_time();
        // Core's FindEarliestAtLeast: the first block whose time or an
        // ancestor's reaches `time`.
        results
            .get()
            .set_height(self.chain.height_at_time(time).unwrap_or(-1));
        self.log.server_response(
            seq,
            "Chain.findFirstBlockWithTime",
            &results.get().into_reader(),
        );
        Ok(())
    }

    async fn broadcast_transaction(
        self: Rc<Self>,
        params: chain::BroadcastTransactionParams,
        mut results: chain::BroadcastTransactionResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let seq = self.log.server_request("Chain.broadcastTransaction", &p);
        let hex = bitcoin::hex::DisplayHex::to_lower_hex_string(p.get_tx()?);
        // sat/kvB to the BTC/kvB sendrawtransaction takes.
        let max_rate = Value::from(p.get_max_fee_rate() as f64 / 1e8);
        if let Err(e) = self
            .call("sendrawtransaction", vec![Value::from(hex), max_rate])
            .await
        {
            results.get().set_error(&e.message[..]);
            results.get().set_error_code(e.code);
        }
        self.log.server_response(
            seq,
            "Chain.broadcastTransaction",
            &results.get().into_reader(),
        );
        Ok(())
    }

    async fn test_mempool_accept(
        self: Rc<Self>,
        params: chain::TestMempoolAcceptParams,
        mut results: chain::TestMempoolAcceptResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let seq = self.log.server_request("Chain.testMempoolAccept", &p);
        let hex = bitcoin::hex::DisplayHex::to_lower_hex_string(p.get_tx()?);
        let answer = self
            .call(
                "testmempoolaccept",
                vec![Value::Array(vec![Value::from(hex)]), Value::from(0)],
            )
            .await;
        match answer {
            Ok(v) => {
                let first = &v[0];
                results
                    .get()
                    .set_allowed(first["allowed"].as_bool().unwrap_or(false));
                results
                    .get()
                    .set_reason(first["reject-reason"].as_str().unwrap_or(""));
            }
            Err(e) => results.get().set_reason(&e.message[..]),
        }
        self.log
            .server_response(seq, "Chain.testMempoolAccept", &results.get().into_reader());
        Ok(())
    }

    async fn fee_rates(
        self: Rc<Self>,
        params: chain::FeeRatesParams,
        mut results: chain::FeeRatesResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Chain.feeRates", &params.get()?);
        let opts = self.mempool.options();
        let mut r = results.get();
        r.set_min_relay(opts.min_relay_feerate.0);
        r.set_mempool_min(self.mempool.min_fee().max(opts.min_relay_feerate.0));
        r.set_incremental(opts.incremental_relay_feerate.0);
        r.set_dust_relay(opts.dust_relay_feerate.0);
        self.log
            .server_response(seq, "Chain.feeRates", &results.get().into_reader());
        Ok(())
    }

    async fn mempool_transactions(
        self: Rc<Self>,
        params: chain::MempoolTransactionsParams,
        mut results: chain::MempoolTransactionsResults,
    ) -> Result<(), capnp::Error> {
        let seq = self
            .log
            .server_request("Chain.mempoolTransactions", &params.get()?);
        let txs: Vec<Vec<u8>> = self
            .mempool
            .lock()
            .entries_in_order()
            .iter()
            .map(|e| serialize(&*e.tx))
            .collect();
        let mut list = results.get().init_txs(txs.len() as u32);
        for (i, t) in txs.iter().enumerate() {
            list.set(i as u32, t);
        }
        self.log.server_response(
            seq,
            "Chain.mempoolTransactions",
            &format_args!("(txs: <{} transactions>)", txs.len()),
        );
        Ok(())
    }

    async fn handle_notifications(
        self: Rc<Self>,
        params: chain::HandleNotificationsParams,
        mut results: chain::HandleNotificationsResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let seq = self.log.server_request("Chain.handleNotifications", &p);
        let id = self.hub.register(p.get_notifications()?, self.log.clone());
        let h: handler::Client = capnp_rpc::new_client(HandlerServer {
            hub: self.hub.clone(),
            id,
        });
        results.get().set_handler(h);
        self.log.server_response(
            seq,
            "Chain.handleNotifications",
            &results.get().into_reader(),
        );
        Ok(())
    }

    async fn is_in_mempool(
        self: Rc<Self>,
        params: chain::IsInMempoolParams,
        mut results: chain::IsInMempoolResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let seq = self.log.server_request("Chain.isInMempool", &p);
        let txid = <[u8; 32]>::try_from(p.get_txid()?)
            .map(Txid::from_byte_array)
            .map_err(|_| capnp::Error::failed("a txid is 32 bytes".into()))?;
        results
            .get()
            .set_in_mempool(self.mempool.lock().get(&txid).is_some());
        self.log
            .server_response(seq, "Chain.isInMempool", &results.get().into_reader());
        Ok(())
    }

    async fn register_wallet(
        self: Rc<Self>,
        params: chain::RegisterWalletParams,
        mut results: chain::RegisterWalletResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let pid = p.get_pid();
        let seq = self.log.server_request(
            "Chain.registerWallet",
            &Summary(format_args!("(pid: {pid})")),
        );
        let wallet = p.get_wallet()?;
        let outcome = async {
            let wallets = self
                .wallets
                .upgrade()
                .ok_or_else(|| capnp::Error::failed("the node is shutting down".into()))?;
            let r = logged_call!(self.log, "Wallet.getName", wallet.get_name_request())?;
            let name = r
                .get()?
                .get_name()?
                .to_string()
                .map_err(|e| capnp::Error::failed(e.to_string()))?;
            let serial = wallets
                .register_attached(&name, pid, wallet, self.log.clone())
                .map_err(|e| capnp::Error::failed(e.message))?;
            Ok::<_, capnp::Error>(Registration {
                wallets: self.wallets.clone(),
                name,
                serial,
            })
        }
        .await;
        match outcome {
            Ok(registration) => {
                results
                    .get()
                    .set_handler(capnp_rpc::new_client(registration));
                self.log
                    .server_response(seq, "Chain.registerWallet", &results.get().into_reader());
                Ok(())
            }
            Err(e) => {
                self.log.server_error(seq, "Chain.registerWallet", &e);
                Err(e)
            }
        }
    }
}
