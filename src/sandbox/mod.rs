//! sandbox/: applies a policy (fds, no_new_privs, namespaces, capabilities,
//! Landlock, seccomp) to the current process. Never decides policy: that lives
//! in `policy/`, embedded at build time.

mod fds;
mod landlock;
mod namespaces;
pub mod policy;
mod privs;
pub mod seccomp;

use std::os::fd::RawFd;
use std::path::PathBuf;

pub use fds::close_inherited_fds;
pub use policy::policy_text;

/// Which sandboxed program this process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    NodeWorker,
    Wallet,
}

/// The `-sandbox=` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every layer the kernel offers; missing ones are logged.
    Auto,
    /// Refuse to start when any layer is missing.
    Require,
    /// No sandbox (a loud warning).
    Off,
}

impl Mode {
    /// Parses `-sandbox=<auto|require|off>`.
    pub fn from_option(value: &str) -> Result<Mode, SandboxError> {
        match value {
            "auto" | "" | "1" => Ok(Mode::Auto),
            "require" => Ok(Mode::Require),
            "off" | "0" => Ok(Mode::Off),
            other => Err(SandboxError::BadMode(other.to_string())),
        }
    }
}

/// The values a policy's path variables resolve to.
#[derive(Clone, Debug)]
pub struct Paths {
    pub datadir: PathBuf,
    /// `${NET_DIR}`
    pub net_dir: PathBuf,
    /// `${WALLET_DIR}` (wallet role only)
    pub wallet_dir: Option<PathBuf>,
    /// `${BLOCKS_DIR}`: block and undo files (`${NET_DIR}/blocks`, or
    /// `-blocksdir`'s; node worker only)
    pub blocks_dir: Option<PathBuf>,
}

/// Why the sandbox could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("Invalid -sandbox value '{0}' (use auto, require or off)")]
    BadMode(String),
    #[error("policy: {0}")]
    Policy(String),
    #[error("{layer}: {reason}")]
    Layer { layer: &'static str, reason: String },
    #[error("-sandbox=require, but these layers are unavailable: {0}")]
    Missing(String),
}

/// What is in force after [`apply`].
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub off: bool,
    pub no_new_privs: bool,
    pub caps_dropped: bool,
    /// In new user, network and IPC namespaces.
    pub namespaces: bool,
    pub landlock_abi: Option<i32>,
    pub landlock_status: String,
    pub seccomp: bool,
    /// Size of the seccomp allowlist (distinct system calls).
    pub syscalls: usize,
    /// Layers that are not in force, with why.
    pub missing: Vec<String>,
}

impl Report {
    /// Lines for the start-up log.
    pub fn log_lines(&self) -> Vec<String> {
        if self.off {
            return vec!["sandbox: off".into()];
        }
        let mut v = vec![format!(
            "sandbox: no_new_privs {}, capabilities {}, namespaces {}, Landlock {}, seccomp {}",
            if self.no_new_privs { "on" } else { "OFF" },
            if self.caps_dropped { "dropped" } else { "KEPT" },
            if self.namespaces {
                "user+net+ipc"
            } else {
                "OFF"
            },
            match self.landlock_abi {
                Some(abi) => format!("ABI {abi} {}", self.landlock_status),
                None => format!("unavailable ({})", self.landlock_status),
            },
            if self.seccomp {
                format!("on ({} syscalls allowed)", self.syscalls)
            } else {
                "OFF".to_string()
            }
        )];
        for m in &self.missing {
            v.push(format!("sandbox: missing layer: {m}"));
        }
        v
    }
}

/// The broker's own hardening: it needs no capability (it binds unix sockets,
/// spawns children and opens files its user owns), so it drops every set and
/// sets `no_new_privs`, which its children inherit. (Without CAP_SETPCAP the
/// bounding set cannot be emptied; the other four sets still are.)
pub fn harden_broker() -> Result<(), SandboxError> {
    privs::set_no_new_privs().map_err(|e| SandboxError::Layer {
        layer: "no_new_privs",
        reason: e.to_string(),
    })?;
    privs::drop_all_capabilities().map_err(|e| SandboxError::Layer {
        layer: "capabilities",
        reason: e.to_string(),
    })?;
    Ok(())
}

/// Applies `role`'s policy to this process: no_new_privs, capabilities dropped,
/// Landlock. The role's own initialisation (opening what it needs beyond its
/// paths) must be done before; fds are closed before that with
/// [`close_inherited_fds`].
pub fn apply(
    role: Role,
    mode: Mode,
    paths: &Paths,
    log_fd: Option<RawFd>,
) -> Result<Report, SandboxError> {
    apply_with(role, mode, paths, log_fd, Unavailable::default())
}

/// Layers to treat as if the kernel lacked them: how tests check what `auto`
/// and `require` do on an older kernel. Only code can ask for this; there is
/// no option or environment variable that does.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unavailable {
    pub namespaces: bool,
    pub landlock: bool,
    pub seccomp: bool,
}

/// [`apply`], with some layers treated as unavailable.
pub fn apply_with(
    role: Role,
    mode: Mode,
    paths: &Paths,
    log_fd: Option<RawFd>,
    unavailable: Unavailable,
) -> Result<Report, SandboxError> {
    let mut report = Report::default();
    if mode == Mode::Off {
        report.off = true;
        return Ok(remember(report));
    }
    let policy = policy::load(role, paths)?;
    for rule in &policy.paths {
        // Landlock needs the directories to exist; they are the role's own.
        std::fs::create_dir_all(&rule.path).map_err(|e| SandboxError::Layer {
            layer: "landlock",
            reason: format!("cannot create {}: {e}", rule.path.display()),
        })?;
    }
    privs::set_no_new_privs().map_err(|e| SandboxError::Layer {
        layer: "no_new_privs",
        reason: e.to_string(),
    })?;
    report.no_new_privs = true;
    // Before the capability drop, which also clears the full set a new user
    // namespace grants.
    if unavailable.namespaces {
        report.missing.push("namespaces (not available)".into());
    } else {
        match namespaces::enter_private() {
            Ok(()) => report.namespaces = true,
            Err(e) => report.missing.push(format!("namespaces ({e})")),
        }
    }
    match privs::drop_all_capabilities() {
        Ok(()) => report.caps_dropped = true,
        Err(e) => report.missing.push(format!("capabilities ({e})")),
    }
    if unavailable.landlock {
        report.landlock_status = "not available".into();
        report.missing.push("landlock (not available)".into());
    } else {
        let ll = landlock::restrict(&policy, mode == Mode::Require)?;
        report.landlock_abi = ll.abi;
        report.landlock_status = ll.status.clone();
        if !ll.fully_enforced {
            report.missing.push(format!("landlock ({})", ll.status));
        }
    }
    if unavailable.seccomp {
        report.missing.push("seccomp (not available)".into());
    }
    if mode == Mode::Require && !report.missing.is_empty() {
        return Err(SandboxError::Missing(report.missing.join("; ")));
    }
    if !unavailable.seccomp {
        // Last: from here on only the role's allowlisted system calls work.
        seccomp::apply(&policy.syscalls, log_fd)?;
        report.seccomp = true;
        report.syscalls = policy::distinct_syscalls(&policy.syscalls);
    }
    Ok(remember(report))
}

/// The sandbox this process applied, for status pages (the GUI's information
/// page asks the node worker and each wallet process for theirs).
static IN_FORCE: std::sync::OnceLock<Report> = std::sync::OnceLock::new();

fn remember(report: Report) -> Report {
    // A process applies its sandbox once; a second apply (tests) keeps the first.
    let _ = IN_FORCE.set(report.clone());
    report
}

/// What [`apply`] put in force in this process; None before (or without) it.
pub fn in_force() -> Option<&'static Report> {
    IN_FORCE.get()
}

/// Writes `report` for `process` (`pid`) into a `sandbox.capnp` Status.
pub fn write_status(
    mut out: crate::schema::sandbox_capnp::status::Builder<'_>,
    process: &str,
    pid: i32,
    report: Option<&Report>,
) {
    out.set_process(process);
    out.set_pid(pid);
    let Some(r) = report else {
        out.set_landlock_status("unknown: this process applied no sandbox");
        return;
    };
    out.set_off(r.off);
    out.set_no_new_privs(r.no_new_privs);
    out.set_capabilities_dropped(r.caps_dropped);
    out.set_namespaces(r.namespaces);
    out.set_landlock_abi(r.landlock_abi.unwrap_or(0));
    out.set_landlock_status(&r.landlock_status[..]);
    out.set_seccomp(r.seccomp);
    out.set_syscalls(u32::try_from(r.syscalls).unwrap_or(u32::MAX));
    let mut missing = out.init_missing(r.missing.len() as u32);
    for (i, m) in r.missing.iter().enumerate() {
        missing.set(i as u32, &m[..]);
    }
}
