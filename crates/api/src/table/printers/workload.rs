//! Deployments and ReplicaSets.

use super::{age, container_cells, name, Row};
use crate::selector::{format_label_selector, LabelSelector};
use crate::table::access::{at, int_at, opt_int_at};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// `spec.replicas`, defaulted to 1 as decoding from storage does.
fn desired(obj: &Value) -> i64 {
    opt_int_at(obj, &["spec", "replicas"]).unwrap_or(1)
}

fn template(obj: &Value) -> &Value {
    at(obj, &["spec", "template"]).unwrap_or(&Value::Null)
}

fn selector(obj: &Value) -> &Value {
    at(obj, &["spec", "selector"]).unwrap_or(&Value::Null)
}

pub fn deployment(obj: &Value, now: DateTime<Utc>) -> Row {
    let ready = int_at(obj, &["status", "readyReplicas"]);
    let (containers, images) = container_cells(template(obj));
    // Unlike ReplicaSets, an empty selector prints as "" here.
    let selector = match LabelSelector::from_json(selector(obj)) {
        Ok(s) => s.to_string(),
        Err(_) => "<invalid>".to_string(),
    };
    Row::cells(vec![
        name(obj),
        format!("{ready}/{}", desired(obj)).into(),
        int_at(obj, &["status", "updatedReplicas"]).into(),
        int_at(obj, &["status", "availableReplicas"]).into(),
        age(obj, now),
        containers,
        images,
        selector.into(),
    ])
}

pub fn replica_set(obj: &Value, now: DateTime<Utc>) -> Row {
    let (containers, images) = container_cells(template(obj));
    Row::cells(vec![
        name(obj),
        desired(obj).into(),
        int_at(obj, &["status", "replicas"]).into(),
        int_at(obj, &["status", "readyReplicas"]).into(),
        age(obj, now),
        containers,
        images,
        format_label_selector(selector(obj)).into(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn template() -> Value {
        json!({"spec": {"containers": [{"name": "nginx", "image": "nginx:1.26"}, {"name": "sidecar", "image": "busybox"}]}})
    }

    #[test]
    fn deployment_cells() {
        let d = json!({
            "metadata": {"name": "web", "creationTimestamp": "2026-11-21T07:00:00Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()},
            "status": {"replicas": 4, "updatedReplicas": 1, "readyReplicas": 3, "availableReplicas": 3}
        });
        assert_eq!(
            deployment(&d, now()).cells,
            vec![
                json!("web"),
                json!("3/3"),
                json!(1),
                json!(3),
                json!("2d3h"),
                json!("nginx,sidecar"),
                json!("nginx:1.26,busybox"),
                json!("app=web")
            ]
        );
        let bare = json!({"metadata": {"name": "x"}, "spec": {"selector": {}}});
        assert_eq!(
            deployment(&bare, now()).cells,
            vec![
                json!("x"),
                json!("0/1"),
                json!(0),
                json!(0),
                json!("<unknown>"),
                json!(""),
                json!(""),
                json!("")
            ]
        );
        let bad = json!({"metadata": {"name": "x"}, "spec": {"replicas": 0, "selector": {"matchExpressions": [{"key": "a", "operator": "Bogus"}]}}});
        let cells = deployment(&bad, now()).cells;
        assert_eq!(cells[1], json!("0/0"));
        assert_eq!(cells[7], json!("<invalid>"));
    }

    #[test]
    fn replica_set_cells() {
        let rs = json!({
            "metadata": {"name": "web-5b94955547", "creationTimestamp": "2026-11-23T09:58:10Z"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5b94955547"}}, "template": template()},
            "status": {"replicas": 2, "readyReplicas": 1}
        });
        assert_eq!(
            replica_set(&rs, now()).cells,
            vec![
                json!("web-5b94955547"),
                json!(2),
                json!(2),
                json!(1),
                json!("110s"),
                json!("nginx,sidecar"),
                json!("nginx:1.26,busybox"),
                json!("app=web,pod-template-hash=5b94955547")
            ]
        );
        let empty = json!({"metadata": {"name": "x"}, "spec": {"selector": {}}});
        assert_eq!(replica_set(&empty, now()).cells[7], json!("<none>"));
    }
}
