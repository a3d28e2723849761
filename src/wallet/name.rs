//! Wallet names and their directories under `<datadir>/<chain>/wallets`,
//! checked by the broker before it spawns a wallet process: each wallet is
//! one plain directory (its process's whole sandbox), holding `wallet.redb`.

use std::path::{Path, PathBuf};

/// The database file inside a wallet's directory.
pub const DB_FILE: &str = "wallet.redb";

/// Why a name cannot be a wallet: it must be one plain path component, so
/// that its directory (the wallet process's sandbox) holds nothing else.
pub fn check(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(
            "Wallet name must not be empty: each wallet runs in its own process, \
                    sandboxed to its own directory under wallets/"
                .into(),
        );
    }
    if name == "." || name == ".." || name.contains(['/', '\\', '\0']) || name.len() > 255 {
        return Err(format!(
            "Invalid wallet name \"{name}\": a wallet name is one directory name (no '/', not '.' or '..')"
        ));
    }
    Ok(())
}

fn db_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name).join(DB_FILE)
}

/// createwallet: makes the wallet's directory; refuses one that holds a wallet.
pub fn make_dir(wallets: &Path, name: &str) -> Result<(), String> {
    check(name)?;
    let dir = wallets.join(name);
    if db_path(wallets, name).exists() {
        return Err(format!(
            "Wallet file verification failed. Failed to create database path '{}'. Database already exists.",
            dir.display()
        ));
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("Failed to create database path '{}': {e}", dir.display()))
}

/// loadwallet: the wallet's directory must hold a wallet.
pub fn find_dir(wallets: &Path, name: &str) -> Result<(), String> {
    check(name)?;
    let dir = wallets.join(name);
    if !db_path(wallets, name).is_file() {
        return Err(format!(
            "Wallet file verification failed. Failed to load database path '{}'. Path does not exist.",
            dir.display()
        ));
    }
    Ok(())
}

/// listwalletdir: the names of the directories that hold a wallet, sorted.
pub fn list(wallets: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(wallets) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| check(n).is_ok() && db_path(wallets, n).is_file())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_plain_directory() {
        for bad in ["", ".", "..", "a/b", "../w", "a\\b", "a\0"] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        for good in ["w1", "my wallet", ".hidden", "w-ü"] {
            assert!(check(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn create_refuses_an_existing_wallet_and_load_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        assert!(find_dir(dir.path(), "w")
            .unwrap_err()
            .contains("Path does not exist"));
        make_dir(dir.path(), "w").unwrap();
        assert!(
            list(dir.path()).is_empty(),
            "an empty directory is no wallet"
        );
        std::fs::write(db_path(dir.path(), "w"), b"").unwrap();
        assert!(make_dir(dir.path(), "w")
            .unwrap_err()
            .contains("Database already exists"));
        find_dir(dir.path(), "w").unwrap();
        assert_eq!(list(dir.path()), vec!["w".to_string()]);
    }
}
