#!/usr/bin/env bash
# Installs what building and testing need on Debian, only where it is missing:
# the Cap'n Proto compiler (schema/ is compiled by build.rs), cmake and Boost
# headers (Bitcoin Core's libbitcoinkernel, built by the bitcoinkernel crate),
# pkg-config and the Wayland client headers (winit, under bitcoin-gui's egui,
# links them even when it draws on X11), and pycapnp (the test that talks to
# us with Core's own schema files). With --test also Xvfb, Mesa's software
# OpenGL, the X libraries winit opens at run time and ImageMagick's `import`,
# for the test that starts bitcoin-gui in a real window and screenshots it.
set -euo pipefail

need=()
command -v capnp >/dev/null 2>&1 || need+=(capnproto)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
[ -e /usr/include/boost/version.hpp ] || need+=(libboost-dev)
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-pip)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
[ -e /usr/include/wayland-client.h ] || need+=(libwayland-dev)
if [ "${1:-}" = "--test" ]; then
    command -v Xvfb >/dev/null 2>&1 || need+=(xvfb xauth)
    command -v import >/dev/null 2>&1 || need+=(imagemagick)
    for lib in libgl1-mesa-dri libglx-mesa0 libegl1 libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6; do
        dpkg -s "$lib" >/dev/null 2>&1 || need+=("$lib")
    done
fi
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
