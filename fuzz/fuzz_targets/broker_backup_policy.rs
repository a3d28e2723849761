//! The broker's backup destination check (`broker::backups::backup_target`):
//! where `backupwallet` may have the broker write, for a destination path a
//! (possibly compromised) node worker names.
//!
//! The data directory is a real temporary tree, made once per process:
//! `regtest/{blocks,chainstate,indexes/txindex,wallets/w}` and `backups/`,
//! plus a symlink `out` leading outside it and a directory outside it.
//! Input: the destination (UTF-8), taken as is and also joined to the data
//! directory (so most inputs land inside it).
//!
//! Invariants, checked on the file system independently of the policy:
//! - never panics;
//! - an accepted target is absolute, its parent resolves (symlinks followed)
//!   inside the canonical data directory, no component of it below the data
//!   directory is `blocks`, `chainstate`, `indexes` or `wallets`, and its
//!   file name is not a `.conf` file, `settings.json`, `.cookie`, `.lock`,
//!   `debug.log`, `peers.dat`, `mempool.dat` or a denied directory name;
//! - a destination whose resolved parent is outside the data directory
//!   (through `..`, an absolute path or the symlink) is refused.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bitcoin_mp::broker::backups::backup_target;
use libfuzzer_sys::fuzz_target;

struct Tree {
    _dir: tempfile::TempDir,
    _outside: tempfile::TempDir,
    root: PathBuf,
}

fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let outside = tempfile::tempdir().expect("tempdir");
        for d in [
            "regtest/blocks",
            "regtest/chainstate",
            "regtest/indexes/txindex",
            "regtest/wallets/w",
            "backups",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).expect("symlink");
        let root = dir.path().canonicalize().expect("canonical");
        Tree {
            _dir: dir,
            _outside: outside,
            root,
        }
    })
}

const DENIED_DIRS: &[&str] = &["blocks", "chainstate", "indexes", "wallets"];
const DENIED_NAMES: &[&str] = &[
    "settings.json",
    ".cookie",
    ".lock",
    "debug.log",
    "peers.dat",
    "mempool.dat",
];

fn check(root: &Path, destination: &str) {
    let Ok(target) = backup_target(root, destination) else {
        return;
    };
    assert!(target.is_absolute(), "{destination:?} -> {target:?}");
    let parent = target.parent().expect("a target has a parent");
    let resolved = parent.canonicalize().expect("an accepted parent exists");
    let inside = resolved
        .strip_prefix(root)
        .unwrap_or_else(|_| panic!("{destination:?} escapes to {resolved:?}"));
    for c in inside.components() {
        let c = c.as_os_str().to_string_lossy();
        assert!(
            !DENIED_DIRS.contains(&c.as_ref()),
            "{destination:?} -> {target:?}"
        );
    }
    let name = target.file_name().expect("a file name").to_string_lossy();
    assert!(
        !name.ends_with(".conf")
            && !DENIED_NAMES.contains(&name.as_ref())
            && !DENIED_DIRS.contains(&name.as_ref()),
        "{destination:?} -> {target:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let t = tree();
    check(&t.root, text);
    let joined = t.root.join(text.trim_start_matches('/'));
    if let Some(joined) = joined.to_str() {
        check(&t.root, joined);
    }
});
