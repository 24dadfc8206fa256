//! A pod's DNS resolver configuration, as the kubelet's
//! `network/dns.Configurer.GetPodDNS` computes it and containerd writes it:
//!
//! - ClusterFirst (and ClusterFirstWithHostNet): the cluster DNS servers
//!   only, search `<ns>.svc.<domain> svc.<domain> <domain>` followed by the
//!   host's search domains (duplicates dropped), `options ndots:5`;
//! - ClusterFirst on hostNetwork, and Default: the host's resolv.conf
//!   (the kubelet's `--resolv-conf`); without one, `127.0.0.1` and search
//!   `.`;
//! - None: nothing but the pod's `dnsConfig`;
//! - `dnsConfig` is merged into every policy (servers and searches appended
//!   without duplicates, options merged by name with the pod's winning);
//! - limits: 3 nameservers, 32 search domains of at most 253 characters
//!   and 2048 characters in all, each overflow reported as a
//!   `DNSConfigForming` warning event with the kubelet's text.
//!
//! The file is rendered like containerd: `search`, then one `nameserver`
//! line each, then `options`; an empty configuration copies the node's
//! /etc/resolv.conf. Nothing here reads the host: the caller passes file
//! contents (tests never touch the host resolver).

use std::net::IpAddr;

use serde_json::Value;

use super::{items, pod_full_name, text};

/// The kubelet's default option for cluster DNS.
pub const DEFAULT_DNS_OPTIONS: &[&str] = &["ndots:5"];
pub const MAX_DNS_NAMESERVERS: usize = 3;
pub const MAX_DNS_SEARCH_PATHS: usize = 32;
pub const MAX_DNS_SEARCH_LIST_CHARS: usize = 2048;
/// Longer search paths crash some resolvers (glibc 2.28); the kubelet drops them.
const MAX_SEARCH_PATH_LEN: usize = 253;

/// The node's DNS settings (kubelet flags).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsSettings {
    /// `--cluster-dns` (e.g. 10.96.0.10).
    pub cluster_dns: Vec<String>,
    /// `--cluster-domain` (e.g. cluster.local).
    pub cluster_domain: String,
    /// The content of the kubelet's `--resolv-conf` file; `None` when the
    /// flag is empty (then host-DNS pods get 127.0.0.1).
    pub host_resolv_conf: Option<String>,
    /// The node's addresses (only used when `host_resolv_conf` is None).
    pub node_ips: Vec<IpAddr>,
}

/// The CRI DNSConfig: what goes into the pod's resolv.conf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// A warning the kubelet records while forming the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsEvent {
    /// True for the event on the Node object, false for the Pod's.
    pub on_node: bool,
    pub reason: &'static str,
    pub message: String,
}

/// A pod's DNS configuration and the warnings it produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodDns {
    pub config: DnsConfig,
    pub events: Vec<DnsEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PodDnsType {
    Cluster,
    Host,
    None,
}

/// `getPodDNSType`. An unknown policy falls back to ClusterFirst.
fn pod_dns_type(pod: &Value) -> PodDnsType {
    let host_network = pod["spec"]["hostNetwork"].as_bool().unwrap_or(false);
    match text(&pod["spec"], "dnsPolicy") {
        "None" => PodDnsType::None,
        "ClusterFirstWithHostNet" => PodDnsType::Cluster,
        "Default" => PodDnsType::Host,
        "ClusterFirst" | "" if host_network => PodDnsType::Host,
        _ => PodDnsType::Cluster,
    }
}

/// `GetPodDNS`. Errors only for a host resolv.conf that cannot be parsed.
pub fn pod_dns(pod: &Value, settings: &DnsSettings) -> Result<PodDns, String> {
    let mut events = Vec::new();
    let host = match &settings.host_resolv_conf {
        Some(content) => parse_resolv_conf(content)?,
        None => DnsConfig::default(),
    };
    let mut config = host.clone();
    let mut dns_type = pod_dns_type(pod);
    if dns_type == PodDnsType::Cluster && settings.cluster_dns.is_empty() {
        let node_message = "kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy.";
        events.push(DnsEvent {
            on_node: true,
            reason: "MissingClusterDNS",
            message: node_message.to_string(),
        });
        events.push(DnsEvent {
            on_node: false,
            reason: "MissingClusterDNS",
            message: format!("pod: \"{}\". {node_message}", pod_full_name(pod)),
        });
        dns_type = PodDnsType::Host;
    }
    match dns_type {
        PodDnsType::None => config = DnsConfig::default(),
        PodDnsType::Cluster => {
            config.servers = settings.cluster_dns.clone();
            config.searches = cluster_first_searches(
                &host.searches,
                text(&pod["metadata"], "namespace"),
                &settings.cluster_domain,
            );
            config.options = DEFAULT_DNS_OPTIONS.iter().map(|s| s.to_string()).collect();
        }
        PodDnsType::Host => {
            if settings.host_resolv_conf.is_none() {
                for ip in &settings.node_ips {
                    config
                        .servers
                        .push(if ip.is_ipv6() { "::1" } else { "127.0.0.1" }.into());
                }
                if config.servers.is_empty() {
                    config.servers.push("127.0.0.1".into());
                }
                config.searches = vec![".".into()];
            }
        }
    }
    if pod["spec"]["dnsConfig"].is_object() {
        append_pod_dns_config(&mut config, &pod["spec"]["dnsConfig"]);
    }
    fit_limits(&mut config, &mut events);
    Ok(PodDns { config, events })
}

/// `generateSearchesForDNSClusterFirst`.
fn cluster_first_searches(host_search: &[String], namespace: &str, domain: &str) -> Vec<String> {
    if domain.is_empty() {
        return host_search.to_vec();
    }
    let mut all = vec![
        format!("{namespace}.svc.{domain}"),
        format!("svc.{domain}"),
        domain.to_string(),
    ];
    all.extend(host_search.iter().cloned());
    omit_duplicates(all)
}

fn omit_duplicates(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for s in list {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// `appendDNSConfig`.
fn append_pod_dns_config(config: &mut DnsConfig, dns_config: &Value) {
    let strings = |key: &str| -> Vec<String> {
        items(dns_config, key)
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    config.servers = omit_duplicates([config.servers.clone(), strings("nameservers")].concat());
    config.searches = omit_duplicates([config.searches.clone(), strings("searches")].concat());
    let options: Vec<(String, Option<String>)> = items(dns_config, "options")
        .iter()
        .map(|o| {
            (
                text(o, "name").to_string(),
                o["value"].as_str().map(str::to_string),
            )
        })
        .collect();
    config.options = merge_dns_options(&config.options, &options);
}

/// `mergeDNSOptions`: options keyed by name, the pod's values winning. The
/// kubelet rebuilds the list from a Go map (random order); here names keep
/// the position where they first appeared.
pub fn merge_dns_options(
    existing: &[String],
    pod_options: &[(String, Option<String>)],
) -> Vec<String> {
    let mut merged: Vec<(String, String)> = Vec::new();
    let mut set = |name: &str, value: &str| match merged.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = value.to_string(),
        None => merged.push((name.to_string(), value.to_string())),
    };
    for op in existing {
        match op.split_once(':') {
            Some((name, value)) => set(name, value),
            None => set(op, ""),
        }
    }
    for (name, value) in pod_options {
        set(name, value.as_deref().unwrap_or(""));
    }
    merged
        .into_iter()
        .map(|(n, v)| if v.is_empty() { n } else { format!("{n}:{v}") })
        .collect()
}

/// `formDNSConfigFitsLimits`.
fn fit_limits(config: &mut DnsConfig, events: &mut Vec<DnsEvent>) {
    if config.servers.len() > MAX_DNS_NAMESERVERS {
        config.servers.truncate(MAX_DNS_NAMESERVERS);
        events.push(DnsEvent {
            on_node: false,
            reason: "DNSConfigForming",
            message: format!(
                "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: {}",
                config.servers.join(" ")
            ),
        });
    }
    let mut exceeded = false;
    if config.searches.len() > MAX_DNS_SEARCH_PATHS {
        config.searches.truncate(MAX_DNS_SEARCH_PATHS);
        exceeded = true;
    }
    let before = config.searches.len();
    config.searches.retain(|s| s.len() <= MAX_SEARCH_PATH_LEN);
    exceeded |= config.searches.len() != before;
    let line_len = config.searches.join(" ").len();
    if line_len > MAX_DNS_SEARCH_LIST_CHARS {
        // Drop domains from the end until the line fits.
        let mut cut_len = 0;
        let mut cut_num = 0;
        for s in config.searches.iter().rev() {
            cut_len += s.len() + 1;
            cut_num += 1;
            if line_len - cut_len.min(line_len) <= MAX_DNS_SEARCH_LIST_CHARS {
                break;
            }
        }
        let keep = config.searches.len() - cut_num;
        config.searches.truncate(keep);
        exceeded = true;
    }
    if exceeded {
        events.push(DnsEvent {
            on_node: false,
            reason: "DNSConfigForming",
            message: format!(
                "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: {}",
                config.searches.join(" ")
            ),
        });
    }
}

/// `parseResolvConf`: nameservers accumulate, the last `search` and the
/// last `options` line win, search domains lose a trailing dot.
pub fn parse_resolv_conf(content: &str) -> Result<DnsConfig, String> {
    let mut config = DnsConfig::default();
    let mut errors: Vec<String> = Vec::new();
    for line in content.split('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        match fields.first() {
            Some(&"nameserver") => match fields.get(1) {
                Some(server) => config.servers.push(server.to_string()),
                None => errors.push("nameserver list is empty ".to_string()),
            },
            Some(&"search") => {
                config.searches = fields[1..]
                    .iter()
                    .map(|s| s.strip_suffix('.').unwrap_or(s).to_string())
                    .collect();
            }
            Some(&"options") => {
                config.options = fields[1..].iter().map(|s| s.to_string()).collect();
            }
            _ => {}
        }
    }
    match errors.len() {
        0 => Ok(config),
        1 => Err(errors.remove(0)),
        _ => Err(format!("[{}]", errors.join(", "))),
    }
}

/// containerd's resolv.conf for a sandbox: the configuration when it says
/// anything, else a copy of the node's /etc/resolv.conf.
pub fn render_resolv_conf(config: &DnsConfig, node_resolv_conf: &str) -> String {
    let mut out = String::new();
    if !config.searches.is_empty() {
        out.push_str(&format!("search {}\n", config.searches.join(" ")));
    }
    for server in &config.servers {
        out.push_str(&format!("nameserver {server}\n"));
    }
    if !config.options.is_empty() {
        out.push_str(&format!("options {}\n", config.options.join(" ")));
    }
    if out.is_empty() {
        node_resolv_conf.to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOST: &str = "# generated by NetworkManager\nnameserver 192.168.56.1\nnameserver 192.168.56.2\nsearch lab.example. corp.example\noptions edns0 trust-ad\n";

    fn settings() -> DnsSettings {
        DnsSettings {
            cluster_dns: vec!["10.96.0.10".into()],
            cluster_domain: "cluster.local".into(),
            host_resolv_conf: Some(HOST.into()),
            node_ips: vec![],
        }
    }

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "tmp", "namespace": "default", "uid": "u1"}, "spec": spec})
    }

    fn resolv(spec: Value, s: &DnsSettings) -> String {
        render_resolv_conf(&pod_dns(&pod(spec), s).unwrap().config, "NODE-COPY\n")
    }

    /// What `cat /etc/resolv.conf` prints in a kubeadm cluster pod.
    #[test]
    fn cluster_first_golden() {
        let no_host_search = DnsSettings {
            host_resolv_conf: Some("nameserver 192.168.56.1\n".into()),
            ..settings()
        };
        assert_eq!(
            resolv(json!({"dnsPolicy": "ClusterFirst"}), &no_host_search),
            "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
        // Host search domains follow the cluster ones; a policy-less pod is ClusterFirst.
        assert_eq!(
            resolv(json!({}), &settings()),
            "search default.svc.cluster.local svc.cluster.local cluster.local lab.example corp.example\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
    }

    #[test]
    fn host_network_and_default() {
        let host = "search lab.example corp.example\nnameserver 192.168.56.1\nnameserver 192.168.56.2\noptions edns0 trust-ad\n";
        assert_eq!(resolv(json!({"dnsPolicy": "Default"}), &settings()), host);
        assert_eq!(
            resolv(
                json!({"dnsPolicy": "ClusterFirst", "hostNetwork": true}),
                &settings()
            ),
            host
        );
        assert!(resolv(
            json!({"dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": true}),
            &settings()
        )
        .contains("nameserver 10.96.0.10\n"));
        // No --resolv-conf: loopback and a root search.
        let none = DnsSettings {
            host_resolv_conf: None,
            node_ips: vec!["192.168.56.10".parse().unwrap()],
            ..settings()
        };
        assert_eq!(
            resolv(json!({"dnsPolicy": "Default"}), &none),
            "search .\nnameserver 127.0.0.1\n"
        );
    }

    #[test]
    fn none_policy_with_dns_config() {
        let spec = json!({"dnsPolicy": "None", "dnsConfig": {
            "nameservers": ["192.0.2.1"],
            "searches": ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}});
        // The "Pod's DNS Config" example of the DNS docs.
        assert_eq!(
            resolv(spec, &settings()),
            "search ns1.svc.cluster-domain.example my.dns.search.suffix\nnameserver 192.0.2.1\noptions ndots:2 edns0\n"
        );
        // None without anything: containerd copies the node's file.
        assert_eq!(
            resolv(json!({"dnsPolicy": "None"}), &settings()),
            "NODE-COPY\n"
        );
    }

    #[test]
    fn dns_config_merges_into_cluster_first() {
        let spec = json!({"dnsConfig": {
            "nameservers": ["10.96.0.10", "1.1.1.1"],
            "searches": ["svc.cluster.local", "extra.example"],
            "options": [{"name": "ndots", "value": "1"}, {"name": "single-request"}]}});
        let dns = pod_dns(&pod(spec), &settings()).unwrap();
        assert_eq!(dns.config.servers, ["10.96.0.10", "1.1.1.1"]);
        assert_eq!(
            dns.config.searches,
            [
                "default.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "lab.example",
                "corp.example",
                "extra.example"
            ]
        );
        assert_eq!(dns.config.options, ["ndots:1", "single-request"]);
        assert!(dns.events.is_empty());
    }

    #[test]
    fn limits_are_enforced_with_events() {
        let searches: Vec<String> = (0..40).map(|i| format!("d{i}.example")).collect();
        let long = "x".repeat(254);
        let mut all = searches.clone();
        all.insert(0, long);
        let spec = json!({"dnsPolicy": "None", "dnsConfig": {
            "nameservers": ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"],
            "searches": all}});
        let dns = pod_dns(&pod(spec), &settings()).unwrap();
        assert_eq!(dns.config.servers.len(), 3);
        // 32 kept by count, then the over-long one dropped.
        assert_eq!(dns.config.searches.len(), 31);
        assert_eq!(dns.config.searches[0], "d0.example");
        assert_eq!(
            dns.events[0].message,
            "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 192.0.2.1 192.0.2.2 192.0.2.3"
        );
        assert_eq!(dns.events[1].reason, "DNSConfigForming");
        assert!(dns.events[1].message.starts_with(
            "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: d0.example d1.example"
        ));
        // 2048 characters in all: cut from the end.
        let wide: Vec<String> = (0..20).map(|i| format!("{i:0>150}")).collect();
        let spec = json!({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["192.0.2.1"], "searches": wide}});
        let dns = pod_dns(&pod(spec), &settings()).unwrap();
        assert_eq!(dns.config.searches.len(), 13);
        assert!(dns.config.searches.join(" ").len() <= MAX_DNS_SEARCH_LIST_CHARS);
    }

    #[test]
    fn missing_cluster_dns_falls_back_to_default() {
        let s = DnsSettings {
            cluster_dns: vec![],
            ..settings()
        };
        let dns = pod_dns(&pod(json!({})), &s).unwrap();
        assert_eq!(dns.config.servers, ["192.168.56.1", "192.168.56.2"]);
        assert_eq!(dns.events.len(), 2);
        assert_eq!(
            dns.events[1].message,
            "pod: \"tmp_default(u1)\". kubelet does not have ClusterDNS IP configured and cannot create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy."
        );
    }

    #[test]
    fn resolv_conf_parsing() {
        let c = parse_resolv_conf(HOST).unwrap();
        assert_eq!(c.servers, ["192.168.56.1", "192.168.56.2"]);
        assert_eq!(c.searches, ["lab.example", "corp.example"]);
        assert_eq!(c.options, ["edns0", "trust-ad"]);
        assert_eq!(
            parse_resolv_conf("nameserver\n").unwrap_err(),
            "nameserver list is empty "
        );
        assert_eq!(
            merge_dns_options(
                &["ndots:5".into(), "edns0".into()],
                &[("ndots".into(), Some("2".into()))]
            ),
            ["ndots:2", "edns0"]
        );
    }
}
