//! What each pod volume holds, as a pure plan, following the kubelet's
//! volume plugins:
//!
//! - emptyDir: an empty directory (0777); `medium: Memory` is a tmpfs;
//! - configMap / secret (`MakePayload`): every key as a file, or only the
//!   listed `items` at their paths; `defaultMode` (API default 0644) or the
//!   item's `mode`; a missing object or key fails the mount unless
//!   `optional`; secrets live on tmpfs like the kubelet's wrapper;
//! - downwardAPI (`CollectData`): metadata fieldRefs and resourceFieldRefs
//!   as files (tmpfs);
//! - projected: secret, configMap and downwardAPI sources merged (tmpfs),
//!   each source's errors collected like the kubelet; serviceAccountToken
//!   needs a `TokenSource`, without one it is skipped with a warning;
//! - hostPath: a host path and the type check to run before mounting
//!   (`hostPath type check failed: /x is not a directory`).
//!
//! Errors read like the kubelet's FailedMount events:
//! `MountVolume.SetUp failed for volume "x" : configmap "y" not found`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::downward::{metadata_field_value, resource_field_value, PodRuntime};
use super::objects::{lookup_data, not_found, PodObjects, SourceKind};
use super::{flag, items, text};

/// The API's default for defaultMode/mode (0644).
pub const DEFAULT_FILE_MODE: u32 = 0o644;
const DEFAULT_TOKEN_EXPIRATION_SECONDS: i64 = 3600;
const MAX_FILE_NAME_LENGTH: usize = 255;
const MAX_PATH_LENGTH: usize = 4096;

/// One file of a volume, relative to the volume directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeFile {
    pub relative_path: String,
    pub bytes: Vec<u8>,
    pub mode: u32,
}

/// What a volume holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeContent {
    /// An empty directory the containers share.
    EmptyDir,
    /// Files written by the kubelet (configMap, secret, downwardAPI, projected).
    Files(Vec<VolumeFile>),
    /// A path of the host, checked against its type before mounting.
    HostPath {
        path: String,
        path_type: HostPathType,
    },
}

/// The plan of one volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumePlan {
    pub name: String,
    pub content: VolumeContent,
    /// The volume directory is a tmpfs (the caller mounts it before
    /// `materialize` writes into it).
    pub memory_backed: bool,
    /// emptyDir `sizeLimit` as written (tmpfs size for memory volumes).
    pub size_limit: Option<String>,
    /// Mounted read-only whatever the volumeMount says (the kubelet's
    /// plugins for configMap, secret, downwardAPI and projected).
    pub read_only: bool,
    /// Warnings for the pod's events (e.g. a skipped token projection).
    pub warnings: Vec<String>,
}

impl VolumePlan {
    /// Where the volume lives: an absolute host path for hostPath, else
    /// `volumes/<name>` relative to the pod directory.
    pub fn source(&self) -> PathBuf {
        match &self.content {
            VolumeContent::HostPath { path, .. } => PathBuf::from(path),
            _ => Path::new("volumes").join(&self.name),
        }
    }

    /// `source()` resolved against the pod directory.
    pub fn host_dir(&self, pod_dir: &Path) -> PathBuf {
        pod_dir.join(self.source())
    }
}

/// A volume that cannot be set up; Display is the FailedMount message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume \"{volume}\" : {message}")]
pub struct VolumeError {
    pub volume: String,
    pub message: String,
}

/// Issues service account tokens for projected volumes (the TokenRequest API).
pub trait TokenSource {
    fn token(&self, pod: &Value, audience: &str, expiration_seconds: i64)
        -> Result<String, String>;
}

/// `spec.volumes[].hostPath.type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPathType {
    Unset,
    DirectoryOrCreate,
    Directory,
    FileOrCreate,
    File,
    Socket,
    CharDevice,
    BlockDevice,
}

impl HostPathType {
    fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "" => Self::Unset,
            "DirectoryOrCreate" => Self::DirectoryOrCreate,
            "Directory" => Self::Directory,
            "FileOrCreate" => Self::FileOrCreate,
            "File" => Self::File,
            "Socket" => Self::Socket,
            "CharDevice" => Self::CharDevice,
            "BlockDevice" => Self::BlockDevice,
            other => return Err(format!("{other} is an invalid volume type")),
        })
    }
}

/// What a host path turned out to be (from stat, following symlinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostFileKind {
    Directory,
    File,
    Socket,
    CharDevice,
    BlockDevice,
    Other,
}

/// What the type check asks the caller to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPathAction {
    Nothing,
    CreateDirectory,
    CreateFile,
}

/// `checkTypeInternal` over what `stat` said (`None`: the path is absent).
pub fn host_path_check(
    path: &str,
    path_type: &HostPathType,
    observed: Option<HostFileKind>,
) -> Result<HostPathAction, String> {
    let is = |kind: HostFileKind| observed == Some(kind);
    let fail = |what: &str| {
        Err(format!(
            "hostPath type check failed: {path} is not a {what}"
        ))
    };
    match path_type {
        HostPathType::Unset => Ok(HostPathAction::Nothing),
        HostPathType::DirectoryOrCreate if observed.is_none() => {
            Ok(HostPathAction::CreateDirectory)
        }
        HostPathType::DirectoryOrCreate | HostPathType::Directory => {
            if is(HostFileKind::Directory) {
                Ok(HostPathAction::Nothing)
            } else {
                fail("directory")
            }
        }
        HostPathType::FileOrCreate if observed.is_none() => Ok(HostPathAction::CreateFile),
        HostPathType::FileOrCreate | HostPathType::File => {
            if is(HostFileKind::File) {
                Ok(HostPathAction::Nothing)
            } else {
                fail("file")
            }
        }
        HostPathType::Socket if !is(HostFileKind::Socket) => fail("socket file"),
        HostPathType::CharDevice if !is(HostFileKind::CharDevice) => fail("character device"),
        HostPathType::BlockDevice if !is(HostFileKind::BlockDevice) => fail("block device"),
        _ => Ok(HostPathAction::Nothing),
    }
}

/// Plans every volume of the pod, in spec order.
pub fn plan_volumes(
    pod: &Value,
    rt: &PodRuntime,
    objects: &dyn PodObjects,
    tokens: Option<&dyn TokenSource>,
) -> Result<Vec<VolumePlan>, VolumeError> {
    items(&pod["spec"], "volumes")
        .iter()
        .map(|v| plan_volume(pod, v, rt, objects, tokens))
        .collect()
}

/// Plans one entry of `spec.volumes`.
pub fn plan_volume(
    pod: &Value,
    volume: &Value,
    rt: &PodRuntime,
    objects: &dyn PodObjects,
    tokens: Option<&dyn TokenSource>,
) -> Result<VolumePlan, VolumeError> {
    let name = text(volume, "name").to_string();
    let fail = |message: String| VolumeError {
        volume: name.clone(),
        message,
    };
    let mut plan = VolumePlan {
        name: name.clone(),
        content: VolumeContent::EmptyDir,
        memory_backed: false,
        size_limit: None,
        read_only: true,
        warnings: Vec::new(),
    };
    let namespace = text(&pod["metadata"], "namespace");
    if let Some(empty) = volume.get("emptyDir").filter(|v| v.is_object()) {
        plan.memory_backed = text(empty, "medium") == "Memory";
        plan.size_limit = empty["sizeLimit"].as_str().map(str::to_string);
        plan.read_only = false;
    } else if let Some(source) = volume.get("configMap").filter(|v| v.is_object()) {
        let payload = object_payload(
            objects,
            SourceKind::ConfigMap,
            namespace,
            text(source, "name"),
            source,
            default_mode(source),
        )
        .map_err(fail)?;
        plan.content = files(payload).map_err(fail)?;
    } else if let Some(source) = volume.get("secret").filter(|v| v.is_object()) {
        let payload = object_payload(
            objects,
            SourceKind::Secret,
            namespace,
            text(source, "secretName"),
            source,
            default_mode(source),
        )
        .map_err(fail)?;
        plan.content = files(payload).map_err(fail)?;
        plan.memory_backed = true;
    } else if let Some(source) = volume.get("downwardAPI").filter(|v| v.is_object()) {
        let payload = downward_payload(pod, source, rt, default_mode(source))
            .map_err(|errs| fail(aggregate(errs)))?;
        plan.content = files(payload).map_err(fail)?;
        plan.memory_backed = true;
    } else if let Some(source) = volume.get("projected").filter(|v| v.is_object()) {
        let payload = projected_payload(pod, source, rt, objects, tokens, &mut plan.warnings)
            .map_err(|errs| fail(aggregate(errs)))?;
        plan.content = files(payload).map_err(fail)?;
        plan.memory_backed = true;
    } else if let Some(source) = volume.get("hostPath").filter(|v| v.is_object()) {
        let path = text(source, "path").to_string();
        if Path::new(&path)
            .components()
            .any(|c| c == Component::ParentDir)
        {
            return Err(fail(format!(
                "invalid HostPath `{path}`: must not contain '..'"
            )));
        }
        let path_type = HostPathType::parse(text(source, "type")).map_err(fail)?;
        plan.content = VolumeContent::HostPath { path, path_type };
        plan.read_only = false;
    } else {
        return Err(fail("no volume plugin matched".to_string()));
    }
    Ok(plan)
}

type Payload = BTreeMap<String, (Vec<u8>, u32)>;

fn default_mode(source: &Value) -> u32 {
    mode_of(source, "defaultMode").unwrap_or(DEFAULT_FILE_MODE)
}

fn mode_of(v: &Value, key: &str) -> Option<u32> {
    v[key].as_u64().and_then(|m| u32::try_from(m).ok())
}

/// configmap/secret `MakePayload` (the object fetched first; a missing
/// optional object is an empty one).
fn object_payload(
    objects: &dyn PodObjects,
    kind: SourceKind,
    namespace: &str,
    name: &str,
    source: &Value,
    mode: u32,
) -> Result<Payload, String> {
    let optional = flag(source, "optional");
    let data = match lookup_data(objects, kind, namespace, name)? {
        Some(data) => data,
        None if optional => BTreeMap::new(),
        None => return Err(not_found(kind, name)),
    };
    let mut payload = Payload::new();
    let mappings = items(source, "items");
    if mappings.is_empty() {
        for (key, bytes) in data {
            payload.insert(key, (bytes, mode));
        }
        return Ok(payload);
    }
    for item in mappings {
        let key = text(item, "key");
        let Some(bytes) = data.get(key) else {
            if optional {
                continue;
            }
            return Err(match kind {
                SourceKind::ConfigMap => {
                    format!("configmap references non-existent config key: {key}")
                }
                SourceKind::Secret => format!("references non-existent secret key: {key}"),
            });
        };
        let file_mode = mode_of(item, "mode").unwrap_or(mode);
        payload.insert(text(item, "path").to_string(), (bytes.clone(), file_mode));
    }
    Ok(payload)
}

/// downwardapi `CollectData`: every item is tried; errors are collected.
fn downward_payload(
    pod: &Value,
    source: &Value,
    rt: &PodRuntime,
    mode: u32,
) -> Result<Payload, Vec<String>> {
    let mut payload = Payload::new();
    let mut errors = Vec::new();
    for item in items(source, "items") {
        let path = clean_path(text(item, "path"));
        let file_mode = mode_of(item, "mode").unwrap_or(mode);
        let value = if item["fieldRef"].is_object() {
            metadata_field_value(pod, text(&item["fieldRef"], "fieldPath"))
        } else if item["resourceFieldRef"].is_object() {
            resource_field_value(pod, None, &item["resourceFieldRef"], &rt.allocatable)
        } else {
            Ok(String::new())
        };
        match value {
            Ok(v) => {
                payload.insert(path, (v.into_bytes(), file_mode));
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(payload)
    } else {
        Err(errors)
    }
}

/// projected `collectData`: each source merged in order; a failing source
/// is skipped and its error collected.
fn projected_payload(
    pod: &Value,
    projected: &Value,
    rt: &PodRuntime,
    objects: &dyn PodObjects,
    tokens: Option<&dyn TokenSource>,
    warnings: &mut Vec<String>,
) -> Result<Payload, Vec<String>> {
    let mode = default_mode(projected);
    let namespace = text(&pod["metadata"], "namespace");
    let mut payload = Payload::new();
    let mut errors = Vec::new();
    for source in items(projected, "sources") {
        let part = if let Some(s) = source.get("secret").filter(|v| v.is_object()) {
            object_payload(
                objects,
                SourceKind::Secret,
                namespace,
                text(s, "name"),
                s,
                mode,
            )
            .map_err(|e| vec![e])
        } else if let Some(s) = source.get("configMap").filter(|v| v.is_object()) {
            object_payload(
                objects,
                SourceKind::ConfigMap,
                namespace,
                text(s, "name"),
                s,
                mode,
            )
            .map_err(|e| vec![e])
        } else if let Some(s) = source.get("downwardAPI").filter(|v| v.is_object()) {
            downward_payload(pod, s, rt, mode)
        } else if let Some(s) = source.get("serviceAccountToken").filter(|v| v.is_object()) {
            let path = text(s, "path").to_string();
            let expiration = s["expirationSeconds"]
                .as_i64()
                .unwrap_or(DEFAULT_TOKEN_EXPIRATION_SECONDS);
            match tokens {
                Some(t) => t
                    .token(pod, text(s, "audience"), expiration)
                    .map(|token| Payload::from([(path, (token.into_bytes(), mode))]))
                    .map_err(|e| vec![e]),
                None => {
                    warnings.push(format!(
                        "serviceAccountToken projection {path:?} skipped: k1s has no token issuer"
                    ));
                    Ok(Payload::new())
                }
            }
        } else {
            Ok(Payload::new())
        };
        match part {
            Ok(p) => payload.extend(p),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(payload)
    } else {
        Err(errors)
    }
}

/// Go's utilerrors.NewAggregate(...).Error(): one message as is, several
/// (deduplicated) in brackets.
fn aggregate(errors: Vec<String>) -> String {
    let mut unique: Vec<String> = Vec::new();
    for e in errors {
        if !unique.contains(&e) {
            unique.push(e);
        }
    }
    if unique.len() == 1 {
        unique.remove(0)
    } else {
        format!("[{}]", unique.join(", "))
    }
}

/// The payload as files, paths checked and cleaned like AtomicWriter's
/// `validatePayload`.
fn files(payload: Payload) -> Result<VolumeContent, String> {
    let mut out: BTreeMap<String, VolumeFile> = BTreeMap::new();
    for (path, (bytes, mode)) in payload {
        validate_path(&path)?;
        let relative_path = clean_path(&path);
        out.insert(
            relative_path.clone(),
            VolumeFile {
                relative_path,
                bytes,
                mode,
            },
        );
    }
    Ok(VolumeContent::Files(out.into_values().collect()))
}

/// AtomicWriter's `validatePath`.
fn validate_path(target: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err(format!("invalid path: must not be empty: {target:?}"));
    }
    if target.starts_with('/') {
        return Err(format!("invalid path: must be relative path: {target}"));
    }
    if target.len() > MAX_PATH_LENGTH {
        return Err(format!(
            "invalid path: must be less than or equal to {MAX_PATH_LENGTH} characters"
        ));
    }
    let parts: Vec<&str> = target.split('/').collect();
    for part in &parts {
        if *part == ".." {
            return Err(format!("invalid path: must not contain '..': {target}"));
        }
        if part.len() > MAX_FILE_NAME_LENGTH {
            return Err(format!(
                "invalid path: filenames must be less than or equal to {MAX_FILE_NAME_LENGTH} characters"
            ));
        }
    }
    if parts[0].starts_with("..") && parts[0].len() > 2 {
        return Err(format!("invalid path: must not start with '..': {target}"));
    }
    Ok(())
}

/// Go's path.Clean for the relative paths volumes use.
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !p.starts_with('/') {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (p.starts_with('/'), joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::downward::NodeAllocatable;
    use crate::pod::objects::ObjectMap;
    use serde_json::json;

    fn objects() -> ObjectMap {
        ObjectMap::new()
            .with(json!({"kind": "ConfigMap", "metadata": {"namespace": "default", "name": "game-config"},
                "data": {"game.properties": "enemies=aliens\n", "ui.properties": "color.good=purple\n"},
                "binaryData": {"logo.bin": "AAE="}}))
            .with(json!({"kind": "Secret", "metadata": {"namespace": "default", "name": "mysecret"},
                "data": {"username": "YWRtaW4=", "password": "MWYyZDFlMmU2N2Rm"}}))
    }

    fn pod(volumes: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "default", "uid": "u",
                            "labels": {"app": "web"}},
               "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi"}}}],
                        "volumes": volumes}})
    }

    fn plan(volume: Value) -> Result<VolumePlan, VolumeError> {
        let p = pod(json!([volume.clone()]));
        plan_volume(&p, &volume, &PodRuntime::default(), &objects(), None)
    }

    fn file_list(plan: &VolumePlan) -> Vec<(String, String, u32)> {
        match &plan.content {
            VolumeContent::Files(files) => files
                .iter()
                .map(|f| {
                    (
                        f.relative_path.clone(),
                        String::from_utf8_lossy(&f.bytes).into_owned(),
                        f.mode,
                    )
                })
                .collect(),
            other => panic!("not files: {other:?}"),
        }
    }

    fn t(p: &str, c: &str, m: u32) -> (String, String, u32) {
        (p.to_string(), c.to_string(), m)
    }

    #[test]
    fn config_map_volumes() {
        let all = plan(json!({"name": "config", "configMap": {"name": "game-config"}})).unwrap();
        assert_eq!(
            file_list(&all),
            [
                t("game.properties", "enemies=aliens\n", 0o644),
                t("logo.bin", "\u{0}\u{1}", 0o644),
                t("ui.properties", "color.good=purple\n", 0o644),
            ]
        );
        assert!(all.read_only && !all.memory_backed);
        assert_eq!(all.source(), PathBuf::from("volumes/config"));
        let items = plan(
            json!({"name": "config", "configMap": {"name": "game-config", "defaultMode": 0o400,
            "items": [{"key": "game.properties", "path": "conf/game"},
                      {"key": "ui.properties", "path": "ui", "mode": 0o600}]}}),
        )
        .unwrap();
        assert_eq!(
            file_list(&items),
            [
                t("conf/game", "enemies=aliens\n", 0o400),
                t("ui", "color.good=purple\n", 0o600)
            ]
        );
        assert_eq!(
            plan(json!({"name": "config", "configMap": {"name": "nope"}}))
                .unwrap_err()
                .to_string(),
            "MountVolume.SetUp failed for volume \"config\" : configmap \"nope\" not found"
        );
        let optional =
            plan(json!({"name": "config", "configMap": {"name": "nope", "optional": true}}))
                .unwrap();
        assert_eq!(optional.content, VolumeContent::Files(vec![]));
        assert_eq!(
            plan(
                json!({"name": "config", "configMap": {"name": "game-config",
                "items": [{"key": "missing", "path": "m"}]}})
            )
            .unwrap_err()
            .message,
            "configmap references non-existent config key: missing"
        );
        assert_eq!(
            plan(
                json!({"name": "config", "configMap": {"name": "game-config",
                "items": [{"key": "ui.properties", "path": "../escape"}]}})
            )
            .unwrap_err()
            .message,
            "invalid path: must not contain '..': ../escape"
        );
    }

    #[test]
    fn secret_volumes() {
        let s = plan(json!({"name": "foo", "secret": {"secretName": "mysecret"}})).unwrap();
        assert_eq!(
            file_list(&s),
            [
                t("password", "1f2d1e2e67df", 0o644),
                t("username", "admin", 0o644)
            ]
        );
        assert!(s.memory_backed && s.read_only);
        assert_eq!(
            plan(json!({"name": "foo", "secret": {"secretName": "mysecret", "items": [{"key": "x", "path": "x"}]}}))
                .unwrap_err()
                .message,
            "references non-existent secret key: x"
        );
        assert_eq!(
            plan(json!({"name": "foo", "secret": {"secretName": "gone"}}))
                .unwrap_err()
                .message,
            "secret \"gone\" not found"
        );
    }

    #[test]
    fn downward_and_projected_volumes() {
        let d = plan(json!({"name": "podinfo", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "./name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "mem_limit", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}]}}))
        .unwrap();
        assert_eq!(
            file_list(&d),
            [
                t("labels", "app=\"web\"", 0o644),
                t("mem_limit", "64", 0o644),
                t("name", "p", 0o644)
            ]
        );
        let bad = plan(json!({"name": "podinfo", "downwardAPI": {"items": [
            {"path": "a", "fieldRef": {"fieldPath": "status.podIP"}},
            {"path": "b", "fieldRef": {"fieldPath": "spec.nodeName"}}]}}));
        assert_eq!(
            bad.unwrap_err().message,
            "[unsupported fieldPath: status.podIP, unsupported fieldPath: spec.nodeName]"
        );

        let projected = json!({"name": "all-in-one", "projected": {"defaultMode": 0o440, "sources": [
            {"secret": {"name": "mysecret", "items": [{"key": "username", "path": "my-group/my-username"}]}},
            {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
            {"configMap": {"name": "game-config", "items": [{"key": "ui.properties", "path": "my-group/ui"}]}},
            {"serviceAccountToken": {"path": "token", "audience": "api"}}]}});
        let p = plan(projected.clone()).unwrap();
        assert_eq!(
            file_list(&p),
            [
                t("labels", "app=\"web\"", 0o440),
                t("my-group/my-username", "admin", 0o440),
                t("my-group/ui", "color.good=purple\n", 0o440),
            ]
        );
        assert_eq!(
            p.warnings,
            ["serviceAccountToken projection \"token\" skipped: k1s has no token issuer"]
        );
        struct Issuer;
        impl TokenSource for Issuer {
            fn token(&self, _: &Value, audience: &str, exp: i64) -> Result<String, String> {
                Ok(format!("tok-{audience}-{exp}"))
            }
        }
        let pod = pod(json!([projected.clone()]));
        let with_token = plan_volume(
            &pod,
            &projected,
            &PodRuntime::default(),
            &objects(),
            Some(&Issuer),
        )
        .unwrap();
        assert!(file_list(&with_token).contains(&t("token", "tok-api-3600", 0o440)));
        // Every failing source is reported.
        let broken = plan(json!({"name": "x", "projected": {"sources": [
            {"secret": {"name": "gone"}}, {"configMap": {"name": "gone2"}},
            {"configMap": {"name": "gone3", "optional": true}}]}}));
        assert_eq!(
            broken.unwrap_err().message,
            "[secret \"gone\" not found, configmap \"gone2\" not found]"
        );
    }

    #[test]
    fn empty_dir_host_path_and_unknown() {
        let e =
            plan(json!({"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}))
                .unwrap();
        assert_eq!(e.content, VolumeContent::EmptyDir);
        assert!(e.memory_backed && !e.read_only);
        assert_eq!(e.size_limit.as_deref(), Some("64Mi"));
        let h =
            plan(json!({"name": "logs", "hostPath": {"path": "/var/log", "type": "Directory"}}))
                .unwrap();
        assert_eq!(h.source(), PathBuf::from("/var/log"));
        assert_eq!(h.host_dir(Path::new("/pods/u")), PathBuf::from("/var/log"));
        assert_eq!(
            plan(json!({"name": "l", "hostPath": {"path": "/x/../etc"}}))
                .unwrap_err()
                .message,
            "invalid HostPath `/x/../etc`: must not contain '..'"
        );
        assert_eq!(
            plan(json!({"name": "l", "hostPath": {"path": "/x", "type": "Fifo"}}))
                .unwrap_err()
                .message,
            "Fifo is an invalid volume type"
        );
        assert_eq!(
            plan(json!({"name": "data", "persistentVolumeClaim": {"claimName": "c"}}))
                .unwrap_err()
                .message,
            "no volume plugin matched"
        );
        let all = plan_volumes(
            &pod(json!([{"name": "a", "emptyDir": {}}, {"name": "b", "secret": {"secretName": "mysecret"}}])),
            &PodRuntime {
                allocatable: NodeAllocatable::default(),
                ..Default::default()
            },
            &objects(),
            None,
        )
        .unwrap();
        assert_eq!(
            all.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    /// kubelet's hostPath type table.
    #[test]
    fn host_path_type_checks() {
        use HostFileKind as K;
        use HostPathAction as A;
        use HostPathType as T;
        let check = |t: T, o: Option<K>| host_path_check("/x", &t, o);
        assert_eq!(check(T::Unset, None), Ok(A::Nothing));
        assert_eq!(check(T::DirectoryOrCreate, None), Ok(A::CreateDirectory));
        assert_eq!(
            check(T::DirectoryOrCreate, Some(K::Directory)),
            Ok(A::Nothing)
        );
        assert_eq!(
            check(T::DirectoryOrCreate, Some(K::File)),
            Err("hostPath type check failed: /x is not a directory".into())
        );
        assert_eq!(
            check(T::Directory, None),
            Err("hostPath type check failed: /x is not a directory".into())
        );
        assert_eq!(check(T::FileOrCreate, None), Ok(A::CreateFile));
        assert_eq!(check(T::File, Some(K::File)), Ok(A::Nothing));
        assert_eq!(
            check(T::File, Some(K::Directory)),
            Err("hostPath type check failed: /x is not a file".into())
        );
        assert_eq!(
            check(T::Socket, Some(K::File)),
            Err("hostPath type check failed: /x is not a socket file".into())
        );
        assert_eq!(check(T::Socket, Some(K::Socket)), Ok(A::Nothing));
        assert_eq!(
            check(T::CharDevice, None),
            Err("hostPath type check failed: /x is not a character device".into())
        );
        assert_eq!(
            check(T::BlockDevice, Some(K::CharDevice)),
            Err("hostPath type check failed: /x is not a block device".into())
        );
    }

    #[test]
    fn path_helpers() {
        assert_eq!(clean_path("./a//b/"), "a/b");
        assert_eq!(clean_path("a/../b"), "b");
        assert_eq!(clean_path(""), ".");
        assert!(validate_path("a..b/c").is_ok());
        assert_eq!(
            validate_path("..data").unwrap_err(),
            "invalid path: must not start with '..': ..data"
        );
        assert_eq!(
            validate_path("..hidden/x").unwrap_err(),
            "invalid path: must not start with '..': ..hidden/x"
        );
        assert_eq!(
            validate_path("/abs").unwrap_err(),
            "invalid path: must be relative path: /abs"
        );
    }
}
