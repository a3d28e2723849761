//! chain/: the node worker's block chain. Core's own validation engine
//! (libbitcoinkernel, through the `bitcoinkernel` crate) keeps blocks and the
//! chainstate in Core's layout under the network directory; our UTXO index
//! (`utxo`) follows its active chain; `assemble` builds blocks to mine;
//! `headers` answers questions the kernel's block tree does not (median time,
//! chain work, difficulty). Everything here is blocking: async callers run it
//! with `spawn_blocking`.

pub mod assemble;
pub mod block_tree;
mod chain_params;
pub mod clock;
pub mod deployments;
pub mod disk_space;
pub mod headers;
pub mod headers_sync;
pub mod kernel_log;
pub mod manager_options;
pub mod muhash;
pub mod prune;
mod store;
pub mod txindex;
pub mod utxo;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoinkernel::{
    prelude::*, BlockValidationResult, ChainType, ChainstateManager, ChainstateManagerBuilder,
    Context, ContextBuilder, ProcessBlockHeaderResult, ProcessBlockResult, ValidationMode,
};

pub use headers::BlockInfo;

/// Why the chain could not be opened or changed.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("{0}")]
    Kernel(String),
    #[error("UTXO index: {0}")]
    Index(String),
    #[error("{0}")]
    Unsupported(String),
    /// Less than Core's reserve is free where the chain writes.
    #[error("Disk space is too low!")]
    DiskSpace,
    /// The engine could not load the chainstate (Core's message; a
    /// reindex recovers).
    #[error("{0}")]
    Load(String),
    /// The engine refused the options before loading anything (Core's
    /// init error, as it words it).
    #[error("{0}")]
    Refused(String),
    /// invalidateblock and its kin were not carried out.
    #[error(transparent)]
    Verdict(#[from] block_tree::VerdictError),
}

impl From<bitcoinkernel::KernelError> for ChainError {
    fn from(e: bitcoinkernel::KernelError) -> Self {
        ChainError::Kernel(e.to_string())
    }
}

/// How to open the chain (from the node's options).
#[derive(Clone, Debug)]
pub struct ChainOptions {
    /// `<datadir>/<chain>`: blocks/ (at least its index), chainstate/ and
    /// indexes/ live here.
    pub net_dir: PathBuf,
    /// Where the block and undo files are: `<net_dir>/blocks`, or
    /// `<blocksdir>/<chain>/blocks` with `-blocksdir`.
    pub blocks_dir: PathBuf,
    /// Core's chain name: main, test, testnet4, signet, regtest.
    pub chain: String,
    /// `-reindex`: rebuild the block index and chainstate from the block files.
    pub reindex: bool,
    /// `-reindex-chainstate`: rebuild the chainstate from the block files.
    pub reindex_chainstate: bool,
    /// `-par`-style script-check threads (0: validate on the calling thread).
    pub worker_threads: i32,
    /// `-txindex`: keep the transaction index.
    pub txindex: bool,
    /// `-prune` and `-fastprune`.
    pub prune: prune::PruneOptions,
    /// `-testactivationheight` and `-vbparams` (regtest only).
    pub test_params: deployments::TestParams,
    /// `-maxtipage`: a tip older than this (seconds) is initial block
    /// download.
    pub max_tip_age: i64,
    /// `-minimumchainwork` and `-assumevalid` (uint256 byte order); None:
    /// the chain's defaults.
    pub minimum_chain_work: Option<[u8; 32]>,
    pub assume_valid: Option<[u8; 32]>,
}

impl ChainOptions {
    /// Regtest under `net_dir` with every option at its default (tests and
    /// benches).
    pub fn regtest(net_dir: PathBuf) -> ChainOptions {
        ChainOptions {
            blocks_dir: net_dir.join("blocks"),
            net_dir,
            chain: "regtest".into(),
            reindex: false,
            reindex_chainstate: false,
            worker_threads: 0,
            txindex: false,
            prune: prune::PruneOptions::default(),
            test_params: deployments::TestParams::default(),
            max_tip_age: manager_options::DEFAULT_MAX_TIP_AGE,
            minimum_chain_work: None,
            assume_valid: None,
        }
    }
}

/// A coin a block spent, from its undo data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpentCoin {
    pub txout: bitcoin::TxOut,
    /// The height of the block that made it.
    pub height: u32,
    /// Made by a coinbase.
    pub coinbase: bool,
}

/// What `submit_block` did with a block (Core's submitblock answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// New and found valid.
    Accepted,
    /// Already known and valid ("duplicate").
    Duplicate,
    /// Already known as invalid ("duplicate-invalid").
    DuplicateInvalid,
    /// Stored but not validated (not on the best chain): "inconclusive".
    Inconclusive,
    /// Failed validation, with Core's reject reason.
    Rejected(String),
}

/// What the engine made of a submitted block ([`Chain::submit_block_checked`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub outcome: SubmitOutcome,
    /// The engine's whole validation state for a refused block ("reason,
    /// debug message", as Core's BlockValidationState::ToString) when its
    /// log gave one.
    pub state: Option<String>,
    /// Other blocks the engine checked on the way (connecting the branch
    /// this block completed): Core's BlockChecked for them.
    pub others_valid: Vec<bitcoin::BlockHash>,
    /// Those it found invalid, with their reasons (whoever sent them is
    /// blamed).
    pub others_invalid: Vec<(bitcoin::BlockHash, String)>,
}

/// One BlockChecked event: (block, valid, result).
type Checked = (bitcoin::BlockHash, bool, BlockValidationResult);

thread_local! {
    /// The BlockChecked events on this thread since the last submission.
    static CHECKED: std::cell::RefCell<Vec<Checked>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Core's reject reason when the kernel's log did not name one.
fn generic_reason(result: BlockValidationResult) -> &'static str {
    match result {
        BlockValidationResult::InvalidHeader => "invalid-header",
        BlockValidationResult::Mutated => "bad-txnmrklroot",
        BlockValidationResult::MissingPrev => "prev-blk-not-found",
        BlockValidationResult::InvalidPrev => "bad-prevblk",
        BlockValidationResult::TimeFuture => "time-too-new",
        BlockValidationResult::CachedInvalid => "duplicate-invalid",
        BlockValidationResult::HeaderLowWork => "too-little-chainwork",
        _ => "rejected",
    }
}

/// The active chain's tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    pub hash: bitcoin::BlockHash,
    pub height: i32,
}

/// What follows the active chain block by block (the mempool). Called with
/// the validation lock held (see `Chain::lock_validation`), after our UTXO
/// index has applied the change, so a listener sees the index at the block.
pub trait ChainListener: Send + Sync {
    /// `block` left the active chain; the index is now at its parent.
    fn block_disconnected(&self, chain: &Chain, block: &bitcoin::Block);
    /// `block` joined the active chain at `height`.
    fn block_connected(&self, chain: &Chain, block: &bitcoin::Block, height: u32);
    /// The index reached the kernel's tip after one or more of the above.
    fn tip_updated(&self, chain: &Chain);
}

/// The node's chain: the kernel plus our index, shared across threads.
pub struct Chain {
    // Field order is drop order: the manager flushes before its context goes.
    chainman: ChainstateManager,
    _context: Context,
    utxo: utxo::UtxoIndex,
    txindex: Option<txindex::TxIndex>,
    network: bitcoin::Network,
    blocks_dir: PathBuf,
    /// Serialises block submission with the index update that follows it.
    submit: Mutex<()>,
    /// The kernel's block tree beyond its C API: chain tips, failure
    /// marks, invalidateblock and its kin.
    block_tree: block_tree::BlockTree,
    tip_tx: tokio::sync::watch::Sender<Tip>,
    listeners: Mutex<Vec<Arc<dyn ChainListener>>>,
    /// `<datadir>/<chain>`, where the indexes write (its free space is checked).
    net_dir: PathBuf,
    /// The first fatal error (the kernel's, or an index write that failed):
    /// the node must stop.
    fatal: Arc<tokio::sync::watch::Sender<Option<String>>>,
}

fn chain_type(chain: &str) -> Result<(ChainType, bitcoin::Network), ChainError> {
    Ok(match chain {
        "main" => (ChainType::Mainnet, bitcoin::Network::Bitcoin),
        "test" => (ChainType::Testnet, bitcoin::Network::Testnet),
        "testnet4" => (ChainType::Testnet4, bitcoin::Network::Testnet4),
        "signet" => (ChainType::Signet, bitcoin::Network::Signet),
        "regtest" => (ChainType::Regtest, bitcoin::Network::Regtest),
        other => return Err(ChainError::Unsupported(format!("unknown chain {other}"))),
    })
}

/// Logs a fatal error and keeps the first one for `Chain::fatal_error`.
fn record_fatal(fatal: &tokio::sync::watch::Sender<Option<String>>, message: String) {
    tracing::error!("{message}");
    fatal.send_if_modified(|m| {
        let first = m.is_none();
        if first {
            *m = Some(message);
        }
        first
    });
}

/// The kernel's block hash as rust-bitcoin's.
pub(crate) fn to_hash(bytes: [u8; 32]) -> bitcoin::BlockHash {
    bitcoin::BlockHash::from_byte_array(bytes)
}

/// The text a kernel shim left in `err` (zeroed before the call; the shims
/// always leave a NUL in it).
pub(super) fn shim_message(err: &[std::ffi::c_char]) -> String {
    // SAFETY: a NUL-terminated string within `err`, as above.
    let why = unsafe { std::ffi::CStr::from_ptr(err.as_ptr()) }.to_string_lossy();
    if why.is_empty() {
        "the kernel failed".into()
    } else {
        why.into_owned()
    }
}

fn path_str(p: &Path) -> Result<&str, ChainError> {
    p.to_str()
        .ok_or_else(|| ChainError::Unsupported(format!("{} is not UTF-8", p.display())))
}

/// `block` serialized as Core serializes it. rust-bitcoin writes a
/// transaction without inputs in the segwit form (marker and flag), which
/// Core reads as a superfluous witness; Core writes it (a transaction with
/// neither inputs, outputs nor witnesses, as one of its peers may send) as
/// version, two zero counts and lock time, and the engine must read it so
/// to refuse the block for what it is (bad-txns-vin-empty).
pub fn encode_block(block: &bitcoin::Block) -> Vec<u8> {
    use bitcoin::consensus::Encodable;
    if !block.txdata.iter().any(|tx| tx.input.is_empty()) {
        return serialize(block);
    }
    let mut out = serialize(&block.header);
    // Writing to a Vec cannot fail.
    let _ = bitcoin::VarInt(block.txdata.len() as u64).consensus_encode(&mut out);
    for tx in &block.txdata {
        if tx.input.is_empty() {
            out.extend_from_slice(&tx.version.0.to_le_bytes());
            out.push(0);
            let _ = tx.output.consensus_encode(&mut out);
            out.extend_from_slice(&tx.lock_time.to_consensus_u32().to_le_bytes());
        } else {
            out.extend_from_slice(&serialize(tx));
        }
    }
    out
}

impl Chain {
    /// Opens (or creates) the chain under `opts.net_dir`, reindexing if asked,
    /// and brings the UTXO index level with the kernel's tip.
    pub fn open(opts: &ChainOptions) -> Result<Arc<Chain>, ChainError> {
        let (kind, network) = chain_type(&opts.chain)?;
        let fatal = Arc::new(tokio::sync::watch::channel(None).0);
        let (on_fatal, on_flush) = (fatal.clone(), fatal.clone());
        let context = ContextBuilder::new()
            .chain_type(kind)
            .with_fatal_error_notification(move |message: String| record_fatal(&on_fatal, message))
            .with_flush_error_notification(move |message: String| record_fatal(&on_flush, message))
            .with_block_checked_validation(
                |block: bitcoinkernel::Block, state: bitcoinkernel::BlockValidationStateRef<'_>| {
                    let hash = to_hash(block.hash().to_bytes());
                    let valid = state.mode() == ValidationMode::Valid;
                    CHECKED.with(|c| c.borrow_mut().push((hash, valid, state.result())));
                },
            )
            .build()?;
        if !opts.test_params.is_default() {
            if kind != ChainType::Regtest {
                return Err(ChainError::Unsupported(
                    "-testactivationheight and -vbparams are supported on regtest only".into(),
                ));
            }
            deployments::set_regtest_params(opts.test_params.clone());
        }
        // -fastprune changes regtest's parameters only (as in Core).
        if kind == ChainType::Regtest && (!opts.test_params.is_default() || opts.prune.fast) {
            chain_params::use_regtest_params(&context, &opts.test_params, opts.prune.fast)?;
        }
        let blocks = opts.blocks_dir.clone();
        let mut builder =
            ChainstateManagerBuilder::new(&context, path_str(&opts.net_dir)?, path_str(&blocks)?)?
                .worker_threads(opts.worker_threads);
        if manager_options::needed(opts) {
            manager_options::apply(&builder, opts)?;
        }
        let wipe = opts.reindex || opts.reindex_chainstate;
        if wipe {
            builder = builder.wipe_db(opts.reindex, true)?;
        }
        let (built, lines) = kernel_log::capture(|| builder.build());
        let chainman = built.map_err(|e| {
            // The engine says why it could not load the chainstate only in
            // its log (Core's init error).
            kernel_log::load_error(&lines)
                .map(ChainError::Load)
                .or_else(|| kernel_log::create_error(&lines).map(ChainError::Refused))
                .unwrap_or_else(|| e.into())
        })?;
        if wipe {
            tracing::info!(
                "{}: replaying blocks from the block files",
                if opts.reindex {
                    "Reindexing block index and chainstate"
                } else {
                    "Reindexing chainstate"
                }
            );
            chainman.import_blocks()?;
        }
        let index_path = opts.net_dir.join("indexes").join("utxo.redb");
        let utxo = utxo::UtxoIndex::open(&index_path, wipe)?;
        let txindex = if opts.txindex {
            let dir = opts.net_dir.join("indexes").join("txindex");
            Some(txindex::TxIndex::open(&dir, opts.reindex)?)
        } else {
            None
        };
        let tip = Self::kernel_tip(&chainman);
        let (tip_tx, _) = tokio::sync::watch::channel(tip);
        let block_tree = block_tree::BlockTree::new(&chainman);
        let chain = Chain {
            chainman,
            _context: context,
            utxo,
            txindex,
            network,
            blocks_dir: blocks.clone(),
            submit: Mutex::new(()),
            block_tree,
            tip_tx,
            listeners: Mutex::new(Vec::new()),
            net_dir: opts.net_dir.clone(),
            fatal,
        };
        chain.sync_index(None)?;
        // Core's start-up prune, once the indexes have what they need.
        if opts.prune.enabled() && opts.prune.target != prune::PRUNE_TARGET_MANUAL {
            prune::Pruner::of(&chain.block_tree).prune_and_flush()?;
        }
        tracing::info!(
            "Chain loaded: height {} best {}",
            chain.tip().height,
            chain.tip().hash
        );
        Ok(Arc::new(chain))
    }

    /// Resolves with the first fatal error: the kernel could not write (Core's
    /// "Disk space is too low!") or our index could not follow it. The node
    /// then stops, as Core's AbortNode does.
    pub async fn fatal_error(&self) -> String {
        let mut rx = self.fatal.subscribe();
        let message = match rx.wait_for(Option::is_some).await {
            Ok(message) => message.clone().unwrap_or_default(),
            // The sender lives as long as `self`: never reached.
            Err(_) => std::future::pending().await,
        };
        message
    }

    /// Registers `listener` for every later change of the active chain.
    pub fn add_listener(&self, listener: Arc<dyn ChainListener>) {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    fn listeners(&self) -> Vec<Arc<dyn ChainListener>> {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Holds off block and header submission (and with it every index and
    /// listener update) while the guard lives: Core's cs_main, for callers
    /// that read the index and must not see it move (mempool acceptance).
    pub fn lock_validation(&self) -> std::sync::MutexGuard<'_, ()> {
        self.submit.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn kernel_tip(chainman: &ChainstateManager) -> Tip {
        let entry = chainman.active_chain().tip();
        Tip {
            hash: to_hash(entry.block_hash().to_bytes()),
            height: entry.height(),
        }
    }

    /// rust-bitcoin's name for our network (addresses, parameters).
    pub fn network(&self) -> bitcoin::Network {
        self.network
    }

    /// `<net_dir>/blocks`.
    pub fn blocks_dir(&self) -> &Path {
        &self.blocks_dir
    }

    /// The consensus parameters of our network. Core's regtest retargets
    /// over a day (144 blocks) where rust-bitcoin says two weeks.
    pub fn params(&self) -> bitcoin::params::Params {
        let mut params = bitcoin::params::Params::new(self.network);
        if self.network == bitcoin::Network::Regtest {
            params.pow_target_timespan = 24 * 60 * 60;
        }
        params
    }

    /// The active tip.
    pub fn tip(&self) -> Tip {
        *self.tip_tx.borrow()
    }

    /// Core's IsInitialBlockDownload: the kernel's latch (the tip has the
    /// minimum chain work and is younger than -maxtipage once, and the node
    /// stays out of IBD). Without the block tree, the tip is older than a
    /// day.
    pub fn initial_block_download(&self) -> bool {
        if let Some(ibd) = self.block_tree.initial_block_download() {
            return ibd;
        }
        let tip = self.tip();
        let time = self
            .block_info(&tip.hash)
            .map(|i| i.header.time as i64)
            .unwrap_or(0);
        clock::now() - time > manager_options::DEFAULT_MAX_TIP_AGE
    }

    /// A receiver that wakes on every tip change (for waitfornewblock & co).
    pub fn watch_tip(&self) -> tokio::sync::watch::Receiver<Tip> {
        self.tip_tx.subscribe()
    }

    /// The kernel's block tree entry for `hash`.
    fn entry(&self, hash: &bitcoin::BlockHash) -> Option<bitcoinkernel::BlockTreeEntry<'_>> {
        let key = bitcoinkernel::BlockHash::from(hash.to_byte_array());
        self.chainman.get_block_tree_entry(&key)
    }

    /// The block at `height` in the active chain.
    pub fn block_at(&self, height: i32) -> Option<BlockInfo> {
        let chain = self.chainman.active_chain();
        let entry = chain.at_height(usize::try_from(height).ok()?)?;
        Some(BlockInfo::from_entry(&entry, true))
    }

    /// Any block the kernel knows by hash (`in_active_chain` says where it is).
    pub fn block_info(&self, hash: &bitcoin::BlockHash) -> Option<BlockInfo> {
        let entry = self.entry(hash)?;
        let active = self.chainman.active_chain().contains(&entry);
        Some(BlockInfo::from_entry(&entry, active))
    }

    /// The ancestor of block `hash` at `height` (itself at its own height),
    /// on whatever branch it is.
    pub fn ancestor(&self, hash: &bitcoin::BlockHash, height: i32) -> Option<BlockInfo> {
        let entry = self.entry(hash)?.ancestor(height)?;
        let active = self.chainman.active_chain().contains(&entry);
        Some(BlockInfo::from_entry(&entry, active))
    }

    /// Core's GetLocator from block `hash`: it and the ten before it, then
    /// back in doubling steps, ending with the genesis block.
    pub fn locator(&self, hash: &bitcoin::BlockHash) -> Vec<bitcoin::BlockHash> {
        let Some(entry) = self.entry(hash) else {
            return Vec::new();
        };
        let mut hashes = Vec::new();
        let (mut height, mut step) = (entry.height(), 1);
        while let Some(e) = entry.ancestor(height) {
            hashes.push(to_hash(e.block_hash().to_bytes()));
            if height == 0 {
                break;
            }
            if hashes.len() >= 10 {
                step *= 2;
            }
            height = (height - step).max(0);
        }
        hashes
    }

    /// The best header the kernel knows (may be ahead of the tip).
    pub fn best_header(&self) -> Option<BlockInfo> {
        let entry = self.chainman.best_entry()?;
        let active = self.chainman.active_chain().contains(&entry);
        Some(BlockInfo::from_entry(&entry, active))
    }

    /// Median time past of the block `hash` (Core's GetMedianTimePast).
    pub fn median_time_past(&self, hash: &bitcoin::BlockHash) -> Option<u32> {
        let entry = self.entry(hash)?;
        Some(headers::median_time_past(&entry))
    }

    /// Total work of the chain ending at `hash`.
    pub fn chain_work(&self, hash: &bitcoin::BlockHash) -> Option<bitcoin::Work> {
        // The kernel keeps it per block; summing the ancestors' work is
        // the fallback (a walk over the whole chain).
        if let Some(work) = self.block_tree.chain_work(hash) {
            return Some(work);
        }
        let entry = self.entry(hash)?;
        Some(headers::chain_work(&entry))
    }

    /// The work a chain needs before the node downloads its blocks or
    /// serves headers from it (Core's MinimumChainWork: -minimumchainwork,
    /// else the chain's default); zero when the block tree is not reachable.
    pub fn minimum_chain_work(&self) -> bitcoin::Work {
        self.block_tree
            .minimum_chain_work()
            .unwrap_or(bitcoin::Work::from_le_bytes([0; 32]))
    }

    /// Bytes the kernel's chainstate database holds in its tables (Core's
    /// coins view EstimateSize: LevelDB's table files, not its log).
    pub fn chainstate_disk_size(&self) -> u64 {
        std::fs::read_dir(self.net_dir.join("chainstate"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "ldb"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// How much of the chain the active tip has verified, 0 to 1 (Core's
    /// GuessVerificationProgress; 1 when the kernel cannot say).
    pub fn verification_progress(&self) -> f64 {
        self.block_tree.verification_progress().unwrap_or(1.0)
    }

    /// Transactions in block `hash` as the kernel's index keeps them
    /// (Core's nTx: 0 for a header only, kept when pruned).
    pub fn block_tx_count(&self, hash: &bitcoin::BlockHash) -> Option<u64> {
        self.block_tree.block_tx_count(hash)
    }

    /// Transactions in the chain up to block `hash` (Core's
    /// m_chain_tx_count; 0 when the kernel does not know it).
    pub fn chain_tx_count(&self, hash: &bitcoin::BlockHash) -> Option<u64> {
        self.block_tree.chain_tx_count(hash)
    }

    /// The full block `hash`, if its data is on disk.
    pub fn read_block(&self, hash: &bitcoin::BlockHash) -> Result<bitcoin::Block, ChainError> {
        let entry = self
            .entry(hash)
            .ok_or_else(|| ChainError::Kernel("Block not found".into()))?;
        self.read_entry(&entry)
    }

    fn read_entry(
        &self,
        entry: &bitcoinkernel::BlockTreeEntry,
    ) -> Result<bitcoin::Block, ChainError> {
        let block = self.chainman.read_block_data(entry)?;
        let bytes = block.consensus_encode()?;
        deserialize(&bytes).map_err(|e| ChainError::Kernel(format!("block decode: {e}")))
    }

    /// Every block tree entry that has no known child: the chain tips,
    /// with Core's getchaintips status (only the active tip if the kernel's
    /// block tree is not reachable).
    pub fn tips(&self) -> Vec<block_tree::ChainTip> {
        self.block_tree.tips().unwrap_or_else(|| {
            let tip = self.tip();
            vec![block_tree::ChainTip {
                hash: tip.hash,
                height: tip.height,
                branchlen: 0,
                status: "active",
            }]
        })
    }

    /// Whether the kernel marked block `hash` (or an ancestor) invalid.
    pub fn known_invalid(&self, hash: &bitcoin::BlockHash) -> bool {
        self.block_tree.status(hash).is_some_and(|s| s.failed)
    }

    /// Whether the full block `hash` is stored (Core's BLOCK_HAVE_DATA).
    pub fn have_block_data(&self, hash: &bitcoin::BlockHash) -> bool {
        self.block_tree.status(hash).is_some_and(|s| s.have_data)
    }

    /// The block tree's marks on block `hash` (None: unknown block, or the
    /// tree is not reachable).
    pub fn block_status(&self, hash: &bitcoin::BlockHash) -> Option<block_tree::BlockStatus> {
        self.block_tree.status(hash)
    }

    /// How the node prunes; None when it does not.
    pub fn prune_state(&self) -> Option<prune::PruneState> {
        prune::Pruner::of(&self.block_tree).state()
    }

    /// Core's PruneBlockFilesManual: deletes the block and undo files that
    /// hold only blocks up to `height` (the caller keeps the last
    /// [`prune::MIN_BLOCKS_TO_KEEP`]).
    pub fn prune_to(&self, height: i32) -> Result<(), ChainError> {
        prune::Pruner::of(&self.block_tree).prune_to(height)
    }

    /// The first active-chain block at or after `time` (Core's
    /// FindEarliestAtLeast), by height.
    pub fn height_at_time(&self, time: i64) -> Option<i32> {
        self.block_tree.earliest_at_least(time)
    }

    /// Core's invalidateblock: marks `hash` invalid, disconnects it and its
    /// descendants (their transactions go back to the mempool through the
    /// listeners) and activates the best remaining chain.
    pub fn invalidate_block(&self, hash: &bitcoin::BlockHash) -> Result<(), ChainError> {
        self.verdict(|| self.block_tree.invalidate(hash))
    }

    /// Core's reconsiderblock: clears the failure marks around `hash` and
    /// activates the best chain.
    pub fn reconsider_block(&self, hash: &bitcoin::BlockHash) -> Result<(), ChainError> {
        self.verdict(|| self.block_tree.reconsider(hash))
    }

    /// Core's preciousblock: prefers `hash` among tips of equal work.
    pub fn precious_block(&self, hash: &bitcoin::BlockHash) -> Result<(), ChainError> {
        self.verdict(|| self.block_tree.precious(hash))
    }

    /// Runs a verdict with submission held off, then brings the indexes
    /// and listeners to the kernel's new tip.
    fn verdict(
        &self,
        call: impl FnOnce() -> Result<(), block_tree::VerdictError>,
    ) -> Result<(), ChainError> {
        let _guard = self.submit.lock().unwrap_or_else(|p| p.into_inner());
        let result = call();
        let synced = self.sync_index(None);
        if let Err(e) = &synced {
            record_fatal(&self.fatal, e.to_string());
        }
        result?;
        synced
    }

    /// Hands `block` to the kernel for validation, then updates the index.
    pub fn submit_block(&self, block: &bitcoin::Block) -> Result<SubmitOutcome, ChainError> {
        self.submit_block_checked(block).map(|s| s.outcome)
    }

    /// [`submit_block`](Self::submit_block), with what else the engine
    /// reported.
    pub fn submit_block_checked(&self, block: &bitcoin::Block) -> Result<Submitted, ChainError> {
        let kblock = bitcoinkernel::Block::new(&encode_block(block))?;
        self.process_block(Engine::Forced(&kblock), block.block_hash(), Some(block))
    }

    /// [`submit_block_checked`](Self::submit_block_checked) for a block a
    /// peer sent without our asking: as Core's ProcessNewBlock without
    /// force_processing, the engine keeps it only if it could extend a
    /// chain with our tip's work and is not more than 288 blocks ahead
    /// (else it is ignored: [`SubmitOutcome::Duplicate`] or
    /// [`SubmitOutcome::Inconclusive`]).
    pub fn submit_unrequested_block(
        &self,
        block: &bitcoin::Block,
    ) -> Result<Submitted, ChainError> {
        let bytes = encode_block(block);
        self.process_block(Engine::Unrequested(&bytes), block.block_hash(), Some(block))
    }

    /// A serialized block rust-bitcoin could not decode, for the engine,
    /// which reads more (a witness item over 4 MB, in a block too heavy
    /// to be valid, as Core's submitblock tests send): None if the engine
    /// cannot read it either.
    pub fn submit_raw_block(&self, bytes: &[u8]) -> Result<Option<SubmitOutcome>, ChainError> {
        let Ok(kblock) = bitcoinkernel::Block::new(bytes) else {
            return Ok(None);
        };
        let hash = to_hash(kblock.hash().to_bytes());
        self.process_block(Engine::Forced(&kblock), hash, None)
            .map(|s| Some(s.outcome))
    }

    /// The engine's ProcessNewBlock for block `hash` (`block` when
    /// decoded), then the indexes follow.
    fn process_block(
        &self,
        engine: Engine<'_>,
        hash: bitcoin::BlockHash,
        block: Option<&bitcoin::Block>,
    ) -> Result<Submitted, ChainError> {
        let _guard = self.submit.lock().unwrap_or_else(|p| p.into_inner());
        CHECKED.with(|c| c.borrow_mut().clear());
        let (result, lines) = kernel_log::capture(|| match engine {
            Engine::Forced(kblock) => Ok(self.chainman.process_block(kblock)),
            Engine::Unrequested(bytes) => match self.block_tree.process_unrequested(bytes) {
                Some(result) => Ok(result),
                // The tree is out of reach: the C API's (forced) path.
                None => bitcoinkernel::Block::new(bytes).map(|k| self.chainman.process_block(&k)),
            },
        });
        let result = result?;
        let all_checked = CHECKED.with(|c| std::mem::take(&mut *c.borrow_mut()));
        let others_invalid = all_checked
            .iter()
            .filter(|(h, valid, _)| *h != hash && !valid)
            .map(|(h, _, r)| {
                let reason = kernel_log::reject_reason_for(&lines, h)
                    .unwrap_or_else(|| generic_reason(*r).to_string());
                (*h, reason)
            })
            .collect();
        let others_valid = all_checked
            .iter()
            .filter(|(h, valid, _)| *h != hash && *valid)
            .map(|(h, ..)| *h)
            .collect();
        let checked = all_checked.into_iter().rev().find(|(h, ..)| *h == hash);
        let outcome = match (result, checked) {
            // A block already in the kernel's block index with its failure
            // mark: refused as cached-invalid (or, stored, a duplicate).
            (_, Some((_, false, BlockValidationResult::CachedInvalid))) => {
                SubmitOutcome::DuplicateInvalid
            }
            (ProcessBlockResult::Duplicate, _) if self.known_invalid(&hash) => {
                SubmitOutcome::DuplicateInvalid
            }
            (ProcessBlockResult::Duplicate, _) => SubmitOutcome::Duplicate,
            (_, Some((_, true, _))) => SubmitOutcome::Accepted,
            (_, Some((_, false, r))) => SubmitOutcome::Rejected(
                kernel_log::reject_reason(&lines).unwrap_or_else(|| generic_reason(r).to_string()),
            ),
            (ProcessBlockResult::Rejected, None) => SubmitOutcome::Rejected(
                kernel_log::reject_reason(&lines).unwrap_or_else(|| "rejected".into()),
            ),
            (ProcessBlockResult::NewBlock, None) => SubmitOutcome::Inconclusive,
        };
        let state = match &outcome {
            SubmitOutcome::Rejected(_) => kernel_log::reject_state(&lines),
            _ => None,
        };
        if let Err(e) = self.sync_index(block) {
            // The kernel moved on and the index cannot follow: as Core does
            // when it cannot write its chainstate, the node must stop.
            record_fatal(&self.fatal, e.to_string());
            return Err(e);
        }
        Ok(Submitted {
            outcome,
            state,
            others_valid,
            others_invalid,
        })
    }

    /// What block `hash`'s transactions spent (its undo data), one list per
    /// transaction after the coinbase, in input order.
    pub fn spent_outputs(
        &self,
        hash: &bitcoin::BlockHash,
    ) -> Result<Vec<Vec<bitcoin::TxOut>>, ChainError> {
        Ok(self
            .spent_coins(hash)?
            .into_iter()
            .map(|tx| tx.into_iter().map(|c| c.txout).collect())
            .collect())
    }

    /// As [`Chain::spent_outputs`], with each coin's height and whether a
    /// coinbase made it (Core's undo Coins).
    pub fn spent_coins(
        &self,
        hash: &bitcoin::BlockHash,
    ) -> Result<Vec<Vec<SpentCoin>>, ChainError> {
        let entry = self
            .entry(hash)
            .ok_or_else(|| ChainError::Index(format!("block {hash} not in the block index")))?;
        let spent = self.chainman.read_spent_outputs(&entry)?;
        let mut out = Vec::with_capacity(spent.count());
        for i in 0..spent.count() {
            let tx = spent.transaction_spent_outputs(i)?;
            let mut coins = Vec::with_capacity(tx.count());
            for j in 0..tx.count() {
                let coin = tx.coin(j)?;
                let output = coin.output();
                coins.push(SpentCoin {
                    txout: bitcoin::TxOut {
                        value: bitcoin::Amount::from_sat(output.value() as u64),
                        script_pubkey: bitcoin::ScriptBuf::from_bytes(
                            output.script_pubkey().to_bytes(),
                        ),
                    },
                    height: coin.confirmation_height(),
                    coinbase: coin.is_coinbase(),
                });
            }
            out.push(coins);
        }
        Ok(out)
    }

    /// Versions and header times of block `hash` and all its ancestors,
    /// genesis first (what versionbits needs).
    pub fn ancestry(&self, hash: &bitcoin::BlockHash) -> Option<(Vec<i32>, Vec<i64>)> {
        let info = self.block_info(hash)?;
        let n = info.height as usize + 1;
        let (mut versions, mut times) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut at = Some(info);
        while let Some(b) = at {
            versions.push(b.header.version.to_consensus());
            times.push(i64::from(b.header.time));
            at = (b.height > 0)
                .then(|| self.block_info(&b.header.prev_blockhash))
                .flatten();
        }
        versions.reverse();
        times.reverse();
        Some((versions, times))
    }

    /// Core's ComputeBlockVersion for a block on `prev`: the top bits plus
    /// the bit of every BIP9 deployment started or locked in for it.
    pub fn next_block_version(&self, prev: &bitcoin::BlockHash) -> i32 {
        let mut version = assemble::BLOCK_VERSION;
        let deployments = deployments::bip9(self.network);
        if deployments.is_empty() {
            return version;
        }
        let Some((versions, times)) = self.ancestry(prev) else {
            return version;
        };
        for d in deployments {
            let next = deployments::bip9_info(&d, &versions, &times).next;
            if matches!(
                next,
                deployments::State::Started | deployments::State::LockedIn
            ) {
                version |= 1 << d.bit;
            }
        }
        version
    }

    /// The checks a block proposal gets before the kernel sees it (what
    /// Mining.checkBlock and getblocktemplate's proposal mode answer, in
    /// Core's reject reasons): its parent is the tip, it has a coinbase that
    /// starts with the BIP34 height, its merkle root holds (if `merkle`) and
    /// so does its proof of work (if `pow`). None when all pass. Full
    /// validation happens when the block is submitted.
    pub fn precheck_block(
        &self,
        block: &bitcoin::Block,
        merkle: bool,
        pow: bool,
    ) -> Option<&'static str> {
        let tip = self.tip();
        if block.header.prev_blockhash != tip.hash {
            return Some("inconclusive-not-best-prevblk");
        }
        let Some(coinbase) = block.txdata.first().filter(|t| t.is_coinbase()) else {
            return Some("bad-cb-missing");
        };
        let height = assemble::bip34_prefix((tip.height + 1) as u32);
        if !coinbase.input[0]
            .script_sig
            .as_bytes()
            .starts_with(height.as_bytes())
        {
            return Some("bad-cb-height");
        }
        if merkle && !block.check_merkle_root() {
            return Some("bad-txnmrklroot");
        }
        if pow && block.header.validate_pow(block.header.target()).is_err() {
            return Some("high-hash");
        }
        None
    }

    /// Core's VerifyDB for one active-chain block, by `level`: 0 the block
    /// reads back from disk under its hash; 1 its merkle root and witness
    /// commitment hold; 2 its undo data reads back; 3 our UTXO index holds
    /// its undo record. Err carries Core's log line.
    pub fn verify_block(&self, info: &BlockInfo, level: u32) -> Result<(), String> {
        let (h, hash) = (info.height, info.hash);
        let block = self
            .read_block(&hash)
            .map_err(|e| format!("*** ReadBlock failed at {h}, hash={hash}: {e}"))?;
        if block.block_hash() != hash {
            return Err(format!(
                "*** found bad block at {h}, hash={hash} (hash mismatch)"
            ));
        }
        if level >= 1 && (!block.check_merkle_root() || !block.check_witness_commitment()) {
            return Err(format!(
                "*** found bad block at {h}, hash={hash} (bad-txnmrklroot)"
            ));
        }
        if level >= 2 && h > 0 {
            let entry = self
                .entry(&hash)
                .ok_or_else(|| format!("*** block {hash} not in the block index"))?;
            self.chainman
                .read_spent_outputs(&entry)
                .map_err(|e| format!("*** found bad undo data at {h}, hash={hash}: {e}"))?;
        }
        if level >= 3 && h > 0 && !self.utxo.has_undo(&hash).map_err(|e| e.to_string())? {
            return Err(format!(
                "*** UTXO index has no undo record at {h}, hash={hash}"
            ));
        }
        Ok(())
    }

    /// Hands a header to the kernel (Core's submitheader): Ok(None) when it
    /// is valid and stored, Ok(Some(reason)) when the kernel refused it.
    pub fn submit_header(
        &self,
        header: &bitcoin::block::Header,
    ) -> Result<Option<String>, ChainError> {
        let kheader = bitcoinkernel::BlockHeader::new(&serialize(header))?;
        let _guard = self.submit.lock().unwrap_or_else(|p| p.into_inner());
        let (result, lines) = kernel_log::capture(|| self.chainman.process_block_header(&kheader));
        Ok(match result? {
            ProcessBlockHeaderResult::Valid => None,
            ProcessBlockHeaderResult::Invalid(state) => Some(
                kernel_log::reject_reason(&lines)
                    .or_else(|| self.header_reject_reason(header))
                    .unwrap_or_else(|| generic_reason(state.result()).to_string()),
            ),
        })
    }

    /// Core's reject reason for a header the kernel refused without logging
    /// one (its header checks log at debug level only), found by the same
    /// checks in Core's order: proof of work, difficulty bits, time (with
    /// BIP94's timewarp rule where it holds).
    fn header_reject_reason(&self, header: &bitcoin::block::Header) -> Option<String> {
        if header.validate_pow(header.target()).is_err() {
            return Some("high-hash".into());
        }
        let prev = self.block_info(&header.prev_blockhash)?;
        let height = (prev.height + 1) as u32;
        let bits = assemble::next_bits(self, height, prev.header.bits, prev.header.time);
        if header.bits != bits {
            return Some("bad-diffbits".into());
        }
        if header.time <= self.median_time_past(&prev.hash)? {
            return Some("time-too-old".into());
        }
        let interval = self.params().difficulty_adjustment_interval() as u32;
        if deployments::bip94_enforced(self.network)
            && height.is_multiple_of(interval)
            && header.time < prev.header.time.saturating_sub(assemble::MAX_TIMEWARP)
        {
            return Some("time-timewarp-attack".into());
        }
        if i64::from(header.time) > clock::now() + 2 * 60 * 60 {
            return Some("time-too-new".into());
        }
        None
    }

    /// Brings the UTXO index to the kernel's active tip (undoing blocks that
    /// left the active chain first) and publishes the tip.
    /// `just_submitted` is a block the caller holds that may be on the way.
    fn sync_index(&self, just_submitted: Option<&bitcoin::Block>) -> Result<(), ChainError> {
        let chain = self.chainman.active_chain();
        let listeners = self.listeners();
        // Core's rule before it writes its chainstate: keep a reserve free.
        let kernel = Self::kernel_tip(&self.chainman);
        if self.utxo.tip()? != (kernel.hash, kernel.height as u32)
            && !disk_space::has_room(&self.net_dir, 0)
        {
            return Err(ChainError::DiskSpace);
        }
        let mut changed = false;
        loop {
            let (hash, height) = self.utxo.tip()?;
            let in_chain = match chain.at_height(height as usize) {
                Some(e) => to_hash(e.block_hash().to_bytes()) == hash || height == 0,
                None => false,
            };
            if in_chain {
                break;
            }
            // Listeners need the block itself; read it before it is undone.
            let block = if listeners.is_empty() {
                None
            } else {
                Some(self.read_block(&hash)?)
            };
            self.utxo.disconnect_tip()?;
            if let Some(block) = block {
                listeners
                    .iter()
                    .for_each(|l| l.block_disconnected(self, &block));
            }
            changed = true;
        }
        let (_, mut height) = self.utxo.tip()?;
        while height < chain.height() as u32 {
            height += 1;
            let Some(entry) = chain.at_height(height as usize) else {
                break;
            };
            // The block just submitted is at hand: no need to read it back.
            let read;
            let block = match just_submitted
                .filter(|b| b.block_hash() == to_hash(entry.block_hash().to_bytes()))
            {
                Some(b) => b,
                None => {
                    read = self.read_entry(&entry)?;
                    &read
                }
            };
            self.utxo.connect(block, height)?;
            listeners
                .iter()
                .for_each(|l| l.block_connected(self, block, height));
            changed = true;
        }
        if let Some(txindex) = &self.txindex {
            self.sync_txindex(txindex, just_submitted)?;
        }
        let tip = Self::kernel_tip(&self.chainman);
        self.tip_tx.send_if_modified(|t| {
            let changed = *t != tip;
            *t = tip;
            changed
        });
        if changed {
            listeners.iter().for_each(|l| l.tip_updated(self));
        }
        Ok(())
    }

    /// Brings the transaction index to the active tip: rewinds it over blocks
    /// that left the active chain, then indexes every block after its tip
    /// (all of them when it was just enabled).
    fn sync_txindex(
        &self,
        txindex: &txindex::TxIndex,
        just_submitted: Option<&bitcoin::Block>,
    ) -> Result<(), ChainError> {
        let chain = self.chainman.active_chain();
        loop {
            let (hash, height) = txindex.tip()?;
            let on_chain = chain
                .at_height(height as usize)
                .is_some_and(|e| to_hash(e.block_hash().to_bytes()) == hash);
            if height == 0 || on_chain {
                break;
            }
            txindex.disconnect(&self.read_block(&hash)?, height)?;
        }
        let (_, mut height) = txindex.tip()?;
        let target = chain.height() as u32;
        if target > height + 1 {
            tracing::info!("txindex: indexing blocks {} to {target}", height + 1);
        }
        while height < target {
            height += 1;
            let Some(entry) = chain.at_height(height as usize) else {
                break;
            };
            match just_submitted
                .filter(|b| b.block_hash() == to_hash(entry.block_hash().to_bytes()))
            {
                Some(b) => txindex.connect(b, height)?,
                None => txindex.connect(&self.read_entry(&entry)?, height)?,
            }
        }
        Ok(())
    }

    /// The transaction index, when `-txindex` is on.
    pub fn txindex(&self) -> Option<&txindex::TxIndex> {
        self.txindex.as_ref()
    }

    /// The UTXO index.
    pub fn utxo(&self) -> &utxo::UtxoIndex {
        &self.utxo
    }
}

/// How a block goes to the engine's ProcessNewBlock: parsed, with
/// force_processing (blocks we asked for, submitblock, our own), or as the
/// bytes a peer sent unasked (force_processing off).
enum Engine<'a> {
    Forced(&'a bitcoinkernel::Block),
    Unrequested(&'a [u8]),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dir: &Path) -> ChainOptions {
        ChainOptions::regtest(dir.join("regtest"))
    }

    fn mine(chain: &Chain, n: usize) -> Vec<bitcoin::BlockHash> {
        let script = ScriptBufExt::op_true();
        (0..n)
            .map(|_| {
                let mut block =
                    assemble::new_block(chain, script.clone(), vec![], bitcoin::Amount::ZERO);
                assert!(assemble::grind(&mut block.header, 1_000_000));
                assert_eq!(chain.submit_block(&block).unwrap(), SubmitOutcome::Accepted);
                block.block_hash()
            })
            .collect()
    }

    fn tip5(hashes: &[bitcoin::BlockHash]) -> Tip {
        Tip {
            hash: hashes[4],
            height: 5,
        }
    }

    fn test_logger() -> bitcoinkernel::Logger {
        let cfg = crate::logging::LogConfig::default();
        kernel_log::install(&cfg).unwrap()
    }

    struct ScriptBufExt;
    impl ScriptBufExt {
        fn op_true() -> bitcoin::ScriptBuf {
            bitcoin::ScriptBuf::from_bytes(vec![0x51])
        }
    }

    #[test]
    fn mined_blocks_extend_the_tip_survive_a_reopen_and_a_reindex() {
        let _log = test_logger();
        let dir = tempfile::tempdir().unwrap();
        let genesis = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";
        let hashes = {
            let chain = Chain::open(&options(dir.path())).unwrap();
            assert_eq!(chain.tip().height, 0);
            assert_eq!(chain.tip().hash.to_string(), genesis);
            let hashes = mine(&chain, 5);
            assert_eq!(chain.tip(), tip5(&hashes));
            // Each coinbase output is in the index; genesis's is not.
            assert_eq!(chain.utxo().stats(utxo::SetHash::None).unwrap().txouts, 5);
            let block = chain.read_block(&hashes[2]).unwrap();
            assert_eq!(block.block_hash(), hashes[2]);
            assert_eq!(
                chain.submit_block(&block).unwrap(),
                SubmitOutcome::Duplicate
            );
            hashes
        };
        let chain = Chain::open(&options(dir.path())).unwrap();
        assert_eq!(chain.tip(), tip5(&hashes));
        drop(chain);
        let mut opts = options(dir.path());
        opts.reindex = true;
        let chain = Chain::open(&opts).unwrap();
        assert_eq!(chain.tip(), tip5(&hashes));
        assert_eq!(chain.utxo().stats(utxo::SetHash::None).unwrap().txouts, 5);
        assert_eq!(chain.block_at(3).unwrap().hash, hashes[2]);
    }

    #[test]
    fn the_block_tree_reports_work_data_and_failure_marks_as_the_kernel_keeps_them() {
        let _log = test_logger();
        let dir = tempfile::tempdir().unwrap();
        let chain = Chain::open(&options(dir.path())).unwrap();
        let hashes = mine(&chain, 4);
        // The kernel's nChainWork equals the work summed over the ancestors.
        for hash in &hashes {
            let entry = chain.entry(hash).unwrap();
            assert_eq!(chain.chain_work(hash), Some(headers::chain_work(&entry)));
        }
        assert!(chain.have_block_data(&hashes[1]));
        assert!(!chain.known_invalid(&hashes[1]));
        // Invalidating block 2 marks it and its descendants, and the tip
        // goes back to block 1; the branch is one invalid tip.
        chain.invalidate_block(&hashes[1]).unwrap();
        assert_eq!(chain.tip().hash, hashes[0]);
        assert!(chain.known_invalid(&hashes[1]) && chain.known_invalid(&hashes[3]));
        let tips = chain.tips();
        assert_eq!(tips.len(), 2, "{tips:?}");
        assert_eq!(
            (tips[0].hash, tips[0].status, tips[0].branchlen),
            (hashes[3], "invalid", 3)
        );
        assert_eq!((tips[1].hash, tips[1].status), (hashes[0], "active"));
        // An unknown block: not found; reconsidering brings the chain back.
        let unknown = bitcoin::BlockHash::from_byte_array([9; 32]);
        assert!(matches!(
            chain.invalidate_block(&unknown),
            Err(ChainError::Verdict(block_tree::VerdictError::NotFound))
        ));
        chain.reconsider_block(&hashes[1]).unwrap();
        assert_eq!(
            chain.tip(),
            Tip {
                hash: hashes[3],
                height: 4
            }
        );
        assert_eq!(chain.utxo().stats(utxo::SetHash::None).unwrap().txouts, 4);
    }

    /// `template` moved onto `prev`, its coinbase paying one satoshi less so
    /// that its transactions differ from the original's.
    fn fork_of(mut template: bitcoin::Block, prev: bitcoin::BlockHash) -> bitcoin::Block {
        template.header.prev_blockhash = prev;
        template.txdata[0].output[0].value -= bitcoin::Amount::from_sat(1);
        template.header.merkle_root = template.compute_merkle_root().unwrap();
        assert!(assemble::grind(&mut template.header, 1_000_000));
        template
    }

    #[test]
    fn txindex_builds_from_existing_blocks_and_follows_a_reorg() {
        let _log = test_logger();
        let dir = tempfile::tempdir().unwrap();
        let hashes = {
            let chain = Chain::open(&options(dir.path())).unwrap();
            assert!(chain.txindex().is_none());
            mine(&chain, 3)
        };
        let coinbase = |chain: &Chain, h: &bitcoin::BlockHash| {
            chain.read_block(h).unwrap().txdata[0].compute_txid()
        };
        let mut opts = options(dir.path());
        opts.txindex = true;
        let chain = Chain::open(&opts).unwrap();
        // Enabled on an existing datadir: every block but genesis indexed.
        let txindex = chain.txindex().unwrap();
        assert_eq!(txindex.tip().unwrap(), (hashes[2], 3));
        for h in &hashes {
            assert_eq!(txindex.find(&coinbase(&chain, h)).unwrap(), Some(*h));
        }
        let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
        assert_eq!(
            txindex.find(&genesis.txdata[0].compute_txid()).unwrap(),
            None
        );
        // A longer branch from block 1 takes over.
        let f2 = fork_of(chain.read_block(&hashes[1]).unwrap(), hashes[0]);
        let f3 = fork_of(chain.read_block(&hashes[2]).unwrap(), f2.block_hash());
        let mut f4 = assemble::new_block(
            &chain,
            ScriptBufExt::op_true(),
            vec![],
            bitcoin::Amount::ZERO,
        );
        f4.header.prev_blockhash = f3.block_hash();
        assert!(assemble::grind(&mut f4.header, 1_000_000));
        for b in [&f2, &f3, &f4] {
            chain.submit_block(b).unwrap();
        }
        assert_eq!(chain.tip().hash, f4.block_hash());
        let txindex = chain.txindex().unwrap();
        assert_eq!(txindex.tip().unwrap(), (f4.block_hash(), 4));
        let (old2, old3) = (coinbase(&chain, &hashes[1]), coinbase(&chain, &hashes[2]));
        assert_eq!(txindex.find(&old2).unwrap(), None);
        assert_eq!(txindex.find(&old3).unwrap(), None);
        for b in [&f2, &f3, &f4] {
            assert_eq!(
                txindex.find(&b.txdata[0].compute_txid()).unwrap(),
                Some(b.block_hash())
            );
        }
        assert_eq!(
            txindex.find(&coinbase(&chain, &hashes[0])).unwrap(),
            Some(hashes[0])
        );
    }

    #[test]
    fn a_block_with_a_bad_coinbase_is_rejected_and_changes_nothing() {
        let _log = test_logger();
        let dir = tempfile::tempdir().unwrap();
        let chain = Chain::open(&options(dir.path())).unwrap();
        let mut block = assemble::new_block(
            &chain,
            bitcoin::ScriptBuf::new(),
            vec![],
            bitcoin::Amount::ZERO,
        );
        // Claim one satoshi more than the subsidy.
        block.txdata[0].output[0].value += bitcoin::Amount::from_sat(1);
        block.header.merkle_root = block.compute_merkle_root().unwrap();
        assert!(assemble::grind(&mut block.header, 1_000_000));
        assert_eq!(
            chain.submit_block(&block).unwrap(),
            SubmitOutcome::Rejected("bad-cb-amount".into())
        );
        assert_eq!(chain.tip().height, 0);
        assert_eq!(chain.utxo().stats(utxo::SetHash::None).unwrap().txouts, 0);
        // The kernel keeps it marked: the same block again is a known invalid one.
        assert!(chain.known_invalid(&block.block_hash()));
        assert_eq!(
            chain.submit_block(&block).unwrap(),
            SubmitOutcome::DuplicateInvalid
        );
    }
}
