//! Core's DecodeDestination: an address string for a chain, or Core's message
//! saying what is wrong with it (validateaddress's `error` and
//! `error_locations`). Base58 and bech32 decoding are rust-bitcoin's and the
//! `bech32` crate's; this module only decides which of Core's messages fits.
//!
//! Core also locates up to two mistyped characters in a bech32 string with a
//! BCH decoder; the `bech32` crate has no released error locator, so checksum
//! failures name the checksum kind (from the witness version character) and
//! list no locations.

use bitcoin::address::NetworkUnchecked;
use bitcoin::base58;
use bitcoin::bech32::primitives::decode::{CheckedHrpstring, UncheckedHrpstring};
use bitcoin::bech32::{Bech32, Bech32m};
use bitcoin::{Address, Network};

/// Core's bech32 CharLimit for addresses.
const BECH32_LIMIT: usize = 90;
/// Core's BECH32_WITNESS_PROG_MAX_LEN.
const MAX_PROGRAM: usize = 40;

/// Why a string is not an address of this chain, in Core's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidAddress {
    pub error: String,
    /// Character positions Core points at (bech32 only).
    pub locations: Vec<usize>,
}

fn invalid(error: impl Into<String>) -> InvalidAddress {
    InvalidAddress {
        error: error.into(),
        locations: Vec::new(),
    }
}

/// Core's Bech32HRP for a chain.
fn hrp(network: Network) -> &'static str {
    match network {
        Network::Bitcoin => "bc",
        Network::Regtest => "bcrt",
        _ => "tb",
    }
}

/// Core's base58 prefixes: (pubkey hash, script hash).
fn base58_prefixes(network: Network) -> (u8, u8) {
    match network {
        Network::Bitcoin => (0, 5),
        _ => (111, 196),
    }
}

/// Decodes `text` as an address of `network`, or says why not as Core does.
pub fn decode(text: &str, network: Network) -> Result<Address, InvalidAddress> {
    let expected_hrp = hrp(network);
    let is_bech32 = text
        .get(..expected_hrp.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(expected_hrp));
    let parsed = || {
        text.parse::<Address<NetworkUnchecked>>()
            .ok()
            .and_then(|a| a.require_network(network).ok())
            .ok_or_else(|| invalid("Invalid or unsupported Segwit (Bech32) or Base58 encoding."))
    };
    if !is_bech32 {
        return match base58::decode_check(text) {
            Ok(data) if data.len() <= 21 => {
                let (pkh, sh) = base58_prefixes(network);
                match data.first() {
                    Some(p) if (*p == pkh || *p == sh) && data.len() == 21 => parsed(),
                    Some(p) if *p == pkh || *p == sh => {
                        Err(invalid("Invalid length for Base58 address (P2PKH or P2SH)"))
                    }
                    _ => Err(invalid("Invalid or unsupported Base58-encoded address.")),
                }
            }
            _ => match base58::decode(text) {
                Ok(raw) if raw.len() <= 100 => Err(invalid(
                    "Invalid checksum or length of Base58 address (P2PKH or P2SH)",
                )),
                _ => Err(invalid(
                    "Invalid or unsupported Segwit (Bech32) or Base58 encoding.",
                )),
            },
        };
    }
    if text.len() <= BECH32_LIMIT {
        let checked = CheckedHrpstring::new::<Bech32>(text)
            .map(|c| (c, false))
            .or_else(|_| CheckedHrpstring::new::<Bech32m>(text).map(|c| (c, true)));
        if let Ok((mut checked, bech32m)) = checked {
            return segwit(&mut checked, bech32m, expected_hrp, parsed);
        }
    }
    Err(locate(text))
}

/// Core's checks on a string with a valid bech32 or bech32m checksum.
fn segwit(
    checked: &mut CheckedHrpstring<'_>,
    bech32m: bool,
    expected_hrp: &str,
    parsed: impl Fn() -> Result<Address, InvalidAddress>,
) -> Result<Address, InvalidAddress> {
    let got = checked.hrp().to_lowercase();
    if checked.data_part_ascii_no_checksum().is_empty() {
        return Err(invalid("Empty Bech32 data section"));
    }
    if got != expected_hrp {
        return Err(invalid(format!(
            "Invalid or unsupported prefix for Segwit (Bech32) address (expected {expected_hrp}, got {got})."
        )));
    }
    // The first symbol, whatever it is (the crate's witness version accessors
    // refuse versions above 16, which Core reports later).
    let first = checked.data_part_ascii_no_checksum()[0];
    let version = bitcoin::bech32::Fe32::from_char(first as char)
        .map(|v| v.to_u8())
        .unwrap_or(0);
    if version == 0 && bech32m {
        return Err(invalid(
            "Version 0 witness address must use Bech32 checksum",
        ));
    }
    if version != 0 && !bech32m {
        return Err(invalid(
            "Version 1+ witness address must use Bech32m checksum",
        ));
    }
    if version > 16 {
        // (Core would first report bad padding in such a string, if any.)
        return Err(invalid("Invalid Bech32 address witness version"));
    }
    checked.remove_witness_version();
    if checked.validate_segwit_padding().is_err() {
        return Err(invalid("Invalid padding in Bech32 data section"));
    }
    let program: Vec<u8> = checked.byte_iter().collect();
    let n = program.len();
    let unit = if n == 1 { "byte" } else { "bytes" };
    if version == 0 {
        if n == 20 || n == 32 {
            return parsed();
        }
        return Err(invalid(format!(
            "Invalid Bech32 v0 address program size ({n} {unit}), per BIP141"
        )));
    }
    if version == 1 && (n == 32 || program == [0x4e, 0x73]) {
        return parsed();
    }
    if !(2..=MAX_PROGRAM).contains(&n) {
        return Err(invalid(format!(
            "Invalid Bech32 address program size ({n} {unit})"
        )));
    }
    parsed()
}

/// Core's LocateErrors, short of its checksum error locator.
fn locate(text: &str) -> InvalidAddress {
    if text.len() > BECH32_LIMIT {
        return InvalidAddress {
            error: "Bech32 string too long".into(),
            locations: (BECH32_LIMIT..text.len()).collect(),
        };
    }
    // Core's CheckCharacters: mixed case and characters outside 33..=126.
    let (mut lower, mut upper, mut bad) = (false, false, Vec::new());
    for (i, c) in text.bytes().enumerate() {
        match c {
            b'a'..=b'z' if upper => bad.push(i),
            b'a'..=b'z' => lower = true,
            b'A'..=b'Z' if lower => bad.push(i),
            b'A'..=b'Z' => upper = true,
            c if !(33..=126).contains(&c) => bad.push(i),
            _ => {}
        }
    }
    if !bad.is_empty() {
        return InvalidAddress {
            error: "Invalid character or mixed case".into(),
            locations: bad,
        };
    }
    let Some(pos) = text.rfind('1') else {
        return invalid("Missing separator");
    };
    if pos == 0 || pos + 6 >= text.len() {
        return InvalidAddress {
            error: "Invalid separator position".into(),
            locations: vec![pos],
        };
    }
    const CHARSET: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    if let Some(i) = text[pos + 1..]
        .bytes()
        .position(|c| !CHARSET.contains(c.to_ascii_lowercase() as char))
    {
        return InvalidAddress {
            error: "Invalid Base 32 character".into(),
            locations: vec![pos + 1 + i],
        };
    }
    // A checksum error: the witness version says which checksum was meant.
    let meant_bech32m = UncheckedHrpstring::new(text)
        .ok()
        .and_then(|u| u.witness_version())
        .is_some_and(|v| v.to_u8() != 0);
    invalid(if meant_bech32m {
        "Invalid Bech32m checksum"
    } else {
        "Invalid Bech32 checksum"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        decode(s, Network::Regtest).unwrap_err().error
    }

    #[test]
    fn cores_messages_for_each_kind_of_mistake() {
        // Vectors from Core's rpc_invalid_address_message.py.
        assert!(decode(
            "bcrt1qtmp74ayg7p24uslctssvjm06q5phz4yrxucgnv",
            Network::Regtest
        )
        .is_ok());
        assert!(decode("bcrt1p424qxxyd0r", Network::Regtest).is_ok());
        assert!(decode(
            "BCRT1QPLMTZKC2XHARPPZDLNPAQL78RSHJ68U33RAH7R",
            Network::Regtest
        )
        .is_ok());
        assert!(decode("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", Network::Regtest).is_ok());
        assert_eq!(
            err("bcrt1s0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav25430mtr"),
            "Invalid Bech32 address program size (41 bytes)"
        );
        assert_eq!(
            err("bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx"),
            "Invalid or unsupported Segwit (Bech32) or Base58 encoding."
        );
        assert_eq!(
            err("bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqdmchcc"),
            "Version 1+ witness address must use Bech32m checksum"
        );
        assert_eq!(
            err("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7k35mrzd"),
            "Version 0 witness address must use Bech32 checksum"
        );
        assert_eq!(
            err("bcrt130xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqynjegk"),
            "Invalid Bech32 address witness version"
        );
        assert_eq!(
            err("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kqqq5k3my"),
            "Invalid Bech32 v0 address program size (21 bytes), per BIP141"
        );
        let long = "bcrt1q049edschfnwystcqnsvyfpj23mpsg3jcedq9xv049edschfnwystcqnsvyfpj23mpsg3jcedq9xv049edschfnwystcqnsvyfpj23m";
        let e = decode(long, Network::Regtest).unwrap_err();
        assert_eq!(e.error, "Bech32 string too long");
        assert_eq!(e.locations, (90..108).collect::<Vec<_>>());
        assert_eq!(
            err("bcrt1q049edschfnwystcqnsvyfpj23mpsg3jcedq9xv"),
            "Invalid Bech32 checksum"
        );
        assert_eq!(
            err("bcrtq049ldschfnwystcqnsvyfpj23mpsg3jcedq9xv"),
            "Missing separator"
        );
        let e = decode(
            "bcrt1q04oldschfnwystcqnsvyfpj23mpsg3jcedq9xv",
            Network::Regtest,
        )
        .unwrap_err();
        assert_eq!(
            (e.error.as_str(), e.locations),
            ("Invalid Base 32 character", vec![8])
        );
        assert_eq!(
            err("17VZNX1SN5NtKa8UQFxwQbFeFc3iqRYhem"),
            "Invalid or unsupported Base58-encoded address."
        );
        assert_eq!(
            err("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJJfn"),
            "Invalid checksum or length of Base58 address (P2PKH or P2SH)"
        );
        assert_eq!(
            err("2VKf7XKMrp4bVNVmuRbyCewkP8FhGLP2E54LHDPakr9Sq5mtU2"),
            "Invalid checksum or length of Base58 address (P2PKH or P2SH)"
        );
        assert_eq!(
            err("asfah14i8fajz0123f"),
            "Invalid or unsupported Segwit (Bech32) or Base58 encoding."
        );
        assert_eq!(
            err("1q049ldschfnwystcqnsvyfpj23mpsg3jcedq9xv"),
            "Invalid or unsupported Segwit (Bech32) or Base58 encoding."
        );
    }
}
