//! The node's RPC method table: every method we serve with its Core name,
//! category, argument names and types (for named arguments, Core's type and
//! count errors, and `help`), and its handler. The handlers live beside:
//! `control`, `blockchain`, `mining`, `rawtx`, `signing`, `util`,
//! `descriptors`; `encode` renders blocks, transactions and scripts as Core's
//! JSON.

mod blockchain;
mod blockstats;
mod control;
mod deployments;
pub mod descriptors;
pub(crate) mod encode;
mod generating;
mod mempool;
mod message;
mod mining;
mod network;
mod rawtx;
mod scan;
mod signing;
mod util;
mod wallet;

use std::rc::Rc;
use std::sync::Arc;

use futures::future::LocalBoxFuture;
use futures::FutureExt;
use serde_json::Value;

use crate::chain::Chain;
use crate::rpc::http::{method_not_found, Dispatcher};
use crate::rpc::json::type_name;
use crate::rpc::protocol::{code, positional};
use crate::rpc::{Request, RpcError};

/// What handlers may use.
pub struct NodeCtx {
    pub chain: Arc<Chain>,
    pub started: std::time::Instant,
    /// Notified by `stop`.
    pub stop: Rc<tokio::sync::Notify>,
    /// The debug.log path, for getrpcinfo.
    pub log_path: String,
    /// Calls running now (getrpcinfo's active_commands).
    pub active: std::cell::RefCell<Vec<(String, std::time::Instant)>>,
    /// The worker's startup logging configuration (the `logging` RPC
    /// changes categories on top of it).
    pub log_config: crate::logging::LogConfig,
    /// The kernel's logger, whose categories follow the `logging` RPC.
    pub kernel_log: Option<Rc<bitcoinkernel::Logger>>,
    /// The P2P side (None where there is none, e.g. in benches).
    pub net: Option<Rc<crate::net::Net>>,
    pub mempool: Arc<crate::mempool::Mempool>,
    /// The broker link (None in benches): files outside the sandbox.
    pub broker: Option<Rc<crate::broker::client::BrokerClient>>,
    /// `<datadir>/<chain>`, for paths RPCs report.
    pub net_dir: std::path::PathBuf,
    /// `-deprecatedrpc` values: result fields Core shows only on request.
    pub deprecated_rpc: Vec<String>,
    /// The loaded wallets (None with -disablewallet: no wallet methods).
    pub wallets: Option<Rc<crate::node::wallets::Wallets>>,
}

/// An argument's JSON type, as Core's RPCArg::Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Num,
    Str,
    Bool,
    Obj,
    Arr,
    /// Hex string (checked by the handler).
    Hex,
    /// Amount: number or string.
    Amount,
    /// Anything (echo).
    Any,
    /// Number or string (e.g. a block height or hash).
    NumOrStr,
    /// Boolean or number (verbosity).
    BoolOrNum,
}

/// One argument: name (aliases with `|`), type, required.
pub type Arg = (&'static str, Ty, bool);

type SyncFn = fn(&NodeCtx, &[Value]) -> Result<Value, RpcError>;
pub type AsyncFn = fn(Rc<NodeCtx>, Vec<Value>) -> LocalBoxFuture<'static, Result<Value, RpcError>>;

/// How a method runs.
pub enum Handler {
    Sync(SyncFn),
    Async(AsyncFn),
    /// Forwarded to the wallet process the request addresses.
    Wallet,
}

/// One method.
pub struct Method {
    pub name: &'static str,
    pub category: &'static str,
    pub args: &'static [Arg],
    /// One line after the synopsis in `help <name>`.
    pub summary: &'static str,
    pub handler: Handler,
    /// Hidden from `help` (Core's hidden category).
    pub hidden: bool,
}

/// Every method, in Core's `help` order within each category.
pub fn table() -> Vec<Method> {
    let mut v = Vec::new();
    v.extend(blockchain::methods());
    v.extend(blockstats::methods());
    v.extend(control::methods());
    v.extend(deployments::methods());
    v.extend(descriptors::methods());
    v.extend(generating::methods());
    v.extend(mempool::methods());
    v.extend(message::methods());
    v.extend(network::methods());
    v.extend(mining::methods());
    v.extend(rawtx::methods());
    v.extend(scan::methods());
    v.extend(signing::methods());
    v.extend(util::methods());
    v.extend(wallet::methods());
    v
}

/// Core's UniValue type error: "JSON value of type X is not of expected type Y".
fn type_error(v: &Value, expected: &str) -> RpcError {
    RpcError::new(
        code::TYPE_ERROR,
        format!(
            "JSON value of type {} is not of expected type {expected}",
            type_name(v)
        ),
    )
}

/// Core's refusal of a test-only method off regtest (its IsMockableChain).
fn regtest_only(ctx: &NodeCtx, method: &str) -> Result<(), RpcError> {
    if ctx.chain.network() == bitcoin::Network::Regtest {
        return Ok(());
    }
    Err(RpcError::new(
        code::MISC_ERROR,
        format!("{method} is for regression testing (-regtest mode) only"),
    ))
}

/// Core's RPC_INVALID_PARAMETER error.
fn invalid_parameter(message: impl Into<String>) -> RpcError {
    RpcError::new(code::INVALID_PARAMETER, message)
}

fn matches(ty: Ty, v: &Value) -> Result<(), &'static str> {
    let ok = match ty {
        Ty::Num => v.is_number(),
        Ty::Str | Ty::Hex => v.is_string(),
        Ty::Bool => v.is_boolean(),
        Ty::Obj => v.is_object(),
        Ty::Arr => v.is_array(),
        Ty::Amount | Ty::NumOrStr => v.is_number() || v.is_string(),
        Ty::BoolOrNum => v.is_boolean() || v.is_number(),
        Ty::Any => true,
    };
    if ok {
        return Ok(());
    }
    Err(match ty {
        Ty::Num => "number",
        Ty::Str | Ty::Hex => "string",
        Ty::Bool => "bool",
        Ty::Obj => "object",
        Ty::Arr => "array",
        // Core reads a verbosity with getInt unless it is a boolean.
        Ty::BoolOrNum => "number",
        _ => "string",
    })
}

/// Core's GetBlockChecked errors for a block whose data cannot be read:
/// pruned, never downloaded, or (its file gone) not found.
pub fn block_unreadable(chain: &Chain, info: &crate::chain::BlockInfo) -> RpcError {
    let status = chain.block_status(&info.hash);
    RpcError::new(
        code::MISC_ERROR,
        match status {
            Some(s) if s.pruned => "Block not available (pruned data)",
            Some(s) if !s.have_data => "Block not available (not fully downloaded)",
            Some(_) => "Block not found on disk",
            // The block tree is not reachable: without pruning, a block of
            // the active chain had its data.
            None if info.in_active_chain => "Block not found on disk",
            None => "Block not available (not fully downloaded)",
        },
    )
}

/// Core's one-line forms of the arguments whose synopsis is not derived
/// from their type (arrays describe their elements).
fn oneline(method: &str, arg: &str) -> Option<&'static str> {
    Some(match (method, arg) {
        ("getblockstats", "stats") => "stats",
        ("logging", "include") => "[\"include_category\",...]",
        ("logging", "exclude") => "[\"exclude_category\",...]",
        ("createmultisig", "keys") => "[\"key\",...]",
        ("generateblock", "transactions") => "[\"rawtx/txid\",...]",
        ("createrawtransaction", "inputs") => "[{\"txid\":\"hex\",\"vout\":n,\"sequence\":n},...]",
        ("createrawtransaction", "outputs") => "[{\"address\":amount,...},{\"data\":\"hex\"},...]",
        _ => return None,
    })
}

/// The synopsis line `help` prints: `name "arg" ( optional )`.
pub fn synopsis(m: &Method) -> String {
    let mut s = m.name.to_string();
    let mut optional = Vec::new();
    for (name, ty, required) in m.args {
        let name = name.split('|').next().unwrap_or(name);
        let shown = match (oneline(m.name, name), ty) {
            (Some(form), _) => form.to_string(),
            (None, ty) => match ty {
                Ty::Str | Ty::Hex => format!("\"{name}\""),
                Ty::Arr => format!("[{name},...]"),
                Ty::Obj => format!("{{{name}}}"),
                _ => name.to_string(),
            },
        };
        if *required {
            s.push(' ');
            s.push_str(&shown);
        } else {
            optional.push(shown);
        }
    }
    if !optional.is_empty() {
        s.push_str(&format!(" ( {} )", optional.join(" ")));
    }
    s
}

/// `help <name>`'s text.
pub fn help_text(m: &Method) -> String {
    let mut s = format!("{}\n\n{}\n", synopsis(m), m.summary);
    if !m.args.is_empty() {
        s.push_str("\nArguments:\n");
        for (i, (name, ty, required)) in m.args.iter().enumerate() {
            let t = match ty {
                Ty::Num => "numeric",
                Ty::Str => "string",
                Ty::Hex => "string, hex",
                Ty::Bool => "boolean",
                Ty::Obj => "json object",
                Ty::Arr => "json array",
                Ty::Amount => "numeric or string",
                Ty::Any => "any",
                Ty::NumOrStr => "numeric or string",
                Ty::BoolOrNum => "numeric or boolean",
            };
            let req = if *required { "required" } else { "optional" };
            s.push_str(&format!(
                "{}. {:<20} ({t}, {req})\n",
                i + 1,
                name.split('|').next().unwrap_or(name)
            ));
        }
    }
    if let Some(result) = network::result_help(m.name) {
        s.push_str(&format!("\nResult:\n{result}\n"));
    }
    s
}

/// Core's RPCHelpMan checks: too many arguments, or fewer than reach the
/// last required one, answer with the help text (code -1); a wrong type,
/// including an explicit null for a required argument, with RPC_TYPE_ERROR.
fn check_args(m: &Method, args: &[Value]) -> Result<(), RpcError> {
    let reach = m.args.iter().rposition(|a| a.2).map_or(0, |i| i + 1);
    if args.len() > m.args.len() || args.len() < reach {
        return Err(RpcError::new(code::MISC_ERROR, help_text(m)));
    }
    let mut mismatches = Vec::new();
    for (i, (v, (name, ty, required))) in args.iter().zip(m.args).enumerate() {
        // Core checks no type for an omitted optional argument, nor for
        // the amount, range and mixed types.
        let unchecked = matches!(ty, Ty::Amount | Ty::NumOrStr | Ty::BoolOrNum);
        if v.is_null() && (!required || unchecked) {
            continue;
        }
        if let Err(expected) = matches(*ty, v) {
            mismatches.push((
                format!("Position {} ({name})", i + 1),
                type_error(v, expected),
            ));
        }
    }
    if mismatches.is_empty() {
        return Ok(());
    }
    // Core lists every mismatch in a JSON object written with four-space
    // indents.
    let lines: Vec<String> = mismatches
        .iter()
        .map(|(at, e)| {
            format!(
                "    {}: {}",
                Value::from(at.as_str()),
                Value::from(e.message.as_str())
            )
        })
        .collect();
    Err(RpcError::new(
        code::TYPE_ERROR,
        format!("Wrong type passed:\n{{\n{}\n}}", lines.join(",\n")),
    ))
}

/// The dispatcher the RPC server calls.
pub struct Methods {
    ctx: Rc<NodeCtx>,
    table: Rc<Vec<Method>>,
}

impl Methods {
    pub fn new(ctx: Rc<NodeCtx>) -> Methods {
        let mut table = table();
        if ctx.wallets.is_none() {
            // -disablewallet: Core registers no wallet methods at all.
            table.retain(|m| m.category != "wallet");
        }
        Methods {
            ctx,
            table: Rc::new(table),
        }
    }
}

impl Dispatcher for Methods {
    fn call(&self, req: Request) -> LocalBoxFuture<'static, Result<Value, RpcError>> {
        let ctx = self.ctx.clone();
        let table = self.table.clone();
        async move {
            let Some(m) = table.iter().find(|m| m.name == req.method) else {
                return Err(method_not_found());
            };
            let names: Vec<&str> = m.args.iter().map(|a| a.0).collect();
            let args = positional(&names, req.params)?;
            check_args(m, &args)?;
            let started = std::time::Instant::now();
            ctx.active.borrow_mut().push((m.name.to_string(), started));
            let result = if m.name == "help" {
                control::help(&table, &args)
            } else {
                match &m.handler {
                    Handler::Sync(f) => f(&ctx, &args),
                    Handler::Async(f) => f(ctx.clone(), args).await,
                    Handler::Wallet => wallet::call(ctx.clone(), req.wallet, m.name, args).await,
                }
            };
            let mut active = ctx.active.borrow_mut();
            if let Some(i) = active
                .iter()
                .position(|(n, t)| n == m.name && *t == started)
            {
                active.remove(i);
            }
            result
        }
        .boxed_local()
    }
}

/// An internal failure (the chain's I/O, a lost thread) as Core reports it.
pub fn internal(e: impl std::fmt::Display) -> RpcError {
    RpcError::new(code::INTERNAL_ERROR, e.to_string())
}

/// Argument helpers for handlers (types were checked against the table).
pub(crate) mod arg {
    use super::*;
    use bitcoin::Transaction;

    pub fn opt(args: &[Value], i: usize) -> Option<&Value> {
        args.get(i).filter(|v| !v.is_null())
    }

    pub fn int(args: &[Value], i: usize, default: i64) -> Result<i64, RpcError> {
        match opt(args, i) {
            None => Ok(default),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "JSON integer out of range")),
        }
    }

    /// A verbosity given as a boolean or a number (Core's `verbose|verbosity`).
    pub fn verbosity(args: &[Value], i: usize, default: i64) -> i64 {
        match opt(args, i) {
            None => default,
            Some(Value::Bool(b)) => *b as i64,
            Some(v) => v.as_i64().unwrap_or(default),
        }
    }

    /// Core's IsHex and ParseHex: non-empty, even-length hex.
    pub fn hex_bytes(text: &str) -> Option<Vec<u8>> {
        use bitcoin::hex::FromHex;
        Vec::<u8>::from_hex(text).ok().filter(|b| !b.is_empty())
    }

    /// Core's DecodeHexTx: the hex read as a transaction with witnesses
    /// (`try_witness`) and without (`try_no_witness`, where a zero input
    /// count followed by 1 is a transaction without inputs and with one
    /// output, not a witness marker). A reading must use every byte; when
    /// both do, the one whose scripts are sane (Core's CheckTxScriptsSanity)
    /// wins, the witness reading first.
    pub fn hex_tx(text: &str, try_no_witness: bool, try_witness: bool) -> Option<Transaction> {
        let bytes = hex_bytes(text)?;
        let extended = try_witness
            .then(|| bitcoin::consensus::deserialize::<Transaction>(&bytes).ok())
            .flatten();
        let legacy = try_no_witness.then(|| legacy_tx(&bytes)).flatten();
        match (extended, legacy) {
            (Some(e), Some(l)) if !scripts_sane(&e) && scripts_sane(&l) => Some(l),
            (Some(e), _) => Some(e),
            (None, l) => l,
        }
    }

    /// A transaction in the serialization without witnesses, every byte used.
    fn legacy_tx(bytes: &[u8]) -> Option<Transaction> {
        use bitcoin::consensus::Decodable;
        let mut r = bytes;
        let tx = Transaction {
            version: Decodable::consensus_decode(&mut r).ok()?,
            input: Decodable::consensus_decode(&mut r).ok()?,
            output: Decodable::consensus_decode(&mut r).ok()?,
            lock_time: Decodable::consensus_decode(&mut r).ok()?,
        };
        r.is_empty().then_some(tx)
    }

    /// Core's CheckTxScriptsSanity: every script (input scripts only when
    /// not a coinbase) parses, uses no opcode above OP_NOP10 and fits
    /// MAX_SCRIPT_SIZE.
    fn scripts_sane(tx: &Transaction) -> bool {
        const MAX_SCRIPT_SIZE: usize = 10_000;
        let sane = |s: &bitcoin::Script| {
            s.len() <= MAX_SCRIPT_SIZE
                && s.instructions().all(|i| match i {
                    Ok(bitcoin::script::Instruction::Op(op)) => {
                        op.to_u8() <= bitcoin::opcodes::all::OP_NOP10.to_u8()
                    }
                    Ok(_) => true,
                    Err(_) => false,
                })
        };
        (tx.is_coinbase() || tx.input.iter().all(|i| sane(&i.script_sig)))
            && tx.output.iter().all(|o| sane(&o.script_pubkey))
    }

    pub fn string(args: &[Value], i: usize) -> Option<String> {
        opt(args, i).and_then(|v| v.as_str()).map(str::to_string)
    }

    /// A 64-hex-digit hash (Core's ParseHashV errors).
    pub fn hash<T: std::str::FromStr>(args: &[Value], i: usize, name: &str) -> Result<T, RpcError> {
        hash_str(&string(args, i).unwrap_or_default(), name)
    }

    /// Core's RPCTypeCheckObj, strict: `o` is an object whose keys are the
    /// `expected` ones (each may be missing or null when `allow_null`), of
    /// the types given (checked in Core's order: by name).
    pub fn check_object(
        o: &Value,
        expected: &[(&str, Ty)],
        allow_null: bool,
    ) -> Result<(), RpcError> {
        check_fields(o, expected, allow_null)?;
        let map = o.as_object().expect("checked to be an object");
        if let Some(k) = map.keys().find(|k| !expected.iter().any(|(n, _)| n == k)) {
            return Err(RpcError::new(
                code::TYPE_ERROR,
                format!("Unexpected key {k}"),
            ));
        }
        Ok(())
    }

    /// An optional `options` object at `i` (empty when not given), checked
    /// strictly as [`check_object`] with null members allowed.
    pub fn options(args: &[Value], i: usize, expected: &[(&str, Ty)]) -> Result<Value, RpcError> {
        let options = opt(args, i)
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        check_object(&options, expected, true)?;
        Ok(options)
    }

    /// Core's RPCTypeCheckObj, not strict: as [`check_object`], other keys
    /// allowed.
    pub fn check_fields(
        o: &Value,
        expected: &[(&str, Ty)],
        allow_null: bool,
    ) -> Result<(), RpcError> {
        let Some(map) = o.as_object() else {
            return Err(type_error(o, "object"));
        };
        let mut sorted: Vec<&(&str, Ty)> = expected.iter().collect();
        sorted.sort_by_key(|(name, _)| *name);
        for (name, ty) in sorted {
            let v = map.get(*name).unwrap_or(&Value::Null);
            if v.is_null() {
                if allow_null {
                    continue;
                }
                return Err(RpcError::new(code::TYPE_ERROR, format!("Missing {name}")));
            }
            if let Err(want) = matches(*ty, v) {
                return Err(RpcError::new(
                    code::TYPE_ERROR,
                    format!(
                        "JSON value of type {} for field {name} is not of expected type {want}",
                        type_name(v)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// [`hash`] of an object's field.
    pub fn hash_in<T: std::str::FromStr>(o: &Value, name: &str) -> Result<T, RpcError> {
        hash_str(o[name].as_str().unwrap_or_default(), name)
    }

    /// [`hash`] of a string found elsewhere (e.g. inside an object).
    pub fn hash_str<T: std::str::FromStr>(s: &str, name: &str) -> Result<T, RpcError> {
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            let why = if s.len() != 64 {
                format!("{name} must be of length 64 (not {}, for '{s}')", s.len())
            } else {
                format!("{name} must be hexadecimal string (not '{s}')")
            };
            return Err(RpcError::new(code::INVALID_PARAMETER, why));
        }
        s.parse().map_err(|_| {
            RpcError::new(
                code::INVALID_PARAMETER,
                format!("{name} must be hexadecimal string (not '{s}')"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_method_name_is_served_by_one_handler() {
        let table = super::table();
        let mut names: Vec<&str> = table.iter().map(|m| m.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a method is in the table twice");
    }

    #[test]
    fn hex_transactions_are_read_with_and_without_witnesses_as_core_does() {
        use super::arg::hex_tx;
        // One input with a witness: the witness reading only.
        let witness = "010000000001010000000000000072c1a6a246ae63f74f931e8365e15a089c68d61900000000000000000000ffffffff0100e1f50500000000000102616100000000";
        let tx = hex_tx(witness, true, true).expect("witness reading");
        assert_eq!(tx.input[0].witness.to_vec(), [b"aa".to_vec()]);
        assert!(hex_tx(witness, true, false).is_none());
        // No inputs, one output: a zero input count followed by 1 is not a
        // witness marker in the reading without witnesses.
        let no_inputs = "01000000000100e1f505000000000000000000";
        assert!(hex_tx(no_inputs, false, true).is_none());
        let tx = hex_tx(no_inputs, true, true).expect("legacy reading");
        assert!(tx.input.is_empty());
        assert_eq!(tx.output[0].value.to_sat(), 100_000_000);
        // Trailing bytes fail both readings; bad hex too.
        assert!(hex_tx(&format!("{witness}00"), true, true).is_none());
        assert!(hex_tx("zz", true, true).is_none());
    }
}
