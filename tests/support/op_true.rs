//! Coins anyone can spend, for tests and benches: outputs to P2WSH(OP_TRUE)
//! and transactions spending them with the witness script alone (standard,
//! so they pass the mempool's policy).
#![allow(dead_code)]

use bitcoin::{
    absolute::LockTime, transaction::Version, Address, Amount, Network, OutPoint, ScriptBuf,
    Sequence, Transaction, TxIn, TxOut, Witness,
};

/// The witness script: OP_TRUE.
pub fn op_true() -> ScriptBuf {
    ScriptBuf::from_bytes(vec![0x51])
}

/// Its regtest P2WSH address.
pub fn address() -> String {
    Address::p2wsh(&op_true(), Network::Regtest).to_string()
}

/// Spends `inputs` (each worth `value_in`) into `outputs` equal P2WSH(OP_TRUE)
/// outputs, paying `fee`; signals replaceability.
pub fn spend(inputs: &[OutPoint], value_in: u64, outputs: usize, fee: u64) -> Transaction {
    let each = (value_in * inputs.len() as u64 - fee) / outputs as u64;
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: inputs
            .iter()
            .map(|op| TxIn {
                previous_output: *op,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::from_slice(&[op_true().as_bytes()]),
            })
            .collect(),
        output: (0..outputs)
            .map(|_| TxOut {
                value: Amount::from_sat(each),
                script_pubkey: Address::p2wsh(&op_true(), Network::Regtest).script_pubkey(),
            })
            .collect(),
    }
}

pub fn hex(tx: &Transaction) -> String {
    bitcoin::consensus::encode::serialize_hex(tx)
}
