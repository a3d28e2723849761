//! gui/: the `bitcoin-gui` process, drop-in for `bitcoin-qt`: a window
//! (`app`, egui through eframe) on the node's `Node` interface and its
//! wallets' `Wallet` interfaces, reached by a backend thread (`backend`) that
//! spawns `bitcoin-node` over a socket pair (`-ipcfd`) or attaches to a
//! running node with `-ipcconnect`. It holds no keys and parses no network
//! data: everything it shows comes over Cap'n Proto (`model`).

pub mod app;
pub mod backend;
pub mod model;

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

use crate::cli::{self, fail};
use crate::config::Program;
use crate::ipc::client::connect_address;
use backend::{Backend, Source};

/// bitcoin-qt options that stay with the GUI and are not passed to the node.
const GUI_ONLY: &[&str] = &[
    "choosedatadir",
    "lang",
    "min",
    "resetguisettings",
    "splash",
    "uiplatform",
    "ipcconnect",
    "guiscreen",
];

/// Entry point of `bitcoin-gui` (argv without argv[0]); returns the exit code.
pub fn main(args: &[String]) -> i32 {
    let config = match cli::parse(Program::Gui, args) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(code) = cli::console_logging(&config) {
        return code;
    }
    // First, so that a signal during start-up closes the window too.
    if let Err(e) = install_stop_handlers() {
        return fail(&format!("cannot handle SIGINT/SIGTERM: {e}"));
    }
    // bitcoin-qt's options that do not change what this window does.
    for (option, why) in [
        ("splash", "there is no splash screen"),
        ("lang", "the window is in English only"),
        ("resetguisettings", "the window keeps no settings to reset"),
        (
            "choosedatadir",
            "the data directory comes from -datadir or its default",
        ),
        ("uiplatform", "the platform is X11"),
    ] {
        if config.get(option).is_some() {
            tracing::info!("bitcoin-gui: -{option} accepted: {why}");
        }
    }
    let source = match config.get("ipcconnect") {
        // Attached: the node keeps running when the window closes.
        Some(value) => match connect_address(&value, &config.net_dir()) {
            Ok(address) => match backend::connect(&address) {
                Ok(stream) => Source::Connected(stream, address),
                Err(e) => return fail(&e),
            },
            Err(e) => return fail(&e.to_string()),
        },
        None => match std::env::current_exe() {
            Ok(me) => Source::Spawn {
                exe: me.with_file_name("bitcoin-node"),
                args: node_args(args),
            },
            Err(e) => return fail(&e.to_string()),
        },
    };
    let screen = match config.get("guiscreen") {
        None => app::Screen::Overview,
        Some(name) => match app::Screen::ALL
            .into_iter()
            .find(|s| s.title().eq_ignore_ascii_case(&name))
        {
            Some(s) => s,
            None => return fail(&format!("Invalid -guiscreen '{name}'")),
        },
    };
    run_window(source, config.get_bool("min", false), screen)
}

/// Opens the window on a backend for `source`, showing `screen`; returns the
/// exit code once it is closed and a node it started has stopped.
pub fn run_window(source: Source, minimized: bool, screen: app::Screen) -> i32 {
    let code = Arc::new(AtomicI32::new(0));
    let app_code = code.clone();
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("Bitcoin (bitcoin-gui)")
            .with_app_id("bitcoin-gui")
            .with_inner_size([1000.0, 680.0]),
        ..Default::default()
    };
    // The node starts only once the window exists: no display, no node.
    let result = eframe::run_native(
        "bitcoin-gui",
        options,
        Box::new(move |_cc| {
            let backend = Backend::start(source);
            let mut app = app::App::new(backend, app_code, minimized);
            app.screen = screen;
            Ok(Box::new(app))
        }),
    );
    if let Err(e) = result {
        return fail(&format!(
            "cannot open the window: {e} (bitcoin-gui needs an X11 display: is DISPLAY set?)"
        ));
    }
    code.load(Ordering::SeqCst)
}

/// Set by SIGINT/SIGTERM; the window closes when it sees it.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

fn install_stop_handlers() -> nix::Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_stop_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { sigaction(signal, &action) }?;
    }
    Ok(())
}

/// Whether SIGINT or SIGTERM asked bitcoin-gui to close.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
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
