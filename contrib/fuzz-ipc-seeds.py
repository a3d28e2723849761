#!/usr/bin/env python3
"""Writes the seed corpora of the ipc_* fuzz targets (fuzz/corpus/ipc_*/):
one well-formed call per method, in the targets' input format
`<method name>\\0<parameters as a Cap'n Proto message>`, built with pycapnp
from our schema/*.capnp, with the arguments our own processes send in the
integration tests (a wallet's RPCs, the node's chain queries, a miner's
template calls). Run from anywhere; rewrites the seed files it owns.
"""
import json
import os
import sys

import capnp

capnp.remove_import_hook()
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
schema = os.path.join(root, "schema")
corpus = os.path.join(root, "fuzz", "corpus")


def load(name):
    return capnp.load(os.path.join(schema, name + ".capnp"), imports=[schema])


def write(target, interface, method_name, seed, **fields):
    ptype = interface.schema.methods[method_name].param_type
    message = capnp._MallocMessageBuilder()
    params = message.init_root(ptype)
    for k, v in fields.items():
        if isinstance(v, dict):
            sub = params.init(k)
            for k2, v2 in v.items():
                setattr(sub, k2, v2)
        else:
            setattr(params, k, v)
    os.makedirs(os.path.join(corpus, target), exist_ok=True)
    path = os.path.join(corpus, target, "seed-" + seed)
    with open(path, "wb") as f:
        f.write(method_name.encode() + b"\0" + params.to_bytes())


GENESIS = bytes.fromhex("0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206")[::-1]
TXID = bytes(range(32))

init = load("init").Init
echo = load("echo").Echo
mining = load("mining")
rpc = load("rpc").Rpc
chain = load("chain")
wallet = load("wallet")

for m in ["construct", "makeEcho", "makeMiningOld2", "makeMining", "makeRpc", "makeWalletLoader", "makeChain"]:
    write("ipc_init", init, m, m)
write("ipc_echo", echo, "echo", "echo", echo="hello")
write("ipc_echo", echo, "destroy", "destroy")

for request in [
    {"jsonrpc": "2.0", "id": 1, "method": "getblockcount", "params": []},
    {"jsonrpc": "1.0", "id": "x", "method": "getblockhash", "params": [1]},
    {"jsonrpc": "2.0", "id": 2, "method": "getblock", "params": {"blockhash": GENESIS[::-1].hex(), "verbosity": 2}},
    [{"jsonrpc": "2.0", "id": 3, "method": "getmempoolinfo"}, {"jsonrpc": "2.0", "method": "uptime"}],
]:
    name = request["method"] if isinstance(request, dict) else "batch"
    write("ipc_rpc", rpc, "executeRpc", name, request=json.dumps(request), uri="/", user="__cookie__")

M = mining.Mining
for m in ["isTestChain", "isInitialBlockDownload", "getTip", "interrupt"]:
    write("ipc_mining", M, m, m)
write("ipc_mining", M, "waitTipChanged", "waitTipChanged", currentTip=GENESIS, timeout=1.0)
write("ipc_mining", M, "createNewBlock", "createNewBlock", cooldown=False, options={"useMempool": True})
write("ipc_mining", M, "checkBlock", "checkBlock", block=bytes(80), options={"checkPow": False})
write("ipc_mining", M, "submitBlock", "submitBlock", block=bytes(81))
write("ipc_mining", M, "getTransactionsByTxID", "getTransactionsByTxID", txids=[TXID])
write("ipc_mining", M, "getTransactionsByWitnessID", "getTransactionsByWitnessID", wtxids=[TXID])

T = mining.BlockTemplate
for m in ["destroy", "getBlockHeader", "getBlock", "getTxFees", "getTxSigops", "getCoinbaseTx", "getCoinbaseMerklePath", "interruptWait"]:
    write("ipc_block_template", T, m, m)
write("ipc_block_template", T, "submitSolution", "submitSolution", version=0x20000000, timestamp=1296688602, nonce=2, coinbase=bytes(60))
write("ipc_block_template", T, "waitNext", "waitNext", options={"timeout": 1.0, "feeThreshold": 1000})

C = chain.Chain
for m in ["getTip", "feeRates", "mempoolTransactions", "handleNotifications", "registerWallet"]:
    write("ipc_chain", C, m, m)
write("ipc_chain", C, "getBlockHash", "getBlockHash", height=5)
write("ipc_chain", C, "getBlock", "getBlock", height=3)
write("ipc_chain", C, "findBlock", "findBlock", hash=GENESIS)
write("ipc_chain", C, "findFirstBlockWithTime", "findFirstBlockWithTime", time=1296688602)
write("ipc_chain", C, "broadcastTransaction", "broadcastTransaction", tx=bytes.fromhex("0200000000010000000000"), maxFeeRate=100000)
write("ipc_chain", C, "testMempoolAccept", "testMempoolAccept", tx=bytes.fromhex("0200000000010000000000"))
write("ipc_chain", C, "isInMempool", "isInMempool", txid=TXID)

N = chain.ChainNotifications
write("ipc_chain_notifications", N, "blockConnected", "blockConnected", height=5, hash=GENESIS)
write("ipc_chain_notifications", N, "blockDisconnected", "blockDisconnected", height=110, hash=GENESIS)
write("ipc_chain_notifications", N, "updatedBlockTip", "updatedBlockTip", height=1000, hash=TXID)
write("ipc_chain_notifications", N, "transactionAddedToMempool", "transactionAddedToMempool", tx=bytes.fromhex("0200000000010000000000"))
write("ipc_chain_notifications", N, "transactionRemovedFromMempool", "transactionRemovedFromMempool", txid=TXID, reason="conflict")
write("ipc_chain_notifications", N, "chainStateFlushed", "chainStateFlushed")

W = wallet.Wallet
ADDR = "bcrt1qjqmxmkpmxt80xz4y3746zgt0q3u3ferr34acd5"
for method, params in [
    ("getwalletinfo", []),
    ("getbalances", []),
    ("getnewaddress", ["label", "bech32m"]),
    ("getrawchangeaddress", ["legacy"]),
    ("getaddressinfo", [ADDR]),
    ("listunspent", [0, 9999999, [], True, {"minimumAmount": 0.1}]),
    ("listtransactions", ["*", 10, 0, True]),
    ("listsinceblock", [GENESIS[::-1].hex(), 1, True]),
    ("sendtoaddress", [ADDR, 0.1, "", "", False, True, None, "unset", None, 5]),
    ("sendmany", ["", {ADDR: 0.2}]),
    ("walletcreatefundedpsbt", [[], [{ADDR: 0.3}], 0, {"fee_rate": 10}]),
    ("bumpfee", [TXID.hex(), {"fee_rate": 30}]),
    ("importdescriptors", [[{"desc": "addr(" + ADDR + ")", "timestamp": "now"}]]),
    ("listdescriptors", [False]),
    ("lockunspent", [False, [{"txid": TXID.hex(), "vout": 0}]]),
    ("signmessage", [ADDR, "hello"]),
    ("encryptwallet", ["pass"]),
    ("walletpassphrase", ["pass", 1]),
    ("rescanblockchain", [0, 10]),
    ("backupwallet", []),
]:
    write("ipc_wallet", W, "callRpc", "callRpc-" + method, method=method, params=json.dumps(params))
write("ipc_wallet", W, "getName", "getName")
write("ipc_wallet", W, "unload", "unload")

L = wallet.WalletLoader
write("ipc_wallet_loader", L, "loadWallet", "loadWallet", name="fuzz")
write("ipc_wallet_loader", L, "loadWallet", "loadWallet-other", name="other")
write("ipc_wallet_loader", L, "createWallet", "createWallet", name="fuzz", options={"blank": True, "passphrase": "x"})
print("seeds written under", corpus)
