//! Event validation for both APIs: core/v1 Events get only the legacy
//! checks; events.k8s.io/v1 Events the strict ones too. Field paths use the
//! internal names kube-apiserver reports (`involvedObject`, `message`, …).

use super::json::{get, int_at, str_at};
use super::meta::{
    immutable, name_is_dns_subdomain, validate_object_meta, validate_object_meta_update,
    validate_qualified_name,
};
use super::names::is_dns1123_subdomain;
use crate::field::{FieldError, Path};
use serde_json::Value;

/// Which API an Event arrived through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventApi {
    /// core/v1 (`kubectl get events`, kubelet-style recorders).
    CoreV1,
    /// events.k8s.io/v1.
    EventsV1,
}

/// Reads Event fields under either API's names.
struct View<'a> {
    obj: &'a Value,
    api: EventApi,
}

impl<'a> View<'a> {
    fn field(&self, core: &str, events: &str) -> &'a str {
        let key = if self.api == EventApi::CoreV1 {
            core
        } else {
            events
        };
        str_at(self.obj, key)
    }
    fn event_time(&self) -> &'a str {
        str_at(self.obj, "eventTime")
    }
    fn involved_namespace(&self) -> &'a str {
        let key = if self.api == EventApi::CoreV1 {
            "involvedObject"
        } else {
            "regarding"
        };
        get(self.obj, &[key, "namespace"])
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    fn namespace(&self) -> &'a str {
        get(self.obj, &["metadata", "namespace"])
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

fn legacy(view: &View) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ns = view.namespace();
    let involved = view.involved_namespace();
    let ns_path = Path::new("involvedObject").child("namespace");
    let mismatch = || FieldError::invalid(&ns_path, involved, "does not match event.namespace");
    let controller_field = if view.api == EventApi::CoreV1 {
        "reportingComponent"
    } else {
        "reportingController"
    };
    if view.event_time().is_empty() {
        let ok = if involved.is_empty() {
            ns.is_empty() || ns == "default"
        } else {
            ns == involved
        };
        if !ok {
            errs.push(mismatch());
        }
    } else {
        if involved.is_empty() && ns != "default" && ns != "kube-system" {
            errs.push(mismatch());
        }
        let controller = view.field("reportingComponent", "reportingController");
        if controller.is_empty() {
            errs.push(FieldError::required(controller_field, ""));
        }
        errs.extend(validate_qualified_name(
            controller,
            &Path::new(controller_field),
        ));
        let limits = [
            (
                "reportingInstance",
                view.field("reportingInstance", "reportingInstance"),
                128,
                true,
            ),
            ("action", view.field("action", "action"), 128, true),
            ("reason", view.field("reason", "reason"), 128, true),
            ("message", view.field("message", "note"), 1024, false),
        ];
        for (name, value, max, required) in limits {
            if required && value.is_empty() {
                errs.push(FieldError::required(name, ""));
            }
            if value.len() > max {
                errs.push(FieldError::invalid(
                    name,
                    "",
                    format!("can have at most {max} characters"),
                ));
            }
        }
    }
    for msg in is_dns1123_subdomain(ns) {
        errs.push(FieldError::invalid("namespace", ns, msg));
    }
    errs
}

fn series(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(s) = get(obj, &["series"]) {
        if int_at(s, "count").unwrap_or(0) < 2 {
            errs.push(FieldError::invalid(
                "series.count",
                "",
                "should be at least 2",
            ));
        }
        if str_at(s, "lastObservedTime").is_empty() {
            errs.push(FieldError::required("series.lastObservedTime", ""));
        }
    }
    errs
}

/// `ValidateEventCreate`.
pub fn validate_event_create(obj: &Value, api: EventApi) -> Vec<FieldError> {
    let view = View { obj, api };
    let mut errs = legacy(&view);
    if api == EventApi::CoreV1 {
        return errs;
    }
    errs.extend(validate_object_meta(obj, true, name_is_dns_subdomain));
    errs.extend(series(obj));
    if view.event_time().is_empty() {
        errs.push(FieldError::required("eventTime", ""));
    }
    let ty = str_at(obj, "type");
    if ty != "Normal" && ty != "Warning" {
        errs.push(FieldError::invalid(
            "type",
            "",
            format!("has invalid value: {ty}"),
        ));
    }
    for (internal, key) in [
        ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"),
    ] {
        if !str_at(obj, key).is_empty() {
            errs.push(FieldError::invalid(internal, "", "needs to be unset"));
        }
    }
    if int_at(obj, "deprecatedCount").unwrap_or(0) != 0 {
        errs.push(FieldError::invalid("count", "", "needs to be unset"));
    }
    let src = |k: &str| {
        get(obj, &["deprecatedSource", k])
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    if !src("component").is_empty() || !src("host").is_empty() {
        errs.push(FieldError::invalid("source", "", "needs to be unset"));
    }
    errs
}

/// `ValidateEventUpdate`.
pub fn validate_event_update(new: &Value, old: &Value, api: EventApi) -> Vec<FieldError> {
    let mut errs = legacy(&View { obj: new, api });
    if api == EventApi::CoreV1 {
        return errs;
    }
    errs.extend(validate_object_meta_update(new, old));
    if !super::podupdate::semantic_eq(new.get("series"), old.get("series")) {
        errs.extend(series(new));
    }
    for (key, internal) in [
        ("regarding", "involvedObject"),
        ("reason", "reason"),
        ("note", "message"),
        ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
        ("reason", "reason"),
        ("type", "type"),
        ("eventTime", "eventTime"),
        ("action", "action"),
        ("related", "related"),
        ("reportingController", "reportingController"),
        ("reportingInstance", "reportingInstance"),
    ] {
        errs.extend(immutable(new.get(key), old.get(key), &Path::new(internal)));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(e: Vec<FieldError>) -> Vec<String> {
        e.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn core_events_get_legacy_checks_only() {
        let ok = json!({"metadata": {"name": "x.1", "namespace": "default"},
                        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "x"},
                        "reason": "Started", "type": "Normal"});
        assert!(validate_event_create(&ok, EventApi::CoreV1).is_empty());
        let bad = json!({"metadata": {"name": "x.1", "namespace": "default"},
                         "involvedObject": {"kind": "Pod", "namespace": "other", "name": "x"}});
        assert_eq!(
            texts(validate_event_create(&bad, EventApi::CoreV1)),
            vec!["involvedObject.namespace: Invalid value: \"other\": does not match event.namespace"]
        );
    }

    #[test]
    fn events_v1_are_strict() {
        let e = json!({"metadata": {"name": "x.1", "namespace": "default"},
                       "eventTime": "2024-01-01T00:00:00.000000Z",
                       "regarding": {"kind": "Pod", "namespace": "default", "name": "x"},
                       "reportingController": "k1s.io/node", "reportingInstance": "node1",
                       "action": "Pulling", "reason": "Pulling", "type": "Info"});
        assert_eq!(
            texts(validate_event_create(&e, EventApi::EventsV1)),
            vec!["type: Invalid value: \"\": has invalid value: Info"]
        );
        let missing = json!({"metadata": {"name": "x.1", "namespace": "default"},
                             "eventTime": "2024-01-01T00:00:00.000000Z", "type": "Normal",
                             "regarding": {"namespace": "default"}});
        assert_eq!(
            texts(validate_event_create(&missing, EventApi::EventsV1)),
            vec![
                "reportingController: Required value",
                "reportingController: Invalid value: \"\": name part must be non-empty",
                "reportingController: Invalid value: \"\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
                "reportingInstance: Required value",
                "action: Required value",
                "reason: Required value",
            ]
        );
    }
}
