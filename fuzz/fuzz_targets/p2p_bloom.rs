//! BIP37 bloom filters (`net::bloom`) fed what a peer controls: a
//! `filterload` message, then `filteradd` elements and transactions.
//!
//! Invariants:
//! - never panics (an empty filter, CVE-2013-5700, included);
//! - a filter over Core's limits (36000 bytes, 50 hash functions) is
//!   refused, one within them is taken;
//! - an added element is contained from then on;
//! - a transaction that matched matches again (filters only gain bits).
#![no_main]

use bitcoin::consensus::Decodable;
use bitcoin::p2p::message_bloom::FilterLoad;
use bitcoin::Transaction;
use bitcoin_mp::net::bloom::{BloomFilter, MAX_FILTER_SIZE, MAX_HASH_FUNCS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let Ok(load) = FilterLoad::consensus_decode(&mut rest) else {
        return;
    };
    let within = load.filter.len() <= MAX_FILTER_SIZE && load.hash_funcs <= MAX_HASH_FUNCS;
    let Some(mut filter) = BloomFilter::load(&load) else {
        assert!(!within, "a filter within the limits was refused");
        return;
    };
    assert!(within, "a filter over the limits was taken");
    // Then items: a tag byte says which; 0: an element (one length byte),
    // else a transaction.
    while let Some((&tag, tail)) = rest.split_first() {
        rest = tail;
        if tag == 0 {
            let Some((&n, tail)) = rest.split_first() else {
                return;
            };
            let n = (n as usize).min(tail.len());
            let (element, tail) = tail.split_at(n);
            rest = tail;
            filter.insert(element);
            assert!(filter.contains(element), "an added element is missing");
        } else {
            let Ok(tx) = Transaction::consensus_decode(&mut rest) else {
                return;
            };
            if filter.relevant_and_update(&tx) {
                assert!(filter.relevant_and_update(&tx), "a match was lost");
            }
        }
    }
});
