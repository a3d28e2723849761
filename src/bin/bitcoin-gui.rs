//! `bitcoin-gui`: drop-in for `bitcoin-qt`; spawns `bitcoin-node` or attaches to one.

fn main() {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    std::process::exit(bitcoin_mp::gui::main(&args));
}
