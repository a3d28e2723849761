//! `bitcoin-node`: drop-in for `bitcoind`. Started by a user it is the broker;
//! started by the broker with `-ipcrole=worker` it is the sandboxed node worker.

fn main() {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let code = if bitcoin_mp::ipc::spawn::ChildArgs::is_spawned_child(&args) {
        bitcoin_mp::node::worker_main(&args)
    } else {
        bitcoin_mp::broker::node_main::main(&args)
    };
    std::process::exit(code);
}
