//! Closing every inherited descriptor except the ones a child was given.

use std::os::fd::RawFd;

/// Closes every fd of this process except `keep` (with `close_range`).
/// Call it before anything else opens descriptors (the async runtime included).
pub fn close_inherited_fds(keep: &[RawFd]) -> std::io::Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter(|f| **f >= 0)
        .map(|f| *f as u32)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first: u32 = 0;
    for k in keep.iter().copied().chain(std::iter::once(u32::MAX)) {
        if k > first {
            let last = if k == u32::MAX { u32::MAX } else { k - 1 };
            // SAFETY: close_range only closes descriptors of this process.
            let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        first = k.saturating_add(1);
    }
    Ok(())
}
