# The sandbox in force in one process, as its start-up log line reports it;
# for the GUI's information page. Our own file.
@0xb043827673681d1d;

struct Status {
  # Which process: "node worker", or "wallet <name>".
  process @0 :Text;
  pid @1 :Int32;
  # -sandbox=off.
  off @2 :Bool;
  noNewPrivs @3 :Bool;
  capabilitiesDropped @4 :Bool;
  namespaces @5 :Bool;
  # The Landlock ABI in force; 0 when Landlock is not.
  landlockAbi @6 :Int32;
  landlockStatus @7 :Text;
  seccomp @8 :Bool;
  # Distinct system calls the seccomp allowlist lets through.
  syscalls @9 :UInt32;
  # Layers that are not in force, with why.
  missing @10 :List(Text);
}
