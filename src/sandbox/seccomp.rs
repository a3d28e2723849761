//! The seccomp layer: compiles a role's syscall allowlist with `seccompiler`
//! and loads it. A syscall outside the list raises SIGSYS; the handler sends one
//! pre-encoded log record naming the syscall (number and name) to the broker
//! and exits with code 159 (async-signal-safe: no allocation, no locks; the
//! records are encoded at install time, one per system call this architecture
//! has, names from the `syscalls` crate).

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};

use seccompiler::{apply_filter, compile_from_json, TargetArch};

use super::policy::{ArgMatch, SyscallRule};
use super::SandboxError;

/// Exit code of a process stopped by its sandbox.
pub const VIOLATION_EXIT: i32 = 159;
const PLACEHOLDER: &[u8] = b"#000000";

static LOG_FD: AtomicI32 = AtomicI32::new(-1);
static REPORT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static REPORT_LEN: AtomicUsize = AtomicUsize::new(0);
static DIGITS_AT: AtomicUsize = AtomicUsize::new(0);
/// One ready record per syscall number (a leaked slice of leaked records).
static NAMED: AtomicPtr<&'static [u8]> = AtomicPtr::new(std::ptr::null_mut());
static NAMED_LEN: AtomicUsize = AtomicUsize::new(0);

fn err(e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Layer {
        layer: "seccomp",
        reason: e.to_string(),
    }
}

/// One seccompiler rule object.
fn rule_json(name: &str, arg: Option<ArgMatch>) -> String {
    match arg {
        None => format!(r#"{{"syscall":"{name}"}}"#),
        Some(ArgMatch { index, mask, value }) => {
            let op = match mask {
                None => r#""eq""#.to_string(),
                Some(m) => format!(r#"{{"masked_eq":{m}}}"#),
            };
            format!(
                r#"{{"syscall":"{name}","args":[{{"index":{index},"type":"qword","op":{op},"val":{value}}}]}}"#
            )
        }
    }
}

/// The seccompiler JSON for `rules` (built here, never read from disk): the
/// allowlist ("main", anything else traps) and, when some calls are answered
/// with an errno, one filter per errno value ("errno<N>"). Stacked filters take
/// the strictest verdict, so errno calls are also listed in the allowlist.
fn to_json(rules: &[SyscallRule]) -> String {
    // Rules for one syscall are alternatives: merge them.
    let mut by_name: HashMap<&str, Vec<&SyscallRule>> = HashMap::new();
    for r in rules {
        by_name.entry(&r.name).or_default().push(r);
    }
    let mut entries = Vec::new();
    let mut names: Vec<_> = by_name.keys().copied().collect();
    names.sort_unstable();
    for name in names {
        let group = &by_name[name];
        if group.iter().any(|r| r.arg.is_none()) {
            entries.push(rule_json(name, None));
        } else {
            for r in group {
                entries.push(rule_json(name, r.arg));
            }
        }
    }
    let mut filters = vec![format!(
        r#""main":{{"mismatch_action":"trap","match_action":"allow","filter":[{}]}}"#,
        entries.join(",")
    )];
    let mut errnos: Vec<u32> = rules.iter().filter_map(|r| r.errno).collect();
    errnos.sort_unstable();
    errnos.dedup();
    for errno in errnos {
        let calls: Vec<String> = rules
            .iter()
            .filter(|r| r.errno == Some(errno))
            .map(|r| rule_json(&r.name, None))
            .collect();
        filters.push(format!(
            r#""errno{errno}":{{"mismatch_action":"allow","match_action":{{"errno":{errno}}},"filter":[{}]}}"#,
            calls.join(",")
        ));
    }
    format!("{{{}}}", filters.join(","))
}

extern "C" fn on_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: for SIGSYS the kernel fills `_sigsys`, whose syscall number sits
    // 24 bytes into siginfo on 64-bit Linux; the report buffer was leaked at
    // install time and is only written here, once, before _exit.
    unsafe {
        let nr = *((info as *const u8).add(24) as *const i32);
        let fd = LOG_FD.load(Ordering::Relaxed);
        let named = NAMED.load(Ordering::Relaxed);
        if !named.is_null()
            && fd >= 0
            && nr >= 0
            && (nr as usize) < NAMED_LEN.load(Ordering::Relaxed)
        {
            let record = *named.add(nr as usize);
            if !record.is_empty() {
                libc::send(
                    fd,
                    record.as_ptr() as *const libc::c_void,
                    record.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                );
                libc::_exit(VIOLATION_EXIT);
            }
        }
        let buf = REPORT.load(Ordering::Relaxed);
        let len = REPORT_LEN.load(Ordering::Relaxed);
        if !buf.is_null() && fd >= 0 {
            let at = DIGITS_AT.load(Ordering::Relaxed);
            let mut n = nr.max(0) as u32;
            for i in (1..PLACEHOLDER.len()).rev() {
                *buf.add(at + i) = b'0' + (n % 10) as u8;
                n /= 10;
            }
            libc::send(
                fd,
                buf as *const libc::c_void,
                len,
                libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
            );
        }
        libc::_exit(VIOLATION_EXIT);
    }
}

/// The log record that reports blocked system call `number` (`name`).
fn report(number: &str, name: &str) -> Box<[u8]> {
    let record = crate::logging::Record {
        time_micros: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0),
        level: crate::logging::Level::Error,
        category: String::new(),
        thread: String::new(),
        file: String::new(),
        line: 0,
        function: String::new(),
        message: format!(
            "sandbox: blocked system call {number} {name} ({}), process {} stopped",
            std::env::consts::ARCH,
            std::process::id()
        ),
    };
    crate::logging::encode_record(&record).into_boxed_slice()
}

/// Prepares the SIGSYS reports (sent on `log_fd`) and installs its handler.
fn install_sigsys_handler(log_fd: Option<RawFd>) -> Result<(), SandboxError> {
    if let Some(fd) = log_fd {
        let bytes = report(std::str::from_utf8(PLACEHOLDER).unwrap_or("#"), "unknown");
        let named: Vec<&'static [u8]> = (0..syscalls::Sysno::table_size())
            .map(|nr| match syscalls::Sysno::new(nr) {
                Some(sysno) => &*Box::leak(report(&format!("#{nr:06}"), sysno.name())),
                None => &[][..],
            })
            .collect();
        let named = Box::leak(named.into_boxed_slice());
        NAMED_LEN.store(named.len(), Ordering::Relaxed);
        NAMED.store(named.as_mut_ptr(), Ordering::Relaxed);
        let at = bytes
            .windows(PLACEHOLDER.len())
            .position(|w| w == PLACEHOLDER)
            .ok_or_else(|| err("cannot prepare the SIGSYS report"))?;
        let len = bytes.len();
        let ptr = Box::leak(bytes).as_mut_ptr();
        DIGITS_AT.store(at, Ordering::Relaxed);
        REPORT_LEN.store(len, Ordering::Relaxed);
        REPORT.store(ptr, Ordering::Relaxed);
        LOG_FD.store(fd, Ordering::Relaxed);
    }
    // SAFETY: installing a handler that only uses async-signal-safe calls.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigsys as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()) != 0 {
            return Err(err(std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Compiles `rules` and loads the filter into this thread (before any other
/// thread exists, so every later thread inherits it).
pub fn apply(rules: &[SyscallRule], log_fd: Option<RawFd>) -> Result<(), SandboxError> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(err)?;
    let filters = compile_from_json(to_json(rules).as_bytes(), arch).map_err(err)?;
    let program = filters
        .get("main")
        .ok_or_else(|| err("no filter compiled"))?;
    install_sigsys_handler(log_fd)?;
    // The errno filters first: the allowlist, loaded last, must permit the
    // seccomp call that loads them.
    for (name, extra) in &filters {
        if name != "main" {
            apply_filter(extra).map_err(err)?;
        }
    }
    apply_filter(program).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_merges_alternatives_and_filters_ioctl_by_request() {
        let rules = vec![
            SyscallRule {
                name: "read".into(),
                arg: None,
                errno: None,
                reason: "r".into(),
            },
            SyscallRule {
                name: "ioctl".into(),
                arg: Some(ArgMatch {
                    index: 1,
                    mask: None,
                    value: 0x5421,
                }),
                errno: None,
                reason: "r".into(),
            },
            SyscallRule {
                name: "clone".into(),
                arg: Some(ArgMatch {
                    index: 0,
                    mask: Some(0x7E02_0000),
                    value: 0,
                }),
                errno: None,
                reason: "r".into(),
            },
            SyscallRule {
                name: "clone3".into(),
                arg: None,
                errno: Some(38),
                reason: "r".into(),
            },
        ];
        let json = to_json(&rules);
        assert!(json.contains(r#"{"syscall":"read"}"#));
        assert!(json.contains(
            r#""syscall":"ioctl","args":[{"index":1,"type":"qword","op":"eq","val":21537}]"#
        ));
        assert!(json.contains(r#""op":{"masked_eq":2114060288},"val":0"#));
        assert!(json.contains(r#""errno38":{"mismatch_action":"allow","match_action":{"errno":38},"filter":[{"syscall":"clone3"}]}"#));
        let compiled = compile_from_json(
            json.as_bytes(),
            TargetArch::try_from(std::env::consts::ARCH).unwrap(),
        )
        .unwrap();
        assert!(compiled.contains_key("main") && compiled.contains_key("errno38"));
    }
}
