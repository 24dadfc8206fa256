//! The benchmark's private network namespace: created with `ip netns add`,
//! deleted on drop, entered per thread with setns(2).

use anyhow::{bail, Context};
use nix::sched::{setns, CloneFlags};
use std::path::PathBuf;
use std::process::Command;

/// Runs `program` (ip, nft, ...) in the calling thread's namespace; it
/// must succeed, else its stderr says why.
pub fn run_tool(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running `{program}`"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

pub fn ip(args: &[&str]) -> anyhow::Result<()> {
    run_tool("ip", args)
}

/// The node address k1s advertises (the e2e tests' and Vagrant lab's
/// plan). It must not be loopback: the `kubernetes` Endpoints reject
/// 127.0.0.0/8 like kube-apiserver does. The benchmark sends nothing to it.
pub const NODE_IP: &str = "192.168.56.10";

/// A named network namespace with `lo` up and the node address on a veth
/// whose both ends stay inside (nothing can leave). Deleted when dropped.
pub struct Netns {
    name: String,
}

impl Netns {
    pub fn create(name: &str) -> anyhow::Result<Netns> {
        ip(&["netns", "add", name])?;
        // From here on Drop deletes it (and the veth in it) if a step fails.
        let ns = Netns {
            name: name.to_string(),
        };
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            name,
            "link",
            "add",
            "eth0",
            "type",
            "veth",
            "peer",
            "name",
            "eth0-peer",
        ])?;
        ip(&[
            "-n",
            name,
            "addr",
            "add",
            &format!("{NODE_IP}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", name, "link", "set", "eth0", "up"])?;
        ip(&["-n", name, "link", "set", "eth0-peer", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bind-mounted namespace file `ip netns` keeps.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "delete", &self.name]) {
            eprintln!("warning: {e}");
        }
    }
}

/// Moves the calling thread (only it) into the namespace at `path`; threads
/// it spawns afterwards start there too.
pub fn enter(path: &std::path::Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    setns(&file, CloneFlags::CLONE_NEWNET).with_context(|| format!("setns({})", path.display()))?;
    Ok(())
}
