//! `bitcoin-wallet -ipcconnect=unix[:PATH] -wallet=NAME`: a wallet process
//! started by hand. It attaches to a running node's `-ipcbind` socket, enters
//! the wallet sandbox (its own wallet directory only, no network), opens its
//! one wallet with the node's `Chain` (`Init.makeChain`) and registers it
//! (`Chain.registerWallet`), so the node routes the wallet's RPCs here. It
//! runs until the node unloads the wallet or closes the connection, or until
//! SIGINT/SIGTERM; the wallet is written before it exits.

use tokio::signal::unix::{signal, SignalKind};

use super::options::WalletOptions;
use super::process::{wallet_client, WalletProcess};
use crate::cli::fail;
use crate::config::Config;
use crate::ipc::client::{attach, connect_address, Attached};
use crate::logged_call;
use crate::sandbox;

/// Why an attached wallet could not start.
#[derive(Debug, thiserror::Error)]
pub enum AttachedError {
    #[error("bitcoin-wallet -ipcconnect needs -wallet=NAME, the one wallet this process serves")]
    NoWallet,
    #[error("bitcoin-wallet -ipcconnect serves one wallet; start one process per -wallet")]
    SeveralWallets,
    #[error("{0}")]
    Name(String),
    /// No wallet under the name (the offline tool's `create` makes one).
    #[error("{0} (Create it with `bitcoin-wallet -wallet=NAME create`.)")]
    Missing(String),
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Address(#[from] crate::ipc::address::AddressError),
    #[error(transparent)]
    Attach(#[from] crate::ipc::client::AttachError),
    #[error("sandbox: {0}")]
    Sandbox(#[from] sandbox::SandboxError),
    #[error("cannot handle SIGINT/SIGTERM: {0}")]
    Signals(std::io::Error),
    #[error("the node refused: {0}")]
    Node(String),
    #[error("{0}")]
    Open(String),
}

/// Runs the attached wallet; returns the exit code.
pub fn run(config: &Config) -> i32 {
    let (name, dir, options, value) = match prepare(config) {
        Ok(p) => p,
        Err(e) => return fail(&e.to_string()),
    };
    crate::cli::run_local(async move {
        match serve(config, name, dir, options, &value).await {
            Ok(()) => 0,
            Err(e) => fail(&e.to_string()),
        }
    })
}

type Prepared = (String, std::path::PathBuf, WalletOptions, String);

/// Checks the options before anything connects.
fn prepare(config: &Config) -> Result<Prepared, AttachedError> {
    let name = match config.get_all("wallet").as_slice() {
        [] => return Err(AttachedError::NoWallet),
        [one] => one.clone(),
        _ => return Err(AttachedError::SeveralWallets),
    };
    super::name::check(&name).map_err(AttachedError::Name)?;
    let wallets = config.net_dir().join("wallets");
    super::name::find_dir(&wallets, &name).map_err(AttachedError::Missing)?;
    let dir = wallets.join(&name);
    let options = WalletOptions::from_config(config).map_err(AttachedError::Options)?;
    Ok((
        name,
        dir,
        options,
        config.get("ipcconnect").unwrap_or_default(),
    ))
}

async fn serve(
    config: &Config,
    name: String,
    dir: std::path::PathBuf,
    options: WalletOptions,
    value: &str,
) -> Result<(), AttachedError> {
    let address = connect_address(value, &config.net_dir())?;
    // Signal handlers first: the sandbox allows no new ones.
    let mut int = signal(SignalKind::interrupt()).map_err(AttachedError::Signals)?;
    let mut term = signal(SignalKind::terminate()).map_err(AttachedError::Signals)?;
    let Attached { init, log, rpc } = attach(&address, "bitcoin-wallet").await?;
    let (ended_tx, mut ended) = tokio::sync::oneshot::channel();
    tokio::task::spawn_local(async move {
        let _ = ended_tx.send(rpc.await);
    });
    // Connected: from here on the process needs nothing beyond its own
    // wallet directory and the socket it holds.
    let mode = sandbox::Mode::from_option(&config.get("sandbox").unwrap_or_else(|| "auto".into()))?;
    let paths = sandbox::Paths {
        datadir: config.datadir().to_path_buf(),
        net_dir: config.net_dir(),
        wallet_dir: Some(dir.clone()),
        blocks_dir: None,
    };
    let report = sandbox::apply(sandbox::Role::Wallet, mode, &paths, None)?;
    for line in report.log_lines() {
        tracing::info!("bitcoin-wallet: {line}");
    }
    if mode == sandbox::Mode::Off {
        tracing::warn!("bitcoin-wallet: SANDBOX DISABLED (-sandbox=off): this process runs with every right its user has");
    }
    let node_error = |e: capnp::Error| AttachedError::Node(e.to_string());
    let chain = logged_call!(log, "Init.makeChain", init.make_chain_request())
        .and_then(|r| r.get()?.get_result())
        .map_err(node_error)?;
    let process = WalletProcess::new(name.clone(), dir, config.chain().network(), options);
    process.set_chain(chain.clone(), log.clone());
    process
        .open_existing()
        .await
        .map_err(|e| AttachedError::Open(e.message))?;
    let mut req = chain.register_wallet_request();
    req.get().set_wallet(wallet_client(&process, &log));
    req.get().set_pid(std::process::id() as i32);
    let registration = logged_call!(log, "Chain.registerWallet", req)
        .and_then(|r| r.get()?.get_handler())
        .map_err(node_error);
    let registration = match registration {
        Ok(r) => r,
        Err(e) => {
            process.close();
            return Err(e);
        }
    };
    tracing::info!(
        "Wallet \"{name}\" attached to bitcoin-node at {address}; its RPCs are served here"
    );
    tokio::select! {
        _ = process.unloaded.notified() => tracing::info!("Wallet \"{name}\" unloaded by the node; stopping"),
        r = &mut ended => match r {
            Ok(Ok(())) => tracing::info!("bitcoin-node closed the connection; stopping"),
            Ok(Err(e)) => tracing::info!("connection to bitcoin-node ended ({e}); stopping"),
            Err(_) => tracing::info!("connection to bitcoin-node ended; stopping"),
        },
        _ = int.recv() => tracing::info!("SIGINT; detaching from bitcoin-node"),
        _ = term.recv() => tracing::info!("SIGTERM; detaching from bitcoin-node"),
    }
    drop(registration);
    process.close();
    Ok(())
}
