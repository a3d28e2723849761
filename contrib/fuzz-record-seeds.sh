#!/usr/bin/env bash
# Seeds the ipc_* fuzz corpora with real IPC requests: runs the integration
# tests that make them, built with the test-only `ipc-record` feature (every
# request our processes send or serve is logged with its parameters as a
# Cap'n Proto message), collects the lines from each test node's debug.log,
# and writes the smallest distinct requests of each method (at most
# SEEDS_PER_METHOD) as fuzz/corpus/<target>/rec-<method>-<hash>, replacing
# the earlier rec-* seeds. The hand-made seed-* files stay.
set -euo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
IPC_RECORD_DIR="$logs" cargo test --locked --features ipc-record \
    --test wallet --test ipc_bind --test debug_ipc --test core_schema_compat --test gui
python3 - "$logs" "${SEEDS_PER_METHOD:-3}" <<'PY'
import hashlib, pathlib, re, sys

logs, per_method = pathlib.Path(sys.argv[1]), int(sys.argv[2])
targets = {
    "Init": "ipc_init", "Echo": "ipc_echo", "Mining": "ipc_mining",
    "BlockTemplate": "ipc_block_template", "Rpc": "ipc_rpc",
    "Chain": "ipc_chain", "ChainNotifications": "ipc_chain_notifications",
    "Wallet": "ipc_wallet", "WalletLoader": "ipc_wallet_loader",
    "Node": "ipc_node",
}
line = re.compile(r"ipc-record (\w+)\.(\w+) ([0-9a-f]+)")
found = {}
for log in logs.glob("*-debug.log"):
    for m in line.finditer(log.read_text(errors="replace")):
        interface, method, hexed = m.groups()
        if interface in targets:
            seed = method.encode() + b"\0" + bytes.fromhex(hexed)
            found.setdefault((targets[interface], method), set()).add(seed)
corpus = pathlib.Path("fuzz/corpus")
for old in corpus.glob("ipc_*/rec-*"):
    old.unlink()
for (target, method), seeds in sorted(found.items()):
    for seed in sorted(seeds, key=lambda s: (len(s), s))[:per_method]:
        name = f"rec-{method}-{hashlib.sha1(seed).hexdigest()[:10]}"
        (corpus / target / name).write_bytes(seed)
total = sum(min(len(s), per_method) for s in found.values())
print(f"fuzz-record-seeds: {total} seeds for {len(found)} methods")
PY
