//! net/feefilter: the `feefilter` (BIP133) we send each peer, as Core's
//! MaybeSendFeefilter: the mempool's minimum fee rate rounded into Core's
//! fee buckets (a bucket lower two times in three, so that the exact floor
//! is not given away), never below `-minrelaytxfee`; the highest bucket
//! while in initial block download (no transactions yet, please). It is
//! sent again on a ten-minute Poisson timer, sooner when the floor moves
//! by more than a third. None goes out with `-blocksonly`, or to
//! block-relay-only and `forcerelay` peers.

use std::cell::Cell;
use std::sync::OnceLock;

use bitcoin::p2p::message::NetworkMessage;
use rand::Rng;

use super::{permissions, Net, Peer};

/// Core's DEFAULT_MIN_RELAY_TX_FEE, which its fee buckets start from.
const DEFAULT_MIN_RELAY_TX_FEE: i64 = 100;
/// Core's MAX_FILTER_FEERATE and FEE_FILTER_SPACING.
const MAX_FILTER_FEERATE: f64 = 1e7;
const FEE_FILTER_SPACING: f64 = 1.1;
/// Core's AVG_FEEFILTER_BROADCAST_INTERVAL and MAX_FEEFILTER_CHANGE_DELAY.
const AVG_BROADCAST_INTERVAL_US: f64 = 10.0 * 60.0 * 1e6;
const MAX_CHANGE_DELAY_US: i64 = 5 * 60 * 1_000_000;
/// Core's FEEFILTER_VERSION: older peers get none.
const FEEFILTER_VERSION: u32 = 70013;

/// Core's MakeFeeSet: 0, then from half the default minimum relay fee up
/// to the largest filter in steps of 10 %.
fn buckets() -> &'static [f64] {
    static SET: OnceLock<Vec<f64>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut set = vec![0.0];
        let mut boundary = (DEFAULT_MIN_RELAY_TX_FEE / 2).max(1) as f64;
        while boundary <= MAX_FILTER_FEERATE {
            set.push(boundary);
            boundary *= FEE_FILTER_SPACING;
        }
        set
    })
}

/// Core's FeeFilterRounder::round: the first bucket at or above `fee`, or
/// (above them all, or two times in three) the one below it.
pub(super) fn round(fee: i64) -> i64 {
    let set = buckets();
    let mut i = set.partition_point(|b| *b < fee as f64);
    if i == set.len() || (i > 0 && rand::thread_rng().gen_range(0..3) != 0) {
        i -= 1;
    }
    set[i] as i64
}

/// What was sent to one peer, and when the next may go.
#[derive(Default)]
pub(super) struct PeerFeeFilter {
    sent: Cell<i64>,
    next_send_us: Cell<i64>,
}

impl Net {
    /// Core's MaybeSendFeefilter (after the handshake, after each message
    /// and every second).
    pub(super) fn maybe_send_feefilter(&self, peer: &Peer) {
        let (conn, perms, version, done) = {
            let i = peer.info.borrow();
            (i.conn_type, i.permissions, i.version, i.handshake_done)
        };
        if !done
            || self.blocks_only()
            || version < FEEFILTER_VERSION
            || !conn.relays_txs()
            || perms & permissions::FORCE_RELAY == permissions::FORCE_RELAY
        {
            return;
        }
        let now = crate::chain::clock::now_micros();
        let state = &peer.fee_filter_out;
        let max_filter = round(crate::rpc::amount::MAX_MONEY);
        let current = if self.chain.initial_block_download() {
            crate::rpc::amount::MAX_MONEY
        } else {
            // Out of IBD after sending the highest bucket: send the real
            // one now.
            if state.sent.get() == max_filter {
                state.next_send_us.set(0);
            }
            self.mempool.min_fee()
        };
        if now > state.next_send_us.get() {
            let filter = round(current).max(self.mempool.options().min_relay_feerate.0);
            if filter != state.sent.get() {
                peer.push(NetworkMessage::FeeFilter(filter));
                state.sent.set(filter);
            }
            state
                .next_send_us
                .set(now + super::addrrelay::poisson_delay(AVG_BROADCAST_INTERVAL_US));
        } else if now + MAX_CHANGE_DELAY_US < state.next_send_us.get()
            && (current < 3 * state.sent.get() / 4 || current > 4 * state.sent.get() / 3)
        {
            state
                .next_send_us
                .set(now + rand::thread_rng().gen_range(0..MAX_CHANGE_DELAY_US));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_and_rounding_are_cores() {
        // Core's test framework knows the top bucket: 9936506 sat/kvB.
        assert_eq!(round(crate::rpc::amount::MAX_MONEY), 9_936_506);
        assert_eq!(round(0), 0);
        // A fee between two buckets rounds to one of them.
        for _ in 0..50 {
            let r = round(1000);
            assert!(r == 1055 || r == 959, "{r}");
        }
    }
}
