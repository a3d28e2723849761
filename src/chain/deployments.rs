//! Consensus deployments as Core reports them (getdeploymentinfo): the buried
//! ones with their activation heights per chain, the BIP9 `testdummy`
//! deployment regtest defines (bit 28, period 144, threshold 108, started
//! from genesis, no timeout) with Core's versionbits state machine, and the
//! script verification flags a block is checked with. On regtest, Core's
//! `-testactivationheight` and `-vbparams` change them ([`TestParams`], set
//! once when the chain opens; chain_params gives the kernel the same).

use std::sync::OnceLock;

use bitcoin::Network;

/// Regtest's deployments as `-testactivationheight` and `-vbparams` change
/// them (Core's DeploymentOptions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestParams {
    /// Activation heights set for bip34, bip66 (dersig), bip65 (cltv), csv
    /// and segwit.
    pub heights: [Option<i32>; 5],
    /// testdummy's start time, timeout and minimum activation height.
    pub testdummy: Option<(i64, i64, i32)>,
    /// `-test=bip94`: BIP94's timewarp rule enforced (Core's
    /// enforce_BIP94).
    pub bip94: bool,
}

/// Core's names for `-testactivationheight`, in [`TestParams::heights`]
/// order.
const TEST_NAMES: [&str; 5] = ["bip34", "dersig", "cltv", "csv", "segwit"];

impl TestParams {
    /// Parses the options' values with Core's checks and messages.
    pub fn parse(heights: &[String], vbparams: &[String]) -> Result<TestParams, String> {
        let mut params = TestParams::default();
        for arg in heights {
            let Some((name, value)) = arg.split_once('@') else {
                return Err(format!(
                    "Invalid format ({arg}) for -testactivationheight=name@height."
                ));
            };
            let height = value
                .parse::<i32>()
                .ok()
                .filter(|h| (0..i32::MAX).contains(h))
                .ok_or_else(|| {
                    format!("Invalid height value ({arg}) for -testactivationheight=name@height.")
                })?;
            let i = TEST_NAMES.iter().position(|n| *n == name).ok_or_else(|| {
                format!("Invalid name ({arg}) for -testactivationheight=name@height.")
            })?;
            params.heights[i] = Some(height);
        }
        for arg in vbparams {
            let parts: Vec<&str> = arg.split(':').collect();
            if !(3..=4).contains(&parts.len()) {
                return Err("Version bits parameters malformed, expecting deployment:start:end[:min_activation_height]".into());
            }
            let start = parts[1]
                .parse::<i64>()
                .map_err(|_| format!("Invalid nStartTime ({})", parts[1]))?;
            let timeout = parts[2]
                .parse::<i64>()
                .map_err(|_| format!("Invalid nTimeout ({})", parts[2]))?;
            let min = match parts.get(3) {
                Some(m) => m
                    .parse::<i32>()
                    .map_err(|_| format!("Invalid min_activation_height ({m})"))?,
                None => 0,
            };
            if parts[0] != "testdummy" {
                return Err(format!("Invalid deployment ({})", parts[0]));
            }
            tracing::info!("Setting version bits activation parameters for testdummy to start={start}, timeout={timeout}, min_activation_height={min}");
            params.testdummy = Some((start, timeout, min));
        }
        Ok(params)
    }

    pub fn is_default(&self) -> bool {
        *self == TestParams::default()
    }
}

static REGTEST_PARAMS: OnceLock<TestParams> = OnceLock::new();

/// Regtest's deployments for this process from now on (the first call
/// wins: the chain is opened once).
pub fn set_regtest_params(params: TestParams) {
    let _ = REGTEST_PARAMS.set(params);
}

fn regtest_params() -> Option<&'static TestParams> {
    REGTEST_PARAMS.get()
}

/// Whether BIP94's timewarp rule holds on `network` (Core's
/// enforce_BIP94: testnet4 always, regtest with `-test=bip94`).
pub fn bip94_enforced(network: Network) -> bool {
    match network {
        Network::Testnet4 => true,
        Network::Regtest => regtest_params().is_some_and(|p| p.bip94),
        _ => false,
    }
}

/// A buried deployment: Core's name and its activation height on `network`.
pub fn buried(network: Network) -> [(&'static str, i32); 5] {
    // bip34, bip66, bip65, csv, segwit (Core's chainparams).
    let heights = match network {
        Network::Bitcoin => [227_931, 363_725, 388_381, 419_328, 481_824],
        Network::Testnet => [21_111, 330_776, 581_885, 770_112, 834_624],
        Network::Regtest => {
            let mut heights = [1, 1, 1, 1, 0];
            if let Some(p) = regtest_params() {
                for (h, set) in heights.iter_mut().zip(p.heights) {
                    *h = set.unwrap_or(*h);
                }
            }
            heights
        }
        _ => [1, 1, 1, 1, 1],
    };
    [
        ("bip34", heights[0]),
        ("bip66", heights[1]),
        ("bip65", heights[2]),
        ("csv", heights[3]),
        ("segwit", heights[4]),
    ]
}

/// Whether buried deployment `name` (Core's getdeploymentinfo name) is in
/// force for a block at `height`.
pub fn buried_active(network: Network, name: &str, height: i32) -> bool {
    buried(network)
        .iter()
        .any(|(n, h)| *n == name && height >= *h)
}

/// Core's script flag names (alphabetical, as its flag map) for a block at `height`.
pub fn script_flags(network: Network, height: i32) -> Vec<&'static str> {
    let active = |name: &str| buried_active(network, name, height);
    let mut flags = Vec::new();
    if active("bip65") {
        flags.push("CHECKLOCKTIMEVERIFY");
    }
    if active("csv") {
        flags.push("CHECKSEQUENCEVERIFY");
    }
    if active("bip66") {
        flags.push("DERSIG");
    }
    if active("segwit") {
        flags.push("NULLDUMMY");
    }
    flags.extend(["P2SH", "TAPROOT", "WITNESS"]);
    flags
}

/// A BIP9 deployment's parameters.
#[derive(Debug, Clone, Copy)]
pub struct Bip9 {
    pub name: &'static str,
    pub bit: u8,
    pub start_time: i64,
    pub timeout: i64,
    pub min_activation_height: i32,
    pub threshold: u32,
    pub period: u32,
}

/// The BIP9 deployments `network` defines (only regtest's testdummy is enabled
/// on Core's chains today).
pub fn bip9(network: Network) -> Vec<Bip9> {
    match network {
        Network::Regtest => {
            let (start_time, timeout, min_activation_height) = regtest_params()
                .and_then(|p| p.testdummy)
                .unwrap_or((0, i64::MAX, 0));
            vec![Bip9 {
                name: "testdummy",
                bit: 28,
                start_time,
                timeout,
                min_activation_height,
                threshold: 108,
                period: 144,
            }]
        }
        _ => Vec::new(),
    }
}

/// Core's ThresholdState.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Defined,
    Started,
    LockedIn,
    Active,
    Failed,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Defined => "defined",
            State::Started => "started",
            State::LockedIn => "locked_in",
            State::Active => "active",
            State::Failed => "failed",
        }
    }
}

/// What getdeploymentinfo shows for one BIP9 deployment at a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bip9Info {
    pub current: State,
    pub next: State,
    pub since: i32,
    /// (elapsed, count, possible) in the current period, and which of its
    /// blocks signalled, while the deployment is started or locked in.
    pub stats: Option<(u32, u32, bool)>,
    pub signalling: Vec<bool>,
    pub active_since: Option<i32>,
}

/// Does a block with `version` signal `bit` (BIP9's top bits 001)?
fn signals(version: i32, bit: u8) -> bool {
    (version as u32) & 0xE000_0000 == 0x2000_0000 && (version >> bit) & 1 == 1
}

/// Median time past of block `h` (the median of it and its ten ancestors).
fn mtp(times: &[i64], h: usize) -> i64 {
    let mut last: Vec<i64> = times[h.saturating_sub(10)..=h].to_vec();
    last.sort_unstable();
    last[last.len() / 2]
}

/// The deployment's state for every period up to the one holding the block
/// after `versions` (versions[h] and times[h] are block h's version and
/// time). Entry p is the state of blocks in period p.
fn period_states(d: &Bip9, versions: &[i32], times: &[i64], periods: usize) -> Vec<State> {
    // Core's ALWAYS_ACTIVE and NEVER_ACTIVE start times.
    match d.start_time {
        -1 => return vec![State::Active; periods.max(1)],
        -2 => return vec![State::Failed; periods.max(1)],
        _ => {}
    }
    let period = d.period as usize;
    let mut states = vec![State::Defined];
    for p in 0..periods.saturating_sub(1) {
        let last = (p + 1) * period - 1;
        let mtp = mtp(times, last);
        let state = states[p];
        let next = match state {
            State::Defined if mtp >= d.start_time => State::Started,
            State::Started if mtp >= d.timeout => State::Failed,
            State::Started => {
                let count = versions[p * period..=last]
                    .iter()
                    .filter(|v| signals(**v, d.bit))
                    .count() as u32;
                if count >= d.threshold {
                    State::LockedIn
                } else {
                    State::Started
                }
            }
            State::LockedIn if (last + 1) as i32 >= d.min_activation_height => State::Active,
            other => other,
        };
        states.push(next);
    }
    states
}

/// Core's VersionBitsCache::Info for the block at height `versions.len() - 1`
/// (`times` are the blocks' header times).
pub fn bip9_info(d: &Bip9, versions: &[i32], times: &[i64]) -> Bip9Info {
    let height = versions.len() as i32 - 1;
    let period = d.period as i32;
    // The state of block h is that of its period; the block after too.
    let periods = ((height + 1) / period + 1) as usize;
    let states = period_states(d, versions, times, periods);
    let state_of = |h: i32| states[(h / period) as usize];
    let current = state_of(height.max(0));
    let next = state_of(height + 1);
    let mut p = (height.max(0) / period) as usize;
    while p > 0 && states[p - 1] == current {
        p -= 1;
    }
    let since = p as i32 * period;
    let (stats, signalling) = if matches!(current, State::Started | State::LockedIn) {
        let start = (height / period * period) as usize;
        let window = &versions[start..];
        let signalling: Vec<bool> = window.iter().map(|v| signals(*v, d.bit)).collect();
        let elapsed = window.len() as u32;
        let count = signalling.iter().filter(|s| **s).count() as u32;
        let possible = current == State::Started && d.period - d.threshold >= elapsed - count;
        (Some((elapsed, count, possible)), signalling)
    } else {
        (None, Vec::new())
    };
    let active_since = match (current, next) {
        (State::Active, _) => Some(since),
        (_, State::Active) => Some(height + 1),
        _ => None,
    };
    Bip9Info {
        current,
        next,
        since,
        stats,
        signalling,
        active_since,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: i32 = 0x2000_0000;
    const SIGNAL: i32 = 0x2000_0000 | (1 << 28);

    fn chain(versions: &[i32]) -> Bip9Info {
        let times = vec![1_600_000_000; versions.len()];
        // Regtest's testdummy, as the node's own table defines it.
        bip9_info(&bip9(Network::Regtest)[0], versions, &times)
    }

    #[test]
    fn defined_in_the_first_period_then_started() {
        let info = chain(&[PLAIN; 1]);
        assert_eq!(
            (info.current, info.next, info.since),
            (State::Defined, State::Defined, 0)
        );
        assert!(info.stats.is_none());
        // Block 143 is the last of period 0: the next block is started.
        let info = chain(&[PLAIN; 144]);
        assert_eq!((info.current, info.next), (State::Defined, State::Started));
        let info = chain(&[PLAIN; 150]);
        assert_eq!((info.current, info.since), (State::Started, 144));
        assert_eq!(info.stats, Some((6, 0, true)));
        assert_eq!(info.signalling, vec![false; 6]);
    }

    #[test]
    fn a_signalling_period_locks_in_then_activates() {
        let mut v = vec![PLAIN; 144];
        v.extend(vec![SIGNAL; 108]);
        v.extend(vec![PLAIN; 36]);
        let info = chain(&v);
        // Block 287 ends the signalling period: the next block is locked in.
        assert_eq!((info.current, info.next), (State::Started, State::LockedIn));
        assert_eq!(info.stats, Some((144, 108, true)));
        v.push(PLAIN);
        let info = chain(&v);
        assert_eq!((info.current, info.since), (State::LockedIn, 288));
        assert_eq!(info.stats, Some((1, 0, false)));
        v.extend(vec![PLAIN; 143]);
        let info = chain(&v);
        assert_eq!((info.next, info.active_since), (State::Active, Some(432)));
        v.push(PLAIN);
        let info = chain(&v);
        assert_eq!(
            (info.current, info.active_since),
            (State::Active, Some(432))
        );
    }

    #[test]
    fn too_few_signals_keep_it_started_and_impossible_is_reported() {
        let mut v = vec![PLAIN; 144];
        v.extend(vec![PLAIN; 37]);
        let info = chain(&v);
        assert_eq!(info.stats, Some((37, 0, false)));
        assert_eq!(buried(Network::Regtest)[4], ("segwit", 0));
        assert_eq!(
            script_flags(Network::Regtest, 0),
            vec!["NULLDUMMY", "P2SH", "TAPROOT", "WITNESS"]
        );
        assert_eq!(script_flags(Network::Regtest, 1).len(), 7);
    }
}
