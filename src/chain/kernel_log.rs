//! Routes the kernel's log messages into our logging (so they reach the
//! broker's debug.log with Core's categories), and lets a caller collect the
//! lines its own kernel call produced (the reject reason of a block).

use std::cell::RefCell;
use std::collections::BTreeSet;

use bitcoinkernel::log::logging::LoggingOptions;
use bitcoinkernel::{LogCategory, LogLevel, Logger};

use crate::logging::{Level, LogConfig};

thread_local! {
    static CAPTURE: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// The kernel's categories with their Core names.
const CATEGORIES: &[(LogCategory, &str)] = &[
    (LogCategory::Bench, "bench"),
    (LogCategory::BlockStorage, "blockstorage"),
    (LogCategory::CoinDb, "coindb"),
    (LogCategory::LevelDb, "leveldb"),
    (LogCategory::Mempool, "mempool"),
    (LogCategory::Prune, "prune"),
    (LogCategory::Rand, "rand"),
    (LogCategory::Reindex, "reindex"),
    (LogCategory::Validation, "validation"),
    (LogCategory::Kernel, "kernel"),
];

struct ToTracing;

/// Emits `message` under its category (a `[name]` or `[name:level]` prefix
/// the kernel puts on debug lines), at debug level when it has one.
fn emit(message: &str) {
    let (category, text) = match message.strip_prefix('[').and_then(|r| r.split_once("] ")) {
        Some((cat, text)) => (cat.split(':').next().unwrap_or(cat), text),
        None => ("", message),
    };
    macro_rules! by_category {
        ($($name:literal),*) => {
            match category {
                $($name => tracing::debug!(target: $name, "{text}"),)*
                _ => tracing::info!("{text}"),
            }
        };
    }
    by_category!(
        "bench",
        "blockstorage",
        "coindb",
        "leveldb",
        "mempool",
        "prune",
        "rand",
        "reindex",
        "validation",
        "kernel"
    );
}

impl bitcoinkernel::Log for ToTracing {
    fn log(&self, message: &str) {
        let message = message.trim_end();
        CAPTURE.with(|c| {
            if let Some(lines) = c.borrow_mut().as_mut() {
                lines.push(message.to_string());
            }
        });
        emit(message);
    }
}

/// Connects the kernel's logging to ours; debug categories follow `-debug`.
/// Keep the returned logger alive for as long as the kernel runs.
pub fn install(config: &LogConfig) -> Result<Logger, bitcoinkernel::KernelError> {
    let logger = Logger::new_with_options(
        ToTracing,
        LoggingOptions {
            log_timestamps: false,
            log_time_micros: false,
            log_threadnames: false,
            log_sourcelocations: false,
            always_print_category_levels: false,
        },
    )?;
    apply(&logger, config, &config.categories);
    Ok(logger)
}

/// Turns the kernel's categories on or off as `active` says (at the
/// threshold `config` gives each), e.g. after the `logging` RPC.
pub fn apply(logger: &Logger, config: &LogConfig, active: &BTreeSet<String>) {
    for (category, name) in CATEGORIES {
        let on = active.contains(*name);
        if config.enabled_given(on, name, Level::Trace) {
            logger.set_level_category(*category, LogLevel::Trace);
            logger.enable_category(*category);
        } else if config.enabled_given(on, name, Level::Debug) {
            logger.set_level_category(*category, LogLevel::Debug);
            logger.enable_category(*category);
        } else {
            logger.disable_category(*category);
        }
    }
}

/// Runs `f`, returning what it returned and the kernel lines logged meanwhile
/// on this thread.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let result = f();
    let lines = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (result, lines)
}

/// Core's reject reason (`bad-cb-amount`, `high-hash`, ...) from the lines the
/// kernel logged while rejecting a block: its BlockValidationState renders as
/// `reason, detail` or `reason (detail)` at the end of the error line.
pub fn reject_reason(lines: &[String]) -> Option<String> {
    lines.iter().rev().find_map(|line| {
        let tail = line
            .rsplit_once("failed, ")
            .map(|(_, t)| t)
            .or_else(|| line.rsplit_once("FAILED (").map(|(_, t)| t))
            .or_else(|| line.rsplit_once("): ").map(|(_, t)| t))?;
        let mut reason: String = tail
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        // Core 30's script failures carry the script error in the reason
        // itself: "block-script-verify-flag-failed (Dummy CHECKMULTISIG
        // argument must be zero)".
        if reason.ends_with("script-verify-flag-failed") {
            let rest = &tail[reason.len()..];
            if let Some(end) = rest.strip_prefix(" (").and_then(|r| r.find(')')) {
                reason.push_str(&rest[..end + 3]);
            }
        }
        (reason.contains('-') && !reason.is_empty()).then_some(reason)
    })
}

/// The reject reason of the refusal of block `hash` in `lines` (Core's
/// "ConnectBlock <hash> failed, <reason>, ..." line).
pub fn reject_reason_for(lines: &[String], hash: &bitcoin::BlockHash) -> Option<String> {
    let hash = hash.to_string();
    let mine: Vec<String> = lines
        .iter()
        .filter(|l| l.contains(&hash) && l.contains("failed, "))
        .cloned()
        .collect();
    reject_reason(&mine)
}

/// Why the engine could not load or verify the chainstate, from its log
/// ("Witness data for blocks after height 5 requires validation. Please
/// restart with -reindex.").
pub fn load_error(lines: &[String]) -> Option<String> {
    const PREFIXES: [&str; 2] = [
        "Failed to load chain state from your data directory: ",
        "Failed to verify loaded chain state from your datadir: ",
    ];
    lines.iter().find_map(|line| {
        PREFIXES.iter().find_map(|p| {
            line.split_once(p)
                .map(|(_, why)| why.trim_end().to_string())
        })
    })
}

/// Why the engine would not make a chainstate manager at all (its block
/// manager refused the options, e.g. an XOR key that cannot be dropped), as
/// it logged it.
pub fn create_error(lines: &[String]) -> Option<String> {
    const PREFIX: &str = "Failed to create chainstate manager: ";
    lines.iter().find_map(|line| {
        line.split_once(PREFIX)
            .map(|(_, why)| why.trim_end().to_string())
    })
}

/// The whole validation state of the last refusal in `lines`: the reason
/// and Core's debug message ("bad-txns-inputs-missingorspent,
/// CheckTxInputs: inputs missing/spent in transaction ...").
pub fn reject_state(lines: &[String]) -> Option<String> {
    let reason = reject_reason(lines)?;
    lines.iter().rev().find_map(|line| {
        let at = line.find(&format!("failed, {reason}"))?;
        Some(line[at + "failed, ".len()..].trim_end().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_up_refusals_come_from_cores_error_lines() {
        let lines = vec![
            "Using obfuscation key for blocksdir *.dat files".to_string(),
            "Failed to create chainstate manager: The blocksdir XOR-key can not be disabled."
                .to_string(),
        ];
        assert_eq!(
            create_error(&lines).as_deref(),
            Some("The blocksdir XOR-key can not be disabled.")
        );
        assert_eq!(load_error(&lines), None);
        let load = vec!["Failed to load chain state from your data directory: Error initializing block database".to_string()];
        assert_eq!(
            load_error(&load).as_deref(),
            Some("Error initializing block database")
        );
        assert_eq!(create_error(&load), None);
    }

    #[test]
    fn reject_reasons_come_from_cores_error_lines() {
        let lines = vec![
            "UpdateTip: new best=00ab".to_string(),
            "ConnectTip: ConnectBlock 3f2a failed, bad-cb-amount, coinbase pays too much (actual=5000000001 vs limit=5000000000)".to_string(),
        ];
        assert_eq!(reject_reason(&lines).as_deref(), Some("bad-cb-amount"));
        assert_eq!(
            reject_state(&lines).as_deref(),
            Some("bad-cb-amount, coinbase pays too much (actual=5000000001 vs limit=5000000000)")
        );
        assert_eq!(reject_reason(&["nothing here".to_string()]), None);
        let script = vec!["ConnectTip: ConnectBlock 06 failed, block-script-verify-flag-failed (Dummy CHECKMULTISIG argument must be zero), input 0 of fd21".to_string()];
        assert_eq!(
            reject_reason(&script).as_deref(),
            Some("block-script-verify-flag-failed (Dummy CHECKMULTISIG argument must be zero)")
        );
        assert_eq!(
            reject_state(&script).as_deref(),
            Some("block-script-verify-flag-failed (Dummy CHECKMULTISIG argument must be zero), input 0 of fd21")
        );
    }
}
