//! Cap'n Proto RPC over one unix stream: the decoding limits every reader uses
//! and the two ways to run a connection (serve a bootstrap capability, or call
//! one). Must run on a tokio `LocalSet`: capnp-rpc is single-threaded.

use std::os::fd::OwnedFd;

use capnp::message::ReaderOptions;
use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::{twoparty, RpcSystem};

use tokio::net::UnixStream;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use crate::schema::init_capnp::init;

/// Decoding limits for connections that carry `Init` and the interfaces it hands out.
///
/// The traversal limit bounds the words one message may make us read (and is
/// checked against the segment table before anything is allocated): 8 Mi words
/// (64 MiB) leaves room for a full 4 MB block plus its encoding in one message,
/// and refuses anything larger. Nesting 64 is deeper than any of our schemas.
pub fn init_reader_options() -> ReaderOptions {
    let mut opts = ReaderOptions::new();
    opts.traversal_limit_in_words(Some(8 * 1024 * 1024))
        .nesting_limit(64);
    opts
}

/// Turns an owned, connected unix stream socket into a tokio stream.
pub fn stream_from_fd(fd: OwnedFd) -> std::io::Result<UnixStream> {
    let std_stream = std::os::unix::net::UnixStream::from(fd);
    std_stream.set_nonblocking(true)?;
    UnixStream::from_std(std_stream)
}

fn network(
    stream: UnixStream,
    side: Side,
) -> twoparty::VatNetwork<tokio_util::compat::Compat<tokio::net::unix::OwnedReadHalf>> {
    let (read, write) = stream.into_split();
    twoparty::VatNetwork::new(
        read.compat(),
        write.compat_write(),
        side,
        init_reader_options(),
    )
}

/// Serves `bootstrap` on `stream` until the peer goes away. Returns `Ok` on a
/// clean disconnect and the decoding or transport error otherwise; either way
/// only this connection ends.
pub async fn serve(
    stream: UnixStream,
    bootstrap: capnp::capability::Client,
) -> Result<(), capnp::Error> {
    let rpc = RpcSystem::new(Box::new(network(stream, Side::Server)), Some(bootstrap));
    match rpc.await {
        Err(e) if e.kind == capnp::ErrorKind::Disconnected => Ok(()),
        other => other,
    }
}

/// Connects to the `Init` served on `stream`. The returned RPC system must be
/// driven (spawned on the local set) for calls to make progress; it finishes
/// when the connection ends.
pub fn connect_init(stream: UnixStream) -> (init::Client, RpcSystem<Side>) {
    let mut rpc = RpcSystem::new(Box::new(network(stream, Side::Client)), None);
    let client: init::Client = rpc.bootstrap(Side::Server);
    (client, rpc)
}
