# The broker channel: what a sandboxed child may ask of the broker, and what the
# broker tells it. One message per SOCK_SEQPACKET datagram; file descriptors travel
# beside the message in SCM_RIGHTS. Every Reply carries the id of the Request it
# answers; the child checks both the id and the reply's kind against what it asked.
@0xbc0c65bc2d15c4da;

struct Request {
  id @0 :UInt64;
  union {
    getSettings @1 :Void;
    # Settings for this child's role (never the whole bitcoin.conf).
    spawnWallet @2 :SpawnWallet;
    # Node worker only: start a bitcoin-wallet; the reply carries one end of
    # the new Init socket pair.
    openFile @3 :OpenFile;
    # Open a file under the role's root (checked, opened with openat2
    # RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS); the reply carries the fd.
    rpcServer @4 :Void;
    # Node worker only: the JSON-RPC listening sockets the broker bound
    # (-rpcbind/-rpcport) travel beside the reply, one fd per socket.
    requestShutdown @5 :Void;
    # Node worker only: stop the whole node (the `stop` RPC). Answered with
    # shutdownRequested, then the broker's usual shutdown follows.
    connect @6 :Text;
    # Node worker only: an outbound TCP connection to "host:port", checked
    # against -onlynet/-dns and made directly or through -proxy (SOCKS5);
    # the connected socket travels beside the `connected` reply.
    p2pServer @7 :Void;
    # Node worker only: the P2P listening sockets the broker bound (-listen,
    # -bind, -port) travel beside the `p2pServer` reply.
    renameFile @8 :RenameFile;
    # Node worker only: atomically replace one file in its root with another
    # (e.g. mempool.dat.new over mempool.dat); both are plain file names.
    listWalletDir @9 :Void;
    # Node worker only: the wallets under <netDir>/wallets (the worker's
    # sandbox cannot read that directory).
    exportBackup @10 :WalletFile;
    # Node worker only (backupwallet): copy the backup the wallet's process
    # wrote in its own directory to `path`, which must lie inside the data
    # directory, outside chain data, wallets and configuration files.
    restoreWallet @11 :WalletFile;
    # Node worker only (restorewallet): copy the backup at `path` into a new
    # wallet's directory; never over an existing wallet.
    removeFile @12 :Text;
    # Node worker only: delete one file in its root that the node consumes
    # once (anchors.dat, read at start as Core does); no other name.
  }
}

struct WalletFile {
  wallet @0 :Text;
  # A wallet name (one plain directory name under <netDir>/wallets).
  path @1 :Text;
  # Absolute, or relative to the node's working directory.
}

struct RenameFile {
  from @0 :Text;
  to @1 :Text;
}

struct OpenFile {
  path @0 :Text;
  # Relative to the role's root (the network data directory for the worker).
  write @1 :Bool;
  # Open for reading and writing instead of reading only.
  create @2 :Bool;
  # Create if missing (mode 0600). Requires write.
  truncate @3 :Bool;
  # Truncate to zero length. Requires write.
}

struct SpawnWallet {
  name @0 :Text;
  # The wallet's directory name under <netDir>/wallets; the broker refuses
  # names that are not one plain path component, and a second process for a
  # wallet that already has one.
  create @1 :Bool;
  # createwallet: the directory must not hold a wallet yet (the broker makes
  # it). Otherwise loadwallet: it must hold one.
}

struct Reply {
  id @0 :UInt64;
  union {
    error @1 :Text;
    settings @2 :Settings;
    walletSpawned @3 :WalletSpawned;
    fileOpened @4 :Void;
    # The fd travels beside the reply.
    rpcServer @5 :RpcServer;
    shutdownRequested @6 :Void;
    connected @7 :Void;
    # The connected socket travels beside the reply.
    p2pServer @8 :Void;
    # The P2P listening sockets travel beside the reply (none without -listen).
    fileRenamed @9 :Void;
    walletDir @10 :List(Text);
    # The wallet names found under <netDir>/wallets.
    backupWritten @11 :Void;
    walletRestored @12 :Void;
    fileRemoved @13 :Void;
  }
}

struct RpcServer {
  cookie @0 :Text;
  # "__cookie__:<hex>" when the broker wrote a cookie file, else empty.
  # The listening sockets travel beside the reply.
}

struct WalletSpawned {
  pid @0 :Int32;
  # fd: the node worker's end of the wallet's Init socket pair.
}

struct Settings {
  chain @0 :Text;
  # "main", "test", "testnet4", "signet", "regtest"
  dataDir @1 :Text;
  netDir @2 :Text;
  # <datadir>/<chain subdirectory>
  args @3 :List(Arg);
  # Resolved options for this role, after bitcoin.conf and the command line.
  walletName @4 :Text;
  # A wallet process: the one wallet it holds (its directory is
  # <netDir>/wallets/<walletName>, its whole sandbox). Empty for the worker.
}

struct Arg {
  name @0 :Text;
  values @1 :List(Text);
  # The option's values in effect (Core's GetArgs).
  single @2 :Text;
  # Its single value in effect (Core's GetArg), unless negated.
  negated @3 :Bool;
  # -noname: no single value.
}

struct Event {
  # Unsolicited message from broker to child.
  union {
    incomingConnection @0 :IncomingConnection;
    # An accepted IPC connection (fd in SCM_RIGHTS) for the child to serve Init on.
    shutdown @1 :Void;
    # Stop cleanly: the node is shutting down.
  }
}

struct IncomingConnection {
  peerPid @0 :Int32;
  peerUid @1 :UInt32;
  peerName @2 :Text;
  # Process name of the peer (from /proc), for logs only.
  source @3 :Text;
  # Where it came from: an -ipcbind path, or "ipcfd" for the socket the
  # process that spawned bitcoin-node handed over.
}

struct BrokerMessage {
  # Everything the broker sends on the broker channel.
  union {
    reply @0 :Reply;
    event @1 :Event;
  }
}

struct LogRecord {
  # One log line from a child, rendered in Core's format by the broker, the only
  # writer of debug.log. Sent on the child's log fd, one record per datagram.
  timeMicros @0 :Int64;
  # Unix time in microseconds.
  level @1 :Level;
  category @2 :Text;
  # Core's category name ("net", "ipc", ...), empty for an uncategorised line.
  thread @3 :Text;
  file @4 :Text;
  line @5 :UInt32;
  function @6 :Text;
  message @7 :Text;

  enum Level {
    trace @0;
    debug @1;
    info @2;
    warning @3;
    error @4;
  }
}
