//! The registry of resources k1s serves: one static table that discovery,
//! routing, storage keys and OpenAPI all read from.

/// A subresource served under a resource, e.g. `pods/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subresource {
    pub name: &'static str,
    /// Kind returned by the subresource (`Scale`, `Binding`, …).
    pub kind: &'static str,
    /// Group/version of that kind when it differs from the parent's (e.g. autoscaling/v1 Scale).
    pub group: &'static str,
    pub version: &'static str,
    pub verbs: &'static [&'static str],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group, "" for the legacy core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Plural, lower-case resource name used in URLs.
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Opaque hash kube-apiserver publishes so clients notice storage changes.
    pub storage_version_hash: &'static str,
}

impl ResourceInfo {
    /// `apiVersion` as written in objects: `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `resource.group` as kube-apiserver spells it in error messages
    /// (`services`, `deployments.apps`).
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// Prefix of the storage key: the same object served by two API groups
    /// (core and events.k8s.io Events) is still stored once.
    pub fn storage_prefix(&self) -> String {
        match (self.group, self.plural) {
            ("events.k8s.io", "events") | ("", _) => self.plural.to_string(),
            (group, plural) => format!("{group}/{plural}"),
        }
    }

    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }
}

const RW: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

const fn sub(
    name: &'static str,
    kind: &'static str,
    verbs: &'static [&'static str],
) -> Subresource {
    Subresource {
        name,
        kind,
        group: "",
        version: "",
        verbs,
    }
}

const SCALE: Subresource = Subresource {
    name: "scale",
    kind: "Scale",
    group: "autoscaling",
    version: "v1",
    verbs: STATUS_VERBS,
};

const fn core(
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
) -> ResourceInfo {
    ResourceInfo {
        group: "",
        version: "v1",
        kind,
        plural,
        singular,
        namespaced,
        short_names: &[],
        categories: &[],
        verbs: RW,
        subresources: &[],
        storage_version_hash: "",
    }
}

/// Every resource k1s serves, in discovery order (alphabetical per group like kube-apiserver).
pub static RESOURCES: &[ResourceInfo] = &[
    ResourceInfo {
        verbs: &["create"],
        ..core("Binding", "bindings", "binding", true)
    },
    ResourceInfo {
        short_names: &["cm"],
        storage_version_hash: "qFsyl6wFWjQ=",
        ..core("ConfigMap", "configmaps", "configmap", true)
    },
    ResourceInfo {
        short_names: &["ep"],
        storage_version_hash: "fWeeMqaN/OA=",
        ..core("Endpoints", "endpoints", "endpoints", true)
    },
    ResourceInfo {
        short_names: &["ev"],
        storage_version_hash: "r2yiGXH7wu8=",
        ..core("Event", "events", "event", true)
    },
    ResourceInfo {
        short_names: &["ns"],
        verbs: &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        subresources: &[
            sub("finalize", "Namespace", &["update"]),
            sub("status", "Namespace", STATUS_VERBS),
        ],
        storage_version_hash: "Q3oi5N2YM8M=",
        ..core("Namespace", "namespaces", "namespace", false)
    },
    ResourceInfo {
        short_names: &["no"],
        subresources: &[sub("status", "Node", STATUS_VERBS)],
        storage_version_hash: "XwShjMxG9Fs=",
        ..core("Node", "nodes", "node", false)
    },
    ResourceInfo {
        short_names: &["po"],
        categories: &["all"],
        subresources: &[
            sub("attach", "PodAttachOptions", &["create", "get"]),
            sub("binding", "Binding", &["create"]),
            sub("eviction", "Eviction", &["create"]),
            sub("exec", "PodExecOptions", &["create", "get"]),
            sub("log", "Pod", &["get"]),
            sub("portforward", "PodPortForwardOptions", &["create", "get"]),
            sub(
                "proxy",
                "PodProxyOptions",
                &["create", "delete", "get", "patch", "update"],
            ),
            sub("status", "Pod", STATUS_VERBS),
        ],
        storage_version_hash: "xPOwRZ+Yhw8=",
        ..core("Pod", "pods", "pod", true)
    },
    ResourceInfo {
        short_names: &["rc"],
        categories: &["all"],
        subresources: &[SCALE, sub("status", "ReplicationController", STATUS_VERBS)],
        storage_version_hash: "Jond2If31h0=",
        ..core(
            "ReplicationController",
            "replicationcontrollers",
            "replicationcontroller",
            true,
        )
    },
    ResourceInfo {
        storage_version_hash: "S6u1pOWzb84=",
        ..core("Secret", "secrets", "secret", true)
    },
    ResourceInfo {
        short_names: &["sa"],
        storage_version_hash: "pbx9ZvyFpBE=",
        ..core("ServiceAccount", "serviceaccounts", "serviceaccount", true)
    },
    ResourceInfo {
        short_names: &["svc"],
        categories: &["all"],
        subresources: &[
            sub(
                "proxy",
                "ServiceProxyOptions",
                &["create", "delete", "get", "patch", "update"],
            ),
            sub("status", "Service", STATUS_VERBS),
        ],
        storage_version_hash: "0/CO1lhkEBI=",
        ..core("Service", "services", "service", true)
    },
    ResourceInfo {
        group: "apps",
        short_names: &["ds"],
        categories: &["all"],
        subresources: &[sub("status", "DaemonSet", STATUS_VERBS)],
        storage_version_hash: "dd7pWHUlMKQ=",
        ..core("DaemonSet", "daemonsets", "daemonset", true)
    },
    ResourceInfo {
        group: "apps",
        short_names: &["deploy"],
        categories: &["all"],
        subresources: &[SCALE, sub("status", "Deployment", STATUS_VERBS)],
        storage_version_hash: "8aSe+NMegvE=",
        ..core("Deployment", "deployments", "deployment", true)
    },
    ResourceInfo {
        group: "apps",
        short_names: &["rs"],
        categories: &["all"],
        subresources: &[SCALE, sub("status", "ReplicaSet", STATUS_VERBS)],
        storage_version_hash: "P1RzHs8/mWQ=",
        ..core("ReplicaSet", "replicasets", "replicaset", true)
    },
    ResourceInfo {
        group: "coordination.k8s.io",
        storage_version_hash: "gqkMMb/YqFM=",
        ..core("Lease", "leases", "lease", true)
    },
    ResourceInfo {
        group: "discovery.k8s.io",
        storage_version_hash: "qgS0xkrxYAI=",
        ..core("EndpointSlice", "endpointslices", "endpointslice", true)
    },
    ResourceInfo {
        group: "events.k8s.io",
        short_names: &["ev"],
        storage_version_hash: "r2yiGXH7wu8=",
        ..core("Event", "events", "event", true)
    },
];

/// API groups in the order kube-apiserver lists them in `/apis`.
pub static GROUPS: &[&str] = &[
    "apps",
    "events.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
];

/// Finds a resource by group and plural name.
pub fn lookup(group: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

/// Finds the resource that stores objects of `apiVersion`/`kind`.
pub fn lookup_kind(api_version: &str, kind: &str) -> Option<&'static ResourceInfo> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// Resources of one group, in registry order.
pub fn in_group(group: &str) -> impl Iterator<Item = &'static ResourceInfo> + '_ {
    RESOURCES.iter().filter(move |r| r.group == group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_find_served_resources() {
        let svc = lookup("", "services").unwrap();
        assert_eq!(svc.kind, "Service");
        assert_eq!(svc.api_version(), "v1");
        assert_eq!(svc.storage_prefix(), "services");
        let deploy = lookup_kind("apps/v1", "Deployment").unwrap();
        assert_eq!(deploy.qualified(), "deployments.apps");
        assert_eq!(deploy.storage_prefix(), "apps/deployments");
        assert_eq!(deploy.subresource("scale").unwrap().group, "autoscaling");
        assert!(lookup("", "widgets").is_none());
    }

    #[test]
    fn both_event_apis_share_storage() {
        let core = lookup("", "events").unwrap();
        let v1 = lookup("events.k8s.io", "events").unwrap();
        assert_eq!(core.storage_prefix(), v1.storage_prefix());
    }

    #[test]
    fn every_group_is_listed() {
        for r in RESOURCES {
            assert!(
                r.group.is_empty() || GROUPS.contains(&r.group),
                "{}",
                r.group
            );
        }
    }
}
