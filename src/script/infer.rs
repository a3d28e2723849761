//! Core's InferDescriptor with no keys or scripts known: `pk()` and `multi()`
//! for the templates that show their keys, `rawtr()` for taproot outputs
//! with a valid key, `addr()` for other scripts with an address, `raw()` for
//! the rest, and `wsh(...)` when the caller knows the witness script. miniscript has no `addr()`/`raw()` and refuses keys that
//! are off the curve (which Core still prints), so the text is put together
//! here; the checksum is miniscript's.

use bitcoin::hex::DisplayHex;
use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::{Address, Network, Script};
use miniscript::descriptor::checksum::desc_checksum;
use miniscript::{Miniscript, Segwitv0};

use super::solver::{compressed_key, non_hybrid_key, solve, Template};

/// The descriptor Core infers for an output script, with its checksum.
pub fn infer(script: &Script, network: Network) -> String {
    let body = keyed(script, non_hybrid_key)
        .or_else(|| raw_taproot(script))
        .or_else(|| {
            Address::from_script(script, network)
                .ok()
                .map(|a| format!("addr({a})"))
        })
        .unwrap_or_else(|| format!("raw({})", script.as_bytes().to_lower_hex_string()));
    with_checksum(&body)
}

/// The descriptor Core infers for a P2WSH output whose witness script is
/// known: `wsh(<inner>)`, or `addr()` when the inner script has no descriptor.
pub fn infer_p2wsh(witness_script: &Script, network: Network) -> String {
    let inner = keyed(witness_script, compressed_key).or_else(|| {
        Miniscript::<bitcoin::PublicKey, Segwitv0>::parse(witness_script)
            .ok()
            .map(|ms| ms.to_string())
    });
    match inner {
        Some(inner) => with_checksum(&format!("wsh({inner})")),
        None => infer(&witness_script.to_p2wsh(), network),
    }
}

/// `rawtr(key)` for a taproot output whose x-only key is on the curve
/// (Core knows no script tree for it without a wallet).
fn raw_taproot(script: &Script) -> Option<String> {
    if !matches!(solve(script), Template::WitnessV1Taproot) {
        return None;
    }
    let key = &script.as_bytes()[2..];
    XOnlyPublicKey::from_slice(key).ok()?;
    Some(format!("rawtr({})", key.to_lower_hex_string()))
}

/// `pk(key)` or `multi(k,keys...)` when every key is acceptable in context.
fn keyed(script: &Script, acceptable: fn(&[u8]) -> bool) -> Option<String> {
    let hex = |k: &[u8]| k.to_lower_hex_string();
    match solve(script) {
        Template::PubKey(k) if acceptable(k) => Some(format!("pk({})", hex(k))),
        Template::Multisig { required, keys } if keys.iter().all(|k| acceptable(k)) => {
            let keys: Vec<String> = keys.into_iter().map(hex).collect();
            Some(format!("multi({required},{})", keys.join(",")))
        }
        _ => None,
    }
}

/// `body#checksum`.
pub fn with_checksum(body: &str) -> String {
    match desc_checksum(body) {
        Ok(sum) => format!("{body}#{sum}"),
        // Only hex, digits, addresses and descriptor punctuation reach here,
        // all within the checksum's character set.
        Err(_) => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hex::FromHex;
    use bitcoin::ScriptBuf;

    fn script(hex: &str) -> ScriptBuf {
        ScriptBuf::from_bytes(Vec::from_hex(hex).unwrap())
    }

    #[test]
    fn empty_and_op_return_scripts_are_raw() {
        assert_eq!(infer(&script(""), Network::Regtest), "raw()#58lrscpx");
        assert!(
            infer(&script("6a0568656c6c6f"), Network::Regtest).starts_with("raw(6a0568656c6c6f)#")
        );
    }

    #[test]
    fn miniscript_witness_scripts_are_wsh_else_addr() {
        // Core's rpc_decodescript.py miniscript vectors (offered HTLCs).
        let htlc = script("82012088a914ffffffffffffffffffffffffffffffffffffffff88210250929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0ad51b2");
        assert_eq!(
            infer_p2wsh(&htlc, Network::Regtest),
            "wsh(and_v(and_v(v:hash160(ffffffffffffffffffffffffffffffffffffffff),v:pk(0250929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0)),older(1)))#gm8xz4fl"
        );
        let not_miniscript = script("82012088a914ffffffffffffffffffffffffffffffffffffffff882102ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffac");
        let p2wsh = Address::p2wsh(&not_miniscript, Network::Regtest);
        assert!(
            infer_p2wsh(&not_miniscript, Network::Regtest).starts_with(&format!("addr({p2wsh})#"))
        );
    }
}
