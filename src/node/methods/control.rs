//! Control RPCs: help, stop, uptime, logging, echo/echojson, getrpcinfo, and the
//! hidden setmocktime that test frameworks use.

use serde_json::{json, Value};

use super::{arg, help_text, synopsis, Handler::Sync, Method, NodeCtx, Ty};
use crate::chain::kernel_log;
use crate::logging;
use crate::rpc::protocol::code;
use crate::rpc::RpcError;

const CAT: &str = "Control";

pub fn methods() -> Vec<Method> {
    let m = |name, args, summary, f, hidden| Method {
        name,
        category: CAT,
        args,
        summary,
        handler: Sync(f),
        hidden,
    };
    const ECHO_ARGS: &[super::Arg] = &[
        ("arg0", Ty::Any, false),
        ("arg1", Ty::Any, false),
        ("arg2", Ty::Any, false),
        ("arg3", Ty::Any, false),
        ("arg4", Ty::Any, false),
        ("arg5", Ty::Any, false),
        ("arg6", Ty::Any, false),
        ("arg7", Ty::Any, false),
        ("arg8", Ty::Any, false),
        ("arg9", Ty::Any, false),
    ];
    vec![
        m(
            "logging",
            &[("include", Ty::Arr, false), ("exclude", Ty::Arr, false)],
            "Gets and sets the logging configuration.\nWhen called without an argument, returns the list of categories with status that are currently being debug logged or not.\nWhen called with arguments, adds or removes categories from debug logging and return the lists above.\nThe arguments are evaluated in order \"include\", \"exclude\".\nIf an item is both included and excluded, it will thus end up being excluded.",
            logging,
            false,
        ),
        m(
            "getrpcinfo",
            &[],
            "Returns details of the RPC server.",
            getrpcinfo,
            false,
        ),
        m(
            "help",
            &[("command", Ty::Str, false)],
            "List all commands, or get help for a specified command.",
            |_, _| Ok(Value::Null),
            false,
        ),
        m(
            "stop",
            &[("wait", Ty::Num, false)],
            "Request a graceful shutdown of the node.",
            stop,
            false,
        ),
        m(
            "uptime",
            &[],
            "Returns the total uptime of the server.",
            uptime,
            false,
        ),
        m(
            "echo",
            ECHO_ARGS,
            "Simply echo back the input arguments. This command is for testing.",
            echo,
            true,
        ),
        m(
            "echojson",
            ECHO_ARGS,
            "Simply echo back the input arguments. This command is for testing.",
            echo,
            true,
        ),
        m(
            "setmocktime",
            &[("timestamp", Ty::Num, true)],
            "Set the local time to given timestamp (-regtest only).",
            setmocktime,
            true,
        ),
        m(
            "getmemoryinfo",
            &[("mode", Ty::Str, false)],
            "Returns an object containing information about memory usage.",
            getmemoryinfo,
            false,
        ),
        // Blocks are validated and indexed before generate/submit return, so
        // nothing is ever queued: answer at once.
        m(
            "syncwithvalidationinterfacequeue",
            &[],
            "Waits for the validation interface queue to catch up on everything that was there when we entered this function.",
            |_, _| Ok(Value::Null),
            true,
        ),
    ]
}

/// `help` and `help <command>` (called by the dispatcher with the table).
pub fn help(table: &[Method], args: &[Value]) -> Result<Value, RpcError> {
    if let Some(name) = arg::string(args, 0) {
        return Ok(match table.iter().find(|m| m.name == name) {
            Some(m) => help_text(m).into(),
            None => format!("help: unknown command: {name}").into(),
        });
    }
    let mut methods: Vec<&Method> = table.iter().filter(|m| !m.hidden).collect();
    methods.sort_by(|a, b| (a.category, a.name).cmp(&(b.category, b.name)));
    let mut out = String::new();
    let mut current = "";
    for m in methods {
        if m.category != current {
            if !current.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("== {} ==\n", m.category));
            current = m.category;
        }
        out.push_str(&synopsis(m));
        out.push('\n');
    }
    Ok(out.trim_end().to_string().into())
}

fn stop(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    ctx.stop.notify_one();
    Ok("Bitcoin Core stopping".into())
}

/// Core's `logging`: categories switched on, then off, in the node worker
/// (its own lines, the kernel's and RPC's); answers every category, sorted.
fn logging(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let names = |i: usize| -> Result<Vec<String>, RpcError> {
        arg::opt(args, i)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    RpcError::new(code::TYPE_ERROR, "JSON value is not a string as expected")
                })
            })
            .collect()
    };
    let (include, exclude) = (names(0)?, names(1)?);
    let startup = &ctx.log_config.categories;
    let active = if include.is_empty() && exclude.is_empty() {
        logging::changed_categories().unwrap_or_else(|| startup.clone())
    } else {
        let active = logging::update_categories(startup, &include, &exclude)
            .map_err(|e| RpcError::new(code::INVALID_PARAMETER, e.to_string()))?;
        if let Some(logger) = &ctx.kernel_log {
            kernel_log::apply(logger, &ctx.log_config, &active);
        }
        tracing::info!(
            "Debug logging categories now: {}",
            active.iter().cloned().collect::<Vec<_>>().join(", ")
        );
        active
    };
    let mut sorted: Vec<&str> = logging::CATEGORIES.to_vec();
    sorted.sort_unstable();
    Ok(Value::Object(
        sorted
            .into_iter()
            .map(|c| (c.to_string(), active.contains(c).into()))
            .collect(),
    ))
}

fn uptime(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    // A steady clock, as Core's: setmocktime does not move it.
    Ok(ctx.started.elapsed().as_secs().into())
}

fn echo(_: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    if args.get(9).and_then(Value::as_str) == Some("throw") {
        return Err(RpcError::new(
            code::MISC_ERROR,
            "echo was called with arg9=\"throw\"",
        ));
    }
    Ok(Value::Array(args.to_vec()))
}

fn getrpcinfo(ctx: &NodeCtx, _: &[Value]) -> Result<Value, RpcError> {
    let active: Vec<Value> = ctx
        .active
        .borrow()
        .iter()
        .map(|(m, t)| json!({"method": m, "duration": t.elapsed().as_micros() as u64}))
        .collect();
    Ok(json!({"active_commands": active, "logpath": ctx.log_path}))
}

fn setmocktime(ctx: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    super::regtest_only(ctx, "setmocktime")?;
    let t = arg::int(args, 0, 0)?;
    // Block times are 32-bit: Core refuses a mock time beyond them.
    let max = i64::from(u32::MAX);
    if !(0..=max).contains(&t) {
        return Err(RpcError::new(
            code::INVALID_PARAMETER,
            format!("Mocktime must be in the range [0, {max}], not {t}."),
        ));
    }
    crate::chain::clock::set_mock_time(t);
    Ok(Value::Null)
}

/// Core's getmemoryinfo: "stats" reports its locked (mlock'd) pool, which
/// keys would use; this node keeps none, so every figure is zero. "mallocinfo"
/// is glibc's malloc_info XML of this (the worker) process.
fn getmemoryinfo(_: &NodeCtx, args: &[Value]) -> Result<Value, RpcError> {
    let mode = arg::string(args, 0).unwrap_or_else(|| "stats".into());
    match mode.as_str() {
        "stats" => Ok(json!({"locked": {
            "used": 0, "free": 0, "total": 0, "locked": 0, "chunks_used": 0, "chunks_free": 0,
        }})),
        "mallocinfo" => malloc_info()
            .map(Value::from)
            .ok_or_else(|| RpcError::new(code::MISC_ERROR, "malloc_info failed")),
        _ => Err(RpcError::new(
            code::INVALID_PARAMETER,
            format!("unknown mode {mode}"),
        )),
    }
}

/// glibc's malloc_info written to a memory stream.
fn malloc_info() -> Option<String> {
    let mut buf: *mut libc::c_char = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: open_memstream gets valid out-pointers; the stream is closed
    // before `buf` is read, and `buf` (malloc'd by libc) is freed once copied.
    unsafe {
        let stream = libc::open_memstream(&mut buf, &mut len);
        if stream.is_null() {
            return None;
        }
        let rc = libc::malloc_info(0, stream);
        libc::fclose(stream);
        if buf.is_null() {
            return None;
        }
        let text = std::slice::from_raw_parts(buf as *const u8, len);
        let out = String::from_utf8_lossy(text).into_owned();
        libc::free(buf.cast());
        (rc == 0).then_some(out)
    }
}
