# Init: the bootstrap capability every process serves on its IPC socket.
# Same file id, interface id and ordinals as Bitcoin Core's
# `src/ipc/capnp/init.capnp`, so Core's IPC clients can talk to our processes.
# Ordinals 3 (makeMining) and 4 (makeRpc) arrive with the node issue; until then
# the generated server answers them as unimplemented.
@0xf2c5cfa319406aa6;

using Proxy = import "proxy.capnp";
using Echo = import "echo.capnp";

interface Init {
  construct @0 (threadMap :Proxy.ThreadMap) -> (threadMap :Proxy.ThreadMap);
  makeEcho @1 (context :Proxy.Context) -> (result :Echo.Echo);
  # Deprecated in Core; its server answers with an error. So does ours.
  makeMiningOld2 @2 () -> ();
}
