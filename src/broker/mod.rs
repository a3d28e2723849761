//! broker/: the process the user starts as `bitcoin-node`. Owns the datadir and its
//! lock, spawns and supervises children, accepts `-ipcbind` connections and hands
//! them on, writes debug.log. Never parses untrusted network data.

pub mod backups;
pub mod channel;
pub mod client;
pub mod connect;
pub mod files;
pub mod listen;
pub mod lock;
pub mod node_main;
pub mod p2p_bind;
pub mod rpc_bind;
pub mod supervise;
