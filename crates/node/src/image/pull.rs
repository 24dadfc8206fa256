//! A small OCI distribution client: manifest and index negotiation, Bearer
//! token auth, verified blob downloads, linux/amd64 selection, and the
//! minimal push (blob upload + manifest PUT) that tests and tools use.
//!
//! Error texts follow containerd's, since the kubelet shows them in pod
//! status (`failed to resolve reference "…": …: not found`).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use super::auth::{parse_challenges, Challenge};
use super::digest::Digest;
use super::error::{ImageError, IoContext, Result};
use super::import::{check_layers, Resolved};
use super::manifest::{self, Descriptor, Document, Platform, MAX_MANIFEST_BYTES};
use super::reference::{Reference, DEFAULT_DOMAIN};
use super::store::BlobStore;

/// Docker Hub's API host for the `docker.io` name.
const DOCKER_HUB_HOST: &str = "registry-1.docker.io";
const USER_AGENT: &str = concat!("k1s/", env!("CARGO_PKG_VERSION"));

pub struct RegistryClient {
    http: reqwest::Client,
    /// Bearer tokens by "host/repository:actions".
    tokens: Mutex<HashMap<String, String>>,
    /// Hosts spoken to over plain HTTP besides loopback ones.
    plain_http: Vec<String>,
}

impl RegistryClient {
    pub fn new() -> Result<RegistryClient> {
        RegistryClient::with_plain_http(Vec::new())
    }

    /// Loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`) always use
    /// plain HTTP, as Docker treats them as insecure by default; more hosts
    /// can be listed here.
    pub fn with_plain_http(plain_http: Vec<String>) -> Result<RegistryClient> {
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ImageError::Registry(format!("building HTTP client: {e}")))?;
        Ok(RegistryClient {
            http,
            tokens: Mutex::new(HashMap::new()),
            plain_http,
        })
    }

    /// `https://registry-1.docker.io` for docker.io, `http://` for loopback.
    pub fn base_url(&self, domain: &str) -> String {
        if domain == DEFAULT_DOMAIN {
            return format!("https://{DOCKER_HUB_HOST}");
        }
        let host = host_of(domain);
        let plain = host == "localhost"
            || host.starts_with("127.")
            || host == "::1"
            || self.plain_http.iter().any(|h| h == domain || h == host);
        format!("{}://{domain}", if plain { "http" } else { "https" })
    }

    fn repo_url(&self, r: &Reference) -> String {
        format!("{}/v2/{}", self.base_url(r.domain()), r.path())
    }

    /// Sends a request, answering one Bearer challenge with a token.
    async fn send(
        &self,
        r: &Reference,
        actions: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let key = format!("{}/{}:{actions}", r.domain(), r.path());
        let cached = self.tokens.lock().ok().and_then(|t| t.get(&key).cloned());
        let mut req = build(&self.http);
        if let Some(t) = &cached {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        let resp = req.send().await.map_err(request_error)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenges: Vec<Challenge> = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") else {
            return Ok(resp);
        };
        let scope = format!("repository:{}:{actions}", r.path());
        let token = self.fetch_token(bearer, &scope).await?;
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(key, token.clone());
        }
        build(&self.http)
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .send()
            .await
            .map_err(request_error)
    }

    /// Anonymous token from the challenge's realm (the registry token
    /// protocol: GET realm?service=…&scope=… → {"token": …}).
    async fn fetch_token(&self, ch: &Challenge, scope: &str) -> Result<String> {
        let realm = ch
            .param("realm")
            .ok_or_else(|| ImageError::Registry("bearer challenge without realm".into()))?;
        let mut url = reqwest::Url::parse(realm)
            .map_err(|e| ImageError::Registry(format!("invalid token realm {realm:?}: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = ch.param("service") {
                q.append_pair("service", s);
            }
            q.append_pair("scope", ch.param("scope").unwrap_or(scope));
        }
        let resp = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(request_error)?;
        if !resp.status().is_success() {
            return Err(ImageError::Registry(format!(
                "failed to fetch anonymous token: unexpected status from GET request to {url}: {}",
                status_text(resp.status())
            )));
        }
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| ImageError::Registry(format!("failed to decode token response: {e}")))?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| ImageError::Registry("token response has no token".into()))
    }

    /// Fetches a manifest or index by tag or digest; verifies it against
    /// the digest when asked by digest, else against Docker-Content-Digest.
    pub async fn fetch_manifest(
        &self,
        r: &Reference,
        reference: &str,
    ) -> Result<(Vec<u8>, Option<String>)> {
        let url = format!("{}/manifests/{reference}", self.repo_url(r));
        let resp = self
            .send(r, "pull", |c| {
                c.get(&url).header(ACCEPT, manifest::manifest_accept())
            })
            .await?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Err(ImageError::NotFound(r.with_ref(reference)));
        }
        if !status.is_success() {
            return Err(status_error(r, "GET", &url, resp).await);
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Digest::parse(v).ok());
        let body = read_limited(resp, MAX_MANIFEST_BYTES).await?;
        let actual = Digest::of(&body);
        let expected = Digest::parse(reference).ok().or(header_digest);
        if let Some(want) = expected {
            if want != actual {
                return Err(ImageError::DigestMismatch {
                    expected: want,
                    actual,
                });
            }
        }
        Ok((body, content_type))
    }

    /// Downloads a blob into the store unless it is there, verifying size
    /// and digest. Returns its size.
    pub async fn fetch_blob(
        &self,
        r: &Reference,
        desc: &Descriptor,
        blobs: &BlobStore,
    ) -> Result<u64> {
        if let Some(n) = blobs
            .contains(&desc.digest)
            .then(|| blobs.size(&desc.digest))
            .flatten()
        {
            return Ok(n);
        }
        let url = format!("{}/blobs/{}", self.repo_url(r), desc.digest);
        let mut resp = self.send(r, "pull", |c| c.get(&url)).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(ImageError::NotFound(r.with_ref(&desc.digest.to_string())));
        }
        if !resp.status().is_success() {
            return Err(status_error(r, "GET", &url, resp).await);
        }
        let mut w = blobs.writer()?;
        while let Some(chunk) = resp.chunk().await.map_err(request_error)? {
            w.write_all(&chunk)
                .ctx(|| format!("writing blob {}", desc.digest))?;
            if w.len() > desc.size {
                return Err(ImageError::SizeMismatch {
                    digest: desc.digest.clone(),
                    expected: desc.size,
                    actual: w.len(),
                });
            }
        }
        Ok(w.commit(Some(&desc.digest), Some(desc.size))?.1)
    }

    /// Uploads a blob (monolithic POST + PUT) unless the registry has it.
    pub async fn push_blob(&self, r: &Reference, bytes: &[u8]) -> Result<Digest> {
        let d = Digest::of(bytes);
        let head_url = format!("{}/blobs/{d}", self.repo_url(r));
        let head = self.send(r, "pull,push", |c| c.head(&head_url)).await?;
        if head.status().is_success() {
            return Ok(d);
        }
        let start = format!("{}/blobs/uploads/", self.repo_url(r));
        let resp = self.send(r, "pull,push", |c| c.post(&start)).await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(status_error(r, "POST", &start, resp).await);
        }
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ImageError::Registry("upload response without Location".into()))?;
        let base = reqwest::Url::parse(&start).map_err(|e| ImageError::Registry(e.to_string()))?;
        let mut put_url = base
            .join(location)
            .map_err(|e| ImageError::Registry(format!("bad Location: {e}")))?;
        put_url
            .query_pairs_mut()
            .append_pair("digest", &d.to_string());
        let body = bytes.to_vec();
        let resp = self
            .send(r, "pull,push", |c| {
                c.request(Method::PUT, put_url.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(body.clone())
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(r, "PUT", put_url.as_str(), resp).await);
        }
        Ok(d)
    }

    /// PUTs a manifest under `r`'s tag (or digest).
    pub async fn push_manifest(
        &self,
        r: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        let url = format!("{}/manifests/{}", self.repo_url(r), r.manifest_ref());
        let body = bytes.to_vec();
        let resp = self
            .send(r, "pull,push", |c| {
                c.put(&url)
                    .header(CONTENT_TYPE, media_type)
                    .body(body.clone())
            })
            .await?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(r, "PUT", &url, resp).await);
        }
        Ok(Digest::of(bytes))
    }
}

/// Resolves `r` to its linux/amd64 image and downloads what is missing.
pub async fn pull(client: &RegistryClient, blobs: &BlobStore, r: &Reference) -> Result<Resolved> {
    let resolve_err = |e: ImageError| match e {
        ImageError::NotFound(m) => {
            ImageError::NotFound(format!("failed to resolve reference \"{r}\": {m}"))
        }
        other => ImageError::Registry(format!("failed to resolve reference \"{r}\": {other}")),
    };
    let (bytes, content_type) = client
        .fetch_manifest(r, &r.manifest_ref())
        .await
        .map_err(resolve_err)?;
    let target = blobs.put_bytes(&bytes, None)?;
    let mut size = bytes.len() as u64;
    let doc = manifest::parse_document(content_type.as_deref(), &bytes)?;
    let target_media_type = media_type_of(content_type.as_deref(), &doc);
    let (manifest_digest, m) = match doc {
        Document::Manifest(m) => (target.clone(), *m),
        Document::Index(idx) => {
            let chosen = manifest::select_platform(&idx, &Platform::linux_amd64())
                .ok_or_else(|| ImageError::NotFound("no match for platform in manifest".into()))?
                .clone();
            let (mbytes, ctype) = client.fetch_manifest(r, &chosen.digest.to_string()).await?;
            let d = blobs.put_bytes(&mbytes, Some(&chosen.digest))?;
            size += mbytes.len() as u64;
            match manifest::parse_document(ctype.as_deref().or(Some(&chosen.media_type)), &mbytes)?
            {
                Document::Manifest(m) => (d, *m),
                Document::Index(_) => {
                    return Err(ImageError::invalid(
                        "nested image indexes are not supported",
                    ))
                }
            }
        }
    };
    size += client.fetch_blob(r, &m.config, blobs).await?;
    for layer in &m.layers {
        if !manifest::is_layer_media_type(&layer.media_type) {
            continue;
        }
        size += client.fetch_blob(r, layer, blobs).await?;
    }
    check_layers(blobs, &m, &m.config.digest)?;
    Ok(Resolved {
        target,
        target_media_type,
        manifest: manifest_digest,
        config: m.config.digest.clone(),
        size,
    })
}

fn media_type_of(content_type: Option<&str>, doc: &Document) -> String {
    let declared = content_type.map(|c| c.split(';').next().unwrap_or_default().trim().to_string());
    match (declared, doc) {
        (Some(c), _) if c.starts_with("application/vnd.") => c,
        (_, Document::Index(i)) => i
            .media_type
            .clone()
            .unwrap_or_else(|| manifest::OCI_INDEX.into()),
        (_, Document::Manifest(m)) => m
            .media_type
            .clone()
            .unwrap_or_else(|| manifest::OCI_MANIFEST.into()),
    }
}

fn host_of(domain: &str) -> &str {
    if let Some(rest) = domain.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    domain.split(':').next().unwrap_or(domain)
}

fn request_error(e: reqwest::Error) -> ImageError {
    ImageError::Registry(format!("failed to do request: {e}"))
}

fn status_text(s: StatusCode) -> String {
    format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
}

/// An error for an unexpected status, with the registry's own message
/// (`{"errors":[{"code":…,"message":…}]}`) when it sent one.
async fn status_error(
    r: &Reference,
    method: &str,
    url: &str,
    resp: reqwest::Response,
) -> ImageError {
    let status = resp.status();
    let body = resp.bytes().await.unwrap_or_default();
    let server = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("errors")?.as_array()?.first().cloned())
        .map(|e| {
            let code = e
                .get("code")
                .and_then(|c| c.as_str())
                .unwrap_or_default()
                .to_lowercase();
            let msg = e
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or_default();
            format!("{code}: {msg}")
        });
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        let tail = server
            .map(|s| format!(": server message: {s}"))
            .unwrap_or_default();
        if method == "GET" || method == "HEAD" {
            return ImageError::Registry(format!(
                "pull access denied, repository does not exist or may require authorization{tail}"
            ));
        }
        return ImageError::Registry(format!("push access denied for {r}{tail}"));
    }
    let tail = server.map(|s| format!(": {s}")).unwrap_or_default();
    ImageError::Registry(format!(
        "unexpected status from {method} request to {url}: {}{tail}",
        status_text(status)
    ))
}

async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(request_error)? {
        out.extend_from_slice(&chunk);
        if out.len() > limit {
            return Err(ImageError::invalid(format!(
                "manifest larger than {limit} bytes"
            )));
        }
    }
    Ok(out)
}

impl Reference {
    /// `name:tag` or `name@digest` for messages about one request.
    fn with_ref(&self, reference: &str) -> String {
        if reference.contains(':') {
            format!("{}@{reference}", self.name())
        } else {
            format!("{}:{reference}", self.name())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let c = RegistryClient::with_plain_http(vec!["reg.lab:5000".into()]).expect("client");
        let cases = [
            ("docker.io", "https://registry-1.docker.io"),
            ("quay.io", "https://quay.io"),
            ("localhost:5000", "http://localhost:5000"),
            ("localhost", "http://localhost"),
            ("127.0.0.1:5000", "http://127.0.0.1:5000"),
            ("[::1]:5000", "http://[::1]:5000"),
            ("reg.lab:5000", "http://reg.lab:5000"),
            ("reg.lab", "https://reg.lab"),
            ("10.0.0.1:5000", "https://10.0.0.1:5000"),
        ];
        for (domain, want) in cases {
            assert_eq!(c.base_url(domain), want, "{domain}");
        }
    }

    #[test]
    fn request_names() {
        let r = Reference::parse("nginx").expect("ref");
        assert_eq!(r.with_ref("latest"), "docker.io/library/nginx:latest");
        let d = Digest::of(b"x");
        assert_eq!(
            r.with_ref(&d.to_string()),
            format!("docker.io/library/nginx@{d}")
        );
    }
}
