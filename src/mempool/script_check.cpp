// mempool/script_check.cpp: a transaction's input scripts checked as Core's
// mempool checks them (PolicyScriptChecks): with Core's standard flags, the
// failing input named with Core's script error text, and whether the failure
// may come from stripped witnesses (TX_WITNESS_STRIPPED). The kernel's C API
// verifies with consensus flags only and answers pass or fail, so this calls
// the kernel's own interpreter and policy code, linked from the same static
// library. Compiled by build.rs against the headers of the pinned
// libbitcoinkernel-sys source; mempool/script_check.rs is its Rust side.

#include <coins.h>
#include <policy/policy.h>
#include <primitives/transaction.h>
#include <script/interpreter.h>
#include <script/script_error.h>
#include <serialize.h>
#include <streams.h>

#include "../kernel_shim.h"

#include <cstdint>
#include <cstring>
#include <exception>
#include <span>
#include <string>
#include <vector>

namespace {

using bmp::put;

// Results: every script passes; one fails (its input and Core's error text);
// the arguments do not decode or do not match; an exception.
constexpr int PASSED = 0;
constexpr int SCRIPT_FAILED = 1;
constexpr int BAD_ARGUMENTS = 2;
constexpr int FAILED = 3;

int check(const uint8_t* tx_bytes, size_t tx_len, const uint8_t* spent_bytes, size_t spent_len,
          int64_t only_input, uint32_t* failed_input, int* stripped, char* err, size_t err_len)
{
    CMutableTransaction mtx;
    DataStream{std::span<const uint8_t>{tx_bytes, tx_len}} >> TX_WITH_WITNESS(mtx);
    std::vector<CTxOut> spent;
    DataStream{std::span<const uint8_t>{spent_bytes, spent_len}} >> spent;
    const CTransaction tx{mtx};
    if (spent.size() != tx.vin.size()) {
        put(err, err_len, "spent outputs do not match the inputs");
        return BAD_ARGUMENTS;
    }
    PrecomputedTransactionData txdata;
    txdata.Init(tx, std::vector<CTxOut>{spent});
    for (unsigned int i = 0; i < tx.vin.size(); i++) {
        if (only_input >= 0 && i != only_input) continue;
        ScriptError serror{SCRIPT_ERR_OK};
        const TransactionSignatureChecker checker{&tx, i, spent[i].nValue, txdata, MissingDataBehavior::FAIL};
        if (VerifyScript(tx.vin[i].scriptSig, spent[i].scriptPubKey, &tx.vin[i].scriptWitness,
                         STANDARD_SCRIPT_VERIFY_FLAGS, checker, &serror)) {
            continue;
        }
        *failed_input = i;
        put(err, err_len, ScriptErrorString(serror));
        // Core's test for a failure caused by missing witnesses, on a view
        // holding just the coins this transaction spends.
        CCoinsViewCache view{&CoinsViewEmpty::Get()};
        for (unsigned int j = 0; j < tx.vin.size(); j++) {
            view.AddCoin(tx.vin[j].prevout, Coin{spent[j], 1, false}, true);
        }
        *stripped = !tx.HasWitness() && SpendsNonAnchorWitnessProg(tx, view);
        return SCRIPT_FAILED;
    }
    return PASSED;
}

} // namespace

// `tx`: the transaction, serialized with witnesses; `spent`: the outputs its
// inputs spend, in order, serialized as a vector of CTxOut. `only_input`:
// the one input to check, or -1 for all of them.
extern "C" int bmp_check_standard_scripts(const uint8_t* tx, size_t tx_len, const uint8_t* spent,
                                          size_t spent_len, int64_t only_input, uint32_t* failed_input,
                                          int* stripped, char* err, size_t err_len)
{
    return bmp::guarded(err, err_len, FAILED, [&] {
        try {
            return check(tx, tx_len, spent, spent_len, only_input, failed_input, stripped, err, err_len);
        } catch (const std::ios_base::failure& e) {
            // The arguments did not deserialize.
            put(err, err_len, e.what());
            return BAD_ARGUMENTS;
        }
    });
}
