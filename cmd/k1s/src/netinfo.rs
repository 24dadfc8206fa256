//! The node's own address: the IPv4 address of the interface that holds
//! the default route (read from /proc and getifaddrs; sends nothing).

use std::net::Ipv4Addr;

/// Interface of the IPv4 default route, from /proc/net/route.
fn default_route_interface() -> Option<String> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    table.lines().skip(1).find_map(|line| {
        let mut f = line.split_whitespace();
        let iface = f.next()?;
        let dest = f.next()?;
        (dest == "00000000").then(|| iface.to_string())
    })
}

/// The first IPv4 address of `iface`.
fn interface_ipv4(iface: &str) -> Option<Ipv4Addr> {
    nix::ifaddrs::getifaddrs().ok()?.find_map(|ifa| {
        if ifa.interface_name != iface {
            return None;
        }
        let addr = ifa.address?;
        addr.as_sockaddr_in().map(|sin| sin.ip())
    })
}

/// The node IP to advertise: the default-route interface's address, else loopback.
pub fn detect_node_ip() -> Ipv4Addr {
    default_route_interface()
        .and_then(|i| interface_ipv4(&i))
        .unwrap_or(Ipv4Addr::LOCALHOST)
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .map(|h| h.to_lowercase())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "k1s-node".to_string())
}
