//! From a container spec to the runtime's ContainerConfig: environment
//! (valueFrom, envFrom, Service variables), command, user, mounts, limits
//! and the log path, as the kubelet's generateContainerConfig does.

use super::images::ReadyImage;
use super::sandbox::Sandbox;
use super::{meta, Context};
use crate::pod::materialize::resolve_mount_sources;
use crate::pod::mounts::{container_mounts, MountInputs};
use crate::runtime::{ContainerConfig, Limits, Mount};
use crate::spec::{self, ContainerProcessInput, UserRequest};
use k1s_api::defaults::qos::parse_quantity;
use serde_json::Value;
use std::path::PathBuf;

/// DATA_DIR/logs/<ns>_<pod>_<uid>/<container>/<attempt>.log, the
/// kubelet's /var/log/pods layout.
pub fn log_path(data_dir: &std::path::Path, pod: &Value, container: &str, attempt: u32) -> PathBuf {
    data_dir
        .join("logs")
        .join(format!(
            "{}_{}_{}",
            meta(pod, "namespace"),
            meta(pod, "name"),
            meta(pod, "uid")
        ))
        .join(container)
        .join(format!("{attempt}.log"))
}

/// The ContainerConfig, or the CreateContainerConfigError message.
pub async fn config(
    ctx: &Context,
    pod: &Value,
    uid: &str,
    spec: &Value,
    image: &ReadyImage,
    sandbox: &Sandbox,
    attempt: u32,
) -> Result<ContainerConfig, String> {
    let name = spec["name"].as_str().unwrap_or("").to_string();
    let lookups = super::sandbox::ApiLookups::new(ctx, meta(pod, "namespace"));
    let resolved = crate::pod::envsources::resolve_env_sources(pod, spec, &sandbox.facts, &lookups)
        .map_err(|e| e.0)?;
    let service_env = crate::pod::envvars::service_env_for_pod(pod, &lookups.services());
    let input = ContainerProcessInput {
        command: strings(&spec["command"]),
        args: strings(&spec["args"]),
        working_dir: spec["workingDir"].as_str().map(String::from),
        env_from: resolved.env_from,
        env: resolved.env,
        service_env,
        hostname: sandbox.hostname.clone(),
    };
    let process = spec::effective_process(&image.config, &input).map_err(|e| e.to_string())?;
    let user = spec::resolve_user(
        &user_request(pod, spec, &image.config.user),
        image.passwd.as_deref(),
        image.group.as_deref(),
    )
    .map_err(|e| format!("failed to resolve user: {e}"))?;
    let mut env = process.env;
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        // runc's default: the user's home from passwd, else /.
        env.push(format!(
            "HOME={}",
            user.home.clone().unwrap_or_else(|| "/".into())
        ));
    }
    // Relative to the pod directory, like the managed files.
    let termination_log_rel = PathBuf::from("containers")
        .join(&name)
        .join(format!("{attempt}-termination-log"));
    let termination_log = sandbox.dir.join(&termination_log_rel);
    let env_pairs: Vec<(String, String)> = env
        .iter()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let specs = container_mounts(&MountInputs {
        pod,
        container: spec,
        volumes: &sandbox.volumes,
        env: &env_pairs,
        pod_ips: &[sandbox.ip.to_string()],
        termination_log: Some(&termination_log_rel),
    })?;
    if let Some(dir) = termination_log.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    tokio::fs::write(&termination_log, b"")
        .await
        .map_err(|e| format!("creating {}: {e}", termination_log.display()))?;
    let (pod_dir, container_name) = (sandbox.dir.clone(), name.clone());
    let mounts = tokio::task::spawn_blocking(move || {
        resolve_mount_sources(&specs, &pod_dir, &container_name)
    })
    .await
    .map_err(|e| e.to_string())??
    .into_iter()
    .map(|m| Mount {
        source: m.source,
        destination: m.destination,
        read_only: m.read_only,
    })
    .collect();
    Ok(ContainerConfig {
        pod_uid: uid.to_string(),
        pod_namespace: meta(pod, "namespace").to_string(),
        pod_name: meta(pod, "name").to_string(),
        container_name: name.clone(),
        attempt,
        lowerdirs: image.lowerdirs.clone(),
        args: process.args,
        env,
        cwd: process.cwd,
        uid: user.uid,
        gid: user.gid,
        additional_gids: user.additional_gids,
        hostname: sandbox.hostname.clone(),
        netns: sandbox.netns.clone(),
        mounts,
        tty: spec["tty"].as_bool().unwrap_or(false),
        stdin: spec["stdin"].as_bool().unwrap_or(false),
        stdin_once: spec["stdinOnce"].as_bool().unwrap_or(false),
        log_path: log_path(&ctx.config.data_dir, pod, &name, attempt),
        limits: limits(spec),
    })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

/// runAsUser/runAsGroup from the container's securityContext over the
/// pod's; supplementalGroups and fsGroup from the pod's.
fn user_request(pod: &Value, spec: &Value, image_user: &str) -> UserRequest {
    let pod_sc = &pod["spec"]["securityContext"];
    let sc = &spec["securityContext"];
    let pick = |field: &str| sc[field].as_i64().or_else(|| pod_sc[field].as_i64());
    UserRequest {
        image_user: image_user.to_string(),
        run_as_user: pick("runAsUser"),
        run_as_group: pick("runAsGroup"),
        supplemental_groups: pod_sc["supplementalGroups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
            .collect(),
        fs_group: pod_sc["fsGroup"].as_i64(),
    }
}

/// cgroup limits from `resources.limits`.
fn limits(spec: &Value) -> Limits {
    let l = &spec["resources"]["limits"];
    let nanos = |v: &Value| v.as_str().and_then(parse_quantity);
    Limits {
        memory_bytes: nanos(&l["memory"])
            .map(|n| (n / 1_000_000_000).max(0) as u64)
            .filter(|b| *b > 0),
        cpu_millis: nanos(&l["cpu"])
            .map(|n| (n / 1_000_000).max(0) as u64)
            .filter(|m| *m > 0),
        pids: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_come_from_quantities() {
        let spec = json!({"resources": {"limits": {"memory": "64Mi", "cpu": "250m"}}});
        assert_eq!(
            limits(&spec),
            Limits {
                memory_bytes: Some(64 << 20),
                cpu_millis: Some(250),
                pids: None
            }
        );
        assert_eq!(limits(&json!({})), Limits::default());
    }

    #[test]
    fn container_security_context_wins_over_the_pod() {
        let pod = json!({"spec": {"securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4000]}}});
        let spec = json!({"securityContext": {"runAsUser": 2000}});
        let r = user_request(&pod, &spec, "nginx");
        assert_eq!(r.run_as_user, Some(2000));
        assert_eq!(r.run_as_group, Some(3000));
        assert_eq!(r.supplemental_groups, vec![4000]);
        assert_eq!(r.image_user, "nginx");
    }

    #[test]
    fn logs_follow_the_kubelet_layout() {
        let pod = json!({"metadata": {"namespace": "default", "name": "web", "uid": "u-1"}});
        assert_eq!(
            log_path(std::path::Path::new("/var/lib/k1s"), &pod, "nginx", 2),
            PathBuf::from("/var/lib/k1s/logs/default_web_u-1/nginx/2.log")
        );
    }
}
