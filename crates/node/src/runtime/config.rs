//! What one container is: the bundle's `config.json`, written by the
//! kubelet side and read by the shim, `__exec` and adoption after a restart.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A bind mount into the container (files like /etc/hosts, or volumes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub destination: String,
    pub read_only: bool,
}

/// Resource limits applied through cgroups where the host allows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    /// CPU limit in millicores (1000 = one CPU).
    pub cpu_millis: Option<u64>,
    pub pids: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub pod_uid: String,
    pub pod_namespace: String,
    pub pod_name: String,
    pub container_name: String,
    /// The container's restartCount when this instance started.
    pub attempt: u32,
    /// Image layers, in the order `LayerStore::lowerdirs` returns them.
    pub lowerdirs: Vec<PathBuf>,
    pub args: Vec<String>,
    /// `NAME=value` entries.
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub hostname: String,
    /// The pod's bind-mounted network namespace.
    pub netns: PathBuf,
    pub mounts: Vec<Mount>,
    pub tty: bool,
    pub stdin: bool,
    pub stdin_once: bool,
    pub log_path: PathBuf,
    pub limits: Limits,
}

#[cfg(test)]
impl ContainerConfig {
    /// Container `app` of pod default/web (uid-1) running `sh` as root,
    /// for unit tests, which override the fields they look at.
    pub(crate) fn example() -> ContainerConfig {
        ContainerConfig {
            pod_uid: "uid-1".into(),
            pod_namespace: "default".into(),
            pod_name: "web".into(),
            container_name: "app".into(),
            attempt: 0,
            lowerdirs: vec![],
            args: vec!["sh".into()],
            env: vec!["PATH=/usr/bin:/bin".into()],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            hostname: "web".into(),
            netns: "/var/lib/k1s/netns/uid-1".into(),
            mounts: vec![],
            tty: false,
            stdin: false,
            stdin_once: false,
            log_path: "/var/lib/k1s/logs/default_web_uid-1/app/0.log".into(),
            limits: Limits::default(),
        }
    }
}
