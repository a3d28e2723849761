//! Core's `BlockTemplate` interface: one template made by the real
//! `Mining.createNewBlock`, then arbitrary calls on it. Input and
//! invariants: `ipc_harness.rs` (waitNext may wait by design). Canary: the
//! template's header is 80 bytes and builds on a block the node knows.
#![no_main]

#[path = "ipc_harness.rs"]
mod harness;

use bitcoin_mp::ipc::init::ProcessInterfaces;
use bitcoin_mp::schema::mining_capnp::block_template;
use capnp::traits::HasTypeId;
use libfuzzer_sys::fuzz_target;

const METHODS: &[&str] = &[
    "destroy",
    "getBlockHeader",
    "getBlock",
    "getTxFees",
    "getTxSigops",
    "getCoinbaseTx",
    "getCoinbaseMerklePath",
    "submitSolution",
    "waitNext",
    "interruptWait",
];

thread_local! {
    static TEMPLATE: block_template::Client = {
        let w = harness::world();
        let mining = w.node.mining(w.log.clone()).expect("the node serves Mining");
        w.run(async {
            let mut req = mining.create_new_block_request();
            req.get().set_cooldown(false);
            let r = req.send().promise.await.expect("createNewBlock");
            r.get().unwrap().get_result().unwrap()
        })
    };
}

fuzz_target!(
    init: {
        // The world and the server are built before fuzzing starts, so their
        // set-up (mining 110 blocks) is not timed as an input.
        TEMPLATE.with(|_| ());
    },
    |data: &[u8]| {
    let Some((ordinal, name, params)) = harness::parse(METHODS, data) else {
        return;
    };
    let w = harness::world();
    let client = TEMPLATE.with(|c| c.clone());
    w.run(async {
        let wait = name == "waitNext";
        harness::call(&client.client, block_template::Client::TYPE_ID, ordinal, name, &params, wait).await;
        let r = client.get_block_header_request().send().promise.await.expect("canary");
        let header = r.get().unwrap().get_result().unwrap();
        assert_eq!(header.len(), 80);
        let prev: [u8; 32] = header[4..36].try_into().unwrap();
        let prev = <bitcoin::BlockHash as bitcoin::hashes::Hash>::from_byte_array(prev);
        assert!(w.chain.block_info(&prev).is_some(), "the template builds on a known block");
    });
});
