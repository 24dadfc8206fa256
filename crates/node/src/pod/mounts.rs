//! A container's bind mounts, as the kubelet's `makeMounts` lists them and
//! containerd completes and orders them:
//!
//! - each `volumeMounts` entry: the volume directory (or `subPath` /
//!   `subPathExpr` inside it), read-only when the mount says so or the
//!   volume is always read-only; an unknown volume is the kubelet's
//!   `cannot find volume "x" to mount into container "c"`;
//! - `/etc/hosts` (the pod's managed file) once the pod has an IP, unless
//!   the container mounts something there itself;
//! - the termination-message file at `terminationMessagePath`;
//! - then containerd's `/etc/hostname` and `/etc/resolv.conf` (read-only
//!   with a read-only root filesystem) unless mounted by the above;
//! - stably sorted by the depth of the destination so that parents are
//!   mounted before their children.
//!
//! Sources are relative to the pod directory (`DATA_DIR/pods/<uid>`) unless
//! absolute (hostPath).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::hosts::should_mount_hosts_file;
use super::volumes::VolumePlan;
use super::{flag, items, text};
use crate::spec::expand;

/// The pod's /etc/hosts, relative to the pod directory.
pub const ETC_HOSTS_FILE: &str = "etc-hosts";
/// The pod's /etc/resolv.conf, relative to the pod directory.
pub const RESOLV_CONF_FILE: &str = "resolv.conf";
/// The pod's /etc/hostname, relative to the pod directory.
pub const ETC_HOSTNAME_FILE: &str = "etc-hostname";

/// One bind mount into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Relative to the pod directory, or absolute (hostPath).
    pub source_relative_or_abs: PathBuf,
    /// Absolute path inside the container.
    pub destination: String,
    pub read_only: bool,
    /// For subPath mounts: the volume the source must stay inside (a
    /// missing source is created there as a directory).
    pub sub_path_of: Option<SubPathOf>,
}

/// The volume a subPath mount points into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubPathOf {
    pub volume: String,
    /// Relative to the pod directory, or absolute (hostPath).
    pub volume_dir: PathBuf,
}

impl MountSpec {
    /// The source resolved against the pod directory.
    pub fn source_path(&self, pod_dir: &Path) -> PathBuf {
        pod_dir.join(&self.source_relative_or_abs)
    }
}

/// What `container_mounts` needs to know.
#[derive(Debug, Clone, Copy)]
pub struct MountInputs<'a> {
    pub pod: &'a Value,
    pub container: &'a Value,
    pub volumes: &'a [VolumePlan],
    /// The container's final environment (for `subPathExpr`).
    pub env: &'a [(String, String)],
    pub pod_ips: &'a [String],
    /// The file behind `terminationMessagePath`, relative to the pod
    /// directory; `None` leaves that mount out.
    pub termination_log: Option<&'a Path>,
}

/// The container's mounts, in the order they must be made.
pub fn container_mounts(inputs: &MountInputs) -> Result<Vec<MountSpec>, String> {
    let container_name = text(inputs.container, "name");
    let mut mounts = Vec::new();
    let mut hosts_file = should_mount_hosts_file(inputs.pod, inputs.pod_ips);
    for mount in items(inputs.container, "volumeMounts") {
        let destination = absolute(text(mount, "mountPath"));
        hosts_file &= destination != "/etc/hosts";
        let volume_name = text(mount, "name");
        let volume = inputs
            .volumes
            .iter()
            .find(|v| v.name == volume_name)
            .ok_or_else(|| {
                format!(
                    "cannot find volume {volume_name:?} to mount into container {container_name:?}"
                )
            })?;
        let sub_path = match text(mount, "subPathExpr") {
            "" => text(mount, "subPath").to_string(),
            expr => expand_sub_path(expr, inputs.env)?,
        };
        if !sub_path.is_empty() {
            if sub_path.starts_with('/') {
                return Err(format!(
                    "error SubPath `{sub_path}` must not be an absolute path"
                ));
            }
            if sub_path.split('/').any(|part| part == "..") {
                return Err(format!(
                    "unable to provision SubPath `{sub_path}`: must not contain '..'"
                ));
            }
        }
        match text(mount, "mountPropagation") {
            "" | "None" | "HostToContainer" | "Bidirectional" => {}
            other => return Err(format!("invalid MountPropagation mode: {other:?}")),
        }
        let volume_dir = volume.source();
        let (source, sub_path_of) = if sub_path.is_empty() {
            (volume_dir, None)
        } else {
            let of = SubPathOf {
                volume: volume_name.to_string(),
                volume_dir: volume_dir.clone(),
            };
            (volume_dir.join(&sub_path), Some(of))
        };
        mounts.push(MountSpec {
            source_relative_or_abs: source,
            destination,
            read_only: flag(mount, "readOnly") || volume.read_only,
            sub_path_of,
        });
    }
    if hosts_file {
        mounts.push(file_mount(ETC_HOSTS_FILE, "/etc/hosts", false));
    }
    let termination_path = text(inputs.container, "terminationMessagePath");
    if let (Some(file), false) = (inputs.termination_log, termination_path.is_empty()) {
        mounts.push(MountSpec {
            source_relative_or_abs: file.to_path_buf(),
            destination: absolute(termination_path),
            read_only: false,
            sub_path_of: None,
        });
    }
    let read_only_root = inputs.container["securityContext"]["readOnlyRootFilesystem"]
        .as_bool()
        .unwrap_or(false);
    let taken: BTreeSet<String> = mounts.iter().map(|m| m.destination.clone()).collect();
    for (file, destination) in [
        (ETC_HOSTNAME_FILE, "/etc/hostname"),
        (RESOLV_CONF_FILE, "/etc/resolv.conf"),
    ] {
        if !taken.contains(destination) {
            mounts.push(file_mount(file, destination, read_only_root));
        }
    }
    mounts.sort_by_key(|m| m.destination.matches('/').count());
    Ok(mounts)
}

fn file_mount(file: &str, destination: &str, read_only: bool) -> MountSpec {
    MountSpec {
        source_relative_or_abs: PathBuf::from(file),
        destination: destination.to_string(),
        read_only,
        sub_path_of: None,
    }
}

/// Linux `MakeAbsolutePath`: `filepath.Clean("/" + path)`.
fn absolute(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `ExpandContainerVolumeMounts`: every referenced variable must be set
/// and non-empty.
fn expand_sub_path(expr: &str, env: &[(String, String)]) -> Result<String, String> {
    let missing = std::cell::RefCell::new(BTreeSet::new());
    let lookup = |name: &str| {
        let value = env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        if value.is_empty() {
            missing.borrow_mut().insert(name.to_string());
        }
        Some(value)
    };
    let expanded = expand(expr, &lookup);
    let missing = missing.into_inner();
    if missing.is_empty() {
        Ok(expanded)
    } else {
        Err(format!(
            "missing value for {}",
            missing.into_iter().collect::<Vec<_>>().join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::volumes::{HostPathType, VolumeContent};
    use serde_json::json;

    fn vol(name: &str, content: VolumeContent, read_only: bool) -> VolumePlan {
        VolumePlan {
            name: name.into(),
            content,
            memory_backed: false,
            size_limit: None,
            read_only,
            warnings: vec![],
        }
    }

    fn volumes() -> Vec<VolumePlan> {
        vec![
            vol("html", VolumeContent::EmptyDir, false),
            vol("config", VolumeContent::Files(vec![]), true),
            vol(
                "logs",
                VolumeContent::HostPath {
                    path: "/var/log/pods-shared".into(),
                    path_type: HostPathType::DirectoryOrCreate,
                },
                false,
            ),
        ]
    }

    fn mounts(container: Value, ips: &[String]) -> Result<Vec<MountSpec>, String> {
        let pod = json!({"spec": {"containers": [container.clone()]}});
        let vols = volumes();
        let env = vec![("POD_NAME".to_string(), "web-0".to_string())];
        container_mounts(&MountInputs {
            pod: &pod,
            container: &container,
            volumes: &vols,
            env: &env,
            pod_ips: ips,
            termination_log: Some(Path::new("containers/app/4f2a9c1e")),
        })
    }

    fn summary(m: &[MountSpec]) -> Vec<(String, String, bool)> {
        m.iter()
            .map(|m| {
                (
                    m.source_relative_or_abs.display().to_string(),
                    m.destination.clone(),
                    m.read_only,
                )
            })
            .collect()
    }

    fn row(s: &str, d: &str, ro: bool) -> (String, String, bool) {
        (s.into(), d.into(), ro)
    }

    #[test]
    fn volume_and_pod_file_mounts_in_order() {
        let ips = vec!["10.244.0.5".to_string()];
        let got = mounts(
            json!({"name": "app", "terminationMessagePath": "/dev/termination-log", "volumeMounts": [
                {"name": "html", "mountPath": "/usr/share/nginx/html"},
                {"name": "config", "mountPath": "/etc/config"},
                {"name": "logs", "mountPath": "/logs", "subPathExpr": "$(POD_NAME)", "readOnly": true}]}),
            &ips,
        )
        .unwrap();
        assert_eq!(
            summary(&got),
            [
                row("/var/log/pods-shared/web-0", "/logs", true),
                row("volumes/config", "/etc/config", true),
                row("etc-hosts", "/etc/hosts", false),
                row("containers/app/4f2a9c1e", "/dev/termination-log", false),
                row("etc-hostname", "/etc/hostname", false),
                row("resolv.conf", "/etc/resolv.conf", false),
                row("volumes/html", "/usr/share/nginx/html", false),
            ]
        );
        assert_eq!(
            got[0].sub_path_of,
            Some(SubPathOf {
                volume: "logs".into(),
                volume_dir: PathBuf::from("/var/log/pods-shared")
            })
        );
        assert_eq!(
            got[0].source_path(Path::new("/pods/u")),
            PathBuf::from("/var/log/pods-shared/web-0")
        );
        assert_eq!(
            got[1].source_path(Path::new("/pods/u")),
            PathBuf::from("/pods/u/volumes/config")
        );
    }

    #[test]
    fn own_etc_files_and_read_only_root() {
        let got = mounts(
            json!({"name": "app", "securityContext": {"readOnlyRootFilesystem": true}, "volumeMounts": [
                {"name": "config", "mountPath": "/etc/hosts", "subPath": "hosts"},
                {"name": "config", "mountPath": "etc/resolv.conf/", "subPath": "resolv"}]}),
            &["10.244.0.5".to_string()],
        )
        .unwrap();
        assert_eq!(
            summary(&got),
            [
                row("volumes/config/hosts", "/etc/hosts", true),
                row("volumes/config/resolv", "/etc/resolv.conf", true),
                row("etc-hostname", "/etc/hostname", true),
            ]
        );
        // No pod IP yet: no managed /etc/hosts.
        let got = mounts(json!({"name": "app"}), &[]).unwrap();
        assert_eq!(
            summary(&got),
            [
                row("etc-hostname", "/etc/hostname", false),
                row("resolv.conf", "/etc/resolv.conf", false)
            ]
        );
    }

    #[test]
    fn mount_errors() {
        let err = |c: Value| mounts(c, &[]).unwrap_err();
        assert_eq!(
            err(json!({"name": "app", "volumeMounts": [{"name": "ghost", "mountPath": "/x"}]})),
            "cannot find volume \"ghost\" to mount into container \"app\""
        );
        assert_eq!(
            err(
                json!({"name": "app", "volumeMounts": [{"name": "html", "mountPath": "/x", "subPath": "/abs"}]})
            ),
            "error SubPath `/abs` must not be an absolute path"
        );
        assert_eq!(
            err(
                json!({"name": "app", "volumeMounts": [{"name": "html", "mountPath": "/x", "subPath": "a/../../b"}]})
            ),
            "unable to provision SubPath `a/../../b`: must not contain '..'"
        );
        assert_eq!(
            err(
                json!({"name": "app", "volumeMounts": [{"name": "html", "mountPath": "/x", "subPathExpr": "$(B)/$(A)/$(POD_NAME)"}]})
            ),
            "missing value for A, B"
        );
        assert_eq!(
            err(
                json!({"name": "app", "volumeMounts": [{"name": "html", "mountPath": "/x", "mountPropagation": "Shared"}]})
            ),
            "invalid MountPropagation mode: \"Shared\""
        );
    }
}
