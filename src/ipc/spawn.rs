//! Starting a child process the way the design asks: a fresh `execve` of a real
//! executable, its sockets at fixed fd numbers named on the command line
//! (`-ipcfd`, `-brokerfd`, `-logfd`), an empty environment, its own process
//! group (terminal signals reach only the broker, which orchestrates), and
//! SIGTERM if the broker dies. Also the child's side: reading those options back.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

/// Fd number of the child's Cap'n Proto `Init` socket.
pub const CHILD_IPC_FD: RawFd = 3;
/// Fd number of the child's broker channel.
pub const CHILD_BROKER_FD: RawFd = 4;
/// Fd number of the child's log channel.
pub const CHILD_LOG_FD: RawFd = 5;

/// Which program a child runs, and so which sandbox policy applies to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildRole {
    /// `bitcoin-node -ipcrole=worker`: consensus, P2P, RPC.
    NodeWorker,
    /// `bitcoin-wallet`: one wallet's keys and database.
    Wallet,
}

impl ChildRole {
    /// The executable's file name.
    pub fn exe_name(self) -> &'static str {
        match self {
            ChildRole::NodeWorker => "bitcoin-node",
            ChildRole::Wallet => "bitcoin-wallet",
        }
    }

    /// Name used for this process in logs.
    pub fn display_name(self) -> &'static str {
        match self {
            ChildRole::NodeWorker => "node worker",
            ChildRole::Wallet => "bitcoin-wallet",
        }
    }
}

/// Errors starting a child or reading a child's options.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("cannot create socket pair: {0}")]
    Socket(nix::Error),
    #[error("cannot start {exe}: {source}")]
    Exec {
        exe: PathBuf,
        source: std::io::Error,
    },
    #[error("Invalid -{name} number '{value}'")]
    BadFd { name: &'static str, value: String },
    #[error("-{name}={fd} is not an open socket")]
    NotASocket { name: &'static str, fd: RawFd },
    #[error("unexpected option for a spawned child: {0}")]
    UnexpectedOption(String),
}

/// The options a spawned child is started with: its three fds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildArgs {
    pub ipc_fd: RawFd,
    pub broker_fd: RawFd,
    pub log_fd: RawFd,
}

impl ChildArgs {
    /// The fixed numbers the broker uses.
    pub const STANDARD: ChildArgs = ChildArgs {
        ipc_fd: CHILD_IPC_FD,
        broker_fd: CHILD_BROKER_FD,
        log_fd: CHILD_LOG_FD,
    };

    /// Command-line arguments for a child of `role`.
    pub fn to_argv(&self, role: ChildRole) -> Vec<String> {
        let mut v = Vec::new();
        if role == ChildRole::NodeWorker {
            v.push("-ipcrole=worker".to_string());
        }
        v.push(format!("-ipcfd={}", self.ipc_fd));
        v.push(format!("-brokerfd={}", self.broker_fd));
        v.push(format!("-logfd={}", self.log_fd));
        v
    }

    /// True when `args` (without argv[0]) are a spawned child's: they carry
    /// `-brokerfd`. Such a process reads no config file.
    pub fn is_spawned_child(args: &[String]) -> bool {
        args.iter()
            .any(|a| a.starts_with("-brokerfd=") || a.starts_with("--brokerfd="))
    }

    /// Parses a spawned child's arguments: exactly `-ipcfd`, `-brokerfd`,
    /// `-logfd` (and `-ipcrole=worker`), nothing else.
    pub fn parse(args: &[String]) -> Result<ChildArgs, SpawnError> {
        let (mut ipc, mut broker, mut log) = (None, None, None);
        for a in args {
            let a = a.strip_prefix('-').unwrap_or(a);
            let a = a.strip_prefix('-').unwrap_or(a);
            let (name, value) = a.split_once('=').unwrap_or((a, ""));
            let (slot, static_name) = match name {
                "ipcfd" => (&mut ipc, "ipcfd"),
                "brokerfd" => (&mut broker, "brokerfd"),
                "logfd" => (&mut log, "logfd"),
                "ipcrole" if value == "worker" => continue,
                _ => return Err(SpawnError::UnexpectedOption(format!("-{a}"))),
            };
            let fd: RawFd =
                value
                    .parse()
                    .ok()
                    .filter(|n| *n > 2)
                    .ok_or_else(|| SpawnError::BadFd {
                        name: static_name,
                        value: value.to_string(),
                    })?;
            *slot = Some(fd);
        }
        let missing = |name| SpawnError::BadFd {
            name,
            value: String::new(),
        };
        Ok(ChildArgs {
            ipc_fd: ipc.ok_or(missing("ipcfd"))?,
            broker_fd: broker.ok_or(missing("brokerfd"))?,
            log_fd: log.ok_or(missing("logfd"))?,
        })
    }

    /// Takes ownership of the three fds after checking each is an open socket.
    pub fn take_fds(&self) -> Result<ChildFds, SpawnError> {
        Ok(ChildFds {
            ipc: take_socket_fd("ipcfd", self.ipc_fd)?,
            broker: take_socket_fd("brokerfd", self.broker_fd)?,
            log: take_socket_fd("logfd", self.log_fd)?,
        })
    }
}

/// Claims an inherited fd, refusing anything that is not an open socket.
pub fn take_socket_fd(name: &'static str, fd: RawFd) -> Result<OwnedFd, SpawnError> {
    // SAFETY: fstat only reads the fd's metadata; a closed fd yields EBADF.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::fstat(fd, &mut st) };
    if rc != 0 || (st.st_mode & libc::S_IFMT) != libc::S_IFSOCK {
        return Err(SpawnError::NotASocket { name, fd });
    }
    // SAFETY: the fd is open, was handed to us by number, and nothing else owns it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::fcntl::fcntl(
        &owned,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(|_| SpawnError::NotASocket { name, fd })?;
    Ok(owned)
}

/// A spawned child's three sockets, from the child's side.
pub struct ChildFds {
    pub ipc: OwnedFd,
    pub broker: OwnedFd,
    pub log: OwnedFd,
}

/// A running child, from the parent's side: the process and the parent's ends.
pub struct SpawnedChild {
    pub role: ChildRole,
    pub process: tokio::process::Child,
    pub pid: i32,
    /// Parent's end of the `Init` stream socket pair.
    pub ipc: OwnedFd,
    /// Parent's end of the broker channel (SOCK_SEQPACKET).
    pub broker: OwnedFd,
    /// Parent's end of the log channel (SOCK_SEQPACKET).
    pub log: OwnedFd,
}

fn pair(ty: SockType) -> Result<(OwnedFd, OwnedFd), SpawnError> {
    socketpair(AddressFamily::Unix, ty, None, SockFlag::SOCK_CLOEXEC).map_err(SpawnError::Socket)
}

/// The executable for `role`: beside the current executable.
pub fn sibling_exe(role: ChildRole) -> Result<PathBuf, SpawnError> {
    let me = std::env::current_exe().map_err(|e| SpawnError::Exec {
        exe: PathBuf::from(role.exe_name()),
        source: e,
    })?;
    Ok(me.with_file_name(role.exe_name()))
}

/// Starts `exe` as a child of `role` with fresh socket pairs on fds 3, 4, 5.
/// Must be called from a thread that lives as long as the child (the parent
/// death signal follows the spawning thread).
pub fn spawn_child(role: ChildRole, exe: &Path) -> Result<SpawnedChild, SpawnError> {
    let (ipc_parent, ipc_child) = pair(SockType::Stream)?;
    let (broker_parent, broker_child) = pair(SockType::SeqPacket)?;
    let (log_parent, log_child) = pair(SockType::SeqPacket)?;
    let fds = [
        (ipc_child.as_raw_fd(), CHILD_IPC_FD),
        (broker_child.as_raw_fd(), CHILD_BROKER_FD),
        (log_child.as_raw_fd(), CHILD_LOG_FD),
    ];
    let mut cmd = command_with_fds(
        exe,
        role.exe_name(),
        ChildArgs::STANDARD.to_argv(role),
        fds,
        true,
    );
    cmd.env_clear();
    let process = cmd.spawn().map_err(|e| SpawnError::Exec {
        exe: exe.to_path_buf(),
        source: e,
    })?;
    let pid = process.id().map(|p| p as i32).unwrap_or(0);
    drop((ipc_child, broker_child, log_child));
    Ok(SpawnedChild {
        role,
        process,
        pid,
        ipc: ipc_parent,
        broker: broker_parent,
        log: log_parent,
    })
}

/// Starts `bitcoin-node` (or another Init server) for a process that drives it,
/// as `bitcoin-gui` does: `args` plus `-ipcfd=3`, one stream socket pair.
/// Returns the process and our end of the pair. The environment is kept (the
/// node finds its datadir through `$HOME` like bitcoind) and so is the process
/// group, so a terminal's Ctrl-C reaches both.
pub fn spawn_with_ipcfd(
    exe: &Path,
    arg0: &str,
    mut args: Vec<String>,
) -> Result<(tokio::process::Child, OwnedFd), SpawnError> {
    let (ours, theirs) = pair(SockType::Stream)?;
    args.push(format!("-ipcfd={CHILD_IPC_FD}"));
    let mut cmd = command_with_fds(exe, arg0, args, [(theirs.as_raw_fd(), CHILD_IPC_FD)], false);
    let process = cmd.spawn().map_err(|e| SpawnError::Exec {
        exe: exe.to_path_buf(),
        source: e,
    })?;
    drop(theirs);
    Ok((process, ours))
}

/// A command whose child gets each `(source, target)` fd at `target` (and no
/// other descriptor of ours: everything else is close-on-exec), SIGTERM when we
/// die, and, if `own_group`, its own process group.
fn command_with_fds<const N: usize>(
    exe: &Path,
    arg0: &str,
    args: Vec<String>,
    fds: [(RawFd, RawFd); N],
    own_group: bool,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg0(OsStr::new(arg0))
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(false);
    // SAFETY: the closure runs between fork and exec and calls only
    // async-signal-safe functions (fcntl, dup2, prctl, setpgid).
    unsafe {
        cmd.pre_exec(move || {
            // Move the sources above the target range first so that no dup2
            // below can clobber a source that happens to sit at a target number.
            let mut high = [0; N];
            for (i, (src, _)) in fds.iter().enumerate() {
                let fd = libc::fcntl(*src, libc::F_DUPFD_CLOEXEC, 10);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                high[i] = fd;
            }
            for (fd, (_, target)) in high.iter().zip(fds) {
                // dup2 clears FD_CLOEXEC on the target, so exactly these survive exec.
                if libc::dup2(*fd, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGTERM as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            if own_group && libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn child_args_round_trip_through_argv() {
        let argv = ChildArgs::STANDARD.to_argv(ChildRole::NodeWorker);
        assert_eq!(
            argv,
            s(&["-ipcrole=worker", "-ipcfd=3", "-brokerfd=4", "-logfd=5"])
        );
        assert!(ChildArgs::is_spawned_child(&argv));
        assert_eq!(ChildArgs::parse(&argv).unwrap(), ChildArgs::STANDARD);
    }

    #[test]
    fn child_refuses_any_other_option() {
        let e =
            ChildArgs::parse(&s(&["-ipcfd=3", "-brokerfd=4", "-logfd=5", "-conf=/x"])).unwrap_err();
        assert!(matches!(e, SpawnError::UnexpectedOption(_)));
    }

    #[test]
    fn child_refuses_std_fds_and_garbage_numbers() {
        let e = ChildArgs::parse(&s(&["-ipcfd=1", "-brokerfd=4", "-logfd=5"])).unwrap_err();
        assert_eq!(e.to_string(), "Invalid -ipcfd number '1'");
        assert!(ChildArgs::parse(&s(&["-ipcfd=x", "-brokerfd=4", "-logfd=5"])).is_err());
        assert!(ChildArgs::parse(&s(&["-ipcfd=3", "-brokerfd=4"])).is_err());
    }

    #[test]
    fn taking_a_closed_or_non_socket_fd_fails() {
        let file = std::fs::File::open("/proc/self/stat").unwrap();
        let fd = file.as_raw_fd();
        assert!(matches!(
            take_socket_fd("ipcfd", fd),
            Err(SpawnError::NotASocket { .. })
        ));
        assert!(matches!(
            take_socket_fd("ipcfd", 100_000),
            Err(SpawnError::NotASocket { .. })
        ));
    }
}
