//! Utility RPCs: validateaddress (Core's DecodeDestination errors and
//! error locations, DescribeAddress fields).

use serde_json::{json, Value};

use super::{arg, encode, Handler::Sync, Method, NodeCtx, Ty};
use crate::rpc::RpcError;
use crate::script::address;

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
    if let Some(fields) = o.as_object_mut() {
        fields.extend(dest.describe());
    }
    Ok(o)
}
