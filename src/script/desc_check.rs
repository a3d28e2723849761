//! Core's descriptor errors that miniscript words differently or not at all,
//! found by walking the descriptor text before miniscript parses it: key
//! expressions (whitespace, hybrid or uncompressed keys where Core forbids
//! them, keys of another chain, key origins) with the prefix of the function
//! holding them ("pk(): ", "Multi: ", ...), and multisig thresholds and key
//! counts. Only the places Core's own ParseScript reads keys are checked;
//! miniscript fragments are left to miniscript.

use std::str::FromStr;

use bitcoin::bip32::{Xpriv, Xpub};
use bitcoin::hex::FromHex;
use bitcoin::secp256k1::XOnlyPublicKey;
use bitcoin::{Network, NetworkKind, PrivateKey, PublicKey};

/// Core's MAX_PUBKEYS_PER_MULTISIG and MAX_PUBKEYS_PER_MULTI_A.
const MAX_MULTISIG_KEYS: usize = 20;
const MAX_MULTI_A_KEYS: usize = 999;
/// Keys Core allows in a bare (top-level) multisig.
const MAX_BARE_MULTISIG_KEYS: usize = 3;

/// Where an expression sits, as Core's ParseScriptContext.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Top,
    P2sh,
    P2wpkh,
    P2wsh,
    P2tr,
}

/// The first of Core's key and multisig errors in `payload`, if any.
pub fn check(payload: &str, network: Network) -> Result<(), String> {
    script(payload, Ctx::Top, NetworkKind::from(network))
}

/// `name(inner)` split into its parts.
fn call(s: &str) -> Option<(&str, &str)> {
    let open = s.find('(')?;
    let inner = s[open + 1..].strip_suffix(')')?;
    Some((&s[..open], inner))
}

/// Splits at commas outside any brackets.
fn args(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn script(expr: &str, ctx: Ctx, kind: NetworkKind) -> Result<(), String> {
    let Some((name, inner)) = call(expr) else {
        return Ok(());
    };
    let prefixed =
        |prefix: &str, key: &str, ctx| pubkey(key, ctx, kind).map_err(|e| format!("{prefix}{e}"));
    let legacy = matches!(ctx, Ctx::Top | Ctx::P2sh | Ctx::P2wsh);
    match name {
        "pk" => prefixed("pk(): ", inner, ctx),
        "pkh" if legacy => prefixed("pkh(): ", inner, ctx),
        "combo" if ctx == Ctx::Top => prefixed("combo(): ", inner, ctx),
        "multi" | "sortedmulti" if legacy => multi(inner, ctx, kind, MAX_MULTISIG_KEYS, "multisig"),
        "multi_a" | "sortedmulti_a" if ctx == Ctx::P2tr => {
            multi(inner, ctx, kind, MAX_MULTI_A_KEYS, "multi_a")
        }
        "wpkh" if matches!(ctx, Ctx::Top | Ctx::P2sh) => prefixed("wpkh(): ", inner, Ctx::P2wpkh),
        "sh" if ctx == Ctx::Top => script(inner, Ctx::P2sh, kind),
        "wsh" if matches!(ctx, Ctx::Top | Ctx::P2sh) => script(inner, Ctx::P2wsh, kind),
        "rawtr" if ctx == Ctx::Top => prefixed("rawtr(): ", inner, Ctx::P2tr),
        "tr" if ctx == Ctx::Top => {
            let parts = args(inner);
            prefixed("tr(): ", parts[0], Ctx::P2tr)?;
            match parts.get(1) {
                Some(tree) => tap_tree(tree, kind),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// The leaves of a tr() script tree, `{A,B}` nested or a single script.
fn tap_tree(tree: &str, kind: NetworkKind) -> Result<(), String> {
    match tree.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        Some(branches) => args(branches)
            .into_iter()
            .try_for_each(|b| tap_tree(b, kind)),
        None => script(tree, Ctx::P2tr, kind),
    }
}

fn multi(inner: &str, ctx: Ctx, kind: NetworkKind, max: usize, what: &str) -> Result<(), String> {
    let parts = args(inner);
    let threshold = parts[0]
        .parse::<u32>()
        .ok()
        .filter(|_| parts[0].bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("Multi threshold '{}' is not valid", parts[0]))?;
    let keys = &parts[1..];
    for key in keys {
        pubkey(key, ctx, kind).map_err(|e| format!("Multi: {e}"))?;
    }
    let n = keys.len();
    if n == 0 || n > max {
        return Err(format!(
            "Cannot have {n} keys in {what}; must have between 1 and {max} keys, inclusive"
        ));
    }
    if threshold < 1 {
        return Err(format!(
            "Multisig threshold cannot be {threshold}, must be at least 1"
        ));
    }
    if threshold as usize > n {
        return Err(format!("Multisig threshold cannot be larger than the number of keys; threshold is {threshold} but only {n} keys specified"));
    }
    if ctx == Ctx::Top && n > MAX_BARE_MULTISIG_KEYS {
        return Err(format!(
            "Cannot have {n} pubkeys in bare multisig; only at most 3 pubkeys"
        ));
    }
    Ok(())
}

/// Core's IsSpace.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// Core's ParsePubkey: an optional `[fingerprint/path]` origin, then the key.
fn pubkey(text: &str, ctx: Ctx, kind: NetworkKind) -> Result<(), String> {
    if text.starts_with("musig(") {
        return Ok(());
    }
    let pieces: Vec<&str> = text.split(']').collect();
    let key = match pieces[..] {
        [key] => key,
        [origin, key] => {
            let Some(origin) = origin.strip_prefix('[') else {
                let got = origin.chars().next().unwrap_or(']');
                return Err(format!(
                    "Key origin start '[ character expected but not found, got '{got}' instead"
                ));
            };
            let fingerprint = origin.split('/').next().unwrap_or_default();
            if fingerprint.len() != 8 {
                return Err(format!(
                    "Fingerprint is not 4 bytes ({} characters instead of 8 characters)",
                    fingerprint.len()
                ));
            }
            if !is_hex(fingerprint) {
                return Err(format!("Fingerprint '{fingerprint}' is not hex"));
            }
            key
        }
        _ => return Err("Multiple ']' characters found for a single pubkey".into()),
    };
    let mut steps = key.split('/');
    let first = steps.next().unwrap_or_default();
    let has_path = steps.next().is_some();
    if first.is_empty() {
        return Err("No key provided".into());
    }
    if first.starts_with(is_space) || first.ends_with(is_space) {
        return Err(format!("Key '{first}' is invalid due to whitespace"));
    }
    let permit_uncompressed = matches!(ctx, Ctx::Top | Ctx::P2sh);
    if !has_path {
        if is_hex(first) {
            return hex_key(first, ctx, permit_uncompressed);
        }
        if let Ok(sk) = PrivateKey::from_wif(first) {
            if sk.network == kind {
                return if permit_uncompressed || sk.compressed {
                    Ok(())
                } else {
                    Err("Uncompressed keys are not allowed".into())
                };
            }
        }
    }
    let xprv = Xpriv::from_str(first).is_ok_and(|x| x.network == kind);
    let xpub = Xpub::from_str(first).is_ok_and(|x| x.network == kind);
    if xprv || xpub {
        Ok(())
    } else {
        Err(format!("key '{first}' is not valid"))
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A hex public key: no hybrid encodings, uncompressed only where allowed,
/// 32-byte x-only keys inside tr().
fn hex_key(s: &str, ctx: Ctx, permit_uncompressed: bool) -> Result<(), String> {
    let data = Vec::<u8>::from_hex(s).expect("checked hex");
    let hybrid = data.len() == 65 && matches!(data[0], 0x06 | 0x07);
    if hybrid {
        return Err("Hybrid public keys are not allowed".into());
    }
    if let Ok(pk) = PublicKey::from_slice(&data) {
        return if permit_uncompressed || pk.compressed {
            Ok(())
        } else {
            Err("Uncompressed keys are not allowed".into())
        };
    }
    if data.len() == 32 && ctx == Ctx::P2tr && XOnlyPublicKey::from_slice(&data).is_ok() {
        return Ok(());
    }
    Err(format!("Pubkey '{s}' is invalid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

    fn err(d: &str) -> String {
        check(d, Network::Regtest).unwrap_err()
    }

    #[test]
    fn key_errors_carry_the_functions_prefix() {
        assert_eq!(
            err(&format!("pk( {KEY})")),
            format!("pk(): Key ' {KEY}' is invalid due to whitespace")
        );
        assert_eq!(
            err(&format!("wsh(multi(1,{KEY}, {KEY}))")),
            format!("Multi: Key ' {KEY}' is invalid due to whitespace")
        );
        assert_eq!(err("pkh()"), "pkh(): No key provided");
        assert_eq!(err("wpkh(zz)"), "wpkh(): key 'zz' is not valid");
        assert_eq!(err("sh(pk(0300))"), "pk(): Pubkey '0300' is invalid");
        let uncompressed = "04".to_string() + &"11".repeat(64);
        assert!(err(&format!("wsh(pk({uncompressed}))")).starts_with("pk(): "));
        assert_eq!(
            err(&format!("pkh([d34db33/0h]{KEY})")),
            "pkh(): Fingerprint is not 4 bytes (7 characters instead of 8 characters)"
        );
        assert!(check(&format!("pkh([d34db33f/0h]{KEY})"), Network::Regtest).is_ok());
    }

    #[test]
    fn multisig_shapes_use_cores_words() {
        assert_eq!(
            err(&format!("multi(x,{KEY})")),
            "Multi threshold 'x' is not valid"
        );
        assert_eq!(
            err(&format!("sh(multi(2,{KEY}))")),
            "Multisig threshold cannot be larger than the number of keys; threshold is 2 but only 1 keys specified"
        );
        assert_eq!(
            err(&format!("multi(1,{KEY},{KEY},{KEY},{KEY})")),
            "Cannot have 4 pubkeys in bare multisig; only at most 3 pubkeys"
        );
        assert!(check(
            &format!("sh(multi(1,{KEY},{KEY},{KEY},{KEY}))"),
            Network::Regtest
        )
        .is_ok());
    }
}
