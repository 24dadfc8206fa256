//! The node's own small nftables table, `table ip k1s-node`: masquerade
//! for pod traffic that leaves the node, and accept rules for forwarded pod
//! traffic. The text is computed purely; `nft -f -` (through the proxy's
//! applier, in the calling thread's namespace) installs it atomically.

use ipnet::Ipv4Net;
use k1s_proxy::Applier;

use super::error::NetError;

pub const NFT_TABLE: &str = "k1s-node";

/// The whole table for these addresses, in `nft -f` syntax, laid out
/// exactly as `nft list table` prints it so the two can be compared.
pub fn ruleset(bridge: &str, pod_cidr: Ipv4Net, cluster_cidr: Ipv4Net) -> String {
    let pod = pod_cidr.trunc();
    let cluster = cluster_cidr.trunc();
    format!(
        "table ip {NFT_TABLE} {{
\tcomment \"k1s node networking\"
\tchain postrouting {{
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\tip saddr {pod} ip daddr != {cluster} oifname != \"{bridge}\" masquerade comment \"pod traffic leaving the node\"
\t}}

\tchain forward {{
\t\ttype filter hook forward priority filter; policy accept;
\t\tip saddr {pod} accept comment \"from pods\"
\t\tip daddr {pod} accept comment \"to pods\"
\t}}
}}
"
    )
}

/// One transaction that replaces the table whether or not it exists:
/// declare it (a no-op when present), delete it, define it anew.
pub fn replace_script(table_text: &str) -> String {
    format!("table ip {NFT_TABLE}\ndelete table ip {NFT_TABLE}\n{table_text}")
}

/// Installs the table unless the kernel already holds exactly this one
/// (listing is a few ms, a nat table transaction several times that).
pub(crate) fn apply(
    bridge: &str,
    pod_cidr: Ipv4Net,
    cluster_cidr: Ipv4Net,
) -> Result<(), NetError> {
    let applier = Applier::new();
    let wanted = ruleset(bridge, pod_cidr, cluster_cidr);
    if applier.list_text(NFT_TABLE)?.as_deref() == Some(wanted.as_str()) {
        return Ok(());
    }
    applier
        .apply_text(&replace_script(&wanted))
        .map_err(NetError::from)
}

/// Deletes the table; `false` if it was not there.
pub(crate) fn delete() -> Result<bool, NetError> {
    Applier::new()
        .delete_table(NFT_TABLE)
        .map_err(NetError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruleset_golden() {
        let text = ruleset(
            "k1s0",
            "10.244.0.0/24".parse().unwrap(),
            "10.244.0.0/16".parse().unwrap(),
        );
        let want = r#"table ip k1s-node {
	comment "k1s node networking"
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 10.244.0.0/24 ip daddr != 10.244.0.0/16 oifname != "k1s0" masquerade comment "pod traffic leaving the node"
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
		ip saddr 10.244.0.0/24 accept comment "from pods"
		ip daddr 10.244.0.0/24 accept comment "to pods"
	}
}
"#;
        assert_eq!(text, want);
    }

    #[test]
    fn ruleset_normalises_cidrs_and_uses_the_bridge_name() {
        let text = ruleset(
            "br9",
            "10.1.2.3/24".parse().unwrap(),
            "10.1.0.0/16".parse().unwrap(),
        );
        assert!(text.contains(
            "ip saddr 10.1.2.0/24 ip daddr != 10.1.0.0/16 oifname != \"br9\" masquerade"
        ));
    }

    #[test]
    fn replace_script_declares_deletes_then_defines() {
        let script = replace_script("table ip k1s-node {\n}\n");
        assert_eq!(
            script,
            "table ip k1s-node\ndelete table ip k1s-node\ntable ip k1s-node {\n}\n"
        );
    }
}
