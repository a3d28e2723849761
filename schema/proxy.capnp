# Thread-map conventions of libmultiprocess, which Bitcoin Core's IPC clients use.
# Our own file, written to the same wire contract: the file id, the interface
# names (and so their derived type ids), the method ordinals and the field layout
# match libmultiprocess's `include/mp/proxy.capnp`. C++ code-generation
# annotations are left out: they do not travel on the wire.
@0xcc316e3f71a040fb;

interface ThreadMap {
  # Lets a client create named server threads and pass them in a Context.
  makeThread @0 (name :Text) -> (result :Thread);
  # Pre-allocates a pool of server threads for calls that name no thread.
  makePool @1 (count :UInt32) -> ();
}

interface Thread {
  # Handle of one server thread, as returned by ThreadMap.makeThread.
  getName @0 () -> (result :Text);
}

struct Context {
  # Passed as the first parameter of every method: which server thread should run
  # the call, and which client thread should receive callbacks.
  thread @0 :Thread;
  callbackThread @1 :Thread;
}
