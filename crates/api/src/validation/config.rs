//! ConfigMap and Secret validation: key names, total size, immutability and
//! the keys each Secret type requires.

use super::json::{get, obj_at, str_at};
use super::meta::{
    immutable, name_is_dns_subdomain, validate_object_meta, validate_object_meta_update,
};
use super::names::is_config_map_key;
use crate::field::{FieldError, Path};
use serde_json::Value;

/// Max total size of a ConfigMap's or Secret's data (1 MiB).
pub const MAX_DATA_SIZE: usize = 1024 * 1024;

/// Decoded length of a base64 string (Secret and binaryData values).
fn decoded_len(s: &str) -> usize {
    let pad = s.bytes().rev().take_while(|b| *b == b'=').count();
    (s.len() / 4 * 3).saturating_sub(pad)
}

fn key_errors(key: &str, path: &Path) -> Vec<FieldError> {
    is_config_map_key(key)
        .into_iter()
        .map(|m| FieldError::invalid(path.key(key), key, m))
        .collect()
}

/// `ValidateConfigMap`.
pub fn validate_config_map(cm: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(cm, true, name_is_dns_subdomain);
    let data_path = Path::new("data");
    let bin_path = Path::new("binaryData");
    let binary = obj_at(cm, "binaryData");
    let mut total = 0usize;
    for (k, v) in obj_at(cm, "data").into_iter().flatten() {
        errs.extend(key_errors(k, &data_path));
        if binary.is_some_and(|b| b.contains_key(k)) {
            errs.push(FieldError::invalid(
                data_path.key(k),
                k.as_str(),
                "duplicate of key present in binaryData",
            ));
        }
        total += v.as_str().map_or(0, str::len);
    }
    for (k, v) in binary.into_iter().flatten() {
        errs.extend(key_errors(k, &bin_path));
        total += v.as_str().map_or(0, decoded_len);
    }
    if total > MAX_DATA_SIZE {
        // Upstream reports this against the whole object (an empty path).
        errs.push(FieldError::too_long("", MAX_DATA_SIZE));
    }
    errs
}

fn immutable_data_errors(new: &Value, old: &Value, keys: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if old.get("immutable").and_then(Value::as_bool) != Some(true) {
        return errs;
    }
    let why = "field is immutable when `immutable` is set";
    if new.get("immutable").and_then(Value::as_bool) != Some(true) {
        errs.push(FieldError::forbidden("immutable", why));
    }
    for key in keys {
        if !super::podupdate::semantic_eq(new.get(*key), old.get(*key)) {
            errs.push(FieldError::forbidden(*key, why));
        }
    }
    errs
}

/// `ValidateConfigMapUpdate`.
pub fn validate_config_map_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(immutable_data_errors(new, old, &["data", "binaryData"]));
    errs.extend(validate_config_map(new));
    errs
}

/// `ValidateSecret`.
pub fn validate_secret(secret: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta(secret, true, name_is_dns_subdomain);
    let data_path = Path::new("data");
    let data = obj_at(secret, "data");
    let mut total = 0usize;
    for (k, v) in data.into_iter().flatten() {
        errs.extend(key_errors(k, &data_path));
        total += v.as_str().map_or(0, decoded_len);
    }
    if total > MAX_DATA_SIZE {
        errs.push(FieldError::too_long(&data_path, MAX_DATA_SIZE));
    }
    let has = |k: &str| data.is_some_and(|d| d.contains_key(k));
    let required = |k: &str| FieldError::required(data_path.key(k), "");
    match str_at(secret, "type") {
        "kubernetes.io/service-account-token" => {
            let name = get(
                secret,
                &[
                    "metadata",
                    "annotations",
                    "kubernetes.io/service-account.name",
                ],
            )
            .and_then(Value::as_str)
            .unwrap_or("");
            if name.is_empty() {
                errs.push(FieldError::required(
                    Path::new("metadata")
                        .child("annotations")
                        .key("kubernetes.io/service-account.name"),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" if !has(".dockercfg") => errs.push(required(".dockercfg")),
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => {
            errs.push(required(".dockerconfigjson"))
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(required("username"));
            errs.push(required("password"));
        }
        "kubernetes.io/ssh-auth" => {
            let key = get(secret, &["data", "ssh-privatekey"])
                .and_then(Value::as_str)
                .unwrap_or("");
            if key.is_empty() {
                errs.push(required("ssh-privatekey"));
            }
        }
        "kubernetes.io/tls" => {
            if !has("tls.crt") {
                errs.push(required("tls.crt"));
            }
            if !has("tls.key") {
                errs.push(required("tls.key"));
            }
        }
        _ => {}
    }
    errs
}

/// `ValidateSecretUpdate`.
pub fn validate_secret_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs = validate_object_meta_update(new, old);
    errs.extend(immutable(
        new.get("type"),
        old.get("type"),
        &Path::new("type"),
    ));
    errs.extend(immutable_data_errors(new, old, &["data"]));
    errs.extend(validate_secret(new));
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

    fn texts(e: Vec<FieldError>) -> Vec<String> {
        e.iter().map(ToString::to_string).collect()
    }

    fn meta() -> Value {
        json!({"name": "cfg", "namespace": "default", "resourceVersion": "1"})
    }

    #[test]
    fn config_maps() {
        let big = "x".repeat(MAX_DATA_SIZE + 1);
        let cases = vec![
            (
                json!({"metadata": meta(), "data": {"game.properties": "a=b"}}),
                vec![],
            ),
            (
                json!({"metadata": meta(), "data": {"bad key": "v"}}),
                vec![format!(
                    "data[bad key]: Invalid value: \"bad key\": {KEY_MSG}"
                )],
            ),
            (
                json!({"metadata": meta(), "data": {"..": "v"}}),
                vec!["data[..]: Invalid value: \"..\": must not be '..'".to_string()],
            ),
            (
                json!({"metadata": meta(), "data": {"k": "v"}, "binaryData": {"k": "dg=="}}),
                vec![
                    "data[k]: Invalid value: \"k\": duplicate of key present in binaryData"
                        .to_string(),
                ],
            ),
            (
                json!({"metadata": meta(), "data": {"k": big}}),
                vec![": Too long: may not be more than 1048576 bytes".to_string()],
            ),
        ];
        for (cm, want) in cases {
            assert_eq!(texts(validate_config_map(&cm)), want);
        }
    }

    #[test]
    fn immutable_config_maps() {
        let old = json!({"metadata": meta(), "data": {"k": "v"}, "immutable": true});
        let new = json!({"metadata": meta(), "data": {"k": "w"}});
        assert_eq!(
            texts(validate_config_map_update(&new, &old)),
            vec![
                "immutable: Forbidden: field is immutable when `immutable` is set",
                "data: Forbidden: field is immutable when `immutable` is set",
            ]
        );
    }

    #[test]
    fn secrets() {
        let cases = vec![
            (
                json!({"metadata": meta(), "type": "Opaque", "data": {"password": "cHc="}}),
                vec![],
            ),
            (
                json!({"metadata": meta(), "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}}),
                vec!["data[tls.key]: Required value".to_string()],
            ),
            (
                json!({"metadata": meta(), "type": "kubernetes.io/basic-auth"}),
                vec![
                    "data[username]: Required value".to_string(),
                    "data[password]: Required value".to_string(),
                ],
            ),
            (
                json!({"metadata": meta(), "type": "kubernetes.io/service-account-token"}),
                vec![
                    "metadata.annotations[kubernetes.io/service-account.name]: Required value"
                        .to_string(),
                ],
            ),
        ];
        for (s, want) in cases {
            assert_eq!(texts(validate_secret(&s)), want);
        }
        let old = json!({"metadata": meta(), "type": "Opaque"});
        let new = json!({"metadata": meta(), "type": "kubernetes.io/basic-auth", "data": {"username": "eA=="}});
        assert_eq!(
            texts(validate_secret_update(&new, &old)),
            vec!["type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable"]
        );
    }
}
