//! Nodes: STATUS from the Ready condition, ROLES from the role labels.

use super::{age, name, Row};
use crate::table::access::{arr_at, bool_at, obj_at, str_at};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeSet;

const ROLE_PREFIX: &str = "node-role.kubernetes.io/";
const ROLE_LABEL: &str = "kubernetes.io/role";

pub fn row(obj: &Value, now: DateTime<Utc>) -> Row {
    let info = |key: &str| match str_at(obj, &["status", "nodeInfo", key]) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    Row::cells(vec![
        name(obj),
        status(obj).into(),
        roles(obj).into(),
        age(obj, now),
        str_at(obj, &["status", "nodeInfo", "kubeletVersion"]).into(),
        address(obj, "InternalIP").into(),
        address(obj, "ExternalIP").into(),
        info("osImage").into(),
        info("kernelVersion").into(),
        info("containerRuntimeVersion").into(),
    ])
}

/// `Ready`/`NotReady`/`Unknown`, plus `SchedulingDisabled` when cordoned.
fn status(obj: &Value) -> String {
    // The last condition of a type wins, as in upstream's condition map.
    let ready = arr_at(obj, &["status", "conditions"])
        .iter()
        .rfind(|c| str_at(c, &["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(c) if str_at(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if bool_at(obj, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    status.join(",")
}

/// Sorted roles from `node-role.kubernetes.io/<role>` and `kubernetes.io/role=<role>`.
fn roles(obj: &Value) -> String {
    let mut roles = BTreeSet::new();
    if let Some(labels) = obj_at(obj, &["metadata", "labels"]) {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix(ROLE_PREFIX) {
                if !role.is_empty() {
                    roles.insert(role.to_string());
                }
            } else if k == ROLE_LABEL {
                match v.as_str() {
                    Some(role) if !role.is_empty() => {
                        roles.insert(role.to_string());
                    }
                    _ => {}
                }
            }
        }
    }
    if roles.is_empty() {
        return "<none>".to_string();
    }
    roles.into_iter().collect::<Vec<_>>().join(",")
}

/// The first address of `kind`, or `<none>`.
fn address(obj: &Value, kind: &str) -> String {
    arr_at(obj, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == kind)
        .map_or("<none>".to_string(), |a| {
            str_at(a, &["address"]).to_string()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_cases() {
        let cond = |s: &str| json!({"type": "Ready", "status": s});
        let cases = [
            (json!({}), "Unknown"),
            (json!({"status": {"conditions": [cond("True")]}}), "Ready"),
            (
                json!({"status": {"conditions": [cond("False")]}}),
                "NotReady",
            ),
            (
                json!({"status": {"conditions": [cond("Unknown")]}}),
                "NotReady",
            ),
            (
                json!({"status": {"conditions": [{"type": "MemoryPressure", "status": "True"}]}}),
                "Unknown",
            ),
            (
                json!({"spec": {"unschedulable": true}, "status": {"conditions": [cond("True")]}}),
                "Ready,SchedulingDisabled",
            ),
            (
                json!({"spec": {"unschedulable": true}}),
                "Unknown,SchedulingDisabled",
            ),
        ];
        for (node, want) in cases {
            assert_eq!(status(&node), want, "{node}");
        }
    }

    #[test]
    fn roles_cases() {
        let cases = [
            (json!({}), "<none>"),
            (
                json!({"metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}}}),
                "control-plane",
            ),
            (
                json!({"metadata": {"labels": {"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "master", "node-role.kubernetes.io/": "", "node-role.kubernetes.io/control-plane": "x"}}}),
                "control-plane,master,worker",
            ),
            (
                json!({"metadata": {"labels": {"kubernetes.io/role": ""}}}),
                "<none>",
            ),
        ];
        for (node, want) in cases {
            assert_eq!(roles(&node), want, "{node}");
        }
    }

    #[test]
    fn wide_cells_default_to_unknown_and_none() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let node = json!({"metadata": {"name": "n", "creationTimestamp": "2026-11-23T07:00:00Z"}});
        assert_eq!(
            row(&node, now).cells,
            vec![
                json!("n"),
                json!("Unknown"),
                json!("<none>"),
                json!("60m"),
                json!(""),
                json!("<none>"),
                json!("<none>"),
                json!("<unknown>"),
                json!("<unknown>"),
                json!("<unknown>")
            ]
        );
    }
}
