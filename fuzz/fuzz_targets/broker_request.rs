//! The broker's decoder for what a (possibly compromised) child sends it.
//! Invariant: whatever decodes re-encodes to something that decodes to the same request.
#![no_main]

use bitcoin_mp::broker::channel::{decode_request, encode_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((id, req)) = decode_request(data) {
        let again =
            decode_request(&encode_request(id, &req)).expect("re-encoded request must decode");
        assert_eq!(again, (id, req));
    }
});
