//! Ordering of merged lists, as strategicpatch does it: patch items keep the
//! patch (or `$setElementOrder`) order, server-only items keep the live
//! order, and the two are interleaved using the live order where both are known.

use serde_json::Value;

use super::errors;
use crate::error::PatchError;

/// Go's type of a decoded JSON value, as strategicpatch compares element types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Nil,
    Bool,
    Int,
    Float,
    String,
    Slice,
    Map,
}

pub(super) fn kind(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Nil,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_f64() => Kind::Float,
        Value::Number(_) => Kind::Int,
        Value::String(_) => Kind::String,
        Value::Array(_) => Kind::Slice,
        Value::Object(_) => Kind::Map,
    }
}

/// The common element type of the lists; they must agree and not be lists.
pub(super) fn element_kind(lists: &[&[Value]]) -> Result<Kind, PatchError> {
    let mut prev: Option<Kind> = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        let k = kind(item);
        match prev {
            None => {
                if k == Kind::Slice {
                    return Err(PatchError::Unprocessable(
                        "lists of lists are not supported".into(),
                    ));
                }
                prev = Some(k);
            }
            Some(p) if p != k => {
                let rendered: Vec<String> = lists
                    .iter()
                    .map(|l| crate::gofmt::v(&Value::Array(l.to_vec())))
                    .collect();
                return Err(PatchError::Internal(format!(
                    "list element types are not identical: [{}]",
                    rendered.join(" ")
                )));
            }
            Some(_) => {}
        }
    }
    prev.ok_or_else(|| PatchError::Internal("no elements in any of the given slices".into()))
}

/// What an item is identified by: its merge key value for maps, itself otherwise.
fn ident<'a>(item: &'a Value, merge_key: &str, kind: Kind) -> Option<&'a Value> {
    if kind == Kind::Map {
        item.as_object().and_then(|m| m.get(merge_key))
    } else {
        Some(item)
    }
}

/// Position of `item` in `list`, compared by identity.
fn index(list: &[Value], item: &Value, merge_key: &str, kind: Kind) -> Option<usize> {
    let want = ident(item, merge_key, kind);
    list.iter().position(|v| ident(v, merge_key, kind) == want)
}

/// Every item must be a map carrying the merge key.
fn validate_merge_key(merge_key: &str, lists: &[&[Value]]) -> Result<(), PatchError> {
    for item in lists.iter().flat_map(|l| l.iter()) {
        let m = item
            .as_object()
            .ok_or_else(|| errors::bad_arg_type("map[string]interface {}", item))?;
        if !m.contains_key(merge_key) {
            return Err(errors::no_merge_key(item, merge_key));
        }
    }
    Ok(())
}

/// Splits `$patch: delete` items (kept last) from the others.
pub(super) fn split_deletes(list: Vec<Value>) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut keep = Vec::new();
    let mut delete = Vec::new();
    for item in list {
        let m = item
            .as_object()
            .ok_or_else(|| errors::bad_arg_type("map[string]interface {}", &item))?;
        if m.get("$patch").and_then(Value::as_str) == Some("delete") {
            delete.push(item);
        } else {
            keep.push(item);
        }
    }
    Ok((keep, delete))
}

/// Sorts `to_sort` by the positions its items have in `order` (a stable
/// insertion sort with strategicpatch's comparator: unknown items never move
/// ahead of others).
fn sort_by_order(
    to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>, PatchError> {
    let (mut items, deletes) = if kind == Kind::Map {
        validate_merge_key(merge_key, &[&to_sort, order])?;
        split_deletes(to_sort)?
    } else {
        (to_sort, Vec::new())
    };
    let less = |a: &Value, b: &Value| match (
        index(order, a, merge_key, kind),
        index(order, b, merge_key, kind),
    ) {
        (Some(i), Some(j)) => i < j,
        _ => true,
    };
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && less(&items[j], &items[j - 1]) {
            items.swap(j, j - 1);
            j -= 1;
        }
    }
    items.extend(deletes);
    Ok(items)
}

/// Orders patch items by `patch_order` and server-only items by
/// `server_order`, then interleaves them.
pub(super) fn normalize(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Result<Vec<Value>, PatchError> {
    let patch_items = sort_by_order(patch_items, patch_order, merge_key, kind)?;
    let server_only = sort_by_order(server_only, server_order, merge_key, kind)?;
    Ok(interleave(
        server_only,
        patch_items,
        server_order,
        merge_key,
        kind,
    ))
}

/// Inserts each server-only item before the first patch item that comes
/// after it in the live order; patch items the live list lacks go first.
fn interleave(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    kind: Kind,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (index(server_order, l, merge_key, kind), index(server_order, r, merge_key, kind)),
                (Some(i), Some(j)) if i < j
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

/// Splits `merged` into items present in `by` and the rest, keeping order.
pub(super) fn partition(
    merged: Vec<Value>,
    by: &[Value],
    merge_key: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut inside = Vec::new();
    let mut outside = Vec::new();
    for item in merged {
        let present = match merge_key {
            None => by.contains(&item),
            Some(key) => {
                let m = item
                    .as_object()
                    .ok_or_else(|| errors::bad_arg_type("map[string]interface {}", &item))?;
                let value = m.get(key).ok_or_else(|| errors::no_merge_key(&item, key))?;
                find_by_key(by, key, value)?.is_some()
            }
        };
        if present {
            inside.push(item);
        } else {
            outside.push(item);
        }
    }
    Ok((inside, outside))
}

/// Index of the first map in `list` whose `key` equals `value`.
pub(super) fn find_by_key(
    list: &[Value],
    key: &str,
    value: &Value,
) -> Result<Option<usize>, PatchError> {
    for (i, item) in list.iter().enumerate() {
        let m = item
            .as_object()
            .ok_or_else(|| PatchError::Internal(format!("value for key {i} is not a map")))?;
        if m.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}
