//! Descriptor and multisig utility RPCs: getdescriptorinfo, deriveaddresses,
//! createmultisig. Descriptor parsing and derivation live in `script::descriptor`;
//! this module only reads arguments and shapes Core's replies and errors.

use bitcoin::hex::DisplayHex;
use bitcoin::{Address, PublicKey, ScriptBuf};
use miniscript::{Legacy, Miniscript, Segwitv0, Terminal, Threshold};
use serde_json::{json, Value};

use super::{arg, internal, invalid_parameter, type_error, Handler::Sync, Method, NodeCtx, Ty};
use crate::rpc::protocol::code;
use crate::rpc::RpcError;
use crate::script::descriptor::{self, Descriptor};
use crate::script::solver::{self, Template, MAX_MULTISIG_KEYS};

/// Largest script a P2SH redeem script may be (Core's MAX_SCRIPT_ELEMENT_SIZE).
const MAX_REDEEM_SCRIPT: usize = 520;

pub fn methods() -> Vec<Method> {
    let m = |name, args, summary, f| Method {
        name,
        category: "Util",
        args,
        summary,
        handler: Sync(f),
        hidden: false,
    };
    vec![
        m(
            "createmultisig",
            &[
                ("nrequired", Ty::Num, true),
                ("keys", Ty::Arr, true),
                ("address_type", Ty::Str, false),
            ],
            "Creates a multi-signature address with n signatures of m keys required.",
            createmultisig,
        ),
        m(
            "deriveaddresses",
            &[("descriptor", Ty::Str, true), ("range", Ty::Any, false)],
            "Derives one or more addresses corresponding to an output descriptor.",
            deriveaddresses,
        ),
        m(
            "getdescriptorinfo",
            &[("descriptor", Ty::Str, true)],
            "Analyses a descriptor.",
            getdescriptorinfo,
        ),
    ]
}

fn invalid_key(e: impl ToString) -> RpcError {
    RpcError::new(code::INVALID_ADDRESS_OR_KEY, e.to_string())
}

fn getdescriptorinfo(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let text = arg::string(args, 0).unwrap_or_default();
    let parsed = descriptor::parse(&text, false, ctx.chain.network()).map_err(invalid_key)?;
    let first = &parsed.descriptors[0];
    let mut o = json!({"descriptor": first.to_string()});
    if parsed.descriptors.len() > 1 {
        let all: Vec<String> = parsed.descriptors.iter().map(|d| d.to_string()).collect();
        o["multipath_expansion"] = all.into();
    }
    o["checksum"] = parsed.checksum.into();
    o["isrange"] = first.is_range().into();
    o["issolvable"] = first.is_solvable().into();
    o["hasprivatekeys"] = parsed.has_private_keys.into();
    Ok(o)
}

fn deriveaddresses(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let text = arg::string(args, 0).unwrap_or_default();
    let (begin, end) = match arg::opt(args, 1) {
        Some(v) => descriptor_range(v)?,
        None => (0, 0),
    };
    let parsed = descriptor::parse(&text, true, ctx.chain.network()).map_err(invalid_key)?;
    let ranged = parsed.descriptors[0].is_range();
    // A null range counts as none (current Core; older Core counted arguments).
    let given = arg::opt(args, 1).is_some();
    if !ranged && given {
        return Err(invalid_parameter(
            "Range should not be specified for an un-ranged descriptor",
        ));
    }
    if ranged && !given {
        return Err(invalid_parameter(
            "Range must be specified for a ranged descriptor",
        ));
    }
    let network = ctx.chain.network();
    let mut lists = Vec::new();
    for d in &parsed.descriptors {
        lists.push(Value::from(derive_addresses(d, begin, end, network)?));
    }
    Ok(match lists.len() {
        1 => lists.swap_remove(0),
        _ => lists.into(),
    })
}

/// Core's DeriveAddresses: every address from `begin` to `end`; `combo()`'s
/// P2PK script, which has no address, is skipped.
fn derive_addresses(
    d: &Descriptor,
    begin: u32,
    end: u32,
    network: bitcoin::Network,
) -> Result<Vec<String>, RpcError> {
    let mut out = Vec::new();
    for i in begin..=end {
        let scripts = d.scripts_at(i).map_err(invalid_key)?;
        for s in &scripts {
            match Address::from_script(s, network) {
                Ok(a) => out.push(a.to_string()),
                Err(_) if scripts.len() > 1 && matches!(solver::solve(s), Template::PubKey(_)) => {}
                Err(_) => {
                    return Err(invalid_key(
                        "Descriptor does not have a corresponding address",
                    ))
                }
            }
        }
    }
    if out.is_empty() {
        return Err(RpcError::new(code::MISC_ERROR, "Unexpected empty result"));
    }
    Ok(out)
}

/// Core's ParseDescriptorRange: `end` or `[begin,end]`, at most a million
/// indexes, all below 2^31.
pub fn descriptor_range(v: &Value) -> Result<(u32, u32), RpcError> {
    let int = |v: &Value| {
        v.as_i64()
            .ok_or_else(|| RpcError::new(code::TYPE_ERROR, "JSON integer out of range"))
    };
    let (low, high) = match v {
        Value::Number(_) => (0, int(v)?),
        Value::Array(a) if a.len() == 2 && a.iter().all(Value::is_number) => {
            let (low, high) = (int(&a[0])?, int(&a[1])?);
            if low > high {
                return Err(invalid_parameter(
                    "Range specified as [begin,end] must not have begin after end",
                ));
            }
            (low, high)
        }
        _ => {
            return Err(invalid_parameter(
                "Range must be specified as end or as [begin,end]",
            ))
        }
    };
    if low < 0 {
        return Err(invalid_parameter("Range should be greater or equal than 0"));
    }
    if (high >> 31) != 0 {
        return Err(invalid_parameter("End of range is too high"));
    }
    if high >= low + 1_000_000 {
        return Err(invalid_parameter("Range is too large"));
    }
    Ok((low as u32, high as u32))
}

/// Core's OutputType names createmultisig accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OutputType {
    Legacy,
    P2shSegwit,
    Bech32,
}

fn createmultisig(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let required = arg::int(args, 0, 0)?;
    let keys = arg::opt(args, 1)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(hex_to_pubkey)
        .collect::<Result<Vec<PublicKey>, RpcError>>()?;
    let asked = match arg::string(args, 2).as_deref().unwrap_or("legacy") {
        "legacy" => OutputType::Legacy,
        "p2sh-segwit" => OutputType::P2shSegwit,
        "bech32" => OutputType::Bech32,
        "bech32m" => {
            return Err(invalid_key(
                "createmultisig cannot create bech32m multisig addresses",
            ));
        }
        other => return Err(invalid_key(format!("Unknown address type '{other}'"))),
    };
    if required < 1 {
        return Err(invalid_parameter(
            "a multisignature address must require at least one key to redeem",
        ));
    }
    if (keys.len() as i64) < required {
        return Err(invalid_parameter(format!(
            "not enough keys supplied (got {} keys, but need at least {required} to redeem)",
            keys.len()
        )));
    }
    if keys.len() > MAX_MULTISIG_KEYS {
        return Err(invalid_parameter(format!(
            "Number of keys involved in the multisignature address creation > {MAX_MULTISIG_KEYS}\nReduce the number"
        )));
    }
    // Uncompressed keys cannot be used in segwit: Core falls back to legacy.
    let made = if keys.iter().all(|k| k.compressed) {
        asked
    } else {
        OutputType::Legacy
    };
    let redeem_script = multisig_script(required as usize, &keys);
    if made == OutputType::Legacy && redeem_script.len() > MAX_REDEEM_SCRIPT {
        return Err(invalid_parameter(format!(
            "redeemScript exceeds size limit: {} > {MAX_REDEEM_SCRIPT}",
            redeem_script.len()
        )));
    }
    let descriptor = multisig_descriptor(required as usize, keys, made)?;
    let address = descriptor
        .address(ctx.chain.network())
        .map_err(|e| RpcError::new(code::INTERNAL_ERROR, e.to_string()))?;
    let mut o = json!({
        "address": address.to_string(),
        "redeemScript": redeem_script.as_bytes().to_lower_hex_string(),
        "descriptor": descriptor.to_string(),
    });
    if made != asked {
        o["warnings"] = json!([
            "Unable to make chosen address type, please ensure no uncompressed public keys are present."
        ]);
    }
    Ok(o)
}

/// Core's HexToPubKey, with its messages.
fn hex_to_pubkey(v: &Value) -> Result<PublicKey, RpcError> {
    let text = v.as_str().ok_or_else(|| type_error(v, "string"))?;
    let bytes = arg::hex_bytes(text)
        .ok_or_else(|| invalid_key(format!("Pubkey \"{text}\" must be a hex string")))?;
    if bytes.len() != 33 && bytes.len() != 65 {
        return Err(invalid_key(format!(
            "Pubkey \"{text}\" must have a length of either 33 or 65 bytes"
        )));
    }
    PublicKey::from_slice(&bytes).map_err(|_| {
        invalid_key(format!(
            "Pubkey \"{text}\" must be cryptographically valid."
        ))
    })
}

/// Core's GetScriptForMultisig: `k <keys...> n OP_CHECKMULTISIG`.
fn multisig_script(required: usize, keys: &[PublicKey]) -> ScriptBuf {
    let mut b = bitcoin::script::Builder::new().push_int(required as i64);
    for k in keys {
        b = b.push_key(k);
    }
    b.push_int(keys.len() as i64)
        .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
        .into_script()
}

/// The `sh(multi())`, `sh(wsh(multi()))` or `wsh(multi())` descriptor Core
/// infers for the new address.
fn multisig_descriptor(
    required: usize,
    keys: Vec<PublicKey>,
    made: OutputType,
) -> Result<miniscript::Descriptor<PublicKey>, RpcError> {
    let thresh = Threshold::new(required, keys).map_err(internal)?;
    let d = match made {
        OutputType::Legacy => Miniscript::<PublicKey, Legacy>::from_ast(Terminal::Multi(thresh))
            .and_then(miniscript::Descriptor::new_sh),
        OutputType::P2shSegwit => {
            Miniscript::<PublicKey, Segwitv0>::from_ast(Terminal::Multi(thresh))
                .and_then(miniscript::Descriptor::new_sh_wsh)
        }
        OutputType::Bech32 => Miniscript::<PublicKey, Segwitv0>::from_ast(Terminal::Multi(thresh))
            .and_then(miniscript::Descriptor::new_wsh),
    };
    d.map_err(internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_cores_rules() {
        let r = |v: Value| descriptor_range(&v).map_err(|e| e.message);
        assert_eq!(r(json!(2)), Ok((0, 2)));
        assert_eq!(r(json!([1, 2])), Ok((1, 2)));
        assert_eq!(r(json!(-1)).unwrap_err(), "End of range is too high");
        assert_eq!(
            r(json!([-1, 0])).unwrap_err(),
            "Range should be greater or equal than 0"
        );
        assert_eq!(
            r(json!([2, 0])).unwrap_err(),
            "Range specified as [begin,end] must not have begin after end"
        );
        assert_eq!(
            r(json!(10_000_000_000u64)).unwrap_err(),
            "End of range is too high"
        );
        assert_eq!(
            r(json!([1_000_000_000, 2_000_000_000])).unwrap_err(),
            "Range is too large"
        );
        assert_eq!(
            r(json!("x")).unwrap_err(),
            "Range must be specified as end or as [begin,end]"
        );
    }
}
