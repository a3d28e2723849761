//! wallet/: the `bitcoin-wallet` process, spawned by the node (sandboxed, serving
//! `Init` on `-ipcfd`) or attached to a running node with `-ipcconnect`. Without
//! IPC options it is Core's offline wallet tool.

use crate::config::{Config, Parsed, Program};
use crate::ipc::child;
use crate::ipc::client::{connect_address, run_attached};
use crate::ipc::spawn::{ChildArgs, ChildRole};
use crate::logging::{self, LogConfig};

/// The offline tool's commands, as Core's bitcoin-wallet names them.
const TOOL_COMMANDS: &[&str] = &["info", "create", "salvage", "dump", "createfromdump"];

/// Entry point of `bitcoin-wallet` (argv without argv[0]); returns the exit code.
pub fn main(args: &[String]) -> i32 {
    if ChildArgs::is_spawned_child(args) {
        // Spawned by the broker: settings come over IPC, never from bitcoin.conf.
        return child::run(ChildRole::Wallet, args, |_broker, _config| {
            std::future::pending::<()>()
        });
    }
    let config = match Config::from_command_line(Program::Wallet, args) {
        Ok(Parsed::Run(c)) => c,
        Ok(Parsed::Help(t)) | Ok(Parsed::Version(t)) => {
            print!("{t}");
            return 0;
        }
        Err(e) => return fail(&e.to_string()),
    };
    if let Err(code) = console_logging(&config) {
        return code;
    }
    if let Some(value) = config.get("ipcconnect") {
        let address = match connect_address(&value, &config.net_dir()) {
            Ok(a) => a,
            Err(e) => return fail(&e.to_string()),
        };
        return run_attached(address, "bitcoin-wallet", |_| {});
    }
    match config.positional().first() {
        None => fail("No method provided. Run `bitcoin-wallet -help` for valid methods."),
        Some(cmd) if TOOL_COMMANDS.contains(&cmd.as_str()) => fail(&format!(
            "The offline wallet tool command '{cmd}' is not available yet in this build"
        )),
        Some(cmd) => fail(&format!("Invalid command '{cmd}'")),
    }
}

/// Logs to the console for a process started by hand (debug.log is the broker's).
pub(crate) fn console_logging(config: &Config) -> Result<(), i32> {
    let mut cfg = LogConfig::from_config(config).map_err(|e| fail(&e.to_string()))?;
    cfg.printtoconsole = true;
    cfg.debug_log_file = None;
    logging::init_console(&cfg).map_err(|e| fail(&e.to_string()))
}

fn fail(message: &str) -> i32 {
    eprintln!("Error: {message}");
    1
}
