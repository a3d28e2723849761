//! The offline wallet tool (`bitcoin-wallet -wallet=NAME [-regtest] create|info`):
//! works on a wallet's database directly, without a node, as Core's
//! bitcoin-wallet does. A wallet a running node has loaded is refused (the
//! database is locked by its process).

use super::engine::Engine;
use super::name;
use crate::config::Config;

/// Runs `command`; the lines to print, or one error line.
pub fn run(config: &Config, command: &str) -> Result<Vec<String>, String> {
    let wallet = config.get("wallet").unwrap_or_default();
    if wallet.is_empty() {
        return Err("Wallet name must be provided when creating a new wallet.".into());
    }
    name::check(&wallet)?;
    let network = config.chain().network();
    let wallets = config.net_dir().join("wallets");
    let dir = wallets.join(&wallet);
    let engine = match command {
        "create" => {
            name::make_dir(&wallets, &wallet)?;
            Engine::create_at_genesis(&dir, &wallet, network, crate::chain::clock::now())
                .map_err(|e| e.to_string())?
        }
        "info" => {
            name::find_dir(&wallets, &wallet)?;
            Engine::load(&dir, &wallet, network).map_err(|e| format!("Failed to load database path '{}'. {e}", dir.display()))?
        }
        other => {
            return Err(format!(
                "The offline wallet tool command '{other}' is not available in this build (create and info are)"
            ))
        }
    };
    let mut lines = Vec::new();
    if command == "create" {
        lines.push("Topping up keypool...".to_string());
    }
    lines.extend(info(&engine));
    Ok(lines)
}

/// Core's "Wallet info" block.
fn info(e: &Engine) -> Vec<String> {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let keypool = if e.has_keys() {
        1000 * e.subs().count()
    } else {
        0
    };
    vec![
        "Wallet info".into(),
        "===========".into(),
        format!("Name: {}", e.name),
        "Format: redb".into(),
        "Descriptors: yes".into(),
        format!("Encrypted: {}", yes(e.is_encrypted())),
        format!("HD (hd seed available): {}", yes(e.has_keys())),
        format!("Keypool Size: {keypool}"),
        format!("Transactions: {}", e.tx_count()),
        format!("Address Book: {}", e.meta.labels.len()),
    ]
}
