//! Our `ChainNotifications` interface, served by a wallet process to the
//! node: arbitrary notifications to the real wallet. Input and invariants:
//! `ipc_harness.rs`. Canary: whatever it was told, the wallet's next RPC
//! brings it to the node's real tip (`getwalletinfo.lastprocessedblock`).
#![no_main]

#[path = "ipc_harness.rs"]
mod harness;

use bitcoin_mp::schema::chain_capnp::chain_notifications;
use capnp::traits::HasTypeId;
use libfuzzer_sys::fuzz_target;

const METHODS: &[&str] = &[
    "blockConnected",
    "blockDisconnected",
    "updatedBlockTip",
    "transactionAddedToMempool",
    "transactionRemovedFromMempool",
    "chainStateFlushed",
];

thread_local! {
    static NOTIFY: chain_notifications::Client =
        bitcoin_mp::wallet::process::notifications_client(&harness::world().wallet);
}

fuzz_target!(
    init: {
        // The world and the server are built before fuzzing starts, so their
        // set-up (mining 110 blocks) is not timed as an input.
        NOTIFY.with(|_| ());
    },
    |data: &[u8]| {
    let Some((ordinal, name, params)) = harness::parse(METHODS, data) else {
        return;
    };
    let w = harness::world();
    let client = NOTIFY.with(|c| c.clone());
    w.run(async {
        harness::call(&client.client, chain_notifications::Client::TYPE_ID, ordinal, name, &params, false).await;
        harness::wallet_follows_the_node(w).await;
    });
});
