//! One wallet's state inside its process: a BDK wallet per address type
//! (Core's descriptor set), the keys, our own notes (labels, comments, the
//! fee rate set by settxfee), and the database they are committed to.
//! Views across the address types (coins, balances, transactions) apply
//! Core's rules where BDK's differ (coinbase maturity: 100 confirmations
//! after the block, as Core counts them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use bdk_wallet::chain::{BlockId, ChainPosition, ConfirmationBlockTime};
use bdk_wallet::{KeychainKind, LocalOutput, Update, Wallet};
use bitcoin::bip32::Xpriv;
use bitcoin::secp256k1::{All, Secp256k1};
use bitcoin::{Address, Amount, Block, BlockHash, Network, OutPoint, ScriptBuf, Transaction, Txid};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::keys::{self, AddrType, KeyError, Seed};
use super::store::{Pending, Store, StoreError};

/// Core's COINBASE_MATURITY: a coinbase output is spendable at depth 101.
pub const COINBASE_MATURITY: u32 = 100;

/// Why the wallet could not do what was asked (before RPC codes are chosen).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("wallet descriptor: {0}")]
    Descriptor(String),
    #[error("the wallet's data is for another network or chain: {0}")]
    Load(String),
}

/// Our notes on one transaction.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TxNote {
    pub time_received: i64,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub comment_to: String,
    #[serde(default)]
    pub replaced_by: Option<Txid>,
    #[serde(default)]
    pub replaces: Option<Txid>,
    #[serde(default)]
    pub abandoned: bool,
}

/// Settings and notes kept in the `meta` record.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Meta {
    pub birth_time: i64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub txs: BTreeMap<Txid, TxNote>,
    /// settxfee, sat/kvB (0: not set).
    #[serde(default)]
    pub pay_tx_fee: i64,
    #[serde(default)]
    pub avoid_reuse: bool,
    #[serde(default)]
    pub blank: bool,
    #[serde(default)]
    pub private_keys_disabled: bool,
    /// The last block processed, for wallets without descriptors.
    #[serde(default)]
    pub last_block: Option<(u32, BlockHash)>,
    /// Descriptors added by importdescriptors.
    #[serde(default)]
    pub imported: Vec<ImportedMeta>,
}

/// What we keep about one imported descriptor (its BDK wallet is stored
/// under `id` beside the active accounts').
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImportedMeta {
    pub id: u8,
    /// The public descriptor with its checksum.
    pub desc: String,
    pub timestamp: i64,
    #[serde(default)]
    pub label: String,
    /// The end of the range for a ranged descriptor.
    #[serde(default)]
    pub range_end: Option<u32>,
}

/// Which wallet inside the engine owns something: an active account, or an
/// imported descriptor (by its store id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Account {
    Active(AddrType),
    Imported(u8),
}

/// Store ids of imported descriptors start here (below: address types).
pub const FIRST_IMPORT_ID: u8 = 16;

/// One unspent output with what Core shows about it.
#[derive(Clone)]
pub struct Coin {
    pub account: Account,
    pub out: LocalOutput,
    /// 0 while unconfirmed.
    pub depth: u32,
    pub coinbase: bool,
    /// Unconfirmed and sent by this wallet (Core's trusted pending).
    pub trusted: bool,
}

impl Coin {
    pub fn mature(&self) -> bool {
        !self.coinbase || self.depth > COINBASE_MATURITY
    }
}

/// A transaction as the whole wallet sees it.
#[derive(Clone)]
pub struct WalletTxView {
    pub tx: Arc<Transaction>,
    pub position: ChainPosition<ConfirmationBlockTime>,
    pub sent: Amount,
    pub received: Amount,
    pub fee: Option<Amount>,
}

/// The wallet.
pub struct Engine {
    pub name: String,
    pub network: Network,
    pub secp: Secp256k1<All>,
    store: Store,
    subs: Vec<(AddrType, Wallet)>,
    /// Imported descriptors' wallets, by store id.
    imported: Vec<(u8, Wallet)>,
    /// Private keys of imported descriptors (WIF or xprv text), while
    /// usable (cleared when an encrypted wallet locks).
    imported_secrets: Vec<String>,
    /// Their stored form (sealed under the master key when there is one).
    imported_record: Option<Value>,
    /// The stored seed record (None: private keys disabled or blank).
    key_record: Option<Value>,
    /// The master key, while usable (always for a plain wallet).
    master: Option<Xpriv>,
    pub meta: Meta,
    meta_dirty: bool,
    /// Change sets taken from the BDK wallets whose commit failed (a full
    /// disk): written first by the next commit, so none is lost.
    unsaved: Vec<(u8, bdk_wallet::ChangeSet)>,
    /// Unix time the unlock ends (encrypted wallets; 0 when locked).
    pub unlocked_until: i64,
    /// Bumped at each unlock, so that an older timer does not lock it.
    pub unlock_generation: u64,
    /// Outputs locked by lockunspent without `persistent` (gone at restart).
    pub temp_locked: BTreeSet<OutPoint>,
    /// Unconfirmed transactions the node's mempool has taken (Core trusts
    /// its own unconfirmed change only while it is in the mempool).
    pub in_mempool: BTreeSet<Txid>,
    /// Views computed since the last change (BDK's canonical views cost
    /// time in the number of transactions; RPCs ask for them often).
    views: std::cell::RefCell<Views>,
}

/// Cached views of the wallet's coins and transactions.
#[derive(Default)]
struct Views {
    coins: Option<Vec<Coin>>,
    txs: Option<Vec<WalletTxView>>,
}

/// The checkpoint chain genesis → tip that starts a new wallet at the tip.
fn birth_checkpoint(genesis: BlockId, tip: BlockId) -> Option<bdk_wallet::chain::CheckPoint> {
    let mut ids = vec![genesis];
    if tip.height > 0 {
        ids.push(tip);
    }
    bdk_wallet::chain::CheckPoint::from_block_ids(ids).ok()
}

impl Engine {
    /// A new wallet with keys, born at genesis (the offline tool's create):
    /// its first load catches up with the node's chain.
    pub fn create_at_genesis(
        dir: &Path,
        name: &str,
        network: Network,
        now: i64,
    ) -> Result<Engine, EngineError> {
        let genesis = BlockId {
            height: 0,
            hash: bitcoin::constants::genesis_block(network).block_hash(),
        };
        Engine::create(
            dir, name, network, genesis, genesis, now, "", false, false, false,
        )
    }

    /// Creates a wallet in `dir` that starts at the chain's `tip`.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        dir: &Path,
        name: &str,
        network: Network,
        genesis: BlockId,
        tip: BlockId,
        now: i64,
        passphrase: &str,
        blank: bool,
        disable_private_keys: bool,
        avoid_reuse: bool,
    ) -> Result<Engine, EngineError> {
        let store = Store::open(&dir.join(super::name::DB_FILE))?;
        let secp = Secp256k1::new();
        let mut engine = Engine {
            name: name.to_string(),
            network,
            secp,
            store,
            subs: Vec::new(),
            imported: Vec::new(),
            imported_secrets: Vec::new(),
            imported_record: None,
            key_record: None,
            master: None,
            meta: Meta {
                birth_time: now,
                avoid_reuse,
                blank,
                private_keys_disabled: disable_private_keys,
                last_block: Some((tip.height, tip.hash)),
                ..Meta::default()
            },
            meta_dirty: true,
            unsaved: Vec::new(),
            unlocked_until: 0,
            unlock_generation: 0,
            temp_locked: BTreeSet::new(),
            in_mempool: BTreeSet::new(),
            views: Default::default(),
        };
        if !blank && !disable_private_keys {
            let seed = keys::new_seed()?;
            let master = keys::master(&seed, network)?;
            for kind in AddrType::ALL {
                let (recv, change) =
                    keys::descriptors(&engine.secp, &master, kind, network, false)?;
                let mut w = Wallet::create(recv, change)
                    .network(network)
                    .genesis_hash(genesis.hash)
                    .create_wallet_no_persist()
                    .map_err(|e| EngineError::Descriptor(e.to_string()))?;
                if let Some(cp) = birth_checkpoint(genesis, tip) {
                    w.apply_update(Update {
                        chain: Some(cp),
                        ..Update::default()
                    })
                    .map_err(|e| EngineError::Load(e.to_string()))?;
                }
                engine.subs.push((kind, w));
            }
            let record = if passphrase.is_empty() {
                engine.master = Some(master);
                keys::plain_record(&seed)
            } else {
                keys::sealed_record(&seed, passphrase)?
            };
            engine.key_record = Some(record);
        }
        engine.commit_all()?;
        Ok(engine)
    }

    /// Opens the wallet in `dir`.
    pub fn load(dir: &Path, name: &str, network: Network) -> Result<Engine, EngineError> {
        let store = Store::open(&dir.join(super::name::DB_FILE))?;
        let meta: Meta = match store.record("meta")? {
            Some(v) => serde_json::from_value(v)
                .map_err(|e| StoreError::Corrupt("meta".into(), e.to_string()))?,
            None => return Err(EngineError::Load("no wallet in this database".into())),
        };
        let key_record = store.record("keys")?;
        let (subs, imported) = Self::subs_from(&store, network)?;
        let imported_record = store.record("imported_secrets")?;
        let master = match &key_record {
            Some(r) if !keys::is_sealed(r) => Some(keys::master(&keys::open_plain(r)?, network)?),
            _ => None,
        };
        let imported_secrets = match &imported_record {
            Some(r) => keys::open_imported(r, master.as_ref())?.unwrap_or_default(),
            None => Vec::new(),
        };
        Ok(Engine {
            name: name.to_string(),
            network,
            secp: Secp256k1::new(),
            store,
            subs,
            imported,
            imported_secrets,
            imported_record,
            key_record,
            master,
            meta,
            meta_dirty: false,
            unsaved: Vec::new(),
            unlocked_until: 0,
            unlock_generation: 0,
            temp_locked: BTreeSet::new(),
            in_mempool: BTreeSet::new(),
            views: Default::default(),
        })
    }

    /// The BDK wallet of each address type, from the stored change sets.
    #[allow(clippy::type_complexity)]
    fn subs_from(
        store: &Store,
        network: Network,
    ) -> Result<(Vec<(AddrType, Wallet)>, Vec<(u8, Wallet)>), EngineError> {
        let mut subs = Vec::new();
        let mut imported = Vec::new();
        for (id, cs) in store.load_changes()? {
            let w = Wallet::load()
                .check_network(network)
                .load_wallet_no_persist(cs)
                .map_err(|e| EngineError::Load(e.to_string()))?
                .ok_or_else(|| EngineError::Load(format!("descriptors of account {id} missing")))?;
            match AddrType::from_id(id) {
                Some(kind) => subs.push((kind, w)),
                None if id >= FIRST_IMPORT_ID => imported.push((id, w)),
                None => continue,
            }
        }
        Ok((subs, imported))
    }

    /// Every BDK wallet inside: the active accounts, then imports.
    pub fn wallets(&self) -> impl Iterator<Item = &Wallet> {
        self.subs
            .iter()
            .map(|(_, w)| w)
            .chain(self.imported.iter().map(|(_, w)| w))
    }

    fn wallets_mut(&mut self) -> impl Iterator<Item = &mut Wallet> {
        self.changed();
        self.subs
            .iter_mut()
            .map(|(_, w)| w)
            .chain(self.imported.iter_mut().map(|(_, w)| w))
    }

    /// Forgets the cached views: the wallet's data changed.
    fn changed(&mut self) {
        *self.views.get_mut() = Views::default();
    }

    /// Records that the node's mempool took `txid`.
    pub fn mark_in_mempool(&mut self, txid: Txid) {
        self.in_mempool.insert(txid);
        self.changed();
    }

    /// The wallet of an account.
    pub fn wallet(&self, account: Account) -> Option<&Wallet> {
        match account {
            Account::Active(kind) => self.sub(kind),
            Account::Imported(id) => self.imported.iter().find(|(i, _)| *i == id).map(|(_, w)| w),
        }
    }

    fn accounts(&self) -> impl Iterator<Item = (Account, &Wallet)> {
        self.subs
            .iter()
            .map(|(k, w)| (Account::Active(*k), w))
            .chain(
                self.imported
                    .iter()
                    .map(|(i, w)| (Account::Imported(*i), w)),
            )
    }

    /// Forgets the blocks above `fork`: the node's active chain no longer
    /// has them (a reorg, or blocks a killed node had not flushed). What was
    /// confirmed only there is unconfirmed again, or gone (coinbases), as
    /// in Core. BDK's wallet cannot drop blocks without a conflicting one,
    /// so the change is written and the accounts are rebuilt from the store.
    pub fn rewind(&mut self, fork: BlockId) -> Result<(), EngineError> {
        self.changed();
        self.commit_all()?;
        let above: Vec<u32> = self
            .checkpoint_heights()
            .into_iter()
            .filter(|h| *h > fork.height)
            .collect();
        if above.is_empty() {
            return Ok(());
        }
        if self.subs.is_empty() {
            self.meta.last_block = Some((fork.height, fork.hash));
            self.meta_dirty = true;
            return Ok(self.commit_all()?);
        }
        let mut pending = Pending::default();
        let ids = self
            .subs
            .iter()
            .map(|(k, _)| k.id())
            .chain(self.imported.iter().map(|(i, _)| *i));
        for id in ids {
            let mut cs = bdk_wallet::ChangeSet::default();
            cs.local_chain.blocks = above.iter().map(|h| (*h, None)).collect();
            pending.changes.push((id, cs));
        }
        self.store.commit(&pending)?;
        (self.subs, self.imported) = Self::subs_from(&self.store, self.network)?;
        Ok(())
    }

    /// Writes every staged change and dirty record in one transaction.
    pub fn commit_all(&mut self) -> Result<(), StoreError> {
        let mut pending = Pending {
            changes: std::mem::take(&mut self.unsaved),
            records: Vec::new(),
        };
        for (kind, w) in &mut self.subs {
            if let Some(cs) = w.take_staged() {
                pending.changes.push((kind.id(), cs));
            }
        }
        for (id, w) in &mut self.imported {
            if let Some(cs) = w.take_staged() {
                pending.changes.push((*id, cs));
            }
        }
        if self.meta_dirty {
            let meta =
                serde_json::to_value(&self.meta).map_err(|e| StoreError::Db(e.to_string()))?;
            pending.records.push(("meta".into(), meta));
            if let Some(k) = &self.key_record {
                pending.records.push(("keys".into(), k.clone()));
            }
            if let Some(r) = &self.imported_record {
                pending.records.push(("imported_secrets".into(), r.clone()));
            }
        }
        if let Err(e) = self.store.commit(&pending) {
            // The records are written from `meta_dirty` again next time.
            self.unsaved = pending.changes;
            return Err(e);
        }
        self.meta_dirty = false;
        Ok(())
    }

    /// Marks the notes (and keys) for the next commit.
    pub fn touch_meta(&mut self) {
        self.meta_dirty = true;
    }

    // ---- keys ----

    /// Whether the wallet holds any private key (its seed or imported ones).
    pub fn has_keys(&self) -> bool {
        self.key_record.is_some() || self.imported_record.is_some()
    }

    /// Whether the wallet has its own seed (not only imported keys).
    pub fn has_seed(&self) -> bool {
        self.key_record.is_some()
    }

    pub fn has_imported_secrets(&self) -> bool {
        self.imported_record.is_some()
    }

    /// Whether signing needs walletpassphrase first.
    pub fn needs_unlock(&self) -> bool {
        self.is_encrypted() && self.master.is_none()
    }

    /// Signs every input the seed's keys or imported keys can sign.
    pub fn sign_psbt(&self, psbt: &mut bitcoin::Psbt) {
        // Inputs they cannot sign are left for the finalizer to report.
        if let Some(m) = &self.master {
            let _ = psbt.sign(m, &self.secp);
        }
        let mut singles = BTreeMap::new();
        for text in &self.imported_secrets {
            if let Ok(x) = text.parse::<Xpriv>() {
                let _ = psbt.sign(&x, &self.secp);
            } else if let Ok(k) = bitcoin::PrivateKey::from_wif(text) {
                singles.insert(k.public_key(&self.secp), k);
            }
        }
        if !singles.is_empty() {
            let _ = psbt.sign(&singles, &self.secp);
        }
    }

    /// Adds a descriptor (importdescriptors) as its own BDK wallet, on the
    /// same chain as the others; the caller rescans. `body` has no checksum.
    pub fn import(
        &mut self,
        body: &str,
        timestamp: i64,
        label: &str,
        range_end: Option<u32>,
    ) -> Result<(), EngineError> {
        self.changed();
        use miniscript::descriptor::{Descriptor, DescriptorPublicKey, DescriptorSecretKey};
        let (desc, keymap) = Descriptor::<DescriptorPublicKey>::parse_descriptor(&self.secp, body)
            .map_err(|e| EngineError::Descriptor(e.to_string()))?;
        // BDK needs an address for every script it watches.
        if desc
            .at_derivation_index(0)
            .ok()
            .and_then(|d| d.address(self.network).ok())
            .is_none()
        {
            return Err(EngineError::Descriptor(
                "descriptors without an address form (raw, bare pk, multi) are not supported"
                    .into(),
            ));
        }
        let public = desc.to_string();
        if self.meta.imported.iter().any(|m| m.desc == public) {
            return Ok(()); // already there; Core updates it in place
        }
        let id = FIRST_IMPORT_ID
            .checked_add(u8::try_from(self.meta.imported.len()).unwrap_or(u8::MAX))
            .filter(|id| *id < u8::MAX)
            .ok_or_else(|| EngineError::Descriptor("too many imported descriptors".into()))?;
        let genesis = bitcoin::constants::genesis_block(self.network).block_hash();
        let mut w = Wallet::create_single(desc.clone())
            .network(self.network)
            .genesis_hash(genesis)
            .create_wallet_no_persist()
            .map_err(|e| EngineError::Descriptor(e.to_string()))?;
        // Join the chain the other accounts are on.
        let chain = match self.wallets().next() {
            Some(other) => Some(other.latest_checkpoint()),
            None => birth_checkpoint(
                BlockId {
                    height: 0,
                    hash: genesis,
                },
                self.last_block().unwrap_or(BlockId {
                    height: 0,
                    hash: genesis,
                }),
            ),
        };
        if let Some(cp) = chain {
            w.apply_update(Update {
                chain: Some(cp),
                ..Update::default()
            })
            .map_err(|e| EngineError::Load(e.to_string()))?;
        }
        if desc.has_wildcard() {
            let end = range_end.unwrap_or(999);
            let _ = w.reveal_addresses_to(KeychainKind::External, end).count();
        } else {
            let address = w.peek_address(KeychainKind::External, 0).address;
            self.meta
                .labels
                .insert(address.to_string(), label.to_string());
        }
        let had = self.imported_secrets.len();
        for secret in keymap.values() {
            let text = match secret {
                DescriptorSecretKey::Single(k) => k.key.to_wif(),
                DescriptorSecretKey::XPrv(x) => x.xkey.to_string(),
                DescriptorSecretKey::MultiXPrv(x) => x.xkey.to_string(),
            };
            if !self.imported_secrets.contains(&text) {
                self.imported_secrets.push(text);
            }
        }
        if self.imported_secrets.len() != had {
            self.imported_record = Some(keys::imported_record(
                &self.imported_secrets,
                self.master.as_ref(),
            )?);
        }
        self.meta.imported.push(ImportedMeta {
            id,
            desc: public,
            timestamp,
            label: label.to_string(),
            range_end: desc.has_wildcard().then_some(range_end.unwrap_or(999)),
        });
        self.imported.push((id, w));
        self.meta_dirty = true;
        Ok(())
    }

    pub fn is_encrypted(&self) -> bool {
        self.key_record.as_ref().is_some_and(keys::is_sealed)
    }

    pub fn is_locked(&self) -> bool {
        self.master.is_none()
    }

    /// The master key, for signing.
    pub fn master(&self) -> Option<&Xpriv> {
        self.master.as_ref()
    }

    /// Checks `passphrase` and keeps the master key until `lock`.
    pub fn unlock(&mut self, passphrase: &str) -> Result<(), KeyError> {
        let record = self
            .key_record
            .as_ref()
            .ok_or_else(|| KeyError::Corrupt("no keys".into()))?;
        let seed = keys::open_sealed(record, passphrase)?;
        let master = keys::master(&seed, self.network)?;
        if let Some(r) = &self.imported_record {
            self.imported_secrets = keys::open_imported(r, Some(&master))?.unwrap_or_default();
        }
        self.master = Some(master);
        Ok(())
    }

    pub fn lock(&mut self) {
        self.master = None;
        self.unlocked_until = 0;
        for s in &mut self.imported_secrets {
            zeroize::Zeroize::zeroize(s);
        }
        self.imported_secrets.clear();
    }

    /// Seals the seed under `passphrase` (first encryption) or a new
    /// passphrase (after checking the old one).
    pub fn seal(&mut self, old: Option<&str>, passphrase: &str) -> Result<(), KeyError> {
        let record = self
            .key_record
            .as_ref()
            .ok_or_else(|| KeyError::Corrupt("no keys".into()))?;
        let seed: Seed = match old {
            Some(old) => keys::open_sealed(record, old)?,
            None => keys::open_plain(record)?,
        };
        self.key_record = Some(keys::sealed_record(&seed, passphrase)?);
        self.meta_dirty = true;
        Ok(())
    }

    // ---- chain ----

    /// The last block the wallet processed.
    pub fn last_block(&self) -> Option<BlockId> {
        match self.subs.first() {
            Some((_, w)) => Some(w.latest_checkpoint().block_id()),
            None => self
                .meta
                .last_block
                .map(|(height, hash)| BlockId { height, hash }),
        }
    }

    /// The hash the wallet has for `height` (None: it has no checkpoint there).
    pub fn hash_at(&self, height: u32) -> Option<BlockHash> {
        match self.subs.first() {
            Some((_, w)) => w.local_chain().get(height).map(|cp| cp.hash()),
            None => self
                .meta
                .last_block
                .filter(|(h, _)| *h == height)
                .map(|(_, hash)| hash),
        }
    }

    /// The heights the wallet has checkpoints for, highest first.
    pub fn checkpoint_heights(&self) -> Vec<u32> {
        match self.subs.first() {
            Some((_, w)) => w.checkpoints().map(|cp| cp.height()).collect(),
            None => self.meta.last_block.iter().map(|(h, _)| *h).collect(),
        }
    }

    /// Adds active-chain block ids to every account's chain (before a
    /// rescan of blocks below the wallet's tip: BDK only takes a block
    /// between two it has when the update also holds the one above).
    pub fn insert_checkpoints(&mut self, ids: &[BlockId]) -> Result<(), EngineError> {
        for w in self.wallets_mut() {
            let mut all: BTreeMap<u32, BlockHash> =
                w.checkpoints().map(|cp| (cp.height(), cp.hash())).collect();
            for id in ids {
                if all
                    .insert(id.height, id.hash)
                    .is_some_and(|old| old != id.hash)
                {
                    return Err(EngineError::Load(format!(
                        "block {} differs from the wallet's; the chain changed",
                        id.height
                    )));
                }
            }
            let cp = bdk_wallet::chain::CheckPoint::from_block_ids(
                all.into_iter()
                    .map(|(height, hash)| BlockId { height, hash }),
            )
            .map_err(|_| EngineError::Load("checkpoints out of order".into()))?;
            w.apply_update(Update {
                chain: Some(cp),
                ..Update::default()
            })
            .map_err(|e| EngineError::Load(e.to_string()))?;
        }
        Ok(())
    }

    /// Applies a block on top of `connected_to`.
    pub fn apply_block(
        &mut self,
        block: &Block,
        height: u32,
        connected_to: BlockId,
    ) -> Result<(), EngineError> {
        for w in self.wallets_mut() {
            w.apply_block_connected_to(block, height, connected_to)
                .map_err(|e| EngineError::Load(e.to_string()))?;
        }
        if self.subs.is_empty() {
            self.meta.last_block = Some((height, block.block_hash()));
            self.meta_dirty = true;
        }
        Ok(())
    }

    /// Records unconfirmed transactions seen at `time` (ours are kept).
    pub fn apply_unconfirmed(&mut self, txs: &[Arc<Transaction>], time: u64) {
        self.in_mempool.extend(txs.iter().map(|t| t.compute_txid()));
        for w in self.wallets_mut() {
            w.apply_unconfirmed_txs(txs.iter().map(|t| (t.clone(), time)));
        }
    }

    // ---- addresses ----

    pub fn sub(&self, kind: AddrType) -> Option<&Wallet> {
        self.subs.iter().find(|(k, _)| *k == kind).map(|(_, w)| w)
    }

    pub fn sub_mut(&mut self, kind: AddrType) -> Option<&mut Wallet> {
        self.changed();
        self.subs
            .iter_mut()
            .find(|(k, _)| *k == kind)
            .map(|(_, w)| w)
    }

    pub fn subs(&self) -> impl Iterator<Item = &(AddrType, Wallet)> {
        self.subs.iter()
    }

    /// A new receive (or change) address of `kind`.
    pub fn new_address(&mut self, kind: AddrType, change: bool) -> Option<Address> {
        let keychain = if change {
            KeychainKind::Internal
        } else {
            KeychainKind::External
        };
        Some(self.sub_mut(kind)?.reveal_next_address(keychain).address)
    }

    /// Which address type and branch own `script`, with the index.
    pub fn owner(&self, script: &ScriptBuf) -> Option<(AddrType, KeychainKind, u32)> {
        self.subs.iter().find_map(|(k, w)| {
            w.derivation_of_spk(script.clone())
                .map(|(chain, i)| (*k, chain, i))
        })
    }

    pub fn is_mine(&self, script: &ScriptBuf) -> bool {
        self.wallets()
            .any(|w| w.derivation_of_spk(script.clone()).is_some())
    }

    /// Whether `script` is one of the active accounts' change addresses.
    pub fn is_change(&self, script: &ScriptBuf) -> bool {
        self.owner(script)
            .is_some_and(|(_, k, _)| k == KeychainKind::Internal)
    }

    // ---- views ----

    /// Whether any input spends one of our outputs.
    pub fn from_me(&self, tx: &Transaction) -> bool {
        tx.input.iter().any(|i| {
            self.wallets()
                .any(|w| w.spk_index().txout(i.previous_output).is_some())
        })
    }

    fn depth(position: &ChainPosition<ConfirmationBlockTime>, tip: u32) -> u32 {
        match position {
            ChainPosition::Confirmed { anchor, .. } => {
                tip.saturating_sub(anchor.block_id.height) + 1
            }
            ChainPosition::Unconfirmed { .. } => 0,
        }
    }

    pub fn tip_height(&self) -> u32 {
        self.last_block().map_or(0, |b| b.height)
    }

    /// Every unspent output, with Core's view of it.
    pub fn coins(&self) -> Vec<Coin> {
        if let Some(c) = &self.views.borrow().coins {
            return c.clone();
        }
        let coins = self.compute_coins();
        self.views.borrow_mut().coins = Some(coins.clone());
        coins
    }

    fn compute_coins(&self) -> Vec<Coin> {
        let tip = self.tip_height();
        let mut v = Vec::new();
        for (account, w) in self.accounts() {
            for out in w.list_unspent() {
                let depth = Self::depth(&out.chain_position, tip);
                let tx = w.tx_graph().get_tx(out.outpoint.txid);
                let coinbase = tx.as_ref().is_some_and(|t| t.is_coinbase());
                let trusted = depth == 0
                    && self.in_mempool.contains(&out.outpoint.txid)
                    && tx.as_ref().is_some_and(|t| self.from_me(t));
                v.push(Coin {
                    account,
                    out,
                    depth,
                    coinbase,
                    trusted,
                });
            }
        }
        v
    }

    /// Depth of a position at the wallet's tip.
    pub fn depth_of(&self, position: &ChainPosition<ConfirmationBlockTime>) -> u32 {
        Self::depth(position, self.tip_height())
    }

    /// Every wallet transaction once, merged across address types.
    pub fn transactions(&self) -> Vec<WalletTxView> {
        if let Some(t) = &self.views.borrow().txs {
            return t.clone();
        }
        let txs = self.compute_transactions();
        self.views.borrow_mut().txs = Some(txs.clone());
        txs
    }

    fn compute_transactions(&self) -> Vec<WalletTxView> {
        let mut found: BTreeMap<Txid, (Arc<Transaction>, ChainPosition<ConfirmationBlockTime>)> =
            BTreeMap::new();
        for w in self.wallets() {
            for t in w.transactions() {
                found
                    .entry(t.tx_node.txid)
                    .or_insert((t.tx_node.tx.clone(), t.chain_position));
            }
        }
        found
            .into_values()
            .map(|(tx, position)| self.view_of(tx, position))
            .collect()
    }

    /// `tx` as the whole wallet sees it: sent and received summed over the
    /// accounts, the fee as the spending account computes it.
    fn view_of(
        &self,
        tx: Arc<Transaction>,
        position: ChainPosition<ConfirmationBlockTime>,
    ) -> WalletTxView {
        let mut view = WalletTxView {
            tx,
            position,
            sent: Amount::ZERO,
            received: Amount::ZERO,
            fee: None,
        };
        for w in self.wallets() {
            let (sent, received) = w.sent_and_received(&view.tx);
            view.sent += sent;
            view.received += received;
            if view.fee.is_none() && sent > Amount::ZERO {
                view.fee = w.calculate_fee(&view.tx).ok();
            }
        }
        view
    }

    /// One wallet transaction, merged across address types.
    /// Replaced and abandoned ones too (outside BDK's canonical view, shown
    /// as unconfirmed, as Core shows a conflicted transaction).
    pub fn transaction(&self, txid: &Txid) -> Option<WalletTxView> {
        if let Some(t) = self
            .transactions()
            .into_iter()
            .find(|t| t.tx.compute_txid() == *txid)
        {
            return Some(t);
        }
        let tx = self.wallets().find_map(|w| w.tx_graph().get_tx(*txid))?;
        let unconfirmed = ChainPosition::Unconfirmed {
            first_seen: None,
            last_seen: None,
        };
        Some(self.view_of(tx, unconfirmed))
    }

    /// Locked outpoints: BDK's persistent list and ours for this run.
    pub fn locked(&self) -> BTreeSet<OutPoint> {
        let mut all: BTreeSet<OutPoint> = self
            .wallets()
            .flat_map(|w| w.list_locked_outpoints().collect::<Vec<_>>())
            .collect();
        all.extend(self.temp_locked.iter().copied());
        all
    }

    /// Locks (or unlocks) `outpoint`; persistent locks go to the database.
    pub fn set_locked(&mut self, outpoint: OutPoint, lock: bool, persistent: bool) {
        if !lock {
            self.temp_locked.remove(&outpoint);
            for w in self.wallets_mut() {
                w.unlock_outpoint(outpoint);
            }
        } else if persistent {
            let mut all: Vec<&mut Wallet> = self.wallets_mut().collect();
            let owner = all
                .iter()
                .position(|w| w.spk_index().txout(outpoint).is_some())
                .unwrap_or(0);
            if let Some(w) = all.get_mut(owner) {
                w.lock_outpoint(outpoint);
            }
        } else {
            self.temp_locked.insert(outpoint);
        }
    }

    /// Forgets unconfirmed transactions (abandontransaction) as of `time`.
    pub fn evict(&mut self, txids: &[Txid], time: u64) {
        for w in self.wallets_mut() {
            w.apply_evicted_txs(txids.iter().map(|t| (*t, time)));
        }
    }

    /// The public key (hex) and Core's descriptor with key origin for an
    /// owned script, e.g. `wpkh([fp/84h/1h/0h/0/3]02ab..)#checksum`.
    pub fn key_info(
        &self,
        kind: AddrType,
        keychain: KeychainKind,
        index: u32,
    ) -> Option<(String, String)> {
        use miniscript::descriptor::DescriptorPublicKey;
        use miniscript::ForEachKey;
        let w = self.sub(kind)?;
        let desc = w.public_descriptor(keychain);
        let mut fingerprint = None;
        desc.for_any_key(|k: &DescriptorPublicKey| {
            fingerprint = Some(k.master_fingerprint());
            true
        });
        let definite = desc.at_derivation_index(index).ok()?;
        let mut key = None;
        definite.for_any_key(|k| {
            key = k.derive_public_key(&self.secp).ok();
            true
        });
        let key = key?;
        let hex = if kind == AddrType::Bech32m {
            key.inner.x_only_public_key().0.to_string()
        } else {
            key.to_string()
        };
        let path = kind
            .account_path(self.network)
            .to_string()
            .replace('\'', "h");
        let path = path.trim_start_matches('m').trim_start_matches('/');
        let origin = format!("[{}/{path}/{}/{index}]{hex}", fingerprint?, keychain as u8);
        let body = match kind {
            AddrType::Legacy => format!("pkh({origin})"),
            AddrType::P2shSegwit => format!("sh(wpkh({origin}))"),
            AddrType::Bech32 => format!("wpkh({origin})"),
            AddrType::Bech32m => format!("tr({origin})"),
        };
        Some((key.to_string(), crate::script::infer::with_checksum(&body)))
    }

    /// The private key of an owned script (signmessage); None while locked.
    pub fn private_key(
        &self,
        kind: AddrType,
        keychain: KeychainKind,
        index: u32,
    ) -> Option<bitcoin::PrivateKey> {
        use bitcoin::bip32::ChildNumber;
        let path = kind
            .account_path(self.network)
            .child(ChildNumber::from_normal_idx(keychain as u32).ok()?)
            .child(ChildNumber::from_normal_idx(index).ok()?);
        let xpriv = self.master.as_ref()?.derive_priv(&self.secp, &path).ok()?;
        Some(xpriv.to_priv())
    }

    /// The number of transactions (getwalletinfo txcount).
    pub fn tx_count(&self) -> usize {
        self.transactions().len()
    }
}
