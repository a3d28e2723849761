//! wallet/: the `bitcoin-wallet` process, spawned by the node (sandboxed, serving
//! `Init` on `-ipcfd`) or attached to a running node with `-ipcconnect`. Without
//! IPC options it is Core's offline wallet tool.

pub mod attached;
pub mod engine;
pub mod import;
pub mod keys;
pub mod name;
pub mod options;
pub mod process;
pub mod psbt;
pub mod rpc;
pub mod send;
pub mod store;
pub mod tool;

use std::rc::Rc;

use crate::cli::{self, fail};
use crate::config::Program;
use crate::ipc::child;
use crate::ipc::spawn::{ChildArgs, ChildRole};

/// Separates Core's error code from its message in a capnp failure's text.
pub const ERROR_SEPARATOR: char = '\u{1f}';

/// The offline tool's commands, as Core's bitcoin-wallet names them.
const TOOL_COMMANDS: &[&str] = &["info", "create", "salvage", "dump", "createfromdump"];

/// Entry point of `bitcoin-wallet` (argv without argv[0]); returns the exit code.
pub fn main(args: &[String]) -> i32 {
    if ChildArgs::is_spawned_child(args) {
        // Spawned by the broker: settings come over IPC, never from bitcoin.conf.
        return child::run(
            ChildRole::Wallet,
            args,
            |broker, config, interfaces, mut stopping| async move {
                let settings = broker.get_settings().await.map_err(|e| e.to_string())?;
                name::check(&settings.wallet_name)?;
                let options = options::WalletOptions::from_config(&config)?;
                let dir = config.net_dir().join("wallets").join(&settings.wallet_name);
                let wallet = process::WalletProcess::new(
                    settings.wallet_name,
                    dir,
                    config.chain().network(),
                    options,
                );
                // From here on Init.makeWalletLoader is served.
                *interfaces.borrow_mut() = Some(Rc::new(process::WalletInterfaces(wallet.clone())));
                stopping.wait().await;
                if wallet.engine.borrow().is_some() {
                    if let Err(e) = wallet.commit() {
                        tracing::error!("Wallet \"{}\": {}", wallet.name, e.message);
                    }
                }
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
    if config.get("ipcconnect").is_some() {
        return attached::run(&config);
    }
    match config.positional().first() {
        None => fail("No method provided. Run `bitcoin-wallet -help` for valid methods."),
        Some(cmd) if TOOL_COMMANDS.contains(&cmd.as_str()) => match tool::run(&config, cmd) {
            Ok(lines) => {
                for l in lines {
                    println!("{l}");
                }
                0
            }
            Err(e) => fail(&e),
        },
        Some(cmd) => fail(&format!("Invalid command '{cmd}'")),
    }
}
