//! Core's human-readable script assembly (ScriptToAsmStr): opcodes by
//! Core's names (OP_CHECKLOCKTIMEVERIFY, not rust-bitcoin's OP_CLTV), pushes
//! of up to four bytes and OP_1NEGATE/OP_0..OP_16 as decimal script numbers,
//! longer pushes as hex and, for scriptSigs, a strictly encoded signature's
//! sighash byte shown as `[ALL]` and the like. One place for every RPC that
//! prints `asm`.

use bitcoin::hex::DisplayHex;
use bitcoin::opcodes::Opcode;
use bitcoin::script::Instruction;
use bitcoin::Script;

/// Largest script Core will execute; anything longer counts as unspendable.
const MAX_SCRIPT_SIZE: usize = 10_000;

/// The asm of an output script or a redeem script: pushes never carry a
/// sighash decode.
pub fn asm(script: &Script) -> String {
    render(script, false)
}

/// The asm of a scriptSig: pushes that look like strictly encoded ECDSA
/// signatures with a defined hash type print that type after the DER bytes.
pub fn asm_script_sig(script: &Script) -> String {
    render(script, true)
}

fn render(script: &Script, decode_sighash: bool) -> String {
    let decode_sighash = decode_sighash && !unspendable(script);
    let mut parts: Vec<String> = Vec::new();
    for ins in script.instructions() {
        match ins {
            Ok(Instruction::PushBytes(b)) => parts.push(push(b.as_bytes(), decode_sighash)),
            Ok(Instruction::Op(op)) => parts.push(op_name(op)),
            Err(_) => {
                parts.push("[error]".to_string());
                break;
            }
        }
    }
    parts.join(" ")
}

/// Core's CScript::IsUnspendable: starts with OP_RETURN or is too large.
fn unspendable(script: &Script) -> bool {
    script.as_bytes().first() == Some(&0x6a) || script.len() > MAX_SCRIPT_SIZE
}

fn push(bytes: &[u8], decode_sighash: bool) -> String {
    if bytes.len() <= 4 {
        return script_num(bytes).to_string();
    }
    if decode_sighash && strict_signature(bytes) {
        if let Some(name) = sighash_name(bytes[bytes.len() - 1]) {
            return format!("{}[{name}]", bytes[..bytes.len() - 1].to_lower_hex_string());
        }
    }
    bytes.to_lower_hex_string()
}

/// Core's names for the sighash types a scriptSig can carry.
pub fn sighash_name(byte: u8) -> Option<&'static str> {
    Some(match byte {
        0x01 => "ALL",
        0x02 => "NONE",
        0x03 => "SINGLE",
        0x81 => "ALL|ANYONECANPAY",
        0x82 => "NONE|ANYONECANPAY",
        0x83 => "SINGLE|ANYONECANPAY",
        _ => return None,
    })
}

/// Core's signature check under STRICTENC alone: strict DER plus a defined
/// hash type (the low-S rule is not part of it).
fn strict_signature(sig: &[u8]) -> bool {
    strict_der(sig) && matches!(sig[sig.len() - 1] & !0x80, 1..=3)
}

/// BIP66's DER shape: 0x30 len 0x02 lenR R 0x02 lenS S hashtype, with R and
/// S positive and minimally encoded.
fn strict_der(sig: &[u8]) -> bool {
    let n = sig.len();
    if !(9..=73).contains(&n) || sig[0] != 0x30 || sig[1] as usize != n - 3 {
        return false;
    }
    let len_r = sig[3] as usize;
    if 5 + len_r >= n {
        return false;
    }
    let len_s = sig[5 + len_r] as usize;
    if len_r + len_s + 7 != n || sig[2] != 0x02 || len_r == 0 || sig[4] & 0x80 != 0 {
        return false;
    }
    if len_r > 1 && sig[4] == 0 && sig[5] & 0x80 == 0 {
        return false;
    }
    if sig[len_r + 4] != 0x02 || len_s == 0 || sig[len_r + 6] & 0x80 != 0 {
        return false;
    }
    !(len_s > 1 && sig[len_r + 6] == 0 && sig[len_r + 7] & 0x80 == 0)
}

/// Core's GetOpName for a non-push opcode.
fn op_name(op: Opcode) -> String {
    let code = op.to_u8();
    match code {
        0x4f => "-1".to_string(),
        0x51..=0x60 => (code - 0x50).to_string(),
        0xb1 => "OP_CHECKLOCKTIMEVERIFY".to_string(),
        0xb2 => "OP_CHECKSEQUENCEVERIFY".to_string(),
        // rust-bitcoin's names for these agree with Core's.
        0x50 | 0x61..=0xba => op.to_string(),
        0xff => "OP_INVALIDOPCODE".to_string(),
        _ => "OP_UNKNOWN".to_string(),
    }
}

/// A minimally or non-minimally encoded script number of up to four bytes
/// (little-endian magnitude, sign in the top bit of the last byte).
fn script_num(bytes: &[u8]) -> i64 {
    let Some(&last) = bytes.last() else {
        return 0;
    };
    let mut v: i64 = 0;
    for (i, b) in bytes.iter().enumerate() {
        v |= (*b as i64) << (8 * i);
    }
    if last & 0x80 != 0 {
        -(v & !(0x80i64 << (8 * (bytes.len() - 1))))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::ScriptBuf;

    fn script(hex: &str) -> ScriptBuf {
        ScriptBuf::from_hex(hex).expect("test vector is hex")
    }

    #[test]
    fn numbers_and_core_opcode_names() {
        let s = ScriptBuf::from_bytes(vec![0x51, 0x00, 0x02, 0x2c, 0x01, 0x76, 0x4f, 0x60]);
        assert_eq!(asm(&s), "1 0 300 OP_DUP -1 16");
        // 500000 CLTV DROP, 144 CSV
        assert_eq!(
            asm(&script("0320a107b175029000b2")),
            "500000 OP_CHECKLOCKTIMEVERIFY OP_DROP 144 OP_CHECKSEQUENCEVERIFY"
        );
        assert_eq!(asm(&script("bbff")), "OP_UNKNOWN OP_INVALIDOPCODE");
        assert_eq!(asm(&script("0181")), "-1");
        assert_eq!(asm(&script("4c")), "[error]");
    }

    #[test]
    fn script_sig_shows_sighash_types() {
        // DER: 0x30 len, then R and S as 32-byte positive integers.
        let der = format!("30440220{}0220{}", "11".repeat(32), "22".repeat(32));
        let s = script(&format!("47{der}01"));
        assert_eq!(asm_script_sig(&s), format!("{der}[ALL]"));
        assert_eq!(asm(&s), format!("{der}01"));
        let s = script(&format!("47{der}83"));
        assert_eq!(asm_script_sig(&s), format!("{der}[SINGLE|ANYONECANPAY]"));
        // Undefined hash types and OP_RETURN scripts stay plain hex.
        let s = script(&format!("47{der}04"));
        assert_eq!(asm_script_sig(&s), format!("{der}04"));
        let s = script(&format!("6a47{der}01"));
        assert_eq!(asm_script_sig(&s), format!("OP_RETURN {der}01"));
    }
}
