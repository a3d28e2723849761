//! ipc/: Cap'n Proto connections between processes: spawning children with
//! `-ipcfd`, `-ipcbind`/`-ipcconnect` addresses, `Init`/`Echo` servers, decoding
//! limits and `-debug=ipc` logging. Never decides sandbox or broker policy.

pub mod address;
pub mod child;
pub mod client;
pub mod connection;
pub mod debug;
pub mod init;
pub mod spawn;
