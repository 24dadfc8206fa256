//! Which strategy each resource uses.

use crate::resource::ResourceInfo;
use crate::strategy::{Plain, Strategy};
use k8s_openapi::api::{
    apps::v1 as apps, coordination::v1 as coord, core::v1 as core, discovery::v1 as discovery,
    events::v1 as events,
};

static CONFIGMAP: Plain<core::ConfigMap> = Plain::new(false, false);
static ENDPOINTS: Plain<core::Endpoints> = Plain::new(false, false);
static EVENT: Plain<core::Event> = Plain::new(false, false);
static EVENT_V1: Plain<events::Event> = Plain::new(false, false);
static NAMESPACE: Plain<core::Namespace> = Plain::new(true, false);
static NODE: Plain<core::Node> = Plain::new(true, false);
static POD: Plain<core::Pod> = Plain::new(true, false);
static SECRET: Plain<core::Secret> = Plain::new(false, false);
static SERVICE_ACCOUNT: Plain<core::ServiceAccount> = Plain::new(false, false);
static SERVICE: Plain<core::Service> = Plain::new(true, false);
static BINDING: Plain<core::Binding> = Plain::new(false, false);
static DEPLOYMENT: Plain<apps::Deployment> = Plain::new(true, true);
static REPLICASET: Plain<apps::ReplicaSet> = Plain::new(true, true);
static LEASE: Plain<coord::Lease> = Plain::new(false, false);
static ENDPOINT_SLICE: Plain<discovery::EndpointSlice> = Plain::new(false, false);

pub(crate) fn strategy(r: &ResourceInfo) -> &'static dyn Strategy {
    match (r.group, r.kind) {
        ("", "ConfigMap") => &CONFIGMAP,
        ("", "Endpoints") => &ENDPOINTS,
        ("", "Event") => &EVENT,
        ("events.k8s.io", "Event") => &EVENT_V1,
        ("", "Namespace") => &NAMESPACE,
        ("", "Node") => &NODE,
        ("", "Pod") => &POD,
        ("", "Secret") => &SECRET,
        ("", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("", "Service") => &SERVICE,
        ("", "Binding") => &BINDING,
        ("apps", "Deployment") => &DEPLOYMENT,
        ("apps", "ReplicaSet") => &REPLICASET,
        ("coordination.k8s.io", "Lease") => &LEASE,
        ("discovery.k8s.io", "EndpointSlice") => &ENDPOINT_SLICE,
        _ => &CONFIGMAP,
    }
}
