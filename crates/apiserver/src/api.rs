//! The one write path. Every create, update, patch and delete — from kubectl
//! over HTTPS or from an in-process controller — runs through [`Api`]:
//! decode, normalize, prepare, default, validate, allocate, store.

use crate::hooks;
use crate::objects::{self, meta_mut};
use k1s_api::resource::ResourceInfo;
use k1s_api::strategy::{self, unknown_fields};
use k1s_api::{ApiError, ApiResult, FieldError};
use k1s_store::{Key, Store, StoreError, WriteTx};
use serde_json::Value;
use std::sync::Arc;

/// How unknown or duplicate fields in a request body are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Strict,
    #[default]
    Warn,
    Ignore,
}

impl FieldValidation {
    pub fn parse(s: &str) -> ApiResult<Self> {
        match s {
            "Strict" => Ok(FieldValidation::Strict),
            "Warn" | "" => Ok(FieldValidation::Warn),
            "Ignore" => Ok(FieldValidation::Ignore),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}"
            ))),
        }
    }
}

/// Options every write carries.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_manager: String,
    pub field_validation: FieldValidation,
    /// Server-side apply already recorded the manager's fields.
    pub managed_by_apply: bool,
}

/// What a write produced.
#[derive(Debug, Clone)]
pub struct Written {
    /// The object as stored (or as it would be, for a dry run), with kind.
    pub object: Value,
    /// `Warning` header texts (unknown fields under `fieldValidation=Warn`).
    pub warnings: Vec<String>,
    /// Whether the write created the object (201 instead of 200).
    pub created: bool,
}

#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub dry_run: bool,
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

/// What the write path needs to know about the cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterConfig {
    /// The ClusterIP range and NodePort range Services are allocated from.
    pub service: k1s_api::validation::ServiceConfig,
}

/// Errors inside a store transaction: an API error, or the finished object
/// of a dry run (which must not be committed).
pub(crate) enum TxError {
    Api(ApiError),
    DryRun(Value),
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Api(ApiError::internal(e.to_string()))
    }
}

impl From<ApiError> for TxError {
    fn from(e: ApiError) -> Self {
        TxError::Api(e)
    }
}

fn finish(r: Result<Value, TxError>) -> ApiResult<Value> {
    match r {
        Ok(v) | Err(TxError::DryRun(v)) => Ok(v),
        Err(TxError::Api(e)) => Err(e),
    }
}

pub fn key(r: &ResourceInfo, namespace: Option<&str>, name: &str) -> Key {
    let ns = if r.namespaced {
        namespace.unwrap_or("")
    } else {
        ""
    };
    Key::new(r.storage_prefix(), ns, name)
}

#[derive(Clone)]
pub struct Api {
    store: Arc<Store>,
    cluster: Arc<ClusterConfig>,
}

impl Api {
    pub fn new(store: Arc<Store>, cluster: ClusterConfig) -> Api {
        Api {
            store,
            cluster: Arc::new(cluster),
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn cluster(&self) -> &ClusterConfig {
        &self.cluster
    }

    /// Reads one object (with kind).
    pub fn get(&self, r: &'static ResourceInfo, ns: Option<&str>, name: &str) -> ApiResult<Value> {
        let raw = self
            .store
            .get(&key(r, ns, name))
            .map_err(|e| ApiError::internal(e.to_string()))?
            .ok_or_else(|| ApiError::not_found(r, name))?;
        let obj: Value =
            serde_json::from_slice(&raw).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(objects::present(r, obj))
    }

    /// Checks the body's kind and apiVersion, normalizes it through the typed
    /// object and reports unknown fields per `fieldValidation`.
    fn decode(
        &self,
        r: &'static ResourceInfo,
        body: Value,
        opts: &WriteOptions,
    ) -> ApiResult<(Value, Vec<String>)> {
        check_kind(r, &body)?;
        let mut body = objects::with_kind(r, body);
        // Quantities decode as resource.Quantity does: canonical or rejected.
        k1s_api::quantity::fields::canonicalize_object(r.group, r.kind, &mut body)
            .map_err(|e| cannot_handle(r, &e.to_string()))?;
        let strategy = strategy::for_resource(r);
        let normalized = strategy
            .normalize(body.clone())
            .map_err(|e| cannot_handle(r, &e))?;
        let mut warnings = Vec::new();
        if opts.field_validation != FieldValidation::Ignore {
            let unknown = unknown_fields(&body, &normalized);
            if !unknown.is_empty() {
                let texts: Vec<String> = unknown
                    .iter()
                    .map(|f| format!("unknown field \"{f}\""))
                    .collect();
                if opts.field_validation == FieldValidation::Strict {
                    return Err(cannot_handle(
                        r,
                        &format!("strict decoding error: {}", texts.join(", ")),
                    ));
                }
                warnings = texts;
            }
        }
        Ok((normalized, warnings))
    }

    pub async fn create(
        &self,
        r: &'static ResourceInfo,
        ns: Option<&str>,
        body: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        let (mut obj, warnings) = self.decode(r, body, opts)?;
        let namespace = set_namespace(r, ns, &mut obj)?;
        let m = meta_mut(&mut obj);
        if m.get("resourceVersion")
            .and_then(Value::as_str)
            .is_some_and(|rv| !rv.is_empty())
        {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let generate = m
            .get("generateName")
            .and_then(Value::as_str)
            .filter(|g| {
                !g.is_empty()
                    && m.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .is_empty()
            })
            .map(String::from);
        if let Some(base) = &generate {
            m.insert("name".into(), Value::String(objects::generate_name(base)));
        }
        stamp_new(r, &mut obj);
        let strategy = strategy::for_resource(r);
        strategy.default(&mut obj);
        let mut errors = hooks::prepare(r, &self.cluster, &mut obj, None);
        if errors.is_empty() && !hooks::validates_in_transaction(r) {
            errors = strategy.validate_create(&obj);
        }
        if !errors.is_empty() {
            return Err(invalid(r, &obj, &errors));
        }
        if !opts.managed_by_apply {
            record_update(r, None, &mut obj, &opts.field_manager, None);
        }
        let obj = objects::to_stored(r, obj);
        let dry_run = opts.dry_run;
        let cluster = self.cluster.clone();
        let result = self
            .store
            .write(move |tx| -> Result<Value, TxError> {
                if r.namespaced {
                    // Admission sees the generateName, not the generated name.
                    let name = generate.as_deref().unwrap_or(objects::name(&obj));
                    check_namespace_open(tx, r, name, &namespace)?;
                }
                let mut obj = obj;
                let mut k = key(r, Some(&namespace), objects::name(&obj));
                if tx.get_raw(&k)?.is_some() {
                    match &generate {
                        // A generated name collided: pick another once, like upstream's retry.
                        Some(base) => {
                            meta_mut(&mut obj)
                                .insert("name".into(), Value::String(objects::generate_name(base)));
                            k = key(r, Some(&namespace), objects::name(&obj));
                            if tx.get_raw(&k)?.is_some() {
                                return Err(ApiError::already_exists(r, objects::name(&obj)).into());
                            }
                        }
                        None => return Err(ApiError::already_exists(r, objects::name(&obj)).into()),
                    }
                }
                hooks::before_write(r, &cluster, tx, &mut obj, None)?;
                if dry_run {
                    return Err(TxError::DryRun(obj));
                }
                Ok(tx.put(&k, obj)?)
            })
            .await;
        let object = objects::present(r, finish(result)?);
        Ok(Written {
            object,
            warnings,
            created: true,
        })
    }

    /// PUT of the main resource (`subresource` None) or its `status`.
    pub async fn update(
        &self,
        r: &'static ResourceInfo,
        ns: Option<&str>,
        name: &str,
        body: Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        let (mut obj, warnings) = self.decode(r, body, opts)?;
        let namespace = set_namespace(r, ns, &mut obj)?;
        let body_name = objects::name(&obj).to_string();
        if body_name.is_empty() {
            meta_mut(&mut obj).insert("name".into(), Value::String(name.to_string()));
        } else if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        let status_only = subresource == Some("status");
        let dry_run = opts.dry_run;
        let manager = (!opts.managed_by_apply).then(|| opts.field_manager.clone());
        let subresource = subresource.map(String::from);
        let cluster = self.cluster.clone();
        let name = name.to_string();
        let result = self
            .store
            .write(move |tx| -> Result<(Value, bool), TxError> {
                let k = key(r, Some(&namespace), &name);
                let Some(old) = tx.get(&k)? else {
                    return Err(ApiError::not_found(r, &name).into());
                };
                let old = objects::present(r, old);
                let new = prepare_update(r, &cluster, obj, &old, status_only)?;
                let Some(mut new) = new else {
                    return Ok((old, false));
                };
                if let Some(manager) = &manager {
                    record_update(r, Some(&old), &mut new, manager, subresource.as_deref());
                }
                if !hooks::validates_in_transaction(r) {
                    let errors = strategy::for_resource(r).validate_update(&new, &old);
                    if !errors.is_empty() {
                        return Err(invalid(r, &new, &errors).into());
                    }
                }
                let old_stored = objects::to_stored(r, old);
                new = objects::to_stored(r, new);
                // A namespace also waits for its spec.finalizers
                // (`ShouldDeleteDuringUpdate` of its storage).
                let spec_finalized = r.kind != "Namespace"
                    || new["spec"]["finalizers"]
                        .as_array()
                        .is_none_or(|f| f.is_empty());
                if objects::is_deleting(&new)
                    && objects::finalizers(&new).is_empty()
                    && spec_finalized
                    && new["metadata"]["deletionGracePeriodSeconds"]
                        .as_i64()
                        .unwrap_or(0)
                        == 0
                {
                    // The last finalizer is gone: the deletion completes now.
                    hooks::after_delete(r, tx, &old_stored)?;
                    if dry_run {
                        return Err(TxError::DryRun(new));
                    }
                    return Ok((tx.delete(&k)?.unwrap_or(new), true));
                }
                hooks::before_write(r, &cluster, tx, &mut new, Some(&old_stored))?;
                if dry_run {
                    return Err(TxError::DryRun(new));
                }
                Ok((tx.put(&k, new)?, true))
            })
            .await;
        let object = match result {
            Ok((v, _)) => v,
            Err(e) => finish(Err(e))?,
        };
        Ok(Written {
            object: objects::present(r, object),
            warnings,
            created: false,
        })
    }

    pub async fn delete(
        &self,
        r: &'static ResourceInfo,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<(Value, bool)> {
        let k = key(r, ns, name);
        let name = name.to_string();
        let opts = opts.clone();
        let result = self
            .store
            .write(move |tx| -> Result<(Value, bool), TxError> {
                let Some(old) = tx.get(&k)? else {
                    return Err(ApiError::not_found(r, &name).into());
                };
                check_delete_preconditions(r, &name, &old, &opts)?;
                let mut finalizers = objects::finalizers(&old);
                match opts.propagation_policy.as_deref() {
                    Some("Foreground") => push_unique(&mut finalizers, "foregroundDeletion"),
                    Some("Orphan") => push_unique(&mut finalizers, "orphan"),
                    Some("Background") | None => {}
                    Some(other) => {
                        return Err(ApiError::invalid(
                            "DeleteOptions",
                            "",
                            "",
                            &[FieldError::not_supported(
                                "propagationPolicy",
                                other,
                                &["Foreground", "Background", "Orphan", "nil"],
                            )],
                        )
                        .into())
                    }
                }
                let namespace_finalizers = r.kind == "Namespace"
                    && old["spec"]["finalizers"]
                        .as_array()
                        .is_some_and(|f| !f.is_empty());
                // A pod on a node is deleted gracefully: the kubelet stops
                // it and then deletes it with a grace period of 0.
                let grace = if is_pod(r) {
                    pod_grace_period(&old, opts.grace_period_seconds)
                } else {
                    0
                };
                let shortens = grace_shortens(&old, grace);
                if !finalizers.is_empty() || namespace_finalizers || grace > 0 {
                    let mut pending = old.clone();
                    let m = meta_mut(&mut pending);
                    if !m.contains_key("deletionTimestamp") || shortens {
                        m.insert(
                            "deletionTimestamp".into(),
                            Value::String(objects::rfc3339_after(grace)),
                        );
                        // kube-apiserver's namespace storage sets only the timestamp.
                        if r.kind != "Namespace" {
                            m.insert("deletionGracePeriodSeconds".into(), Value::from(grace));
                        }
                    }
                    m.insert(
                        "finalizers".into(),
                        Value::Array(finalizers.into_iter().map(Value::String).collect()),
                    );
                    if m.get("finalizers")
                        .and_then(Value::as_array)
                        .is_some_and(|f| f.is_empty())
                    {
                        m.remove("finalizers");
                    }
                    if r.kind == "Namespace" {
                        pending["status"]["phase"] = Value::String("Terminating".into());
                    }
                    if pending == old {
                        return Ok((old, false));
                    }
                    if opts.dry_run {
                        return Err(TxError::DryRun(pending));
                    }
                    return Ok((tx.put(&k, pending)?, false));
                }
                if opts.dry_run {
                    return Err(TxError::DryRun(old));
                }
                hooks::after_delete(r, tx, &old)?;
                Ok((tx.delete(&k)?.unwrap_or(old), true))
            })
            .await;
        match result {
            Ok((v, done)) => Ok((objects::present(r, v), done)),
            Err(TxError::DryRun(v)) => Ok((objects::present(r, v), true)),
            Err(TxError::Api(e)) => Err(e),
        }
    }
}

impl Api {
    /// Rebuilds ClusterIP/NodePort allocations from the stored Services
    /// (start-up repair, like kube-apiserver's repair controllers). Returns
    /// (allocations dropped, allocations added).
    pub async fn repair_allocations(&self) -> ApiResult<(usize, usize)> {
        let r = k1s_api::resource::lookup("", "services").ok_or_else(ApiError::no_route)?;
        let prefix = r.storage_prefix();
        let result = self
            .store
            .write(move |tx| crate::alloc::repair(tx, &prefix))
            .await;
        match result {
            Ok(counts) => Ok(counts),
            Err(TxError::Api(e)) => Err(e),
            Err(TxError::DryRun(_)) => Err(ApiError::internal("repair cannot be a dry run")),
        }
    }

    /// Binds a pod to a node (`pods/binding`, `bindings`): sets
    /// `spec.nodeName` once and marks the pod scheduled.
    pub async fn bind_pod(&self, ns: &str, pod: &str, node: &str) -> ApiResult<()> {
        let r = k1s_api::resource::lookup("", "pods").ok_or_else(ApiError::no_route)?;
        if node.is_empty() {
            return Err(ApiError::invalid(
                "Binding",
                "",
                pod,
                &[FieldError::required("target.name", "")],
            ));
        }
        let k = key(r, Some(ns), pod);
        let (pod, node) = (pod.to_string(), node.to_string());
        let result = self
            .store
            .write(move |tx| -> Result<Value, TxError> {
                let Some(mut obj) = tx.get(&k)? else {
                    return Err(ApiError::not_found(r, &pod).into());
                };
                if objects::is_deleting(&obj) {
                    return Err(ApiError::conflict(r, &pod, "pod is being deleted, cannot be assigned to a host").into());
                }
                if let Some(existing) = obj["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
                    return Err(ApiError::new(
                        409,
                        "Conflict",
                        format!("Operation cannot be fulfilled on pods/binding \"{pod}\": pod {pod} is already assigned to node \"{existing}\""),
                    )
                    .into());
                }
                obj["spec"]["nodeName"] = Value::String(node);
                let now = objects::now_rfc3339();
                let scheduled = serde_json::json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
                let conditions = obj["status"]["conditions"].as_array().cloned().unwrap_or_default();
                let mut conditions: Vec<Value> = conditions.into_iter().filter(|c| c["type"] != "PodScheduled").collect();
                conditions.insert(0, scheduled);
                obj["status"]["conditions"] = Value::Array(conditions);
                Ok(tx.put(&k, obj)?)
            })
            .await;
        finish(result).map(|_| ())
    }

    /// PUT `/namespaces/{name}/finalize`: replaces `spec.finalizers`; a
    /// terminating namespace with no finalizers left is removed.
    pub async fn finalize_namespace(
        &self,
        name: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Written> {
        let r = k1s_api::resource::lookup("", "namespaces").ok_or_else(ApiError::no_route)?;
        let finalizers = body["spec"]["finalizers"].clone();
        let k = key(r, None, name);
        let name = name.to_string();
        let dry_run = opts.dry_run;
        let result = self
            .store
            .write(move |tx| -> Result<Value, TxError> {
                let Some(mut ns) = tx.get(&k)? else {
                    return Err(ApiError::not_found(r, &name).into());
                };
                ns["spec"]["finalizers"] = if finalizers.is_null() {
                    Value::Array(vec![])
                } else {
                    finalizers
                };
                let done = objects::is_deleting(&ns)
                    && ns["spec"]["finalizers"]
                        .as_array()
                        .is_none_or(|f| f.is_empty())
                    && objects::finalizers(&ns).is_empty();
                if dry_run {
                    return Err(TxError::DryRun(ns));
                }
                if done {
                    return Ok(tx.delete(&k)?.unwrap_or(ns));
                }
                Ok(tx.put(&k, ns)?)
            })
            .await;
        Ok(Written {
            object: objects::present(r, finish(result)?),
            warnings: Vec::new(),
            created: false,
        })
    }
}

fn is_pod(r: &ResourceInfo) -> bool {
    r.group.is_empty() && r.kind == "Pod"
}

/// The grace period a pod deletion gets, as kube-apiserver's pod strategy
/// decides it: the request's, else the pod's terminationGracePeriodSeconds
/// (30 by default); 0 for pods not on a node or already finished; a
/// negative request becomes 1.
pub fn pod_grace_period(pod: &Value, requested: Option<i64>) -> i64 {
    let mut period = requested
        .or_else(|| pod["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30);
    let unscheduled = pod["spec"]["nodeName"].as_str().unwrap_or("").is_empty();
    let finished = matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded") | Some("Failed")
    );
    if unscheduled || finished {
        period = 0;
    }
    if period < 0 {
        period = 1;
    }
    period
}

/// Whether a second delete of a terminating object asks for a shorter
/// grace period than the one already running.
fn grace_shortens(old: &Value, grace: i64) -> bool {
    objects::is_deleting(old)
        && old["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .is_some_and(|current| grace < current)
}

/// Updates `metadata.managedFields` for a non-apply write by `manager`.
fn record_update(
    r: &ResourceInfo,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
) {
    let now = objects::now_rfc3339();
    let api_version = r.api_version();
    let fm = k1s_patch::FieldManager {
        manager,
        api_version: &api_version,
        subresource,
        time: &now,
    };
    k1s_patch::record_update(old, new, &fm, crate::patch::schema_for(r).as_ref());
}

fn push_unique(list: &mut Vec<String>, item: &str) {
    if !list.iter().any(|f| f == item) {
        list.push(item.to_string());
    }
}

fn check_delete_preconditions(
    r: &ResourceInfo,
    name: &str,
    old: &Value,
    opts: &DeleteOptions,
) -> ApiResult<()> {
    if let Some(uid) = &opts.precondition_uid {
        let actual = objects::meta_str(old, "uid");
        if uid != actual {
            return Err(ApiError::conflict(
                r,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                ),
            ));
        }
    }
    if let Some(rv) = &opts.precondition_rv {
        let actual = objects::resource_version(old);
        if rv != actual {
            return Err(ApiError::conflict(
                r,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {actual}"
                ),
            ));
        }
    }
    Ok(())
}

/// Computes the object an update stores, or `None` when nothing changes.
fn prepare_update(
    r: &'static ResourceInfo,
    cluster: &ClusterConfig,
    mut new: Value,
    old: &Value,
    status_only: bool,
) -> Result<Option<Value>, TxError> {
    let wanted_rv = objects::resource_version(&new).to_string();
    let old_rv = objects::resource_version(old).to_string();
    if !wanted_rv.is_empty() && wanted_rv != old_rv {
        return Err(ApiError::stale(r, objects::name(old)).into());
    }
    let strategy = strategy::for_resource(r);
    let old_meta = objects::meta(old).cloned().unwrap_or_default();
    if status_only {
        // Status writes change status only; metadata stays as stored, except
        // that apps workloads' status strategies let annotations through
        // (the Deployment controller records its revision that way).
        let mut m = old_meta.clone();
        let requested = objects::meta(&new);
        if let Some(mf) = requested.and_then(|n| n.get("managedFields")) {
            m.insert("managedFields".into(), mf.clone());
        }
        if r.group == "apps" {
            match requested.and_then(|n| n.get("annotations")) {
                Some(a) => m.insert("annotations".into(), a.clone()),
                None => m.remove("annotations"),
            };
        }
        new.as_object_mut()
            .map(|o| o.insert("metadata".into(), Value::Object(m)));
        strategy.prepare_status_update(&mut new, old);
    } else {
        let m = meta_mut(&mut new);
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "namespace",
        ] {
            match old_meta.get(f) {
                Some(v) => m.insert(f.into(), v.clone()),
                None => m.remove(f),
            };
        }
        strategy.default(&mut new);
        let errors = hooks::prepare(r, cluster, &mut new, Some(old));
        if !errors.is_empty() {
            return Err(invalid(r, &new, &errors).into());
        }
    }
    if status_only {
        strategy.default(&mut new);
    }
    meta_mut(&mut new).insert("resourceVersion".into(), Value::String(old_rv.clone()));
    if strategy.tracks_generation() && new.get("spec") != old.get("spec") {
        let g = old_meta
            .get("generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        meta_mut(&mut new).insert("generation".into(), Value::from(g + 1));
    }
    if same_ignoring_managed_times(&new, old) {
        return Ok(None);
    }
    Ok(Some(new))
}

/// An update that changes nothing but managedFields timestamps is a no-op
/// (no new resourceVersion), as in kube-apiserver.
fn same_ignoring_managed_times(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(mf) = v
            .get_mut("metadata")
            .and_then(|m| m.get_mut("managedFields"))
            .and_then(Value::as_array_mut)
        {
            for e in mf {
                if let Some(o) = e.as_object_mut() {
                    o.remove("time");
                }
            }
        }
        v
    }
    strip(a) == strip(b)
}

/// Sets uid, creationTimestamp and generation on a new object and clears
/// what a client may not set.
fn stamp_new(r: &ResourceInfo, obj: &mut Value) {
    let tracks = strategy::for_resource(r).tracks_generation();
    let m = meta_mut(obj);
    m.insert(
        "uid".into(),
        Value::String(uuid::Uuid::new_v4().to_string()),
    );
    m.insert(
        "creationTimestamp".into(),
        Value::String(objects::now_rfc3339()),
    );
    m.remove("deletionTimestamp");
    m.remove("deletionGracePeriodSeconds");
    m.remove("resourceVersion");
    if tracks {
        m.insert("generation".into(), Value::from(1));
    } else {
        m.remove("generation");
    }
}

/// Puts the URL's namespace on the object (refusing a different one) and
/// returns it; cluster-scoped objects get none.
fn set_namespace(r: &ResourceInfo, url_ns: Option<&str>, obj: &mut Value) -> ApiResult<String> {
    let m = meta_mut(obj);
    if !r.namespaced {
        m.remove("namespace");
        return Ok(String::new());
    }
    let url_ns = url_ns.unwrap_or("");
    let body_ns = m.get("namespace").and_then(Value::as_str).unwrap_or("");
    if !body_ns.is_empty() && !url_ns.is_empty() && body_ns != url_ns {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let ns = if url_ns.is_empty() { body_ns } else { url_ns }.to_string();
    if ns.is_empty() {
        return Err(ApiError::bad_request(
            "the server could not find the requested resource",
        ));
    }
    m.insert("namespace".into(), Value::String(ns.clone()));
    Ok(ns)
}

fn check_namespace_open(
    tx: &WriteTx<'_, '_>,
    r: &ResourceInfo,
    name: &str,
    ns: &str,
) -> Result<(), TxError> {
    let Some(namespaces) = k1s_api::resource::lookup("", "namespaces") else {
        return Ok(());
    };
    match tx.get(&key(namespaces, None, ns))? {
        None => Err(ApiError::namespace_not_found(ns).into()),
        Some(n) if objects::is_deleting(&n) => {
            Err(ApiError::namespace_terminating(r, name, ns).into())
        }
        Some(_) => Ok(()),
    }
}

/// The body must be this resource's kind (an absent kind/apiVersion is
/// taken from the URL, as kube-apiserver does for JSON bodies).
fn check_kind(r: &ResourceInfo, body: &Value) -> ApiResult<()> {
    let Some(obj) = body.as_object() else {
        return Err(ApiError::bad_request(format!(
            "Object '{}' is missing in '{}'",
            "Kind", body
        )));
    };
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if !api_version.is_empty() && api_version != r.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            r.api_version()
        )));
    }
    if !kind.is_empty() && kind != r.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            r.kind
        )));
    }
    Ok(())
}

fn cannot_handle(r: &ResourceInfo, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{kind} in version \"{v}\" cannot be handled as a {kind}: {why}",
        kind = r.kind,
        v = r.version
    ))
}

fn invalid(r: &ResourceInfo, obj: &Value, errors: &[FieldError]) -> ApiError {
    ApiError::invalid(r.kind, r.group, objects::name(obj), errors)
}
