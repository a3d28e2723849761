//! mempool/persist: Core's `mempool.dat` format, so a datadir moves between
//! Core and this node with its mempool. Version 2: u64 version, then an
//! 8-byte XOR key (a compact-size-prefixed vector), then, obfuscated with
//! the key by absolute file position: u64 count, each transaction (with
//! witness), its i64 entry time and i64 fee delta, the remaining fee
//! deltas as a map txid -> i64, and the unbroadcast txids as a set.
//! Version 1 is the same without key. Pure bytes: the worker reads and
//! writes the file through the broker.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::consensus::encode::{self, Decodable, Encodable, VarInt};
use bitcoin::{Transaction, Txid};

const VERSION_NO_XOR_KEY: u64 = 1;
const VERSION: u64 = 2;
const KEY_SIZE: usize = 8;

/// One transaction as saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    pub tx: Transaction,
    pub time: i64,
    pub fee_delta: i64,
}

/// A whole mempool.dat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dump {
    pub txs: Vec<Saved>,
    /// Deltas for transactions not among `txs`.
    pub deltas: BTreeMap<Txid, i64>,
    pub unbroadcast: BTreeSet<Txid>,
}

/// Why a mempool.dat could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("unknown mempool.dat version {0}")]
    Version(u64),
    #[error("obfuscation key size should be exactly 8 bytes long")]
    KeySize,
    #[error("{0}")]
    Decode(#[from] encode::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn xor(data: &mut [u8], key: &[u8; KEY_SIZE], start: usize) {
    if key.iter().all(|b| *b == 0) {
        return;
    }
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= key[(start + i) % KEY_SIZE];
    }
}

/// Serialises `dump` as version 2 with `key` (all zero: no obfuscation).
pub fn encode(dump: &Dump, key: [u8; KEY_SIZE]) -> Vec<u8> {
    let mut out = Vec::new();
    // Writes to a Vec cannot fail.
    let _ = VERSION.consensus_encode(&mut out);
    let _ = key.to_vec().consensus_encode(&mut out);
    let start = out.len();
    let mut body = Vec::new();
    let _ = (dump.txs.len() as u64).consensus_encode(&mut body);
    for s in &dump.txs {
        let _ = s.tx.consensus_encode(&mut body);
        let _ = s.time.consensus_encode(&mut body);
        let _ = s.fee_delta.consensus_encode(&mut body);
    }
    let _ = VarInt(dump.deltas.len() as u64).consensus_encode(&mut body);
    for (txid, delta) in &dump.deltas {
        let _ = txid.consensus_encode(&mut body);
        let _ = delta.consensus_encode(&mut body);
    }
    let _ = VarInt(dump.unbroadcast.len() as u64).consensus_encode(&mut body);
    for txid in &dump.unbroadcast {
        let _ = txid.consensus_encode(&mut body);
    }
    xor(&mut body, &key, start);
    out.extend(body);
    out
}

/// Reads a mempool.dat of version 1 or 2.
pub fn decode(bytes: &[u8]) -> Result<Dump, PersistError> {
    let mut r = bytes;
    let version = u64::consensus_decode(&mut r)?;
    let key = match version {
        VERSION_NO_XOR_KEY => [0u8; KEY_SIZE],
        VERSION => {
            let k = Vec::<u8>::consensus_decode(&mut r)?;
            k.try_into().map_err(|_| PersistError::KeySize)?
        }
        v => return Err(PersistError::Version(v)),
    };
    let start = bytes.len() - r.len();
    let mut body = r.to_vec();
    xor(&mut body, &key, start);
    let mut r = body.as_slice();
    let count = u64::consensus_decode(&mut r)?;
    let mut dump = Dump::default();
    for _ in 0..count {
        dump.txs.push(Saved {
            tx: Transaction::consensus_decode(&mut r)?,
            time: i64::consensus_decode(&mut r)?,
            fee_delta: i64::consensus_decode(&mut r)?,
        });
    }
    let n = VarInt::consensus_decode(&mut r)?.0;
    for _ in 0..n {
        let txid = Txid::consensus_decode(&mut r)?;
        dump.deltas.insert(txid, i64::consensus_decode(&mut r)?);
    }
    let n = VarInt::consensus_decode(&mut r)?.0;
    for _ in 0..n {
        dump.unbroadcast.insert(Txid::consensus_decode(&mut r)?);
    }
    Ok(dump)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn sample() -> Dump {
        let tx = Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![bitcoin::TxIn::default()],
            output: vec![bitcoin::TxOut::NULL],
        };
        Dump {
            txs: vec![Saved {
                tx: tx.clone(),
                time: 1_700_000_000,
                fee_delta: -5,
            }],
            deltas: [(Txid::from_byte_array([3; 32]), 1000)].into(),
            unbroadcast: [tx.compute_txid()].into(),
        }
    }

    #[test]
    fn round_trips_with_and_without_a_key() {
        for key in [[0u8; 8], [1, 2, 3, 4, 5, 6, 7, 8]] {
            let bytes = encode(&sample(), key);
            assert_eq!(decode(&bytes).unwrap(), sample());
        }
    }

    #[test]
    fn the_key_hides_the_body_and_layout_is_cores() {
        let plain = encode(&sample(), [0; 8]);
        let hidden = encode(&sample(), [0xaa; 8]);
        // u64 version 2, then the key as a vector: 0x08 and 8 bytes.
        assert_eq!(&hidden[..8], &2u64.to_le_bytes());
        assert_eq!(hidden[8], 8);
        assert_eq!(&hidden[9..17], &[0xaa; 8]);
        assert_ne!(&plain[17..], &hidden[17..]);
        // The count of transactions, XORed with the key.
        assert_eq!(hidden[17], 1 ^ 0xaa);
    }

    #[test]
    fn truncated_or_unknown_files_are_errors() {
        let bytes = encode(&sample(), [9; 8]);
        assert!(decode(&bytes[..bytes.len() - 3]).is_err());
        let mut v3 = bytes.clone();
        v3[0] = 3;
        assert!(matches!(decode(&v3), Err(PersistError::Version(3))));
    }
}
