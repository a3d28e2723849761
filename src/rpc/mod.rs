//! rpc/: Bitcoin Core's JSON-RPC over HTTP, independent of what the methods
//! do: the wire protocol (`protocol`: JSON-RPC 1.0/2.0 replies, batches,
//! named arguments, Core's error codes), one request body executed the same
//! way for HTTP and IPC (`exec`), authentication (`auth`: cookie,
//! -rpcuser/-rpcpassword, -rpcauth), who may call what (`whitelist`:
//! -rpcwhitelist), the HTTP server (`http`), Core's way of writing numbers
//! (`json`) and of reading amounts (`amount`).

pub mod amount;
pub mod auth;
pub mod exec;
pub mod http;
pub mod json;
pub mod protocol;
pub mod whitelist;

pub use protocol::{Params, Request, RpcError};
