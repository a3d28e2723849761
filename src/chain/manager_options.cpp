// chain/manager_options.cpp: the chainstate manager's options the kernel's
// C API does not offer (block storage for -prune, -fastprune and
// -blocksxor; -maxtipage, -minimumchainwork and -assumevalid), set on the
// C API's options before the manager is made from them. Compiled by
// build.rs against the headers of the pinned libbitcoinkernel-sys source;
// chain/manager_options.rs describes the layout relied on and how it is
// checked.

#include <arith_uint256.h>
#include <kernel/chainstatemanager_opts.h>
#include <node/blockstorage.h>
#include <node/chainstate.h>
#include <sync.h>
#include <uint256.h>
#include <validation.h>

#include "../kernel_shim.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>

namespace {

using bmp::put;

// The members of bitcoinkernel.cpp's ChainstateManagerOptions, in order.
struct OptionsLayout {
    Mutex m_mutex;
    ChainstateManager::Options m_chainman_options;
    node::BlockManager::Options m_blockman_options;
    std::shared_ptr<const void> m_context;
    node::ChainstateLoadOptions m_chainstate_load_options;
};

constexpr int DONE = 0;
constexpr int LAYOUT = 1;
constexpr int FAILED = 2;

uint256 blob(const uint8_t* bytes)
{
    return uint256{std::span<const unsigned char>{bytes, 32}};
}

} // namespace

// What manager_options.rs passes (its `RawOptions`, same order).
struct bmp_manager_options {
    // Bytes of block files to keep; 0 no pruning, UINT64_MAX by hand.
    uint64_t prune_target;
    int fast_prune;
    int use_xor;
    // Seconds (Core's -maxtipage).
    int64_t max_tip_age;
    // 32 bytes each in uint256's order, or null for the chain's default.
    const uint8_t* minimum_chain_work;
    const uint8_t* assumed_valid;
};

extern "C" {

// Sets `o` on the C API's chainstate manager options `opts`, and tells the
// chainstate loader whether the node prunes (Core refuses to load a pruned
// block store otherwise). `worker_threads` is what the caller set through
// the C API: the layout holds if it reads back, and if both option sets
// refer to the same chain parameters.
int bmp_set_manager_options(void* opts, const bmp_manager_options* o, int worker_threads,
                            char* err, size_t err_len)
{
    return bmp::guarded(err, err_len, FAILED, [&] {
        auto* layout = static_cast<OptionsLayout*>(opts);
        LOCK(layout->m_mutex);
        if (layout->m_chainman_options.worker_threads_num != worker_threads ||
            &layout->m_chainman_options.chainparams != &layout->m_blockman_options.chainparams) {
            put(err, err_len, "the kernel's chainstate manager options are not reachable in this build");
            return LAYOUT;
        }
        layout->m_blockman_options.prune_target = o->prune_target;
        layout->m_blockman_options.fast_prune = o->fast_prune != 0;
        layout->m_blockman_options.use_xor = o->use_xor != 0;
        layout->m_chainstate_load_options.prune = o->prune_target != 0;
        layout->m_chainman_options.max_tip_age = std::chrono::seconds{o->max_tip_age};
        if (o->minimum_chain_work) {
            layout->m_chainman_options.minimum_chain_work = UintToArith256(blob(o->minimum_chain_work));
        }
        if (o->assumed_valid) {
            layout->m_chainman_options.assumed_valid_block = blob(o->assumed_valid);
        }
        return DONE;
    });
}

} // extern "C"
