//! A wallet's keys: one random seed made in the wallet process, its BIP32
//! master key, and Core's descriptor set from it (BIP44/49/84/86 accounts:
//! legacy, p2sh-segwit, bech32, bech32m, each with a receive and a change
//! branch). BDK is given public descriptors only; signing uses the master
//! key directly. An encrypted wallet keeps its seed sealed
//! (ChaCha20-Poly1305 under an Argon2id key from the passphrase) and holds
//! it in memory only while unlocked.

use bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use bitcoin::secp256k1::{All, Secp256k1};
use bitcoin::Network;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde_json::{json, Value};
use zeroize::Zeroizing;

/// Core's address types, in the order of their descriptors in Core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AddrType {
    Legacy,
    P2shSegwit,
    Bech32,
    Bech32m,
}

impl AddrType {
    pub const ALL: [AddrType; 4] = [
        AddrType::Legacy,
        AddrType::P2shSegwit,
        AddrType::Bech32,
        AddrType::Bech32m,
    ];

    /// Core's name (-addresstype, getnewaddress).
    pub fn name(self) -> &'static str {
        match self {
            AddrType::Legacy => "legacy",
            AddrType::P2shSegwit => "p2sh-segwit",
            AddrType::Bech32 => "bech32",
            AddrType::Bech32m => "bech32m",
        }
    }

    pub fn parse(name: &str) -> Option<AddrType> {
        AddrType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The key in the database.
    pub fn id(self) -> u8 {
        self as u8
    }

    pub fn from_id(id: u8) -> Option<AddrType> {
        AddrType::ALL.get(id as usize).copied()
    }

    fn purpose(self) -> u32 {
        match self {
            AddrType::Legacy => 44,
            AddrType::P2shSegwit => 49,
            AddrType::Bech32 => 84,
            AddrType::Bech32m => 86,
        }
    }

    /// The account path, m/purpose'/coin'/0'.
    pub fn account_path(self, network: Network) -> DerivationPath {
        let coin = if network == Network::Bitcoin { 0 } else { 1 };
        format!("m/{}h/{coin}h/0h", self.purpose())
            .parse()
            .expect("a valid path")
    }

    /// The descriptor for the receive (`change` false) or change branch,
    /// with `key` as the account key text (an xpub, or an xprv for
    /// listdescriptors private=true).
    pub fn descriptor(self, origin: &str, key: &str, change: bool) -> String {
        let branch = format!("[{origin}]{key}/{}/*", change as u8);
        match self {
            AddrType::Legacy => format!("pkh({branch})"),
            AddrType::P2shSegwit => format!("sh(wpkh({branch}))"),
            AddrType::Bech32 => format!("wpkh({branch})"),
            AddrType::Bech32m => format!("tr({branch})"),
        }
    }
}

/// Why keys could not be made or opened.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("Error: The wallet passphrase entered was incorrect.")]
    WrongPassphrase,
    #[error("wallet key record is corrupt: {0}")]
    Corrupt(String),
    #[error("cannot derive keys: {0}")]
    Derive(String),
}

/// A seed, wiped from memory when dropped.
pub type Seed = Zeroizing<Vec<u8>>;

/// A new random 32-byte seed.
pub fn new_seed() -> Result<Seed, KeyError> {
    let mut seed = Zeroizing::new(vec![0u8; 32]);
    getrandom::fill(&mut seed).map_err(|e| KeyError::Derive(e.to_string()))?;
    Ok(seed)
}

/// The master key of a seed.
pub fn master(seed: &[u8], network: Network) -> Result<Xpriv, KeyError> {
    Xpriv::new_master(network, seed).map_err(|e| KeyError::Derive(e.to_string()))
}

/// The descriptors (receive, change) of one address type, with the
/// account's xpub, or its xprv when `private` (listdescriptors true).
pub fn descriptors(
    secp: &Secp256k1<All>,
    master: &Xpriv,
    kind: AddrType,
    network: Network,
    private: bool,
) -> Result<(String, String), KeyError> {
    let path = kind.account_path(network);
    let account = master
        .derive_priv(secp, &path)
        .map_err(|e| KeyError::Derive(e.to_string()))?;
    let key = if private {
        account.to_string()
    } else {
        Xpub::from_priv(secp, &account).to_string()
    };
    let origin = origin(master, secp, &path);
    Ok((
        kind.descriptor(&origin, &key, false),
        kind.descriptor(&origin, &key, true),
    ))
}

/// `fingerprint/84h/1h/0h` as descriptors write a key origin.
fn origin(master: &Xpriv, secp: &Secp256k1<All>, path: &DerivationPath) -> String {
    let text = path.to_string();
    let rest = text.trim_start_matches('m').trim_start_matches('/');
    format!("{}/{}", master.fingerprint(secp), rest.replace('\'', "h"))
}

/// Argon2id key from a passphrase and salt.
fn derive_key(passphrase: &str, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut key = Zeroizing::new([0u8; 32]);
    argon2::Argon2::default()
        .hash_password_into(passphrase.as_bytes(), salt, &mut *key)
        .map_err(|e| KeyError::Derive(e.to_string()))?;
    Ok(key)
}

fn hex(b: &[u8]) -> String {
    bitcoin::hex::DisplayHex::to_lower_hex_string(b)
}

fn unhex(v: &Value, field: &str) -> Result<Vec<u8>, KeyError> {
    let text = v[field]
        .as_str()
        .ok_or_else(|| KeyError::Corrupt(format!("{field} missing")))?;
    bitcoin::hex::FromHex::from_hex(text).map_err(|_| KeyError::Corrupt(format!("{field} not hex")))
}

/// The stored form of an unencrypted seed.
pub fn plain_record(seed: &[u8]) -> Value {
    json!({ "seed": hex(seed) })
}

/// The stored form of a seed sealed under `passphrase`.
pub fn sealed_record(seed: &[u8], passphrase: &str) -> Result<Value, KeyError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| KeyError::Derive(e.to_string()))?;
    let key = derive_key(passphrase, &salt)?;
    let mut record = seal_with(&key, seed)?;
    record["salt"] = json!(hex(&salt));
    Ok(record)
}

/// `data` sealed under `key` with a fresh nonce: `{nonce, sealed}`.
fn seal_with(key: &[u8; 32], data: &[u8]) -> Result<Value, KeyError> {
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).map_err(|e| KeyError::Derive(e.to_string()))?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&key[..]));
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), data)
        .map_err(|e| KeyError::Derive(e.to_string()))?;
    Ok(json!({ "nonce": hex(&nonce), "sealed": hex(&sealed) }))
}

fn open_with(key: &[u8; 32], record: &Value) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let nonce = unhex(record, "nonce")?;
    let sealed = unhex(record, "sealed")?;
    if nonce.len() != 12 {
        return Err(KeyError::Corrupt("nonce length".into()));
    }
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&key[..]));
    cipher
        .decrypt(Nonce::from_slice(&nonce), &sealed[..])
        .map(Zeroizing::new)
        .map_err(|_| KeyError::WrongPassphrase)
}

/// The key that seals imported private keys: derived from the master key,
/// so they are usable exactly when the seed is (unlocked or unencrypted).
fn imported_key(master: &Xpriv) -> Zeroizing<[u8; 32]> {
    use bitcoin::hashes::{sha256, Hash, HashEngine};
    let mut engine = sha256::Hash::engine();
    engine.input(b"bitcoin-mp imported keys");
    engine.input(&master.private_key.secret_bytes());
    Zeroizing::new(sha256::Hash::from_engine(engine).to_byte_array())
}

/// The stored form of imported private keys (WIF or xprv texts): sealed
/// under the master key when there is one, plain otherwise (a blank wallet).
pub fn imported_record(secrets: &[String], master: Option<&Xpriv>) -> Result<Value, KeyError> {
    let plain =
        Zeroizing::new(serde_json::to_vec(secrets).map_err(|e| KeyError::Corrupt(e.to_string()))?);
    match master {
        Some(m) => seal_with(&imported_key(m), &plain),
        None => Ok(json!({ "keys": secrets })),
    }
}

/// The imported private keys of a stored record; None when they are sealed
/// and the master key is not at hand (locked).
pub fn open_imported(
    record: &Value,
    master: Option<&Xpriv>,
) -> Result<Option<Vec<String>>, KeyError> {
    let bytes = if let Some(list) = record.get("keys") {
        return serde_json::from_value(list.clone())
            .map(Some)
            .map_err(|e| KeyError::Corrupt(e.to_string()));
    } else if let Some(m) = master {
        open_with(&imported_key(m), record)
            .map_err(|_| KeyError::Corrupt("imported keys do not open with this seed".into()))?
    } else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| KeyError::Corrupt(e.to_string()))
}

/// Whether a stored record is sealed.
pub fn is_sealed(record: &Value) -> bool {
    record.get("sealed").is_some()
}

/// The seed of a plain record.
pub fn open_plain(record: &Value) -> Result<Seed, KeyError> {
    Ok(Zeroizing::new(unhex(record, "seed")?))
}

/// The seed of a sealed record, with the passphrase.
pub fn open_sealed(record: &Value, passphrase: &str) -> Result<Seed, KeyError> {
    let salt = unhex(record, "salt")?;
    let key = derive_key(passphrase, &salt)?;
    open_with(&key, record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_seed_opens_with_its_passphrase_only() {
        let seed = new_seed().unwrap();
        let rec = sealed_record(&seed, "correct horse").unwrap();
        assert!(is_sealed(&rec));
        assert!(!rec.to_string().contains(&hex(&seed)));
        assert_eq!(*open_sealed(&rec, "correct horse").unwrap(), *seed);
        assert!(matches!(
            open_sealed(&rec, "wrong"),
            Err(KeyError::WrongPassphrase)
        ));
    }

    #[test]
    fn descriptors_follow_cores_paths_and_parse() {
        let secp = Secp256k1::new();
        let m = master(&[7u8; 32], Network::Regtest).unwrap();
        let (recv, change) =
            descriptors(&secp, &m, AddrType::Bech32, Network::Regtest, false).unwrap();
        assert!(
            recv.starts_with(&format!("wpkh([{}/84h/1h/0h]tpub", m.fingerprint(&secp))),
            "{recv}"
        );
        assert!(recv.ends_with("/0/*)") && change.ends_with("/1/*)"));
        for kind in AddrType::ALL {
            let (r, _) = descriptors(&secp, &m, kind, Network::Regtest, false).unwrap();
            r.parse::<miniscript::Descriptor<miniscript::DescriptorPublicKey>>()
                .unwrap_or_else(|e| panic!("{r}: {e}"));
        }
    }
}
