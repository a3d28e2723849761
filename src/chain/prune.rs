//! chain/prune: Core's block pruning. `-prune=<MiB>` (1: by hand only),
//! `-fastprune` (and `-blocksxor`, which the same options carry) are read
//! here with Core's checks; `manager_options` hands them to the kernel's
//! block manager, since the C API has no pruning options. The kernel then
//! deletes old block and undo files itself at each flush, keeping the last
//! 288 blocks. At run time this module reports the prune height and prunes
//! by hand (pruneblockchain) through `prune.cpp` (built by build.rs against
//! the pinned kernel source), with the chainstate manager handle
//! `BlockTree` has already checked.

use std::ffi::{c_char, c_int, c_void};
use std::marker::PhantomData;

use super::block_tree::BlockTree;
use super::ChainError;

extern "C" {
    fn bmp_prune_state(
        handle: *mut c_void,
        last_pruned: *mut i32,
        target: *mut u64,
        prune_after: *mut i32,
    ) -> c_int;
    fn bmp_prune_to(handle: *mut c_void, height: i32, err: *mut c_char, err_len: usize) -> c_int;
    fn bmp_prune_and_flush(handle: *mut c_void, err: *mut c_char, err_len: usize) -> c_int;
}

/// Core's BlockManager::PRUNE_TARGET_MANUAL (`-prune=1`).
pub const PRUNE_TARGET_MANUAL: u64 = u64::MAX;

/// Core's MIN_BLOCKS_TO_KEEP: blocks this close to the tip are never pruned.
pub const MIN_BLOCKS_TO_KEEP: i32 = 288;

/// Core's MIN_DISK_SPACE_FOR_BLOCK_FILES, in MiB.
const MIN_TARGET_MIB: i64 = 550;

/// `-prune`, `-fastprune` and `-blocksxor`: how the kernel keeps block files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PruneOptions {
    /// Bytes of block and undo files to keep; 0 no pruning,
    /// [`PRUNE_TARGET_MANUAL`] pruning by RPC only.
    pub target: u64,
    /// Small block files, and (regtest) pruning from height 100.
    pub fast: bool,
    /// Block files obfuscated with a random key (Core's default).
    pub xor: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            target: 0,
            fast: false,
            xor: true,
        }
    }
}

impl PruneOptions {
    /// Core's reading of `-prune=<MiB>`, `-fastprune` and `-blocksxor`, with
    /// its errors.
    pub fn parse(prune_mib: i64, fast: bool, xor: bool) -> Result<PruneOptions, String> {
        let target = match prune_mib {
            n if n < 0 => return Err("Prune cannot be configured with a negative value.".into()),
            0 => 0,
            1 => PRUNE_TARGET_MANUAL,
            n if n < MIN_TARGET_MIB => {
                return Err(format!("Prune configured below the minimum of {MIN_TARGET_MIB} MiB.  Please use a higher number."))
            }
            n => (n as u64).saturating_mul(1024 * 1024),
        };
        Ok(PruneOptions { target, fast, xor })
    }

    /// The node prunes (automatically or by hand).
    pub fn enabled(&self) -> bool {
        self.target != 0
    }

    /// Anything differs from the kernel's defaults.
    pub fn is_default(&self) -> bool {
        *self == PruneOptions::default()
    }
}

/// What getblockchaininfo says of pruning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PruneState {
    /// Height of the last block whose data is gone (Core's GetPruneHeight).
    pub last_pruned: Option<i32>,
    /// The target in bytes; [`PRUNE_TARGET_MANUAL`] for `-prune=1`.
    pub target: u64,
    /// The chain's nPruneAfterHeight: no pruning below this tip height.
    pub prune_after: i32,
}

/// Pruning of the running chainstate manager, through the handle the
/// block tree has checked (borrowed for as long as the view lives).
pub(super) struct Pruner<'a> {
    /// The checked chainstate manager handle (None: not reachable).
    handle: Option<*mut c_void>,
    _tree: PhantomData<&'a BlockTree>,
}

impl<'a> Pruner<'a> {
    pub(super) fn of(tree: &'a BlockTree) -> Pruner<'a> {
        Pruner {
            handle: tree.handle(),
            _tree: PhantomData,
        }
    }

    /// None when the node does not prune (or the kernel is not reachable).
    pub(super) fn state(&self) -> Option<PruneState> {
        let handle = self.handle?;
        let (mut last, mut target, mut after) = (-1i32, 0u64, 0i32);
        // SAFETY: handle live (the borrowed block tree's chainstate
        // manager); three
        // out-parameters.
        let pruning = unsafe { bmp_prune_state(handle, &mut last, &mut target, &mut after) };
        (pruning == 1).then_some(PruneState {
            last_pruned: (last >= 0).then_some(last),
            target,
            prune_after: after,
        })
    }

    /// Deletes the block files holding only blocks up to `height` (Core's
    /// PruneBlockFilesManual).
    pub(super) fn prune_to(&self, height: i32) -> Result<(), ChainError> {
        self.call(|h, err, len| unsafe { bmp_prune_to(h, height, err, len) })
    }

    /// Core's start-up prune to the target.
    pub(super) fn prune_and_flush(&self) -> Result<(), ChainError> {
        self.call(|h, err, len| unsafe { bmp_prune_and_flush(h, err, len) })
    }

    fn call(
        &self,
        f: impl FnOnce(*mut c_void, *mut c_char, usize) -> c_int,
    ) -> Result<(), ChainError> {
        let handle = self.handle.ok_or_else(|| {
            ChainError::Unsupported("pruning is not reachable in this build".into())
        })?;
        let mut err = [0 as c_char; 256];
        // The closures above pass the live handle and `err` (with its
        // length) to a shim that lets no exception out.
        match f(handle, err.as_mut_ptr(), err.len()) {
            0 => Ok(()),
            _ => Err(ChainError::Kernel(super::shim_message(&err))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prune_option_is_read_as_core_reads_it() {
        assert_eq!(PruneOptions::parse(0, false, true).unwrap().target, 0);
        assert!(!PruneOptions::parse(0, false, true).unwrap().enabled());
        assert_eq!(
            PruneOptions::parse(1, false, true).unwrap().target,
            PRUNE_TARGET_MANUAL
        );
        assert_eq!(
            PruneOptions::parse(550, true, true).unwrap().target,
            550 * 1024 * 1024
        );
        assert!(PruneOptions::parse(550, true, true).unwrap().fast);
        assert_eq!(
            PruneOptions::parse(549, false, true).unwrap_err(),
            "Prune configured below the minimum of 550 MiB.  Please use a higher number."
        );
        assert_eq!(
            PruneOptions::parse(-1, false, true).unwrap_err(),
            "Prune cannot be configured with a negative value."
        );
    }
}
