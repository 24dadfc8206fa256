//! Walks of an object guided by the schema, as structured-merge-diff does
//! them: the field set of a value, validation of an applied configuration,
//! comparison of two versions, the apply merge, and removal of field paths.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::fieldpath::{compare_values, path_string, PathElement, Set};
use crate::schema::{ListStrategy, ListType, PatchSchema};

pub(crate) struct Typed<'a> {
    pub schema: &'a dyn PatchSchema,
}

/// Added, modified and removed paths between two versions of an object.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    pub added: Set,
    pub modified: Set,
    pub removed: Set,
}

impl Comparison {
    /// Drops paths under the server-reset fields.
    pub fn without(self, ignored: &Set) -> Comparison {
        Comparison {
            added: self.added.recursive_difference(ignored),
            modified: self.modified.recursive_difference(ignored),
            removed: self.removed.recursive_difference(ignored),
        }
    }
}

/// Structural equality where 1 and 1.0 are the same number.
pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => compare_values(a, b).is_eq(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(l, r)| values_equal(l, r))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// The path element that identifies a list item.
pub(crate) fn item_element(item: &Value, strategy: &ListStrategy) -> Result<PathElement, String> {
    match strategy.list_type {
        ListType::Map(keys) => {
            let m = match item {
                Value::Null => {
                    return Err("associative list with keys may not have a null element".into())
                }
                Value::Object(m) => m,
                _ => return Err("associative list with keys may not have non-map elements".into()),
            };
            let mut fields: Vec<(String, Value)> = keys
                .iter()
                .filter_map(|k| match m.get(k.name) {
                    Some(v) => Some((k.name.to_string(), v.clone())),
                    None => k
                        .default
                        .map(|d| (k.name.to_string(), Value::String(d.to_string()))),
                })
                .collect();
            if !keys.is_empty() && fields.is_empty() {
                let names: Vec<String> = keys.iter().map(|k| crate::gofmt::quote(k.name)).collect();
                return Err(format!(
                    "associative list with keys has an element that omits all key fields [{}] (and doesn't have default values for any key fields)",
                    names.join(" ")
                ));
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
        ListType::Set => match item {
            Value::Object(_) => {
                Err("associative list without keys has an element that's a map type".into())
            }
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            Value::Null => {
                Err("associative list without keys has an element that's an explicit null".into())
            }
            other => Ok(PathElement::Value(other.clone())),
        },
        ListType::Atomic => Err("invalid indexing of non-associative list".into()),
    }
}

fn refs(path: &[String]) -> Vec<&str> {
    path.iter().map(String::as_str).collect()
}

fn is_empty_container(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

enum Shape {
    Map,
    List,
    Leaf,
}

/// Maps and lists merge granularly when both sides are (or lack) that shape;
/// a null side counts as empty.
fn shape(l: Option<&Value>, r: Option<&Value>) -> Shape {
    let fits =
        |v: Option<&Value>, want: fn(&Value) -> bool| v.is_none_or(|v| v.is_null() || want(v));
    let any = |want: fn(&Value) -> bool| l.is_some_and(want) || r.is_some_and(want);
    if any(Value::is_object) && fits(l, Value::is_object) && fits(r, Value::is_object) {
        Shape::Map
    } else if any(Value::is_array) && fits(l, Value::is_array) && fits(r, Value::is_array) {
        Shape::List
    } else {
        Shape::Leaf
    }
}

impl Typed<'_> {
    /// The paths a value sets (structured-merge-diff's ToFieldSet).
    pub fn field_set(&self, value: &Value) -> Set {
        let mut set = Set::new();
        self.collect(value, &mut Vec::new(), &mut Vec::new(), &mut set);
        set
    }

    fn collect(
        &self,
        value: &Value,
        spath: &mut Vec<String>,
        fpath: &mut Vec<PathElement>,
        set: &mut Set,
    ) {
        match value {
            Value::Object(m) => {
                if !fpath.is_empty() && self.schema.map(&refs(spath)).atomic {
                    set.insert(fpath);
                    return;
                }
                for (k, child) in m {
                    spath.push(k.clone());
                    fpath.push(PathElement::Field(k.clone()));
                    self.collect(child, spath, fpath, set);
                    if child.is_null() || child.as_object().is_some_and(Map::is_empty) {
                        set.insert(fpath);
                    }
                    fpath.pop();
                    spath.pop();
                }
            }
            Value::Array(items) => {
                let strategy = self.schema.list(&refs(spath));
                if strategy.list_type == ListType::Atomic {
                    set.insert(fpath);
                    return;
                }
                let elements: Vec<Option<PathElement>> = items
                    .iter()
                    .map(|i| item_element(i, &strategy).ok())
                    .collect();
                for (item, pe) in items.iter().zip(&elements) {
                    let Some(pe) = pe else { continue };
                    fpath.push(pe.clone());
                    let duplicated = elements.iter().filter(|e| e.as_ref() == Some(pe)).count() > 1;
                    if !duplicated {
                        self.collect(item, spath, fpath, set);
                    }
                    set.insert(fpath);
                    fpath.pop();
                }
            }
            _ => set.insert(fpath),
        }
    }

    /// Errors that make an applied configuration unusable (missing keys,
    /// duplicate items), worded like structured-merge-diff's validation.
    pub fn validate(&self, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(value, &mut Vec::new(), &mut Vec::new(), &mut errors);
        errors
    }

    fn check(
        &self,
        value: &Value,
        spath: &mut Vec<String>,
        fpath: &mut Vec<PathElement>,
        errors: &mut Vec<String>,
    ) {
        match value {
            Value::Object(m) => {
                for (k, child) in m {
                    spath.push(k.clone());
                    fpath.push(PathElement::Field(k.clone()));
                    self.check(child, spath, fpath, errors);
                    fpath.pop();
                    spath.pop();
                }
            }
            Value::Array(items) => {
                let strategy = self.schema.list(&refs(spath));
                let mut seen: Vec<PathElement> = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let pe = if strategy.list_type == ListType::Atomic {
                        PathElement::Index(i as i64)
                    } else {
                        match item_element(item, &strategy) {
                            Ok(pe) => pe,
                            Err(e) => {
                                errors.push(format!("{}: element {i}: {e}", path_string(fpath)));
                                return;
                            }
                        }
                    };
                    if strategy.list_type != ListType::Atomic {
                        if seen.contains(&pe) {
                            errors.push(format!(
                                "{}: duplicate entries for key {}",
                                path_string(fpath),
                                pe.display()
                            ));
                        }
                        seen.push(pe.clone());
                    }
                    fpath.push(pe);
                    self.check(item, spath, fpath, errors);
                    fpath.pop();
                }
            }
            _ => {}
        }
    }

    /// Compares two versions of an object.
    pub fn compare(&self, old: &Value, new: &Value) -> Comparison {
        let mut out = Comparison::default();
        self.diff(
            Some(old),
            Some(new),
            &mut Vec::new(),
            &mut Vec::new(),
            &mut out,
        );
        out
    }

    fn diff(
        &self,
        l: Option<&Value>,
        r: Option<&Value>,
        spath: &mut Vec<String>,
        fpath: &mut Vec<PathElement>,
        out: &mut Comparison,
    ) {
        let granular = match shape(l, r) {
            Shape::Map => self.diff_map(l, r, spath, fpath, out),
            Shape::List => self.diff_list(l, r, spath, fpath, out),
            Shape::Leaf => false,
        };
        if !granular {
            leaf(l, r, fpath, out);
        } else if l.is_none() {
            out.added.insert(fpath);
        } else if r.is_none() {
            out.removed.insert(fpath);
        }
    }

    /// Returns false when the map is compared as a whole (atomic or empty).
    fn diff_map(
        &self,
        l: Option<&Value>,
        r: Option<&Value>,
        spath: &mut Vec<String>,
        fpath: &mut Vec<PathElement>,
        out: &mut Comparison,
    ) -> bool {
        let strategy = self.schema.map(&refs(spath));
        if strategy.atomic || (is_empty_container(l) && is_empty_container(r)) {
            return false;
        }
        let lm = l.and_then(Value::as_object);
        let rm = r.and_then(Value::as_object);
        let mut keys: Vec<&str> = Vec::new();
        for k in lm.into_iter().chain(rm).flat_map(|m| m.keys()) {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
        for (k, _) in strategy.always {
            if !keys.contains(k) {
                keys.push(k);
            }
        }
        for k in keys {
            // See each side as the Go object holds it: unset fields Go always
            // serializes are present with their zero value, zero values of
            // omitempty fields are absent.
            let omit_zero = strategy
                .omit_zero
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, z)| z.value());
            let always = strategy
                .always
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, z)| z.value());
            let lv = go_view(l.is_some(), lm, k, omit_zero.as_ref(), always.as_ref());
            let rv = go_view(r.is_some(), rm, k, omit_zero.as_ref(), always.as_ref());
            let (lv, rv) = (lv.as_deref(), rv.as_deref());
            if lv.is_none() && rv.is_none() {
                continue;
            }
            spath.push(k.to_string());
            fpath.push(PathElement::Field(k.to_string()));
            self.diff(lv, rv, spath, fpath, out);
            fpath.pop();
            spath.pop();
        }
        true
    }

    fn diff_list(
        &self,
        l: Option<&Value>,
        r: Option<&Value>,
        spath: &mut Vec<String>,
        fpath: &mut Vec<PathElement>,
        out: &mut Comparison,
    ) -> bool {
        let strategy = self.schema.list(&refs(spath));
        if strategy.list_type == ListType::Atomic
            || (is_empty_container(l) && is_empty_container(r))
        {
            return false;
        }
        let mut order: Vec<PathElement> = Vec::new();
        let mut sides: BTreeMap<PathElement, (Vec<&Value>, Vec<&Value>)> = BTreeMap::new();
        for (is_right, list) in [(false, l), (true, r)] {
            for item in list.and_then(Value::as_array).into_iter().flatten() {
                let Ok(pe) = item_element(item, &strategy) else {
                    continue;
                };
                let entry = sides.entry(pe.clone()).or_insert_with(|| {
                    order.push(pe);
                    (Vec::new(), Vec::new())
                });
                if is_right {
                    entry.1.push(item);
                } else {
                    entry.0.push(item);
                }
            }
        }
        for pe in order {
            let (left, right) = &sides[&pe];
            fpath.push(pe.clone());
            match (left.len(), right.len()) {
                (0 | 1, 0 | 1) => self.diff(
                    left.first().copied(),
                    right.first().copied(),
                    spath,
                    fpath,
                    out,
                ),
                (a, b) if a >= 2 && b >= 2 => {
                    let same = a == b && left.iter().zip(right).all(|(x, y)| values_equal(x, y));
                    if !same {
                        out.modified.insert(fpath);
                    }
                }
                (a, _) if a >= 2 => {
                    if let Some(first) = right.first() {
                        self.diff(None, Some(first), spath, fpath, out);
                    }
                    out.removed.insert(fpath);
                }
                _ => {
                    if let Some(first) = left.first() {
                        self.diff(Some(first), None, spath, fpath, out);
                    }
                    out.added.insert(fpath);
                }
            }
            fpath.pop();
        }
        true
    }

    /// Merges an applied configuration into the live object: configuration
    /// values win, maps and associative lists merge item by item.
    pub fn merge(&self, live: &Value, config: &Value) -> Result<Value, String> {
        let mut spath = Vec::new();
        let merged = self.merge_at(Some(live), Some(config), &mut spath, &mut Vec::new())?;
        Ok(merged.unwrap_or_else(|| Value::Object(Map::new())))
    }

    fn merge_at(
        &self,
        l: Option<&Value>,
        r: Option<&Value>,
        spath: &mut Vec<String>,
        fpath: &mut Vec<PathElement>,
    ) -> Result<Option<Value>, String> {
        let keep_rhs = || Ok(r.or(l).cloned());
        match shape(l, r) {
            Shape::Map => {
                if self.schema.map(&refs(spath)).atomic
                    || (is_empty_container(l) && is_empty_container(r))
                {
                    return keep_rhs();
                }
                let lm = l.and_then(Value::as_object);
                let rm = r.and_then(Value::as_object);
                let mut out = Map::new();
                let keys = lm.into_iter().flat_map(|m| m.keys()).chain(
                    rm.into_iter()
                        .flat_map(|m| m.keys())
                        .filter(|k| lm.is_none_or(|m| !m.contains_key(*k))),
                );
                for k in keys {
                    spath.push(k.clone());
                    fpath.push(PathElement::Field(k.clone()));
                    let merged = self.merge_at(
                        lm.and_then(|m| m.get(k)),
                        rm.and_then(|m| m.get(k)),
                        spath,
                        fpath,
                    );
                    fpath.pop();
                    spath.pop();
                    if let Some(v) = merged? {
                        out.insert(k.clone(), v);
                    }
                }
                Ok((!out.is_empty()).then_some(Value::Object(out)))
            }
            Shape::List => {
                let strategy = self.schema.list(&refs(spath));
                if strategy.list_type == ListType::Atomic
                    || (is_empty_container(l) && is_empty_container(r))
                {
                    return keep_rhs();
                }
                let lhs: &[Value] = l.and_then(Value::as_array).map_or(&[], Vec::as_slice);
                let rhs: &[Value] = r.and_then(Value::as_array).map_or(&[], Vec::as_slice);
                self.merge_list(lhs, rhs, &strategy, spath, fpath)
            }
            Shape::Leaf => keep_rhs(),
        }
    }

    /// structured-merge-diff's list merge: the configuration's order for its
    /// items, live-only items kept where they were.
    fn merge_list(
        &self,
        lhs: &[Value],
        rhs: &[Value],
        strategy: &ListStrategy,
        spath: &mut Vec<String>,
        fpath: &mut Vec<PathElement>,
    ) -> Result<Option<Value>, String> {
        let prefix = path_string(fpath);
        let mut rhs_pes = Vec::with_capacity(rhs.len());
        let mut rhs_items: BTreeMap<PathElement, &Value> = BTreeMap::new();
        for (i, item) in rhs.iter().enumerate() {
            let pe =
                item_element(item, strategy).map_err(|e| format!("{prefix}: element {i}: {e}"))?;
            if rhs_items.insert(pe.clone(), item).is_some() {
                return Err(format!(
                    "{prefix}: duplicate entries for key {}",
                    pe.display()
                ));
            }
            rhs_pes.push(pe);
        }
        // Duplicated live items are not merged with configuration items.
        static NULL: Value = Value::Null;
        let mut lhs_pes = Vec::with_capacity(lhs.len());
        let mut lhs_items: BTreeMap<PathElement, &Value> = BTreeMap::new();
        for (i, item) in lhs.iter().enumerate() {
            let pe =
                item_element(item, strategy).map_err(|e| format!("{prefix}: element {i}: {e}"))?;
            if lhs_items.insert(pe.clone(), item).is_some() {
                lhs_items.insert(pe.clone(), &NULL);
            }
            lhs_pes.push(pe);
        }
        let mut shared: std::collections::VecDeque<&PathElement> = rhs_pes
            .iter()
            .filter(|pe| lhs_items.contains_key(*pe))
            .collect();
        let mut next_shared = shared.pop_front();
        let mut merged_rhs: Vec<&PathElement> = Vec::new();
        let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
        let (mut li, mut ri) = (0, 0);
        while li < lhs_pes.len() || ri < rhs_pes.len() {
            if li < lhs_pes.len() && ri < rhs_pes.len() {
                let pe = &lhs_pes[li];
                if *pe == rhs_pes[ri] {
                    merged_rhs.push(pe);
                    out.extend(self.merge_item(
                        lhs_items.get(pe).copied(),
                        rhs_items.get(pe).copied(),
                        pe,
                        spath,
                        fpath,
                    )?);
                    li += 1;
                    ri += 1;
                    next_shared = shared.pop_front();
                    continue;
                }
                if rhs_items.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                    // A shared item the configuration wants later.
                    li += 1;
                    continue;
                }
            }
            if li < lhs_pes.len() {
                let pe = &lhs_pes[li];
                if !rhs_items.contains_key(pe) {
                    out.extend(self.merge_item(Some(&lhs[li]), None, pe, spath, fpath)?);
                    li += 1;
                    continue;
                } else if merged_rhs.contains(&pe) {
                    li += 1;
                }
            }
            if ri < rhs_pes.len() {
                let pe = &rhs_pes[ri];
                merged_rhs.push(pe);
                out.extend(self.merge_item(
                    lhs_items.get(pe).copied(),
                    rhs_items.get(pe).copied(),
                    pe,
                    spath,
                    fpath,
                )?);
                ri += 1;
                if next_shared == Some(pe) {
                    next_shared = shared.pop_front();
                }
            }
        }
        Ok((!out.is_empty()).then_some(Value::Array(out)))
    }

    fn merge_item(
        &self,
        l: Option<&Value>,
        r: Option<&Value>,
        pe: &PathElement,
        spath: &mut Vec<String>,
        fpath: &mut Vec<PathElement>,
    ) -> Result<Option<Value>, String> {
        fpath.push(pe.clone());
        let merged = self.merge_at(l, r, spath, fpath);
        fpath.pop();
        merged
    }

    /// The value without the paths in `set`; containers left empty go too.
    pub fn remove(&self, value: &Value, set: &Set) -> Value {
        self.remove_at(value, set, &mut Vec::new())
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    fn remove_at(&self, value: &Value, set: &Set, spath: &mut Vec<String>) -> Option<Value> {
        match value {
            Value::Object(m) => {
                if m.is_empty() || (!spath.is_empty() && self.schema.map(&refs(spath)).atomic) {
                    return Some(value.clone());
                }
                let mut out = Map::new();
                for (k, child) in m {
                    let pe = PathElement::Field(k.clone());
                    if set.is_member(&pe) {
                        continue;
                    }
                    match set.child(&pe) {
                        Some(sub) => {
                            spath.push(k.clone());
                            let kept = self.remove_at(child, sub, spath);
                            spath.pop();
                            if let Some(v) = kept {
                                out.insert(k.clone(), v);
                            }
                        }
                        None => {
                            out.insert(k.clone(), child.clone());
                        }
                    }
                }
                (!out.is_empty()).then_some(Value::Object(out))
            }
            Value::Array(items) => {
                let strategy = self.schema.list(&refs(spath));
                if items.is_empty() || strategy.list_type == ListType::Atomic {
                    return Some(value.clone());
                }
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let Ok(pe) = item_element(item, &strategy) else {
                        out.push(item.clone());
                        continue;
                    };
                    if set.is_member(&pe) {
                        continue;
                    }
                    match set.child(&pe) {
                        Some(sub) => out.extend(self.remove_at(item, sub, spath)),
                        None => out.push(item.clone()),
                    }
                }
                (!out.is_empty()).then_some(Value::Array(out))
            }
            other => Some(other.clone()),
        }
    }
}

/// A struct field as the Go object holds it.
fn go_view<'v>(
    present: bool,
    m: Option<&'v Map<String, Value>>,
    k: &str,
    omit_zero: Option<&Value>,
    always: Option<&Value>,
) -> Option<Cow<'v, Value>> {
    let v = m.and_then(|m| m.get(k));
    if let Some(zero) = omit_zero {
        return v.filter(|v| *v != zero).map(Cow::Borrowed);
    }
    match (v, always) {
        (None, Some(zero)) if present => Some(Cow::Owned(zero.clone())),
        // Go does not tell an empty list or map from a nil one here.
        (Some(v), Some(Value::Null)) if is_empty_container(Some(v)) => {
            Some(Cow::Owned(Value::Null))
        }
        (v, _) => v.map(Cow::Borrowed),
    }
}

fn leaf(l: Option<&Value>, r: Option<&Value>, fpath: &[PathElement], out: &mut Comparison) {
    match (l, r) {
        (None, Some(_)) => out.added.insert(fpath),
        (Some(_), None) => out.removed.insert(fpath),
        (Some(a), Some(b)) if !values_equal(a, b) => out.modified.insert(fpath),
        _ => {}
    }
}
