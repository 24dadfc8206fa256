//! UDP: a few threads block on the one socket (the kernel hands each
//! datagram to one of them). Each keeps the finished replies of the
//! current zone version; a question asked before is answered by patching
//! its stored reply (ID, flags, letter case) — no parsing into messages,
//! no allocation, no task. Everything else goes through the `Handler`,
//! exactly like TCP; what has to wait for an upstream continues as a task
//! on the tokio runtime.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use hickory_server::net::xfer::Protocol;
use hickory_server::net::NetError;
use hickory_server::proto::op::{
    Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::proto::rr::{Record, RecordType};
use hickory_server::proto::serialize::binary::{BinDecodable, BinEncodable, BinEncoder};
use hickory_server::server::{Request, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponse;
use tokio::sync::mpsc;

use crate::server::{client_ip, Handler};
use crate::wire::{self, Question, KEY_MAX, MIN_PAYLOAD};
use crate::zone::Zone;
use crate::Shared;

/// How often a blocked thread looks whether the server was dropped.
const STOP_CHECK: Duration = Duration::from_millis(200);
/// Consecutive receive errors after which a thread gives up.
const MAX_RECV_ERRORS: u32 = 100;
/// Stored replies per thread are dropped all at once beyond this size.
const CACHE_BYTES: usize = 8 << 20;
/// Large enough for any datagram, so none is cut short.
const RECV_BUFFER: usize = 65_535;

/// A finished reply and what the metrics need to know about it.
struct Stored {
    bytes: Box<[u8]>,
    rcode: ResponseCode,
}

/// Replies of one zone version by question (see `wire::cache_key`).
struct ReplyCache {
    zone: Option<Arc<Zone>>,
    replies: HashMap<Box<[u8]>, Stored>,
    bytes: usize,
    limit: usize,
}

impl ReplyCache {
    fn new(limit: usize) -> Self {
        ReplyCache {
            zone: None,
            replies: HashMap::new(),
            bytes: 0,
            limit,
        }
    }

    /// Forgets every reply when `zone` is not the version they were made
    /// from. Holding the Arc keeps that version's address from being reused.
    fn follow(&mut self, zone: &Arc<Zone>) {
        if self.zone.as_ref().is_some_and(|z| Arc::ptr_eq(z, zone)) {
            return;
        }
        self.zone = Some(zone.clone());
        self.clear();
    }

    fn clear(&mut self) {
        self.replies.clear();
        self.bytes = 0;
    }

    fn get(&self, key: &[u8]) -> Option<&Stored> {
        self.replies.get(key)
    }

    fn insert(&mut self, key: &[u8], reply: Stored) {
        let size = key.len() + reply.bytes.len();
        if self.bytes + size > self.limit {
            self.clear();
        }
        self.bytes += size;
        if let Some(old) = self.replies.insert(key.into(), reply) {
            self.bytes -= key.len() + old.bytes.len();
        }
    }
}

/// Sends a hickory response as one datagram (at most the client's EDNS
/// buffer, or 512 bytes; TC when sections were cut) and keeps its bytes.
#[derive(Clone)]
struct UdpReply {
    socket: Arc<std::net::UdpSocket>,
    dst: SocketAddr,
    sent: Option<Vec<u8>>,
}

#[async_trait::async_trait]
impl ResponseHandler for UdpReply {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let id = response.metadata().id;
        let max = response.edns().map_or(MIN_PAYLOAD, |e| e.max_payload());
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(max);
        let info = match response.destructive_emit(&mut encoder) {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, "could not encode a DNS response");
                let mut metadata = Metadata::new(id, MessageType::Response, OpCode::Query);
                metadata.response_code = ResponseCode::ServFail;
                let header = Header {
                    metadata,
                    counts: HeaderCounts::default(),
                };
                bytes = header.to_bytes()?;
                ResponseInfo::from(header)
            }
        };
        self.socket.send_to(&bytes, self.dst)?;
        self.sent = Some(bytes);
        Ok(info)
    }
}

/// The UDP threads of one server; they stop within STOP_CHECK of a drop.
pub(crate) struct Workers {
    stop: Arc<AtomicBool>,
    failed: mpsc::UnboundedReceiver<io::Error>,
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

/// One thread per CPU unless configured.
pub(crate) fn thread_count(configured: usize) -> usize {
    if configured > 0 {
        return configured;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

impl Workers {
    /// Serves `socket` from `threads` threads. Call inside the tokio
    /// runtime: upstream work is spawned onto it.
    pub(crate) fn start(
        shared: Arc<Shared>,
        socket: tokio::net::UdpSocket,
        threads: usize,
    ) -> io::Result<Workers> {
        let socket = socket.into_std()?;
        socket.set_nonblocking(false)?;
        socket.set_read_timeout(Some(STOP_CHECK))?;
        let socket = Arc::new(socket);
        let runtime = tokio::runtime::Handle::current();
        let stop = Arc::new(AtomicBool::new(false));
        let (report, failed) = mpsc::unbounded_channel();
        let workers = Workers { stop, failed };
        for i in 0..threads.max(1) {
            let worker = Worker {
                shared: shared.clone(),
                socket: socket.clone(),
                runtime: runtime.clone(),
                stop: workers.stop.clone(),
                cache: ReplyCache::new(CACHE_BYTES),
            };
            let report = report.clone();
            std::thread::Builder::new()
                .name(format!("dns-udp-{i}"))
                .spawn(move || {
                    if let Err(e) = worker.run() {
                        let _ = report.send(e);
                    }
                })?;
        }
        Ok(workers)
    }

    /// Resolves when a thread failed (or all of them ended).
    pub(crate) async fn failed(&mut self) -> io::Error {
        self.failed
            .recv()
            .await
            .unwrap_or_else(|| io::Error::other("the DNS UDP threads ended"))
    }
}

struct Worker {
    shared: Arc<Shared>,
    socket: Arc<std::net::UdpSocket>,
    runtime: tokio::runtime::Handle,
    stop: Arc<AtomicBool>,
    cache: ReplyCache,
}

impl Worker {
    fn run(mut self) -> io::Result<()> {
        let runtime = self.runtime.clone();
        // Upstream queries create tokio sockets and timers from this thread.
        let _entered = runtime.enter();
        let mut buf = vec![0u8; RECV_BUFFER];
        let mut out = Vec::with_capacity(usize::from(wire::MAX_PAYLOAD));
        let mut errors = 0;
        while !self.stop.load(Relaxed) {
            match self.socket.recv_from(&mut buf) {
                Ok((n, src)) => {
                    errors = 0;
                    self.answer(&buf[..n], src, &mut out);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    errors += 1;
                    if errors >= MAX_RECV_ERRORS {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, "DNS UDP receive failed");
                }
            }
        }
        Ok(())
    }

    fn answer(&mut self, datagram: &[u8], src: SocketAddr, out: &mut Vec<u8>) {
        let start = Instant::now();
        // Query logging wants every query through the handler.
        let question = match self.shared.config.log_queries {
            true => None,
            false => wire::parse_question(datagram),
        };
        if let Some(q) = &question {
            self.cache.follow(&self.shared.zone.load());
            let mut key = [0u8; KEY_MAX];
            if let Some(stored) = self.cache.get(wire::cache_key(q, &mut key)) {
                wire::patch_reply(&stored.bytes, q, out);
                // Counted before sending, like the handler's replies.
                let metrics = &self.shared.metrics;
                metrics.request(false, client_ip(src).is_ipv6(), RecordType::from(q.qtype));
                metrics.response(stored.rcode, 1, start.elapsed());
                if let Err(e) = self.socket.send_to(out, src) {
                    tracing::debug!(error = %e, %src, "could not send a DNS response");
                }
                return;
            }
        }
        self.full(datagram, src, question);
    }

    /// The handler's path; stores the reply when it may be reused.
    fn full(&mut self, datagram: &[u8], src: SocketAddr, question: Option<Question<'_>>) {
        let request = match Request::from_bytes(datagram.to_vec(), src, Protocol::Udp) {
            Ok(r) => r,
            Err(_) => return self.format_error(datagram, src),
        };
        // Never answer answers: no reflection.
        if request.metadata.message_type == MessageType::Response {
            return;
        }
        let handler = Handler {
            shared: self.shared.clone(),
        };
        let mut reply = UdpReply {
            socket: self.socket.clone(),
            dst: src,
            sent: None,
        };
        let mut task = Box::pin(async move {
            let (info, reusable) = handler.respond(&request, &mut reply).await;
            (info.response_code, reusable, reply.sent)
        });
        // Zone answers finish at the first poll; only upstream work waits,
        // and that continues on the runtime, which polls it with a real waker.
        match task.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready((rcode, true, Some(bytes))) => {
                if let Some(q) = question.filter(|q| wire::reusable_for(&bytes, q)) {
                    let mut key = [0u8; KEY_MAX];
                    let stored = Stored {
                        bytes: bytes.into(),
                        rcode,
                    };
                    self.cache.insert(wire::cache_key(&q, &mut key), stored);
                }
            }
            Poll::Ready(_) => {}
            Poll::Pending => {
                self.runtime.spawn(async move {
                    task.await;
                });
            }
        }
    }

    /// FORMERR for a query whose header reads but whose body does not.
    fn format_error(&self, datagram: &[u8], src: SocketAddr) {
        let Ok(header) = Header::from_bytes(datagram.get(..wire::HEADER).unwrap_or_default())
        else {
            return;
        };
        if header.metadata.message_type == MessageType::Response {
            return;
        }
        let mut metadata = Metadata::response_from_request(&header.metadata);
        metadata.response_code = ResponseCode::FormErr;
        let reply = Header {
            metadata,
            counts: HeaderCounts::default(),
        };
        if let Ok(bytes) = reply.to_bytes() {
            let _ = self.socket.send_to(&bytes, src);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{ZoneBuilder, ZoneConfig};

    fn zone(serial: u32) -> Arc<Zone> {
        Arc::new(ZoneBuilder::new(ZoneConfig::default()).build(serial))
    }

    fn stored(n: usize) -> Stored {
        Stored {
            bytes: vec![0u8; n].into(),
            rcode: ResponseCode::NoError,
        }
    }

    #[test]
    fn cache_is_per_zone_version_and_bounded() {
        let mut c = ReplyCache::new(100);
        let v1 = zone(1);
        c.follow(&v1);
        c.insert(b"a", stored(10));
        c.insert(b"b", stored(10));
        assert_eq!(c.replies.len(), 2);
        assert_eq!(c.bytes, 22);
        // Same version: kept; replacing an entry does not count it twice.
        c.follow(&v1.clone());
        c.insert(b"a", stored(20));
        assert_eq!((c.replies.len(), c.bytes), (2, 32));
        assert_eq!(c.get(b"a").map(|s| s.bytes.len()), Some(20));
        // A new version forgets everything.
        let v2 = zone(2);
        c.follow(&v2);
        assert_eq!((c.replies.len(), c.bytes), (0, 0));
        assert!(c.get(b"a").is_none());
        // Over the limit: start again rather than grow.
        for k in [b"x", b"y", b"z"] {
            c.insert(k, stored(40));
        }
        assert!(c.bytes <= 100, "{}", c.bytes);
        assert_eq!(c.replies.len(), 1);
        assert!(c.get(b"z").is_some());
    }

    #[test]
    fn thread_counts() {
        assert_eq!(thread_count(3), 3);
        assert!(thread_count(0) >= 1);
        assert!(thread_count(0) <= 8);
    }
}
