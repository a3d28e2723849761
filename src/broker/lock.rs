//! The datadir lock: `.lock` in the network data directory, held with the same
//! `fcntl` write lock Core takes, so our node and Core's exclude each other.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Why the lock could not be taken; texts are Core's.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("Cannot write to directory '{0}'; check permissions.")]
    Write(String),
    #[error("Cannot obtain a lock on directory {0}. {1} is probably already running.")]
    Held(String, &'static str),
}

/// Held for the life of the process; released when dropped (or at exit).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the lock on `dir`, as Core's `LockDirectory`.
pub fn lock_directory(dir: &Path, client_name: &'static str) -> Result<DirLock, LockError> {
    let path = dir.join(".lock");
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|_| LockError::Write(dir.display().to_string()))?;
    let lock = libc::flock {
        l_type: libc::F_WRLCK as i16,
        l_whence: libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    // SAFETY: F_SETLK with a valid, initialised flock on an fd we own.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLK, &lock) };
    if rc != 0 {
        return Err(LockError::Held(dir.display().to_string(), client_name));
    }
    Ok(DirLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_same_dir_from_another_process_fails() {
        let dir = tempfile::tempdir().unwrap();
        let _held = lock_directory(dir.path(), "Bitcoin Core").unwrap();
        // fcntl locks are per process: probe from a forked-off `flock`-free helper.
        let out = std::process::Command::new("python3")
            .args(["-c", "import fcntl,sys; f=open(sys.argv[1],'a'); fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB)"])
            .arg(dir.path().join(".lock"))
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "another process must not get the lock"
        );
    }

    #[test]
    fn unwritable_dir_is_core_write_error() {
        let e = lock_directory(Path::new("/proc/definitely/not/here"), "Bitcoin Core").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("Cannot write to directory '/proc/definitely/not/here'"));
    }
}
