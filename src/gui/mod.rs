//! gui/: the `bitcoin-gui` process: spawns `bitcoin-node` over a socket pair
//! (`-ipcfd`) or attaches to a running node with `-ipcconnect`. It holds no
//! keys and parses no network data. The window itself is not built yet: this
//! process runs headless, attached, until it is closed (SIGINT/SIGTERM).

use std::time::Duration;

use crate::cli::{self, fail};
use crate::config::Program;
use crate::ipc::client::{attach_connected, attach_if_asked};
use crate::ipc::spawn::spawn_with_ipcfd;

/// bitcoin-qt options that stay with the GUI and are not passed to the node.
const GUI_ONLY: &[&str] = &[
    "choosedatadir",
    "lang",
    "min",
    "resetguisettings",
    "splash",
    "uiplatform",
    "ipcconnect",
];
/// How long the spawned node gets to stop after we close its socket.
const NODE_STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Entry point of `bitcoin-gui` (argv without argv[0]); returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let config = match cli::parse(Program::Gui, args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(code) = cli::console_logging(&config) {
        return code;
    }
    // Attached: the node keeps running when we exit.
    if let Some(code) = attach_if_asked(&config, "bitcoin-gui") {
        return code;
    }
    spawn_and_drive_node(args)
}

/// Node options from our command line: everything but the GUI's own.
fn node_args(args: &[String]) -> Vec<String> {
    args.iter()
        .filter(|a| {
            let name = a.trim_start_matches('-').split('=').next().unwrap_or("");
            let name = name
                .strip_prefix("no")
                .filter(|n| GUI_ONLY.contains(n))
                .unwrap_or(name);
            !GUI_ONLY.contains(&name)
        })
        .cloned()
        .collect()
}

fn spawn_and_drive_node(args: &[String]) -> i32 {
    cli::run_local(async move {
        let exe = match std::env::current_exe() {
            Ok(me) => me.with_file_name("bitcoin-node"),
            Err(e) => return fail(&e.to_string()),
        };
        let (mut node, fd) = match spawn_with_ipcfd(&exe, "bitcoin-node", node_args(args)) {
            Ok(r) => r,
            Err(e) => return fail(&e.to_string()),
        };
        let pid = node.id().unwrap_or(0);
        let stream = match crate::ipc::connection::stream_from_fd(fd) {
            Ok(s) => s,
            Err(e) => return fail(&e.to_string()),
        };
        let attached = tokio::select! {
            a = attach_connected(stream, "ipcfd", "bitcoin-gui") => a,
            status = node.wait() => {
                return fail(&format!("bitcoin-node (pid {pid}) stopped before answering: {}", status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string())));
            }
        };
        let attached = match attached {
            Ok(a) => a,
            Err(e) => return fail(&e.to_string()),
        };
        tracing::info!("bitcoin-gui: started bitcoin-node (pid {pid}) and attached over -ipcfd; no window yet, running headless");
        let crate::ipc::client::Attached { init, rpc, .. } = attached;
        let node_ended = tokio::select! {
            _ = rpc => true,
            _ = cli::stop_signal() => false,
        };
        // Closing our end tells the node to shut down.
        drop(init);
        if node_ended {
            tracing::warn!("bitcoin-gui: bitcoin-node (pid {pid}) closed the connection");
        }
        match tokio::time::timeout(NODE_STOP_TIMEOUT, node.wait()).await {
            Ok(Ok(status)) if status.success() => 0,
            Ok(Ok(status)) => fail(&format!(
                "bitcoin-node (pid {pid}) {}",
                crate::broker::supervise::describe_exit(&status)
            )),
            Ok(Err(e)) => fail(&e.to_string()),
            Err(_) => fail(&format!(
                "bitcoin-node (pid {pid}) did not stop within {}s",
                NODE_STOP_TIMEOUT.as_secs()
            )),
        }
    })
}
