//! P2P v1 framing (`net::codec::read_message`) fed a peer's byte stream:
//! messages are read one after another until the first error, as the
//! connection loop does.
//!
//! Invariants, per message:
//! - never panics;
//! - the outcome follows from the 24-byte header alone where it should: too
//!   few bytes is `Closed`, another network's magic is `Magic`, a declared
//!   length over `MAX_MESSAGE` is `TooLarge` (refused before the payload is
//!   read), a payload shorter than declared is an I/O error;
//! - a decoded message consumed exactly header + declared length, and
//!   re-encodes (`codec::encode`) to a frame that decodes to the same message
//!   and re-encodes to the same bytes.
#![no_main]

use bitcoin::p2p::Magic;
use bitcoin_mp::net::codec::{encode, read_message, FrameError, MAX_MESSAGE};
use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;

const MAGIC: Magic = Magic::BITCOIN;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    loop {
        let before = rest;
        // `&[u8]` is a tokio AsyncRead that is always ready: no runtime needed.
        let result = block_on(read_message(&mut rest, MAGIC));
        if before.len() < 24 {
            assert!(matches!(result, Err(FrameError::Closed)), "{result:?}");
            return;
        }
        if before[..4] != MAGIC.to_bytes() {
            assert!(matches!(result, Err(FrameError::Magic(_))), "{result:?}");
            return;
        }
        let declared = u32::from_le_bytes(before[16..20].try_into().unwrap()) as usize;
        if declared > MAX_MESSAGE {
            assert!(
                matches!(result, Err(FrameError::TooLarge(n)) if n == declared),
                "{result:?}"
            );
            assert_eq!(
                rest.len(),
                before.len() - 24,
                "nothing read past the header"
            );
            return;
        }
        if before.len() < 24 + declared {
            assert!(matches!(result, Err(FrameError::Io(_))), "{result:?}");
            return;
        }
        let (msg, size) = match result {
            Ok(m) => m,
            Err(FrameError::Malformed { .. }) => return,
            // The frame was read whole: the next one follows.
            Err(FrameError::Undecodable { size, .. } | FrameError::AgainstRules { size, .. }) => {
                assert_eq!(size, declared);
                assert_eq!(before.len() - rest.len(), 24 + declared);
                continue;
            }
            Err(e) => panic!("a complete frame is a message or malformed, not {e:?}"),
        };
        assert_eq!(size, 24 + declared);
        assert_eq!(before.len() - rest.len(), size);

        let bytes = encode(MAGIC, msg.clone());
        let (again, n) = block_on(read_message(&mut &bytes[..], MAGIC))
            .unwrap_or_else(|e| panic!("re-encoded {msg:?} does not decode: {e}"));
        assert_eq!(n, bytes.len());
        assert_eq!(again, msg);
        assert_eq!(encode(MAGIC, again), bytes, "encoding is stable");
    }
});
