//! The `tracing` layer every process installs: it filters events by Core's
//! rules and either renders them (broker, console) or sends them to the broker
//! as LogRecord datagrams (spawned children).

use std::fmt::Write as _;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

use super::categories::is_category;
use super::config::LogConfig;
use super::format::{render, Level, Record};
use super::record::encode_record;
use super::runtime;
use super::sink::Sink;

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogInitError {
    #[error("Could not open debug log file {0}: {1}")]
    Open(String, String),
    #[error("a logger is already installed in this process")]
    AlreadySet,
}

enum Output {
    Sink(Sink),
    Child(Arc<OwnedFd>),
    Console,
}

/// Core-format logging for one process.
struct CoreLayer {
    cfg: LogConfig,
    out: Output,
}

fn category_of(target: &str) -> &str {
    if is_category(target) {
        target
    } else {
        ""
    }
}

/// Collects the `message` field and appends other fields as ` key=value`.
#[derive(Default)]
struct MessageVisitor {
    message: String,
    extra: String,
}

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.extra, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.extra, " {}={value}", field.name());
        }
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl<S: Subscriber> Layer<S> for CoreLayer {
    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        let category = category_of(meta.target());
        self.cfg.enabled_given(
            runtime::is_active(&self.cfg.categories, category),
            category,
            Level::from_tracing(meta.level()),
        )
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut v = MessageVisitor::default();
        event.record(&mut v);
        let record = Record {
            time_micros: now_micros(),
            level: Level::from_tracing(meta.level()),
            category: category_of(meta.target()).to_string(),
            thread: std::thread::current().name().unwrap_or("").to_string(),
            file: meta.file().unwrap_or("").to_string(),
            line: meta.line().unwrap_or(0),
            function: meta.module_path().unwrap_or("").to_string(),
            message: v.message + &v.extra,
        };
        match &self.out {
            Output::Sink(sink) => sink.write_line(&render(&self.cfg, &record)),
            Output::Console => print!("{}", render(&self.cfg, &record)),
            Output::Child(fd) => {
                // Blocking send is the back-pressure; a gone broker gives EPIPE, not SIGPIPE.
                let _ = nix::sys::socket::send(
                    fd.as_raw_fd(),
                    &encode_record(&record),
                    nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
                );
                SENT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }
}

fn install(layer: CoreLayer) -> Result<(), LogInitError> {
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .map_err(|_| LogInitError::AlreadySet)
}

/// Installs the broker's subscriber; returns the sink for child records.
pub fn init_broker(cfg: &LogConfig) -> Result<Sink, LogInitError> {
    let sink = Sink::open(cfg)?;
    install(CoreLayer {
        cfg: cfg.clone(),
        out: Output::Sink(sink.clone()),
    })?;
    Ok(sink)
}

/// Installs a spawned child's subscriber: records go to the broker on `log_fd`.
pub fn init_child(cfg: &LogConfig, log_fd: OwnedFd) -> Result<(), LogInitError> {
    // `sync` waits for the broker's answer at most this long: a stalled or
    // dead broker must not hang the child.
    let timeout = nix::sys::time::TimeVal::new(SYNC_TIMEOUT.as_secs() as i64, 0);
    let _ =
        nix::sys::socket::setsockopt(&log_fd, nix::sys::socket::sockopt::ReceiveTimeout, &timeout);
    let fd = Arc::new(log_fd);
    let _ = CHILD_LOG.set(fd.clone());
    install(CoreLayer {
        cfg: cfg.clone(),
        out: Output::Child(fd),
    })
}

/// Longest wait for the broker in `sync`.
const SYNC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A child's log channel, for `sync`.
static CHILD_LOG: std::sync::OnceLock<Arc<OwnedFd>> = std::sync::OnceLock::new();
/// Records this child has sent, and how many of them a sync has confirmed
/// written: with nothing new, `sync` has nothing to wait for.
static SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static SYNCED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Whether this process sent records to the broker that no sync has
/// confirmed yet (cheap: callers skip `sync` and its thread hop without).
pub fn unsynced() -> bool {
    use std::sync::atomic::Ordering;
    CHILD_LOG.get().is_some() && SENT.load(Ordering::SeqCst) != SYNCED.load(Ordering::SeqCst)
}
/// One sync at a time; the counter tells its answer from a late one.
static SYNC_COUNTER: std::sync::Mutex<u64> = std::sync::Mutex::new(0);

/// Returns once debug.log holds every record this process logged before
/// the call (at most `SYNC_TIMEOUT`): a child's records reach the file
/// through the broker, after the child has gone on. The node worker calls
/// it before answering an RPC, so a client reading debug.log after the
/// answer (as Core's test framework does) finds what the call logged. In
/// the broker and on the console, records are written at once: no wait.
pub fn sync() {
    use nix::sys::socket::{recv, send, MsgFlags};
    use std::sync::atomic::Ordering;
    let Some(fd) = CHILD_LOG.get() else { return };
    let mut counter = SYNC_COUNTER.lock().unwrap_or_else(|p| p.into_inner());
    let sent = SENT.load(Ordering::SeqCst);
    if sent == SYNCED.load(Ordering::SeqCst) {
        return;
    }
    *counter += 1;
    let request = super::record::encode_sync(*counter);
    if send(fd.as_raw_fd(), &request, MsgFlags::MSG_NOSIGNAL).is_err() {
        return;
    }
    let deadline = std::time::Instant::now() + SYNC_TIMEOUT;
    let mut answer = [0u8; 16];
    while std::time::Instant::now() < deadline {
        match recv(fd.as_raw_fd(), &mut answer, MsgFlags::empty()) {
            // The answer to this sync, or a late one to an earlier sync.
            Ok(n) if n > 0 => {
                if super::record::decode_sync(&answer[..n]) == Some(*counter) {
                    SYNCED.fetch_max(sent, Ordering::SeqCst);
                    return;
                }
            }
            Err(nix::errno::Errno::EINTR) => {}
            // Closed, timed out, or gone: not worth waiting for.
            _ => return,
        }
    }
}

/// Console-only subscriber for processes started by hand.
pub fn init_console(cfg: &LogConfig) -> Result<(), LogInitError> {
    install(CoreLayer {
        cfg: cfg.clone(),
        out: Output::Console,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

    #[test]
    fn child_layer_sends_one_datagram_per_enabled_event() {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let mut cfg = LogConfig::default();
        cfg.categories.insert("ipc".into());
        let layer = CoreLayer {
            cfg,
            out: Output::Child(Arc::new(theirs)),
        };
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::info!("first");
            tracing::debug!(target: "net", "not enabled");
            tracing::debug!(target: "ipc", peer = 7, "second");
        });
        let mut got = Vec::new();
        for _ in 0..2 {
            let d = crate::broker::channel::recv_datagram(ours.as_raw_fd())
                .unwrap()
                .unwrap();
            got.push(crate::logging::decode_record(&d.bytes).unwrap());
        }
        assert_eq!(got[0].message, "first");
        assert_eq!(got[0].category, "");
        assert_eq!(
            (
                got[1].category.as_str(),
                got[1].message.as_str(),
                got[1].level
            ),
            ("ipc", "second peer=7", Level::Debug)
        );
        // The layer (and its end) is gone: next is end-of-stream, not the disabled event.
        assert!(
            matches!(
                crate::broker::channel::recv_datagram(ours.as_raw_fd()),
                Ok(None)
            ),
            "the disabled event must not be sent"
        );
    }
}
