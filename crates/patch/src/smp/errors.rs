//! strategicpatch's error texts (k8s.io/apimachinery/pkg/util/mergepatch).

use serde_json::{Map, Value};

use crate::error::PatchError;
use crate::gofmt;

pub(super) const BAD_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
pub(super) const BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
pub(super) const BAD_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";

pub(super) fn no_merge_key(item: &Value, key: &str) -> PatchError {
    PatchError::Internal(format!(
        "map: {} does not contain declared merge key: {key}",
        gofmt::v(item)
    ))
}

pub(super) fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Internal(format!(
        "expected a {expected}, but received a {}",
        gofmt::type_name(actual)
    ))
}

pub(super) fn bad_patch_type(directive: &Value, map: &Map<String, Value>) -> PatchError {
    let shown = match directive {
        Value::String(s) => s.clone(),
        other => format!("%!s({}={})", gofmt::type_name(other), gofmt::v(other)),
    };
    PatchError::Internal(format!(
        "unknown patch type: {shown} in map: {}",
        gofmt::v(&Value::Object(map.clone()))
    ))
}
