#!/usr/bin/env bash
# Runs Bitcoin Core's own functional tests (test/functional/*.py) against our
# bitcoin-node. Core's test framework is not part of this repository: it is
# taken from $CORE_SRC (a Bitcoin Core source tree with test/ and
# share/rpcauth/) or, without it, from a shallow sparse clone of Core's
# repository cached under ~/.cache/bitcoin-mp/core-src.
#
#   contrib/core-functional-tests.sh                 # the tests that pass today
#   contrib/core-functional-tests.sh rpc_blockchain.py interface_http.py
#
# BITCOINCLI=/path/to/bitcoin-cli enables the parts that drive Core's CLI.
# BITCOIND=/path/to/bitcoin-node tests that binary instead of building one.
# CORE_WALLET=1 tells the framework that wallets are built in (for wallet_*.py).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

default_tests=(
    rpc_uptime.py
    rpc_named_arguments.py
    interface_rpc.py
    interface_http.py
    rpc_deprecated.py
    rpc_whitelist.py
    rpc_getblockstats.py
    rpc_signmessagewithprivkey.py
    rpc_deriveaddresses.py
    rpc_getdescriptorinfo.py
    rpc_decodescript.py
    rpc_invalid_address_message.py
    rpc_users.py
    rpc_bind.py
    mempool_accept.py
    feature_rbf.py
    mempool_resurrect.py
    mempool_dust.py
    mempool_datacarrier.py
    mempool_accept_wtxid.py
    mempool_expiry.py
    p2p_getdata.py
    p2p_tx_privacy.py
    mempool_truc.py
    mempool_package_rbf.py
    mempool_ephemeral_dust.py
    mempool_updatefromblock.py
    mempool_sigoplimit.py
    mempool_limit.py
    mempool_package_limits.py
    p2p_compactblocks_hb.py
    mempool_cluster.py
    mempool_unbroadcast.py
    feature_addrman.py
    rpc_net.py
    feature_utxo_set_hash.py
    p2p_add_connections.py
    p2p_seednode.py
    feature_anchors.py
    p2p_addrfetch.py
    p2p_handshake.py
    p2p_v2_encrypted.py
    p2p_ping.py
    p2p_timeouts.py
    p2p_addr_relay.py
    p2p_addrv2_relay.py
    p2p_getaddr_caching.py
    p2p_invalid_locator.py
    p2p_nobloomfilter_messages.py
    p2p_fingerprint.py
    p2p_blocksonly.py
    p2p_feefilter.py
    p2p_leak.py
    p2p_permissions.py
    p2p_disconnect_ban.py
    p2p_block_sync.py
    p2p_net_deadlock.py
    p2p_v2_transport.py
    p2p_initial_headers_sync.py
    p2p_compactblocks_blocksonly.py
    p2p_ibd_txrelay.py
    p2p_eviction.py
    p2p_filter.py
    p2p_leak_tx.py
    p2p_tx_download.py
    p2p_ibd_stalling.py
    p2p_mutated_blocks.py
    p2p_connection_limits.py
    rpc_invalidateblock.py
    rpc_preciousblock.py
    rpc_getchaintips.py
    feature_chain_tiebreaks.py
    mining_prioritisetransaction.py
    mining_basic.py
    mempool_spend_coinbase.py
    mempool_reorg.py
    mempool_packages.py
    p2p_sendheaders.py
    p2p_orphan_handling.py
    p2p_compactblocks.py
    p2p_invalid_tx.py
    p2p_invalid_block.py
    feature_csv_activation.py
    feature_cltv.py
    feature_dersig.py
    feature_bip68_sequence.py
    "feature_block.py --skipreorg"
    feature_presegwit_node_upgrade.py
    p2p_segwit.py
    rpc_signrawtransactionwithkey.py
    feature_nulldummy.py
    rpc_createmultisig.py
    rpc_blockchain.py
    p2p_node_network_limited.py
    feature_remove_pruned_files_on_startup.py
    rpc_getblockfrompeer.py
    feature_blocksxor.py
    feature_fastprune.py
    feature_prune_stale_fork.py
    feature_shutdown.py
    rpc_validateaddress.py
    rpc_setban.py
    rpc_orphans.py
    feature_uacomment.py
    feature_maxtipage.py
    feature_minchainwork.py
    p2p_unrequested_blocks.py
    feature_blocksdir.py
    p2p_headers_sync_with_minchainwork.py
    rpc_estimatefee.py
)
tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=("${default_tests[@]}")

src=${CORE_SRC:-}
if [ -z "$src" ]; then
    src=${XDG_CACHE_HOME:-$HOME/.cache}/bitcoin-mp/core-src
    if [ ! -d "$src/test/functional" ]; then
        echo "Fetching Bitcoin Core's functional test framework into $src"
        rm -rf "$src"
        git clone --quiet --depth 1 --filter=blob:none --sparse \
            https://github.com/bitcoin/bitcoin "$src"
        git -C "$src" sparse-checkout set test share/rpcauth
    fi
fi

if [ -z "${BITCOIND:-}" ]; then
    cargo build --quiet --bin bitcoin-node
    BITCOIND="$repo/target/debug/bitcoin-node"
fi
export BITCOIND
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/test"
cat > "$work/test/config.ini" <<EOF
[environment]
CLIENT_NAME=Bitcoin Core
CLIENT_BUGREPORT=https://github.com/bitcoin/bitcoin/issues
SRCDIR=$src
BUILDDIR=$work
EXEEXT=
RPCAUTH=$src/share/rpcauth/rpcauth.py

[components]
ENABLE_BITCOIND=true
EOF
[ -n "${BITCOINCLI:-}" ] && echo "ENABLE_CLI=true" >> "$work/test/config.ini"
# Newer frameworks read ENABLE_WALLET always: say it either way.
if [ -n "${CORE_WALLET:-}" ]; then
    echo "ENABLE_WALLET=true" >> "$work/test/config.ini"
else
    echo "ENABLE_WALLET=false" >> "$work/test/config.ini"
fi

failed=0
for t in "${tests[@]}"; do
    # An entry may carry the test's own options ("feature_block.py --skipreorg").
    read -ra words <<< "$t"
    log="$work/${words[0]}.log"
    if python3 "$src/test/functional/${words[0]}" "${words[@]:1}" \
        --configfile="$work/test/config.ini" --cachedir="$work/cache" > "$log" 2>&1; then
        echo "PASS $t"
    else
        failed=1
        echo "FAIL $t"
        # The first traceback: where the test stopped, and why.
        awk '/^Traceback/ {p = 1; print; next} p && /^[^ ]/ {print; exit} p {print}' \
            "$log" | head -30 | cut -c1-600 || true
    fi
done
exit $failed
