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
