//! `kubectl attach`'s node end: connects to a container's shim on
//! `<bundle>/attach.sock` and turns the framed socket (attach_proto) into
//! separate stdin/stdout/stderr streams plus a resize handle.
//!
//! Two pump tasks do the work: one demultiplexes shim frames into
//! in-memory pipes, one turns the stdin pipe and resize requests into
//! frames. Both end when the socket or every stream handle is gone.

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use super::attach_proto::{read_frame, write_frame, Frame};
use super::Runtime;

/// In-memory pipe size per stream: enough to keep the shim's output
/// flowing while a client reads.
const PIPE_BUFFER: usize = 64 * 1024;

/// What the client attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachSpec {
    pub stdin: bool,
    pub tty: bool,
}

/// One attach session.
pub struct AttachStream {
    /// When `AttachSpec::stdin`: bytes go to the container's stdin;
    /// shutting it down (or dropping it) sends stdin EOF, which the shim
    /// honours for `stdinOnce` containers.
    pub stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    /// The container's stdout (everything, with a tty).
    pub stdout: Box<dyn AsyncRead + Send + Unpin>,
    /// The container's stderr; None with a tty.
    pub stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Terminal resizes, with a tty.
    pub resize: Option<AttachResizer>,
}

/// Sends terminal sizes to the shim.
#[derive(Debug, Clone)]
pub struct AttachResizer {
    tx: mpsc::UnboundedSender<(u16, u16)>,
}

impl AttachResizer {
    /// Queues a resize; fails once the session has ended.
    pub fn resize(&self, cols: u16, rows: u16) -> io::Result<()> {
        self.tx
            .send((cols, rows))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "attach session ended"))
    }
}

impl Runtime {
    /// Attaches to container `id`'s stdio through its shim.
    pub async fn attach(&self, id: &str, spec: AttachSpec) -> io::Result<AttachStream> {
        attach_socket(&self.attach_socket(id)?, spec).await
    }
}

/// Attaches through the shim socket at `socket`.
pub async fn attach_socket(socket: &Path, spec: AttachSpec) -> io::Result<AttachStream> {
    let conn = connect_long(socket).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "failed to connect to the attach socket {}: {e}",
                socket.display()
            ),
        )
    })?;
    let (socket_rx, socket_tx) = conn.into_split();

    let (stdout_w, stdout_r) = tokio::io::duplex(PIPE_BUFFER);
    let (stderr_w, stderr_r) = if spec.tty {
        (None, None)
    } else {
        let (w, r) = tokio::io::duplex(PIPE_BUFFER);
        (Some(w), Some(r))
    };
    tokio::spawn(pump_output(socket_rx, stdout_w, stderr_w));

    let (stdin_w, stdin_r) = if spec.stdin {
        let (w, r) = tokio::io::duplex(PIPE_BUFFER);
        (Some(w), Some(r))
    } else {
        (None, None)
    };
    let (resize_tx, resize_rx) = mpsc::unbounded_channel();
    tokio::spawn(pump_input(socket_tx, stdin_r, resize_rx));

    Ok(AttachStream {
        stdin: stdin_w.map(|w| Box::new(w) as Box<dyn AsyncWrite + Send + Unpin>),
        stdout: Box::new(stdout_r),
        stderr: stderr_r.map(|r| Box::new(r) as Box<dyn AsyncRead + Send + Unpin>),
        resize: spec.tty.then_some(AttachResizer { tx: resize_tx }),
    })
}

/// Connects through /proc/self/fd/<dir>/<name>, so a bundle path longer
/// than a unix socket address allows (108 bytes) still works.
async fn connect_long(socket: &Path) -> io::Result<UnixStream> {
    let (Some(dir), Some(name)) = (socket.parent(), socket.file_name()) else {
        return UnixStream::connect(socket).await;
    };
    let dir = std::fs::File::open(dir)?;
    let short = Path::new("/proc/self/fd")
        .join(dir.as_raw_fd().to_string())
        .join(name);
    let conn = UnixStream::connect(&short).await;
    drop(dir);
    conn
}

/// Shim frames → stdout/stderr pipes. A stream whose reader is gone is
/// dropped so the other keeps flowing; ends at the socket's end.
async fn pump_output<R: AsyncRead + Unpin>(
    mut socket: R,
    stdout: DuplexStream,
    stderr: Option<DuplexStream>,
) {
    let mut stdout = Some(stdout);
    let mut stderr = stderr;
    loop {
        let frame = match read_frame(&mut socket).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "attach socket read ended");
                break;
            }
        };
        let (target, bytes) = match frame {
            Frame::Stdout(b) => (&mut stdout, b),
            // Without a stderr pipe (tty), stray stderr joins stdout.
            Frame::Stderr(b) if stderr.is_some() => (&mut stderr, b),
            Frame::Stderr(b) => (&mut stdout, b),
            other => {
                tracing::debug!(?other, "unexpected frame from the shim");
                continue;
            }
        };
        if let Some(w) = target.as_mut() {
            if w.write_all(&bytes).await.is_err() {
                *target = None;
            }
        }
        if stdout.is_none() && stderr.is_none() {
            break;
        }
    }
}

/// stdin pipe and resizes → shim frames. stdin EOF is sent once when the
/// client closes its stdin; the task ends with the stdin pipe and the
/// resizer both gone, or when the socket fails.
async fn pump_input<W: AsyncWrite + Unpin>(
    mut socket: W,
    mut stdin: Option<DuplexStream>,
    mut resizes: mpsc::UnboundedReceiver<(u16, u16)>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    let mut resizes_open = true;
    loop {
        if stdin.is_none() && !resizes_open {
            break;
        }
        let frame = tokio::select! {
            read = read_some(&mut stdin, &mut buf), if stdin.is_some() => match read {
                Ok(0) | Err(_) => {
                    stdin = None;
                    Frame::StdinEof
                }
                Ok(n) => Frame::Stdin(buf[..n].to_vec()),
            },
            size = resizes.recv(), if resizes_open => match size {
                Some((cols, rows)) => Frame::Resize { cols, rows },
                None => {
                    resizes_open = false;
                    continue;
                }
            },
        };
        if let Err(e) = write_frame(&mut socket, &frame).await {
            tracing::debug!(error = %e, "attach socket write ended");
            break;
        }
    }
    let _ = socket.shutdown().await;
}

async fn read_some(stdin: &mut Option<DuplexStream>, buf: &mut [u8]) -> io::Result<usize> {
    match stdin.as_mut() {
        Some(r) => r.read(buf).await,
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::state::ATTACH_SOCKET;
    use std::time::Duration;
    use tokio::net::UnixListener;

    /// A stand-in shim speaking attach_proto: echoes stdin to stdout
    /// upper-cased and to stderr as-is, reports resizes and stdin EOF on
    /// stdout, then closes.
    async fn fake_shim(listener: UnixListener) {
        let (conn, _) = listener.accept().await.unwrap();
        let (mut rx, mut tx) = conn.into_split();
        while let Some(frame) = read_frame(&mut rx).await.unwrap() {
            match frame {
                Frame::Stdin(b) => {
                    write_frame(&mut tx, &Frame::Stdout(b.to_ascii_uppercase()))
                        .await
                        .unwrap();
                    write_frame(&mut tx, &Frame::Stderr(b)).await.unwrap();
                }
                Frame::Resize { cols, rows } => {
                    let msg = format!("resize {cols}x{rows}\n").into_bytes();
                    write_frame(&mut tx, &Frame::Stdout(msg)).await.unwrap();
                }
                Frame::StdinEof => {
                    write_frame(&mut tx, &Frame::Stdout(b"eof\n".to_vec()))
                        .await
                        .unwrap();
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    async fn read_all(r: &mut (dyn AsyncRead + Send + Unpin)) -> String {
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), r.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Serves [`fake_shim`] on `listen_at` (where the shim binds) and
    /// attaches with stdin to `socket`.
    async fn attach_to_fake_shim(
        listen_at: &Path,
        socket: &Path,
        tty: bool,
    ) -> (AttachStream, tokio::task::JoinHandle<()>) {
        let shim = tokio::spawn(fake_shim(UnixListener::bind(listen_at).unwrap()));
        let spec = AttachSpec { stdin: true, tty };
        (attach_socket(socket, spec).await.unwrap(), shim)
    }

    #[tokio::test]
    async fn demuxes_streams_and_sends_stdin_and_eof() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ATTACH_SOCKET);
        let (mut a, shim) = attach_to_fake_shim(&path, &path, false).await;
        assert!(a.resize.is_none());
        let mut stdin = a.stdin.take().unwrap();
        stdin.write_all(b"hello\n").await.unwrap();
        stdin.shutdown().await.unwrap();
        drop(stdin);
        let mut stderr = a.stderr.take().unwrap();
        let (out, err) = tokio::join!(read_all(&mut *a.stdout), read_all(&mut *stderr));
        assert_eq!(out, "HELLO\neof\n");
        assert_eq!(err, "hello\n");
        shim.await.unwrap();
    }

    #[tokio::test]
    async fn tty_session_has_resize_and_no_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ATTACH_SOCKET);
        let (mut a, shim) = attach_to_fake_shim(&path, &path, true).await;
        assert!(a.stderr.is_none());
        a.resize.as_ref().unwrap().resize(100, 30).unwrap();
        // Give the resize a head start so the order on the wire is fixed.
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(a.stdin.take());
        assert_eq!(read_all(&mut *a.stdout).await, "resize 100x30\neof\n");
        shim.await.unwrap();
    }

    #[tokio::test]
    async fn sockets_deeper_than_a_socket_address_allows_still_connect() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("d".repeat(60)).join("e".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let path = deep.join(ATTACH_SOCKET);
        assert!(path.as_os_str().len() > 108);
        // Bound the same way a shim does: relative to its directory.
        let dir_fd = std::fs::File::open(&deep).unwrap();
        let short = format!("/proc/self/fd/{}/{ATTACH_SOCKET}", dir_fd.as_raw_fd());
        let (mut a, shim) = attach_to_fake_shim(Path::new(&short), &path, false).await;
        drop(a.stdin.take());
        assert_eq!(read_all(&mut *a.stdout).await, "eof\n");
        shim.await.unwrap();
    }

    #[tokio::test]
    async fn missing_socket_is_an_error_naming_it() {
        let err = attach_socket(
            Path::new("/nonexistent/k1s/attach.sock"),
            AttachSpec {
                stdin: false,
                tty: false,
            },
        )
        .await
        .err()
        .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            err.to_string().contains("/nonexistent/k1s/attach.sock"),
            "{err}"
        );
    }
}
