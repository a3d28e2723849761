//! Our `Wallet` interface (callRpc, getName, unload), the wallet process's
//! real server over a real wallet with coins: `callRpc` runs the wallet's
//! RPC methods with whatever method name and JSON arguments the message
//! holds. Input and invariants: `ipc_harness.rs`; `importdescriptors` with
//! a range is skipped (deriving up to a million scripts takes as long as it
//! is asked to). Canary: `getName` is the wallet's, and after any unload the
//! wallet opens again and follows the node's tip.
#![no_main]

#[path = "ipc_harness.rs"]
mod harness;

use bitcoin_mp::schema::wallet_capnp::wallet;
use capnp::traits::HasTypeId;
use libfuzzer_sys::fuzz_target;

const METHODS: &[&str] = &["callRpc", "getName", "unload", "getSandbox"];

thread_local! {
    static WALLET: wallet::Client = {
        let w = harness::world();
        bitcoin_mp::wallet::process::wallet_client(&w.wallet, &w.log)
    };
}

fn long_by_design(params: &capnp::message::Reader<capnp::serialize::OwnedSegments>) -> bool {
    let Ok(p) = params.get_root::<wallet::call_rpc_params::Reader>() else {
        return false;
    };
    let text = |t: capnp::Result<capnp::text::Reader<'_>>| {
        t.ok()
            .map(|t| String::from_utf8_lossy(t.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    text(p.get_method()).contains("importdescriptors") && text(p.get_params()).contains("range")
}

fuzz_target!(
    init: {
        // The world and the server are built before fuzzing starts, so their
        // set-up (mining 110 blocks) is not timed as an input.
        WALLET.with(|_| ());
    },
    |data: &[u8]| {
    let Some((ordinal, name, params)) = harness::parse(METHODS, data) else {
        return;
    };
    if name == "callRpc" && long_by_design(&params) {
        return;
    }
    let w = harness::world();
    let client = WALLET.with(|c| c.clone());
    w.run(async {
        harness::call(&client.client, wallet::Client::TYPE_ID, ordinal, name, &params, false).await;
        let r = client.get_name_request().send().promise.await.expect("canary");
        assert_eq!(r.get().unwrap().get_name().unwrap().to_str().unwrap(), "fuzz");
        harness::wallet_follows_the_node(w).await;
    });
});
