//! Decodes Kubernetes protobuf request bodies (`Content-Type:
//! application/vnd.kubernetes.protobuf`, as kubectl's typed clients send them)
//! into the JSON object Kubernetes' own JSON encoding prints for the same
//! object: camelCase keys in Go declaration order, `kind`/`apiVersion` first,
//! `omitempty` and pointer semantics of the Go types (`replicas: 0` and
//! `automountServiceAccountToken: false` survive, an unset `nodeName` does
//! not), `creationTimestamp: null` for a zero time, `{}` for empty structs,
//! bytes as base64, map keys sorted.
//!
//! A body is the magic `k8s\0` and a `runtime.Unknown` {1 typeMeta {1
//! apiVersion, 2 kind}, 2 raw, 3 contentEncoding, 4 contentType}; `raw` is the
//! object's own message.
//!
//! The decoder is generic and driven by the static table in `schema.rs`,
//! generated (and committed) by `tools/gen_schema.py`; see the crate README
//! for how to regenerate it. Fields that Kubernetes v1.32 does not have are
//! skipped like any unknown field, as kube-apiserver v1.32 would.

mod message;
#[rustfmt::skip] // generated; keep it byte-identical to what tools/gen_schema.py writes
mod schema;
mod special;
mod table;
mod wire;

use serde_json::{Map, Value};

use crate::wire::{Reader, WireType};

/// First four bytes of every Kubernetes protobuf body.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Nesting limit for messages; the deepest v1.32 object (a Pod's projected
/// volume items inside a template) is far below it.
pub const MAX_DEPTH: usize = 64;

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    BadMagic,
    #[error("unexpected end of protobuf data")]
    Truncated,
    #[error("protobuf varint overflows 64 bits")]
    VarintOverflow,
    #[error("illegal protobuf field number {0}")]
    InvalidFieldNumber(u64),
    #[error("unsupported protobuf wire type {0}")]
    InvalidWireType(u8),
    #[error("wrong wire type {wire} for field {field} of {message}")]
    WrongWireType {
        message: &'static str,
        field: u32,
        wire: &'static str,
    },
    #[error("protobuf message nests deeper than {0} levels")]
    TooDeep(usize),
    #[error("no kind \"{kind}\" is registered for version \"{api_version}\"")]
    UnknownKind { api_version: String, kind: String },
    #[error("unsupported content encoding \"{0}\"")]
    UnsupportedContentEncoding(String),
    #[error("unsupported content type \"{0}\" inside protobuf envelope")]
    UnsupportedContentType(String),
    #[error("impossible IntOrString.Type {0}")]
    InvalidIntOrString(i64),
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    InvalidQuantity,
    #[error("time is outside the years 0000-9999")]
    TimeOutOfRange,
    #[error("floating point value is not finite")]
    NonFiniteNumber,
    #[error("{kind} does not hold valid JSON: {error}")]
    EmbeddedJson { kind: &'static str, error: String },
}

/// Decodes a whole protobuf body (magic + `runtime.Unknown`) into the object's
/// JSON form, with `kind` and `apiVersion` taken from the envelope.
pub fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    let rest = body.strip_prefix(MAGIC).ok_or(DecodeError::BadMagic)?;
    let unknown = Unknown::parse(rest)?;
    if !unknown.content_encoding.is_empty() {
        return Err(DecodeError::UnsupportedContentEncoding(
            unknown.content_encoding,
        ));
    }
    if !unknown.content_type.is_empty() && unknown.content_type != CONTENT_TYPE {
        return Err(DecodeError::UnsupportedContentType(unknown.content_type));
    }
    decode_object(&unknown.api_version, &unknown.kind, unknown.raw)
}

/// Decodes the bare message of an `apiVersion`/`kind` (the `raw` of the envelope).
pub fn decode_object(api_version: &str, kind: &str, raw: &[u8]) -> Result<Value, DecodeError> {
    decode_with_depth(api_version, kind, raw, MAX_DEPTH)
}

/// Whether [`decode`] knows objects of this `apiVersion`/`kind`.
pub fn is_supported(api_version: &str, kind: &str) -> bool {
    root(api_version, kind).is_some()
}

/// The `apiVersion`/`kind` pairs [`decode`] knows.
pub fn supported_kinds() -> impl Iterator<Item = (&'static str, &'static str)> {
    schema::ROOTS.iter().map(|r| (r.api_version, r.kind))
}

fn root(api_version: &str, kind: &str) -> Option<&'static table::Root> {
    schema::ROOTS
        .iter()
        .find(|r| r.api_version == api_version && r.kind == kind)
}

fn decode_with_depth(
    api_version: &str,
    kind: &str,
    raw: &[u8],
    max_depth: usize,
) -> Result<Value, DecodeError> {
    let root = root(api_version, kind).ok_or_else(|| DecodeError::UnknownKind {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
    })?;
    let fields = message::Decoder { max_depth }.message(root.message, raw, 1)?;
    // TypeMeta is inlined first in every Go object: kind, then apiVersion.
    let mut out = Map::with_capacity(fields.len() + 2);
    out.insert("kind".to_string(), Value::String(root.kind.to_string()));
    out.insert(
        "apiVersion".to_string(),
        Value::String(root.api_version.to_string()),
    );
    out.extend(fields);
    Ok(Value::Object(out))
}

/// The `runtime.Unknown` envelope.
struct Unknown<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

impl<'a> Unknown<'a> {
    fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut out = Unknown {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
            content_type: String::new(),
        };
        let mut r = Reader::new(buf);
        while !r.is_empty() {
            let (n, wire) = r.key()?;
            if !(1..=4).contains(&n) {
                r.skip(wire)?;
                continue;
            }
            if wire != WireType::Len {
                return Err(DecodeError::WrongWireType {
                    message: "k8s.io.apimachinery.pkg.runtime.Unknown",
                    field: n,
                    wire: wire.name(),
                });
            }
            let bytes = r.bytes()?;
            match n {
                1 => {
                    let mut t = Reader::new(bytes);
                    while !t.is_empty() {
                        let (n, wire) = t.key()?;
                        match (n, wire) {
                            (1 | 2, WireType::Len) => {
                                let s = String::from_utf8_lossy(t.bytes()?).into_owned();
                                if n == 1 {
                                    out.api_version = s;
                                } else {
                                    out.kind = s;
                                }
                            }
                            (1 | 2, _) => {
                                return Err(DecodeError::WrongWireType {
                                    message: "k8s.io.apimachinery.pkg.runtime.TypeMeta",
                                    field: n,
                                    wire: wire.name(),
                                })
                            }
                            _ => t.skip(wire)?,
                        }
                    }
                }
                2 => out.raw = bytes,
                3 => out.content_encoding = String::from_utf8_lossy(bytes).into_owned(),
                _ => out.content_type = String::from_utf8_lossy(bytes).into_owned(),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Card, Kind};

    #[test]
    fn schema_indices_are_in_range() {
        for msg in schema::MESSAGES {
            for f in msg.fields {
                if let Kind::Msg(m) = f.kind {
                    assert!(usize::from(m) < schema::MESSAGES.len(), "{}", msg.name);
                }
                assert!(f.inline || !f.json.is_empty(), "{}.{}", msg.name, f.number);
                if f.inline {
                    assert!(matches!((f.kind, f.card), (Kind::Msg(_), Card::One)));
                }
            }
            let mut numbers: Vec<u32> = msg.fields.iter().map(|f| f.number).collect();
            numbers.sort_unstable();
            numbers.dedup();
            assert_eq!(numbers.len(), msg.fields.len(), "{}", msg.name);
        }
        for r in schema::ROOTS {
            assert!(usize::from(r.message) < schema::MESSAGES.len());
        }
    }

    #[test]
    fn depth_is_capped() {
        // Deployment > spec > template > spec > containers: 5 levels.
        let raw = [0x12, 0x06, 0x1a, 0x04, 0x12, 0x02, 0x12, 0x00];
        assert!(decode_with_depth("apps/v1", "Deployment", &raw, 8).is_ok());
        assert_eq!(
            decode_with_depth("apps/v1", "Deployment", &raw, 3),
            Err(DecodeError::TooDeep(3))
        );
    }
}
