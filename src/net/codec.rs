//! P2P v1 framing (Core's message header: magic, command, length, checksum):
//! reading one message with every length bounded before anything is
//! allocated, and encoding one. Payloads are rust-bitcoin's `p2p` messages.

use bitcoin::consensus::encode::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::hex::DisplayHex;
use bitcoin::p2p::message::{NetworkMessage, RawNetworkMessage};
use bitcoin::p2p::Magic;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Core's MAX_PROTOCOL_MESSAGE_LENGTH.
pub const MAX_MESSAGE: usize = 4_000_000;
const HEADER: usize = 24;

/// Why a peer's bytes are not a message.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("read: {0}")]
    Io(#[from] std::io::Error),
    #[error("wrong network magic {0:02x?}")]
    Magic([u8; 4]),
    #[error("oversized message ({0} bytes)")]
    TooLarge(usize),
    #[error("malformed {command} message: {why}")]
    Malformed { command: String, why: String },
    /// A whole frame with a good checksum whose payload does not decode:
    /// Core logs it and goes on with the peer's next message.
    #[error("{command} message ({size} bytes) does not decode: {why}")]
    Undecodable {
        command: String,
        size: usize,
        why: String,
    },
    /// A message that decodes but breaks a rule of its own (Core's
    /// Misbehaving on reading it): the connection goes on only for peers
    /// that are not punished.
    #[error("{command} message: {why}")]
    AgainstRules {
        command: String,
        size: usize,
        why: String,
    },
}

impl FrameError {
    /// Whether the connection can go on after this (the frame was read
    /// whole and only its payload was bad).
    pub fn is_recoverable(&self) -> bool {
        matches!(self, FrameError::Undecodable { .. })
    }
}

/// Rules a decoded payload may break that its decoded form no longer
/// shows (rust-bitcoin reads any non-zero byte as `true`): Core's
/// "invalid sendcmpct announce field" for an announce byte above 1.
pub fn broken_rule(command: &str, payload: &[u8]) -> Option<&'static str> {
    (command == "sendcmpct" && payload.first().is_some_and(|b| *b > 1))
        .then_some("invalid sendcmpct announce field")
}

/// Reads one message; returns it with its size on the wire.
pub async fn read_message<R: AsyncRead + Unpin>(
    r: &mut R,
    magic: Magic,
) -> Result<(NetworkMessage, usize), FrameError> {
    let mut buf = vec![0u8; HEADER];
    match r.read_exact(&mut buf).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    // Core's "Header error" lines are logged here, where the frame is
    // known; the caller logs the peer it came from.
    let got: [u8; 4] = buf[..4].try_into().unwrap_or_default();
    if got != magic.to_bytes() {
        tracing::debug!(target: "net", "Header error: Wrong MessageStart {} received", got.to_lower_hex_string());
        return Err(FrameError::Magic(got));
    }
    // Core's SanitizeString for the log: the safe characters only.
    let command: String = String::from_utf8_lossy(&buf[4..16])
        .trim_end_matches('\0')
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " .,;-_/:?@()".contains(*c))
        .collect();
    let len = u32::from_le_bytes(buf[16..20].try_into().unwrap_or_default()) as usize;
    if len > MAX_MESSAGE {
        tracing::debug!(target: "net", "Header error: Size too large ({command}, {len} bytes)");
        return Err(FrameError::TooLarge(len));
    }
    buf.resize(HEADER + len, 0);
    r.read_exact(&mut buf[HEADER..]).await?;
    // A wrong checksum is a broken frame; a right one over a payload that
    // does not parse is only a bad message.
    let sum = bitcoin::hashes::sha256d::Hash::hash(&buf[HEADER..]).to_byte_array();
    if sum[..4] != buf[20..24] {
        tracing::debug!(target: "net", "Header error: Wrong checksum ({command}, {len} bytes), expected {} was {}", sum[..4].to_lower_hex_string(), buf[20..24].to_lower_hex_string());
        return Err(FrameError::Malformed {
            command,
            why: "bad checksum".into(),
        });
    }
    // Core's CMessageHeader::IsMessageTypeValid: printable ASCII, then
    // only zero bytes.
    let type_bytes = &buf[4..16];
    let end = type_bytes.iter().position(|b| *b == 0).unwrap_or(12);
    if !type_bytes[..end].iter().all(|b| (b' '..=0x7e).contains(b))
        || type_bytes[end..].iter().any(|b| *b != 0)
    {
        tracing::debug!(target: "net", "Header error: Invalid message type ({command}, {len} bytes)");
        return Err(FrameError::Undecodable {
            command: "*other*".into(),
            size: len,
            why: "invalid message type".into(),
        });
    }
    if let Some(why) = broken_rule(&command, &buf[HEADER..]) {
        return Err(FrameError::AgainstRules {
            command,
            size: len,
            why: why.into(),
        });
    }
    if let Some(msg) = read_as_core_does(&command, &buf[HEADER..]) {
        return Ok((msg, buf.len()));
    }
    let raw: RawNetworkMessage = deserialize(&buf).map_err(|e| FrameError::Undecodable {
        why: tx_witness_error(&command, &buf[HEADER..], &e).unwrap_or_else(|| decode_error(&e)),
        command,
        size: len,
    })?;
    Ok((raw.into_payload(), buf.len()))
}

/// The transaction Core reads from a `tx` payload of a version, an empty
/// input list, a zero byte and a lock time: one with neither inputs nor
/// outputs (Core takes the zero after the empty list for a witness flag of
/// 0, which means no witness and no outputs). rust-bitcoin refuses that
/// flag; the transaction then gets the mempool's verdict
/// ("bad-txns-vin-empty") as in Core, instead of a decoding error.
pub fn bare_transaction(payload: &[u8]) -> Option<bitcoin::Transaction> {
    let (version, rest) = payload.split_first_chunk::<4>()?;
    let ([0, 0], lock_time) = rest.split_first_chunk::<2>()? else {
        return None;
    };
    let lock_time: [u8; 4] = lock_time.try_into().ok()?;
    Some(bitcoin::Transaction {
        version: bitcoin::transaction::Version(i32::from_le_bytes(*version)),
        lock_time: bitcoin::absolute::LockTime::from_consensus(u32::from_le_bytes(lock_time)),
        input: Vec::new(),
        output: Vec::new(),
    })
}

/// A `tx` or `block` message as Core reads it where rust-bitcoin does not:
/// holding a transaction without inputs or outputs (see
/// [`bare_transaction`]), or followed by bytes it does not use (Core reads
/// what it needs off the message and ignores the rest; a witness list
/// longer than the inputs leaves such bytes, and a block read that way
/// fails its merkle root). None for anything else.
pub fn read_as_core_does(command: &str, payload: &[u8]) -> Option<NetworkMessage> {
    use bitcoin::consensus::deserialize_partial;
    match command {
        "tx" => bare_transaction(payload)
            .or_else(|| deserialize_partial(payload).ok().map(|(tx, _)| tx))
            .map(NetworkMessage::Tx),
        "block" => read_block(payload).map(NetworkMessage::Block),
        _ => None,
    }
}

/// A block as Core reads it, in one pass: the header, the count, then each
/// transaction decoded by rust-bitcoin unless it is bare (its version
/// followed by two zero bytes); bytes after the last transaction are
/// ignored. None when the payload does not hold that much.
fn read_block(payload: &[u8]) -> Option<bitcoin::Block> {
    use bitcoin::consensus::Decodable;
    const BARE_LEN: usize = 10;
    let mut cursor = bitcoin::io::Cursor::new(payload);
    let header = bitcoin::block::Header::consensus_decode(&mut cursor).ok()?;
    let count = bitcoin::VarInt::consensus_decode(&mut cursor).ok()?.0;
    // Every transaction takes ten bytes at least.
    if count > (payload.len() / BARE_LEN) as u64 {
        return None;
    }
    let mut txdata = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let at = cursor.position() as usize;
        let rest = payload.get(at..)?;
        if rest.get(4..6) == Some(&[0, 0]) {
            txdata.push(bare_transaction(rest.get(..BARE_LEN)?)?);
            cursor.set_position((at + BARE_LEN) as u64);
        } else {
            txdata.push(bitcoin::Transaction::consensus_decode(&mut cursor).ok()?);
        }
    }
    Some(bitcoin::Block { header, txdata })
}

/// A payload decoding error in words close to Core's exceptions: a payload
/// cut short is Core's "end of data"; otherwise the error and its cause.
/// Core's exception for a `tx` whose segwit flag rust-bitcoin refuses:
/// with the witness bit set, Core reads the witnesses first ("Superfluous
/// witness record" when all are empty), then refuses other bits ("Unknown
/// transaction optional data").
fn tx_witness_error(
    command: &str,
    payload: &[u8],
    e: &bitcoin::consensus::encode::Error,
) -> Option<String> {
    use bitcoin::consensus::encode::Error;
    let Error::UnsupportedSegwitFlag(flag) = e else {
        return None;
    };
    if command != "tx" {
        return None;
    }
    let unknown = Some("Unknown transaction optional data".to_string());
    if flag & 1 == 0 || payload.get(4) != Some(&0) {
        return unknown;
    }
    // The same transaction with the witness bit alone.
    let mut as_witness = payload.to_vec();
    as_witness[5] = 1;
    match bitcoin::consensus::deserialize_partial::<bitcoin::Transaction>(&as_witness) {
        Err(Error::ParseFailed(why)) if why.contains("no witnesses") => {
            Some("Superfluous witness record".into())
        }
        _ => unknown,
    }
}

fn decode_error(e: &bitcoin::consensus::encode::Error) -> String {
    use bitcoin::consensus::encode::Error;
    match e {
        Error::Io(io) if io.kind() == bitcoin::io::ErrorKind::UnexpectedEof => {
            "DataStream::read(): end of data".into()
        }
        Error::Io(io) => format!("{e}: {io}"),
        Error::NonMinimalVarInt => "non-canonical ReadCompactSize()".into(),
        Error::ParseFailed(why) if why.contains("no witnesses") => {
            "Superfluous witness record".into()
        }
        e => e.to_string(),
    }
}

/// One message as it goes on the wire.
pub fn encode(magic: Magic, message: NetworkMessage) -> Vec<u8> {
    // Test builds with `ipc-record` log each frame for fuzz seeds.
    let command = cfg!(feature = "ipc-record").then(|| message.command());
    let frame = serialize(&RawNetworkMessage::new(magic, message));
    if let Some(command) = command {
        crate::ipc::debug::record_bytes(&format!("P2P.{command}"), &frame);
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_runtime as rt;

    #[test]
    fn messages_round_trip_and_bad_frames_are_refused() {
        let magic = Magic::REGTEST;
        let bytes = encode(magic, NetworkMessage::Ping(42));
        let (msg, n) = rt().block_on(read_message(&mut &bytes[..], magic)).unwrap();
        assert_eq!((msg, n), (NetworkMessage::Ping(42), bytes.len()));
        // Another network's magic.
        assert!(matches!(
            rt().block_on(read_message(&mut &bytes[..], Magic::BITCOIN)),
            Err(FrameError::Magic(_))
        ));
        // A flipped payload byte breaks the checksum.
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(
            rt().block_on(read_message(&mut &bad[..], magic)),
            Err(FrameError::Malformed { .. })
        ));
        // A length over the limit is refused before anything is read.
        let mut huge = bytes[..24].to_vec();
        huge[16..20].copy_from_slice(&(MAX_MESSAGE as u32 + 1).to_le_bytes());
        assert!(matches!(
            rt().block_on(read_message(&mut &huge[..], magic)),
            Err(FrameError::TooLarge(_))
        ));
        assert!(matches!(
            rt().block_on(read_message(&mut &[][..], magic)),
            Err(FrameError::Closed)
        ));
        // A good checksum over a payload that is not an `addr`: only that
        // message is bad (Core's sendmsgtopeer test sends such).
        let mut frame = bytes[..24].to_vec();
        frame[4..16].copy_from_slice(b"addr\0\0\0\0\0\0\0\0");
        frame[16..20].copy_from_slice(&3u32.to_le_bytes());
        let payload = [0xff, 0xff, 0xff];
        let sum = bitcoin::hashes::sha256d::Hash::hash(&payload).to_byte_array();
        frame[20..24].copy_from_slice(&sum[..4]);
        frame.extend_from_slice(&payload);
        let got = rt().block_on(read_message(&mut &frame[..], magic));
        assert!(
            matches!(&got, Err(e @ FrameError::Undecodable { size: 3, .. }) if e.is_recoverable()),
            "{got:?}"
        );
    }

    #[test]
    fn a_sendcmpct_announce_byte_above_one_breaks_a_rule() {
        let magic = Magic::REGTEST;
        let frame = |announce: u8| {
            let payload = [&[announce][..], &2u64.to_le_bytes()].concat();
            let mut frame = magic.to_bytes().to_vec();
            frame.extend_from_slice(b"sendcmpct\0\0\0");
            frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            let sum = bitcoin::hashes::sha256d::Hash::hash(&payload).to_byte_array();
            frame.extend_from_slice(&sum[..4]);
            frame.extend_from_slice(&payload);
            frame
        };
        let good = rt().block_on(read_message(&mut &frame(1)[..], magic));
        assert!(
            matches!(&good, Ok((NetworkMessage::SendCmpct(s), _)) if s.send_compact && s.version == 2),
            "{good:?}"
        );
        let bad = rt().block_on(read_message(&mut &frame(2)[..], magic));
        assert!(
            matches!(&bad, Err(FrameError::AgainstRules { why, size: 9, .. }) if why == "invalid sendcmpct announce field"),
            "{bad:?}"
        );
    }

    #[test]
    fn a_tx_with_neither_inputs_nor_outputs_is_read_as_core_reads_it() {
        let magic = Magic::REGTEST;
        let frame = |payload: &[u8]| {
            let mut frame = magic.to_bytes().to_vec();
            frame.extend_from_slice(b"tx\0\0\0\0\0\0\0\0\0\0");
            frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            let sum = bitcoin::hashes::sha256d::Hash::hash(payload).to_byte_array();
            frame.extend_from_slice(&sum[..4]);
            frame.extend_from_slice(payload);
            frame
        };
        // Version 2, no inputs, a zero flag, lock time 7.
        let payload = [2, 0, 0, 0, 0, 0, 7, 0, 0, 0];
        let got = rt().block_on(read_message(&mut &frame(&payload)[..], magic));
        let Ok((NetworkMessage::Tx(tx), 34)) = got else {
            panic!("{got:?}");
        };
        assert!(tx.input.is_empty() && tx.output.is_empty());
        assert_eq!((tx.version.0, tx.lock_time.to_consensus_u32()), (2, 7));
        // Its txid is Core's: the hash of those ten bytes.
        assert_eq!(
            tx.compute_txid().to_byte_array(),
            bitcoin::hashes::sha256d::Hash::hash(&payload).to_byte_array()
        );
        // Bytes after a transaction are left unread, as Core reads them.
        let mut tx2 = tx.clone();
        tx2.input.push(bitcoin::TxIn::default());
        let mut long = bitcoin::consensus::serialize(&tx2);
        long.extend_from_slice(&[0xde, 0xad]);
        let got = rt().block_on(read_message(&mut &frame(&long)[..], magic));
        assert!(
            matches!(&got, Ok((NetworkMessage::Tx(t), _)) if *t == tx2),
            "{got:?}"
        );
        // A witness flag of 1 with nothing after it is still undecodable.
        let got = rt().block_on(read_message(
            &mut &frame(&[2, 0, 0, 0, 0, 1, 7, 0, 0, 0])[..],
            magic,
        ));
        assert!(
            matches!(got, Err(FrameError::Undecodable { .. })),
            "{got:?}"
        );
    }
}
