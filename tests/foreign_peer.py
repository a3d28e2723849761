#!/usr/bin/env python3
"""A P2P peer that shares no code with the node: Python's standard library
only. It speaks Bitcoin's v1 framing to HOST:PORT on regtest, completes the
version handshake, then misbehaves in the way named on the command line and
checks that the node hangs up. Prints one line per step; exits non-zero on
the first thing that does not happen."""

import hashlib
import socket
import struct
import sys
import time

MAGIC = bytes.fromhex("fabfb5da")  # regtest


def checksum(payload):
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]


def frame(command, payload, bad_checksum=False, length=None):
    cs = checksum(payload)
    if bad_checksum:
        cs = bytes(b ^ 0xFF for b in cs)
    n = len(payload) if length is None else length
    return MAGIC + command.encode().ljust(12, b"\0") + struct.pack("<I", n) + cs + payload


def netaddr(port):
    return struct.pack("<Q", 0) + bytes(10) + b"\xff\xff" + bytes([127, 0, 0, 1]) + struct.pack(">H", port)


def version(port, services=0, relay=False):
    agent = b"/foreign-peer:0.1/"
    return (
        struct.pack("<iQq", 70016, services, int(time.time()))
        + netaddr(port)
        + netaddr(0)
        + struct.pack("<Q", 0x1234567890ABCDEF)
        + bytes([len(agent)])
        + agent
        + struct.pack("<i", 0)
        + bytes([relay])
    )


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("closed")
        data += chunk
    return data


def read_message(sock):
    header = read_exact(sock, 24)
    if header[:4] != MAGIC:
        raise ValueError("wrong magic from the node")
    command = header[4:16].rstrip(b"\0").decode()
    (length,) = struct.unpack("<I", header[16:20])
    payload = read_exact(sock, length)
    if checksum(payload) != header[20:24]:
        raise ValueError("bad checksum from the node")
    return command, payload


def handshake(host, port, services=0, relay=False):
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(frame("version", version(port, services, relay)))
    seen = []
    while "verack" not in seen:
        command, payload = read_message(sock)
        seen.append(command)
        if command == "version":
            # The relay flag (BIP37) is the version message's last byte;
            # the services follow the protocol version.
            (services,) = struct.unpack("<Q", payload[4:12])
            print(f"node version relay={payload[-1]} services={services:x}")
    if seen[0] != "version":
        raise ValueError(f"the node's first message was {seen[0]}")
    sock.sendall(frame("verack", b""))
    print(f"handshake ok: {' '.join(seen)}")
    return sock


def until_pong(sock, nonce):
    """Pings, then returns the commands the node sent up to the pong."""
    sock.sendall(frame("ping", struct.pack("<Q", nonce)))
    seen = []
    while True:
        command, payload = read_message(sock)
        if command == "pong" and payload == struct.pack("<Q", nonce):
            return seen
        seen.append((command, payload))


def locator_message(hashes):
    """getheaders/getblocks payload: version, locator, zero stop hash."""
    return struct.pack("<I", 70016) + bytes([len(hashes)]) + b"".join(hashes) + bytes(32)


GENESIS = bytes.fromhex("0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206")[::-1]


def hung_up(sock):
    """True once the node closes the connection (messages before it are read)."""
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            read_message(sock)
        except (EOFError, ConnectionResetError):
            return True
        except socket.timeout:
            return False
    return False


def tx_inv_hashes(payload):
    """The hashes of the MSG_TX items of an inv payload (fewer than 253)."""
    return [payload[1 + 36 * i + 4:1 + 36 * i + 36] for i in range(payload[0]) if payload[1 + 36 * i] == 1]


def asked_blocks(messages):
    """How many blocks the getdata messages among `messages` ask for."""
    count = 0
    for command, payload in messages:
        if command == "getdata":
            items = [struct.unpack("<I", payload[1 + 36 * i:5 + 36 * i])[0] for i in range(payload[0])]
            count += sum(1 for t in items if t & 0xFFFF in (2, 4))
    return count


def orders(sock):
    """Takes orders on standard input, one per line, and answers each with
    one line:
    - `getdata TXID`: asks for the transaction (MSG_TX); says whether a tx
      or a notfound came, and whether an inv of it came before the pong;
    - `wait-inv TXID`: waits for an inv of it, then pings; lists every
      transaction announced meanwhile;
    - `filterload HEX NHASH FLAGS`, `filteradd HEX`, `filterclear`: sends
      it, then pings;
    - `merkleblock HASH`: asks for the block filtered (MSG_FILTERED_BLOCK);
      says whether a merkleblock came and lists the transactions after it;
    - `headers HEX...`: sends the block headers given (80 bytes each) in
      one headers message, then pings; says how many blocks the node asked
      for meanwhile;
    - `sendcmpct`: says it takes compact blocks (BIP152 version 2, low
      bandwidth), then pings;
    - `cmpctblock HEX`: sends the serialized block of one transaction as
      a compact block (its coinbase prefilled, no short ids), then pings;
      says how many blocks the node asked for meanwhile;
    - `tx HEX`: sends the serialized transaction, then pings;
    - `block HEX [mutated]`: sends the serialized block (with its single
      transaction doubled when `mutated`: the merkle root no longer
      matches), then pings; says how many blocks the node asked for
      meanwhile, or that it hung up.
    Transaction ids are shown as the RPC shows them."""
    until_pong(sock, 1)
    print("ready", flush=True)
    nonce = 100
    for line in sys.stdin:
        order, *args = line.split()
        nonce += 1
        if order == "getdata":
            wanted = bytes.fromhex(args[0])[::-1]
            sock.sendall(frame("getdata", b"\x01" + struct.pack("<I", 1) + wanted))
            got = until_pong(sock, nonce)
            answer = [c for c, p in got if c in ("tx", "notfound")]
            inv = any(c == "inv" and wanted in tx_inv_hashes(p) for c, p in got)
            print(f"getdata: {' '.join(answer) or 'nothing'}{' (inv seen)' if inv else ''}", flush=True)
        elif order == "wait-inv":
            wanted = bytes.fromhex(args[0])[::-1]
            seen = []
            while wanted not in seen:
                command, payload = read_message(sock)
                if command == "inv":
                    seen += tx_inv_hashes(payload)
            seen += [h for c, p in until_pong(sock, nonce) if c == "inv" for h in tx_inv_hashes(p)]
            print("inv: " + " ".join(h[::-1].hex() for h in seen), flush=True)
        elif order == "filterload":
            data, nhash, flags = bytes.fromhex(args[0]), int(args[1]), int(args[2])
            payload = bytes([len(data)]) + data + struct.pack("<IIB", nhash, 0, flags)
            sock.sendall(frame("filterload", payload))
            until_pong(sock, nonce)
            print("filterload sent", flush=True)
        elif order == "filteradd":
            data = bytes.fromhex(args[0])
            size = bytes([len(data)]) if len(data) < 253 else b"\xfd" + struct.pack("<H", len(data))
            sock.sendall(frame("filteradd", size + data))
            until_pong(sock, nonce)
            print("filteradd sent", flush=True)
        elif order == "filterclear":
            sock.sendall(frame("filterclear", b""))
            until_pong(sock, nonce)
            print("filterclear sent", flush=True)
        elif order == "merkleblock":
            block = bytes.fromhex(args[0])[::-1]
            sock.sendall(frame("getdata", b"\x01" + struct.pack("<I", 3) + block))
            got = until_pong(sock, nonce)
            merkle = any(c == "merkleblock" and p[:80] and double_sha(p[:80]) == block for c, p in got)
            txs = [double_sha(p)[::-1].hex() for c, p in got if c == "tx"]
            print(f"merkleblock: {'yes' if merkle else 'no'} txs: {' '.join(txs)}", flush=True)
        elif order == "sendcmpct":
            sock.sendall(frame("sendcmpct", b"\x00" + struct.pack("<Q", 2)))
            until_pong(sock, nonce)
            print("sendcmpct sent", flush=True)
        elif order == "cmpctblock":
            block = bytes.fromhex(args[0])
            assert block[80] == 1, "a compact block of one transaction only"
            # Header, nonce, no short ids, one prefilled transaction at 0.
            compact = block[:80] + struct.pack("<Q", nonce) + b"\x00" + b"\x01" + b"\x00" + block[81:]
            sock.sendall(frame("cmpctblock", compact))
            print(f"asked blocks: {asked_blocks(until_pong(sock, nonce))}", flush=True)
        elif order == "tx":
            sock.sendall(frame("tx", bytes.fromhex(args[0])))
            until_pong(sock, nonce)
            print("tx sent", flush=True)
        elif order == "headers":
            headers = [bytes.fromhex(h) + b"\x00" for h in args]
            sock.sendall(frame("headers", bytes([len(headers)]) + b"".join(headers)))
            print(f"asked blocks: {asked_blocks(until_pong(sock, nonce))}", flush=True)
        elif order == "block":
            block = bytes.fromhex(args[0])
            if args[1:] == ["mutated"]:
                assert block[80] == 1, "mutating needs a block of one transaction"
                block = block[:80] + b"\x02" + block[81:] + block[81:]
            sock.sendall(frame("block", block))
            try:
                print(f"asked blocks: {asked_blocks(until_pong(sock, nonce))}", flush=True)
            except (EOFError, ConnectionResetError):
                print("hung up", flush=True)
                return 0
    return 0


def double_sha(data):
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def main():
    host, port, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if how == "sync":
        # A peer that serves blocks (NODE_NETWORK | NODE_WITNESS): does the
        # node start headers sync with it? It stays for the seconds given.
        sock = handshake(host, port, services=1 | 8)
        sock.settimeout(2)
        got = False
        try:
            while True:
                command, _ = read_message(sock)
                got = got or command == "getheaders"
        except socket.timeout:
            pass
        print("getheaders received" if got else "no getheaders", flush=True)
        time.sleep(float(sys.argv[4]))
        return 0
    if how in ("orders", "orders-norelay"):
        services = int(sys.argv[4]) if len(sys.argv) > 4 else 0
        return orders(handshake(host, port, services=services, relay=how == "orders"))
    sock = handshake(host, port)
    if how == "bad-checksum":
        sock.sendall(frame("ping", struct.pack("<Q", 7), bad_checksum=True))
    elif how == "unknown-flood":
        for _ in range(1001):
            sock.sendall(frame("nonsense", b"\x00"))
    elif how == "filterload":
        # An empty filter, no hash functions, tweak 0, flags 0.
        sock.sendall(frame("filterload", b"\x00" + struct.pack("<IIB", 0, 0, 0)))
    elif how == "mempool":
        sock.sendall(frame("mempool", b""))
    elif how == "mempool-ok":
        sock.sendall(frame("mempool", b""))
        until_pong(sock, 5)
        print("mempool request answered")
        return 0
    elif how == "long-locator":
        sock.sendall(frame("getheaders", locator_message([GENESIS] * 102)))
    elif how == "tx-inv":
        sock.sendall(frame("inv", b"\x01" + struct.pack("<I", 5) + bytes(31) + b"\x01"))
    elif how == "feefilter":
        got = [c for c, _ in until_pong(sock, 6)]
        print("feefilter received" if "feefilter" in got else "no feefilter")
        return 0
    elif how == "getblocks":
        # The blocks after the genesis block are announced by inv; the
        # first, asked for as MSG_BLOCK, comes without witness data.
        sock.sendall(frame("getblocks", locator_message([GENESIS])))
        blocks = []
        for command, payload in until_pong(sock, 7):
            if command == "inv":
                blocks += [payload[1 + 36 * i + 4:1 + 36 * i + 36] for i in range(payload[0]) if payload[1 + 36 * i] == 2]
        print(f"inv blocks {len(blocks)}")
        sock.sendall(frame("getdata", b"\x01" + struct.pack("<I", 2) + blocks[0]))
        for command, payload in until_pong(sock, 8):
            if command == "block":
                # Header (80), one transaction: its version, then 00 01
                # only if it carries witnesses.
                marker = payload[80 + 1 + 4:80 + 1 + 6]
                print("block without witness" if marker != b"\x00\x01" else "block with witness")
        return 0
    elif how in ("bad-header", "bad-header-kept"):
        # A header on the genesis block with mainnet's difficulty bits:
        # invalid on regtest (bad-diffbits), which is misbehaviour.
        header = struct.pack("<I", 0x20000000) + GENESIS + bytes(32) + struct.pack("<III", int(time.time()), 0x1D00FFFF, 0)
        sock.sendall(frame("headers", b"\x01" + header + b"\x00"))
        if how == "bad-header-kept":
            until_pong(sock, 10)
            print("still connected after bad-header")
            return 0
    elif how == "oversized":
        sock.sendall(frame("ping", b"", length=32 * 1024 * 1024 + 1))
    elif how == "ping":
        sock.sendall(frame("ping", struct.pack("<Q", 42)))
        while True:
            command, payload = read_message(sock)
            if command == "pong":
                assert payload == struct.pack("<Q", 42), "pong with another nonce"
                print("pong ok")
                return 0
    else:
        raise SystemExit(f"unknown misbehaviour {how}")
    if not hung_up(sock):
        print(f"the node did not hang up after {how}")
        return 1
    print(f"disconnected after {how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
