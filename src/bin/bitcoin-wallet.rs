//! `bitcoin-wallet`: a wallet process (spawned by the node, or attached with
//! `-ipcconnect`), or Core's offline wallet tool.

fn main() {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    std::process::exit(bitcoin_mp::wallet::main(&args));
}
