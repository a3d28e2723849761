//! net/bloom: BIP37 connection bloom filters, offered with
//! `-peerbloomfilters` (NODE_BLOOM, BIP111) as Core offers them. A peer's
//! filter (`filterload`, `filteradd`, `filterclear`) decides which
//! transactions are announced to it and which of a block's transactions a
//! `merkleblock` proves; matches may add the matched outputs to the filter
//! (BLOOM_UPDATE_ALL, BLOOM_UPDATE_P2PUBKEY_ONLY). A filter over Core's
//! limits, or a `filteradd` without a filter or over 520 bytes, is
//! misbehaviour. The filter and its checks here; the messages' handlers on
//! `Net` at the end.

use std::collections::HashSet;
use std::rc::Rc;

use bitcoin::consensus::Encodable;
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_bloom::{BloomFlags, FilterLoad};
use bitcoin::script::{Instruction, Script};
use bitcoin::{Block, MerkleBlock, OutPoint, Transaction};

use super::{Fault, Net, Peer};

/// Core's MAX_BLOOM_FILTER_SIZE (bytes) and MAX_HASH_FUNCS.
pub const MAX_FILTER_SIZE: usize = 36_000;
pub const MAX_HASH_FUNCS: u32 = 50;
/// Core's MAX_SCRIPT_ELEMENT_SIZE: the largest `filteradd` element.
pub const MAX_ELEMENT_SIZE: usize = 520;

/// One peer's filter.
#[derive(Clone, Debug)]
pub struct BloomFilter {
    data: Vec<u8>,
    hash_funcs: u32,
    tweak: u32,
    flags: BloomFlags,
}

impl BloomFilter {
    /// The filter a `filterload` sets, if it is within Core's limits.
    pub fn load(f: &FilterLoad) -> Option<Self> {
        (f.filter.len() <= MAX_FILTER_SIZE && f.hash_funcs <= MAX_HASH_FUNCS).then(|| Self {
            data: f.filter.clone(),
            hash_funcs: f.hash_funcs,
            tweak: f.tweak,
            flags: f.flags,
        })
    }

    /// The bit of hash function `n` for `element`.
    fn bit(&self, n: u32, element: &[u8]) -> usize {
        let seed = n.wrapping_mul(0xFBA4_C795).wrapping_add(self.tweak);
        let hash = murmur3::murmur3_32(&mut std::io::Cursor::new(element), seed).unwrap_or(0);
        hash as usize % (self.data.len() * 8)
    }

    /// Adds `element` (`filteradd`, or a matched output). An empty filter
    /// stays empty (Core's CVE-2013-5700 guard).
    pub fn insert(&mut self, element: &[u8]) {
        if self.data.is_empty() {
            return;
        }
        for n in 0..self.hash_funcs {
            let bit = self.bit(n, element);
            self.data[bit >> 3] |= 1 << (bit & 7);
        }
    }

    /// Whether `element` may be in the filter; an empty filter matches all.
    pub fn contains(&self, element: &[u8]) -> bool {
        if self.data.is_empty() {
            return true;
        }
        (0..self.hash_funcs).all(|n| {
            let bit = self.bit(n, element);
            self.data[bit >> 3] & (1 << (bit & 7)) != 0
        })
    }

    fn insert_outpoint(&mut self, outpoint: OutPoint) {
        self.insert(&outpoint_bytes(outpoint));
    }

    /// Core's IsRelevantAndUpdate: the txid, a data push of an output
    /// script, a spent outpoint or a data push of an input script matches.
    /// A matched output is added to the filter as the flags say.
    pub fn relevant_and_update(&mut self, tx: &Transaction) -> bool {
        if self.data.is_empty() {
            return true;
        }
        let txid = tx.compute_txid();
        let mut found = self.contains(txid.as_byte_array());
        for (vout, out) in tx.output.iter().enumerate() {
            if !pushes(&out.script_pubkey).any(|data| self.contains(&data)) {
                continue;
            }
            found = true;
            let outpoint = OutPoint::new(txid, vout as u32);
            match self.flags {
                BloomFlags::All => self.insert_outpoint(outpoint),
                BloomFlags::PubkeyOnly
                    if out.script_pubkey.is_p2pk() || out.script_pubkey.is_multisig() =>
                {
                    self.insert_outpoint(outpoint)
                }
                _ => {}
            }
        }
        if found {
            return true;
        }
        tx.input.iter().any(|input| {
            self.contains(&outpoint_bytes(input.previous_output))
                || pushes(&input.script_sig).any(|data| self.contains(&data))
        })
    }
}

/// An outpoint as Core serialises it: txid, then the index (LE).
fn outpoint_bytes(outpoint: OutPoint) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(36);
    let _ = outpoint.consensus_encode(&mut bytes);
    bytes
}

/// The non-empty data pushes of a script, up to the first bad opcode.
fn pushes(script: &Script) -> impl Iterator<Item = Vec<u8>> + '_ {
    script
        .instructions()
        .map_while(Result::ok)
        .filter_map(|i| match i {
            Instruction::PushBytes(b) if !b.is_empty() => Some(b.as_bytes().to_vec()),
            _ => None,
        })
}

impl Net {
    /// `filterload`: the peer's filter, and transactions relayed to it
    /// from now on (also if its version message said no).
    pub(super) fn on_filterload(&self, peer: &Peer, f: &FilterLoad) -> Result<(), Fault> {
        let Some(filter) = BloomFilter::load(f) else {
            return Err(Fault::Misbehaving("too-large bloom filter".into()));
        };
        if peer.info.borrow().conn_type.relays_txs() {
            *peer.relay.bloom.borrow_mut() = Some(filter);
            self.relay_switched_on(peer, "filterload")?;
        }
        Ok(())
    }

    /// The peer asks for transactions from now on: as Core, an inbound
    /// peer that did not before needs a transaction-relaying slot
    /// (`-inboundrelaypercent`), or its connection ends.
    fn relay_switched_on(&self, peer: &Peer, after: &str) -> Result<(), Fault> {
        if peer.relay.relay_txs.replace(true) {
            return Ok(());
        }
        self.make_room_for_tx_relay(peer, after)
            .map_err(Fault::Disconnect)
    }

    /// `filteradd`: one more element, if a filter is loaded.
    pub(super) fn on_filteradd(&self, peer: &Peer, data: &[u8]) -> Result<(), Fault> {
        let mut bloom = peer.relay.bloom.borrow_mut();
        match bloom.as_mut() {
            Some(filter) if data.len() <= MAX_ELEMENT_SIZE => {
                filter.insert(data);
                Ok(())
            }
            _ if data.len() <= MAX_ELEMENT_SIZE && !peer.info.borrow().conn_type.relays_txs() => {
                Ok(())
            }
            _ => Err(Fault::Misbehaving("bad filteradd message".into())),
        }
    }

    /// `filterclear`: no filter; every transaction is relayed again.
    pub(super) fn on_filterclear(&self, peer: &Peer) -> Result<(), Fault> {
        if peer.info.borrow().conn_type.relays_txs() {
            *peer.relay.bloom.borrow_mut() = None;
            self.relay_switched_on(peer, "filterclear")?;
        }
        Ok(())
    }

    /// A `getdata` for a filtered block: a `merkleblock` proving the
    /// transactions the peer's filter matches, then those transactions
    /// (without witnesses). Without a filter the request is ignored.
    pub(super) fn serve_filtered_block(&self, peer: &Rc<Peer>, block: &Block) {
        let mut bloom = peer.relay.bloom.borrow_mut();
        let Some(filter) = bloom.as_mut() else { return };
        let matched: Vec<&Transaction> = block
            .txdata
            .iter()
            .filter(|tx| filter.relevant_and_update(tx))
            .collect();
        let ids: HashSet<bitcoin::Txid> = matched.iter().map(|tx| tx.compute_txid()).collect();
        peer.push(NetworkMessage::MerkleBlock(
            MerkleBlock::from_block_with_predicate(block, |txid| ids.contains(txid)),
        ));
        for tx in matched {
            let mut tx = tx.clone();
            tx.input.iter_mut().for_each(|i| i.witness.clear());
            peer.push(NetworkMessage::Tx(tx));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(size: usize, hash_funcs: u32, tweak: u32, flags: BloomFlags) -> BloomFilter {
        BloomFilter::load(&FilterLoad {
            filter: vec![0; size],
            hash_funcs,
            tweak,
            flags,
        })
        .unwrap()
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn bits_are_cores() {
        // Core's bloom_create_insert_serialize vector: 3 bytes, 5 hash
        // functions, tweak 0.
        let mut f = filter(3, 5, 0, BloomFlags::All);
        f.insert(&hex("99108ad8ed9bb6274d3980bab5a85c048f0950c8"));
        assert!(f.contains(&hex("99108ad8ed9bb6274d3980bab5a85c048f0950c8")));
        assert!(!f.contains(&hex("19108ad8ed9bb6274d3980bab5a85c048f0950c8")));
        f.insert(&hex("b5a2c786d9ef4658287ced5914b37a1b4aa32eee"));
        f.insert(&hex("b9300670b4c5366e95b2699e8b18bc75e5f729c5"));
        assert_eq!(f.data, hex("614e9b"));
        // With tweak 2147483649 (Core's bloom_create_insert_serialize_with_tweak).
        let mut f = filter(3, 5, 2_147_483_649, BloomFlags::All);
        f.insert(&hex("99108ad8ed9bb6274d3980bab5a85c048f0950c8"));
        f.insert(&hex("b5a2c786d9ef4658287ced5914b37a1b4aa32eee"));
        f.insert(&hex("b9300670b4c5366e95b2699e8b18bc75e5f729c5"));
        assert_eq!(f.data, hex("ce4299"));
    }

    #[test]
    fn limits_and_the_empty_filter() {
        let load = |size, hash_funcs| {
            BloomFilter::load(&FilterLoad {
                filter: vec![0xbb; size],
                hash_funcs,
                tweak: 0,
                flags: BloomFlags::None,
            })
        };
        assert!(load(MAX_FILTER_SIZE, MAX_HASH_FUNCS).is_some());
        assert!(load(MAX_FILTER_SIZE + 1, 1).is_none());
        assert!(load(1, MAX_HASH_FUNCS + 1).is_none());
        // An empty filter matches everything and takes nothing (no
        // division by zero).
        let mut empty = load(0, 1).unwrap();
        empty.insert(b"letstrytocrashthisnode");
        assert!(empty.contains(b"anything"));
    }

    #[test]
    fn outputs_match_and_are_added_as_the_flags_say() {
        use bitcoin::{absolute, transaction, Amount, ScriptBuf, TxIn, TxOut};
        let watched = [0xff; 20];
        let spk = ScriptBuf::new_p2sh(&bitcoin::ScriptHash::from_byte_array(watched));
        let tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn::default()],
            output: vec![TxOut {
                value: Amount::from_sat(1000),
                script_pubkey: spk,
            }],
        };
        let spend = Transaction {
            input: vec![TxIn {
                previous_output: OutPoint::new(tx.compute_txid(), 0),
                ..TxIn::default()
            }],
            output: vec![],
            ..tx.clone()
        };
        for (flags, follows) in [(BloomFlags::All, true), (BloomFlags::None, false)] {
            let mut f = filter(64, 10, 7, flags);
            assert!(!f.relevant_and_update(&tx));
            f.insert(&watched);
            assert!(f.relevant_and_update(&tx));
            // With BLOOM_UPDATE_ALL the matched output is in the filter,
            // so the transaction spending it matches too.
            assert_eq!(f.relevant_and_update(&spend), follows, "{flags:?}");
        }
    }
}
