//! Utility RPCs: validateaddress (Core's DecodeDestination errors and
//! error locations, DescribeAddress fields).

use serde_json::{json, Value};

use super::{arg, encode, Handler::Sync, Method, NodeCtx, Ty};
use crate::rpc::RpcError;
use crate::script::address::{self, Destination};

pub fn methods() -> Vec<Method> {
    vec![Method {
        name: "validateaddress",
        category: "Util",
        args: &[("address", Ty::Str, true)],
        summary: "Return information about the given bitcoin address.",
        handler: Sync(validateaddress),
        hidden: false,
    }]
}

fn validateaddress(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let text = arg::string(args, 0).unwrap_or_default();
    let network = ctx.chain.network();
    let dest = match address::decode(&text, network) {
        Ok(d) => d,
        Err(e) => {
            return Ok(json!({
                "isvalid": false,
                "error_locations": e.locations(),
                "error": e.to_string(),
            }))
        }
    };
    let script = dest.script_pubkey();
    let shown = bitcoin::Address::from_script(&script, network)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut o = json!({
        "isvalid": true,
        "address": shown,
        "scriptPubKey": encode::hex(script.as_bytes()),
    });
    // Core's DescribeAddress: unknown witness versions say nothing about
    // being a script, pay-to-anchor shows no program.
    let (isscript, program) = match &dest {
        Destination::PubkeyHash(_) => (Some(false), None),
        Destination::ScriptHash(_) => (Some(true), None),
        Destination::Witness { version, program } => match (version, program.len()) {
            (0, 20) => (Some(false), Some((version, program))),
            (0, _) | (1, 32) => (Some(true), Some((version, program))),
            (1, 2) if program[..] == [0x4e, 0x73] => (Some(true), None),
            _ => (None, Some((version, program))),
        },
    };
    if let Some(isscript) = isscript {
        o["isscript"] = isscript.into();
    }
    o["iswitness"] = matches!(dest, Destination::Witness { .. }).into();
    if let Some((version, program)) = program {
        o["witness_version"] = (*version).into();
        o["witness_program"] = encode::hex(program).into();
    }
    Ok(o)
}
