//! getdeploymentinfo: Core's deployment report (buried deployments, BIP9
//! state with signalling statistics, script flags) at the tip or a given block.

use serde_json::{json, Map, Value};

use super::{arg, Handler::Sync, Method, NodeCtx, Ty};
use crate::chain::deployments::{bip9, bip9_info, buried, script_flags, State};
use crate::rpc::protocol::code;
use crate::rpc::RpcError;

pub fn methods() -> Vec<Method> {
    vec![Method {
        name: "getdeploymentinfo",
        category: "Blockchain",
        args: &[("blockhash", Ty::Hex, false)],
        summary: "Returns an object containing various state info regarding deployments of consensus changes.\nConsensus changes for which the new rules are enforced from genesis are not listed in \"deployments\".",
        handler: Sync(getdeploymentinfo),
        hidden: false,
    }]
}

fn getdeploymentinfo(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let hash = match arg::opt(args, 0) {
        None => ctx.chain.tip().hash,
        Some(_) => arg::hash(args, 0, "blockhash")?,
    };
    let not_found = || RpcError::new(code::INVALID_ADDRESS_OR_KEY, "Block not found");
    let info = ctx.chain.block_info(&hash).ok_or_else(not_found)?;
    let (versions, times) = ctx.chain.ancestry(&hash).ok_or_else(not_found)?;
    let network = ctx.chain.network();
    let mut deployments = Map::new();
    for (name, height) in buried(network) {
        // Reported active from the block before the activation height on.
        deployments.insert(
            name.into(),
            json!({"type": "buried", "active": info.height + 1 >= height, "height": height}),
        );
    }
    for d in bip9(network) {
        let i = bip9_info(&d, &versions, &times);
        let mut b = Map::new();
        if i.stats.is_some() {
            b.insert("bit".into(), d.bit.into());
        }
        b.insert("start_time".into(), d.start_time.into());
        b.insert("timeout".into(), d.timeout.into());
        b.insert(
            "min_activation_height".into(),
            d.min_activation_height.into(),
        );
        b.insert("status".into(), i.current.name().into());
        b.insert("since".into(), i.since.into());
        b.insert("status_next".into(), i.next.name().into());
        if let Some((elapsed, count, possible)) = i.stats {
            let mut s = json!({"period": d.period, "elapsed": elapsed, "count": count});
            // Core drops threshold and possible once the deployment is locked in.
            if i.current != State::LockedIn {
                s["threshold"] = d.threshold.into();
                s["possible"] = possible.into();
            }
            b.insert("statistics".into(), s);
            let sig: String = i
                .signalling
                .iter()
                .map(|s| if *s { '#' } else { '-' })
                .collect();
            b.insert("signalling".into(), sig.into());
        }
        let mut rv = Map::new();
        rv.insert("type".into(), "bip9".into());
        if let Some(h) = i.active_since {
            rv.insert("height".into(), h.into());
        }
        let active = i.active_since.is_some_and(|h| h <= info.height + 1);
        rv.insert("active".into(), active.into());
        rv.insert("bip9".into(), Value::Object(b));
        deployments.insert(d.name.into(), Value::Object(rv));
    }
    Ok(json!({
        "hash": hash.to_string(),
        "height": info.height,
        "script_flags": script_flags(network, info.height),
        "deployments": deployments,
    }))
}
