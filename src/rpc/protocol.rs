//! The JSON-RPC layer as Core's httprpc.cpp/request.cpp answer it: request
//! parsing (version, id, method, params), reply objects for 1.0 ("legacy",
//! both `result` and `error`) and 2.0 (one of them, `jsonrpc` member),
//! notifications, and Core's error codes. Named arguments become positional
//! ones with `positional`, as Core's transformNamedArguments does.

use serde_json::{Map, Value};

/// Core's RPC error codes (src/rpc/protocol.h).
pub mod code {
    pub const INVALID_REQUEST: i32 = -32600;
    pub const METHOD_NOT_FOUND: i32 = -32601;
    pub const INVALID_PARAMS: i32 = -32602;
    pub const INTERNAL_ERROR: i32 = -32603;
    pub const PARSE_ERROR: i32 = -32700;
    pub const MISC_ERROR: i32 = -1;
    pub const TYPE_ERROR: i32 = -3;
    pub const WALLET_ERROR: i32 = -4;
    pub const WALLET_INVALID_LABEL_NAME: i32 = -11;
    pub const WALLET_INSUFFICIENT_FUNDS: i32 = -6;
    pub const WALLET_UNLOCK_NEEDED: i32 = -13;
    pub const WALLET_PASSPHRASE_INCORRECT: i32 = -14;
    pub const WALLET_WRONG_ENC_STATE: i32 = -15;
    pub const WALLET_ENCRYPTION_FAILED: i32 = -16;
    pub const WALLET_ALREADY_UNLOCKED: i32 = -17;
    pub const WALLET_ALREADY_LOADED: i32 = -35;
    pub const WALLET_ALREADY_EXISTS: i32 = -36;
    pub const INVALID_ADDRESS_OR_KEY: i32 = -5;
    pub const OUT_OF_MEMORY: i32 = -7;
    pub const INVALID_PARAMETER: i32 = -8;
    pub const CLIENT_NOT_CONNECTED: i32 = -9;
    pub const CLIENT_IN_INITIAL_DOWNLOAD: i32 = -10;
    pub const WALLET_NOT_FOUND: i32 = -18;
    pub const WALLET_NOT_SPECIFIED: i32 = -19;
    pub const DATABASE_ERROR: i32 = -20;
    pub const DESERIALIZATION_ERROR: i32 = -22;
    pub const VERIFY_ERROR: i32 = -25;
    pub const VERIFY_REJECTED: i32 = -26;
    pub const VERIFY_ALREADY_IN_CHAIN: i32 = -27;
    pub const IN_WARMUP: i32 = -28;
    pub const METHOD_DEPRECATED: i32 = -32;
    pub const CLIENT_P2P_DISABLED: i32 = -31;
}

/// An error reply: Core's `{"code": .., "message": ..}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (code {code})")]
pub struct RpcError {
    pub code: i32,
    pub message: String,
}

impl RpcError {
    pub fn new(code: i32, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }

    /// `{"code": .., "message": ..}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"code": self.code, "message": self.message})
    }

    /// HTTP status of a failed single legacy request (Core's JSONErrorReply).
    pub fn http_status(&self) -> u16 {
        match self.code {
            code::INVALID_REQUEST => 400,
            code::METHOD_NOT_FOUND => 404,
            _ => 500,
        }
    }
}

/// JSON-RPC version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// No `jsonrpc` member, or "1.0": replies carry `result` and `error`.
    V1Legacy,
    /// "2.0": replies carry one of them; a request without `id` is a notification.
    V2,
}

/// Positional or named parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Params {
    Positional(Vec<Value>),
    Named(Map<String, Value>),
}

/// One parsed call.
#[derive(Debug, Clone)]
pub struct Request {
    /// Absent (None) is different from `"id": null`.
    pub id: Option<Value>,
    pub version: Version,
    pub method: String,
    pub params: Params,
    /// From a `/wallet/<name>` URI, percent-decoded.
    pub wallet: Option<String>,
    /// The authenticated user.
    pub user: String,
}

impl Request {
    /// A call the node makes to its own RPC methods on another process's
    /// behalf (a wallet's `Chain`, the GUI's `Node`): positional, no user.
    pub fn internal(method: &str, params: Vec<Value>, wallet: Option<String>) -> Request {
        Request {
            id: Some(Value::Null),
            version: Version::V2,
            method: method.to_string(),
            params: Params::Positional(params),
            wallet,
            user: String::new(),
        }
    }

    /// A 2.0 request without `id`: executed, never answered.
    pub fn is_notification(&self) -> bool {
        self.id.is_none() && self.version == Version::V2
    }
}

/// What Core's JSONRPCRequest::parse learns before it fails: the id and
/// version the error reply must carry.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub id: Option<Value>,
    pub version: Version,
}

impl Envelope {
    /// A 2.0 request without `id`: in a batch, even a malformed one gets no reply.
    pub fn is_notification(&self) -> bool {
        self.id.is_none() && self.version == Version::V2
    }
}

/// Parses one request object. On error the envelope parsed so far comes back
/// too, so the reply carries the id and version.
pub fn parse_request(
    v: &Value,
    wallet: Option<String>,
    user: &str,
) -> Result<Request, (Envelope, RpcError)> {
    let invalid = |env: &Envelope, m: &str| (env.clone(), RpcError::new(code::INVALID_REQUEST, m));
    // Before the object is read, Core's request id is null (present).
    let mut env = Envelope {
        id: Some(Value::Null),
        version: Version::V1Legacy,
    };
    let Some(obj) = v.as_object() else {
        return Err(invalid(&env, "Invalid Request object"));
    };
    env.id = obj.get("id").cloned();
    match obj.get("jsonrpc") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "1.0" => {}
        Some(Value::String(s)) if s == "2.0" => env.version = Version::V2,
        Some(Value::String(_)) => return Err(invalid(&env, "JSON-RPC version not supported")),
        Some(_) => return Err(invalid(&env, "jsonrpc field must be a string")),
    }
    let method = match obj.get("method") {
        None | Some(Value::Null) => return Err(invalid(&env, "Missing method")),
        Some(Value::String(m)) => m.clone(),
        Some(_) => return Err(invalid(&env, "Method must be a string")),
    };
    let params = match obj.get("params") {
        None | Some(Value::Null) => Params::Positional(Vec::new()),
        Some(Value::Array(a)) => Params::Positional(a.clone()),
        Some(Value::Object(o)) => Params::Named(o.clone()),
        Some(_) => return Err(invalid(&env, "Params must be an array or object")),
    };
    Ok(Request {
        id: env.id,
        version: env.version,
        method,
        params,
        wallet,
        user: user.to_string(),
    })
}

/// Core's JSONRPCReplyObj.
pub fn reply(result: Result<Value, RpcError>, id: Option<Value>, version: Version) -> Value {
    let mut r = Map::new();
    if version == Version::V2 {
        r.insert("jsonrpc".into(), "2.0".into());
    }
    match result {
        Ok(v) => {
            r.insert("result".into(), v);
            if version == Version::V1Legacy {
                r.insert("error".into(), Value::Null);
            }
        }
        Err(e) => {
            if version == Version::V1Legacy {
                r.insert("result".into(), Value::Null);
            }
            r.insert("error".into(), e.to_json());
        }
    }
    if let Some(id) = id {
        r.insert("id".into(), id);
    }
    Value::Object(r)
}

/// Named → positional, as Core's transformNamedArguments: gaps before a
/// given argument become null (none are added at the end), an `args` array
/// supplies leading positional values, an unknown name is an error. A name
/// may list aliases as `a|b`.
pub fn positional(names: &[&str], params: Params) -> Result<Vec<Value>, RpcError> {
    let mut named = match params {
        Params::Positional(v) => return Ok(v),
        Params::Named(m) => m,
    };
    let mut out = Vec::new();
    let mut hole = 0usize;
    let mut initial_hole = 0usize;
    let mut initial_param: Option<&str> = None;
    for pattern in names {
        let found = pattern.split('|').find_map(|n| named.remove(n));
        match found {
            Some(v) => {
                out.extend(std::iter::repeat_n(Value::Null, hole));
                hole = 0;
                initial_param.get_or_insert(pattern);
                out.push(v);
            }
            None => {
                hole += 1;
                if out.is_empty() {
                    initial_hole = hole;
                }
            }
        }
    }
    if let Some(Value::Array(args)) = named.get("args") {
        if let (true, Some(first)) = (initial_hole < args.len(), initial_param) {
            return Err(RpcError::new(
                code::INVALID_PARAMETER,
                format!("Parameter {first} specified twice both as positional and named argument"),
            ));
        }
        let named_args = std::mem::take(&mut out);
        out = args.clone();
        let skip = out.len();
        out.extend(named_args.into_iter().skip(skip));
        named.remove("args");
    }
    if let Some(name) = named.keys().next() {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            format!("Unknown named parameter {name}"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn named(v: Value) -> Params {
        Params::Named(v.as_object().unwrap().clone())
    }

    #[test]
    fn named_arguments_fill_gaps_with_nulls_and_take_leading_args() {
        let names = ["a", "b", "c"];
        assert_eq!(
            positional(&names, named(json!({"c": 3}))).unwrap(),
            vec![Value::Null, Value::Null, json!(3)]
        );
        assert_eq!(
            positional(&names, named(json!({"a": 1}))).unwrap(),
            vec![json!(1)]
        );
        let e = positional(&names, named(json!({"args": 5}))).unwrap_err();
        assert_eq!(e.message, "Unknown named parameter args");
        assert_eq!(
            positional(&names, named(json!({"args": [1, 2], "c": 3}))).unwrap(),
            vec![json!(1), json!(2), json!(3)]
        );
        let e = positional(&names, named(json!({"args": [1], "a": 2}))).unwrap_err();
        assert_eq!(e.code, code::INVALID_PARAMETER);
        assert_eq!(
            e.message,
            "Parameter a specified twice both as positional and named argument"
        );
        let e = positional(&names, named(json!({"zz": 1}))).unwrap_err();
        assert_eq!(e.message, "Unknown named parameter zz");
    }

    #[test]
    fn request_parsing_follows_cores_rules() {
        let r = parse_request(&json!({"method": "x", "id": 1}), None, "u").unwrap();
        assert_eq!(
            (r.version, r.params.clone()),
            (Version::V1Legacy, Params::Positional(vec![]))
        );
        let r = parse_request(&json!({"jsonrpc": "2.0", "method": "x"}), None, "u").unwrap();
        assert!(r.is_notification());
        let (env, e) = parse_request(
            &json!({"jsonrpc": "3.0", "method": "x", "id": 5}),
            None,
            "u",
        )
        .unwrap_err();
        assert_eq!(
            (env.id, e.message.as_str()),
            (Some(json!(5)), "JSON-RPC version not supported")
        );
        let (_, e) = parse_request(&json!({"id": 1}), None, "u").unwrap_err();
        assert_eq!(e.message, "Missing method");
        let (_, e) = parse_request(&json!({"method": 1}), None, "u").unwrap_err();
        assert_eq!(e.message, "Method must be a string");
        let (_, e) = parse_request(&json!({"method": "x", "params": 1}), None, "u").unwrap_err();
        assert_eq!(e.message, "Params must be an array or object");
    }

    #[test]
    fn replies_have_cores_members() {
        assert_eq!(
            reply(Ok(json!(1)), Some(json!(7)), Version::V1Legacy),
            json!({"result": 1, "error": null, "id": 7})
        );
        assert_eq!(
            reply(Ok(json!(1)), Some(json!(7)), Version::V2),
            json!({"jsonrpc": "2.0", "result": 1, "id": 7})
        );
        let e = RpcError::new(-8, "bad");
        assert_eq!(
            reply(Err(e.clone()), None, Version::V1Legacy),
            json!({"result": null, "error": {"code": -8, "message": "bad"}})
        );
        assert_eq!(
            reply(Err(e), Some(json!("a")), Version::V2),
            json!({"jsonrpc": "2.0", "error": {"code": -8, "message": "bad"}, "id": "a"})
        );
    }
}
