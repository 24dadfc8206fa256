//! `k1s reset`: removes what k1s made in the kernel for a data directory —
//! containers (processes, shims, mounts, cgroups), pod volume mounts, pod
//! network namespaces, veths, the bridge, the service route and both
//! nftables tables. Stored objects, images and logs stay. Idempotent.

use anyhow::Context;
use std::path::Path;

pub fn run(data_dir: &Path) -> anyhow::Result<()> {
    let containers = k1s_node::runtime::Runtime::reset(data_dir)
        .with_context(|| format!("removing the containers of {}", data_dir.display()))?;
    println!("containers: {containers} removed");
    let pods = data_dir.join("pods");
    let unmounted = k1s_node::kubelet::unmount_below(&pods);
    match std::fs::remove_dir_all(&pods) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", pods.display()))
        }
        _ => {}
    }
    println!("pod volumes: {unmounted} mounts removed");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(k1s_node::net::reset(data_dir, k1s_node::net::DEFAULT_BRIDGE))
        .map_err(|e| anyhow::anyhow!("removing the pod network: {e} (is k1s server still running with this data directory?)"))?;
    println!(
        "pod network: bridge {}, pod namespaces and veths removed",
        k1s_node::net::DEFAULT_BRIDGE
    );
    let table = k1s_proxy::Config::default().table;
    let removed = k1s_proxy::Applier::new()
        .delete_table(&table)
        .map_err(|e| anyhow::anyhow!("removing the nftables table: {e}"))?;
    println!(
        "nftables table ip {table}: {}",
        if removed { "removed" } else { "not present" }
    );
    Ok(())
}
