//! `Node`: what bitcoin-gui asks of the node worker (`Init.makeNode`). Each
//! query runs the RPC method that answers the same question (so the GUI sees
//! exactly what `bitcoin-cli` sees) and returns it as typed fields; console
//! commands are converted to JSON from the methods' parameter types, as
//! bitcoin-cli converts its arguments. Notifications come from the chain's
//! tip watch and a once-a-second look at headers, peers and wallets.

use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::text;
use crate::chain::Chain;
use crate::ipc::debug::{CallLog, Redacted, Summary};
use crate::node::methods::{self, Ty};
use crate::node::wallets::Wallets;
use crate::rpc::http::Dispatcher;
use crate::rpc::protocol::Request;
use crate::rpc::RpcError;
use crate::schema::chain_capnp::handler;
use crate::schema::node_capnp::{node, node_notifications};
use crate::schema::sandbox_capnp::status as sandbox_status;

/// How often the notification task looks at headers, peers and wallets.
const POLL: Duration = Duration::from_secs(1);

/// Serves `Node` on one connection.
pub struct NodeServer {
    pub log: CallLog,
    pub chain: Arc<Chain>,
    pub dispatcher: Rc<dyn Dispatcher>,
    /// None with -disablewallet.
    pub wallets: Option<Weak<Wallets>>,
    /// `<datadir>/<chain>`.
    pub net_dir: std::path::PathBuf,
    /// Unix time the worker started serving.
    pub started: i64,
    /// Turns true when the worker begins to shut down.
    pub closing: tokio::sync::watch::Receiver<bool>,
    /// Each method's parameter types, for console conversion.
    pub arg_types: Rc<std::collections::HashMap<&'static str, Vec<Ty>>>,
}

/// Each RPC method's parameter types, by name.
pub fn arg_types() -> std::collections::HashMap<&'static str, Vec<Ty>> {
    methods::table()
        .into_iter()
        .map(|m| (m.name, m.args.iter().map(|a| a.1).collect()))
        .collect()
}

/// A console argument as JSON, the way bitcoin-cli converts it: string
/// parameters stay text, the others are parsed as JSON (numbers, booleans,
/// objects, arrays); parameters that take either fall back to text.
pub fn convert_arg(ty: Option<Ty>, text: &str) -> Result<Value, RpcError> {
    match ty {
        Some(Ty::Str) | Some(Ty::Hex) => Ok(Value::String(text.to_string())),
        Some(Ty::NumOrStr) | Some(Ty::Any) | None => {
            Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())))
        }
        Some(_) => serde_json::from_str(text).map_err(|_| {
            RpcError::new(
                crate::rpc::protocol::code::MISC_ERROR,
                format!("Error parsing JSON: {text}"),
            )
        }),
    }
}

fn failed(e: RpcError) -> capnp::Error {
    capnp::Error::failed(format!("{} (code {})", e.message, e.code))
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn int_of(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn uint_of(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Runs one RPC method of the node's table, as the console or a query.
async fn call(
    dispatcher: &Rc<dyn Dispatcher>,
    method: &str,
    params: Vec<Value>,
    wallet: Option<String>,
) -> Result<Value, RpcError> {
    dispatcher
        .call(Request::internal(method, params, wallet))
        .await
}

impl NodeServer {
    async fn query(&self, method: &str) -> Result<Value, capnp::Error> {
        call(&self.dispatcher, method, Vec::new(), None)
            .await
            .map_err(failed)
    }

    /// `method`'s answer, or null when it fails (its fields then read as 0).
    async fn query_or_null(&self, method: &str) -> Value {
        self.query(method).await.unwrap_or(Value::Null)
    }

    fn wallets(&self) -> Option<Rc<Wallets>> {
        self.wallets.as_ref().and_then(Weak::upgrade)
    }
}

impl node::Server for NodeServer {
    async fn get_status(
        self: Rc<Self>,
        _params: node::GetStatusParams,
        mut results: node::GetStatusResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Node.getStatus", &Summary("()"));
        let chain = self.query("getblockchaininfo").await?;
        // A node without P2P (or a mempool still loading) still has a status.
        let net = self.query_or_null("getnetworkinfo").await;
        let totals = self.query_or_null("getnettotals").await;
        let pool = self.query_or_null("getmempoolinfo").await;
        let mut s = results.get().init_status();
        s.set_chain(&str_of(&chain, "chain")[..]);
        s.set_blocks(int_of(&chain, "blocks") as i32);
        s.set_headers(int_of(&chain, "headers") as i32);
        s.set_best_block_hash(&str_of(&chain, "bestblockhash")[..]);
        s.set_tip_time(int_of(&chain, "time"));
        s.set_verification_progress(
            chain
                .get("verificationprogress")
                .and_then(Value::as_f64)
                .unwrap_or(0.0),
        );
        s.set_initial_block_download(
            chain
                .get("initialblockdownload")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        );
        s.set_connections_in(uint_of(&net, "connections_in") as u32);
        s.set_connections_out(uint_of(&net, "connections_out") as u32);
        s.set_network_active(
            net.get("networkactive")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        );
        s.set_bytes_recv(uint_of(&totals, "totalbytesrecv"));
        s.set_bytes_sent(uint_of(&totals, "totalbytessent"));
        s.set_mempool_size(uint_of(&pool, "size"));
        let warnings: Vec<&str> = chain
            .get("warnings")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        s.set_warnings(&warnings.join("; ")[..]);
        self.log
            .server_response(seq, "Node.getStatus", &results.get().into_reader());
        Ok(())
    }

    async fn get_peers(
        self: Rc<Self>,
        _params: node::GetPeersParams,
        mut results: node::GetPeersResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Node.getPeers", &Summary("()"));
        let peers = self.query("getpeerinfo").await?;
        let peers = peers.as_array().cloned().unwrap_or_default();
        let mut list = results.get().init_peers(peers.len() as u32);
        for (i, p) in peers.iter().enumerate() {
            let mut out = list.reborrow().get(i as u32);
            out.set_id(int_of(p, "id"));
            out.set_address(&str_of(p, "addr")[..]);
            out.set_subversion(&str_of(p, "subver")[..]);
            out.set_version(int_of(p, "version") as i32);
            out.set_inbound(p.get("inbound").and_then(Value::as_bool).unwrap_or(false));
            out.set_connection_type(&str_of(p, "connection_type")[..]);
            out.set_transport(&str_of(p, "transport_protocol_type")[..]);
            out.set_ping_time(p.get("pingtime").and_then(Value::as_f64).unwrap_or(-1.0));
            out.set_bytes_sent(uint_of(p, "bytessent"));
            out.set_bytes_recv(uint_of(p, "bytesrecv"));
            out.set_synced_blocks(int_of(p, "synced_blocks") as i32);
            out.set_connected_time(int_of(p, "conntime"));
            let services: Vec<&str> = p
                .get("servicesnames")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            out.set_services(&services.join(" ")[..]);
        }
        self.log.server_response(
            seq,
            "Node.getPeers",
            &format_args!("(peers: <{} entries>)", peers.len()),
        );
        Ok(())
    }

    async fn list_banned(
        self: Rc<Self>,
        _params: node::ListBannedParams,
        mut results: node::ListBannedResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Node.listBanned", &Summary("()"));
        let bans = self.query("listbanned").await?;
        let bans = bans.as_array().cloned().unwrap_or_default();
        let mut list = results.get().init_bans(bans.len() as u32);
        for (i, b) in bans.iter().enumerate() {
            let mut out = list.reborrow().get(i as u32);
            out.set_subnet(&str_of(b, "address")[..]);
            out.set_ban_created(int_of(b, "ban_created"));
            out.set_banned_until(int_of(b, "banned_until"));
        }
        self.log
            .server_response(seq, "Node.listBanned", &results.get().into_reader());
        Ok(())
    }

    async fn execute_rpc(
        self: Rc<Self>,
        params: node::ExecuteRpcParams,
        mut results: node::ExecuteRpcResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let method = text(p.get_method())?;
        let wallet = text(p.get_wallet())?;
        let mut args = Vec::new();
        for a in p.get_args()?.iter() {
            args.push(text(a)?);
        }
        // The method's name is logged; its arguments may carry passphrases.
        let seq = self.log.server_request(
            "Node.executeRpc",
            &Redacted(
                format_args!(
                    "(method: {method:?}, args: <{} arguments>, wallet: {wallet:?})",
                    args.len()
                ),
                &p,
            ),
        );
        let types = self.arg_types.get(method.as_str());
        let converted: Result<Vec<Value>, RpcError> = args
            .iter()
            .enumerate()
            .map(|(i, a)| convert_arg(types.and_then(|t| t.get(i).copied()), a))
            .collect();
        let wallet = (!wallet.is_empty()).then_some(wallet);
        let outcome = match converted {
            Ok(values) => call(&self.dispatcher, &method, values, wallet).await,
            Err(e) => Err(e),
        };
        let mut r = results.get();
        let size = match outcome {
            Ok(v) => {
                let text = v.to_string();
                r.set_result(&text[..]);
                text.len()
            }
            Err(e) => {
                r.set_failed(true);
                r.set_code(e.code);
                r.set_message(&e.message[..]);
                0
            }
        };
        self.log.server_response(
            seq,
            "Node.executeRpc",
            &format_args!("(failed: {}, result: <{size} bytes>)", r.get_failed()),
        );
        Ok(())
    }

    async fn list_wallets(
        self: Rc<Self>,
        _params: node::ListWalletsParams,
        mut results: node::ListWalletsResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Node.listWallets", &Summary("()"));
        let names = self.wallets().map(|w| w.names()).unwrap_or_default();
        let mut list = results.get().init_names(names.len() as u32);
        for (i, n) in names.iter().enumerate() {
            list.set(i as u32, &n[..]);
        }
        self.log
            .server_response(seq, "Node.listWallets", &results.get().into_reader());
        Ok(())
    }

    async fn get_wallet(
        self: Rc<Self>,
        params: node::GetWalletParams,
        mut results: node::GetWalletResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let seq = self.log.server_request("Node.getWallet", &p);
        let name = text(p.get_name())?;
        let client = self.wallets().and_then(|w| w.client(&name));
        match client {
            Some(c) => results.get().set_wallet(c),
            None => {
                let e = capnp::Error::failed(format!("wallet \"{name}\" is not loaded"));
                self.log.server_error(seq, "Node.getWallet", &e);
                return Err(e);
            }
        }
        self.log
            .server_response(seq, "Node.getWallet", &results.get().into_reader());
        Ok(())
    }

    async fn handle_notifications(
        self: Rc<Self>,
        params: node::HandleNotificationsParams,
        mut results: node::HandleNotificationsResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let seq = self.log.server_request("Node.handleNotifications", &p);
        let task = tokio::task::spawn_local(notify(
            p.get_notifications()?,
            self.chain.clone(),
            self.dispatcher.clone(),
            self.wallets.clone(),
            self.closing.clone(),
        ));
        let handler: handler::Client = capnp_rpc::new_client(Subscription(task.abort_handle()));
        results.get().set_handler(handler);
        self.log.server_response(
            seq,
            "Node.handleNotifications",
            &results.get().into_reader(),
        );
        Ok(())
    }

    async fn shutdown(
        self: Rc<Self>,
        _params: node::ShutdownParams,
        _results: node::ShutdownResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Node.shutdown", &Summary("()"));
        // The same path as the `stop` RPC: the broker stops the process set.
        self.query("stop").await?;
        self.log.server_response(seq, "Node.shutdown", &"()");
        Ok(())
    }

    async fn get_info(
        self: Rc<Self>,
        _params: node::GetInfoParams,
        mut results: node::GetInfoResults,
    ) -> Result<(), capnp::Error> {
        let seq = self.log.server_request("Node.getInfo", &Summary("()"));
        let net = self.query_or_null("getnetworkinfo").await;
        // Each wallet process reports its own sandbox.
        let mut wallets = Vec::new();
        if let Some(w) = self.wallets() {
            for name in w.names() {
                if let Some(c) = w.client(&name) {
                    wallets.push((name, c));
                }
            }
        }
        let mut statuses = Vec::new();
        for (name, client) in wallets {
            let answer = client.get_sandbox_request().send().promise.await;
            match answer.and_then(|a| capnp_message(a.get()?.get_status()?)) {
                Ok(m) => statuses.push(m),
                Err(e) => tracing::debug!("wallet \"{name}\" did not report its sandbox: {e}"),
            }
        }
        let mut info = results.get().init_info();
        info.set_version(env!("CARGO_PKG_VERSION"));
        info.set_user_agent(&str_of(&net, "subversion")[..]);
        info.set_datadir(&self.net_dir.display().to_string()[..]);
        info.set_startup_time(self.started);
        let mut list = info.init_processes(1 + statuses.len() as u32);
        crate::sandbox::write_status(
            list.reborrow().get(0),
            "node worker",
            std::process::id() as i32,
            crate::sandbox::in_force(),
        );
        for (i, m) in statuses.iter().enumerate() {
            let status: sandbox_status::Reader<'_> = m.get_root_as_reader()?;
            list.set_with_caveats(1 + i as u32, status)?;
        }
        self.log
            .server_response(seq, "Node.getInfo", &results.get().into_reader());
        Ok(())
    }
}

/// A copy of a wallet's status, to outlive its answer.
fn capnp_message(
    status: sandbox_status::Reader<'_>,
) -> capnp::Result<capnp::message::Builder<capnp::message::HeapAllocator>> {
    let mut message = capnp::message::Builder::new_default();
    message.set_root(status)?;
    Ok(message)
}

/// Stops a subscriber's notification task when the GUI releases its handler.
struct Subscription(tokio::task::AbortHandle);

impl Drop for Subscription {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl handler::Server for Subscription {
    async fn disconnect(
        self: Rc<Self>,
        _params: handler::DisconnectParams,
        _results: handler::DisconnectResults,
    ) -> Result<(), capnp::Error> {
        self.0.abort();
        Ok(())
    }
}

/// What the notification task last told the subscriber.
#[derive(Default, PartialEq)]
struct Seen {
    headers: i32,
    peers: u32,
    wallets: Vec<String>,
}

/// Sends `to` the node's changes until the subscriber goes away or the
/// worker shuts down.
async fn notify(
    to: node_notifications::Client,
    chain: Arc<Chain>,
    dispatcher: Rc<dyn Dispatcher>,
    wallets: Option<Weak<Wallets>>,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let mut tip = chain.watch_tip();
    let mut seen = Seen::default();
    let mut poll = tokio::time::interval(POLL);
    loop {
        let sent = tokio::select! {
            changed = tip.changed() => {
                if changed.is_err() {
                    return;
                }
                let t = *tip.borrow_and_update();
                let info = chain.block_info(&t.hash);
                let mut r = to.tip_changed_request();
                r.get().set_height(t.height);
                r.get().set_hash(&t.hash.to_string()[..]);
                r.get().set_time(info.map(|i| i64::from(i.header.time)).unwrap_or(0));
                r.get().set_verification_progress(chain.verification_progress());
                r.send().promise.await.map(drop)
            }
            _ = poll.tick() => poll_changes(&to, &chain, &dispatcher, &wallets, &mut seen).await,
            _ = closing.wait_for(|c| *c) => {
                let _ = to.shutdown_request().send().promise.await;
                return;
            }
        };
        if sent.is_err() {
            // The subscriber is gone.
            return;
        }
    }
}

/// Sends what changed since `seen` among headers, peers and wallets.
async fn poll_changes(
    to: &node_notifications::Client,
    chain: &Arc<Chain>,
    dispatcher: &Rc<dyn Dispatcher>,
    wallets: &Option<Weak<Wallets>>,
    seen: &mut Seen,
) -> Result<(), capnp::Error> {
    let headers = chain.best_header().map(|h| h.height).unwrap_or(-1);
    if headers != seen.headers {
        seen.headers = headers;
        let mut r = to.header_tip_changed_request();
        r.get().set_height(headers);
        r.send().promise.await?;
    }
    let peers = call(dispatcher, "getconnectioncount", Vec::new(), None)
        .await
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(0) as u32;
    if peers != seen.peers {
        seen.peers = peers;
        let mut r = to.peers_changed_request();
        r.get().set_count(peers);
        r.send().promise.await?;
    }
    let names = wallets
        .as_ref()
        .and_then(Weak::upgrade)
        .map(|w| w.names())
        .unwrap_or_default();
    let changes: Vec<(String, bool)> = names
        .iter()
        .filter(|n| !seen.wallets.contains(n))
        .map(|n| (n.clone(), true))
        .chain(
            seen.wallets
                .iter()
                .filter(|n| !names.contains(n))
                .map(|n| (n.clone(), false)),
        )
        .collect();
    seen.wallets = names;
    for (name, loaded) in changes {
        let mut r = to.wallet_changed_request();
        r.get().set_name(&name[..]);
        r.get().set_loaded(loaded);
        r.send().promise.await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_arguments_convert_by_parameter_type() {
        let types = arg_types();
        let getblock = &types["getblock"];
        // blockhash is text, verbosity JSON.
        assert_eq!(
            convert_arg(getblock.first().copied(), "00ab").unwrap(),
            Value::String("00ab".into())
        );
        assert_eq!(
            convert_arg(getblock.get(1).copied(), "2").unwrap(),
            Value::from(2)
        );
        // A number where a number belongs, and a clear error otherwise.
        let e = convert_arg(Some(Ty::Num), "ten").unwrap_err();
        assert_eq!(e.message, "Error parsing JSON: ten");
        // A label that looks like a number stays text.
        assert_eq!(
            convert_arg(Some(Ty::Str), "123").unwrap(),
            Value::String("123".into())
        );
        // Height or hash: JSON when it parses, text otherwise.
        assert_eq!(
            convert_arg(Some(Ty::NumOrStr), "5").unwrap(),
            Value::from(5)
        );
        assert_eq!(
            convert_arg(Some(Ty::NumOrStr), "abc").unwrap(),
            Value::String("abc".into())
        );
    }
}
