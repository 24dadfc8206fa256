//! Server-side apply.

use serde_json::{Map, Value};

use super::managed::{Entry, Managed};
use super::typed::{values_equal, Typed};
use super::{
    managed_fields, reset_set, set_managed_fields, strip_set, track_update, without_managed_fields,
    FieldManager,
};
use crate::error::{ApplyError, Conflict};
use crate::fieldpath::{path_string, Set};
use crate::schema::PatchSchema;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// Total annotation size limit (ValidateAnnotationsSize).
const ANNOTATIONS_LIMIT: usize = 256 * 1024;

/// Conflicting fields per manager identifier.
type Conflicts = Vec<(String, Set)>;

enum Failure {
    Error(ApplyError),
    Conflicts(Managed, Conflicts),
}

impl From<ApplyError> for Failure {
    fn from(e: ApplyError) -> Failure {
        Failure::Error(e)
    }
}

/// Applies `applied` (a server-side apply configuration) to `live` (None
/// when the object does not exist yet) for manager `fm`, returning the new
/// object with its `metadata.managedFields`. Fields that `fm` applied before
/// and no longer applies are removed unless another manager owns them.
/// Fields other managers own with a different value are conflicts unless
/// `force` is set, which takes them over.
///
/// For a create the caller checks that `applied` has the endpoint's kind;
/// for an update the live object's kind is compared here.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    fm: &FieldManager,
    force: bool,
    schema: &dyn PatchSchema,
) -> Result<Value, ApplyError> {
    let (api_version, kind) = (str_at(applied, "/apiVersion"), str_at(applied, "/kind"));
    let live_kind = live.map(|l| str_at(l, "/kind")).unwrap_or_default();
    if api_version != fm.api_version || (!live_kind.is_empty() && kind != live_kind) {
        return Err(ApplyError::BadRequest(format!(
            "invalid object type: {}",
            gvk_string(&api_version, &kind)
        )));
    }
    let mut result = match apply_once(live, applied, fm, force, schema) {
        Ok(v) => v,
        Err(Failure::Error(e)) => return Err(e),
        Err(Failure::Conflicts(managed, conflicts)) => {
            // kubectl moving from client-side to server-side apply may take
            // over what its last client-side apply set and nobody changed since.
            let allowed = (fm.manager == "kubectl")
                .then(|| live.and_then(|l| allowed_by_last_applied(l, fm.api_version, schema)))
                .flatten();
            let Some(allowed) = allowed else {
                return Err(conflict_error(&managed, &conflicts));
            };
            let remaining: Conflicts = conflicts
                .into_iter()
                .map(|(id, set)| (id, set.difference(&allowed)))
                .filter(|(_, set)| !set.is_empty())
                .collect();
            if !remaining.is_empty() {
                return Err(conflict_error(&managed, &remaining));
            }
            match apply_once(live, applied, fm, true, schema) {
                Ok(v) => v,
                Err(Failure::Error(e)) => return Err(e),
                Err(Failure::Conflicts(managed, conflicts)) => {
                    return Err(conflict_error(&managed, &conflicts))
                }
            }
        }
    };
    if fm.manager == "kubectl" {
        sync_last_applied(&mut result, applied);
    }
    Ok(result)
}

fn str_at(v: &Value, ptr: &str) -> String {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn gvk_string(api_version: &str, kind: &str) -> String {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    format!("{group}/{version}, Kind={kind}")
}

fn apply_once(
    live: Option<&Value>,
    applied: &Value,
    fm: &FieldManager,
    force: bool,
    schema: &dyn PatchSchema,
) -> Result<Value, Failure> {
    let mut managed = match live {
        Some(l) => Managed::decode(managed_fields(l))
            .map_err(|e| ApplyError::Internal(format!("failed to decode managed fields: {e}")))?,
        None => Managed::default(),
    };
    let live = live.map_or_else(|| Value::Object(Map::new()), without_managed_fields);
    if managed.is_empty() {
        // Whatever exists before the first apply is owned by "before-first-apply".
        let before = FieldManager {
            manager: "before-first-apply",
            ..*fm
        };
        let empty = Value::Object(Map::new());
        track_update(&empty, &live, &before, &mut managed, schema);
    }
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|v| !v.is_null())
    {
        return Err(ApplyError::BadRequest("metadata.managedFields must be nil".into()).into());
    }
    let typed = Typed { schema };
    let invalid = |errors: Vec<String>| {
        let detail = match errors.as_slice() {
            [one] => one.clone(),
            many => format!("errors:\n  {}", many.join("\n  ")),
        };
        ApplyError::Internal(format!(
            "failed to create typed patch object ({}/{}; {}): {detail}",
            str_at(applied, "/metadata/namespace"),
            str_at(applied, "/metadata/name"),
            gvk_string(&str_at(applied, "/apiVersion"), &str_at(applied, "/kind"))
        ))
    };
    let errors = typed.validate(applied);
    if !errors.is_empty() {
        return Err(invalid(errors).into());
    }
    let merged = typed.merge(&live, applied).map_err(|e| invalid(vec![e]))?;

    let id = fm.id(true);
    let ignored = reset_set(schema, fm.subresource);
    let last = managed.entries.get(&id).map(|e| e.set.clone());
    let previous_time = managed.entries.get(&id).and_then(|e| e.time.clone());
    let mut entry = fm.entry(
        true,
        typed.field_set(applied).recursive_difference(&ignored),
    );
    entry.time = previous_time;
    managed.entries.insert(id.clone(), entry);
    let merged = match &last {
        Some(last) if !last.is_empty() => prune(&typed, &merged, &managed, last),
        _ => merged,
    };

    // Other managers lose what changed (or conflict) and what was removed.
    let cmp = typed.compare(&live, &merged).without(&ignored);
    let changed = cmp.modified.union(&cmp.added);
    let conflicts: Conflicts = managed
        .entries
        .iter()
        .filter(|(other, _)| **other != id)
        .map(|(other, entry)| (other.clone(), entry.set.intersection(&changed)))
        .filter(|(_, taken)| !taken.is_empty())
        .collect();
    if !force && !conflicts.is_empty() {
        return Err(Failure::Conflicts(managed, conflicts));
    }
    for (other, entry) in managed.entries.iter_mut() {
        if *other != id {
            entry.set = entry.set.difference(&changed).difference(&cmp.removed);
        }
    }
    if let Some(entry) = managed.entries.get_mut(&id) {
        entry.set = entry.set.difference(&strip_set());
    }
    managed.prune_empty();

    let mut result = if values_equal(&merged, &live) {
        live
    } else {
        if let Some(entry) = managed.entries.get_mut(&id) {
            entry.time = Some(fm.time.to_string());
        }
        merged
    };
    set_managed_fields(&mut result, &managed);
    Ok(result)
}

/// Removes what the applier applied last time and no longer applies, unless
/// some manager still owns it (structured-merge-diff's prune).
fn prune(typed: &Typed, merged: &Value, managed: &Managed, last: &Set) -> Value {
    let last = last.with_named_fields_as_members();
    let owned = managed
        .entries
        .values()
        .fold(Set::new(), |acc, e| acc.union(&e.set))
        .with_named_fields_as_members();
    let merged_set = typed.field_set(merged).with_named_fields_as_members();
    let pruned = typed.remove(merged, &last);
    let pruned_set = typed.field_set(&pruned).with_named_fields_as_members();
    // Put back what anyone owns ...
    let pruned = typed.remove(merged, &merged_set.difference(&pruned_set.union(&owned)));
    let pruned_set = typed.field_set(&pruned).with_named_fields_as_members();
    // ... and remove only what the applier had applied.
    typed.remove(
        merged,
        &merged_set.difference(&pruned_set).intersection(&last),
    )
}

/// Fields of the last client-side apply that still hold the applied values.
fn allowed_by_last_applied(
    live: &Value,
    api_version: &str,
    schema: &dyn PatchSchema,
) -> Option<Set> {
    let text = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(LAST_APPLIED))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())?;
    let last: Value = serde_json::from_str(text).ok()?;
    if last.get("apiVersion").and_then(Value::as_str) != Some(api_version) {
        return None;
    }
    let typed = Typed { schema };
    if !typed.validate(&last).is_empty() {
        return None;
    }
    let cmp = typed.compare(&last, &without_managed_fields(live));
    Some(
        typed
            .field_set(&last)
            .difference(&cmp.modified)
            .difference(&cmp.added)
            .difference(&cmp.removed),
    )
}

fn conflict_error(managed: &Managed, conflicts: &[(String, Set)]) -> ApplyError {
    let mut list = Vec::new();
    let mut lines = Vec::new();
    for (id, set) in conflicts {
        let who = managed
            .entries
            .get(id)
            .map(Entry::describe)
            .unwrap_or_else(|| crate::gofmt::quote(id));
        lines.push(format!("conflicts with {who}:"));
        for path in set.paths() {
            let field = path_string(&path);
            lines.push(format!("- {field}"));
            list.push(Conflict {
                manager: who.clone(),
                field,
            });
        }
    }
    let message = match list.as_slice() {
        [one] => format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.manager, one.field
        ),
        many => format!(
            "Apply failed with {} conflicts: {}",
            many.len(),
            lines.join("\n")
        ),
    };
    ApplyError::Conflict {
        message,
        conflicts: list,
    }
}

/// kubectl's server-side apply keeps an existing client-side-apply annotation
/// in step with the applied configuration.
fn sync_last_applied(obj: &mut Value, applied: &Value) {
    let Some(annotations) = obj
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if annotations
        .get(LAST_APPLIED)
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return;
    }
    let mut config = applied.clone();
    if let Some(a) = config
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        a.shift_remove(LAST_APPLIED);
    }
    let encoded = go_json(&config) + "\n";
    annotations.insert(LAST_APPLIED.into(), Value::String(encoded));
    let size: usize = annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    if size > ANNOTATIONS_LIMIT {
        annotations.shift_remove(LAST_APPLIED);
    }
}

/// encoding/json's output: map keys sorted, HTML characters escaped.
fn go_json(value: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k.as_str()])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}
