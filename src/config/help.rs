//! `-help` and `-version` text, laid out as Core's: a usage header, then each
//! category's heading and its options, help wrapped at 79 columns, indented 7.

use super::options::{all, help_text, Cat, Flags};
use super::Program;

fn program_name(p: Program) -> &'static str {
    match p {
        Program::Node => "bitcoin-node",
        Program::Wallet => "bitcoin-wallet",
        Program::Gui => "bitcoin-gui",
    }
}

/// `-version` output.
pub fn version(p: Program) -> String {
    format!(
        "{} ({}) version v{}\nCopyright (C) the {} developers. MIT licence.\n",
        program_name(p),
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        env!("CARGO_PKG_NAME")
    )
}

fn wrap(text: &str, width: usize, indent: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > width {
            out.push_str(&" ".repeat(indent));
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&" ".repeat(indent));
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `-help` output (with `-help-debug`, debug-only options too).
pub fn help(p: Program, show_debug: bool) -> String {
    let mut out = version(p);
    out.push_str(&format!("\nUsage:  {} [options]\n", program_name(p)));
    let mut opts = all(p);
    opts.sort_by(|a, b| a.cat.cmp(&b.cat).then(a.name.cmp(b.name)));
    let mut current: Option<Cat> = None;
    for opt in opts {
        if opt.cat == Cat::Hidden || (opt.flags.contains(Flags::DEBUG_ONLY) && !show_debug) {
            continue;
        }
        if current != Some(opt.cat) {
            out.push_str(&format!("\n{}\n\n", opt.cat.heading()));
            current = Some(opt.cat);
        }
        out.push_str(&format!("  -{}{}\n", opt.name, opt.value));
        out.push_str(&wrap(&help_text(&opt), 79, 7));
        out.push('\n');
    }
    out
}
