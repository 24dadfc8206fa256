//! Thin netlink layer (rtnetlink): links, addresses and routes of the
//! namespace the connection was opened in. One request per method, no
//! decisions beyond treating "already gone" as success where asked.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkMessage,
};
use rtnetlink::packet_route::route::RouteScope;
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth,
    RouteMessageBuilder,
};

use super::error::{io_error, netlink_error, NetError};

const ENODEV: i32 = libc::ENODEV;
const EEXIST: i32 = libc::EEXIST;
const EADDRNOTAVAIL: i32 = libc::EADDRNOTAVAIL;

/// The parts of a link the node cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub index: u32,
    pub name: String,
    pub up: bool,
    pub mtu: Option<u32>,
    pub master: Option<u32>,
    pub alias: Option<String>,
    pub mac: Option<Vec<u8>>,
}

impl Link {
    fn from_message(msg: LinkMessage) -> Link {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            up: msg.header.flags.contains(LinkFlags::Up),
            mtu: None,
            master: None,
            alias: None,
            mac: None,
        };
        for attr in msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n,
                LinkAttribute::Mtu(m) => link.mtu = Some(m),
                LinkAttribute::Controller(m) if m != 0 => link.master = Some(m),
                LinkAttribute::IfAlias(a) => link.alias = Some(a),
                LinkAttribute::Address(a) => link.mac = Some(a),
                _ => {}
            }
        }
        link
    }
}

/// Host end of a new veth pair; the peer is created directly inside the
/// pod's namespace under its final name, so no temporary name can clash.
pub(crate) struct VethSpec<'a> {
    pub name: &'a str,
    pub mtu: u32,
    pub master: u32,
    pub peer_name: &'a str,
    pub peer_netns: RawFd,
}

/// A netlink connection bound to the namespace of the thread that opened it.
pub(crate) struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens a connection; must run inside a tokio runtime (it spawns the
    /// connection's driver task).
    pub fn connect() -> Result<Netlink, NetError> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(io_error("opening netlink socket"))?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// The link called `name`, if it exists.
    pub async fn link(&self, name: &str) -> Result<Option<Link>, NetError> {
        let got = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute()
            .try_next()
            .await;
        match got {
            Ok(msg) => Ok(msg.map(Link::from_message)),
            Err(e) => match netlink_error(format!("looking up link {name}"))(e) {
                e if e.errno() == Some(ENODEV) => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Every link of the namespace.
    pub async fn links(&self) -> Result<Vec<Link>, NetError> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(netlink_error("listing links"))?;
        Ok(msgs.into_iter().map(Link::from_message).collect())
    }

    pub async fn create_bridge(&self, name: &str, mtu: u32, mac: [u8; 6]) -> Result<(), NetError> {
        let msg = LinkBridge::new(name)
            .mtu(mtu)
            .address(mac.to_vec())
            // Per-bridge switch for br_netfilter, independent of the sysctl.
            .nf_call_iptables(true)
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(netlink_error(format!("creating bridge {name}")))
    }

    /// Sets the link up (and its MTU when given).
    pub async fn set_up(&self, index: u32, mtu: Option<u32>) -> Result<(), NetError> {
        let mut msg = LinkUnspec::new_with_index(index).up();
        if let Some(mtu) = mtu {
            msg = msg.mtu(mtu);
        }
        self.handle
            .link()
            .change(msg.build())
            .execute()
            .await
            .map_err(netlink_error(format!("setting link {index} up")))
    }

    /// Creates a veth pair whose host end is already enslaved and up.
    pub async fn create_veth(&self, spec: &VethSpec<'_>) -> Result<(), NetError> {
        let peer = LinkUnspec::new_with_name(spec.peer_name)
            .mtu(spec.mtu)
            .setns_by_fd(spec.peer_netns)
            .build();
        let msg = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(spec.name.to_string())
            .mtu(spec.mtu)
            .controller(spec.master)
            .up()
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(netlink_error(format!("creating veth {}", spec.name)))
    }

    /// Puts the link on the bridge `master` and sets it up.
    pub async fn attach(&self, index: u32, master: u32, mtu: u32) -> Result<(), NetError> {
        let msg = LinkUnspec::new_with_index(index)
            .controller(master)
            .mtu(mtu)
            .up()
            .build();
        self.handle
            .link()
            .change(msg)
            .execute()
            .await
            .map_err(netlink_error(format!("attaching link {index} to bridge")))
    }

    /// Turns on hairpin mode of a bridge port (so a pod reaching itself
    /// through a Service gets its packets back) and labels it with `alias`.
    pub async fn configure_port(&self, index: u32, alias: &str) -> Result<(), NetError> {
        let msg = LinkBridgePort::new(index)
            .hairpin(true)
            .append_extra_attribute(LinkAttribute::IfAlias(alias.to_string()))
            .build();
        self.handle
            .link()
            .set_port(msg)
            .execute()
            .await
            .map_err(netlink_error(format!("configuring bridge port {index}")))
    }

    /// Deletes the link; `false` if it was already gone.
    pub async fn delete_link(&self, index: u32) -> Result<bool, NetError> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(true),
            Err(e) => match netlink_error(format!("deleting link {index}"))(e) {
                e if e.errno() == Some(ENODEV) => Ok(false),
                e => Err(e),
            },
        }
    }

    /// The IPv4 addresses (address, prefix length) on the link.
    pub async fn ipv4_addresses(&self, index: u32) -> Result<Vec<(Ipv4Addr, u8)>, NetError> {
        let msgs: Vec<_> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute()
            .try_collect()
            .await
            .map_err(netlink_error(format!("listing addresses of link {index}")))?;
        let mut out = Vec::new();
        for msg in msgs {
            if msg.header.index != index {
                continue;
            }
            let local = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            let address = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            if let Some(ip) = local.or(address) {
                out.push((ip, msg.header.prefix_len));
            }
        }
        Ok(out)
    }

    /// Adds the address; fine if the link already has it.
    pub async fn add_address(
        &self,
        index: u32,
        ip: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(), NetError> {
        match self
            .handle
            .address()
            .add(index, IpAddr::V4(ip), prefix_len)
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) => match netlink_error(format!("adding {ip}/{prefix_len} to link {index}"))(e) {
                e if e.errno() == Some(EEXIST) => Ok(()),
                e => Err(e),
            },
        }
    }

    /// Removes the address; fine if it is already gone.
    pub async fn delete_address(
        &self,
        index: u32,
        ip: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(), NetError> {
        let msg = rtnetlink::AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(ip, prefix_len)
            .build();
        match self.handle.address().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) => {
                match netlink_error(format!("removing {ip}/{prefix_len} from link {index}"))(e) {
                    e if e.errno() == Some(EADDRNOTAVAIL) => Ok(()),
                    e => Err(e),
                }
            }
        }
    }

    /// Creates or replaces the route to `dst` out of link `oif`, through
    /// `gateway` when given (else directly on the link).
    pub async fn replace_route(
        &self,
        dst: Ipv4Net,
        gateway: Option<Ipv4Addr>,
        oif: u32,
    ) -> Result<(), NetError> {
        let mut route = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst.network(), dst.prefix_len())
            .output_interface(oif);
        route = match gateway {
            Some(gw) => route.gateway(gw),
            None => route.scope(RouteScope::Link),
        };
        self.handle
            .route()
            .add(route.build())
            .replace()
            .execute()
            .await
            .map_err(netlink_error(format!("adding route to {dst}")))
    }
}
