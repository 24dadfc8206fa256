//! The shim's side of attach: clients connect to the bundle's unix socket,
//! receive the container's output from then on (every client gets all of
//! it), and may write to its stdin and resize its tty.
//!
//! With `stdinOnce` (and no tty, as in containerd) the container's stdin
//! is closed when the first client that wrote to it stops doing so.

use super::attach_proto::{read_frame, write_frame, Frame};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Frames a client may lag behind before it is cut off: a stuck client
/// must not stall the container's output or the shim's memory.
const CLIENT_QUEUE: usize = 256;

/// What the stdin writer of the shim is asked to do.
#[derive(Debug, PartialEq, Eq)]
pub enum StdinCommand {
    Data(Vec<u8>),
    Close,
}

pub type ResizeFn = Arc<dyn Fn(u16, u16) + Send + Sync>;

pub struct Hub {
    clients: Mutex<Vec<(u64, mpsc::Sender<Frame>)>>,
    writers: Mutex<Vec<JoinHandle<()>>>,
    next_id: AtomicU64,
    stdin: Option<mpsc::UnboundedSender<StdinCommand>>,
    resize: Option<ResizeFn>,
    close_stdin_after_first_client: bool,
    stdin_closed: AtomicBool,
}

impl Hub {
    /// `stdin` is `None` when the container has no stdin; `resize` is set
    /// for tty containers.
    pub fn new(
        stdin: Option<mpsc::UnboundedSender<StdinCommand>>,
        resize: Option<ResizeFn>,
        stdin_once: bool,
        tty: bool,
    ) -> Arc<Hub> {
        Arc::new(Hub {
            clients: Mutex::new(Vec::new()),
            writers: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            stdin,
            resize,
            close_stdin_after_first_client: stdin_once && !tty,
            stdin_closed: AtomicBool::new(false),
        })
    }

    /// Sends an output frame to every attached client, dropping clients
    /// that are gone or too far behind.
    pub fn broadcast(&self, frame: Frame) {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.retain(|(id, tx)| match tx.try_send(frame.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(client = id, "attach client too slow; detaching it");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    pub async fn serve(self: Arc<Self>, listener: UnixListener) {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(self.clone().client(stream));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "attach accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn client(self: Arc<Self>, stream: UnixStream) {
        let (mut reader, mut writer) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Frame>(CLIENT_QUEUE);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let writer_task = tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                if write_frame(&mut writer, &frame).await.is_err() {
                    return;
                }
            }
            let _ = writer.shutdown().await;
        });
        {
            let mut writers = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
            writers.retain(|w| !w.is_finished());
            writers.push(writer_task);
        }
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, tx));

        // The client stays registered for output after its input ends (a
        // client may half-close after sending stdin); it leaves when a
        // write to it fails or the shim shuts down.
        let mut wrote_stdin = false;
        loop {
            match read_frame(&mut reader).await {
                Ok(Some(Frame::Stdin(data))) => {
                    wrote_stdin = true;
                    self.write_stdin(data);
                }
                Ok(Some(Frame::StdinEof)) => {
                    wrote_stdin = true;
                    break;
                }
                Ok(Some(Frame::Resize { cols, rows })) => {
                    if let Some(resize) = &self.resize {
                        resize(cols, rows);
                    }
                }
                Ok(Some(Frame::Stdout(_) | Frame::Stderr(_))) | Ok(None) | Err(_) => break,
            }
        }
        if wrote_stdin && self.close_stdin_after_first_client {
            self.close_stdin();
        }
    }

    fn write_stdin(&self, data: Vec<u8>) {
        if self.stdin_closed.load(Ordering::SeqCst) {
            return;
        }
        if let Some(stdin) = &self.stdin {
            let _ = stdin.send(StdinCommand::Data(data));
        }
    }

    fn close_stdin(&self) {
        if self.stdin_closed.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(stdin) = &self.stdin {
            let _ = stdin.send(StdinCommand::Close);
        }
    }

    /// Detaches every client after letting each one receive what is
    /// queued for it (bounded by `grace`).
    pub async fn shutdown(&self, grace: Duration) {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let writers: Vec<JoinHandle<()>> = self
            .writers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        let drained = async {
            for w in writers {
                let _ = w.await;
            }
        };
        let _ = tokio::time::timeout(grace, drained).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::attach_proto::{read_frame, write_frame};

    async fn hub_with_socket(
        stdin_once: bool,
        tty: bool,
    ) -> (
        Arc<Hub>,
        mpsc::UnboundedReceiver<StdinCommand>,
        std::path::PathBuf,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let hub = Hub::new(Some(tx), None, stdin_once, tty);
        tokio::spawn(hub.clone().serve(listener));
        (hub, rx, path, dir)
    }

    async fn registered(hub: &Hub, n: usize) {
        for _ in 0..500 {
            if hub.clients.lock().unwrap().len() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("clients never reached {n}");
    }

    #[tokio::test]
    async fn output_reaches_every_client() {
        let (hub, _rx, path, _dir) = hub_with_socket(false, false).await;
        let mut a = UnixStream::connect(&path).await.unwrap();
        let mut b = UnixStream::connect(&path).await.unwrap();
        registered(&hub, 2).await;
        hub.broadcast(Frame::Stdout(b"hello".to_vec()));
        hub.broadcast(Frame::Stderr(b"err".to_vec()));
        for c in [&mut a, &mut b] {
            assert_eq!(
                read_frame(c).await.unwrap(),
                Some(Frame::Stdout(b"hello".to_vec()))
            );
            assert_eq!(
                read_frame(c).await.unwrap(),
                Some(Frame::Stderr(b"err".to_vec()))
            );
        }
        hub.shutdown(Duration::from_secs(1)).await;
        assert_eq!(read_frame(&mut a).await.unwrap(), None);
    }

    #[tokio::test]
    async fn stdin_once_closes_after_the_first_stdin_client() {
        let (hub, mut rx, path, _dir) = hub_with_socket(true, false).await;
        // A client that never writes stdin does not close it.
        let watcher = UnixStream::connect(&path).await.unwrap();
        registered(&hub, 1).await;
        drop(watcher);
        let mut c = UnixStream::connect(&path).await.unwrap();
        write_frame(&mut c, &Frame::Stdin(b"x".to_vec()))
            .await
            .unwrap();
        write_frame(&mut c, &Frame::StdinEof).await.unwrap();
        assert_eq!(rx.recv().await, Some(StdinCommand::Data(b"x".to_vec())));
        assert_eq!(rx.recv().await, Some(StdinCommand::Close));
        // Later stdin goes nowhere.
        let mut d = UnixStream::connect(&path).await.unwrap();
        write_frame(&mut d, &Frame::Stdin(b"late".to_vec()))
            .await
            .unwrap();
        drop(d);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn without_stdin_once_stdin_stays_open() {
        let (_hub, mut rx, path, _dir) = hub_with_socket(false, false).await;
        let mut c = UnixStream::connect(&path).await.unwrap();
        write_frame(&mut c, &Frame::Stdin(b"1".to_vec()))
            .await
            .unwrap();
        write_frame(&mut c, &Frame::StdinEof).await.unwrap();
        drop(c);
        let mut d = UnixStream::connect(&path).await.unwrap();
        write_frame(&mut d, &Frame::Stdin(b"2".to_vec()))
            .await
            .unwrap();
        assert_eq!(rx.recv().await, Some(StdinCommand::Data(b"1".to_vec())));
        assert_eq!(rx.recv().await, Some(StdinCommand::Data(b"2".to_vec())));
    }

    #[tokio::test]
    async fn tty_containers_keep_stdin_with_stdin_once() {
        let (_hub, mut rx, path, _dir) = hub_with_socket(true, true).await;
        let mut c = UnixStream::connect(&path).await.unwrap();
        write_frame(&mut c, &Frame::Stdin(b"a".to_vec()))
            .await
            .unwrap();
        drop(c);
        let mut d = UnixStream::connect(&path).await.unwrap();
        write_frame(&mut d, &Frame::Stdin(b"b".to_vec()))
            .await
            .unwrap();
        assert_eq!(rx.recv().await, Some(StdinCommand::Data(b"a".to_vec())));
        assert_eq!(rx.recv().await, Some(StdinCommand::Data(b"b".to_vec())));
    }

    #[tokio::test]
    async fn resize_frames_reach_the_tty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let hub = Hub::new(
            None,
            Some(Arc::new(move |c, r| s.lock().unwrap().push((c, r)))),
            false,
            true,
        );
        tokio::spawn(hub.clone().serve(listener));
        let mut c = UnixStream::connect(&path).await.unwrap();
        write_frame(
            &mut c,
            &Frame::Resize {
                cols: 120,
                rows: 40,
            },
        )
        .await
        .unwrap();
        for _ in 0..500 {
            if !seen.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(*seen.lock().unwrap(), vec![(120, 40)]);
    }
}
