//! wallet/: the `bitcoin-wallet` process, spawned by the node (sandboxed, serving
//! `Init` on `-ipcfd`) or attached to a running node with `-ipcconnect`. Without
//! IPC options it is Core's offline wallet tool.

use crate::cli::{self, fail};
use crate::config::Program;
use crate::ipc::child;
use crate::ipc::client::attach_if_asked;
use crate::ipc::spawn::{ChildArgs, ChildRole};

/// The offline tool's commands, as Core's bitcoin-wallet names them.
const TOOL_COMMANDS: &[&str] = &["info", "create", "salvage", "dump", "createfromdump"];

/// Entry point of `bitcoin-wallet` (argv without argv[0]); returns the exit code.
pub fn main(args: &[String]) -> i32 {
    if ChildArgs::is_spawned_child(args) {
        // Spawned by the broker: settings come over IPC, never from bitcoin.conf.
        return child::run(
            ChildRole::Wallet,
            args,
            |_broker, _config, _interfaces, mut stopping| async move {
                stopping.wait().await;
                Ok(())
            },
        );
    }
    let config = match cli::parse(Program::Wallet, args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(code) = cli::console_logging(&config) {
        return code;
    }
    if let Some(code) = attach_if_asked(&config, "bitcoin-wallet") {
        return code;
    }
    match config.positional().first() {
        None => fail("No method provided. Run `bitcoin-wallet -help` for valid methods."),
        Some(cmd) if TOOL_COMMANDS.contains(&cmd.as_str()) => fail(&format!(
            "The offline wallet tool command '{cmd}' is not available yet in this build"
        )),
        Some(cmd) => fail(&format!("Invalid command '{cmd}'")),
    }
}
