//! The option table: every option each program accepts, its category (as in
//! Core's `-help`), flags, and whether we act on it yet or only accept it so
//! existing `bitcoin.conf` files and Core's test framework keep working.

use super::core_options::CORE_OPTIONS;
use super::Program;

/// Core's option categories, in the order `-help` prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cat {
    Options,
    Connection,
    Wallet,
    Zmq,
    DebugTest,
    Chain,
    NodeRelay,
    BlockCreation,
    Rpc,
    Gui,
    Ipc,
    Hidden,
}

impl Cat {
    /// The heading `-help` prints.
    pub fn heading(self) -> &'static str {
        match self {
            Cat::Options => "Options:",
            Cat::Connection => "Connection options:",
            Cat::Wallet => "Wallet options:",
            Cat::Zmq => "ZeroMQ notification options:",
            Cat::DebugTest => "Debugging/Testing options:",
            Cat::Chain => "Chain selection options:",
            Cat::NodeRelay => "Node relay options:",
            Cat::BlockCreation => "Block creation options:",
            Cat::Rpc => "RPC server options:",
            Cat::Gui => "UI Options:",
            Cat::Ipc => "IPC interprocess connection options:",
            Cat::Hidden => "",
        }
    }
}

/// Option flags, as Core's ArgsManager has them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags(u8);

impl Flags {
    pub const NONE: Flags = Flags(0);
    /// In bitcoin.conf's top section, applies to mainnet only.
    pub const NETWORK_ONLY: Flags = Flags(1);
    /// Shown only with `-help-debug`.
    pub const DEBUG_ONLY: Flags = Flags(2);
    /// `-noname` is an error.
    pub const DISALLOW_NEGATION: Flags = Flags(4);
    /// A secret: its value never reaches a log (Core's SENSITIVE).
    pub const SENSITIVE: Flags = Flags(8);

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of flags (usable in the const tables).
    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// One option.
#[derive(Clone, Copy, Debug)]
pub struct Opt {
    pub name: &'static str,
    /// Placeholder shown in `-help`, e.g. `=<dir>`.
    pub value: &'static str,
    pub cat: Cat,
    pub flags: Flags,
}

/// Options of ours (beyond Core's) and the ones only our processes take.
const OUR_OPTIONS: &[Opt] = &[
    Opt {
        name: "sandbox",
        value: "=<auto|require|off>",
        cat: Cat::Options,
        flags: Flags::NONE,
    },
    Opt {
        name: "ipcfd",
        value: "=<n>",
        cat: Cat::Ipc,
        flags: Flags::DEBUG_ONLY,
    },
    Opt {
        name: "ipcconnect",
        value: "=<address>",
        cat: Cat::Ipc,
        flags: Flags::NONE,
    },
];

/// bitcoin-qt's own options (the GUI takes every node option too).
const GUI_OPTIONS: &[Opt] = &[
    Opt {
        name: "choosedatadir",
        value: "",
        cat: Cat::Gui,
        flags: Flags::NONE,
    },
    Opt {
        name: "lang",
        value: "=<lang>",
        cat: Cat::Gui,
        flags: Flags::NONE,
    },
    Opt {
        name: "min",
        value: "",
        cat: Cat::Gui,
        flags: Flags::NONE,
    },
    Opt {
        name: "resetguisettings",
        value: "",
        cat: Cat::Gui,
        flags: Flags::NONE,
    },
    Opt {
        name: "splash",
        value: "",
        cat: Cat::Gui,
        flags: Flags::NONE,
    },
    Opt {
        name: "uiplatform",
        value: "=<platform>",
        cat: Cat::Gui,
        flags: Flags::DEBUG_ONLY,
    },
    // Ours: the screen the window opens on (contrib/gui-screenshots.sh).
    Opt {
        name: "guiscreen",
        value: "=<screen>",
        cat: Cat::Gui,
        flags: Flags::DEBUG_ONLY,
    },
];

/// The offline wallet tool's own options (Core's bitcoin-wallet).
const WALLET_TOOL_OPTIONS: &[Opt] = &[
    Opt {
        name: "dumpfile",
        value: "=<file name>",
        cat: Cat::Options,
        flags: Flags::NONE,
    },
    Opt {
        name: "format",
        value: "=<format>",
        cat: Cat::Options,
        flags: Flags::NONE,
    },
    Opt {
        name: "descriptors",
        value: "",
        cat: Cat::Options,
        flags: Flags::NONE,
    },
    Opt {
        name: "legacy",
        value: "",
        cat: Cat::Options,
        flags: Flags::NONE,
    },
    Opt {
        name: "withinternalbdb",
        value: "",
        cat: Cat::Options,
        flags: Flags::DEBUG_ONLY,
    },
];

/// Options the wallet process accepts from Core's set.
const WALLET_FROM_CORE: &[&str] = &[
    "version",
    "datadir",
    "conf",
    "chain",
    "regtest",
    "testnet",
    "testnet4",
    "signet",
    "debug",
    "debugexclude",
    "loglevel",
    "printtoconsole",
    "logtimestamps",
    "logtimemicros",
    "logthreadnames",
    "logsourcelocations",
    "loglevelalways",
    "debuglogfile",
    "wallet",
    "walletdir",
    "includeconf",
    "sandbox",
    "txindex",
    "listen",
    "bind",
    "port",
    "connect",
    "addnode",
    "onlynet",
    "proxy",
    "dns",
    "timeout",
    "uacomment",
    "rpcservertimeout",
    "ipcfd",
    "ipcconnect",
    // A wallet attached with -ipcconnect takes the node's wallet options.
    "fallbackfee",
    "paytxfee",
    "mintxfee",
    "maxtxfee",
    "walletrbf",
    "spendzeroconfchange",
    "addresstype",
    "changetype",
    "keypool",
];

/// Options whose effect this build implements; every other accepted option is
/// logged at start-up as accepted for compatibility but without effect yet.
const IMPLEMENTED: &[&str] = &[
    "version",
    "datadir",
    "conf",
    "includeconf",
    "chain",
    "regtest",
    "testnet",
    "testnet4",
    "signet",
    "debug",
    "debugexclude",
    "loglevel",
    "loglevelalways",
    "printtoconsole",
    "logtimestamps",
    "logtimemicros",
    "logthreadnames",
    "logsourcelocations",
    "debuglogfile",
    "daemon",
    "mocktime",
    "disablewallet",
    "ipcbind",
    "ipcfd",
    "ipcconnect",
    "sandbox",
    "shrinkdebugfile",
    "server",
    "rpcbind",
    "rpcallowip",
    "rpcport",
    "rpcuser",
    "rpcpassword",
    "rpcauth",
    "rpccookiefile",
    "rpccookieperms",
    "rpcthreads",
    "rpcworkqueue",
    "rpcwhitelist",
    "rpcwhitelistdefault",
    "reindex",
    "reindex-chainstate",
    "prune",
    "fastprune",
    "blocksxor",
    "stopatheight",
    "bantime",
    "par",
    "txindex",
    "deprecatedrpc",
    "rpcservertimeout",
    // P2P (net/, broker/connect.rs, broker/p2p_bind.rs)
    "listen",
    "bind",
    "port",
    "connect",
    "addnode",
    "seednode",
    "proxy",
    "onlynet",
    "dns",
    "timeout",
    "maxconnections",
    "inboundrelaypercent",
    "v2transport",
    "whitelist",
    "whitebind",
    "whitelistrelay",
    "whitelistforcerelay",
    "blocksonly",
    "uacomment",
    "peertimeout",
    "onion",
    "cjdnsreachable",
    "checkaddrman",
    // Mempool and mining policy (mempool/policy.rs)
    "acceptnonstdtxn",
    "minrelaytxfee",
    "incrementalrelayfee",
    "dustrelayfee",
    "datacarrier",
    "datacarriersize",
    "permitbaremultisig",
    "bytespersigop",
    "maxmempool",
    "mempoolexpiry",
    "limitclustercount",
    "limitclustersize",
    "persistmempool",
    "blockmintxfee",
    "blockmaxweight",
    "blockreservedweight",
];

/// Our help text for an option; None falls back to the generic line.
fn our_help(name: &str) -> Option<&'static str> {
    Some(match name {
        "version" => "Print version and exit",
        "datadir" => "Specify data directory (default: ~/.bitcoin)",
        "conf" => "Specify path to read-only configuration file. Relative paths are prefixed by datadir location (default: bitcoin.conf)",
        "includeconf" => "Specify additional configuration file, relative to the -datadir path (only useable from configuration file, not command line)",
        "chain" => "Use the chain <chain> (default: main). Allowed values: main, test, testnet4, signet, regtest",
        "regtest" => "Use the regression test chain (equivalent to -chain=regtest)",
        "testnet" => "Use the testnet3 chain (equivalent to -chain=test)",
        "testnet4" => "Use the testnet4 chain (equivalent to -chain=testnet4)",
        "signet" => "Use the signet chain (equivalent to -chain=signet)",
        "debug" => "Log debugging information for <category> (may be repeated; 1 or all: every category; 0 or none: none)",
        "debugexclude" => "Exclude debugging information for a category (may be repeated; takes priority over -debug)",
        "loglevel" => "Global or per-category (<category>:<level>) threshold for debug categories: trace, debug or info (default: debug)",
        "loglevelalways" => "Always prepend a category and level (default: 0)",
        "printtoconsole" => "Send trace/debug info to the console (default: 1 when no -daemon)",
        "logtimestamps" => "Prepend debug output with timestamp (default: 1)",
        "logtimemicros" => "Add microsecond precision to debug timestamps (default: 0)",
        "logthreadnames" => "Prepend debug output with name of the originating thread (default: 0)",
        "logsourcelocations" => "Prepend debug output with name of the originating source location (default: 0)",
        "debuglogfile" => "Specify location of debug log file, relative to the network data directory; -nodebuglogfile disables it (default: debug.log)",
        "disablewallet" => "Do not start any wallet process",
        "ipcbind" => "Listen for IPC clients on a unix socket: \"unix\" for <datadir>/<chain>/node.sock, or \"unix:PATH\" (relative paths are taken from the network data directory). May be repeated. Local processes that can reach the socket get full access to the node, so keep it private (it is created with mode 0600)",
        "ipcfd" => "Serve IPC on this already-connected socket (set by the process that spawned this one)",
        "ipcconnect" => "Attach to a running bitcoin-node over IPC: \"unix\" for the default socket or \"unix:PATH\"",
        "sandbox" => "Sandbox every spawned process: auto applies every layer the kernel offers and logs which are missing, require refuses to start when any is missing, off runs without one (default: auto)",
        _ => return None,
    })
}

/// The help text `-help` prints for `opt`.
pub fn help_text(opt: &Opt) -> String {
    match our_help(opt.name) {
        Some(t) => t.to_string(),
        None if IMPLEMENTED.contains(&opt.name) => String::new(),
        None => "Accepted for compatibility with Bitcoin Core; this build does not act on it yet."
            .to_string(),
    }
}

/// Is `name` an option whose values are secrets (any program's)?
pub fn is_sensitive(name: &str) -> bool {
    CORE_OPTIONS
        .iter()
        .any(|o| o.name == name && o.flags.contains(Flags::SENSITIVE))
}

/// Looks up `name` among the options `program` accepts.
pub fn find(program: Program, name: &str) -> Option<Opt> {
    all(program).into_iter().find(|o| o.name == name)
}

/// Every option `program` accepts.
pub fn all(program: Program) -> Vec<Opt> {
    let mut v: Vec<Opt> = Vec::new();
    match program {
        Program::Node => v.extend(CORE_OPTIONS.iter().copied()),
        Program::Gui => {
            v.extend(CORE_OPTIONS.iter().copied());
            v.extend(GUI_OPTIONS.iter().copied());
        }
        Program::Wallet => {
            v.extend(
                CORE_OPTIONS
                    .iter()
                    .filter(|o| WALLET_FROM_CORE.contains(&o.name))
                    .copied(),
            );
            v.extend(WALLET_TOOL_OPTIONS.iter().copied());
        }
    }
    for o in OUR_OPTIONS {
        if !v.iter().any(|x| x.name == o.name) {
            v.push(*o);
        }
    }
    v
}

/// True when this build acts on `name`.
pub fn implemented(name: &str) -> bool {
    IMPLEMENTED.contains(&name) || GUI_OPTIONS.iter().any(|o| o.name == name)
}
