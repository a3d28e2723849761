//! node/mempool_file: `<datadir>/<chain>/mempool.dat` for the sandboxed
//! worker. The worker's Landlock rules do not reach the network directory
//! itself, so both directions go through the broker: the file is read from
//! an fd the broker opens, and written as `mempool.dat.new` (fsynced) that
//! the broker then renames over `mempool.dat`, so a crash leaves either the
//! old file or the new one, never half of one.

use std::sync::Arc;

use crate::broker::client::BrokerClient;
use crate::chain::Chain;
use crate::mempool::{persist, ImportOptions, Mempool};

/// The file's name in the network directory.
pub const FILE: &str = "mempool.dat";

/// Why the mempool could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum MempoolFileError {
    #[error("broker: {0}")]
    Broker(#[from] crate::broker::client::BrokerError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Core's LoadMempool at start-up; marks the mempool loaded either way.
pub async fn load(broker: &BrokerClient, chain: &Arc<Chain>, mempool: &Arc<Mempool>) {
    let _ = import(broker, chain, mempool, FILE, ImportOptions::STARTUP).await;
    mempool.set_loaded();
}

/// Core's LoadMempool on file `name` in the network directory (opened by
/// the broker); false when it could not be read.
pub async fn import(
    broker: &BrokerClient,
    chain: &Arc<Chain>,
    mempool: &Arc<Mempool>,
    name: &str,
    opts: ImportOptions,
) -> bool {
    let bytes = match broker.read_file(name).await {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            tracing::info!("Failed to open mempool file. Continuing anyway.");
            None
        }
    };
    let dump = match bytes.map(|b| persist::decode(&b)) {
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            tracing::info!("Failed to deserialize mempool data on file: {e}. Continuing anyway.");
            return false;
        }
        None => return false,
    };
    tracing::info!(
        "Loading {} mempool transactions from file...",
        dump.txs.len()
    );
    let unbroadcast = dump.unbroadcast.len();
    let (chain, pool) = (chain.clone(), mempool.clone());
    match tokio::task::spawn_blocking(move || pool.load(&chain, dump, opts)).await {
        Ok((ok, failed, expired)) => {
            tracing::info!(
                "Imported mempool transactions from file: {ok} succeeded, {failed} failed, {expired} expired, 0 already there, {unbroadcast} waiting for initial broadcast"
            );
            true
        }
        Err(e) => {
            tracing::warn!("Loading the mempool failed: {e}");
            false
        }
    }
}

/// Core's DumpMempool: writes the whole mempool atomically.
pub async fn save(broker: &BrokerClient, mempool: &Mempool) -> Result<(), MempoolFileError> {
    let dump = mempool.dump();
    let mut key = [0u8; 8];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    let bytes = persist::encode(&dump, key);
    broker.replace_file(FILE, &bytes).await?;
    tracing::info!(
        "Dumped mempool: {} transactions, {} unbroadcast, {} bytes",
        dump.txs.len(),
        dump.unbroadcast.len(),
        bytes.len()
    );
    Ok(())
}
