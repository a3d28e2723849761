//! Core's logging categories (the names `-debug=` accepts), in Core's order.

/// Every category name Core's `-debug` accepts, besides `all`/`1` and `none`/`0`.
pub const CATEGORIES: &[&str] = &[
    "net",
    "tor",
    "mempool",
    "http",
    "bench",
    "zmq",
    "walletdb",
    "rpc",
    "estimatefee",
    "addrman",
    "selectcoins",
    "reindex",
    "cmpctblock",
    "rand",
    "prune",
    "proxy",
    "mempoolrej",
    "coindb",
    "qt",
    "leveldb",
    "validation",
    "i2p",
    "ipc",
    "lock",
    "blockstorage",
    "txreconciliation",
    "scan",
    "txpackages",
    "kernel",
    "privatebroadcast",
];

/// True for a Core category name.
pub fn is_category(name: &str) -> bool {
    CATEGORIES.contains(&name)
}
