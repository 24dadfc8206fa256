//! Server-side apply and managed-fields bookkeeping for ordinary writes,
//! following kube-apiserver's field manager (k8s.io/apimachinery
//! pkg/util/managedfields) over structured-merge-diff semantics.

mod apply;
mod managed;
mod typed;

pub use apply::apply;

use serde_json::{Map, Value};

use crate::fieldpath::{PathElement, Set};
use crate::schema::PatchSchema;
use managed::{manager_id, Entry, Managed};
use typed::Typed;

/// Who writes, through which API version and subresource, and when.
#[derive(Clone, Copy, Debug)]
pub struct FieldManager<'a> {
    /// `fieldManager` of the request (kubectl: `kubectl`, `kubectl-edit`, ...).
    pub manager: &'a str,
    /// apiVersion of the request (`v1`, `apps/v1`).
    pub api_version: &'a str,
    /// `Some("status")` for writes to a subresource.
    pub subresource: Option<&'a str>,
    /// RFC 3339 timestamp recorded in the entry (`2026-11-23T07:58:18Z`).
    pub time: &'a str,
}

impl FieldManager<'_> {
    fn name(&self) -> &str {
        if self.manager.is_empty() {
            "unknown"
        } else {
            self.manager
        }
    }

    fn entry(&self, apply: bool, set: Set) -> Entry {
        Entry {
            manager: self.name().to_string(),
            apply,
            api_version: self.api_version.to_string(),
            subresource: self.subresource.unwrap_or("").to_string(),
            time: None,
            set,
        }
    }

    fn id(&self, apply: bool) -> String {
        manager_id(
            self.name(),
            apply,
            self.api_version,
            self.subresource.unwrap_or(""),
        )
    }
}

/// Paths no manager ever owns.
fn strip_set() -> Set {
    let mut set = Set::new();
    let f = |s: &str| PathElement::Field(s.to_string());
    set.insert(&[f("apiVersion")]);
    set.insert(&[f("kind")]);
    set.insert(&[f("metadata")]);
    for name in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&[f("metadata"), f(name)]);
    }
    set
}

fn reset_set(schema: &dyn PatchSchema, subresource: Option<&str>) -> Set {
    let mut set = Set::new();
    for path in schema.reset_fields(subresource) {
        let path: Vec<PathElement> = path
            .iter()
            .map(|s| PathElement::Field(s.to_string()))
            .collect();
        set.insert(&path);
    }
    set
}

fn managed_fields(obj: &Value) -> Option<&Value> {
    obj.get("metadata").and_then(|m| m.get("managedFields"))
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut obj = obj.clone();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("managedFields");
    }
    obj
}

fn set_managed_fields(obj: &mut Value, managed: &Managed) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    match managed.encode() {
        Some(encoded) => {
            let meta = root
                .entry("metadata")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert("managedFields".into(), encoded);
            }
        }
        None => {
            if let Some(meta) = root.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.shift_remove("managedFields");
            }
        }
    }
}

/// `managedFields: []` or `[{}]` in a write asks to clear ownership.
fn is_reset(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Array(items)) => match items.as_slice() {
            [] => true,
            [only] => only.as_object().is_some_and(Map::is_empty),
            _ => false,
        },
        _ => false,
    }
}

fn has_uid(obj: &Value) -> bool {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

/// Records a create, update or patch (operation `Update`) in
/// `new.metadata.managedFields`: `manager` gains what it added or changed,
/// other managers lose those fields and what was removed, and managers left
/// owning nothing are dropped. `old` is None for a create.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    fm: &FieldManager,
    schema: &dyn PatchSchema,
) {
    let live_fields = || Managed::decode(old.and_then(managed_fields)).unwrap_or_default();
    let requested = managed_fields(new);
    // Subresource writes cannot touch managedFields; otherwise fields the
    // request sets win unless it omits or garbles them.
    let mut managed = if fm.subresource.is_some() {
        live_fields()
    } else if is_reset(requested) {
        Managed::default()
    } else {
        match Managed::decode(requested) {
            Ok(m) if !m.is_empty() => m,
            _ => live_fields(),
        }
    };
    *new = without_managed_fields(new);
    // Objects that lost their managed fields are not tracked again until an apply.
    if managed.is_empty() && old.is_some_and(has_uid) {
        return;
    }
    let old = old.map_or_else(|| Value::Object(Map::new()), without_managed_fields);
    track_update(&old, new, fm, &mut managed, schema);
    set_managed_fields(new, &managed);
}

fn track_update(
    old: &Value,
    new: &Value,
    fm: &FieldManager,
    managed: &mut Managed,
    schema: &dyn PatchSchema,
) {
    let typed = Typed { schema };
    let cmp = typed
        .compare(old, new)
        .without(&reset_set(schema, fm.subresource));
    let changed = cmp.modified.union(&cmp.added);
    for entry in managed.entries.values_mut() {
        entry.set = entry.set.difference(&changed).difference(&cmp.removed);
    }
    managed.prune_empty();
    let taken = changed.difference(&strip_set());
    if taken.is_empty() {
        return;
    }
    let id = fm.id(false);
    let mut entry = fm.entry(false, taken);
    if let Some(previous) = managed.entries.get(&id) {
        entry.set = entry.set.union(&previous.set);
    }
    entry.time = Some(fm.time.to_string());
    managed.entries.insert(id, entry);
}

#[cfg(test)]
mod tests;
