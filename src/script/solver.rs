//! Core's Solver: which standard template an output script matches (the
//! `type` the RPCs print) and the keys a pay-to-pubkey or bare multisig script
//! holds. It classifies only; it never builds scripts.

use bitcoin::opcodes::all::{
    OP_CHECKMULTISIG, OP_CHECKSIG, OP_PUSHNUM_1, OP_PUSHNUM_16, OP_RETURN,
};
use bitcoin::script::Instruction;
use bitcoin::Script;

/// Most keys a bare multisig may hold (Core's MAX_PUBKEYS_PER_MULTISIG).
pub const MAX_MULTISIG_KEYS: usize = 20;

/// The template an output script matches, with the data the descriptor and
/// decodescript code needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Template<'a> {
    NonStandard,
    Anchor,
    /// `<key> OP_CHECKSIG` with a key of a valid size for its prefix.
    PubKey(&'a [u8]),
    PubKeyHash,
    ScriptHash,
    /// `k <key>... n OP_CHECKMULTISIG`.
    Multisig {
        required: usize,
        keys: Vec<&'a [u8]>,
    },
    NullData,
    WitnessV0KeyHash,
    WitnessV0ScriptHash,
    WitnessV1Taproot,
    WitnessUnknown,
}

impl Template<'_> {
    /// Core's GetTxnOutputType name.
    pub fn name(&self) -> &'static str {
        match self {
            Template::NonStandard => "nonstandard",
            Template::Anchor => "anchor",
            Template::PubKey(_) => "pubkey",
            Template::PubKeyHash => "pubkeyhash",
            Template::ScriptHash => "scripthash",
            Template::Multisig { .. } => "multisig",
            Template::NullData => "nulldata",
            Template::WitnessV0KeyHash => "witness_v0_keyhash",
            Template::WitnessV0ScriptHash => "witness_v0_scripthash",
            Template::WitnessV1Taproot => "witness_v1_taproot",
            Template::WitnessUnknown => "witness_unknown",
        }
    }

    /// The keys the template names (pubkey and multisig), else none.
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            Template::PubKey(k) => vec![k],
            Template::Multisig { keys, .. } => keys.clone(),
            _ => Vec::new(),
        }
    }
}

/// Core's CPubKey::ValidSize: the length the first byte announces.
pub fn valid_key_size(key: &[u8]) -> bool {
    match key.first() {
        Some(2 | 3) => key.len() == 33,
        Some(4 | 6 | 7) => key.len() == 65,
        _ => false,
    }
}

/// A key of valid size that is not in the hybrid (0x06/0x07) encoding.
pub fn non_hybrid_key(key: &[u8]) -> bool {
    valid_key_size(key) && key[0] != 6 && key[0] != 7
}

/// A 33-byte compressed key.
pub fn compressed_key(key: &[u8]) -> bool {
    key.len() == 33 && valid_key_size(key)
}

/// Core's Solver.
pub fn solve(s: &Script) -> Template<'_> {
    let b = s.as_bytes();
    if s.is_p2sh() {
        return Template::ScriptHash;
    }
    if s.is_witness_program() {
        let program_len = b.len() - 2;
        return match (b[0], program_len) {
            (0, 20) => Template::WitnessV0KeyHash,
            (0, 32) => Template::WitnessV0ScriptHash,
            (0x51, 32) => Template::WitnessV1Taproot,
            _ if b == &[0x51, 0x02, 0x4e, 0x73][..] => Template::Anchor,
            (0, _) => Template::NonStandard,
            _ => Template::WitnessUnknown,
        };
    }
    if b.first() == Some(&OP_RETURN.to_u8()) && push_only(&b[1..]) {
        return Template::NullData;
    }
    if let Some(key) = pay_to_pubkey(b) {
        return Template::PubKey(key);
    }
    if s.is_p2pkh() {
        return Template::PubKeyHash;
    }
    if let Some((required, keys)) = multisig(s) {
        return Template::Multisig { required, keys };
    }
    Template::NonStandard
}

/// Only pushes (opcodes up to OP_16), all well formed.
fn push_only(b: &[u8]) -> bool {
    Script::from_bytes(b).instructions().all(|i| match i {
        Ok(Instruction::PushBytes(_)) => true,
        Ok(Instruction::Op(op)) => op.to_u8() <= OP_PUSHNUM_16.to_u8(),
        Err(_) => false,
    })
}

fn pay_to_pubkey(b: &[u8]) -> Option<&[u8]> {
    let key_len = match b.len() {
        35 => 33,
        67 => 65,
        _ => return None,
    };
    let key = &b[1..b.len() - 1];
    (b[0] as usize == key_len && b[b.len() - 1] == OP_CHECKSIG.to_u8() && valid_key_size(key))
        .then_some(key)
}

/// Core's MatchMultisig: counts as OP_N or a minimal push, each key of valid
/// size, nothing after OP_CHECKMULTISIG.
fn multisig(s: &Script) -> Option<(usize, Vec<&[u8]>)> {
    let b = s.as_bytes();
    if b.last() != Some(&OP_CHECKMULTISIG.to_u8()) {
        return None;
    }
    let mut ins = s.instruction_indices();
    let (_, first) = ins.next()?.ok()?;
    let required = script_number(&first, 1)?;
    let mut keys = Vec::new();
    loop {
        let (at, i) = ins.next()?.ok()?;
        match i {
            Instruction::PushBytes(p) if valid_key_size(p.as_bytes()) => keys.push(p.as_bytes()),
            other => {
                let count = script_number(&other, required)?;
                // The count must be followed by exactly one byte: OP_CHECKMULTISIG.
                let end = at + instruction_len(&other);
                return (count == keys.len() && end + 1 == b.len()).then_some((required, keys));
            }
        }
    }
}

/// Core's GetScriptNumber for multisig counts in `min..=20`: OP_1..OP_16, or
/// the minimal one-byte push of 17..=20.
fn script_number(i: &Instruction<'_>, min: usize) -> Option<usize> {
    let n = match i {
        Instruction::Op(op)
            if (OP_PUSHNUM_1.to_u8()..=OP_PUSHNUM_16.to_u8()).contains(&op.to_u8()) =>
        {
            (op.to_u8() - OP_PUSHNUM_1.to_u8() + 1) as usize
        }
        Instruction::PushBytes(p) if p.len() == 1 && p[0] > 16 && p[0] < 0x80 => p[0] as usize,
        _ => return None,
    };
    (min..=MAX_MULTISIG_KEYS).contains(&n).then_some(n)
}

/// Bytes an instruction took in the script (only called for a one-byte push
/// or an opcode).
fn instruction_len(i: &Instruction<'_>) -> usize {
    match i {
        Instruction::PushBytes(p) => 1 + p.len(),
        Instruction::Op(_) => 1,
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

    const KEY: &str = "03b0da749730dc9b4b1f4a14d6902877a92541f5368778853d9c4a0cb7802dcfb2";

    #[test]
    fn names_templates_as_cores_solver() {
        assert_eq!(solve(&script(&format!("21{KEY}ac"))).name(), "pubkey");
        assert_eq!(solve(&script(&format!("5121{KEY}51ae"))).name(), "multisig");
        assert_eq!(solve(&script("6a0568656c6c6f")).name(), "nulldata");
        assert_eq!(solve(&script("6aba")).name(), "nonstandard");
        assert_eq!(solve(&script("51024e73")).name(), "anchor");
        assert_eq!(
            solve(&script(&format!("0019{}", "00".repeat(25)))).name(),
            "nonstandard"
        );
        assert_eq!(
            solve(&script(&format!("5214{}", "00".repeat(20)))).name(),
            "witness_unknown"
        );
        assert_eq!(solve(&script("")).name(), "nonstandard");
    }

    #[test]
    fn pubkey_needs_a_size_matching_its_prefix() {
        // A 33-byte push starting with 0x04 is not a key.
        let bad = format!("21{}{}ac", "04", &KEY[2..]);
        assert_eq!(solve(&script(&bad)).name(), "nonstandard");
    }

    #[test]
    fn multisig_counts_must_match_and_be_in_range() {
        assert_eq!(
            solve(&script(&format!("5221{KEY}51ae"))).name(),
            "nonstandard"
        );
        assert_eq!(
            solve(&script(&format!("0021{KEY}51ae"))).name(),
            "nonstandard"
        );
        let s = script(&format!("5121{KEY}21{KEY}52ae"));
        let key = Vec::from_hex(KEY).unwrap();
        let keys = vec![&key[..]; 2];
        assert_eq!(solve(&s), Template::Multisig { required: 1, keys });
    }
}
