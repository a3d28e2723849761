//! chain/headers_sync: Core's low-work headers sync (HeadersSyncState) for
//! one peer, through `headers_sync.cpp`. A peer offering a chain below our
//! anti-DoS work threshold gets its headers checked twice before any is
//! stored: first (PRESYNC) only their proof of work, difficulty changes and
//! a salted commitment every few blocks, until the chain shows enough work;
//! then (REDOWNLOAD) again from the start, each checked against the
//! commitments, and released to the block index once a buffer of later
//! headers matched too. The code that runs this is Core's own, compiled
//! from the pinned kernel source by build.rs.

use std::ffi::{c_int, c_void};
use std::ptr::NonNull;
use std::sync::Arc;

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;

use super::Chain;

type HeaderFn = unsafe extern "C" fn(ctx: *mut c_void, header80: *const u8);

extern "C" {
    fn bmp_headers_sync_new(
        handle: *mut c_void,
        id: i64,
        start: *const u8,
        min_work: *const u8,
    ) -> *mut c_void;
    fn bmp_headers_sync_free(sync: *mut c_void);
    fn bmp_headers_sync_process(
        sync: *mut c_void,
        data: *const u8,
        count: usize,
        full: c_int,
        each: HeaderFn,
        ctx: *mut c_void,
    ) -> c_int;
    fn bmp_headers_sync_state(sync: *mut c_void) -> c_int;
    fn bmp_headers_sync_height(sync: *mut c_void) -> i64;
    fn bmp_headers_sync_time(sync: *mut c_void) -> u32;
    fn bmp_headers_sync_work(sync: *mut c_void, out: *mut u8);
    fn bmp_headers_sync_locator(sync: *mut c_void, out: *mut u8, max: usize) -> usize;
}

/// Core's MAX_LOCATOR_SZ: the most hashes a locator may carry.
const MAX_LOCATOR: usize = 101;

/// Where a sync stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Checking the chain's work without storing it.
    Presync,
    /// Downloading it again, storing what matches the commitments.
    Redownload,
    /// Over (done or failed): drop it.
    Final,
}

/// What a headers message did to the sync.
#[derive(Debug, Default)]
pub struct Processed {
    /// The headers continued the sync (false: they did not fit, and the
    /// sync is over).
    pub success: bool,
    /// Ask the peer for more, from [`HeadersSync::locator`].
    pub request_more: bool,
    /// Headers checked in both passes, ready for the block index.
    pub validated: Vec<bitcoin::block::Header>,
}

/// One peer's low-work headers sync. It holds the chain, whose engine it
/// points into.
pub struct HeadersSync {
    sync: NonNull<c_void>,
    _chain: Arc<Chain>,
}

impl Chain {
    /// Starts a low-work headers sync with peer `peer` for the chain that
    /// forks off our block `start`, until it shows `min_work`. None when
    /// `start` is unknown or the block tree is out of reach.
    pub fn headers_sync(
        self: &Arc<Self>,
        peer: u64,
        start: &bitcoin::BlockHash,
        min_work: bitcoin::Work,
    ) -> Option<HeadersSync> {
        let handle = self.block_tree.handle()?;
        let work = min_work.to_le_bytes();
        // SAFETY: handle live (the chain is kept with the sync); 32 bytes each in.
        let sync = unsafe {
            bmp_headers_sync_new(
                handle,
                peer as i64,
                start.as_byte_array().as_ptr(),
                work.as_ptr(),
            )
        };
        Some(HeadersSync {
            sync: NonNull::new(sync)?,
            _chain: self.clone(),
        })
    }
}

impl HeadersSync {
    /// Core's ProcessNextHeaders for a headers message (`full`: it had the
    /// most headers a message may carry).
    pub fn process(&mut self, headers: &[bitcoin::block::Header], full: bool) -> Processed {
        let mut data = Vec::with_capacity(headers.len() * 80);
        for h in headers {
            data.extend_from_slice(&serialize(h));
        }
        let mut validated: Vec<bitcoin::block::Header> = Vec::new();
        unsafe extern "C" fn each(ctx: *mut c_void, header80: *const u8) {
            // SAFETY: ctx is `validated` below; 80 bytes readable.
            let (out, bytes) = unsafe {
                (
                    &mut *(ctx as *mut Vec<bitcoin::block::Header>),
                    std::slice::from_raw_parts(header80, 80),
                )
            };
            if let Ok(h) = deserialize(bytes) {
                out.push(h);
            }
        }
        // SAFETY: sync live; `data` holds `headers.len()` headers of 80 bytes.
        let result = unsafe {
            bmp_headers_sync_process(
                self.sync.as_ptr(),
                data.as_ptr(),
                headers.len(),
                c_int::from(full),
                each,
                &mut validated as *mut _ as *mut c_void,
            )
        };
        if result < 0 {
            return Processed::default();
        }
        Processed {
            success: result & 1 != 0,
            request_more: result & 2 != 0,
            validated,
        }
    }

    pub fn phase(&self) -> Phase {
        // SAFETY: sync live.
        match unsafe { bmp_headers_sync_state(self.sync.as_ptr()) } {
            0 => Phase::Presync,
            1 => Phase::Redownload,
            _ => Phase::Final,
        }
    }

    /// The height the presync reached (getpeerinfo's presynced_headers).
    pub fn presync_height(&self) -> i64 {
        // SAFETY: sync live.
        unsafe { bmp_headers_sync_height(self.sync.as_ptr()) }
    }

    /// The time of the last header the presync took.
    pub fn presync_time(&self) -> u32 {
        // SAFETY: sync live.
        unsafe { bmp_headers_sync_time(self.sync.as_ptr()) }
    }

    /// The chain work the presync has seen so far.
    pub fn presync_work(&self) -> bitcoin::Work {
        let mut out = [0u8; 32];
        // SAFETY: sync live; 32 bytes out.
        unsafe { bmp_headers_sync_work(self.sync.as_ptr(), out.as_mut_ptr()) };
        bitcoin::Work::from_le_bytes(out)
    }

    /// The locator for the next getheaders of this sync.
    pub fn locator(&self) -> Vec<bitcoin::BlockHash> {
        let mut out = vec![0u8; 32 * MAX_LOCATOR];
        // SAFETY: sync live; room for MAX_LOCATOR hashes.
        let n =
            unsafe { bmp_headers_sync_locator(self.sync.as_ptr(), out.as_mut_ptr(), MAX_LOCATOR) };
        out.chunks_exact(32)
            .take(n)
            .map(|c| bitcoin::BlockHash::from_byte_array(c.try_into().expect("32 bytes")))
            .collect()
    }
}

impl Drop for HeadersSync {
    fn drop(&mut self) {
        // SAFETY: made by bmp_headers_sync_new, freed once.
        unsafe { bmp_headers_sync_free(self.sync.as_ptr()) }
    }
}
