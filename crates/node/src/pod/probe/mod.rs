//! Container probes, after the kubelet's prober (`pkg/kubelet/prober`) and
//! the probe packages (`pkg/probe/{http,tcp,exec}`):
//!
//! - `run_probe` runs one probe of a container spec (httpGet, tcpSocket,
//!   exec; grpc is not supported by k1s and reports an error), retrying up
//!   to 3 times while the probe *errors* (not when it fails);
//! - `probe_event` gives the event the kubelet records for an outcome
//!   (`Liveness probe failed: HTTP probe failed with statuscode: 500`);
//! - `worker::ProbeWorker` is the per-container state machine (initial
//!   delay, thresholds, startup gating, results).
//!
//! The HTTP and TCP runners dial through `ProbeDialer` (direct TCP by
//! default) and exec goes through `ExecProbe`, which the container runtime
//! implements.

pub mod exec;
pub mod http;
pub mod tcp;
pub mod worker;

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpStream;

use super::downward::go_quote;
use super::{items, text};

pub use worker::{
    container_ready, container_started, ContainerView, PodView, ProbeResult, ProbeTiming,
    ProbeWorker, WorkerStep,
};

/// The kubelet retries a probe that errors this many times.
pub const MAX_PROBE_RETRIES: usize = 3;
/// The kubelet's prober reads at most this much output or body (10 KiB).
pub const MAX_PROBE_OUTPUT: usize = 10 * 1024;

/// A boxed future, for the dyn-compatible traits below.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which probe of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

impl ProbeKind {
    /// The name in event texts ("Liveness probe failed: …").
    pub fn label(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }

    /// The container field holding this probe.
    pub fn field(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "livenessProbe",
            ProbeKind::Readiness => "readinessProbe",
            ProbeKind::Startup => "startupProbe",
        }
    }
}

/// What one probe run found (`probe.Result` plus output or error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    Success(String),
    /// Counts as success; recorded as a ProbeWarning event.
    Warning(String),
    Failure(String),
    /// Unknown without an error: counts as a failure, no event.
    Unknown,
    /// The probe could not run; its result is thrown away.
    Error(String),
}

/// An event the prober records on the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeEvent {
    pub event_type: &'static str,
    pub reason: &'static str,
    pub message: String,
}

/// The event for an outcome, as `prober.probe` records it.
pub fn probe_event(kind: ProbeKind, outcome: &ProbeOutcome) -> Option<ProbeEvent> {
    let label = kind.label();
    let (reason, message) = match outcome {
        ProbeOutcome::Success(_) | ProbeOutcome::Unknown => return None,
        ProbeOutcome::Warning(out) => ("ProbeWarning", format!("{label} probe warning: {out}")),
        ProbeOutcome::Failure(out) => ("Unhealthy", format!("{label} probe failed: {out}")),
        ProbeOutcome::Error(err) => (
            "Unhealthy",
            format!("{label} probe errored and resulted in unknown state: {err}"),
        ),
    };
    Some(ProbeEvent {
        event_type: "Warning",
        reason,
        message,
    })
}

/// The Killing event text when a liveness or startup probe fails
/// (`computePodActions`).
pub fn kill_message(container: &str, kind: ProbeKind, will_restart: bool) -> String {
    let what = match kind {
        ProbeKind::Startup => "startup",
        _ => "liveness",
    };
    let mut message = format!("Container {container} failed {what} probe");
    if will_restart {
        message.push_str(", will be restarted");
    }
    message
}

/// Runs commands in a container for exec probes (the runtime's ExecSync).
pub trait ExecProbe: Send + Sync {
    /// Runs `argv` with stdout and stderr combined; returns the exit code
    /// and output. Must give up (and kill the process) after `timeout`,
    /// returning an error of kind `TimedOut`.
    fn exec<'a>(
        &'a self,
        argv: Vec<String>,
        timeout: Duration,
    ) -> BoxFuture<'a, io::Result<(i32, Vec<u8>)>>;
}

/// Opens the TCP connections of HTTP and TCP probes.
pub trait ProbeDialer: Send + Sync {
    fn dial<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<TcpStream>>;
}

/// Connects from the node's network namespace, like the kubelet.
#[derive(Debug, Clone, Copy, Default)]
pub struct DirectDialer;

impl ProbeDialer for DirectDialer {
    fn dial<'a>(&'a self, host: &'a str, port: u16) -> BoxFuture<'a, io::Result<TcpStream>> {
        Box::pin(async move {
            match host.parse::<IpAddr>() {
                Ok(ip) => TcpStream::connect(SocketAddr::new(ip, port)).await,
                Err(_) => TcpStream::connect((host, port)).await,
            }
        })
    }
}

/// `probe.ResolveContainerPort`: a number, a named container port, or a
/// number written as a string.
pub fn resolve_port(port: &Value, container: &Value) -> Result<u16, String> {
    let number: i64 = match port {
        Value::Number(n) => n.as_i64().unwrap_or(-1),
        Value::String(name) => match items(container, "ports")
            .iter()
            .find(|p| text(p, "name") == name)
        {
            Some(p) => p["containerPort"].as_i64().unwrap_or(0),
            None => name
                .parse::<i64>()
                .map_err(|_| format!("strconv.Atoi: parsing {}: invalid syntax", go_quote(name)))?,
        },
        other => return Err(format!("intOrString had no kind: {other}")),
    };
    if number > 0 && number < 65536 {
        Ok(number as u16)
    } else {
        Err(format!("invalid port number: {number}"))
    }
}

/// Runs the container's probe of `kind` once (with the kubelet's retries
/// on errors). A container without that probe succeeds.
pub async fn run_probe(
    kind: ProbeKind,
    container: &Value,
    pod_ip: &str,
    exec: &dyn ExecProbe,
    dialer: &dyn ProbeDialer,
) -> ProbeOutcome {
    let probe = &container[kind.field()];
    if !probe.is_object() {
        return ProbeOutcome::Success(String::new());
    }
    let mut outcome = ProbeOutcome::Unknown;
    for _ in 0..MAX_PROBE_RETRIES {
        outcome = run_probe_once(probe, container, pod_ip, exec, dialer).await;
        if !matches!(outcome, ProbeOutcome::Error(_)) {
            break;
        }
    }
    outcome
}

/// `prober.runProbe`: one attempt of one probe spec.
pub async fn run_probe_once(
    probe: &Value,
    container: &Value,
    pod_ip: &str,
    exec: &dyn ExecProbe,
    dialer: &dyn ProbeDialer,
) -> ProbeOutcome {
    let timeout = ProbeTiming::from_probe(probe).timeout();
    if probe["exec"].is_object() {
        let argv = exec::exec_command(&probe["exec"], container);
        return exec::exec_probe(exec, argv, timeout).await;
    }
    if probe["httpGet"].is_object() {
        return match http::HttpProbeRequest::from_action(&probe["httpGet"], container, pod_ip) {
            Ok(req) => http::http_probe(&req, timeout, dialer).await,
            Err(e) => ProbeOutcome::Error(e),
        };
    }
    if probe["tcpSocket"].is_object() {
        let action = &probe["tcpSocket"];
        let port = match resolve_port(&action["port"], container) {
            Ok(p) => p,
            Err(e) => return ProbeOutcome::Error(e),
        };
        let host = match text(action, "host") {
            "" => pod_ip,
            h => h,
        };
        return tcp::tcp_probe(host, port, timeout, dialer).await;
    }
    if probe["grpc"].is_object() {
        return ProbeOutcome::Error("gRPC probes are not supported by k1s".to_string());
    }
    ProbeOutcome::Error(format!(
        "missing probe handler for container {}",
        text(container, "name")
    ))
}

/// Go's `syscall.Errno` text: the C library's message, lower-cased first letter.
pub(crate) fn errno_text(e: &io::Error) -> String {
    let raw = match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code).to_string(),
        None => return e.to_string(),
    };
    let msg = raw.split(" (os error").next().unwrap_or(&raw);
    let mut chars = msg.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Go's `net.JoinHostPort`.
pub(crate) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Go's dial error text (`dial tcp 10.244.0.5:8080: connect: connection refused`).
pub(crate) fn dial_error(host: &str, port: u16, e: &io::Error) -> String {
    let addr = join_host_port(host, port);
    if host.parse::<IpAddr>().is_err() && e.raw_os_error().is_none() {
        return format!("dial tcp: lookup {host}: {e}");
    }
    format!("dial tcp {addr}: connect: {}", errno_text(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_texts() {
        let ev = |k, o| probe_event(k, &o).map(|e| (e.reason, e.message));
        assert_eq!(
            ev(
                ProbeKind::Liveness,
                ProbeOutcome::Failure("HTTP probe failed with statuscode: 500".into())
            ),
            Some((
                "Unhealthy",
                "Liveness probe failed: HTTP probe failed with statuscode: 500".into()
            ))
        );
        assert_eq!(
            ev(
                ProbeKind::Readiness,
                ProbeOutcome::Failure(
                    "dial tcp 10.244.0.5:8080: connect: connection refused".into()
                )
            ),
            Some((
                "Unhealthy",
                "Readiness probe failed: dial tcp 10.244.0.5:8080: connect: connection refused"
                    .into()
            ))
        );
        assert_eq!(
            ev(ProbeKind::Liveness, ProbeOutcome::Failure(String::new())),
            Some(("Unhealthy", "Liveness probe failed: ".into()))
        );
        assert_eq!(
            ev(ProbeKind::Startup, ProbeOutcome::Error("strconv.Atoi: parsing \"http\": invalid syntax".into())),
            Some((
                "Unhealthy",
                "Startup probe errored and resulted in unknown state: strconv.Atoi: parsing \"http\": invalid syntax".into()
            ))
        );
        assert_eq!(
            ev(
                ProbeKind::Readiness,
                ProbeOutcome::Warning("Probe terminated redirects, Response body: ".into())
            ),
            Some((
                "ProbeWarning",
                "Readiness probe warning: Probe terminated redirects, Response body: ".into()
            ))
        );
        assert_eq!(
            ev(ProbeKind::Readiness, ProbeOutcome::Success("ok".into())),
            None
        );
        assert_eq!(ev(ProbeKind::Readiness, ProbeOutcome::Unknown), None);
        assert_eq!(
            kill_message("liveness", ProbeKind::Liveness, true),
            "Container liveness failed liveness probe, will be restarted"
        );
        assert_eq!(
            kill_message("app", ProbeKind::Startup, false),
            "Container app failed startup probe"
        );
    }

    #[test]
    fn ports() {
        let c = json!({"ports": [{"name": "http", "containerPort": 8080}, {"name": "zero", "containerPort": 0}]});
        assert_eq!(resolve_port(&json!(80), &c), Ok(80));
        assert_eq!(resolve_port(&json!("http"), &c), Ok(8080));
        assert_eq!(resolve_port(&json!("9090"), &c), Ok(9090));
        assert_eq!(
            resolve_port(&json!("web"), &c),
            Err("strconv.Atoi: parsing \"web\": invalid syntax".into())
        );
        assert_eq!(
            resolve_port(&json!(70000), &c),
            Err("invalid port number: 70000".into())
        );
        assert_eq!(
            resolve_port(&json!("zero"), &c),
            Err("invalid port number: 0".into())
        );
    }

    #[test]
    fn go_error_texts() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(
            dial_error("10.244.0.5", 8080, &refused),
            "dial tcp 10.244.0.5:8080: connect: connection refused"
        );
        assert_eq!(
            dial_error("::1", 80, &io::Error::from_raw_os_error(libc::EHOSTUNREACH)),
            "dial tcp [::1]:80: connect: no route to host"
        );
    }

    struct NoExec;
    impl ExecProbe for NoExec {
        fn exec<'a>(
            &'a self,
            _: Vec<String>,
            _: Duration,
        ) -> BoxFuture<'a, io::Result<(i32, Vec<u8>)>> {
            Box::pin(async { Err(io::Error::other("exec unavailable")) })
        }
    }

    #[tokio::test]
    async fn dispatch_and_retries() {
        let c = json!({"name": "app",
            "livenessProbe": {"grpc": {"port": 9000}},
            "readinessProbe": {"exec": {"command": ["true"]}},
            "startupProbe": {"httpGet": {"port": "metrics"}}});
        assert_eq!(
            run_probe(ProbeKind::Liveness, &c, "127.0.0.1", &NoExec, &DirectDialer).await,
            ProbeOutcome::Error("gRPC probes are not supported by k1s".into())
        );
        assert_eq!(
            run_probe(
                ProbeKind::Readiness,
                &c,
                "127.0.0.1",
                &NoExec,
                &DirectDialer
            )
            .await,
            ProbeOutcome::Error("exec unavailable".into())
        );
        assert_eq!(
            run_probe(ProbeKind::Startup, &c, "127.0.0.1", &NoExec, &DirectDialer).await,
            ProbeOutcome::Error("strconv.Atoi: parsing \"metrics\": invalid syntax".into())
        );
        let none = json!({"name": "app"});
        assert_eq!(
            run_probe(
                ProbeKind::Liveness,
                &none,
                "127.0.0.1",
                &NoExec,
                &DirectDialer
            )
            .await,
            ProbeOutcome::Success(String::new())
        );
    }
}
