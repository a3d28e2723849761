//! MuHash3072: Bitcoin Core's multiset hash of the UTXO set
//! (`src/crypto/muhash.{h,cpp}`), what `gettxoutsetinfo muhash` reports.
//!
//! An element (for the UTXO set, one coin serialized as Core's `TxOutSer`) is
//! SHA-256'd; that 32-byte digest keys ChaCha20 (zero nonce, block counter
//! from 0) and the first 384 bytes of its keystream, read little-endian, are
//! the element's 3072-bit number. A set is the product of its elements'
//! numbers modulo 2^3072 - 1103717 (the largest 3072-bit safe prime), divided
//! by the product of the removed ones; its digest is the SHA-256 of that value
//! written as 384 little-endian bytes. The product does not depend on the
//! order, so coins can be hashed in whatever order the index yields them.
//!
//! Core hand-writes 48-limb arithmetic and a safegcd inverse for speed. Here
//! the arithmetic is `num-bigint`'s (multiply, shifts, modular inverse; the
//! reduction uses the modulus' form as Core's does, see `reduce`) and
//! ChaCha20 is the `chacha20` crate's, so no cryptographic primitive is
//! written by hand. Callers print the digest as Core's `uint256::GetHex`
//! does, byte-reversed (see `core_hex`).

use std::sync::LazyLock;

use bitcoin::hashes::{sha256, Hash};
use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use num_bigint::BigUint;

/// Bytes of a 3072-bit number.
const BYTE_SIZE: usize = 384;
/// 2^3072 - MAX_PRIME_DIFF is the modulus.
const MAX_PRIME_DIFF: u32 = 1_103_717;

fn one() -> BigUint {
    BigUint::from(1u8)
}

static MODULUS: LazyLock<BigUint> =
    LazyLock::new(|| (one() << (BYTE_SIZE * 8)) - BigUint::from(MAX_PRIME_DIFF));

/// A multiset of byte strings, hashed as Core's `MuHash3072`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuHash3072 {
    numerator: BigUint,
    denominator: BigUint,
}

impl Default for MuHash3072 {
    fn default() -> Self {
        MuHash3072::new()
    }
}

impl MuHash3072 {
    /// The empty set.
    pub fn new() -> MuHash3072 {
        MuHash3072 {
            numerator: one(),
            denominator: one(),
        }
    }

    /// Adds `data` to the set (Core's `Insert`).
    pub fn insert(&mut self, data: &[u8]) {
        self.numerator = reduce(&self.numerator * to_num3072(data));
    }

    /// Takes `data` out of the set (Core's `Remove`).
    pub fn remove(&mut self, data: &[u8]) {
        self.denominator = reduce(&self.denominator * to_num3072(data));
    }

    /// SHA-256 of numerator / denominator, as 384 little-endian bytes (Core's
    /// `Finalize`). These are the digest's bytes as SHA-256 writes them;
    /// `core_hex` prints them the way Core's RPC does.
    pub fn finalize(&self) -> sha256::Hash {
        let value = if self.denominator == one() {
            reduce(self.numerator.clone())
        } else {
            // The modulus is prime, so only a multiple of it has no inverse;
            // Core's safegcd gives 0 for that, and so does this.
            let inverse = self
                .denominator
                .modinv(&MODULUS)
                .unwrap_or_else(|| BigUint::from(0u8));
            reduce(&self.numerator * inverse)
        };
        sha256::Hash::hash(&to_bytes(&value))
    }
}

/// `x` modulo 2^3072 - MAX_PRIME_DIFF. As 2^3072 is MAX_PRIME_DIFF modulo
/// that, `hi * 2^3072 + lo` folds to `hi * MAX_PRIME_DIFF + lo` until it fits
/// in 3072 bits, and then it is below twice the modulus: this is Core's
/// reduction, here in `num-bigint` operations, and over twice as fast as
/// `x % MODULUS` (num-bigint's long division) on a product of two elements.
fn reduce(mut x: BigUint) -> BigUint {
    const BITS: usize = BYTE_SIZE * 8;
    while x.bits() > BITS as u64 {
        let hi = &x >> BITS;
        let lo = x - (&hi << BITS);
        x = lo + hi * MAX_PRIME_DIFF;
    }
    if x >= *MODULUS {
        x -= &*MODULUS;
    }
    x
}

/// A digest as Core's `uint256::GetHex` prints it: bytes reversed.
pub fn core_hex(digest: &sha256::Hash) -> String {
    use bitcoin::hex::DisplayHex;
    let mut bytes = digest.to_byte_array();
    bytes.reverse();
    bytes.to_lower_hex_string()
}

/// Core's `MuHash3072::ToNum3072`: SHA-256 of `data` keys a ChaCha20
/// keystream; its first 384 bytes, little-endian (not reduced: the product
/// reduces).
fn to_num3072(data: &[u8]) -> BigUint {
    let key = sha256::Hash::hash(data).to_byte_array();
    let mut stream = [0u8; BYTE_SIZE];
    ChaCha20::new(&key.into(), &[0u8; 12].into()).apply_keystream(&mut stream);
    BigUint::from_bytes_le(&stream)
}

/// A value below the modulus as Core's `Num3072::ToBytes`: 384 bytes,
/// little-endian.
fn to_bytes(value: &BigUint) -> [u8; BYTE_SIZE] {
    let mut out = [0u8; BYTE_SIZE];
    let le = value.to_bytes_le();
    out[..le.len()].copy_from_slice(&le);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hex::DisplayHex;

    /// Core's `FromInt(i)` in crypto_tests.cpp: 32 bytes, `i` then zeros.
    fn from_int(i: u8) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[0] = i;
        b
    }

    #[test]
    fn cores_insert_insert_remove_vector() {
        // crypto_tests.cpp muhash_tests (acc2) and the Python framework's
        // muhash.py self-test: {0} * {1} / {2}, printed as uint256 GetHex.
        let mut acc = MuHash3072::new();
        acc.insert(&from_int(0));
        acc.insert(&from_int(1));
        acc.remove(&from_int(2));
        assert_eq!(
            core_hex(&acc.finalize()),
            "10d312b100cbd32ada024a6646e40d3482fcff103668d2625f10002a607d5863"
        );
    }

    #[test]
    fn the_product_matches_cores_serialization_vector() {
        // crypto_tests.cpp: FromInt(1) *= FromInt(2) serializes its numerator
        // (384 bytes little-endian) first; these are that string's first bytes.
        let mut acc = MuHash3072::new();
        acc.insert(&from_int(1));
        acc.insert(&from_int(2));
        let ser = to_bytes(&acc.numerator).to_lower_hex_string();
        assert!(ser.starts_with(
            "1fa093295ea30a6a3acdc7b3f770fa538eff537528e990e2910e40bbcfd7f6696b1256901"
        ));
        assert_eq!(acc.denominator, one());
    }

    #[test]
    fn an_unreduced_numerator_is_reduced_before_hashing() {
        // crypto_tests.cpp's overflow vector: numerator 2^3072 - 1 (above the
        // modulus), denominator 1; compared as HexStr, not reversed.
        let acc = MuHash3072 {
            numerator: BigUint::from_bytes_le(&[0xff; BYTE_SIZE]),
            denominator: one(),
        };
        assert_eq!(
            acc.finalize().to_byte_array().to_lower_hex_string(),
            "3a31e6903aff0de9f62f9a9f7f8b861de76ce2cda09822b90014319ae5dc2271"
        );
    }

    #[test]
    fn reduce_agrees_with_the_remainder() {
        let p: &BigUint = &MODULUS;
        let max = BigUint::from_bytes_le(&[0xff; BYTE_SIZE]);
        let a = to_num3072(b"a");
        let b = to_num3072(b"b");
        for x in [
            BigUint::from(0u8),
            one(),
            p - 1u8,
            p.clone(),
            p + 1u8,
            max.clone(),
            &max * &max,
            (p - 1u8) * (p - 1u8),
            &a * &b,
            &a * &max,
        ] {
            assert_eq!(reduce(x.clone()), &x % p, "{x:x}");
        }
    }

    #[test]
    fn the_empty_set_hashes_the_number_one() {
        let mut one = [0u8; BYTE_SIZE];
        one[0] = 1;
        assert_eq!(MuHash3072::new().finalize(), sha256::Hash::hash(&one));
        // What Core's Python MuHash3072().digest() gives, reversed.
        assert_eq!(
            core_hex(&MuHash3072::default().finalize()),
            "dd5ad2a105c2d29495f577245c357409002329b9f4d6182c0af3dc2f462555c8"
        );
    }

    #[test]
    fn order_does_not_matter_and_remove_undoes_insert() {
        let items: Vec<Vec<u8>> = (0u8..6).map(|i| vec![i; i as usize + 1]).collect();
        let mut forward = MuHash3072::new();
        items.iter().for_each(|d| forward.insert(d));
        let mut backward = MuHash3072::new();
        items.iter().rev().for_each(|d| backward.insert(d));
        assert_eq!(forward.finalize(), backward.finalize());

        let mut undone = forward.clone();
        items.iter().for_each(|d| undone.remove(d));
        assert_eq!(undone.finalize(), MuHash3072::new().finalize());
        undone.insert(&items[3]);
        let mut single = MuHash3072::new();
        single.insert(&items[3]);
        assert_eq!(undone.finalize(), single.finalize());
    }
}
