//! Whole OpenAPI v3 documents: one per group/version, and the index that
//! lists them with a content hash, as kube-apiserver serves under /openapi/v3.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::gv::GroupVersion;
use crate::{paths, schemas};

/// `info.version` of every document: the Kubernetes release k1s speaks.
pub const KUBERNETES_VERSION: &str = "v1.32.13";

/// The v3 document of one group/version.
pub(crate) fn group_version(gv: &GroupVersion, served: &[GroupVersion]) -> Value {
    let paths = paths::build(gv);
    let refs = paths::referenced_schemas(&paths);
    let schemas = schemas::components(&refs, served);
    let paths: Map<String, Value> = paths
        .into_iter()
        .map(|(path, item)| (path, Value::Object(item)))
        .collect();
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": {
                    "description": "Bearer Token authentication",
                    "in": "header",
                    "name": "authorization",
                    "type": "apiKey"
                }
            }
        },
        "security": [{"BearerToken": []}]
    })
}

/// Upper-case hex SHA-512 of a document, kube-apiserver's `?hash=` and ETag.
pub(crate) fn hash(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, body);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

/// `{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=…"}}}`
pub(crate) fn index<'a>(docs: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    let paths: BTreeMap<&str, Value> = docs
        .map(|(key, hash)| {
            let url = format!("/openapi/v3/{key}?hash={hash}");
            (key, json!({ "serverRelativeURL": url }))
        })
        .collect();
    json!({ "paths": paths })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_upper_hex_sha512() {
        assert_eq!(
            hash(b"abc"),
            "DDAF35A193617ABACC417349AE20413112E6FA4E89A97EA20A9EEEE64B55D39A\
             2192992A274FC1A836BA3C23A3FEEBBD454D4423643CE80E2A9AC94FA54CA49F"
        );
    }

    #[test]
    fn index_lists_relative_urls_sorted() {
        let idx = index([("apis/apps/v1", "BB"), ("api/v1", "AA")].into_iter());
        assert_eq!(
            serde_json::to_string(&idx).unwrap_or_default(),
            r#"{"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=AA"},"apis/apps/v1":{"serverRelativeURL":"/openapi/v3/apis/apps/v1?hash=BB"}}}"#
        );
    }
}
