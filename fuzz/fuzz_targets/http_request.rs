//! The JSON-RPC side of the RPC server: what an HTTP client's body (and the
//! request path) turn into, with the calls themselves stubbed out.
//!
//! Invariants:
//! - `exec::parse_body` never panics; a body it refuses is answered with
//!   Core's parse error (-32700, HTTP 500, legacy shape, `"id": null`);
//! - `exec::execute` never panics, and every reply is JSON that reparses to
//!   itself, has Core's shape for its version (1.0: `result` and `error`;
//!   2.0: `jsonrpc` and one of them), carries the request's id, and a batch
//!   answers at most once per element;
//! - `protocol::positional` (named → positional arguments) never panics and
//!   never returns more values than the names allow (or `args` supplies);
//! - `http::wallet_of` never panics and decodes `%XX` exactly as Core's
//!   UrlDecode (two hex digits, nothing else).
#![no_main]

use bitcoin_mp::rpc::exec::{execute, parse_body, Outcome};
use bitcoin_mp::rpc::http::wallet_of;
use bitcoin_mp::rpc::protocol::{code, parse_request, positional, Params, Request, RpcError};
use bitcoin_mp::rpc::whitelist::Whitelist;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Parameter names of a made-up method, with an alias like Core's `a|b`.
const NAMES: &[&str] = &["a", "b|bee", "c", "d"];

/// Core's UrlDecode (util/url.cpp), byte for byte.
fn core_url_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%'
            && i + 2 < s.len()
            && s[i + 1].is_ascii_hexdigit()
            && s[i + 2].is_ascii_hexdigit()
        {
            let hex = std::str::from_utf8(&s[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// Checks one reply object against the request it answers.
fn check_reply(r: &Value, id: Option<&Value>, v2: bool) {
    let obj = r.as_object().expect("a reply is an object");
    assert_eq!(obj.get("id"), id, "the reply carries the request's id: {r}");
    if v2 {
        assert_eq!(obj.get("jsonrpc"), Some(&Value::from("2.0")), "{r}");
        assert!(
            obj.contains_key("result") != obj.contains_key("error"),
            "{r}"
        );
    } else {
        assert!(!obj.contains_key("jsonrpc"), "{r}");
        assert!(
            obj.contains_key("result") && obj.contains_key("error"),
            "{r}"
        );
    }
    if let Some(e) = obj.get("error").filter(|e| !e.is_null()) {
        assert!(e["code"].is_i64() && e["message"].is_string(), "{r}");
    }
}

fn reparses(v: &Value) {
    let text = v.to_string();
    let back: Value = serde_json::from_str(&text).expect("a reply is valid JSON");
    assert_eq!(&back, v, "{text}");
}

/// The stub method table: echoes the params, fails some methods, and checks
/// named-argument conversion on the way.
async fn run(r: Request) -> Option<Result<Value, RpcError>> {
    let given = match &r.params {
        Params::Positional(v) => v.len(),
        Params::Named(m) => m.get("args").and_then(Value::as_array).map_or(0, Vec::len),
    };
    match positional(NAMES, r.params.clone()) {
        Ok(v) => assert!(
            v.len() <= NAMES.len().max(given),
            "{} values from {:?}",
            v.len(),
            r.params
        ),
        Err(e) => assert_eq!(e.code, code::INVALID_PARAMETER),
    }
    Some(match r.method.as_str() {
        "" => Err(RpcError::new(code::METHOD_NOT_FOUND, "Method not found")),
        "fail" => Err(RpcError::new(code::MISC_ERROR, "failed")),
        _ => Ok(serde_json::json!({"method": r.method, "wallet": r.wallet})),
    })
}

fuzz_target!(|data: &[u8]| {
    // The path of a request, as if `data` were one.
    if let Ok(path) = std::str::from_utf8(data) {
        if let Some(Some(wallet)) = wallet_of(path) {
            let expect = core_url_decode(&path.as_bytes()["/wallet/".len()..]);
            assert_eq!(wallet, String::from_utf8_lossy(&expect), "path {path:?}");
        }
    }

    // The body.
    let value = match parse_body(data) {
        Ok(v) => v,
        Err(outcome) => {
            let Outcome::Reply(status, r) = outcome else {
                panic!("a parse error is a reply: {outcome:?}")
            };
            assert_eq!(status, 500);
            assert_eq!(r["error"]["code"], Value::from(code::PARSE_ERROR));
            check_reply(&r, Some(&Value::Null), false);
            reparses(&r);
            return;
        }
    };
    let whitelist = Whitelist::default();
    let outcome =
        futures::executor::block_on(execute(value.clone(), None, "user", &whitelist, run));
    match (&value, &outcome) {
        (Value::Object(_), Outcome::Reply(status, r)) => {
            reparses(r);
            let (id, v2) = match parse_request(&value, None, "user") {
                Ok(req) => (
                    req.id,
                    req.version == bitcoin_mp::rpc::protocol::Version::V2,
                ),
                Err((env, _)) => (
                    env.id,
                    env.version == bitcoin_mp::rpc::protocol::Version::V2,
                ),
            };
            check_reply(r, id.as_ref(), v2);
            assert!(matches!(status, 200 | 400 | 404 | 500), "{status}");
        }
        (Value::Object(_), Outcome::NoContent) => {
            let req =
                parse_request(&value, None, "user").expect("only a notification gets no reply");
            assert!(req.is_notification());
        }
        (Value::Array(items), Outcome::Reply(200, Value::Array(replies))) => {
            reparses(&outcome_value(&outcome));
            assert!(replies.len() <= items.len());
            // Replies come in request order, skipping notifications.
            let mut replies = replies.iter();
            for item in items {
                let (id, v2, notification) = match parse_request(item, None, "user") {
                    Ok(req) => (
                        req.id.clone(),
                        req.version == bitcoin_mp::rpc::protocol::Version::V2,
                        req.is_notification(),
                    ),
                    Err((env, _)) => (
                        env.id.clone(),
                        env.version == bitcoin_mp::rpc::protocol::Version::V2,
                        env.is_notification(),
                    ),
                };
                if !notification {
                    check_reply(replies.next().expect("one reply per call"), id.as_ref(), v2);
                }
            }
            assert!(replies.next().is_none(), "no extra replies");
        }
        (Value::Array(items), Outcome::NoContent) => assert!(!items.is_empty()),
        (Value::Object(_) | Value::Array(_), other) => panic!("unexpected outcome {other:?}"),
        (_, Outcome::Reply(500, r)) => {
            assert_eq!(r["error"]["code"], Value::from(code::PARSE_ERROR));
            check_reply(r, Some(&Value::Null), false);
            reparses(r);
        }
        (_, other) => panic!("a scalar body is a parse error, not {other:?}"),
    }
});

fn outcome_value(o: &Outcome) -> Value {
    match o {
        Outcome::Reply(_, v) => v.clone(),
        _ => Value::Null,
    }
}
