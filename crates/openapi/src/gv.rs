//! Group/versions k1s publishes documents for, and the names kube-apiserver
//! derives from them (index keys, URL prefixes, operation ids, schema names).

use k1s_api::resource::{ResourceInfo, RESOURCES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupVersion {
    /// "" for the legacy core group.
    pub group: &'static str,
    pub version: &'static str,
}

impl GroupVersion {
    /// Key in the `/openapi/v3` index: `api/v1`, `apis/apps/v1`.
    pub fn index_key(&self) -> String {
        if self.group.is_empty() {
            format!("api/{}", self.version)
        } else {
            format!("apis/{}/{}", self.group, self.version)
        }
    }

    /// URL prefix of the group/version's resources: `/api/v1`, `/apis/apps/v1`.
    pub fn prefix(&self) -> String {
        format!("/{}", self.index_key())
    }

    /// Go package segment of the schema names: `core`, `apps`, `discovery`.
    pub fn package(&self) -> &'static str {
        match self.group.split('.').next() {
            Some("") | None => "core",
            Some(first) => first,
        }
    }

    /// `io.k8s.api.core.v1.Service`: how upstream names a kind's schema.
    pub fn schema_name(&self, kind: &str) -> String {
        format!("io.k8s.api.{}.{}.{}", self.package(), self.version, kind)
    }

    /// Operation-id infix: `CoreV1`, `AppsV1`, `DiscoveryV1`.
    pub fn op_infix(&self) -> String {
        format!(
            "{}{}",
            upper_first(self.package()),
            upper_first(self.version)
        )
    }

    /// OpenAPI tag of the operations: `core_v1`, `discovery_v1`.
    pub fn tag(&self) -> String {
        format!("{}_{}", self.package(), self.version)
    }

    /// The resources of this group/version, in registry order.
    pub fn resources(&self) -> impl Iterator<Item = &'static ResourceInfo> + '_ {
        RESOURCES
            .iter()
            .filter(move |r| r.group == self.group && r.version == self.version)
    }
}

/// Every group/version k1s serves, core first, then in registry order.
pub(crate) fn served() -> Vec<GroupVersion> {
    let mut out: Vec<GroupVersion> = Vec::new();
    for r in RESOURCES {
        let gv = GroupVersion {
            group: r.group,
            version: r.version,
        };
        if !out.contains(&gv) {
            out.push(gv);
        }
    }
    out.sort_by_key(|gv| !gv.group.is_empty());
    out
}

pub(crate) fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kube_apiserver() {
        let cases = [
            (
                "",
                "api/v1",
                "/api/v1",
                "io.k8s.api.core.v1.Service",
                "CoreV1",
                "core_v1",
            ),
            (
                "apps",
                "apis/apps/v1",
                "/apis/apps/v1",
                "io.k8s.api.apps.v1.Service",
                "AppsV1",
                "apps_v1",
            ),
            (
                "discovery.k8s.io",
                "apis/discovery.k8s.io/v1",
                "/apis/discovery.k8s.io/v1",
                "io.k8s.api.discovery.v1.Service",
                "DiscoveryV1",
                "discovery_v1",
            ),
        ];
        for (group, key, prefix, schema, infix, tag) in cases {
            let gv = GroupVersion {
                group,
                version: "v1",
            };
            assert_eq!(gv.index_key(), key);
            assert_eq!(gv.prefix(), prefix);
            assert_eq!(gv.schema_name("Service"), schema);
            assert_eq!(gv.op_infix(), infix);
            assert_eq!(gv.tag(), tag);
        }
    }

    #[test]
    fn served_lists_core_first_and_each_group_once() {
        let keys: Vec<String> = served().iter().map(GroupVersion::index_key).collect();
        assert_eq!(
            keys,
            [
                "api/v1",
                "apis/apps/v1",
                "apis/coordination.k8s.io/v1",
                "apis/discovery.k8s.io/v1",
                "apis/events.k8s.io/v1"
            ]
        );
    }
}
