//! What a sandboxed child uses to ask the broker: numbered requests, each reply
//! checked against the request that asked for it (its id and its kind), and
//! a stream of the broker's unsolicited events.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use futures::channel::{mpsc, oneshot};

use super::channel::{
    decode_broker_message, encode_request, BrokerMessage, Channel, ChannelError, Event, Reply,
    Request, Settings,
};
use crate::ipc::debug;

/// Errors asking the broker.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error("the broker refused {method}: {reason}")]
    Refused {
        method: &'static str,
        reason: String,
    },
    #[error("the broker answered {method} with an unexpected reply")]
    Mismatched { method: &'static str },
    #[error("the broker went away")]
    Gone,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

type Pending = RefCell<HashMap<u64, oneshot::Sender<(Reply, Vec<OwnedFd>)>>>;

/// A child's handle on its broker channel.
pub struct BrokerClient {
    chan: Rc<Channel>,
    next_id: Cell<u64>,
    pending: Rc<Pending>,
}

/// An event from the broker with the descriptors that came with it.
pub type EventWithFds = (Event, Vec<OwnedFd>);

impl BrokerClient {
    /// Starts the reader task (on the current `LocalSet`). Events arrive on the
    /// returned receiver, which ends when the broker closes the channel or
    /// sends something malformed (both mean: stop).
    pub fn start(
        fd: OwnedFd,
    ) -> std::io::Result<(Rc<BrokerClient>, mpsc::UnboundedReceiver<EventWithFds>)> {
        let chan = Rc::new(Channel::new(fd)?);
        let pending: Rc<Pending> = Rc::default();
        let (events_tx, events_rx) = mpsc::unbounded();
        let reader_chan = chan.clone();
        let reader_pending = pending.clone();
        tokio::task::spawn_local(async move {
            loop {
                let d = match reader_chan.recv().await {
                    Ok(Some(d)) => d,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!("broker channel: {e}");
                        break;
                    }
                };
                match decode_broker_message(&d.bytes) {
                    Ok(BrokerMessage::Reply { id, reply }) => {
                        if debug::enabled() {
                            tracing::debug!(target: "ipc", "IPC client recv response #{id} from broker {reply:?}");
                        }
                        match reader_pending.borrow_mut().remove(&id) {
                            Some(tx) => {
                                let _ = tx.send((reply, d.fds));
                            }
                            None => tracing::warn!(
                                "broker channel: reply #{id} matches no request; ignored"
                            ),
                        }
                    }
                    Ok(BrokerMessage::Event(ev)) => {
                        if debug::enabled() {
                            tracing::debug!(target: "ipc", "IPC event from broker {ev:?}");
                        }
                        if events_tx.unbounded_send((ev, d.fds)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::error!("broker channel: {e}; closing");
                        break;
                    }
                }
            }
            // Fail every request still waiting.
            reader_pending.borrow_mut().clear();
        });
        Ok((
            Rc::new(BrokerClient {
                chan,
                next_id: Cell::new(1),
                pending,
            }),
            events_rx,
        ))
    }

    async fn call(&self, req: Request) -> Result<(Reply, Vec<OwnedFd>), BrokerError> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (tx, rx) = oneshot::channel();
        self.pending.borrow_mut().insert(id, tx);
        if debug::enabled() {
            tracing::debug!(target: "ipc", "IPC client send request #{id} to broker {} {req:?}", req.method());
        }
        if let Err(e) = self.chan.send(&encode_request(id, &req), &[]).await {
            self.pending.borrow_mut().remove(&id);
            return Err(e.into());
        }
        let (reply, fds) = rx.await.map_err(|_| BrokerError::Gone)?;
        if let Reply::Error(reason) = reply {
            return Err(BrokerError::Refused {
                method: req.method(),
                reason,
            });
        }
        Ok((reply, fds))
    }

    /// Asks for this child's settings.
    pub async fn get_settings(&self) -> Result<Settings, BrokerError> {
        match self.call(Request::GetSettings).await? {
            (Reply::Settings(s), fds) if fds.is_empty() => Ok(s),
            _ => Err(BrokerError::Mismatched {
                method: "Broker.getSettings",
            }),
        }
    }

    /// Node worker: asks the broker to start a wallet process; returns its pid
    /// and this side's end of the wallet's `Init` socket pair.
    pub async fn spawn_wallet(
        &self,
        name: &str,
        create: bool,
    ) -> Result<(i32, OwnedFd), BrokerError> {
        match self
            .call(Request::SpawnWallet {
                name: name.to_string(),
                create,
            })
            .await?
        {
            (Reply::WalletSpawned { pid }, mut fds) if fds.len() == 1 => Ok((pid, fds.remove(0))),
            _ => Err(BrokerError::Mismatched {
                method: "Broker.spawnWallet",
            }),
        }
    }

    /// Node worker: the wallet names in the wallet directory.
    pub async fn list_wallet_dir(&self) -> Result<Vec<String>, BrokerError> {
        match self.call(Request::ListWalletDir).await? {
            (Reply::WalletDir(names), _) => Ok(names),
            _ => Err(BrokerError::Mismatched {
                method: "Broker.listWalletDir",
            }),
        }
    }

    /// Node worker (backupwallet): the broker copies the backup wallet
    /// `wallet`'s process staged in its directory to `path`.
    pub async fn export_backup(&self, wallet: &str, path: &str) -> Result<(), BrokerError> {
        let req = Request::ExportBackup {
            wallet: wallet.into(),
            path: path.into(),
        };
        match self.call(req).await? {
            (Reply::BackupWritten, _) => Ok(()),
            _ => Err(BrokerError::Mismatched {
                method: "Broker.exportBackup",
            }),
        }
    }

    /// Node worker (restorewallet): the broker copies the backup at `path`
    /// into the new wallet `wallet`'s directory.
    pub async fn restore_wallet(&self, wallet: &str, path: &str) -> Result<(), BrokerError> {
        let req = Request::RestoreWallet {
            wallet: wallet.into(),
            path: path.into(),
        };
        match self.call(req).await? {
            (Reply::WalletRestored, _) => Ok(()),
            _ => Err(BrokerError::Mismatched {
                method: "Broker.restoreWallet",
            }),
        }
    }

    /// Opens a file under this role's root through the broker (the sandbox
    /// grants no direct access outside the role's own directories).
    pub async fn open_file(&self, req: super::files::OpenRequest) -> Result<OwnedFd, BrokerError> {
        match self.call(Request::OpenFile(req)).await? {
            (Reply::FileOpened, mut fds) if fds.len() == 1 => Ok(fds.remove(0)),
            _ => Err(BrokerError::Mismatched {
                method: "Broker.openFile",
            }),
        }
    }

    /// Node worker: the whole of file `name` in its root, read through an
    /// fd the broker opens.
    pub async fn read_file(&self, name: &str) -> Result<Vec<u8>, BrokerError> {
        use std::io::Read;
        let fd = self
            .open_file(super::files::OpenRequest {
                path: name.into(),
                write: false,
                create: false,
                truncate: false,
            })
            .await?;
        let mut bytes = Vec::new();
        std::fs::File::from(fd).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// Node worker: replaces file `name` in its root with `bytes` so that a
    /// crash leaves the old file or the new one whole: `<name>.new` is
    /// written through an fd the broker opens and fsynced, then the broker
    /// renames it over `name`.
    pub async fn replace_file(&self, name: &str, bytes: &[u8]) -> Result<(), BrokerError> {
        use std::io::Write;
        let new = format!("{name}.new");
        let fd = self
            .open_file(super::files::OpenRequest {
                path: new.clone(),
                write: true,
                create: true,
                truncate: true,
            })
            .await?;
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        self.rename_file(&new, name).await
    }

    /// Node worker: deletes a read-once file in its root (anchors.dat).
    pub async fn remove_file(&self, name: &str) -> Result<(), BrokerError> {
        match self.call(Request::RemoveFile(name.into())).await? {
            (Reply::FileRemoved, _) => Ok(()),
            _ => Err(BrokerError::Mismatched {
                method: "Broker.removeFile",
            }),
        }
    }

    /// Node worker: renames file `from` over `to` in its root (both plain
    /// names), atomically.
    pub async fn rename_file(&self, from: &str, to: &str) -> Result<(), BrokerError> {
        let req = Request::RenameFile {
            from: from.into(),
            to: to.into(),
        };
        match self.call(req).await? {
            (Reply::FileRenamed, _) => Ok(()),
            _ => Err(BrokerError::Mismatched {
                method: "Broker.renameFile",
            }),
        }
    }

    /// Node worker: the P2P listening sockets (none without -listen).
    pub async fn p2p_server(&self) -> Result<Vec<OwnedFd>, BrokerError> {
        match self.call(Request::P2pServer).await? {
            (Reply::P2pServer, fds) => Ok(fds),
            _ => Err(BrokerError::Mismatched {
                method: "Broker.p2pServer",
            }),
        }
    }

    /// Node worker: an outbound TCP connection to `address` (`host:port`),
    /// made by the broker as the node's options allow.
    pub async fn connect(&self, address: &str) -> Result<OwnedFd, BrokerError> {
        match self.call(Request::Connect(address.to_string())).await? {
            (Reply::Connected, mut fds) if fds.len() == 1 => Ok(fds.remove(0)),
            _ => Err(BrokerError::Mismatched {
                method: "Broker.connect",
            }),
        }
    }

    /// Node worker: the JSON-RPC listening sockets and the cookie credentials
    /// (None without a cookie file).
    pub async fn rpc_server(&self) -> Result<(Vec<OwnedFd>, Option<String>), BrokerError> {
        match self.call(Request::RpcServer).await? {
            (Reply::RpcServer { cookie }, fds) => {
                Ok((fds, Some(cookie.0).filter(|c| !c.is_empty())))
            }
            _ => Err(BrokerError::Mismatched {
                method: "Broker.rpcServer",
            }),
        }
    }

    /// Node worker: asks the broker to stop the whole node.
    pub async fn request_shutdown(&self) -> Result<(), BrokerError> {
        match self.call(Request::RequestShutdown).await? {
            (Reply::ShutdownRequested, fds) if fds.is_empty() => Ok(()),
            _ => Err(BrokerError::Mismatched {
                method: "Broker.requestShutdown",
            }),
        }
    }
}
