//! Strategic merge patch, as kube-apiserver applies it to built-in types
//! (k8s.io/apimachinery/pkg/util/strategicpatch, server side: parallel
//! deletion lists merged, unmatched nulls ignored).

mod errors;
mod order;

use serde_json::{Map, Value};

use crate::error::PatchError;
use crate::schema::{ListStrategy, PatchSchema};
use order::Kind;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_PREFIX: &str = "$deleteFromPrimitiveList";
const ORDER_PREFIX: &str = "$setElementOrder";

/// Applies a strategic merge patch to `target` using `schema` for list semantics.
pub fn strategic_merge(
    target: &Value,
    patch: &Value,
    schema: &dyn PatchSchema,
) -> Result<Value, PatchError> {
    let patch = match patch {
        Value::Object(p) => p.clone(),
        // A JSON null decodes to an empty patch map.
        Value::Null => return Ok(target.clone()),
        other => {
            let kind = match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "bool",
            };
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
            )));
        }
    };
    let original = target.as_object().cloned().unwrap_or_default();
    let merger = Merger { schema };
    let merged = merger.merge_map(original, patch, &mut Vec::new())?;
    Ok(Value::Object(merged))
}

struct Merger<'a> {
    schema: &'a dyn PatchSchema,
}

fn path_refs(path: &[String]) -> Vec<&str> {
    path.iter().map(String::as_str).collect()
}

/// The list field a `$deleteFromPrimitiveList/x` or `$setElementOrder/x` key names.
fn directive_target(key: &str, prefix: &str, err: &'static str) -> Result<String, PatchError> {
    match key.split_once('/') {
        Some((p, field)) if p == prefix => Ok(field.to_string()),
        _ => Err(PatchError::BadRequest(err.to_string())),
    }
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(DELETE_PREFIX)
        || key.starts_with(ORDER_PREFIX)
}

/// A patch value that is stored as-is: maps carrying `$patch` are dropped
/// (None), other directive keys are stripped.
fn remove_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE) {
                return None;
            }
            Some(Value::Object(
                m.into_iter()
                    .filter(|(k, _)| !is_directive_key(k))
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}

/// Drops null members at any depth (null list items stay).
fn discard_nulls(value: &mut Value) {
    match value {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// A new list item taken from the patch: directive keys and nulls removed,
/// as decoding it into the API type would.
fn clean_new_item(mut value: Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(m) => {
                m.retain(|k, v| !is_directive_key(k) && !v.is_null());
                m.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}

impl Merger<'_> {
    fn list_strategy(&self, path: &[String]) -> ListStrategy {
        self.schema.list(&path_refs(path))
    }

    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<Map<String, Value>, PatchError> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            return match directive.as_str() {
                Some("replace") => {
                    patch.shift_remove(DIRECTIVE);
                    Ok(patch)
                }
                Some("delete") => Ok(Map::new()),
                _ => Err(errors::bad_patch_type(directive, &patch)),
            };
        }
        apply_retain_keys(&mut original, &mut patch)?;
        self.apply_set_element_order(&mut original, &mut patch, path)?;

        for (key, patch_value) in patch {
            let (key, delete_list) = if key.starts_with(DELETE_PREFIX) {
                let field = directive_target(&key, DELETE_PREFIX, errors::BAD_PRIMITIVE_LIST)?;
                (field, true)
            } else {
                (key, false)
            };
            if patch_value.is_null() {
                original.shift_remove(&key);
                continue;
            }
            let same_type = original
                .get(&key)
                .map(|o| order::kind(o) == order::kind(&patch_value));
            if same_type != Some(true) {
                // Absent or of another type: take the patch value (deletion lists never add).
                if !delete_list {
                    let mut value = patch_value;
                    discard_nulls(&mut value);
                    match remove_directives(value) {
                        Some(v) => {
                            original.insert(key, v);
                        }
                        None => {
                            original.shift_remove(&key);
                        }
                    }
                }
                continue;
            }
            let Some(slot) = original.get_mut(&key) else {
                continue;
            };
            path.push(key);
            let merged = match (slot.take(), patch_value) {
                (Value::Object(o), Value::Object(p)) => {
                    self.merge_map(o, p, path).map(Value::Object)
                }
                (Value::Array(o), Value::Array(p)) => {
                    let strategy = self.list_strategy(path);
                    self.merge_list(o, p, strategy, delete_list, path)
                        .map(Value::Array)
                }
                (_, scalar) => Ok(scalar),
            };
            path.pop();
            *slot = merged?;
        }
        Ok(original)
    }

    /// `mergeSliceHandler`: merge-strategy lists (and deletion lists) merge,
    /// the rest are replaced by the patch.
    fn merge_list(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        strategy: ListStrategy,
        delete_list: bool,
        path: &mut Vec<String>,
    ) -> Result<Vec<Value>, PatchError> {
        if !(strategy.merge || delete_list) {
            return Ok(patch);
        }
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        let kind = order::element_kind(&[&original, &patch])?;
        if kind != Kind::Map {
            if delete_list {
                return Ok(original
                    .into_iter()
                    .filter(|v| !patch.contains(v))
                    .collect());
            }
            let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
            for item in original.iter().chain(patch.iter()) {
                if !merged.contains(item) {
                    merged.push(item.clone());
                }
            }
            let (patch_items, server_only) = order::partition(merged, &patch, None)?;
            return order::normalize(patch_items, server_only, &patch, &original, "", kind);
        }
        let key = strategy.merge_key.ok_or_else(|| {
            PatchError::Internal("cannot merge lists without merge key for struct".into())
        })?;
        let (original, patch) = special_elements(original, patch, key)?;
        let mut merged = original.clone();
        for item in &patch {
            let Value::Object(item_map) = item else {
                return Err(errors::bad_arg_type("map[string]interface {}", item));
            };
            let value = item_map
                .get(key)
                .ok_or_else(|| errors::no_merge_key(item, key))?;
            match order::find_by_key(&merged, key, value)? {
                Some(i) => {
                    let live = match merged[i].take() {
                        Value::Object(m) => m,
                        _ => Map::new(),
                    };
                    merged[i] = Value::Object(self.merge_map(live, item_map.clone(), path)?);
                }
                None => merged.push(clean_new_item(item.clone())),
            }
        }
        let (patch_items, server_only) = order::partition(merged, &patch, Some(key))?;
        order::normalize(patch_items, server_only, &patch, &original, key, kind)
    }

    /// `$setElementOrder/<list>`: merge that list now and order it as told.
    fn apply_set_element_order(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<(), PatchError> {
        let keys: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(ORDER_PREFIX))
            .cloned()
            .collect();
        for directive_key in keys {
            let order_value = patch.shift_remove(&directive_key).unwrap_or(Value::Null);
            let Value::Array(order_list) = order_value else {
                return Err(errors::bad_arg_type("[]interface {}", &order_value));
            };
            let field =
                directive_target(&directive_key, ORDER_PREFIX, errors::BAD_SET_ELEMENT_ORDER)?;
            let live = match original.get(&field) {
                None => None,
                Some(Value::Array(items)) => Some(items.clone()),
                Some(other) => return Err(errors::bad_arg_type("[]interface {}", other)),
            };
            let patched = match patch.get(&field) {
                None => None,
                Some(Value::Array(items)) => Some(items.clone()),
                Some(other) => return Err(errors::bad_arg_type("[]interface {}", other)),
            };
            path.push(field.clone());
            let strategy = self.list_strategy(path);
            let merged = self.ordered_merge(live.as_deref(), patched, &order_list, strategy, path);
            path.pop();
            if let Some(merged) = merged? {
                original.insert(field.clone(), Value::Array(merged));
                patch.shift_remove(&field);
            }
        }
        Ok(())
    }

    fn ordered_merge(
        &self,
        live: Option<&[Value]>,
        patched: Option<Vec<Value>>,
        order_list: &[Value],
        strategy: ListStrategy,
        path: &mut Vec<String>,
    ) -> Result<Option<Vec<Value>>, PatchError> {
        let merge_key = strategy.merge_key;
        validate_against_order(patched.as_deref().unwrap_or(&[]), order_list, merge_key)?;
        let patch_slice: Vec<Value> = patched.clone().unwrap_or_default();
        let merged = match (live, patched) {
            (None, None) => return Ok(None),
            (Some(l), None) => l.to_vec(),
            (None, Some(p)) => p.into_iter().filter_map(remove_directives).collect(),
            (Some(l), Some(p)) => self.merge_list(l.to_vec(), p, strategy, false, path)?,
        };
        let live = live.unwrap_or(&[]);
        let (patch_items, server_only) = order::partition(merged, order_list, merge_key)?;
        let kind = order::element_kind(&[live, &patch_slice])?;
        let both = order::normalize(
            patch_items,
            server_only,
            order_list,
            live,
            merge_key.unwrap_or(""),
            kind,
        )?;
        Ok(Some(both))
    }
}

/// `$patch: delete|replace|merge` items of a merging list of maps. Returns
/// the live list after deletions (or the replacement) and the remaining patch.
fn special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut rest = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Value::Object(m) = &item else {
            return Err(errors::bad_arg_type("map[string]interface {}", &item));
        };
        match m.get(DIRECTIVE) {
            None => rest.push(item),
            Some(Value::String(d)) if d == "delete" => {
                let value = m.get(key).ok_or_else(|| errors::no_merge_key(&item, key))?;
                while let Some(i) = order::find_by_key(&original, key, value)? {
                    original.remove(i);
                }
            }
            Some(Value::String(d)) if d == "replace" => replace = true,
            Some(Value::String(d)) if d == "merge" => {
                return Err(PatchError::Internal(
                    "merging lists cannot yet be specified in the patch".into(),
                ))
            }
            Some(other) => return Err(errors::bad_patch_type(other, m)),
        }
    }
    if replace {
        Ok((rest, Vec::new()))
    } else {
        Ok((original, rest))
    }
}

/// `$retainKeys`: clear live keys not listed; every patched key must be listed.
fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadRequest(errors::BAD_RETAIN_KEYS.into()));
    };
    let listed = |k: &str| retain.iter().any(|v| v.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null() || k.starts_with(DELETE_PREFIX) || k.starts_with(ORDER_PREFIX) {
            continue;
        }
        if !listed(k) {
            return Err(PatchError::BadRequest(errors::BAD_RETAIN_KEYS.into()));
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// Items of the patch list must appear in `$setElementOrder` in the same order.
fn validate_against_order(
    patch_list: &[Value],
    order_list: &[Value],
    merge_key: Option<&str>,
) -> Result<(), PatchError> {
    if order_list.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let kept = match merge_key {
        Some(_) => order::split_deletes(patch_list.to_vec())?.0,
        None => patch_list.to_vec(),
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < kept.len() && oi < order_list.len() {
        if kept[pi]
            .as_object()
            .is_some_and(|m| m.contains_key(DIRECTIVE))
        {
            pi += 1;
            continue;
        }
        if same_key(&kept[pi], &order_list[oi], merge_key)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < kept.len() && oi >= order_list.len() {
        return Err(PatchError::Internal(format!(
            "The order in patch list:\n{}\n doesn't match {ORDER_PREFIX} list:\n{}\n",
            crate::gofmt::v(&Value::Array(patch_list.to_vec())),
            crate::gofmt::v(&Value::Array(order_list.to_vec())),
        )));
    }
    Ok(())
}

fn same_key(left: &Value, right: &Value, merge_key: Option<&str>) -> Result<bool, PatchError> {
    let Some(key) = merge_key else {
        return Ok(left == right);
    };
    let l = left
        .as_object()
        .ok_or_else(|| errors::bad_arg_type("map[string]interface {}", left))?;
    let r = right
        .as_object()
        .ok_or_else(|| errors::bad_arg_type("map[string]interface {}", right))?;
    let lv = l.get(key).ok_or_else(|| errors::no_merge_key(left, key))?;
    let rv = r.get(key).ok_or_else(|| errors::no_merge_key(right, key))?;
    Ok(lv == rv)
}

#[cfg(test)]
mod tests;
