//! Cluster DNS for k1s: a zone built from Services, EndpointSlices and Pods
//! (pure, in `zone` and `builder`), served over UDP and TCP with
//! hickory-server, with a small caching forwarder for other names.
//!
//! ```text
//! let (dns, updater) = Dns::new(config);
//! tokio::spawn(async move { dns.serve(udp, tcp).await });   // + serve_http for /metrics
//! updater.apply(Kind::Service, "default", "web", Some(&object));   // per watch event
//! updater.set_synced();                                          // after the first list
//! ```

pub mod builder;
pub mod config;
pub mod forward;
pub mod metrics;
pub mod names;
pub mod objects;
mod records;
mod server;
mod udp;
mod wire;
pub mod zone;

#[cfg(test)]
mod zone_tests;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde_json::Value;
use tokio::net::{TcpListener, UdpSocket};

pub use builder::{Kind, ZoneBuilder, ZoneConfig};
pub use config::{parse_upstream, system_upstreams, upstreams_from_resolv_conf, DnsConfig};
pub use zone::{Answer, Outcome, PodMode, Zone};

use forward::{Cache, Forwarder};
use metrics::Metrics;

/// hickory-server logs every request at INFO; append this to the process's
/// tracing filter so that query logging stays off unless `log_queries`.
pub const QUIET_HICKORY: &str = "hickory_server=warn,hickory_proto=warn,hickory_net=warn";

/// State shared by the handler, the updater and the HTTP endpoints.
pub(crate) struct Shared {
    pub(crate) config: DnsConfig,
    pub(crate) zone: ArcSwap<Zone>,
    pub(crate) metrics: Metrics,
    pub(crate) forwarder: Forwarder,
    pub(crate) synced: AtomicBool,
}

/// The DNS server handle: serves sockets the caller bound.
#[derive(Clone)]
pub struct Dns {
    shared: Arc<Shared>,
}

/// Feeds watch events into the zone and publishes each new version.
pub struct ZoneUpdater {
    shared: Arc<Shared>,
    builder: Mutex<ZoneBuilder>,
    serial: AtomicU32,
}

fn now_serial() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

impl Dns {
    pub fn new(config: DnsConfig) -> (Dns, ZoneUpdater) {
        let mut builder = ZoneBuilder::new(config.zone.clone());
        let serial = now_serial();
        let zone = builder.build(serial);
        let forwarder = Forwarder::new(
            config.upstreams.clone(),
            config.forward_timeout,
            Cache::new(config.cache_capacity, config.cache_max_ttl),
            config.max_forwards_in_flight,
        );
        let shared = Arc::new(Shared {
            config,
            zone: ArcSwap::from_pointee(zone),
            metrics: Metrics::default(),
            forwarder,
            synced: AtomicBool::new(false),
        });
        let updater = ZoneUpdater {
            shared: shared.clone(),
            builder: Mutex::new(builder),
            serial: AtomicU32::new(serial),
        };
        (Dns { shared }, updater)
    }

    /// Answers on the given sockets until one of them fails. Bind them
    /// where the kube-dns Service's endpoints point. UDP is served by
    /// threads of its own (see `udp`), TCP by hickory-server; both stop
    /// when the returned future is dropped.
    pub async fn serve(&self, udp: UdpSocket, tcp: TcpListener) -> std::io::Result<()> {
        let threads = udp::thread_count(self.shared.config.udp_threads);
        let mut workers = udp::Workers::start(self.shared.clone(), udp, threads)?;
        let handler = server::Handler {
            shared: self.shared.clone(),
        };
        let mut server = hickory_server::Server::new(handler);
        server.register_listener(tcp, self.shared.config.tcp_idle_timeout, 32);
        tokio::select! {
            done = server.block_until_done() => {
                done.map_err(|e| std::io::Error::other(e.to_string()))
            }
            failed = workers.failed() => Err(failed),
        }
    }

    /// /metrics (Prometheus text, CoreDNS names), /health and /ready
    /// (like CoreDNS's health and ready plugins) on the given listener.
    pub async fn serve_http(&self, listener: TcpListener) -> std::io::Result<()> {
        use axum::http::{header, StatusCode};
        use axum::routing::get;
        let metrics = self.clone();
        let ready = self.clone();
        let app = axum::Router::new()
            .route(
                "/metrics",
                get(move || {
                    let text = metrics.metrics_text();
                    async move {
                        (
                            [(
                                header::CONTENT_TYPE,
                                "text/plain; version=0.0.4; charset=utf-8",
                            )],
                            text,
                        )
                    }
                }),
            )
            .route("/health", get(|| async { "OK" }))
            .route(
                "/ready",
                get(move || {
                    let synced = ready.shared.synced.load(Relaxed);
                    async move {
                        if synced {
                            (StatusCode::OK, "OK")
                        } else {
                            (StatusCode::SERVICE_UNAVAILABLE, "kubernetes")
                        }
                    }
                }),
            );
        axum::serve(listener, app).await
    }

    /// The Prometheus text of the DNS metrics.
    pub fn metrics_text(&self) -> String {
        self.shared.metrics.render()
    }

    /// The zone being served now.
    pub fn zone(&self) -> Arc<Zone> {
        self.shared.zone.load_full()
    }

    /// Whether the first full sync has been reported.
    pub fn is_synced(&self) -> bool {
        self.shared.synced.load(Relaxed)
    }
}

impl ZoneUpdater {
    /// One watch event: the object's new JSON, or None when it was deleted.
    /// The new zone is live when this returns.
    pub fn apply(&self, kind: Kind, namespace: &str, name: &str, object: Option<&Value>) {
        self.apply_many([(kind, namespace, name, object)]);
    }

    /// Several events published as one zone version (e.g. the initial list).
    pub fn apply_many<'a>(
        &self,
        changes: impl IntoIterator<Item = (Kind, &'a str, &'a str, Option<&'a Value>)>,
    ) {
        let Ok(mut builder) = self.builder.lock() else {
            return;
        };
        let mut changed = false;
        for (kind, ns, name, obj) in changes {
            changed |= builder.apply(kind, ns, name, obj);
        }
        if changed {
            self.publish(&mut builder);
        }
    }

    /// Like [`ZoneUpdater::apply_many`] for objects made one at a time (parsed
    /// from a list or read from the store): each is dropped once applied, so
    /// a large batch never holds every parsed object at once.
    pub fn apply_owned<N: AsRef<str>>(
        &self,
        changes: impl IntoIterator<Item = (Kind, N, N, Option<Value>)>,
    ) {
        let Ok(mut builder) = self.builder.lock() else {
            return;
        };
        let mut changed = false;
        for (kind, ns, name, obj) in changes {
            changed |= builder.apply(kind, ns.as_ref(), name.as_ref(), obj.as_ref());
        }
        if changed {
            self.publish(&mut builder);
        }
    }

    fn publish(&self, builder: &mut ZoneBuilder) {
        // The SOA serial moves with every change, like CoreDNS's.
        let serial = now_serial().max(self.serial.load(Relaxed).wrapping_add(1));
        self.serial.store(serial, Relaxed);
        self.shared.zone.store(Arc::new(builder.build(serial)));
    }

    /// Marks the end of the initial list: from now on unknown names are
    /// NXDOMAIN (before, SERVFAIL) and /ready says OK.
    pub fn set_synced(&self) {
        self.shared.synced.store(true, Relaxed);
    }

    /// The zone being served now.
    pub fn zone(&self) -> Arc<Zone> {
        self.shared.zone.load_full()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(name: &str, ip: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "default"},
               "spec": {"clusterIP": ip, "ports": [{"name": "http", "port": 80}]}})
    }

    #[test]
    fn owned_changes_build_the_same_zone_as_borrowed_ones() {
        let (web, db) = (service("web", "10.96.0.5"), service("db", "10.96.0.6"));
        let (_, borrowed) = Dns::new(DnsConfig::default());
        borrowed.apply_many([
            (Kind::Service, "default", "web", Some(&web)),
            (Kind::Service, "default", "db", Some(&db)),
        ]);
        let (_, owned) = Dns::new(DnsConfig::default());
        owned.apply_owned([
            (
                Kind::Service,
                "default".to_string(),
                "web".to_string(),
                Some(web.clone()),
            ),
            (
                Kind::Service,
                "default".to_string(),
                "db".to_string(),
                Some(db.clone()),
            ),
        ]);
        assert_eq!(owned.zone().service_count(), 2);
        assert_eq!(
            owned.zone().service_count(),
            borrowed.zone().service_count()
        );
        let serial = owned.zone().soa().clone();
        owned.apply_owned([(Kind::Service, "default", "db", None)]);
        assert_eq!(owned.zone().service_count(), 1);
        assert_ne!(
            owned.zone().soa(),
            &serial,
            "a change publishes a new version"
        );
        // Nothing changed: no new version.
        let serial = owned.zone().soa().clone();
        owned.apply_owned([(Kind::Service, "default", "db", None)]);
        assert_eq!(owned.zone().soa(), &serial);
    }
}
