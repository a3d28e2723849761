//! Compiles the Cap'n Proto interfaces in `schema/` into `OUT_DIR`.
//! Generated code is never committed.

fn main() {
    let mut cmd = capnpc::CompilerCommand::new();
    cmd.src_prefix("schema");
    // The generated modules live under `crate::schema`.
    cmd.default_parent_module(vec!["schema".into()]);
    for file in [
        "proxy", "common", "init", "echo", "mining", "rpc", "broker", "chain", "wallet", "node",
        "sandbox",
    ] {
        let path = format!("schema/{file}.capnp");
        println!("cargo:rerun-if-changed={path}");
        cmd.file(path);
    }
    if let Err(e) = cmd.run() {
        // One clear line: the usual cause is the `capnp` tool missing.
        panic!("compiling schema/*.capnp failed ({e}); is the `capnp` tool installed (Debian: capnproto)?");
    }
}
