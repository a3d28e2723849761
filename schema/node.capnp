# Node: what bitcoin-gui asks of the node worker (Init.makeNode), and the
# notifications the node sends back. Our own interface (Core's GUI uses an
# in-process interfaces::Node; its node.capnp is not published). The GUI
# parses no network data: everything it shows comes through here.
@0xde561acf5d4837c2;

using Wallet = import "wallet.capnp";
using Chain = import "chain.capnp";
using Sandbox = import "sandbox.capnp";

interface Node {
  # Sync state, tip and traffic in one snapshot.
  getStatus @0 () -> (status :Status);
  # The connected peers (getpeerinfo's main fields).
  getPeers @1 () -> (peers :List(Peer));
  # The ban list (listbanned).
  listBanned @2 () -> (bans :List(Ban));
  # One console command: `method` with its arguments as typed on the console
  # line; the node converts each to JSON as bitcoin-cli would, from the
  # method's parameter types. `wallet` names the wallet for wallet methods
  # (empty: the default one). On failure, `code` and `message` are Core's
  # RPC error; otherwise `result` is the JSON result as text. The debug log
  # shows sizes only: console arguments may carry passphrases.
  executeRpc @3 (method :Text, args :List(Text), wallet :Text) -> (result :Text, code :Int32, message :Text, failed :Bool);
  # The names of the loaded wallets.
  listWallets @4 () -> (names :List(Text));
  # A loaded wallet's own interface (its process serves it; the node passes
  # the capability through). Fails when no wallet of that name is loaded.
  getWallet @5 (name :Text) -> (wallet :Wallet.Wallet);
  # Registers for notifications; they stop when `handler` is released.
  handleNotifications @6 (notifications :NodeNotifications) -> (handler :Chain.Handler);
  # Stops the whole process set, as the `stop` RPC does.
  shutdown @7 () -> ();
  # Versions, paths, and the sandbox in force in each of the node's processes.
  getInfo @8 () -> (info :Info);
}

struct Status {
  chain @0 :Text;
  # Height of the active chain's tip, and of the best known header.
  blocks @1 :Int32;
  headers @2 :Int32;
  bestBlockHash @3 :Text;
  # The tip's block time (seconds since the epoch).
  tipTime @4 :Int64;
  verificationProgress @5 :Float64;
  initialBlockDownload @6 :Bool;
  connectionsIn @7 :UInt32;
  connectionsOut @8 :UInt32;
  bytesRecv @9 :UInt64;
  bytesSent @10 :UInt64;
  networkActive @11 :Bool;
  # Transactions in the mempool.
  mempoolSize @12 :UInt64;
  warnings @13 :Text;
}

struct Peer {
  id @0 :Int64;
  address @1 :Text;
  subversion @2 :Text;
  version @3 :Int32;
  inbound @4 :Bool;
  connectionType @5 :Text;
  transport @6 :Text;
  # Seconds; negative when no pong came back yet.
  pingTime @7 :Float64;
  bytesSent @8 :UInt64;
  bytesRecv @9 :UInt64;
  syncedBlocks @10 :Int32;
  # Seconds since the epoch.
  connectedTime @11 :Int64;
  services @12 :Text;
}

struct Ban {
  subnet @0 :Text;
  banCreated @1 :Int64;
  bannedUntil @2 :Int64;
}

struct Info {
  version @0 :Text;
  userAgent @1 :Text;
  datadir @2 :Text;
  # Seconds since the epoch at which the node worker started.
  startupTime @3 :Int64;
  # The node worker first, then one per wallet process.
  processes @4 :List(Sandbox.Status);
}

interface NodeNotifications {
  # The active chain's tip moved.
  tipChanged @0 (height :Int32, hash :Text, time :Int64, verificationProgress :Float64);
  # The best known header moved (during sync).
  headerTipChanged @1 (height :Int32);
  # A peer connected or disconnected; `count` is the number now.
  peersChanged @2 (count :UInt32);
  # A wallet was loaded (or unloaded, `loaded` false).
  walletChanged @3 (name :Text, loaded :Bool);
  # The node is shutting down; no notification follows.
  shutdown @4 ();
}
