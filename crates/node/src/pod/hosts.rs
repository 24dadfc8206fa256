//! A pod's names and the files that carry them, as the kubelet and
//! containerd make them:
//!
//! - `GeneratePodHostNameAndDomain`: hostname = `spec.hostname` or the pod
//!   name, cut to 63 characters (trailing '-' / '.' trimmed); domain =
//!   `<subdomain>.<ns>.svc.<cluster-domain>` when `spec.subdomain` is set;
//! - `GetNodenameForKernel`: with `setHostnameAsFQDN` the kernel hostname
//!   is the FQDN, at most 64 characters;
//! - `managedHostsFileContent` / `nodeHostsFileContent`: /etc/hosts with
//!   the kubelet's header, localhost and IPv6 lines, one line per pod IP,
//!   and the `# Entries added by HostAliases.` section;
//! - containerd's /etc/hostname: the hostname and a newline.

use serde_json::Value;

use k1s_api::validation::names::is_dns1123_label;

use super::{items, text};

const MANAGED_HOSTS_HEADER: &str = "# Kubernetes-managed hosts file.\n";
const MANAGED_HOSTS_HEADER_HOST_NETWORK: &str = "# Kubernetes-managed hosts file (host network).\n";
const HOSTNAME_MAX_LEN: usize = 63;
const FQDN_MAX_LEN: usize = 64;

/// A pod's short hostname and its domain ("" without a subdomain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNames {
    pub hostname: String,
    pub domain: String,
}

/// `GeneratePodHostNameAndDomain`.
pub fn pod_names(pod: &Value, cluster_domain: &str) -> Result<PodNames, String> {
    let pod_name = text(&pod["metadata"], "name");
    let mut hostname = pod_name.to_string();
    let spec_hostname = text(&pod["spec"], "hostname");
    if !spec_hostname.is_empty() {
        let errs = is_dns1123_label(spec_hostname);
        if !errs.is_empty() {
            return Err(format!(
                "pod Hostname {spec_hostname:?} is not a valid DNS label: {}",
                errs.join(";")
            ));
        }
        hostname = spec_hostname.to_string();
    }
    let hostname = truncate_hostname(pod_name, &hostname)?;
    let subdomain = text(&pod["spec"], "subdomain");
    let mut domain = String::new();
    if !subdomain.is_empty() {
        let errs = is_dns1123_label(subdomain);
        if !errs.is_empty() {
            return Err(format!(
                "pod Subdomain {subdomain:?} is not a valid DNS label: {}",
                errs.join(";")
            ));
        }
        let namespace = text(&pod["metadata"], "namespace");
        domain = format!("{subdomain}.{namespace}.svc.{cluster_domain}");
    }
    Ok(PodNames { hostname, domain })
}

/// `truncatePodHostnameIfNeeded`.
fn truncate_hostname(pod_name: &str, hostname: &str) -> Result<String, String> {
    if hostname.len() <= HOSTNAME_MAX_LEN {
        return Ok(hostname.to_string());
    }
    let cut: String = hostname.chars().take(HOSTNAME_MAX_LEN).collect();
    let trimmed = cut.trim_end_matches(['-', '.']);
    if trimmed.is_empty() {
        return Err(format!(
            "hostname for pod {pod_name:?} was invalid: {hostname:?}"
        ));
    }
    Ok(trimmed.to_string())
}

/// `GetNodenameForKernel`: the UTS hostname of the sandbox.
pub fn kernel_hostname(pod: &Value, names: &PodNames) -> Result<String, String> {
    if names.domain.is_empty() || !pod["spec"]["setHostnameAsFQDN"].as_bool().unwrap_or(false) {
        return Ok(names.hostname.clone());
    }
    let fqdn = format!("{}.{}", names.hostname, names.domain);
    if fqdn.len() > FQDN_MAX_LEN {
        return Err(format!(
            "failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too long ({FQDN_MAX_LEN} characters is the max, {} characters requested)",
            fqdn.len()
        ));
    }
    Ok(fqdn)
}

/// The sandbox hostname: the node's for hostNetwork pods, else the
/// kernel hostname of the pod.
pub fn sandbox_hostname(
    pod: &Value,
    cluster_domain: &str,
    node_hostname: &str,
) -> Result<String, String> {
    if pod["spec"]["hostNetwork"].as_bool().unwrap_or(false) {
        return Ok(node_hostname.to_string());
    }
    kernel_hostname(pod, &pod_names(pod, cluster_domain)?)
}

/// `shouldMountHostsFile`: only once the pod has an IP (or uses the host's network).
pub fn should_mount_hosts_file(pod: &Value, pod_ips: &[String]) -> bool {
    !pod_ips.is_empty() || pod["spec"]["hostNetwork"].as_bool().unwrap_or(false)
}

/// The pod's /etc/hosts: the managed file, or for hostNetwork pods the
/// node's own hosts file (passed in) under the host-network header.
pub fn etc_hosts(pod: &Value, names: &PodNames, pod_ips: &[String], node_hosts: &str) -> String {
    let aliases = items(&pod["spec"], "hostAliases");
    if pod["spec"]["hostNetwork"].as_bool().unwrap_or(false) {
        format!(
            "{MANAGED_HOSTS_HEADER_HOST_NETWORK}{node_hosts}{}",
            host_alias_entries(aliases)
        )
    } else {
        managed_hosts_file(pod_ips, &names.hostname, &names.domain, aliases)
    }
}

/// `managedHostsFileContent`.
pub fn managed_hosts_file(
    pod_ips: &[String],
    hostname: &str,
    domain: &str,
    aliases: &[Value],
) -> String {
    let mut out = String::from(MANAGED_HOSTS_HEADER);
    out.push_str("127.0.0.1\tlocalhost\n");
    out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    out.push_str("fe00::0\tip6-localnet\n");
    out.push_str("fe00::0\tip6-mcastprefix\n");
    out.push_str("fe00::1\tip6-allnodes\n");
    out.push_str("fe00::2\tip6-allrouters\n");
    for ip in pod_ips {
        if domain.is_empty() {
            out.push_str(&format!("{ip}\t{hostname}\n"));
        } else {
            out.push_str(&format!("{ip}\t{hostname}.{domain}\t{hostname}\n"));
        }
    }
    out.push_str(&host_alias_entries(aliases));
    out
}

/// `hostsEntriesFromHostAliases`: one line per alias IP.
fn host_alias_entries(aliases: &[Value]) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n# Entries added by HostAliases.\n");
    for alias in aliases {
        let names: Vec<&str> = items(alias, "hostnames")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        out.push_str(&format!("{}\t{}\n", text(alias, "ip"), names.join("\t")));
    }
    out
}

/// containerd's /etc/hostname.
pub fn etc_hostname(hostname: &str) -> String {
    format!("{hostname}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, spec: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "default"}, "spec": spec})
    }

    /// `kubectl exec … cat /etc/hosts` for a Deployment pod.
    #[test]
    fn managed_hosts_golden() {
        let p = pod("web-7d4b9c5f8-x2x9z", json!({}));
        let names = pod_names(&p, "cluster.local").unwrap();
        assert_eq!(
            etc_hosts(&p, &names, &["10.244.0.5".to_string()], ""),
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n10.244.0.5\tweb-7d4b9c5f8-x2x9z\n"
        );
        assert_eq!(etc_hostname(&names.hostname), "web-7d4b9c5f8-x2x9z\n");
    }

    /// The HostAliases docs example, plus hostname/subdomain.
    #[test]
    fn subdomain_and_aliases() {
        let p = pod(
            "hostaliases-pod",
            json!({"hostname": "busybox-1", "subdomain": "busybox-subdomain", "hostAliases": [
                {"ip": "127.0.0.1", "hostnames": ["foo.local", "bar.local"]},
                {"ip": "10.1.2.3", "hostnames": ["foo.remote", "bar.remote"]}]}),
        );
        let names = pod_names(&p, "cluster.local").unwrap();
        assert_eq!(names.hostname, "busybox-1");
        assert_eq!(names.domain, "busybox-subdomain.default.svc.cluster.local");
        let hosts = etc_hosts(&p, &names, &["10.200.0.4".to_string()], "");
        assert!(hosts.ends_with(
            "fe00::2\tip6-allrouters\n10.200.0.4\tbusybox-1.busybox-subdomain.default.svc.cluster.local\tbusybox-1\n\n# Entries added by HostAliases.\n127.0.0.1\tfoo.local\tbar.local\n10.1.2.3\tfoo.remote\tbar.remote\n"
        ));
        // The kernel hostname stays short unless setHostnameAsFQDN.
        assert_eq!(
            sandbox_hostname(&p, "cluster.local", "node1").unwrap(),
            "busybox-1"
        );
        let mut fqdn = p.clone();
        fqdn["spec"]["setHostnameAsFQDN"] = json!(true);
        assert_eq!(
            sandbox_hostname(&fqdn, "cluster.local", "node1").unwrap(),
            "busybox-1.busybox-subdomain.default.svc.cluster.local"
        );
        fqdn["spec"]["hostname"] = json!("a-rather-long-hostname-for-this-pod");
        assert_eq!(
            sandbox_hostname(&fqdn, "cluster.local", "node1").unwrap_err(),
            "failed to construct FQDN from pod hostname and cluster domain, FQDN a-rather-long-hostname-for-this-pod.busybox-subdomain.default.svc.cluster.local is too long (64 characters is the max, 79 characters requested)"
        );
    }

    #[test]
    fn hostname_rules() {
        let long = format!("{}-{}", "a".repeat(62), "tail");
        let names = pod_names(&pod(&long, json!({})), "cluster.local").unwrap();
        // Cut to 63 and the trailing '-' removed.
        assert_eq!(names.hostname, "a".repeat(62));
        let bad = pod("p", json!({"hostname": "Not_Valid"}));
        assert!(pod_names(&bad, "cluster.local")
            .unwrap_err()
            .starts_with("pod Hostname \"Not_Valid\" is not a valid DNS label: "));
        let host_net = pod(
            "p",
            json!({"hostNetwork": true, "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["x"]}]}),
        );
        let names = pod_names(&host_net, "cluster.local").unwrap();
        assert_eq!(
            etc_hosts(&host_net, &names, &[], "127.0.0.1 localhost\n"),
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n\n# Entries added by HostAliases.\n1.2.3.4\tx\n"
        );
        assert_eq!(
            sandbox_hostname(&host_net, "cluster.local", "node1").unwrap(),
            "node1"
        );
        assert!(should_mount_hosts_file(&host_net, &[]));
        assert!(!should_mount_hosts_file(&pod("p", json!({})), &[]));
    }
}
