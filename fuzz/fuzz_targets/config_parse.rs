//! `bitcoin.conf` and the command line, as the broker reads them from the user.
//!
//! Input: `<conf text>` or `<conf text>\0<arg>\0<arg>...` (UTF-8; argv has no NULs).
//!
//! Invariants:
//! - `config::conf::parse` never panics, and what it accepts re-renders
//!   (`render` below: one `section.name=value` or `[section]` + `name=value`
//!   per line) to a file that parses to exactly the same lines;
//! - `Config::from_command_line` (with that text as `<datadir>/bitcoin.conf`)
//!   never panics, and every option name it accepted is in the program's
//!   known-options table (`config::find_option`).
//!
//! Arguments that would make the parser read other files (`-conf`, `-datadir`,
//! `includeconf`) are dropped: the target must not depend on (or hang on, e.g.
//! `-conf=/dev/zero`) the machine's files.
#![no_main]

use bitcoin_mp::config::{conf, find_option, Config, Parsed, Program};
use libfuzzer_sys::fuzz_target;

/// The characters `conf::parse` trims around a line.
fn trimmed_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\x0b' | '\x0c')
}

/// Whether `line` would be read as a `[section]` header.
fn is_header(line: &str) -> bool {
    line.starts_with('[') && line.ends_with(']')
}

/// One conf line per parsed (section, name, value), in a form that parses back
/// to it, or None when no single line or header+line can (a parser bug: it
/// produced something no conf file can say).
fn render(lines: &[conf::ConfLine]) -> Option<String> {
    let mut out = String::new();
    for (section, name, value) in lines {
        // `section.name=value`: the section must survive trimming and contain
        // no `=` (the name is split off at the last `.` before the first `=`).
        let prefixed = format!("{section}.{name}={value}");
        let prefix_ok = !section.contains('=')
            && !section.starts_with(trimmed_ws)
            && !section.starts_with('-')
            && !is_header(&prefixed);
        // `[section]` then `name=value`: the name must survive trimming.
        let plain = format!("{name}={value}");
        let header_ok =
            !name.starts_with(trimmed_ws) && !name.starts_with('-') && !is_header(&plain);
        if prefix_ok {
            out.push_str(&prefixed);
        } else if header_ok {
            out.push_str(&format!("[{section}]\n{plain}"));
        } else {
            return None;
        }
        out.push('\n');
    }
    Some(out)
}

/// Options whose values name files the parser would read.
fn touches_files(s: &str) -> bool {
    s.contains("conf") || s.contains("datadir")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.split('\0');
    let conf_text = parts.next().unwrap_or("");

    // The line parser on its own.
    if let Ok(lines) = conf::parse(conf_text) {
        let again = render(&lines).unwrap_or_else(|| panic!("no conf line says {lines:?}"));
        assert_eq!(
            conf::parse(&again).as_ref(),
            Ok(&lines),
            "rendered as {again:?}"
        );
    }

    // The whole thing: command line, then the conf file in the datadir.
    // A datadir of this input's own, removed when it is done (a static one
    // outlived every run: libFuzzer exits without dropping statics).
    let tmp = tempfile::tempdir().expect("temp datadir");
    let dir = tmp.path();
    let mut args = vec![format!("-datadir={}", dir.display())];
    args.extend(parts.filter(|a| !touches_files(a)).map(str::to_string));
    let conf_text = if conf_text.contains("includeconf") {
        ""
    } else {
        conf_text
    };
    std::fs::write(dir.join("bitcoin.conf"), conf_text).expect("write bitcoin.conf");
    for program in [Program::Node, Program::Wallet, Program::Gui] {
        if let Ok(Parsed::Run(config)) = Config::from_command_line(program, &args) {
            for arg in config.to_settings(|_| true) {
                assert!(
                    find_option(program, &arg.name).is_some(),
                    "{program:?} accepted unknown option {:?}",
                    arg.name
                );
            }
            // The typed getters must not panic on any accepted value.
            for arg in config.to_settings(|_| true) {
                let _ = (
                    config.get_int(&arg.name, 0),
                    config.get_bool(&arg.name, false),
                );
            }
        }
    }
});
