//! cli: the front door every binary shares: parse options (answering `-help`
//! and `-version`), and report a fatal error in one line, Core's way.

use crate::config::{Config, Parsed, Program};

/// Prints Core's one-line error (`Error: ...`) and returns exit code 1.
pub fn fail(message: &str) -> i32 {
    eprintln!("Error: {message}");
    1
}

/// Parses `args` for `program`. `Err(code)` means: exit now with `code`
/// (help or version printed: 0; a refused option or file: 1, message printed).
pub fn parse(program: Program, args: &[String]) -> Result<Config, i32> {
    match Config::from_command_line(program, args) {
        Ok(Parsed::Run(c)) => Ok(c),
        Ok(Parsed::Help(text)) | Ok(Parsed::Version(text)) => {
            print!("{text}");
            Err(0)
        }
        Err(e) => Err(fail(&e.to_string())),
    }
}

/// Runs `future` to its exit code on a single-threaded runtime with a
/// `LocalSet` (capnp-rpc is single-threaded). Tasks still holding sockets are
/// dropped before this returns.
pub fn run_local<F: std::future::Future<Output = i32>>(future: F) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let local = tokio::task::LocalSet::new();
    let code = local.block_on(&rt, future);
    drop(local);
    drop(rt);
    code
}
