//! `metadata.managedFields`: decoding into per-manager field sets and back.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::fieldpath::Set;

/// One manager's entry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub manager: String,
    pub apply: bool,
    pub api_version: String,
    pub subresource: String,
    pub time: Option<String>,
    pub set: Set,
}

impl Entry {
    pub fn operation(&self) -> &'static str {
        if self.apply {
            "Apply"
        } else {
            "Update"
        }
    }

    /// kube-apiserver's manager identifier: the entry without fields and time,
    /// and without apiVersion for appliers.
    pub fn id(&self) -> String {
        manager_id(
            &self.manager,
            self.apply,
            &self.api_version,
            &self.subresource,
        )
    }

    /// How conflict messages name the manager.
    pub fn describe(&self) -> String {
        let mut s = crate::gofmt::quote(&self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(
                " with subresource {}",
                crate::gofmt::quote(&self.subresource)
            ));
        }
        if !self.apply {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    fn encode(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), Value::String(self.manager.clone()));
        m.insert("operation".into(), Value::String(self.operation().into()));
        m.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        if let Some(t) = &self.time {
            m.insert("time".into(), Value::String(t.clone()));
        }
        m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert(
                "subresource".into(),
                Value::String(self.subresource.clone()),
            );
        }
        Value::Object(m)
    }
}

pub(crate) fn manager_id(
    manager: &str,
    apply: bool,
    api_version: &str,
    subresource: &str,
) -> String {
    let mut m = Map::new();
    if !manager.is_empty() {
        m.insert("manager".into(), Value::String(manager.into()));
    }
    m.insert(
        "operation".into(),
        Value::String(if apply { "Apply" } else { "Update" }.into()),
    );
    if !apply && !api_version.is_empty() {
        m.insert("apiVersion".into(), Value::String(api_version.into()));
    }
    if !subresource.is_empty() {
        m.insert("subresource".into(), Value::String(subresource.into()));
    }
    Value::Object(m).to_string()
}

/// All managers of an object, by identifier.
#[derive(Clone, Debug, Default)]
pub(crate) struct Managed {
    pub entries: BTreeMap<String, Entry>,
}

fn str_field<'a>(m: &'a Map<String, Value>, key: &str) -> &'a str {
    m.get(key).and_then(Value::as_str).unwrap_or("")
}

impl Managed {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Decodes `metadata.managedFields`; absent or null means no managers.
    pub fn decode(value: Option<&Value>) -> Result<Managed, String> {
        let items = match value {
            None | Some(Value::Null) => return Ok(Managed::default()),
            Some(Value::Array(items)) => items,
            Some(_) => return Err("managedFields must be a list".into()),
        };
        let mut entries = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            let empty = Map::new();
            let m = item.as_object().unwrap_or(&empty);
            let apply = match str_field(m, "operation") {
                "Apply" => true,
                "Update" => false,
                _ => return Err("operation must be `Apply` or `Update`".into()),
            };
            let api_version = str_field(m, "apiVersion");
            if api_version.is_empty() {
                return Err("apiVersion must not be empty".into());
            }
            match str_field(m, "fieldsType") {
                "FieldsV1" => {}
                "" => return Err(format!("missing fieldsType in managed fields entry {i}")),
                other => {
                    return Err(format!(
                        "invalid fieldsType {} in managed fields entry {i}",
                        crate::gofmt::quote(other)
                    ))
                }
            }
            let set = match m.get("fieldsV1") {
                None | Some(Value::Null) => Set::new(),
                Some(fields) => Set::from_fields_v1(fields).map_err(|e| {
                    format!("error decoding versioned set from {item}: error decoding set: {e}")
                })?,
            };
            let entry = Entry {
                manager: str_field(m, "manager").to_string(),
                apply,
                api_version: api_version.to_string(),
                subresource: str_field(m, "subresource").to_string(),
                time: m.get("time").and_then(Value::as_str).map(str::to_string),
                set,
            };
            entries.insert(entry.id(), entry);
        }
        Ok(Managed { entries })
    }

    /// Encodes the entries, ordered like kube-apiserver: appliers first, then
    /// by time, manager, apiVersion and subresource. None when empty.
    pub fn encode(&self) -> Option<Value> {
        if self.entries.is_empty() {
            return None;
        }
        let mut entries: Vec<&Entry> = self.entries.values().collect();
        entries.sort_by(|a, b| {
            a.operation()
                .cmp(b.operation())
                .then_with(|| {
                    a.time
                        .as_deref()
                        .unwrap_or("")
                        .cmp(b.time.as_deref().unwrap_or(""))
                })
                .then_with(|| a.manager.cmp(&b.manager))
                .then_with(|| a.api_version.cmp(&b.api_version))
                .then_with(|| a.subresource.cmp(&b.subresource))
        });
        Some(Value::Array(
            entries.into_iter().map(Entry::encode).collect(),
        ))
    }

    /// Drops managers that own nothing.
    pub fn prune_empty(&mut self) {
        self.entries.retain(|_, e| !e.set.is_empty());
    }
}
