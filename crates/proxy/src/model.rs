//! The proxy's own input types: small, flat descriptions of Services and
//! EndpointSlices (built by `from_k8s`), plus the node-wide `Config`.
//! Nothing here knows about Kubernetes JSON or nftables.

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;

use ipnet::Ipv4Net;

/// Default ClientIP affinity timeout (Kubernetes' `timeoutSeconds` default).
pub const DEFAULT_AFFINITY_TIMEOUT: u32 = 10800;

/// Transport protocols a Service port can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// Lower-case name as nft spells it (`tcp`, `udp`, `sctp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }

    /// Parses the Kubernetes spelling (`TCP`, `UDP`, `SCTP`).
    pub fn from_k8s(s: &str) -> Option<Protocol> {
        match s {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Node-wide settings of the proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// nft table name (`table ip <table>`).
    pub table: String,
    /// This node's name: endpoints with this `nodeName` are local.
    pub node_name: String,
    /// Addresses that accept NodePort traffic (loopback is never used).
    pub node_ips: Vec<Ipv4Addr>,
    /// Pod CIDR of the cluster: traffic from it is "from a pod".
    pub cluster_cidr: Ipv4Net,
    /// Service CIDR: unallocated addresses in it are dropped.
    pub service_cidr: Ipv4Net,
    /// Masquerade every packet to a ClusterIP, not only off-cluster ones.
    pub masquerade_all: bool,
    /// Bit of the packet mark that asks for masquerade (kube-proxy: 14).
    pub masquerade_bit: u8,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            table: "k1s".into(),
            node_name: String::new(),
            node_ips: Vec::new(),
            cluster_cidr: Ipv4Net::new_assert(Ipv4Addr::new(10, 244, 0, 0), 16),
            service_cidr: Ipv4Net::new_assert(Ipv4Addr::new(10, 96, 0, 0), 12),
            masquerade_all: false,
            masquerade_bit: 14,
        }
    }
}

impl Config {
    /// The packet mark value that requests masquerade.
    pub fn masquerade_mark(&self) -> u32 {
        1u32 << (self.masquerade_bit % 32)
    }
}

/// One Service with a ClusterIP (headless and ExternalName Services are
/// never turned into a `ServiceInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    pub namespace: String,
    pub name: String,
    pub cluster_ip: Ipv4Addr,
    pub ports: Vec<ServicePortInfo>,
    pub external_ips: Vec<Ipv4Addr>,
    /// `status.loadBalancer.ingress[].ip` (VIP mode only).
    pub load_balancer_ips: Vec<Ipv4Addr>,
    pub load_balancer_source_ranges: Vec<Ipv4Net>,
    /// `Some(timeout seconds)` when sessionAffinity is ClientIP.
    pub affinity_timeout: Option<u32>,
    /// externalTrafficPolicy: Local.
    pub external_policy_local: bool,
    /// internalTrafficPolicy: Local.
    pub internal_policy_local: bool,
}

impl ServiceInfo {
    /// A ClusterIP Service with defaults; tests and adapters fill in the rest.
    pub fn new(namespace: &str, name: &str, cluster_ip: Ipv4Addr) -> ServiceInfo {
        ServiceInfo {
            namespace: namespace.into(),
            name: name.into(),
            cluster_ip,
            ports: Vec::new(),
            external_ips: Vec::new(),
            load_balancer_ips: Vec::new(),
            load_balancer_source_ranges: Vec::new(),
            affinity_timeout: None,
            external_policy_local: false,
            internal_policy_local: false,
        }
    }
}

/// One port of a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePortInfo {
    /// Port name ("" for a single unnamed port).
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
    pub node_port: Option<u16>,
}

/// The identity of a Service port: `namespace/name:port` (kube-proxy's
/// ServicePortName), printed without `:port` when the port is unnamed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    pub namespace: String,
    pub name: String,
    pub port: String,
    pub protocol: Protocol,
}

impl fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port.is_empty() {
            write!(f, "{}/{}", self.namespace, self.name)
        } else {
            write!(f, "{}/{}:{}", self.namespace, self.name, self.port)
        }
    }
}

/// The parts of one EndpointSlice the proxy uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSliceInfo {
    pub namespace: String,
    /// Value of the `kubernetes.io/service-name` label.
    pub service_name: String,
    pub ports: Vec<SlicePort>,
    pub endpoints: Vec<EndpointInfo>,
}

/// A port of an EndpointSlice: the already-resolved target port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlicePort {
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
}

/// One endpoint address with its conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointInfo {
    pub ip: Ipv4Addr,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    /// Runs on this node.
    pub local: bool,
}

impl EndpointInfo {
    /// A ready, serving, local endpoint.
    pub fn ready(ip: Ipv4Addr) -> EndpointInfo {
        EndpointInfo {
            ip,
            ready: true,
            serving: true,
            terminating: false,
            local: true,
        }
    }
}

/// Identity of a Service: (namespace, name).
pub type ServiceKey = (String, String);

/// One Service and the EndpointSlices that name it: everything the proxy
/// needs to program it, so a change to it can be applied on its own. The
/// parts are shared (the tracker and the programmed state hold the same
/// ones: at 10,000 Services copies would cost megabytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInputs {
    pub service: Arc<ServiceInfo>,
    /// In a stable order (by slice name), so equal inputs compare equal.
    pub slices: Vec<Arc<EndpointSliceInfo>>,
}

impl ServiceInputs {
    pub fn key(&self) -> ServiceKey {
        (self.service.namespace.clone(), self.service.name.clone())
    }
}
