# WalletLoader and Wallet: what the node (and later the GUI) asks of a wallet
# process. One process holds exactly one wallet, whose name the broker gave it
# at start (its sandbox is that wallet's directory only). Our own interfaces.
@0xa486492d19ecbc06;

using Sandbox = import "sandbox.capnp";

interface WalletLoader {
  # Creates the process's wallet (Core's createwallet options).
  createWallet @0 (name :Text, options :CreateOptions) -> (wallet :Wallet, warnings :List(Text));
  # Opens the process's existing wallet.
  loadWallet @1 (name :Text) -> (wallet :Wallet, warnings :List(Text));
}

struct CreateOptions {
  disablePrivateKeys @0 :Bool;
  blank @1 :Bool;
  passphrase @2 :Text;
  # Never logged; empty: not encrypted.
  avoidReuse @3 :Bool;
  loadOnStartup @4 :Bool;
}

interface Wallet {
  # One wallet RPC: `method` with its arguments as a JSON array (positional,
  # checked by the node against the method's signature). On failure, `code`
  # and `message` are Core's RPC error; `result` is JSON text otherwise.
  # The debug log shows sizes only: arguments may carry passphrases.
  callRpc @0 (method :Text, params :Text) -> (result :Text, code :Int32, message :Text, failed :Bool);
  # The wallet's name.
  getName @1 () -> (name :Text);
  # Writes everything and closes the database; the process then exits.
  unload @2 () -> ();
  # The sandbox in force in the wallet's process (for the GUI's information page).
  getSandbox @3 () -> (status :Sandbox.Status);
}
