//! chain/block_tree: what the kernel's C API does not show of its block tree
//! or let us do to it, through `block_tree.cpp` (built by build.rs against
//! the pinned kernel source): every chain tip with Core's status
//! (getchaintips), whether a block is marked failed, the index's counts and
//! time search (FindEarliestAtLeast), the initial-block-download latch, and
//! the operator's verdicts (invalidateblock, reconsiderblock,
//! preciousblock).
//!
//! The C++ side reaches the kernel's `ChainstateManager` through the C API's
//! handle, which `bitcoinkernel` keeps private: the handle is the wrapper's
//! only field, and it points at a struct whose first member owns the
//! manager. Both versions are pinned in Cargo.toml; `BlockTree::new`
//! checks the layout by comparing the tip it reads with the wrapper's and
//! refuses every call if they differ.

use std::ffi::{c_char, c_int, c_void};

use bitcoin::hashes::Hash;
use bitcoinkernel::{prelude::*, ChainstateManager};

use super::to_hash;

type TipFn =
    unsafe extern "C" fn(ctx: *mut c_void, hash: *const u8, height: c_int, len: c_int, st: c_int);

extern "C" {
    fn bmp_active_tip(handle: *mut c_void, hash_out: *mut u8) -> c_int;
    fn bmp_block_status(handle: *mut c_void, hash: *const u8) -> c_int;
    fn bmp_chain_work(handle: *mut c_void, hash: *const u8, out: *mut u8) -> c_int;
    fn bmp_chain_tx_count(handle: *mut c_void, hash: *const u8) -> i64;
    fn bmp_verification_progress(handle: *mut c_void) -> f64;
    fn bmp_earliest_at_least(handle: *mut c_void, time: i64) -> i32;
    fn bmp_initial_block_download(handle: *mut c_void) -> c_int;
    fn bmp_minimum_chain_work(handle: *mut c_void, out: *mut u8) -> c_int;
    fn bmp_process_unrequested_block(
        handle: *mut c_void,
        data: *const u8,
        len: usize,
        new_block: *mut c_int,
    ) -> c_int;
    fn bmp_block_tx_count(handle: *mut c_void, hash: *const u8) -> i64;
    fn bmp_chain_tips(handle: *mut c_void, each: TipFn, ctx: *mut c_void) -> c_int;
    fn bmp_invalidate_block(
        handle: *mut c_void,
        hash: *const u8,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn bmp_reconsider_block(
        handle: *mut c_void,
        hash: *const u8,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn bmp_precious_block(
        handle: *mut c_void,
        hash: *const u8,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

/// Why a verdict on a block was not carried out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerdictError {
    /// The block tree has no such block (Core: RPC_INVALID_ADDRESS_OR_KEY).
    #[error("Block not found")]
    NotFound,
    /// The kernel refused or failed (Core: RPC_DATABASE_ERROR).
    #[error("{0}")]
    Refused(String),
    /// The linked kernel's layout is not the one this build expects.
    #[error("the kernel's block tree is not reachable in this build")]
    Unavailable,
}

/// A block's marks in the block tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockStatus {
    /// It or an ancestor failed validation (or was invalidated).
    pub failed: bool,
    /// Its full block is stored.
    pub have_data: bool,
    /// Its full block was stored and has been pruned.
    pub pruned: bool,
    /// Its undo data (what it spent) is stored.
    pub have_undo: bool,
}

/// A chain tip as Core's getchaintips reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainTip {
    pub hash: bitcoin::BlockHash,
    pub height: i32,
    pub branchlen: i32,
    pub status: &'static str,
}

/// Access to the kernel's block tree beyond its C API.
pub(super) struct BlockTree {
    /// The C API's chainstate manager handle; None when the startup check
    /// failed.
    handle: Option<*mut c_void>,
}

// SAFETY: the handle is only passed to the kernel, which locks cs_main (and
// its chainstate mutex) itself, as for every C API call.
unsafe impl Send for BlockTree {}
unsafe impl Sync for BlockTree {}

impl BlockTree {
    /// Takes the C API handle out of `chainman` and checks it leads to the
    /// same active tip as the wrapper reports.
    pub(super) fn new(chainman: &ChainstateManager) -> BlockTree {
        const _: () =
            assert!(std::mem::size_of::<ChainstateManager>() == std::mem::size_of::<*mut c_void>());
        // SAFETY: the wrapper's only field is the handle (sizes checked
        // above; pinned version); copying it does not touch ownership.
        let handle =
            unsafe { std::mem::transmute_copy::<ChainstateManager, *mut c_void>(chainman) };
        let tip = chainman.active_chain().tip();
        let mut hash = [0u8; 32];
        // SAFETY: `handle` is live for as long as `chainman`; 32 bytes out.
        let height = unsafe { bmp_active_tip(handle, hash.as_mut_ptr()) };
        let same = height == tip.height() && hash == tip.block_hash().to_bytes();
        if !same {
            tracing::warn!("the kernel's block tree is not reachable: getchaintips is limited to the active tip, invalidateblock, reconsiderblock and preciousblock are refused");
        }
        BlockTree {
            handle: same.then_some(handle),
        }
    }

    /// Whether the kernel is in initial block download (Core's latch);
    /// None when the tree is not reachable.
    pub(super) fn initial_block_download(&self) -> Option<bool> {
        let handle = self.handle?;
        // SAFETY: handle live (checked at startup); no arguments.
        match unsafe { bmp_initial_block_download(handle) } {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    /// The height of the first active-chain block whose time, or an
    /// ancestor's, is at or after `time` (Core's FindEarliestAtLeast); None
    /// when no block reaches it. When the tree is not reachable this is the
    /// genesis block, so a wallet rescanning from it misses nothing.
    pub(super) fn earliest_at_least(&self, time: i64) -> Option<i32> {
        let Some(handle) = self.handle else {
            return Some(0);
        };
        // SAFETY: handle live (checked at startup); plain values in and out.
        match unsafe { bmp_earliest_at_least(handle, time) } {
            -1 => None,
            h if h < 0 => Some(0),
            h => Some(h),
        }
    }

    /// The chainstate manager handle, when the startup check held (for the
    /// other shims that reach the manager).
    pub(super) fn handle(&self) -> Option<*mut c_void> {
        self.handle
    }

    /// What the kernel's block tree says of block `hash` (None: unknown
    /// block, or the tree is not reachable).
    pub(super) fn status(&self, hash: &bitcoin::BlockHash) -> Option<BlockStatus> {
        let handle = self.handle?;
        // SAFETY: handle live (owned by the Chain holding self); 32 bytes in.
        let bits = unsafe { bmp_block_status(handle, hash.as_byte_array().as_ptr()) };
        (bits >= 0).then_some(BlockStatus {
            failed: bits & 1 != 0,
            have_data: bits & 2 != 0,
            pruned: bits & 4 != 0,
            have_undo: bits & 8 != 0,
        })
    }

    /// The chain's total work up to block `hash`, as the kernel keeps it
    /// (None: unknown block, or the tree is not reachable).
    pub(super) fn chain_work(&self, hash: &bitcoin::BlockHash) -> Option<bitcoin::Work> {
        let handle = self.handle?;
        let mut out = [0u8; 32];
        // SAFETY: handle live; 32 bytes in, 32 bytes out.
        let found =
            unsafe { bmp_chain_work(handle, hash.as_byte_array().as_ptr(), out.as_mut_ptr()) };
        (found == 0).then(|| bitcoin::Work::from_le_bytes(out))
    }

    /// Core's ProcessNewBlock without force_processing, for a block a peer
    /// sent unasked (`bytes`: serialized with witnesses). None when the
    /// tree is not reachable or the engine cannot read the block.
    pub(super) fn process_unrequested(
        &self,
        bytes: &[u8],
    ) -> Option<bitcoinkernel::ProcessBlockResult> {
        let handle = self.handle?;
        let mut new_block: c_int = 0;
        // SAFETY: handle live; `bytes` readable for its length; one int out.
        let result = unsafe {
            bmp_process_unrequested_block(handle, bytes.as_ptr(), bytes.len(), &mut new_block)
        };
        use bitcoinkernel::ProcessBlockResult as R;
        match (result, new_block) {
            (1, 1) => Some(R::NewBlock),
            (1, _) => Some(R::Duplicate),
            (0, _) => Some(R::Rejected),
            _ => None,
        }
    }

    /// Core's MinimumChainWork (None: the tree is not reachable).
    pub(super) fn minimum_chain_work(&self) -> Option<bitcoin::Work> {
        let handle = self.handle?;
        let mut out = [0u8; 32];
        // SAFETY: handle live; 32 bytes out.
        let found = unsafe { bmp_minimum_chain_work(handle, out.as_mut_ptr()) };
        (found == 0).then(|| bitcoin::Work::from_le_bytes(out))
    }

    /// The number of transactions in the chain up to block `hash` (Core's
    /// m_chain_tx_count): None for an unknown block or an unreachable tree,
    /// Some(0) when the kernel does not know it.
    pub(super) fn chain_tx_count(&self, hash: &bitcoin::BlockHash) -> Option<u64> {
        let handle = self.handle?;
        // SAFETY: handle live; 32 bytes in.
        let n = unsafe { bmp_chain_tx_count(handle, hash.as_byte_array().as_ptr()) };
        u64::try_from(n).ok()
    }

    /// The number of transactions in block `hash` (Core's nTx: 0 for a
    /// block known by its header only); None for an unknown block or an
    /// unreachable tree.
    pub(super) fn block_tx_count(&self, hash: &bitcoin::BlockHash) -> Option<u64> {
        let handle = self.handle?;
        // SAFETY: handle live; 32 bytes in.
        let n = unsafe { bmp_block_tx_count(handle, hash.as_byte_array().as_ptr()) };
        u64::try_from(n).ok()
    }

    /// Core's GuessVerificationProgress for the active tip (None when the
    /// tree is not reachable).
    pub(super) fn verification_progress(&self) -> Option<f64> {
        let handle = self.handle?;
        // SAFETY: handle live; no arguments.
        let p = unsafe { bmp_verification_progress(handle) };
        (p >= 0.0).then_some(p)
    }

    /// Every chain tip, as Core's getchaintips (None when unavailable).
    pub(super) fn tips(&self) -> Option<Vec<ChainTip>> {
        unsafe extern "C" fn each(
            ctx: *mut c_void,
            hash: *const u8,
            height: c_int,
            branchlen: c_int,
            status: c_int,
        ) {
            // SAFETY: ctx is the Vec passed below; hash points at 32 bytes.
            let (tips, hash) = unsafe {
                (
                    &mut *(ctx as *mut Vec<ChainTip>),
                    std::slice::from_raw_parts(hash, 32),
                )
            };
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(hash);
            tips.push(ChainTip {
                hash: to_hash(bytes),
                height,
                branchlen,
                status: match status {
                    0 => "active",
                    1 => "invalid",
                    2 => "headers-only",
                    3 => "valid-fork",
                    4 => "valid-headers",
                    _ => "unknown",
                },
            });
        }
        let handle = self.handle?;
        let mut tips: Vec<ChainTip> = Vec::new();
        // SAFETY: `each` only pushes into `tips`, which outlives the call.
        let n = unsafe { bmp_chain_tips(handle, each, (&mut tips as *mut Vec<ChainTip>).cast()) };
        // Highest first, as Core's set ordered by height.
        tips.sort_by_key(|t| std::cmp::Reverse(t.height));
        (n >= 0).then_some(tips)
    }

    /// Core's invalidateblock.
    pub(super) fn invalidate(&self, hash: &bitcoin::BlockHash) -> Result<(), VerdictError> {
        self.verdict(hash, bmp_invalidate_block)
    }

    /// Core's reconsiderblock.
    pub(super) fn reconsider(&self, hash: &bitcoin::BlockHash) -> Result<(), VerdictError> {
        self.verdict(hash, bmp_reconsider_block)
    }

    /// Core's preciousblock.
    pub(super) fn precious(&self, hash: &bitcoin::BlockHash) -> Result<(), VerdictError> {
        self.verdict(hash, bmp_precious_block)
    }

    fn verdict(
        &self,
        hash: &bitcoin::BlockHash,
        call: unsafe extern "C" fn(*mut c_void, *const u8, *mut c_char, usize) -> c_int,
    ) -> Result<(), VerdictError> {
        let handle = self.handle.ok_or(VerdictError::Unavailable)?;
        let mut err = [0u8; 512];
        // SAFETY: handle live; 32 bytes in; `err` holds err.len() bytes and
        // comes back NUL-terminated.
        let code = unsafe {
            call(
                handle,
                hash.as_byte_array().as_ptr(),
                err.as_mut_ptr().cast(),
                err.len(),
            )
        };
        match code {
            0 => Ok(()),
            1 => Err(VerdictError::NotFound),
            _ => {
                let end = err.iter().position(|b| *b == 0).unwrap_or(err.len());
                let why = String::from_utf8_lossy(&err[..end]).into_owned();
                Err(VerdictError::Refused(if why.is_empty() {
                    "the kernel failed".into()
                } else {
                    why
                }))
            }
        }
    }
}
