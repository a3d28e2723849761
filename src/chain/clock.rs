//! The node's clock: system time, or the time `setmocktime` fixed (Core's
//! NodeClock with -mocktime), for block times and RPC answers that test
//! frameworks control. A mock time is set in the kernel's clock too
//! (through `kernel_clock.cpp`), which validation reads.

use std::sync::atomic::{AtomicI64, Ordering};

static MOCK_TIME: AtomicI64 = AtomicI64::new(0);

/// Seconds since the epoch, mocked when a mock time is set.
pub fn now() -> i64 {
    now_micros().div_euclid(1_000_000)
}

/// Microseconds since the epoch, mocked (whole seconds) when a mock time
/// is set (Core's GetTime<std::chrono::microseconds>).
pub fn now_micros() -> i64 {
    match MOCK_TIME.load(Ordering::Relaxed) {
        0 => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0),
        t => t * 1_000_000,
    }
}

extern "C" {
    fn bmp_set_kernel_mock_time(seconds: i64);
}

/// Sets the mock time (0: back to the system clock), ours and the
/// kernel's.
pub fn set_mock_time(seconds: i64) {
    MOCK_TIME.store(seconds, Ordering::Relaxed);
    // SAFETY: the kernel's SetMockTime stores an atomic; any value is valid.
    unsafe { bmp_set_kernel_mock_time(seconds) };
}

/// The mock time, 0 when unset.
pub fn mock_time() -> i64 {
    MOCK_TIME.load(Ordering::Relaxed)
}
