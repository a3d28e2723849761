//! chain/prune: Core's block pruning. `-prune=<MiB>` (1: by hand only),
//! `-fastprune` (and `-blocksxor`, which the same options carry) are read
//! with Core's checks and handed to the kernel's block
//! manager through `prune.cpp` (built by build.rs against the pinned kernel
//! source), since the C API has no pruning options; the kernel then deletes
//! old block and undo files itself at each flush, keeping the last 288
//! blocks. At run time this module reports the prune height and prunes by
//! hand (pruneblockchain).
//!
//! Before the chainstate manager exists, the C++ side reaches the C API's
//! options through the builder's handle (the wrapper's only field, its size
//! checked at compile time): a struct whose members it mirrors. It checks
//! the mirror by reading back the worker-thread count set through the C
//! API and by finding both option sets referring to the same chain
//! parameters, and refuses otherwise. At run time it uses the chainstate
//! manager handle `BlockTree` has already checked.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::marker::PhantomData;

use bitcoinkernel::ChainstateManagerBuilder;

use super::block_tree::BlockTree;
use super::ChainError;

extern "C" {
    fn bmp_set_block_storage(
        opts: *mut c_void,
        target: u64,
        fast_prune: c_int,
        use_xor: c_int,
        worker_threads: c_int,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
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

/// Sets `opts` on the options `builder` will make the chainstate manager
/// from; `worker_threads` is the count set on it through the C API.
pub(super) fn apply(
    builder: &ChainstateManagerBuilder,
    opts: &PruneOptions,
    worker_threads: i32,
) -> Result<(), ChainError> {
    const _: () = assert!(
        std::mem::size_of::<ChainstateManagerBuilder>() == std::mem::size_of::<*mut c_void>()
    );
    // SAFETY: the wrapper's only field is the options handle (size checked
    // above; pinned version); copying it does not touch ownership.
    let handle =
        unsafe { std::mem::transmute_copy::<ChainstateManagerBuilder, *mut c_void>(builder) };
    let mut err = [0 as c_char; 256];
    // SAFETY: `handle` is live while `builder` is; the shim writes a
    // NUL-terminated string of at most `err.len()` bytes and lets no
    // exception out.
    let result = unsafe {
        bmp_set_block_storage(
            handle,
            opts.target,
            c_int::from(opts.fast),
            c_int::from(opts.xor),
            worker_threads,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    if result == 0 {
        return Ok(());
    }
    Err(ChainError::Unsupported(format!(
        "-prune: {}",
        message(&err)
    )))
}

fn message(err: &[c_char]) -> String {
    // SAFETY: the shims always leave a NUL in `err` (zeroed before them).
    let why = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy();
    if why.is_empty() {
        "the kernel failed".into()
    } else {
        why.into_owned()
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
            _ => Err(ChainError::Kernel(message(&err))),
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
