//! Runs the cluster DNS server on the node address and keeps its zone in
//! step with Services, EndpointSlices, Pods and Namespaces from the store.

use k1s_api::resource::lookup;
use k1s_apiserver::Api;
use k1s_controllers::informer;
use k1s_dns::{Dns, DnsConfig, Kind, ZoneConfig, ZoneUpdater};
use k1s_store::{Key, ListPage};
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

    // First sync: everything in one zone version, then answer NXDOMAIN for
    // real. Lists are parsed one object at a time into the zone builder:
    // the parsed objects of 10,000 Services never all exist at once.
    let pages: Vec<(Kind, String, Option<ListPage>)> = WATCHED
        .iter()
        .filter_map(|(group, plural, kind)| {
            let prefix = lookup(group, plural)?.storage_prefix();
            let page = api.store().list(&prefix, None, None, None).ok();
            Some((*kind, prefix, page))
        })
        .collect();
    updater.apply_owned(pages.iter().flat_map(|(kind, _, page)| {
        page.iter().flat_map(|p| &p.items).filter_map(|raw| {
            let v = serde_json::from_slice::<Value>(raw).ok()?;
            let (ns, name) = (
                meta(&v, "namespace").to_string(),
                meta(&v, "name").to_string(),
            );
            Some((*kind, ns, name, Some(v)))
        })
    }));
    // The watches go on from these lists (no second list and rebuild); a
    // resource that could not be listed is listed again by its watch.
    let listed: Vec<(Kind, String, Option<u64>)> = pages
        .into_iter()
        .map(|(kind, prefix, page)| (kind, prefix, page.map(|p| p.resource_version)))
        .collect();
    updater.set_synced();

    // Watch events go to one thread that folds whatever queued up while it
    // was rebuilding into the next zone version: a burst of changes (10,000
    // Services being created) costs a few rebuilds, not one per event, and
    // no rebuild runs on the runtime that serves the API.
    let (changes, queued) = std::sync::mpsc::channel::<(Kind, Key)>();
    {
        let (api, updater) = (api.clone(), updater.clone());
        std::thread::Builder::new()
            .name("dns-zone".into())
            .spawn(move || publish_changes(&api, &updater, &queued))?;
    }
    for (kind, prefix, rv) in listed {
        let changes = changes.clone();
        // Fails only when the zone thread is gone, with the process.
        let handle = move |key| {
            let _ = changes.send((kind, key));
            async {}
        };
        let store = api.store().clone();
        match rv {
            Some(rv) => tokio::spawn(informer::run_after(store, prefix, rv, handle)),
            None => tokio::spawn(informer::run(store, prefix, handle)),
        };
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

/// Applies queued changes until every sender is gone: each round takes all
/// that is waiting, reads those objects as they are now (a deletion reads
/// as none) and publishes them as one zone version.
fn publish_changes(
    api: &Api,
    updater: &ZoneUpdater,
    queued: &std::sync::mpsc::Receiver<(Kind, Key)>,
) {
    while let Ok(first) = queued.recv() {
        let mut keys: Vec<(Kind, Key)> = vec![first];
        keys.extend(queued.try_iter());
        keys.sort_by(|a, b| (a.0 as u8, &a.1).cmp(&(b.0 as u8, &b.1)));
        keys.dedup();
        // Read lazily: a round of 10,000 keys holds one parsed object at a time.
        updater.apply_owned(keys.iter().map(|(kind, key)| {
            (
                *kind,
                key.namespace.as_str(),
                key.name.as_str(),
                read(api, key),
            )
        }));
    }
}

/// The object under `key` now, or None when it is gone.
fn read(api: &Api, key: &Key) -> Option<Value> {
    api.store()
        .get(key)
        .ok()
        .flatten()
        .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok())
}
