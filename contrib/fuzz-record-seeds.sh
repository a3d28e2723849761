#!/usr/bin/env bash
# Seeds the fuzz corpora with real inputs: runs the integration tests that
# make them, built with the test-only `ipc-record` feature (every IPC request
# our processes send or serve is logged with its parameters as a Cap'n Proto
# message, and so is every broker channel datagram, P2P frame we send and
# JSON-RPC body and path the server reads), collects the lines from each test
# node's debug.log, and writes the smallest distinct inputs of each method or
# message kind (at most SEEDS_PER_METHOD) as fuzz/corpus/<target>/rec-<kind>-<hash>,
# replacing the earlier rec-* seeds. The hand-made seed files stay.
set -euo pipefail
cd "$(dirname "$0")/.."
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
IPC_RECORD_DIR="$logs" cargo test --locked --features ipc-record \
    --test wallet --test ipc_bind --test debug_ipc --test core_schema_compat --test gui \
    --test p2p --test rpc_node
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
# Targets that read the recorded bytes as they are (no method name in front).
raw = {
    "BrokerRequest": "broker_request", "BrokerMessage": "broker_message",
    "P2P": "p2p_message", "HTTP": "http_request",
}
line = re.compile(r"ipc-record (\w+)\.(\w+) ([0-9a-f]+)")
found = {}
for log in logs.glob("*-debug.log"):
    for m in line.finditer(log.read_text(errors="replace")):
        interface, method, hexed = m.groups()
        if interface in targets:
            seed = method.encode() + b"\0" + bytes.fromhex(hexed)
            found.setdefault((targets[interface], method), set()).add(seed)
        elif interface in raw:
            seed = bytes.fromhex(hexed)
            if interface == "P2P":
                # p2p_message reads mainnet frames; the magic is outside the checksum.
                seed = bytes.fromhex("f9beb4d9") + seed[4:]
            found.setdefault((raw[interface], method), set()).add(seed)
corpus = pathlib.Path("fuzz/corpus")
for target in set(targets.values()) | set(raw.values()):
    for old in (corpus / target).glob("rec-*"):
        old.unlink()
for (target, method), seeds in sorted(found.items()):
    for seed in sorted(seeds, key=lambda s: (len(s), s))[:per_method]:
        name = f"rec-{method}-{hashlib.sha1(seed).hexdigest()[:10]}"
        (corpus / target).mkdir(exist_ok=True)
        (corpus / target / name).write_bytes(seed)
total = sum(min(len(s), per_method) for s in found.values())
print(f"fuzz-record-seeds: {total} seeds for {len(found)} methods")
PY
