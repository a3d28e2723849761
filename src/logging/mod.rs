//! logging/: Core's `debug.log` line format on top of `tracing`: categories, levels,
//! and the log records children send to the broker, the only writer of debug.log.
