#!/usr/bin/env python3
"""A miner and an RPC client built only from Bitcoin Core's own schema files.

Loads Core's init.capnp, mining.capnp, rpc.capnp (and what they import) from
the vendored Core source, connects to a bitcoin-node -ipcbind socket, and:
Init.makeMining -> Mining.getTip -> createNewBlock -> BlockTemplate
getCoinbaseTx / getCoinbaseMerklePath / getBlockHeader; builds its own coinbase
(paying OP_TRUE, with the template's required outputs and witness), grinds the
nonce, calls submitSolution and sees the tip advance by one to its block;
then Init.makeRpc -> Rpc.executeRpc("getblockcount") agrees. Prints one line
per step; exits non-zero on any mismatch.

Usage: core_ipc_mining.py SOCKET CORE_IPC_CAPNP_DIR LIBMULTIPROCESS_INCLUDE_DIR
"""
import asyncio
import hashlib
import json
import os
import struct
import sys

import capnp


def dsha256(b):
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def compact_size(n):
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    return b"\xfe" + struct.pack("<I", n)


def build_coinbase(cb, extranonce):
    """Serializes (with witness) and returns (bytes, txid) of a coinbase made
    from the template's CoinbaseTx fields, paying everything to OP_TRUE."""
    script_sig = bytes(cb.scriptSigPrefix) + bytes([len(extranonce)]) + extranonce
    txin = b"\x00" * 32 + b"\xff\xff\xff\xff" + compact_size(len(script_sig)) + script_sig
    txin += struct.pack("<I", cb.sequence)
    outputs = [struct.pack("<q", cb.blockRewardRemaining) + b"\x01\x51"]
    outputs += [bytes(o) for o in cb.requiredOutputs]
    body = compact_size(1) + txin + compact_size(len(outputs)) + b"".join(outputs)
    version = struct.pack("<I", cb.version)
    locktime = struct.pack("<I", cb.lockTime)
    witness = bytes(cb.witness)
    wit = compact_size(1) + compact_size(len(witness)) + witness if witness else b"\x00"
    full = version + b"\x00\x01" + body + wit + locktime
    txid = dsha256(version + body + locktime)
    return full, txid


def grind(header):
    bits = struct.unpack("<I", header[72:76])[0]
    target = (bits & 0xFFFFFF) << (8 * ((bits >> 24) - 3))
    for nonce in range(1 << 32):
        h = header[:76] + struct.pack("<I", nonce)
        if int.from_bytes(dsha256(h), "little") <= target:
            return nonce, dsha256(h)
    raise RuntimeError("no nonce found")


async def main(sock, capnp_dir, mp_include):
    imports = [mp_include, os.path.dirname(os.path.dirname(capnp.__file__))]
    load = lambda name: capnp.load(os.path.join(capnp_dir, name), imports=imports)
    init_capnp = load("init.capnp")
    proxy_capnp = capnp.load(os.path.join(mp_include, "mp", "proxy.capnp"), imports=imports)

    class ClientThread(proxy_capnp.Thread.Server):
        async def getName(self, **kwargs):
            return "python-miner-thread"

    class ClientThreadMap(proxy_capnp.ThreadMap.Server):
        async def makeThread(self, name, **kwargs):
            return ClientThread()

        async def makePool(self, count, **kwargs):
            return None

    stream = await capnp.AsyncIoStream.create_unix_connection(sock)
    client = capnp.TwoPartyClient(stream)
    init = client.bootstrap().cast_as(init_capnp.Init)
    thread_map = (await init.construct(threadMap=ClientThreadMap())).threadMap
    request = thread_map.makeThread_request()
    request.name = "pycapnp-miner"
    thread = (await request.send()).result
    ctx = {"thread": thread, "callbackThread": ClientThread()}

    mining = (await init.makeMining(context=ctx)).result
    test_chain = (await mining.isTestChain(context=ctx)).result
    print(f"isTestChain: {test_chain}")
    tip = await mining.getTip(context=ctx)
    before = tip.result.height
    print(f"getTip: height {before} hasResult {tip.hasResult}")

    template = (await mining.createNewBlock(context=ctx, options={})).result
    cb = (await template.getCoinbaseTx(context=ctx)).result
    print(f"getCoinbaseTx: reward {cb.blockRewardRemaining} required outputs {len(cb.requiredOutputs)} lockTime {cb.lockTime}")
    path = (await template.getCoinbaseMerklePath(context=ctx)).result
    header = bytes((await template.getBlockHeader(context=ctx)).result)
    if header[4:36] != bytes(tip.result.hash):
        print("MISMATCH: template does not build on the tip", file=sys.stderr)
        return 1

    coinbase, txid = build_coinbase(cb, b"\x2a\x00\x00\x00")
    root = txid
    for sibling in path:
        root = dsha256(root + bytes(sibling))
    version, timestamp = struct.unpack("<I", header[:4])[0], struct.unpack("<I", header[68:72])[0]
    nonce, block_hash = grind(header[:36] + root + header[68:])
    ok = (await template.submitSolution(context=ctx, version=version, timestamp=timestamp,
                                         nonce=nonce, coinbase=coinbase)).result
    print(f"submitSolution: {ok}")
    after = (await mining.getTip(context=ctx)).result
    print(f"getTip: height {after.height}")
    if not ok or after.height != before + 1 or bytes(after.hash) != block_hash:
        print("MISMATCH: the tip did not advance to our block", file=sys.stderr)
        return 1
    try:
        await mining.submitBlock(context=ctx, block=b"\x00")
        print("MISMATCH: a garbage block was not refused", file=sys.stderr)
        return 1
    except capnp.KjException as e:
        print(f"submitBlock(garbage): refused ({e.description.splitlines()[0]})")

    rpc = (await init.makeRpc(context=ctx)).result
    reply = (await rpc.executeRpc(context=ctx, request=json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "getblockcount"}), uri="/", user="")).result
    count = json.loads(reply)["result"]
    print(f"executeRpc getblockcount: {count}")
    if count != after.height:
        print(f"MISMATCH: getblockcount {count} != tip {after.height}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sock, capnp_dir, mp_include = sys.argv[1:4]
    sys.exit(asyncio.run(capnp.run(main(sock, capnp_dir, mp_include))))
