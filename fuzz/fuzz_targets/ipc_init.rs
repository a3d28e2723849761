//! The node worker's `Init` (Core's ordinals plus ours): construct,
//! makeEcho, makeMining, makeRpc, makeWalletLoader, makeChain.
//! Input and invariants: `ipc_harness.rs`; canary: makeEcho, then an echo round trip.
#![no_main]

#[path = "ipc_harness.rs"]
mod harness;

use bitcoin_mp::schema::init_capnp::init;
use capnp::traits::HasTypeId;
use libfuzzer_sys::fuzz_target;

const METHODS: &[&str] = &[
    "construct",
    "makeEcho",
    "makeMiningOld2",
    "makeMining",
    "makeRpc",
    "makeWalletLoader",
    "makeChain",
];

thread_local! {
    static INIT: init::Client = harness::init_client(harness::world());
}

fuzz_target!(
    init: {
        // The world and the server are built before fuzzing starts, so their
        // set-up (mining 110 blocks) is not timed as an input.
        INIT.with(|_| ());
    },
    |data: &[u8]| {
    let Some((ordinal, name, params)) = harness::parse(METHODS, data) else {
        return;
    };
    let w = harness::world();
    let client = INIT.with(|c| c.clone());
    w.run(async {
        harness::call(&client.client, init::Client::TYPE_ID, ordinal, name, &params, false).await;
        let echo = client.make_echo_request().send().promise.await.expect("canary makeEcho");
        let echo = echo.get().unwrap().get_result().unwrap();
        let mut req = echo.echo_request();
        req.get().set_echo("canary");
        let r = req.send().promise.await.expect("canary echo");
        assert_eq!(r.get().unwrap().get_result().unwrap().to_str().unwrap(), "canary");
    });
});
