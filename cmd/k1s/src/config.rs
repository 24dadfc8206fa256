//! `k1s server`: flags, start-up order and shutdown.

use crate::{bootstrap, clusterdns, dataplane, kubeconfig, netinfo};
use anyhow::Context;
use clap::Args;
use ipnet::Ipv4Net;
use k1s_apiserver::{Api, AppState, ClusterConfig};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub const DEFAULT_DATA_DIR: &str = "/var/lib/k1s";

#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Where the database, certificates, token and kubeconfig live.
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// This node's name (default: the hostname).
    #[arg(long)]
    pub node_name: Option<String>,
    /// The address other hosts reach this node at (default: the default route's interface address).
    #[arg(long)]
    pub node_ip: Option<Ipv4Addr>,
    /// Address the API server listens on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// HTTPS port of the API server.
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,
    /// ClusterIP range.
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cidr: Ipv4Net,
    /// Pod address range; this node takes the first /24.
    #[arg(long, default_value = "10.244.0.0/16")]
    pub cluster_cidr: Ipv4Net,
    /// NodePort range, `FIRST-LAST`.
    #[arg(long, default_value = "30000-32767", value_parser = parse_port_range)]
    pub service_node_port_range: RangeInclusive<u16>,
    /// ClusterIP of the kube-dns Service.
    #[arg(long, default_value = "10.96.0.10")]
    pub cluster_dns: Ipv4Addr,
    /// The cluster's DNS domain.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Resolver for names outside the cluster (default: from /etc/resolv.conf).
    #[arg(long)]
    pub upstream_dns: Option<IpAddr>,
}

fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("{s:?}: want FIRST-LAST, e.g. 30000-32767"))?;
    let a: u16 = a.trim().parse().map_err(|e| format!("{a:?}: {e}"))?;
    let b: u16 = b.trim().parse().map_err(|e| format!("{b:?}: {e}"))?;
    if a == 0 || a > b {
        return Err(format!("{s:?}: not a range of ports"));
    }
    Ok(a..=b)
}

/// Everything the running node knows about itself.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub ip: Ipv4Addr,
    pub pod_cidr: Ipv4Net,
    pub secure_port: u16,
    pub cluster_dns: Ipv4Addr,
    pub service_cidr: Ipv4Net,
}

pub async fn run_server(args: ServerArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let node = Node {
        name: args.node_name.clone().unwrap_or_else(netinfo::hostname),
        ip: args.node_ip.unwrap_or_else(netinfo::detect_node_ip),
        pod_cidr: Ipv4Net::new(
            args.cluster_cidr.network(),
            24.max(args.cluster_cidr.prefix_len()),
        )
        .context("--cluster-cidr")?,
        secure_port: args.secure_port,
        cluster_dns: args.cluster_dns,
        service_cidr: args.service_cidr,
    };
    let first_service_ip = Ipv4Addr::from(u32::from(args.service_cidr.network()) + 1);

    let store = Arc::new(
        k1s_store::Store::open(&args.data_dir.join("k1s.redb")).context("opening the store")?,
    );
    let pki = k1s_apiserver::tls::ensure(
        &args.data_dir.join("pki"),
        &san_names(&node.name, &args.cluster_domain),
        &[
            IpAddr::V4(node.ip),
            IpAddr::V4(first_service_ip),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        ],
    )?;
    let tls = k1s_apiserver::tls::server_config(&pki)?;
    let token = kubeconfig::admin_token(&args.data_dir)?;
    let server_url = format!("https://{}:{}", node.ip, args.secure_port);
    kubeconfig::write(&args.data_dir, &server_url, &pki.ca_pem, &token)?;

    let api = Api::new(
        store.clone(),
        ClusterConfig {
            service: k1s_api::validation::ServiceConfig {
                service_cidr: args.service_cidr,
                node_port_range: args.service_node_port_range.clone(),
            },
        },
    );
    let kubelet = node_runtime(&api, &node, &args)?;
    let ready = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(k1s_apiserver::metrics::Metrics::default());
    let proxy_metrics = Arc::new(k1s_proxy::metrics::ProxyMetrics::default());
    let rendered = proxy_metrics.clone();
    metrics.add_source(Arc::new(move || rendered.render()));
    let app = AppState {
        api: api.clone(),
        token: Arc::new(token),
        metrics,
        openapi: Arc::new(k1s_openapi::OpenApi::build()),
        server_address: Arc::new(format!("{}:{}", node.ip, args.secure_port)),
        started,
        ready: ready.clone(),
        pod_streams: Some(Arc::new(k1s_node::kubelet::streams::NodeStreams::new(
            kubelet.clone(),
        ))),
    };
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::new(args.bind_address, args.secure_port))
            .await
            .with_context(|| format!("listening on {}:{}", args.bind_address, args.secure_port))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = k1s_apiserver::serve(listener, tls, app, async {
        let _ = stop_rx.await;
    })?;
    tracing::info!(addr = %server.local_addr, node = %node.name, ip = %node.ip, "API server listening");

    bootstrap::run(&api, &node, &args).await?;
    ready.store(true, Ordering::Release);
    tracing::info!("ready after {} ms", started.elapsed().as_millis());
    let dns_settings = clusterdns::Settings {
        node_ip: node.ip,
        domain: args.cluster_domain.clone(),
        upstreams: match args.upstream_dns {
            Some(ip) => vec![std::net::SocketAddr::new(ip, 53)],
            None => k1s_dns::system_upstreams(),
        },
        pod_cidr: args.cluster_cidr,
    };
    let dns_api = api.clone();
    let background = [
        tokio::spawn(async move {
            if let Err(e) = clusterdns::run(dns_api, dns_settings).await {
                tracing::error!("cluster DNS stopped: {e:#}");
            }
        }),
        tokio::spawn(bootstrap::heartbeat(api.clone(), node.clone())),
        tokio::spawn(k1s_controllers::namespace::run(api.clone())),
        tokio::spawn(k1s_controllers::servicelb::run(api.clone(), vec![node.ip])),
        tokio::spawn(dataplane::run(
            api.clone(),
            k1s_proxy::Config {
                node_name: node.name.clone(),
                node_ips: vec![node.ip],
                cluster_cidr: args.cluster_cidr,
                service_cidr: args.service_cidr,
                ..Default::default()
            },
            proxy_metrics,
        )),
        tokio::spawn(k1s_controllers::endpoint_controllers::run(api.clone())),
        tokio::spawn(k1s_controllers::replicaset::run(api.clone())),
        tokio::spawn(k1s_controllers::deployment::run(api.clone())),
        tokio::spawn(k1s_controllers::gc::run(api.clone())),
        tokio::spawn(k1s_controllers::scheduler::run(
            api.clone(),
            node.name.clone(),
        )),
        tokio::spawn(k1s_node::kubelet::run(kubelet)),
    ];

    wait_for_signal().await;
    tracing::info!("shutting down");
    for task in &background {
        task.abort();
    }
    let _ = stop_tx.send(());
    let _ = server.done.await;
    Ok(())
}

/// The pod runner: node state, pod network, container runtime and images.
fn node_runtime(
    api: &Api,
    node: &Node,
    args: &ServerArgs,
) -> anyhow::Result<Arc<k1s_node::kubelet::Context>> {
    let state = Arc::new(
        k1s_node::state::NodeState::open(&args.data_dir).context("opening the node state")?,
    );
    let network = k1s_node::net::NodeNetwork::new(
        k1s_node::net::NetConfig {
            data_dir: args.data_dir.clone(),
            bridge: k1s_node::net::DEFAULT_BRIDGE.to_string(),
            pod_cidr: node.pod_cidr,
            cluster_cidr: args.cluster_cidr,
            service_cidr: args.service_cidr,
        },
        state,
    )
    .context("node network")?;
    let exe = std::env::current_exe().context("locating the k1s binary")?;
    let runtime =
        k1s_node::runtime::Runtime::new(&args.data_dir, exe).context("container runtime")?;
    let images = k1s_node::image::ImageStore::open(&args.data_dir).context("image store")?;
    k1s_node::kubelet::Context::new(
        api.clone(),
        Arc::new(runtime),
        Arc::new(network),
        Arc::new(images),
        k1s_node::kubelet::KubeletConfig {
            node_name: node.name.clone(),
            node_ip: node.ip,
            data_dir: args.data_dir.clone(),
            cluster_dns: args.cluster_dns,
            cluster_domain: args.cluster_domain.clone(),
            host_resolv_conf: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            host_netns: PathBuf::from(format!("/proc/{}/ns/net", std::process::id())),
        },
    )
}

fn san_names(node_name: &str, domain: &str) -> Vec<String> {
    vec![
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
        format!("kubernetes.default.svc.{domain}"),
        "localhost".into(),
        node_name.to_string(),
    ]
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the server can only be killed; keep serving.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_like_kube_apiserver_flags() {
        assert_eq!(parse_port_range("30000-32767").unwrap(), 30000..=32767);
        assert!(parse_port_range("32767-30000").is_err());
        assert!(parse_port_range("30000").is_err());
    }
}
