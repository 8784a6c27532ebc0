//! The lock record: who holds the run lock, in one JSON object.
//!
//! Older lock files are read too: the same JSON with `processStartTime` as
//! float seconds since boot, null or missing, and the one-line text form
//! `runId pid startedAt`.

use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::error::Error;
use crate::identity::ProcessIdentity;

/// The largest record read, in bytes. A larger file is not a record.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// The record format this crate writes.
pub const RECORD_VERSION: u32 = 2;

/// The content of the lock file: the run and the process that holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The format version: [`RECORD_VERSION`], or 1 for older records.
    pub version: u32,
    /// The run this lock belongs to.
    pub run_id: Uuid,
    /// The holder's process id.
    pub pid: u32,
    /// When the holder took the lock.
    pub started_at: Timestamp,
    /// The holder's start time in clock ticks since boot, when recorded
    /// exactly.
    pub process_start_time: Option<u64>,
    /// The holder's start time in seconds since boot, as older records
    /// stored it (compared within one second).
    pub legacy_start_seconds: Option<f64>,
    /// The boot id of the boot the holder ran in.
    pub boot_id: Option<String>,
    /// The host the holder ran on.
    pub hostname: Option<String>,
    /// Processes that keep the run alive after the holder has gone.
    pub members: Vec<ProcessIdentity>,
}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.wire().serialize(serializer)
    }
}

/// The JSON shape on disk.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(default)]
    version: Option<u32>,
    run_id: String,
    pid: u32,
    started_at: String,
    #[serde(default)]
    process_start_time: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    boot_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(default)]
    members: Vec<ProcessIdentity>,
}

impl Record {
    /// Creates a record for `owner`, taken now.
    pub fn new(run_id: Uuid, owner: &ProcessIdentity, hostname: &str) -> Record {
        Record {
            version: RECORD_VERSION,
            run_id,
            pid: owner.pid,
            started_at: now_millis(),
            process_start_time: Some(owner.start_ticks),
            legacy_start_seconds: None,
            boot_id: Some(owner.boot_id.clone()),
            hostname: Some(hostname.to_owned()),
            members: Vec::new(),
        }
    }

    /// Returns the holder's full identity, when the record has one.
    pub fn owner(&self) -> Option<ProcessIdentity> {
        Some(ProcessIdentity {
            pid: self.pid,
            start_ticks: self.process_start_time?,
            boot_id: self.boot_id.clone()?,
        })
    }

    /// Serializes the record as one JSON line.
    pub fn to_json(&self) -> String {
        let mut line = serde_json::to_string(&self.wire()).unwrap_or_default();
        line.push('\n');
        line
    }

    /// Returns the record as a JSON value, in the shape written to disk.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self.wire()).unwrap_or(Value::Null)
    }

    fn wire(&self) -> Wire {
        let start = match (self.process_start_time, self.legacy_start_seconds) {
            (Some(ticks), _) => Value::from(ticks),
            (None, Some(seconds)) => Value::from(seconds),
            (None, None) => Value::Null,
        };
        Wire {
            version: Some(self.version),
            run_id: self.run_id.to_string(),
            pid: self.pid,
            started_at: self.started_at.to_string(),
            process_start_time: start,
            boot_id: self.boot_id.clone(),
            hostname: self.hostname.clone(),
            members: self.members.clone(),
        }
    }

    /// Parses a record in any known shape; `path` only names the file in
    /// errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Record, Error> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(Error::RecordTooLarge {
                path: path.to_owned(),
                limit: MAX_RECORD_BYTES,
            });
        }
        let invalid = |reason: String| Error::RecordInvalid {
            path: path.to_owned(),
            reason,
        };
        let text = std::str::from_utf8(bytes).map_err(|_| invalid("not UTF-8".to_owned()))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid("the file is empty".to_owned()));
        }
        let parsed = if text.starts_with('{') {
            parse_json(text)
        } else {
            parse_text(text)
        };
        parsed.map_err(invalid)
    }
}

/// Returns the time now, rounded to milliseconds to keep records readable.
fn now_millis() -> Timestamp {
    let now = Timestamp::now();
    now.round(jiff::Unit::Millisecond).unwrap_or(now)
}

fn parse_json(text: &str) -> Result<Record, String> {
    let wire: Wire = serde_json::from_str(text).map_err(|error| format!("bad JSON: {error}"))?;
    let (ticks, seconds) = match &wire.process_start_time {
        Value::Null => (None, None),
        Value::Number(number) if number.is_u64() => (number.as_u64(), None),
        Value::Number(number) => (None, number.as_f64()),
        other => return Err(format!("processStartTime is not a number: {other}")),
    };
    Ok(Record {
        version: wire.version.unwrap_or(1),
        run_id: parse_run_id(&wire.run_id)?,
        pid: wire.pid,
        started_at: parse_time(&wire.started_at)?,
        process_start_time: ticks,
        legacy_start_seconds: seconds,
        boot_id: wire.boot_id,
        hostname: wire.hostname,
        members: wire.members,
    })
}

/// Parses the one-line text form `runId pid startedAt`.
fn parse_text(text: &str) -> Result<Record, String> {
    let fields: Vec<&str> = text.split_ascii_whitespace().collect();
    let [run_id, pid, started_at] = fields[..] else {
        return Err("expected `runId pid startedAt` or a JSON object".to_owned());
    };
    let pid = pid
        .parse::<u32>()
        .map_err(|_| format!("pid is not a number: {pid:?}"))?;
    Ok(Record {
        version: 1,
        run_id: parse_run_id(run_id)?,
        pid,
        started_at: parse_time(started_at)?,
        process_start_time: None,
        legacy_start_seconds: None,
        boot_id: None,
        hostname: None,
        members: Vec::new(),
    })
}

fn parse_run_id(text: &str) -> Result<Uuid, String> {
    Uuid::parse_str(text).map_err(|_| format!("runId is not a UUID: {text:?}"))
}

/// Parses `startedAt`: RFC 3339, or a time without an offset, which older
/// records wrote in UTC.
fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Ok(time) = text.parse::<Timestamp>() {
        return Ok(time);
    }
    text.parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|time| jiff::tz::TimeZone::UTC.to_timestamp(time).ok())
        .ok_or_else(|| format!("startedAt is not an RFC 3339 time: {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = "6f1c2a47-0c1e-4e55-9a4e-5b0f3c9d2e11";

    fn parse(text: &str) -> Result<Record, Error> {
        Record::parse(text.as_bytes(), Path::new("/x/dispatch-loop.lock"))
    }

    #[test]
    fn record_round_trips() {
        let owner = ProcessIdentity {
            pid: 77,
            start_ticks: 12345,
            boot_id: "b".to_owned(),
        };
        let mut record = Record::new(Uuid::new_v4(), &owner, "host");
        record.members.push(owner.clone());
        let back = parse(&record.to_json()).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.owner(), Some(owner));
    }

    #[test]
    fn float_start_time_is_legacy_seconds() {
        let text = format!(
            r#"{{"runId":"{RUN}","pid":5,"startedAt":"2025-01-02T03:04:05Z","processStartTime":1234.5}}"#
        );
        let record = parse(&text).unwrap();
        assert_eq!(record.process_start_time, None);
        assert_eq!(record.legacy_start_seconds, Some(1234.5));
        assert_eq!(record.version, 1);
    }

    #[test]
    fn null_and_missing_start_time() {
        let null = format!(
            r#"{{"runId":"{RUN}","pid":5,"startedAt":"2025-01-02T03:04:05Z","processStartTime":null}}"#
        );
        let missing = format!(r#"{{"runId":"{RUN}","pid":5,"startedAt":"2025-01-02T03:04:05Z"}}"#);
        for text in [null, missing] {
            let record = parse(&text).unwrap();
            assert_eq!(record.process_start_time, None);
            assert_eq!(record.legacy_start_seconds, None);
            assert_eq!(record.owner(), None);
        }
    }

    #[test]
    fn text_form() {
        let record = parse(&format!("{RUN} 4321 2025-01-02T03:04:05Z\n")).unwrap();
        assert_eq!(record.pid, 4321);
        assert_eq!(record.run_id.to_string(), RUN);
    }

    #[test]
    fn start_time_without_offset_is_utc() {
        let record = parse(&format!("{RUN} 4321 2025-01-02T03:04:05.5")).unwrap();
        assert_eq!(record.started_at.to_string(), "2025-01-02T03:04:05.5Z");
    }

    #[test]
    fn invalid_records_name_the_path() {
        for text in ["", "{\"runId\":", "garbage", "a b c d"] {
            let error = parse(text).unwrap_err().to_string();
            assert!(error.contains("/x/dispatch-loop.lock"), "{error}");
        }
    }

    #[test]
    fn oversized_record_is_rejected() {
        let big = vec![b' '; MAX_RECORD_BYTES + 1];
        let error = Record::parse(&big, Path::new("/x/l")).unwrap_err();
        assert!(matches!(error, Error::RecordTooLarge { .. }), "{error}");
    }
}
