// chain/prune.cpp: Core's block pruning at run time for a kernel whose C
// API has none: it reports the prune height as Core's getblockchaininfo
// does and prunes by hand as Core's pruneblockchain does (the prune target
// itself is set by manager_options.cpp). The pruning (which files, when,
// keeping the last 288 blocks) is the kernel's own. Compiled by build.rs
// against the headers of the pinned libbitcoinkernel-sys source; it
// reaches the chainstate manager through the handle chain/block_tree.rs
// checks.

#include <chain.h>
#include <node/blockstorage.h>
#include <sync.h>
#include <validation.h>

#include "../kernel_shim.h"

#include <cstdint>

namespace {

constexpr int DONE = 0;
constexpr int FAILED = 2;

} // namespace

extern "C" {

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
