//! Core's `Mining` interface, served by the node worker over the real chain
//! and mempool. Input and invariants: `ipc_harness.rs` (waitTipChanged and
//! createNewBlock may wait by design). Canary: `isTestChain` is true and
//! `getTip` names the chain's tip.
#![no_main]

#[path = "ipc_harness.rs"]
mod harness;

use bitcoin_mp::ipc::init::ProcessInterfaces;
use bitcoin_mp::schema::mining_capnp::mining;
use capnp::traits::HasTypeId;
use libfuzzer_sys::fuzz_target;

const METHODS: &[&str] = &[
    "isTestChain",
    "isInitialBlockDownload",
    "getTip",
    "waitTipChanged",
    "createNewBlock",
    "checkBlock",
    "interrupt",
    "submitBlock",
    "getTransactionsByTxID",
    "getTransactionsByWitnessID",
];
const MAY_WAIT: &[&str] = &["waitTipChanged", "createNewBlock"];

thread_local! {
    static MINING: mining::Client = {
        let w = harness::world();
        w.node.mining(w.log.clone()).expect("the node serves Mining")
    };
}

fuzz_target!(
    init: {
        // The world and the server are built before fuzzing starts, so their
        // set-up (mining 110 blocks) is not timed as an input.
        MINING.with(|_| ());
    },
    |data: &[u8]| {
    let Some((ordinal, name, params)) = harness::parse(METHODS, data) else {
        return;
    };
    let w = harness::world();
    let client = MINING.with(|c| c.clone());
    w.run(async {
        let wait = MAY_WAIT.contains(&name);
        harness::call(&client.client, mining::Client::TYPE_ID, ordinal, name, &params, wait).await;
        let r = client.is_test_chain_request().send().promise.await.expect("canary");
        assert!(r.get().unwrap().get_result());
        let r = client.get_tip_request().send().promise.await.expect("canary getTip");
        let tip = r.get().unwrap().get_result().unwrap();
        assert_eq!(tip.get_height(), w.chain.tip().height);
    });
});
