#!/usr/bin/env python3
"""An IPC client built only from Bitcoin Core's own schema files.

Loads Core's init.capnp / echo.capnp and libmultiprocess's proxy.capnp from the
directories given on the command line (the vendored Core source inside the
libbitcoinkernel-sys crate), connects to a bitcoin-node -ipcbind socket and runs
Core's handshake: Init.construct, ThreadMap.makeThread, Init.makeEcho,
Echo.echo. Prints one line per step; exits non-zero on any mismatch.

Usage: core_ipc_client.py SOCKET CORE_IPC_CAPNP_DIR LIBMULTIPROCESS_INCLUDE_DIR [TEXT]
"""
import asyncio
import os
import sys

import capnp


def load_schemas(capnp_dir, mp_include):
    # Core's schemas import "/capnp/c++.capnp" (pycapnp ships it) and "/mp/proxy.capnp".
    imports = [mp_include, os.path.dirname(os.path.dirname(capnp.__file__))]
    init = capnp.load(os.path.join(capnp_dir, "init.capnp"), imports=imports)
    echo = capnp.load(os.path.join(capnp_dir, "echo.capnp"), imports=imports)
    proxy = capnp.load(os.path.join(mp_include, "mp", "proxy.capnp"), imports=imports)
    return init, echo, proxy


async def main(sock, capnp_dir, mp_include, text):
    init_capnp, echo_capnp, proxy_capnp = load_schemas(capnp_dir, mp_include)

    class ClientThread(proxy_capnp.Thread.Server):
        async def getName(self, **kwargs):
            return "python-client-thread"

    class ClientThreadMap(proxy_capnp.ThreadMap.Server):
        async def makeThread(self, name, **kwargs):
            return ClientThread()

        async def makePool(self, count, **kwargs):
            return None

    stream = await capnp.AsyncIoStream.create_unix_connection(sock)
    client = capnp.TwoPartyClient(stream)
    init = client.bootstrap().cast_as(init_capnp.Init)

    constructed = await init.construct(threadMap=ClientThreadMap())
    thread_map = constructed.threadMap
    print("construct: ok")
    # Build the request explicitly: pycapnp's call shortcut reserves `name`.
    request = thread_map.makeThread_request()
    request.name = "pycapnp-client"
    thread = (await request.send()).result
    name = (await thread.getName()).result
    print(f"makeThread: {name}")
    echo = (await init.makeEcho(context={"thread": thread, "callbackThread": ClientThread()})).result
    got = (await echo.echo(context={"thread": thread}, echo=text)).result
    print(f"echo: {got}")
    if got != text:
        print(f"MISMATCH: sent {text!r}, got {got!r}", file=sys.stderr)
        return 1
    await echo.destroy(context={"thread": thread})
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    text = sys.argv[4] if len(sys.argv) > 4 else "hello"
    sys.exit(asyncio.run(capnp.run(main(sys.argv[1], sys.argv[2], sys.argv[3], text))))
