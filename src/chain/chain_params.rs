//! chain/chain_params: Core's test deployment options on regtest
//! (`-testactivationheight=name@height`, `-vbparams=deployment:start:end
//! [:min_activation_height]`, parsed as Core parses them) and `-fastprune`
//! (pruning from height 100), handed to the
//! kernel through `chain_params.cpp` (built by build.rs against the pinned
//! kernel source): the kernel's C API makes chain parameters from the chain
//! type only.
//!
//! The C++ side reaches the context's chain parameters through the C API's
//! context handle, which `bitcoinkernel` keeps private: the handle is the
//! `Context` wrapper's only field (its size is checked at compile time); it
//! points at a shared pointer to the kernel's Context, whose fifth member
//! owns the chain parameters. Both crates are pinned in Cargo.toml, and the
//! C++ side checks that what it finds there are regtest's parameters
//! before it replaces them, refusing otherwise.

use std::ffi::{c_char, c_int, c_void, CStr};

use bitcoinkernel::Context;

use super::deployments::TestParams;
use super::ChainError;

extern "C" {
    fn bmp_use_regtest_params(
        context: *mut c_void,
        heights: *const i32,
        testdummy: *const i64,
        fastprune: c_int,
        enforce_bip94: c_int,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

/// Gives the freshly built `context` regtest parameters with `params` and
/// `fastprune` applied; call it before any chainstate manager is made from
/// it.
pub(super) fn use_regtest_params(
    context: &Context,
    params: &TestParams,
    fastprune: bool,
) -> Result<(), ChainError> {
    const _: () = assert!(std::mem::size_of::<Context>() == std::mem::size_of::<*mut c_void>());
    // SAFETY: the wrapper's only field is the handle (size checked above;
    // pinned version); copying it does not touch ownership.
    let handle = unsafe { std::mem::transmute_copy::<Context, *mut c_void>(context) };
    let heights: [i32; 5] = params.heights.map(|h| h.unwrap_or(-1));
    let testdummy = params
        .testdummy
        .map(|(start, timeout, min)| [start, timeout, i64::from(min)]);
    let mut err = [0 as c_char; 256];
    // SAFETY: `handle` is live while `context` is; five heights, three
    // testdummy values or null; the shim writes a NUL-terminated string of
    // at most `err.len()` bytes and lets no exception out.
    let result = unsafe {
        bmp_use_regtest_params(
            handle,
            heights.as_ptr(),
            testdummy.as_ref().map_or(std::ptr::null(), |t| t.as_ptr()),
            c_int::from(fastprune),
            c_int::from(params.bip94),
            err.as_mut_ptr(),
            err.len(),
        )
    };
    if result == 0 {
        return Ok(());
    }
    // SAFETY: the shim always leaves a NUL in `err` (zeroed before it).
    let why = unsafe { CStr::from_ptr(err.as_ptr()) }.to_string_lossy();
    Err(ChainError::Unsupported(format!(
        "-testactivationheight/-vbparams/-fastprune/-test: {why}"
    )))
}
