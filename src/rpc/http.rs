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
use super::exec::{self, Outcome};
use super::protocol::{code, Request, RpcError};
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
/// Core's DEFAULT_HTTP_SERVER_TIMEOUT (seconds).
pub const DEFAULT_SERVER_TIMEOUT_SECS: usize = 30;
const WWW_AUTHENTICATE: &str = "Basic realm=\"jsonrpc\"";

/// A -rpcallowip entry (and a ban): address with prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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

    /// The subnet with the host bits cleared (how Core stores and prints it).
    pub fn normalized(&self) -> Subnet {
        let net = match self.net {
            IpAddr::V4(n) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                IpAddr::V4((u32::from(n) & mask).into())
            }
            IpAddr::V6(n) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                IpAddr::V6((u128::from(n) & mask).into())
            }
        };
        Subnet {
            net,
            prefix: self.prefix,
        }
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

impl std::fmt::Display for Subnet {
    /// Core's CSubNet::ToString: `1.2.3.0/24`, `::1/128`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// Server settings from -rpcallowip, -rpcworkqueue, -rpcthreads and the credentials.
pub struct ServerOptions {
    /// Besides these, 127.0.0.0/8 and ::1 are always allowed (as Core).
    pub allow: Vec<Subnet>,
    pub work_queue: usize,
    pub threads: usize,
    pub auth: Auth,
    pub whitelist: Rc<Whitelist>,
    /// `-rpcservertimeout`: how long a client may take to send a request's
    /// head before it is disconnected.
    pub timeout: Duration,
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

/// 413 with current Core's reason phrase (RFC 9110's "Content Too Large",
/// in Core's case) instead of the http crate's older "Payload Too Large".
fn too_large() -> Reply {
    let mut r = respond(413, "");
    r.extensions_mut()
        .insert(hyper::ext::ReasonPhrase::from_static(b"Content too large"));
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

/// The wallet a request path addresses: `/` none, `/wallet/<name>` that one
/// (percent-decoded); None for any other path.
pub fn wallet_of(path: &str) -> Option<Option<String>> {
    match path {
        "/" => Some(None),
        p if p.starts_with("/wallet/") => Some(Some(percent_decode(&p["/wallet/".len()..]))),
        _ => None,
    }
}

/// Core's UrlDecode: `%` and exactly two hex digits is one byte; anything
/// else (a sign, a non-ASCII character) stays as it is. The digits are checked
/// as bytes first: slicing the `str` could split a character (a panic,
/// reachable before authentication), and `from_str_radix` would take `+1`.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && b[i + 1].is_ascii_hexdigit()
            && b[i + 2].is_ascii_hexdigit()
        {
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
        // `stop` answers at once: the process set is going down, and the
        // broker may no longer echo a sync.
        let stopping = req.method == "stop";
        let result = self.dispatcher.call(req).await;
        // What the call logged is in debug.log before the client has the
        // answer (the log goes through the broker).
        if !stopping && crate::logging::unsynced() {
            let _ = tokio::task::spawn_blocking(crate::logging::sync).await;
        }
        Ok(result)
    }
}

async fn handle(
    state: Rc<State>,
    peer: SocketAddr,
    req: hyper::Request<Incoming>,
) -> Result<Reply, Infallible> {
    if head_size(&req) > MAX_HEADERS_SIZE {
        tracing::debug!(target: "http", "HTTP request from {peer}: headers exceed size limit");
        return Ok(closing(respond(400, "")));
    }
    let path = req.uri().path().to_string();
    let Some(wallet) = wallet_of(&path) else {
        return Ok(respond(404, ""));
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
        Err(_) => return Ok(closing(too_large())),
    };
    crate::ipc::debug::record_bytes("HTTP.body", &body);
    crate::ipc::debug::record_bytes("HTTP.path", path.as_bytes());
    let value = match exec::parse_body(&body) {
        Ok(v) => v,
        Err(outcome) => return Ok(to_http(outcome)),
    };
    let outcome = exec::execute(value, wallet, &user, &state.opts.whitelist, |request| {
        let state = state.clone();
        async move { state.execute(request).await.ok() }
    })
    .await;
    Ok(to_http(outcome))
}

/// Core's limit on a request's head: request line, header lines and the
/// blank line that ends them.
const MAX_HEADERS_SIZE: usize = 8192;

/// The bytes of `req`'s head as the client sent them (HTTP/1.1 framing:
/// `name: value` lines ending in CRLF).
fn head_size<B>(req: &hyper::Request<B>) -> usize {
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    let request_line = req.method().as_str().len() + 1 + target + 1 + "HTTP/1.1".len() + 2;
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    request_line + headers + 2
}

/// `reply`, after which the connection closes (Core disconnects a client
/// whose request it could not read).
fn closing(mut reply: Reply) -> Reply {
    reply.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    reply
}

/// The HTTP answer for an outcome.
fn to_http(outcome: Outcome) -> Reply {
    match outcome {
        Outcome::Reply(status, v) => json_reply(status, &v),
        Outcome::NoContent => respond(204, ""),
        Outcome::Forbidden => respond(403, ""),
        Outcome::Busy => respond(503, "Work queue depth exceeded"),
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
                // Core's early allow check: a client outside -rpcallowip is
                // dropped at accept, before any byte is read or written.
                if !state.allowed(peer.ip()) {
                    tracing::debug!(target: "http", "Connection from {peer} rejected: Client network is not allowed HTTP access");
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let timeout = state.opts.timeout;
                tokio::task::spawn_local(async move {
                    let service =
                        hyper::service::service_fn(move |req| handle(state.clone(), peer, req));
                    if let Err(e) = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        // Core limits the head by bytes, not by header count:
                        // as many lines as fit in it (4 bytes at least each).
                        .max_headers(MAX_HEADERS_SIZE / 4)
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(timeout)
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

    /// Found while writing fuzz/http_request's check against Core's UrlDecode:
    /// `%` and a hex digit before a multi-byte character panicked
    /// (a str sliced inside the character), and `%+1` decoded to 0x01 where
    /// Core's UrlDecode keeps it as it is.
    #[test]
    fn percent_decoding_takes_only_two_hex_digits() {
        assert_eq!(percent_decode("%a\u{e9}x"), "%a\u{e9}x");
        assert_eq!(percent_decode("%\u{e9}"), "%\u{e9}");
        assert_eq!(percent_decode("%+1x"), "%+1x");
        assert_eq!(percent_decode("%-1x"), "%-1x");
        assert_eq!(wallet_of("/wallet/%a\u{e9}"), Some(Some("%a\u{e9}".into())));
    }
}
