// chain/headers_sync.cpp: Core's own low-work headers sync (HeadersSyncState,
// from headerssync.cpp of the pinned kernel source, which build.rs compiles
// beside this file) behind a C interface for chain/headers_sync.rs. A sync
// starts at a block of the kernel's block index and keeps references into
// the chainstate manager (its consensus parameters and that block), so the
// Rust side keeps the manager alive for as long as a sync lives.

#include <arith_uint256.h>
#include <chain.h>
#include <headerssync.h>
#include <primitives/block.h>
#include <serialize.h>
#include <streams.h>
#include <uint256.h>
#include <validation.h>

#include "../kernel_shim.h"

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace {

uint256 hash_of(const uint8_t* hash)
{
    return uint256{std::span<const unsigned char>{hash, 32}};
}

HeadersSyncState& sync_of(void* sync)
{
    return *static_cast<HeadersSyncState*>(sync);
}

} // namespace

extern "C" {

using HeaderFn = void (*)(void* ctx, const uint8_t* header80);

// A sync with peer `id` of the chain that forks off our block `start`,
// toward `min_work` (32 bytes, little-endian): null when `start` is not in
// the block index or on failure. Free with bmp_headers_sync_free.
void* bmp_headers_sync_new(void* handle, int64_t id, const uint8_t* start, const uint8_t* min_work)
{
    try {
        ChainstateManager& cm = bmp::chainman_of<ChainstateManager>(handle);
        const CBlockIndex* index{nullptr};
        {
            LOCK(cm.GetMutex());
            index = cm.m_blockman.LookupBlockIndex(hash_of(start));
        }
        if (index == nullptr) return nullptr;
        const arith_uint256 work{UintToArith256(hash_of(min_work))};
        return new HeadersSyncState(id, cm.GetConsensus(), cm.GetParams().HeadersSync(), *index, work);
    } catch (...) {
        return nullptr;
    }
}

void bmp_headers_sync_free(void* sync)
{
    delete static_cast<HeadersSyncState*>(sync);
}

// Core's ProcessNextHeaders for `count` 80-byte headers at `data`: the
// headers now ready for the block index go to `each`, oldest first. Returns
// 1 (success) | 2 (ask for more), or -1 on failure to run.
int bmp_headers_sync_process(void* sync, const uint8_t* data, size_t count, int full, HeaderFn each, void* ctx)
{
    try {
        std::vector<CBlockHeader> headers(count);
        DataStream stream{std::span<const uint8_t>{data, count * 80}};
        for (auto& header : headers) stream >> header;
        const auto result = sync_of(sync).ProcessNextHeaders(headers, full != 0);
        for (const auto& header : result.pow_validated_headers) {
            DataStream out;
            out << header;
            each(ctx, reinterpret_cast<const uint8_t*>(out.data()));
        }
        return (result.success ? 1 : 0) | (result.request_more ? 2 : 0);
    } catch (...) {
        return -1;
    }
}

// 0 PRESYNC, 1 REDOWNLOAD, 2 FINAL.
int bmp_headers_sync_state(void* sync)
{
    switch (sync_of(sync).GetState()) {
    case HeadersSyncState::State::PRESYNC: return 0;
    case HeadersSyncState::State::REDOWNLOAD: return 1;
    case HeadersSyncState::State::FINAL: return 2;
    }
    return 2;
}

// The presync's height, last header time and chain work (32 bytes out,
// little-endian).
int64_t bmp_headers_sync_height(void* sync)
{
    return sync_of(sync).GetPresyncHeight();
}

uint32_t bmp_headers_sync_time(void* sync)
{
    return sync_of(sync).GetPresyncTime();
}

void bmp_headers_sync_work(void* sync, uint8_t* out)
{
    const uint256 work{ArithToUint256(sync_of(sync).GetPresyncWork())};
    std::memcpy(out, work.data(), 32);
}

// The locator of the next getheaders (32-byte hashes into `out`, at most
// `max`): how many were written, or 0 on failure.
size_t bmp_headers_sync_locator(void* sync, uint8_t* out, size_t max)
{
    try {
        const CBlockLocator locator{sync_of(sync).NextHeadersRequestLocator()};
        size_t n = 0;
        for (const uint256& hash : locator.vHave) {
            if (n == max) break;
            std::memcpy(out + 32 * n, hash.data(), 32);
            ++n;
        }
        return n;
    } catch (...) {
        return 0;
    }
}

} // extern "C"
