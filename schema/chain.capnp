# Chain and ChainNotifications: what a wallet process may ask of the node, and
# the callbacks the node makes to it. Our own interfaces (Core has no
# published chain.capnp yet). Hashes and transactions travel in consensus
# serialization; block hashes as 32 bytes in internal byte order.
@0xd2872caad9a6b858;

using Wallet = import "wallet.capnp";

interface Chain {
  # The active chain's tip; height -1 when there is none.
  getTip @0 () -> (height :Int32, hash :Data);
  # The hash of the active chain's block at `height`; empty when there is none.
  getBlockHash @1 (height :Int32) -> (hash :Data);
  # The active chain's block at `height` (header and transactions); empty when
  # there is none or its data cannot be read.
  getBlock @2 (height :Int32) -> (block :Data, hash :Data);
  # Where a block is: its height and time, whether it is in the active chain.
  # height -1 when the node does not know the hash.
  findBlock @3 (hash :Data) -> (height :Int32, time :Int64, inActiveChain :Bool);
  # The first active-chain block with time >= `time` (for rescans by
  # timestamp); height -1 when there is none.
  findFirstBlockWithTime @4 (time :Int64) -> (height :Int32);
  # Submits a transaction to the mempool and relays it. `maxFeeRate` in
  # sat/kvB (0: no limit). `error` is Core's reject reason, empty on success.
  broadcastTransaction @5 (tx :Data, maxFeeRate :Int64) -> (error :Text, errorCode :Int32);
  # The mempool's acceptance test without adding (testmempoolaccept).
  testMempoolAccept @6 (tx :Data) -> (allowed :Bool, reason :Text);
  # Fee rates in sat/kvB: -minrelaytxfee, the mempool's minimum, the
  # incremental relay fee, and the dust relay fee.
  feeRates @7 () -> (minRelay :Int64, mempoolMin :Int64, incremental :Int64, dustRelay :Int64);
  # Every transaction in the mempool now (a wallet catching up after a start).
  mempoolTransactions @8 () -> (txs :List(Data));
  # Registers for notifications; they stop when `handler` is released.
  handleNotifications @9 (notifications :ChainNotifications) -> (handler :Handler);
  # Whether a transaction is in the mempool.
  isInMempool @10 (txid :Data) -> (inMempool :Bool);
  # A wallet process started by hand (`bitcoin-wallet -ipcconnect`) offers
  # its wallet: the node routes RPCs for the wallet's name to it until
  # `handler` is released or the connection ends. `pid` is for logs only.
  registerWallet @11 (wallet :Wallet.Wallet, pid :Int32) -> (handler :Handler);
}

interface ChainNotifications {
  # A block joined (left) the active chain at `height`.
  blockConnected @0 (height :Int32, hash :Data);
  blockDisconnected @1 (height :Int32, hash :Data);
  # The tip moved (after one or more of the above).
  updatedBlockTip @2 (height :Int32, hash :Data);
  transactionAddedToMempool @3 (tx :Data);
  # `reason`: Core's MemPoolRemovalReason name ("block", "conflict", ...).
  transactionRemovedFromMempool @4 (txid :Data, reason :Text);
  # The node flushed its chain state: a good moment to write wallet state.
  chainStateFlushed @5 ();
}

interface Handler {
  # Stops the notifications now (dropping the capability does the same).
  disconnect @0 () -> ();
}
