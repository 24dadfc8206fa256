//! HTTP/1.1 upgrades to SPDY/3.1 (`Connection: Upgrade`, `Upgrade:
//! SPDY/3.1`, `X-Stream-Protocol-Version`), as apimachinery's httpstream
//! handshake and the kubelet answer them.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode};
use hyper_util::rt::TokioIo;

pub const PROTOCOL_VERSION: &str = "x-stream-protocol-version";
const ACCEPTED_VERSIONS: &str = "x-accepted-stream-protocol-versions";

fn header_contains(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains(token))
}

/// A WebSocket handshake (`Upgrade: websocket`).
pub fn is_websocket(headers: &HeaderMap) -> bool {
    header_contains(headers, http::header::CONNECTION, "upgrade")
        && headers
            .get(http::header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// A SPDY upgrade request.
pub fn is_spdy(headers: &HeaderMap) -> bool {
    header_contains(headers, http::header::CONNECTION, "upgrade")
        && header_contains(headers, http::header::UPGRADE, "spdy/3.1")
}

/// A plain-text error, as Go's http.Error writes them.
pub fn text_error(status: StatusCode, message: &str) -> Response {
    let mut resp = Response::new(Body::from(format!("{message}\n")));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Why a SPDY upgrade was refused, answered as plain text.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
    /// Sent back as `X-Accepted-Stream-Protocol-Versions`.
    pub accepted: Vec<&'static str>,
}

impl Refusal {
    pub fn into_response(self) -> Response {
        let mut resp = text_error(self.status, &self.message);
        for s in self.accepted {
            resp.headers_mut()
                .append(ACCEPTED_VERSIONS, HeaderValue::from_static(s));
        }
        resp
    }
}

/// Chooses the client's first protocol the server speaks (httpstream.Handshake).
pub fn negotiate(headers: &HeaderMap, server: &[&'static str]) -> Result<&'static str, Refusal> {
    let client: Vec<&str> = headers
        .get_all(PROTOCOL_VERSION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if client.is_empty() {
        return Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            message: "unable to upgrade: X-Stream-Protocol-Version is required".into(),
            accepted: Vec::new(),
        });
    }
    client
        .iter()
        .find_map(|c| server.iter().find(|s| *s == c).copied())
        .ok_or_else(|| Refusal {
            status: StatusCode::FORBIDDEN,
            message: format!(
                "unable to upgrade: unable to negotiate protocol: client supports [{}], server accepts [{}]",
                client.join(" "),
                server.join(" ")
            ),
            accepted: server.to_vec(),
        })
}

/// The 101 answer to a SPDY upgrade.
pub fn switching_protocols(protocol: &'static str) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("Upgrade"),
    );
    h.insert(http::header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    h.insert(PROTOCOL_VERSION, HeaderValue::from_static(protocol));
    resp
}

/// The upgraded connection, once hyper has sent the 101.
pub async fn upgraded(
    on_upgrade: hyper::upgrade::OnUpgrade,
) -> Option<TokioIo<hyper::upgrade::Upgraded>> {
    match on_upgrade.await {
        Ok(u) => Some(TokioIo::new(u)),
        Err(e) => {
            tracing::debug!("SPDY upgrade failed: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn recognizes_upgrade_kinds() {
        let ws = headers(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_websocket(&ws) && !is_spdy(&ws));
        let spdy = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "SPDY/3.1"),
        ]);
        assert!(is_spdy(&spdy) && !is_websocket(&spdy));
        assert!(!is_spdy(&headers(&[("upgrade", "SPDY/3.1")])));
    }

    #[test]
    fn negotiation_follows_the_clients_order() {
        let h = headers(&[
            (PROTOCOL_VERSION, "v4.channel.k8s.io"),
            (PROTOCOL_VERSION, "v3.channel.k8s.io, v2.channel.k8s.io"),
        ]);
        assert_eq!(
            negotiate(&h, &["v2.channel.k8s.io", "v4.channel.k8s.io"]).unwrap(),
            "v4.channel.k8s.io"
        );
        let refused = negotiate(&h, &["portforward.k8s.io"]).unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(
            refused.message,
            "unable to upgrade: unable to negotiate protocol: client supports [v4.channel.k8s.io v3.channel.k8s.io v2.channel.k8s.io], server accepts [portforward.k8s.io]"
        );
        let resp = refused.into_response();
        assert_eq!(
            resp.headers().get(ACCEPTED_VERSIONS).unwrap(),
            "portforward.k8s.io"
        );
        let missing = negotiate(&HeaderMap::new(), &["portforward.k8s.io"]).unwrap_err();
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn the_101_names_spdy_and_the_protocol() {
        let r = switching_protocols("portforward.k8s.io");
        assert_eq!(r.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(r.headers()["upgrade"], "SPDY/3.1");
        assert_eq!(r.headers()["connection"], "Upgrade");
        assert_eq!(r.headers()[PROTOCOL_VERSION], "portforward.k8s.io");
    }
}
