//! `-debug=ipc`: one log line for every request and response that crosses a
//! process boundary, with the direction, the peer, `Interface.method` and the
//! message in Cap'n Proto text form. Nothing is formatted unless the `ipc`
//! category is enabled.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

/// Longest rendering of one message in the log; longer ones are cut with a marker.
const MAX_RENDERED: usize = 1000;

/// The process on the other side of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Process name, e.g. `bitcoin-wallet`.
    pub name: String,
    /// Process id, 0 when unknown.
    pub pid: i32,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pid == 0 {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}-{}", self.name, self.pid)
        }
    }
}

/// True when `-debug=ipc` lines would be written.
pub fn enabled() -> bool {
    tracing::enabled!(target: "ipc", tracing::Level::DEBUG)
}

/// Cuts a rendering to [`MAX_RENDERED`] bytes (on a char boundary).
pub fn truncate(mut text: String) -> String {
    if text.len() > MAX_RENDERED {
        let total = text.len();
        let mut cut = MAX_RENDERED;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(&format!("... ({total} bytes)"));
    }
    text
}

/// A call's parameters as the log takes them: a Cap'n Proto struct reader,
/// or a `Summary` where the log must not show them (secrets, large text).
pub trait Params: fmt::Debug {
    /// The parameters as a message of their own, with them as its root: the
    /// form the `ipc_*` fuzz targets read (see `record`).
    fn message(&self) -> Option<Vec<u8>> {
        None
    }
}

impl<'a, T> Params for T
where
    T: Copy + fmt::Debug + Into<capnp::dynamic_value::Reader<'a>>,
{
    fn message(&self) -> Option<Vec<u8>> {
        let capnp::dynamic_value::Reader::Struct(params) = (*self).into() else {
            return None;
        };
        use capnp::traits::ImbueMut;
        let mut message = capnp::message::Builder::new_default();
        // Capabilities land in a table that is dropped: the message keeps
        // their (dangling) indices, as a peer's message could.
        let mut caps: capnp::private::layout::CapTable = Vec::new();
        let mut root = message.get_root::<capnp::any_pointer::Builder>().ok()?;
        root.imbue_mut(&mut caps);
        root.set_as::<capnp::any_pointer::Owned>(params).ok()?;
        Some(capnp::serialize::write_message_to_words(&message))
    }
}

/// Parameters the log shows only as this text.
pub struct Summary<T>(pub T);

impl<T: fmt::Debug> fmt::Debug for Summary<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: fmt::Debug> Params for Summary<T> {}

/// Parameters the log shows only as the text in `.0`; the `ipc-record`
/// recorder (test builds only) still records them from `.1`.
pub struct Redacted<'p, T>(pub T, pub &'p dyn Params);

impl<T: fmt::Debug> fmt::Debug for Redacted<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: fmt::Debug> Params for Redacted<'_, T> {
    fn message(&self) -> Option<Vec<u8>> {
        self.1.message()
    }
}

/// With the test-only `ipc-record` feature, every request is also logged as
/// `ipc-record <Interface.method> <hex of Params::message>`, whatever
/// `-debug` says: `contrib/fuzz-record-seeds.sh` turns the lines that the
/// integration tests leave in debug.log into fuzz corpus seeds. Sandboxed
/// processes write no files of their own, so the log channel carries them.
fn record(method: &str, params: &dyn Params) {
    if cfg!(feature = "ipc-record") {
        if let Some(bytes) = params.message() {
            record_bytes(method, &bytes);
        }
    }
}

/// The same recorder for the other decoders' inputs, as `ipc-record <kind>
/// <hex>`: broker channel datagrams (`BrokerRequest.<method>`,
/// `BrokerMessage.<kind>`), P2P frames we send (`P2P.<command>`) and JSON-RPC
/// request bodies and paths (`HTTP.body`, `HTTP.path`). A no-op without the
/// feature.
#[cfg(feature = "ipc-record")]
pub fn record_bytes(kind: &str, bytes: &[u8]) {
    use std::fmt::Write;
    let hex = bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    tracing::info!("ipc-record {kind} {hex}");
}

#[cfg(not(feature = "ipc-record"))]
pub fn record_bytes(_: &str, _: &[u8]) {}

/// Per-connection call logger: numbers the calls and names the peer.
#[derive(Clone)]
pub struct CallLog {
    inner: Rc<Inner>,
}

struct Inner {
    peer: Peer,
    next: Cell<u64>,
}

impl CallLog {
    /// A logger for one connection to `peer`.
    pub fn new(peer: Peer) -> CallLog {
        CallLog {
            inner: Rc::new(Inner {
                peer,
                next: Cell::new(1),
            }),
        }
    }

    /// The peer this connection talks to.
    pub fn peer(&self) -> &Peer {
        &self.inner.peer
    }

    fn next_seq(&self) -> u64 {
        let n = self.inner.next.get();
        self.inner.next.set(n + 1);
        n
    }

    /// Logs a request received by a server; returns its number for the response.
    pub fn server_request(&self, method: &str, params: &dyn Params) -> u64 {
        record(method, params);
        let seq = self.next_seq();
        if enabled() {
            tracing::debug!(target: "ipc", "IPC server recv request #{seq} from {} {method}$Params {}", self.inner.peer, truncate(format!("{params:?}")));
        }
        seq
    }

    /// Logs the response a server sends for request `seq`.
    pub fn server_response(&self, seq: u64, method: &str, results: &dyn fmt::Debug) {
        if enabled() {
            tracing::debug!(target: "ipc", "IPC server send response #{seq} to {} {method}$Results {}", self.inner.peer, truncate(format!("{results:?}")));
        }
    }

    /// Logs a failed server call.
    pub fn server_error(&self, seq: u64, method: &str, error: &capnp::Error) {
        if enabled() {
            tracing::debug!(target: "ipc", "IPC server send error #{seq} to {} {method}: {error}", self.inner.peer);
        }
    }

    /// Logs a request this process sends as a client; returns its number.
    pub fn client_request(&self, method: &str, params: &dyn Params) -> u64 {
        record(method, params);
        let seq = self.next_seq();
        if enabled() {
            tracing::debug!(target: "ipc", "IPC client send request #{seq} to {} {method}$Params {}", self.inner.peer, truncate(format!("{params:?}")));
        }
        seq
    }

    /// Logs the response (or error) a client received for request `seq`.
    pub fn client_response(
        &self,
        seq: u64,
        method: &str,
        outcome: Result<&dyn fmt::Debug, &capnp::Error>,
    ) {
        if enabled() {
            match outcome {
                Ok(results) => {
                    tracing::debug!(target: "ipc", "IPC client recv response #{seq} from {} {method}$Results {}", self.inner.peer, truncate(format!("{results:?}")))
                }
                Err(e) => {
                    tracing::debug!(target: "ipc", "IPC client recv error #{seq} from {} {method}: {e}", self.inner.peer)
                }
            }
        }
    }
}

/// Sends a capnp request with `-debug=ipc` logging of both directions.
/// Usage: `logged_call!(log, "Init.construct", request)` inside an async fn;
/// evaluates to the `Result<Response<_>, capnp::Error>`.
#[macro_export]
macro_rules! logged_call {
    ($log:expr, $method:expr, $request:expr) => {{
        let mut request = $request;
        let seq = $log.client_request($method, &request.get().into_reader());
        let response = request.send().promise.await;
        match &response {
            Ok(r) => match r.get() {
                Ok(results) => $log.client_response(seq, $method, Ok(&results)),
                Err(e) => $log.client_response(seq, $method, Err(&e)),
            },
            Err(e) => $log.client_response(seq, $method, Err(e)),
        }
        response
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_renderings_are_cut_with_a_marker() {
        let t = truncate("x".repeat(5000));
        assert!(t.len() < 1100);
        assert!(t.ends_with("... (5000 bytes)"));
        assert_eq!(truncate("short".into()), "short");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let t = truncate("é".repeat(1000));
        assert!(t.contains("... (2000 bytes)"));
    }
}
