//! One JSON-RPC request body in, one answer out, as Core's ExecuteHTTPRPC does
//! it for both of its front doors: the HTTP server (`http`) and the IPC `Rpc`
//! interface (`Rpc.executeRpc`). Handles -rpcwhitelist, single calls, batches
//! and notifications; who runs a call (and whether it waits in a work queue)
//! is the caller's business.

use std::future::Future;

use serde_json::Value;

use super::protocol::{code, parse_request, reply, Request, RpcError, Version};
use super::whitelist::Whitelist;

/// What to answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A JSON reply with its HTTP status.
    Reply(u16, Value),
    /// Notifications only: nothing to say (HTTP 204).
    NoContent,
    /// -rpcwhitelist refused the user or a method (HTTP 403).
    Forbidden,
    /// The work queue is full (HTTP 503).
    Busy,
}

/// Core's JSONErrorReply: a legacy-shaped (or 2.0) error with its HTTP status.
pub fn error_outcome(e: RpcError, id: Option<Value>, version: Version) -> Outcome {
    let status = e.http_status();
    Outcome::Reply(status, reply(Err(e), id, version))
}

/// Parses a request body; an unparsable one is answered with a parse error.
pub fn parse_body(body: &[u8]) -> Result<Value, Outcome> {
    serde_json::from_slice(body).map_err(|_| {
        error_outcome(
            RpcError::new(code::PARSE_ERROR, "Parse error"),
            Some(Value::Null),
            Version::V1Legacy,
        )
    })
}

/// Executes `value` (an object or a batch) for `user`; `run` executes one
/// call and answers None when the work queue is full.
pub async fn execute<F, Fut>(
    value: Value,
    wallet: Option<String>,
    user: &str,
    whitelist: &Whitelist,
    mut run: F,
) -> Outcome
where
    F: FnMut(Request) -> Fut,
    Fut: Future<Output = Option<Result<Value, RpcError>>>,
{
    if !whitelist.user_may_call(user) {
        tracing::warn!("RPC User {user} not allowed to call any methods");
        return Outcome::Forbidden;
    }
    let refused = |method: &str| {
        tracing::warn!("RPC User {user} not allowed to call method {method}");
        Outcome::Forbidden
    };
    match value {
        Value::Object(_) => {
            let request = match parse_request(&value, wallet, user) {
                Ok(r) => r,
                Err((env, e)) => return error_outcome(e, env.id, env.version),
            };
            if !whitelist.allows(user, &request.method) {
                return refused(&request.method);
            }
            let (id, version, notification) = (
                request.id.clone(),
                request.version,
                request.is_notification(),
            );
            let Some(result) = run(request).await else {
                return Outcome::Busy;
            };
            match (result, version) {
                _ if notification => Outcome::NoContent,
                (Err(e), Version::V1Legacy) => error_outcome(e, id, version),
                (result, _) => Outcome::Reply(200, reply(result, id, version)),
            }
        }
        Value::Array(items) => {
            // A listed user's batch is refused whole if one call is not allowed.
            if whitelist.lists(user) {
                for item in &items {
                    let Some(obj) = item.as_object() else {
                        return error_outcome(
                            RpcError::new(code::INVALID_REQUEST, "Invalid Request object"),
                            Some(Value::Null),
                            Version::V1Legacy,
                        );
                    };
                    let method = obj.get("method").and_then(Value::as_str).unwrap_or("");
                    if !whitelist.allows(user, method) {
                        return refused(method);
                    }
                }
            }
            let mut replies = Vec::new();
            for item in &items {
                match parse_request(item, wallet.clone(), user) {
                    Err((env, _)) if env.is_notification() => {}
                    Err((env, e)) => replies.push(reply(Err(e), env.id, env.version)),
                    Ok(request) => {
                        let (id, version, notification) = (
                            request.id.clone(),
                            request.version,
                            request.is_notification(),
                        );
                        let Some(result) = run(request).await else {
                            return Outcome::Busy;
                        };
                        if !notification {
                            replies.push(reply(result, id, version));
                        }
                    }
                }
            }
            if replies.is_empty() && !items.is_empty() {
                return Outcome::NoContent;
            }
            Outcome::Reply(200, Value::Array(replies))
        }
        _ => error_outcome(
            RpcError::new(code::PARSE_ERROR, "Top-level object parse error"),
            Some(Value::Null),
            Version::V1Legacy,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn run_all(body: &str, whitelist: &Whitelist) -> Outcome {
        let value = match parse_body(body.as_bytes()) {
            Ok(v) => v,
            Err(o) => return o,
        };
        execute(value, None, "u", whitelist, |r: Request| async move {
            Some(match r.method.as_str() {
                "getblockcount" => Ok(json!(7)),
                _ => Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found")),
            })
        })
        .await
    }

    fn run(body: &str) -> Outcome {
        futures::executor::block_on(run_all(body, &Whitelist::default()))
    }

    #[test]
    fn single_calls_batches_and_notifications_answer_as_core() {
        assert_eq!(
            run(r#"{"method":"getblockcount","id":1}"#),
            Outcome::Reply(200, json!({"result": 7, "error": null, "id": 1}))
        );
        assert_eq!(
            run(r#"{"method":"nosuch","id":1}"#),
            Outcome::Reply(
                404,
                json!({"result": null, "error": {"code": -32601, "message": "Method not found"}, "id": 1})
            )
        );
        assert_eq!(
            run(r#"{"jsonrpc":"2.0","method":"getblockcount"}"#),
            Outcome::NoContent
        );
        assert_eq!(
            run(
                r#"[{"jsonrpc":"2.0","method":"getblockcount","id":2},{"jsonrpc":"2.0","method":"x"}]"#
            ),
            Outcome::Reply(200, json!([{"jsonrpc": "2.0", "result": 7, "id": 2}]))
        );
        assert_eq!(run("[]"), Outcome::Reply(200, json!([])));
        assert!(matches!(run("{bad"), Outcome::Reply(500, _)));
        assert!(matches!(run("3"), Outcome::Reply(500, _)));
    }

    #[test]
    fn whitelist_refuses_before_running_anything() {
        let w = Whitelist::new(&["u:getblockcount".into()], None);
        let out = futures::executor::block_on(run_all(r#"{"method":"stop","id":1}"#, &w));
        assert_eq!(out, Outcome::Forbidden);
        let out = futures::executor::block_on(run_all(
            r#"[{"method":"getblockcount","id":1},{"method":"stop","id":2}]"#,
            &w,
        ));
        assert_eq!(out, Outcome::Forbidden);
    }
}
