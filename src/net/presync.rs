//! net/presync: Core's low-work headers sync in the P2P code
//! (TryLowWorkHeadersSync, IsContinuationOfLowWorkHeadersSync). A full
//! headers message whose chain is below our anti-DoS work threshold starts
//! a sync with that peer (chain/headers_sync, Core's own HeadersSyncState)
//! instead of going to the block index; its later headers messages go to
//! the sync, which asks for more with its own locators, and hands back the
//! headers checked in both passes to be stored as any others. Progress is
//! logged as Core's "Pre-synchronizing blockheaders" and shown in
//! getpeerinfo's `presynced_headers`.

use std::time::{Duration, Instant};

use bitcoin::block::Header;

use super::{Net, Peer, MAX_HEADERS};
use crate::chain::headers_sync::Phase;

/// Core's rate limit on presync progress reports (four a second).
const REPORT_INTERVAL: Duration = Duration::from_millis(250);

impl Net {
    /// Core's IsContinuationOfLowWorkHeadersSync: with a sync in progress,
    /// `headers` go to it. Some(headers now ready for the block index, with
    /// their work checked) when they continued it; None when there is no
    /// sync or they did not fit (which ends it; the caller then treats them
    /// as any headers).
    pub(super) fn continue_presync(&self, peer: &Peer, headers: &[Header]) -> Option<Vec<Header>> {
        let mut slot = peer.sync.presync.borrow_mut();
        let sync = slot.as_mut()?;
        let result = sync.process(headers, headers.len() == MAX_HEADERS);
        let id = peer.info.borrow().id;
        if result.success {
            self.headers_answered(peer);
        }
        if result.request_more {
            let locator = sync.locator();
            if let Some(first) = locator.first().copied() {
                self.maybe_send_getheaders_from(peer, locator);
                tracing::debug!(target: "net", "more getheaders (from {first}) to peer={id}");
            }
        }
        let phase = sync.phase();
        if phase == Phase::Final {
            *slot = None;
            peer.info.borrow_mut().presynced_headers = -1;
        } else {
            let (height, time, work) = (
                sync.presync_height(),
                sync.presync_time(),
                sync.presync_work(),
            );
            peer.info.borrow_mut().presynced_headers = height;
            drop(slot);
            if phase == Phase::Presync && self.best_presync(peer, work) {
                self.report_presync(height, time);
            }
        }
        result.success.then_some(result.validated)
    }

    /// Core's TryLowWorkHeadersSync for `headers`, whose chain is below the
    /// anti-DoS threshold: a full message starts a sync from their parent;
    /// a shorter one is ignored (the peer has nothing more to show).
    pub(super) fn start_presync(&self, peer: &Peer, headers: &[Header]) {
        let Some(first) = headers.first() else { return };
        let id = peer.info.borrow().id;
        if headers.len() != MAX_HEADERS {
            let height = self
                .chain
                .block_info(&first.prev_blockhash)
                .map_or(0, |b| b.height as usize + headers.len());
            tracing::debug!(target: "net", "Ignoring low-work chain (height={height}) from peer={id}");
            return;
        }
        let Some(sync) =
            self.chain
                .headers_sync(id, &first.prev_blockhash, self.anti_dos_threshold())
        else {
            return;
        };
        *peer.sync.presync.borrow_mut() = Some(sync);
        // Failures end the sync inside; nothing is stored either way.
        let _ = self.continue_presync(peer, headers);
    }

    /// An empty headers message ends the peer's sync (Core).
    pub(super) fn end_presync(&self, peer: &Peer) {
        if peer.sync.presync.borrow_mut().take().is_some() {
            peer.info.borrow_mut().presynced_headers = -1;
        }
    }

    /// Whether `peer`'s presync, at `work`, is the best of all peers' (Core
    /// reports the progress of that one only).
    fn best_presync(&self, peer: &Peer, work: bitcoin::Work) -> bool {
        let id = peer.info.borrow().id;
        self.peers.borrow().values().all(|other| {
            other.info.borrow().id == id
                || other
                    .sync
                    .presync
                    .try_borrow()
                    .ok()
                    .and_then(|s| s.as_ref().map(|s| s.presync_work()))
                    .is_none_or(|w| w <= work)
        })
    }

    /// Core's ReportHeadersPresync: at most four times a second, while our
    /// best header is below the minimum chain work, and logged during
    /// initial block download.
    fn report_presync(&self, height: i64, time: u32) {
        let best_work = self.chain.chain_work(&self.best_header_hash());
        if best_work.is_some_and(|w| w >= self.chain.minimum_chain_work()) {
            return;
        }
        let now = Instant::now();
        if self
            .sync
            .presync_reported
            .get()
            .is_some_and(|at| now < at + REPORT_INTERVAL)
        {
            return;
        }
        self.sync.presync_reported.set(Some(now));
        if self.chain.initial_block_download() {
            tracing::info!(
                "Pre-synchronizing blockheaders, height: {height} (~{:.2}%)",
                self.header_progress(height, i64::from(time))
            );
        }
    }

    /// Core's header sync progress: `height` against the blocks that could
    /// have been mined since `time`.
    pub(super) fn header_progress(&self, height: i64, time: i64) -> f64 {
        let left = self.spacings_since(time).max(0);
        100.0 * height as f64 / (height + left).max(1) as f64
    }
}
