//! rpc/: Bitcoin Core's JSON-RPC over HTTP, independent of what the methods
//! do: the wire protocol (`protocol`: JSON-RPC 1.0/2.0 replies, batches,
//! named arguments, Core's error codes), authentication (`auth`: cookie,
//! -rpcuser/-rpcpassword, -rpcauth), the HTTP server (`http`), Core's way
//! of writing numbers (`json`) and of reading amounts (`amount`).

pub mod amount;
pub mod auth;
pub mod http;
pub mod json;
pub mod protocol;

pub use protocol::{Params, Request, RpcError};
