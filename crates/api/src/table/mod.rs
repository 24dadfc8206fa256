//! Server-side printing: the `meta.k8s.io/v1 Table` that `kubectl get`
//! asks for (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), with
//! the columns and cell values of kube-apiserver's printers. Like the real
//! server it always fills the wide (priority 1) columns; kubectl hides them
//! unless `-o wide`.

pub(crate) mod access;
mod columns;
mod docs;
mod duration;
mod printers;
#[cfg(test)]
mod tests;

use crate::resource::ResourceInfo;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

pub use columns::Column;
pub use duration::{human_duration, short_human_duration};
pub(crate) use printers::pod_ip;

/// What each row's `object` carries (`?includeObject=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncludeObject {
    /// `"object": null`.
    None,
    /// A `PartialObjectMetadata` with the object's metadata (kubectl's default).
    #[default]
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` query parameter (empty means `Metadata`).
    /// The error is kube-apiserver's 400 BadRequest message.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(format!(
                "Unable to convert to Table as requested: includeObject: Invalid value: {}: must be 'Metadata', 'Object', 'None', or empty",
                crate::field::go_quote(other)
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableOptions {
    pub include_object: IncludeObject,
    /// Leaves `columnDefinitions` null, as kube-apiserver's internal
    /// `TableOptions.NoHeaders` does.
    pub no_headers: bool,
}

/// The Table for `objects` of `resource` (one object for a GET, the items
/// for a LIST, in order). AGE cells are relative to `now`.
/// `metadata` is left empty: the caller fills `resourceVersion` (and
/// `continue`/`remainingItemCount` for lists).
pub fn table(
    resource: &ResourceInfo,
    objects: &[Value],
    now: DateTime<Utc>,
    include_object: IncludeObject,
) -> Value {
    table_with(
        resource,
        objects,
        now,
        &TableOptions {
            include_object,
            no_headers: false,
        },
    )
}

/// [`table`] with all options.
pub fn table_with(
    resource: &ResourceInfo,
    objects: &[Value],
    now: DateTime<Utc>,
    options: &TableOptions,
) -> Value {
    let columns = if options.no_headers {
        Value::Null
    } else {
        column_definitions(resource)
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": columns,
        "rows": rows(resource, objects, now, options.include_object),
    })
}

/// The `columnDefinitions` array for `resource`.
pub fn column_definitions(resource: &ResourceInfo) -> Value {
    Value::Array(
        printers::columns(resource)
            .iter()
            .map(Column::to_json)
            .collect(),
    )
}

/// The columns of `resource`, for callers that lay out tables themselves.
pub fn columns(resource: &ResourceInfo) -> &'static [Column] {
    printers::columns(resource)
}

/// The `rows` of the Table: `cells`, `conditions` where upstream sets them
/// (finished pods), and `object`.
pub fn rows(
    resource: &ResourceInfo,
    objects: &[Value],
    now: DateTime<Utc>,
    include_object: IncludeObject,
) -> Vec<Value> {
    objects
        .iter()
        .map(|obj| {
            let row = printers::row(resource, obj, now);
            let mut out = Map::new();
            out.insert("cells".into(), Value::Array(row.cells));
            if let Some(conditions) = row.conditions {
                out.insert("conditions".into(), conditions);
            }
            out.insert("object".into(), row_object(resource, obj, include_object));
            Value::Object(out)
        })
        .collect()
}

fn row_object(resource: &ResourceInfo, obj: &Value, include: IncludeObject) -> Value {
    match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
        IncludeObject::Object => with_type_meta(resource, obj),
    }
}

/// The object with `kind` and `apiVersion` first, as served on its own
/// (list items are stored without them).
fn with_type_meta(resource: &ResourceInfo, obj: &Value) -> Value {
    let Some(map) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::new();
    out.insert(
        "kind".into(),
        map.get("kind")
            .cloned()
            .unwrap_or_else(|| resource.kind.into()),
    );
    out.insert(
        "apiVersion".into(),
        map.get("apiVersion")
            .cloned()
            .unwrap_or_else(|| resource.api_version().into()),
    );
    for (k, v) in map {
        if k != "kind" && k != "apiVersion" {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}
