//! The broker channel's wire: one Cap'n Proto message per SOCK_SEQPACKET
//! datagram, file descriptors beside it in SCM_RIGHTS, and the typed messages
//! both ends exchange. Decoding is strict and bounded; nothing here trusts the peer.

use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use capnp::message::{Builder, ReaderOptions};
use capnp::serialize;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::schema::broker_capnp;

/// Largest datagram either side sends or accepts.
pub const MAX_DATAGRAM: usize = 64 * 1024;
/// Most descriptors one message may carry.
pub const MAX_FDS: usize = 4;

/// Decoding limits for broker-channel and log messages: small and shallow, as
/// nothing on this channel is bigger than a settings list.
pub fn reader_options() -> ReaderOptions {
    let mut opts = ReaderOptions::new();
    opts.traversal_limit_in_words(Some(MAX_DATAGRAM / 8 * 2))
        .nesting_limit(8);
    opts
}

/// Errors on the broker channel.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("broker channel I/O: {0}")]
    Io(#[from] io::Error),
    #[error("broker channel datagram truncated (over {MAX_DATAGRAM} bytes or too many fds)")]
    Truncated,
    #[error("malformed broker message: {0}")]
    Malformed(#[from] capnp::Error),
    #[error("malformed broker message: {0}")]
    Invalid(String),
}

/// One datagram and the descriptors that came with it (closed on drop).
pub struct Datagram {
    pub bytes: Vec<u8>,
    pub fds: Vec<OwnedFd>,
}

/// An async SOCK_SEQPACKET endpoint.
pub struct Channel {
    fd: AsyncFd<OwnedFd>,
}

impl Channel {
    /// Wraps a connected SOCK_SEQPACKET socket (must be inside a tokio runtime).
    pub fn new(fd: OwnedFd) -> io::Result<Channel> {
        nix::fcntl::fcntl(
            &fd,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .map_err(io::Error::from)?;
        // SAFETY: the OwnedFd is moved into the AsyncFd, which neither replaces
        // nor closes it while registered.
        Ok(Channel {
            fd: unsafe {
                AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE)?
            },
        })
    }

    /// Sends one datagram with `fds` attached.
    pub async fn send(&self, bytes: &[u8], fds: &[RawFd]) -> Result<(), ChannelError> {
        if bytes.len() > MAX_DATAGRAM || fds.len() > MAX_FDS {
            return Err(ChannelError::Truncated);
        }
        loop {
            let mut guard = self.fd.writable().await?;
            let res = guard.try_io(|inner| {
                let iov = [IoSlice::new(bytes)];
                let cmsg = [ControlMessage::ScmRights(fds)];
                let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &cmsg };
                sendmsg::<()>(inner.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)
                    .map_err(io::Error::from)
            });
            match res {
                Ok(r) => return r.map(|_| ()).map_err(ChannelError::Io),
                Err(_would_block) => continue,
            }
        }
    }

    /// Receives one datagram; `None` when the peer has closed its end.
    pub async fn recv(&self) -> Result<Option<Datagram>, ChannelError> {
        loop {
            let mut guard = self.fd.readable().await?;
            let attempt = guard.try_io(|inner| match recv_datagram(inner.as_raw_fd()) {
                Err(ChannelError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Err(e),
                other => Ok(other),
            });
            match attempt {
                Ok(r) => return r.map_err(ChannelError::Io).and_then(|inner| inner),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Blocking-or-not receive of one datagram on `fd` (whatever the fd's mode).
pub fn recv_datagram(fd: RawFd) -> Result<Option<Datagram>, ChannelError> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut cmsg_space = nix::cmsg_space!([RawFd; MAX_FDS]);
    let (len, flags, fds) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            fd,
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(io::Error::from)?;
        let mut fds = Vec::new();
        for c in msg.cmsgs().map_err(io::Error::from)? {
            if let ControlMessageOwned::ScmRights(received) = c {
                // SAFETY: the kernel just installed these fds in our table for us.
                fds.extend(
                    received
                        .into_iter()
                        .map(|f| unsafe { OwnedFd::from_raw_fd(f) }),
                );
            }
        }
        (msg.bytes, msg.flags, fds)
    };
    if flags.intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC) {
        return Err(ChannelError::Truncated);
    }
    if len == 0 && fds.is_empty() {
        return Ok(None);
    }
    buf.truncate(len);
    Ok(Some(Datagram { bytes: buf, fds }))
}

/// What a child may ask the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The settings for the asking child's role.
    GetSettings,
    /// Node worker only: start a wallet process for wallet `name`, whose
    /// directory the broker makes (`create`) or finds.
    SpawnWallet { name: String, create: bool },
    /// Node worker only: the wallets in the wallet directory.
    ListWalletDir,
    /// Open a file under the role's root; the reply carries the fd.
    OpenFile(super::files::OpenRequest),
    /// Node worker only: the JSON-RPC listening sockets (fds beside the reply).
    RpcServer,
    /// Node worker only: stop the node (the `stop` RPC).
    RequestShutdown,
    /// Node worker only: an outbound connection to `host:port`; the reply
    /// carries the socket.
    Connect(String),
    /// Node worker only: the P2P listening sockets (fds beside the reply).
    P2pServer,
    /// Node worker only: rename a file in its root over another.
    RenameFile { from: String, to: String },
    /// Node worker only: delete a read-once file in its root (anchors.dat).
    RemoveFile(String),
    /// Node worker only (backupwallet): copy wallet `wallet`'s staged backup to `path`.
    ExportBackup { wallet: String, path: String },
    /// Node worker only (restorewallet): copy the backup at `path` in as wallet `wallet`.
    RestoreWallet { wallet: String, path: String },
}

impl Request {
    /// Method name for logs and denials.
    pub fn method(&self) -> &'static str {
        match self {
            Request::GetSettings => "Broker.getSettings",
            Request::SpawnWallet { .. } => "Broker.spawnWallet",
            Request::OpenFile(_) => "Broker.openFile",
            Request::RpcServer => "Broker.rpcServer",
            Request::RequestShutdown => "Broker.requestShutdown",
            Request::Connect(_) => "Broker.connect",
            Request::P2pServer => "Broker.p2pServer",
            Request::RenameFile { .. } => "Broker.renameFile",
            Request::RemoveFile(_) => "Broker.removeFile",
            Request::ListWalletDir => "Broker.listWalletDir",
            Request::ExportBackup { .. } => "Broker.exportBackup",
            Request::RestoreWallet { .. } => "Broker.restoreWallet",
        }
    }
}

/// Resolved settings a child receives instead of reading bitcoin.conf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub chain: String,
    pub data_dir: PathBuf,
    pub net_dir: PathBuf,
    pub args: Vec<crate::config::ResolvedArg>,
    /// A wallet process's wallet (empty for the node worker).
    pub wallet_name: String,
}

/// The broker's answer to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Error(String),
    Settings(Settings),
    /// The fd (the node worker's end of the wallet's Init pair) travels beside it.
    WalletSpawned {
        pid: i32,
    },
    /// The opened fd travels beside it.
    FileOpened,
    /// The listening sockets travel beside it; `cookie` is the cookie file's
    /// credentials (empty without a cookie).
    RpcServer {
        cookie: Secret,
    },
    ShutdownRequested,
    /// The connected socket travels beside it.
    Connected,
    /// The P2P listening sockets travel beside it.
    P2pServer,
    FileRenamed,
    FileRemoved,
    WalletDir(Vec<String>),
    BackupWritten,
    WalletRestored,
}

/// A credential: travels in messages, never printed (`-debug=ipc` logs
/// messages with `{:?}`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<redacted>"
        })
    }
}

/// An accepted IPC connection handed to the node worker (fd beside it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingConnection {
    pub peer_pid: i32,
    pub peer_uid: u32,
    pub peer_name: String,
    pub source: String,
}

/// Unsolicited messages from the broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    IncomingConnection(IncomingConnection),
    Shutdown,
}

/// Everything the broker sends to a child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerMessage {
    Reply { id: u64, reply: Reply },
    Event(Event),
}

fn to_bytes(message: &Builder<capnp::message::HeapAllocator>) -> Vec<u8> {
    serialize::write_message_to_words(message)
}

fn text(r: capnp::Result<capnp::text::Reader<'_>>) -> Result<String, ChannelError> {
    r?.to_string()
        .map_err(|e| ChannelError::Invalid(format!("text is not UTF-8: {e}")))
}

/// Encodes a child's request.
pub fn encode_request(id: u64, req: &Request) -> Vec<u8> {
    let mut m = Builder::new_default();
    let mut r = m.init_root::<broker_capnp::request::Builder>();
    r.set_id(id);
    match req {
        Request::GetSettings => r.set_get_settings(()),
        Request::RpcServer => r.set_rpc_server(()),
        Request::RequestShutdown => r.set_request_shutdown(()),
        Request::P2pServer => r.set_p2p_server(()),
        Request::ListWalletDir => r.set_list_wallet_dir(()),
        Request::SpawnWallet { name, create } => {
            let mut b = r.init_spawn_wallet();
            b.set_name(&name[..]);
            b.set_create(*create);
        }
        Request::Connect(address) => r.set_connect(&address[..]),
        Request::RemoveFile(name) => r.set_remove_file(&name[..]),
        Request::RenameFile { from, to } => {
            let mut b = r.init_rename_file();
            b.set_from(&from[..]);
            b.set_to(&to[..]);
        }
        Request::ExportBackup { wallet, path } => {
            let mut b = r.init_export_backup();
            b.set_wallet(&wallet[..]);
            b.set_path(&path[..]);
        }
        Request::RestoreWallet { wallet, path } => {
            let mut b = r.init_restore_wallet();
            b.set_wallet(&wallet[..]);
            b.set_path(&path[..]);
        }
        Request::OpenFile(o) => {
            let mut b = r.init_open_file();
            b.set_path(&o.path[..]);
            b.set_write(o.write);
            b.set_create(o.create);
            b.set_truncate(o.truncate);
        }
    }
    let bytes = to_bytes(&m);
    if cfg!(feature = "ipc-record") {
        let method = req.method().trim_start_matches("Broker.");
        crate::ipc::debug::record_bytes(&format!("BrokerRequest.{method}"), &bytes);
    }
    bytes
}

/// Decodes a child's request (broker side).
pub fn decode_request(bytes: &[u8]) -> Result<(u64, Request), ChannelError> {
    let reader = serialize::read_message_from_flat_slice(&mut &bytes[..], reader_options())?;
    let r = reader.get_root::<broker_capnp::request::Reader>()?;
    use broker_capnp::request::Which;
    let req = match r
        .which()
        .map_err(|e| ChannelError::Invalid(format!("unknown request kind {}", e.0)))?
    {
        Which::GetSettings(()) => Request::GetSettings,
        Which::RpcServer(()) => Request::RpcServer,
        Which::RequestShutdown(()) => Request::RequestShutdown,
        Which::P2pServer(()) => Request::P2pServer,
        Which::ListWalletDir(()) => Request::ListWalletDir,
        Which::SpawnWallet(w) => {
            let w = w?;
            Request::SpawnWallet {
                name: text(w.get_name())?,
                create: w.get_create(),
            }
        }
        Which::Connect(a) => Request::Connect(text(a)?),
        Which::RemoveFile(n) => Request::RemoveFile(text(n)?),
        Which::RenameFile(f) => {
            let f = f?;
            Request::RenameFile {
                from: text(f.get_from())?,
                to: text(f.get_to())?,
            }
        }
        Which::ExportBackup(f) => {
            let f = f?;
            Request::ExportBackup {
                wallet: text(f.get_wallet())?,
                path: text(f.get_path())?,
            }
        }
        Which::RestoreWallet(f) => {
            let f = f?;
            Request::RestoreWallet {
                wallet: text(f.get_wallet())?,
                path: text(f.get_path())?,
            }
        }
        Which::OpenFile(o) => {
            let o = o?;
            Request::OpenFile(super::files::OpenRequest {
                path: text(o.get_path())?,
                write: o.get_write(),
                create: o.get_create(),
                truncate: o.get_truncate(),
            })
        }
    };
    Ok((r.get_id(), req))
}

/// Encodes a broker message (reply or event).
pub fn encode_broker_message(msg: &BrokerMessage) -> Vec<u8> {
    let mut m = Builder::new_default();
    let root = m.init_root::<broker_capnp::broker_message::Builder>();
    match msg {
        BrokerMessage::Reply { id, reply } => {
            let mut r = root.init_reply();
            r.set_id(*id);
            match reply {
                Reply::Error(e) => r.set_error(&e[..]),
                Reply::WalletSpawned { pid } => r.init_wallet_spawned().set_pid(*pid),
                Reply::FileOpened => r.set_file_opened(()),
                Reply::RpcServer { cookie } => r.init_rpc_server().set_cookie(&cookie.0[..]),
                Reply::ShutdownRequested => r.set_shutdown_requested(()),
                Reply::Connected => r.set_connected(()),
                Reply::P2pServer => r.set_p2p_server(()),
                Reply::FileRenamed => r.set_file_renamed(()),
                Reply::FileRemoved => r.set_file_removed(()),
                Reply::BackupWritten => r.set_backup_written(()),
                Reply::WalletRestored => r.set_wallet_restored(()),
                Reply::WalletDir(names) => {
                    let mut list = r.init_wallet_dir(names.len() as u32);
                    for (i, n) in names.iter().enumerate() {
                        list.set(i as u32, &n[..]);
                    }
                }
                Reply::Settings(s) => {
                    let mut b = r.init_settings();
                    b.set_chain(&s.chain[..]);
                    b.set_data_dir(&s.data_dir.to_string_lossy()[..]);
                    b.set_net_dir(&s.net_dir.to_string_lossy()[..]);
                    b.set_wallet_name(&s.wallet_name[..]);
                    let mut list = b.init_args(s.args.len() as u32);
                    for (i, arg) in s.args.iter().enumerate() {
                        let mut a = list.reborrow().get(i as u32);
                        a.set_name(&arg.name[..]);
                        match &arg.single {
                            Some(v) => a.set_single(&v[..]),
                            None => a.set_negated(true),
                        }
                        let mut vs = a.init_values(arg.values.len() as u32);
                        for (j, v) in arg.values.iter().enumerate() {
                            vs.set(j as u32, &v[..]);
                        }
                    }
                }
            }
        }
        BrokerMessage::Event(Event::Shutdown) => root.init_event().set_shutdown(()),
        BrokerMessage::Event(Event::IncomingConnection(c)) => {
            let mut b = root.init_event().init_incoming_connection();
            b.set_peer_pid(c.peer_pid);
            b.set_peer_uid(c.peer_uid);
            b.set_peer_name(&c.peer_name[..]);
            b.set_source(&c.source[..]);
        }
    }
    let bytes = to_bytes(&m);
    if cfg!(feature = "ipc-record") {
        let kind = match msg {
            BrokerMessage::Reply { .. } => "reply",
            BrokerMessage::Event(_) => "event",
        };
        crate::ipc::debug::record_bytes(&format!("BrokerMessage.{kind}"), &bytes);
    }
    bytes
}

/// Decodes a broker message (child side).
pub fn decode_broker_message(bytes: &[u8]) -> Result<BrokerMessage, ChannelError> {
    let reader = serialize::read_message_from_flat_slice(&mut &bytes[..], reader_options())?;
    let root = reader.get_root::<broker_capnp::broker_message::Reader>()?;
    use broker_capnp::broker_message::Which as M;
    use broker_capnp::event::Which as E;
    use broker_capnp::reply::Which as R;
    let bad = |what: &str, n: u16| ChannelError::Invalid(format!("unknown {what} kind {n}"));
    Ok(match root.which().map_err(|e| bad("message", e.0))? {
        M::Reply(r) => {
            let r = r?;
            let reply = match r.which().map_err(|e| bad("reply", e.0))? {
                R::Error(e) => Reply::Error(text(e)?),
                R::WalletSpawned(w) => Reply::WalletSpawned { pid: w?.get_pid() },
                R::FileOpened(()) => Reply::FileOpened,
                R::ShutdownRequested(()) => Reply::ShutdownRequested,
                R::Connected(()) => Reply::Connected,
                R::P2pServer(()) => Reply::P2pServer,
                R::FileRenamed(()) => Reply::FileRenamed,
                R::FileRemoved(()) => Reply::FileRemoved,
                R::BackupWritten(()) => Reply::BackupWritten,
                R::WalletRestored(()) => Reply::WalletRestored,
                R::WalletDir(names) => {
                    Reply::WalletDir(names?.iter().map(text).collect::<Result<_, _>>()?)
                }
                R::RpcServer(rs) => Reply::RpcServer {
                    cookie: Secret(text(rs?.get_cookie())?),
                },
                R::Settings(s) => {
                    let s = s?;
                    let mut args = Vec::new();
                    for a in s.get_args()? {
                        let values = a
                            .get_values()?
                            .iter()
                            .map(text)
                            .collect::<Result<Vec<_>, _>>()?;
                        let single = if a.get_negated() {
                            None
                        } else {
                            Some(text(a.get_single())?)
                        };
                        args.push(crate::config::ResolvedArg {
                            name: text(a.get_name())?,
                            values,
                            single,
                        });
                    }
                    Reply::Settings(Settings {
                        chain: text(s.get_chain())?,
                        data_dir: text(s.get_data_dir())?.into(),
                        net_dir: text(s.get_net_dir())?.into(),
                        args,
                        wallet_name: text(s.get_wallet_name())?,
                    })
                }
            };
            BrokerMessage::Reply {
                id: r.get_id(),
                reply,
            }
        }
        M::Event(e) => match e?.which().map_err(|e| bad("event", e.0))? {
            E::Shutdown(()) => BrokerMessage::Event(Event::Shutdown),
            E::IncomingConnection(c) => {
                let c = c?;
                BrokerMessage::Event(Event::IncomingConnection(IncomingConnection {
                    peer_pid: c.get_peer_pid(),
                    peer_uid: c.get_peer_uid(),
                    peer_name: text(c.get_peer_name())?,
                    source: text(c.get_source())?,
                }))
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

    #[test]
    fn requests_round_trip() {
        for req in [
            Request::GetSettings,
            Request::SpawnWallet {
                name: "w1".into(),
                create: true,
            },
            Request::ListWalletDir,
            Request::OpenFile(crate::broker::files::OpenRequest {
                path: "peers.dat".into(),
                write: true,
                create: true,
                truncate: false,
            }),
            Request::RpcServer,
            Request::RequestShutdown,
            Request::Connect("127.0.0.1:18444".into()),
            Request::P2pServer,
            Request::RenameFile {
                from: "mempool.dat.new".into(),
                to: "mempool.dat".into(),
            },
            Request::RemoveFile("anchors.dat".into()),
            Request::ExportBackup {
                wallet: "w1".into(),
                path: "/tmp/w1.bak".into(),
            },
            Request::RestoreWallet {
                wallet: "w2".into(),
                path: "w1.bak".into(),
            },
        ] {
            let bytes = encode_request(7, &req);
            assert_eq!(decode_request(&bytes).unwrap(), (7, req));
        }
    }

    #[test]
    fn broker_messages_round_trip() {
        let msgs = [
            BrokerMessage::Reply {
                id: 3,
                reply: Reply::Error("denied".into()),
            },
            BrokerMessage::Reply {
                id: 4,
                reply: Reply::WalletSpawned { pid: 42 },
            },
            BrokerMessage::Reply {
                id: 9,
                reply: Reply::Connected,
            },
            BrokerMessage::Reply {
                id: 10,
                reply: Reply::BackupWritten,
            },
            BrokerMessage::Reply {
                id: 11,
                reply: Reply::WalletRestored,
            },
            BrokerMessage::Reply {
                id: 12,
                reply: Reply::FileRemoved,
            },
            BrokerMessage::Reply {
                id: 5,
                reply: Reply::RpcServer {
                    cookie: Secret("__cookie__:ab".into()),
                },
            },
            BrokerMessage::Reply {
                id: 6,
                reply: Reply::FileOpened,
            },
            BrokerMessage::Reply {
                id: 5,
                reply: Reply::Settings(Settings {
                    chain: "regtest".into(),
                    data_dir: "/d".into(),
                    net_dir: "/d/regtest".into(),
                    wallet_name: "w1".into(),
                    args: vec![
                        crate::config::ResolvedArg {
                            name: "debug".into(),
                            values: vec!["ipc".into(), "net".into()],
                            single: Some("net".into()),
                        },
                        crate::config::ResolvedArg {
                            name: "listen".into(),
                            values: vec![],
                            single: None,
                        },
                    ],
                }),
            },
            BrokerMessage::Event(Event::Shutdown),
            BrokerMessage::Event(Event::IncomingConnection(IncomingConnection {
                peer_pid: 9,
                peer_uid: 1000,
                peer_name: "bitcoin-wallet".into(),
                source: "unix:/x".into(),
            })),
        ];
        for m in msgs {
            assert_eq!(
                decode_broker_message(&encode_broker_message(&m)).unwrap(),
                m
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for junk in [
            &b""[..],
            b"\x00",
            b"\xff\xff\xff\xff\x00\x00\x00\x00",
            &[0x41u8; 100][..],
        ] {
            assert!(decode_request(junk).is_err());
            assert!(decode_broker_message(junk).is_err());
        }
    }

    #[test]
    fn fds_travel_with_the_datagram_and_truncation_is_refused() {
        crate::test_runtime().block_on(async {
            let (a, b) = socketpair(
                AddressFamily::Unix,
                SockType::SeqPacket,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .unwrap();
            let (a, b) = (Channel::new(a).unwrap(), Channel::new(b).unwrap());
            let file = std::fs::File::open("/proc/self/stat").unwrap();
            a.send(b"hello", &[file.as_raw_fd()]).await.unwrap();
            let d = b.recv().await.unwrap().unwrap();
            assert_eq!(d.bytes, b"hello");
            assert_eq!(d.fds.len(), 1);
            assert!(a.send(&vec![0u8; MAX_DATAGRAM + 1], &[]).await.is_err());
            drop(a);
            assert!(b.recv().await.unwrap().is_none());
        });
    }
}
