//! The sources of a container's environment, resolved the way the
//! kubelet's `makeEnvironmentVariables` does before `$(VAR)` expansion:
//!
//! - `envFrom` (in order): every key of the ConfigMap/Secret with the
//!   prefix prepended; a missing object is an error unless `optional`.
//!   v1.32 (RelaxedEnvironmentVariableValidation, on by default) no longer
//!   skips keys that are not C identifiers, so neither do we;
//! - `env[].valueFrom`: fieldRef, resourceFieldRef, configMapKeyRef,
//!   secretKeyRef; an optional missing object or key leaves the variable
//!   out entirely;
//! - any error stops the container with CreateContainerConfigError and the
//!   kubelet's text (`configmap "x" not found`, `couldn't find key k in
//!   ConfigMap ns/x`, …).
//!
//! The results feed `spec::command::container_env` (which does the
//! expansion and appends the Service variables).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::downward::{env_field_value, resource_field_value, PodRuntime};
use super::objects::{lookup_data, not_found, PodObjects, SourceKind};
use super::{flag, items, text};
use crate::spec::EnvValue;

/// A container's envFrom and env, ready for `container_env`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvSources {
    pub env_from: Vec<(String, String)>,
    pub env: Vec<(String, EnvValue)>,
}

/// Why a container cannot be created; the message is the kubelet's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EnvSourceError(pub String);

impl EnvSourceError {
    /// The waiting reason the kubelet reports for this error.
    pub const REASON: &'static str = "CreateContainerConfigError";
}

/// Resolves `container`'s envFrom and env of `pod`.
pub fn resolve_env_sources(
    pod: &Value,
    container: &Value,
    rt: &PodRuntime,
    objects: &dyn PodObjects,
) -> Result<EnvSources, EnvSourceError> {
    let namespace = text(&pod["metadata"], "namespace");
    let mut cache = ObjectCache {
        objects,
        namespace,
        fetched: HashMap::new(),
    };
    let mut out = EnvSources::default();

    for source in items(container, "envFrom") {
        let prefix = text(source, "prefix");
        let (kind, reference) = if source["configMapRef"].is_object() {
            (SourceKind::ConfigMap, &source["configMapRef"])
        } else if source["secretRef"].is_object() {
            (SourceKind::Secret, &source["secretRef"])
        } else {
            continue;
        };
        let Some(data) = cache.get(kind, text(reference, "name"), flag(reference, "optional"))?
        else {
            continue;
        };
        for (key, value) in data {
            out.env_from.push((
                format!("{prefix}{key}"),
                String::from_utf8_lossy(value).into_owned(),
            ));
        }
    }

    for var in items(container, "env") {
        let name = text(var, "name").to_string();
        let literal = text(var, "value");
        let from = &var["valueFrom"];
        if !literal.is_empty() || !from.is_object() {
            out.env.push((name, EnvValue::Literal(literal.to_string())));
            continue;
        }
        let value = if from["fieldRef"].is_object() {
            env_field_value(pod, &from["fieldRef"], rt).map_err(EnvSourceError)?
        } else if from["resourceFieldRef"].is_object() {
            resource_field_value(
                pod,
                Some(container),
                &from["resourceFieldRef"],
                &rt.allocatable,
            )
            .map_err(EnvSourceError)?
        } else if from["configMapKeyRef"].is_object() {
            match cache.key(SourceKind::ConfigMap, &from["configMapKeyRef"])? {
                Some(v) => v,
                None => continue,
            }
        } else if from["secretKeyRef"].is_object() {
            match cache.key(SourceKind::Secret, &from["secretKeyRef"])? {
                Some(v) => v,
                None => continue,
            }
        } else {
            String::new()
        };
        out.env.push((name, EnvValue::Resolved(value)));
    }
    Ok(out)
}

/// The kubelet fetches each referenced object once per container.
struct ObjectCache<'a> {
    objects: &'a dyn PodObjects,
    namespace: &'a str,
    fetched: HashMap<(SourceKind, String), BTreeMap<String, Vec<u8>>>,
}

impl ObjectCache<'_> {
    /// The object's data; `None` when it is missing and `optional`.
    fn get(
        &mut self,
        kind: SourceKind,
        name: &str,
        optional: bool,
    ) -> Result<Option<&BTreeMap<String, Vec<u8>>>, EnvSourceError> {
        let key = (kind, name.to_string());
        if !self.fetched.contains_key(&key) {
            match lookup_data(self.objects, kind, self.namespace, name).map_err(EnvSourceError)? {
                Some(data) => {
                    self.fetched.insert(key.clone(), data);
                }
                None if optional => return Ok(None),
                None => return Err(EnvSourceError(not_found(kind, name))),
            }
        }
        Ok(self.fetched.get(&key))
    }

    /// One key of a configMapKeyRef/secretKeyRef; `None` when optional and
    /// the object or the key is missing.
    fn key(
        &mut self,
        kind: SourceKind,
        selector: &Value,
    ) -> Result<Option<String>, EnvSourceError> {
        let name = text(selector, "name");
        let key = text(selector, "key");
        let optional = flag(selector, "optional");
        let namespace = self.namespace;
        let Some(data) = self.get(kind, name, optional)? else {
            return Ok(None);
        };
        match data.get(key) {
            Some(v) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
            None if optional => Ok(None),
            None => {
                let kind = match kind {
                    SourceKind::ConfigMap => "ConfigMap",
                    SourceKind::Secret => "Secret",
                };
                Err(EnvSourceError(format!(
                    "couldn't find key {key} in {kind} {namespace}/{name}"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::objects::ObjectMap;
    use crate::spec::command::container_env;
    use serde_json::json;

    fn objects() -> ObjectMap {
        ObjectMap::new()
            .with(json!({"kind": "ConfigMap", "metadata": {"namespace": "default", "name": "special-config"},
                "data": {"SPECIAL_LEVEL": "very", "SPECIAL_TYPE": "charm", "1badkey": "x", "app.properties": "y"}}))
            .with(json!({"kind": "Secret", "metadata": {"namespace": "default", "name": "backend-user"},
                "data": {"backend-username": "YmFja2VuZC1hZG1pbg=="}}))
    }

    fn pod(container: Value) -> Value {
        json!({"metadata": {"name": "dapi-test-pod", "namespace": "default", "uid": "u1"},
               "spec": {"nodeName": "node1", "containers": [container]}})
    }

    fn resolve(container: Value) -> Result<EnvSources, EnvSourceError> {
        let pod = pod(container.clone());
        let rt = PodRuntime {
            pod_ip: "10.244.0.7".into(),
            pod_ips: vec!["10.244.0.7".into()],
            host_ips: vec!["192.168.56.10".into()],
            ..Default::default()
        };
        resolve_env_sources(&pod, &container, &rt, &objects())
    }

    fn s(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn env_from_with_prefix_keeps_every_key() {
        let got = resolve(json!({"name": "c", "envFrom": [
            {"configMapRef": {"name": "special-config"}, "prefix": "CFG_"},
            {"secretRef": {"name": "backend-user"}},
            {"configMapRef": {"name": "absent", "optional": true}}]}))
        .unwrap();
        assert_eq!(
            got.env_from,
            vec![
                s("CFG_1badkey", "x"),
                s("CFG_SPECIAL_LEVEL", "very"),
                s("CFG_SPECIAL_TYPE", "charm"),
                s("CFG_app.properties", "y"),
                s("backend-username", "backend-admin"),
            ]
        );
        assert_eq!(
            resolve(json!({"name": "c", "envFrom": [{"configMapRef": {"name": "absent"}}]})),
            Err(EnvSourceError("configmap \"absent\" not found".into()))
        );
        assert_eq!(
            resolve(json!({"name": "c", "envFrom": [{"secretRef": {"name": "nope"}}]}))
                .unwrap_err()
                .to_string(),
            "secret \"nope\" not found"
        );
    }

    #[test]
    fn value_from_sources_and_their_errors() {
        let got = resolve(json!({"name": "c", "env": [
            {"name": "SPECIAL_LEVEL_KEY", "valueFrom": {"configMapKeyRef": {"name": "special-config", "key": "SPECIAL_LEVEL"}}},
            {"name": "SECRET_USERNAME", "valueFrom": {"secretKeyRef": {"name": "backend-user", "key": "backend-username"}}},
            {"name": "MY_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "MY_POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "MY_CPU_LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "OPTIONAL_GONE", "valueFrom": {"configMapKeyRef": {"name": "special-config", "key": "nope", "optional": true}}},
            {"name": "OPTIONAL_CM", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": true}}},
            {"name": "GREETING", "value": "level=$(SPECIAL_LEVEL_KEY)"},
            {"name": "EMPTY"}]}))
        .unwrap();
        assert_eq!(
            got.env,
            vec![
                (
                    "SPECIAL_LEVEL_KEY".into(),
                    EnvValue::Resolved("very".into())
                ),
                (
                    "SECRET_USERNAME".into(),
                    EnvValue::Resolved("backend-admin".into())
                ),
                ("MY_NODE_NAME".into(), EnvValue::Resolved("node1".into())),
                ("MY_POD_IP".into(), EnvValue::Resolved("10.244.0.7".into())),
                ("MY_CPU_LIMIT".into(), EnvValue::Resolved("0".into())),
                (
                    "GREETING".into(),
                    EnvValue::Literal("level=$(SPECIAL_LEVEL_KEY)".into())
                ),
                ("EMPTY".into(), EnvValue::Literal(String::new())),
            ]
        );
        // Through container_env: expansion sees the resolved value.
        let env = container_env(&got.env_from, &got.env, &[]);
        assert!(env.contains(&s("GREETING", "level=very")));

        let err = |env: Value| resolve(json!({"name": "c", "env": [env]})).unwrap_err().0;
        assert_eq!(
            err(
                json!({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "special-config", "key": "nope"}}})
            ),
            "couldn't find key nope in ConfigMap default/special-config"
        );
        assert_eq!(
            err(
                json!({"name": "X", "valueFrom": {"secretKeyRef": {"name": "backend-user", "key": "pw"}}})
            ),
            "couldn't find key pw in Secret default/backend-user"
        );
        assert_eq!(
            err(json!({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y"}}})),
            "configmap \"x\" not found"
        );
        assert_eq!(
            err(json!({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}})),
            "unsupported fieldPath: status.phase"
        );
        assert_eq!(EnvSourceError::REASON, "CreateContainerConfigError");
    }

    /// A failing lookup (not NotFound) is reported as is, optional or not.
    #[test]
    fn lookup_failures_pass_through() {
        struct Down;
        impl PodObjects for Down {
            fn config_map(&self, _: &str, _: &str) -> Result<Option<Value>, String> {
                Err("store unavailable".into())
            }
            fn secret(&self, _: &str, _: &str) -> Result<Option<Value>, String> {
                Err("store unavailable".into())
            }
        }
        let container =
            json!({"name": "c", "envFrom": [{"configMapRef": {"name": "a", "optional": true}}]});
        let got = resolve_env_sources(
            &pod(container.clone()),
            &container,
            &PodRuntime::default(),
            &Down,
        );
        assert_eq!(got, Err(EnvSourceError("store unavailable".into())));
    }
}
