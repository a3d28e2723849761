//! The descriptor, multisig, script and raw-transaction RPCs of a real
//! `bitcoin-node -regtest`, checked against Core's functional-test vectors
//! and against values computed here with rust-bitcoin and miniscript's
//! checksum: getdescriptorinfo, deriveaddresses, createmultisig,
//! decodescript, createrawtransaction, signrawtransactionwithkey,
//! combinerawtransaction, and the `desc` of every scriptPubKey.

mod common;

use bitcoin::hashes::{hash160, Hash};
use bitcoin::hex::{DisplayHex, FromHex};
use bitcoin::opcodes::all::{OP_CHECKMULTISIG, OP_CHECKSIG};
use bitcoin::script::Builder;
use bitcoin::{Address, Network, PublicKey, ScriptBuf, Transaction, WPubkeyHash};
use common::{members, ok, rpc, TestNode};
use miniscript::descriptor::checksum::desc_checksum;
use serde_json::{json, Value};

const TPRV: &str = "tprv8ZgxMBicQKsPd7Uf69XL1XwhmjHopUGep8GuEiJDZmbQz6o58LninorQAfcKZWARbtRtfnLcJ5MQ2AtHcQJCCRUcMRvmDUjyEmNUWwx8UbK";
const TPUB: &str = "tpubD6NzVbkrYhZ4WaWSyoBvQwbpLkojyoTZPRsgXELWz3Popb3qkjcJyJUGLnL4qHHoQvao8ESaAstxYSnhyswJ76uZPStJRJCTKvosUCJZL5B";
const ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const TXID: &str = "1d1d4e24ed99057e84c3f80fd8fbec79ed9e1acee37da269356ecea000000000";
const KEY1: &str = "03789ed0bb717d88f7d321a368d905e7430207ebbd82bd342cf11ae157a7ace5fd";
const KEY2: &str = "03dbc6764b8884a92e871274b87583e6d5c2a58819473e17e107ef3f6aa5a61626";

fn err(node: &TestNode, method: &str, params: Value) -> (i64, String) {
    rpc(node, method, params).expect_err(method)
}

/// `body#checksum`, computed with miniscript.
fn sum(body: &str) -> String {
    format!("{body}#{}", desc_checksum(body).unwrap())
}

fn address(s: &ScriptBuf) -> String {
    Address::from_script(s, Network::Regtest)
        .unwrap()
        .to_string()
}

#[test]
fn getdescriptorinfo_and_deriveaddresses_answer_as_core() {
    let node = TestNode::start(&[]);
    // Core's rpc_getdescriptorinfo.py: the canonical form is the input with its checksum.
    for (desc, isrange) in [
        ("pk(0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798)", false),
        ("combo(0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798)", false),
        ("sh(wsh(pkh(02e493dbf1c10d80f3581e4904930b1404cc6c13900ee0758474fa94abe8c4cd13)))", false),
        ("multi(1,022f8bde4d1a07209355b4a7250a5c5128e88b84bddc619ab7cba8d569b240efe4,025cbdf0646e5db4eaa398f365f2ea7a0e3d419b7e0330e39ce92bddedcac4f9bc)", false),
        (&format!("pkh({TPUB}/1'/2)"), false),
        (&format!("pkh([d34db33f/44'/0'/0']{TPUB}/1/*)"), true),
        (&format!("wsh(multi(1,{TPUB}/1/0/*,{TPUB}/0/0/*))"), true),
    ] {
        let info = ok(&node, "getdescriptorinfo", json!([desc]));
        let with_sum = sum(desc);
        assert_eq!(info, json!({
            "descriptor": with_sum,
            "checksum": &with_sum[with_sum.len() - 8..],
            "isrange": isrange,
            "issolvable": true,
            "hasprivatekeys": false,
        }), "{desc}");
        assert_eq!(ok(&node, "getdescriptorinfo", json!([with_sum])), info);
    }
    // A private key prints as its public form; addr() and raw() are not solvable.
    let info = ok(
        &node,
        "getdescriptorinfo",
        json!([format!("wpkh({TPRV}/1/1/0)")]),
    );
    assert_eq!(info["descriptor"], format!("wpkh({TPUB}/1/1/0)#s9ga3alw"));
    assert_eq!(info["checksum"], "t6wfjs64");
    assert_eq!(info["hasprivatekeys"], true);
    let info = ok(
        &node,
        "getdescriptorinfo",
        json!([format!("addr({ADDRESS})")]),
    );
    assert_eq!(info["issolvable"], false);
    assert_eq!(info["descriptor"], sum(&format!("addr({ADDRESS})")));
    assert_eq!(
        err(&node, "getdescriptorinfo", json!([""])),
        (-5, "'' is not a valid descriptor function".into())
    );
    assert_eq!(err(&node, "getdescriptorinfo", json!([1])).0, -3);

    // Core's rpc_deriveaddresses.py.
    let derive = |params: Value| rpc(&node, "deriveaddresses", params);
    let first = "bcrt1qjqmxmkpmxt80xz4y3746zgt0q3u3ferr34acd5";
    assert_eq!(derive(json!(["a"])), Err((-5, "Missing checksum".into())));
    assert_eq!(
        derive(json!([format!("wpkh({TPRV}/1/1/0)#t6wfjs64")])),
        Ok(json!([first]))
    );
    assert_eq!(
        derive(json!([format!("wpkh({TPRV}/1/1/0)")])),
        Err((-5, "Missing checksum".into()))
    );
    assert_eq!(
        derive(json!([format!("wpkh({TPUB}/1/1/0)#s9ga3alw")])),
        Ok(json!([first]))
    );
    let ranged = format!("wpkh({TPRV}/1/1/*)#kft60nuy");
    let next = [
        "bcrt1qhku5rq7jz8ulufe2y6fkcpnlvpsta7rq4442dy",
        "bcrt1qpgptk2gvshyl0s9lqshsmx932l9ccsv265tvaq",
    ];
    assert_eq!(derive(json!([ranged, [1, 2]])), Ok(json!(next)));
    // An explicit null range is no range (current Core).
    for params in [json!([ranged]), json!([ranged, null])] {
        assert_eq!(
            derive(params),
            Err((-8, "Range must be specified for a ranged descriptor".into()))
        );
    }
    assert_eq!(
        derive(json!([ranged, 2])),
        Ok(json!([first, next[0], next[1]]))
    );
    let unranged = sum(&format!("wpkh({TPRV}/1/1/0)"));
    let ranged = sum(&format!("wpkh({TPRV}/1/1/*)"));
    let range_error = |desc: &str, range: Value| derive(json!([desc, range])).unwrap_err();
    assert_eq!(
        range_error(&unranged, json!([0, 2])),
        (
            -8,
            "Range should not be specified for an un-ranged descriptor".into()
        )
    );
    assert_eq!(
        derive(json!([ranged])),
        Err((-8, "Range must be specified for a ranged descriptor".into()))
    );
    assert_eq!(
        range_error(&ranged, json!(10_000_000_000u64)),
        (-8, "End of range is too high".into())
    );
    assert_eq!(
        range_error(&ranged, json!([1_000_000_000, 2_000_000_000])),
        (-8, "Range is too large".into())
    );
    assert_eq!(
        range_error(&ranged, json!([2, 0])),
        (
            -8,
            "Range specified as [begin,end] must not have begin after end".into()
        )
    );
    assert_eq!(
        range_error(&ranged, json!([-1, 0])),
        (-8, "Range should be greater or equal than 0".into())
    );
    // combo() skips its P2PK script, which has no address.
    let combo = sum(&format!("combo({TPRV}/1/1/0)"));
    assert_eq!(
        derive(json!([combo])),
        Ok(json!([
            "mtfUoUax9L4tzXARpw1oTGxWyoogp52KhJ",
            first,
            "2NDvEwGfpEqJWfybzpKPHF2XH3jwoQV3D7x"
        ]))
    );
    let hardened = sum(&format!("wpkh({TPUB}/1'/1/0)"));
    assert_eq!(
        derive(json!([hardened])),
        Err((-5, "Cannot derive script without private keys".into()))
    );
    let bare = sum(&format!("multi(1,{TPUB}/1/1/0,{TPUB}/1/1/1)"));
    assert_eq!(
        derive(json!([bare])),
        Err((
            -5,
            "Descriptor does not have a corresponding address".into()
        ))
    );
}

#[test]
fn createmultisig_and_decodescript_answer_as_core() {
    let node = TestNode::start(&[]);
    let keys: Vec<PublicKey> = [KEY1, KEY2].iter().map(|k| k.parse().unwrap()).collect();
    let redeem = Builder::new()
        .push_int(2)
        .push_key(&keys[0])
        .push_key(&keys[1])
        .push_int(2)
        .push_opcode(OP_CHECKMULTISIG)
        .into_script();
    let multi = format!("multi(2,{KEY1},{KEY2})");
    for (ty, addr, desc) in [
        (None, address(&redeem.to_p2sh()), format!("sh({multi})")),
        (
            Some("legacy"),
            address(&redeem.to_p2sh()),
            format!("sh({multi})"),
        ),
        (
            Some("p2sh-segwit"),
            address(&redeem.to_p2wsh().to_p2sh()),
            format!("sh(wsh({multi}))"),
        ),
        (
            Some("bech32"),
            address(&redeem.to_p2wsh()),
            format!("wsh({multi})"),
        ),
    ] {
        let mut params = json!([2, [KEY1, KEY2]]);
        if let Some(ty) = ty {
            params.as_array_mut().unwrap().push(ty.into());
        }
        let got = ok(&node, "createmultisig", params);
        assert_eq!(
            got,
            json!({"address": addr, "redeemScript": redeem.to_hex_string(), "descriptor": sum(&desc)}),
            "{ty:?}"
        );
    }
    // An uncompressed key forces legacy, with Core's warning.
    let uncompressed = "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";
    let got = ok(
        &node,
        "createmultisig",
        json!([1, [uncompressed], "bech32"]),
    );
    assert_eq!(
        got["descriptor"],
        sum(&format!("sh(multi(1,{uncompressed}))"))
    );
    assert_eq!(got["warnings"], json!(["Unable to make chosen address type, please ensure no uncompressed public keys are present."]));
    let e = |params: Value| err(&node, "createmultisig", params);
    assert_eq!(
        e(json!([2, [KEY1, KEY2], "bech32m"])),
        (
            -5,
            "createmultisig cannot create bech32m multisig addresses".into()
        )
    );
    assert_eq!(
        e(json!([2, [KEY1, KEY2], "foo"])),
        (-5, "Unknown address type 'foo'".into())
    );
    assert_eq!(
        e(json!([0, [KEY1]])),
        (
            -8,
            "a multisignature address must require at least one key to redeem".into()
        )
    );
    assert_eq!(
        e(json!([3, [KEY1, KEY2]])),
        (
            -8,
            "not enough keys supplied (got 2 keys, but need at least 3 to redeem)".into()
        )
    );
    assert_eq!(
        e(json!([1, ["01"]])),
        (
            -5,
            "Pubkey \"01\" must have a length of either 33 or 65 bytes".into()
        )
    );
    assert_eq!(
        e(json!([1, ["zz"]])),
        (-5, "Pubkey \"zz\" must be a hex string".into())
    );

    // decodescript (Core's rpc_decodescript.py shapes, values computed here).
    let key = "03b0da749730dc9b4b1f4a14d6902877a92541f5368778853d9c4a0cb7802dcfb2";
    let p2pk = Builder::new()
        .push_slice(<[u8; 33]>::from_hex(key).unwrap())
        .push_opcode(OP_CHECKSIG)
        .into_script();
    let hash = hash160::Hash::hash(&Vec::from_hex(key).unwrap());
    let p2wpkh = ScriptBuf::new_p2wpkh(&WPubkeyHash::from_raw_hash(hash));
    let got = ok(&node, "decodescript", json!([p2pk.to_hex_string()]));
    assert_eq!(
        got,
        json!({
            "asm": format!("{key} OP_CHECKSIG"),
            "desc": sum(&format!("pk({key})")),
            "type": "pubkey",
            "p2sh": address(&p2pk.to_p2sh()),
            "segwit": {
                "asm": format!("0 {}", hash.to_byte_array().to_lower_hex_string()),
                "desc": sum(&format!("addr({})", address(&p2wpkh))),
                "hex": p2wpkh.to_hex_string(),
                "address": address(&p2wpkh),
                "type": "witness_v0_keyhash",
                "p2sh-segwit": address(&p2wpkh.to_p2sh()),
            },
        })
    );
    assert_eq!(members(&got), ["asm", "desc", "type", "p2sh", "segwit"]);
    // A multisig wraps into P2WSH, whose descriptor Core infers from the script.
    let got = ok(&node, "decodescript", json!([redeem.to_hex_string()]));
    assert_eq!(got["type"], "multisig");
    assert_eq!(got["desc"], sum(&multi));
    assert_eq!(got["segwit"]["desc"], sum(&format!("wsh({multi})")));
    assert_eq!(got["segwit"]["address"], address(&redeem.to_p2wsh()));
    // Core's miniscript vector: an offered HTLC is shown as wsh(miniscript).
    let htlc = "82012088a914ffffffffffffffffffffffffffffffffffffffff88210250929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0ad51b2";
    assert_eq!(
        ok(&node, "decodescript", json!([htlc]))["segwit"]["desc"],
        "wsh(and_v(and_v(v:hash160(ffffffffffffffffffffffffffffffffffffffff),v:pk(0250929b74c1a04954b78b4b6035e97a5e078a5a0f28ec96d547bfee9ace803ac0)),older(1)))#gm8xz4fl"
    );
    // Data carriers and witness programs are not wrapped (P2WPKH still gets p2sh).
    let got = ok(&node, "decodescript", json!(["6a0568656c6c6f"]));
    assert_eq!(
        got,
        json!({"asm": "OP_RETURN 68656c6c6f", "desc": sum("raw(6a0568656c6c6f)"), "type": "nulldata"})
    );
    let got = ok(&node, "decodescript", json!([p2wpkh.to_hex_string()]));
    assert_eq!(got["address"], address(&p2wpkh));
    assert_eq!(got["p2sh"], address(&p2wpkh.to_p2sh()));
    assert!(got.get("segwit").is_none());
    assert_eq!(
        ok(&node, "decodescript", json!([""]))["desc"],
        "raw()#58lrscpx"
    );
    assert_eq!(
        err(&node, "decodescript", json!(["zz"])),
        (-8, "argument must be hexadecimal string (not 'zz')".into())
    );
}

fn decode(hex: &Value) -> Transaction {
    bitcoin::consensus::encode::deserialize_hex(hex.as_str().unwrap()).unwrap()
}

#[test]
fn createrawtransaction_follows_cores_rules_and_scripts_carry_desc() {
    let node = TestNode::start(&[]);
    let spk = ADDRESS
        .parse::<Address<_>>()
        .unwrap()
        .assume_checked()
        .script_pubkey();
    let input = json!([{"txid": TXID, "vout": 1}]);
    let tx = decode(&ok(
        &node,
        "createrawtransaction",
        json!([input, {ADDRESS: 0.1}]),
    ));
    assert_eq!(tx.version.0, 2);
    assert_eq!(tx.lock_time.to_consensus_u32(), 0);
    assert_eq!(tx.input[0].previous_output.txid.to_string(), TXID);
    assert_eq!(tx.input[0].previous_output.vout, 1);
    assert_eq!(tx.input[0].sequence.0, 0xffff_fffd);
    assert_eq!(
        (tx.output[0].value.to_sat(), &tx.output[0].script_pubkey),
        (10_000_000, &spk)
    );
    // Not replaceable: final, or lock-time enabled when there is a lock time.
    let tx = decode(&ok(
        &node,
        "createrawtransaction",
        json!([input, [{ADDRESS: "1"}, {"data": "00010203"}], 0, false]),
    ));
    assert_eq!(tx.input[0].sequence.0, 0xffff_ffff);
    assert_eq!(tx.output[1].script_pubkey.to_hex_string(), "6a0400010203");
    let tx = decode(&ok(
        &node,
        "createrawtransaction",
        json!([input, {}, 100, false, 3]),
    ));
    assert_eq!(
        (
            tx.input[0].sequence.0,
            tx.lock_time.to_consensus_u32(),
            tx.version.0
        ),
        (0xffff_fffe, 100, 3)
    );

    let e = |params: Value| err(&node, "createrawtransaction", params);
    let with = |txin: Value| json!([[txin], {}]);
    assert_eq!(
        e(with(json!({"txid": "foo", "vout": 0}))),
        (-8, "txid must be of length 64 (not 3, for 'foo')".into())
    );
    assert_eq!(
        e(with(json!({"txid": TXID}))),
        (-8, "Invalid parameter, missing vout key".into())
    );
    assert_eq!(
        e(with(json!({"txid": TXID, "vout": "foo"}))),
        (-8, "Invalid parameter, missing vout key".into())
    );
    assert_eq!(
        e(with(json!({"txid": TXID, "vout": -1}))),
        (-8, "Invalid parameter, vout cannot be negative".into())
    );
    assert_eq!(
        e(with(json!({"txid": TXID, "vout": 0, "sequence": -1}))),
        (
            -8,
            "Invalid parameter, sequence number is out of range".into()
        )
    );
    assert_eq!(
        e(json!([[], {"data": "foo"}])),
        (-8, "Data must be hexadecimal string (not 'foo')".into())
    );
    assert_eq!(
        e(json!([[], {"foo": 0}])),
        (-5, "Invalid Bitcoin address: foo".into())
    );
    assert_eq!(
        e(json!([[], {ADDRESS: "foo"}])),
        (-3, "Invalid amount".into())
    );
    assert_eq!(
        e(json!([[], {ADDRESS: -1}])),
        (-3, "Amount out of range".into())
    );
    assert_eq!(
        e(json!([[], [{ADDRESS: 1}, {ADDRESS: 1}]])),
        (
            -8,
            format!("Invalid parameter, duplicated address: {ADDRESS}")
        )
    );
    assert_eq!(
        e(json!([[], [{"data": "aa"}, {"data": "bb"}]])),
        (-8, "Invalid parameter, duplicate key: data".into())
    );
    assert_eq!(
        e(json!([[], [{"a": 1, "b": 2}]])),
        (
            -8,
            "Invalid parameter, key-value pair must contain exactly one key".into()
        )
    );
    assert_eq!(
        e(json!([[], [["key-value pair1"], ["2"]]])),
        (
            -8,
            "Invalid parameter, key-value pair not an object as expected".into()
        )
    );
    assert_eq!(
        e(json!([[{"txid": TXID, "vout": 0, "sequence": 0xffff_fffeu32}], {}, 0, true])),
        (
            -8,
            "Invalid parameter combination: Sequence number(s) contradict replaceable option"
                .into()
        )
    );
    assert_eq!(
        e(json!([[], {}, -1])),
        (-8, "Invalid parameter, locktime out of range".into())
    );
    assert_eq!(
        e(json!([[], {}, 4_294_967_296u64])),
        (-8, "Invalid parameter, locktime out of range".into())
    );

    // Every scriptPubKey carries Core's inferred descriptor, in Core's member order.
    let hex = ok(&node, "createrawtransaction", json!([input, {ADDRESS: 1}]));
    let decoded = ok(&node, "decoderawtransaction", json!([hex]));
    let shown = &decoded["vout"][0]["scriptPubKey"];
    assert_eq!(
        shown,
        &json!({
            "asm": format!("0 {}", spk.as_bytes()[2..].to_lower_hex_string()),
            "desc": sum(&format!("addr({ADDRESS})")),
            "hex": spk.to_hex_string(),
            "address": ADDRESS,
            "type": "witness_v0_keyhash",
        })
    );
    assert_eq!(members(shown), ["asm", "desc", "hex", "address", "type"]);
    let mined = ok(&node, "generatetoaddress", json!([1, ADDRESS]));
    let block = ok(&node, "getblock", json!([mined[0], 2]));
    let coinbase = &block["tx"][0];
    assert_eq!(
        coinbase["vout"][0]["scriptPubKey"]["desc"],
        sum(&format!("addr({ADDRESS})"))
    );
    // The witness commitment is an OP_RETURN: raw().
    let commitment = &coinbase["vout"][1]["scriptPubKey"];
    assert_eq!(
        commitment["desc"],
        sum(&format!("raw({})", commitment["hex"].as_str().unwrap()))
    );
    let out = ok(&node, "gettxout", json!([coinbase["txid"], 0]));
    assert_eq!(
        out["scriptPubKey"]["desc"],
        sum(&format!("addr({ADDRESS})"))
    );
}

#[test]
fn signed_messages_verify_against_the_signing_p2pkh_address_only() {
    let node = TestNode::start(&["-disablewallet"]);
    let wif = "cUeKHd5orzT3mz8P9pxyREHfsWtVfgsfDjiZZBcjUBAaGk1BTj7N";
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let key = bitcoin::PrivateKey::from_wif(wif).unwrap();
    let pkh = Address::p2pkh(key.public_key(&secp), Network::Regtest).to_string();
    let wpkh = Address::p2wpkh(&key.public_key(&secp).try_into().unwrap(), Network::Regtest);
    let message = "a message to sign";
    let signature = ok(&node, "signmessagewithprivkey", json!([wif, message]));
    // Deterministic (RFC 6979): a 65-byte compact signature, base64.
    assert_eq!(
        signature,
        ok(&node, "signmessagewithprivkey", json!([wif, message]))
    );
    assert_eq!(signature.as_str().unwrap().len(), 88);
    assert_eq!(
        ok(&node, "verifymessage", json!([pkh, signature, message])),
        json!(true)
    );
    assert_eq!(
        ok(&node, "verifymessage", json!([pkh, signature, "another"])),
        json!(false)
    );
    assert_eq!(
        rpc(&node, "verifymessage", json!([wpkh, signature, message])),
        Err((-3, "Address does not refer to key".into()))
    );
    assert_eq!(
        rpc(&node, "verifymessage", json!([pkh, "not base64!", message])),
        Err((-3, "Malformed base64 encoding".into()))
    );
    assert_eq!(
        rpc(&node, "verifymessage", json!(["nope", signature, message])),
        Err((-5, "Invalid address".into()))
    );
    assert_eq!(
        rpc(&node, "signmessagewithprivkey", json!(["nope", message])),
        Err((-5, "Invalid private key".into()))
    );
    // A mainnet key is not this chain's.
    let mainnet = bitcoin::PrivateKey::new(key.inner, Network::Bitcoin).to_wif();
    assert_eq!(
        rpc(&node, "signmessagewithprivkey", json!([mainnet, message])),
        Err((-5, "Invalid private key".into()))
    );
}

#[test]
fn asm_and_address_errors_read_as_cores() {
    let node = TestNode::start(&[]);
    // Core's opcode names and numbers in decodescript.
    let key: PublicKey = KEY1.parse().unwrap();
    let cltv = Builder::new()
        .push_opcode(bitcoin::opcodes::all::OP_IF)
        .push_key(&key)
        .push_opcode(bitcoin::opcodes::all::OP_CHECKSIGVERIFY)
        .push_opcode(bitcoin::opcodes::all::OP_ELSE)
        .push_int(500_000)
        .push_opcode(bitcoin::opcodes::all::OP_CLTV)
        .push_opcode(bitcoin::opcodes::all::OP_DROP)
        .push_opcode(bitcoin::opcodes::all::OP_ENDIF)
        .push_int(-1)
        .push_int(16)
        .into_script();
    let decoded = ok(&node, "decodescript", json!([cltv.to_hex_string()]));
    assert_eq!(
        decoded["asm"],
        format!("OP_IF {KEY1} OP_CHECKSIGVERIFY OP_ELSE 500000 OP_CHECKLOCKTIMEVERIFY OP_DROP OP_ENDIF -1 16")
    );
    // A taproot output with a key on the curve is rawtr(), as in Core.
    let xonly = "ee".repeat(32);
    let decoded = ok(&node, "decodescript", json!([format!("5120{xonly}")]));
    assert_eq!(decoded["desc"], sum(&format!("rawtr({xonly})")));

    // A scriptSig's signature shows its sighash type; OP_RETURN data does not.
    let der = format!("30440220{}0220{}", "11".repeat(32), "22".repeat(32));
    let mut tx = Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: bitcoin::OutPoint::new(TXID.parse().unwrap(), 0),
            ..Default::default()
        }],
        output: vec![],
    };
    tx.input[0].script_sig = ScriptBuf::from_hex(&format!("47{der}8121{KEY1}")).unwrap();
    let hex = bitcoin::consensus::encode::serialize_hex(&tx);
    let decoded = ok(&node, "decoderawtransaction", json!([hex]));
    assert_eq!(
        decoded["vin"][0]["scriptSig"]["asm"],
        format!("{der}[ALL|ANYONECANPAY] {KEY1}")
    );

    // validateaddress: Core's DecodeDestination messages and locations.
    for (addr, error, locations) in [
        (
            "bcrt1s0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav25430mtr",
            "Invalid Bech32 address program size (41 bytes)",
            vec![],
        ),
        (
            "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7k35mrzd",
            "Version 0 witness address must use Bech32 checksum",
            vec![],
        ),
        (
            "bcrt1qax9suht3qv95sw33xavx8crpxduefdrsvgsklu",
            "Invalid Bech32 checksum",
            vec![22, 43],
        ),
        (
            "BCRT1QPLMTZKC2XHARPPZDLNPAQL78RSHJ68U32RAH7R",
            "Invalid Bech32 checksum",
            vec![38],
        ),
        (
            "bcrtq049ldschfnwystcqnsvyfpj23mpsg3jcedq9xv",
            "Missing separator",
            vec![],
        ),
        (
            "2VKf7XKMrp4bVNVmuRbyCewkP8FhGLP2E54LHDPakr9Sq5mtU2",
            "Invalid checksum or length of Base58 address (P2PKH or P2SH)",
            vec![],
        ),
        (
            "asfah14i8fajz0123f",
            "Invalid or unsupported Segwit (Bech32) or Base58 encoding.",
            vec![],
        ),
    ] {
        let info = ok(&node, "validateaddress", json!([addr]));
        assert_eq!(
            info,
            json!({"isvalid": false, "error_locations": locations, "error": error}),
            "{addr}"
        );
    }
    let info = ok(&node, "validateaddress", json!(["bcrt1p424qxxyd0r"]));
    assert_eq!(
        info,
        json!({
            "isvalid": true,
            "address": "bcrt1p424qxxyd0r",
            "scriptPubKey": "5102aaaa",
            "iswitness": true,
            "witness_version": 1,
            "witness_program": "aaaa",
        })
    );
    // An explicit null for a required argument is a type error, not help.
    let (code, message) = err(&node, "validateaddress", json!([null]));
    assert_eq!(code, -3);
    assert!(message.contains("JSON value of type null is not of expected type string"));
}

#[test]
fn descriptor_key_errors_read_as_cores() {
    let node = TestNode::start(&[]);
    let key = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";
    for (desc, message) in [
        (
            format!("pk( {key})"),
            format!("pk(): Key ' {key}' is invalid due to whitespace"),
        ),
        (
            format!("wsh(multi(1,{KEY1}, {KEY2}))"),
            format!("Multi: Key ' {KEY2}' is invalid due to whitespace"),
        ),
        (
            format!("multi(3,{KEY1},{KEY2})"),
            "Multisig threshold cannot be larger than the number of keys; threshold is 3 but only 2 keys specified".to_string(),
        ),
        (
            "wpkh(nokey)".to_string(),
            "wpkh(): key 'nokey' is not valid".to_string(),
        ),
        (String::new(), "'' is not a valid descriptor function".to_string()),
    ] {
        assert_eq!(
            err(&node, "getdescriptorinfo", json!([desc])),
            (-5, message),
            "{desc}"
        );
    }
}

#[test]
fn raw_transactions_are_signed_with_given_keys_and_partial_signatures_combine() {
    let node = TestNode::start(&["-disablewallet"]);
    let secp = bitcoin::secp256k1::Secp256k1::new();
    let key = |n: u8| {
        let secret = bitcoin::secp256k1::SecretKey::from_slice(&[n; 32]).unwrap();
        bitcoin::PrivateKey::new(secret, Network::Regtest)
    };
    let (a, b) = (key(1), key(2));
    let (pa, pb) = (a.public_key(&secp), b.public_key(&secp));
    let miner = Address::p2wpkh(&pa.try_into().unwrap(), Network::Regtest).to_string();
    let hashes = ok(&node, "generatetoaddress", json!([101, miner]));
    let block = ok(&node, "getblock", json!([hashes[0], 1]));
    let coinbase = block["tx"][0].as_str().unwrap().to_string();

    // Pay the first coinbase to a 2-of-2 P2WSH multisig: the node finds the
    // spent coin (and its amount) in its UTXO set.
    let msig = ok(
        &node,
        "createmultisig",
        json!([2, [pa.to_string(), pb.to_string()], "bech32"]),
    );
    let fund = ok(
        &node,
        "createrawtransaction",
        json!([[{"txid": coinbase, "vout": 0}], [{msig["address"].as_str().unwrap(): 49.999}]]),
    );
    let signed = ok(
        &node,
        "signrawtransactionwithkey",
        json!([fund, [a.to_wif()]]),
    );
    assert_eq!(members(&signed), ["hex", "complete"]);
    assert_eq!(signed["complete"], json!(true));
    let fund_txid = ok(&node, "sendrawtransaction", json!([signed["hex"]]));

    // Spend it: each key alone leaves the input short of a signature, with
    // Core's error entry; the two halves combine into a valid transaction.
    let spend = ok(
        &node,
        "createrawtransaction",
        json!([[{"txid": fund_txid, "vout": 0}], [{miner.clone(): 49.998}]]),
    );
    let spk = msig["address"]
        .as_str()
        .unwrap()
        .parse::<Address<bitcoin::address::NetworkUnchecked>>()
        .unwrap()
        .assume_checked()
        .script_pubkey();
    let prevtx = json!([{"txid": fund_txid, "vout": 0, "scriptPubKey": spk.to_hex_string(),
        "witnessScript": msig["redeemScript"], "amount": 49.999}]);
    let half_a = ok(
        &node,
        "signrawtransactionwithkey",
        json!([spend, [a.to_wif()], prevtx]),
    );
    let half_b = ok(
        &node,
        "signrawtransactionwithkey",
        json!([spend, [b.to_wif()], prevtx]),
    );
    assert_eq!(half_a["complete"], json!(false));
    let error = &half_a["errors"][0];
    assert_eq!(
        members(error),
        ["txid", "vout", "witness", "scriptSig", "sequence", "error"]
    );
    assert_eq!(error["txid"], fund_txid);
    assert_eq!(error["vout"], json!(0));
    assert_eq!(error["sequence"], json!(0xffff_fffdu32));
    assert_eq!(error["scriptSig"], json!(""));
    // Dummy, A's signature, an empty slot, the witness script.
    assert_eq!(error["witness"].as_array().unwrap().len(), 4);
    assert_eq!(
        error["error"],
        json!("CHECK(MULTI)SIG failing with non-zero signature (possibly need more signatures)")
    );
    assert_eq!(
        rpc(&node, "sendrawtransaction", json!([half_a["hex"]]))
            .unwrap_err()
            .0,
        -26
    );
    let combined = ok(
        &node,
        "combinerawtransaction",
        json!([[half_a["hex"], half_b["hex"]]]),
    );
    let txid = ok(&node, "sendrawtransaction", json!([combined]));
    assert!(ok(&node, "getrawmempool", json!([]))
        .as_array()
        .unwrap()
        .contains(&txid));

    // Core's refusals.
    assert_eq!(
        err(&node, "signrawtransactionwithkey", json!([spend, ["123"]])),
        (-5, "Invalid private key".into())
    );
    assert_eq!(
        err(
            &node,
            "signrawtransactionwithkey",
            json!([spend, [a.to_wif()], null, "all"])
        ),
        (-8, "'all' is not a valid sighash parameter.".into())
    );
    assert_eq!(
        err(
            &node,
            "signrawtransactionwithkey",
            json!([format!("{}00", spend.as_str().unwrap()), []])
        ),
        (
            -22,
            "TX decode failed. Make sure the tx has at least one input.".into()
        )
    );
    let no_amount = json!([{"txid": fund_txid, "vout": 0, "scriptPubKey": spk.to_hex_string(),
        "witnessScript": msig["redeemScript"]}]);
    let (code, message) = err(
        &node,
        "signrawtransactionwithkey",
        json!([spend, [a.to_wif()], no_amount]),
    );
    assert_eq!(code, -3);
    assert!(
        message
            .starts_with("Missing amount for CTxOut(nValue=21000000.00000000, scriptPubKey=0020"),
        "{message}"
    );
    let no_script = json!([{"txid": fund_txid, "vout": 0, "scriptPubKey": spk.to_hex_string()}]);
    assert_eq!(
        err(
            &node,
            "signrawtransactionwithkey",
            json!([spend, [a.to_wif()], no_script])
        ),
        (-8, "Missing redeemScript/witnessScript".into())
    );
    assert_eq!(
        err(&node, "combinerawtransaction", json!([[half_a["hex"]]])),
        (
            -22,
            "Missing transactions. At least two transactions required.".into()
        )
    );
    assert_eq!(
        err(
            &node,
            "combinerawtransaction",
            json!([[half_a["hex"], signed["hex"]]])
        ),
        (
            -8,
            "Transaction number 2 not compatible with first transaction".into()
        )
    );
}
