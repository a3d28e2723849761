//! Wallet backups and restores the broker makes for the node worker
//! (`backupwallet`, `restorewallet`): the one place that decides where a
//! backup may be written and what may be copied into a wallet's directory.
//! Only redb databases travel either way (checked by their magic bytes). A
//! backup lands inside the data directory, outside its chain data, wallets
//! and the files the node reads at start, through a new temporary file
//! renamed into place; it replaces only an earlier wallet backup. A restore
//! never writes over a wallet.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use crate::wallet::name;

/// What a wallet process writes in its own directory for `backupwallet`;
/// the broker copies it out and removes it.
pub const STAGED_BACKUP: &str = "backup.redb";

/// The first bytes of every redb database file.
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// Directories (at any depth under the data directory) a backup never goes
/// into: chain data, indexes and wallets belong to the node and wallets.
const DENIED_DIRS: &[&str] = &["blocks", "chainstate", "indexes", "wallets"];

/// Files the node reads or owns that a backup never replaces or creates
/// (any name ending in `.conf` is refused too: `-conf`, `-includeconf`).
const DENIED_FILES: &[&str] = &[
    "settings.json",
    ".cookie",
    ".lock",
    "debug.log",
    "peers.dat",
    "anchors.dat",
    "banlist.json",
    "mempool.dat",
    "fee_estimates.dat",
    "node.sock",
    "onion_v3_private_key",
    "i2p_private_key",
    "ip_asn.map",
];

/// Why a backup or restore was refused or failed. The restore messages are
/// Core's (the node maps them to Core's error codes).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackupError {
    #[error("{0}")]
    Name(String),
    #[error("Backup file does not exist")]
    NoSource,
    #[error("Wallet file verification failed. Failed to load database path '{0}'. Data is not in recognized format.")]
    NotAWallet(String),
    #[error("Failed to restore wallet. Database file exists in '{0}'.")]
    Exists(String),
    #[error("the backup the wallet process staged is missing or is not a wallet database")]
    NoStagedBackup,
    #[error("backups are written inside the data directory ({0}), outside its blocks, chainstate, indexes and wallets directories and the files the node reads")]
    Outside(String),
    #[error("{0} exists and is not a wallet backup; it is left alone")]
    WouldReplace(String),
    #[error("{0}")]
    Io(String),
}

fn io(what: &str, path: &Path, e: std::io::Error) -> BackupError {
    BackupError::Io(format!("{what} {}: {e}", path.display()))
}

/// `path` made absolute against the working directory (Core's rule for
/// RPC paths), without touching the file system.
fn absolute(path: &str) -> Result<PathBuf, BackupError> {
    if path.is_empty() || path.contains('\0') {
        return Err(BackupError::Io(format!("invalid path {path:?}")));
    }
    std::path::absolute(path).map_err(|e| BackupError::Io(format!("{path}: {e}")))
}

/// Whether `file` is a regular file that starts as a redb database.
fn is_redb(file: &mut File) -> bool {
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = [0u8; REDB_MAGIC.len()];
    file.read_exact(&mut head).is_ok() && head == REDB_MAGIC
}

/// Where a backup to `destination` goes: the checked absolute path, whose
/// parent exists and is inside `datadir` (symlinks resolved), not under a
/// denied directory, with a file name the node does not use.
pub fn backup_target(datadir: &Path, destination: &str) -> Result<PathBuf, BackupError> {
    let outside = || BackupError::Outside(datadir.display().to_string());
    let path = absolute(destination)?;
    let file_name = match path.components().next_back() {
        Some(Component::Normal(n)) => n.to_owned(),
        _ => return Err(outside()),
    };
    let parent = path.parent().ok_or_else(outside)?;
    let parent = parent
        .canonicalize()
        .map_err(|e| io("backup directory", parent, e))?;
    let root = datadir
        .canonicalize()
        .map_err(|e| io("data directory", datadir, e))?;
    let inside = parent.strip_prefix(&root).map_err(|_| outside())?;
    let denied_dir = inside.components().any(|c| {
        c.as_os_str()
            .to_str()
            .is_none_or(|s| DENIED_DIRS.contains(&s))
    });
    let name = file_name.to_str().ok_or_else(outside)?;
    let denied_name =
        DENIED_FILES.contains(&name) || DENIED_DIRS.contains(&name) || name.ends_with(".conf");
    if denied_dir || denied_name {
        return Err(outside());
    }
    Ok(parent.join(name))
}

/// Copies `from` (already open, at its start) to a new temporary file
/// beside `to`, syncs it and renames it over `to`.
fn copy_into_place(from: &mut File, to: &Path) -> Result<(), BackupError> {
    let dir = to.parent().unwrap_or(Path::new("/"));
    let file_name = to.file_name().and_then(|n| n.to_str()).unwrap_or("backup");
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(|e| io("creating", &tmp, e))?;
    let copied = std::io::copy(from, &mut out)
        .and_then(|_| out.flush())
        .and_then(|()| out.sync_all());
    drop(out);
    let placed = copied.and_then(|()| std::fs::rename(&tmp, to));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("writing", to, e));
    }
    // The rename itself is durable once the directory is.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Opens `path` for reading without following a symlink at its end.
fn open_nofollow(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// backupwallet: copies the backup wallet `wallet`'s process staged in its
/// directory under `wallets_dir` to `destination`. The staged copy is
/// removed whether or not that succeeds.
pub fn export(
    datadir: &Path,
    wallets_dir: &Path,
    wallet: &str,
    destination: &str,
) -> Result<PathBuf, BackupError> {
    name::check(wallet).map_err(BackupError::Name)?;
    let staged = wallets_dir.join(wallet).join(STAGED_BACKUP);
    let done = copy_staged(datadir, &staged, destination);
    let _ = std::fs::remove_file(&staged);
    done
}

fn copy_staged(datadir: &Path, staged: &Path, destination: &str) -> Result<PathBuf, BackupError> {
    let target = backup_target(datadir, destination)?;
    let mut from = open_nofollow(staged).map_err(|_| BackupError::NoStagedBackup)?;
    if !is_redb(&mut from) {
        return Err(BackupError::NoStagedBackup);
    }
    match std::fs::symlink_metadata(&target) {
        Err(_) => {}
        Ok(m) if m.is_file() => {
            let earlier_backup = open_nofollow(&target).is_ok_and(|mut f| is_redb(&mut f));
            if !earlier_backup {
                return Err(BackupError::WouldReplace(target.display().to_string()));
            }
        }
        Ok(_) => return Err(BackupError::WouldReplace(target.display().to_string())),
    }
    from.rewind().map_err(|e| io("reading", staged, e))?;
    copy_into_place(&mut from, &target)?;
    Ok(target)
}

/// restorewallet: copies the backup at `source` into wallet `wallet`'s
/// directory under `wallets_dir` (made if missing; Core allows an existing
/// one without a wallet database in it).
pub fn restore(wallets_dir: &Path, wallet: &str, source: &str) -> Result<(), BackupError> {
    name::check(wallet).map_err(BackupError::Name)?;
    let source = absolute(source)?;
    let mut from = File::open(&source).map_err(|_| BackupError::NoSource)?;
    let dir = wallets_dir.join(wallet);
    if !is_redb(&mut from) {
        return Err(BackupError::NotAWallet(dir.display().to_string()));
    }
    let db = dir.join(name::DB_FILE);
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if !m.is_dir() => return Err(BackupError::Exists(dir.display().to_string())),
        Ok(_) if std::fs::symlink_metadata(&db).is_ok() => {
            return Err(BackupError::Exists(db.display().to_string()))
        }
        Ok(_) => {}
        Err(_) => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| io("creating", &dir, e))?,
    }
    from.rewind().map_err(|e| io("reading", &source, e))?;
    copy_into_place(&mut from, &db)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redb_file(path: &Path, body: &[u8]) {
        let mut bytes = REDB_MAGIC.to_vec();
        bytes.extend_from_slice(body);
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn backups_go_inside_the_datadir_and_outside_its_chain_data_and_config() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for sub in [
            "regtest/wallets/w",
            "regtest/blocks",
            "regtest/indexes/x",
            "out",
        ] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        let ok = |p: &str| backup_target(root, &root.join(p).to_string_lossy());
        let canon = root.canonicalize().unwrap();
        assert_eq!(ok("wallet.bak").unwrap(), canon.join("wallet.bak"));
        assert_eq!(ok("out/w.dat").unwrap(), canon.join("out/w.dat"));
        assert_eq!(ok("regtest/w.bak").unwrap(), canon.join("regtest/w.bak"));
        for bad in [
            "regtest/wallets/w/wallet.redb",
            "regtest/wallets/w",
            "regtest/wallets",
            "regtest/blocks/x",
            "regtest/indexes/x/y",
            "bitcoin.conf",
            "other.conf",
            "regtest/settings.json",
            "regtest/.cookie",
            "regtest/wallets/../blocks/x",
        ] {
            assert!(
                matches!(ok(bad), Err(BackupError::Outside(_))),
                "{bad}: {:?}",
                ok(bad)
            );
        }
        // Outside the datadir, through `..` or a symlink, or nowhere.
        let elsewhere = tempfile::tempdir().unwrap();
        let outside = elsewhere.path().join("x.bak");
        assert!(backup_target(root, &outside.to_string_lossy()).is_err());
        assert!(ok("../x.bak").is_err());
        std::os::unix::fs::symlink(elsewhere.path(), root.join("link")).unwrap();
        assert!(matches!(ok("link/x.bak"), Err(BackupError::Outside(_))));
        assert!(matches!(ok("missing/x.bak"), Err(BackupError::Io(_))));
        assert!(backup_target(root, "").is_err());
    }

    #[test]
    fn export_copies_the_staged_backup_and_replaces_only_an_earlier_backup() {
        let d = tempfile::tempdir().unwrap();
        let wallets = d.path().join("regtest/wallets");
        std::fs::create_dir_all(wallets.join("w")).unwrap();
        let dest = d.path().join("w.bak");
        let dest_s = dest.to_string_lossy().to_string();
        assert_eq!(
            export(d.path(), &wallets, "w", &dest_s),
            Err(BackupError::NoStagedBackup)
        );
        std::fs::write(wallets.join("w").join(STAGED_BACKUP), b"not redb").unwrap();
        assert_eq!(
            export(d.path(), &wallets, "w", &dest_s),
            Err(BackupError::NoStagedBackup)
        );
        redb_file(&wallets.join("w").join(STAGED_BACKUP), b"one");
        export(d.path(), &wallets, "w", &dest_s).unwrap();
        assert!(std::fs::read(&dest).unwrap().ends_with(b"one"));
        assert!(!wallets.join("w").join(STAGED_BACKUP).exists());
        // A second backup replaces the first.
        redb_file(&wallets.join("w").join(STAGED_BACKUP), b"two");
        export(d.path(), &wallets, "w", &dest_s).unwrap();
        assert!(std::fs::read(&dest).unwrap().ends_with(b"two"));
        // A file that is not a backup is left alone.
        let notes = d.path().join("notes.txt");
        std::fs::write(&notes, b"mine").unwrap();
        redb_file(&wallets.join("w").join(STAGED_BACKUP), b"three");
        assert!(matches!(
            export(d.path(), &wallets, "w", &notes.to_string_lossy()),
            Err(BackupError::WouldReplace(_))
        ));
        assert_eq!(std::fs::read(&notes).unwrap(), b"mine");
        // A refused backup leaves no copy of the wallet behind.
        assert!(!wallets.join("w").join(STAGED_BACKUP).exists());
        assert!(export(d.path(), &wallets, "../x", &dest_s).is_err());
    }

    #[test]
    fn restore_copies_a_wallet_database_and_never_over_a_wallet() {
        let d = tempfile::tempdir().unwrap();
        let wallets = d.path().join("wallets");
        let backup = d.path().join("w.bak");
        let b = backup.to_string_lossy().to_string();
        assert_eq!(restore(&wallets, "r", &b), Err(BackupError::NoSource));
        std::fs::write(&backup, b"invalid_wallet_content").unwrap();
        assert!(matches!(
            restore(&wallets, "r", &b),
            Err(BackupError::NotAWallet(_))
        ));
        assert!(!wallets.join("r").exists(), "nothing made for a bad backup");
        redb_file(&backup, b"db");
        restore(&wallets, "r", &b).unwrap();
        let db = wallets.join("r").join(name::DB_FILE);
        assert!(std::fs::read(&db).unwrap().ends_with(b"db"));
        assert!(matches!(
            restore(&wallets, "r", &b),
            Err(BackupError::Exists(_))
        ));
        // An existing directory without a database is fine, and keeps its files.
        std::fs::create_dir_all(wallets.join("s")).unwrap();
        std::fs::write(wallets.join("s/notes.txt"), b"x").unwrap();
        restore(&wallets, "s", &b).unwrap();
        assert!(wallets.join("s/notes.txt").exists());
        assert!(restore(&wallets, "", &b).is_err());
        assert!(restore(&wallets, "a/b", &b).is_err());
    }
}
