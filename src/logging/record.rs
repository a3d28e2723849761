//! LogRecord datagrams (schema/broker.capnp) between a child and the broker.
//! Decoding is bounded: small traversal and nesting limits, text capped.

use capnp::message::{Builder, ReaderOptions};
use capnp::serialize;

use super::format::{Level, Record};
use crate::schema::broker_capnp::log_record;

/// Longest message text kept from a child; longer ones are cut.
const MAX_MESSAGE: usize = 16 * 1024;

/// A datagram that is not a LogRecord.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("malformed log record: {0}")]
    Malformed(#[from] capnp::Error),
    #[error("malformed log record: {0}")]
    Invalid(String),
}

fn options() -> ReaderOptions {
    let mut o = ReaderOptions::new();
    // A record is a handful of short texts: 8 Ki words (64 KiB) is plenty.
    o.traversal_limit_in_words(Some(8 * 1024)).nesting_limit(4);
    o
}

fn level_to_capnp(l: Level) -> log_record::Level {
    match l {
        Level::Trace => log_record::Level::Trace,
        Level::Debug => log_record::Level::Debug,
        Level::Info => log_record::Level::Info,
        Level::Warning => log_record::Level::Warning,
        Level::Error => log_record::Level::Error,
    }
}

/// The tag of a sync datagram: a child asks the broker to answer once every
/// record the child sent before it is in debug.log, and the broker answers
/// with the same datagram. Twelve bytes, the tag and a counter: too short to
/// be a Cap'n Proto message, so never mistaken for a record.
const SYNC_TAG: &[u8; 4] = b"sync";

/// A sync datagram with `counter`.
pub fn encode_sync(counter: u64) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..4].copy_from_slice(SYNC_TAG);
    out[4..].copy_from_slice(&counter.to_le_bytes());
    out
}

/// The counter of a sync datagram, None for anything else.
pub fn decode_sync(bytes: &[u8]) -> Option<u64> {
    let (tag, counter) = bytes.split_at_checked(4)?;
    if tag != SYNC_TAG {
        return None;
    }
    Some(u64::from_le_bytes(counter.try_into().ok()?))
}

/// Encodes one record as a datagram.
pub fn encode_record(r: &Record) -> Vec<u8> {
    let mut m = Builder::new_default();
    let mut b = m.init_root::<log_record::Builder>();
    b.set_time_micros(r.time_micros);
    b.set_level(level_to_capnp(r.level));
    b.set_category(&r.category[..]);
    b.set_thread(&r.thread[..]);
    b.set_file(&r.file[..]);
    b.set_line(r.line);
    b.set_function(&r.function[..]);
    let mut cut = r.message.len().min(MAX_MESSAGE);
    while !r.message.is_char_boundary(cut) {
        cut -= 1;
    }
    b.set_message(&r.message[..cut]);
    serialize::write_message_to_words(&m)
}

/// Decodes one datagram; never panics on malformed input.
pub fn decode_record(bytes: &[u8]) -> Result<Record, RecordError> {
    let reader = serialize::read_message_from_flat_slice(&mut &bytes[..], options())?;
    let r = reader.get_root::<log_record::Reader>()?;
    let text = |t: capnp::Result<capnp::text::Reader<'_>>| -> Result<String, RecordError> {
        Ok(String::from_utf8_lossy(t?.as_bytes()).into_owned())
    };
    let level = match r
        .get_level()
        .map_err(|e| RecordError::Invalid(format!("unknown level {}", e.0)))?
    {
        log_record::Level::Trace => Level::Trace,
        log_record::Level::Debug => Level::Debug,
        log_record::Level::Info => Level::Info,
        log_record::Level::Warning => Level::Warning,
        log_record::Level::Error => Level::Error,
    };
    let mut message = text(r.get_message())?;
    if message.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
    }
    Ok(Record {
        time_micros: r.get_time_micros(),
        level,
        category: text(r.get_category())?,
        thread: text(r.get_thread())?,
        file: text(r.get_file())?,
        line: r.get_line(),
        function: text(r.get_function())?,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_roundtrips_through_capnp() {
        let r = Record {
            time_micros: 42,
            level: Level::Warning,
            category: "ipc".into(),
            thread: "t".into(),
            file: "f.rs".into(),
            line: 9,
            function: "m".into(),
            message: "hello".into(),
        };
        assert_eq!(decode_record(&encode_record(&r)).unwrap(), r);
    }

    #[test]
    fn malformed_record_datagram_is_error_not_panic() {
        for junk in [
            &b""[..],
            b"\x00\x00\x00\x00\xff\xff\xff\x7f",
            &[0xAAu8; 64][..],
        ] {
            assert!(decode_record(junk).is_err());
        }
    }

    #[test]
    fn sync_datagrams_round_trip_and_are_no_records() {
        let d = encode_sync(7);
        assert_eq!(decode_sync(&d), Some(7));
        assert!(decode_record(&d).is_err());
        assert_eq!(decode_sync(b"sync"), None);
        assert_eq!(decode_sync(&d[..11]), None);
    }
}
