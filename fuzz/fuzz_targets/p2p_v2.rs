//! P2P v2 (BIP324, `net::transport`) fed what a peer sends. The first byte
//! picks the stage:
//!
//! - even: the handshake. The rest is the peer's byte stream to our
//!   responder (`transport::v2_handshake`): a 64-byte key, garbage, then what
//!   should be the garbage terminator and version packet. Nobody can produce
//!   the terminator without the session's keys, so every input must fail,
//!   without a panic, and after reading no more than the key, the garbage
//!   BIP324 allows and its terminator (plus one read's worth).
//! - odd: an established session. A handshake between our initiator and our
//!   responder runs once per process (over an in-memory pipe); each input then
//!   starts from clones of its ciphers. The rest is a list of packets,
//!   `[flags][length: u16 le][contents]`: flag bit 0 sends it as a decoy, bit
//!   1 flips one byte of the encrypted packet. They are encrypted with the
//!   peer's cipher and read back with `V2Reader`, as the connection loop
//!   does.
//!
//! Invariants of the session stage: decoys never surface; each intact genuine
//! packet, in order, is a message whose size on the wire is its contents plus
//! the v2 overhead, and whose v2 encoding decodes to the same message and
//! re-encodes to the same bytes, or is `Malformed` and ends the reading; a
//! flipped byte is `Malformed` (the tag does not match) and ends it; after the
//! last packet the reader reports `Closed`.
#![no_main]

use std::sync::OnceLock;

use bip324::{InboundCipher, OutboundCipher, PacketType, Role};
use bitcoin_mp::net::codec::FrameError;
use bitcoin_mp::net::transport::{encode, v2_handshake, V2Reader, V2_OVERHEAD};
use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;

const NETWORK: bitcoin::Network = bitcoin::Network::Bitcoin;
/// BIP324's limit on garbage before the terminator.
const MAX_GARBAGE: usize = 4095;

/// (the peer's sending cipher, our receiving cipher) of one real handshake.
fn session() -> &'static (OutboundCipher, InboundCipher) {
    static SESSION: OnceLock<(OutboundCipher, InboundCipher)> = OnceLock::new();
    SESSION.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let (peer, ours) = tokio::io::duplex(1 << 16);
            let (peer_r, mut peer_w) = tokio::io::split(peer);
            let (ours_r, mut ours_w) = tokio::io::split(ours);
            let (peer_side, our_side) = tokio::join!(
                v2_handshake(NETWORK, Role::Initiator, peer_r, &mut peer_w),
                v2_handshake(NETWORK, Role::Responder, ours_r, &mut ours_w),
            );
            let (_, peer_out, peer_id) = peer_side.unwrap();
            let (our_reader, _, our_id) = our_side.unwrap();
            assert_eq!(peer_id, our_id, "both ends derive the same session id");
            (peer_out, our_reader.into_cipher())
        })
    })
}

fn handshake(stream: &[u8]) {
    let input = std::io::Cursor::new(stream.to_vec());
    let counted = CountingReader::default();
    let reader = counted.wrap(input);
    let result = block_on(v2_handshake(
        NETWORK,
        Role::Responder,
        reader,
        &mut tokio::io::sink(),
    ));
    assert!(
        result.is_err(),
        "a handshake without the session keys completed"
    );
    assert!(
        counted.read() <= 64 + MAX_GARBAGE + 16 + 256,
        "read {} bytes of a handshake that cannot complete",
        counted.read()
    );
}

fn packets(mut data: &[u8]) {
    let (peer_out, our_in) = session();
    let mut peer_out = peer_out.clone();
    // What goes on the wire, and what the reader must see, in order.
    let mut wire = Vec::new();
    let mut expected: Vec<Option<Vec<u8>>> = Vec::new();
    while data.len() >= 3 {
        let flags = data[0];
        let len = (u16::from_le_bytes([data[1], data[2]]) as usize).min(data.len() - 3);
        let contents = &data[3..3 + len];
        data = &data[3 + len..];
        let kind = if flags & 1 == 1 {
            PacketType::Decoy
        } else {
            PacketType::Genuine
        };
        let mut packet = peer_out.encrypt_to_vec(contents, kind, None);
        if flags & 2 == 2 {
            let at = 3 + (contents.len() + flags as usize) % (packet.len() - 3);
            packet[at] ^= 0x80;
            wire.extend_from_slice(&packet);
            expected.push(None);
            break;
        }
        wire.extend_from_slice(&packet);
        if kind == PacketType::Genuine {
            expected.push(Some(contents.to_vec()));
        }
    }
    let mut reader = V2Reader::new(our_in.clone(), Box::new(std::io::Cursor::new(wire)));
    for want in expected {
        let got = block_on(reader.read());
        let Some(contents) = want else {
            assert!(
                matches!(got, Err(FrameError::Malformed { .. })),
                "a flipped byte gave {got:?}"
            );
            return;
        };
        let (msg, size) = match got {
            Ok(m) => m,
            Err(FrameError::Malformed { .. }) => return,
            // A message against its own rules (a sendcmpct announce byte
            // above 1): the packet was read whole, the next one follows.
            Err(FrameError::AgainstRules { size, .. }) => {
                assert_eq!(size, contents.len());
                continue;
            }
            Err(e) => panic!("an intact packet is a message or malformed, not {e:?}"),
        };
        assert_eq!(size, contents.len() + V2_OVERHEAD);
        let bytes = encode(true, bitcoin::p2p::Magic::BITCOIN, msg.clone());
        let again = bip324::serde::deserialize(&bytes)
            .unwrap_or_else(|e| panic!("re-encoded {msg:?} does not decode: {e}"));
        assert_eq!(again, msg);
        assert_eq!(encode(true, bitcoin::p2p::Magic::BITCOIN, again), bytes);
    }
    let end = block_on(reader.read());
    assert!(
        matches!(end, Err(FrameError::Closed)),
        "after the last packet: {end:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&stage, rest)) = data.split_first() else {
        return;
    };
    if stage % 2 == 0 {
        handshake(rest);
    } else {
        packets(rest);
    }
});

/// Counts the bytes a reader hands out (shared with the test through an Arc).
#[derive(Default, Clone)]
struct CountingReader(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl CountingReader {
    fn wrap<R: tokio::io::AsyncRead + Unpin + Send + 'static>(&self, inner: R) -> Counted<R> {
        Counted {
            inner,
            count: self.0.clone(),
        }
    }

    fn read(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

struct Counted<R> {
    inner: R,
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Counted<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.count
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        r
    }
}
