//! net/blockdl: which blocks we ask which peer for, as Core's block
//! download in net_processing. Each block is in flight from one peer at a
//! time, at most 16 per peer; a peer is asked for the next blocks we lack
//! on the way to the best block it told us of, within a window of 1024
//! blocks past the last block we have in common with it. A peer that holds
//! back the window (we could ask others for more only if the window were
//! one larger) is dropped once it stalls for Core's stalling timeout (2 s,
//! doubled after each such drop up to 64 s); a peer that takes longer than
//! Core's block download timeout (a block interval, half more per other
//! peer we download from) for its oldest block in flight is dropped too.
//! getpeerinfo's `inflight` lists the heights asked of each peer.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;

use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::ServiceFlags;
use bitcoin::BlockHash;

use super::{ConnType, Net, Peer};
use crate::chain::BlockInfo;

/// Core's MAX_BLOCKS_IN_TRANSIT_PER_PEER.
pub const MAX_IN_TRANSIT_PER_PEER: usize = 16;
/// Core's BLOCK_DOWNLOAD_WINDOW.
const WINDOW: i32 = 1024;
/// Core's BLOCK_STALLING_TIMEOUT_DEFAULT and _MAX (microseconds).
const STALLING_TIMEOUT_DEFAULT_US: i64 = 2_000_000;
const STALLING_TIMEOUT_MAX_US: i64 = 64_000_000;
/// Core's NODE_NETWORK_LIMITED_MIN_BLOCKS: what a pruned peer keeps.
pub(super) const LIMITED_MIN_BLOCKS: i32 = 288;
/// Core's anti-DoS work buffer: 144 blocks (a day) of the tip's work.
const ANTI_DOS_BLOCKS: u32 = 144;
/// Blocks remembered as received before the set is trimmed.
const MAX_RECEIVED: usize = 10_000;

/// The node's part: who each block is asked of, and what came in.
pub(super) struct BlockDownload {
    /// The peers each block is asked of, first asked first: one for a
    /// whole block, up to three completing a compact block (Core's
    /// mapBlocksInFlight).
    in_flight: RefCell<HashMap<BlockHash, Vec<u64>>>,
    /// Blocks whose data came in and that may not be in the active chain
    /// yet (out of order): not asked for again.
    received: RefCell<HashSet<BlockHash>>,
    /// Core's m_block_stalling_timeout (microseconds).
    stalling_timeout: Cell<i64>,
    /// Who sent each block the engine has not checked yet (Core's
    /// mapBlockSource): a block found invalid later, when a block building
    /// on it is connected, is blamed on its sender.
    sources: RefCell<HashMap<BlockHash, u64>>,
}

impl Default for BlockDownload {
    fn default() -> Self {
        BlockDownload {
            in_flight: RefCell::default(),
            received: RefCell::default(),
            stalling_timeout: Cell::new(STALLING_TIMEOUT_DEFAULT_US),
            sources: RefCell::default(),
        }
    }
}

/// One peer's part.
#[derive(Default)]
pub(super) struct PeerDownload {
    /// Blocks asked of the peer, oldest first, with their heights.
    queue: RefCell<VecDeque<(BlockHash, i32)>>,
    /// Since when the oldest block in the queue is awaited (Core's
    /// m_downloading_since, mockable microseconds).
    downloading_since: Cell<i64>,
    /// Since when the peer holds back the window (0: it does not).
    stalling_since: Cell<i64>,
    /// The last block in our active chain it has too (Core's
    /// pindexLastCommonBlock).
    last_common: Cell<Option<BlockHash>>,
}

impl PeerDownload {
    /// The heights in flight (getpeerinfo's `inflight`).
    pub fn heights(&self) -> Vec<i32> {
        self.queue.borrow().iter().map(|(_, h)| *h).collect()
    }
}

impl Net {
    /// Core's block download part of SendMessages: asks `peer` for the
    /// next blocks we lack, up to 16 in flight. During initial block
    /// download only peers we sync from that keep the whole chain are
    /// asked; afterwards every peer that serves blocks.
    pub(super) fn request_blocks(&self, peer: &Rc<Peer>) {
        let (done, conn, services, id) = {
            let i = peer.info.borrow();
            (i.handshake_done, i.conn_type, i.services, i.id)
        };
        let limited = services & ServiceFlags::NETWORK.to_u64() == 0;
        if !done || !Self::can_serve_blocks(peer) || conn == ConnType::AddrFetch {
            return;
        }
        if self.chain.initial_block_download() && (limited || !self.syncs_blocks_from(peer)) {
            return;
        }
        let room = MAX_IN_TRANSIT_PER_PEER.saturating_sub(self.blocks_in_flight(peer));
        if room == 0 {
            return;
        }
        let (blocks, staller) = self.next_blocks(peer, room, limited);
        if !blocks.is_empty() {
            let now = crate::chain::clock::now_micros();
            let mut hashes = Vec::with_capacity(blocks.len());
            for b in &blocks {
                tracing::debug!(target: "net", "Requesting block {} ({}) peer={id}", b.hash, b.height);
                self.block_requested(peer, b, now);
                hashes.push(b.hash);
            }
            peer.push(NetworkMessage::GetData(self.block_requests(peer, hashes)));
        }
        if peer.download.queue.borrow().is_empty() {
            if let Some(staller) = staller.and_then(|s| self.peers.borrow().get(&s).cloned()) {
                if staller.download.stalling_since.get() == 0 {
                    staller
                        .download
                        .stalling_since
                        .set(crate::chain::clock::now_micros());
                    tracing::debug!(target: "net", "Stall started peer={}", staller.info.borrow().id);
                }
            }
        }
    }

    /// Core's HeadersDirectFetchBlocks: when our tip is recent (within 20
    /// block intervals) and the headers just received lead to at least as
    /// much work, the blocks on the way there that we lack are asked of
    /// the peer that sent them at once, whatever services it offers for
    /// the download scheduler (up to 16 in flight; a branch more than 16
    /// blocks off our chain is left to the scheduler).
    pub(super) fn headers_direct_fetch(&self, peer: &Rc<Peer>, last: &BlockInfo) {
        let tip = self.chain.tip();
        if !self.near_tip() {
            return;
        }
        match (
            self.chain.chain_work(&tip.hash),
            self.chain.chain_work(&last.hash),
        ) {
            (Some(tip_work), Some(work)) if tip_work <= work => {}
            _ => return,
        }
        // Once segwit is in force, a block is asked only of a peer that
        // serves its witnesses (Core's direct fetch).
        let (id, services) = {
            let i = peer.info.borrow();
            (i.id, i.services)
        };
        let witnesses = services & ServiceFlags::WITNESS.to_u64() != 0;
        let mut to_fetch = Vec::new();
        let mut walk = Some(last.clone());
        while let Some(block) = walk.as_ref().filter(|b| !b.in_active_chain) {
            if to_fetch.len() > MAX_IN_TRANSIT_PER_PEER {
                break;
            }
            let lacking = !self.blocks.received.borrow().contains(&block.hash)
                && !self.blocks.in_flight.borrow().contains_key(&block.hash)
                && self.chain.read_block(&block.hash).is_err();
            if lacking && (witnesses || !self.segwit_at(block.height)) {
                to_fetch.push(block.clone());
            }
            walk = self.chain.block_info(&block.header.prev_blockhash);
        }
        if !walk.is_some_and(|b| b.in_active_chain) {
            tracing::debug!(target: "net", "Large reorg, won't direct fetch to {} ({})", last.hash, last.height);
            return;
        }
        let now = crate::chain::clock::now_micros();
        let mut hashes = Vec::new();
        for block in to_fetch.iter().rev() {
            if self.blocks_in_flight(peer) >= MAX_IN_TRANSIT_PER_PEER {
                break;
            }
            self.block_requested(peer, block, now);
            tracing::debug!(target: "net", "Requesting block {} from  peer={id}", block.hash);
            hashes.push(block.hash);
        }
        if hashes.len() > 1 {
            tracing::debug!(target: "net", "Downloading blocks toward {} ({}) via headers direct fetch", last.hash, last.height);
        }
        if !hashes.is_empty() {
            peer.push(NetworkMessage::GetData(self.block_requests(peer, hashes)));
        }
    }

    /// Whether `hash` is awaited from `peer`.
    pub(super) fn in_flight_from(&self, peer: &Peer, hash: &BlockHash) -> bool {
        let id = peer.info.borrow().id;
        self.blocks
            .in_flight
            .borrow()
            .get(hash)
            .is_some_and(|o| o.contains(&id))
    }

    /// How many blocks are asked of `peer`.
    pub(super) fn blocks_in_flight(&self, peer: &Peer) -> usize {
        peer.download.queue.borrow().len()
    }

    /// Core's CanDirectFetch: our tip is within 20 block intervals of now.
    pub(super) fn near_tip(&self) -> bool {
        self.tip_depth() < 20
    }

    /// Core's ApproximateBestBlockDepth: how many block spacings ago our
    /// tip's time is (what CanDirectFetch and the limited-peer checks read).
    pub(super) fn tip_depth(&self) -> i64 {
        let time = self
            .chain
            .block_info(&self.chain.tip().hash)
            .map_or(0, |t| i64::from(t.header.time));
        self.spacings_since(time)
    }

    /// How many block spacings of this chain have passed since `time`
    /// (mockable clock); negative for a time ahead of now.
    pub(super) fn spacings_since(&self, time: i64) -> i64 {
        let spacing = self.chain.network().params().pow_target_spacing as i64;
        (crate::chain::clock::now() - time) / spacing.max(1)
    }

    /// Whether segwit is in force for a block at `height`.
    fn segwit_at(&self, height: i32) -> bool {
        crate::chain::deployments::buried_active(self.chain.network(), "segwit", height)
    }

    /// Core's IsBlockMutated for `block` on our chain: the witness
    /// commitment is looked at once segwit is in force for it (its parent
    /// unknown: assumed so).
    pub(super) fn block_mutation(&self, block: &bitcoin::Block) -> Option<&'static str> {
        let segwit = self
            .chain
            .block_info(&block.header.prev_blockhash)
            .is_none_or(|prev| self.segwit_at(prev.height + 1));
        mutation(block, segwit)
    }

    /// The peers `hash` is asked of, first asked first.
    pub(super) fn in_flight_peers(&self, hash: &BlockHash) -> Vec<u64> {
        self.blocks
            .in_flight
            .borrow()
            .get(hash)
            .cloned()
            .unwrap_or_default()
    }

    /// Core's GetAntiDoSWorkThreshold: the work a chain must have before
    /// we store headers or blocks a peer sent unasked: our tip's less 144
    /// blocks of its work (so forks near the tip pass), and at least the
    /// minimum chain work.
    pub(super) fn anti_dos_threshold(&self) -> bitcoin::Work {
        let zero = bitcoin::Work::from_le_bytes([0; 32]);
        let tip = self.chain.tip();
        let near_tip = match (
            self.chain.chain_work(&tip.hash),
            self.chain.block_info(&tip.hash),
        ) {
            (Some(tip_work), Some(tip_info)) => {
                let per_block = tip_info.header.work();
                let mut buffer = per_block;
                for _ in 1..ANTI_DOS_BLOCKS {
                    buffer = buffer + per_block;
                }
                if tip_work < buffer {
                    zero
                } else {
                    tip_work - buffer
                }
            }
            _ => zero,
        };
        near_tip.max(self.chain.minimum_chain_work())
    }

    /// Whether the chain `headers` would end, on top of the block `parent`,
    /// has less work than the anti-DoS threshold. A parent we lack counts
    /// as low work.
    pub(super) fn low_work(&self, parent: &BlockHash, headers: &[bitcoin::block::Header]) -> bool {
        let Some(mut work) = self.chain.chain_work(parent) else {
            return true;
        };
        for h in headers {
            work = work + h.work();
        }
        work < self.anti_dos_threshold()
    }

    /// Core's sync_blocks_and_headers_from_peer: preferred peers (outbound
    /// or noban), and others only while nothing is being downloaded or no
    /// preferred peer exists.
    fn syncs_blocks_from(&self, peer: &Peer) -> bool {
        if Self::preferred_download(peer) {
            return true;
        }
        let preferred = self
            .peers
            .borrow()
            .values()
            .any(|p| Self::preferred_download(p));
        !preferred || self.blocks.in_flight.borrow().is_empty()
    }

    /// `hash` is awaited from `peer` too (a compact block it is
    /// completing), unless it already is.
    pub(super) fn mark_in_flight(&self, peer: &Peer, hash: &BlockHash) {
        if self.in_flight_from(peer, hash) {
            return;
        }
        if let Some(block) = self.chain.block_info(hash) {
            self.block_requested(peer, &block, crate::chain::clock::now_micros());
        }
    }

    fn block_requested(&self, peer: &Peer, block: &BlockInfo, now: i64) {
        let id = peer.info.borrow().id;
        self.blocks
            .in_flight
            .borrow_mut()
            .entry(block.hash)
            .or_default()
            .push(id);
        let mut queue = peer.download.queue.borrow_mut();
        queue.push_back((block.hash, block.height));
        if queue.len() == 1 {
            peer.download.downloading_since.set(now);
        }
    }

    /// Block `hash` came in from `peer` (whole or rebuilt) and the engine
    /// stored it: it is not asked for again, and nobody is awaited for it
    /// any more (Core's ProcessBlock for a new block).
    pub(super) fn block_received(&self, peer: &Peer, hash: BlockHash) {
        peer.download.stalling_since.set(0);
        for id in self.in_flight_peers(&hash) {
            let owner = self.peers.borrow().get(&id).cloned();
            match owner {
                Some(owner) => self.remove_block_request(&owner, &hash),
                None => {
                    self.blocks.in_flight.borrow_mut().remove(&hash);
                }
            }
        }
        let mut received = self.blocks.received.borrow_mut();
        if received.len() >= MAX_RECEIVED {
            received.retain(|h| self.chain.block_info(h).is_some_and(|b| !b.in_active_chain));
            if received.len() >= MAX_RECEIVED {
                received.clear();
            }
        }
        received.insert(hash);
    }

    /// Block `hash` came from peer `id` and goes to the engine.
    pub(super) fn note_block_source(&self, hash: BlockHash, id: u64) {
        let mut sources = self.blocks.sources.borrow_mut();
        if sources.len() >= MAX_RECEIVED {
            sources.clear();
        }
        sources.insert(hash, id);
    }

    /// The engine checked block `hash`: who sent it, if we remember.
    pub(super) fn block_checked(&self, hash: &BlockHash) -> Option<u64> {
        self.blocks.sources.borrow_mut().remove(hash)
    }

    /// `n` blocks joined the active chain (Core's BlockConnected, once per
    /// block): a stalling timeout raised by stalls shrinks back by 15 %
    /// each time, in whole seconds, down to its default.
    pub(super) fn blocks_connected(&self, n: i32) {
        let timeout = &self.blocks.stalling_timeout;
        for _ in 0..n {
            if timeout.get() == STALLING_TIMEOUT_DEFAULT_US {
                return;
            }
            let shrunk = timeout.get() * 85 / 100 / 1_000_000 * 1_000_000;
            timeout.set(shrunk.max(STALLING_TIMEOUT_DEFAULT_US));
            tracing::debug!(target: "net", "Decreased stalling timeout to {} seconds", timeout.get() / 1_000_000);
        }
    }

    /// `hash` is no longer awaited from `peer` (if it was).
    pub(super) fn remove_block_request(&self, peer: &Peer, hash: &BlockHash) {
        let id = peer.info.borrow().id;
        let mut in_flight = self.blocks.in_flight.borrow_mut();
        let Some(owners) = in_flight.get_mut(hash) else {
            return;
        };
        if let Some(pos) = owners.iter().position(|o| *o == id) {
            owners.remove(pos);
            if owners.is_empty() {
                in_flight.remove(hash);
            }
            drop(in_flight);
            self.unqueue(peer, hash);
        }
    }

    fn unqueue(&self, peer: &Peer, hash: &BlockHash) {
        let mut queue = peer.download.queue.borrow_mut();
        if let Some(pos) = queue.iter().position(|(h, _)| h == hash) {
            queue.remove(pos);
            if pos == 0 {
                // The next block's wait starts now.
                let now = crate::chain::clock::now_micros();
                let since = &peer.download.downloading_since;
                since.set(since.get().max(now));
            }
        }
    }

    /// A peer is gone: its blocks may be asked of others.
    pub(super) fn downloads_gone(&self, peer: &Peer) {
        let queued: Vec<BlockHash> = peer
            .download
            .queue
            .borrow()
            .iter()
            .map(|(h, _)| *h)
            .collect();
        for hash in queued {
            self.remove_block_request(peer, &hash);
        }
    }

    /// Core's stalling and block download timeouts (every second): Err
    /// (the reason) when the peer is to be dropped.
    pub(super) fn block_download_timeouts(&self, peer: &Peer) -> Result<(), String> {
        let now = crate::chain::clock::now_micros();
        let id = peer.info.borrow().id;
        let stalling = peer.download.stalling_since.get();
        let timeout = self.blocks.stalling_timeout.get();
        if stalling > 0 && stalling < now - timeout {
            tracing::info!("Peer is stalling block download, disconnecting peer={id}");
            let doubled = (timeout * 2).min(STALLING_TIMEOUT_MAX_US);
            if doubled != timeout {
                self.blocks.stalling_timeout.set(doubled);
                tracing::debug!(target: "net", "Increased stalling timeout temporarily to {} seconds", doubled / 1_000_000);
            }
            return Err("stalling block download".into());
        }
        let Some((oldest, _)) = peer.download.queue.borrow().front().copied() else {
            return Ok(());
        };
        let downloading_from = self
            .peers
            .borrow()
            .values()
            .filter(|p| !p.download.queue.borrow().is_empty())
            .count() as i64;
        let spacing_us = self.chain.network().params().pow_target_spacing as i64 * 1_000_000;
        // A block interval, and half of one for each other peer we are
        // downloading from.
        let allowed = spacing_us + spacing_us / 2 * (downloading_from - 1).max(0);
        if now > peer.download.downloading_since.get() + allowed {
            tracing::info!("Timeout downloading block {oldest}, disconnecting peer={id}");
            return Err(format!("timeout downloading block {oldest}"));
        }
        Ok(())
    }

    /// Core's LastCommonAncestor: where the chains ending at `a` and `b`
    /// meet (None when the block tree cannot say).
    fn last_common_ancestor(&self, a: &BlockInfo, b: &BlockInfo) -> Option<BlockInfo> {
        let height = a.height.min(b.height);
        let mut x = self.chain.ancestor(&a.hash, height)?;
        let mut y = self.chain.ancestor(&b.hash, height)?;
        while x.hash != y.hash {
            x = self.chain.block_info(&x.header.prev_blockhash)?;
            y = self.chain.block_info(&y.header.prev_blockhash)?;
        }
        Some(x)
    }

    /// Core's FindNextBlocksToDownload: up to `count` blocks on the way to
    /// the peer's best known block that we lack and nobody is asked for,
    /// within the window; and the peer that holds back the window, if the
    /// window's end stopped us with nothing to ask.
    fn next_blocks(
        &self,
        peer: &Peer,
        count: usize,
        limited: bool,
    ) -> (Vec<BlockInfo>, Option<u64>) {
        let mut found = Vec::new();
        self.update_block_availability(peer);
        let Some(best) = peer
            .best_known
            .get()
            .and_then(|h| self.chain.block_info(&h))
        else {
            return (found, None);
        };
        let tip = self.chain.tip();
        let (Some(best_work), Some(tip_work)) = (
            self.chain.chain_work(&best.hash),
            self.chain.chain_work(&tip.hash),
        ) else {
            return (found, None);
        };
        // Core: nothing from a peer whose best block is on a chain we
        // consider invalid, or has less work than ours or than the minimum
        // chain work.
        if best_work < tip_work
            || best_work < self.chain.minimum_chain_work()
            || self.chain.known_invalid(&best.hash)
        {
            return (found, None);
        }
        // The last block in common (Core's pindexLastCommonBlock): the
        // cached one, else guessed as our active chain's block at the
        // peer's height; either way taken back to where it meets the way
        // to the peer's best block. It may lie off our active chain: a
        // fork whose blocks we have moves it forward, so that the window
        // slides along a long reorg.
        let cached = peer
            .download
            .last_common
            .get()
            .and_then(|h| self.chain.block_info(&h));
        // Core (since 30.0): a tip that moved past the cached block on the
        // way to the peer's best block is the block in common, so the
        // window starts from what is connected now.
        let tip_on_the_way = || {
            self.chain
                .ancestor(&best.hash, tip.height)
                .filter(|a| a.hash == tip.hash)
        };
        let guess = match cached {
            Some(c) => Some(c),
            None => self.chain.ancestor(&tip.hash, best.height.min(tip.height)),
        };
        let Some(mut common) = guess.and_then(|g| self.last_common_ancestor(&g, &best)) else {
            return (found, None);
        };
        if common.height < tip.height {
            common = tip_on_the_way().unwrap_or(common);
        }
        peer.download.last_common.set(Some(common.hash));
        if common.hash == best.hash {
            return (found, None);
        }
        let window_end = common.height + WINDOW;
        let max_height = best.height.min(window_end + 1);
        let mut waiting_for = None;
        let witnesses = Net::serves_witnesses(peer);
        for height in common.height + 1..=max_height {
            let Some(block) = self.chain.ancestor(&best.hash, height) else {
                break;
            };
            // Core: nothing from a peer without witnesses once segwit is in
            // force, neither this block nor its descendants.
            if !witnesses && self.segwit_at(height) {
                return (found, None);
            }
            if block.in_active_chain || self.chain.have_block_data(&block.hash) {
                // Core: the block in common moves on over blocks whose
                // ancestors' data is all here too (HaveNumChainTxs).
                if self
                    .chain
                    .chain_tx_count(&block.hash)
                    .is_some_and(|n| n > 0)
                {
                    peer.download.last_common.set(Some(block.hash));
                }
                continue;
            }
            // On its way into the engine.
            if self.blocks.received.borrow().contains(&block.hash) {
                continue;
            }
            if let Some(owner) = self
                .blocks
                .in_flight
                .borrow()
                .get(&block.hash)
                .and_then(|o| o.first())
            {
                waiting_for.get_or_insert(*owner);
                continue;
            }
            if block.height > window_end {
                let id = peer.info.borrow().id;
                let staller = waiting_for.filter(|w| found.is_empty() && *w != id);
                return (found, staller);
            }
            // A pruned peer keeps only the last 288 blocks (two spare for
            // races).
            if limited && best.height - block.height >= LIMITED_MIN_BLOCKS - 2 {
                continue;
            }
            found.push(block);
            if found.len() == count {
                break;
            }
        }
        (found, None)
    }
}

/// Core's IsBlockMutated: the reason the block's transactions do not
/// match its merkle root, or its witnesses its witness commitment.
pub(super) fn mutation(block: &bitcoin::Block, segwit: bool) -> Option<&'static str> {
    // Core's merkle root of no transactions is zero (such a block is
    // refused later, for its length).
    let root_holds = if block.txdata.is_empty() {
        block.header.merkle_root == bitcoin::TxMerkleNode::all_zeros()
    } else {
        block.check_merkle_root()
    };
    if !root_holds {
        return Some("bad-txnmrklroot, hashMerkleRoot mismatch");
    }
    if !block.txdata.first().is_some_and(|tx| tx.is_coinbase()) {
        // Without a coinbase the block is invalid anyway; a 64-byte
        // transaction could pass for an inner merkle node, though.
        return block
            .txdata
            .iter()
            .any(|tx| tx.base_size() == 64)
            .then_some("bad-txns-64-byte, a 64-byte transaction without a coinbase");
    }
    // Core's CheckWitnessMalleation: once segwit is in force, with a
    // commitment, the coinbase witness is one 32-byte reserved value and
    // the commitment holds; otherwise no transaction has witnesses.
    let coinbase = &block.txdata[0];
    let commits = segwit && crate::chain::assemble::commits_to_witnesses(coinbase);
    if commits {
        let witness = &coinbase.input[0].witness;
        if witness.len() != 1 || witness.nth(0).is_none_or(|w| w.len() != 32) {
            return Some("bad-witness-nonce-size, CheckWitnessMalleation : invalid witness reserved value size");
        }
        if !block.check_witness_commitment() {
            return Some("bad-witness-merkle-match, witness merkle commitment mismatch");
        }
    } else if block
        .txdata
        .iter()
        .any(|tx| tx.input.iter().any(|i| !i.witness.is_empty()))
    {
        return Some("unexpected-witness, CheckWitnessMalleation : unexpected witness data found");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::{Amount, Block, ScriptBuf, Transaction, TxIn, TxOut, Witness};

    fn block_with(txdata: Vec<Transaction>) -> Block {
        let mut block = Block {
            header: bitcoin::block::Header {
                version: bitcoin::block::Version::TWO,
                prev_blockhash: BlockHash::all_zeros(),
                merkle_root: bitcoin::TxMerkleNode::all_zeros(),
                time: 0,
                bits: bitcoin::CompactTarget::from_consensus(0x207fffff),
                nonce: 0,
            },
            txdata,
        };
        if let Some(root) = block.compute_merkle_root() {
            block.header.merkle_root = root;
        }
        block
    }

    fn coinbase(witness: Witness) -> Transaction {
        Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: bitcoin::OutPoint::null(),
                script_sig: ScriptBuf::from_bytes(vec![1, 1]),
                witness,
                ..Default::default()
            }],
            output: vec![TxOut {
                value: Amount::from_sat(50),
                script_pubkey: ScriptBuf::new(),
            }],
        }
    }

    #[test]
    fn mutation_follows_cores_is_block_mutated() {
        // No transactions and a zero root: for the engine (bad-blk-length).
        assert_eq!(mutation(&block_with(vec![]), true), None);
        // A plain coinbase without witnesses or commitment is fine.
        assert_eq!(
            mutation(&block_with(vec![coinbase(Witness::new())]), true),
            None
        );
        // A witness without a commitment is unexpected.
        let witnessed = block_with(vec![coinbase(Witness::from_slice(&[[0u8; 32]]))]);
        let got = mutation(&witnessed, true);
        assert!(
            got.is_some_and(|w| w.starts_with("unexpected-witness")),
            "{got:?}"
        );
        // With a commitment, the reserved value must be one 32-byte item.
        let mut block = block_with(vec![coinbase(Witness::new())]);
        crate::chain::assemble::add_witness_commitment(&mut block, true);
        block.header.merkle_root = block.compute_merkle_root().unwrap();
        assert_eq!(mutation(&block, true), None);
        // Before segwit, the commitment is not looked at, but the reserved
        // value is a witness nobody expects.
        let got = mutation(&block, false);
        assert!(
            got.is_some_and(|w| w.starts_with("unexpected-witness")),
            "{got:?}"
        );
        block.txdata[0].input[0].witness.push([b'a'; 10]);
        block.header.merkle_root = block.compute_merkle_root().unwrap();
        let got = mutation(&block, true);
        assert!(
            got.is_some_and(|w| w.starts_with("bad-witness-nonce-size")),
            "{got:?}"
        );
        // A wrong merkle root is always a mutation.
        block.header.merkle_root = bitcoin::TxMerkleNode::all_zeros();
        let got = mutation(&block, true);
        assert!(
            got.is_some_and(|w| w.starts_with("bad-txnmrklroot")),
            "{got:?}"
        );
    }
}
