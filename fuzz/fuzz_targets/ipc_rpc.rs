//! Core's `Rpc` interface (`Rpc.executeRpc`: a JSON-RPC request as text),
//! served by the node worker with the node's real RPC methods.
//! Input and invariants: `ipc_harness.rs`. Requests for methods that run
//! as long as asked by design (`generate*`, `waitfor*`) are skipped so that
//! a long mining run is not taken for a hang. Canary: `getblockcount`
//! answers the chain's height.
#![no_main]

#[path = "ipc_harness.rs"]
mod harness;

use bitcoin_mp::ipc::init::ProcessInterfaces;
use bitcoin_mp::schema::rpc_capnp::rpc;
use capnp::traits::HasTypeId;
use libfuzzer_sys::fuzz_target;

const METHODS: &[&str] = &["executeRpc"];

thread_local! {
    static RPC: rpc::Client = {
        let w = harness::world();
        w.node.rpc(w.log.clone()).expect("the node serves Rpc")
    };
}

fn long_by_design(params: &capnp::message::Reader<capnp::serialize::OwnedSegments>) -> bool {
    let request = params
        .get_root::<rpc::execute_rpc_params::Reader>()
        .ok()
        .and_then(|p| p.get_request().ok())
        .map(|t| t.as_bytes().to_ascii_lowercase())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&request);
    text.contains("generate") || text.contains("waitfor")
}

fuzz_target!(
    init: {
        // The world and the server are built before fuzzing starts, so their
        // set-up (mining 110 blocks) is not timed as an input.
        RPC.with(|_| ());
    },
    |data: &[u8]| {
    let Some((ordinal, name, params)) = harness::parse(METHODS, data) else {
        return;
    };
    if long_by_design(&params) {
        return;
    }
    let w = harness::world();
    let client = RPC.with(|c| c.clone());
    w.run(async {
        harness::call(&client.client, rpc::Client::TYPE_ID, ordinal, name, &params, false).await;
        let mut req = client.execute_rpc_request();
        req.get()
            .set_request(r#"{"jsonrpc":"2.0","id":1,"method":"getblockcount","params":[]}"#);
        let r = req.send().promise.await.expect("canary call");
        let text = r.get().unwrap().get_result().unwrap().to_string().unwrap();
        let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(reply["result"], w.chain.tip().height, "{text}");
    });
});
