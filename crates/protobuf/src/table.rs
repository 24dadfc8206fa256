//! Shapes of the static schema table that `schema.rs` (generated) fills in.

/// Protobuf scalar types used by the Kubernetes API.
#[allow(dead_code)] // Double: no v1.32 type in the table uses it yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    String,
    Bool,
    Int32,
    Int64,
    Double,
    Bytes,
}

/// Messages whose protobuf and JSON forms are custom-coded in Go.
#[allow(dead_code)] // Duration, RawExtension: handled, not reached by today's roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// meta.v1.Time: RFC3339 seconds, `null` when zero.
    Time,
    /// meta.v1.MicroTime: RFC3339 with 6 fractional digits, `null` when zero.
    MicroTime,
    /// meta.v1.Duration: Go's `time.Duration.String()`.
    Duration,
    /// meta.v1.FieldsV1: embedded JSON.
    FieldsV1,
    /// intstr.IntOrString: a number or a string.
    IntOrString,
    /// resource.Quantity: its string form.
    Quantity,
    /// runtime.RawExtension: embedded JSON.
    RawExtension,
}

/// What a field holds (the element type for repeated fields, the value type for maps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar(Scalar),
    /// Index into [`crate::schema::MESSAGES`].
    Msg(u16),
    Special(Special),
}

/// Cardinality; map keys are always strings in the Kubernetes API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    One,
    Repeated,
    Map,
}

/// One protobuf field with what Go's encoding/json needs to print it.
#[derive(Debug)]
pub struct Field {
    pub number: u32,
    /// JSON key (unused for `inline` fields, whose members are printed in place).
    pub json: &'static str,
    pub kind: Kind,
    pub card: Card,
    /// Go type is a pointer: presence is kept even for zero values.
    pub pointer: bool,
    /// Go tag has `omitempty`.
    pub omitempty: bool,
    /// Embedded Go struct with `json:",inline"`.
    pub inline: bool,
}

/// A message, its fields in Go declaration order (which is the JSON order).
#[derive(Debug)]
pub struct Message {
    pub name: &'static str,
    pub fields: &'static [Field],
}

/// A top-level object that a request body may carry.
#[derive(Debug)]
pub struct Root {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub message: u16,
}
