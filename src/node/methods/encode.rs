//! Blocks, headers, transactions and scripts as Core's JSON
//! (blockheaderToJSON, blockToJSON, TxToUniv, ScriptToUniv, ScriptToAsmStr,
//! GetTxnOutputType), with Core's member order.

use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hex::DisplayHex;
use bitcoin::{Address, Block, Network, Script, Transaction};
use serde_json::{json, Map, Value};

use crate::chain::{headers::difficulty, BlockInfo, Chain, SpentCoin};
use crate::rpc::json::{amount, double};
pub use crate::script::asm::asm;
use crate::script::asm::asm_script_sig;
use crate::script::{infer, solver};

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
    tx_spending(t, network, include_hex, None)
}

/// Core's TxToUniv with the transaction's undo data: `spent` (one coin per
/// input) adds the fee, and with `prevout` each input's spent coin.
pub fn tx_spending(
    t: &Transaction,
    network: Network,
    include_hex: bool,
    spent: Option<(&[SpentCoin], bool)>,
) -> Value {
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
        .enumerate()
        .map(|(n, i)| {
            let mut v = Map::new();
            if t.is_coinbase() {
                v.insert("coinbase".into(), hex(i.script_sig.as_bytes()).into());
            } else {
                v.insert("txid".into(), i.previous_output.txid.to_string().into());
                v.insert("vout".into(), i.previous_output.vout.into());
                v.insert(
                    "scriptSig".into(),
                    json!({"asm": asm_script_sig(&i.script_sig), "hex": hex(i.script_sig.as_bytes())}),
                );
            }
            if !i.witness.is_empty() {
                v.insert(
                    "txinwitness".into(),
                    i.witness.iter().map(|w| Value::from(hex(w))).collect(),
                );
            }
            if let Some(coin) = spent.filter(|s| s.1).and_then(|s| s.0.get(n)) {
                v.insert(
                    "prevout".into(),
                    json!({
                        "generated": coin.coinbase,
                        "height": coin.height,
                        "value": amount(coin.txout.value.to_sat() as i64),
                        "scriptPubKey": script_pub_key(&coin.txout.script_pubkey, network),
                    }),
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
    if let Some((coins, _)) = spent.filter(|_| !t.is_coinbase()) {
        let spent_value: u64 = coins.iter().map(|c| c.txout.value.to_sat()).sum();
        let paid: u64 = t.output.iter().map(|out| out.value.to_sat()).sum();
        o.insert(
            "fee".into(),
            amount(spent_value.saturating_sub(paid) as i64),
        );
    }
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

/// Core's blockToJSON for verbosity 1 (txids) or 2/3 (transactions, with
/// fees when `undo` holds what the block spent, and the spent coins at 3).
pub fn block(
    chain: &Chain,
    info: &BlockInfo,
    b: &Block,
    verbosity: i64,
    undo: Option<&[Vec<SpentCoin>]>,
) -> Value {
    let mut v = header(chain, info, Some(b.txdata.len()));
    let o = v.as_object_mut().expect("header is an object");
    let stripped: usize = bitcoin::consensus::encode::serialize(&b.header).len()
        + bitcoin::VarInt(b.txdata.len() as u64).size()
        + b.txdata.iter().map(|t| t.base_size()).sum::<usize>();
    o.insert("strippedsize".into(), stripped.into());
    o.insert("size".into(), b.total_size().into());
    o.insert("weight".into(), b.weight().to_wu().into());
    if let Some(cb) = b.txdata.first().filter(|t| !t.input.is_empty()) {
        o.insert("coinbase_tx".into(), coinbase_tx(cb));
    }
    let txs: Vec<Value> = b
        .txdata
        .iter()
        .enumerate()
        .map(|(n, t)| {
            if verbosity >= 2 {
                // The coinbase has no undo data; transaction n spent
                // undo[n - 1].
                let spent = n
                    .checked_sub(1)
                    .and_then(|i| undo.and_then(|u| u.get(i)))
                    .map(|c| (c.as_slice(), verbosity >= 3));
                tx_spending(t, chain.network(), true, spent)
            } else {
                t.compute_txid().to_string().into()
            }
        })
        .collect();
    o.insert("tx".into(), txs.into());
    v
}

/// Core's coinbaseTxToJSON: what a miner put in the coinbase.
fn coinbase_tx(cb: &Transaction) -> Value {
    let vin = &cb.input[0];
    let mut o = json!({
        "version": cb.version.0,
        "locktime": cb.lock_time.to_consensus_u32(),
        "sequence": vin.sequence.0,
        "coinbase": hex(vin.script_sig.as_bytes()),
    });
    if let Some(w) = vin.witness.iter().next() {
        o["witness"] = hex(w).into();
    }
    o
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
    }
}
