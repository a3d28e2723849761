//! The settings store and Core's precedence rules (`common/settings.cpp`):
//! command line over the chain's conf section over the conf's top section;
//! for a single value the command line's last and a conf file's first wins;
//! lists merge sources, and a negation drops what came before it.

use std::collections::BTreeMap;

/// One setting value as written: a string, or a negation (`-noname`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Negated,
}

/// Where values came from, in Core's merge order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    CommandLine,
    ConfChainSection,
    ConfTopSection,
}

/// Values of one option from one source.
struct Span<'a>(&'a [Value]);

impl<'a> Span<'a> {
    fn after_negation(&self) -> &'a [Value] {
        match self.0.iter().rposition(|v| *v == Value::Negated) {
            Some(i) => &self.0[i + 1..],
            None => self.0,
        }
    }
    fn negated(&self) -> bool {
        self.0.contains(&Value::Negated)
    }
    fn last_negated(&self) -> bool {
        self.0.last() == Some(&Value::Negated)
    }
}

/// Everything parsed from the command line and the config files. Its Debug
/// form masks the values of sensitive options.
#[derive(Clone, Default)]
pub struct Store {
    pub command_line: BTreeMap<String, Vec<Value>>,
    /// Section name ("" for the top section) → option → values in file order.
    pub conf: BTreeMap<String, BTreeMap<String, Vec<Value>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |opts: &BTreeMap<String, Vec<Value>>| -> BTreeMap<String, Vec<Value>> {
            opts.iter()
                .map(|(name, values)| {
                    let values = if super::options::is_sensitive(name) {
                        vec![Value::Str("****".into()); values.len()]
                    } else {
                        values.clone()
                    };
                    (name.clone(), values)
                })
                .collect()
        };
        let conf: BTreeMap<&String, BTreeMap<String, Vec<Value>>> =
            self.conf.iter().map(|(s, o)| (s, masked(o))).collect();
        f.debug_struct("Store")
            .field("command_line", &masked(&self.command_line))
            .field("conf", &conf)
            .finish()
    }
}

impl Store {
    fn sources<'a>(&'a self, name: &str, section: &str) -> Vec<(Source, &'a [Value])> {
        let mut v = Vec::new();
        if let Some(x) = self.command_line.get(name) {
            v.push((Source::CommandLine, &x[..]));
        }
        if !section.is_empty() {
            if let Some(x) = self.conf.get(section).and_then(|s| s.get(name)) {
                v.push((Source::ConfChainSection, &x[..]));
            }
        }
        if let Some(x) = self.conf.get("").and_then(|s| s.get(name)) {
            v.push((Source::ConfTopSection, &x[..]));
        }
        v
    }

    /// Core's GetSetting: the effective single value (None when unset).
    pub fn get(&self, name: &str, section: &str, ignore_top_section: bool) -> Option<Value> {
        for (source, values) in self.sources(name, section) {
            let span = Span(values);
            if ignore_top_section && source == Source::ConfTopSection && !span.last_negated() {
                continue;
            }
            let after = span.after_negation();
            if let (Some(first), Some(last)) = (after.first(), after.last()) {
                return Some(if source == Source::CommandLine {
                    last.clone()
                } else {
                    first.clone()
                });
            } else if span.last_negated() {
                return Some(Value::Negated);
            }
        }
        None
    }

    /// Core's GetSettingsList: every value in effect, command line first.
    pub fn get_list(&self, name: &str, section: &str, ignore_top_section: bool) -> Vec<String> {
        let mut result = Vec::new();
        let mut done = false;
        let mut prev_negated_empty = false;
        for (source, values) in self.sources(name, section) {
            let span = Span(values);
            let zombie = source != Source::CommandLine && !prev_negated_empty;
            if ignore_top_section && source == Source::ConfTopSection {
                continue;
            }
            if !done || zombie {
                result.extend(span.after_negation().iter().filter_map(|v| match v {
                    Value::Str(s) => Some(s.clone()),
                    Value::Negated => None,
                }));
            }
            done |= span.negated();
            prev_negated_empty |= span.last_negated() && span.after_negation().is_empty();
        }
        result
    }

    /// Every option name set anywhere.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.command_line.keys().cloned().collect();
        for section in self.conf.values() {
            v.extend(section.keys().cloned());
        }
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    fn store(cmd: &[(&str, Value)], top: &[(&str, Value)], regtest: &[(&str, Value)]) -> Store {
        let mut st = Store::default();
        for (k, v) in cmd {
            st.command_line
                .entry(k.to_string())
                .or_default()
                .push(v.clone());
        }
        for (k, v) in top {
            st.conf
                .entry(String::new())
                .or_default()
                .entry(k.to_string())
                .or_default()
                .push(v.clone());
        }
        for (k, v) in regtest {
            st.conf
                .entry("regtest".into())
                .or_default()
                .entry(k.to_string())
                .or_default()
                .push(v.clone());
        }
        st
    }

    #[test]
    fn command_line_last_value_wins_but_conf_first_value_wins() {
        let st = store(
            &[("a", s("1")), ("a", s("2"))],
            &[("b", s("x")), ("b", s("y"))],
            &[],
        );
        assert_eq!(st.get("a", "", false), Some(s("2")));
        assert_eq!(st.get("b", "", false), Some(s("x")));
    }

    #[test]
    fn command_line_beats_chain_section_beats_top_section() {
        let st = store(&[], &[("p", s("top"))], &[("p", s("reg"))]);
        assert_eq!(st.get("p", "regtest", false), Some(s("reg")));
        let st = store(&[("p", s("cmd"))], &[("p", s("top"))], &[("p", s("reg"))]);
        assert_eq!(st.get("p", "regtest", false), Some(s("cmd")));
    }

    #[test]
    fn network_only_option_in_top_section_is_ignored_off_main() {
        let st = store(&[], &[("port", s("1"))], &[]);
        assert_eq!(st.get("port", "regtest", true), None);
        assert!(st.get_list("port", "regtest", true).is_empty());
    }

    #[test]
    fn lists_merge_command_line_and_conf_and_negation_resets() {
        let st = store(&[("debug", s("net"))], &[("debug", s("ipc"))], &[]);
        assert_eq!(st.get_list("debug", "", false), vec!["net", "ipc"]);
        let st = store(&[("debug", Value::Negated)], &[("debug", s("ipc"))], &[]);
        assert!(
            st.get_list("debug", "", false).is_empty(),
            "-nodebug drops the conf values"
        );
        let st = store(
            &[
                ("debug", s("a")),
                ("debug", Value::Negated),
                ("debug", s("b")),
            ],
            &[("debug", s("c"))],
            &[],
        );
        assert_eq!(
            st.get_list("debug", "", false),
            vec!["b", "c"],
            "values after the negation, conf brought back"
        );
    }

    #[test]
    fn negated_single_reads_as_negated() {
        let st = store(&[("listen", Value::Negated)], &[("listen", s("1"))], &[]);
        assert_eq!(st.get("listen", "", false), Some(Value::Negated));
    }
}
