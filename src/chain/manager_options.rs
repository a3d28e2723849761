//! chain/manager_options: the chainstate manager's options the kernel's C
//! API does not offer, set through `manager_options.cpp` (built by build.rs
//! against the pinned kernel source) before the manager is made: block
//! storage (`-prune`, `-fastprune`, `-blocksxor`, read by `prune`),
//! `-maxtipage`, `-minimumchainwork` and `-assumevalid`, plus Core's
//! reading of the last two.
//!
//! The C++ side reaches the C API's options through the builder's handle
//! (the wrapper's only field, its size checked at compile time): a struct
//! whose members it mirrors. It checks the mirror by reading back the
//! worker-thread count set through the C API and by finding both option
//! sets referring to the same chain parameters, and refuses otherwise.

use std::ffi::{c_char, c_int, c_void};

use bitcoinkernel::ChainstateManagerBuilder;

use super::{ChainError, ChainOptions};

/// Core's DEFAULT_MAX_TIP_AGE: a tip older than this (seconds) means
/// initial block download.
pub const DEFAULT_MAX_TIP_AGE: i64 = 24 * 60 * 60;

/// manager_options.cpp's `bmp_manager_options`, member for member.
#[repr(C)]
struct RawOptions {
    prune_target: u64,
    fast_prune: c_int,
    use_xor: c_int,
    max_tip_age: i64,
    minimum_chain_work: *const u8,
    assumed_valid: *const u8,
}

extern "C" {
    fn bmp_set_manager_options(
        opts: *mut c_void,
        o: *const RawOptions,
        worker_threads: c_int,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
}

/// Core's uint256::FromUserHex: up to 64 hex digits (an optional "0x"
/// first), the number they write, in uint256's byte order (least
/// significant first); None for anything else.
pub fn user_hex_256(text: &str) -> Option<[u8; 32]> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if digits.len() > 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = format!("{digits:0>64}");
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        // Pairs from the end: the last two digits are the lowest byte.
        let at = 64 - 2 * (i + 1);
        *byte = u8::from_str_radix(&padded[at..at + 2], 16).ok()?;
    }
    Some(out)
}

/// Whether `opts` asks for anything the C API's defaults do not give.
pub(super) fn needed(opts: &ChainOptions) -> bool {
    !opts.prune.is_default()
        || opts.max_tip_age != DEFAULT_MAX_TIP_AGE
        || opts.minimum_chain_work.is_some()
        || opts.assume_valid.is_some()
}

/// Sets `opts` on the options `builder` will make the chainstate manager
/// from; `opts.worker_threads` is the count set on it through the C API.
pub(super) fn apply(
    builder: &ChainstateManagerBuilder,
    opts: &ChainOptions,
) -> Result<(), ChainError> {
    const _: () = assert!(
        std::mem::size_of::<ChainstateManagerBuilder>() == std::mem::size_of::<*mut c_void>()
    );
    // SAFETY: the wrapper's only field is the options handle (size checked
    // above; pinned version); copying it does not touch ownership.
    let handle =
        unsafe { std::mem::transmute_copy::<ChainstateManagerBuilder, *mut c_void>(builder) };
    let blob = |b: &Option<[u8; 32]>| b.as_ref().map_or(std::ptr::null(), |b| b.as_ptr());
    let raw = RawOptions {
        prune_target: opts.prune.target,
        fast_prune: c_int::from(opts.prune.fast),
        use_xor: c_int::from(opts.prune.xor),
        max_tip_age: opts.max_tip_age,
        minimum_chain_work: blob(&opts.minimum_chain_work),
        assumed_valid: blob(&opts.assume_valid),
    };
    let mut err = [0 as c_char; 256];
    // SAFETY: `handle` is live while `builder` is; `raw` and the 32-byte
    // blobs it points at outlive the call; the shim writes a NUL-terminated
    // string of at most `err.len()` bytes and lets no exception out.
    let result = unsafe {
        bmp_set_manager_options(
            handle,
            &raw,
            opts.worker_threads,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    if result == 0 {
        return Ok(());
    }
    Err(ChainError::Unsupported(format!(
        "-prune/-maxtipage/-minimumchainwork/-assumevalid: {}",
        super::shim_message(&err)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_hex_is_read_as_cores_from_user_hex() {
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(user_hex_256("1"), Some(one));
        assert_eq!(user_hex_256("0x01"), Some(one));
        assert_eq!(user_hex_256("0"), Some([0u8; 32]));
        let mut wide = [0u8; 32];
        wide[0] = 0x34;
        wide[1] = 0x12;
        assert_eq!(user_hex_256("1234"), Some(wide));
        assert_eq!(user_hex_256(&"f".repeat(64)), Some([0xff; 32]));
        assert_eq!(user_hex_256(&"f".repeat(65)), None);
        assert_eq!(user_hex_256("xyz"), None);
        assert_eq!(user_hex_256("0x"), Some([0u8; 32]));
    }
}
