//! node/: the sandboxed node worker. Serves `Init` on the connections the broker
//! hands it. Never opens listening sockets or spawns processes itself: wallets
//! are started by the broker on its request.

use std::rc::Rc;

use crate::broker::client::BrokerClient;
use crate::ipc::child;
use crate::ipc::client::{handshake, Link};
use crate::ipc::connection::stream_from_fd;
use crate::ipc::debug::{CallLog, Peer};
use crate::ipc::spawn::ChildRole;

/// Entry point of `bitcoin-node -ipcrole=worker ...` (argv without argv[0]).
pub fn worker_main(args: &[String]) -> i32 {
    child::run(ChildRole::NodeWorker, args, |broker, config| async move {
        let _wallet = if config.get_bool("disablewallet", false) {
            None
        } else {
            start_wallet(broker).await
        };
        // Hold the wallet link until the worker stops.
        std::future::pending::<()>().await;
    })
}

/// Asks the broker for a wallet process and checks it answers over IPC.
async fn start_wallet(broker: Rc<BrokerClient>) -> Option<Link> {
    let (pid, fd) = match broker.spawn_wallet("").await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("Wallet process not started: {e}");
            return None;
        }
    };
    let stream = match stream_from_fd(fd) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("Wallet process (pid {pid}): {e}");
            return None;
        }
    };
    let wallet = Link::open(stream, move |result| match result {
        Ok(()) => tracing::info!("Wallet process (pid {pid}) closed its IPC connection"),
        Err(e) => tracing::warn!("Wallet process (pid {pid}) IPC connection: {e}"),
    });
    let log = CallLog::new(Peer {
        name: "bitcoin-wallet".into(),
        pid,
    });
    match handshake(
        &wallet.init,
        &log,
        "bitcoin-node",
        "node-wallet-client",
        "wallet",
    )
    .await
    {
        Ok(()) => {
            tracing::info!("Connected to wallet process (pid {pid}) over IPC");
            Some(wallet)
        }
        Err(e) => {
            tracing::warn!("Wallet process (pid {pid}) failed the IPC handshake: {e}");
            None
        }
    }
}
