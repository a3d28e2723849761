//! Blocks, headers, transactions and scripts as Core's JSON
//! (blockheaderToJSON, blockToJSON, TxToUniv, ScriptToUniv, ScriptToAsmStr,
//! GetTxnOutputType), with Core's member order.

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hex::DisplayHex;
use bitcoin::script::Instruction;
use bitcoin::{Address, Block, Network, Script, Transaction};
use serde_json::{json, Map, Value};

use crate::chain::{headers::difficulty, BlockInfo, Chain};
use crate::rpc::json::{amount, double};
use crate::script::{infer, solver};

/// Core's ScriptToAsmStr: small pushes as numbers, others as hex, opcodes by
/// Core's names.
pub fn asm(script: &Script) -> String {
    asm_with(script, false)
}

/// Core's ScriptToAsmStr with `fAttemptSighashDecode` (a scriptSig): a push
/// that is a strictly encoded signature with a defined sighash type shows the
/// type by name (`...[ALL]`) instead of its last byte.
pub fn script_sig_asm(script: &Script) -> String {
    asm_with(script, !script.is_op_return())
}

fn asm_with(script: &Script, sighash_decode: bool) -> String {
    let mut parts = Vec::new();
    for ins in script.instructions() {
        match ins {
            Ok(Instruction::PushBytes(b)) => {
                let bytes = b.as_bytes();
                if bytes.len() <= 4 {
                    parts.push(script_num(bytes).to_string());
                } else if let Some(sig) = sighash_decode
                    .then(|| bitcoin::ecdsa::Signature::from_slice(bytes).ok())
                    .flatten()
                {
                    parts.push(format!(
                        "{}[{}]",
                        hex(&bytes[..bytes.len() - 1]),
                        sighash_name(sig.sighash_type)
                    ));
                } else {
                    parts.push(hex(bytes));
                }
            }
            Ok(Instruction::Op(op)) => parts.push(op_name(op.to_u8(), op)),
            Err(_) => {
                parts.push("[error]".to_string());
                break;
            }
        }
    }
    parts.join(" ")
}

/// Core's mapSigHashTypes names.
fn sighash_name(t: bitcoin::EcdsaSighashType) -> &'static str {
    use bitcoin::EcdsaSighashType::*;
    match t {
        All => "ALL",
        AllPlusAnyoneCanPay => "ALL|ANYONECANPAY",
        None => "NONE",
        NonePlusAnyoneCanPay => "NONE|ANYONECANPAY",
        Single => "SINGLE",
        SinglePlusAnyoneCanPay => "SINGLE|ANYONECANPAY",
    }
}

/// Core's GetOpName where it differs from rust-bitcoin's: small numbers as
/// numbers, the BIP65/BIP112 names, OP_UNKNOWN past OP_CHECKSIGADD.
fn op_name(code: u8, op: bitcoin::opcodes::Opcode) -> String {
    match code {
        0x4f => "-1".to_string(),
        0x51..=0x60 => (code - 0x50).to_string(),
        0xb1 => "OP_CHECKLOCKTIMEVERIFY".to_string(),
        0xb2 => "OP_CHECKSEQUENCEVERIFY".to_string(),
        0xbb..=0xff => "OP_UNKNOWN".to_string(),
        _ => op.to_string(),
    }
}

fn script_num(bytes: &[u8]) -> i64 {
    if bytes.is_empty() {
        return 0;
    }
    let mut v: i64 = 0;
    for (i, b) in bytes.iter().enumerate() {
        v |= (*b as i64) << (8 * i);
    }
    let last = bytes[bytes.len() - 1];
    if last & 0x80 != 0 {
        -(v & !(0x80i64 << (8 * (bytes.len() - 1))))
    } else {
        v
    }
}

/// Lower-case hex, as Core prints bytes.
pub fn hex(b: &[u8]) -> String {
    b.to_lower_hex_string()
}

/// The target `bits` stands for, as the 64 hex digits Core prints.
pub fn target_hex(bits: u32) -> String {
    let target = bitcoin::Target::from_compact(bitcoin::CompactTarget::from_consensus(bits));
    hex(&target.to_be_bytes())
}

/// Core's GetTxnOutputType name.
pub fn script_type(s: &Script) -> &'static str {
    solver::solve(s).name()
}

/// Core's ScriptToUniv with the address shown: asm, desc (the descriptor
/// the caller inferred), hex (when `with_hex`), address (when there is one),
/// type.
pub fn script_json(
    s: &Script,
    desc: String,
    network: Network,
    with_hex: bool,
) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("asm".into(), asm(s).into());
    o.insert("desc".into(), desc.into());
    if with_hex {
        o.insert("hex".into(), hex(s.as_bytes()).into());
    }
    if let Ok(a) = Address::from_script(s, network) {
        o.insert("address".into(), a.to_string().into());
    }
    o.insert("type".into(), script_type(s).into());
    o
}

/// A scriptPubKey object: asm, desc, hex, address (when it has one), type.
pub fn script_pub_key(s: &Script, network: Network) -> Value {
    Value::Object(script_json(s, infer::infer(s, network), network, true))
}

/// Core's TxToUniv (without fee and block fields).
pub fn tx(t: &Transaction, network: Network, include_hex: bool) -> Value {
    let mut o = Map::new();
    o.insert("txid".into(), t.compute_txid().to_string().into());
    o.insert("hash".into(), t.compute_wtxid().to_string().into());
    o.insert("version".into(), t.version.0.into());
    o.insert("size".into(), t.total_size().into());
    o.insert("vsize".into(), t.vsize().into());
    o.insert("weight".into(), t.weight().to_wu().into());
    o.insert("locktime".into(), t.lock_time.to_consensus_u32().into());
    let vin: Vec<Value> = t
        .input
        .iter()
        .map(|i| {
            let mut v = Map::new();
            if t.is_coinbase() {
                v.insert("coinbase".into(), hex(i.script_sig.as_bytes()).into());
            } else {
                v.insert("txid".into(), i.previous_output.txid.to_string().into());
                v.insert("vout".into(), i.previous_output.vout.into());
                v.insert(
                    "scriptSig".into(),
                    json!({"asm": script_sig_asm(&i.script_sig), "hex": hex(i.script_sig.as_bytes())}),
                );
            }
            if !i.witness.is_empty() {
                v.insert(
                    "txinwitness".into(),
                    i.witness.iter().map(|w| Value::from(hex(w))).collect(),
                );
            }
            v.insert("sequence".into(), i.sequence.0.into());
            Value::Object(v)
        })
        .collect();
    o.insert("vin".into(), vin.into());
    let vout: Vec<Value> = t
        .output
        .iter()
        .enumerate()
        .map(|(n, out)| {
            json!({
                "value": amount(out.value.to_sat() as i64),
                "n": n,
                "scriptPubKey": script_pub_key(&out.script_pubkey, network),
            })
        })
        .collect();
    o.insert("vout".into(), vout.into());
    if include_hex {
        o.insert("hex".into(), serialize_hex(t).into());
    }
    Value::Object(o)
}

/// Core's blockheaderToJSON.
pub fn header(chain: &Chain, info: &BlockInfo, n_tx: Option<usize>) -> Value {
    let tip = chain.tip();
    let h = &info.header;
    let mut o = Map::new();
    o.insert("hash".into(), info.hash.to_string().into());
    let confirmations = if info.in_active_chain {
        (tip.height - info.height + 1) as i64
    } else {
        -1
    };
    o.insert("confirmations".into(), confirmations.into());
    o.insert("height".into(), info.height.into());
    o.insert("version".into(), h.version.to_consensus().into());
    o.insert(
        "versionHex".into(),
        format!("{:08x}", h.version.to_consensus() as u32).into(),
    );
    o.insert("merkleroot".into(), h.merkle_root.to_string().into());
    o.insert("time".into(), h.time.into());
    o.insert(
        "mediantime".into(),
        chain.median_time_past(&info.hash).unwrap_or(h.time).into(),
    );
    o.insert("nonce".into(), h.nonce.into());
    o.insert(
        "bits".into(),
        format!("{:08x}", h.bits.to_consensus()).into(),
    );
    o.insert("target".into(), target_hex(h.bits.to_consensus()).into());
    o.insert(
        "difficulty".into(),
        double(difficulty(h.bits.to_consensus())),
    );
    let work = chain
        .chain_work(&info.hash)
        .map(|w| hex(&w.to_be_bytes()))
        .unwrap_or_default();
    o.insert("chainwork".into(), work.into());
    if let Some(n) = n_tx {
        o.insert("nTx".into(), n.into());
    }
    if info.height > 0 {
        o.insert(
            "previousblockhash".into(),
            h.prev_blockhash.to_string().into(),
        );
    }
    if info.in_active_chain {
        if let Some(next) = chain.block_at(info.height + 1) {
            o.insert("nextblockhash".into(), next.hash.to_string().into());
        }
    }
    Value::Object(o)
}

/// Core's blockToJSON for verbosity 1 (txids) or 2/3 (transactions).
pub fn block(chain: &Chain, info: &BlockInfo, b: &Block, verbosity: i64) -> Value {
    let mut v = header(chain, info, Some(b.txdata.len()));
    let o = v.as_object_mut().expect("header is an object");
    let stripped: usize = bitcoin::consensus::encode::serialize(&b.header).len()
        + bitcoin::VarInt(b.txdata.len() as u64).size()
        + b.txdata.iter().map(|t| t.base_size()).sum::<usize>();
    o.insert("strippedsize".into(), stripped.into());
    o.insert("size".into(), b.total_size().into());
    o.insert("weight".into(), b.weight().to_wu().into());
    let txs: Vec<Value> = b
        .txdata
        .iter()
        .map(|t| {
            if verbosity >= 2 {
                tx(t, chain.network(), true)
            } else {
                t.compute_txid().to_string().into()
            }
        })
        .collect();
    o.insert("tx".into(), txs.into());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asm_prints_small_pushes_as_numbers_like_core() {
        let s = bitcoin::ScriptBuf::from_bytes(vec![0x51, 0x00, 0x02, 0x2c, 0x01, 0x76]);
        assert_eq!(asm(&s), "1 0 300 OP_DUP");
        let p2wpkh = bitcoin::ScriptBuf::from_bytes([&[0x00, 0x14][..], &[0xab; 20]].concat());
        assert_eq!(asm(&p2wpkh), format!("0 {}", "ab".repeat(20)));
        assert_eq!(script_type(&p2wpkh), "witness_v0_keyhash");
        // Core's names for BIP65/BIP112 and unknown opcodes.
        let s = bitcoin::ScriptBuf::from_bytes(vec![0x03, 0x20, 0xa1, 0x07, 0xb1, 0xb2, 0xbc]);
        assert_eq!(
            asm(&s),
            "500000 OP_CHECKLOCKTIMEVERIFY OP_CHECKSEQUENCEVERIFY OP_UNKNOWN"
        );
    }

    #[test]
    fn script_sigs_name_the_sighash_of_strict_signatures() {
        // A DER signature (r = s = 1) with SIGHASH_ALL, then one with an
        // undefined type: only the first is decoded.
        let der = [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01];
        let with = |t: u8| {
            let mut push = der.to_vec();
            push.push(t);
            bitcoin::script::Builder::new()
                .push_slice(<&bitcoin::script::PushBytes>::try_from(&push[..]).unwrap())
                .into_script()
        };
        assert_eq!(script_sig_asm(&with(0x01)), format!("{}[ALL]", hex(&der)));
        assert_eq!(
            script_sig_asm(&with(0x83)),
            format!("{}[SINGLE|ANYONECANPAY]", hex(&der))
        );
        assert_eq!(script_sig_asm(&with(0x04)), format!("{}04", hex(&der)));
        // Outside a scriptSig nothing is decoded.
        assert_eq!(asm(&with(0x01)), format!("{}01", hex(&der)));
    }
}
