//! Helpers shared by the integration tests.
#![allow(dead_code)]

use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use prost::Message;
use serde_json::Value;

/// Wraps a prost-encoded object the way client-go's protobuf serializer does.
pub fn envelope(api_version: &str, kind: &str, object: &impl Message) -> Vec<u8> {
    envelope_raw(api_version, kind, object.encode_to_vec())
}

pub fn envelope_raw(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.to_string()),
            kind: Some(kind.to_string()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

/// Compares serialized text so that key order counts too.
#[track_caller]
pub fn assert_json(got: &Value, want: &Value) {
    let got = serde_json::to_string_pretty(got).expect("serializable");
    let want = serde_json::to_string_pretty(want).expect("serializable");
    assert_eq!(got, want, "\n--- got:\n{got}\n--- want:\n{want}");
}

pub fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

pub fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
