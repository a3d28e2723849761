// chain/kernel_clock.cpp: the kernel's own clock (Core's NodeClock, which
// validation reads for "time-too-new" headers and the tip's age) set to the
// node's mock time, as Core's setmocktime sets it. The kernel's C API has no
// call for it; this calls the kernel's SetMockTime, linked from the same
// static library. Compiled by build.rs; chain/clock.rs is its Rust side.

#include <util/time.h>

#include <chrono>
#include <cstdint>

// `seconds`: the mock time, 0 for the system clock again.
extern "C" void bmp_set_kernel_mock_time(int64_t seconds)
{
    SetMockTime(std::chrono::seconds{seconds});
}
