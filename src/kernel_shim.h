// kernel_shim.h: what the kernel shims (chain/block_tree.cpp,
// chain/chain_params.cpp, chain/prune.cpp, mempool/script_check.cpp) share:
// handing a message back to Rust in a caller's buffer, keeping C++
// exceptions from crossing into Rust, and reaching the chainstate manager
// behind the C API's handle.

#ifndef BITCOIN_MP_KERNEL_SHIM_H
#define BITCOIN_MP_KERNEL_SHIM_H

#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

namespace bmp {

// Copies `text` into `out` (`out_len` bytes), cut short if need be, always
// NUL-terminated.
inline void put(char* out, size_t out_len, const std::string& text)
{
    if (out_len == 0) return;
    const size_t n = text.size() < out_len - 1 ? text.size() : out_len - 1;
    std::memcpy(out, text.data(), n);
    out[n] = '\0';
}

// Runs `verdict`; an exception (which must not cross into Rust) becomes
// `failed`, with its message in `err`.
template <typename F>
int guarded(char* err, size_t err_len, int failed, F verdict)
{
    try {
        return verdict();
    } catch (const std::exception& e) {
        put(err, err_len, e.what());
        return failed;
    } catch (...) {
        return failed;
    }
}

// The C API's chainstate manager handle points at a struct whose first
// member owns the ChainstateManager (bitcoinkernel.cpp's ChainMan). A
// template, so that shims without validation.h can include this header.
template <typename ChainstateManager>
ChainstateManager& chainman_of(void* handle)
{
    return **static_cast<std::unique_ptr<ChainstateManager>*>(handle);
}

} // namespace bmp

#endif // BITCOIN_MP_KERNEL_SHIM_H
