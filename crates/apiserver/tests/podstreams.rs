//! pods/log, exec, attach and portforward through the real HTTPS server on
//! 127.0.0.1 with a fake node behind [`PodStreams`] (the protocol logic is
//! what is tested here): Rust WebSocket/SPDY clients check the framing byte
//! by byte, and the real kubectl checks what users see.

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use http::StatusCode;
use k1s_api::{ApiError, ApiResult};
use k1s_apiserver::podstreams::spdy::frame::{self, Frame, FLAG_FIN};
use k1s_apiserver::podstreams::spdy::{HeaderBlock, HeaderCompressor, HeaderDecompressor};
use k1s_apiserver::podstreams::{
    AttachRequest, BoxFuture, BoxedIo, ByteStream, ExecRequest, LogOptions, PodStreams, Session,
    TermSize,
};
use k1s_apiserver::{Api, AppState, ClusterConfig, WriteOptions};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "streams-test-token";
/// Every wait in these tests is bounded by this.
const LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- fake node

/// A node whose "containers" are small async functions.
struct FakeNode {
    /// Where port 80 of every pod leads: an echo server on 127.0.0.1.
    echo: SocketAddr,
    logs_asked: Mutex<Vec<(String, LogOptions)>>,
    execs: Mutex<Vec<(String, ExecRequest)>>,
}

type Io = (
    tokio::io::DuplexStream,
    tokio::io::DuplexStream,
    tokio::io::DuplexStream,
);

/// The process side of a session: its stdin, stdout and stderr, plus the
/// session the server gets.
fn session_pipes(
    resize: Option<mpsc::UnboundedSender<TermSize>>,
    process: impl FnOnce(Io) -> BoxFuture<Result<i32, String>>,
) -> Session {
    let (client_stdin, proc_stdin) = tokio::io::duplex(64 * 1024);
    let (proc_stdout, client_stdout) = tokio::io::duplex(64 * 1024);
    let (proc_stderr, client_stderr) = tokio::io::duplex(64 * 1024);
    Session {
        stdin: Some(Box::new(client_stdin)),
        stdout: Some(Box::new(client_stdout)),
        stderr: Some(Box::new(client_stderr)),
        resize,
        exit: process((proc_stdin, proc_stdout, proc_stderr)),
    }
}

fn run_command(argv: Vec<String>, tty: bool) -> Session {
    let (resize_tx, mut resize_rx) = mpsc::unbounded_channel::<TermSize>();
    session_pipes(
        tty.then_some(resize_tx),
        move |(mut stdin, mut stdout, mut stderr)| {
            Box::pin(async move {
                let args: Vec<&str> = argv.iter().map(String::as_str).collect();
                match args.as_slice() {
                    ["echo", rest @ ..] => {
                        let line = format!("{}\n", rest.join(" "));
                        stdout.write_all(line.as_bytes()).await.map_err(|e| e.to_string())?;
                        Ok(0)
                    }
                    ["sh", "-c", script] => match script.strip_prefix("exit ") {
                        Some(n) => Ok(n.parse().unwrap_or(2)),
                        None => Ok(127),
                    },
                    ["cat"] => {
                        tokio::io::copy(&mut stdin, &mut stdout)
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok(0)
                    }
                    ["complain"] => {
                        stdout.write_all(b"to stdout\n").await.map_err(|e| e.to_string())?;
                        stderr.write_all(b"to stderr\n").await.map_err(|e| e.to_string())?;
                        Ok(1)
                    }
                    ["sizes"] => {
                        // Reports each terminal size until stdin ends.
                        let mut buf = [0u8; 64];
                        loop {
                            tokio::select! {
                                s = resize_rx.recv() => {
                                    let Some(s) = s else { return Ok(0) };
                                    let line = format!("{}x{}\n", s.width, s.height);
                                    stdout.write_all(line.as_bytes()).await.map_err(|e| e.to_string())?;
                                }
                                n = stdin.read(&mut buf) => match n {
                                    Ok(0) | Err(_) => return Ok(0),
                                    // A terminal turns Ctrl-D into the end of input.
                                    Ok(n) if tty && buf[..n].contains(&4) => return Ok(0),
                                    Ok(n) => stdout.write_all(&buf[..n]).await.map_err(|e| e.to_string())?,
                                },
                            }
                        }
                    }
                    [other, ..] => Err(format!(
                        "failed to exec in container: failed to start exec: OCI runtime exec failed: exec failed: unable to start container process: exec: {other:?}: executable file not found in $PATH: unknown"
                    )),
                    [] => Err("no command".into()),
                }
            })
        },
    )
}

impl PodStreams for FakeNode {
    fn logs(
        &self,
        _pod: Value,
        container: String,
        opts: LogOptions,
    ) -> BoxFuture<ApiResult<ByteStream>> {
        self.logs_asked
            .lock()
            .unwrap()
            .push((container.clone(), opts.clone()));
        Box::pin(async move {
            if container == "waiting" {
                return Err(ApiError::bad_request(
                    "container \"waiting\" in pod \"web\" is waiting to start: ContainerCreating",
                ));
            }
            let lines: Vec<String> = (1..=3).map(|i| format!("{container} line {i}\n")).collect();
            let follow = opts.follow;
            let stream = futures::stream::iter(lines.into_iter().enumerate()).then(
                move |(i, l)| async move {
                    // A followed log trickles in.
                    if follow && i > 0 {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Ok::<_, std::io::Error>(Bytes::from(l))
                },
            );
            Ok(Box::pin(stream) as ByteStream)
        })
    }

    fn exec(
        &self,
        pod: Value,
        container: String,
        req: ExecRequest,
    ) -> BoxFuture<ApiResult<Session>> {
        self.execs
            .lock()
            .unwrap()
            .push((container.clone(), req.clone()));
        let name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
        Box::pin(async move {
            if name == "broken" {
                return Err(ApiError::internal(format!(
                    "unable to upgrade connection: container not found (\"{container}\")"
                )));
            }
            Ok(run_command(req.command, req.tty))
        })
    }

    fn attach(
        &self,
        _pod: Value,
        _container: String,
        req: AttachRequest,
    ) -> BoxFuture<ApiResult<Session>> {
        Box::pin(async move {
            // The container's main process shouts back whatever it reads.
            Ok(session_pipes(None, move |(mut stdin, mut stdout, _)| {
                Box::pin(async move {
                    let mut buf = [0u8; 1024];
                    if !req.stdin {
                        stdout
                            .write_all(b"attached\n")
                            .await
                            .map_err(|e| e.to_string())?;
                        return Ok(0);
                    }
                    loop {
                        match stdin.read(&mut buf).await {
                            Ok(0) | Err(_) => return Ok(0),
                            Ok(n) => stdout
                                .write_all(&buf[..n].to_ascii_uppercase())
                                .await
                                .map_err(|e| e.to_string())?,
                        }
                    }
                })
            }))
        })
    }

    fn port_forward(&self, _pod: Value, port: u16) -> BoxFuture<ApiResult<BoxedIo>> {
        let echo = self.echo;
        Box::pin(async move {
            if port != 80 {
                return Err(ApiError::internal(format!(
                    "failed to connect to localhost:{port} inside namespace: connection refused"
                )));
            }
            let s = TcpStream::connect(echo)
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(Box::new(s) as BoxedIo)
        })
    }
}

/// An echo server on 127.0.0.1 standing in for a pod's port 80.
async fn echo_server() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

// ------------------------------------------------------------------- server

struct TestServer {
    addr: SocketAddr,
    app: AppState,
    node: Arc<FakeNode>,
    ca_pem: String,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn pod(name: &str, containers: &[&str], init: &[&str], node: Option<&str>) -> Value {
    let list = |names: &[&str]| -> Vec<Value> {
        names
            .iter()
            .map(|n| json!({"name": n, "image": "busybox", "stdin": true}))
            .collect()
    };
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": list(containers)},
    });
    if !init.is_empty() {
        p["spec"]["initContainers"] = json!(list(init));
    }
    if let Some(n) = node {
        p["spec"]["nodeName"] = json!(n);
    }
    p
}

async fn start() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(k1s_store::Store::open(&dir.path().join("db")).unwrap());
    let api = Api::new(store, ClusterConfig::default());
    let node = Arc::new(FakeNode {
        echo: echo_server().await,
        logs_asked: Mutex::default(),
        execs: Mutex::default(),
    });
    let pki = k1s_apiserver::tls::ensure(
        &dir.path().join("pki"),
        &["localhost".to_string()],
        &["127.0.0.1".parse().unwrap()],
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = AppState {
        api: api.clone(),
        token: Arc::new(TOKEN.into()),
        metrics: Default::default(),
        openapi: Arc::new(k1s_openapi::OpenApi::build()),
        server_address: Arc::new(addr.to_string()),
        started: std::time::Instant::now(),
        ready: Arc::new(AtomicBool::new(true)),
        pod_streams: Some(node.clone()),
    };
    let opts = WriteOptions::default();
    let lookup = |p| k1s_api::resource::lookup("", p).unwrap();
    api.create(
        lookup("namespaces"),
        None,
        json!({"metadata": {"name": "default"}}),
        &opts,
    )
    .await
    .unwrap();
    for p in [
        pod("web", &["app"], &[], Some("node1")),
        pod("multi", &["a", "b"], &["setup"], Some("node1")),
        pod("pending", &["app"], &[], None),
        pod("broken", &["app"], &[], Some("node1")),
        pod("waiting", &["waiting"], &[], Some("node1")),
    ] {
        let name = p["metadata"]["name"].as_str().unwrap().to_string();
        let created = api
            .create(lookup("pods"), Some("default"), p, &opts)
            .await
            .unwrap()
            .object;
        if name != "pending" {
            let mut running = created.clone();
            running["status"] = json!({"phase": "Running"});
            api.update(
                lookup("pods"),
                Some("default"),
                &name,
                running,
                Some("status"),
                &opts,
            )
            .await
            .unwrap();
        }
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let tls = k1s_apiserver::tls::server_config(&pki).unwrap();
    k1s_apiserver::serve(listener, tls, app.clone(), async {
        let _ = stop_rx.await;
    })
    .unwrap();
    TestServer {
        addr,
        app,
        node,
        ca_pem: pki.ca_pem,
        dir,
        stop: Some(stop_tx),
    }
}

impl TestServer {
    async fn tls(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut self.ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect("127.0.0.1".try_into().unwrap(), tcp)
            .await
            .unwrap()
    }

    /// A plain request through the router (no upgrade needed).
    async fn get(&self, path: &str) -> (StatusCode, String) {
        use http_body_util::BodyExt;
        use tower::ServiceExt;
        let req = http::Request::builder()
            .uri(path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = k1s_apiserver::router(self.app.clone())
            .oneshot(req)
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn websocket(
        &self,
        path: &str,
        protocol: &str,
    ) -> tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>> {
        let url = format!("wss://127.0.0.1:{}{path}", self.addr.port());
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
        req.headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
        let (ws, resp) = tokio_tungstenite::client_async(req, self.tls().await)
            .await
            .unwrap();
        assert_eq!(resp.headers()["sec-websocket-protocol"], protocol);
        ws
    }

    fn kubeconfig(&self) -> PathBuf {
        let path = self.dir.path().join("kubeconfig");
        let ca = base64_encode(self.ca_pem.as_bytes());
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: {ca}
    server: https://127.0.0.1:{}
  name: t
contexts:
- context: {{cluster: t, namespace: default, user: admin}}
  name: t
current-context: t
users:
- name: admin
  user: {{token: {TOKEN}}}
",
                self.addr.port()
            ),
        )
        .unwrap();
        path
    }

    fn kubectl_cmd(&self, binary: &str, args: &[&str]) -> tokio::process::Command {
        let home = self.dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut cmd = tokio::process::Command::new(binary);
        cmd.args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", &home)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs kubectl to completion with `input` on stdin.
    async fn kubectl_with(
        &self,
        binary: &str,
        args: &[&str],
        input: &[u8],
    ) -> std::process::Output {
        let mut child = self
            .kubectl_cmd(binary, args)
            .spawn()
            .expect("kubectl runs");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).await.unwrap();
        drop(stdin);
        tokio::time::timeout(LIMIT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
            .unwrap()
    }

    async fn kubectl(&self, args: &[&str]) -> std::process::Output {
        self.kubectl_with("kubectl", args, b"").await
    }
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Reads frames until the server closes: (channel, payload) in order and
/// the close code.
async fn drain(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>,
) -> (Vec<(u8, Vec<u8>)>, Option<u16>) {
    let mut frames = Vec::new();
    loop {
        let msg = tokio::time::timeout(LIMIT, ws.next())
            .await
            .expect("server finished in time");
        match msg {
            Some(Ok(Message::Binary(b))) => frames.push((b[0], b[1..].to_vec())),
            Some(Ok(Message::Close(c))) => return (frames, c.map(|c| u16::from(c.code))),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("websocket error: {e}"),
            None => return (frames, None),
        }
    }
}

fn channel(frames: &[(u8, Vec<u8>)], ch: u8) -> String {
    text(
        &frames
            .iter()
            .filter(|(c, _)| *c == ch)
            .flat_map(|(_, d)| d.clone())
            .collect::<Vec<u8>>(),
    )
}

// -------------------------------------------------------- checks before I/O

#[tokio::test]
async fn container_choice_and_validation_answer_like_kube_apiserver() {
    let s = start().await;
    let (code, body) = s.get("/api/v1/namespaces/default/pods/multi/log").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["reason"], "BadRequest");
    assert_eq!(
        v["message"],
        "a container name must be specified for pod multi, choose one of: [setup a b]"
    );
    let (code, body) = s
        .get("/api/v1/namespaces/default/pods/web/exec?container=x&command=ls&stdout=true")
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["message"],
        "container x is not valid for pod web"
    );
    let (code, body) = s.get("/api/v1/namespaces/default/pods/nope/log").await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["message"],
        "pods \"nope\" not found"
    );
    let (code, body) = s
        .get("/api/v1/namespaces/default/pods/web/log?tailLines=-5")
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["message"],
        "PodLogOptions \"web\" is invalid: tailLines: Invalid value: -5: must be greater than or equal to 0"
    );
    assert_eq!(v["details"]["causes"][0]["field"], "tailLines");
    let (code, body) = s
        .get("/api/v1/namespaces/default/pods/pending/exec?command=ls&stdout=true")
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["message"],
        "pod pending does not have a host assigned"
    );
    // Not an upgrade at all.
    let (code, body) = s
        .get("/api/v1/namespaces/default/pods/web/exec?command=ls&stdout=true")
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["message"],
        "Upgrade request required"
    );
    // Logs of a pod not yet on a node are empty, not an error.
    let (code, body) = s.get("/api/v1/namespaces/default/pods/pending/log").await;
    assert_eq!((code, body.as_str()), (StatusCode::OK, ""));
    // The node's own refusal is passed through.
    let (code, body) = s.get("/api/v1/namespaces/default/pods/waiting/log").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("is waiting to start: ContainerCreating"),
        "{body}"
    );
}

#[tokio::test]
async fn logs_stream_with_the_options_the_client_gave() {
    let s = start().await;
    let (code, body) = s
        .get("/api/v1/namespaces/default/pods/multi/log?container=b&follow=true&tailLines=2&timestamps=true&sinceSeconds=60&limitBytes=1000&previous=false")
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(body, "b line 1\nb line 2\nb line 3\n");
    let asked = s.node.logs_asked.lock().unwrap().clone();
    assert_eq!(
        asked.last().unwrap(),
        &(
            "b".to_string(),
            LogOptions {
                follow: true,
                tail_lines: Some(2),
                timestamps: true,
                since_seconds: Some(60),
                limit_bytes: Some(1000),
                ..Default::default()
            }
        )
    );
}

// ------------------------------------------------ exec over v5 WebSocket

#[tokio::test]
async fn exec_over_v5_frames_channels_and_reports_success() {
    let s = start().await;
    let mut ws = s
        .websocket(
            "/api/v1/namespaces/default/pods/web/exec?command=echo&command=hello&command=world&stdout=true&stderr=true",
            "v5.channel.k8s.io",
        )
        .await;
    let (frames, close) = drain(&mut ws).await;
    // First an empty frame on stdout ("ready"), then output, then status.
    assert_eq!(frames[0], (1, vec![]));
    assert_eq!(channel(&frames, 1), "hello world\n");
    assert_eq!(channel(&frames, 3), r#"{"metadata":{},"status":"Success"}"#);
    assert_eq!(frames.last().unwrap().0, 3, "status comes last");
    assert_eq!(close, Some(1000));
    assert_eq!(
        s.node.execs.lock().unwrap()[0],
        (
            "app".to_string(),
            ExecRequest {
                command: vec!["echo".into(), "hello".into(), "world".into()],
                stdin: false,
                stdout: true,
                stderr: true,
                tty: false
            }
        )
    );
}

#[tokio::test]
async fn exec_exit_code_travels_as_a_status_cause() {
    let s = start().await;
    let mut ws = s
        .websocket(
            "/api/v1/namespaces/default/pods/web/exec?command=complain&stdout=true&stderr=true",
            "v5.channel.k8s.io",
        )
        .await;
    let (frames, _) = drain(&mut ws).await;
    assert_eq!(channel(&frames, 1), "to stdout\n");
    assert_eq!(channel(&frames, 2), "to stderr\n");
    let status: Value = serde_json::from_str(&channel(&frames, 3)).unwrap();
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["reason"], "ExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "1");
    assert_eq!(
        status["message"],
        "command terminated with non-zero exit code: command terminated with exit code 1"
    );
}

#[tokio::test]
async fn stdin_half_close_ends_the_input_and_resizes_reach_the_process() {
    let s = start().await;
    let mut ws = s
        .websocket(
            "/api/v1/namespaces/default/pods/web/exec?command=sizes&stdin=true&stdout=true&tty=true&stderr=true",
            "v5.channel.k8s.io",
        )
        .await;
    ws.send(Message::Binary(Bytes::from_static(
        b"\x04{\"Width\":120,\"Height\":40}",
    )))
    .await
    .unwrap();
    // Wait for the size to come back before typing, so the order is fixed.
    let first = loop {
        match tokio::time::timeout(LIMIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Binary(b))) if b.len() > 1 => break b,
            Some(Ok(_)) => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(&first[..], b"\x01120x40\n");
    ws.send(Message::Binary(Bytes::from_static(b"\x00typed")))
        .await
        .unwrap();
    // v5 half-close of stdin: the process sees EOF and exits.
    ws.send(Message::Binary(Bytes::from_static(&[255, 0])))
        .await
        .unwrap();
    let (frames, close) = drain(&mut ws).await;
    assert_eq!(channel(&frames, 1), "typed");
    assert!(frames.iter().all(|(c, _)| *c != 2), "no stderr with a TTY");
    assert_eq!(channel(&frames, 3), r#"{"metadata":{},"status":"Success"}"#);
    assert_eq!(close, Some(1000));
}

#[tokio::test]
async fn start_failures_and_runtime_failures_are_internal_errors() {
    let s = start().await;
    let mut ws = s
        .websocket(
            "/api/v1/namespaces/default/pods/broken/exec?command=ls&stdout=true",
            "v5.channel.k8s.io",
        )
        .await;
    let (frames, close) = drain(&mut ws).await;
    let status: Value = serde_json::from_str(&channel(&frames, 3)).unwrap();
    assert_eq!(
        status["message"],
        "Internal error occurred: unable to upgrade connection: container not found (\"app\")"
    );
    assert_eq!(status["code"], 500);
    assert_eq!(close, Some(1000));

    let mut ws = s
        .websocket(
            "/api/v1/namespaces/default/pods/web/exec?command=nope&stdout=true",
            "v5.channel.k8s.io",
        )
        .await;
    let (frames, _) = drain(&mut ws).await;
    let status: Value = serde_json::from_str(&channel(&frames, 3)).unwrap();
    assert_eq!(status["reason"], "InternalError");
    assert!(status["message"]
        .as_str()
        .unwrap()
        .starts_with("Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container"));
}

#[tokio::test]
async fn v4_clients_get_the_kubelets_wording() {
    let s = start().await;
    let mut ws = s
        .websocket(
            "/api/v1/namespaces/default/pods/web/exec?command=sh&command=-c&command=exit+3&stdout=true",
            "v4.channel.k8s.io",
        )
        .await;
    let (frames, _) = drain(&mut ws).await;
    let status: Value = serde_json::from_str(&channel(&frames, 3)).unwrap();
    assert_eq!(
        status["message"],
        "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
    );
}

#[tokio::test]
async fn attach_copies_stdin_until_the_client_closes_it() {
    let s = start().await;
    let mut ws = s
        .websocket(
            "/api/v1/namespaces/default/pods/web/attach?stdin=true&stdout=true&stderr=true",
            "v5.channel.k8s.io",
        )
        .await;
    ws.send(Message::Binary(Bytes::from_static(b"\x00hello")))
        .await
        .unwrap();
    ws.send(Message::Binary(Bytes::from_static(&[255, 0])))
        .await
        .unwrap();
    let (frames, _) = drain(&mut ws).await;
    assert_eq!(channel(&frames, 1), "HELLO");
    assert_eq!(channel(&frames, 3), r#"{"metadata":{},"status":"Success"}"#);
}

// ------------------------------------- port-forward: SPDY inside WebSocket

/// Just enough of a SPDY client over the WebSocket tunnel.
struct TunnelClient {
    ws: tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>,
    compressor: HeaderCompressor,
    decompressor: HeaderDecompressor,
    buf: BytesMut,
}

impl TunnelClient {
    async fn send(&mut self, f: Frame) {
        let mut out = BytesMut::new();
        frame::encode(&f, &mut out).unwrap();
        self.ws.send(Message::Binary(out.freeze())).await.unwrap();
    }

    async fn open(&mut self, id: u32, headers: &[(&str, &str)]) {
        let block = HeaderBlock(
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let z = self.compressor.compress(&block).unwrap();
        self.send(Frame::SynStream {
            stream_id: id,
            associated_to: 0,
            priority: 0,
            flags: 0,
            headers: z.into(),
        })
        .await;
    }

    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = frame::decode(&mut self.buf).unwrap() {
                if let Frame::SynReply { headers, .. } = &f {
                    assert_eq!(
                        self.decompressor.decompress(headers).unwrap(),
                        HeaderBlock::default()
                    );
                }
                return Some(f);
            }
            match tokio::time::timeout(LIMIT, self.ws.next()).await.unwrap() {
                Some(Ok(Message::Binary(b))) => self.buf.extend_from_slice(&b),
                Some(Ok(Message::Close(_))) | None => return None,
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("{e}"),
            }
        }
    }

    /// DATA on `id` until its FIN (or a reset).
    async fn read_stream(&mut self, id: u32) -> Vec<u8> {
        let mut got = Vec::new();
        while let Some(f) = self.next().await {
            match f {
                Frame::Data {
                    stream_id,
                    flags,
                    data,
                } if stream_id == id => {
                    got.extend_from_slice(&data);
                    if flags & FLAG_FIN != 0 {
                        break;
                    }
                }
                Frame::RstStream { stream_id, .. } if stream_id == id => break,
                _ => {}
            }
        }
        got
    }
}

#[tokio::test]
async fn port_forward_tunnels_spdy_through_websocket() {
    let s = start().await;
    let ws = s
        .websocket(
            "/api/v1/namespaces/default/pods/web/portforward",
            "SPDY/3.1+portforward.k8s.io",
        )
        .await;
    let mut c = TunnelClient {
        ws,
        compressor: HeaderCompressor::new().unwrap(),
        decompressor: HeaderDecompressor::default(),
        buf: BytesMut::new(),
    };
    // kubectl's order: error stream, then data stream, same requestID.
    c.open(
        1,
        &[("streamType", "error"), ("port", "80"), ("requestID", "0")],
    )
    .await;
    assert!(matches!(
        c.next().await,
        Some(Frame::SynReply { stream_id: 1, .. })
    ));
    c.open(
        3,
        &[("streamType", "data"), ("port", "80"), ("requestID", "0")],
    )
    .await;
    assert!(matches!(
        c.next().await,
        Some(Frame::SynReply { stream_id: 3, .. })
    ));
    c.send(Frame::Data {
        stream_id: 3,
        flags: 0,
        data: Bytes::from_static(b"GET / HTTP/1.0\r\n\r\n"),
    })
    .await;
    let mut echoed = Vec::new();
    while echoed.len() < 18 {
        match c.next().await.unwrap() {
            Frame::Data {
                stream_id: 3, data, ..
            } => echoed.extend_from_slice(&data),
            Frame::Ping { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(echoed, b"GET / HTTP/1.0\r\n\r\n");
    // Pings are answered (kubectl sends one every 10 s).
    c.send(Frame::Ping { id: 1 }).await;
    assert_eq!(c.next().await, Some(Frame::Ping { id: 1 }));

    // A port nobody listens on: the error stream says why, like the kubelet.
    c.open(
        5,
        &[("streamType", "error"), ("port", "81"), ("requestID", "1")],
    )
    .await;
    assert!(matches!(
        c.next().await,
        Some(Frame::SynReply { stream_id: 5, .. })
    ));
    c.open(
        7,
        &[("streamType", "data"), ("port", "81"), ("requestID", "1")],
    )
    .await;
    assert!(matches!(
        c.next().await,
        Some(Frame::SynReply { stream_id: 7, .. })
    ));
    let err = c.read_stream(5).await;
    let uid = s
        .app
        .api
        .get(
            k1s_api::resource::lookup("", "pods").unwrap(),
            Some("default"),
            "web",
        )
        .unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        text(&err),
        format!("error forwarding port 81 to pod {uid}, uid : Internal error occurred: failed to connect to localhost:81 inside namespace: connection refused")
    );
    // A stream without a port is refused outright.
    c.open(9, &[("streamType", "data")]).await;
    assert!(matches!(
        c.next().await,
        Some(Frame::RstStream { stream_id: 9, .. })
    ));
}

// ---------------------------------------------------------- the real kubectl

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_logs_exec_and_attach() {
    let s = start().await;
    let out = s.kubectl(&["logs", "web"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "app line 1\napp line 2\napp line 3\n");

    let out = s
        .kubectl(&[
            "logs",
            "-f",
            "multi",
            "-c",
            "b",
            "--tail=2",
            "--timestamps",
            "--since=1h",
            "--limit-bytes=500",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "b line 1\nb line 2\nb line 3\n");
    assert_eq!(
        s.node.logs_asked.lock().unwrap().last().unwrap().1,
        LogOptions {
            follow: true,
            tail_lines: Some(2),
            timestamps: true,
            since_seconds: Some(3600),
            limit_bytes: Some(500),
            ..Default::default()
        }
    );
    let out = s.kubectl(&["logs", "--previous", "web"]).await;
    assert!(out.status.success());
    assert!(s.node.logs_asked.lock().unwrap().last().unwrap().1.previous);

    let out = s
        .kubectl(&["exec", "web", "--", "echo", "hello", "there"])
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello there\n");

    let out = s
        .kubectl(&["exec", "web", "--", "sh", "-c", "exit 3"])
        .await;
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out.stderr), "command terminated with exit code 3\n");

    let out = s.kubectl(&["exec", "web", "--", "complain"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "to stdout\n");
    assert_eq!(
        text(&out.stderr),
        "to stderr\ncommand terminated with exit code 1\n"
    );

    let out = s
        .kubectl_with(
            "kubectl",
            &["exec", "-i", "web", "--", "cat"],
            b"piped input\n",
        )
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "piped input\n");

    let out = s.kubectl(&["exec", "broken", "--", "ls"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: Internal error occurred: unable to upgrade connection: container not found (\"app\")\n"
    );

    let out = s.kubectl(&["exec", "web", "--", "nope"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: Internal error occurred: Internal error occurred: error executing command in container: failed to exec in container"),
        "{}",
        text(&out.stderr)
    );

    let out = s.kubectl(&["exec", "multi", "-c", "x", "--", "ls"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "Error from server (BadRequest): container x is not valid for pod multi\n"
    );

    let out = s
        .kubectl_with("kubectl", &["attach", "-i", "web"], b"shout\n")
        .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "SHOUT\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_exec_with_a_terminal_sends_its_size() {
    let s = start().await;
    // `script` gives kubectl a pseudo-terminal, so `-t` really allocates one.
    let kubeconfig = s.kubeconfig();
    let home = s.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut child = tokio::process::Command::new("script")
        .args([
            "-q",
            "-e",
            "-c",
            "stty cols 91 rows 33; kubectl exec -it web -- sizes",
            "/dev/null",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("HOME", &home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("script runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let found = tokio::time::timeout(LIMIT, async {
        let mut line = String::new();
        while stdout.read_line(&mut line).await.unwrap() > 0 {
            seen.push_str(&line);
            if line.contains("91x33") {
                return true;
            }
            line.clear();
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(found, "terminal size not reported; output: {seen:?}");
    // Ctrl-D ends the remote stdin; kubectl exits cleanly.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"\x04").await.unwrap();
    let status = tokio::time::timeout(LIMIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

/// Runs `kubectl port-forward … :80` and returns the local port it listens on.
async fn port_forward(s: &TestServer, target: &str) -> (tokio::process::Child, u16) {
    forwarding(s.kubectl_cmd(
        "kubectl",
        &["port-forward", "--address", "127.0.0.1", target, ":80"],
    ))
    .await
}

async fn forwarding(mut cmd: tokio::process::Command) -> (tokio::process::Child, u16) {
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(LIMIT, stdout.read_line(&mut line))
        .await
        .expect("kubectl port-forward started")
        .unwrap();
    // "Forwarding from 127.0.0.1:40123 -> 80"
    let port = line
        .split_whitespace()
        .nth(2)
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected port-forward output {line:?}"));
    // kubectl prints "Handling connection for …" per connection: keep reading
    // so it never writes to a closed pipe.
    tokio::spawn(async move {
        let mut sink = tokio::io::sink();
        let _ = tokio::io::copy(&mut stdout, &mut sink).await;
    });
    (child, port)
}

async fn echo_through(port: u16, payload: &[u8]) -> Vec<u8> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    conn.write_all(payload).await.unwrap();
    let mut got = vec![0u8; payload.len()];
    tokio::time::timeout(LIMIT, conn.read_exact(&mut got))
        .await
        .expect("echo came back")
        .unwrap();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_port_forward_over_websocket_tunnel() {
    let s = start().await;
    let (mut child, port) = port_forward(&s, "pod/web").await;
    // :80 is the pod's port; several connections share one tunnel.
    let _ = child.stdin.take();
    for i in 0..3 {
        let payload = format!("hello {i} ").repeat(5000).into_bytes();
        assert_eq!(echo_through(port, &payload).await, payload);
    }
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kubectl_falls_back_to_plain_spdy_for_exec_and_port_forward() {
    let s = start().await;
    // kubectl's switches for clients (and proxies) without WebSockets: the
    // same kubectl then speaks SPDY/3.1 over an HTTP/1.1 upgrade.
    let spdy = |args: &[&str], input: &'static [u8]| {
        let mut cmd = s.kubectl_cmd("kubectl", args);
        cmd.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
            .env("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false");
        async move {
            let mut child = cmd.spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(input).await.unwrap();
            drop(stdin);
            tokio::time::timeout(LIMIT, child.wait_with_output())
                .await
                .expect("kubectl finished")
                .unwrap()
        }
    };
    let out = spdy(&["exec", "web", "--", "echo", "via", "spdy"], b"").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "via spdy\n");
    let out = spdy(&["exec", "web", "--", "sh", "-c", "exit 4"], b"").await;
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(text(&out.stderr), "command terminated with exit code 4\n");
    let out = spdy(&["exec", "web", "--", "complain"], b"").await;
    assert_eq!(text(&out.stdout), "to stdout\n");
    assert_eq!(
        text(&out.stderr),
        "to stderr\ncommand terminated with exit code 1\n"
    );
    let out = spdy(&["exec", "-i", "web", "--", "cat"], b"spdy stdin\n").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "spdy stdin\n");
    let out = spdy(&["attach", "-i", "web"], b"quiet\n").await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "QUIET\n");
    let out = spdy(&["exec", "broken", "--", "ls"], b"").await;
    assert_eq!(
        text(&out.stderr),
        "Error from server (InternalError): Internal error occurred: unable to upgrade connection: container not found (\"app\")\n"
    );

    let mut cmd = s.kubectl_cmd(
        "kubectl",
        &["port-forward", "--address", "127.0.0.1", "pod/web", ":80"],
    );
    cmd.env("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false");
    let (mut child, port) = forwarding(cmd).await;
    let payload = b"over plain spdy".repeat(1000);
    assert_eq!(echo_through(port, &payload).await, payload);
    assert_eq!(echo_through(port, b"again").await, b"again");
    child.kill().await.unwrap();
}
