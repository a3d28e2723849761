//! config/: command-line options and `bitcoin.conf`, Core's way; chain selection and
//! datadir layout. Parses and validates; never opens sockets or spawns processes,
//! and is never used by a spawned child to read files (children get settings over IPC).

mod chain;
/// The `bitcoin.conf` line parser, public so that `fuzz/` can feed it bytes.
pub mod conf;
mod core_options;
mod help;
mod options;
mod settings;

use std::path::{Path, PathBuf};

pub use chain::Chain;
/// Looks up an option name in the table of options a program accepts
/// (public so that `fuzz/` can check every accepted name against it).
pub use options::find as find_option;
pub use options::{implemented, Cat, Flags, Opt};
use settings::{Store, Value};

/// Which program's options apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    Node,
    Wallet,
    Gui,
}

/// What the command line asked for.
pub enum Parsed {
    Run(Config),
    Help(String),
    Version(String),
}

/// A refused command line or config file; the text is Core's (binaries print "Error: {e}").
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("Invalid parameter {0}")]
    InvalidParameter(String),
    #[error("Negating of -{0} is meaningless and therefore forbidden")]
    NegationForbidden(String),
    #[error("-includeconf cannot be used from commandline; -includeconf={0}")]
    IncludeconfOnCommandLine(String),
    #[error(
        "Command line contains unexpected token '{0}', see bitcoind -h for a list of options."
    )]
    UnexpectedToken(String),
    #[error("Specified data directory \"{0}\" does not exist.")]
    NoDatadir(String),
    #[error("Error reading configuration file: {0}")]
    ConfFile(String),
    #[error("Invalid combination of -regtest, -signet, -testnet, -testnet4 and -chain. Can use at most one.")]
    ChainCombination,
    #[error("Unknown chain {0}.")]
    UnknownChain(String),
}

/// One resolved option as a child receives it. Its Debug form (what
/// `-debug=ipc` logs) masks the values of sensitive options.
#[derive(Clone, PartialEq, Eq)]
pub struct ResolvedArg {
    pub name: String,
    /// Core's GetArgs.
    pub values: Vec<String>,
    /// Core's GetArg; None when negated.
    pub single: Option<String>,
}

/// What a log may show of a value of option `name`.
fn shown<'a>(name: &str, value: &'a str) -> &'a str {
    if options::is_sensitive(name) {
        "****"
    } else {
        value
    }
}

impl std::fmt::Debug for ResolvedArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let values: Vec<&str> = self.values.iter().map(|v| shown(&self.name, v)).collect();
        f.debug_struct("ResolvedArg")
            .field("name", &self.name)
            .field("values", &values)
            .field(
                "single",
                &self.single.as_deref().map(|v| shown(&self.name, v)),
            )
            .finish()
    }
}

/// Resolved options for one process.
#[derive(Clone, Debug)]
pub struct Config {
    program: Program,
    chain: Chain,
    datadir: PathBuf,
    store: Store,
    /// In a spawned child: the broker's resolved values, answered as they are.
    resolved: Option<std::collections::BTreeMap<String, ResolvedArg>>,
    positional: Vec<String>,
    warnings: Vec<String>,
}

impl Config {
    /// Core's LogArgs: every known option from the config file (by section)
    /// and the command line, one line each, secrets as `****`.
    pub fn log_args(&self) {
        let known = |name: &str| options::find(self.program, name).is_some();
        let render = |name: &str, v: &Value| match v {
            _ if options::is_sensitive(name) => "****".to_string(),
            Value::Str(s) => serde_json::Value::from(s.as_str()).to_string(),
            Value::Negated => "false".to_string(),
        };
        for (section, opts) in &self.store.conf {
            let prefix = if section.is_empty() {
                String::new()
            } else {
                format!("[{section}] ")
            };
            for (name, values) in opts.iter().filter(|(n, _)| known(n)) {
                for v in values {
                    tracing::info!("Config file arg: {prefix}{name}={}", render(name, v));
                }
            }
        }
        for (name, values) in self.store.command_line.iter().filter(|(n, _)| known(n)) {
            for v in values {
                tracing::info!("Command-line arg: {name}={}", render(name, v));
            }
        }
    }
}

/// Core's InterpretBool: empty is true, else the leading integer is nonzero.
pub fn interpret_bool(v: &str) -> bool {
    v.is_empty() || atoi(v) != 0
}

/// Core's LocaleIndependentAtoi: leading whitespace, optional sign, digits; 0 otherwise.
pub fn atoi(v: &str) -> i64 {
    let t = v.trim_start();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let d: String = digits.chars().take_while(|c| c.is_ascii_digit()).collect();
    match d.parse::<i64>() {
        Ok(n) if neg => -n,
        Ok(n) => n,
        Err(_) if d.is_empty() => 0,
        Err(_) => {
            if neg {
                i64::MIN
            } else {
                i64::MAX
            }
        }
    }
}

/// Splits `no` and a `section.` prefix off a key.
fn interpret_key(key: &str) -> (String, String, bool) {
    let (section, name) = match key.find('.') {
        Some(i) => (key[..i].to_string(), &key[i + 1..]),
        None => (String::new(), key),
    };
    match name.strip_prefix("no") {
        Some(rest) => (section, rest.to_string(), true),
        None => (section, name.to_string(), false),
    }
}

fn interpret_value(
    name: &str,
    value: Option<&str>,
    negated: bool,
    opt: &Opt,
    warnings: &mut Vec<String>,
) -> Result<Value, ConfigError> {
    if negated {
        if opt.flags.contains(Flags::DISALLOW_NEGATION) {
            return Err(ConfigError::NegationForbidden(name.to_string()));
        }
        if let Some(v) = value {
            if !interpret_bool(v) {
                warnings.push(format!(
                    "Parsed potentially confusing double-negative -{name}={v}"
                ));
                return Ok(Value::Str("1".into()));
            }
        }
        return Ok(Value::Negated);
    }
    Ok(Value::Str(value.unwrap_or("").to_string()))
}

fn default_datadir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
        .join(".bitcoin")
}

impl Config {
    /// Parses argv (without argv[0]) and reads bitcoin.conf (+ includeconf).
    pub fn from_command_line(program: Program, args: &[String]) -> Result<Parsed, ConfigError> {
        let mut store = Store::default();
        let mut warnings = Vec::new();
        let mut positional = Vec::new();
        let (mut want_help, mut help_debug) = (false, false);
        for (i, arg) in args.iter().enumerate() {
            if !arg.starts_with('-') {
                positional = args[i..].to_vec();
                break;
            }
            let key = arg.strip_prefix("--").unwrap_or(&arg[1..]);
            let (key, value) = match key.find('=') {
                Some(p) => (&key[..p], Some(&key[p + 1..])),
                None => (key, None),
            };
            if matches!(key, "?" | "h" | "help" | "help-debug") {
                want_help = true;
                help_debug |= key == "help-debug";
                continue;
            }
            let (section, name, negated) = interpret_key(key);
            let Some(opt) = options::find(program, &name).filter(|_| section.is_empty()) else {
                return Err(ConfigError::InvalidParameter(arg.clone()));
            };
            let v = interpret_value(&name, value, negated, &opt, &mut warnings)?;
            store.command_line.entry(name).or_default().push(v);
        }
        if want_help {
            return Ok(Parsed::Help(help::help(program, help_debug)));
        }
        if store
            .get("version", "", false)
            .is_some_and(|v| v != Value::Negated)
        {
            return Ok(Parsed::Version(help::version(program)));
        }
        if let Some(first) = store.command_line.get("includeconf").and_then(|v| {
            v.iter().find_map(|x| {
                if let Value::Str(s) = x {
                    Some(s.clone())
                } else {
                    None
                }
            })
        }) {
            return Err(ConfigError::IncludeconfOnCommandLine(first));
        }
        if program == Program::Node || program == Program::Gui {
            if let Some(tok) = positional.first() {
                return Err(ConfigError::UnexpectedToken(tok.clone()));
            }
        }

        let mut datadir = match store.get("datadir", "", false) {
            Some(Value::Str(d)) if !d.is_empty() => {
                let p = PathBuf::from(&d);
                if !p.is_dir() {
                    return Err(ConfigError::NoDatadir(d));
                }
                p
            }
            _ => default_datadir(),
        };

        // The config file: -noconf skips it; a missing default is fine.
        let conf_value = store.get("conf", "", false);
        if conf_value != Some(Value::Negated) {
            let explicit = matches!(&conf_value, Some(Value::Str(s)) if !s.is_empty());
            let name = match &conf_value {
                Some(Value::Str(s)) if !s.is_empty() => s.clone(),
                _ => "bitcoin.conf".to_string(),
            };
            let path = datadir.join(&name);
            match std::fs::read_to_string(&path) {
                Ok(text) => read_conf(program, &text, &mut store, &mut warnings, true)?,
                Err(_) if explicit || path.exists() => {
                    return Err(ConfigError::ConfFile(format!(
                        "specified config file \"{}\" could not be opened.",
                        path.display()
                    )))
                }
                Err(_) => {}
            }
        }
        // A datadir= line in the config file moves the datadir (not the config file).
        if !store.command_line.contains_key("datadir") {
            if let Some(Value::Str(d)) = store.get("datadir", "", false) {
                let p = PathBuf::from(&d);
                if !p.is_dir() {
                    return Err(ConfigError::NoDatadir(d));
                }
                datadir = p;
            }
        }
        let chain = select_chain(&store)?;
        // includeconf from the top and the chain's section, relative to the datadir.
        for include in store.get_list("includeconf", chain.name(), false) {
            let path = datadir.join(&include);
            let text = std::fs::read_to_string(&path).map_err(|_| {
                ConfigError::ConfFile(format!("Failed to include configuration file {include}"))
            })?;
            read_conf(program, &text, &mut store, &mut warnings, false)?;
        }
        // As in Core, the chain is settled after the included files are read.
        let chain = select_chain(&store)?;
        let mut config = Config {
            program,
            chain,
            datadir,
            store,
            resolved: None,
            positional,
            warnings,
        };
        config.warn_top_section_network_options();
        Ok(Parsed::Run(config))
    }

    /// Rebuilds a Config in a child from the settings the broker sent (no file access).
    pub fn from_settings(
        program: Program,
        chain: Chain,
        datadir: PathBuf,
        args: Vec<ResolvedArg>,
    ) -> Config {
        let resolved = args.into_iter().map(|a| (a.name.clone(), a)).collect();
        Config {
            program,
            chain,
            datadir,
            store: Store::default(),
            resolved: Some(resolved),
            positional: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The resolved options to send to a child; `keep` decides per option name.
    pub fn to_settings(&self, keep: impl Fn(&str) -> bool) -> Vec<ResolvedArg> {
        self.names()
            .into_iter()
            .filter(|n| keep(n))
            .filter_map(|name| {
                let single = self.raw(&name)?;
                let single = match single {
                    Value::Str(s) => Some(s),
                    Value::Negated => None,
                };
                Some(ResolvedArg {
                    values: self.get_all(&name),
                    single,
                    name,
                })
            })
            .collect()
    }

    fn names(&self) -> Vec<String> {
        match &self.resolved {
            Some(r) => r.keys().cloned().collect(),
            None => self.store.names(),
        }
    }

    fn ignore_top(&self, name: &str) -> bool {
        self.chain != Chain::Main
            && options::find(self.program, name)
                .is_some_and(|o| o.flags.contains(Flags::NETWORK_ONLY))
    }

    fn raw(&self, name: &str) -> Option<Value> {
        if let Some(resolved) = &self.resolved {
            return resolved
                .get(name)
                .map(|a| a.single.clone().map(Value::Str).unwrap_or(Value::Negated));
        }
        self.store
            .get(name, self.chain.name(), self.ignore_top(name))
    }

    pub fn program(&self) -> Program {
        self.program
    }
    pub fn chain(&self) -> Chain {
        self.chain
    }
    pub fn datadir(&self) -> &Path {
        &self.datadir
    }
    /// `<datadir>/<chain subdir>`.
    pub fn net_dir(&self) -> PathBuf {
        match self.chain.data_subdir() {
            "" => self.datadir.clone(),
            sub => self.datadir.join(sub),
        }
    }
    /// Core's GetBlocksDirPath: `<blocksdir>/<chain>/blocks` (the datadir
    /// when `-blocksdir` is not given); None when `-blocksdir` names no
    /// directory. A relative `-blocksdir` is taken from the working
    /// directory, as Core's fs::absolute does.
    pub fn blocks_dir(&self) -> Option<PathBuf> {
        let base = match self.get("blocksdir").filter(|b| !b.is_empty()) {
            None => self.datadir.clone(),
            Some(dir) => {
                let dir = std::path::absolute(&dir).ok()?;
                if !dir.is_dir() {
                    return None;
                }
                dir
            }
        };
        Some(match self.chain.data_subdir() {
            "" => base.join("blocks"),
            sub => base.join(sub).join("blocks"),
        })
    }
    /// Core's GetArg: None when unset or negated.
    pub fn get(&self, name: &str) -> Option<String> {
        match self.raw(name) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }
    /// Core's GetArgs.
    pub fn get_all(&self, name: &str) -> Vec<String> {
        if let Some(resolved) = &self.resolved {
            return resolved
                .get(name)
                .map(|a| a.values.clone())
                .unwrap_or_default();
        }
        self.store
            .get_list(name, self.chain.name(), self.ignore_top(name))
    }
    /// Core's GetBoolArg.
    pub fn get_bool(&self, name: &str, default: bool) -> bool {
        match self.raw(name) {
            Some(Value::Str(s)) => interpret_bool(&s),
            Some(Value::Negated) => false,
            None => default,
        }
    }
    /// Core's GetIntArg.
    pub fn get_int(&self, name: &str, default: i64) -> i64 {
        match self.raw(name) {
            Some(Value::Str(s)) => atoi(&s),
            Some(Value::Negated) => 0,
            None => default,
        }
    }
    pub fn is_set(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }
    pub fn is_negated(&self, name: &str) -> bool {
        self.raw(name) == Some(Value::Negated)
    }
    /// Tokens after the options (bitcoin-wallet's command).
    pub fn positional(&self) -> &[String] {
        &self.positional
    }
    /// Core's warnings from parsing, to log at start-up.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
    /// Options the user set that we accept but do not act on yet.
    pub fn unimplemented_set(&self) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|n| !implemented(n) && options::find(self.program, n).is_some())
            .collect()
    }

    fn warn_top_section_network_options(&mut self) {
        if self.chain == Chain::Main {
            return;
        }
        let Some(top) = self.store.conf.get("") else {
            return;
        };
        for name in top.keys() {
            if options::find(self.program, name)
                .is_some_and(|o| o.flags.contains(Flags::NETWORK_ONLY))
                && !self.store.command_line.contains_key(name)
            {
                let chain = self.chain.name();
                self.warnings.push(format!("Config setting for -{name} only applied on {chain} network when in [{chain}] section."));
            }
        }
    }
}

fn read_conf(
    program: Program,
    text: &str,
    store: &mut Store,
    warnings: &mut Vec<String>,
    allow_include: bool,
) -> Result<(), ConfigError> {
    for (section, key, value) in conf::parse(text).map_err(ConfigError::ConfFile)? {
        let (_, name, negated) = interpret_key(&key);
        if name == "conf" {
            return Err(ConfigError::ConfFile("conf cannot be set in the configuration file; use includeconf= if you want to include additional config files".into()));
        }
        if name == "includeconf" && !allow_include {
            warnings.push(format!(
                "-includeconf cannot be used from included files; ignoring -includeconf={value}"
            ));
            continue;
        }
        let Some(opt) = options::find(program, &name) else {
            warnings.push(format!("Ignoring unknown configuration value {key}"));
            continue;
        };
        let v = interpret_value(&name, Some(&value), negated, &opt, warnings)?;
        store
            .conf
            .entry(section)
            .or_default()
            .entry(name)
            .or_default()
            .push(v);
    }
    Ok(())
}

/// Core's GetChainArg: the chain flags and -chain, from the command line and
/// the conf's top section; at most one.
fn select_chain(store: &Store) -> Result<Chain, ConfigError> {
    let flag =
        |n: &str| matches!(store.get(n, "", false), Some(Value::Str(s)) if interpret_bool(&s));
    let mut picked = Vec::new();
    for (name, chain) in [
        ("regtest", Chain::Regtest),
        ("signet", Chain::Signet),
        ("testnet", Chain::Testnet),
        ("testnet4", Chain::Testnet4),
    ] {
        if flag(name) {
            picked.push(chain);
        }
    }
    if let Some(Value::Str(c)) = store.get("chain", "", false) {
        picked.push(Chain::from_name(&c).ok_or(ConfigError::UnknownChain(c))?);
    }
    match picked.len() {
        0 => Ok(Chain::Main),
        1 => Ok(picked[0]),
        _ => Err(ConfigError::ChainCombination),
    }
}

#[cfg(test)]
mod tests;
