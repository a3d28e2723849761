#!/usr/bin/env bash
# Builds bitcoin-node and starts it on regtest in the default datadir
# (~/.bitcoin, created if missing, as bitcoind does), logging to the console
# with IPC messages shown. Extra arguments are passed to bitcoin-node.
set -euo pipefail
cd "$(dirname "$0")/.."
contrib/install-deps.sh
cargo build --release --bins
mkdir -p "${HOME}/.bitcoin"
exec target/release/bitcoin-node -regtest -printtoconsole -debug=ipc "$@"
