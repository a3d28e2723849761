# Types shared by Core's IPC interfaces. Our own file written to the wire
# contract of Bitcoin Core's `src/ipc/capnp/common.capnp`: the same file id,
# struct name and field layout (C++ code-generation annotations left out).
@0xcd2c6232cb484a28;

# A block by hash (32 bytes, internal byte order) and height.
struct BlockRef {
  hash @0 :Data;
  height @1 :Int32;
}
