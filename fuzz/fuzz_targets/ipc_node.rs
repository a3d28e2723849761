//! Our `Node` interface (what bitcoin-gui asks of the node worker), served
//! over the real chain and RPC methods. Input and invariants:
//! `ipc_harness.rs`. Console commands that run as long as asked by design
//! (`generate*`, `waitfor*`) are skipped, as in `ipc_rpc`. Canary:
//! `getStatus` names the chain's height and the console's `getblockcount`
//! answers it too.
#![no_main]

#[path = "ipc_harness.rs"]
mod harness;

use bitcoin_mp::ipc::init::ProcessInterfaces;
use bitcoin_mp::schema::node_capnp::node;
use capnp::traits::HasTypeId;
use libfuzzer_sys::fuzz_target;

const METHODS: &[&str] = &[
    "getStatus",
    "getPeers",
    "listBanned",
    "executeRpc",
    "listWallets",
    "getWallet",
    "handleNotifications",
    "shutdown",
    "getInfo",
];

thread_local! {
    static NODE: node::Client = {
        let w = harness::world();
        w.node.node(w.log.clone()).expect("the node serves Node")
    };
}

fn long_by_design(params: &capnp::message::Reader<capnp::serialize::OwnedSegments>) -> bool {
    let method = params
        .get_root::<node::execute_rpc_params::Reader>()
        .ok()
        .and_then(|p| p.get_method().ok())
        .map(|t| t.as_bytes().to_ascii_lowercase())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&method);
    text.contains("generate") || text.contains("waitfor")
}

fuzz_target!(
    init: {
        // Built before fuzzing starts, so the set-up is not timed as an input.
        NODE.with(|_| ());
    },
    |data: &[u8]| {
    let Some((ordinal, name, params)) = harness::parse(METHODS, data) else {
        return;
    };
    if name == "executeRpc" && long_by_design(&params) {
        return;
    }
    let w = harness::world();
    let client = NODE.with(|c| c.clone());
    w.run(async {
        harness::call(&client.client, node::Client::TYPE_ID, ordinal, name, &params, false).await;
        let r = client.get_status_request().send().promise.await.expect("canary getStatus");
        assert_eq!(r.get().unwrap().get_status().unwrap().get_blocks(), w.chain.tip().height);
        let mut req = client.execute_rpc_request();
        req.get().set_method("getblockcount");
        let r = req.send().promise.await.expect("canary executeRpc");
        let r = r.get().unwrap();
        assert!(!r.get_failed());
        let count: i32 = r.get_result().unwrap().to_str().unwrap().parse().unwrap();
        assert_eq!(count, w.chain.tip().height);
    });
});
