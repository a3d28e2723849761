//! script/sign: Core's SignTransaction (script/sign.cpp) for
//! signrawtransactionwithkey: each input's script is solved template by
//! template (pay-to-pubkey, -pubkey-hash, bare multisig, P2SH, P2WPKH, P2WSH
//! and their P2SH wraps, taproot key path with the output key, pay-to-anchor)
//! with the given keys and scripts, signatures already in the input are kept
//! (a multisig collects them across signers), and an input left unsolved
//! gets Core's error text. Signing and sighashes are rust-bitcoin's and
//! secp256k1's (low-R ECDSA and zero-aux BIP340 signatures, as Core makes);
//! script verification is handed in by the caller (the node's kernel).

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use bitcoin::hashes::{hash160, ripemd160, Hash};
use bitcoin::opcodes::all::{OP_PUSHNUM_1, OP_PUSHNUM_16, OP_PUSHNUM_NEG1};
use bitcoin::script::{Builder, Instruction, PushBytesBuf};
use bitcoin::secp256k1::{ecdsa, All, Keypair, Message, PublicKey, Secp256k1, XOnlyPublicKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::{Amount, PrivateKey, Script, ScriptBuf, Transaction, TxOut, Witness};

use super::solver::{self, Template};

static SECP: LazyLock<Secp256k1<All>> = LazyLock::new(Secp256k1::new);

/// The value Core gives a spent output whose amount was not given
/// (MAX_MONEY), and the error a witness spend of it gets.
pub const UNKNOWN_AMOUNT: Amount = Amount::from_sat(21_000_000 * 100_000_000);
pub const MISSING_AMOUNT: &str = "Missing amount";

/// Core's SIGHASH_DEFAULT: ALL for ECDSA, no hash type byte for taproot.
pub const SIGHASH_DEFAULT: u32 = 0;

/// Core's SighashFromStr: the names signrawtransactionwithkey takes.
pub fn sighash_from_str(name: &str) -> Option<u32> {
    Some(match name {
        "DEFAULT" => SIGHASH_DEFAULT,
        "ALL" => 0x01,
        "NONE" => 0x02,
        "SINGLE" => 0x03,
        "ALL|ANYONECANPAY" => 0x81,
        "NONE|ANYONECANPAY" => 0x82,
        "SINGLE|ANYONECANPAY" => 0x83,
        _ => return None,
    })
}

/// Core's FlatSigningProvider as signrawtransactionwithkey fills it: keys by
/// the hash160 of their public key, scripts by their hash160 (which is also
/// how a P2WSH program, hashed once more with RIPEMD160, finds its script).
#[derive(Default)]
pub struct Keystore {
    keys: HashMap<hash160::Hash, PrivateKey>,
    scripts: HashMap<hash160::Hash, ScriptBuf>,
}

impl Keystore {
    pub fn add_key(&mut self, key: PrivateKey) {
        let id = hash160::Hash::hash(&key.public_key(&SECP).to_bytes());
        self.keys.insert(id, key);
    }

    /// Adds `script` unless one with its hash is there already.
    pub fn add_script(&mut self, script: ScriptBuf) {
        let id = hash160::Hash::hash(script.as_bytes());
        self.scripts.entry(id).or_insert(script);
    }

    fn key(&self, id: &hash160::Hash) -> Option<&PrivateKey> {
        self.keys.get(id)
    }

    /// Core's GetKeyByXOnly: the key whose compressed public key, of either
    /// parity, has this x coordinate.
    fn key_by_xonly(&self, x: &XOnlyPublicKey) -> Option<&PrivateKey> {
        [0x02u8, 0x03].iter().find_map(|parity| {
            let mut bytes = vec![*parity];
            bytes.extend_from_slice(&x.serialize());
            self.keys.get(&hash160::Hash::hash(&bytes))
        })
    }
}

/// What signing a transaction came to: whether every input is solved, and
/// Core's error text for each that is not, by input index.
#[derive(Debug, PartialEq, Eq)]
pub struct Signed {
    pub complete: bool,
    pub errors: BTreeMap<usize, String>,
}

/// Verifies input `index` of a transaction against the outputs its inputs
/// spend, with Core's standard flags: None when it passes, else Core's
/// script error text.
pub type Verify<'a> = &'a dyn Fn(&Transaction, &[TxOut], usize) -> Option<String>;

/// Core's SignTransaction: signs what `keys` can sign in `tx`, whose inputs
/// spend `coins` (None: not found or spent), with hash type `sighash`.
pub fn sign_transaction(
    tx: &mut Transaction,
    keys: &Keystore,
    coins: &[Option<TxOut>],
    sighash: u32,
    verify: Verify<'_>,
) -> Signed {
    let hash_single = sighash & !0x80 == 0x03;
    let unsigned = tx.clone();
    // The verifier needs an output per input; a missing coin has none, so
    // nothing can spend it (Core verifies those inputs not at all).
    let spent: Vec<TxOut> = coins
        .iter()
        .map(|c| {
            c.clone().unwrap_or(TxOut {
                value: UNKNOWN_AMOUNT,
                script_pubkey: ScriptBuf::new(),
            })
        })
        .collect();
    let all_spent = coins.iter().all(Option::is_some).then_some(&spent[..]);
    let mut errors = BTreeMap::new();
    for i in 0..tx.input.len() {
        let Some(coin) = coins.get(i).and_then(Option::as_ref) else {
            errors.insert(i, "Input not found or already spent".to_string());
            continue;
        };
        let signer = Signer {
            tx: &unsigned,
            index: i,
            amount: coin.value,
            spent: all_spent,
            sighash,
            keys,
        };
        let mut data = data_from_transaction(tx, i, &spent, &signer, verify);
        if !hash_single || i < tx.output.len() {
            signer.produce_signature(&coin.script_pubkey, &mut data, tx, &spent, verify);
        }
        tx.input[i].script_sig = data.script_sig.clone();
        tx.input[i].witness = Witness::from_slice(&data.witness);
        if coin.value == UNKNOWN_AMOUNT && !data.witness.is_empty() {
            errors.insert(i, MISSING_AMOUNT.to_string());
            continue;
        }
        if data.complete {
            continue;
        }
        if let Some(error) = verify(tx, &spent, i) {
            let error = match error.as_str() {
                "Operation not valid with the current stack size" => {
                    "Unable to sign input, invalid stack size (possibly missing key)".to_string()
                }
                "Signature must be zero for failed CHECK(MULTI)SIG operation" => {
                    "CHECK(MULTI)SIG failing with non-zero signature (possibly need more signatures)"
                        .to_string()
                }
                _ => error,
            };
            errors.insert(i, error);
        }
    }
    Signed {
        complete: errors.is_empty(),
        errors,
    }
}

/// Core's combinerawtransaction: the first of `variants` (one transaction
/// signed by different signers) with, input by input, every signature the
/// variants hold put together (an input complete in one variant is taken
/// from it). `coins`: the outputs the inputs spend.
pub fn combine(variants: &[Transaction], coins: &[TxOut], verify: Verify<'_>) -> Transaction {
    let mut merged = variants[0].clone();
    let no_keys = Keystore::default();
    for (i, coin) in coins.iter().enumerate().take(merged.input.len()) {
        let signer = Signer {
            tx: &variants[0],
            index: i,
            amount: coin.value,
            spent: Some(coins),
            sighash: 0x01,
            keys: &no_keys,
        };
        let mut data = SigData::default();
        for variant in variants.iter().filter(|v| v.input.len() > i) {
            data.merge(data_from_transaction(variant, i, coins, &signer, verify));
        }
        signer.produce_signature(&coin.script_pubkey, &mut data, &merged, coins, verify);
        merged.input[i].script_sig = data.script_sig;
        merged.input[i].witness = Witness::from_slice(&data.witness);
    }
    merged
}

/// Core's SignatureData: an input's solution so far.
#[derive(Default)]
struct SigData {
    script_sig: ScriptBuf,
    witness: Vec<Vec<u8>>,
    /// The input carries a witness (it spends a witness program).
    is_witness: bool,
    redeem_script: Option<ScriptBuf>,
    witness_script: Option<ScriptBuf>,
    /// Signatures known so far, by key id: the public key and signature.
    signatures: HashMap<hash160::Hash, (Vec<u8>, Vec<u8>)>,
    complete: bool,
}

impl SigData {
    /// Core's MergeSignatureData: a complete solution wins; otherwise the
    /// scripts missing here and every signature are taken over.
    fn merge(&mut self, other: SigData) {
        if self.complete {
            return;
        }
        if other.complete {
            *self = other;
            return;
        }
        if self.redeem_script.is_none() {
            self.redeem_script = other.redeem_script;
        }
        if self.witness_script.is_none() {
            self.witness_script = other.witness_script;
        }
        for (id, pair) in other.signatures {
            self.signatures.entry(id).or_insert(pair);
        }
    }
}

/// Which signature hash a script is signed under.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SigVersion {
    Base,
    WitnessV0,
}

/// The template kinds ProduceSignature steps through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    ScriptHash,
    WitnessKeyHash,
    WitnessScriptHash,
    Taproot,
    WitnessUnknown,
    Other,
}

/// Core's MutableTransactionSignatureCreator for one input.
struct Signer<'a> {
    /// The transaction as given (signature hashes ignore input scripts).
    tx: &'a Transaction,
    index: usize,
    amount: Amount,
    /// Every spent output, when all are known (taproot needs them).
    spent: Option<&'a [TxOut]>,
    sighash: u32,
    keys: &'a Keystore,
}

impl Signer<'_> {
    /// Core's ProduceSignature: solves `script_pubkey` into `data`.
    fn produce_signature(
        &self,
        script_pubkey: &Script,
        data: &mut SigData,
        tx: &Transaction,
        spent: &[TxOut],
        verify: Verify<'_>,
    ) {
        if data.complete {
            return;
        }
        let (mut solved, mut result, mut kind) =
            self.sign_step(script_pubkey, SigVersion::Base, data);
        let mut subscript = None;
        if solved && kind == Kind::ScriptHash {
            let script = ScriptBuf::from_bytes(result[0].clone());
            data.redeem_script = Some(script.clone());
            let (ok, inner, inner_kind) = self.sign_step(&script, SigVersion::Base, data);
            solved = ok && inner_kind != Kind::ScriptHash;
            result = inner;
            kind = inner_kind;
            subscript = Some(script);
        }
        if solved && kind == Kind::WitnessKeyHash {
            let pkh = bitcoin::PubkeyHash::from_slice(&result[0]).expect("20 bytes");
            let script = ScriptBuf::new_p2pkh(&pkh);
            let (ok, stack, _) = self.sign_step(&script, SigVersion::WitnessV0, data);
            solved = ok;
            data.witness = stack;
            data.is_witness = true;
            result.clear();
        } else if solved && kind == Kind::WitnessScriptHash {
            let script = ScriptBuf::from_bytes(result[0].clone());
            data.witness_script = Some(script.clone());
            let (ok, mut stack, inner_kind) = self.sign_step(&script, SigVersion::WitnessV0, data);
            solved = ok
                && !matches!(
                    inner_kind,
                    Kind::ScriptHash | Kind::WitnessScriptHash | Kind::WitnessKeyHash
                );
            stack.push(script.into_bytes());
            data.witness = stack;
            data.is_witness = true;
            result.clear();
        } else if kind == Kind::Taproot && subscript.is_none() {
            data.is_witness = true;
            if solved {
                data.witness = std::mem::take(&mut result);
            }
            result.clear();
        } else if solved && kind == Kind::WitnessUnknown {
            data.is_witness = true;
        }
        if !data.is_witness {
            data.witness.clear();
        }
        if let Some(script) = subscript {
            result.push(script.into_bytes());
        }
        data.script_sig = push_all(&result);
        data.complete = solved && {
            let mut candidate = tx.clone();
            candidate.input[self.index].script_sig = data.script_sig.clone();
            candidate.input[self.index].witness = Witness::from_slice(&data.witness);
            verify(&candidate, spent, self.index).is_none()
        };
    }

    /// Core's SignStep: one template's solution, whether it is complete,
    /// and the template's kind.
    fn sign_step(
        &self,
        script: &Script,
        version: SigVersion,
        data: &mut SigData,
    ) -> (bool, Vec<Vec<u8>>, Kind) {
        let b = script.as_bytes();
        match solver::solve(script) {
            Template::NonStandard | Template::NullData => (false, Vec::new(), Kind::Other),
            Template::WitnessUnknown => (false, Vec::new(), Kind::WitnessUnknown),
            Template::PubKey(key) => match self.sig_for(key, script, version, data) {
                Some(sig) => (true, vec![sig], Kind::Other),
                None => (false, Vec::new(), Kind::Other),
            },
            Template::PubKeyHash => {
                let id = hash160::Hash::from_slice(&b[3..23]).expect("20 bytes");
                let Some(key) = self.public_key(&id, data) else {
                    return (false, Vec::new(), Kind::Other);
                };
                match self.sig_for(&key, script, version, data) {
                    Some(sig) => (true, vec![sig, key], Kind::Other),
                    None => (false, Vec::new(), Kind::Other),
                }
            }
            Template::ScriptHash => {
                let id = hash160::Hash::from_slice(&b[2..22]).expect("20 bytes");
                match self.script(&id, data) {
                    Some(s) => (true, vec![s.into_bytes()], Kind::ScriptHash),
                    None => (false, Vec::new(), Kind::ScriptHash),
                }
            }
            Template::Multisig { required, keys } => {
                let mut ret = vec![Vec::new()];
                for key in keys {
                    // Every signature that can be made is made (and kept in
                    // `data`); the first `required` go in.
                    if let Some(sig) = self.sig_for(key, script, version, data) {
                        if ret.len() < required + 1 {
                            ret.push(sig);
                        }
                    }
                }
                let ok = ret.len() == required + 1;
                // Core's padding loop, as written: it counts up while the
                // stack grows.
                let mut i = 0;
                while i + ret.len() < required + 1 {
                    ret.push(Vec::new());
                    i += 1;
                }
                (ok, ret, Kind::Other)
            }
            Template::WitnessV0KeyHash => (true, vec![b[2..22].to_vec()], Kind::WitnessKeyHash),
            Template::WitnessV0ScriptHash => {
                let id = hash160::Hash::from_byte_array(
                    ripemd160::Hash::hash(&b[2..34]).to_byte_array(),
                );
                match self.script(&id, data) {
                    Some(s) => (true, vec![s.into_bytes()], Kind::WitnessScriptHash),
                    None => (false, Vec::new(), Kind::WitnessScriptHash),
                }
            }
            Template::WitnessV1Taproot => match self.taproot_key_path(&b[2..34]) {
                Some(sig) => (true, vec![sig], Kind::Taproot),
                None => (false, Vec::new(), Kind::Taproot),
            },
            // Nothing to sign: the empty solution.
            Template::Anchor => (true, Vec::new(), Kind::Other),
        }
    }

    /// Core's GetPubKey: from the keys given, or a signature already there.
    fn public_key(&self, id: &hash160::Hash, data: &SigData) -> Option<Vec<u8>> {
        if let Some(key) = self.keys.key(id) {
            return Some(key.public_key(&SECP).to_bytes());
        }
        data.signatures.get(id).map(|(key, _)| key.clone())
    }

    /// Core's GetCScript: from the scripts given, or those in the input.
    fn script(&self, id: &hash160::Hash, data: &SigData) -> Option<ScriptBuf> {
        if let Some(s) = self.keys.scripts.get(id) {
            return Some(s.clone());
        }
        [&data.redeem_script, &data.witness_script]
            .into_iter()
            .flatten()
            .find(|s| hash160::Hash::hash(s.as_bytes()) == *id)
            .cloned()
    }

    /// Core's CreateSig: the signature already known for `pubkey`, or a new
    /// one from its key.
    fn sig_for(
        &self,
        pubkey: &[u8],
        script_code: &Script,
        version: SigVersion,
        data: &mut SigData,
    ) -> Option<Vec<u8>> {
        let id = hash160::Hash::hash(pubkey);
        if let Some((_, sig)) = data.signatures.get(&id) {
            return Some(sig.clone());
        }
        let key = self.keys.key(&id)?;
        // Witness scripts take compressed keys only.
        if version == SigVersion::WitnessV0 && !key.compressed {
            return None;
        }
        let hash_type = if self.sighash == SIGHASH_DEFAULT {
            0x01
        } else {
            self.sighash
        };
        let digest = self.ecdsa_sighash(script_code, version, hash_type)?;
        let sig = SECP.sign_ecdsa_low_r(&digest, &key.inner);
        let mut bytes = sig.serialize_der().to_vec();
        bytes.push(hash_type as u8);
        data.signatures.insert(id, (pubkey.to_vec(), bytes.clone()));
        Some(bytes)
    }

    fn ecdsa_sighash(
        &self,
        script_code: &Script,
        version: SigVersion,
        hash_type: u32,
    ) -> Option<Message> {
        let mut cache = SighashCache::new(self.tx);
        let digest = match version {
            SigVersion::Base => cache
                .legacy_signature_hash(self.index, script_code, hash_type)
                .ok()?
                .to_byte_array(),
            SigVersion::WitnessV0 => cache
                .p2wsh_signature_hash(
                    self.index,
                    script_code,
                    self.amount,
                    EcdsaSighashType::from_consensus(hash_type),
                )
                .ok()?
                .to_byte_array(),
        };
        Some(Message::from_digest(digest))
    }

    /// Core's CheckECDSASignature, for signatures already in the input.
    fn ecdsa_valid(
        &self,
        sig: &[u8],
        pubkey: &[u8],
        script_code: &Script,
        version: SigVersion,
    ) -> bool {
        let Some((&hash_type, der)) = sig.split_last() else {
            return false;
        };
        let (Ok(key), Ok(mut sig)) = (
            PublicKey::from_slice(pubkey),
            ecdsa::Signature::from_der_lax(der),
        ) else {
            return false;
        };
        sig.normalize_s();
        self.ecdsa_sighash(script_code, version, u32::from(hash_type))
            .is_some_and(|m| SECP.verify_ecdsa(&m, &sig, &key).is_ok())
    }

    /// Core's SignTaproot without spend data: a key-path signature by the
    /// key whose public key is the output key itself (no tweak).
    fn taproot_key_path(&self, output_key: &[u8]) -> Option<Vec<u8>> {
        let output_key = XOnlyPublicKey::from_slice(output_key).ok()?;
        let key = self.keys.key_by_xonly(&output_key)?;
        let spent = self.spent?;
        let hash_type = TapSighashType::from_consensus_u8(self.sighash as u8).ok()?;
        let digest = SighashCache::new(self.tx)
            .taproot_key_spend_signature_hash(self.index, &Prevouts::All(spent), hash_type)
            .ok()?;
        let keypair = Keypair::from_secret_key(&SECP, &key.inner);
        let msg = Message::from_digest(digest.to_byte_array());
        // Core signs with zero auxiliary randomness.
        let sig = SECP.sign_schnorr_with_aux_rand(&msg, &keypair, &[0u8; 32]);
        let mut bytes = sig.serialize().to_vec();
        if self.sighash != SIGHASH_DEFAULT {
            bytes.push(self.sighash as u8);
        }
        Some(bytes)
    }
}

/// Core's DataFromTransaction: what input `index` already holds. A complete
/// input is kept as it is; otherwise its scripts, and signatures of a
/// multisig matched to their keys, are read off it.
fn data_from_transaction(
    tx: &Transaction,
    index: usize,
    spent: &[TxOut],
    signer: &Signer<'_>,
    verify: Verify<'_>,
) -> SigData {
    let input = &tx.input[index];
    let mut data = SigData {
        script_sig: input.script_sig.clone(),
        witness: input.witness.to_vec(),
        ..SigData::default()
    };
    if verify(tx, spent, index).is_none() {
        data.complete = true;
        return data;
    }
    let mut script_stack = pushed_values(&input.script_sig);
    let mut witness_stack = data.witness.clone();
    let mut next = spent[index].script_pubkey.clone();
    let mut version = SigVersion::Base;
    if next.is_p2sh() && script_stack.last().is_some_and(|s| !s.is_empty()) {
        let redeem = ScriptBuf::from_bytes(script_stack.pop().expect("not empty"));
        data.redeem_script = Some(redeem.clone());
        next = redeem;
    }
    if next.is_p2wsh() && witness_stack.last().is_some_and(|s| !s.is_empty()) {
        let script = ScriptBuf::from_bytes(witness_stack.pop().expect("not empty"));
        data.witness_script = Some(script.clone());
        next = script;
        script_stack = std::mem::take(&mut witness_stack);
        version = SigVersion::WitnessV0;
    }
    if let Template::Multisig { keys, .. } = solver::solve(&next) {
        if !script_stack.is_empty() {
            let mut first_untried = 0;
            for sig in &script_stack {
                for (i, key) in keys.iter().enumerate().skip(first_untried) {
                    let id = hash160::Hash::hash(key);
                    let known = data.signatures.contains_key(&id);
                    if known || signer.ecdsa_valid(sig, key, &next, version) {
                        if !known {
                            data.signatures.insert(id, (key.to_vec(), sig.clone()));
                        }
                        first_untried = i + 1;
                        break;
                    }
                }
            }
        }
    }
    data
}

/// The values a push-only script leaves on the stack (Core evaluates the
/// script sig for them); reading stops at the first other opcode.
fn pushed_values(script: &Script) -> Vec<Vec<u8>> {
    let mut stack = Vec::new();
    for instruction in script.instructions() {
        match instruction {
            Ok(Instruction::PushBytes(p)) => stack.push(p.as_bytes().to_vec()),
            Ok(Instruction::Op(op)) if op == OP_PUSHNUM_NEG1 => stack.push(vec![0x81]),
            Ok(Instruction::Op(op))
                if (OP_PUSHNUM_1.to_u8()..=OP_PUSHNUM_16.to_u8()).contains(&op.to_u8()) =>
            {
                stack.push(vec![op.to_u8() - OP_PUSHNUM_1.to_u8() + 1])
            }
            _ => break,
        }
    }
    stack
}

/// Core's PushAll: each value as its shortest push (OP_0, OP_1..OP_16,
/// OP_1NEGATE or a data push).
fn push_all(values: &[Vec<u8>]) -> ScriptBuf {
    let mut builder = Builder::new();
    for v in values {
        builder = match v.as_slice() {
            [] => builder.push_opcode(bitcoin::opcodes::OP_0),
            [n @ 1..=16] => builder.push_int(i64::from(*n)),
            [0x81] => builder.push_opcode(OP_PUSHNUM_NEG1),
            _ => builder.push_slice(PushBytesBuf::try_from(v.clone()).unwrap_or_default()),
        };
    }
    builder.into_script()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempool::script_check::check_standard_input;
    use bitcoin::{OutPoint, TxIn, Txid};

    fn key(n: u8) -> PrivateKey {
        let secret = bitcoin::secp256k1::SecretKey::from_slice(&[n; 32]).unwrap();
        PrivateKey::new(secret, bitcoin::Network::Regtest)
    }

    fn pubkey(n: u8) -> bitcoin::PublicKey {
        key(n).public_key(&SECP)
    }

    /// A transaction spending one output per entry of `n` inputs.
    fn spending(inputs: usize) -> Transaction {
        Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: (0..inputs)
                .map(|i| TxIn {
                    previous_output: OutPoint::new(Txid::from_byte_array([7; 32]), i as u32),
                    ..Default::default()
                })
                .collect(),
            output: vec![TxOut {
                value: Amount::from_sat(9_000),
                script_pubkey: ScriptBuf::new_op_return([1u8; 4]),
            }],
        }
    }

    fn coin(script_pubkey: ScriptBuf) -> Option<TxOut> {
        Some(TxOut {
            value: Amount::from_sat(10_000),
            script_pubkey,
        })
    }

    fn kernel(tx: &Transaction, spent: &[TxOut], i: usize) -> Option<String> {
        check_standard_input(tx, spent, i).unwrap_or_else(|e| Some(e.to_string()))
    }

    fn sign(
        tx: &mut Transaction,
        keys: &[u8],
        scripts: &[ScriptBuf],
        coins: &[Option<TxOut>],
    ) -> Signed {
        let mut store = Keystore::default();
        for k in keys {
            store.add_key(key(*k));
        }
        for s in scripts {
            store.add_script(s.clone());
        }
        sign_transaction(tx, &store, coins, SIGHASH_DEFAULT, &kernel)
    }

    fn all_pass(tx: &Transaction, coins: &[Option<TxOut>]) -> bool {
        let spent: Vec<TxOut> = coins.iter().map(|c| c.clone().unwrap()).collect();
        (0..tx.input.len()).all(|i| kernel(tx, &spent, i).is_none())
    }

    #[test]
    fn single_key_templates_are_signed_so_the_kernel_accepts_them() {
        let wpkh = pubkey(1).wpubkey_hash().unwrap();
        let xonly = pubkey(2).inner.x_only_public_key().0;
        let coins = vec![
            coin(ScriptBuf::new_p2pkh(&pubkey(1).pubkey_hash())),
            coin(ScriptBuf::new_p2pk(&pubkey(1))),
            coin(ScriptBuf::new_p2wpkh(&wpkh)),
            coin(ScriptBuf::new_p2sh(
                &ScriptBuf::new_p2wpkh(&wpkh).script_hash(),
            )),
            // The key is the output key itself (Core signs no tweak).
            coin(ScriptBuf::new_p2tr_tweaked(
                bitcoin::key::TweakedPublicKey::dangerous_assume_tweaked(xonly),
            )),
            // Pay-to-anchor: nothing to sign.
            coin(ScriptBuf::from_bytes(vec![0x51, 0x02, 0x4e, 0x73])),
        ];
        let mut tx = spending(coins.len());
        let signed = sign(&mut tx, &[1, 2], &[ScriptBuf::new_p2wpkh(&wpkh)], &coins);
        assert_eq!(
            signed,
            Signed {
                complete: true,
                errors: BTreeMap::new()
            }
        );
        assert!(all_pass(&tx, &coins));
        assert!(tx.input[5].script_sig.is_empty() && tx.input[5].witness.is_empty());
        // A key-path signature with the default hash type is 64 bytes.
        assert_eq!(tx.input[4].witness.to_vec()[0].len(), 64);
    }

    #[test]
    fn a_multisig_collects_signatures_from_one_signer_after_another() {
        let script = Builder::new()
            .push_int(2)
            .push_key(&pubkey(1))
            .push_key(&pubkey(2))
            .push_int(2)
            .push_opcode(bitcoin::opcodes::all::OP_CHECKMULTISIG)
            .into_script();
        let coins = vec![
            coin(ScriptBuf::new_p2wsh(&script.wscript_hash())),
            coin(ScriptBuf::new_p2sh(&script.script_hash())),
        ];
        let mut tx = spending(2);
        let first = sign(&mut tx, &[2], std::slice::from_ref(&script), &coins);
        let short =
            "CHECK(MULTI)SIG failing with non-zero signature (possibly need more signatures)";
        assert!(!first.complete);
        assert_eq!(first.errors.values().collect::<Vec<_>>(), [short, short]);
        // The second signer needs no script: the inputs carry them now.
        let second = sign(&mut tx, &[1], &[], &coins);
        assert!(second.complete, "{second:?}");
        assert!(all_pass(&tx, &coins));
        // Signing a complete input again leaves it as it is.
        let before = tx.clone();
        assert!(sign(&mut tx, &[1, 2], &[], &coins).complete);
        assert_eq!(tx, before);
    }

    #[test]
    fn unsolved_inputs_get_cores_error_texts() {
        let wpkh = pubkey(1).wpubkey_hash().unwrap();
        let mut coins = vec![
            coin(ScriptBuf::new_p2pkh(&pubkey(3).pubkey_hash())),
            None,
            coin(ScriptBuf::new_p2wpkh(&wpkh)),
        ];
        let mut tx = spending(3);
        let signed = sign(&mut tx, &[1], &[], &coins);
        assert!(!signed.complete);
        assert_eq!(
            signed.errors,
            BTreeMap::from([
                (
                    0,
                    "Unable to sign input, invalid stack size (possibly missing key)".to_string()
                ),
                (1, "Input not found or already spent".to_string()),
            ])
        );
        // A witness spend of an output whose amount nobody gave.
        coins[2].as_mut().unwrap().value = UNKNOWN_AMOUNT;
        let signed = sign(&mut spending(3), &[1], &[], &coins);
        assert_eq!(
            signed.errors.get(&2).map(String::as_str),
            Some(MISSING_AMOUNT)
        );
    }

    #[test]
    fn push_all_uses_the_shortest_pushes() {
        let script = push_all(&[vec![], vec![5], vec![0x81], vec![0], vec![1, 2]]);
        assert_eq!(
            script.as_bytes(),
            [0x00, 0x55, 0x4f, 0x01, 0x00, 0x02, 0x01, 0x02]
        );
        assert_eq!(
            pushed_values(&script),
            [vec![], vec![5], vec![0x81], vec![0], vec![1, 2]]
        );
    }

    #[test]
    fn sighash_names_are_cores() {
        assert_eq!(sighash_from_str("ALL|ANYONECANPAY"), Some(0x81));
        assert_eq!(sighash_from_str("DEFAULT"), Some(0));
        assert_eq!(sighash_from_str("all"), None);
    }
}
