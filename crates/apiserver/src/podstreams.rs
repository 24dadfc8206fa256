//! The pod streaming subresources — `pods/log`, `pods/exec`, `pods/attach`
//! and `pods/portforward` — spoken to kubectl the way kube-apiserver v1.32
//! and a kubelet speak them, on top of [`PodStreams`], which the node
//! implements.
//!
//! Protocols served:
//! - log: a chunked `text/plain` response.
//! - exec/attach: WebSocket `v5.channel.k8s.io` (what kubectl v1.32 uses,
//!   with the stdin half-close signal), the older `v4`/pre-v4 channel
//!   protocols, and plain SPDY/3.1 upgrades for clients that fall back.
//! - portforward: SPDY/3.1 tunneled in WebSocket binary messages
//!   (`SPDY/3.1+portforward.k8s.io`, kubectl v1.31+) and plain SPDY/3.1.

mod logs;
mod options;
mod portforward;
mod remotecommand;
mod routes;
pub mod spdy;
mod status;
mod upgrade;
mod websocket;

pub(crate) use routes::{attach, exec, log, portforward};

use k1s_api::ApiResult;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use tokio::io::{AsyncRead, AsyncWrite};

/// A boxed, sendable future that owns everything it uses.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A container log as it is read: chunks of bytes, ending when the log does
/// (or, when following, when the container stops).
pub type ByteStream = Pin<Box<dyn futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send>>;

/// `PodLogOptions` after validation (kubectl logs flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming while the container runs (`-f`).
    pub follow: bool,
    /// The log of the previous instance of the container (`--previous`).
    pub previous: bool,
    /// Only the last N lines (`--tail`); never negative.
    pub tail_lines: Option<i64>,
    /// Only lines newer than this many seconds (`--since`); at least 1.
    pub since_seconds: Option<i64>,
    /// Only lines at or after this RFC 3339 time (`--since-time`).
    pub since_time: Option<String>,
    /// Prefix every line with its RFC 3339 nanosecond timestamp.
    pub timestamps: bool,
    /// Stop after this many bytes (`--limit-bytes`); at least 1.
    pub limit_bytes: Option<i64>,
}

/// `PodExecOptions`: what `kubectl exec` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    /// Always false with a TTY (the terminal merges stderr into stdout).
    pub stderr: bool,
    pub tty: bool,
}

/// `PodAttachOptions`: what `kubectl attach` / `kubectl run -it` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachRequest {
    pub stdin: bool,
    pub stdout: bool,
    /// Always false with a TTY.
    pub stderr: bool,
    pub tty: bool,
}

/// A terminal size sent by the client on the resize channel, as client-go
/// encodes it: `{"Width":80,"Height":24}` (Go matches names in any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct TermSize {
    #[serde(rename = "Width", alias = "width")]
    pub width: u16,
    #[serde(rename = "Height", alias = "height")]
    pub height: u16,
}

/// A running exec or attach session in a container.
///
/// The server copies the client's stdin into `stdin` (and drops it when the
/// client closes its stdin), copies `stdout`/`stderr` to the client until
/// they end, forwards terminal sizes to `resize`, and reports `exit` on the
/// error channel: `Ok(code)` is the exit code (for attach any `Ok` is a
/// success), `Err(text)` a runtime failure such as
/// `failed to exec in container: … executable file not found in $PATH`.
///
/// When the client goes away first, the server simply drops the session:
/// dropping must detach (attach) or leave the process to its fate (exec),
/// never block.
pub struct Session {
    pub stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    pub stdout: Option<Box<dyn AsyncRead + Send + Unpin>>,
    pub stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
    pub resize: Option<tokio::sync::mpsc::UnboundedSender<TermSize>>,
    pub exit: BoxFuture<Result<i32, String>>,
}

/// A byte connection to a port inside a pod (for port-forward).
pub trait PortConnection: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> PortConnection for T {}

/// A boxed [`PortConnection`].
pub type BoxedIo = Box<dyn PortConnection>;

/// What the node offers the API server for the streaming subresources.
///
/// `pod` is the Pod object as stored; `container` has been checked to name
/// one of its containers. Errors are returned as kube-apiserver would relay
/// the kubelet's: a `logs` error becomes the HTTP response (e.g. 400
/// `container "app" in pod "web" is waiting to start: ContainerCreating`);
/// an `exec`/`attach` error is sent as its Status on the error channel after
/// the WebSocket upgrade (kubectl prints its message, e.g. use
/// `ApiError::internal("unable to upgrade connection: container not found (\"app\")")`);
/// a `port_forward` error's message is written to the port-forward error
/// stream as `error forwarding port P to pod UID, uid : <message>` (kubectl
/// prints it after `an error occurred forwarding L -> P: ` and exits).
pub trait PodStreams: Send + Sync + 'static {
    fn logs(
        &self,
        pod: Value,
        container: String,
        opts: LogOptions,
    ) -> BoxFuture<ApiResult<ByteStream>>;
    fn exec(
        &self,
        pod: Value,
        container: String,
        req: ExecRequest,
    ) -> BoxFuture<ApiResult<Session>>;
    fn attach(
        &self,
        pod: Value,
        container: String,
        req: AttachRequest,
    ) -> BoxFuture<ApiResult<Session>>;
    fn port_forward(&self, pod: Value, port: u16) -> BoxFuture<ApiResult<BoxedIo>>;
}
