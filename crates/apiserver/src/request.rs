//! Parsing resource URLs: `/api/v1/namespaces/default/services/web/status`,
//! `/apis/apps/v1/deployments`, `/api/v1/namespaces/kube-system`, …

use k1s_api::resource::{lookup, ResourceInfo};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    pub resource: &'static ResourceInfo,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// Path after `…/proxy/` for the proxy subresources.
    pub rest: Option<String>,
}

/// Why a path does not name a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// Not an API path or an unknown resource: 404 "could not find the requested resource".
    NotFound,
}

/// Splits `/api/v1/...` or `/apis/group/version/...` into its parts.
pub fn parse(path: &str) -> Result<ResourcePath, PathError> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(PathError::NotFound),
    };
    let find = |plural: &str| -> Result<&'static ResourceInfo, PathError> {
        let r = lookup(group, plural).ok_or(PathError::NotFound)?;
        if r.version != version {
            return Err(PathError::NotFound);
        }
        Ok(r)
    };
    let (namespace, rest): (Option<String>, &[&str]) = match rest {
        // `/namespaces/{ns}/{resource}…` addresses namespaced resources; the
        // bare `/namespaces`, `/namespaces/{name}` and `/namespaces/{name}/{sub}`
        // address Namespace objects themselves.
        ["namespaces", ns, resource, tail @ ..]
            if group.is_empty()
                && lookup("", resource).is_none()
                && tail.is_empty()
                && is_namespace_sub(resource) =>
        {
            let r = find("namespaces")?;
            return Ok(ResourcePath {
                resource: r,
                namespace: None,
                name: Some(ns.to_string()),
                subresource: Some(resource.to_string()),
                rest: None,
            });
        }
        ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(ns.to_string()), tail),
        other => (None, other),
    };
    let (plural, name, sub, rest) = match rest {
        [plural] => (*plural, None, None, None),
        [plural, name] => (*plural, Some(*name), None, None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub), None),
        [plural, name, sub, tail @ ..] if *sub == "proxy" => {
            (*plural, Some(*name), Some(*sub), Some(tail.join("/")))
        }
        _ => return Err(PathError::NotFound),
    };
    let resource = find(plural)?;
    if namespace.is_some() && !resource.namespaced {
        return Err(PathError::NotFound);
    }
    if let Some(s) = sub {
        if resource.subresource(s).is_none() {
            return Err(PathError::NotFound);
        }
    }
    if name.is_some_and(str::is_empty) {
        return Err(PathError::NotFound);
    }
    Ok(ResourcePath {
        resource,
        namespace,
        name: name.map(String::from),
        subresource: sub.map(String::from),
        rest,
    })
}

fn is_namespace_sub(s: &str) -> bool {
    matches!(s, "status" | "finalize")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(path: &str) -> (String, Option<String>, Option<String>, Option<String>) {
        let r = parse(path).unwrap();
        (
            r.resource.plural.to_string(),
            r.namespace,
            r.name,
            r.subresource,
        )
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn parses_core_and_group_paths() {
        assert_eq!(p("/api/v1/services"), ("services".into(), None, None, None));
        assert_eq!(
            p("/api/v1/namespaces/default/services"),
            ("services".into(), s("default"), None, None)
        );
        assert_eq!(
            p("/api/v1/namespaces/default/services/web/status"),
            ("services".into(), s("default"), s("web"), s("status"))
        );
        assert_eq!(
            p("/apis/apps/v1/namespaces/default/deployments/web/scale"),
            ("deployments".into(), s("default"), s("web"), s("scale"))
        );
        assert_eq!(
            p("/api/v1/nodes/node1"),
            ("nodes".into(), None, s("node1"), None)
        );
    }

    #[test]
    fn namespaces_address_themselves() {
        assert_eq!(
            p("/api/v1/namespaces"),
            ("namespaces".into(), None, None, None)
        );
        assert_eq!(
            p("/api/v1/namespaces/dev"),
            ("namespaces".into(), None, s("dev"), None)
        );
        assert_eq!(
            p("/api/v1/namespaces/dev/finalize"),
            ("namespaces".into(), None, s("dev"), s("finalize"))
        );
        assert_eq!(
            p("/api/v1/namespaces/dev/pods"),
            ("pods".into(), s("dev"), None, None)
        );
    }

    #[test]
    fn proxy_keeps_the_rest_of_the_path() {
        let r = parse("/api/v1/namespaces/default/services/web/proxy/a/b").unwrap();
        assert_eq!(r.rest.as_deref(), Some("a/b"));
    }

    #[test]
    fn rejects_unknown_paths() {
        for bad in [
            "/api/v2/services",
            "/apis/apps/v1beta1/deployments",
            "/api/v1/widgets",
            "/api/v1/namespaces/default/nodes",
            "/api/v1/namespaces/default/services/web/bogus",
            "/healthz",
        ] {
            assert_eq!(parse(bad), Err(PathError::NotFound), "{bad}");
        }
    }
}
