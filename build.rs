//! Compiles the Cap'n Proto interfaces in `schema/` into `OUT_DIR`, and
//! the kernel shims (`src/chain/{block_tree,chain_params,headers_sync,kernel_clock,manager_options,prune}.cpp`,
//! `src/mempool/script_check.cpp`) against the kernel's C++ headers (from
//! the pinned `libbitcoinkernel-sys` source cargo unpacked), with Core's
//! `headerssync.cpp` from that source (the low-work headers sync, which the
//! kernel library leaves out). Generated code is never committed.

use std::path::PathBuf;

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
    compile_kernel_shims();
}

/// Builds the kernel calls the C API lacks (chain/block_tree.rs,
/// chain/chain_params.rs, chain/clock.rs, chain/headers_sync.rs,
/// chain/prune.rs, mempool/script_check.rs), and Core's headerssync.cpp,
/// with the defines the kernel library itself is built with.
fn compile_kernel_shims() {
    let files = [
        "src/chain/block_tree.cpp",
        "src/chain/chain_params.cpp",
        "src/chain/headers_sync.cpp",
        "src/chain/kernel_clock.cpp",
        "src/chain/manager_options.cpp",
        "src/chain/prune.cpp",
        "src/mempool/script_check.cpp",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed=src/kernel_shim.h");
    println!("cargo:rerun-if-env-changed=BITCOINKERNEL_SYS_SRC");
    let src = kernel_source();
    cc::Build::new()
        .cpp(true)
        .std("c++20")
        .files(files)
        .file(src.join("headerssync.cpp"))
        .include(&src)
        .include(src.join("leveldb/include"))
        .define("BITCOINKERNEL_STATIC", None)
        .define("BOOST_MULTI_INDEX_DISABLE_SERIALIZATION", None)
        .define("BOOST_NO_CXX98_FUNCTION_BASE", None)
        .warnings(false)
        .compile("bitcoin_mp_kernel_shims");
}

/// `bitcoin/src` of the `libbitcoinkernel-sys` version Cargo.toml pins
/// (`=x.y.z`), in cargo's registry; `BITCOINKERNEL_SYS_SRC` overrides.
fn kernel_source() -> PathBuf {
    if let Ok(dir) = std::env::var("BITCOINKERNEL_SYS_SRC") {
        return PathBuf::from(dir);
    }
    let manifest = std::fs::read_to_string("Cargo.toml").expect("reading Cargo.toml");
    let version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("libbitcoinkernel-sys = \"="))
        .and_then(|rest| rest.split('"').next())
        .expect("Cargo.toml pins libbitcoinkernel-sys as \"=x.y.z\"");
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo")
        });
    let registry = home.join("registry/src");
    let found = std::fs::read_dir(&registry).ok().and_then(|dirs| {
        dirs.flatten()
            .map(|d| {
                d.path()
                    .join(format!("libbitcoinkernel-sys-{version}/bitcoin/src"))
            })
            .find(|p| p.join("validation.h").exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "libbitcoinkernel-sys {version} source not found under {}; set BITCOINKERNEL_SYS_SRC to its bitcoin/src",
            registry.display()
        )
    })
}
