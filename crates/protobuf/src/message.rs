//! Table-driven decoding of one message into the JSON object Go's
//! encoding/json would print for the same Go struct.

use std::borrow::Cow;
use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::schema::MESSAGES;
use crate::special;
use crate::table::{Card, Field, Kind, Message, Scalar};
use crate::wire::{Reader, WireType};
use crate::DecodeError;

/// What was seen on the wire for one field, before printing.
enum Slot<'a> {
    Absent,
    /// A singular scalar, already converted (last occurrence wins).
    Value(Value),
    /// A singular message; repeated occurrences are merged by concatenation,
    /// which is protobuf's merge rule.
    Bytes(Cow<'a, [u8]>),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

pub struct Decoder {
    pub max_depth: usize,
}

impl Decoder {
    /// Decodes message `index` of the schema from `buf` into a JSON object.
    pub fn message(
        &self,
        index: u16,
        buf: &[u8],
        depth: usize,
    ) -> Result<Map<String, Value>, DecodeError> {
        if depth > self.max_depth {
            return Err(DecodeError::TooDeep(self.max_depth));
        }
        let msg = &MESSAGES[usize::from(index)];
        let mut slots: Vec<Slot<'_>> = Vec::with_capacity(msg.fields.len());
        slots.resize_with(msg.fields.len(), || Slot::Absent);

        let mut r = Reader::new(buf);
        while !r.is_empty() {
            let (number, wire) = r.key()?;
            let Some(i) = msg.fields.iter().position(|f| f.number == number) else {
                r.skip(wire)?;
                continue;
            };
            self.read_field(msg, &msg.fields[i], wire, &mut r, &mut slots[i], depth)?;
        }

        let mut out = Map::new();
        for (field, slot) in msg.fields.iter().zip(slots) {
            self.print(field, slot, &mut out, depth)?;
        }
        Ok(out)
    }

    fn read_field<'a>(
        &self,
        msg: &'static Message,
        field: &'static Field,
        wire: WireType,
        r: &mut Reader<'a>,
        slot: &mut Slot<'a>,
        depth: usize,
    ) -> Result<(), DecodeError> {
        let wrong = || DecodeError::WrongWireType {
            message: msg.name,
            field: field.number,
            wire: wire.name(),
        };
        match (field.card, field.kind) {
            (Card::One, Kind::Scalar(s)) => {
                *slot = Slot::Value(scalar(s, wire, r).ok_or_else(wrong)??);
            }
            (Card::One, Kind::Msg(_) | Kind::Special(_)) => {
                if wire != WireType::Len {
                    return Err(wrong());
                }
                let bytes = r.bytes()?;
                *slot = match std::mem::replace(slot, Slot::Absent) {
                    Slot::Bytes(prev) => Slot::Bytes(Cow::Owned([&prev[..], bytes].concat())),
                    _ => Slot::Bytes(Cow::Borrowed(bytes)),
                };
            }
            (Card::Repeated, kind) => {
                let mut list = match std::mem::replace(slot, Slot::Absent) {
                    Slot::List(list) => list,
                    _ => Vec::new(),
                };
                match kind {
                    Kind::Scalar(s) if wire == WireType::Len && is_packable(s) => {
                        // Packed encoding: a run of values in one payload.
                        let mut packed = Reader::new(r.bytes()?);
                        while !packed.is_empty() {
                            list.push(scalar(s, packed_wire(s), &mut packed).ok_or_else(wrong)??);
                        }
                    }
                    Kind::Scalar(s) => list.push(scalar(s, wire, r).ok_or_else(wrong)??),
                    Kind::Msg(_) | Kind::Special(_) if wire != WireType::Len => {
                        return Err(wrong());
                    }
                    Kind::Msg(m) => {
                        list.push(Value::Object(self.message(m, r.bytes()?, depth + 1)?));
                    }
                    Kind::Special(sp) => list.push(special::decode(sp, r.bytes()?)?),
                }
                *slot = Slot::List(list);
            }
            (Card::Map, kind) => {
                if wire != WireType::Len {
                    return Err(wrong());
                }
                let (key, value) = self.map_entry(msg, field, kind, r.bytes()?, depth)?;
                match slot {
                    Slot::Map(map) => {
                        map.insert(key, value);
                    }
                    other => *other = Slot::Map(BTreeMap::from([(key, value)])),
                }
            }
        }
        Ok(())
    }

    /// A map entry is a message {1 key, 2 value}; either may be missing.
    fn map_entry(
        &self,
        msg: &'static Message,
        field: &'static Field,
        kind: Kind,
        buf: &[u8],
        depth: usize,
    ) -> Result<(String, Value), DecodeError> {
        let mut key = String::new();
        let mut value: Option<Value> = None;
        let mut r = Reader::new(buf);
        while !r.is_empty() {
            let (n, wire) = r.key()?;
            let wrong = || DecodeError::WrongWireType {
                message: msg.name,
                field: field.number,
                wire: wire.name(),
            };
            match n {
                1 if wire == WireType::Len => {
                    key = String::from_utf8_lossy(r.bytes()?).into_owned();
                }
                1 => return Err(wrong()),
                2 => {
                    value = Some(match kind {
                        Kind::Scalar(s) => scalar(s, wire, &mut r).ok_or_else(wrong)??,
                        _ if wire != WireType::Len => return Err(wrong()),
                        Kind::Msg(m) => Value::Object(self.message(m, r.bytes()?, depth + 1)?),
                        Kind::Special(sp) => special::decode(sp, r.bytes()?)?,
                    });
                }
                _ => r.skip(wire)?,
            }
        }
        let value = match value {
            Some(v) => v,
            None => self.zero(kind, depth)?,
        };
        Ok((key, value))
    }

    /// The JSON of a Go zero value of `kind` (a missing map value).
    fn zero(&self, kind: Kind, depth: usize) -> Result<Value, DecodeError> {
        Ok(match kind {
            Kind::Scalar(s) => zero_scalar(s),
            Kind::Msg(m) => Value::Object(self.message(m, &[], depth + 1)?),
            Kind::Special(sp) => special::decode(sp, &[])?,
        })
    }

    /// Adds `field` to `out` the way encoding/json prints the Go field.
    fn print(
        &self,
        field: &Field,
        slot: Slot<'_>,
        out: &mut Map<String, Value>,
        depth: usize,
    ) -> Result<(), DecodeError> {
        let key = || field.json.to_string();
        match (field.card, field.kind, slot) {
            (Card::One, Kind::Msg(m), slot) if field.inline => {
                // An embedded struct prints its members in place.
                let buf = match &slot {
                    Slot::Bytes(b) => &b[..],
                    _ if field.pointer => return Ok(()),
                    _ => &[],
                };
                out.extend(self.message(m, buf, depth + 1)?);
            }
            (Card::One, Kind::Scalar(s), Slot::Value(v)) => {
                // A pointer keeps an explicit zero; a value field drops it under omitempty.
                let empty = is_zero(&v) || (s == Scalar::Bytes && v == "");
                if field.pointer || !field.omitempty || !empty {
                    out.insert(key(), v);
                }
            }
            (Card::One, Kind::Scalar(s), _) => {
                if field.pointer || s == Scalar::Bytes {
                    // nil pointer or nil []byte.
                    if !field.omitempty {
                        out.insert(key(), Value::Null);
                    }
                } else if !field.omitempty {
                    out.insert(key(), zero_scalar(s));
                }
            }
            (Card::One, kind, Slot::Bytes(b)) => {
                // omitempty never drops a struct, nor a non-nil pointer.
                let v = match kind {
                    Kind::Msg(m) => Value::Object(self.message(m, &b, depth + 1)?),
                    Kind::Special(sp) => special::decode(sp, &b)?,
                    Kind::Scalar(s) => zero_scalar(s),
                };
                out.insert(key(), v);
            }
            (Card::One, kind, _) => {
                if field.pointer {
                    if !field.omitempty {
                        out.insert(key(), Value::Null);
                    }
                } else {
                    out.insert(key(), self.zero(kind, depth)?);
                }
            }
            (Card::Repeated, _, Slot::List(list)) if !list.is_empty() => {
                out.insert(key(), Value::Array(list));
            }
            (Card::Map, _, Slot::Map(map)) if !map.is_empty() => {
                // encoding/json sorts map keys; BTreeMap iterates bytewise like Go.
                out.insert(key(), Value::Object(map.into_iter().collect()));
            }
            (Card::Repeated | Card::Map, _, _) => {
                // Protobuf cannot carry an empty non-nil slice or map: it is nil.
                if !field.omitempty {
                    out.insert(key(), Value::Null);
                }
            }
        }
        Ok(())
    }
}

fn is_packable(s: Scalar) -> bool {
    matches!(
        s,
        Scalar::Bool | Scalar::Int32 | Scalar::Int64 | Scalar::Double
    )
}

fn packed_wire(s: Scalar) -> WireType {
    match s {
        Scalar::Double => WireType::Fixed64,
        _ => WireType::Varint,
    }
}

/// Reads one scalar; `None` when the wire type does not fit the field.
fn scalar(s: Scalar, wire: WireType, r: &mut Reader<'_>) -> Option<Result<Value, DecodeError>> {
    let want = match s {
        Scalar::String | Scalar::Bytes => WireType::Len,
        Scalar::Bool | Scalar::Int32 | Scalar::Int64 => WireType::Varint,
        Scalar::Double => WireType::Fixed64,
    };
    if wire != want {
        return None;
    }
    Some(match s {
        Scalar::String => r
            .bytes()
            .map(|b| Value::String(String::from_utf8_lossy(b).into_owned())),
        Scalar::Bytes => r
            .bytes()
            .map(|b| Value::String(base64::engine::general_purpose::STANDARD.encode(b))),
        Scalar::Bool => r.varint().map(|v| Value::Bool(v != 0)),
        // int32 travels sign-extended to 64 bits; Go keeps the low 32.
        Scalar::Int32 => r.varint().map(|v| Value::from(v as i32)),
        Scalar::Int64 => r.varint().map(|v| Value::from(v as i64)),
        Scalar::Double => r.fixed64().and_then(|v| {
            Number::from_f64(f64::from_bits(v))
                .map(Value::Number)
                .ok_or(DecodeError::NonFiniteNumber)
        }),
    })
}

fn zero_scalar(s: Scalar) -> Value {
    match s {
        Scalar::String | Scalar::Bytes => Value::String(String::new()),
        Scalar::Bool => Value::Bool(false),
        Scalar::Int32 | Scalar::Int64 => Value::from(0),
        Scalar::Double => Value::from(0.0),
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}
