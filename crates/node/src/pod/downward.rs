//! The downward API values, as the kubelet computes them:
//! `podFieldSelectorRuntimeValue` (env `fieldRef`), `fieldpath.
//! ExtractFieldPathAsString` (volume `fieldRef`, which only knows
//! metadata), and `resource.ExtractContainerResourceValue` with the node's
//! allocatable standing in for missing limits (`MergeContainerResourceLimits`)
//! — CPU in ceil(millicores / divisor), memory and storage in
//! ceil(bytes / divisor).

use std::collections::BTreeMap;

use k1s_api::defaults::qos::parse_quantity;
use k1s_api::validation::names::is_qualified_name;
use serde_json::Value;

use super::{find_container, text};

/// What the node adds to a pod that the API object does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRuntime {
    /// `status.podIP` (empty before the sandbox has an address).
    pub pod_ip: String,
    /// `status.podIPs`, preferred family first.
    pub pod_ips: Vec<String>,
    /// The node's addresses (`status.hostIP(s)`).
    pub host_ips: Vec<String>,
    /// Node allocatable, used for limits a container does not set.
    pub allocatable: NodeAllocatable,
}

/// Node allocatable quantities (API quantity strings such as "2", "8Gi").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeAllocatable {
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub ephemeral_storage: Option<String>,
}

impl PodRuntime {
    /// podIP as the kubelet uses it: the first of podIPs when known.
    fn primary_ip(&self) -> &str {
        self.pod_ips
            .first()
            .map(String::as_str)
            .unwrap_or(&self.pod_ip)
    }

    fn ips(&self) -> Vec<&str> {
        if self.pod_ips.is_empty() && !self.pod_ip.is_empty() {
            vec![self.pod_ip.as_str()]
        } else {
            self.pod_ips.iter().map(String::as_str).collect()
        }
    }
}

/// `fieldpath.SplitMaybeSubscriptedPath`: `metadata.labels['k']` → (path, k).
pub fn split_subscripted_path(field_path: &str) -> Option<(&str, &str)> {
    let inner = field_path.strip_suffix("']")?;
    let (path, key) = inner.split_once("['")?;
    if path.is_empty() {
        None
    } else {
        Some((path, key))
    }
}

/// `pods.ConvertDownwardAPIFieldLabel`: the v1 field labels the downward
/// API accepts, with `spec.host` as the old name of `spec.nodeName`.
fn convert_field_label(api_version: &str, label: &str) -> Result<String, String> {
    if !api_version.is_empty() && api_version != "v1" {
        return Err(format!("unsupported pod version: {api_version}"));
    }
    if let Some((path, _)) = split_subscripted_path(label) {
        return match path {
            "metadata.annotations" | "metadata.labels" => Ok(label.to_string()),
            _ => Err(format!("field label does not support subscript: {label}")),
        };
    }
    match label {
        "metadata.annotations"
        | "metadata.labels"
        | "metadata.name"
        | "metadata.namespace"
        | "metadata.uid"
        | "spec.nodeName"
        | "spec.restartPolicy"
        | "spec.serviceAccountName"
        | "spec.schedulerName"
        | "status.phase"
        | "status.hostIP"
        | "status.hostIPs"
        | "status.podIP"
        | "status.podIPs" => Ok(label.to_string()),
        "spec.host" => Ok("spec.nodeName".to_string()),
        _ => Err(format!("field label not supported: {label}")),
    }
}

/// An env `valueFrom.fieldRef` value (`podFieldSelectorRuntimeValue`).
pub fn env_field_value(pod: &Value, field_ref: &Value, rt: &PodRuntime) -> Result<String, String> {
    let path = convert_field_label(text(field_ref, "apiVersion"), text(field_ref, "fieldPath"))?;
    let host_ips = || {
        if rt.host_ips.is_empty() {
            Err("host IP unknown; known addresses: []".to_string())
        } else {
            Ok(rt.host_ips.clone())
        }
    };
    match path.as_str() {
        "spec.nodeName" => Ok(text(&pod["spec"], "nodeName").to_string()),
        "spec.serviceAccountName" => Ok(text(&pod["spec"], "serviceAccountName").to_string()),
        "status.hostIP" => Ok(host_ips()?[0].clone()),
        "status.hostIPs" => Ok(host_ips()?.join(",")),
        "status.podIP" => Ok(rt.primary_ip().to_string()),
        "status.podIPs" => Ok(rt.ips().join(",")),
        other => metadata_field_value(pod, other),
    }
}

/// `fieldpath.ExtractFieldPathAsString`: the metadata fields (all a
/// downwardAPI volume item can name).
pub fn metadata_field_value(pod: &Value, field_path: &str) -> Result<String, String> {
    let meta = &pod["metadata"];
    if let Some((path, key)) = split_subscripted_path(field_path) {
        let (map, checked) = match path {
            "metadata.annotations" => ("annotations", key.to_lowercase()),
            "metadata.labels" => ("labels", key.to_string()),
            _ => {
                return Err(format!(
                    "fieldPath {field_path:?} does not support subscript"
                ))
            }
        };
        let errs = is_qualified_name(&checked);
        if !errs.is_empty() {
            return Err(format!(
                "invalid key subscript in {field_path}: {}",
                errs.join(";")
            ));
        }
        return Ok(meta[map][key].as_str().unwrap_or("").to_string());
    }
    match field_path {
        "metadata.annotations" => Ok(format_map(&meta["annotations"])),
        "metadata.labels" => Ok(format_map(&meta["labels"])),
        "metadata.name" => Ok(text(meta, "name").to_string()),
        "metadata.namespace" => Ok(text(meta, "namespace").to_string()),
        "metadata.uid" => Ok(text(meta, "uid").to_string()),
        _ => Err(format!("unsupported fieldPath: {field_path}")),
    }
}

/// `fieldpath.FormatMap`: `key="value"` lines, keys sorted, values quoted
/// like Go's strconv.Quote, no trailing newline.
pub fn format_map(map: &Value) -> String {
    let sorted: BTreeMap<&str, &str> = map
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("")))
        .collect();
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Go's strconv.Quote for the strings labels and annotations hold.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `resourceFieldRef` value. An empty `containerName` means `container`
/// (the one the env belongs to); otherwise the named container of the pod.
pub fn resource_field_value(
    pod: &Value,
    container: Option<&Value>,
    resource_field_ref: &Value,
    allocatable: &NodeAllocatable,
) -> Result<String, String> {
    let name = text(resource_field_ref, "containerName");
    let container = match (name, container) {
        ("", Some(c)) => c,
        ("", None) => return Err("container  not found".to_string()),
        (name, _) => {
            find_container(pod, name).ok_or_else(|| format!("container {name} not found"))?
        }
    };
    let resource = text(resource_field_ref, "resource");
    let divisor = match resource_field_ref.get("divisor").and_then(quantity_nanos) {
        Some(0) | None => 1_000_000_000,
        Some(d) => d,
    };
    let (kind, name) = resource
        .split_once('.')
        .ok_or_else(|| format!("unsupported container resource : {resource}"))?;
    if kind != "limits" && kind != "requests" {
        return Err(format!("unsupported container resource : {resource}"));
    }
    let is_hugepages = name.starts_with("hugepages-");
    if !matches!(name, "cpu" | "memory" | "ephemeral-storage") && !is_hugepages {
        return Err(format!("unsupported container resource : {resource}"));
    }
    let set = container["resources"][kind][name]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            container["resources"][kind][name]
                .as_i64()
                .map(|n| n.to_string())
        });
    let mut nanos = set.as_deref().and_then(parse_quantity).unwrap_or(0);
    // Missing or zero limits read as the node's allocatable (never for hugepages).
    if kind == "limits" && nanos == 0 {
        let cap = match name {
            "cpu" => allocatable.cpu.as_deref(),
            "memory" => allocatable.memory.as_deref(),
            "ephemeral-storage" => allocatable.ephemeral_storage.as_deref(),
            _ => None,
        };
        if let Some(n) = cap.and_then(parse_quantity) {
            nanos = n;
        }
    }
    let value = if name == "cpu" {
        ceil_div(ceil_div(nanos, 1_000_000), ceil_div(divisor, 1_000_000))
    } else {
        ceil_div(
            ceil_div(nanos, 1_000_000_000),
            ceil_div(divisor, 1_000_000_000),
        )
    };
    Ok(value.to_string())
}

fn quantity_nanos(v: &Value) -> Option<i128> {
    match v {
        Value::String(s) => parse_quantity(s),
        Value::Number(n) => n.as_i64().map(|n| i128::from(n) * 1_000_000_000),
        _ => None,
    }
}

/// Ceiling division for the non-negative values quantities hold here
/// (Quantity.MilliValue/Value round up the same way).
fn ceil_div(a: i128, b: i128) -> i128 {
    if b == 0 {
        return 0;
    }
    let q = a / b;
    if a % b != 0 && (a > 0) == (b > 0) {
        q + 1
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "dapi", "namespace": "default", "uid": "1234",
                "labels": {"zone": "us-est-coast", "cluster": "test-cluster1", "rack": "rack-22"},
                "annotations": {"build": "two", "builder": "john-doe", "note": "say \"hi\"\n"}},
            "spec": {"nodeName": "node1", "serviceAccountName": "default",
                "containers": [
                    {"name": "app", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                        "limits": {"cpu": "500m", "memory": "128Mi"}}},
                    {"name": "bare"}
                ]}
        })
    }

    fn rt() -> PodRuntime {
        PodRuntime {
            pod_ip: "10.244.0.5".into(),
            pod_ips: vec!["10.244.0.5".into()],
            host_ips: vec!["192.168.56.10".into()],
            allocatable: NodeAllocatable {
                cpu: Some("2".into()),
                memory: Some("4026531840".into()),
                ephemeral_storage: None,
            },
        }
    }

    fn field(path: &str) -> Result<String, String> {
        env_field_value(
            &pod(),
            &json!({"apiVersion": "v1", "fieldPath": path}),
            &rt(),
        )
    }

    #[test]
    fn env_field_refs() {
        assert_eq!(field("metadata.name").unwrap(), "dapi");
        assert_eq!(field("metadata.namespace").unwrap(), "default");
        assert_eq!(field("metadata.uid").unwrap(), "1234");
        assert_eq!(field("metadata.labels['zone']").unwrap(), "us-est-coast");
        assert_eq!(field("metadata.labels['absent']").unwrap(), "");
        assert_eq!(
            field("metadata.annotations['builder']").unwrap(),
            "john-doe"
        );
        assert_eq!(field("spec.nodeName").unwrap(), "node1");
        assert_eq!(field("spec.host").unwrap(), "node1");
        assert_eq!(field("spec.serviceAccountName").unwrap(), "default");
        assert_eq!(field("status.hostIP").unwrap(), "192.168.56.10");
        assert_eq!(field("status.hostIPs").unwrap(), "192.168.56.10");
        assert_eq!(field("status.podIP").unwrap(), "10.244.0.5");
        assert_eq!(field("status.podIPs").unwrap(), "10.244.0.5");
        // Known labels the kubelet itself cannot answer for env.
        assert_eq!(
            field("spec.restartPolicy").unwrap_err(),
            "unsupported fieldPath: spec.restartPolicy"
        );
        assert_eq!(
            field("spec.containers").unwrap_err(),
            "field label not supported: spec.containers"
        );
        assert_eq!(
            field("spec.nodeName['x']").unwrap_err(),
            "field label does not support subscript: spec.nodeName['x']"
        );
        assert!(field("metadata.labels['bad key!']")
            .unwrap_err()
            .starts_with("invalid key subscript in metadata.labels['bad key!']: "));
        let v2 = env_field_value(
            &pod(),
            &json!({"apiVersion": "v2", "fieldPath": "metadata.name"}),
            &rt(),
        );
        assert_eq!(v2.unwrap_err(), "unsupported pod version: v2");
    }

    /// The label/annotation files of "Expose Pod Information to Containers
    /// Through Files" (kubectl exec … cat /etc/podinfo/labels).
    #[test]
    fn label_and_annotation_files() {
        assert_eq!(
            metadata_field_value(&pod(), "metadata.labels").unwrap(),
            "cluster=\"test-cluster1\"\nrack=\"rack-22\"\nzone=\"us-est-coast\""
        );
        assert_eq!(
            metadata_field_value(&pod(), "metadata.annotations").unwrap(),
            "build=\"two\"\nbuilder=\"john-doe\"\nnote=\"say \\\"hi\\\"\\n\""
        );
        assert_eq!(
            metadata_field_value(&json!({}), "metadata.labels").unwrap(),
            ""
        );
        assert_eq!(go_quote("tab\there\u{1}"), "\"tab\\there\\x01\"");
    }

    fn res(container: &str, resource: &str, divisor: Option<&str>) -> Result<String, String> {
        let pod = pod();
        let c = find_container(&pod, container).cloned();
        let mut r = json!({"resource": resource});
        if let Some(d) = divisor {
            r["divisor"] = json!(d);
        }
        resource_field_value(&pod, c.as_ref(), &r, &rt().allocatable)
    }

    /// "Use Container Fields as Values for Environment Variables" and the
    /// kubelet's rounding: CPU rounds up to whole divisors.
    #[test]
    fn resource_field_refs() {
        assert_eq!(res("app", "requests.cpu", None).unwrap(), "1");
        assert_eq!(res("app", "limits.cpu", None).unwrap(), "1");
        assert_eq!(res("app", "limits.cpu", Some("1m")).unwrap(), "500");
        assert_eq!(res("app", "requests.cpu", Some("1m")).unwrap(), "250");
        assert_eq!(res("app", "requests.memory", Some("1Mi")).unwrap(), "64");
        assert_eq!(res("app", "limits.memory", Some("1Mi")).unwrap(), "128");
        assert_eq!(res("app", "limits.memory", None).unwrap(), "134217728");
        assert_eq!(res("app", "limits.memory", Some("1G")).unwrap(), "1");
        // No limits: node allocatable; no requests: 0.
        assert_eq!(res("bare", "limits.cpu", None).unwrap(), "2");
        assert_eq!(res("bare", "limits.memory", Some("1Mi")).unwrap(), "3840");
        assert_eq!(res("bare", "requests.cpu", None).unwrap(), "0");
        assert_eq!(res("bare", "limits.ephemeral-storage", None).unwrap(), "0");
        assert_eq!(res("app", "limits.hugepages-2Mi", None).unwrap(), "0");
        assert_eq!(
            res("app", "limits.gpu", None).unwrap_err(),
            "unsupported container resource : limits.gpu"
        );
        // containerName picks another container of the pod.
        let pod = pod();
        let r = json!({"containerName": "app", "resource": "limits.cpu", "divisor": "1m"});
        assert_eq!(
            resource_field_value(&pod, None, &r, &NodeAllocatable::default()).unwrap(),
            "500"
        );
        let r = json!({"containerName": "ghost", "resource": "limits.cpu"});
        assert_eq!(
            resource_field_value(&pod, None, &r, &NodeAllocatable::default()).unwrap_err(),
            "container ghost not found"
        );
    }
}
