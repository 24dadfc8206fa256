//! The server end of a SPDY/3.1 connection, as the kubelet runs it for
//! exec, attach and port-forward: the client opens every stream; each is
//! checked, answered with SYN_REPLY and handed to the caller, who writes
//! DATA on it through a [`StreamWriter`].
//!
//! Like Go's spdystream (the only peer this meets) it does not enforce
//! flow control: WINDOW_UPDATE and SETTINGS are read and ignored, and a
//! stream whose reader is slow holds up the connection's reader.

use super::frame::{self, Frame, FLAG_FIN, FLAG_UNIDIRECTIONAL, GOAWAY_OK, RST_CANCEL};
use super::headers::{HeaderBlock, HeaderCompressor, HeaderDecompressor};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Largest DATA payload sent; keeps one stream from hogging the connection.
const MAX_DATA: usize = 32 * 1024;

/// Frames a stream may have queued towards its reader.
const STREAM_QUEUE: usize = 16;

/// A stream the client opened and the server accepted.
pub struct IncomingStream {
    pub id: u32,
    pub headers: HeaderBlock,
    /// DATA from the client; ends at its FIN, a reset or the connection's end.
    pub data: mpsc::Receiver<Bytes>,
}

/// What the writer task sends.
enum Outgoing {
    Reply(u32),
    Data {
        id: u32,
        data: Bytes,
        fin: bool,
    },
    Reset {
        id: u32,
        status: u32,
    },
    Ping(u32),
    GoAway(u32),
    /// Flush and shut the write side down.
    Close,
}

/// Sends frames on the connection; cheap to clone.
#[derive(Clone)]
pub struct StreamWriter {
    tx: mpsc::Sender<Outgoing>,
}

#[derive(Debug, thiserror::Error)]
#[error("the SPDY connection is closed")]
pub struct Closed;

impl StreamWriter {
    /// Sends `data` on stream `id`, split into frames of at most 32 KiB.
    pub async fn data(&self, id: u32, data: Bytes) -> Result<(), Closed> {
        let mut rest = data;
        while !rest.is_empty() {
            let chunk = rest.split_to(rest.len().min(MAX_DATA));
            self.send(Outgoing::Data {
                id,
                data: chunk,
                fin: false,
            })
            .await?;
        }
        Ok(())
    }

    /// Half-closes stream `id`: an empty DATA frame with FIN.
    pub async fn fin(&self, id: u32) -> Result<(), Closed> {
        self.send(Outgoing::Data {
            id,
            data: Bytes::new(),
            fin: true,
        })
        .await
    }

    /// Aborts stream `id` (RST_STREAM CANCEL, as spdystream's Reset does).
    pub async fn reset(&self, id: u32) -> Result<(), Closed> {
        self.send(Outgoing::Reset {
            id,
            status: RST_CANCEL,
        })
        .await
    }

    /// Says goodbye (GOAWAY OK) and shuts the write side once it is flushed.
    pub async fn close(&self, last_stream: u32) {
        let _ = self.send(Outgoing::GoAway(last_stream)).await;
        let _ = self.send(Outgoing::Close).await;
    }

    async fn send(&self, o: Outgoing) -> Result<(), Closed> {
        self.tx.send(o).await.map_err(|_| Closed)
    }
}

/// A running connection: accepted streams arrive on `streams`; it ends
/// when the client goes away (then `streams` ends too).
pub struct Connection {
    pub writer: StreamWriter,
    pub streams: mpsc::Receiver<IncomingStream>,
}

impl Connection {
    /// Starts serving `io`. `accept` checks a new stream's headers; a
    /// rejected stream is reset, as the kubelet's stream handlers do.
    pub fn serve<IO>(
        io: IO,
        accept: impl Fn(&HeaderBlock) -> Result<(), String> + Send + 'static,
    ) -> Connection
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (read, write) = tokio::io::split(io);
        let (out_tx, out_rx) = mpsc::channel(64);
        let (streams_tx, streams_rx) = mpsc::channel(16);
        let writer = StreamWriter { tx: out_tx };
        tokio::spawn(write_loop(write, out_rx));
        tokio::spawn(read_loop(read, writer.clone(), streams_tx, accept));
        Connection {
            writer,
            streams: streams_rx,
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::Receiver<Outgoing>) {
    let mut compressor = match HeaderCompressor::new() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("spdy: {e}");
            return;
        }
    };
    let mut buf = BytesMut::new();
    while let Some(first) = rx.recv().await {
        // Batch what is already queued into one write.
        let mut next = Some(first);
        let mut closing = false;
        while let Some(o) = next.take() {
            let frame = match o {
                Outgoing::Reply(id) => match compressor.compress(&HeaderBlock::default()) {
                    Ok(h) => Frame::SynReply {
                        stream_id: id,
                        flags: 0,
                        headers: h.into(),
                    },
                    Err(e) => {
                        tracing::warn!("spdy: {e}");
                        return;
                    }
                },
                Outgoing::Data { id, data, fin } => Frame::Data {
                    stream_id: id,
                    flags: if fin { FLAG_FIN } else { 0 },
                    data,
                },
                Outgoing::Reset { id, status } => Frame::RstStream {
                    stream_id: id,
                    status,
                },
                Outgoing::Ping(id) => Frame::Ping { id },
                Outgoing::GoAway(last) => Frame::GoAway {
                    last_good_stream_id: last,
                    status: GOAWAY_OK,
                },
                Outgoing::Close => {
                    closing = true;
                    break;
                }
            };
            if let Err(e) = frame::encode(&frame, &mut buf) {
                tracing::warn!("spdy: {e}");
                return;
            }
            if buf.len() < 64 * 1024 {
                next = rx.try_recv().ok();
            }
        }
        if w.write_all(&buf).await.is_err() || w.flush().await.is_err() {
            return;
        }
        buf.clear();
        if closing {
            let _ = w.shutdown().await;
            return;
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut r: R,
    writer: StreamWriter,
    streams_tx: mpsc::Sender<IncomingStream>,
    accept: impl Fn(&HeaderBlock) -> Result<(), String>,
) {
    let mut decompressor = HeaderDecompressor::default();
    // Streams whose client side is still sending.
    let mut open: HashMap<u32, mpsc::Sender<Bytes>> = HashMap::new();
    // Client stream ids must grow (SPDY/3 §2.3.2).
    let mut last_id = 0u32;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let frame = match frame::decode(&mut buf) {
            Ok(Some(f)) => f,
            Ok(None) => {
                match r.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                continue;
            }
            Err(e) => {
                tracing::debug!("spdy: {e}");
                break;
            }
        };
        match frame {
            Frame::SynStream {
                stream_id,
                flags,
                headers,
                ..
            } => {
                // Every block goes through the decompressor, accepted or not,
                // or the shared zlib context falls out of step.
                let headers = match decompressor.decompress(&headers) {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::debug!("spdy: {e}");
                        break;
                    }
                };
                if stream_id == 0 {
                    break;
                }
                if stream_id <= last_id {
                    let _ = writer
                        .send(Outgoing::Reset {
                            id: stream_id,
                            status: frame::RST_PROTOCOL_ERROR,
                        })
                        .await;
                    continue;
                }
                last_id = stream_id;
                if let Err(why) = accept(&headers) {
                    tracing::debug!(stream_id, "spdy: stream rejected: {why}");
                    let _ = writer.reset(stream_id).await;
                    continue;
                }
                let (tx, rx) = mpsc::channel(STREAM_QUEUE);
                if flags & (FLAG_FIN | FLAG_UNIDIRECTIONAL) == 0 {
                    open.insert(stream_id, tx);
                }
                if writer.send(Outgoing::Reply(stream_id)).await.is_err() {
                    break;
                }
                let incoming = IncomingStream {
                    id: stream_id,
                    headers,
                    data: rx,
                };
                if streams_tx.send(incoming).await.is_err() {
                    // Nobody takes new streams any more: refuse politely.
                    let _ = writer.reset(stream_id).await;
                }
            }
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                let Some(tx) = open.get(&stream_id) else {
                    continue;
                };
                // A reader that went away drops the rest of its data.
                let gone = !data.is_empty() && tx.send(data).await.is_err();
                if gone || flags & FLAG_FIN != 0 {
                    open.remove(&stream_id);
                }
            }
            Frame::RstStream { stream_id, .. } => {
                open.remove(&stream_id);
            }
            Frame::SynReply { headers, .. } | Frame::Headers { headers, .. } => {
                if let Err(e) = decompressor.decompress(&headers) {
                    tracing::debug!("spdy: {e}");
                    break;
                }
            }
            Frame::Ping { id } => {
                // Our own pings would be even; the client's are odd. Echo them.
                if id % 2 == 1 && writer.send(Outgoing::Ping(id)).await.is_err() {
                    break;
                }
            }
            Frame::GoAway { .. } => break,
            Frame::Settings { .. } | Frame::WindowUpdate { .. } => {}
        }
    }
    // Dropping `open` ends every stream's data: readers see EOF.
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal client end, enough to drive the server in tests.
    pub(crate) struct TestClient<IO> {
        pub io: IO,
        compressor: HeaderCompressor,
        decompressor: HeaderDecompressor,
        buf: BytesMut,
    }

    impl<IO: AsyncRead + AsyncWrite + Unpin> TestClient<IO> {
        pub fn new(io: IO) -> Self {
            TestClient {
                io,
                compressor: HeaderCompressor::new().unwrap(),
                decompressor: HeaderDecompressor::default(),
                buf: BytesMut::new(),
            }
        }

        pub async fn send(&mut self, f: Frame) {
            let mut out = BytesMut::new();
            frame::encode(&f, &mut out).unwrap();
            self.io.write_all(&out).await.unwrap();
        }

        pub async fn open(&mut self, id: u32, headers: &[(&str, &str)]) {
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

        pub async fn data(&mut self, id: u32, data: &[u8], fin: bool) {
            self.send(Frame::Data {
                stream_id: id,
                flags: if fin { FLAG_FIN } else { 0 },
                data: Bytes::copy_from_slice(data),
            })
            .await;
        }

        /// The next frame, with reply headers decompressed (checked).
        pub async fn next(&mut self) -> Option<Frame> {
            loop {
                if let Some(f) = frame::decode(&mut self.buf).unwrap() {
                    if let Frame::SynReply { headers, .. } = &f {
                        self.decompressor.decompress(headers).unwrap();
                    }
                    return Some(f);
                }
                let n = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    self.io.read_buf(&mut self.buf),
                )
                .await
                .expect("server answered in time")
                .unwrap();
                if n == 0 {
                    return None;
                }
            }
        }
    }

    #[tokio::test]
    async fn accepts_replies_and_carries_data_both_ways() {
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let mut conn = Connection::serve(server_io, |h| match h.get("streamtype") {
            Some("data") => Ok(()),
            other => Err(format!("invalid stream type {other:?}")),
        });
        let mut c = TestClient::new(client_io);
        c.open(1, &[("streamType", "data")]).await;
        assert!(matches!(
            c.next().await,
            Some(Frame::SynReply { stream_id: 1, .. })
        ));
        let mut s = conn.streams.recv().await.unwrap();
        assert_eq!(s.id, 1);
        assert_eq!(s.headers.get("streamtype"), Some("data"));

        c.data(1, b"ping", true).await;
        assert_eq!(s.data.recv().await.unwrap(), Bytes::from_static(b"ping"));
        assert_eq!(s.data.recv().await, None, "FIN ends the inbound data");

        conn.writer
            .data(1, Bytes::from(vec![1u8; 40_000]))
            .await
            .unwrap();
        conn.writer.fin(1).await.unwrap();
        let mut got = 0;
        loop {
            match c.next().await.unwrap() {
                Frame::Data {
                    stream_id: 1,
                    flags,
                    data,
                } => {
                    assert!(data.len() <= MAX_DATA);
                    got += data.len();
                    if flags & FLAG_FIN != 0 {
                        break;
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got, 40_000);

        // A stream the checker refuses is reset, and no stream is handed out.
        c.open(3, &[("streamtype", "bogus")]).await;
        assert_eq!(
            c.next().await,
            Some(Frame::RstStream {
                stream_id: 3,
                status: RST_CANCEL
            })
        );
        // The zlib context stays in step after a refusal.
        c.open(5, &[("streamtype", "data")]).await;
        assert!(matches!(
            c.next().await,
            Some(Frame::SynReply { stream_id: 5, .. })
        ));
        assert_eq!(conn.streams.recv().await.unwrap().id, 5);
        // Stream ids only grow: reusing one is a protocol error.
        c.open(5, &[("streamtype", "data")]).await;
        assert_eq!(
            c.next().await,
            Some(Frame::RstStream {
                stream_id: 5,
                status: frame::RST_PROTOCOL_ERROR
            })
        );
    }

    #[tokio::test]
    async fn echoes_client_pings_and_ignores_flow_control() {
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let _conn = Connection::serve(server_io, |_| Ok(()));
        let mut c = TestClient::new(client_io);
        c.send(Frame::Settings {
            flags: 0,
            entries: vec![(0, 7, 65536)],
        })
        .await;
        c.send(Frame::WindowUpdate {
            stream_id: 1,
            delta: 10,
        })
        .await;
        c.send(Frame::Ping { id: 1 }).await;
        assert_eq!(c.next().await, Some(Frame::Ping { id: 1 }));
    }

    #[tokio::test]
    async fn goaway_or_eof_ends_the_connection_and_its_streams() {
        let (client_io, server_io) = tokio::io::duplex(1 << 16);
        let mut conn = Connection::serve(server_io, |_| Ok(()));
        let mut c = TestClient::new(client_io);
        c.open(1, &[("streamtype", "data")]).await;
        let mut s = conn.streams.recv().await.unwrap();
        c.send(Frame::GoAway {
            last_good_stream_id: 0,
            status: 0,
        })
        .await;
        assert_eq!(s.data.recv().await, None);
        assert!(conn.streams.recv().await.is_none());
        conn.writer.close(1).await;
        // The server says goodbye too, then closes its side.
        let mut saw_goaway = false;
        while let Some(f) = c.next().await {
            saw_goaway |= matches!(f, Frame::GoAway { .. });
        }
        assert!(saw_goaway);
    }
}
