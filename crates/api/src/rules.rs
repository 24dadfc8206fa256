//! Which strategy each resource uses: per-resource defaulting, preparation
//! and validation wired into one `Rules` strategy type.

use crate::defaults::{apps as dapps, misc, pod as dpod, service as dsvc};
use crate::field::FieldError;
use crate::resource::ResourceInfo;
use crate::strategy::{copy_field, roundtrip, Plain, Strategy};
use crate::validation::event::{validate_event_create, validate_event_update, EventApi};
use crate::validation::meta::{common_update_errors, generic_create_errors};
use crate::validation::service::{validate_service, ServiceConfig};
use crate::validation::{apps, config, endpoints, pod, podupdate, simple};
use k8s_openapi::api::{
    apps::v1 as apps_api, coordination::v1 as coord, core::v1 as core, discovery::v1 as discovery,
    events::v1 as events,
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use std::marker::PhantomData;

type Mutate = fn(&mut Value);
type MutateWithOld = fn(&mut Value, &Value);
type Check = fn(&Value) -> Vec<FieldError>;
type CheckWithOld = fn(&Value, &Value) -> Vec<FieldError>;

/// A resource's rules as plain functions.
pub struct Rules<T> {
    default: Mutate,
    prepare_create: Mutate,
    prepare_update: MutateWithOld,
    validate_create: Check,
    validate_update: CheckWithOld,
    /// The validators already return kube-apiserver's complete list
    /// (including the generic registry's ObjectMeta checks).
    complete: bool,
    namespaced: bool,
    generation: bool,
    _t: PhantomData<fn() -> T>,
}

fn nothing(_: &mut Value) {}

fn keep_status(new: &mut Value, old: &Value) {
    copy_field(new, old, "status");
}

fn keep_nothing(_: &mut Value, _: &Value) {}

impl<T> Rules<T> {
    /// Rules without status, defaults or preparation.
    const fn checks(namespaced: bool, create: Check, update: CheckWithOld) -> Self {
        Rules {
            default: nothing,
            prepare_create: nothing,
            prepare_update: keep_nothing,
            validate_create: create,
            validate_update: update,
            complete: false,
            namespaced,
            generation: false,
            _t: PhantomData,
        }
    }

    const fn defaults(mut self, default: Mutate) -> Self {
        self.default = default;
        self
    }

    const fn prepare(mut self, create: Mutate, update: MutateWithOld) -> Self {
        self.prepare_create = create;
        self.prepare_update = update;
        self
    }

    const fn complete(mut self) -> Self {
        self.complete = true;
        self
    }

    const fn generation(mut self) -> Self {
        self.generation = true;
        self
    }
}

impl<T: DeserializeOwned + Serialize> Strategy for Rules<T> {
    fn prepare_create(&self, obj: &mut Value) {
        (self.prepare_create)(obj);
    }

    fn prepare_update(&self, new: &mut Value, old: &Value) {
        (self.prepare_update)(new, old);
    }

    fn default(&self, obj: &mut Value) {
        (self.default)(obj);
    }

    /// The strategy's errors; when there are none, the generic registry's
    /// ObjectMeta checks (kube-apiserver runs those only after success).
    fn validate_create(&self, obj: &Value) -> Vec<FieldError> {
        let errs = (self.validate_create)(obj);
        if self.complete || !errs.is_empty() {
            return errs;
        }
        generic_create_errors(obj, self.namespaced)
    }

    /// The generic registry's checks first, then the strategy's.
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        if self.complete {
            return (self.validate_update)(new, old);
        }
        let mut errs = common_update_errors(new, old, self.namespaced);
        errs.extend((self.validate_update)(new, old));
        errs
    }

    fn normalize(&self, obj: Value) -> Result<Value, String> {
        roundtrip::<T>(obj)
    }

    fn tracks_generation(&self) -> bool {
        self.generation
    }
}

// Service: the trait methods use kubeadm's defaults; the API server calls
// `validation::service::validate_service` with its own `ServiceConfig`.
fn service_prepare_create(obj: &mut Value) {
    // Errors resurface in validate_create (same checks, same order).
    let _ = dsvc::prepare_service_create(obj, &ServiceConfig::default());
}
fn service_prepare_update(new: &mut Value, old: &Value) {
    let _ = dsvc::prepare_service_update(new, old, &ServiceConfig::default());
}
fn service_create(obj: &Value) -> Vec<FieldError> {
    validate_service(obj, None, &ServiceConfig::default())
}
fn service_update(new: &Value, old: &Value) -> Vec<FieldError> {
    validate_service(new, Some(old), &ServiceConfig::default())
}

fn core_event_create(obj: &Value) -> Vec<FieldError> {
    validate_event_create(obj, EventApi::CoreV1)
}
fn core_event_update(new: &Value, old: &Value) -> Vec<FieldError> {
    validate_event_update(new, old, EventApi::CoreV1)
}
fn v1_event_create(obj: &Value) -> Vec<FieldError> {
    validate_event_create(obj, EventApi::EventsV1)
}
fn v1_event_update(new: &Value, old: &Value) -> Vec<FieldError> {
    validate_event_update(new, old, EventApi::EventsV1)
}

static CONFIGMAP: Rules<core::ConfigMap> = Rules::checks(
    true,
    config::validate_config_map,
    config::validate_config_map_update,
);
static ENDPOINTS: Rules<core::Endpoints> = Rules::checks(
    true,
    endpoints::validate_endpoints,
    endpoints::validate_endpoints_update,
)
.defaults(misc::default_endpoints);
static EVENT: Rules<core::Event> = Rules::checks(true, core_event_create, core_event_update);
static EVENT_V1: Rules<events::Event> = Rules::checks(true, v1_event_create, v1_event_update);
static NAMESPACE: Rules<core::Namespace> = Rules::checks(
    false,
    simple::validate_namespace,
    simple::validate_namespace_update,
)
.defaults(misc::default_namespace)
.prepare(
    misc::prepare_namespace_create,
    misc::prepare_namespace_update,
);
static NODE: Rules<core::Node> =
    Rules::checks(false, simple::validate_node, simple::validate_node_update)
        .defaults(misc::default_node)
        .prepare(nothing, keep_status);
static POD: Rules<core::Pod> = Rules::checks(
    true,
    pod::validate_pod_create,
    podupdate::validate_pod_update,
)
.defaults(dpod::default_pod)
.prepare(dpod::prepare_pod_create, keep_status);
static SECRET: Rules<core::Secret> = Rules::checks(
    true,
    config::validate_secret,
    config::validate_secret_update,
)
.defaults(misc::default_secret);
static SERVICE_ACCOUNT: Rules<core::ServiceAccount> = Rules::checks(
    true,
    simple::validate_service_account,
    simple::validate_service_account_update,
);
static SERVICE: Rules<core::Service> = Rules::checks(true, service_create, service_update)
    .defaults(dsvc::default_service)
    .prepare(service_prepare_create, service_prepare_update)
    .complete();
static BINDING: Plain<core::Binding> = Plain::new(false, false);
// Served so `kubectl cluster-info dump` and clients that list them work;
// no controller acts on them in k1s.
static REPLICATION_CONTROLLER: Plain<core::ReplicationController> = Plain::new(true, true);
static DAEMON_SET: Plain<apps_api::DaemonSet> = Plain::new(true, true);
static DEPLOYMENT: Rules<apps_api::Deployment> = Rules::checks(
    true,
    apps::validate_deployment_create,
    apps::validate_deployment_update,
)
.defaults(dapps::default_deployment)
.prepare(dapps::prepare_deployment_create, keep_status)
.generation();
static REPLICASET: Rules<apps_api::ReplicaSet> = Rules::checks(
    true,
    apps::validate_replica_set_create,
    apps::validate_replica_set_update,
)
.defaults(dapps::default_replica_set)
.prepare(dapps::prepare_replica_set_create, keep_status)
.generation();
static LEASE: Rules<coord::Lease> =
    Rules::checks(true, simple::validate_lease, simple::validate_lease_update);
static ENDPOINT_SLICE: Rules<discovery::EndpointSlice> = Rules::checks(
    true,
    endpoints::validate_endpoint_slice,
    endpoints::validate_endpoint_slice_update,
)
.defaults(misc::default_endpoint_slice);

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
        ("", "ReplicationController") => &REPLICATION_CONTROLLER,
        ("apps", "DaemonSet") => &DAEMON_SET,
        ("apps", "Deployment") => &DEPLOYMENT,
        ("apps", "ReplicaSet") => &REPLICASET,
        ("coordination.k8s.io", "Lease") => &LEASE,
        ("discovery.k8s.io", "EndpointSlice") => &ENDPOINT_SLICE,
        _ => &CONFIGMAP,
    }
}

#[cfg(test)]
mod tests {
    use crate::resource::lookup;
    use crate::strategy::for_resource;
    use serde_json::{json, Value};

    fn strategy(group: &str, plural: &str) -> &'static dyn crate::Strategy {
        match lookup(group, plural) {
            Some(r) => for_resource(r),
            None => panic!("no resource {group}/{plural}"),
        }
    }

    /// Runs a create through a strategy the way the API server does.
    fn create(group: &str, plural: &str, obj: Value) -> (Value, Vec<String>) {
        let s = strategy(group, plural);
        let mut obj = s.normalize(obj).unwrap_or(Value::Null);
        s.default(&mut obj);
        s.prepare_create(&mut obj);
        let errs = s
            .validate_create(&obj)
            .iter()
            .map(ToString::to_string)
            .collect();
        (obj, errs)
    }

    #[test]
    fn service_strategy_defaults_and_validates() {
        let (obj, errs) = create(
            "",
            "services",
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "web", "namespace": "default"},
                   "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 8080}]}}),
        );
        assert_eq!(
            errs,
            vec!["spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767"]
        );
        assert_eq!(obj["spec"]["externalTrafficPolicy"], json!("Cluster"));
        assert_eq!(obj["status"], json!({"loadBalancer": {}}));
    }

    #[test]
    fn generic_checks_run_after_strategy_checks_pass() {
        // A core/v1 Event skips ObjectMeta validation but still needs a name.
        let (_, errs) = create(
            "",
            "events",
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"namespace": "default"},
                   "involvedObject": {"namespace": "default"}}),
        );
        assert_eq!(
            errs,
            vec!["metadata.name: Required value: name or generateName is required"]
        );
    }

    #[test]
    fn namespace_strategy() {
        let (obj, errs) = create(
            "",
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(obj["status"], json!({"phase": "Active"}));
        assert_eq!(obj["spec"], json!({"finalizers": ["kubernetes"]}));
        assert_eq!(
            obj["metadata"]["labels"],
            json!({"kubernetes.io/metadata.name": "demo"})
        );
    }

    #[test]
    fn deployment_strategy() {
        let (obj, errs) = create(
            "apps",
            "deployments",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "namespace": "default"},
                   "spec": {"selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {"app": "other"}},
                                         "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}),
        );
        assert_eq!(
            errs,
            vec!["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`"]
        );
        assert_eq!(obj["spec"]["replicas"], json!(1));
        assert!(strategy("apps", "deployments").tracks_generation());
    }

    #[test]
    fn pod_strategy_sets_status_and_keeps_it_on_update() {
        let s = strategy("", "pods");
        let (obj, errs) = create(
            "",
            "pods",
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                   "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                   "status": {"phase": "Running"}}),
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            obj["status"],
            json!({"phase": "Pending", "qosClass": "BestEffort"})
        );
        let mut new = obj.clone();
        new["status"] = json!({"phase": "Running"});
        s.prepare_update(&mut new, &obj);
        assert_eq!(new["status"], obj["status"]);
    }

    #[test]
    fn node_keeps_status_on_create() {
        let (obj, errs) = create(
            "",
            "nodes",
            json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1"},
                   "status": {"capacity": {"cpu": "2"}}}),
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(obj["status"]["allocatable"], json!({"cpu": "2"}));
    }
}
