//! The pod-template-hash: FNV-1a (32 bit) over the pod template, salted with
//! the collision count, printed in decimal and re-encoded with the name
//! generator's alphabet (`controller.ComputeHash` + `rand.SafeEncodeString`),
//! so ReplicaSet names equal upstream's (`web-dc64c95dd`).
//!
//! Upstream feeds the template to FNV as a go-spew `%#v` dump of the Go
//! `v1.PodTemplateSpec`; [`render_pod_template`] reproduces that text, so a
//! Deployment gets the digits a v1.32 cluster would give it (tests pin two
//! hashes observed on a real cluster).
//!
//! The text depends on the template's content only (Go field order, sorted
//! map keys), never on JSON key order or anything process-specific, so a
//! restarted k1s names ReplicaSets as before. Existing ReplicaSets are found
//! by template equality (`FindNewReplicaSet`), never by hash, so a change
//! of the digits starts no rollout.

use super::spew::render_pod_template;
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

/// The pod-template-hash label value for `template` (`ComputeHash`).
pub fn compute_hash(template: &Value, collision_count: Option<i64>) -> String {
    let text = render_pod_template(template);
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

    /// A v1.32 API server's defaulted template for `image`.
    fn defaulted_web_template(image: &str) -> Value {
        json!({"metadata": {"creationTimestamp": null, "labels": {"app": "web"}},
               "spec": {"containers": [{"name": "nginx", "image": image,
                                        "imagePullPolicy": "IfNotPresent",
                                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                        "resources": {},
                                        "terminationMessagePath": "/dev/termination-log",
                                        "terminationMessagePolicy": "File"}],
                        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                        "dnsPolicy": "ClusterFirst", "securityContext": {},
                        "schedulerName": "default-scheduler"}})
    }

    #[test]
    fn hashes_equal_a_real_v1_32_cluster() {
        // Observed on kube-controller-manager v1.32.13: Deployment "web"
        // applied with nginx:1.25, then `kubectl set image ... nginx=nginx:1.26`.
        assert_eq!(
            compute_hash(&defaulted_web_template("nginx:1.25"), None),
            "dc64c95dd"
        );
        assert_eq!(
            compute_hash(&defaulted_web_template("nginx:1.26"), None),
            "5b94955547"
        );
    }

    #[test]
    fn the_collision_count_salts_the_digits() {
        // Eight little-endian bytes after the template text, as upstream.
        let t = defaulted_web_template("nginx:1.25");
        assert_eq!(compute_hash(&t, Some(1)), "fdfc64f5c");
        assert_ne!(compute_hash(&t, Some(1)), compute_hash(&t, None));
        assert_ne!(compute_hash(&t, Some(1)), compute_hash(&t, Some(2)));
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
}
