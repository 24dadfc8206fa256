//! Events, read in either the core/v1 or the events.k8s.io/v1 shape (the two
//! APIs serve the same stored events through one printer upstream).

use super::{name, since, Row};
use crate::table::access::{at, int_at, str_at, time_at};
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Field names of the shape an event is stored in.
struct Shape {
    first: &'static str,
    last: &'static str,
    count: &'static str,
    reference: &'static str,
    source: &'static str,
    reporting: &'static str,
    message: &'static str,
}

const CORE: Shape = Shape {
    first: "firstTimestamp",
    last: "lastTimestamp",
    count: "count",
    reference: "involvedObject",
    source: "source",
    reporting: "reportingComponent",
    message: "message",
};

const EVENTS_V1: Shape = Shape {
    first: "deprecatedFirstTimestamp",
    last: "deprecatedLastTimestamp",
    count: "deprecatedCount",
    reference: "regarding",
    source: "deprecatedSource",
    reporting: "reportingController",
    message: "note",
};

pub fn row(obj: &Value, now: DateTime<Utc>) -> Row {
    let f = if obj.get("regarding").is_some() || obj.get("note").is_some() {
        &EVENTS_V1
    } else {
        &CORE
    };
    let first = match time_at(obj, &[f.first]) {
        Some(t) => since(Some(t), now),
        None => since(time_at(obj, &["eventTime"]), now),
    };
    let mut last = match time_at(obj, &[f.last]) {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let mut count = int_at(obj, &[f.count]);
    if let Some(series) = at(obj, &["series"]).filter(|s| s.is_object()) {
        last = since(time_at(series, &["lastObservedTime"]), now);
        count = int_at(series, &["count"]);
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let kind = str_at(obj, &[f.reference, "kind"]).to_lowercase();
    let target = match str_at(obj, &[f.reference, "name"]) {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let source = event_source(
        first_non_empty(
            str_at(obj, &[f.source, "component"]),
            str_at(obj, &[f.reporting]),
        ),
        first_non_empty(
            str_at(obj, &[f.source, "host"]),
            str_at(obj, &["reportingInstance"]),
        ),
    );
    Row::cells(vec![
        last.into(),
        str_at(obj, &["type"]).into(),
        str_at(obj, &["reason"]).into(),
        target.into(),
        str_at(obj, &[f.reference, "fieldPath"]).into(),
        source.into(),
        str_at(obj, &[f.message]).trim().into(),
        first.into(),
        count.into(),
        name(obj),
    ])
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() {
        b
    } else {
        a
    }
}

/// `component, instance`, or just the component without an instance.
fn event_source(component: &str, instance: &str) -> String {
    if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn core_event_cells() {
        let ev = json!({
            "metadata": {"name": "web-1.17f", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{nginx}"},
            "reason": "Pulled", "type": "Normal",
            "message": "  Container image \"nginx:1.26\" already present on machine\n",
            "source": {"component": "kubelet", "host": "node1"},
            "firstTimestamp": "2026-11-23T07:50:00Z", "lastTimestamp": "2026-11-23T07:58:00Z", "count": 3
        });
        assert_eq!(
            row(&ev, now()).cells,
            vec![
                json!("2m"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web-1"),
                json!("spec.containers{nginx}"),
                json!("kubelet, node1"),
                json!("Container image \"nginx:1.26\" already present on machine"),
                json!("10m"),
                json!(3),
                json!("web-1.17f")
            ]
        );
    }

    #[test]
    fn new_api_events_fall_back_to_event_time_and_series() {
        let ev = json!({
            "metadata": {"name": "web.1"},
            "regarding": {"kind": "Service", "name": "web"},
            "reason": "EnsuringLoadBalancer", "type": "Normal", "note": "Ensuring load balancer",
            "eventTime": "2026-11-23T07:59:30.123456Z",
            "reportingController": "service-lb-controller", "reportingInstance": "node1"
        });
        assert_eq!(
            row(&ev, now()).cells,
            vec![
                json!("29s"),
                json!("Normal"),
                json!("EnsuringLoadBalancer"),
                json!("service/web"),
                json!(""),
                json!("service-lb-controller, node1"),
                json!("Ensuring load balancer"),
                json!("29s"),
                json!(1),
                json!("web.1")
            ]
        );
        let series = json!({
            "metadata": {"name": "x"},
            "involvedObject": {"kind": "Node"},
            "eventTime": "2026-11-23T07:00:00.000000Z",
            "series": {"count": 7, "lastObservedTime": "2026-11-23T07:59:00.000000Z"},
            "reportingComponent": "k1s"
        });
        let cells = row(&series, now()).cells;
        assert_eq!(cells[0], json!("60s"));
        assert_eq!(cells[3], json!("node"));
        assert_eq!(cells[5], json!("k1s"));
        assert_eq!(cells[7], json!("60m"));
        assert_eq!(cells[8], json!(7));
        let bare = json!({"metadata": {"name": "y"}});
        let cells = row(&bare, now()).cells;
        assert_eq!(cells[0], json!("<unknown>"));
        assert_eq!(cells[7], json!("<unknown>"));
    }
}
