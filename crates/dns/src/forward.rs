//! Forwarding of names outside the cluster zone to the upstream resolvers,
//! over UDP (TCP when the answer is truncated), with a small TTL cache.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_server::proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use crate::metrics::Metrics;

/// An upstream's answer, as relayed to clients.
#[derive(Clone, Debug, PartialEq)]
pub struct Forwarded {
    pub rcode: ResponseCode,
    pub recursion_available: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
}

impl Forwarded {
    fn from_message(m: Message) -> Self {
        Forwarded {
            rcode: m.metadata.response_code,
            recursion_available: m.metadata.recursion_available,
            answers: m.answers,
            authorities: m.authorities,
            additionals: m.additionals,
        }
    }

    /// A copy with TTLs capped at `cap` (the cache TTL) and lowered by
    /// `secs` spent in the cache.
    fn aged(&self, cap: u32, secs: u32) -> Self {
        let age = |v: &[Record]| {
            v.iter()
                .map(|r| {
                    let mut r = r.clone();
                    r.ttl = r.ttl.min(cap).saturating_sub(secs);
                    r
                })
                .collect()
        };
        Forwarded {
            rcode: self.rcode,
            recursion_available: self.recursion_available,
            answers: age(&self.answers),
            authorities: age(&self.authorities),
            additionals: age(&self.additionals),
        }
    }
}

/// How long an upstream answer may be cached: the smallest answer TTL, or
/// for negative answers the SOA's negative TTL (RFC 2308); capped. None:
/// do not cache (errors, zero TTLs, negatives without SOA).
pub fn cache_ttl(f: &Forwarded, max: u32) -> Option<u32> {
    let ttl = match f.rcode {
        ResponseCode::NoError if !f.answers.is_empty() => f.answers.iter().map(|r| r.ttl).min()?,
        ResponseCode::NoError | ResponseCode::NXDomain => {
            f.authorities.iter().find_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            })?
        }
        _ => return None,
    };
    let ttl = ttl.min(max);
    (ttl > 0).then_some(ttl)
}

type CacheKey = (Name, RecordType, DNSClass);

struct Entry {
    value: Arc<Forwarded>,
    stored: Instant,
    ttl: u32,
}

/// A bounded map of upstream answers that expire with their TTL.
pub struct Cache {
    map: HashMap<CacheKey, Entry>,
    capacity: usize,
    max_ttl: u32,
}

impl Cache {
    pub fn new(capacity: usize, max_ttl: Duration) -> Self {
        Cache {
            map: HashMap::new(),
            capacity,
            max_ttl: u32::try_from(max_ttl.as_secs()).unwrap_or(u32::MAX),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The cached answer with TTLs lowered by its age.
    pub fn get(&mut self, key: &CacheKey, now: Instant) -> Option<Forwarded> {
        let e = self.map.get(key)?;
        let age = now.saturating_duration_since(e.stored).as_secs();
        if age >= u64::from(e.ttl) {
            self.map.remove(key);
            return None;
        }
        Some(e.value.aged(e.ttl, u32::try_from(age).unwrap_or(u32::MAX)))
    }

    /// Stores an answer if it may be cached; returns it as clients should
    /// see it now (TTLs capped like every later cache hit).
    pub fn put(&mut self, key: CacheKey, value: Forwarded, now: Instant) -> Forwarded {
        let Some(ttl) = cache_ttl(&value, self.max_ttl) else {
            return value;
        };
        let capped = value.aged(ttl, 0);
        if self.capacity == 0 {
            return capped;
        }
        if self.map.len() >= self.capacity && !self.map.contains_key(&key) {
            self.map.retain(|_, e| {
                now.saturating_duration_since(e.stored).as_secs() < u64::from(e.ttl)
            });
            if self.map.len() >= self.capacity {
                // Still full: drop an arbitrary entry rather than grow.
                if let Some(k) = self.map.keys().next().cloned() {
                    self.map.remove(&k);
                }
            }
        }
        self.map.insert(
            key,
            Entry {
                value: Arc::new(value),
                stored: now,
                ttl,
            },
        );
        capped
    }
}

/// Sends questions to the upstreams in turn until one answers.
pub struct Forwarder {
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
    cache: Mutex<Cache>,
    in_flight: Semaphore,
    next: AtomicUsize,
}

impl Forwarder {
    pub fn new(
        upstreams: Vec<SocketAddr>,
        timeout: Duration,
        cache: Cache,
        max_in_flight: usize,
    ) -> Self {
        Forwarder {
            upstreams,
            timeout,
            cache: Mutex::new(cache),
            in_flight: Semaphore::new(max_in_flight.max(1)),
            next: AtomicUsize::new(0),
        }
    }

    /// The upstream answer for (name, type, class); None when no upstream
    /// answered in time or too many forwards are already waiting.
    pub async fn resolve(
        &self,
        name: &Name,
        qtype: RecordType,
        qclass: DNSClass,
        metrics: &Metrics,
    ) -> Option<Forwarded> {
        let key = (name.to_lowercase(), qtype, qclass);
        if let Ok(mut cache) = self.cache.lock() {
            if let Some(hit) = cache.get(&key, Instant::now()) {
                metrics.cache_hits.fetch_add(1, Relaxed);
                return Some(hit);
            }
        }
        metrics.cache_misses.fetch_add(1, Relaxed);
        let _permit = self.in_flight.try_acquire().ok()?;
        let n = self.upstreams.len();
        let start = self.next.fetch_add(1, Relaxed);
        for i in 0..n {
            let server = self.upstreams[(start + i) % n];
            metrics.forward_requests.fetch_add(1, Relaxed);
            match exchange(server, &key.0, qtype, qclass, self.timeout).await {
                Ok(msg) => {
                    let answer = Forwarded::from_message(msg);
                    return Some(match self.cache.lock() {
                        Ok(mut cache) => cache.put(key, answer, Instant::now()),
                        Err(_) => answer,
                    });
                }
                Err(e) => tracing::debug!(%server, error = %e, "upstream DNS query failed"),
            }
        }
        metrics.forward_failures.fetch_add(1, Relaxed);
        None
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Whether `m` answers our question `id` for (name, type).
fn matches(m: &Message, id: u16, name: &Name, qtype: RecordType) -> bool {
    m.metadata.id == id
        && m.metadata.message_type == MessageType::Response
        && m.queries.len() == 1
        && m.queries[0].query_type() == qtype
        && m.queries[0].name().eq_ignore_root(name)
}

/// One question to one upstream: UDP first, TCP when truncated.
pub async fn exchange(
    server: SocketAddr,
    name: &Name,
    qtype: RecordType,
    qclass: DNSClass,
    timeout: Duration,
) -> io::Result<Message> {
    let mut msg = Message::query();
    let mut q = Query::query(name.clone(), qtype);
    q.set_query_class(qclass);
    msg.add_query(q);
    msg.metadata.recursion_desired = true;
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    msg.set_edns(edns);
    let id = msg.metadata.id;
    let bytes = msg.to_vec().map_err(|e| invalid(&e.to_string()))?;
    let run = async {
        let resp = udp_exchange(server, &bytes, id, name, qtype).await?;
        if resp.metadata.truncation {
            return tcp_exchange(server, &bytes, id, name, qtype).await;
        }
        Ok(resp)
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "upstream timed out"))?
}

async fn udp_exchange(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    name: &Name,
    qtype: RecordType,
) -> io::Result<Message> {
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let sock = UdpSocket::bind(local).await?;
    sock.connect(server).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).await?;
        // Anything that is not the answer to this question is ignored
        // (stray or spoofed packets); the timeout ends the wait.
        if let Ok(m) = Message::from_vec(&buf[..n]) {
            if matches(&m, id, name, qtype) {
                return Ok(m);
            }
        }
    }
}

async fn tcp_exchange(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    name: &Name,
    qtype: RecordType,
) -> io::Result<Message> {
    let mut stream = TcpStream::connect(server).await?;
    let len = u16::try_from(query.len()).map_err(|_| invalid("query too long"))?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream.write_all(&framed).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await?;
    let m = Message::from_vec(&buf).map_err(|e| invalid(&e.to_string()))?;
    if !matches(&m, id, name, qtype) {
        return Err(invalid("answer does not match the question"));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_server::proto::rr::rdata::{A, SOA};

    fn a(ttl: u32) -> Record {
        Record::from_rdata(
            Name::from_ascii("x.example.").unwrap(),
            ttl,
            RData::A(A::new(192, 0, 2, 1)),
        )
    }

    fn soa(ttl: u32, minimum: u32) -> Record {
        let n = Name::from_ascii("example.").unwrap();
        Record::from_rdata(
            n.clone(),
            ttl,
            RData::SOA(SOA::new(n.clone(), n, 1, 1, 1, 1, minimum)),
        )
    }

    fn fwd(rcode: ResponseCode, answers: Vec<Record>, authorities: Vec<Record>) -> Forwarded {
        Forwarded {
            rcode,
            recursion_available: true,
            answers,
            authorities,
            additionals: vec![],
        }
    }

    #[test]
    fn ttl_rules() {
        let cases = [
            (
                fwd(ResponseCode::NoError, vec![a(300), a(60)], vec![]),
                Some(30),
            ),
            (fwd(ResponseCode::NoError, vec![a(7)], vec![]), Some(7)),
            (fwd(ResponseCode::NoError, vec![a(0)], vec![]), None),
            (
                fwd(ResponseCode::NXDomain, vec![], vec![soa(3600, 10)]),
                Some(10),
            ),
            (
                fwd(ResponseCode::NoError, vec![], vec![soa(4, 10)]),
                Some(4),
            ),
            (fwd(ResponseCode::NXDomain, vec![], vec![]), None),
            (fwd(ResponseCode::ServFail, vec![a(60)], vec![]), None),
            (fwd(ResponseCode::Refused, vec![], vec![]), None),
        ];
        for (f, want) in cases {
            assert_eq!(cache_ttl(&f, 30), want, "{f:?}");
        }
    }

    #[test]
    fn cache_ages_expires_and_stays_bounded() {
        let now = Instant::now();
        let mut c = Cache::new(2, Duration::from_secs(30));
        let key = |n: &str| (Name::from_ascii(n).unwrap(), RecordType::A, DNSClass::IN);
        let first = c.put(
            key("a.example."),
            fwd(ResponseCode::NoError, vec![a(10)], vec![]),
            now,
        );
        assert_eq!(first.answers[0].ttl, 10);
        let capped = c.put(
            key("b.example."),
            fwd(ResponseCode::NoError, vec![a(600)], vec![]),
            now,
        );
        assert_eq!(capped.answers[0].ttl, 30);
        assert_eq!(
            c.get(&key("b.example."), now + Duration::from_secs(1))
                .unwrap()
                .answers[0]
                .ttl,
            29
        );
        let hit = c
            .get(&key("a.example."), now + Duration::from_secs(3))
            .unwrap();
        assert_eq!(hit.answers[0].ttl, 7);
        assert!(c
            .get(&key("a.example."), now + Duration::from_secs(10))
            .is_none());
        assert_eq!(c.len(), 1);
        // Uncacheable answers are not stored.
        c.put(
            key("s.example."),
            fwd(ResponseCode::ServFail, vec![], vec![]),
            now,
        );
        assert_eq!(c.len(), 1);
        for i in 0..10 {
            c.put(
                key(&format!("n{i}.example.")),
                fwd(ResponseCode::NoError, vec![a(10)], vec![]),
                now,
            );
            assert!(c.len() <= 2);
        }
    }
}
