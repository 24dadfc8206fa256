//! OCI and Docker v2 manifest, index and image-config documents, and the
//! linux/amd64 platform choice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::digest::Digest;
use super::error::{ImageError, Result};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Annotation with the full image name (containerd, BuildKit, docker save).
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
/// OCI annotation: a tag, or with some tools a full reference.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Manifests and indexes larger than this are refused (containerd uses 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// The Accept header for manifest requests: indexes first, then manifests.
pub fn manifest_accept() -> String {
    [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST].join(", ")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
}

impl Platform {
    pub fn linux_amd64() -> Platform {
        Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
            os_version: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            platform: None,
            annotations: None,
            urls: None,
        }
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// The image configuration blob (only the parts a runtime needs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfigFile {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ImageConfig>,
    pub rootfs: RootFs,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// The process defaults an image carries (Dockerfile ENTRYPOINT, CMD, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "null_as_none"
    )]
    pub env: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "null_as_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "null_as_none"
    )]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

fn null_as_none<'de, D>(d: D) -> std::result::Result<Option<Vec<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<Vec<String>>::deserialize(d)
}

/// A manifest-like document fetched by reference.
#[derive(Debug, Clone)]
pub enum Document {
    Index(Index),
    Manifest(Box<Manifest>),
}

/// Parses a manifest or index, deciding by the declared media type (from
/// the registry's Content-Type or the descriptor), else by the document's
/// own `mediaType`, else by its shape.
pub fn parse_document(media_type: Option<&str>, bytes: &[u8]) -> Result<Document> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ImageError::invalid(format!(
            "manifest too large: {} bytes",
            bytes.len()
        )));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ImageError::invalid(format!("invalid manifest JSON: {e}")))?;
    let declared = media_type
        .map(|m| m.split(';').next().unwrap_or_default().trim().to_string())
        .filter(|m| !m.is_empty() && m != "application/json" && m != "application/octet-stream")
        .or_else(|| {
            value
                .get("mediaType")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        });
    let is_index = match declared.as_deref() {
        Some(OCI_INDEX) | Some(DOCKER_LIST) => true,
        Some(OCI_MANIFEST) | Some(DOCKER_MANIFEST) => false,
        Some(other) if other.contains("manifest.v1") => {
            return Err(ImageError::invalid(format!(
                "unsupported manifest media type {other} (schema 1)"
            )))
        }
        Some(other) if value.get("manifests").is_none() && value.get("config").is_none() => {
            return Err(ImageError::invalid(format!(
                "unsupported manifest media type {other}"
            )))
        }
        _ => value.get("manifests").is_some(),
    };
    if is_index {
        serde_json::from_value(value)
            .map(Document::Index)
            .map_err(|e| ImageError::invalid(format!("invalid image index: {e}")))
    } else {
        serde_json::from_value(value)
            .map(|m| Document::Manifest(Box::new(m)))
            .map_err(|e| ImageError::invalid(format!("invalid image manifest: {e}")))
    }
}

pub fn parse_config(bytes: &[u8]) -> Result<ImageConfigFile> {
    serde_json::from_slice(bytes)
        .map_err(|e| ImageError::invalid(format!("invalid image config: {e}")))
}

/// Picks the manifest for `want` from an index like containerd's default
/// matcher: same os and architecture; for amd64 the variant is ignored.
/// Attestation entries (`unknown/unknown`) never match. An index with a
/// single entry without a platform (common in hand-made OCI layouts) is
/// taken as is.
pub fn select_platform<'a>(index: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    let matching = index.manifests.iter().find(|d| match &d.platform {
        Some(p) => p.os == want.os && p.architecture == want.architecture && variant_ok(p, want),
        None => false,
    });
    matching.or_else(|| match index.manifests.as_slice() {
        [only] if only.platform.is_none() => Some(only),
        _ => None,
    })
}

fn variant_ok(have: &Platform, want: &Platform) -> bool {
    match (&want.variant, &have.variant) {
        (None, _) => true,
        (Some(w), Some(h)) => w == h,
        (Some(_), None) => true,
    }
}

/// Layer compression, read from the first bytes (more reliable than media
/// types, which docker archives do not carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    pub fn docker_media_type(self) -> &'static str {
        match self {
            Compression::Gzip => DOCKER_LAYER_GZIP,
            // Docker has no zstd layer type; OCI's is understood everywhere.
            Compression::Zstd => OCI_LAYER_ZSTD,
            Compression::None => DOCKER_LAYER,
        }
    }

    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::Gzip => OCI_LAYER_GZIP,
            Compression::Zstd => OCI_LAYER_ZSTD,
            Compression::None => OCI_LAYER,
        }
    }
}

/// Whether a layer descriptor is something we unpack (foreign Windows
/// layers and unknown artifacts are not).
pub fn is_layer_media_type(m: &str) -> bool {
    matches!(
        m,
        OCI_LAYER | OCI_LAYER_GZIP | OCI_LAYER_ZSTD | DOCKER_LAYER | DOCKER_LAYER_GZIP
    ) || m == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
        || m == "application/vnd.oci.image.layer.nondistributable.v1.tar"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> Digest {
        Digest::of(&[n])
    }

    fn plat(os: &str, arch: &str, variant: Option<&str>) -> Option<Platform> {
        Some(Platform {
            architecture: arch.into(),
            os: os.into(),
            variant: variant.map(str::to_string),
            os_version: None,
        })
    }

    fn index(entries: Vec<(u8, Option<Platform>)>) -> Index {
        Index {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: entries
                .into_iter()
                .map(|(n, p)| Descriptor {
                    platform: p,
                    ..Descriptor::new(OCI_MANIFEST, d(n), 10)
                })
                .collect(),
            annotations: None,
        }
    }

    #[test]
    fn picks_linux_amd64() {
        let idx = index(vec![
            (1, plat("linux", "arm64", Some("v8"))),
            (2, plat("unknown", "unknown", None)),
            (3, plat("windows", "amd64", None)),
            (4, plat("linux", "amd64", None)),
            (5, plat("linux", "amd64", Some("v2"))),
        ]);
        assert_eq!(
            select_platform(&idx, &Platform::linux_amd64()).map(|x| x.digest.clone()),
            Some(d(4))
        );
        let arm_only = index(vec![(1, plat("linux", "arm64", None))]);
        assert_eq!(select_platform(&arm_only, &Platform::linux_amd64()), None);
        let bare = index(vec![(7, None)]);
        assert_eq!(
            select_platform(&bare, &Platform::linux_amd64()).map(|x| x.digest.clone()),
            Some(d(7))
        );
        let attest_only = index(vec![(1, plat("linux", "arm64", None)), (2, None)]);
        assert_eq!(
            select_platform(&attest_only, &Platform::linux_amd64()),
            None
        );
    }

    #[test]
    fn parses_by_media_type_or_shape() {
        let m = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{DOCKER_CONFIG}","digest":"{}","size":3}},"layers":[]}}"#,
            d(1)
        );
        assert!(matches!(
            parse_document(None, m.as_bytes()),
            Ok(Document::Manifest(_))
        ));
        assert!(matches!(
            parse_document(
                Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8"),
                m.as_bytes()
            ),
            Ok(Document::Manifest(_))
        ));
        let i = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":3}}]}}"#,
            d(2)
        );
        assert!(matches!(
            parse_document(Some("application/json"), i.as_bytes()),
            Ok(Document::Index(_))
        ));
        let v1 = r#"{"schemaVersion":1,"name":"x"}"#;
        let err = parse_document(
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
            v1.as_bytes(),
        );
        assert_eq!(
            err.map(|_| ()).map_err(|e| e.to_string()),
            Err("unsupported manifest media type application/vnd.docker.distribution.manifest.v1+prettyjws (schema 1)"
                .to_string())
        );
        assert!(parse_document(None, b"{").is_err());
    }

    #[test]
    fn config_with_nulls() {
        let c = br#"{"architecture":"amd64","os":"linux","config":{"Env":null,"Cmd":["sh"],"Entrypoint":null,"WorkingDir":"/w","User":"1:2"},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let cfg = parse_config(c).expect("config");
        let ic = cfg.config.expect("inner");
        assert_eq!(ic.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(ic.env, None);
        assert_eq!(ic.entrypoint, None);
        assert_eq!(ic.working_dir, "/w");
        assert_eq!(ic.user, "1:2");
    }

    #[test]
    fn sniffs_compression() {
        assert_eq!(Compression::sniff(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::sniff(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Compression::Zstd
        );
        assert_eq!(Compression::sniff(b"bin/"), Compression::None);
        assert_eq!(Compression::sniff(b""), Compression::None);
    }
}
