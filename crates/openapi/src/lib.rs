//! The OpenAPI documents kube-apiserver publishes and kubectl reads:
//! `/openapi/v3` (an index of per group/version documents, used by
//! `kubectl explain`, by apply's strategic merge patch and to detect
//! server-side field validation) and `/openapi/v2` (one swagger 2.0
//! document, for older clients).
//!
//! Schemas are generated from the k8s-openapi types (schemars), with the
//! list/patch extensions and enums upstream adds taken from the Go types'
//! tags (see `tools/extract_tags.py`). Documents are built on first use, so
//! building [`OpenApi`] at start costs nothing.

mod document;
mod extensions;
mod gv;
mod operation;
mod params;
mod paths;
mod schemas;
#[rustfmt::skip]
mod tags;
mod v2;

use std::sync::OnceLock;

pub use document::KUBERNETES_VERSION;

/// Answer to a v3 document request; see [`OpenApi::v3_reply`].
#[derive(Debug, PartialEq, Eq)]
pub enum V3Reply<'a> {
    /// 200, `Content-Type: application/json`, `ETag: etag`. When
    /// `immutable` (the URL named the current hash) also
    /// `Cache-Control: public, immutable`, `Expires` a year ahead and
    /// `Vary: Accept`, as kube-apiserver sends.
    Document {
        body: &'a [u8],
        etag: String,
        immutable: bool,
    },
    /// 304 with `ETag: etag`.
    NotModified { etag: String },
    /// 301 to this current `serverRelativeURL`.
    Moved(String),
    /// 404: no such group/version.
    NotFound,
}

/// The served documents, serialized once on first request.
pub struct OpenApi {
    v3: OnceLock<V3>,
    v2: OnceLock<Vec<u8>>,
}

struct V3 {
    index: Vec<u8>,
    docs: Vec<Doc>,
}

struct Doc {
    /// Index key: `api/v1`, `apis/apps/v1`.
    key: String,
    body: Vec<u8>,
    hash: String,
}

impl Default for OpenApi {
    fn default() -> Self {
        Self::build()
    }
}

impl OpenApi {
    /// Cheap: the documents are generated on first use (or by [`Self::warm`]).
    pub fn build() -> OpenApi {
        OpenApi {
            v3: OnceLock::new(),
            v2: OnceLock::new(),
        }
    }

    /// Generates the v3 documents now, e.g. on a background task after start.
    pub fn warm(&self) {
        self.docs();
    }

    fn docs(&self) -> &V3 {
        self.v3.get_or_init(generate_v3)
    }

    /// Body of `GET /openapi/v3` (`application/json`).
    pub fn index_v3(&self) -> &[u8] {
        &self.docs().index
    }

    /// Body and hash (the `?hash=` value and ETag) of one v3 document.
    /// `path` is the index key (`api/v1`, `apis/apps/v1`); a leading
    /// `/openapi/v3/` and a `?query` are ignored.
    pub fn v3(&self, path: &str) -> Option<(&[u8], &str)> {
        let key = path.split('?').next().unwrap_or_default();
        let key = key.strip_prefix("/openapi/v3/").unwrap_or(key);
        let key = key.trim_matches('/');
        self.docs()
            .docs
            .iter()
            .find(|d| d.key == key)
            .map(|d| (d.body.as_slice(), d.hash.as_str()))
    }

    /// How kube-apiserver answers `GET /openapi/v3/<path>?<query>`: a
    /// request naming a stale `hash` is redirected to the current URL, one
    /// naming the current hash may be cached forever, and `If-None-Match`
    /// with the current ETag gets 304.
    pub fn v3_reply(
        &self,
        path: &str,
        query: Option<&str>,
        if_none_match: Option<&str>,
    ) -> V3Reply<'_> {
        let Some((body, hash)) = self.v3(path) else {
            return V3Reply::NotFound;
        };
        let etag = format!("\"{hash}\"");
        let asked = query
            .unwrap_or_default()
            .split('&')
            .find_map(|kv| kv.strip_prefix("hash="));
        if let Some(asked) = asked {
            if asked != hash {
                let key = path
                    .strip_prefix("/openapi/v3/")
                    .unwrap_or(path)
                    .trim_matches('/');
                return V3Reply::Moved(format!("/openapi/v3/{key}?hash={hash}"));
            }
        }
        let matches = if_none_match
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
        if matches {
            return V3Reply::NotModified { etag };
        }
        V3Reply::Document {
            body,
            etag,
            immutable: asked.is_some(),
        }
    }

    /// Index keys of the v3 documents, in index order.
    pub fn v3_paths(&self) -> Vec<&str> {
        self.docs().docs.iter().map(|d| d.key.as_str()).collect()
    }

    /// Body of `GET /openapi/v2` as `application/json`: every group/version
    /// in one swagger 2.0 document.
    pub fn v2_json(&self) -> &[u8] {
        let v3 = self.docs();
        self.v2.get_or_init(|| {
            let generate = || {
                let docs: Vec<serde_json::Value> = v3
                    .docs
                    .iter()
                    .filter_map(|d| serde_json::from_slice(&d.body).ok())
                    .collect();
                to_vec(&v2::convert(&docs))
            };
            let body =
                std::thread::scope(|s| s.spawn(generate).join()).unwrap_or_else(|_| generate());
            body.clone()
        })
    }
}

fn generate_v3() -> V3 {
    let served = gv::served();
    let docs: Vec<Doc> = served
        .iter()
        .map(|gv| {
            let body = to_vec(&document::group_version(gv, &served));
            Doc {
                key: gv.index_key(),
                hash: document::hash(&body),
                body,
            }
        })
        .collect();
    let index = document::index(docs.iter().map(|d| (d.key.as_str(), d.hash.as_str())));
    V3 {
        index: to_vec(&index),
        docs,
    }
}

fn to_vec(value: &serde_json::Value) -> Vec<u8> {
    // Serializing a Value has no failure mode (all keys are strings).
    serde_json::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn doc(api: &OpenApi, key: &str) -> Value {
        api.v3(key)
            .and_then(|(body, _)| serde_json::from_slice(body).ok())
            .unwrap_or(Value::Null)
    }

    #[test]
    fn index_lists_every_served_group_version_with_its_hash() {
        let api = OpenApi::build();
        let index: Value = serde_json::from_slice(api.index_v3()).unwrap_or(Value::Null);
        let paths = index["paths"].as_object().cloned().unwrap_or_default();
        assert_eq!(
            paths.keys().collect::<Vec<_>>(),
            [
                "api/v1",
                "apis/apps/v1",
                "apis/coordination.k8s.io/v1",
                "apis/discovery.k8s.io/v1",
                "apis/events.k8s.io/v1"
            ]
        );
        for (key, entry) in &paths {
            let Some((body, hash)) = api.v3(key) else {
                panic!("{key} not served");
            };
            assert_eq!(hash, document::hash(body));
            assert_eq!(hash.len(), 128);
            assert_eq!(
                entry["serverRelativeURL"],
                format!("/openapi/v3/{key}?hash={hash}")
            );
        }
    }

    #[test]
    fn v3_lookup_accepts_urls() {
        let api = OpenApi::build();
        let plain = api.v3("apis/apps/v1").map(|(_, h)| h.to_string());
        assert!(plain.is_some());
        let url = api
            .v3("/openapi/v3/apis/apps/v1?hash=ABC")
            .map(|(_, h)| h.to_string());
        assert_eq!(plain, url);
        assert!(api.v3("apis/batch/v1").is_none());
        assert!(api.v3("").is_none());
    }

    #[test]
    fn v3_reply_follows_the_hash_protocol() {
        let api = OpenApi::build();
        let hash = api
            .v3("api/v1")
            .map(|(_, h)| h.to_string())
            .unwrap_or_default();
        let etag = format!("\"{hash}\"");
        let current = format!("hash={hash}");
        assert!(matches!(
            api.v3_reply("/openapi/v3/api/v1", Some(&current), None),
            V3Reply::Document { immutable: true, etag: e, .. } if e == etag
        ));
        assert!(matches!(
            api.v3_reply("api/v1", None, None),
            V3Reply::Document {
                immutable: false,
                ..
            }
        ));
        assert_eq!(
            api.v3_reply("/openapi/v3/api/v1", Some("hash=OLD&timeout=32s"), None),
            V3Reply::Moved(format!("/openapi/v3/api/v1?hash={hash}"))
        );
        assert_eq!(
            api.v3_reply("/openapi/v3/api/v1", Some("timeout=32s"), Some(&etag)),
            V3Reply::NotModified { etag: etag.clone() }
        );
        assert_eq!(
            api.v3_reply("/openapi/v3/apis/batch/v1", None, None),
            V3Reply::NotFound
        );
    }

    #[test]
    fn hashes_are_stable_across_builds() {
        let a = OpenApi::build();
        let b = OpenApi::build();
        assert_eq!(a.index_v3(), b.index_v3());
        assert_eq!(a.v3("api/v1"), b.v3("api/v1"));
    }

    #[test]
    fn every_ref_resolves_within_its_document() {
        let api = OpenApi::build();
        for key in api.v3_paths() {
            let d = doc(&api, key);
            let mut refs = Vec::new();
            paths::collect_refs(&d, &mut refs);
            assert!(!refs.is_empty());
            for r in refs {
                assert!(
                    d["components"]["schemas"].get(&r).is_some(),
                    "{key}: {r} does not resolve"
                );
            }
        }
    }

    /// What client-go's QueryParamVerifierV3 checks before kubectl sends
    /// `fieldValidation=Strict`: a PATCH operation whose GVK extension is
    /// the kind, listing `fieldValidation` among its own parameters. It
    /// stops at the first such operation, in any order, so all must have it.
    #[test]
    fn every_kind_supports_field_validation() {
        let api = OpenApi::build();
        for r in k1s_api::resource::RESOURCES {
            if !r.has_verb("patch") {
                continue;
            }
            let gv = gv::GroupVersion {
                group: r.group,
                version: r.version,
            };
            let d = doc(&api, &gv.index_key());
            let want = serde_json::json!({"group": r.group, "kind": r.kind, "version": r.version});
            let mut found = 0;
            for item in d["paths"].as_object().into_iter().flat_map(|p| p.values()) {
                let op = &item["patch"];
                if op["x-kubernetes-group-version-kind"] != want {
                    continue;
                }
                found += 1;
                let has = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == "fieldValidation"));
                assert!(has, "{} patch lacks fieldValidation", r.kind);
            }
            assert!(found > 0, "{} has no patch operation", r.kind);
        }
    }

    #[test]
    fn every_kind_schema_carries_its_gvk() {
        let api = OpenApi::build();
        for r in k1s_api::resource::RESOURCES {
            let gv = gv::GroupVersion {
                group: r.group,
                version: r.version,
            };
            let d = doc(&api, &gv.index_key());
            let schemas = &d["components"]["schemas"];
            for kind in [r.kind.to_string(), format!("{}List", r.kind)] {
                if r.kind == "Binding" && kind.ends_with("List") {
                    continue;
                }
                let want =
                    serde_json::json!([{"group": r.group, "kind": kind, "version": r.version}]);
                assert_eq!(
                    schemas[gv.schema_name(&kind)]["x-kubernetes-group-version-kind"],
                    want,
                    "{kind}"
                );
            }
        }
    }

    #[test]
    fn documents_describe_fields_for_explain() {
        let api = OpenApi::build();
        let d = doc(&api, "api/v1");
        let schemas = &d["components"]["schemas"];
        let port = &schemas["io.k8s.api.core.v1.ServicePort"];
        assert_eq!(port["required"], serde_json::json!(["port"]));
        assert!(port["properties"]["protocol"]["description"]
            .as_str()
            .is_some_and(|s| s.ends_with(" - `\"UDP\"` is the UDP protocol.")));
        let meta = &schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"];
        assert_eq!(meta["finalizers"]["x-kubernetes-list-type"], "set");
        assert_eq!(
            meta["ownerReferences"]["x-kubernetes-patch-merge-key"],
            "uid"
        );
        assert_eq!(d["openapi"], "3.0.0");
    }

    #[test]
    fn v2_is_one_swagger_document() {
        let api = OpenApi::build();
        let v2: Value = serde_json::from_slice(api.v2_json()).unwrap_or(Value::Null);
        assert_eq!(v2["swagger"], "2.0");
        assert!(v2["definitions"]["io.k8s.api.apps.v1.Deployment"].is_object());
        assert!(v2["paths"]["/api/v1/namespaces/{namespace}/services/{name}"]["patch"].is_object());
        let mut refs = Vec::new();
        paths::collect_refs(&v2, &mut refs);
        assert!(refs.is_empty(), "v3 refs left: {refs:?}");
    }
}
