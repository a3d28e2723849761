//! cli: the front door every binary shares: parse options (answering `-help`
//! and `-version`), and report a fatal error in one line, Core's way.

use crate::config::{Config, Parsed, Program};
use crate::logging::{self, LogConfig};

/// Prints Core's one-line error (`Error: ...`) and returns exit code 1.
pub fn fail(message: &str) -> i32 {
    eprintln!("Error: {message}");
    1
}

/// Parses `args` for `program`. `Err(code)` means: exit now with `code`
/// (help or version printed: 0; a refused option or file: 1, message printed).
pub fn parse(program: Program, args: &[String]) -> Result<Config, i32> {
    match Config::from_command_line(program, args) {
        Ok(Parsed::Run(c)) => Ok(c),
        Ok(Parsed::Help(text)) | Ok(Parsed::Version(text)) => {
            print!("{text}");
            Err(0)
        }
        Err(e) => Err(fail(&e.to_string())),
    }
}

/// Runs `future` to its exit code on a single-threaded runtime with a
/// `LocalSet` (capnp-rpc is single-threaded). Tasks still holding sockets are
/// dropped before this returns.
pub fn run_local<F: std::future::Future<Output = i32>>(future: F) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let local = tokio::task::LocalSet::new();
    let code = local.block_on(&rt, future);
    drop(local);
    drop(rt);
    code
}

/// Logs to the console for a process started by hand (debug.log is the broker's).
pub fn console_logging(config: &Config) -> Result<(), i32> {
    let mut cfg = LogConfig::from_config(config).map_err(|e| fail(&e.to_string()))?;
    cfg.printtoconsole = true;
    cfg.debug_log_file = None;
    logging::init_console(&cfg).map_err(|e| fail(&e.to_string()))
}

/// Which stop signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Interrupt,
    Terminate,
}

impl std::fmt::Display for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        })
    }
}

/// Waits for SIGINT or SIGTERM. If the handlers cannot be installed (never on
/// Linux in practice) it waits forever, leaving the default dispositions.
pub async fn stop_signal() -> StopSignal {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot handle SIGINT/SIGTERM; stop the process with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => StopSignal::Interrupt,
        _ = term.recv() => StopSignal::Terminate,
    }
}
