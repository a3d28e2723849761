//! The broker's log sink: appends rendered lines to debug.log and, with
//! `-printtoconsole`, to stdout. Thread-safe; a write error is reported once.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::config::LogConfig;
use super::format::{render, Record};
use super::layer::LogInitError;

/// Cloneable handle on debug.log and the console.
#[derive(Clone)]
pub struct Sink {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: LogConfig,
    file: Mutex<Option<File>>,
    write_failed: AtomicBool,
}

impl Sink {
    /// Opens (creating, appending) the configured debug.log.
    pub fn open(cfg: &LogConfig) -> Result<Sink, LogInitError> {
        let file = match &cfg.debug_log_file {
            None => None,
            Some(path) => {
                let mut f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| LogInitError::Open(path.display().to_string(), e.to_string()))?;
                // Core starts each session with blank lines to set it apart.
                let _ = f.write_all(b"\n\n\n\n\n");
                Some(f)
            }
        };
        Ok(Sink {
            inner: Arc::new(Inner {
                cfg: cfg.clone(),
                file: Mutex::new(file),
                write_failed: AtomicBool::new(false),
            }),
        })
    }

    /// Renders and writes one record a child sent. The child's own filter let
    /// it through: its categories may have changed at run time (the `logging`
    /// RPC in the node worker), which the broker's startup set does not know.
    pub fn write(&self, r: &Record) {
        self.write_line(&render(&self.inner.cfg, r));
    }

    /// Writes one rendered line.
    pub(super) fn write_line(&self, line: &str) {
        if self.inner.cfg.printtoconsole {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
        let mut guard = self.inner.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = guard.as_mut() {
            if let Err(e) = f.write_all(line.as_bytes()) {
                if !self.inner.write_failed.swap(true, Ordering::Relaxed) {
                    eprintln!("Error: cannot write debug.log: {e}");
                }
            }
        }
    }

    /// Flushes debug.log to disk.
    pub fn flush(&self) {
        let mut guard = self.inner.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = guard.as_mut() {
            let _ = f.flush();
            let _ = f.sync_data();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::Level;

    #[test]
    fn sink_appends_child_records_to_debug_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("debug.log");
        std::fs::write(&path, "old line\n").unwrap();
        let cfg = LogConfig {
            debug_log_file: Some(path.clone()),
            timestamps: false,
            ..LogConfig::default()
        };
        let sink = Sink::open(&cfg).unwrap();
        let r = |cat: &str, level, m: &str| Record {
            time_micros: 0,
            level,
            category: cat.into(),
            thread: String::new(),
            file: String::new(),
            line: 0,
            function: String::new(),
            message: m.into(),
        };
        sink.write(&r("", Level::Info, "kept"));
        sink.write(&r("net", Level::Debug, "also kept"));
        sink.flush();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("old line\n"));
        assert!(text.contains("kept\n"));
        assert!(text.ends_with("[net] also kept\n"), "{text}");
    }
}
