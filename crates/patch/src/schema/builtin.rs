//! `BuiltinSchema`: the schema of every kind k1s serves.

use super::builtin_types::ROOTS;
use super::types::{list_strategy, map_strategy, resolve, Struct};
use super::{ListStrategy, MapStrategy, PatchSchema, ResetFields};

/// Schema of a built-in kind, generated from the Go struct tags of k8s.io/api.
#[derive(Clone, Copy)]
pub struct BuiltinSchema {
    root: &'static Struct,
    main_reset: ResetFields,
    status_reset: ResetFields,
}

impl std::fmt::Debug for BuiltinSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinSchema").finish_non_exhaustive()
    }
}

const STATUS: ResetFields = &[&["status"]];
const SPEC: ResetFields = &[&["spec"]];

impl BuiltinSchema {
    /// The schema for `apiVersion`/`kind`, or `None` for kinds k1s does not serve.
    pub fn for_kind(api_version: &str, kind: &str) -> Option<BuiltinSchema> {
        let (_, _, root) = ROOTS
            .iter()
            .find(|(v, k, _)| *v == api_version && *k == kind)?;
        // Reset fields of each registry strategy's GetResetFields.
        let (main_reset, status_reset): (ResetFields, ResetFields) = match (api_version, kind) {
            ("v1", "Pod") => (
                STATUS,
                &[
                    &["spec"],
                    &["metadata", "deletionTimestamp"],
                    &["metadata", "ownerReferences"],
                ],
            ),
            ("apps/v1", "Deployment") => (STATUS, &[&["spec"], &["metadata", "labels"]]),
            ("v1", "Service" | "Node" | "Namespace") | ("apps/v1", "ReplicaSet") => (STATUS, SPEC),
            _ => (&[], &[]),
        };
        Some(BuiltinSchema {
            root,
            main_reset,
            status_reset,
        })
    }
}

impl PatchSchema for BuiltinSchema {
    fn list(&self, path: &[&str]) -> ListStrategy {
        list_strategy(&resolve(self.root, path))
    }

    fn map(&self, path: &[&str]) -> MapStrategy {
        map_strategy(&resolve(self.root, path))
    }

    fn reset_fields(&self, subresource: Option<&str>) -> ResetFields {
        match subresource {
            None => self.main_reset,
            Some("status") => self.status_reset,
            // namespaces/finalize only writes spec.finalizers.
            Some("finalize") => STATUS,
            Some(_) => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ListType, MapKey, Zero};

    fn schema(api_version: &str, kind: &str) -> BuiltinSchema {
        match BuiltinSchema::for_kind(api_version, kind) {
            Some(s) => s,
            None => panic!("no schema for {api_version} {kind}"),
        }
    }

    const NAME: &[MapKey] = &[MapKey {
        name: "name",
        default: None,
    }];

    #[test]
    fn list_strategies_follow_the_go_tags() {
        let by_name = ListStrategy {
            merge_key: Some("name"),
            merge: true,
            list_type: ListType::Map(NAME),
        };
        let cases: &[(&str, &str, &[&str], ListStrategy)] = &[
            ("v1", "Pod", &["spec", "containers"], by_name),
            ("v1", "Pod", &["spec", "initContainers", "env"], by_name),
            ("v1", "Pod", &["spec", "volumes"], by_name),
            (
                "v1",
                "Pod",
                &["spec", "containers", "volumeMounts"],
                ListStrategy {
                    merge_key: Some("mountPath"),
                    merge: true,
                    list_type: ListType::Map(&[MapKey {
                        name: "mountPath",
                        default: None,
                    }]),
                },
            ),
            (
                "v1",
                "Pod",
                &["spec", "containers", "ports"],
                ListStrategy {
                    merge_key: Some("containerPort"),
                    merge: true,
                    list_type: ListType::Map(&[
                        MapKey {
                            name: "containerPort",
                            default: None,
                        },
                        MapKey {
                            name: "protocol",
                            default: Some("TCP"),
                        },
                    ]),
                },
            ),
            (
                "v1",
                "Pod",
                &["spec", "imagePullSecrets"],
                ListStrategy {
                    merge_key: Some("name"),
                    merge: true,
                    list_type: ListType::Map(&[MapKey {
                        name: "name",
                        default: Some(""),
                    }]),
                },
            ),
            ("v1", "Pod", &["spec", "tolerations"], ListStrategy::ATOMIC),
            (
                "v1",
                "Pod",
                &["spec", "containers", "command"],
                ListStrategy::ATOMIC,
            ),
            (
                "apps/v1",
                "Deployment",
                &["spec", "template", "spec", "containers", "env"],
                by_name,
            ),
            (
                "apps/v1",
                "ReplicaSet",
                &["spec", "template", "spec", "volumes"],
                by_name,
            ),
            (
                "v1",
                "Service",
                &["spec", "ports"],
                ListStrategy {
                    merge_key: Some("port"),
                    merge: true,
                    list_type: ListType::Map(&[
                        MapKey {
                            name: "port",
                            default: None,
                        },
                        MapKey {
                            name: "protocol",
                            default: Some("TCP"),
                        },
                    ]),
                },
            ),
            ("v1", "ServiceAccount", &["secrets"], by_name),
            ("v1", "Endpoints", &["subsets"], ListStrategy::ATOMIC),
            (
                "discovery.k8s.io/v1",
                "EndpointSlice",
                &["endpoints"],
                ListStrategy::ATOMIC,
            ),
            (
                "discovery.k8s.io/v1",
                "EndpointSlice",
                &["endpoints", "addresses"],
                ListStrategy {
                    merge_key: None,
                    merge: false,
                    list_type: ListType::Set,
                },
            ),
            (
                "v1",
                "ConfigMap",
                &["metadata", "finalizers"],
                ListStrategy {
                    merge_key: None,
                    merge: true,
                    list_type: ListType::Set,
                },
            ),
            (
                "v1",
                "Secret",
                &["metadata", "ownerReferences"],
                ListStrategy {
                    merge_key: Some("uid"),
                    merge: true,
                    list_type: ListType::Map(&[MapKey {
                        name: "uid",
                        default: None,
                    }]),
                },
            ),
            (
                "apps/v1",
                "Deployment",
                &["status", "conditions"],
                ListStrategy {
                    merge_key: Some("type"),
                    merge: true,
                    list_type: ListType::Map(&[MapKey {
                        name: "type",
                        default: None,
                    }]),
                },
            ),
            (
                "v1",
                "Namespace",
                &["spec", "finalizers"],
                ListStrategy::ATOMIC,
            ),
            ("v1", "Pod", &["spec", "nope"], ListStrategy::ATOMIC),
            (
                "v1",
                "Pod",
                &["metadata", "labels", "app"],
                ListStrategy::ATOMIC,
            ),
        ];
        for (api_version, kind, path, want) in cases {
            assert_eq!(
                schema(api_version, kind).list(path),
                *want,
                "{kind} {path:?}"
            );
        }
    }

    #[test]
    fn map_strategies() {
        let svc = schema("v1", "Service");
        assert!(svc.map(&["spec", "selector"]).atomic);
        assert!(!svc.map(&["metadata", "labels"]).atomic);
        let deploy = schema("apps/v1", "Deployment");
        assert!(deploy.map(&["spec", "selector"]).atomic);
        assert!(deploy.map(&["metadata", "ownerReferences"]).atomic);
        assert!(!deploy.map(&["spec", "template", "spec"]).atomic);
        assert!(deploy
            .map(&["spec"])
            .always
            .contains(&("template", Zero::Obj)));
        assert!(schema("v1", "Pod")
            .map(&["spec", "containers"])
            .always
            .contains(&("resources", Zero::Obj)));
        assert!(schema("v1", "Pod")
            .map(&["spec"])
            .omit_zero
            .contains(&("hostNetwork", Zero::Bool)));
    }

    #[test]
    fn reset_fields_per_subresource() {
        let pod = schema("v1", "Pod");
        assert_eq!(pod.reset_fields(None), &[&["status"][..]][..]);
        assert_eq!(pod.reset_fields(Some("status"))[0], &["spec"][..]);
        let cm = schema("v1", "ConfigMap");
        assert!(cm.reset_fields(None).is_empty());
        assert!(BuiltinSchema::for_kind("v1", "Widget").is_none());
        assert!(BuiltinSchema::for_kind("apps/v1", "Pod").is_none());
        for (v, k) in [
            ("v1", "Event"),
            ("events.k8s.io/v1", "Event"),
            ("coordination.k8s.io/v1", "Lease"),
            ("v1", "Namespace"),
            ("v1", "Node"),
        ] {
            assert!(BuiltinSchema::for_kind(v, k).is_some(), "{v} {k}");
        }
    }
}
