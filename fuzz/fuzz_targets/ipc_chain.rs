//! Our `Chain` interface (what a wallet process may ask of the node), the
//! node worker's real server over the real chain and mempool. Input and
//! invariants: `ipc_harness.rs`. Canary: `getTip` names the chain's tip.
#![no_main]

#[path = "ipc_harness.rs"]
mod harness;

use bitcoin_mp::schema::chain_capnp::chain;
use capnp::traits::HasTypeId;
use libfuzzer_sys::fuzz_target;

const METHODS: &[&str] = &[
    "getTip",
    "getBlockHash",
    "getBlock",
    "findBlock",
    "findFirstBlockWithTime",
    "broadcastTransaction",
    "testMempoolAccept",
    "feeRates",
    "mempoolTransactions",
    "handleNotifications",
    "isInMempool",
    "registerWallet",
];

thread_local! {
    static CHAIN: chain::Client = harness::world().chain_client();
}

fuzz_target!(
    init: {
        // The world and the server are built before fuzzing starts, so their
        // set-up (mining 110 blocks) is not timed as an input.
        CHAIN.with(|_| ());
    },
    |data: &[u8]| {
    let Some((ordinal, name, params)) = harness::parse(METHODS, data) else {
        return;
    };
    let w = harness::world();
    let client = CHAIN.with(|c| c.clone());
    w.run(async {
        harness::call(&client.client, chain::Client::TYPE_ID, ordinal, name, &params, false).await;
        let r = client.get_tip_request().send().promise.await.expect("canary");
        let r = r.get().unwrap();
        let tip = w.chain.tip();
        assert_eq!(r.get_height(), tip.height);
        assert_eq!(r.get_hash().unwrap(), <bitcoin::BlockHash as bitcoin::hashes::Hash>::as_byte_array(&tip.hash));
    });
});
