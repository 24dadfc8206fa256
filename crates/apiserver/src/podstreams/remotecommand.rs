//! exec and attach sessions over WebSocket channels or SPDY streams: the
//! copying between client and container, then the final status (see
//! [`super::status`]) on the error channel.

use super::spdy::{Connection, IncomingStream};
use super::status::{outcome_status, start_error_status, Dialect, Kind};
use super::websocket::{self, ChannelProtocol, ClientFrame};
use super::{BoxFuture, Session, TermSize};
use axum::extract::ws::WebSocket;
use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use k1s_api::ApiResult;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// After the process exits, how long its output may still drain (a child
/// left in the background can hold stdout open forever).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(10);

/// How long the client has to open its SPDY streams (kubelet's default).
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to wait for the client's close after ours.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The standard streams the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamFlags {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// Output of the container towards the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    Stdout(Bytes),
    Stderr(Bytes),
}

/// The client's side of a session, whatever carries it.
pub struct ClientStreams {
    /// The client's stdin; its end means EOF.
    pub stdin: Option<mpsc::Receiver<Bytes>>,
    /// Raw bytes of the resize channel (a stream of JSON sizes).
    pub resize: Option<mpsc::Receiver<Bytes>>,
    pub output: mpsc::Sender<Output>,
}

/// Splits a resize channel's bytes into terminal sizes, keeping an
/// incomplete tail in `pending`. `Err` when the client sent garbage (the
/// kubelet stops reading resizes then).
pub fn parse_sizes(pending: &mut Vec<u8>, chunk: &[u8]) -> Result<Vec<TermSize>, ()> {
    pending.extend_from_slice(chunk);
    let mut sizes = Vec::new();
    let mut used = 0;
    let mut iter = serde_json::Deserializer::from_slice(pending).into_iter::<TermSize>();
    loop {
        match iter.next() {
            Some(Ok(size)) => {
                sizes.push(size);
                used = iter.byte_offset();
            }
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(_)) => return Err(()),
            None => {
                used = pending.len();
                break;
            }
        }
    }
    pending.drain(..used);
    Ok(sizes)
}

async fn copy_output<R: AsyncRead + Unpin>(
    mut r: R,
    out: mpsc::Sender<Output>,
    wrap: fn(Bytes) -> Output,
) {
    let mut buf = BytesMut::with_capacity(32 * 1024);
    loop {
        buf.reserve(32 * 1024);
        match r.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if out.send(wrap(buf.split().freeze())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Runs a session to its end: copies stdin in, output out, forwards
/// resizes, and returns how the process ended once its output is drained.
pub async fn run_session(session: Session, client: ClientStreams) -> Result<i32, String> {
    let Session {
        stdin,
        stdout,
        stderr,
        resize,
        exit,
    } = session;
    let mut helpers = Vec::new();
    if let (Some(mut w), Some(mut rx)) = (stdin, client.stdin) {
        helpers.push(tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if w.write_all(&b).await.is_err() || w.flush().await.is_err() {
                    break;
                }
            }
            // The client closed its stdin (or went away): the process sees EOF.
            let _ = w.shutdown().await;
        }));
    }
    if let (Some(tx), Some(mut rx)) = (resize, client.resize) {
        helpers.push(tokio::spawn(async move {
            let mut pending = Vec::new();
            while let Some(chunk) = rx.recv().await {
                let Ok(sizes) = parse_sizes(&mut pending, &chunk) else {
                    break;
                };
                for s in sizes {
                    if tx.send(s).is_err() {
                        return;
                    }
                }
            }
        }));
    }
    let out = client.output;
    let outputs = async {
        let o = async {
            if let Some(r) = stdout {
                copy_output(r, out.clone(), Output::Stdout).await;
            }
        };
        let e = async {
            if let Some(r) = stderr {
                copy_output(r, out.clone(), Output::Stderr).await;
            }
        };
        futures::join!(o, e);
    };
    tokio::pin!(outputs);
    tokio::pin!(exit);
    let result = tokio::select! {
        r = &mut exit => {
            let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, &mut outputs).await;
            r
        }
        () = &mut outputs => exit.await,
    };
    for h in helpers {
        h.abort();
    }
    result
}

/// Serves one exec/attach over an upgraded WebSocket: readiness frame,
/// session start, copying, status on channel 3, normal close.
pub async fn serve_websocket(
    socket: WebSocket,
    protocol: ChannelProtocol,
    flags: StreamFlags,
    kind: Kind,
    start: BoxFuture<ApiResult<Session>>,
) {
    let dialect = Dialect::for_websocket(protocol);
    let (mut sink, mut stream) = socket.split();
    // The lowest writable channel gets an empty frame: "ready".
    let ready = if flags.stdout {
        websocket::STDOUT
    } else if flags.stderr {
        websocket::STDERR
    } else {
        websocket::ERROR
    };
    if sink
        .send(websocket::encode(protocol, ready, &[]))
        .await
        .is_err()
    {
        return;
    }
    let (stdin_tx, stdin_rx) = mpsc::channel::<Bytes>(16);
    let (resize_tx, resize_rx) = mpsc::channel::<Bytes>(16);
    let mut reader = tokio::spawn(async move {
        let mut stdin_tx = flags.stdin.then_some(stdin_tx);
        let resize_tx = flags.tty.then_some(resize_tx);
        while let Some(Ok(msg)) = stream.next().await {
            match websocket::decode(protocol, msg) {
                ClientFrame::Data(websocket::STDIN, data) => {
                    if let Some(tx) = &stdin_tx {
                        if tx.send(data).await.is_err() {
                            stdin_tx = None;
                        }
                    }
                }
                ClientFrame::Data(websocket::RESIZE, data) => {
                    if let Some(tx) = &resize_tx {
                        let _ = tx.send(data).await;
                    }
                }
                ClientFrame::Close(websocket::STDIN) => stdin_tx = None,
                ClientFrame::Data(..) | ClientFrame::Close(_) | ClientFrame::Ignore => {}
                ClientFrame::End => break,
            }
        }
    });
    let session = tokio::select! {
        s = start => s,
        _ = &mut reader => return,
    };
    let status = match session {
        Err(e) => Some(start_error_status(dialect, &e)),
        Ok(session) => {
            let (out_tx, mut out_rx) = mpsc::channel::<Output>(16);
            let run = run_session(
                session,
                ClientStreams {
                    stdin: flags.stdin.then_some(stdin_rx),
                    resize: flags.tty.then_some(resize_rx),
                    output: out_tx,
                },
            );
            let forward = async {
                while let Some(o) = out_rx.recv().await {
                    let msg = match o {
                        Output::Stdout(b) => websocket::encode(protocol, websocket::STDOUT, &b),
                        Output::Stderr(b) => websocket::encode(protocol, websocket::STDERR, &b),
                    };
                    if sink.send(msg).await.is_err() {
                        return false;
                    }
                }
                true
            };
            let both = async { futures::join!(run, forward) };
            tokio::select! {
                (result, delivered) = both => {
                    if !delivered {
                        return;
                    }
                    outcome_status(dialect, &kind, &result)
                }
                // The client went away: dropping the session ends it.
                _ = &mut reader => return,
            }
        }
    };
    if let Some(bytes) = status {
        let _ = sink
            .send(websocket::encode(protocol, websocket::ERROR, &bytes))
            .await;
    }
    let _ = sink.send(websocket::normal_close()).await;
    if tokio::time::timeout(CLOSE_GRACE, &mut reader)
        .await
        .is_err()
    {
        reader.abort();
    }
}

/// The stream types of the SPDY remote command protocol.
pub fn check_stream_type(headers: &super::spdy::HeaderBlock) -> Result<(), String> {
    match headers.get("streamtype") {
        Some("error" | "stdin" | "stdout" | "stderr" | "resize") => Ok(()),
        Some(other) => Err(format!("unexpected stream type: {other:?}")),
        None => Err("\"streamType\" header is required".into()),
    }
}

/// The SPDY remote command protocols, best first (kubelet's list).
pub const SPDY_PROTOCOLS: &[&str] = &[
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
];

/// Serves one exec/attach over a SPDY connection whose session has started.
pub async fn serve_spdy(
    mut conn: Connection,
    protocol: &str,
    flags: StreamFlags,
    kind: Kind,
    session: Session,
) {
    let dialect = if protocol == "v4.channel.k8s.io" {
        Dialect::KubeletJson
    } else {
        Dialect::KubeletText
    };
    let resizable = matches!(protocol, "v4.channel.k8s.io" | "v3.channel.k8s.io");
    let expected = 1
        + usize::from(flags.stdin)
        + usize::from(flags.stdout)
        + usize::from(flags.stderr)
        + usize::from(flags.tty && resizable);
    let mut streams: Vec<IncomingStream> = Vec::new();
    let deadline = tokio::time::sleep(STREAM_CREATION_TIMEOUT);
    tokio::pin!(deadline);
    while streams.len() < expected {
        tokio::select! {
            s = conn.streams.recv() => match s {
                Some(s) => streams.push(s),
                None => return,
            },
            () = &mut deadline => {
                tracing::debug!("exec: timed out waiting for client to create streams");
                conn.writer.close(0).await;
                return;
            }
        }
    }
    let mut ids = std::collections::HashMap::new();
    let mut stdin = None;
    let mut resize = None;
    let mut last = 0;
    for s in streams {
        last = last.max(s.id);
        let kind = s.headers.get("streamtype").unwrap_or("").to_string();
        match kind.as_str() {
            "stdin" => stdin = Some(s.data),
            "resize" => resize = Some(s.data),
            _ => {}
        }
        ids.insert(kind, s.id);
    }
    let writer = conn.writer.clone();
    let (out_tx, mut out_rx) = mpsc::channel::<Output>(16);
    let run = run_session(
        session,
        ClientStreams {
            stdin,
            resize,
            output: out_tx,
        },
    );
    let stdout_id = ids.get("stdout").copied();
    let stderr_id = ids.get("stderr").copied();
    let forward = async {
        while let Some(o) = out_rx.recv().await {
            let (id, data) = match o {
                Output::Stdout(b) => (stdout_id, b),
                Output::Stderr(b) => (stderr_id, b),
            };
            if let Some(id) = id {
                if writer.data(id, data).await.is_err() {
                    return false;
                }
            }
        }
        true
    };
    let client_gone = async {
        // Further streams are not part of the protocol; the end of the
        // stream list means the connection is gone.
        while conn.streams.recv().await.is_some() {}
    };
    let result = tokio::select! {
        (result, delivered) = async { futures::join!(run, forward) } => {
            if !delivered {
                return;
            }
            result
        }
        () = client_gone => return,
    };
    if let (Some(id), Some(bytes)) = (ids.get("error"), outcome_status(dialect, &kind, &result)) {
        let _ = writer.data(*id, bytes.into()).await;
    }
    for id in ids.values() {
        let _ = writer.fin(*id).await;
    }
    writer.close(last).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_bytes_split_into_sizes() {
        let mut pending = Vec::new();
        assert_eq!(
            parse_sizes(&mut pending, b"{\"Width\":80,\"Height\":24}\n{\"Wid").unwrap(),
            vec![TermSize {
                width: 80,
                height: 24
            }]
        );
        assert_eq!(
            parse_sizes(&mut pending, b"th\":100,\"Height\":40}").unwrap(),
            vec![TermSize {
                width: 100,
                height: 40
            }]
        );
        assert!(pending.is_empty());
        assert!(parse_sizes(&mut pending, b"{\"Width\":\"wide\"}").is_err());
    }

    struct Fake {
        stdin_seen: tokio::sync::oneshot::Receiver<Vec<u8>>,
        resizes: mpsc::UnboundedReceiver<TermSize>,
    }

    /// A session that echoes stdin to stdout, says "err" on stderr and
    /// exits 7 once stdin ends.
    fn echo_session() -> (Session, Fake) {
        let (to_proc, proc_stdin) = tokio::io::duplex(1024);
        let (proc_stdout, mut from_proc) = tokio::io::duplex(1024);
        let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
        let (resize_tx, resize_rx) = mpsc::unbounded_channel();
        let exit = Box::pin(async move {
            let mut input = Vec::new();
            let mut proc_stdin = proc_stdin;
            proc_stdin.read_to_end(&mut input).await.unwrap();
            from_proc.write_all(&input).await.unwrap();
            drop(from_proc);
            let _ = seen_tx.send(input);
            Ok(7)
        });
        (
            Session {
                stdin: Some(Box::new(to_proc)),
                stdout: Some(Box::new(proc_stdout)),
                stderr: Some(Box::new(&b"err"[..])),
                resize: Some(resize_tx),
                exit,
            },
            Fake {
                stdin_seen: seen_rx,
                resizes: resize_rx,
            },
        )
    }

    #[tokio::test]
    async fn a_session_copies_both_ways_and_reports_the_exit() {
        let (session, mut fake) = echo_session();
        let (stdin_tx, stdin_rx) = mpsc::channel(4);
        let (resize_tx, resize_rx) = mpsc::channel(4);
        let (out_tx, mut out_rx) = mpsc::channel(16);
        let run = tokio::spawn(run_session(
            session,
            ClientStreams {
                stdin: Some(stdin_rx),
                resize: Some(resize_rx),
                output: out_tx,
            },
        ));
        resize_tx
            .send(Bytes::from_static(b"{\"Width\":10,\"Height\":5}"))
            .await
            .unwrap();
        assert_eq!(
            fake.resizes.recv().await,
            Some(TermSize {
                width: 10,
                height: 5
            })
        );
        stdin_tx.send(Bytes::from_static(b"hello")).await.unwrap();
        drop(stdin_tx);
        assert_eq!(fake.stdin_seen.await.unwrap(), b"hello");
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        while let Some(o) = out_rx.recv().await {
            match o {
                Output::Stdout(b) => stdout.extend_from_slice(&b),
                Output::Stderr(b) => stderr.extend_from_slice(&b),
            }
        }
        assert_eq!(stdout, b"hello");
        assert_eq!(stderr, b"err");
        assert_eq!(run.await.unwrap(), Ok(7));
    }
}
