//! A child's decoder for what the broker sends (replies and events).
//! Invariant: decode → encode → decode is stable.
#![no_main]

use bitcoin_mp::broker::channel::{decode_broker_message, encode_broker_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode_broker_message(data) {
        let again = decode_broker_message(&encode_broker_message(&msg))
            .expect("re-encoded message must decode");
        assert_eq!(again, msg);
    }
});
