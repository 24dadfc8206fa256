//! One printer per kind, each mirroring its `print*` function in upstream
//! pkg/printers/internalversion/printers.go; cells keep upstream's JSON types
//! (strings, or integers where the Go printer emits int64).

mod event;
mod network;
mod node;
mod pod;
mod simple;
mod workload;

pub(crate) use pod::pod_ip;

use super::access::{str_at, time_at};
use super::columns::{self, Column};
use super::duration::human_duration;
use crate::resource::ResourceInfo;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The printed form of one object.
pub struct Row {
    pub cells: Vec<Value>,
    /// `TableRowCondition`s (only pods that finished set them).
    pub conditions: Option<Value>,
}

impl Row {
    fn cells(cells: Vec<Value>) -> Self {
        Row {
            cells,
            conditions: None,
        }
    }
}

type Printer = fn(&Value, DateTime<Utc>) -> Row;

fn printer(resource: &ResourceInfo) -> (&'static [Column], Printer) {
    match (resource.group, resource.kind) {
        ("", "Pod") => (columns::POD, pod::row),
        ("", "Service") => (columns::SERVICE, network::service),
        ("", "Endpoints") => (columns::ENDPOINTS, network::endpoints),
        ("discovery.k8s.io", "EndpointSlice") => (columns::ENDPOINT_SLICE, network::endpoint_slice),
        ("apps", "Deployment") => (columns::DEPLOYMENT, workload::deployment),
        ("apps", "ReplicaSet") => (columns::REPLICA_SET, workload::replica_set),
        ("", "Namespace") => (columns::NAMESPACE, simple::namespace),
        ("", "Node") => (columns::NODE, node::row),
        ("", "ConfigMap") => (columns::CONFIG_MAP, simple::config_map),
        ("", "Secret") => (columns::SECRET, simple::secret),
        ("", "ServiceAccount") => (columns::SERVICE_ACCOUNT, simple::service_account),
        ("" | "events.k8s.io", "Event") => (columns::EVENT, event::row),
        ("coordination.k8s.io", "Lease") => (columns::LEASE, simple::lease),
        _ => (columns::DEFAULT, simple::default),
    }
}

pub fn columns(resource: &ResourceInfo) -> &'static [Column] {
    printer(resource).0
}

pub fn row(resource: &ResourceInfo, obj: &Value, now: DateTime<Utc>) -> Row {
    (printer(resource).1)(obj, now)
}

fn name(obj: &Value) -> Value {
    str_at(obj, &["metadata", "name"]).into()
}

/// `translateTimestampSince`: `<unknown>` for a zero time.
fn since(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => human_duration(now - t),
        None => "<unknown>".to_string(),
    }
}

/// The AGE cell.
fn age(obj: &Value, now: DateTime<Utc>) -> Value {
    since(time_at(obj, &["metadata", "creationTimestamp"]), now).into()
}

/// `layoutContainerCells`: names and images joined by commas.
fn container_cells(template: &Value) -> (Value, Value) {
    let containers = super::access::arr_at(template, &["spec", "containers"]);
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    (names.join(",").into(), images.join(",").into())
}
