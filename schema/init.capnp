# Init: the bootstrap capability every process serves on its IPC socket.
# Same file id, interface id and ordinals as Bitcoin Core's
# `src/ipc/capnp/init.capnp`, so Core's IPC clients can talk to our processes.
# makeMining and makeRpc are served by the node worker, makeWalletLoader by a
# wallet process; each answers the others with an error.
@0xf2c5cfa319406aa6;

using Proxy = import "proxy.capnp";
using Echo = import "echo.capnp";
using Mining = import "mining.capnp";
using Rpc = import "rpc.capnp";
using Chain = import "chain.capnp";
using Wallet = import "wallet.capnp";
using Node = import "node.capnp";

interface Init {
  construct @0 (threadMap :Proxy.ThreadMap) -> (threadMap :Proxy.ThreadMap);
  makeEcho @1 (context :Proxy.Context) -> (result :Echo.Echo);
  makeMining @3 (context :Proxy.Context) -> (result :Mining.Mining);
  makeRpc @4 (context :Proxy.Context) -> (result :Rpc.Rpc);
  # Ours, beyond Core's ordinals: served by a wallet process. The node hands
  # over its Chain; the loader creates or opens the process's one wallet.
  makeWalletLoader @5 (context :Proxy.Context, chain :Chain.Chain) -> (result :Wallet.WalletLoader);
  # Ours: served by the node worker to a wallet process attached with
  # `bitcoin-wallet -ipcconnect`, which then registers its wallet with it.
  makeChain @6 (context :Proxy.Context) -> (result :Chain.Chain);
  # Ours: served by the node worker to bitcoin-gui (spawned over -ipcfd or
  # attached with -ipcconnect).
  makeNode @7 (context :Proxy.Context) -> (result :Node.Node);
  # Deprecated in Core; its server answers with an error. So does ours.
  makeMiningOld2 @2 () -> ();
}
