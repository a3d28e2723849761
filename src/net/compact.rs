//! net/compact: compact blocks (BIP152) in low-bandwidth mode, version 2
//! (wtxid short ids). We send `sendcmpct(0, 2)` after the handshake; peers
//! that ask with `getdata(MSG_CMPCT_BLOCK)` get `cmpctblock`, and
//! `getblocktxn` gets `blocktxn`. When a new block that extends our tip is
//! announced by a peer that sent `sendcmpct` version 2, we ask for it
//! compact, rebuild it from the mempool, fetch what is missing with
//! `getblocktxn`, and fall back to the full block if the rebuilt one does
//! not match its merkle root. High-bandwidth mode as Core: a peer whose
//! block became our tip is asked (`sendcmpct(1, 2)`) to send its next
//! blocks compact at once, up to three such peers, keeping one outbound
//! among them; a peer that asked us gets new tips as `cmpctblock`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use bitcoin::bip152::{BlockTransactionsRequest, HeaderAndShortIds, ShortId};
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::message_compact_blocks::{BlockTxn, CmpctBlock, GetBlockTxn, SendCmpct};
use bitcoin::{Block, BlockHash, Transaction};

use super::{Fault, Net, Peer};

/// Core's MAX_BLOCKTXN_DEPTH: how deep a block's transactions are still
/// served by `blocktxn`.
const MAX_BLOCKTXN_DEPTH: i32 = 10;
/// Core's MAX_CMPCTBLOCK_DEPTH: how deep a block is still served compact.
const MAX_CMPCTBLOCK_DEPTH: i32 = 5;

/// Our `sendcmpct`: version 2, high-bandwidth or not.
fn sendcmpct(high_bandwidth: bool) -> NetworkMessage {
    NetworkMessage::SendCmpct(SendCmpct {
        send_compact: high_bandwidth,
        version: 2,
    })
}

/// BIP152's limit on high-bandwidth peers.
const MAX_HIGH_BANDWIDTH: usize = 3;

/// More transactions than fit in a block: a malformed compact block.
const MAX_BLOCK_TXS: usize = 4_000_000 / 60;

/// One peer's compact block state.
#[derive(Default)]
pub(super) struct PeerCompact {
    /// The peer sent `sendcmpct` with version 2.
    pub v2: Cell<bool>,
    /// The peer asked for new blocks as `cmpctblock` at once (BIP152
    /// high-bandwidth; getpeerinfo's bip152_hb_from).
    pub hb_from: Cell<bool>,
    /// We asked the peer for that (bip152_hb_to).
    pub hb_to: Cell<bool>,
    /// A block being rebuilt from this peer: its header and the slots, some
    /// still empty.
    partial: RefCell<Option<Partial>>,
}

struct Partial {
    header: bitcoin::block::Header,
    slots: Vec<Option<Transaction>>,
    /// The rebuilt block did not match its header (the whole block was
    /// asked for instead): more `blocktxn` for it is misbehaviour.
    failed: bool,
}

/// Core's MAX_CMPCTBLOCKS_INFLIGHT_PER_BLOCK: peers completing one compact
/// block at a time.
const MAX_COMPLETING_PEERS: usize = 3;

/// The block of a header and its filled slots.
fn assemble(header: bitcoin::block::Header, slots: Vec<Option<Transaction>>) -> Block {
    Block {
        header,
        txdata: slots.into_iter().flatten().collect(),
    }
}

/// Rebuilds the transaction list of `c` from `known` (wtxid short id ->
/// transaction): every slot filled, or the indexes still missing. Err when
/// the compact block is malformed.
fn rebuild(
    c: &HeaderAndShortIds,
    known: &HashMap<ShortId, Arc<Transaction>>,
) -> Result<Vec<Option<Transaction>>, String> {
    let n = c.short_ids.len() + c.prefilled_txs.len();
    if n == 0 || n > MAX_BLOCK_TXS {
        return Err(format!("compact block with {n} transactions"));
    }
    let mut slots: Vec<Option<Transaction>> = vec![None; n];
    // Prefilled indexes are differential: each counts from after the last.
    let mut next = 0usize;
    for p in &c.prefilled_txs {
        let at = next
            .checked_add(p.idx as usize)
            .filter(|a| *a < n)
            .ok_or("prefilled transaction index out of range")?;
        slots[at] = Some(p.tx.clone());
        next = at + 1;
    }
    let mut ids = c.short_ids.iter();
    for slot in slots.iter_mut().filter(|s| s.is_none()) {
        let id = ids.next().ok_or("fewer short ids than empty slots")?;
        *slot = known.get(id).map(|tx| (**tx).clone());
    }
    Ok(slots)
}

impl Net {
    /// After the handshake: low-bandwidth compact blocks, version 2.
    pub(super) fn offer_compact(&self, peer: &Rc<Peer>) {
        peer.push(sendcmpct(false));
    }

    pub(super) fn on_sendcmpct(&self, peer: &Rc<Peer>, s: &SendCmpct) {
        if s.version == 2 {
            peer.compact.v2.set(true);
            peer.compact.hb_from.set(s.send_compact);
        }
    }

    /// Core's MaybeSetPeerAsAnnouncingHeaderAndIDs, after `peer` gave us a
    /// block that became our tip: it joins our (at most three)
    /// high-bandwidth peers, the longest-serving one leaving; an inbound
    /// newcomer never pushes out the last outbound one.
    pub(super) fn select_high_bandwidth(&self, peer: &Rc<Peer>) {
        // Core: never with -blocksonly, whose mempool lacks what compact
        // blocks are rebuilt from.
        if !peer.compact.v2.get() || self.blocks_only() {
            return;
        }
        let id = peer.info.borrow().id;
        let peers = self.peers.borrow();
        let inbound = |id: &u64| peers.get(id).map(|p| p.info.borrow().inbound);
        let mut list = self.hb_peers.borrow_mut();
        if let Some(pos) = list.iter().position(|x| *x == id) {
            list.remove(pos);
            list.push_back(id);
            return;
        }
        let outbound_hb = list.iter().filter(|x| inbound(x) == Some(false)).count();
        if peer.info.borrow().inbound
            && list.len() >= MAX_HIGH_BANDWIDTH
            && outbound_hb == 1
            && inbound(&list[0]) == Some(false)
        {
            list.swap(0, 1);
        }
        peer.push(sendcmpct(true));
        peer.compact.hb_to.set(true);
        list.push_back(id);
        if list.len() > MAX_HIGH_BANDWIDTH {
            let Some(stop) = list.pop_front() else { return };
            if let Some(p) = peers.get(&stop) {
                p.push(sendcmpct(false));
                p.compact.hb_to.set(false);
            }
        }
    }

    /// `block` as a `cmpctblock` message (version 2 short ids).
    pub(super) fn compact_message(block: &Block) -> Option<NetworkMessage> {
        HeaderAndShortIds::from_block(block, super::rand_nonce(), 2, &[])
            .ok()
            .map(|c| NetworkMessage::CmpctBlock(CmpctBlock { compact_block: c }))
    }

    /// How to ask `peer` for blocks `wanted`: one block that extends our
    /// tip compact from a peer that takes it, anything else whole.
    pub(super) fn block_requests(&self, peer: &Rc<Peer>, wanted: Vec<BlockHash>) -> Vec<Inventory> {
        let tip = self.chain.tip().hash;
        // With -blocksonly the mempool cannot fill a compact block in.
        if peer.compact.v2.get() && wanted.len() == 1 && !self.blocks_only() {
            let extends_tip = self
                .chain
                .block_info(&wanted[0])
                .is_some_and(|b| b.header.prev_blockhash == tip);
            if extends_tip {
                return vec![Inventory::CompactBlock(wanted[0])];
            }
        }
        if Net::serves_witnesses(peer) {
            wanted.into_iter().map(Inventory::WitnessBlock).collect()
        } else {
            wanted.into_iter().map(Inventory::Block).collect()
        }
    }

    /// Core's CanServeWitnesses: the peer offers NODE_WITNESS.
    pub(super) fn serves_witnesses(peer: &Peer) -> bool {
        peer.info.borrow().services & bitcoin::p2p::ServiceFlags::WITNESS.to_u64() != 0
    }

    /// `getdata(MSG_CMPCT_BLOCK)`: the block as a compact block, or whole
    /// when it is more than 5 below our tip (as Core).
    pub(super) fn serve_compact(&self, peer: &Rc<Peer>, hash: BlockHash) {
        let deep = self
            .chain
            .block_info(&hash)
            .is_some_and(|b| b.height < self.chain.tip().height - MAX_CMPCTBLOCK_DEPTH);
        if deep {
            if let Err(why) = self.serve_block(peer, &Inventory::WitnessBlock(hash)) {
                tracing::debug!(target: "net", "{why}");
            }
            return;
        }
        let Ok(block) = self.chain.read_block(&hash) else {
            peer.push(NetworkMessage::NotFound(vec![Inventory::CompactBlock(
                hash,
            )]));
            return;
        };
        match Self::compact_message(&block) {
            Some(m) => peer.push(m),
            None => peer.push(NetworkMessage::Block(block)),
        }
    }

    /// `getblocktxn`: the asked transactions of a block we have; an index
    /// past the block's end is misbehaviour. A block more than 10 below
    /// our tip (Core's MAX_BLOCKTXN_DEPTH) is sent whole instead, as a
    /// `getdata` for it would be.
    pub(super) fn serve_blocktxn(&self, peer: &Rc<Peer>, g: &GetBlockTxn) -> Result<(), Fault> {
        let req = &g.txs_request;
        let id = peer.info.borrow().id;
        if req.indexes.is_empty() {
            return Err(Fault::Misbehaving(
                "getblocktxn received with no transaction indexes".into(),
            ));
        }
        let Some(info) = self.chain.block_info(&req.block_hash) else {
            tracing::debug!(target: "net", "Peer {id} sent us a getblocktxn for a block we don't have");
            return Ok(());
        };
        if info.height < self.chain.tip().height - MAX_BLOCKTXN_DEPTH {
            tracing::debug!(target: "net", "Peer {id} sent us a getblocktxn for a block > {MAX_BLOCKTXN_DEPTH} deep");
            self.serve_block(peer, &Inventory::WitnessBlock(req.block_hash))
                .map_err(Fault::Disconnect)?;
            return Ok(());
        }
        let Ok(block) = self.chain.read_block(&req.block_hash) else {
            tracing::debug!(target: "net", "Peer {id} sent us a getblocktxn for a block we don't have");
            return Ok(());
        };
        let txs = bitcoin::bip152::BlockTransactions::from_request(req, &block).map_err(|e| {
            tracing::debug!(target: "net", "getblocktxn for {}: {e}", req.block_hash);
            Fault::Misbehaving("getblocktxn with out-of-bounds tx indices".into())
        })?;
        peer.push(NetworkMessage::BlockTxn(BlockTxn { transactions: txs }));
        Ok(())
    }

    /// A compact block: header first, then the rebuild.
    pub(super) async fn on_cmpctblock(
        self: &Rc<Self>,
        peer: &Rc<Peer>,
        c: HeaderAndShortIds,
    ) -> Result<(), Fault> {
        let hash = c.header.block_hash();
        if self.blocks_only() {
            let id = peer.info.borrow().id;
            tracing::debug!(target: "cmpctblock", "peer={id} sent us a compact block even though we are blocksonly!");
            return Ok(());
        }
        // Core: only from a peer that said it sends them (sendcmpct).
        if !peer.compact.v2.get() {
            let id = peer.info.borrow().id;
            tracing::debug!(target: "cmpctblock", "peer={id} sent us a compact block despite never having sent us a SENDCMPCT!");
            return Ok(());
        }
        // One that does not connect (we are behind): as Core, ask for the
        // headers in between instead of holding it against the peer.
        if self.chain.block_info(&c.header.prev_blockhash).is_none() {
            self.maybe_send_getheaders(peer, &self.best_header_hash());
            return Ok(());
        }
        if self.low_work(&c.header.prev_blockhash, std::slice::from_ref(&c.header)) {
            let id = peer.info.borrow().id;
            tracing::debug!(target: "net", "Ignoring low-work compact block from peer {id}");
            return Ok(());
        }
        let chain = self.chain.clone();
        let header = c.header;
        let rejected = tokio::task::spawn_blocking(move || chain.submit_header(&header))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if let Some(reason) = rejected {
            // Core: a compact block already known invalid costs its
            // relayer nothing (it may have checked the header only).
            if reason == "duplicate-invalid" {
                tracing::debug!(target: "net", "compact block {hash} is known to be invalid");
                return Ok(());
            }
            return super::block_fault(&format!("invalid header {hash}"), &reason);
        }
        // An accepted header is in the block index.
        let Some(info) = self.chain.block_info(&hash) else {
            return Ok(());
        };
        if info.in_active_chain {
            return Ok(());
        }
        // Core's UpdateBlockAvailability: the peer has this block, whatever
        // becomes of its compact form (the download scheduler may ask for
        // it).
        self.note_known(peer, &info);
        let id = peer.info.borrow().id;
        let asked = self.in_flight_peers(&hash);
        let from_this = asked.contains(&id);
        // Core: the header counts, the block only if we asked the peer for
        // it or to announce compact.
        if !peer.compact.hb_to.get() && !from_this {
            tracing::debug!(target: "cmpctblock", "peer={id}, not marked as high-bandwidth, sent us an unsolicited compact block!");
            return Ok(());
        }
        // As Core: a block that would not become our tip stays a header
        // (asked for whole only if it was asked of this peer).
        let more_work = match (
            self.chain.chain_work(&hash),
            self.chain.chain_work(&self.chain.tip().hash),
        ) {
            (Some(work), Some(tip_work)) => work > tip_work,
            _ => false,
        };
        if !more_work {
            if from_this {
                peer.push(NetworkMessage::GetData(vec![Inventory::WitnessBlock(hash)]));
            }
            return Ok(());
        }
        if asked.is_empty() && !self.near_tip() {
            // Far behind: the download scheduler fetches blocks whole.
            return Ok(());
        }
        let first = asked.first().is_none_or(|p| *p == id);
        if info.height > self.chain.tip().height + 2 {
            // Core: more than two blocks past our tip, our mempool is of
            // no use. Asked of this peer, the block is asked for whole; an
            // announcement is treated as a header (direct fetch only when
            // close), so blocks are not stored ahead of those between.
            if from_this {
                peer.push(NetworkMessage::GetData(vec![Inventory::WitnessBlock(hash)]));
            } else {
                self.headers_direct_fetch(peer, &info);
            }
            return Ok(());
        }
        let room = asked.len() < MAX_COMPLETING_PEERS
            && self.blocks_in_flight(peer) < super::blockdl::MAX_IN_TRANSIT_PER_PEER;
        let keys = ShortId::calculate_siphash_keys(&c.header, c.nonce);
        // Shared handles: only the transactions the block holds get copied.
        let known: HashMap<ShortId, Arc<Transaction>> = {
            let pool = self.mempool.lock();
            pool.entries()
                .map(|e| (ShortId::with_siphash_keys(&e.wtxid, keys), e.tx.clone()))
                .collect()
        };
        if !(room || from_this) {
            // Core: no slot to complete it from this peer; it is still
            // taken if the mempool holds every transaction.
            if let Ok(slots) = rebuild(&c, &known) {
                if slots.iter().all(Option::is_some) {
                    let block = assemble(c.header, slots);
                    if self.block_mutation(&block).is_none() {
                        return self.on_block(peer, block, true).await;
                    }
                }
            }
            return Ok(());
        }
        if from_this
            && peer
                .compact
                .partial
                .borrow()
                .as_ref()
                .is_some_and(|p| p.header.block_hash() == hash)
        {
            tracing::debug!(target: "net", "Peer sent us compact block we were already syncing!");
            return Ok(());
        }
        self.mark_in_flight(peer, &hash);
        let slots = match rebuild(&c, &known) {
            Ok(slots) => slots,
            Err(why) => {
                tracing::debug!(target: "cmpctblock", "{why}");
                self.remove_block_request(peer, &hash);
                return Err(Fault::Misbehaving("invalid compact block".into()));
            }
        };
        let missing: Vec<u64> = (0..slots.len())
            .filter(|i| slots[*i].is_none())
            .map(|i| i as u64)
            .collect();
        if missing.is_empty() {
            return self.finish_compact(peer, c.header, slots).await;
        }
        // Core: the first peer asked completes it; a high-bandwidth peer
        // too if it is outbound, or an outbound peer was asked, or it is the
        // second; the third inbound one waits for the others.
        let outbound_asked = asked.iter().any(|p| {
            self.peers
                .borrow()
                .get(p)
                .is_some_and(|p| !p.info.borrow().inbound)
        });
        let inbound = peer.info.borrow().inbound;
        let asks = first
            || (peer.compact.hb_to.get()
                && (!inbound || outbound_asked || asked.len() < MAX_COMPLETING_PEERS - 1));
        if !asks {
            tracing::debug!(target: "cmpctblock", "compact block {hash} from peer={id}: waiting for the peers already completing it");
            self.remove_block_request(peer, &hash);
            return Ok(());
        }
        tracing::debug!(target: "cmpctblock", "compact block {hash}: {} of {} transactions missing, asking peer={id}", missing.len(), slots.len());
        *peer.compact.partial.borrow_mut() = Some(Partial {
            header: c.header,
            slots,
            failed: false,
        });
        peer.push(NetworkMessage::GetBlockTxn(GetBlockTxn {
            txs_request: BlockTransactionsRequest {
                block_hash: hash,
                indexes: missing,
            },
        }));
        Ok(())
    }

    /// `blocktxn`: the missing transactions of the block being rebuilt.
    pub(super) async fn on_blocktxn(
        self: &Rc<Self>,
        peer: &Rc<Peer>,
        b: BlockTxn,
    ) -> Result<(), Fault> {
        let hash = b.transactions.block_hash;
        let id = peer.info.borrow().id;
        let expected = peer
            .compact
            .partial
            .borrow()
            .as_ref()
            .is_some_and(|p| p.header.block_hash() == hash)
            && self.in_flight_from(peer, &hash);
        if !expected {
            tracing::debug!(target: "net", "Peer {id} sent us block transactions for block we weren't expecting");
            return Ok(());
        }
        let Some(mut partial) = peer.compact.partial.borrow_mut().take() else {
            return Ok(());
        };
        if partial.failed {
            self.remove_block_request(peer, &hash);
            return Err(Fault::Misbehaving(
                "previous compact block reconstruction attempt failed".into(),
            ));
        }
        let mut given = b.transactions.transactions.into_iter();
        for slot in partial.slots.iter_mut().filter(|s| s.is_none()) {
            match given.next() {
                Some(tx) => *slot = Some(tx),
                None => {
                    self.remove_block_request(peer, &hash);
                    return Err(Fault::Misbehaving(
                        "invalid compact block/non-matching block transactions".into(),
                    ));
                }
            }
        }
        self.finish_compact(peer, partial.header, partial.slots)
            .await
    }

    /// A rebuilt block goes to the engine like a full one, unless it does
    /// not match its merkle root or witness commitment (a short id
    /// collision, or a sender's mistake): then, as Core, the full block is
    /// asked for and nobody is blamed.
    async fn finish_compact(
        self: &Rc<Self>,
        peer: &Rc<Peer>,
        header: bitcoin::block::Header,
        slots: Vec<Option<Transaction>>,
    ) -> Result<(), Fault> {
        let block = assemble(header, slots);
        let hash = header.block_hash();
        if let Some(why) = self.block_mutation(&block) {
            let id = peer.info.borrow().id;
            // Kept, so that more transactions for it are refused.
            *peer.compact.partial.borrow_mut() = Some(Partial {
                header,
                slots: Vec::new(),
                failed: true,
            });
            if self.in_flight_peers(&hash).first() != Some(&id) {
                tracing::debug!(target: "net", "Peer {id} sent us a compact block but it failed to reconstruct, waiting on first download to complete");
                self.remove_block_request(peer, &hash);
                return Ok(());
            }
            tracing::debug!(target: "cmpctblock", "rebuilt block {hash} is mutated ({why}); asking for it whole");
            peer.push(NetworkMessage::GetData(vec![Inventory::WitnessBlock(hash)]));
            return Ok(());
        }
        tracing::debug!(target: "cmpctblock", "Successfully reconstructed block {} with {} txn", header.block_hash(), block.txdata.len());
        self.on_block(peer, block, true).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn tx(n: u8) -> Transaction {
        Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![bitcoin::TxIn {
                previous_output: bitcoin::OutPoint::new(bitcoin::Txid::from_byte_array([n; 32]), 0),
                ..Default::default()
            }],
            output: vec![bitcoin::TxOut::NULL],
        }
    }

    #[test]
    fn a_compact_block_rebuilds_from_known_transactions_and_names_the_rest() {
        let block = Block {
            header: bitcoin::constants::genesis_block(bitcoin::Network::Regtest).header,
            txdata: vec![tx(0), tx(1), tx(2), tx(3)],
        };
        let c = HeaderAndShortIds::from_block(&block, 7, 2, &[2]).unwrap();
        let keys = ShortId::calculate_siphash_keys(&c.header, c.nonce);
        let mut known = HashMap::new();
        let t3 = tx(3);
        known.insert(
            ShortId::with_siphash_keys(&t3.compute_wtxid(), keys),
            Arc::new(t3),
        );
        let slots = rebuild(&c, &known).unwrap();
        // The coinbase and tx 2 came prefilled, tx 3 from the pool, tx 1 is missing.
        assert!(slots[0].is_some() && slots[2].is_some() && slots[3].is_some());
        assert!(slots[1].is_none());
        let mut bad = c.clone();
        bad.prefilled_txs[1].idx = 9;
        assert!(rebuild(&bad, &known).is_err());
    }
}
