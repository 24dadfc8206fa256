//! The pod-template-hash: FNV-1a (32 bit) over the pod template, salted with
//! the collision count, printed in decimal and re-encoded with the name
//! generator's alphabet (`controller.ComputeHash` + `rand.SafeEncodeString`),
//! so ReplicaSet names look like upstream's (`web-7d9c8b6f5`).
//!
//! Upstream feeds the template to FNV as a Go `spew` dump of the struct; k1s
//! feeds it a canonical JSON rendering, so the same template hashes to a
//! value of the same shape but not the same digits.
//!
//! The digits depend on the template's content only, so a restarted or
//! upgraded k1s names ReplicaSets as before:
//! - object keys are sorted before hashing: serde_json keeps insertion
//!   order here (`preserve_order`), and that order depends on who wrote the
//!   object (kubectl, a k8s-openapi struct, a merge patch, a serde upgrade);
//! - the template is first normalized the way `EqualIgnoreHash` compares
//!   templates (null, empty lists and empty label maps count as absent), so
//!   templates the controller treats as equal hash alike;
//! - nothing process-specific goes in (no HashMap order, no random seed).
//!
//! A test pins the digits. Should the rendering ever change, only
//! ReplicaSets created afterwards get other names: existing ones are found
//! by template equality (`FindNewReplicaSet`), never by hash, so an upgrade
//! starts no rollout.

use super::util::semantic;
use serde_json::Value;

/// `rand.SafeEncodeString`'s alphabet: no vowels, no look-alikes.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

pub fn fnv32a(data: &[u8], mut h: u32) -> u32 {
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// Maps each character to the safe alphabet, as upstream does.
pub fn safe_encode(s: &str) -> String {
    s.chars()
        .map(|c| ALPHANUMS[(c as usize) % ALPHANUMS.len()] as char)
        .collect()
}

/// JSON with object keys sorted, so equal templates render equally
/// whatever order their fields arrived in.
pub fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                canonical(&map[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The pod-template-hash label value for `template` (`ComputeHash`).
pub fn compute_hash(template: &Value, collision_count: Option<i64>) -> String {
    let mut text = String::new();
    canonical(&semantic(template), &mut text);
    let mut h = fnv32a(text.as_bytes(), FNV_OFFSET);
    if let Some(c) = collision_count {
        // Eight bytes, the low four holding the count (little-endian), as upstream.
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(c as u32).to_le_bytes());
        h = fnv32a(&bytes, h);
    }
    safe_encode(&h.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fnv1a_matches_reference_vectors() {
        assert_eq!(fnv32a(b"", FNV_OFFSET), 0x811c9dc5);
        assert_eq!(fnv32a(b"a", FNV_OFFSET), 0xe40c292c);
        assert_eq!(fnv32a(b"foobar", FNV_OFFSET), 0xbf9cf968);
    }

    #[test]
    fn safe_encoding_maps_digits_like_upstream() {
        // '0'..'9' are 48..57: 48 % 27 = 21 -> '4', ..., 57 % 27 = 3 -> 'f'.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn hashes_are_stable_and_key_order_independent() {
        let a = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}});
        let b = json!({"spec": {"containers": [{"image": "nginx", "name": "nginx"}]}, "metadata": {"labels": {"app": "web"}}});
        let h = compute_hash(&a, None);
        assert_eq!(h, compute_hash(&b, None));
        assert!(h.len() <= 10 && !h.is_empty());
        assert!(h.chars().all(|c| "456789bcdf".contains(c)), "{h}");
        assert_ne!(h, compute_hash(&a, Some(1)));
        assert_ne!(compute_hash(&a, Some(1)), compute_hash(&a, Some(2)));
        let c = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.17"}]}});
        assert_ne!(h, compute_hash(&c, None));
    }

    #[test]
    fn the_digits_are_pinned() {
        // Changing these renames every ReplicaSet created afterwards: only
        // on purpose (see the module comment).
        let t = json!({"metadata": {"labels": {"app": "web"}},
                       "spec": {"containers": [{"name": "nginx", "image": "nginx:1.22",
                                                "ports": [{"containerPort": 80, "protocol": "TCP"}]}]}});
        assert_eq!(compute_hash(&t, None), "8549ddf487");
        assert_eq!(compute_hash(&t, Some(1)), "546648c9c4");
    }

    #[test]
    fn representations_of_one_template_hash_alike() {
        let plain = json!({"metadata": {"labels": {"app": "web"}},
                           "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}});
        // kubectl sends `creationTimestamp: null`; empty lists and maps mean absent.
        let noisy = json!({"spec": {"volumes": [], "containers": [{"image": "nginx", "name": "nginx", "env": null}]},
                           "metadata": {"creationTimestamp": null, "annotations": {}, "labels": {"app": "web"}}});
        assert_eq!(compute_hash(&plain, None), compute_hash(&noisy, None));
    }

    #[test]
    fn canonical_rendering_sorts_keys_and_escapes() {
        let mut s = String::new();
        canonical(
            &json!({"b": [1, "x\"y"], "a": {"d": null, "c": true}}),
            &mut s,
        );
        assert_eq!(s, r#"{"a":{"c":true,"d":null},"b":[1,"x\"y"]}"#);
    }
}
