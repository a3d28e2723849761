// chain/chain_params.cpp: regtest chain parameters with Core's test
// deployment options (-testactivationheight, -vbparams), -fastprune and
// -test=bip94 for a kernel context. The kernel's C API builds chain
// parameters from the chain type only, so this replaces the regtest parameters a new context holds, before
// any chainstate manager refers to them. Compiled by build.rs against the
// headers of the pinned libbitcoinkernel-sys source; chain/chain_params.rs
// is its Rust side and describes the layout relied on.

#include <consensus/params.h>
#include <kernel/chainparams.h>
#include <util/chaintype.h>

#include "../kernel_shim.h"

#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

namespace {

using bmp::put;

// The members of bitcoinkernel.cpp's Context up to its chain parameters:
// m_context, m_notifications (a shared_ptr), m_interrupt, m_signals.
struct ContextLayout {
    void* context;
    void* notifications[2];
    void* interrupt;
    void* signals;
    std::unique_ptr<const CChainParams> chainparams;
};

constexpr int DONE = 0;
constexpr int LAYOUT = 1;
constexpr int FAILED = 2;

// Core's buried deployments in the order chain_params.rs passes heights:
// bip34, dersig, cltv, csv, segwit.
constexpr Consensus::BuriedDeployment BURIED[5]{
    Consensus::DEPLOYMENT_HEIGHTINCB, Consensus::DEPLOYMENT_DERSIG, Consensus::DEPLOYMENT_CLTV,
    Consensus::DEPLOYMENT_CSV, Consensus::DEPLOYMENT_SEGWIT};

} // namespace

// `context`: the C API's context handle (a shared_ptr to the Context).
// `heights`: five activation heights (bip34, dersig, cltv, csv, segwit), -1
// for the default. `testdummy`: start time, timeout and minimum activation
// height of the testdummy deployment, or null for the default.
// `fastprune`: Core's -fastprune (pruning may start at height 100).
// `enforce_bip94`: Core's -test=bip94 (the timewarp rule on regtest).
extern "C" int bmp_use_regtest_params(void* context, const int32_t* heights, const int64_t* testdummy,
                                      int fastprune, int enforce_bip94, char* err, size_t err_len)
{
    return bmp::guarded(err, err_len, FAILED, [&] {
        auto* layout = *static_cast<ContextLayout**>(context);
        const auto& current = layout->chainparams;
        const auto regtest = CChainParams::RegTest();
        // The layout holds if what it points at is regtest's parameters.
        if (!current || current->GetChainType() != ChainType::REGTEST ||
            current->GenesisBlock().GetHash() != regtest->GenesisBlock().GetHash()) {
            put(err, err_len, "the kernel context's chain parameters are not reachable in this build");
            return LAYOUT;
        }
        CChainParams::RegTestOptions options{};
        options.fastprune = fastprune != 0;
        options.enforce_bip94 = enforce_bip94 != 0;
        for (int i = 0; i < 5; i++) {
            if (heights[i] >= 0) options.dep_opts.activation_heights[BURIED[i]] = heights[i];
        }
        if (testdummy) {
            options.dep_opts.version_bits_parameters[Consensus::DEPLOYMENT_TESTDUMMY] =
                CChainParams::VersionBitsParameters{testdummy[0], testdummy[1], static_cast<int>(testdummy[2])};
        }
        const_cast<std::unique_ptr<const CChainParams>&>(current) = CChainParams::RegTest(options);
        return DONE;
    });
}
