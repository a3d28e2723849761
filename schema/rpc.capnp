# Rpc: JSON-RPC over IPC (what Core's `bitcoin-cli -ipcconnect` uses). Our own
# file written to the wire contract of Bitcoin Core's `src/ipc/capnp/rpc.capnp`:
# same file id, interface name and method ordinal.
@0x9c3505dc45e146ac;

using Proxy = import "proxy.capnp";

interface Rpc {
  # `request` is a JSON-RPC request (object or batch) as text; `uri` is the
  # HTTP path it would have used (`/` or `/wallet/<name>`); `user` the
  # authenticated user for -rpcwhitelist. The result is the reply as text.
  executeRpc @0 (context :Proxy.Context, request :Text, uri :Text, user :Text) -> (result :Text);
}
