//! Node-side setup: the bridge with the gateway address, the service-CIDR
//! route, forwarding sysctls and the masquerade table. Runs on a worker
//! thread in the node's namespace; every step checks before it changes, so
//! a second run does (almost) nothing.

use ipnet::Ipv4Net;

use super::error::NetError;
use super::link::Netlink;
use super::plan::BridgePlan;
use super::{netns, nft, sysctl};

pub(crate) fn ensure(
    plan: &BridgePlan,
    pod_cidr: Ipv4Net,
    cluster_cidr: Ipv4Net,
) -> Result<(), NetError> {
    sysctl::ensure(sysctl::IP_FORWARD, "1")?;
    sysctl::ensure_bridge_netfilter()?;
    netns::block_on(ensure_links(plan))?;
    nft::apply(&plan.name, pod_cidr, cluster_cidr)
}

async fn ensure_links(plan: &BridgePlan) -> Result<(), NetError> {
    let nl = Netlink::connect()?;
    let bridge = match nl.link(&plan.name).await? {
        Some(link) => link,
        None => {
            nl.create_bridge(&plan.name, plan.mtu, plan.mac).await?;
            nl.link(&plan.name)
                .await?
                .ok_or_else(|| NetError::NoBridge(plan.name.clone()))?
        }
    };
    if !bridge.up || bridge.mtu != Some(plan.mtu) {
        nl.set_up(bridge.index, Some(plan.mtu)).await?;
    }

    let addresses = nl.ipv4_addresses(bridge.index).await?;
    let wanted = (plan.address, plan.prefix_len);
    for stale in addresses.iter().filter(|a| **a != wanted) {
        // Left from another pod CIDR: it would route pods the wrong way.
        nl.delete_address(bridge.index, stale.0, stale.1).await?;
    }
    if !addresses.contains(&wanted) {
        nl.add_address(bridge.index, plan.address, plan.prefix_len)
            .await?;
    }

    // Service IPs are virtual: route them onto the bridge so packets to a
    // ClusterIP without a DNAT rule stay on the node instead of following
    // the default route out.
    nl.replace_route(plan.service_cidr, None, bridge.index)
        .await
}

/// Removes every port of the bridge, then the bridge itself.
pub(crate) async fn remove(nl: &Netlink, name: &str) -> Result<(), NetError> {
    let Some(bridge) = nl.link(name).await? else {
        return Ok(());
    };
    for port in nl.links().await? {
        if port.master == Some(bridge.index) {
            nl.delete_link(port.index).await?;
        }
    }
    // The service-CIDR route and the gateway address go with the device.
    nl.delete_link(bridge.index).await.map(drop)
}
