//! Utility RPCs: validateaddress.

use serde_json::{json, Value};

use super::{arg, encode, Handler::Sync, Method, NodeCtx, Ty};
use crate::rpc::RpcError;

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
    let address = match crate::script::address::decode(&text, ctx.chain.network()) {
        Ok(a) => a,
        Err(e) => {
            return Ok(json!({"isvalid": false, "error_locations": e.locations, "error": e.error}))
        }
    };
    let script = address.script_pubkey();
    let mut o = json!({
        "isvalid": true,
        "address": address.to_string(),
        "scriptPubKey": encode::hex(script.as_bytes()),
        "isscript": script.is_p2sh() || script.is_p2wsh() || script.is_p2tr(),
        "iswitness": script.is_witness_program(),
    });
    if let Some(prog) = script.witness_version() {
        o["witness_version"] = (prog.to_num() as u32).into();
        o["witness_program"] = encode::hex(&script.as_bytes()[2..]).into();
    }
    if script.is_p2tr() {
        o["isscript"] = true.into();
    }
    Ok(o)
}
