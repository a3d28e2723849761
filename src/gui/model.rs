//! What the window shows: plain data the backend thread fills from the node's
//! `Node` and `Wallet` interfaces, and the commands the window sends back.
//! Nothing here touches the connection or draws.

use std::collections::VecDeque;
use std::time::Instant;

/// The node's sync state, tip and traffic (`Node.getStatus`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    pub chain: String,
    pub blocks: i32,
    pub headers: i32,
    pub best_block_hash: String,
    pub tip_time: i64,
    pub verification_progress: f64,
    pub initial_block_download: bool,
    pub connections_in: u32,
    pub connections_out: u32,
    pub bytes_recv: u64,
    pub bytes_sent: u64,
    pub network_active: bool,
    pub mempool_size: u64,
    pub warnings: String,
}

/// One row of the peers table (`Node.getPeers`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Peer {
    pub id: i64,
    pub address: String,
    pub subversion: String,
    pub inbound: bool,
    pub connection_type: String,
    pub transport: String,
    pub ping_time: f64,
    pub bytes_sent: u64,
    pub bytes_recv: u64,
    pub synced_blocks: i32,
}

/// One row of the ban list (`Node.listBanned`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ban {
    pub subnet: String,
    pub banned_until: i64,
}

/// The sandbox in force in one of the node's processes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessSandbox {
    pub process: String,
    pub pid: i32,
    /// e.g. "Landlock ABI 6 (fully enforced), seccomp on (123 system calls)".
    pub summary: String,
}

/// The information page (`Node.getInfo`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Info {
    pub version: String,
    pub user_agent: String,
    pub datadir: String,
    pub startup_time: i64,
    pub processes: Vec<ProcessSandbox>,
}

/// A wallet's balances in BTC (`getbalances`' `mine`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Balances {
    pub trusted: f64,
    pub untrusted_pending: f64,
    pub immature: f64,
}

/// One wallet transaction (`listtransactions`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transaction {
    pub txid: String,
    pub category: String,
    pub amount: f64,
    pub fee: Option<f64>,
    pub confirmations: i64,
    pub time: i64,
    pub address: String,
    pub label: String,
}

/// The selected wallet's data.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WalletView {
    pub name: String,
    pub balances: Balances,
    /// Newest first.
    pub transactions: Vec<Transaction>,
    /// The last address made on the receive screen, with its payment URI.
    pub receive: Option<(String, String)>,
    /// The txid of the last payment sent from the send screen.
    pub last_sent: Option<String>,
    /// The last PSBT exported from the send screen (base64).
    pub last_psbt: Option<String>,
}

/// One console command and what came back.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsoleEntry {
    pub command: String,
    pub output: String,
    pub error: bool,
}

/// The link to the node.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Link {
    #[default]
    Connecting,
    Connected,
    /// The node closed the connection, or never answered; why.
    Lost(String),
}

/// How the fee of a payment is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fee {
    /// Core's smart fee for confirmation within this many blocks.
    Target(u16),
    /// A fee rate in sat/vB.
    Rate(f64),
}

/// What the window asks the backend to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Fetch everything again now.
    Refresh,
    /// A console line, as typed.
    Console(String),
    /// Show this wallet on the wallet screens.
    SelectWallet(String),
    CreateWallet {
        name: String,
        passphrase: String,
    },
    OpenWallet(String),
    NewAddress {
        label: String,
        /// BTC, for the payment URI only; empty: none.
        amount: String,
    },
    Send {
        address: String,
        /// BTC, as typed.
        amount: String,
        fee: Fee,
        subtract_fee: bool,
    },
    /// A funded, unsigned PSBT for the same payment instead of sending it.
    ExportPsbt {
        address: String,
        amount: String,
        fee: Fee,
    },
    /// Stop the node (it stops the whole process set).
    ShutdownNode,
}

/// Tip heights seen recently, to estimate the time left in a sync.
#[derive(Clone, Debug, Default)]
pub struct SyncRate {
    samples: VecDeque<(Instant, i32)>,
}

impl SyncRate {
    const KEEP: usize = 30;

    /// Records that the tip was at `height` at `at`.
    pub fn record(&mut self, at: Instant, height: i32) {
        if self.samples.back().map(|s| s.1) == Some(height) {
            return;
        }
        self.samples.push_back((at, height));
        while self.samples.len() > Self::KEEP {
            self.samples.pop_front();
        }
    }

    /// Seconds left for `blocks_left` more blocks at the recent rate; None
    /// until two samples show progress.
    pub fn eta_secs(&self, blocks_left: i32) -> Option<u64> {
        let (first, last) = (self.samples.front()?, self.samples.back()?);
        let blocks = f64::from(last.1 - first.1);
        let secs = last.0.duration_since(first.0).as_secs_f64();
        if blocks <= 0.0 || secs <= 0.0 {
            return None;
        }
        Some((f64::from(blocks_left.max(0)) * secs / blocks).round() as u64)
    }
}

/// Everything the window shows; the backend writes it, the window reads it.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub link: Link,
    /// "spawned bitcoin-node (pid N)" or "attached to unix:PATH".
    pub source: String,
    pub status: Option<Status>,
    pub peers: Vec<Peer>,
    pub bans: Vec<Ban>,
    pub info: Option<Info>,
    /// Loaded wallets, and the wallet directory's wallets (for "open").
    pub wallets: Vec<String>,
    pub wallet_dir: Vec<String>,
    pub wallet: Option<WalletView>,
    pub console: Vec<ConsoleEntry>,
    /// Errors from the node, newest last, shown as messages.
    pub messages: Vec<String>,
    pub sync: SyncRate,
    /// Notifications received (the information page shows the count).
    pub notifications: u64,
}

/// Splits a console line into the method and its arguments, as Core's
/// console does: whitespace separates, single or double quotes group, and a
/// backslash escapes the next character inside double quotes.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_token = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                in_token = true;
                let quote = c;
                loop {
                    match chars.next() {
                        None => return Err("Parse error: unbalanced ' or \"".into()),
                        Some(q) if q == quote => break,
                        Some('\\') if quote == '"' => match chars.next() {
                            Some(e) => cur.push(e),
                            None => return Err("Parse error: unbalanced ' or \"".into()),
                        },
                        Some(other) => cur.push(other),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_token {
                    out.push(std::mem::take(&mut cur));
                    in_token = false;
                }
            }
            c => {
                in_token = true;
                cur.push(c);
            }
        }
    }
    if in_token {
        out.push(cur);
    }
    Ok(out)
}

/// A payment URI (BIP21) for the receive screen's QR code.
pub fn payment_uri(address: &str, amount: &str, label: &str) -> String {
    let mut query = Vec::new();
    if !amount.trim().is_empty() {
        query.push(format!("amount={}", amount.trim()));
    }
    if !label.is_empty() {
        query.push(format!("label={}", uri_escape(label)));
    }
    if query.is_empty() {
        format!("bitcoin:{address}")
    } else {
        format!("bitcoin:{address}?{}", query.join("&"))
    }
}

fn uri_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_lines_split_like_cores_console() {
        assert_eq!(split_command("getblockcount").unwrap(), ["getblockcount"]);
        assert_eq!(
            split_command("  getblock  abc 2 ").unwrap(),
            ["getblock", "abc", "2"]
        );
        assert_eq!(
            split_command(r#"setlabel addr "my label" '{"a": 1}'"#).unwrap(),
            ["setlabel", "addr", "my label", r#"{"a": 1}"#]
        );
        assert_eq!(
            split_command(r#"echo "a\"b" """#).unwrap(),
            ["echo", "a\"b", ""]
        );
        assert!(split_command("echo \"open").is_err());
        assert!(split_command("").unwrap().is_empty());
    }

    #[test]
    fn payment_uris_carry_amount_and_escaped_label() {
        assert_eq!(payment_uri("bcrt1q", "", ""), "bitcoin:bcrt1q");
        assert_eq!(
            payment_uri("bcrt1q", "0.5", "rent & food"),
            "bitcoin:bcrt1q?amount=0.5&label=rent%20%26%20food"
        );
    }

    #[test]
    fn sync_eta_follows_the_recent_rate() {
        let mut r = SyncRate::default();
        let t0 = Instant::now();
        assert_eq!(r.eta_secs(100), None);
        r.record(t0, 10);
        r.record(t0 + std::time::Duration::from_secs(10), 30);
        // 20 blocks in 10 s: 100 blocks take 50 s.
        assert_eq!(r.eta_secs(100), Some(50));
        // The same height again is not a new sample.
        r.record(t0 + std::time::Duration::from_secs(20), 30);
        assert_eq!(r.eta_secs(100), Some(50));
    }
}
