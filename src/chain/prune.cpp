// chain/prune.cpp: Core's block pruning (-prune, -fastprune, pruneblockchain)
// for a kernel whose C API has no pruning options. Before the chainstate
// manager is made, it sets the block manager's prune target, block-file
// size and block-file obfuscation (-blocksxor) in the C API's options; once the manager runs, it reports the prune
// height as Core's getblockchaininfo does and prunes by hand as Core's
// pruneblockchain does. The pruning itself (which files, when, keeping the
// last 288 blocks) is the kernel's own. Compiled by build.rs against the
// headers of the pinned libbitcoinkernel-sys source; chain/prune.rs
// describes the layout relied on and how it is checked.

#include <chain.h>
#include <kernel/chainstatemanager_opts.h>
#include <node/blockstorage.h>
#include <node/chainstate.h>
#include <sync.h>
#include <validation.h>

#include "../kernel_shim.h"

#include <cstdint>
#include <memory>

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

} // namespace

extern "C" {

// Sets prune target (bytes; UINT64_MAX for manual pruning), -fastprune and
// -blocksxor on the C API's chainstate manager options `opts`, and tells the
// chainstate
// loader that the node prunes (Core refuses to load a pruned block store
// otherwise). `worker_threads` is what the caller set through the C API:
// the layout holds if it reads back, and if both option sets refer to the
// same chain parameters.
int bmp_set_block_storage(void* opts, uint64_t target, int fast_prune, int use_xor,
                          int worker_threads, char* err, size_t err_len)
{
    return bmp::guarded(err, err_len, FAILED, [&] {
        auto* layout = static_cast<OptionsLayout*>(opts);
        LOCK(layout->m_mutex);
        if (layout->m_chainman_options.worker_threads_num != worker_threads ||
            &layout->m_chainman_options.chainparams != &layout->m_blockman_options.chainparams) {
            put(err, err_len, "the kernel's block storage options are not reachable in this build");
            return LAYOUT;
        }
        layout->m_blockman_options.prune_target = target;
        layout->m_blockman_options.fast_prune = fast_prune != 0;
        layout->m_blockman_options.use_xor = use_xor != 0;
        layout->m_chainstate_load_options.prune = target != 0;
        return DONE;
    });
}

// Core's GetPruneHeight for the active chain: the height of the last block
// whose data or undo data is gone (-1: none is), and whether the node
// prunes at all (0: not in prune mode, then nothing else is set). `target`
// receives the prune target (UINT64_MAX: manual), `prune_after` the chain's
// nPruneAfterHeight.
int bmp_prune_state(void* handle, int32_t* last_pruned, uint64_t* target, int32_t* prune_after)
{
    try {
        ChainstateManager& cm = bmp::chainman_of<ChainstateManager>(handle);
        if (!cm.m_blockman.IsPruneMode()) return 0;
        *target = cm.m_blockman.GetPruneTarget();
        *prune_after = static_cast<int32_t>(cm.GetParams().PruneAfterHeight());
        LOCK(cm.GetMutex());
        const CChain& chain = cm.ActiveChain();
        const CBlockIndex* first = chain[1];
        const CBlockIndex* tip = chain.Tip();
        *last_pruned = -1;
        if (!first || !tip) return 1;
        if ((tip->nStatus & BLOCK_HAVE_MASK) != BLOCK_HAVE_MASK) {
            *last_pruned = tip->nHeight;
            return 1;
        }
        const CBlockIndex& first_kept = cm.m_blockman.GetFirstBlock(*tip, BLOCK_HAVE_MASK, first);
        if (&first_kept != first && first_kept.pprev) *last_pruned = first_kept.pprev->nHeight;
        return 1;
    } catch (...) {
        return -1;
    }
}

// Core's PruneBlockFilesManual up to `height` (already limited by the
// caller as pruneblockchain does).
int bmp_prune_to(void* handle, int32_t height, char* err, size_t err_len)
{
    return bmp::guarded(err, err_len, FAILED, [&] {
        ChainstateManager& cm = bmp::chainman_of<ChainstateManager>(handle);
        LOCK(cm.GetMutex());
        PruneBlockFilesManual(cm.ActiveChainstate(), height);
        return DONE;
    });
}

// Core's start-up prune: with a target, drop the files beyond it now
// rather than at the next periodic flush.
int bmp_prune_and_flush(void* handle, char* err, size_t err_len)
{
    return bmp::guarded(err, err_len, FAILED, [&] {
        ChainstateManager& cm = bmp::chainman_of<ChainstateManager>(handle);
        LOCK(cm.GetMutex());
        cm.ActiveChainstate().PruneAndFlush();
        return DONE;
    });
}

} // extern "C"
