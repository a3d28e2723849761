//! Escape attempts from inside each role's real sandbox policy. The test binary
//! re-runs itself as the sandboxed child (`probe_child` with PROBE_* variables),
//! which applies the role's policy through the library and reports one outcome.

use std::path::{Path, PathBuf};
use std::process::Command;

use bitcoin_mp::sandbox::{apply, Mode, Paths, Role};

const EACCES: &str = "errno=13";

fn role_name(role: Role) -> &'static str {
    match role {
        Role::NodeWorker => "worker",
        Role::Wallet => "wallet",
    }
}

/// A datadir with a wallet `w1` (the probe's own), another wallet `w2` and a file in each.
fn datadir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for w in ["w1", "w2"] {
        let dir = d.path().join("regtest/wallets").join(w);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("wallet.dat"), w).unwrap();
    }
    std::fs::create_dir_all(d.path().join("regtest/blocks")).unwrap();
    std::fs::write(d.path().join("regtest/peers.dat"), b"x").unwrap();
    d
}

fn paths(datadir: &Path) -> Paths {
    let net = datadir.join("regtest");
    Paths {
        datadir: datadir.to_path_buf(),
        net_dir: net.clone(),
        wallet_dir: Some(net.join("wallets/w1")),
        blocks_dir: Some(net.join("blocks")),
    }
}

/// The directory the role may write in (where the positive control works).
fn own_dir(role: Role, datadir: &Path) -> PathBuf {
    match role {
        Role::NodeWorker => datadir.join("regtest/blocks"),
        Role::Wallet => datadir.join("regtest/wallets/w1"),
    }
}

/// Runs `attempt` inside `role`'s sandbox and returns the probe's outcome line.
fn probe(role: Role, attempt: &str, datadir: &Path, extra: &str) -> String {
    let out = probe_command(role, attempt, datadir, extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| {
            l.split_once("PROBE-RESULT: ")
                .map(|(_, r)| r.trim().to_string())
        })
        .unwrap_or_else(|| {
            panic!(
                "probe printed no result: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

fn probe_command(role: Role, attempt: &str, datadir: &Path, extra: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "probe_child", "--nocapture", "--test-threads=1"])
        .env("PROBE_ROLE", role_name(role))
        .env("PROBE_ATTEMPT", attempt)
        .env("PROBE_DATADIR", datadir)
        .env("PROBE_EXTRA", extra);
    cmd
}

/// Runs a forbidden system call inside `role`'s sandbox with a log socket on
/// fd 3; returns the exit code and the log record the SIGSYS handler sent.
fn probe_forbidden(role: Role, attempt: &str, datadir: &Path) -> (Option<i32>, String) {
    probe_forbidden_with(role, attempt, datadir, "")
}

fn probe_forbidden_with(
    role: Role,
    attempt: &str,
    datadir: &Path,
    extra: &str,
) -> (Option<i32>, String) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let (ours, theirs) = nix::sys::socket::socketpair(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        None,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
    )
    .unwrap();
    let fd = theirs.as_raw_fd();
    let mut cmd = probe_command(role, attempt, datadir, extra);
    cmd.env("PROBE_LOGFD", "3");
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(fd, 3) < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        });
    }
    let out = cmd.output().unwrap();
    drop(theirs);
    let record = match bitcoin_mp::broker::channel::recv_datagram(ours.as_raw_fd()) {
        Ok(Some(d)) => bitcoin_mp::logging::decode_record(&d.bytes)
            .map(|r| r.message)
            .unwrap_or_default(),
        _ => String::new(),
    };
    let _ = String::from_utf8_lossy(&out.stdout);
    (out.status.code(), record)
}

fn outcome<T>(r: std::io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("errno={}", e.raw_os_error().unwrap_or(-1)),
    }
}

/// The child side: only acts when started by `probe`.
#[test]
fn probe_child() {
    let Ok(role) = std::env::var("PROBE_ROLE") else {
        return;
    };
    let role = if role == "worker" {
        Role::NodeWorker
    } else {
        Role::Wallet
    };
    let datadir = PathBuf::from(std::env::var("PROBE_DATADIR").unwrap());
    let extra = std::env::var("PROBE_EXTRA").unwrap_or_default();
    let log_fd = std::env::var("PROBE_LOGFD")
        .ok()
        .and_then(|v| v.parse().ok());
    if let Ok(layer) = std::env::var("PROBE_UNAVAILABLE") {
        // Simulate an older kernel without `layer`, in the mode asked for.
        let unavailable = bitcoin_mp::sandbox::Unavailable {
            namespaces: layer == "namespaces",
            landlock: layer == "landlock",
            seccomp: layer == "seccomp",
        };
        let mode = Mode::from_option(&std::env::var("PROBE_MODE").unwrap()).unwrap();
        let result = match bitcoin_mp::sandbox::apply_with(
            role,
            mode,
            &paths(&datadir),
            None,
            unavailable,
        ) {
            Ok(report) => format!("ok: {}", report.log_lines().join(" | ")),
            Err(e) => format!("refused: {e}"),
        };
        println!("PROBE-RESULT: {result}");
        return;
    }
    let attempt = std::env::var("PROBE_ATTEMPT").unwrap();
    // A unix socket made before the sandbox (making one after is already
    // refused), for the attempts that connect it to an abstract address.
    let pre_socket = attempt.starts_with("abstract_connect").then(|| {
        nix::sys::socket::socket(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::Stream,
            nix::sys::socket::SockFlag::empty(),
            None,
        )
        .unwrap()
    });
    if let Ok(only) = std::env::var("PROBE_ONLY") {
        // Seccomp and namespaces left out, and Landlock too unless `only` is
        // "landlock": what Landlock alone refuses, and that nothing else does.
        let unavailable = bitcoin_mp::sandbox::Unavailable {
            namespaces: true,
            landlock: only != "landlock",
            seccomp: true,
        };
        bitcoin_mp::sandbox::apply_with(role, Mode::Auto, &paths(&datadir), log_fd, unavailable)
            .expect("sandbox applies");
    } else {
        apply(role, Mode::Auto, &paths(&datadir), log_fd).expect("sandbox applies");
    }
    let own = own_dir(role, &datadir);
    let result = match attempt.as_str() {
        "open_passwd" => outcome(std::fs::File::open("/etc/passwd")),
        "read_other_wallet" => {
            outcome(std::fs::read(datadir.join("regtest/wallets/w2/wallet.dat")))
        }
        "write_other_wallet" => outcome(std::fs::write(
            datadir.join("regtest/wallets/w2/wallet.dat"),
            b"owned",
        )),
        "read_own_wallet_as_worker" => {
            outcome(std::fs::read(datadir.join("regtest/wallets/w1/wallet.dat")))
        }
        "create_outside" => outcome(std::fs::File::create(datadir.join("regtest/planted"))),
        "read_other_datadir" => outcome(std::fs::read(&extra)),
        "write_other_datadir" => outcome(std::fs::write(&extra, b"owned")),
        "follow_symlink_out" => outcome(std::fs::read(own.join("link"))),
        "tcp_connect" => outcome(std::net::TcpStream::connect(extra.as_str())),
        "tcp_bind" => outcome(std::net::TcpListener::bind("127.0.0.1:0")),
        "inside_own_dir" => outcome((|| {
            std::fs::write(own.join("new.tmp"), b"data")?;
            std::fs::rename(own.join("new.tmp"), own.join("new.dat"))?;
            let back = std::fs::read(own.join("new.dat"))?;
            if back != b"data" {
                return Err(std::io::Error::other("content differs"));
            }
            Ok(())
        })()),
        "execve" => format!("rc={}", unsafe {
            libc::execv(
                c"/bin/sh".as_ptr(),
                [c"sh".as_ptr(), std::ptr::null()].as_ptr(),
            )
        }),
        "socket_inet" => outcome(std::net::UdpSocket::bind("127.0.0.1:0")),
        "abstract_connect" => {
            use std::os::fd::AsRawFd;
            let addr = nix::sys::socket::UnixAddr::new_abstract(extra.as_bytes()).unwrap();
            let fd = pre_socket.as_ref().unwrap().as_raw_fd();
            match nix::sys::socket::connect(fd, &addr) {
                Ok(()) => "ok".into(),
                Err(e) => format!("errno={}", e as i32),
            }
        }
        "signal_parent" => match nix::sys::signal::kill(nix::unistd::getppid(), None) {
            Ok(()) => "ok".into(),
            Err(e) => format!("errno={}", e as i32),
        },
        "kill_parent" => format!("rc={}", unsafe {
            libc::syscall(libc::SYS_kill, libc::getppid(), 0)
        }),
        "ptrace" => format!("rc={}", unsafe {
            libc::syscall(libc::SYS_ptrace, libc::PTRACE_ATTACH, libc::getppid(), 0, 0)
        }),
        "mount" => format!("rc={}", unsafe {
            libc::mount(
                c"none".as_ptr(),
                c"/tmp".as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                std::ptr::null(),
            )
        }),
        "unshare" => format!("rc={}", unsafe {
            libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER)
        }),
        // Raw syscall: glibc's setuid() would first signal every thread (tgkill).
        "setuid" => format!("rc={}", unsafe { libc::syscall(libc::SYS_setuid, 0) }),
        "keyctl" => format!("rc={}", unsafe {
            libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0)
        }),
        "bpf" => format!("rc={}", unsafe { libc::syscall(libc::SYS_bpf, 0, 0, 0) }),
        "io_uring_setup" => format!("rc={}", unsafe {
            libc::syscall(libc::SYS_io_uring_setup, 1, 0)
        }),
        other => panic!("unknown attempt {other}"),
    };
    println!("PROBE-RESULT: {result}");
}

#[test]
fn each_role_can_work_inside_its_own_directory() {
    let d = datadir();
    for role in [Role::NodeWorker, Role::Wallet] {
        assert_eq!(
            probe(role, "inside_own_dir", d.path(), ""),
            "ok",
            "{role:?}"
        );
    }
}

#[test]
fn no_role_can_touch_another_datadirs_files() {
    let d = datadir();
    let other = datadir();
    let block_file = other.path().join("regtest/blocks/blk00000.dat");
    std::fs::create_dir_all(block_file.parent().unwrap()).unwrap();
    std::fs::write(&block_file, b"theirs").unwrap();
    let target = block_file.to_str().unwrap();
    for role in [Role::NodeWorker, Role::Wallet] {
        for attempt in ["read_other_datadir", "write_other_datadir"] {
            assert_eq!(
                probe(role, attempt, d.path(), target),
                EACCES,
                "{role:?} {attempt}"
            );
        }
    }
    assert_eq!(std::fs::read(&block_file).unwrap(), b"theirs");
}

#[test]
fn no_role_can_open_etc_passwd() {
    let d = datadir();
    for role in [Role::NodeWorker, Role::Wallet] {
        assert_eq!(probe(role, "open_passwd", d.path(), ""), EACCES, "{role:?}");
    }
}

#[test]
fn wallet_cannot_read_or_write_another_wallets_files() {
    let d = datadir();
    assert_eq!(
        probe(Role::Wallet, "read_other_wallet", d.path(), ""),
        EACCES
    );
    assert_eq!(
        probe(Role::Wallet, "write_other_wallet", d.path(), ""),
        EACCES
    );
    assert_eq!(
        std::fs::read(d.path().join("regtest/wallets/w2/wallet.dat")).unwrap(),
        b"w2"
    );
}

#[test]
fn node_worker_cannot_read_wallet_files() {
    let d = datadir();
    assert_eq!(
        probe(Role::NodeWorker, "read_own_wallet_as_worker", d.path(), ""),
        EACCES
    );
}

#[test]
fn no_role_can_create_files_outside_its_paths() {
    let d = datadir();
    for role in [Role::NodeWorker, Role::Wallet] {
        assert_eq!(
            probe(role, "create_outside", d.path(), ""),
            EACCES,
            "{role:?}"
        );
    }
    assert!(!d.path().join("regtest/planted").exists());
}

#[test]
fn symlink_planted_inside_the_allowed_dir_does_not_lead_out() {
    let d = datadir();
    for role in [Role::NodeWorker, Role::Wallet] {
        let link = own_dir(role, d.path()).join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        assert_eq!(
            probe(role, "follow_symlink_out", d.path(), ""),
            EACCES,
            "{role:?}"
        );
    }
}

#[test]
fn no_role_can_connect_to_or_bind_a_tcp_port() {
    // Both layers deny it: seccomp has no socket(2) at all (the process is
    // stopped), and Landlock handles TCP bind/connect with no port allowed.
    let d = datadir();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    for role in [Role::NodeWorker, Role::Wallet] {
        for attempt in ["tcp_connect", "tcp_bind"] {
            let (code, message) = probe_forbidden_with(role, attempt, d.path(), &addr);
            assert_eq!(
                code,
                Some(bitcoin_mp::sandbox::seccomp::VIOLATION_EXIT),
                "{role:?} {attempt}"
            );
            assert!(
                message.contains(&format!("blocked system call #{:06}", libc::SYS_socket)),
                "{role:?} {attempt}: {message:?}"
            );
        }
    }
    // Control: outside the sandbox the same connect works.
    assert!(std::net::TcpStream::connect(&addr).is_ok());
}

/// The kernel's Landlock ABI (0 without Landlock).
fn landlock_abi() -> i64 {
    // LANDLOCK_CREATE_RULESET_VERSION
    unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, 0usize, 0usize, 1u32) }.max(0)
}

#[test]
fn no_role_can_reach_an_abstract_unix_socket_or_signal_outside() {
    use std::os::linux::net::SocketAddrExt;
    let d = datadir();
    let name = format!("bitcoin-mp-escape-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    for role in [Role::NodeWorker, Role::Wallet] {
        // Every layer: connect(2) is not in the allowlist, nor is kill(2).
        let (code, message) = probe_forbidden_with(role, "abstract_connect", d.path(), &name);
        assert_eq!(
            code,
            Some(bitcoin_mp::sandbox::seccomp::VIOLATION_EXIT),
            "{role:?}"
        );
        assert!(
            message.contains(&format!("#{:06} connect (", libc::SYS_connect)),
            "{role:?}: {message:?}"
        );
        let (code, message) = probe_forbidden(role, "signal_parent", d.path());
        assert_eq!(
            code,
            Some(bitcoin_mp::sandbox::seccomp::VIOLATION_EXIT),
            "{role:?}"
        );
        assert!(message.contains(" kill ("), "{role:?}: {message:?}");
        // Landlock alone scopes both (ABI 6): EPERM; without it (and without
        // seccomp and namespaces) the same child succeeds, so the EPERM is
        // Landlock's.
        if landlock_abi() < 6 {
            eprintln!(
                "Landlock ABI {} has no scoping: that half is skipped",
                landlock_abi()
            );
            continue;
        }
        for attempt in ["abstract_connect", "signal_parent"] {
            for (only, expected) in [
                ("landlock", format!("errno={}", libc::EPERM)),
                ("none", "ok".to_string()),
            ] {
                let out = probe_command(role, attempt, d.path(), &name)
                    .env("PROBE_ONLY", only)
                    .output()
                    .unwrap();
                let stdout = String::from_utf8_lossy(&out.stdout);
                assert!(
                    stdout.contains(&format!("PROBE-RESULT: {expected}\n")),
                    "{role:?} {attempt} with only {only}: {stdout}"
                );
            }
        }
    }
    // Control: outside the sandbox both work.
    assert!(std::os::unix::net::UnixStream::connect_addr(&addr).is_ok());
    assert_eq!(unsafe { libc::kill(std::process::id() as i32, 0) }, 0);
    drop(listener);
}

#[test]
fn forbidden_system_calls_stop_the_process_and_are_named_in_its_log() {
    let d = datadir();
    let cases: &[(&str, i64, &str)] = &[
        ("execve", libc::SYS_execve, "execve"),
        ("socket_inet", libc::SYS_socket, "socket"),
        ("kill_parent", libc::SYS_kill, "kill"),
        ("ptrace", libc::SYS_ptrace, "ptrace"),
        ("mount", libc::SYS_mount, "mount"),
        ("unshare", libc::SYS_unshare, "unshare"),
        ("setuid", libc::SYS_setuid, "setuid"),
        ("keyctl", libc::SYS_keyctl, "keyctl"),
        ("bpf", libc::SYS_bpf, "bpf"),
        ("io_uring_setup", libc::SYS_io_uring_setup, "io_uring_setup"),
    ];
    for role in [Role::NodeWorker, Role::Wallet] {
        for (attempt, nr, name) in cases {
            let (code, message) = probe_forbidden(role, attempt, d.path());
            assert_eq!(
                code,
                Some(bitcoin_mp::sandbox::seccomp::VIOLATION_EXIT),
                "{role:?} {attempt}: must be stopped by the sandbox"
            );
            assert!(
                message.contains(&format!("blocked system call #{nr:06} {name} (")),
                "{role:?} {attempt}: log record was {message:?}"
            );
        }
    }
}

#[test]
fn require_refuses_and_auto_reports_when_a_layer_is_unavailable() {
    let d = datadir();
    for layer in ["namespaces", "landlock", "seccomp"] {
        for role in [Role::NodeWorker, Role::Wallet] {
            let mut cmd = probe_command(role, "unavailable", d.path(), "");
            let out = cmd
                .env("PROBE_UNAVAILABLE", layer)
                .env("PROBE_MODE", "require")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            // The probe runs inside the multi-threaded test harness, where
            // unshare(CLONE_NEWUSER) is refused: namespaces are missing there
            // too (the real children get them: see process_set).
            let refused = stdout
                .lines()
                .find_map(|l| l.find("PROBE-RESULT: ").map(|i| &l[i..]))
                .unwrap_or_default();
            assert!(
                refused.starts_with(
                    "PROBE-RESULT: refused: -sandbox=require, but these layers are unavailable: "
                ) && refused.contains(&format!("{layer} (not available)")),
                "{role:?} {layer}: {stdout}"
            );
            let out = probe_command(role, "unavailable", d.path(), "")
                .env("PROBE_UNAVAILABLE", layer)
                .env("PROBE_MODE", "auto")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains(&format!("sandbox: missing layer: {layer} (not available)")),
                "{role:?} {layer}: {stdout}"
            );
        }
    }
}
