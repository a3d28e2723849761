//! node/peers_file: `<datadir>/<chain>/peers.dat` for the sandboxed worker,
//! as Core's LoadAddrman: read through the broker at start-up; a missing
//! file is created empty; a file of a newer, incompatible format is moved
//! aside to `peers.dat.bak` and started afresh; any other damage stops the
//! node with Core's message, so that nothing overwrites what the operator
//! may want to look at. Writes go through the broker's crash-safe replace
//! (`Net::save_peers`).

use crate::broker::client::BrokerClient;
use crate::config::Config;
use crate::net::addrman::{self, AddrMan, AddrManError};
use crate::net::addrs::Learned;
use crate::net::{ANCHORS_DAT, PEERS_DAT};

/// Where Core's message tells users to report a damaged file.
const BUG_REPORT: &str = "https://github.com/bitcoin/bitcoin/issues";

/// Core's LoadAddrman. `-test=addrman` makes the tables deterministic and
/// `-checkaddrman=<n>` checks them every n changes.
pub async fn load(broker: &BrokerClient, config: &Config) -> Result<AddrMan, String> {
    let deterministic = config.get_all("test").iter().any(|t| t == "addrman");
    let check = config.get_int("checkaddrman", 0).clamp(0, 1_000_000) as u32;
    let magic = config.chain().network().magic().to_bytes();
    let path = config.net_dir().join(PEERS_DAT);
    let quoted = format!("\"{}\"", path.display());
    let fresh = || AddrMan::new(deterministic, check);
    let start = std::time::Instant::now();
    let bytes = match broker.read_file(PEERS_DAT).await {
        Ok(b) => b,
        Err(_) => {
            tracing::info!("Creating peers.dat because the file was not found ({quoted})");
            let m = fresh();
            save(broker, &m, magic).await;
            return Ok(m);
        }
    };
    match AddrMan::from_file(&bytes, magic, deterministic, check) {
        Ok(m) => {
            tracing::info!(
                "Loaded {} addresses from peers.dat  {}ms",
                m.size(None, None),
                start.elapsed().as_millis()
            );
            Ok(m)
        }
        Err(AddrManError::Version { .. }) => {
            let bak = format!("{PEERS_DAT}.bak");
            if broker.rename_file(PEERS_DAT, &bak).await.is_err() {
                return Err("Failed to rename invalid peers.dat file. Please move or delete it and try again.".into());
            }
            tracing::warn!("Creating new peers.dat because the file version was not compatible ({quoted}). Original backed up to peers.dat.bak");
            let m = fresh();
            save(broker, &m, magic).await;
            Ok(m)
        }
        Err(e) => Err(format!(
            "Invalid or corrupt peers.dat ({e}). If you believe this is a bug, please report it to {BUG_REPORT}. As a workaround, you can move the file ({quoted}) out of the way (rename, move, or delete) to have a new one created on the next start."
        )),
    }
}

/// Core's ReadAnchors: the block-relay-only peers of the last clean
/// shutdown (two at most), from anchors.dat, which is then deleted so that
/// a crash never brings the same anchors back. A damaged file gives none.
pub async fn load_anchors(broker: &BrokerClient, config: &Config) -> Vec<Learned> {
    let magic = config.chain().network().magic().to_bytes();
    let Ok(bytes) = broker.read_file(ANCHORS_DAT).await else {
        tracing::info!("0 block-relay-only anchors will be tried for connections.");
        return Vec::new();
    };
    let mut anchors = addrman::anchors_from_file(&bytes, magic).unwrap_or_default();
    if !anchors.is_empty() {
        tracing::info!("Loaded {} addresses from \"{ANCHORS_DAT}\"", anchors.len());
    }
    if let Err(e) = broker.remove_file(ANCHORS_DAT).await {
        tracing::warn!("removing {ANCHORS_DAT}: {e}");
    }
    anchors.truncate(2);
    tracing::info!(
        "{} block-relay-only anchors will be tried for connections.",
        anchors.len()
    );
    anchors
}

async fn save(broker: &BrokerClient, m: &AddrMan, magic: [u8; 4]) {
    if let Err(e) = broker.replace_file(PEERS_DAT, &m.to_file(magic)).await {
        tracing::warn!("saving {PEERS_DAT}: {e}");
    }
}
