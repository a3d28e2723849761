//! Logging options, Core's way: `-debug`, `-debugexclude`, `-loglevel`,
//! `-logtimestamps`, `-logtimemicros`, `-logthreadnames`, `-logsourcelocations`,
//! `-loglevelalways`, `-printtoconsole`, `-debuglogfile`/`-nodebuglogfile`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::categories::{is_category, CATEGORIES};
use super::format::Level;

/// Levels `-loglevel` accepts, in Core's words.
const LEVELS: &str = "trace, debug, info";

/// Resolved logging settings.
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// Enabled debug categories.
    pub categories: BTreeSet<String>,
    /// Global threshold for debug/trace lines (Core's default: debug).
    pub level: Level,
    /// Per-category thresholds from `-loglevel=<cat>:<level>`.
    pub category_levels: BTreeMap<String, Level>,
    pub timestamps: bool,
    pub timemicros: bool,
    pub threadnames: bool,
    pub sourcelocations: bool,
    pub always_print_category_level: bool,
    pub printtoconsole: bool,
    /// `None` with `-nodebuglogfile`.
    pub debug_log_file: Option<PathBuf>,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            categories: BTreeSet::new(),
            level: Level::Debug,
            category_levels: BTreeMap::new(),
            timestamps: true,
            timemicros: false,
            threadnames: false,
            sourcelocations: false,
            always_print_category_level: false,
            printtoconsole: false,
            debug_log_file: None,
        }
    }
}

/// A logging option Core would refuse; the text is Core's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogConfigError {
    #[error("Unsupported logging category {0}={1}.")]
    Category(&'static str, String),
    #[error("Unsupported global logging level -loglevel={0}. Valid values: {LEVELS}.")]
    GlobalLevel(String),
    #[error("Unsupported category-specific logging level -loglevel={0}. Expected -loglevel=<category>:<loglevel>. Valid categories: {cats}. Valid loglevels: {LEVELS}.", cats = CATEGORIES.join(", "))]
    CategoryLevel(String),
}

fn parse_level(s: &str) -> Option<Level> {
    match s {
        "trace" => Some(Level::Trace),
        "debug" => Some(Level::Debug),
        "info" => Some(Level::Info),
        _ => None,
    }
}

/// Core's `InterpretBool`: empty is true, otherwise the leading integer's truth.
fn truthy(v: Option<String>, default: bool) -> bool {
    match v {
        None => default,
        Some(v) if v.is_empty() => true,
        Some(v) => {
            let digits: String = v
                .trim_start()
                .chars()
                .enumerate()
                .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+')))
                .map(|(_, c)| c)
                .collect();
            digits.parse::<i64>().map(|n| n != 0).unwrap_or(false)
        }
    }
}

impl LogConfig {
    /// From a parsed configuration (a negated option reads as "0", as in Core).
    pub fn from_config(config: &crate::config::Config) -> Result<LogConfig, LogConfigError> {
        let get = |n: &str| {
            if config.is_negated(n) {
                Some("0".to_string())
            } else {
                config.get(n)
            }
        };
        LogConfig::from_options(&|n| config.get_all(n), &get, &config.net_dir())
    }

    /// From option values: `get_all(name)` is Core's GetArgs, `get(name)` its GetArg
    /// (a negated option must read as "0").
    pub fn from_options(
        get_all: &dyn Fn(&str) -> Vec<String>,
        get: &dyn Fn(&str) -> Option<String>,
        net_dir: &Path,
    ) -> Result<LogConfig, LogConfigError> {
        let mut cfg = LogConfig::default();
        let debug = get_all("debug");
        // Disregard categories before the last -debug=0/none, as Core does.
        let start = debug
            .iter()
            .rposition(|c| c == "0" || c == "none")
            .map(|i| i + 1)
            .unwrap_or(0);
        for cat in &debug[start..] {
            match cat.as_str() {
                "" | "1" | "all" => cfg
                    .categories
                    .extend(CATEGORIES.iter().map(|c| c.to_string())),
                c if is_category(c) => {
                    cfg.categories.insert(c.to_string());
                }
                c => return Err(LogConfigError::Category("-debug", c.to_string())),
            }
        }
        for cat in get_all("debugexclude") {
            match cat.as_str() {
                "" | "1" | "all" => cfg.categories.clear(),
                c if is_category(c) => {
                    cfg.categories.remove(c);
                }
                c => return Err(LogConfigError::Category("-debugexclude", c.to_string())),
            }
        }
        for spec in get_all("loglevel") {
            match spec.split_once(':') {
                None => {
                    cfg.level = parse_level(&spec)
                        .ok_or_else(|| LogConfigError::GlobalLevel(spec.clone()))?
                }
                Some((cat, lvl)) => {
                    let level = parse_level(lvl)
                        .filter(|_| is_category(cat) || cat == "all")
                        .ok_or_else(|| LogConfigError::CategoryLevel(spec.clone()))?;
                    cfg.category_levels.insert(cat.to_string(), level);
                }
            }
        }
        cfg.timestamps = truthy(get("logtimestamps"), true);
        cfg.timemicros = truthy(get("logtimemicros"), false);
        cfg.threadnames = truthy(get("logthreadnames"), false);
        cfg.sourcelocations = truthy(get("logsourcelocations"), false);
        cfg.always_print_category_level = truthy(get("loglevelalways"), false);
        cfg.printtoconsole = truthy(get("printtoconsole"), !truthy(get("daemon"), false));
        cfg.debug_log_file = match get("debuglogfile") {
            Some(v) if v == "0" => None,
            Some(v) if !v.is_empty() && v != "1" => Some(net_dir.join(v)),
            _ => Some(net_dir.join("debug.log")),
        };
        Ok(cfg)
    }

    /// Core's filter: info and above always; debug/trace only for an enabled
    /// category at or above its threshold.
    pub fn category_enabled(&self, category: &str, level: Level) -> bool {
        self.enabled_given(self.categories.contains(category), category, level)
    }

    /// The same filter with the category's on/off state given (the `logging`
    /// RPC may have changed it since startup).
    pub fn enabled_given(&self, on: bool, category: &str, level: Level) -> bool {
        if level >= Level::Info {
            return true;
        }
        if !on {
            return false;
        }
        let threshold = self
            .category_levels
            .get(category)
            .copied()
            .unwrap_or(self.level);
        level >= threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(opts: &[(&str, &str)]) -> Result<LogConfig, LogConfigError> {
        let all = |n: &str| {
            opts.iter()
                .filter(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
                .collect::<Vec<_>>()
        };
        let one = |n: &str| {
            opts.iter()
                .rev()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        };
        LogConfig::from_options(&all, &one, Path::new("/d/regtest"))
    }

    #[test]
    fn debug_line_dropped_when_category_not_enabled() {
        let c = cfg(&[("debug", "net")]).unwrap();
        assert!(c.category_enabled("net", Level::Debug));
        assert!(!c.category_enabled("ipc", Level::Debug));
        assert!(
            c.category_enabled("ipc", Level::Info),
            "info is always logged"
        );
        assert!(
            !c.category_enabled("net", Level::Trace),
            "default threshold is debug"
        );
    }

    #[test]
    fn debug_all_and_debugexclude_and_debug_0_reset() {
        let c = cfg(&[("debug", "1"), ("debugexclude", "net")]).unwrap();
        assert!(
            c.category_enabled("ipc", Level::Debug) && !c.category_enabled("net", Level::Debug)
        );
        let c = cfg(&[("debug", "net"), ("debug", "0"), ("debug", "ipc")]).unwrap();
        assert!(
            !c.category_enabled("net", Level::Debug) && c.category_enabled("ipc", Level::Debug)
        );
    }

    #[test]
    fn unknown_category_and_levels_are_core_errors() {
        assert_eq!(
            cfg(&[("debug", "foo")]).unwrap_err().to_string(),
            "Unsupported logging category -debug=foo."
        );
        assert_eq!(
            cfg(&[("debugexclude", "bar")]).unwrap_err().to_string(),
            "Unsupported logging category -debugexclude=bar."
        );
        assert_eq!(
            cfg(&[("loglevel", "loud")]).unwrap_err().to_string(),
            "Unsupported global logging level -loglevel=loud. Valid values: trace, debug, info."
        );
        assert!(cfg(&[("loglevel", "net:loud")])
            .unwrap_err()
            .to_string()
            .starts_with("Unsupported category-specific logging level -loglevel=net:loud."));
    }

    #[test]
    fn per_category_trace_level() {
        let c = cfg(&[
            ("debug", "ipc"),
            ("debug", "net"),
            ("loglevel", "ipc:trace"),
        ])
        .unwrap();
        assert!(c.category_enabled("ipc", Level::Trace));
        assert!(!c.category_enabled("net", Level::Trace));
    }

    #[test]
    fn debuglogfile_is_relative_to_net_dir_and_can_be_disabled() {
        assert_eq!(
            cfg(&[]).unwrap().debug_log_file,
            Some(PathBuf::from("/d/regtest/debug.log"))
        );
        assert_eq!(
            cfg(&[("debuglogfile", "x.log")]).unwrap().debug_log_file,
            Some(PathBuf::from("/d/regtest/x.log"))
        );
        assert_eq!(cfg(&[("debuglogfile", "0")]).unwrap().debug_log_file, None);
    }

    #[test]
    fn printtoconsole_defaults_on_unless_daemon_like_bitcoind() {
        assert!(cfg(&[]).unwrap().printtoconsole);
        assert!(!cfg(&[("daemon", "1")]).unwrap().printtoconsole);
        assert!(!cfg(&[("printtoconsole", "0")]).unwrap().printtoconsole);
    }
}
