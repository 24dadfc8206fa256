//! Conversion between the two Event APIs, which share one storage (core/v1
//! form), as kube-apiserver converts events.k8s.io/v1 ↔ core/v1.

use serde_json::{Map, Value};

/// events.k8s.io/v1 field ↔ core/v1 field, for fields that are renamed.
const RENAMED: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename(obj: &Value, from_v1: bool, api_version: &str) -> Value {
    let Some(map) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::with_capacity(map.len());
    for (k, v) in map {
        let key = RENAMED
            .iter()
            .find(|(v1, core)| if from_v1 { v1 == k } else { core == k })
            .map(|(v1, core)| if from_v1 { *core } else { *v1 })
            .unwrap_or(k.as_str());
        out.insert(key.to_string(), v.clone());
    }
    if out.contains_key("apiVersion") {
        out.insert("apiVersion".into(), Value::String(api_version.into()));
    }
    Value::Object(out)
}

/// An events.k8s.io/v1 Event in core/v1 form (the storage form).
pub fn event_v1_to_core(obj: &Value) -> Value {
    rename(obj, true, "v1")
}

/// A stored core/v1 Event as events.k8s.io/v1 presents it.
pub fn event_core_to_v1(obj: &Value) -> Value {
    rename(obj, false, "events.k8s.io/v1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renames_fields_both_ways() {
        let v1 = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "Pulled", "reason": "Pulled",
            "reportingController": "kubelet", "deprecatedCount": 2, "type": "Normal"});
        let core = event_v1_to_core(&v1);
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "Pulled");
        assert_eq!(core["reportingComponent"], "kubelet");
        assert_eq!(core["count"], 2);
        assert!(core.get("note").is_none());
        assert_eq!(event_core_to_v1(&core), v1);
    }
}
