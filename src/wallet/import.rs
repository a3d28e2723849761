//! importdescriptors: descriptors added beside the wallet's own accounts,
//! each as its own BDK wallet (`combo(KEY)` as its pkh, wpkh and sh(wpkh)
//! forms), then a rescan from the earliest timestamp given (less
//! Core's two-hour window). Imported descriptors are never active: new
//! addresses keep coming from the wallet's own accounts.

use std::rc::Rc;

use serde_json::{json, Value};

use super::process::{failure, WalletProcess};
use super::rpc::{invalid_parameter, unlock_needed, Res};
use crate::chain::clock::now;
use crate::rpc::json::type_name;
use crate::rpc::protocol::code;
use crate::rpc::RpcError;

/// Core's TIMESTAMP_WINDOW: blocks' times may be this far off.
const TIMESTAMP_WINDOW: i64 = 2 * 60 * 60;

/// Core's GetImportTimestamp: a number or "now"; errors end the whole call.
fn timestamp(request: &Value) -> Result<i64, RpcError> {
    match request.get("timestamp") {
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| {
            failure(
                code::TYPE_ERROR,
                "Expected number or \"now\" timestamp value for key. got type number",
            )
        }),
        Some(Value::String(s)) if s == "now" => Ok(now()),
        Some(other) => Err(failure(
            code::TYPE_ERROR,
            format!(
                "Expected number or \"now\" timestamp value for key. got type {}",
                type_name(other)
            ),
        )),
        None => Err(failure(
            code::TYPE_ERROR,
            "Missing required timestamp field for key",
        )),
    }
}

/// The descriptor bodies one request stands for (combo expands).
fn bodies(payload: &str) -> Vec<String> {
    match payload
        .strip_prefix("combo(")
        .and_then(|r| r.strip_suffix(')'))
    {
        // Core's combo also watches pk(KEY); BDK keeps only scripts with an
        // address form, so bare P2PK outputs are not imported.
        Some(key) => ["pkh", "wpkh"]
            .iter()
            .map(|f| format!("{f}({key})"))
            .chain(std::iter::once(format!("sh(wpkh({key}))")))
            .collect(),
        None => vec![payload.to_string()],
    }
}

/// One request: Ok(warnings) or the entry's error.
fn import_one(p: &WalletProcess, request: &Value, ts: i64) -> Result<Vec<String>, RpcError> {
    let text = request
        .get("desc")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_parameter("Descriptor not found."))?;
    let parsed = crate::script::descriptor::parse(text, true, p.network)
        .map_err(|e| failure(code::INVALID_ADDRESS_OR_KEY, e.to_string()))?;
    let ranged = parsed.descriptors.first().is_some_and(|d| d.is_range());
    let active = request
        .get("active")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let internal = request
        .get("internal")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let label = request.get("label").and_then(Value::as_str).unwrap_or("");
    if !ranged && request.get("range").is_some() {
        return Err(invalid_parameter(
            "Range should not be specified for an un-ranged descriptor",
        ));
    }
    if active && !ranged {
        return Err(invalid_parameter("Active descriptors must be ranged"));
    }
    if ranged && request.get("label").is_some() {
        return Err(invalid_parameter(
            "Ranged descriptors should not have a label",
        ));
    }
    if internal && request.get("label").is_some() {
        return Err(invalid_parameter(
            "Internal addresses should not have a label",
        ));
    }
    if active || internal {
        return Err(failure(
            code::WALLET_ERROR,
            "Importing active or internal descriptors is not supported by this wallet yet; import them as inactive",
        ));
    }
    // Core's limits: below 2^31, at most a million indexes.
    let range_end = match request.get("range") {
        None => None,
        Some(v) => Some(crate::node::methods::descriptors::descriptor_range(v)?.1),
    };
    p.with(|e| {
        if parsed.has_private_keys && e.meta.private_keys_disabled {
            return Err(failure(
                code::WALLET_ERROR,
                "Cannot import private keys to a wallet with private keys disabled",
            ));
        }
        let payload = text.split('#').next().unwrap_or(text);
        let mut imported = 0;
        let mut last_error = None;
        for body in bodies(payload) {
            match e.import(&body, ts, label, range_end) {
                Ok(()) => imported += 1,
                Err(err) => last_error = Some(err.to_string()),
            }
        }
        if imported == 0 {
            return Err(failure(
                code::WALLET_ERROR,
                last_error.unwrap_or_else(|| "nothing to import".into()),
            ));
        }
        e.commit_all()
            .map_err(|err| failure(code::DATABASE_ERROR, err.to_string()))?;
        Ok(Vec::new())
    })
}

pub async fn importdescriptors(p: &Rc<WalletProcess>, a: &[Value]) -> Res {
    let requests = a
        .first()
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if p.with(|e| Ok(e.needs_unlock()))? {
        return Err(unlock_needed());
    }
    // Timestamps are checked first: a bad one fails the whole call, as in Core.
    let stamps = requests
        .iter()
        .map(timestamp)
        .collect::<Result<Vec<_>, _>>()?;
    let mut results = Vec::new();
    let mut earliest: Option<i64> = None;
    for (request, ts) in requests.iter().zip(stamps) {
        match import_one(p, request, ts) {
            Ok(warnings) => {
                earliest = Some(earliest.map_or(ts, |e| e.min(ts)));
                let mut r = json!({"success": true});
                if !warnings.is_empty() {
                    r["warnings"] = json!(warnings);
                }
                results.push(r);
            }
            Err(err) => results.push(json!({
                "success": false,
                "error": {"code": err.code, "message": err.message},
            })),
        }
    }
    if let Some(ts) = earliest {
        let tip = p.tip().await?.height;
        if let Some(from) = p.first_block_with_time(ts - TIMESTAMP_WINDOW).await? {
            p.rescan(from, tip).await?;
        }
    }
    Ok(Value::Array(results))
}
