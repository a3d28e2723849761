//! node/: the sandboxed node worker. Serves `Init` on the connections the broker
//! hands it. Never opens listening sockets or spawns processes itself: wallets
//! are started by the broker on its request.

use std::rc::Rc;

use crate::broker::client::BrokerClient;
use crate::config::Config;
use crate::ipc::child;
use crate::ipc::client::{construct, echo_check, make_thread};
use crate::ipc::connection::{connect_init, stream_from_fd};
use crate::ipc::debug::{CallLog, Peer};
use crate::ipc::spawn::ChildRole;

/// Entry point of `bitcoin-node -ipcrole=worker ...` (argv without argv[0]).
pub fn worker_main(args: &[String]) -> i32 {
    child::run(ChildRole::NodeWorker, args, |broker, config| async move {
        let _wallet = if config.get_bool("disablewallet", false) {
            None
        } else {
            start_wallet(broker, &config).await
        };
        // Hold the wallet link until the worker stops.
        std::future::pending::<()>().await;
    })
}

/// The node's link to one wallet process; dropping it closes the connection.
struct WalletLink {
    _init: crate::schema::init_capnp::init::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WalletLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Asks the broker for a wallet process and checks it answers over IPC.
async fn start_wallet(broker: Rc<BrokerClient>, _config: &Config) -> Option<WalletLink> {
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
    let (init, rpc) = connect_init(stream);
    let link = tokio::task::spawn_local(async move {
        match rpc.await {
            Ok(()) => tracing::info!("Wallet process (pid {pid}) closed its IPC connection"),
            Err(e) => tracing::warn!("Wallet process (pid {pid}) IPC connection: {e}"),
        }
    });
    let log = CallLog::new(Peer {
        name: "bitcoin-wallet".into(),
        pid,
    });
    let handshake = async {
        let map = construct(&init, &log, "bitcoin-node").await?;
        let thread = make_thread(&map, &log, "node-wallet-client").await?;
        echo_check(&init, &log, &thread, "wallet").await
    };
    let result = handshake.await;
    let wallet = WalletLink {
        _init: init,
        task: link,
    };
    match result {
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
