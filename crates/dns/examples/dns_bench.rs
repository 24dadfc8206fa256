//! Prints figures for the DNS server: zone build time for N Services, the
//! cost of one incremental update, `Zone::answer` throughput, and UDP
//! queries per second against a server on 127.0.0.1 (bounded in time).
//!
//!     cargo run --release -p k1s-dns --example dns_bench -- [services] [seconds] [clients]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_server::proto::op::{Message, Query};
use hickory_server::proto::rr::{Name, RecordType};
use k1s_dns::{Dns, DnsConfig, Kind, ZoneBuilder, ZoneConfig};
use serde_json::{json, Value};
use tokio::net::{TcpListener, UdpSocket};

fn objects(n: usize) -> Vec<(Kind, String, String, Value)> {
    let mut out = Vec::new();
    for i in 0..n {
        let name = format!("svc-{i}");
        let ns = format!("ns-{}", i % 20);
        let headless = i % 10 == 0;
        let ip = if headless {
            "None".to_string()
        } else {
            format!("10.96.{}.{}", 1 + i / 250, 1 + i % 250)
        };
        out.push((
            Kind::Service,
            ns.clone(),
            name.clone(),
            json!({"spec": {"clusterIP": ip, "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "metrics", "port": 9090, "protocol": "TCP"}]}}),
        ));
        let endpoints: Vec<Value> = (0..3)
            .map(|e| json!({"addresses": [format!("10.244.{}.{}", i / 80, 1 + (i % 80) * 3 + e)], "conditions": {"ready": true}}))
            .collect();
        out.push((
            Kind::EndpointSlice,
            ns,
            format!("{name}-abcde"),
            json!({"metadata": {"labels": {"kubernetes.io/service-name": name}}, "addressType": "IPv4",
                   "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "metrics", "port": 9090, "protocol": "TCP"}],
                   "endpoints": endpoints}),
        ));
    }
    out
}

fn query(id: u16, name: &str) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = id;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(
        Name::from_ascii(name).expect("name"),
        RecordType::A,
    ));
    m.to_vec().expect("encode")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let secs: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let clients: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(4);
    let objs = objects(n);

    // Full build from scratch.
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let mut b = ZoneBuilder::new(ZoneConfig::default());
        for (k, ns, name, o) in &objs {
            b.apply(*k, ns, name, Some(o));
        }
        let z = b.build(1);
        best = best.min(t.elapsed());
        assert_eq!(z.service_count(), n);
    }
    println!("zone build, {n} Services + {n} EndpointSlices from scratch: {best:?}");

    // One Service changes: rebuild it and reassemble the zone.
    let mut b = ZoneBuilder::new(ZoneConfig::default());
    for (k, ns, name, o) in &objs {
        b.apply(*k, ns, name, Some(o));
    }
    let _ = b.build(1);
    let rounds = 200;
    let t = Instant::now();
    for r in 0..rounds {
        let ip = format!("10.97.{}.{}", r / 250, 1 + r % 250);
        b.apply(
            Kind::Service,
            "ns-1",
            "svc-1",
            Some(&json!({"spec": {"clusterIP": ip, "ports": [{"name": "http", "port": 80}]}})),
        );
        let _ = b.build(2 + r as u32);
    }
    println!(
        "incremental update (1 Service changed, zone republished): {:?}",
        t.elapsed() / rounds as u32
    );

    // Zone::answer alone.
    let zone = b.build(9999);
    let names: Vec<Name> = (0..n)
        .map(|i| {
            Name::from_ascii(format!("svc-{i}.ns-{}.svc.cluster.local.", i % 20)).expect("name")
        })
        .collect();
    let iters = 2_000_000;
    let t = Instant::now();
    let mut found = 0usize;
    for i in 0..iters {
        if let k1s_dns::Outcome::Local(a) = zone.answer(&names[i % n], RecordType::A) {
            found += a.answers.len();
        }
    }
    let per = t.elapsed() / iters as u32;
    println!("Zone::answer: {per:?} per question ({found} records)");

    // UDP over loopback: `clients` sockets, each keeping 32 queries in flight.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = udp.local_addr().expect("addr");
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (dns, updater) = Dns::new(DnsConfig::default());
        let refs: Vec<(Kind, &str, &str, Option<&Value>)> = objs
            .iter()
            .map(|(k, ns, name, o)| (*k, ns.as_str(), name.as_str(), Some(o)))
            .collect();
        updater.apply_many(refs);
        updater.set_synced();
        let server = tokio::spawn(async move {
            let _ = dns.serve(udp, tcp).await;
        });
        let done = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for c in 0..clients {
            let done = done.clone();
            let answered = answered.clone();
            let queries: Vec<Vec<u8>> = (0..n)
                .map(|i| {
                    query(
                        (i % 65536) as u16,
                        &format!("svc-{i}.ns-{}.svc.cluster.local.", i % 20),
                    )
                })
                .collect();
            tasks.push(tokio::spawn(async move {
                let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
                sock.connect(addr).await.expect("connect");
                let window = 32u64;
                let sent = Arc::new(AtomicU64::new(0));
                for i in 0..window {
                    let _ = sock.send(&queries[(c * 7 + i as usize) % n]).await;
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                let mut buf = [0u8; 1500];
                let mut i = 0usize;
                while !done.load(Ordering::Relaxed) {
                    // A lost packet shrinks the window; the timeout refills it.
                    match tokio::time::timeout(Duration::from_millis(50), sock.recv(&mut buf)).await
                    {
                        Ok(Ok(_)) => {
                            answered.fetch_add(1, Ordering::Relaxed);
                            i += 1;
                            let _ = sock.send(&queries[(c * 7 + i) % n]).await;
                        }
                        _ => {
                            for _ in 0..window {
                                i += 1;
                                let _ = sock.send(&queries[(c * 7 + i) % n]).await;
                            }
                        }
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let start = answered.load(Ordering::Relaxed);
        let t = Instant::now();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let total = answered.load(Ordering::Relaxed) - start;
        done.store(true, Ordering::Relaxed);
        println!(
            "UDP, {clients} clients x 32 in flight, {n} Services: {:.0} answers/s over {secs} s",
            total as f64 / t.elapsed().as_secs_f64()
        );
        for t in tasks {
            let _ = t.await;
        }
        server.abort();
    });
}
