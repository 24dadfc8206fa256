//! ownerReferences: controller references, adoption and release
//! (client-go's ControllerRefManager decisions, as pure functions).

use k1s_api::selector::LabelSelector;
use serde_json::{json, Value};

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or("")
}

pub fn uid(obj: &Value) -> &str {
    meta_str(obj, "uid")
}

pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name")
}

pub fn namespace(obj: &Value) -> &str {
    meta_str(obj, "namespace")
}

pub fn is_deleting(obj: &Value) -> bool {
    obj["metadata"]
        .get("deletionTimestamp")
        .is_some_and(|v| !v.is_null())
}

pub fn owner_refs(obj: &Value) -> &[Value] {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The ownerReference marked `controller: true`, if any.
pub fn controller_of(obj: &Value) -> Option<&Value> {
    owner_refs(obj)
        .iter()
        .find(|r| r["controller"].as_bool() == Some(true))
}

/// The uid of the controlling owner, if any.
pub fn controller_uid(obj: &Value) -> Option<&str> {
    controller_of(obj).and_then(|r| r["uid"].as_str())
}

/// A controller reference to `owner` (`metav1.NewControllerRef`).
pub fn controller_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": name(owner),
        "uid": uid(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// What a controller does with an object its selector may match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Already controlled by us and matching.
    Own,
    /// An orphan that matches: take it.
    Adopt,
    /// Controlled by us but no longer matching: let it go.
    Release,
    /// Someone else's, or not ours to touch now.
    Ignore,
}

/// `ClaimObject`: decides for one object given the would-be owner's uid,
/// whether the owner is being deleted, and its selector.
pub fn claim(
    owner_uid: &str,
    owner_deleting: bool,
    selector: &LabelSelector,
    obj: &Value,
) -> Claim {
    let matches = selector.matches_object(obj);
    match controller_uid(obj) {
        Some(c) if c != owner_uid => Claim::Ignore,
        Some(_) if matches => Claim::Own,
        // A deleting owner keeps what it has until the GC is done.
        Some(_) if owner_deleting => Claim::Ignore,
        Some(_) => Claim::Release,
        None if owner_deleting || !matches || is_deleting(obj) => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// `obj` with `reference` added (replacing one with the same uid).
pub fn with_owner(obj: &Value, reference: Value) -> Value {
    let mut out = obj.clone();
    let ref_uid = reference["uid"].as_str().unwrap_or("").to_string();
    let mut refs: Vec<Value> = owner_refs(obj)
        .iter()
        .filter(|r| r["uid"].as_str() != Some(ref_uid.as_str()))
        .cloned()
        .collect();
    refs.push(reference);
    out["metadata"]["ownerReferences"] = Value::Array(refs);
    out
}

/// `obj` without ownerReferences to any of `uids` (the field goes when empty).
pub fn without_owners(obj: &Value, uids: &[&str]) -> Value {
    let mut out = obj.clone();
    let refs: Vec<Value> = owner_refs(obj)
        .iter()
        .filter(|r| !uids.contains(&r["uid"].as_str().unwrap_or("")))
        .cloned()
        .collect();
    if let Some(m) = out["metadata"].as_object_mut() {
        if refs.is_empty() {
            m.remove("ownerReferences");
        } else {
            m.insert("ownerReferences".into(), Value::Array(refs));
        }
    }
    out
}

/// `obj` without `finalizer` (the field goes when empty).
pub fn without_finalizer(obj: &Value, finalizer: &str) -> Value {
    let mut out = obj.clone();
    let kept: Vec<Value> = obj["metadata"]["finalizers"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter(|v| v.as_str() != Some(finalizer))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if let Some(m) = out["metadata"].as_object_mut() {
        if kept.is_empty() {
            m.remove("finalizers");
        } else {
            m.insert("finalizers".into(), Value::Array(kept));
        }
    }
    out
}

pub fn has_finalizer(obj: &Value, finalizer: &str) -> bool {
    obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|v| v.as_str() == Some(finalizer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(labels: Value, controller: Option<&str>) -> Value {
        let mut o = json!({"metadata": {"name": "p", "uid": "p1", "labels": labels}});
        if let Some(c) = controller {
            o["metadata"]["ownerReferences"] = json!([
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "other-owner"},
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": c, "controller": true}
            ]);
        }
        o
    }

    #[test]
    fn claims_like_the_controller_ref_manager() {
        let sel = LabelSelector::parse("app=web").unwrap_or_default();
        let web = json!({"app": "web"});
        let other = json!({"app": "db"});
        let cases = [
            (obj(web.clone(), Some("me")), false, Claim::Own),
            (obj(web.clone(), Some("them")), false, Claim::Ignore),
            (obj(other.clone(), Some("me")), false, Claim::Release),
            (obj(other.clone(), Some("me")), true, Claim::Ignore),
            (obj(web.clone(), None), false, Claim::Adopt),
            (obj(web.clone(), None), true, Claim::Ignore),
            (obj(other.clone(), None), false, Claim::Ignore),
        ];
        for (i, (o, deleting, want)) in cases.iter().enumerate() {
            assert_eq!(claim("me", *deleting, &sel, o), *want, "case {i}");
        }
        let mut dying = obj(web, None);
        dying["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert_eq!(claim("me", false, &sel, &dying), Claim::Ignore);
    }

    #[test]
    fn adds_and_removes_owner_references() {
        let o = obj(json!({}), Some("me"));
        let owner = json!({"metadata": {"name": "d", "uid": "new"}});
        let added = with_owner(&o, controller_ref(&owner, "apps/v1", "Deployment"));
        assert_eq!(owner_refs(&added).len(), 3);
        assert_eq!(
            owner_refs(&added)[2],
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": "new", "controller": true, "blockOwnerDeletion": true})
        );
        let released = without_owners(&added, &["me", "new"]);
        assert_eq!(owner_refs(&released).len(), 1);
        let bare = without_owners(&released, &["other-owner"]);
        assert!(bare["metadata"].get("ownerReferences").is_none());
    }

    #[test]
    fn removes_finalizers() {
        let o = json!({"metadata": {"finalizers": ["orphan", "keep"]}});
        assert!(has_finalizer(&o, "orphan"));
        let o = without_finalizer(&o, "orphan");
        assert_eq!(o["metadata"]["finalizers"], json!(["keep"]));
        let o = without_finalizer(&o, "keep");
        assert!(o["metadata"].get("finalizers").is_none());
    }
}
