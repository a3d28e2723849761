//! Reads the per-role policies embedded from `policy/` at build time: the paths
//! a role may use (with read-only or read-write rights) and its network rights.
//! Each entry must say why it is there.

use std::path::PathBuf;

use super::{Paths, Role, SandboxError};

const NODE_WORKER: &str = include_str!("../../policy/node-worker.policy");
const WALLET: &str = include_str!("../../policy/wallet.policy");

/// The embedded policy text of a role.
pub fn policy_text(role: Role) -> &'static str {
    match role {
        Role::NodeWorker => NODE_WORKER,
        Role::Wallet => WALLET,
    }
}

/// Rights beneath one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rights {
    ReadOnly,
    ReadWrite,
}

/// One `path` entry with its variables resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathRule {
    pub path: PathBuf,
    pub rights: Rights,
    pub reason: String,
}

/// A condition on one argument: `(arg & mask) == value` (mask all ones for `==`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgMatch {
    pub index: u8,
    pub mask: Option<u64>,
    pub value: u64,
}

/// One `syscall` entry: allowed (optionally only when an argument matches),
/// or answered with an errno instead of running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallRule {
    pub name: String,
    pub arg: Option<ArgMatch>,
    /// `errno N`: the call fails with N (e.g. clone3 → ENOSYS, so the C
    /// library falls back to clone, whose flags the filter can see).
    pub errno: Option<u32>,
    pub reason: String,
}

/// A parsed policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub paths: Vec<PathRule>,
    /// False: no TCP bind or connect at all.
    pub network: bool,
    pub syscalls: Vec<SyscallRule>,
}

fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn resolve(template: &str, paths: &Paths, role: Role) -> Result<PathBuf, SandboxError> {
    let bad = |why: &str| SandboxError::Policy(format!("{role:?} policy: {template}: {why}"));
    let (var, rest) = match template.split_once('}') {
        Some((v, rest)) if v.starts_with("${") => (&v[2..], rest.trim_start_matches('/')),
        _ => {
            return Err(bad(
                "paths must start with ${NET_DIR}, ${BLOCKS_DIR} or ${WALLET_DIR}",
            ))
        }
    };
    let base = match var {
        "NET_DIR" => paths.net_dir.clone(),
        "WALLET_DIR" => paths
            .wallet_dir
            .clone()
            .ok_or_else(|| bad("no wallet directory for this role"))?,
        "BLOCKS_DIR" => paths
            .blocks_dir
            .clone()
            .ok_or_else(|| bad("no blocks directory for this role"))?,
        _ => return Err(bad("unknown variable")),
    };
    if rest.split('/').any(|c| c == "..") {
        return Err(bad("'..' is not allowed"));
    }
    Ok(if rest.is_empty() {
        base
    } else {
        base.join(rest)
    })
}

/// How many different system calls `rules` allow (a call with several
/// argument rules counts once).
pub fn distinct_syscalls(rules: &[SyscallRule]) -> usize {
    rules
        .iter()
        .map(|r| r.name.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// Parses `role`'s embedded policy, resolving path variables against `paths`.
pub fn load(role: Role, paths: &Paths) -> Result<Policy, SandboxError> {
    let mut policy = Policy {
        paths: Vec::new(),
        network: false,
        syscalls: Vec::new(),
    };
    for (n, raw) in policy_text(role).lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (entry, reason) = match line.split_once('#') {
            Some((e, r)) if !r.trim().is_empty() => (e.trim(), r.trim().to_string()),
            _ => {
                return Err(SandboxError::Policy(format!(
                    "{role:?} policy line {}: every entry needs a reason after '#'",
                    n + 1
                )))
            }
        };
        let words: Vec<&str> = entry.split_whitespace().collect();
        match words.as_slice() {
            ["path", p, rights] => {
                let rights = match *rights {
                    "ro" => Rights::ReadOnly,
                    "rw" => Rights::ReadWrite,
                    other => {
                        return Err(SandboxError::Policy(format!(
                            "{role:?} policy line {}: unknown rights {other}",
                            n + 1
                        )))
                    }
                };
                policy.paths.push(PathRule {
                    path: resolve(p, paths, role)?,
                    rights,
                    reason,
                });
            }
            ["network", "none"] => policy.network = false,
            ["syscall", name] => policy.syscalls.push(SyscallRule {
                name: name.to_string(),
                arg: None,
                errno: None,
                reason,
            }),
            ["syscall", name, "errno", num] => {
                let Some(errno) = parse_number(num).and_then(|v| u32::try_from(v).ok()) else {
                    return Err(SandboxError::Policy(format!(
                        "{role:?} policy line {}: bad errno '{entry}'",
                        n + 1
                    )));
                };
                policy.syscalls.push(SyscallRule {
                    name: name.to_string(),
                    arg: None,
                    errno: Some(errno),
                    reason,
                });
            }
            ["syscall", name, arg, rest @ ..] => {
                let index = arg
                    .strip_prefix("arg")
                    .and_then(|i| i.parse::<u8>().ok())
                    .filter(|i| *i < 6);
                let (mask, value) = match rest {
                    ["==", v] => (None, parse_number(v)),
                    ["&", m, "==", v] => match parse_number(m) {
                        Some(m) => (Some(m), parse_number(v)),
                        None => (None, None),
                    },
                    _ => (None, None),
                };
                let (Some(index), Some(value)) = (index, value) else {
                    return Err(SandboxError::Policy(format!(
                        "{role:?} policy line {}: bad argument filter '{entry}'",
                        n + 1
                    )));
                };
                policy.syscalls.push(SyscallRule {
                    name: name.to_string(),
                    arg: Some(ArgMatch { index, mask, value }),
                    errno: None,
                    reason,
                });
            }
            _ => {
                return Err(SandboxError::Policy(format!(
                    "{role:?} policy line {}: cannot parse '{entry}'",
                    n + 1
                )))
            }
        }
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Paths {
        Paths {
            datadir: "/d".into(),
            net_dir: "/d/regtest".into(),
            wallet_dir: Some("/d/regtest/wallets/w".into()),
            blocks_dir: Some("/b/regtest/blocks".into()),
        }
    }

    #[test]
    fn both_policies_parse_and_every_entry_has_a_reason() {
        for role in [Role::NodeWorker, Role::Wallet] {
            let p = load(role, &paths()).unwrap();
            assert!(!p.network, "{role:?} gets no TCP");
            assert!(p.paths.iter().all(|r| !r.reason.is_empty()));
        }
    }

    #[test]
    fn allowlists_stay_within_their_targets_and_forbid_the_dangerous_calls() {
        let worker = load(Role::NodeWorker, &paths()).unwrap();
        let wallet = load(Role::Wallet, &paths()).unwrap();
        assert!(
            distinct_syscalls(&worker.syscalls) <= 120,
            "node worker: {}",
            distinct_syscalls(&worker.syscalls)
        );
        assert!(
            distinct_syscalls(&wallet.syscalls) <= 80,
            "wallet: {}",
            distinct_syscalls(&wallet.syscalls)
        );
        for p in [&worker, &wallet] {
            for forbidden in [
                "execve",
                "execveat",
                "socket",
                "connect",
                "bind",
                "listen",
                "ptrace",
                "kill",
                "tgkill",
                "mount",
                "unshare",
                "setuid",
                "keyctl",
                "bpf",
                "io_uring_setup",
                "fork",
            ] {
                assert!(
                    !p.syscalls.iter().any(|r| r.name == forbidden),
                    "{forbidden} must not be allowed"
                );
            }
            // Threads only: clone never with namespace flags; clone3 (whose
            // flags a filter cannot read) always fails with ENOSYS.
            for r in p.syscalls.iter().filter(|r| r.name == "clone") {
                let m = r.arg.expect("clone is filtered by its flags");
                assert_eq!((m.index, m.mask, m.value), (0, Some(0x7E02_0000), 0));
            }
            for r in p.syscalls.iter().filter(|r| r.name == "clone3") {
                assert_eq!(r.errno, Some(38));
            }
            assert!(p.syscalls.iter().all(|r| !r.reason.is_empty()));
            let ioctl = p.syscalls.iter().find(|r| r.name == "ioctl").unwrap();
            assert_eq!(
                ioctl.arg,
                Some(ArgMatch {
                    index: 1,
                    mask: None,
                    value: 0x5421
                }),
                "ioctl is FIONBIO only"
            );
        }
    }

    /// The fcntl commands a role's policy allows (each rule must match arg1 exactly).
    fn fcntl_commands(p: &Policy) -> Vec<u64> {
        let mut v: Vec<u64> = p
            .syscalls
            .iter()
            .filter(|r| r.name == "fcntl")
            .map(|r| {
                let m = r.arg.expect("fcntl is filtered by its command");
                assert_eq!((m.index, m.mask), (1, None), "fcntl: arg1 == command");
                m.value
            })
            .collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn fcntl_allows_only_the_commands_each_role_uses() {
        // F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC: what std, tokio
        // and the IPC code do (seen with strace over the process-set tests).
        let common = [1, 2, 3, 4, 1030];
        let worker = fcntl_commands(&load(Role::NodeWorker, &paths()).unwrap());
        let wallet = fcntl_commands(&load(Role::Wallet, &paths()).unwrap());
        // The worker adds F_SETLK for LevelDB's LOCK files; the wallet locks nothing.
        assert_eq!(worker, [1, 2, 3, 4, 6, 1030]);
        assert_eq!(wallet, common);
        // Never F_SETOWN (8), F_SETSIG (10), F_SETOWN_EX (15), F_SETLEASE
        // (1024) or F_NOTIFY (1026): each aims signals at a process.
        for cmd in [8, 10, 15, 1024, 1026] {
            assert!(!worker.contains(&cmd) && !wallet.contains(&cmd), "{cmd}");
        }
    }

    #[test]
    fn security_md_states_the_allowlist_sizes() {
        let doc = include_str!("../../SECURITY.md");
        let worker = distinct_syscalls(&load(Role::NodeWorker, &paths()).unwrap().syscalls);
        let wallet = distinct_syscalls(&load(Role::Wallet, &paths()).unwrap().syscalls);
        for phrase in [
            format!("({worker} for the worker,"),
            format!("{wallet} for a wallet)"),
            format!("| {worker}: socket I/O"),
            format!("| {wallet}: the same"),
        ] {
            assert!(doc.contains(&phrase), "SECURITY.md lacks {phrase:?}");
        }
    }

    #[test]
    fn worker_paths_are_the_engines_directories_only() {
        let p = load(Role::NodeWorker, &paths()).unwrap();
        let dirs: Vec<_> = p
            .paths
            .iter()
            .map(|r| r.path.display().to_string())
            .collect();
        assert_eq!(
            dirs,
            [
                "/d/regtest/blocks",
                "/b/regtest/blocks",
                "/d/regtest/chainstate",
                "/d/regtest/indexes"
            ]
        );
    }

    #[test]
    fn wallet_may_use_its_own_directory_only() {
        let p = load(Role::Wallet, &paths()).unwrap();
        assert_eq!(p.paths.len(), 1);
        assert_eq!(p.paths[0].path, PathBuf::from("/d/regtest/wallets/w"));
        assert_eq!(p.paths[0].rights, Rights::ReadWrite);
    }
}
