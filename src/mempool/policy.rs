//! mempool/policy: Core's relay policy for one transaction taken on its own:
//! the options that shape it (`-minrelaytxfee`, `-dustrelayfee`,
//! `-datacarriersize`, ...), CheckTransaction's context-free consensus
//! checks, IsStandardTx, dust, and the standardness of the inputs a
//! transaction spends and of its witnesses. Reasons are Core's strings.

use bitcoin::blockdata::script::Instruction;
use bitcoin::{Script, Transaction, TxOut};

use crate::config::Config;
use crate::rpc::amount::{parse_fixed_point, MAX_MONEY};
use crate::script::solver::{solve, Template};

/// A fee rate in satoshis per 1000 virtual bytes (Core's CFeeRate from kvB).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeeRate(pub i64);

impl FeeRate {
    /// Core's CFeeRate::GetFee: the fee for `vsize`, rounded up.
    pub fn fee(self, vsize: i64) -> i64 {
        if self.0 <= 0 || vsize <= 0 {
            return 0;
        }
        (self.0 * vsize + 999) / 1000
    }

    /// Core's CFeeRate(fee, vsize).GetFeePerK(): rounded down.
    pub fn of(fee: i64, vsize: i64) -> FeeRate {
        if vsize <= 0 {
            return FeeRate(0);
        }
        FeeRate((fee * 1000).div_euclid(vsize))
    }
}

/// Core's mempool and mining policy options, read from the node's settings.
#[derive(Clone, Debug)]
pub struct PolicyOptions {
    /// Not `-acceptnonstdtxn`: standardness rules apply.
    pub require_standard: bool,
    pub min_relay_feerate: FeeRate,
    pub incremental_relay_feerate: FeeRate,
    pub dust_relay_feerate: FeeRate,
    /// `-datacarriersize` (None with `-datacarrier=0`).
    pub max_datacarrier_bytes: Option<u64>,
    pub permit_bare_multisig: bool,
    pub bytes_per_sigop: i64,
    /// `-maxmempool` in bytes.
    pub max_size_bytes: u64,
    /// `-mempoolexpiry` in seconds.
    pub expiry_secs: i64,
    /// `-limitclustercount`, `-limitclustersize` (in vbytes).
    pub cluster_count: usize,
    pub cluster_size_vbytes: i64,
    /// `-persistmempool`.
    pub persist: bool,
    /// `-blockmintxfee`, `-blockmaxweight`, `-blockreservedweight`.
    pub block_min_feerate: FeeRate,
    pub block_max_weight: i64,
    pub block_reserved_weight: i64,
    /// `-blockversion`: the version of assembled blocks, regtest only
    /// (Core's MineBlocksOnDemand test option).
    pub block_version: Option<i32>,
}

/// Core's MINIMUM_BLOCK_RESERVED_WEIGHT.
const MIN_BLOCK_RESERVED_WEIGHT: i64 = 2000;

/// Core's CheckMiningOptions for `-blockmaxweight` and
/// `-blockreservedweight`, in its order and words.
fn check_block_weights(max: i64, reserved: i64) -> Result<(), String> {
    if reserved < MIN_BLOCK_RESERVED_WEIGHT {
        return Err(format!("-blockreservedweight ({reserved}) is lower than minimum safety value of ({MIN_BLOCK_RESERVED_WEIGHT})"));
    }
    if reserved > MAX_BLOCK_WEIGHT {
        return Err(format!("-blockreservedweight ({reserved}) exceeds consensus maximum block weight ({MAX_BLOCK_WEIGHT})"));
    }
    if max > MAX_BLOCK_WEIGHT {
        return Err(format!(
            "-blockmaxweight ({max}) exceeds consensus maximum block weight ({MAX_BLOCK_WEIGHT})"
        ));
    }
    if reserved > max {
        return Err(format!(
            "-blockreservedweight ({reserved}) exceeds -blockmaxweight ({max})"
        ));
    }
    Ok(())
}

/// Core's MAX_STANDARD_TX_WEIGHT.
pub const MAX_STANDARD_TX_WEIGHT: i64 = 400_000;
/// Core's MAX_STANDARD_TX_SIGOPS_COST.
pub const MAX_STANDARD_TX_SIGOPS_COST: i64 = 80_000 / 5;
const MAX_STANDARD_SCRIPTSIG_SIZE: usize = 1650;
const MIN_STANDARD_TX_NONWITNESS_SIZE: usize = 65;
const MAX_P2SH_SIGOPS: usize = 15;
const MAX_STANDARD_P2WSH_STACK_ITEMS: usize = 100;
const MAX_STANDARD_P2WSH_STACK_ITEM_SIZE: usize = 80;
const MAX_STANDARD_TAPSCRIPT_STACK_ITEM_SIZE: usize = 80;
const MAX_STANDARD_P2WSH_SCRIPT_SIZE: usize = 3600;
const MAX_DUST_OUTPUTS_PER_TX: usize = 1;
const TX_MAX_STANDARD_VERSION: i32 = 3;
const MAX_BLOCK_WEIGHT: i64 = 4_000_000;

impl PolicyOptions {
    /// Core's defaults.
    pub fn core_defaults() -> PolicyOptions {
        PolicyOptions {
            require_standard: true,
            min_relay_feerate: FeeRate(100),
            incremental_relay_feerate: FeeRate(100),
            dust_relay_feerate: FeeRate(3000),
            max_datacarrier_bytes: Some((MAX_STANDARD_TX_WEIGHT / 4) as u64),
            permit_bare_multisig: true,
            bytes_per_sigop: 20,
            max_size_bytes: 300_000_000,
            expiry_secs: 336 * 60 * 60,
            cluster_count: 64,
            cluster_size_vbytes: 101_000,
            persist: true,
            block_min_feerate: FeeRate(1),
            block_max_weight: MAX_BLOCK_WEIGHT,
            block_reserved_weight: 8000,
            block_version: None,
        }
    }

    /// The options as the node's settings give them; Err is Core's init
    /// error for a bad value.
    pub fn from_config(config: &Config) -> Result<PolicyOptions, String> {
        let d = PolicyOptions::core_defaults();
        let rate = |name: &str, default: FeeRate| -> Result<FeeRate, String> {
            match config.get(name) {
                None => Ok(default),
                Some(text) => parse_fixed_point(&text, 8)
                    .filter(|v| (0..=MAX_MONEY).contains(v))
                    .map(FeeRate)
                    .ok_or_else(|| format!("Invalid amount for -{name}=<amount>: '{text}'")),
            }
        };
        let require_standard = !config.get_bool("acceptnonstdtxn", false);
        if !require_standard && config.chain().name() == "main" {
            return Err("acceptnonstdtxn is not currently supported for main chain".into());
        }
        let datacarrier = config.get_bool("datacarrier", true);
        let block_max_weight = config.get_int("blockmaxweight", d.block_max_weight);
        let block_reserved_weight = config.get_int("blockreservedweight", d.block_reserved_weight);
        check_block_weights(block_max_weight, block_reserved_weight)?;
        let opts = PolicyOptions {
            require_standard,
            min_relay_feerate: rate("minrelaytxfee", d.min_relay_feerate)?,
            incremental_relay_feerate: rate("incrementalrelayfee", d.incremental_relay_feerate)?,
            dust_relay_feerate: rate("dustrelayfee", d.dust_relay_feerate)?,
            max_datacarrier_bytes: datacarrier.then(|| {
                config
                    .get_int(
                        "datacarriersize",
                        d.max_datacarrier_bytes.unwrap_or(0) as i64,
                    )
                    .max(0) as u64
            }),
            permit_bare_multisig: config.get_bool("permitbaremultisig", true),
            bytes_per_sigop: config.get_int("bytespersigop", d.bytes_per_sigop).max(0),
            // Core: a -blocksonly node keeps a 5 MB mempool unless told.
            max_size_bytes: config
                .get_int(
                    "maxmempool",
                    if config.get_bool("blocksonly", false) {
                        5
                    } else {
                        300
                    },
                )
                .max(0) as u64
                * 1_000_000,
            expiry_secs: config.get_int("mempoolexpiry", 336).max(0) * 60 * 60,
            cluster_count: config.get_int("limitclustercount", 64).clamp(1, 100) as usize,
            cluster_size_vbytes: config.get_int("limitclustersize", 101).max(1) * 1000,
            persist: config.get_bool("persistmempool", true),
            block_min_feerate: rate("blockmintxfee", d.block_min_feerate)?,
            block_max_weight,
            block_reserved_weight,
            block_version: (config.chain().name() == "regtest" && config.is_set("blockversion"))
                .then(|| config.get_int("blockversion", 0) as i32),
        };
        let mut opts = opts;
        // Core: setting only -incrementalrelayfee moves both.
        if config.get("minrelaytxfee").is_none()
            && opts.incremental_relay_feerate > opts.min_relay_feerate
        {
            opts.min_relay_feerate = opts.incremental_relay_feerate;
            tracing::info!(
                "Increasing minrelaytxfee to {} sat/kvB to match incrementalrelayfee",
                opts.min_relay_feerate.0
            );
        }
        // Core: the mempool must hold at least what the cluster limit allows
        // 40 times over (its "-maxmempool must be at least" check).
        let min_mb = (opts.cluster_size_vbytes as u64 * 40).div_ceil(1_000_000);
        if opts.max_size_bytes < min_mb * 1_000_000 {
            return Err(format!("-maxmempool must be at least {min_mb} MB"));
        }
        Ok(opts)
    }
}

/// A rejected transaction: Core's reject reason and debug message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    pub kind: RejectKind,
    pub reason: String,
    pub details: String,
}

/// Core's TxValidationResult, as far as callers tell them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectKind {
    /// Invalid under consensus rules.
    Consensus,
    /// Not standard, or against mempool policy.
    Policy,
    /// Its inputs are unknown (an orphan, or spent).
    MissingInputs,
    /// Already known, or conflicting without replacement.
    Conflict,
    /// Not final yet.
    Premature,
    /// Refused for its fee alone: a package with a child paying for it may
    /// get in (Core's TX_RECONSIDERABLE).
    Reconsiderable,
    /// It spends outputs policy does not let it spend, whatever its
    /// witnesses (Core's TX_INPUTS_NOT_STANDARD): refused by txid too.
    InputsNotStandard,
    /// Its scripts fail only because it came without witnesses: the same
    /// txid with them may be fine, so it is not remembered as refused
    /// (Core's TX_WITNESS_STRIPPED).
    WitnessStripped,
}

impl Reject {
    pub fn new(kind: RejectKind, reason: impl Into<String>) -> Reject {
        Reject {
            kind,
            reason: reason.into(),
            details: String::new(),
        }
    }

    pub fn with(mut self, details: impl Into<String>) -> Reject {
        self.details = details.into();
        self
    }
}

impl std::fmt::Display for Reject {
    /// Core's TxValidationState::ToString: "reason" or "reason, details".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.details.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}, {}", self.reason, self.details)
        }
    }
}

fn consensus(reason: &str) -> Reject {
    Reject::new(RejectKind::Consensus, reason)
}

fn policy(reason: &str) -> Reject {
    Reject::new(RejectKind::Policy, reason)
}

/// A value as Core's CAmount sees it: rust-bitcoin reads the int64 as u64,
/// so a negative amount arrives as a value above i64::MAX.
pub fn signed_value(out: &TxOut) -> i64 {
    out.value.to_sat() as i64
}

/// Core's CheckTransaction: the checks that need no context.
pub fn check_transaction(tx: &Transaction) -> Result<(), Reject> {
    if tx.input.is_empty() {
        return Err(consensus("bad-txns-vin-empty"));
    }
    if tx.output.is_empty() {
        return Err(consensus("bad-txns-vout-empty"));
    }
    if tx.base_size() * 4 > MAX_BLOCK_WEIGHT as usize {
        return Err(consensus("bad-txns-oversize"));
    }
    let mut total: i64 = 0;
    for out in &tx.output {
        let v = signed_value(out);
        if v < 0 {
            return Err(consensus("bad-txns-vout-negative"));
        }
        if v > MAX_MONEY {
            return Err(consensus("bad-txns-vout-toolarge"));
        }
        total += v;
        if total > MAX_MONEY {
            return Err(consensus("bad-txns-txouttotal-toolarge"));
        }
    }
    let mut seen = std::collections::HashSet::with_capacity(tx.input.len());
    if !tx.input.iter().all(|i| seen.insert(i.previous_output)) {
        return Err(consensus("bad-txns-inputs-duplicate"));
    }
    if tx.is_coinbase() {
        let len = tx.input[0].script_sig.len();
        if !(2..=100).contains(&len) {
            return Err(consensus("bad-cb-length"));
        }
    } else if tx.input.iter().any(|i| i.previous_output.is_null()) {
        return Err(consensus("bad-txns-prevout-null"));
    }
    Ok(())
}

/// Core's GetDustThreshold: outputs worth less than spending them costs at
/// `rate` are dust; unspendable outputs never are.
pub fn dust_threshold(out: &TxOut, rate: FeeRate) -> i64 {
    if is_unspendable(&out.script_pubkey) {
        return 0;
    }
    let mut size = bitcoin::consensus::encode::serialize(out).len() as i64;
    size += if out.script_pubkey.is_witness_program() {
        32 + 4 + 1 + 107 / 4 + 4
    } else {
        32 + 4 + 1 + 107 + 4
    };
    rate.fee(size)
}

/// Core's CScript::IsUnspendable: OP_RETURN first, or too long to spend.
pub fn is_unspendable(script: &Script) -> bool {
    script.is_op_return() || script.len() > 10_000
}

/// The indexes of `tx`'s dust outputs.
pub fn dust_outputs(tx: &Transaction, rate: FeeRate) -> Vec<usize> {
    (0..tx.output.len())
        .filter(|&i| signed_value(&tx.output[i]) < dust_threshold(&tx.output[i], rate))
        .collect()
}

/// Core's IsStandardTx.
pub fn check_standard(tx: &Transaction, opts: &PolicyOptions) -> Result<(), Reject> {
    let version = tx.version.0;
    if !(1..=TX_MAX_STANDARD_VERSION).contains(&version) {
        return Err(policy("version"));
    }
    if tx.weight().to_wu() as i64 > MAX_STANDARD_TX_WEIGHT {
        return Err(policy("tx-size"));
    }
    for input in &tx.input {
        if input.script_sig.len() > MAX_STANDARD_SCRIPTSIG_SIZE {
            return Err(policy("scriptsig-size"));
        }
        if !input.script_sig.is_push_only() {
            return Err(policy("scriptsig-not-pushonly"));
        }
    }
    let mut datacarrier_left = opts.max_datacarrier_bytes.unwrap_or(0);
    for out in &tx.output {
        match solve(&out.script_pubkey) {
            Template::NonStandard => return Err(policy("scriptpubkey")),
            Template::Multisig { required, keys } => {
                if !(1..=3).contains(&keys.len()) || required < 1 || required > keys.len() {
                    return Err(policy("scriptpubkey"));
                }
                if !opts.permit_bare_multisig {
                    return Err(policy("bare-multisig"));
                }
            }
            Template::NullData => {
                let size = out.script_pubkey.len() as u64;
                if size > datacarrier_left {
                    return Err(policy("datacarrier"));
                }
                datacarrier_left -= size;
            }
            _ => {}
        }
    }
    if dust_outputs(tx, opts.dust_relay_feerate).len() > MAX_DUST_OUTPUTS_PER_TX {
        return Err(policy("dust"));
    }
    Ok(())
}

/// Core's MIN_STANDARD_TX_NONWITNESS_SIZE check (CVE-2017-12842).
pub fn check_size_small(tx: &Transaction) -> Result<(), Reject> {
    if tx.base_size() < MIN_STANDARD_TX_NONWITNESS_SIZE {
        return Err(policy("tx-size-small"));
    }
    Ok(())
}

/// The stack a push-only scriptSig leaves (None if it is not push-only).
fn push_stack(script_sig: &Script) -> Option<Vec<Vec<u8>>> {
    let mut stack = Vec::new();
    for ins in script_sig.instructions() {
        match ins.ok()? {
            Instruction::PushBytes(b) => stack.push(b.as_bytes().to_vec()),
            Instruction::Op(op) => {
                let n = op.to_u8();
                // OP_1NEGATE and OP_1..OP_16 push small numbers.
                match n {
                    0x4f => stack.push(vec![0x81]),
                    0x51..=0x60 => stack.push(vec![n - 0x50]),
                    _ => return None,
                }
            }
        }
    }
    Some(stack)
}

/// The redeem script a P2SH spend's scriptSig pushes last (None when the
/// scriptSig is not push-only or pushes nothing).
pub fn p2sh_redeem(script_sig: &Script) -> Option<bitcoin::ScriptBuf> {
    push_stack(script_sig)
        .and_then(|mut s| s.pop())
        .map(bitcoin::ScriptBuf::from_bytes)
}

fn nonstandard_input(details: String) -> Reject {
    Reject::new(RejectKind::InputsNotStandard, "bad-txns-nonstandard-inputs").with(details)
}

/// Core's ValidateInputsStandardness: what each input spends must be a
/// known template, and a P2SH redeem script must exist and stay within the
/// sigop limit. `spent[i]` is what input i spends.
pub fn check_inputs_standard(tx: &Transaction, spent: &[TxOut]) -> Result<(), Reject> {
    let mut legacy_sigops = 0usize;
    for (input, prev) in tx.input.iter().zip(spent) {
        legacy_sigops += input.script_sig.count_sigops();
        legacy_sigops += prev.script_pubkey.count_sigops();
        if prev.script_pubkey.is_p2sh() {
            if let Some(redeem) = p2sh_redeem(&input.script_sig) {
                legacy_sigops += redeem.count_sigops();
            }
        }
    }
    if legacy_sigops > 2500 {
        return Err(nonstandard_input(
            "non-witness sigops exceed bip54 limit".into(),
        ));
    }
    for (i, (input, prev)) in tx.input.iter().zip(spent).enumerate() {
        match solve(&prev.script_pubkey) {
            Template::NonStandard => {
                return Err(nonstandard_input(format!("input {i} script unknown")))
            }
            Template::WitnessUnknown => {
                return Err(nonstandard_input(format!(
                    "input {i} witness program is undefined"
                )))
            }
            Template::ScriptHash => {
                let Some(stack) = push_stack(&input.script_sig) else {
                    return Err(nonstandard_input(format!(
                        "p2sh scriptsig malformed (input {i}: Only push operators allowed in signatures)"
                    )));
                };
                let Some(redeem) = stack.last() else {
                    return Err(nonstandard_input(format!(
                        "input {i} P2SH redeemscript missing"
                    )));
                };
                let sigops = Script::from_bytes(redeem).count_sigops();
                if sigops > MAX_P2SH_SIGOPS {
                    return Err(nonstandard_input(format!(
                        "p2sh redeemscript sigops exceed limit (input {i}: {sigops} > {MAX_P2SH_SIGOPS})"
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Core's IsWitnessStandard.
pub fn witness_standard(tx: &Transaction, spent: &[TxOut]) -> bool {
    for (input, prev) in tx.input.iter().zip(spent) {
        if input.witness.is_empty() {
            continue;
        }
        let mut script = prev.script_pubkey.clone();
        if matches!(solve(&script), Template::Anchor) {
            return false;
        }
        let mut p2sh = false;
        if script.is_p2sh() {
            match p2sh_redeem(&input.script_sig) {
                Some(redeem) => script = redeem,
                None => return false,
            }
            p2sh = true;
        }
        let Some(version) = script.witness_version() else {
            // A witness on a non-witness spend is not standard.
            return false;
        };
        let program_len = script.len() - 2;
        let items: Vec<&[u8]> = input.witness.iter().collect();
        if version.to_num() == 0 && program_len == 32 {
            let Some((witness_script, args)) = items.split_last() else {
                return false;
            };
            if witness_script.len() > MAX_STANDARD_P2WSH_SCRIPT_SIZE
                || args.len() > MAX_STANDARD_P2WSH_STACK_ITEMS
                || args
                    .iter()
                    .any(|a| a.len() > MAX_STANDARD_P2WSH_STACK_ITEM_SIZE)
            {
                return false;
            }
        }
        if version.to_num() == 1 && program_len == 32 && !p2sh {
            let mut stack = items;
            if stack.len() >= 2 && stack.last().is_some_and(|a| a.first() == Some(&0x50)) {
                // An annex: not standard.
                return false;
            }
            if stack.len() >= 2 {
                let control = stack.pop().unwrap_or_default();
                let _script = stack.pop();
                if control.first().map(|c| c & 0xfe) == Some(0xc0)
                    && stack
                        .iter()
                        .any(|a| a.len() > MAX_STANDARD_TAPSCRIPT_STACK_ITEM_SIZE)
                {
                    return false;
                }
            } else if stack.is_empty() {
                return false;
            }
        }
    }
    true
}

/// Core's GetSigOpsAdjustedWeight and GetVirtualTransactionSize.
pub fn virtual_size(weight: i64, sigop_cost: i64, bytes_per_sigop: i64) -> i64 {
    (weight.max(sigop_cost * bytes_per_sigop) + 3) / 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, TxIn, Txid, Witness};

    fn tx(outputs: Vec<TxOut>) -> Transaction {
        Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: OutPoint::new(Txid::all_zeros(), 1),
                script_sig: ScriptBuf::new(),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: outputs,
        }
    }

    fn p2wpkh(value: u64) -> TxOut {
        let mut s = vec![0x00, 0x14];
        s.extend([7u8; 20]);
        TxOut {
            value: Amount::from_sat(value),
            script_pubkey: ScriptBuf::from_bytes(s),
        }
    }

    #[test]
    fn block_weights_are_checked_in_cores_order_and_words() {
        assert_eq!(check_block_weights(4_000_000, 8000), Ok(()));
        for ((max, reserved), message) in [
            (
                (4_000_000, 1999),
                "-blockreservedweight (1999) is lower than minimum safety value of (2000)",
            ),
            (
                (4_000_000, 4_000_001),
                "-blockreservedweight (4000001) exceeds consensus maximum block weight (4000000)",
            ),
            (
                (4_000_001, 8000),
                "-blockmaxweight (4000001) exceeds consensus maximum block weight (4000000)",
            ),
            (
                (7999, 8000),
                "-blockreservedweight (8000) exceeds -blockmaxweight (7999)",
            ),
        ] {
            assert_eq!(check_block_weights(max, reserved).unwrap_err(), message);
        }
    }

    #[test]
    fn fee_rates_round_as_core() {
        assert_eq!(FeeRate(100).fee(141), 15);
        assert_eq!(FeeRate(1000).fee(250), 250);
        assert_eq!(FeeRate::of(141, 141), FeeRate(1000));
        assert_eq!(FeeRate::of(1, 3), FeeRate(333));
    }

    #[test]
    fn dust_threshold_matches_core_for_p2wpkh_and_p2pkh() {
        // Core: 294 sat for P2WPKH and 546 for P2PKH at 3000 sat/kvB.
        assert_eq!(dust_threshold(&p2wpkh(0), FeeRate(3000)), 294);
        let p2pkh = TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::new_p2pkh(&bitcoin::PubkeyHash::all_zeros()),
        };
        assert_eq!(dust_threshold(&p2pkh, FeeRate(3000)), 546);
    }

    #[test]
    fn standardness_reasons_are_cores() {
        let opts = PolicyOptions::core_defaults();
        assert_eq!(check_standard(&tx(vec![p2wpkh(1000)]), &opts), Ok(()));
        // One dust output is allowed (ephemeral dust), two are not.
        assert_eq!(check_standard(&tx(vec![p2wpkh(1)]), &opts), Ok(()));
        assert_eq!(
            check_standard(&tx(vec![p2wpkh(1), p2wpkh(2)]), &opts)
                .unwrap_err()
                .reason,
            "dust"
        );
        let mut v4 = tx(vec![p2wpkh(1000)]);
        v4.version = bitcoin::transaction::Version(4);
        assert_eq!(check_standard(&v4, &opts).unwrap_err().reason, "version");
        let odd = TxOut {
            value: Amount::from_sat(1000),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51, 0x51]),
        };
        assert_eq!(
            check_standard(&tx(vec![odd]), &opts).unwrap_err().reason,
            "scriptpubkey"
        );
        let mut no_carrier = opts.clone();
        no_carrier.max_datacarrier_bytes = None;
        let data = TxOut {
            value: Amount::ZERO,
            script_pubkey: ScriptBuf::from_bytes(vec![0x6a, 0x01, 0x01]),
        };
        assert_eq!(check_standard(&tx(vec![data.clone()]), &opts), Ok(()));
        assert_eq!(
            check_standard(&tx(vec![data]), &no_carrier)
                .unwrap_err()
                .reason,
            "datacarrier"
        );
    }

    #[test]
    fn check_transaction_catches_duplicates_and_empty_lists() {
        let mut t = tx(vec![p2wpkh(1000)]);
        assert_eq!(check_transaction(&t), Ok(()));
        t.input.push(t.input[0].clone());
        assert_eq!(
            check_transaction(&t).unwrap_err().reason,
            "bad-txns-inputs-duplicate"
        );
        t.input.clear();
        assert_eq!(
            check_transaction(&t).unwrap_err().reason,
            "bad-txns-vin-empty"
        );
        let mut big = tx(vec![p2wpkh(21_000_001 * 100_000_000)]);
        assert_eq!(
            check_transaction(&big).unwrap_err().reason,
            "bad-txns-vout-toolarge"
        );
        big.output = vec![];
        assert_eq!(
            check_transaction(&big).unwrap_err().reason,
            "bad-txns-vout-empty"
        );
    }
}
