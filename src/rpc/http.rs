//! The HTTP side of Core's RPC server (httpserver.cpp + httprpc.cpp): HTTP/1.1
//! with keep-alive on listening sockets someone else bound (the broker),
//! -rpcallowip (403), POST only (405), `/` and `/wallet/<name>` only (404),
//! Basic authentication (401 with Core's realm, 250 ms pause on a wrong
//! password), a bounded work queue (503) in front of -rpcthreads concurrent
//! calls, and Core's status codes and bodies for single calls, notifications
//! and batches. Runs on a current-thread runtime inside a `LocalSet`.

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::LocalBoxFuture;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::auth::Auth;
use super::protocol::{code, parse_request, reply, Request, RpcError, Version};
use super::whitelist::Whitelist;

/// What executes calls (the method table lives elsewhere).
pub trait Dispatcher: 'static {
    fn call(&self, req: Request) -> LocalBoxFuture<'static, Result<Value, RpcError>>;
}

/// Core's MAX_SIZE: the largest request body accepted.
pub const MAX_BODY: usize = 0x0200_0000;
/// Core's DEFAULT_HTTP_WORKQUEUE.
pub const DEFAULT_WORK_QUEUE: usize = 64;
/// Core's DEFAULT_HTTP_THREADS.
pub const DEFAULT_THREADS: usize = 16;
const WWW_AUTHENTICATE: &str = "Basic realm=\"jsonrpc\"";

/// A -rpcallowip entry: address with prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    net: IpAddr,
    prefix: u8,
}

/// A malformed -rpcallowip value.
#[derive(Debug, thiserror::Error)]
#[error("Invalid -rpcallowip subnet specification: {0}. Valid values are a single IP (e.g. 1.2.3.4), a network/netmask (e.g. 1.2.3.4/255.255.255.0), a network/CIDR (e.g. 1.2.3.4/24), all ipv4 (0.0.0.0/0), or all ipv6 (::/0).")]
pub struct BadSubnet(pub String);

impl Subnet {
    /// `ip`, `ip/cidr` or `ip/netmask`.
    pub fn parse(s: &str) -> Result<Subnet, BadSubnet> {
        let bad = || BadSubnet(s.to_string());
        let (ip, mask) = match s.split_once('/') {
            Some((ip, m)) => (ip, Some(m)),
            None => (s, None),
        };
        // Core's LookupHost takes IPv6 in brackets too.
        let ip = ip
            .strip_prefix('[')
            .and_then(|i| i.strip_suffix(']'))
            .unwrap_or(ip);
        let net: IpAddr = ip.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match mask {
            None => max,
            Some(m) => match m.parse::<u8>() {
                Ok(p) if p <= max => p,
                Ok(_) => return Err(bad()),
                Err(_) => {
                    let mask: IpAddr = m.parse().map_err(|_| bad())?;
                    let bits = match mask {
                        IpAddr::V4(m) => u32::from(m).leading_ones() as u8,
                        IpAddr::V6(m) => u128::from(m).leading_ones() as u8,
                    };
                    if mask.is_ipv4() != net.is_ipv4() {
                        return Err(bad());
                    }
                    bits
                }
            },
        };
        Ok(Subnet { net, prefix })
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Server settings from -rpcallowip, -rpcworkqueue, -rpcthreads and the credentials.
pub struct ServerOptions {
    /// Besides these, 127.0.0.0/8 and ::1 are always allowed (as Core).
    pub allow: Vec<Subnet>,
    pub work_queue: usize,
    pub threads: usize,
    pub auth: Auth,
    pub whitelist: Whitelist,
}

struct State {
    opts: ServerOptions,
    dispatcher: Rc<dyn Dispatcher>,
    slots: tokio::sync::Semaphore,
    waiting: Cell<usize>,
}

type Reply = Response<Full<Bytes>>;

fn respond(status: u16, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r
}

fn json_reply(status: u16, v: &Value) -> Reply {
    let mut text = v.to_string();
    text.push('\n');
    let mut r = respond(status, text);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Core's JSONErrorReply: a legacy-shaped (or 2.0) error with its HTTP status.
fn error_reply(e: RpcError, id: Option<Value>, version: Version) -> Reply {
    let status = e.http_status();
    json_reply(status, &reply(Err(e), id, version))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl State {
    fn allowed(&self, ip: IpAddr) -> bool {
        ip.to_canonical().is_loopback() || self.opts.allow.iter().any(|s| s.contains(ip))
    }

    /// One call through the work queue.
    async fn execute(&self, req: Request) -> Result<Result<Value, RpcError>, ()> {
        if self.waiting.get() >= self.opts.work_queue {
            return Err(());
        }
        self.waiting.set(self.waiting.get() + 1);
        let permit = self.slots.acquire().await;
        self.waiting.set(self.waiting.get() - 1);
        let _permit = permit.map_err(|_| ())?;
        tracing::debug!(target: "rpc", "ThreadRPCServer method={} user={}", req.method.escape_debug(), req.user);
        Ok(self.dispatcher.call(req).await)
    }
}

/// One call's outcome with the id and version its reply needs.
type Answer = (Result<Value, RpcError>, Option<Value>, Version);

/// Runs one parsed call: None for a notification (executed, not answered),
/// Err when the work queue is full.
async fn run_one(state: &State, request: Request) -> Result<Option<Answer>, ()> {
    let (id, version, notification) = (
        request.id.clone(),
        request.version,
        request.is_notification(),
    );
    let result = state.execute(request).await?;
    Ok((!notification).then_some((result, id, version)))
}

async fn handle(
    state: Rc<State>,
    peer: SocketAddr,
    req: hyper::Request<Incoming>,
) -> Result<Reply, Infallible> {
    if !state.allowed(peer.ip()) {
        tracing::debug!(target: "http", "HTTP request from {peer} rejected: Client network is not allowed RPC access");
        return Ok(respond(403, ""));
    }
    let path = req.uri().path().to_string();
    let wallet = match path.as_str() {
        "/" => None,
        p if p.starts_with("/wallet/") => Some(percent_decode(&p["/wallet/".len()..])),
        _ => return Ok(respond(404, "")),
    };
    if req.method() != Method::POST {
        return Ok(respond(405, "JSONRPC server handles only POST requests"));
    }
    let header = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let unauthorized = || {
        let mut r = respond(401, "");
        r.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static(WWW_AUTHENTICATE),
        );
        r
    };
    let Some(header) = header else {
        return Ok(unauthorized());
    };
    let Some(user) = state.opts.auth.check(&header) else {
        tracing::warn!("ThreadRPCServer incorrect password attempt from {peer}");
        tokio::time::sleep(Duration::from_millis(250)).await;
        return Ok(unauthorized());
    };
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(respond(413, "")),
    };
    let parse_error = |m: &str| RpcError::new(code::PARSE_ERROR, m);
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => {
            return Ok(error_reply(
                parse_error("Parse error"),
                Some(Value::Null),
                Version::V1Legacy,
            ))
        }
    };
    let busy = || respond(503, "Work queue depth exceeded");
    let whitelist = &state.opts.whitelist;
    if !whitelist.user_may_call(&user) {
        tracing::warn!("RPC User {user} not allowed to call any methods");
        return Ok(respond(403, ""));
    }
    let refused = |method: &str| {
        tracing::warn!("RPC User {user} not allowed to call method {method}");
        respond(403, "")
    };
    match value {
        Value::Object(_) => {
            let request = match parse_request(&value, wallet, &user) {
                Ok(r) => r,
                Err((env, e)) => return Ok(error_reply(e, env.id, env.version)),
            };
            if !whitelist.allows(&user, &request.method) {
                return Ok(refused(&request.method));
            }
            let (result, id, version) = match run_one(&state, request).await {
                Err(()) => return Ok(busy()),
                Ok(None) => return Ok(respond(204, "")),
                Ok(Some(answer)) => answer,
            };
            match (result, version) {
                (Err(e), Version::V1Legacy) => Ok(error_reply(e, id, version)),
                (result, _) => Ok(json_reply(200, &reply(result, id, version))),
            }
        }
        Value::Array(items) => {
            // A listed user's batch is refused whole if one call is not allowed.
            if whitelist.lists(&user) {
                for item in &items {
                    let Some(obj) = item.as_object() else {
                        return Ok(error_reply(
                            RpcError::new(code::INVALID_REQUEST, "Invalid Request object"),
                            Some(Value::Null),
                            Version::V1Legacy,
                        ));
                    };
                    let method = obj.get("method").and_then(Value::as_str).unwrap_or("");
                    if !whitelist.allows(&user, method) {
                        return Ok(refused(method));
                    }
                }
            }
            let mut replies = Vec::new();
            for item in &items {
                match parse_request(item, wallet.clone(), &user) {
                    Err((env, _)) if env.is_notification() => {}
                    Err((env, e)) => replies.push(reply(Err(e), env.id, env.version)),
                    Ok(request) => match run_one(&state, request).await {
                        Err(()) => return Ok(busy()),
                        Ok(None) => {}
                        Ok(Some((result, id, version))) => replies.push(reply(result, id, version)),
                    },
                }
            }
            if replies.is_empty() && !items.is_empty() {
                return Ok(respond(204, ""));
            }
            Ok(json_reply(200, &Value::Array(replies)))
        }
        _ => Ok(error_reply(
            parse_error("Top-level object parse error"),
            Some(Value::Null),
            Version::V1Legacy,
        )),
    }
}

/// Serves every listener until `shutdown` completes.
pub async fn serve(
    listeners: Vec<std::net::TcpListener>,
    opts: ServerOptions,
    dispatcher: Rc<dyn Dispatcher>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let state = Rc::new(State {
        slots: tokio::sync::Semaphore::new(opts.threads.max(1)),
        waiting: Cell::new(0),
        opts,
        dispatcher,
    });
    let mut tasks = Vec::new();
    for l in listeners {
        l.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(l)?;
        let state = state.clone();
        tasks.push(tokio::task::spawn_local(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("RPC accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                tokio::task::spawn_local(async move {
                    let service =
                        hyper::service::service_fn(move |req| handle(state.clone(), peer, req));
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                    {
                        tracing::debug!(target: "http", "HTTP connection from {peer}: {e}");
                    }
                });
            }
        }));
    }
    shutdown.await;
    for t in tasks {
        t.abort();
    }
    Ok(())
}

/// A reply for a call that does not exist.
pub fn method_not_found() -> RpcError {
    RpcError::new(code::METHOD_NOT_FOUND, "Method not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_match_as_cores() {
        let s = Subnet::parse("10.0.0.0/8").unwrap();
        assert!(s.contains("10.1.2.3".parse().unwrap()));
        assert!(!s.contains("11.0.0.1".parse().unwrap()));
        let s = Subnet::parse("192.168.1.0/255.255.255.0").unwrap();
        assert!(s.contains("192.168.1.77".parse().unwrap()));
        assert!(Subnet::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Subnet::parse("::/0")
            .unwrap()
            .contains("2001::1".parse().unwrap()));
        assert!(Subnet::parse("1.2.3.4/33").is_err());
        // IPv6 in brackets, as Core's LookupHost takes it.
        assert!(Subnet::parse("[::1]")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(Subnet::parse("nonsense").is_err());
    }

    #[test]
    fn wallet_names_are_percent_decoded() {
        assert_eq!(percent_decode("my%20wallet"), "my wallet");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%41"), "A");
    }
}
