//! Pod-side setup and teardown: the pod's namespace, its veth pair and the
//! addresses and routes inside. Runs on a worker thread that starts in the
//! node's namespace; setup opens one netlink connection there, then moves
//! the thread into the pod's namespace and opens a second one, so both ends
//! are configured from the same thread.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;

use ipnet::Ipv4Net;

use super::error::{io_error, NetError};
use super::link::{Link, Netlink, VethSpec};
use super::netns;
use super::plan::{PodPlan, POD_IFNAME};

/// Brings the pod's network to the planned state, creating what is missing
/// and repairing what is half done. Leaves the calling thread in the pod's
/// namespace.
pub(crate) fn setup(plan: &PodPlan) -> Result<(), NetError> {
    netns::block_on(setup_async(plan))
}

async fn setup_async(plan: &PodPlan) -> Result<(), NetError> {
    let node = Netlink::connect()?;
    let bridge = node
        .link(&plan.bridge)
        .await?
        .ok_or_else(|| NetError::NoBridge(plan.bridge.clone()))?;

    let new_netns = !netns::is_pinned(&plan.netns);
    if new_netns {
        netns::create_here(&plan.netns)?;
    } else {
        netns::enter(&plan.netns)?;
    }
    let pod = Netlink::connect()?;

    let host = node.link(&plan.host_veth).await?;
    if let Some(owner) = host.as_ref().and_then(|h| h.alias.as_deref()) {
        if owner != plan.pod_uid {
            return Err(NetError::VethTaken {
                veth: plan.host_veth.clone(),
                pod_uid: plan.pod_uid.clone(),
                owner: owner.to_string(),
            });
        }
    }
    let eth0 = if new_netns {
        None
    } else {
        pod.link(POD_IFNAME).await?
    };

    let (host, fresh_pair) = match (host, eth0) {
        (Some(host), Some(_)) => {
            if host.master != Some(bridge.index) || !host.up || host.mtu != Some(plan.mtu) {
                node.attach(host.index, bridge.index, plan.mtu).await?;
            }
            (host, false)
        }
        (host, eth0) => {
            // One end without the other: start the pair over.
            if let Some(host) = host {
                node.delete_link(host.index).await?;
            }
            if let Some(eth0) = eth0 {
                pod.delete_link(eth0.index).await?;
            }
            (create_pair(&node, plan, bridge.index).await?, true)
        }
    };
    node.configure_port(host.index, &plan.pod_uid).await?;

    let lo = required(pod.link("lo").await?, "lo")?;
    if !lo.up {
        pod.set_up(lo.index, None).await?;
    }
    let eth0 = required(pod.link(POD_IFNAME).await?, POD_IFNAME)?;
    if !fresh_pair {
        for (ip, prefix) in pod.ipv4_addresses(eth0.index).await? {
            if (ip, prefix) != (plan.ip, plan.prefix_len) {
                pod.delete_address(eth0.index, ip, prefix).await?;
            }
        }
    }
    pod.add_address(eth0.index, plan.ip, plan.prefix_len)
        .await?;
    if !eth0.up {
        pod.set_up(eth0.index, None).await?;
    }
    let default =
        Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).map_err(|e| NetError::Config(e.to_string()))?;
    pod.replace_route(default, Some(plan.gateway), eth0.index)
        .await
}

async fn create_pair(node: &Netlink, plan: &PodPlan, bridge: u32) -> Result<Link, NetError> {
    let ns =
        File::open(&plan.netns).map_err(io_error(format!("opening {}", plan.netns.display())))?;
    node.create_veth(&VethSpec {
        name: &plan.host_veth,
        mtu: plan.mtu,
        master: bridge,
        peer_name: POD_IFNAME,
        peer_netns: ns.as_raw_fd(),
    })
    .await?;
    let host = node.link(&plan.host_veth).await?;
    required(host, &plan.host_veth)
}

fn required(link: Option<Link>, name: &str) -> Result<Link, NetError> {
    link.ok_or_else(|| NetError::Io {
        op: format!("looking up link {name}"),
        source: std::io::Error::from_raw_os_error(libc::ENODEV),
    })
}

/// Removes the pod's host veth (its peer dies with it) and its namespace
/// file. Tolerates every part being gone already. Runs in the node's
/// namespace.
pub(crate) async fn teardown(
    node: &Netlink,
    pod_uid: &str,
    host_veth: &str,
    netns_file: &Path,
) -> Result<(), NetError> {
    if let Some(host) = node.link(host_veth).await? {
        // A veth labelled with another uid belongs to that pod (name clash).
        let ours = host.alias.as_deref().is_none_or(|owner| owner == pod_uid);
        if ours {
            node.delete_link(host.index).await?;
        }
    }
    netns::remove(netns_file)
}
