#!/usr/bin/env bash
# Refreshes docs/screenshots/: a regtest node with a wallet, mined blocks, a
# confirmed and a pending payment and one peer; then bitcoin-gui attached to
# it (-ipcconnect) opens once per screen (-guiscreen) on an Xvfb display of
# its own, and ImageMagick's `import` saves the window. Everything it starts
# (Xvfb, two nodes, the GUI) it stops by pid; its datadirs are temporary.
set -euo pipefail
cd "$(dirname "$0")/.."
contrib/install-deps.sh --test
cargo build --bins --locked
bin=target/debug
out=docs/screenshots
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The window is 1000x680 and X has no window manager: the screen is the window.
exec 3< <(Xvfb -displayfd 1 -screen 0 1000x680x24 -nolisten tcp 2>/dev/null & echo "pid $!")
read -r _ xvfb <&3
pids+=("$xvfb")
read -r display <&3
export DISPLAY=":$display"

rpc_port=$(free_port)
peer_port=$(free_port)
mkdir -p "$work/node" "$work/peer"
"$bin/bitcoin-node" -regtest -datadir="$work/peer" -port="$peer_port" -bind=127.0.0.1 -rpcport="$(free_port)" -disablewallet >/dev/null 2>&1 &
pids+=("$!")
"$bin/bitcoin-node" -regtest -datadir="$work/node" -ipcbind=unix -port="$(free_port)" -bind=127.0.0.1 -rpcport="$rpc_port" >/dev/null 2>&1 &
pids+=("$!")

rpc() {
    python3 - "$work/node/regtest/.cookie" "$rpc_port" "$@" <<'EOF'
import base64, json, sys, time, urllib.request
cookie, port, wallet, method, *params = sys.argv[1:]
for _ in range(300):
    try:
        auth = base64.b64encode(open(cookie).read().encode()).decode()
        path = "/wallet/" + wallet if wallet else "/"
        body = json.dumps({"method": method, "params": [json.loads(p) for p in params]}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", body, {"Authorization": "Basic " + auth})
        print(json.dumps(json.load(urllib.request.urlopen(request))["result"]))
        break
    except (OSError, ValueError):
        time.sleep(0.1)
else:
    sys.exit(f"{method} failed")
EOF
}

rpc "" createwallet '"demo"' >/dev/null
mine=$(rpc demo getnewaddress '"mining"' | tr -d '"')
rpc "" generatetoaddress 120 "\"$mine\"" >/dev/null
pay=$(rpc demo getnewaddress '"savings"' | tr -d '"')
rpc demo sendtoaddress "\"$pay\"" 12.5 '""' '""' false null null '"unset"' null 2 >/dev/null
rpc "" generatetoaddress 1 "\"$mine\"" >/dev/null
rpc demo sendtoaddress "\"$pay\"" 0.75 '""' '""' false null null '"unset"' null 3 >/dev/null
rpc "" addnode "\"127.0.0.1:$peer_port\"" '"onetry"' >/dev/null

for screen in overview send receive transactions peers console information; do
    "$bin/bitcoin-gui" -regtest -datadir="$work/node" -ipcconnect=unix -guiscreen="$screen" >/dev/null 2>&1 &
    gui=$!
    sleep 4
    import -window root "$out/$screen.png"
    kill "$gui"
    wait "$gui" || true
    echo "gui-screenshots: $out/$screen.png"
done
