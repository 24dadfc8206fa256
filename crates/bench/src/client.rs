//! The HTTPS client: the cluster CA pinned (no other roots), the admin
//! bearer token, keep-alive connections to 127.0.0.1 only.

use anyhow::{bail, Context};
use bytes::Bytes;
use reqwest::{Method, StatusCode, Version};
use serde_json::Value;
use std::time::Duration;

/// A bound on every ordinary request; watches set none.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(ca_pem: &[u8], token: &str, port: u16, http2: bool) -> anyhow::Result<Client> {
        let ca = reqwest::Certificate::from_pem(ca_pem).context("parsing the cluster CA")?;
        let mut headers = reqwest::header::HeaderMap::new();
        let auth = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .context("token is not a valid header value")?;
        headers.insert(reqwest::header::AUTHORIZATION, auth);
        headers.insert(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca)
            .default_headers(headers)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(300));
        b = if http2 {
            b.http2_adaptive_window(true)
        } else {
            b.http1_only()
        };
        Ok(Client {
            http: b.build().context("building the HTTPS client")?,
            base: format!("https://127.0.0.1:{port}"),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// One request with a JSON body (or none); the whole response body is read.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let mut req = self
            .http
            .request(method, self.url(path))
            .timeout(REQUEST_TIMEOUT);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(b)?);
        }
        let resp = req.send().await?;
        let status = resp.status();
        Ok((status, resp.bytes().await?))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
        self.call(Method::GET, path, None).await
    }

    /// The protocol a plain GET of `path` was answered over.
    pub async fn version_of(&self, path: &str) -> anyhow::Result<Version> {
        let resp = self
            .http
            .get(self.url(path))
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await?;
        let v = resp.version();
        resp.bytes().await?;
        Ok(v)
    }

    /// POSTs `body` to `path`, requiring 201 Created.
    pub async fn create(&self, path: &str, body: &Value) -> anyhow::Result<Bytes> {
        let (status, bytes) = self.call(Method::POST, path, Some(body)).await?;
        if status != StatusCode::CREATED {
            bail!("POST {path}: {status}: {}", truncate(&bytes, 400));
        }
        Ok(bytes)
    }

    /// Opens a watch stream; returns once the response headers are in.
    pub async fn watch(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        // No timeout on the stream itself, only on getting its headers.
        let resp = tokio::time::timeout(REQUEST_TIMEOUT, self.http.get(self.url(path)).send())
            .await
            .with_context(|| format!("GET {path}: no response headers in {REQUEST_TIMEOUT:?}"))??;
        if resp.status() != StatusCode::OK {
            let status = resp.status();
            let body = resp.bytes().await.unwrap_or_default();
            bail!("GET {path}: {status}: {}", truncate(&body, 400));
        }
        Ok(resp)
    }
}

/// The start of a response body, for error messages.
pub fn truncate(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]);
    text.trim().to_string()
}

pub fn version_name(v: Version) -> &'static str {
    match v {
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_11 => "HTTP/1.1 keep-alive",
        Version::HTTP_10 => "HTTP/1.0",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_bodies_for_messages() {
        assert_eq!(truncate(b"  short  ", 100), "short");
        assert_eq!(truncate(b"abcdef", 3), "abc");
        assert_eq!(truncate(&[0xff, b'a'], 10), "\u{fffd}a");
    }

    #[test]
    fn names_protocols() {
        assert_eq!(version_name(Version::HTTP_2), "HTTP/2");
        assert_eq!(version_name(Version::HTTP_11), "HTTP/1.1 keep-alive");
    }
}
