//! Objects every cluster starts with, written through the same API path as
//! any client: system namespaces and their default ServiceAccounts, the
//! `kubernetes` and `kube-dns` Services, the apiserver's endpoints, this
//! Node and its heartbeat Lease.

use crate::config::{Node, ServerArgs};
use k1s_api::resource::{lookup, ResourceInfo};
use k1s_apiserver::{objects, Api, WriteOptions};
use serde_json::{json, Value};
use std::time::Duration;

const MANAGER: &str = "kube-apiserver";
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];
/// How often the node renews its Lease (kubelet's default).
const LEASE_RENEW: Duration = Duration::from_secs(10);
/// How long a Lease stays valid without renewal (kubelet's default).
const LEASE_SECONDS: i64 = 40;

fn resource(group: &str, plural: &str) -> anyhow::Result<&'static ResourceInfo> {
    lookup(group, plural).ok_or_else(|| anyhow::anyhow!("resource {plural} is not registered"))
}

fn opts() -> WriteOptions {
    WriteOptions {
        field_manager: MANAGER.into(),
        ..Default::default()
    }
}

/// Creates `obj` unless it exists; returns whether it was created.
async fn ensure(
    api: &Api,
    r: &'static ResourceInfo,
    ns: Option<&str>,
    obj: Value,
) -> anyhow::Result<bool> {
    match api.create(r, ns, obj, &opts()).await {
        Ok(_) => Ok(true),
        Err(e) if e.reason == "AlreadyExists" => Ok(false),
        Err(e) => Err(anyhow::anyhow!(
            "creating built-in {}: {}",
            r.kind,
            e.message
        )),
    }
}

/// Creates `obj` if missing, then makes the stored `field` equal to obj's
/// (through the `status` subresource when `field` is status).
async fn ensure_field(
    api: &Api,
    r: &'static ResourceInfo,
    ns: Option<&str>,
    obj: Value,
    field: &str,
) -> anyhow::Result<()> {
    let name = objects::name(&obj).to_string();
    ensure(api, r, ns, obj.clone()).await?;
    let mut current = api
        .get(r, ns, &name)
        .map_err(|e| anyhow::anyhow!(e.message))?;
    if current.get(field) == obj.get(field) {
        return Ok(());
    }
    current[field] = obj[field].clone();
    let sub = (field == "status").then_some("status");
    api.update(r, ns, &name, current, sub, &opts())
        .await
        .map_err(|e| anyhow::anyhow!("updating built-in {} {name}: {}", r.kind, e.message))?;
    Ok(())
}

/// Makes the stored object's annotations include `wanted`.
async fn ensure_annotations(
    api: &Api,
    r: &'static ResourceInfo,
    name: &str,
    wanted: Value,
) -> anyhow::Result<()> {
    let mut current = api
        .get(r, None, name)
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let Some(wanted) = wanted.as_object() else {
        return Ok(());
    };
    let annotations = &mut current["metadata"]["annotations"];
    if wanted.iter().all(|(k, v)| annotations.get(k) == Some(v)) {
        return Ok(());
    }
    for (k, v) in wanted {
        annotations[k] = v.clone();
    }
    api.update(r, None, name, current, None, &opts())
        .await
        .map_err(|e| anyhow::anyhow!("annotating node {name}: {}", e.message))?;
    Ok(())
}

/// The cluster's configuration, on the Node like k3s's node-args, so
/// `kubectl cluster-info dump | grep service-cluster-ip-range` finds it.
fn node_args(args: &ServerArgs) -> Value {
    json!({
        "k1s.io/service-cluster-ip-range": args.service_cidr.to_string(),
        "k1s.io/service-node-port-range": format!("{}-{}", args.service_node_port_range.start(), args.service_node_port_range.end()),
        "k1s.io/cluster-cidr": args.cluster_cidr.to_string(),
        "k1s.io/cluster-dns": args.cluster_dns.to_string(),
        "k1s.io/cluster-domain": args.cluster_domain,
    })
}

pub async fn run(api: &Api, node: &Node, args: &ServerArgs) -> anyhow::Result<()> {
    let (dropped, added) = api
        .repair_allocations()
        .await
        .map_err(|e| anyhow::anyhow!("repairing service allocations: {}", e.message))?;
    if dropped + added > 0 {
        tracing::warn!(dropped, added, "repaired ClusterIP/NodePort allocations");
    }
    let namespaces = resource("", "namespaces")?;
    let service_accounts = resource("", "serviceaccounts")?;
    for ns in SYSTEM_NAMESPACES {
        ensure(api, namespaces, None, json!({"metadata": {"name": ns}})).await?;
        ensure(
            api,
            service_accounts,
            Some(ns),
            json!({"metadata": {"name": "default", "namespace": ns}}),
        )
        .await?;
    }
    let services = resource("", "services")?;
    let first_ip = std::net::Ipv4Addr::from(u32::from(node.service_cidr.network()) + 1);
    ensure(
        api,
        services,
        Some("default"),
        kubernetes_service(first_ip, node.secure_port),
    )
    .await?;
    ensure(api, services, Some("kube-system"), kube_dns_service(node)).await?;
    let pods = resource("", "pods")?;
    ensure_field(
        api,
        pods,
        Some("kube-system"),
        cluster_dns_pod(node),
        "status",
    )
    .await?;
    ensure_field(
        api,
        resource("", "endpoints")?,
        Some("default"),
        kubernetes_endpoints(node),
        "subsets",
    )
    .await?;
    ensure_field(
        api,
        resource("discovery.k8s.io", "endpointslices")?,
        Some("default"),
        kubernetes_slice(node),
        "endpoints",
    )
    .await?;
    let nodes = resource("", "nodes")?;
    ensure_field(
        api,
        nodes,
        None,
        node_object(node, &args.data_dir),
        "status",
    )
    .await?;
    ensure_annotations(api, nodes, &node.name, node_args(args)).await?;
    ensure(
        api,
        resource("coordination.k8s.io", "leases")?,
        Some("kube-node-lease"),
        lease(node),
    )
    .await?;
    Ok(())
}

fn kubernetes_service(ip: std::net::Ipv4Addr, port: u16) -> Value {
    json!({
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "clusterIP": ip.to_string(),
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
            "sessionAffinity": "None",
            "type": "ClusterIP",
        },
    })
}

fn kube_dns_service(node: &Node) -> Value {
    json!({
        "metadata": {
            "name": "kube-dns",
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
            "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
        },
        "spec": {
            "clusterIP": node.cluster_dns.to_string(),
            "selector": {"k8s-app": "kube-dns"},
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153},
            ],
            "type": "ClusterIP",
        },
    })
}

/// The in-process DNS server, shown as a mirror pod (like a kubelet's
/// static pods) so the kube-dns Service selects it and its endpoints point
/// at the node address where it listens. The pod runner must never start it
/// (`kubernetes.io/config.mirror`).
fn cluster_dns_pod(node: &Node) -> Value {
    let now = objects::now_rfc3339();
    let ip = node.ip.to_string();
    let condition = |kind: &str| json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    json!({
        "metadata": {
            "name": format!("cluster-dns-{}", node.name),
            "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns"},
            "annotations": {"kubernetes.io/config.mirror": "k1s", "kubernetes.io/config.source": "k1s-in-process"},
        },
        "spec": {
            "nodeName": node.name,
            "hostNetwork": true,
            "priorityClassName": "system-cluster-critical",
            "containers": [{
                "name": "dns",
                "image": "k1s/cluster-dns",
                "ports": [
                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9153, "protocol": "TCP"},
                ],
            }],
        },
        "status": {
            "phase": "Running",
            "conditions": [condition("PodReadyToStartContainers"), condition("Initialized"), condition("Ready"), condition("ContainersReady"), condition("PodScheduled")],
            "hostIP": ip,
            "hostIPs": [{"ip": ip}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": now,
            "containerStatuses": [{
                "name": "dns",
                "image": "k1s/cluster-dns",
                "imageID": "",
                "ready": true,
                "started": true,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }],
        },
    })
}

fn kubernetes_endpoints(node: &Node) -> Value {
    json!({
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{
            "addresses": [{"ip": node.ip.to_string()}],
            "ports": [{"name": "https", "port": node.secure_port, "protocol": "TCP"}],
        }],
    })
}

fn kubernetes_slice(node: &Node) -> Value {
    json!({
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [node.ip.to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": node.secure_port, "protocol": "TCP"}],
    })
}

fn memory_bytes() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|u| u.release().to_str().map(String::from))
        .unwrap_or_default()
}

fn os_image() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// Size of the filesystem holding `dir`, in KiB (the node's ephemeral storage).
fn disk_kib(dir: &std::path::Path) -> u64 {
    nix::sys::statvfs::statvfs(dir)
        .map(|s| s.blocks() * s.fragment_size() / 1024)
        .unwrap_or(0)
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A kubelet-style condition that reports no pressure.
fn no_pressure(kind: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": kind, "status": "False", "reason": reason, "message": message, "lastHeartbeatTime": now, "lastTransitionTime": now})
}

fn node_object(node: &Node, data_dir: &std::path::Path) -> Value {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem_ki = memory_bytes() / 1024;
    let now = objects::now_rfc3339();
    let resources = json!({
        "cpu": cpus.to_string(),
        "memory": format!("{mem_ki}Ki"),
        "pods": "110",
        "ephemeral-storage": format!("{}Ki", disk_kib(data_dir)),
    });
    json!({
        "metadata": {
            "name": node.name,
            "labels": {
                "kubernetes.io/hostname": node.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
                "beta.kubernetes.io/os": "linux",
                "node-role.kubernetes.io/control-plane": "",
            },
        },
        "spec": {"podCIDR": node.pod_cidr.to_string(), "podCIDRs": [node.pod_cidr.to_string()]},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "addresses": [
                {"type": "InternalIP", "address": node.ip.to_string()},
                {"type": "Hostname", "address": node.name},
            ],
            "conditions": [
                no_pressure("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", &now),
                no_pressure("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", &now),
                no_pressure("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available", &now),
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                },
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": read_trimmed("/etc/machine-id"),
                "systemUUID": read_trimmed("/sys/class/dmi/id/product_uuid"),
                "bootID": read_trimmed("/proc/sys/kernel/random/boot_id"),
                "kernelVersion": kernel_version(),
                "osImage": os_image(),
                "containerRuntimeVersion": concat!("k1s://", env!("CARGO_PKG_VERSION")),
                "kubeletVersion": k1s_apiserver::GIT_VERSION,
                "kubeProxyVersion": k1s_apiserver::GIT_VERSION,
                "operatingSystem": "linux",
                "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
            },
        },
    })
}

fn micro_time() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

fn lease(node: &Node) -> Value {
    json!({
        "metadata": {"name": node.name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": node.name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": micro_time()},
    })
}

/// Renews the node Lease like a kubelet, so `kubectl get lease -n kube-node-lease` stays fresh.
pub async fn heartbeat(api: Api, node: Node) {
    let Some(leases) = lookup("coordination.k8s.io", "leases") else {
        return;
    };
    let mut tick = tokio::time::interval(LEASE_RENEW);
    loop {
        tick.tick().await;
        let result = match api.get(leases, Some("kube-node-lease"), &node.name) {
            Ok(mut l) => {
                l["spec"]["renewTime"] = json!(micro_time());
                api.update(
                    leases,
                    Some("kube-node-lease"),
                    &node.name,
                    l,
                    None,
                    &opts(),
                )
                .await
                .map(|_| ())
            }
            Err(_) => api
                .create(leases, Some("kube-node-lease"), lease(&node), &opts())
                .await
                .map(|_| ()),
        };
        if let Err(e) = result {
            tracing::warn!("renewing the node lease: {}", e.message);
        }
    }
}
