//! A pod's sandbox: its network namespace and IP (or the node's network
//! for hostNetwork pods), and the files the kubelet manages for it
//! (/etc/hosts, /etc/resolv.conf, /etc/hostname, volumes) under
//! DATA_DIR/pods/<uid>.

use super::{meta, pod_ref, Context};
use crate::pod::downward::{NodeAllocatable, PodRuntime};
use crate::pod::materialize::materialize;
use crate::pod::volumes::{self, VolumePlan};
use crate::pod::{dnsconfig, hosts, mounts};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Sandbox {
    pub ip: Ipv4Addr,
    pub netns: PathBuf,
    pub host_network: bool,
    /// DATA_DIR/pods/<uid>: the managed files and the volumes.
    pub dir: PathBuf,
    /// The kernel hostname of the pod's containers.
    pub hostname: String,
    pub volumes: Vec<VolumePlan>,
    /// What the downward API sees of the running pod (IP, node).
    pub facts: PodRuntime,
}

fn pod_dir(ctx: &Context, uid: &str) -> PathBuf {
    ctx.config.data_dir.join("pods").join(uid)
}

/// What the downward API and volumes know about the running pod.
fn pod_runtime(ctx: &Context, ip: Ipv4Addr) -> PodRuntime {
    let node = k1s_api::resource::lookup("", "nodes")
        .and_then(|r| ctx.api.get(r, None, &ctx.config.node_name).ok())
        .unwrap_or_default();
    let allocatable = &node["status"]["allocatable"];
    let quantity = |k: &str| allocatable[k].as_str().map(String::from);
    PodRuntime {
        pod_ip: ip.to_string(),
        pod_ips: vec![ip.to_string()],
        host_ips: vec![ctx.config.node_ip.to_string()],
        allocatable: NodeAllocatable {
            cpu: quantity("cpu"),
            memory: quantity("memory"),
            ephemeral_storage: quantity("ephemeral-storage"),
        },
    }
}

impl Sandbox {
    /// Sets up the network and writes the pod's files; the message of the
    /// FailedCreatePodSandBox event on failure.
    pub async fn create(ctx: &Context, pod: &Value) -> Result<Sandbox, String> {
        let uid = meta(pod, "uid");
        let host_network = pod["spec"]["hostNetwork"].as_bool().unwrap_or(false);
        let dir = pod_dir(ctx, uid);
        let domain = &ctx.config.cluster_domain;
        let names = hosts::pod_names(pod, domain)?;
        let hostname = hosts::sandbox_hostname(pod, domain, &ctx.config.node_name)?;
        let settings = dnsconfig::DnsSettings {
            cluster_dns: vec![ctx.config.cluster_dns.to_string()],
            cluster_domain: domain.clone(),
            host_resolv_conf: Some(ctx.config.host_resolv_conf.clone()),
            node_ips: vec![IpAddr::V4(ctx.config.node_ip)],
        };
        let dns = dnsconfig::pod_dns(pod, &settings)?;
        for ev in &dns.events {
            if !ev.on_node {
                ctx.recorder
                    .warning(pod_ref(pod), ev.reason, ev.message.clone());
            }
        }
        let (ip, netns) = if host_network {
            (ctx.config.node_ip, ctx.config.host_netns.clone())
        } else {
            let net = ctx
                .network
                .setup_pod(uid)
                .await
                .map_err(|e| format!("failed to set up the pod network: {e}"))?;
            (net.ip, net.netns)
        };
        let lookups = ApiLookups::new(ctx, meta(pod, "namespace"));
        let facts = pod_runtime(ctx, ip);
        let volumes =
            volumes::plan_volumes(pod, &facts, &lookups, None).map_err(|e| e.to_string())?;
        let ips = [ip.to_string()];
        let node_hosts = if host_network {
            std::fs::read_to_string("/etc/hosts").unwrap_or_default()
        } else {
            String::new()
        };
        let files = [
            (
                mounts::ETC_HOSTS_FILE,
                hosts::etc_hosts(pod, &names, &ips, &node_hosts),
            ),
            (
                mounts::RESOLV_CONF_FILE,
                dnsconfig::render_resolv_conf(&dns.config, &ctx.config.host_resolv_conf),
            ),
            (mounts::ETC_HOSTNAME_FILE, hosts::etc_hostname(&hostname)),
        ];
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        for (file, text) in files {
            let path = dir.join(file);
            tokio::fs::write(&path, text)
                .await
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        let plan = volumes.clone();
        let at = dir.clone();
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            for v in plan.iter().filter(|v| v.memory_backed) {
                mount_tmpfs(&v.host_dir(&at), v.size_limit.as_deref())?;
            }
            materialize(&plan, &at).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())??;
        Ok(Sandbox {
            ip,
            netns,
            host_network,
            dir,
            hostname,
            volumes,
            facts,
        })
    }

    /// Gives the IP and network namespace back (a finished pod).
    pub async fn release_network(&self, ctx: &Context) {
        if self.host_network {
            return;
        }
        if let Some(uid) = self.dir.file_name().and_then(|u| u.to_str()) {
            if let Err(e) = ctx.network.teardown_pod(uid).await {
                tracing::warn!(%uid, "tearing down the pod network: {e}");
            }
        }
    }

    /// Removes everything of pod `uid`: network, volume mounts and files.
    /// Idempotent.
    pub async fn destroy(ctx: &Context, uid: &str) {
        if let Err(e) = ctx.network.teardown_pod(uid).await {
            tracing::warn!(%uid, "tearing down the pod network: {e}");
        }
        let dir = pod_dir(ctx, uid);
        let result = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            unmount_below(&dir);
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
        .await;
        if let Ok(Err(e)) = result {
            tracing::warn!(%uid, "removing the pod directory: {e}");
        }
    }
}

/// An emptyDir with medium Memory is a tmpfs (sized by its sizeLimit).
fn mount_tmpfs(dir: &Path, size_limit: Option<&str>) -> Result<(), String> {
    use nix::mount::{mount, MsFlags};
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let size = size_limit
        .and_then(k1s_api::defaults::qos::parse_quantity)
        .map(|nanos| format!("size={}", nanos / 1_000_000_000));
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        size.as_deref(),
    )
    .map_err(|e| format!("mounting tmpfs on {}: {e}", dir.display()))
}

/// Unmounts every mount at or below `dir` (deepest first); returns how
/// many went.
pub fn unmount_below(dir: &Path) -> usize {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return 0;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points
        .into_iter()
        .filter(
            |p| match nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!("unmounting {}: {e}", p.display());
                    false
                }
            },
        )
        .count()
}

/// ConfigMaps, Secrets and Services of the pod's namespace, read from the
/// store for env and volumes.
pub struct ApiLookups<'a> {
    ctx: &'a Context,
    namespace: String,
}

impl<'a> ApiLookups<'a> {
    pub fn new(ctx: &'a Context, namespace: &str) -> ApiLookups<'a> {
        ApiLookups {
            ctx,
            namespace: namespace.to_string(),
        }
    }

    /// `Ok(None)` when the object does not exist.
    fn get(&self, resource: &str, namespace: &str, name: &str) -> Result<Option<Value>, String> {
        let r = k1s_api::resource::lookup("", resource)
            .ok_or_else(|| format!("no resource {resource}"))?;
        match self.ctx.api.get(r, Some(namespace), name) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.code == 404 => Ok(None),
            Err(e) => Err(e.message),
        }
    }

    /// The pod namespace's Services and the `kubernetes` Service.
    pub fn services(&self) -> Vec<Value> {
        let Some(r) = k1s_api::resource::lookup("", "services") else {
            return Vec::new();
        };
        let mut all =
            k1s_controllers::informer::list_values(self.ctx.api.store(), &r.storage_prefix())
                .unwrap_or_default();
        all.retain(|s| {
            meta(s, "namespace") == self.namespace
                || (meta(s, "namespace") == "default" && meta(s, "name") == "kubernetes")
        });
        all
    }
}

impl crate::pod::objects::PodObjects for ApiLookups<'_> {
    fn config_map(&self, namespace: &str, name: &str) -> Result<Option<Value>, String> {
        self.get("configmaps", namespace, name)
    }

    fn secret(&self, namespace: &str, name: &str) -> Result<Option<Value>, String> {
        self.get("secrets", namespace, name)
    }
}
