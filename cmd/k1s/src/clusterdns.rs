//! Runs the cluster DNS server on the node address and keeps its zone in
//! step with Services, EndpointSlices, Pods and Namespaces from the store.

use k1s_api::resource::lookup;
use k1s_apiserver::Api;
use k1s_dns::{Dns, DnsConfig, Kind, ZoneConfig, ZoneUpdater};
use k1s_store::Key;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Port of the DNS metrics/health endpoint (kube-dns Service's `metrics` port).
pub const METRICS_PORT: u16 = 9153;

pub struct Settings {
    pub node_ip: std::net::Ipv4Addr,
    pub domain: String,
    pub upstreams: Vec<SocketAddr>,
    pub pod_cidr: ipnet::Ipv4Net,
}

const WATCHED: &[(&str, &str, Kind)] = &[
    ("", "services", Kind::Service),
    ("discovery.k8s.io", "endpointslices", Kind::EndpointSlice),
    ("", "pods", Kind::Pod),
    ("", "namespaces", Kind::Namespace),
];

fn meta<'a>(v: &'a Value, field: &str) -> &'a str {
    v["metadata"][field].as_str().unwrap_or("")
}

/// Binds the DNS sockets (UDP+TCP :53 and HTTP :9153 on the node IP) and
/// serves until the process ends.
pub async fn run(api: Api, s: Settings) -> anyhow::Result<()> {
    let ip = IpAddr::V4(s.node_ip);
    let udp = tokio::net::UdpSocket::bind((ip, 53)).await?;
    let tcp = tokio::net::TcpListener::bind((ip, 53)).await?;
    let http = tokio::net::TcpListener::bind((ip, METRICS_PORT)).await?;
    let config = DnsConfig {
        zone: ZoneConfig {
            domain: s.domain,
            ..Default::default()
        },
        upstreams: s.upstreams,
        recursion_allowed: vec![
            ipnet::IpNet::V4(s.pod_cidr),
            ipnet::IpNet::from(ip),
            "127.0.0.0/8".parse()?,
        ],
        ..Default::default()
    };
    let (dns, updater) = Dns::new(config);
    let updater = Arc::new(updater);

    // First sync: everything in one zone version, then answer NXDOMAIN for real.
    let mut objects: Vec<(Kind, Value)> = Vec::new();
    for (group, plural, kind) in WATCHED {
        if let Some(r) = lookup(group, plural) {
            objects.extend(
                k1s_controllers::informer::list_values(api.store(), &r.storage_prefix())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| (*kind, v)),
            );
        }
    }
    updater.apply_many(
        objects
            .iter()
            .map(|(k, v)| (*k, meta(v, "namespace"), meta(v, "name"), Some(v))),
    );
    updater.set_synced();

    for (group, plural, kind) in WATCHED {
        let Some(r) = lookup(group, plural) else {
            continue;
        };
        let (api, updater, kind) = (api.clone(), updater.clone(), *kind);
        tokio::spawn(k1s_controllers::informer::run(
            api.store().clone(),
            r.storage_prefix(),
            move |key| {
                apply(&api, &updater, kind, &key);
                async {}
            },
        ));
    }
    let http_dns = dns.clone();
    tokio::spawn(async move {
        if let Err(e) = http_dns.serve_http(http).await {
            tracing::error!("dns metrics endpoint stopped: {e}");
        }
    });
    tracing::info!(%ip, "cluster DNS listening on port 53");
    dns.serve(udp, tcp).await?;
    Ok(())
}

/// Feeds one changed object (or its deletion) to the zone.
fn apply(api: &Api, updater: &ZoneUpdater, kind: Kind, key: &Key) {
    let current = api
        .store()
        .get(key)
        .ok()
        .flatten()
        .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok());
    updater.apply(kind, &key.namespace, &key.name, current.as_ref());
}
