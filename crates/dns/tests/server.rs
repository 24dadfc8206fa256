//! Socket tests: the server on 127.0.0.1 random ports, a fake upstream on
//! loopback (never a real resolver), UDP and TCP, bad input, truncation,
//! forwarding, refusal, metrics.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_server::proto::rr::rdata::{A, SOA};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use k1s_dns::{Dns, DnsConfig, Kind, ZoneUpdater};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(3);

/// UDP and TCP bound to the same loopback port.
async fn bind_pair() -> (UdpSocket, TcpListener, SocketAddr) {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let addr = udp.local_addr().expect("addr");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp, addr);
        }
    }
    panic!("no free port pair on loopback");
}

struct Server {
    addr: SocketAddr,
    dns: Dns,
    updater: ZoneUpdater,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn svc(name: &str, spec: Value) -> Value {
    json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec})
}

async fn start(config: DnsConfig, synced: bool) -> Server {
    let (udp, tcp, addr) = bind_pair().await;
    let (dns, updater) = Dns::new(config);
    let serving = dns.clone();
    let task = tokio::spawn(async move {
        let _ = serving.serve(udp, tcp).await;
    });
    let web = svc(
        "web",
        json!({"clusterIP": "10.96.0.20", "ports": [{"name": "http", "port": 80}]}),
    );
    let ext = svc(
        "ext",
        json!({"type": "ExternalName", "externalName": "www.example.com"}),
    );
    let big = svc(
        "big",
        json!({"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}),
    );
    let endpoints: Vec<Value> = (1..=100)
        .map(|i| json!({"addresses": [format!("10.244.1.{i}")], "conditions": {"ready": true}}))
        .collect();
    let slice = json!({"metadata": {"labels": {"kubernetes.io/service-name": "big"}}, "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}], "endpoints": endpoints});
    updater.apply_many([
        (Kind::Service, "default", "web", Some(&web)),
        (Kind::Service, "default", "ext", Some(&ext)),
        (Kind::Service, "default", "big", Some(&big)),
        (Kind::EndpointSlice, "default", "big-1", Some(&slice)),
    ]);
    if synced {
        updater.set_synced();
    }
    Server {
        addr,
        dns,
        updater,
        task,
    }
}

fn query_bytes(id: u16, name: &str, qtype: RecordType, edns: Option<(u16, u8)>) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = id;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    if let Some((size, version)) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        e.set_version(version);
        m.set_edns(e);
    }
    m.to_vec().expect("encode")
}

async fn udp_raw(addr: SocketAddr, bytes: &[u8]) -> Option<Message> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    sock.send_to(bytes, addr).await.expect("send");
    let mut buf = vec![0u8; 65535];
    let n = tokio::time::timeout(WAIT, sock.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    Message::from_vec(&buf[..n]).ok()
}

async fn udp(addr: SocketAddr, name: &str, qtype: RecordType, edns: Option<(u16, u8)>) -> Message {
    udp_raw(addr, &query_bytes(7, name, qtype, edns))
        .await
        .expect("udp answer")
}

async fn udp_retry(addr: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let q = query_bytes(11, name, qtype, None);
    let mut buf = vec![0u8; 65535];
    for _ in 0..10 {
        sock.send_to(&q, addr).await.expect("send");
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(1), sock.recv(&mut buf)).await {
            if let Ok(m) = Message::from_vec(&buf[..n]) {
                return m;
            }
        }
    }
    panic!("no answer after 10 tries");
}

async fn tcp_raw(stream: &mut TcpStream, bytes: &[u8]) -> Option<Message> {
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await.ok()?;
    let mut len = [0u8; 2];
    tokio::time::timeout(WAIT, stream.read_exact(&mut len))
        .await
        .ok()?
        .ok()?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tokio::time::timeout(WAIT, stream.read_exact(&mut buf))
        .await
        .ok()?
        .ok()?;
    Message::from_vec(&buf).ok()
}

async fn tcp(addr: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    tcp_raw(&mut stream, &query_bytes(9, name, qtype, None))
        .await
        .expect("tcp answer")
}

fn addresses(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => a.0.to_string(),
            RData::CNAME(c) => format!("CNAME {}", c.0),
            other => other.to_string(),
        })
        .collect()
}

fn config() -> DnsConfig {
    DnsConfig {
        recursion_allowed: vec!["127.0.0.0/8".parse().expect("cidr")],
        forward_timeout: Duration::from_millis(500),
        ..DnsConfig::default()
    }
}

#[tokio::test]
async fn answers_over_udp_and_tcp() {
    let s = start(config(), true).await;
    for m in [
        udp(
            s.addr,
            "web.default.svc.cluster.local.",
            RecordType::A,
            None,
        )
        .await,
        tcp(s.addr, "WEB.default.svc.cluster.local.", RecordType::A).await,
    ] {
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative);
        assert!(!m.metadata.recursion_available);
        assert_eq!(addresses(&m), vec!["10.96.0.20"]);
        assert_eq!(m.answers[0].ttl, 5);
    }
    let nx = udp(
        s.addr,
        "nope.default.svc.cluster.local.",
        RecordType::A,
        None,
    )
    .await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(matches!(
        nx.authorities.first().map(|r| &r.data),
        Some(RData::SOA(_))
    ));
    let nodata = tcp(s.addr, "web.default.svc.cluster.local.", RecordType::AAAA).await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.authorities.len(), 1);
    let txt = udp(s.addr, "dns-version.cluster.local.", RecordType::TXT, None).await;
    assert_eq!(txt.answers[0].data.to_string(), "1.1.0");
    // A TCP connection carries several queries.
    let mut stream = TcpStream::connect(s.addr).await.expect("connect");
    for i in 0..3 {
        let m = tcp_raw(
            &mut stream,
            &query_bytes(
                100 + i,
                "web.default.svc.cluster.local.",
                RecordType::A,
                None,
            ),
        )
        .await
        .expect("answer");
        assert_eq!(m.metadata.id, 100 + i);
    }
}

#[tokio::test]
async fn updates_are_served_at_once() {
    let s = start(config(), true).await;
    let web = svc(
        "web",
        json!({"clusterIP": "10.96.0.99", "ports": [{"name": "http", "port": 80}]}),
    );
    s.updater.apply(Kind::Service, "default", "web", Some(&web));
    let m = udp(
        s.addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        None,
    )
    .await;
    assert_eq!(addresses(&m), vec!["10.96.0.99"]);
    s.updater.apply(Kind::Service, "default", "web", None);
    let m = udp(
        s.addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        None,
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn survives_malformed_and_oversized_input() {
    let s = start(config(), true).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    // Shorter than a header: dropped silently.
    sock.send_to(&[1, 2, 3], s.addr).await.expect("send");
    // A header that promises a question that is not there: FORMERR.
    let header_only = [0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    let m = udp_raw(s.addr, &header_only).await.expect("formerr");
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(m.metadata.id, 0x1234);
    // Garbage after a valid header, and a label pointer loop.
    let mut junk = header_only.to_vec();
    junk.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
    let m = udp_raw(s.addr, &junk).await.expect("formerr");
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    // Oversized datagram: beyond the receive buffer.
    let mut huge = header_only.to_vec();
    huge.resize(9000, 0x3f);
    sock.send_to(&huge, s.addr).await.expect("send");
    // Two questions: FORMERR.
    let mut two = Message::query();
    two.add_query(Query::query(
        Name::from_ascii("a.").expect("n"),
        RecordType::A,
    ));
    two.add_query(Query::query(
        Name::from_ascii("b.").expect("n"),
        RecordType::A,
    ));
    let m = udp_raw(s.addr, &two.to_vec().expect("encode"))
        .await
        .expect("answer");
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    // A response sent to us is not answered (no reflection).
    let mut resp = Message::query();
    resp.metadata.message_type = MessageType::Response;
    resp.add_query(Query::query(
        Name::from_ascii("web.default.svc.cluster.local.").expect("n"),
        RecordType::A,
    ));
    assert!(udp_raw(s.addr, &resp.to_vec().expect("encode"))
        .await
        .is_none());
    // TCP: a length prefix with nothing behind it, then a reset.
    let mut bad = TcpStream::connect(s.addr).await.expect("connect");
    bad.write_all(&[0xff, 0xff, 1, 2, 3]).await.expect("write");
    drop(bad);
    // Still answering.
    let m = udp(
        s.addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        None,
    )
    .await;
    assert_eq!(addresses(&m), vec!["10.96.0.20"]);
    let m = tcp(s.addr, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&m), vec!["10.96.0.20"]);
}

#[tokio::test]
async fn rejects_what_it_does_not_serve() {
    let s = start(config(), true).await;
    let mut notify = Message::query();
    notify.metadata.op_code = hickory_server::proto::op::OpCode::Notify;
    notify.add_query(Query::query(
        Name::from_ascii("cluster.local.").expect("n"),
        RecordType::SOA,
    ));
    let m = udp_raw(s.addr, &notify.to_vec().expect("encode"))
        .await
        .expect("answer");
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
    let mut chaos = Message::query();
    let mut q = Query::query(
        Name::from_ascii("version.bind.").expect("n"),
        RecordType::TXT,
    );
    q.set_query_class(hickory_server::proto::rr::DNSClass::CH);
    chaos.add_query(q);
    let m = udp_raw(s.addr, &chaos.to_vec().expect("encode"))
        .await
        .expect("answer");
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    let m = tcp(s.addr, "cluster.local.", RecordType::AXFR).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    let m = tcp(s.addr, "*.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn truncates_large_udp_answers_and_tcp_has_them_all() {
    let s = start(config(), true).await;
    let small = udp(
        s.addr,
        "big.default.svc.cluster.local.",
        RecordType::A,
        None,
    )
    .await;
    assert!(
        small.metadata.truncation,
        "100 A records do not fit in 512 bytes"
    );
    assert!(small.answers.len() < 100);
    let full = tcp(s.addr, "big.default.svc.cluster.local.", RecordType::A).await;
    assert!(!full.metadata.truncation);
    assert_eq!(full.answers.len(), 100);
    // EDNS0 with a 4096-byte buffer: everything fits over UDP, and the
    // answer carries our OPT record.
    let edns = udp(
        s.addr,
        "big.default.svc.cluster.local.",
        RecordType::A,
        Some((4096, 0)),
    )
    .await;
    assert!(!edns.metadata.truncation);
    assert_eq!(edns.answers.len(), 100);
    assert!(edns.edns.is_some());
    // SRV for 100 endpoints with their addresses: truncated at 1232.
    let srv = udp(
        s.addr,
        "_http._tcp.big.default.svc.cluster.local.",
        RecordType::SRV,
        Some((1232, 0)),
    )
    .await;
    assert!(srv.metadata.truncation);
    // Unknown EDNS version: BADVERS.
    let bad = udp(
        s.addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        Some((1232, 1)),
    )
    .await;
    assert_eq!(u16::from(bad.metadata.response_code), 16, "BADVERS");
}

/// A fake upstream on loopback: A 192.0.2.1 for every name, NXDOMAIN for
/// nx.example., and for tc.example. a truncated UDP answer (the full one
/// over TCP).
struct Upstream {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn upstream_answer(query: &Message, udp: bool) -> Message {
    let mut m = Message::response(query.metadata.id, query.metadata.op_code);
    m.metadata.recursion_desired = query.metadata.recursion_desired;
    m.metadata.recursion_available = true;
    let Some(q) = query.queries.first() else {
        m.metadata.response_code = ResponseCode::FormErr;
        return m;
    };
    m.add_query(q.clone());
    let name = q.name().to_ascii().to_lowercase();
    if name == "nx.example." {
        m.metadata.response_code = ResponseCode::NXDomain;
        let z = Name::from_ascii("example.").expect("n");
        m.add_authority(Record::from_rdata(
            z.clone(),
            60,
            RData::SOA(SOA::new(z.clone(), z, 1, 1, 1, 1, 30)),
        ));
    } else if name == "tc.example." && udp {
        m.metadata.truncation = true;
    } else if q.query_type() == RecordType::A {
        m.add_answer(Record::from_rdata(
            q.name().clone(),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
    }
    m
}

async fn fake_upstream() -> Upstream {
    let (udp, tcp, addr) = bind_pair().await;
    let queries = Arc::new(AtomicUsize::new(0));
    let q1 = queries.clone();
    let u = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            q1.fetch_add(1, Ordering::SeqCst);
            if let Ok(q) = Message::from_vec(&buf[..n]) {
                if let Ok(bytes) = upstream_answer(&q, true).to_vec() {
                    let _ = udp.send_to(&bytes, from).await;
                }
            }
        }
    });
    let q2 = queries.clone();
    let t = tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            q2.fetch_add(1, Ordering::SeqCst);
            let mut len = [0u8; 2];
            if stream.read_exact(&mut len).await.is_err() {
                continue;
            }
            let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if stream.read_exact(&mut buf).await.is_err() {
                continue;
            }
            if let Ok(q) = Message::from_vec(&buf) {
                if let Ok(bytes) = upstream_answer(&q, false).to_vec() {
                    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&bytes);
                    let _ = stream.write_all(&framed).await;
                }
            }
        }
    });
    Upstream {
        addr,
        queries,
        tasks: vec![u, t],
    }
}

#[tokio::test]
async fn forwards_outside_names_to_the_upstream_with_a_cache() {
    let up = fake_upstream().await;
    let s = start(
        DnsConfig {
            upstreams: vec![up.addr],
            ..config()
        },
        true,
    )
    .await;
    let m = udp(s.addr, "www.example.org.", RecordType::A, None).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(!m.metadata.authoritative);
    assert!(m.metadata.recursion_available);
    assert_eq!(addresses(&m), vec!["192.0.2.1"]);
    assert_eq!(up.queries.load(Ordering::SeqCst), 1);
    // Cached: the upstream sees nothing more, the TTL is capped at 30.
    let again = tcp(s.addr, "WWW.example.org.", RecordType::A).await;
    assert_eq!(addresses(&again), vec!["192.0.2.1"]);
    assert!(again.answers[0].ttl <= 30);
    assert_eq!(up.queries.load(Ordering::SeqCst), 1);
    // Negative answers keep their SOA.
    let nx = udp(s.addr, "nx.example.", RecordType::A, None).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(nx.authorities.len(), 1);
    // A truncated upstream answer is fetched again over TCP.
    let tc = udp(s.addr, "tc.example.", RecordType::A, None).await;
    assert_eq!(addresses(&tc), vec!["192.0.2.1"]);
    // ExternalName: the CNAME, chased upstream.
    let ext = udp(
        s.addr,
        "ext.default.svc.cluster.local.",
        RecordType::A,
        None,
    )
    .await;
    assert_eq!(addresses(&ext), vec!["CNAME www.example.com.", "192.0.2.1"]);
    assert!(ext.metadata.authoritative);
    // Unknown reverse names fall through to the upstream too.
    let ptr = udp(s.addr, "9.9.9.10.in-addr.arpa.", RecordType::PTR, None).await;
    assert_eq!(ptr.metadata.response_code, ResponseCode::NoError);
    let text = s.dns.metrics_text();
    assert!(
        text.contains("coredns_cache_hits_total{server=\"dns://:53\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("plugin=\"forward\",rcode=\"NXDOMAIN\""),
        "{text}"
    );
}

#[tokio::test]
async fn refuses_to_recurse_for_clients_outside_the_allow_list() {
    let up = fake_upstream().await;
    let s = start(
        DnsConfig {
            upstreams: vec![up.addr],
            recursion_allowed: vec!["10.244.0.0/16".parse().expect("cidr")],
            ..config()
        },
        true,
    )
    .await;
    let m = udp(s.addr, "www.example.org.", RecordType::A, None).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(m.answers.is_empty());
    let m = tcp(s.addr, "www.example.org.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    // The cluster zone is still answered...
    let m = udp(
        s.addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        None,
    )
    .await;
    assert_eq!(addresses(&m), vec!["10.96.0.20"]);
    // ...and an ExternalName gives its CNAME without chasing it.
    let m = udp(
        s.addr,
        "ext.default.svc.cluster.local.",
        RecordType::A,
        None,
    )
    .await;
    assert_eq!(addresses(&m), vec!["CNAME www.example.com."]);
    assert_eq!(up.queries.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn servfail_when_no_upstream_answers_or_before_sync() {
    // A bound socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let s = start(
        DnsConfig {
            upstreams: vec![silent.local_addr().expect("addr")],
            forward_timeout: Duration::from_millis(200),
            ..config()
        },
        false,
    )
    .await;
    let m = udp(s.addr, "www.example.org.", RecordType::A, None).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    // Not synced yet: NXDOMAIN would be a guess, so SERVFAIL...
    let m = udp(
        s.addr,
        "nope.default.svc.cluster.local.",
        RecordType::A,
        None,
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    // ...while names that exist are answered.
    let m = udp(
        s.addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        None,
    )
    .await;
    assert_eq!(addresses(&m), vec!["10.96.0.20"]);
    s.updater.set_synced();
    assert!(s.dns.is_synced());
    let m = udp(
        s.addr,
        "nope.default.svc.cluster.local.",
        RecordType::A,
        None,
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn keeps_answering_under_a_flood() {
    let s = start(config(), true).await;
    let flood = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let q = query_bytes(1, "web.default.svc.cluster.local.", RecordType::A, None);
    let garbage = [0u8; 40];
    // Bounded: 5,000 queries and 5,000 junk packets, as fast as possible.
    for _ in 0..5000 {
        let _ = flood.send_to(&q, s.addr).await;
        let _ = flood.send_to(&garbage, s.addr).await;
    }
    // The flood fills the socket buffer, so the first try may be dropped by
    // the kernel: retry once a second as a stub resolver does.
    let m = udp_retry(s.addr, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&m), vec!["10.96.0.20"]);
    let m = tcp(s.addr, "web.default.svc.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&m), vec!["10.96.0.20"]);
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut out))
        .await
        .expect("in time")
        .expect("read");
    out
}

#[tokio::test]
async fn serves_metrics_health_and_ready() {
    let s = start(config(), false).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let dns = s.dns.clone();
    let http = tokio::spawn(async move {
        let _ = dns.serve_http(listener).await;
    });
    let _ = udp(
        s.addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        None,
    )
    .await;
    let _ = tcp(s.addr, "nope.default.svc.cluster.local.", RecordType::SRV).await;
    assert!(http_get(addr, "/ready").await.starts_with("HTTP/1.1 503"));
    s.updater.set_synced();
    assert!(http_get(addr, "/ready").await.starts_with("HTTP/1.1 200"));
    assert!(http_get(addr, "/health").await.ends_with("OK"));
    let metrics = http_get(addr, "/metrics").await;
    for want in [
        "coredns_dns_requests_total{family=\"1\",proto=\"udp\",server=\"dns://:53\",view=\"\",zone=\".\",type=\"A\"} 1",
        "coredns_dns_requests_total{family=\"1\",proto=\"tcp\",server=\"dns://:53\",view=\"\",zone=\".\",type=\"SRV\"} 1",
        "coredns_dns_responses_total{plugin=\"kubernetes\",rcode=\"NOERROR\",server=\"dns://:53\",view=\"\",zone=\".\"} 1",
        "coredns_dns_responses_total{plugin=\"kubernetes\",rcode=\"SERVFAIL\",server=\"dns://:53\",view=\"\",zone=\".\"} 1",
        "coredns_dns_request_duration_seconds_count{server=\"dns://:53\",view=\"\",zone=\".\"} 2",
    ] {
        assert!(metrics.contains(want), "missing {want}\n{metrics}");
    }
    http.abort();
}

#[tokio::test]
async fn repeated_questions_get_their_own_id_flags_and_spelling() {
    let s = start(config(), true).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let mut buf = vec![0u8; 4096];
    let ask = |id: u16, name: &'static str, rd: bool, edns: Option<(u16, u8)>| {
        let mut m = Message::query();
        m.metadata.id = id;
        m.metadata.recursion_desired = rd;
        m.add_query(Query::query(
            Name::from_ascii(name).expect("name"),
            RecordType::A,
        ));
        if let Some((size, version)) = edns {
            let mut e = Edns::new();
            e.set_max_payload(size);
            e.set_version(version);
            m.set_edns(e);
        }
        m.to_vec().expect("encode")
    };
    // The first answer is made by the handler, the later ones from the
    // stored reply: each must still be this client's.
    let cases = [
        (1, "web.default.svc.cluster.local.", true),
        (2, "WEB.default.SVC.cluster.local.", false),
        (3, "web.default.svc.cluster.local.", true),
        (4, "Web.Default.Svc.Cluster.Local.", false),
    ];
    for (id, name, rd) in cases {
        sock.send_to(&ask(id, name, rd, None), s.addr)
            .await
            .expect("send");
        let n = tokio::time::timeout(WAIT, sock.recv(&mut buf))
            .await
            .expect("in time")
            .expect("recv");
        let m = Message::from_vec(&buf[..n]).expect("decode");
        assert_eq!(m.metadata.id, id);
        assert_eq!(m.metadata.recursion_desired, rd, "{name}");
        assert!(m.metadata.authoritative);
        assert_eq!(m.queries[0].name().to_ascii(), name);
        assert_eq!(addresses(&m), vec!["10.96.0.20"]);
        assert!(m.edns.is_none());
    }
    // With EDNS the reply carries our OPT; a big answer is cut per buffer.
    for (id, size) in [(5, 4096), (6, 4096), (7, 600), (8, 600)] {
        sock.send_to(
            &ask(id, "big.default.svc.cluster.local.", true, Some((size, 0))),
            s.addr,
        )
        .await
        .expect("send");
        let n = tokio::time::timeout(WAIT, sock.recv(&mut buf))
            .await
            .expect("in time")
            .expect("recv");
        let m = Message::from_vec(&buf[..n]).expect("decode");
        assert_eq!(m.metadata.id, id);
        assert_eq!(m.edns.as_ref().map(|e| e.max_payload()), Some(size));
        assert_eq!(m.metadata.truncation, size < 4096, "buffer {size}");
        assert!(n <= usize::from(size));
    }
    // A changed Service is never answered from the old reply.
    let web = svc(
        "web",
        json!({"clusterIP": "10.96.0.77", "ports": [{"name": "http", "port": 80}]}),
    );
    s.updater.apply(Kind::Service, "default", "web", Some(&web));
    let m = udp(
        s.addr,
        "web.default.svc.cluster.local.",
        RecordType::A,
        None,
    )
    .await;
    assert_eq!(addresses(&m), vec!["10.96.0.77"]);
    // Every query is counted, also those answered from a stored reply.
    let text = s.dns.metrics_text();
    assert!(
        text.contains("coredns_dns_responses_total{plugin=\"kubernetes\",rcode=\"NOERROR\",server=\"dns://:53\",view=\"\",zone=\".\"} 9"),
        "{text}"
    );
}
