//! Work a write does inside its store transaction beyond storing the object:
//! allocating and releasing Service ClusterIPs and NodePorts.

use crate::alloc;
use crate::api::{ClusterConfig, TxError};
use k1s_api::defaults::service::{prepare_service_create, prepare_service_update};
use k1s_api::validation::service::validate_service;
use k1s_api::{strategy, ApiError, FieldError, ResourceInfo};
use k1s_store::WriteTx;
use serde_json::Value;

fn is_service(r: &ResourceInfo) -> bool {
    r.group.is_empty() && r.kind == "Service"
}

/// Resets what a write may not set and fills what depends on the old
/// object. Services use the cluster's ranges; everything else its strategy.
pub(crate) fn prepare(
    r: &ResourceInfo,
    cluster: &ClusterConfig,
    obj: &mut Value,
    old: Option<&Value>,
) -> Vec<FieldError> {
    if is_service(r) {
        return match old {
            None => prepare_service_create(obj, &cluster.service),
            Some(old) => prepare_service_update(obj, old, &cluster.service),
        };
    }
    let s = strategy::for_resource(r);
    match old {
        None => s.prepare_create(obj),
        Some(old) => s.prepare_update(obj, old),
    }
    Vec::new()
}

/// Services are validated inside the transaction, after allocation, so the
/// validator sees the ClusterIP and NodePorts they will have.
pub(crate) fn validates_in_transaction(r: &ResourceInfo) -> bool {
    is_service(r)
}

/// Runs before `obj` (stored form) is written; `old` is the stored object on update.
pub(crate) fn before_write(
    r: &ResourceInfo,
    cluster: &ClusterConfig,
    tx: &mut WriteTx<'_, '_>,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), TxError> {
    if is_service(r) {
        alloc::service_allocations(cluster, tx, obj, old)?;
        let errors = validate_service(obj, old, &cluster.service);
        if !errors.is_empty() {
            let name = crate::objects::name(obj).to_string();
            return Err(ApiError::invalid(r.kind, r.group, &name, &errors).into());
        }
    }
    Ok(())
}

/// Runs when `old` (stored form) is removed for good.
pub(crate) fn after_delete(
    r: &ResourceInfo,
    tx: &mut WriteTx<'_, '_>,
    old: &Value,
) -> Result<(), TxError> {
    if is_service(r) {
        alloc::release_service(tx, old)?;
    }
    Ok(())
}
