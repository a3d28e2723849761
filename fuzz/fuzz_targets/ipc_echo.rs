//! Core's `Echo` interface, as our processes serve it (`Init.makeEcho`).
//! Input and invariants: `ipc_harness.rs`; canary: `echo("canary")` answers "canary".
#![no_main]

#[path = "ipc_harness.rs"]
mod harness;

use bitcoin_mp::schema::echo_capnp::echo;
use capnp::traits::HasTypeId;
use libfuzzer_sys::fuzz_target;

const METHODS: &[&str] = &["destroy", "echo"];

thread_local! {
    static ECHO: echo::Client = {
        let w = harness::world();
        w.run(async {
            let init = harness::init_client(w);
            init.make_echo_request().send().promise.await.unwrap().get().unwrap().get_result().unwrap()
        })
    };
}

fuzz_target!(
    init: {
        // The world and the server are built before fuzzing starts, so their
        // set-up (mining 110 blocks) is not timed as an input.
        ECHO.with(|_| ());
    },
    |data: &[u8]| {
    let Some((ordinal, name, params)) = harness::parse(METHODS, data) else {
        return;
    };
    let w = harness::world();
    let client = ECHO.with(|c| c.clone());
    w.run(async {
        harness::call(&client.client, echo::Client::TYPE_ID, ordinal, name, &params, false).await;
        let mut req = client.echo_request();
        req.get().set_echo("canary");
        let r = req.send().promise.await.expect("canary call");
        assert_eq!(r.get().unwrap().get_result().unwrap().to_str().unwrap(), "canary");
    });
});
