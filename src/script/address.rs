//! Address strings read the way Core's DecodeDestination reads them, with
//! Core's error texts: Base58Check for P2PKH/P2SH, Bech32/Bech32m for
//! witness outputs of any version, and for a string that starts with the
//! chain's HRP but does not decode, the likely places of at most two wrong
//! characters (Core's bech32::LocateErrors). The bech32 crate provides the
//! charset, HRP and checksum engine; locating errors uses the code's
//! linearity: each wrong symbol adds a fixed amount to the residue.

use std::collections::HashMap;

use bitcoin::base58;
use bitcoin::bech32::primitives::checksum::{Checksum, Engine};
use bitcoin::bech32::primitives::gf32::Fe32;
use bitcoin::bech32::{Bech32, Bech32m, Hrp};
use bitcoin::constants::{
    PUBKEY_ADDRESS_PREFIX_MAIN, PUBKEY_ADDRESS_PREFIX_TEST, SCRIPT_ADDRESS_PREFIX_MAIN,
    SCRIPT_ADDRESS_PREFIX_TEST,
};
use bitcoin::hashes::Hash;
use bitcoin::{Network, PubkeyHash, ScriptBuf, ScriptHash, WitnessProgram, WitnessVersion};

/// Longest Bech32 string BIP173/BIP350 allow.
const BECH32_LIMIT: usize = 90;
/// Symbols in a Bech32 checksum.
const CHECKSUM_LEN: usize = 6;
/// Core's BECH32_WITNESS_PROG_MAX_LEN.
const MAX_PROGRAM_LEN: usize = 40;
/// Base58Check payload: one version byte and a 20-byte hash.
const BASE58_PAYLOAD_MAX: usize = 21;
/// How long Core lets a Base58 string without a valid checksum decode.
const BASE58_UNCHECKED_MAX: usize = 100;

/// What an address pays to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    PubkeyHash([u8; 20]),
    ScriptHash([u8; 20]),
    Witness { version: u8, program: Vec<u8> },
}

impl Destination {
    /// The output script paying to this destination.
    pub fn script_pubkey(&self) -> ScriptBuf {
        match self {
            Destination::PubkeyHash(h) => ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array(*h)),
            Destination::ScriptHash(h) => ScriptBuf::new_p2sh(&ScriptHash::from_byte_array(*h)),
            Destination::Witness { version, program } => {
                let version =
                    WitnessVersion::try_from(*version).expect("decoding checked the version");
                let program =
                    WitnessProgram::new(version, program).expect("decoding checked the size");
                ScriptBuf::new_witness_program(&program)
            }
        }
    }

    /// What `script` pays to, when it is one of these forms.
    pub fn from_script(script: &bitcoin::Script) -> Option<Destination> {
        let bytes = script.as_bytes();
        if script.is_p2pkh() {
            bytes[3..23].try_into().ok().map(Destination::PubkeyHash)
        } else if script.is_p2sh() {
            bytes[2..22].try_into().ok().map(Destination::ScriptHash)
        } else {
            script.witness_version().map(|v| Destination::Witness {
                version: v.to_num(),
                program: bytes[2..].to_vec(),
            })
        }
    }

    /// Core's DescribeAddress: `isscript` (left out for witness versions no
    /// soft fork defines), `iswitness`, and the witness version and program
    /// (left out for pay-to-anchor).
    pub fn describe(&self) -> serde_json::Map<String, serde_json::Value> {
        let (isscript, program) = match self {
            Destination::PubkeyHash(_) => (Some(false), None),
            Destination::ScriptHash(_) => (Some(true), None),
            Destination::Witness { version, program } => match (version, program.len()) {
                (0, 20) => (Some(false), Some((version, program))),
                (0, _) | (1, 32) => (Some(true), Some((version, program))),
                (1, 2) if program[..] == [0x4e, 0x73] => (Some(true), None),
                _ => (None, Some((version, program))),
            },
        };
        let mut o = serde_json::Map::new();
        if let Some(isscript) = isscript {
            o.insert("isscript".into(), isscript.into());
        }
        o.insert(
            "iswitness".into(),
            matches!(self, Destination::Witness { .. }).into(),
        );
        if let Some((version, program)) = program {
            o.insert("witness_version".into(), (*version).into());
            o.insert(
                "witness_program".into(),
                bitcoin::hex::DisplayHex::to_lower_hex_string(&program[..]).into(),
            );
        }
        o
    }
}

/// Why a string is not an address on this chain, in Core's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("Invalid length for Base58 address (P2PKH or P2SH)")]
    Base58Length,
    #[error("Invalid or unsupported Base58-encoded address.")]
    Base58Prefix,
    #[error("Invalid checksum or length of Base58 address (P2PKH or P2SH)")]
    Base58Checksum,
    #[error("Invalid or unsupported Segwit (Bech32) or Base58 encoding.")]
    UnknownEncoding,
    #[error("Empty Bech32 data section")]
    EmptyData,
    #[error("Invalid or unsupported prefix for Segwit (Bech32) address (expected {expected}, got {got}).")]
    WrongHrp { expected: String, got: String },
    #[error("Version 0 witness address must use Bech32 checksum")]
    V0NeedsBech32,
    #[error("Version 1+ witness address must use Bech32m checksum")]
    V1NeedsBech32m,
    #[error("Invalid Bech32 v0 address program size ({} {}), per BIP141", .0, bytes(*.0))]
    V0ProgramSize(usize),
    #[error("Invalid Bech32 address witness version")]
    WitnessVersion,
    #[error("Invalid Bech32 address program size ({} {})", .0, bytes(*.0))]
    ProgramSize(usize),
    #[error("Invalid padding in Bech32 data section")]
    Padding,
    /// A string with the chain's HRP that is not valid Bech32(m): Core's
    /// message and the byte offsets of the suspect characters.
    #[error("{message}")]
    Bech32 {
        message: &'static str,
        locations: Vec<usize>,
    },
}

impl AddressError {
    /// Offsets into the string Core reports as likely errors.
    pub fn locations(&self) -> &[usize] {
        match self {
            AddressError::Bech32 { locations, .. } => locations,
            _ => &[],
        }
    }
}

fn bytes(n: usize) -> &'static str {
    if n == 1 {
        "byte"
    } else {
        "bytes"
    }
}

/// The chain's Bech32 HRP and Base58 prefixes (P2PKH, P2SH).
fn params(network: Network) -> (&'static str, u8, u8) {
    match network {
        Network::Bitcoin => ("bc", PUBKEY_ADDRESS_PREFIX_MAIN, SCRIPT_ADDRESS_PREFIX_MAIN),
        Network::Regtest => (
            "bcrt",
            PUBKEY_ADDRESS_PREFIX_TEST,
            SCRIPT_ADDRESS_PREFIX_TEST,
        ),
        _ => ("tb", PUBKEY_ADDRESS_PREFIX_TEST, SCRIPT_ADDRESS_PREFIX_TEST),
    }
}

/// Core's DecodeDestination for `network`.
pub fn decode(s: &str, network: Network) -> Result<Destination, AddressError> {
    let (hrp, pkh_prefix, sh_prefix) = params(network);
    let is_bech32 = s
        .get(..hrp.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(hrp));
    if !is_bech32 {
        return decode_base58(s, pkh_prefix, sh_prefix);
    }
    let Some((got_hrp, checksum, data)) = decode_bech32(s) else {
        return Err(locate_errors(s));
    };
    if data.is_empty() {
        return Err(AddressError::EmptyData);
    }
    if got_hrp != hrp {
        return Err(AddressError::WrongHrp {
            expected: hrp.to_string(),
            got: got_hrp,
        });
    }
    let version = data[0];
    match (version, checksum) {
        (0, Variant::Bech32m) => return Err(AddressError::V0NeedsBech32),
        (1.., Variant::Bech32) => return Err(AddressError::V1NeedsBech32m),
        _ => {}
    }
    let program = regroup(&data[1..]).ok_or(AddressError::Padding)?;
    let n = program.len();
    if version == 0 && n != 20 && n != 32 {
        return Err(AddressError::V0ProgramSize(n));
    }
    // Taproot and pay-to-anchor are valid whatever follows; the checks
    // below only ever reject other versions and sizes.
    let anchor = version == 1 && program == [0x4e, 0x73];
    if version != 0 && !(version == 1 && n == 32) && !anchor {
        if version > 16 {
            return Err(AddressError::WitnessVersion);
        }
        if !(2..=MAX_PROGRAM_LEN).contains(&n) {
            return Err(AddressError::ProgramSize(n));
        }
    }
    Ok(Destination::Witness { version, program })
}

fn decode_base58(s: &str, pkh_prefix: u8, sh_prefix: u8) -> Result<Destination, AddressError> {
    // Core's DecodeBase58 skips surrounding whitespace.
    let trimmed = s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'));
    let Ok(raw) = base58::decode(trimmed) else {
        return Err(AddressError::UnknownEncoding);
    };
    let checked = (raw.len() >= 4 && raw.len() <= BASE58_PAYLOAD_MAX + 4)
        .then(|| base58::decode_check(trimmed).ok())
        .flatten();
    let Some(payload) = checked else {
        return Err(if raw.len() <= BASE58_UNCHECKED_MAX {
            AddressError::Base58Checksum
        } else {
            AddressError::UnknownEncoding
        });
    };
    match payload.split_first() {
        Some((&p, hash)) if p == pkh_prefix && hash.len() == 20 => Ok(Destination::PubkeyHash(
            hash.try_into().expect("length checked"),
        )),
        Some((&p, hash)) if p == sh_prefix && hash.len() == 20 => Ok(Destination::ScriptHash(
            hash.try_into().expect("length checked"),
        )),
        Some((&p, _)) if p == pkh_prefix || p == sh_prefix => Err(AddressError::Base58Length),
        _ => Err(AddressError::Base58Prefix),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Bech32,
    Bech32m,
}

/// Core's CheckCharacters: printable ASCII in one case. Returns the offsets
/// that break the rule.
fn bad_characters(s: &str) -> Vec<usize> {
    let (mut lower, mut upper) = (false, false);
    let mut bad = Vec::new();
    for (i, c) in s.bytes().enumerate() {
        match c {
            b'a'..=b'z' if upper => bad.push(i),
            b'a'..=b'z' => lower = true,
            b'A'..=b'Z' if lower => bad.push(i),
            b'A'..=b'Z' => upper = true,
            33..=126 => {}
            _ => bad.push(i),
        }
    }
    bad
}

/// HRP (lower case) and data symbols, or the offset that stops the parse.
struct Parsed {
    hrp: String,
    values: Vec<Fe32>,
}

enum ParseError {
    TooLong,
    Characters(Vec<usize>),
    MissingSeparator,
    SeparatorPosition(usize),
    Symbol(usize),
}

fn parse(s: &str) -> Result<Parsed, ParseError> {
    if s.len() > BECH32_LIMIT {
        return Err(ParseError::TooLong);
    }
    let bad = bad_characters(s);
    if !bad.is_empty() {
        return Err(ParseError::Characters(bad));
    }
    let pos = s.rfind('1').ok_or(ParseError::MissingSeparator)?;
    if pos == 0 || pos + CHECKSUM_LEN >= s.len() {
        return Err(ParseError::SeparatorPosition(pos));
    }
    let values = s
        .bytes()
        .enumerate()
        .skip(pos + 1)
        .map(|(i, c)| Fe32::from_char(char::from(c)).map_err(|_| ParseError::Symbol(i)));
    Ok(Parsed {
        hrp: s[..pos].to_ascii_lowercase(),
        values: values.collect::<Result<_, _>>()?,
    })
}

/// The checksum residue XOR the variant's target: zero when valid.
fn residue<Ck: Checksum<MidstateRepr = u32>>(hrp: &Hrp, values: &[Fe32]) -> u32 {
    let mut engine = Engine::<Ck>::new();
    engine.input_hrp(*hrp);
    for v in values {
        engine.input_fe(*v);
    }
    *engine.residue() ^ Ck::TARGET_RESIDUE
}

/// Core's bech32::Decode: HRP, variant and data without the checksum.
fn decode_bech32(s: &str) -> Option<(String, Variant, Vec<u8>)> {
    let parsed = parse(s).ok()?;
    let hrp = Hrp::parse(&parsed.hrp).ok()?;
    let variant = if residue::<Bech32>(&hrp, &parsed.values) == 0 {
        Variant::Bech32
    } else if residue::<Bech32m>(&hrp, &parsed.values) == 0 {
        Variant::Bech32m
    } else {
        return None;
    };
    let data = parsed.values[..parsed.values.len() - CHECKSUM_LEN]
        .iter()
        .map(|v| v.to_u8())
        .collect();
    Some((parsed.hrp, variant, data))
}

/// 5-bit groups to bytes; `None` when the leftover bits are too many or
/// not zero (Core's ConvertBits without padding).
fn regroup(groups: &[u8]) -> Option<Vec<u8>> {
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut out = Vec::with_capacity(groups.len() * 5 / 8);
    for g in groups {
        acc = (acc << 5) | u32::from(*g);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (bits < 5 && acc == 0).then_some(out)
}

/// Core's bech32::LocateErrors.
fn locate_errors(s: &str) -> AddressError {
    let err =
        |message: &'static str, locations: Vec<usize>| AddressError::Bech32 { message, locations };
    let parsed = match parse(s) {
        Ok(p) => p,
        Err(ParseError::TooLong) => {
            return err("Bech32 string too long", (BECH32_LIMIT..s.len()).collect())
        }
        Err(ParseError::Characters(bad)) => return err("Invalid character or mixed case", bad),
        Err(ParseError::MissingSeparator) => return err("Missing separator", vec![]),
        Err(ParseError::SeparatorPosition(p)) => return err("Invalid separator position", vec![p]),
        Err(ParseError::Symbol(i)) => return err("Invalid Base 32 character", vec![i]),
    };
    let Ok(hrp) = Hrp::parse(&parsed.hrp) else {
        return err("Invalid checksum", vec![]);
    };
    let candidates = [
        (Variant::Bech32, residue::<Bech32>(&hrp, &parsed.values)),
        (Variant::Bech32m, residue::<Bech32m>(&hrp, &parsed.values)),
    ];
    let mut best: Vec<usize> = Vec::new();
    let mut variant = None;
    for (v, r) in candidates {
        let found = error_positions(r, parsed.values.len());
        if best.is_empty() || (!found.is_empty() && found.len() < best.len()) {
            best = found;
            if !best.is_empty() {
                variant = Some(v);
            }
        }
    }
    let message = match variant {
        Some(Variant::Bech32) => "Invalid Bech32 checksum",
        Some(Variant::Bech32m) => "Invalid Bech32m checksum",
        None => "Invalid checksum",
    };
    // Positions count from the end of the data part; report string offsets.
    let locations = best.into_iter().map(|p| s.len() - p - 1).collect();
    err(message, locations)
}

/// Positions (from the right, leftmost first) of one or two wrong symbols
/// that explain a non-zero residue, among the last `len` symbols.
fn error_positions(residue: u32, len: usize) -> Vec<usize> {
    if residue == 0 {
        return vec![];
    }
    // The residue is linear in the symbols, so a wrong symbol contributes
    // the residue of (difference, then `p` zeros) minus that of all zeros.
    let mut effect: HashMap<u32, usize> = HashMap::new();
    for e in 1..32u8 {
        let fe = Fe32::try_from(e).expect("below 32");
        let (mut with, mut without) = (Engine::<Bech32>::new(), Engine::<Bech32>::new());
        with.input_fe(fe);
        without.input_fe(Fe32::Q);
        for p in 0..len {
            effect.insert(*with.residue() ^ *without.residue(), p);
            with.input_fe(Fe32::Q);
            without.input_fe(Fe32::Q);
        }
    }
    if let Some(&p) = effect.get(&residue) {
        return vec![p];
    }
    let mut by_position: Vec<(usize, u32)> = effect.iter().map(|(r, p)| (*p, *r)).collect();
    by_position.sort_unstable();
    for (p1, r1) in by_position {
        if let Some(&p2) = effect.get(&(residue ^ r1)) {
            if p2 != p1 {
                return vec![p1.max(p2), p1.min(p2)];
            }
        }
    }
    vec![]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(s: &str) -> (String, Vec<usize>) {
        let e = decode(s, Network::Regtest).unwrap_err();
        (e.to_string(), e.locations().to_vec())
    }

    #[test]
    fn scripts_describe_as_cores_describe_address() {
        let of = |script: ScriptBuf| {
            serde_json::Value::Object(Destination::from_script(&script).unwrap().describe())
        };
        let p2pkh = ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array([7; 20]));
        assert_eq!(
            of(p2pkh),
            serde_json::json!({"isscript": false, "iswitness": false})
        );
        // Taproot is a script; a witness version no soft fork defines says
        // nothing of it; pay-to-anchor shows no program.
        let taproot = ScriptBuf::from_bytes([&[0x51, 32][..], &[9; 32]].concat());
        let t = of(taproot);
        assert_eq!(t["isscript"], true);
        assert_eq!(t["witness_version"], 1);
        assert_eq!(t["witness_program"], "09".repeat(32));
        let v2 = of(ScriptBuf::from_bytes(vec![0x52, 2, 0xab, 0xcd]));
        assert_eq!(
            v2,
            serde_json::json!({"iswitness": true, "witness_version": 2, "witness_program": "abcd"})
        );
        let anchor = of(ScriptBuf::from_bytes(vec![0x51, 2, 0x4e, 0x73]));
        assert_eq!(
            anchor,
            serde_json::json!({"isscript": true, "iswitness": true})
        );
        assert!(Destination::from_script(&ScriptBuf::new_op_return([1, 2])).is_none());
    }

    #[test]
    fn valid_addresses_decode_to_their_scripts() {
        let d = decode("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", Network::Regtest).unwrap();
        assert!(d.script_pubkey().is_p2pkh());
        let d = decode(
            "BCRT1QPLMTZKC2XHARPPZDLNPAQL78RSHJ68U33RAH7R",
            Network::Regtest,
        )
        .unwrap();
        assert!(d.script_pubkey().is_p2wpkh());
        let d = decode("bcrt1p424qxxyd0r", Network::Regtest).unwrap();
        assert_eq!(
            d,
            Destination::Witness {
                version: 1,
                program: vec![0xaa, 0xaa]
            }
        );
    }

    #[test]
    fn errors_use_cores_words_and_locations() {
        assert_eq!(
            error("bcrt1s0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav25430mtr")
                .0,
            "Invalid Bech32 address program size (41 bytes)"
        );
        assert_eq!(
            error("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kqqq5k3my").0,
            "Invalid Bech32 v0 address program size (21 bytes), per BIP141"
        );
        assert_eq!(
            error("bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqdmchcc").0,
            "Version 1+ witness address must use Bech32m checksum"
        );
        assert_eq!(
            error("bcrt1q049edschfnwystcqnsvyfpj23mpsg3jcedq9xv"),
            ("Invalid Bech32 checksum".to_string(), vec![9])
        );
        assert_eq!(
            error("bcrt1qax9suht3qv95sw33xavx8crpxduefdrsvgsklu"),
            ("Invalid Bech32 checksum".to_string(), vec![22, 43])
        );
        assert_eq!(
            error("bcrt1q04oldschfnwystcqnsvyfpj23mpsg3jcedq9xv"),
            ("Invalid Base 32 character".to_string(), vec![8])
        );
        assert_eq!(
            error("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJJfn").0,
            "Invalid checksum or length of Base58 address (P2PKH or P2SH)"
        );
        assert_eq!(
            error("17VZNX1SN5NtKa8UQFxwQbFeFc3iqRYhem").0,
            "Invalid or unsupported Base58-encoded address."
        );
        assert_eq!(
            error("bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx").0,
            "Invalid or unsupported Segwit (Bech32) or Base58 encoding."
        );
    }
}
