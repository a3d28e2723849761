//! net/transport: how messages travel on one connection: Core's v1 framing
//! (`codec`) or the BIP324 v2 encrypted transport (the `bip324` crate does
//! the key exchange and the ciphers). Inbound connections are told apart as
//! Core does, by whether the first 16 bytes are a v1 `version` header;
//! outbound ones start v2 when `-v2transport` is on and the caller falls
//! back to v1 on a new connection when the peer hangs up on the handshake.

use bip324::futures::{Protocol, ProtocolReader, ProtocolSessionReader, ProtocolWriter};
use bip324::io::{Payload, ProtocolError, ProtocolFailureSuggestion};
use bip324::{InboundCipher, PacketType, Role};
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::Magic;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use super::codec::{self, FrameError};

/// Core's MAX_PROTOCOL_MESSAGE_LENGTH, for v2 contents as for v1 payloads.
const MAX_CONTENTS: usize = 4 * 1000 * 1000 + 1;

/// Why a connection could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The peer hung up during the v2 handshake: it may speak v1 only.
    #[error("v2 handshake failed ({0}); the peer may speak v1 only")]
    RetryV1(String),
    #[error("v2 handshake failed: {0}")]
    Handshake(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The receiving half.
pub enum Reader {
    V1(OwnedReadHalf),
    V2(Box<V2Reader>),
}

/// BIP324 receiving: the crate's cipher over the bytes left from the
/// handshake and the socket. Packets are read here rather than with the
/// crate's `ProtocolReader::read`, which in 0.10 loops without end once the
/// peer closes the socket (it adds up zero-byte reads); 0.11 fixes that but
/// drops the message encoding this module uses.
pub struct V2Reader {
    cipher: InboundCipher,
    reader: ProtocolSessionReader<OwnedReadHalf>,
}

impl V2Reader {
    fn new(r: ProtocolReader<OwnedReadHalf>) -> V2Reader {
        let (cipher, reader) = r.into_inner();
        V2Reader { cipher, reader }
    }

    /// One packet's type and contents.
    async fn packet(&mut self) -> Result<(PacketType, Vec<u8>), FrameError> {
        let eof = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                FrameError::Closed
            } else {
                FrameError::Io(e)
            }
        };
        let mut len = [0u8; 3];
        self.reader.read_exact(&mut len).await.map_err(eof)?;
        // Header byte, contents and the 16-byte tag.
        let n = self.cipher.decrypt_packet_len(len);
        if n > MAX_CONTENTS + 1 + 16 {
            return Err(FrameError::TooLarge(n));
        }
        let mut packet = vec![0u8; n];
        self.reader.read_exact(&mut packet).await.map_err(eof)?;
        let (kind, mut plain) =
            self.cipher
                .decrypt_to_vec(&packet, None)
                .map_err(|e| FrameError::Malformed {
                    command: "v2 packet".into(),
                    why: e.to_string(),
                })?;
        // The header byte goes; the contents stay.
        if !plain.is_empty() {
            plain.remove(0);
        }
        Ok((kind, plain))
    }
}

/// The sending half.
pub enum Writer {
    V1(OwnedWriteHalf),
    V2(Box<ProtocolWriter<OwnedWriteHalf>>),
}

impl Reader {
    /// The next message and its size on the wire (decoy packets skipped).
    pub async fn read(&mut self, magic: Magic) -> Result<(NetworkMessage, usize), FrameError> {
        match self {
            Reader::V1(r) => codec::read_message(r, magic).await,
            Reader::V2(r) => loop {
                let (kind, contents) = r.packet().await?;
                if kind == PacketType::Decoy {
                    continue;
                }
                let msg =
                    bip324::serde::deserialize(&contents).map_err(|e| FrameError::Malformed {
                        command: "v2 message".into(),
                        why: e.to_string(),
                    })?;
                // Length, header byte, contents and tag.
                break Ok((msg, contents.len() + 3 + 1 + 16));
            },
        }
    }
}

impl Writer {
    /// Sends bytes made by [`encode`] for this transport.
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Writer::V1(w) => w.write_all(bytes).await,
            Writer::V2(w) => w
                .write(&Payload::genuine(bytes.to_vec()))
                .await
                .map_err(|e| std::io::Error::other(e.to_string())),
        }
    }
}

/// `msg` as the writer of transport `v2` takes it: a v1 frame, or v2
/// contents (short id or command, then the payload) to be encrypted.
pub fn encode(v2: bool, magic: Magic, msg: NetworkMessage) -> Vec<u8> {
    if v2 {
        bip324::serde::serialize(msg)
    } else {
        codec::encode(magic, msg)
    }
}

/// Whether `first` (the first bytes a peer sent) starts a v1 `version`
/// message for `magic`: Core's check for inbound connections.
fn looks_like_v1(first: &[u8], magic: Magic) -> bool {
    let mut prefix = magic.to_bytes().to_vec();
    prefix.extend_from_slice(b"version\0\0\0\0\0");
    let n = first.len().min(prefix.len());
    first[..n] == prefix[..n]
}

/// Sets up an inbound connection: v1 if it starts like v1, else the v2
/// responder handshake (when `v2` allows it; otherwise v1 regardless).
pub async fn accept(
    stream: TcpStream,
    magic: Magic,
    network: bitcoin::Network,
    v2: bool,
) -> Result<(Reader, Writer, bool), TransportError> {
    if v2 {
        let mut first = [0u8; 16];
        loop {
            let n = stream.peek(&mut first).await?;
            if n == 0 {
                return Err(TransportError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            if !looks_like_v1(&first[..n], magic) {
                return responder(stream, network).await;
            }
            if n == first.len() {
                break;
            }
            // A prefix of a v1 header so far: wait for more.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    let (r, w) = stream.into_split();
    Ok((Reader::V1(r), Writer::V1(w), false))
}

async fn responder(
    stream: TcpStream,
    network: bitcoin::Network,
) -> Result<(Reader, Writer, bool), TransportError> {
    let (r, w) = stream.into_split();
    let (reader, writer) = Protocol::new(network, Role::Responder, None, None, r, w)
        .await
        .map_err(|e| TransportError::Handshake(e.to_string()))?
        .into_split();
    Ok((
        Reader::V2(Box::new(V2Reader::new(reader))),
        Writer::V2(Box::new(writer)),
        true,
    ))
}

/// Sets up an outbound connection, v2 when `v2` (the caller retries with v1
/// on `RetryV1`).
pub async fn connect(
    stream: TcpStream,
    network: bitcoin::Network,
    v2: bool,
) -> Result<(Reader, Writer, bool), TransportError> {
    let (r, w) = stream.into_split();
    if !v2 {
        return Ok((Reader::V1(r), Writer::V1(w), false));
    }
    match Protocol::new(network, Role::Initiator, None, None, r, w).await {
        Ok(p) => {
            let (reader, writer) = p.into_split();
            Ok((
                Reader::V2(Box::new(V2Reader::new(reader))),
                Writer::V2(Box::new(writer)),
                true,
            ))
        }
        Err(ProtocolError::Io(e, ProtocolFailureSuggestion::RetryV1)) => {
            Err(TransportError::RetryV1(e.to_string()))
        }
        Err(e) => Err(TransportError::Handshake(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1_version_header_is_recognised_from_its_first_bytes() {
        let magic = bitcoin::Network::Regtest.magic();
        let mut v1 = magic.to_bytes().to_vec();
        v1.extend_from_slice(b"version\0\0\0\0\0");
        assert!(looks_like_v1(&v1, magic));
        assert!(
            looks_like_v1(&v1[..3], magic),
            "a prefix is still undecided"
        );
        assert!(!looks_like_v1(&[0x02; 16], magic));
        let mut ping = magic.to_bytes().to_vec();
        ping.extend_from_slice(b"ping\0\0\0\0\0\0\0\0");
        assert!(!looks_like_v1(&ping, magic));
    }
}
