//! logging/: Core's `debug.log` line format on top of `tracing`: categories, levels,
//! and the log records children send to the broker, the only writer of debug.log.
//! Never opens anything but the log file it is given; never blocks on a dead broker.

mod categories;
mod config;
mod format;
mod layer;
mod record;
mod runtime;
mod sink;

pub use categories::{is_category, CATEGORIES};
pub use config::{LogConfig, LogConfigError};
pub use format::{render, Level, Record};
pub use layer::{init_broker, init_child, init_console, sync, unsynced, LogInitError};
pub use record::{decode_record, decode_sync, encode_record, RecordError};
pub use runtime::{changed_categories, on_change, update as update_categories, UnknownCategory};
pub use sink::Sink;
