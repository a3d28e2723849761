//! net/serve: what peers may ask of our chain, as Core's net_processing
//! answers it: headers after a locator (`getheaders`), block announcements
//! after a locator (`getblocks`, with the continuation inv at 500), and
//! blocks by `getdata`. A locator longer than Core's 101 hashes ends the
//! connection. Blocks and headers off the active chain are served only
//! while they are recent (Core's BlockRequestAllowed: less than a month
//! older than the best header, in time and in work), so a peer cannot
//! fingerprint us by the stale blocks we hold. Filtered blocks (BIP37)
//! are not offered: asking for one ends the connection.

use std::rc::Rc;

use bitcoin::hashes::Hash;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::Inventory;
use bitcoin::p2p::ServiceFlags;
use bitcoin::BlockHash;

use super::{blockdl, permissions, Net, Peer, MAX_HEADERS};
use crate::chain::BlockInfo;

/// Core's MAX_LOCATOR_SZ.
pub(super) const MAX_LOCATOR: usize = 101;
/// Block announcements one `getblocks` gets at most.
const MAX_GETBLOCKS_INVS: usize = 500;
/// Core's STALE_RELAY_AGE_LIMIT: stale blocks older than this (in time or
/// in work) are not served.
const STALE_RELAY_AGE_LIMIT: i64 = 30 * 24 * 60 * 60;
/// Core's MSG_FILTERED_BLOCK and MSG_FILTERED_WITNESS_BLOCK.
const MSG_FILTERED_BLOCK: u32 = 3;
const MSG_FILTERED_WITNESS_BLOCK: u32 = MSG_FILTERED_BLOCK | (1 << 30);

/// Core's CInv::ToString: the item's message type and hash.
pub(super) fn inv_string(item: &Inventory) -> String {
    match item {
        Inventory::Error => format!("CInv(type=0, hash={})", BlockHash::all_zeros()),
        Inventory::Transaction(t) => format!("tx {t}"),
        Inventory::WitnessTransaction(t) => format!("witness-tx {t}"),
        Inventory::WTx(w) => format!("wtx {w}"),
        Inventory::Block(b) => format!("block {b}"),
        Inventory::WitnessBlock(b) => format!("witness-block {b}"),
        Inventory::CompactBlock(b) => format!("cmpctblock {b}"),
        Inventory::Unknown { inv_type, hash } => {
            let hash = BlockHash::from_byte_array(*hash);
            match *inv_type {
                MSG_FILTERED_BLOCK => format!("merkleblock {hash}"),
                MSG_FILTERED_WITNESS_BLOCK => format!("witness-merkleblock {hash}"),
                t => format!("CInv(type={t}, hash={hash})"),
            }
        }
    }
}

/// Whether `locator` is longer than Core takes (the peer is dropped).
pub(super) fn check_locator(command: &str, locator: &[BlockHash], peer: u64) -> Result<(), String> {
    if locator.len() > MAX_LOCATOR {
        tracing::debug!(target: "net", "{command} locator size {} > {MAX_LOCATOR}, disconnecting peer={peer}", locator.len());
        return Err(format!(
            "{command} locator size {} > {MAX_LOCATOR}",
            locator.len()
        ));
    }
    Ok(())
}

impl Net {
    /// The height after the last locator block on our active chain
    /// (Core's FindForkInGlobalIndex, then Next; the genesis block when
    /// none is known).
    fn after_fork(&self, locator: &[BlockHash]) -> i32 {
        locator
            .iter()
            .filter_map(|h| self.chain.block_info(h))
            .find(|b| b.in_active_chain)
            .map(|b| b.height + 1)
            .unwrap_or(1)
    }

    /// Core's BlockRequestAllowed: blocks of the active chain always;
    /// others only while less than a month older than the best header,
    /// both by their timestamps and by the work on top of them.
    pub(super) fn block_request_allowed(&self, block: &BlockInfo) -> bool {
        if block.in_active_chain {
            return true;
        }
        // Core also wants the block fully validated (BLOCK_VALID_SCRIPTS);
        // the kernel does not say, so a block whose data we lack (a header
        // only) is refused and one we hold is taken as checked.
        if self.chain.read_block(&block.hash).is_err() {
            return false;
        }
        let Some(best) = self.chain.best_header() else {
            return false;
        };
        if i64::from(best.header.time) - i64::from(block.header.time) >= STALE_RELAY_AGE_LIMIT {
            return false;
        }
        self.proof_equivalent_time(&best, block) < STALE_RELAY_AGE_LIMIT as f64
    }

    /// Core's GetBlockProofEquivalentTime(best, block, best): how long the
    /// work between the two would take at the best header's difficulty.
    fn proof_equivalent_time(&self, best: &BlockInfo, block: &BlockInfo) -> f64 {
        let (Some(best_work), Some(block_work)) = (
            self.chain.chain_work(&best.hash),
            self.chain.chain_work(&block.hash),
        ) else {
            return f64::INFINITY;
        };
        if best_work <= block_work {
            return 0.0;
        }
        let spacing = self.chain.network().params().pow_target_spacing as f64;
        let blocks = 2f64.powf((best_work - block_work).log2() - best.header.work().log2());
        blocks * spacing
    }

    /// `getheaders`: up to 2000 headers of the active chain after the
    /// locator, up to `stop`; with an empty locator, the header of `stop`
    /// alone (if it may be served).
    pub(super) fn headers_after(
        &self,
        locator: &[BlockHash],
        stop: &BlockHash,
        peer: u64,
    ) -> Option<Vec<bitcoin::block::Header>> {
        if locator.is_empty() {
            let block = self.chain.block_info(stop)?;
            if !self.block_request_allowed(&block) {
                tracing::debug!(target: "net", "ignoring request from peer={peer} for old block header that isn't in the main chain");
                return None;
            }
            return Some(vec![block.header]);
        }
        let mut out = Vec::new();
        let mut height = self.after_fork(locator);
        while out.len() < MAX_HEADERS {
            let Some(b) = self.chain.block_at(height) else {
                break;
            };
            out.push(b.header);
            if b.hash == *stop {
                break;
            }
            height += 1;
        }
        Some(out)
    }

    /// `getblocks`: announces up to 500 blocks of the active chain after
    /// the locator, stopping before `stop`. When the limit cuts the list,
    /// the last one is remembered: the peer asking for it gets our tip
    /// announced, so that it asks for the next batch (Core's
    /// m_continuation_block).
    pub(super) fn on_getblocks(&self, peer: &Peer, locator: &[BlockHash], stop: &BlockHash) {
        let id = peer.info.borrow().id;
        let mut height = self.after_fork(locator);
        tracing::debug!(target: "net", "getblocks {height} to {} limit {MAX_GETBLOCKS_INVS} from peer={id}", if *stop == BlockHash::all_zeros() { "end".to_string() } else { stop.to_string() });
        let mut invs = Vec::new();
        while let Some(b) = self.chain.block_at(height) {
            if b.hash == *stop {
                tracing::debug!(target: "net", " getblocks stopping at {} {}", b.height, b.hash);
                break;
            }
            invs.push(Inventory::Block(b.hash));
            if invs.len() >= MAX_GETBLOCKS_INVS {
                tracing::debug!(target: "net", " getblocks stopping at limit {} {}", b.height, b.hash);
                peer.continuation.set(Some(b.hash));
                break;
            }
            height += 1;
        }
        if !invs.is_empty() {
            peer.push(NetworkMessage::Inv(invs));
        }
    }

    /// A block item of `getdata`; false for items that are not blocks.
    /// Unknown blocks get no answer (as in Core), stale ones past the age
    /// limit neither; `MSG_BLOCK` is served without witnesses.
    pub(super) fn serve_block(&self, peer: &Rc<Peer>, item: &Inventory) -> Result<bool, String> {
        let id = peer.info.borrow().id;
        let (hash, witness, filtered) = match *item {
            Inventory::Block(h) => (h, false, false),
            Inventory::WitnessBlock(h) => (h, true, false),
            Inventory::Unknown { inv_type, hash }
                if inv_type == MSG_FILTERED_BLOCK || inv_type == MSG_FILTERED_WITNESS_BLOCK =>
            {
                if !self.offers_bloom(peer) {
                    tracing::debug!(target: "net", "filtered block request received when NODE_BLOOM service disabled, disconnecting peer={id}");
                    return Err(
                        "filtered block request received when NODE_BLOOM service disabled".into(),
                    );
                }
                (BlockHash::from_byte_array(hash), false, true)
            }
            _ => return Ok(false),
        };
        let Some(info) = self.chain.block_info(&hash) else {
            return Ok(true);
        };
        if !self.block_request_allowed(&info) {
            tracing::debug!(target: "net", "ignoring request from peer={id} for old block that isn't in the main chain");
            return Ok(true);
        }
        // Core: a pruned node never sends blocks below the NETWORK_LIMITED
        // threshold (that would tell its prune height), and disconnects the
        // peer rather than let it wait for them.
        let services = self.services_for(peer);
        let limited_only = services & ServiceFlags::NETWORK.to_u64() == 0;
        if limited_only
            && peer.info.borrow().permissions & permissions::NO_BAN != permissions::NO_BAN
            && self.chain.tip().height - info.height > blockdl::LIMITED_MIN_BLOCKS + 2
        {
            tracing::debug!(target: "net", "Ignore block request below NODE_NETWORK_LIMITED threshold, disconnecting peer={id}");
            return Err("block request below the NODE_NETWORK_LIMITED threshold".into());
        }
        let mut block = match self.chain.read_block(&hash) {
            Ok(b) => b,
            // Only headers: nothing to send.
            Err(_) => return Ok(true),
        };
        if filtered {
            self.serve_filtered_block(peer, &block);
            return Ok(true);
        }
        if !witness {
            block
                .txdata
                .iter_mut()
                .for_each(|tx| tx.input.iter_mut().for_each(|i| i.witness.clear()));
        }
        peer.push(NetworkMessage::Block(block));
        if peer.continuation.get() == Some(hash) {
            // Core: the end of a getblocks batch; our tip makes the peer
            // ask for the next one.
            peer.continuation.set(None);
            peer.push(NetworkMessage::Inv(vec![Inventory::Block(
                self.chain.tip().hash,
            )]));
        }
        Ok(true)
    }
}
