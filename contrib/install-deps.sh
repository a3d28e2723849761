#!/usr/bin/env bash
# Installs what building and testing need on Debian, only where it is missing:
# the Cap'n Proto compiler (schema/ is compiled by build.rs), cmake and Boost
# headers (Bitcoin Core's libbitcoinkernel, built by the bitcoinkernel crate),
# and pycapnp (the test that talks to us with Core's own schema files).
set -euo pipefail

need=()
command -v capnp >/dev/null 2>&1 || need+=(capnproto)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
[ -e /usr/include/boost/version.hpp ] || need+=(libboost-dev)
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-pip)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing Debian packages: ${need[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ "${1:-}" = "--test" ] && ! python3 -c 'import capnp' 2>/dev/null; then
    echo "installing pycapnp for the Core schema compatibility test"
    python3 -m pip install --quiet pycapnp 2>/dev/null \
        || python3 -m pip install --quiet --user pycapnp 2>/dev/null \
        || python3 -m pip install --quiet --break-system-packages pycapnp
fi
