//! Storage keys: `prefix/namespace/name`, namespace empty for cluster-scoped
//! objects. Prefixes may contain `/` (`apps/deployments`); names never do.

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub prefix: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(
        prefix: impl Into<String>,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Key {
        Key {
            prefix: prefix.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    pub fn encode(&self) -> String {
        format!("{}/{}/{}", self.prefix, self.namespace, self.name)
    }

    pub fn decode(s: &str) -> Option<Key> {
        let (rest, name) = s.rsplit_once('/')?;
        let (prefix, namespace) = rest.rsplit_once('/')?;
        Some(Key::new(prefix, namespace, name))
    }

    /// The key prefix that selects every object of `prefix` (in `namespace`).
    pub fn scan_prefix(prefix: &str, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) => format!("{prefix}/{ns}/"),
            None => format!("{prefix}/"),
        }
    }

    /// Whether this key lies in the scope [`Key::scan_prefix`] describes.
    pub fn in_scope(&self, prefix: &str, namespace: Option<&str>) -> bool {
        self.prefix == prefix && namespace.is_none_or(|ns| self.namespace == ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_slashes_in_prefix() {
        let k = Key::new("apps/deployments", "default", "web");
        assert_eq!(k.encode(), "apps/deployments/default/web");
        assert_eq!(Key::decode(&k.encode()), Some(k));
        let node = Key::new("nodes", "", "node1");
        assert_eq!(node.encode(), "nodes//node1");
        assert_eq!(Key::decode("nodes//node1"), Some(node));
    }

    #[test]
    fn scopes_do_not_overlap_similar_prefixes() {
        let k = Key::new("services", "default", "web");
        assert!(k.encode().starts_with(&Key::scan_prefix("services", None)));
        assert!(!k.encode().starts_with(&Key::scan_prefix("service", None)));
        assert!(k.in_scope("services", Some("default")));
        assert!(!k.in_scope("services", Some("kube-system")));
    }
}
