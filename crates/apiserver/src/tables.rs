//! Table output (`kubectl get`): the printers live in k1s-api; this picks
//! the clock and the `includeObject` option.

use k1s_api::table::{self, IncludeObject};
use k1s_api::ResourceInfo;
use serde_json::Value;

/// The Table for `objects`; an unknown `includeObject` falls back to the default.
pub fn table(r: &ResourceInfo, objects: &[Value], include_object: Option<&str>) -> Value {
    let include = IncludeObject::parse(include_object.unwrap_or("")).unwrap_or_default();
    table::table(r, objects, chrono::Utc::now(), include)
}

/// Checks `includeObject` up front so a bad value is a 400, as in kube-apiserver.
pub fn check_include_object(value: Option<&str>) -> Result<(), k1s_api::ApiError> {
    IncludeObject::parse(value.unwrap_or(""))
        .map(|_| ())
        .map_err(k1s_api::ApiError::bad_request)
}
