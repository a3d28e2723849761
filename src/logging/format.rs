//! One log line in Core's format: timestamp, optional `[thread]` and
//! `[file:line] [function]`, Core's `[category]` / `[category:level]` /
//! `[warning]` prefix, the message with control characters escaped.

use super::config::LogConfig;

/// Severity, as Core names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warning,
    Error,
}

impl Level {
    /// Core's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }

    /// From a `tracing` level.
    pub fn from_tracing(l: &tracing::Level) -> Level {
        match *l {
            tracing::Level::TRACE => Level::Trace,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::INFO => Level::Info,
            tracing::Level::WARN => Level::Warning,
            tracing::Level::ERROR => Level::Error,
        }
    }
}

/// A log line's data, whoever produced it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Unix time in microseconds.
    pub time_micros: i64,
    pub level: Level,
    /// Core category name, or empty for an uncategorised line.
    pub category: String,
    pub thread: String,
    pub file: String,
    pub line: u32,
    /// Rust has no function name at run time: the module path stands in.
    pub function: String,
    pub message: String,
}

fn timestamp(cfg: &LogConfig, micros: i64) -> String {
    if !cfg.timestamps {
        return String::new();
    }
    let secs = micros.div_euclid(1_000_000);
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return String::new();
    };
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if cfg.timemicros {
        format!("{base}.{:06}Z ", micros.rem_euclid(1_000_000))
    } else {
        format!("{base}Z ")
    }
}

/// Core's prefix rules (`GetLogPrefix`).
fn prefix(cfg: &LogConfig, category: &str, level: Level) -> String {
    let has_category = cfg.always_print_category_level || !category.is_empty();
    if !has_category && level == Level::Info {
        return String::new();
    }
    let mut s = String::from("[");
    if has_category {
        s.push_str(if category.is_empty() { "all" } else { category });
    }
    if cfg.always_print_category_level || !has_category || level != Level::Debug {
        if has_category {
            s.push(':');
        }
        s.push_str(level.as_str());
    }
    s.push_str("] ");
    s
}

/// Escapes control characters except newline, as Core's `LogEscapeMessage`.
fn escape(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for ch in message.chars() {
        if (ch as u32) < 32 && ch != '\n' || ch == '\x7f' {
            out.push_str(&format!("\\x{:02x}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    out
}

/// Core's line format for one record, newline-terminated.
pub fn render(cfg: &LogConfig, r: &Record) -> String {
    let mut line = timestamp(cfg, r.time_micros);
    if cfg.threadnames {
        line.push_str(&format!(
            "[{}] ",
            if r.thread.is_empty() {
                "unknown"
            } else {
                &r.thread
            }
        ));
    }
    if cfg.sourcelocations {
        line.push_str(&format!(
            "[{}:{}] [{}] ",
            r.file.trim_start_matches("./"),
            r.line,
            r.function
        ));
    }
    line.push_str(&prefix(cfg, &r.category, r.level));
    line.push_str(&escape(&r.message));
    if !line.ends_with('\n') {
        line.push('\n');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(category: &str, level: Level, message: &str) -> Record {
        // 2026-11-24T12:00:00.123456Z
        Record {
            time_micros: 1_795_521_600_123_456,
            level,
            category: category.into(),
            thread: "main".into(),
            file: "src/x.rs".into(),
            line: 7,
            function: "bitcoin_mp::x".into(),
            message: message.into(),
        }
    }

    #[test]
    fn uncategorised_info_has_no_prefix_and_second_precision() {
        let cfg = LogConfig::default();
        assert_eq!(
            render(&cfg, &rec("", Level::Info, "hello")),
            "2026-11-24T12:00:00Z hello\n"
        );
    }

    #[test]
    fn category_debug_line_has_category_prefix_and_other_levels_name_theirs() {
        let cfg = LogConfig::default();
        assert_eq!(
            render(&cfg, &rec("net", Level::Debug, "m")),
            "2026-11-24T12:00:00Z [net] m\n"
        );
        assert_eq!(
            render(&cfg, &rec("net", Level::Info, "m")),
            "2026-11-24T12:00:00Z [net:info] m\n"
        );
        assert_eq!(
            render(&cfg, &rec("ipc", Level::Trace, "m")),
            "2026-11-24T12:00:00Z [ipc:trace] m\n"
        );
    }

    #[test]
    fn uncategorised_warning_and_error_have_level_prefix() {
        let cfg = LogConfig::default();
        assert_eq!(
            render(&cfg, &rec("", Level::Warning, "w")),
            "2026-11-24T12:00:00Z [warning] w\n"
        );
        assert_eq!(
            render(&cfg, &rec("", Level::Error, "e")),
            "2026-11-24T12:00:00Z [error] e\n"
        );
    }

    #[test]
    fn timemicros_threadnames_and_sourcelocations_in_cores_order() {
        let cfg = LogConfig {
            timemicros: true,
            threadnames: true,
            sourcelocations: true,
            ..LogConfig::default()
        };
        assert_eq!(
            render(&cfg, &rec("", Level::Info, "m")),
            "2026-11-24T12:00:00.123456Z [main] [src/x.rs:7] [bitcoin_mp::x] m\n"
        );
    }

    #[test]
    fn control_characters_are_escaped_but_not_newlines() {
        let cfg = LogConfig {
            timestamps: false,
            ..LogConfig::default()
        };
        assert_eq!(
            render(&cfg, &rec("", Level::Info, "a\x1b[31mb\n")),
            "a\\x1b[31mb\n"
        );
    }

    #[test]
    fn loglevelalways_prints_all_and_level() {
        let cfg = LogConfig {
            timestamps: false,
            always_print_category_level: true,
            ..LogConfig::default()
        };
        assert_eq!(render(&cfg, &rec("", Level::Info, "m")), "[all:info] m\n");
        assert_eq!(
            render(&cfg, &rec("net", Level::Debug, "m")),
            "[net:debug] m\n"
        );
    }
}
