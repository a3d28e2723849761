//! Our `WalletLoader` interface (createWallet, loadWallet), the wallet
//! process's real server. Input and invariants: `ipc_harness.rs`. Canary:
//! the process's one wallet stays loaded (or opens again) and follows the
//! node's tip.
#![no_main]

#[path = "ipc_harness.rs"]
mod harness;

use bitcoin_mp::ipc::init::ProcessInterfaces;
use bitcoin_mp::schema::wallet_capnp::wallet_loader;
use capnp::traits::HasTypeId;
use libfuzzer_sys::fuzz_target;

const METHODS: &[&str] = &["createWallet", "loadWallet"];

thread_local! {
    static LOADER: wallet_loader::Client = {
        let w = harness::world();
        bitcoin_mp::wallet::process::WalletInterfaces(w.wallet.clone())
            .wallet_loader(w.log.clone(), w.chain_client())
            .expect("a wallet process serves WalletLoader")
    };
}

fuzz_target!(
    init: {
        // The world and the server are built before fuzzing starts, so their
        // set-up (mining 110 blocks) is not timed as an input.
        LOADER.with(|_| ());
    },
    |data: &[u8]| {
    let Some((ordinal, name, params)) = harness::parse(METHODS, data) else {
        return;
    };
    let w = harness::world();
    let client = LOADER.with(|c| c.clone());
    w.run(async {
        harness::call(&client.client, wallet_loader::Client::TYPE_ID, ordinal, name, &params, false).await;
        harness::wallet_follows_the_node(w).await;
    });
});
