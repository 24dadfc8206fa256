//! The HTTP probe (`pkg/probe/http`) as the kubelet runs it:
//!
//! - request: `GET <scheme>://<host or pod IP>:<port><path>`, headers from
//!   `httpHeaders` (a `Host` header sets the request's Host), then
//!   `User-Agent: kube-probe/1.32` and `Accept: */*` unless given (an empty
//!   Accept removes it), no compression, `Connection: close`;
//! - HTTPS without certificate verification (InsecureSkipVerify);
//! - redirects are followed to the same host name only, at most 10
//!   requests; a redirect elsewhere ends the probe with the 3xx response,
//!   which counts as success with a `Probe terminated redirects` warning;
//! - 200–399 is success, anything else `HTTP probe failed with statuscode:
//!   N`; transport errors fail with Go's `Get "<url>": …` text;
//! - one timeout covers the whole exchange, body included (at most 10 KiB
//!   of it is read).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{timeout_at, Instant};

use super::{
    dial_error, join_host_port, resolve_port, ProbeDialer, ProbeOutcome, MAX_PROBE_OUTPUT,
};
use crate::pod::downward::go_quote;
use crate::pod::{items, text};

/// `kube-<purpose>/<major>.<minor>` of the kubelet this node imitates.
pub const USER_AGENT: &str = "kube-probe/1.32";
/// Go's http.Client stops after this many requests in a redirect chain.
const MAX_REQUESTS: usize = 10;
const AWAITING_HEADERS: &str = "(Client.Timeout exceeded while awaiting headers)";

/// A probe URL, split the way Go's url.URL holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeUrl {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// The (escaped) path, possibly empty.
    pub path: String,
    pub query: Option<String>,
}

impl ProbeUrl {
    /// Go's `url.String()`.
    pub fn to_go_string(&self) -> String {
        let mut out = format!(
            "{}://{}",
            self.scheme,
            join_host_port(&self.host, self.port)
        );
        if !self.path.is_empty() && !self.path.starts_with('/') {
            out.push('/');
        }
        out.push_str(&self.path);
        if let Some(q) = &self.query {
            out.push('?');
            out.push_str(q);
        }
        out
    }

    /// The request target of the request line.
    fn request_target(&self) -> String {
        let mut out = match self.path.as_str() {
            "" => "/".to_string(),
            p if p.starts_with('/') => p.to_string(),
            p => format!("/{p}"),
        };
        if let Some(q) = &self.query {
            out.push('?');
            out.push_str(q);
        }
        out
    }

    /// Resolves a Location header against this URL.
    fn join(&self, location: &str) -> Result<ProbeUrl, String> {
        let location = location.split('#').next().unwrap_or("");
        let lower = location.to_ascii_lowercase();
        if let Some(idx) = lower
            .find("://")
            .filter(|i| lower[..*i].chars().all(|c| c.is_ascii_alphabetic()))
        {
            let scheme = lower[..idx].to_string();
            return parse_authority_and_path(&scheme, &location[idx + 3..]);
        }
        if let Some(rest) = location.strip_prefix("//") {
            return parse_authority_and_path(&self.scheme, rest);
        }
        let (path, query) = split_query(location);
        let path = if path.is_empty() {
            self.path.clone()
        } else if path.starts_with('/') {
            remove_dot_segments(path)
        } else {
            let base = match self.path.rfind('/') {
                Some(i) => &self.path[..=i],
                None => "/",
            };
            remove_dot_segments(&format!("{base}{path}"))
        };
        Ok(ProbeUrl {
            path,
            query: if location.is_empty() {
                self.query.clone()
            } else {
                query
            },
            ..self.clone()
        })
    }
}

fn split_query(s: &str) -> (&str, Option<String>) {
    match s.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (s, None),
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

fn parse_authority_and_path(scheme: &str, rest: &str) -> Result<ProbeUrl, String> {
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("missing ']' in host")?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        None | Some("") => default_port(scheme),
        Some(p) => p
            .parse()
            .map_err(|_| format!("invalid port {:?} after host", format!(":{p}")))?,
    };
    let (path, query) = split_query(tail);
    Ok(ProbeUrl {
        scheme: scheme.to_string(),
        host,
        port,
        path: remove_dot_segments(path),
        query,
    })
}

/// RFC 3986 dot-segment removal, as Go's ResolveReference does.
fn remove_dot_segments(path: &str) -> String {
    if path.is_empty() {
        return String::new();
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == segments.len() - 1 {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == segments.len() - 1 {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
}

/// Percent-escapes what Go's URL path escaping would (spaces, controls,
/// non-ASCII and a few reserved bytes); existing escapes are kept.
fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'!'..=b'~'
                if !matches!(
                    b,
                    b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
                ) =>
            {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Go's `textproto.CanonicalMIMEHeaderKey`.
fn canonical_header(name: &str) -> String {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return name.to_string();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// The request a probe sends (`NewRequestForHTTPGetAction`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProbeRequest {
    pub url: ProbeUrl,
    /// Header lines in the order they are sent (canonical names).
    pub headers: Vec<(String, String)>,
    /// The `Host` header value when the probe sets one.
    pub host_header: Option<String>,
}

impl HttpProbeRequest {
    /// Builds the request of an `httpGet` action.
    pub fn from_action(http_get: &Value, container: &Value, pod_ip: &str) -> Result<Self, String> {
        let scheme = match text(http_get, "scheme").to_lowercase() {
            s if s.is_empty() => "http".to_string(),
            s => s,
        };
        let host = match text(http_get, "host") {
            "" => pod_ip.to_string(),
            h => h.to_string(),
        };
        let port = resolve_port(&http_get["port"], container)?;
        let raw = text(http_get, "path");
        let raw = raw.split('#').next().unwrap_or("");
        let (path, query) = split_query(raw);
        let url = ProbeUrl {
            scheme,
            host,
            port,
            path: escape_path(path),
            query,
        };
        // http.Header: canonical names, values in order, keys sorted on the wire.
        let mut headers: Vec<(String, String)> = items(http_get, "httpHeaders")
            .iter()
            .map(|h| {
                (
                    canonical_header(text(h, "name")),
                    text(h, "value").to_string(),
                )
            })
            .collect();
        let has = |headers: &[(String, String)], name: &str| headers.iter().any(|(n, _)| n == name);
        if !has(&headers, "User-Agent") {
            headers.push(("User-Agent".into(), USER_AGENT.into()));
        }
        if !has(&headers, "Accept") {
            headers.push(("Accept".into(), "*/*".into()));
        } else if headers
            .iter()
            .find(|(n, _)| n == "Accept")
            .is_some_and(|(_, v)| v.is_empty())
        {
            headers.retain(|(n, _)| n != "Accept");
        }
        let host_header = headers
            .iter()
            .find(|(n, _)| n == "Host")
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty());
        headers.retain(|(n, _)| n != "Host");
        // Go writes no User-Agent line for an empty one.
        headers.retain(|(n, v)| n != "User-Agent" || !v.is_empty());
        headers.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self {
            url,
            headers,
            host_header,
        })
    }
}

/// Runs the probe (Go's `DoHTTPProbe` with the kubelet's client).
pub async fn http_probe(
    req: &HttpProbeRequest,
    timeout: Duration,
    dialer: &dyn ProbeDialer,
) -> ProbeOutcome {
    let deadline = Instant::now() + timeout;
    let mut url = req.url.clone();
    let mut host_header = req.host_header.clone();
    let mut requests = 0;
    loop {
        requests += 1;
        let mut response =
            match exchange(&url, host_header.as_deref(), &req.headers, dialer, deadline).await {
                Ok(r) => r,
                Err(msg) => {
                    return ProbeOutcome::Failure(format!(
                        "Get {}: {msg}",
                        go_quote(&url.to_go_string())
                    ))
                }
            };
        if let Some(location) = response.location.take() {
            let next = match url.join(&location) {
                Ok(n) => n,
                Err(e) => {
                    return ProbeOutcome::Failure(format!(
                        "Get {}: failed to parse Location header {}: {e}",
                        go_quote(&url.to_go_string()),
                        go_quote(&location)
                    ))
                }
            };
            if next.host == req.url.host {
                if requests >= MAX_REQUESTS {
                    return ProbeOutcome::Failure(format!(
                        "Get {}: stopped after {MAX_REQUESTS} redirects",
                        go_quote(&location)
                    ));
                }
                // A custom Host survives only a relative redirect.
                if location.contains("://") || location.starts_with("//") {
                    host_header = None;
                }
                url = next;
                continue;
            }
        }
        return judge(response, deadline).await;
    }
}

/// One response, its body not read yet.
struct Response {
    status: u16,
    /// Set for a redirect Go would follow (301/302/303/307/308 with Location).
    location: Option<String>,
    body: Incoming,
    _connection: AbortOnDrop,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One request/response; errors are the text after `Get "<url>": `.
async fn exchange(
    url: &ProbeUrl,
    host_header: Option<&str>,
    headers: &[(String, String)],
    dialer: &dyn ProbeDialer,
    deadline: Instant,
) -> Result<Response, String> {
    if url.scheme != "http" && url.scheme != "https" {
        return Err(format!(
            "unsupported protocol scheme {}",
            go_quote(&url.scheme)
        ));
    }
    let host_port = join_host_port(&url.host, url.port);
    let tcp = match timeout_at(deadline, dialer.dial(&url.host, url.port)).await {
        Err(_) => {
            return Err(format!(
                "dial tcp {host_port}: i/o timeout {AWAITING_HEADERS}"
            ))
        }
        Ok(Err(e)) => return Err(dial_error(&url.host, url.port, &e)),
        Ok(Ok(s)) => s,
    };
    let io: Box<dyn Io> = if url.scheme == "https" {
        let name = ServerName::try_from(url.host.clone()).map_err(|e| e.to_string())?;
        let connector = tokio_rustls::TlsConnector::from(insecure_tls_config()?);
        match timeout_at(deadline, connector.connect(name, tcp)).await {
            Err(_) => return Err(format!("context deadline exceeded {AWAITING_HEADERS}")),
            Ok(Err(e)) => return Err(tls_error_text(&e)),
            Ok(Ok(tls)) => Box::new(tls),
        }
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|e| hyper_error_text(&e))?;
    let connection = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let mut builder = Request::builder()
        .method("GET")
        .uri(url.request_target())
        .header("Host", host_header.unwrap_or(&host_port));
    for (name, value) in headers {
        if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!(
                "net/http: invalid header field name {}",
                go_quote(name)
            ));
        }
        if hyper::header::HeaderValue::from_str(value).is_err() {
            return Err(format!(
                "net/http: invalid header field value for {}",
                go_quote(name)
            ));
        }
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder
        .header("Connection", "close")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = match timeout_at(deadline, sender.send_request(request)).await {
        Err(_) => return Err(format!("context deadline exceeded {AWAITING_HEADERS}")),
        Ok(Err(e)) => return Err(hyper_error_text(&e)),
        Ok(Ok(r)) => r,
    };
    let status = response.status().as_u16();
    let location = if matches!(status, 301 | 302 | 303 | 307 | 308) {
        response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    } else {
        None
    };
    Ok(Response {
        status,
        location,
        body: response.into_body(),
        _connection: connection,
    })
}

/// Reads up to 10 KiB of the body and judges the status.
async fn judge(mut response: Response, deadline: Instant) -> ProbeOutcome {
    let mut body: Vec<u8> = Vec::new();
    while body.len() < MAX_PROBE_OUTPUT {
        match timeout_at(deadline, response.body.frame()).await {
            Err(_) => {
                return ProbeOutcome::Error(
                    "context deadline exceeded (Client.Timeout or context cancellation while reading body)"
                        .to_string(),
                )
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => return ProbeOutcome::Error(hyper_error_text(&e)),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    body.extend_from_slice(&data);
                }
            }
        }
    }
    body.truncate(MAX_PROBE_OUTPUT);
    let body = String::from_utf8_lossy(&body).into_owned();
    match response.status {
        200..=299 => ProbeOutcome::Success(body),
        300..=399 => {
            ProbeOutcome::Warning(format!("Probe terminated redirects, Response body: {body}"))
        }
        code => ProbeOutcome::Failure(format!("HTTP probe failed with statuscode: {code}")),
    }
}

/// Go's texts for the transport errors a probe commonly meets.
fn hyper_error_text(e: &hyper::Error) -> String {
    if e.is_incomplete_message() {
        "EOF".to_string()
    } else if e.is_parse() {
        "net/http: HTTP/1.x transport connection broken: malformed HTTP response".to_string()
    } else {
        e.to_string()
    }
}

fn tls_error_text(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        return "EOF".to_string();
    }
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidMessage(_)) => {
            "http: server gave HTTP response to HTTPS client".to_string()
        }
        Some(other) => format!("tls: {other}"),
        None => e.to_string(),
    }
}

/// TLS that accepts any certificate but still checks handshake signatures,
/// like Go's InsecureSkipVerify.
fn insecure_tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = Arc::new(AcceptAnyCertificate(provider.clone()));
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::probe::DirectDialer;
    use serde_json::json;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A tiny HTTP/1.1 server on 127.0.0.1: answers each request with what
    /// `respond(path)` says and records the request heads.
    struct TestServer {
        port: u16,
        heads: Arc<Mutex<Vec<String>>>,
        _task: AbortOnDrop,
    }

    type Responder = fn(&str, u16) -> Option<String>;

    async fn serve(respond: Responder) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let head = read_head(&mut sock).await;
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    seen.lock().unwrap().push(head);
                    match respond(&path, port) {
                        Some(reply) => {
                            let _ = sock.write_all(reply.as_bytes()).await;
                            let _ = sock.shutdown().await;
                        }
                        // Never answer (the probe times out).
                        None => tokio::time::sleep(Duration::from_secs(5)).await,
                    }
                });
            }
        });
        TestServer {
            port,
            heads,
            _task: AbortOnDrop(task),
        }
    }

    async fn read_head<S: AsyncRead + Unpin>(sock: &mut S) -> String {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") && buf.len() < 16_384 {
            if sock.read(&mut byte).await.unwrap_or(0) == 0 {
                break;
            }
            buf.push(byte[0]);
            // Not HTTP (e.g. a TLS ClientHello): answer at once like a real server.
            if !buf[0].is_ascii_uppercase() {
                break;
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    }

    fn reply(status: &str, extra: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}\r\n{body}",
            body.len()
        )
    }

    fn request(port: u16, action: Value) -> HttpProbeRequest {
        let mut action = action;
        action["port"] = json!(port);
        HttpProbeRequest::from_action(&action, &json!({}), "127.0.0.1").unwrap()
    }

    async fn probe(port: u16, action: Value) -> ProbeOutcome {
        http_probe(
            &request(port, action),
            Duration::from_secs(2),
            &DirectDialer,
        )
        .await
    }

    fn routes(path: &str, port: u16) -> Option<String> {
        Some(match path {
            "/healthz" => reply("200 OK", "", "ok"),
            "/fail" => reply("500 Internal Server Error", "", "boom"),
            "/moved" => reply("302 Found", "Location: /healthz\r\n", ""),
            "/moved-abs" => reply(
                "301 Moved Permanently",
                &format!("Location: http://127.0.0.1:{port}/healthz\r\n"),
                "",
            ),
            "/elsewhere" => reply("302 Found", "Location: http://192.0.2.1/x\r\n", "moved"),
            "/loop" => reply("302 Found", "Location: /loop\r\n", ""),
            "/no-location" => reply("302 Found", "", "stay"),
            "/big" => reply("200 OK", "", &"y".repeat(20_000)),
            "/chunked" => {
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                    .to_string()
            }
            "/hang" => return None,
            _ => reply("404 Not Found", "", ""),
        })
    }

    #[tokio::test]
    async fn statuses_and_request_headers() {
        let s = serve(routes).await;
        assert_eq!(
            probe(s.port, json!({"path": "/healthz", "httpHeaders": [{"name": "custom-header", "value": "Awesome"}]})).await,
            ProbeOutcome::Success("ok".into())
        );
        let head = s.heads.lock().unwrap()[0].clone();
        assert!(head.starts_with("GET /healthz HTTP/1.1\r\n"), "{head}");
        for line in [
            format!("Host: 127.0.0.1:{}\r\n", s.port),
            "User-Agent: kube-probe/1.32\r\n".to_string(),
            "Accept: */*\r\n".to_string(),
            "Custom-Header: Awesome\r\n".to_string(),
            "Connection: close\r\n".to_string(),
        ] {
            assert!(head.contains(&line), "{line:?} not in {head}");
        }
        assert!(!head.to_lowercase().contains("accept-encoding"));
        assert_eq!(
            probe(s.port, json!({"path": "/fail"})).await,
            ProbeOutcome::Failure("HTTP probe failed with statuscode: 500".into())
        );
        assert_eq!(
            probe(s.port, json!({"path": "/missing"})).await,
            ProbeOutcome::Failure("HTTP probe failed with statuscode: 404".into())
        );
        match probe(s.port, json!({"path": "/big"})).await {
            ProbeOutcome::Success(body) => assert_eq!(body.len(), MAX_PROBE_OUTPUT),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            probe(s.port, json!({"path": "/chunked"})).await,
            ProbeOutcome::Success("abc".into())
        );
    }

    #[tokio::test]
    async fn custom_host_user_agent_and_accept() {
        let s = serve(routes).await;
        let out = probe(
            s.port,
            json!({"path": "/healthz", "httpHeaders": [
                {"name": "Host", "value": "example.test"},
                {"name": "User-Agent", "value": "mine/1"},
                {"name": "Accept", "value": ""}]}),
        )
        .await;
        assert_eq!(out, ProbeOutcome::Success("ok".into()));
        let head = s.heads.lock().unwrap()[0].clone();
        assert!(head.contains("Host: example.test\r\n"), "{head}");
        assert!(head.contains("User-Agent: mine/1\r\n"), "{head}");
        assert!(!head.contains("Accept:"), "{head}");
    }

    #[tokio::test]
    async fn redirects() {
        let s = serve(routes).await;
        assert_eq!(
            probe(s.port, json!({"path": "/moved"})).await,
            ProbeOutcome::Success("ok".into())
        );
        assert_eq!(
            probe(s.port, json!({"path": "/moved-abs"})).await,
            ProbeOutcome::Success("ok".into())
        );
        // Another host: not followed (nothing is sent there), success with a warning.
        assert_eq!(
            probe(s.port, json!({"path": "/elsewhere"})).await,
            ProbeOutcome::Warning("Probe terminated redirects, Response body: moved".into())
        );
        assert_eq!(
            probe(s.port, json!({"path": "/no-location"})).await,
            ProbeOutcome::Warning("Probe terminated redirects, Response body: stay".into())
        );
        s.heads.lock().unwrap().clear();
        assert_eq!(
            probe(s.port, json!({"path": "/loop"})).await,
            ProbeOutcome::Failure("Get \"/loop\": stopped after 10 redirects".into())
        );
        assert_eq!(s.heads.lock().unwrap().len(), 10);
    }

    #[tokio::test]
    async fn transport_failures() {
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        assert_eq!(
            probe(closed, json!({"path": "/healthz"})).await,
            ProbeOutcome::Failure(format!(
                "Get \"http://127.0.0.1:{closed}/healthz\": dial tcp 127.0.0.1:{closed}: connect: connection refused"
            ))
        );
        let s = serve(routes).await;
        let out = http_probe(
            &request(s.port, json!({"path": "/hang"})),
            Duration::from_millis(200),
            &DirectDialer,
        )
        .await;
        assert_eq!(
            out,
            ProbeOutcome::Failure(format!(
                "Get \"http://127.0.0.1:{}/hang\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                s.port
            ))
        );
        // A server that closes without answering.
        let eof = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let eof_port = eof.local_addr().unwrap().port();
        let _task = AbortOnDrop(tokio::spawn(async move {
            while let Ok((mut sock, _)) = eof.accept().await {
                let _ = read_head(&mut sock).await;
            }
        }));
        assert_eq!(
            probe(eof_port, json!({"path": "/"})).await,
            ProbeOutcome::Failure(format!("Get \"http://127.0.0.1:{eof_port}/\": EOF"))
        );
    }

    #[tokio::test]
    async fn https_without_verification() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _task = AbortOnDrop(tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(sock).await else {
                        return;
                    };
                    let _ = read_head(&mut tls).await;
                    let _ = tls
                        .write_all(reply("200 OK", "", "secure").as_bytes())
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        }));
        assert_eq!(
            probe(port, json!({"path": "/", "scheme": "HTTPS"})).await,
            ProbeOutcome::Success("secure".into())
        );
        // HTTPS against a plain HTTP server.
        let plain = serve(routes).await;
        assert_eq!(
            probe(plain.port, json!({"path": "/healthz", "scheme": "HTTPS"})).await,
            ProbeOutcome::Failure(format!(
                "Get \"https://127.0.0.1:{}/healthz\": http: server gave HTTP response to HTTPS client",
                plain.port
            ))
        );
    }

    #[test]
    fn request_building_and_urls() {
        let c = json!({"ports": [{"name": "liveness-port", "containerPort": 8080}]});
        let req = HttpProbeRequest::from_action(
            &json!({"path": "/healthz?full=1", "port": "liveness-port"}),
            &c,
            "10.244.0.5",
        )
        .unwrap();
        assert_eq!(
            req.url.to_go_string(),
            "http://10.244.0.5:8080/healthz?full=1"
        );
        assert_eq!(req.url.request_target(), "/healthz?full=1");
        assert_eq!(
            req.headers,
            [
                ("Accept".to_string(), "*/*".to_string()),
                ("User-Agent".to_string(), USER_AGENT.to_string())
            ]
        );
        let bare =
            HttpProbeRequest::from_action(&json!({"port": 80, "host": "::1"}), &c, "10.244.0.5")
                .unwrap();
        assert_eq!(bare.url.to_go_string(), "http://[::1]:80");
        assert_eq!(bare.url.request_target(), "/");
        assert_eq!(canonical_header("x-forwarded-for"), "X-Forwarded-For");
        let base = req.url.clone();
        assert_eq!(
            base.join("other").unwrap().to_go_string(),
            "http://10.244.0.5:8080/other"
        );
        assert_eq!(
            base.join("../a/./b?x=1").unwrap().to_go_string(),
            "http://10.244.0.5:8080/a/b?x=1"
        );
        assert_eq!(
            base.join("https://10.244.0.5/s").unwrap().to_go_string(),
            "https://10.244.0.5:443/s"
        );
        assert_eq!(base.join("//h:9/p").unwrap().to_go_string(), "http://h:9/p");
        assert_eq!(escape_path("/a b/ü"), "/a%20b/%C3%BC");
    }
}
