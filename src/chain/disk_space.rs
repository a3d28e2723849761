//! Core's free-disk-space rule (CheckDiskSpace): a write into the data
//! directory needs 50 MiB free beyond what it adds, so that a filling disk
//! stops the node with a clear error before a write fails half-way.

use std::path::Path;

/// Free space Core keeps in reserve on the data directory's file system.
pub const MIN_DISK_SPACE: u64 = 50 * 1024 * 1024;

/// Bytes an unprivileged process may still write on `dir`'s file system.
pub fn available(dir: &Path) -> std::io::Result<u64> {
    let st = nix::sys::statvfs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok((st.blocks_available() as u64).saturating_mul(st.fragment_size() as u64))
}

/// Whether `dir` has room for `additional` bytes plus the reserve. A file
/// system that cannot be asked counts as having room: the write itself will
/// then report what is wrong.
pub fn has_room(dir: &Path, additional: u64) -> bool {
    match available(dir) {
        Ok(free) => free >= MIN_DISK_SPACE.saturating_add(additional),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_directory_reports_its_free_space() {
        let dir = tempfile::tempdir().unwrap();
        let free = available(dir.path()).unwrap();
        assert!(free > 0);
        // Asking for more than the disk has fails; asking for nothing matches
        // the reserve rule.
        assert!(!has_room(dir.path(), u64::MAX - MIN_DISK_SPACE));
        assert_eq!(has_room(dir.path(), 0), free >= MIN_DISK_SPACE);
    }

    #[test]
    fn a_missing_directory_counts_as_room() {
        assert!(has_room(Path::new("/nonexistent/for/sure"), 0));
    }
}
