//! Multiprocess Bitcoin: `bitcoin-node` (the broker and its sandboxed node worker),
//! `bitcoin-wallet` and `bitcoin-gui`, talking Cap'n Proto over socket pairs.
//! The binaries in `src/bin/` are thin; everything lives in these modules.

pub mod broker;
pub mod chain;
pub mod cli;
pub mod config;
#[cfg(feature = "gui")]
pub mod gui;
pub mod ipc;
pub mod logging;
pub mod mempool;
pub mod net;
pub mod node;
pub mod rpc;
pub mod sandbox;
pub mod schema;
pub mod script;
pub mod wallet;

/// A single-threaded runtime with I/O and timers, for unit tests.
#[cfg(test)]
pub(crate) fn test_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("test runtime")
}
