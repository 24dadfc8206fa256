//! Kinds whose rows are a few plain fields.

use super::{age, name, Row};
use crate::table::access::{arr_at, map_len, str_at, time_at};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

pub fn namespace(obj: &Value, now: DateTime<Utc>) -> Row {
    Row::cells(vec![
        name(obj),
        str_at(obj, &["status", "phase"]).into(),
        age(obj, now),
    ])
}

pub fn config_map(obj: &Value, now: DateTime<Utc>) -> Row {
    let entries = map_len(obj, &["data"]) + map_len(obj, &["binaryData"]);
    Row::cells(vec![name(obj), entries.into(), age(obj, now)])
}

pub fn secret(obj: &Value, now: DateTime<Utc>) -> Row {
    Row::cells(vec![
        name(obj),
        str_at(obj, &["type"]).into(),
        map_len(obj, &["data"]).into(),
        age(obj, now),
    ])
}

pub fn service_account(obj: &Value, now: DateTime<Utc>) -> Row {
    Row::cells(vec![
        name(obj),
        arr_at(obj, &["secrets"]).len().into(),
        age(obj, now),
    ])
}

pub fn lease(obj: &Value, now: DateTime<Utc>) -> Row {
    Row::cells(vec![
        name(obj),
        str_at(obj, &["spec", "holderIdentity"]).into(),
        age(obj, now),
    ])
}

/// The generic convertor: name and the creation time in RFC 3339 (UTC).
pub fn default(obj: &Value, _now: DateTime<Utc>) -> Row {
    // Go formats the zero time as 0001-01-01T00:00:00Z.
    let created = time_at(obj, &["metadata", "creationTimestamp"])
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    Row::cells(vec![name(obj), created.into()])
}
