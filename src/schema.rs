//! Generated Cap'n Proto code for `schema/*.capnp` (built into `OUT_DIR` by `build.rs`).

capnp::generated_code!(pub mod proxy_capnp);
capnp::generated_code!(pub mod init_capnp);
capnp::generated_code!(pub mod echo_capnp);
capnp::generated_code!(pub mod common_capnp);
capnp::generated_code!(pub mod mining_capnp);
capnp::generated_code!(pub mod rpc_capnp);
capnp::generated_code!(pub mod broker_capnp);
capnp::generated_code!(pub mod chain_capnp);
capnp::generated_code!(pub mod wallet_capnp);
capnp::generated_code!(pub mod node_capnp);
capnp::generated_code!(pub mod sandbox_capnp);
