// chain/block_tree.cpp: what the kernel's C API does not show of its block
// tree or let us do to it: every chain tip with Core's status, whether a
// block is marked failed, and the operator's verdicts on blocks
// (invalidateblock, reconsiderblock, preciousblock). It calls the kernel's
// own C++ chainstate, linked from the same static library. Compiled by
// build.rs against the headers of the pinned libbitcoinkernel-sys source;
// see chain/block_tree.rs for the layout it relies on and how that is
// checked at startup.

#include <arith_uint256.h>
#include <chain.h>
#include <consensus/validation.h>
#include <primitives/block.h>
#include <serialize.h>
#include <streams.h>
#include <uint256.h>
#include <validation.h>

#include "../kernel_shim.h"

#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace {

using bmp::put;

ChainstateManager& chainman_of(void* handle)
{
    return bmp::chainman_of<ChainstateManager>(handle);
}

uint256 hash_of(const uint8_t* hash)
{
    return uint256{std::span<const unsigned char>{hash, 32}};
}

// Results: 0 done, 1 no such block, 2 refused (why in `err`), 3 exception.
constexpr int DONE = 0;
constexpr int NOT_FOUND = 1;
constexpr int REFUSED = 2;
constexpr int FAILED = 3;

CBlockIndex* lookup(ChainstateManager& cm, const uint8_t* hash)
{
    LOCK(cm.GetMutex());
    return cm.m_blockman.LookupBlockIndex(hash_of(hash));
}

int finish(const BlockValidationState& state, char* err, size_t err_len)
{
    if (state.IsValid()) return DONE;
    put(err, err_len, state.ToString());
    return REFUSED;
}

// Runs `read` on block `hash`'s entry under cs_main: -1 for an unknown
// block, or when anything throws.
template <typename T, typename F>
T read_entry(void* handle, const uint8_t* hash, F read)
{
    try {
        ChainstateManager& cm = chainman_of(handle);
        LOCK(cm.GetMutex());
        const CBlockIndex* index = cm.m_blockman.LookupBlockIndex(hash_of(hash));
        if (!index) return -1;
        return read(cm, *index);
    } catch (...) {
        return -1;
    }
}

// Runs a verdict; an exception is FAILED, with its message in `err`.
template <typename F>
int guarded(char* err, size_t err_len, F verdict)
{
    return bmp::guarded(err, err_len, FAILED, verdict);
}

} // namespace

extern "C" {

// The active tip's hash and height, for the startup check that the handle
// layout above holds for the linked kernel.
int bmp_active_tip(void* handle, uint8_t* hash_out)
{
    try {
        ChainstateManager& cm = chainman_of(handle);
        LOCK(cm.GetMutex());
        const CBlockIndex* tip = cm.ActiveChain().Tip();
        if (!tip) return -1;
        std::memcpy(hash_out, tip->GetBlockHash().data(), 32);
        return tip->nHeight;
    } catch (...) {
        return -1;
    }
}

// What the block tree knows of block `hash`: -1 nothing, else bit 0 set
// when it is marked failed, bit 1 when its full block is stored, bit 2 when
// it was stored and pruned since (Core's IsBlockPruned), bit 3 when its undo
// data is stored.
int bmp_block_status(void* handle, const uint8_t* hash)
{
    return read_entry<int>(handle, hash, [](ChainstateManager& cm, const CBlockIndex& index) {
        return ((index.nStatus & BLOCK_FAILED_VALID) ? 1 : 0) |
               ((index.nStatus & BLOCK_HAVE_DATA) ? 2 : 0) |
               (cm.m_blockman.IsBlockPruned(index) ? 4 : 0) |
               ((index.nStatus & BLOCK_HAVE_UNDO) ? 8 : 0);
    });
}

// The total work of the chain up to block `hash` (Core's nChainWork), 32
// bytes little-endian into `out`: 0, or -1 for an unknown block.
int bmp_chain_work(void* handle, const uint8_t* hash, uint8_t* out)
{
    return read_entry<int>(handle, hash, [&](ChainstateManager&, const CBlockIndex& index) {
        const uint256 work = ArithToUint256(index.nChainWork);
        std::memcpy(out, work.data(), 32);
        return 0;
    });
}

// The work a chain needs before the node trusts it (Core's
// MinimumChainWork: -minimumchainwork, else the chain's default), 32 bytes
// little-endian into `out`: 0, or -1 on failure.
int bmp_minimum_chain_work(void* handle, uint8_t* out)
{
    try {
        const uint256 work = ArithToUint256(chainman_of(handle).MinimumChainWork());
        std::memcpy(out, work.data(), 32);
        return 0;
    } catch (...) {
        return -1;
    }
}

// The number of transactions in the chain up to block `hash` (Core's
// m_chain_tx_count; 0 when not known, as for a block whose ancestors are
// not all downloaded), or -1 for an unknown block.
int64_t bmp_chain_tx_count(void* handle, const uint8_t* hash)
{
    return read_entry<int64_t>(handle, hash, [](ChainstateManager&, const CBlockIndex& index) {
        return static_cast<int64_t>(index.m_chain_tx_count);
    });
}

// The number of transactions in block `hash` (Core's nTx: 0 until its
// data arrived, kept when it is pruned), or -1 for an unknown block.
int64_t bmp_block_tx_count(void* handle, const uint8_t* hash)
{
    return read_entry<int64_t>(handle, hash, [](ChainstateManager&, const CBlockIndex& index) {
        return static_cast<int64_t>(index.nTx);
    });
}

// The height of the first active-chain block whose time, or an ancestor's,
// is at or after `time` (Core's FindEarliestAtLeast, as the wallet's
// findFirstBlockWithTime and pruneblockchain use it); -1 if none, -2 on
// failure.
int32_t bmp_earliest_at_least(void* handle, int64_t time)
{
    try {
        ChainstateManager& cm = chainman_of(handle);
        LOCK(cm.GetMutex());
        const CBlockIndex* found = cm.ActiveChain().FindEarliestAtLeast(time, 0);
        return found ? found->nHeight : -1;
    } catch (...) {
        return -2;
    }
}

// Core's IsInitialBlockDownload: the kernel's latch, which leaves IBD once
// the tip has the minimum chain work and is younger than -maxtipage.
// 1 in IBD, 0 not, -1 on failure.
int bmp_initial_block_download(void* handle)
{
    try {
        return chainman_of(handle).IsInitialBlockDownload() ? 1 : 0;
    } catch (...) {
        return -1;
    }
}

// Core's ProcessNewBlock for a block a peer sent without our asking
// (force_processing off): the engine stores it only if it could extend a
// chain with at least our tip's work and is not too far ahead, as Core's
// AcceptBlock decides. `data` is the block serialized with witnesses.
// Returns 1 accepted (or ignored), 0 refused, -1 unreadable or failed;
// `new_block` says whether it was stored.
int bmp_process_unrequested_block(void* handle, const uint8_t* data, size_t len, int* new_block)
{
    try {
        auto block = std::make_shared<CBlock>();
        DataStream stream{std::span<const uint8_t>{data, len}};
        stream >> TX_WITH_WITNESS(*block);
        bool stored{false};
        const bool ok = chainman_of(handle).ProcessNewBlock(block, /*force_processing=*/false,
                                                            /*min_pow_checked=*/true, &stored);
        *new_block = stored ? 1 : 0;
        return ok ? 1 : 0;
    } catch (...) {
        return -1;
    }
}

// Core's estimate of how much of the chain the active tip has verified
// (GuessVerificationProgress, from the chain's transaction statistics and
// the node clock); -1 on failure.
double bmp_verification_progress(void* handle)
{
    try {
        ChainstateManager& cm = chainman_of(handle);
        LOCK(cm.GetMutex());
        return cm.GuessVerificationProgress(cm.ActiveChain().Tip());
    } catch (...) {
        return -1;
    }
}

// Core's getchaintips: the active tip and every block off the active chain
// that no other such block builds on, each handed to `each` with its
// height, branch length and status (0 active, 1 invalid, 2 headers-only,
// 3 valid-fork, 4 valid-headers, 5 unknown). Returns the number of tips, or
// -1.
typedef void (*bmp_tip_fn)(void* ctx, const uint8_t* hash, int height, int branchlen, int status);
int bmp_chain_tips(void* handle, bmp_tip_fn each, void* ctx)
{
    try {
        ChainstateManager& cm = chainman_of(handle);
        LOCK(cm.GetMutex());
        const CChain& active = cm.ActiveChain();
        std::set<const CBlockIndex*> off_chain;
        std::set<const CBlockIndex*> parents;
        for (const auto& [_, index] : cm.BlockIndex()) {
            if (!active.Contains(index)) {
                off_chain.insert(&index);
                parents.insert(index.pprev);
            }
        }
        std::vector<const CBlockIndex*> tips{active.Tip()};
        for (const CBlockIndex* index : off_chain) {
            if (!parents.contains(index)) tips.push_back(index);
        }
        for (const CBlockIndex* tip : tips) {
            int status = 5;
            if (active.Contains(*tip)) {
                status = 0;
            } else if (tip->nStatus & BLOCK_FAILED_VALID) {
                status = 1;
            } else if (!tip->HaveNumChainTxs()) {
                status = 2;
            } else if (tip->IsValid(BLOCK_VALID_SCRIPTS)) {
                status = 3;
            } else if (tip->IsValid(BLOCK_VALID_TREE)) {
                status = 4;
            }
            const int branchlen = tip->nHeight - active.FindFork(*tip)->nHeight;
            each(ctx, tip->GetBlockHash().data(), tip->nHeight, branchlen, status);
        }
        return static_cast<int>(tips.size());
    } catch (...) {
        return -1;
    }
}

// Core's invalidateblock: mark the block failed, disconnect it and its
// descendants, then activate the best remaining chain.
int bmp_invalidate_block(void* handle, const uint8_t* hash, char* err, size_t err_len)
{
    return guarded(err, err_len, [&] {
        ChainstateManager& cm = chainman_of(handle);
        CBlockIndex* index = lookup(cm, hash);
        if (!index) return NOT_FOUND;
        BlockValidationState state;
        cm.ActiveChainstate().InvalidateBlock(state, index);
        if (state.IsValid()) cm.ActiveChainstate().ActivateBestChain(state);
        return finish(state, err, err_len);
    });
}

// Core's reconsiderblock: clear the failure marks of the block, its
// ancestors and descendants, then activate the best chain.
int bmp_reconsider_block(void* handle, const uint8_t* hash, char* err, size_t err_len)
{
    return guarded(err, err_len, [&] {
        ChainstateManager& cm = chainman_of(handle);
        {
            LOCK(cm.GetMutex());
            CBlockIndex* index = cm.m_blockman.LookupBlockIndex(hash_of(hash));
            if (!index) return NOT_FOUND;
            cm.ActiveChainstate().ResetBlockFailureFlags(index);
            cm.RecalculateBestHeader();
        }
        BlockValidationState state;
        cm.ActiveChainstate().ActivateBestChain(state);
        return finish(state, err, err_len);
    });
}

// Core's preciousblock: prefer this block among tips of equal work.
int bmp_precious_block(void* handle, const uint8_t* hash, char* err, size_t err_len)
{
    return guarded(err, err_len, [&] {
        ChainstateManager& cm = chainman_of(handle);
        CBlockIndex* index = lookup(cm, hash);
        if (!index) return NOT_FOUND;
        BlockValidationState state;
        cm.ActiveChainstate().PreciousBlock(state, index);
        return finish(state, err, err_len);
    });
}

} // extern "C"
