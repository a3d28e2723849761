//! `Rpc.executeRpc`: one JSON-RPC request (object or batch) as text, executed
//! exactly as the HTTP server executes a body (same methods, -rpcwhitelist
//! for the given user, `uri` choosing the wallet), answered with the reply as
//! text (`null` where HTTP would answer 204 or 403, as Core does). The debug
//! log shows sizes only: requests and replies may carry secrets.

use std::rc::Rc;

use futures::FutureExt;

use crate::ipc::debug::{CallLog, Redacted};
use crate::rpc::exec::{self, Outcome};
use crate::rpc::http::{wallet_of, Dispatcher};
use crate::rpc::whitelist::Whitelist;
use crate::schema::rpc_capnp::rpc;

use super::text;

pub struct RpcServer {
    pub log: CallLog,
    pub dispatcher: Rc<dyn Dispatcher>,
    pub whitelist: Rc<Whitelist>,
}

impl rpc::Server for RpcServer {
    async fn execute_rpc(
        self: Rc<Self>,
        params: rpc::ExecuteRpcParams,
        mut results: rpc::ExecuteRpcResults,
    ) -> Result<(), capnp::Error> {
        let p = params.get()?;
        let (request, uri, user) = (
            text(p.get_request())?,
            text(p.get_uri())?,
            text(p.get_user())?,
        );
        let seq = self.log.server_request(
            "Rpc.executeRpc",
            &Redacted(
                format_args!(
                    "(request: <{} bytes>, uri: {uri:?}, user: {user:?})",
                    request.len()
                ),
                &p,
            ),
        );
        // Any other path is no wallet, as Core's executeRpc does not check it.
        let wallet = wallet_of(&uri).flatten();
        let outcome = match exec::parse_body(request.as_bytes()) {
            Err(o) => o,
            Ok(value) => {
                let dispatcher = self.dispatcher.clone();
                exec::execute(value, wallet, &user, &self.whitelist, move |r| {
                    dispatcher.call(r).map(Some)
                })
                .await
            }
        };
        let reply = match outcome {
            Outcome::Reply(_, v) => v.to_string(),
            Outcome::NoContent | Outcome::Forbidden | Outcome::Busy => "null".to_string(),
        };
        results.get().set_result(&reply[..]);
        self.log.server_response(
            seq,
            "Rpc.executeRpc",
            &format_args!("(result: <{} bytes>)", reply.len()),
        );
        Ok(())
    }
}
