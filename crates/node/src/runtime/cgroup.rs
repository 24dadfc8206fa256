//! Container cgroups: `k1s/<pod-uid>/<container-id>` under each cgroup v1
//! controller the host mounts (memory, cpu, pids), or under the cgroup v2
//! unified hierarchy. Limits are computed by a pure function; the rest
//! creates, fills, reads and removes the directories. Controllers the
//! host lacks are skipped (logged at debug), as the kubelet does not
//! refuse to run pods on such hosts either.

use super::config::Limits;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The directory under every hierarchy that holds k1s' cgroups.
pub const K1S_DIR: &str = "k1s";

/// CFS period the kubelet uses (100ms), and its minimum quota (1ms).
const CFS_PERIOD_US: u64 = 100_000;
const MIN_QUOTA_US: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Controller {
    Memory,
    Cpu,
    Pids,
}

impl Controller {
    pub const ALL: [Controller; 3] = [Controller::Memory, Controller::Cpu, Controller::Pids];

    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Pids => "pids",
        }
    }
}

/// One value to write into a controller file of the container's cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupWrite {
    pub controller: Controller,
    pub file: &'static str,
    pub value: String,
}

/// CPU quota per CFS period for a limit in millicores, as the kubelet
/// computes it (`MilliCPUToQuota`).
pub fn cpu_quota_us(millis: u64) -> u64 {
    (millis.saturating_mul(CFS_PERIOD_US) / 1000).max(MIN_QUOTA_US)
}

/// The files to write for `limits`, in order; unset limits write nothing.
pub fn limit_writes(version: CgroupVersion, limits: &Limits) -> Vec<CgroupWrite> {
    let w = |controller, file, value: String| CgroupWrite {
        controller,
        file,
        value,
    };
    let mut out = Vec::new();
    match version {
        CgroupVersion::V1 => {
            if let Some(bytes) = limits.memory_bytes {
                out.push(w(
                    Controller::Memory,
                    "memory.limit_in_bytes",
                    bytes.to_string(),
                ));
            }
            if let Some(millis) = limits.cpu_millis {
                out.push(w(
                    Controller::Cpu,
                    "cpu.cfs_period_us",
                    CFS_PERIOD_US.to_string(),
                ));
                out.push(w(
                    Controller::Cpu,
                    "cpu.cfs_quota_us",
                    cpu_quota_us(millis).to_string(),
                ));
            }
            if let Some(n) = limits.pids {
                out.push(w(Controller::Pids, "pids.max", n.to_string()));
            }
        }
        CgroupVersion::V2 => {
            if let Some(bytes) = limits.memory_bytes {
                out.push(w(Controller::Memory, "memory.max", bytes.to_string()));
            }
            if let Some(millis) = limits.cpu_millis {
                out.push(w(
                    Controller::Cpu,
                    "cpu.max",
                    format!("{} {CFS_PERIOD_US}", cpu_quota_us(millis)),
                ));
            }
            if let Some(n) = limits.pids {
                out.push(w(Controller::Pids, "pids.max", n.to_string()));
            }
        }
    }
    out
}

/// The controllers of ours that a v2 `cgroup.controllers` file offers.
pub fn v2_available(controllers_file: &str) -> Vec<Controller> {
    let offered: Vec<&str> = controllers_file.split_whitespace().collect();
    Controller::ALL
        .into_iter()
        .filter(|c| offered.contains(&c.name()))
        .collect()
}

/// The `oom_kill N` counter of memory.oom_control (v1) or memory.events (v2).
pub fn parse_oom_kills(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.strip_prefix("oom_kill "))
        .find_map(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// A pod uid or container id used as one path component.
fn check_component(s: &str) -> io::Result<&str> {
    if s.is_empty() || s == "." || s == ".." || s.contains('/') || s.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{s:?} cannot name a cgroup"),
        ));
    }
    Ok(s)
}

/// The cgroup hierarchy of this host, as far as k1s uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroups {
    root: PathBuf,
    version: CgroupVersion,
    controllers: Vec<Controller>,
}

impl Cgroups {
    /// v2 when the unified hierarchy is mounted at /sys/fs/cgroup,
    /// otherwise the v1 controllers mounted at /sys/fs/cgroup/<name>.
    pub fn detect() -> Cgroups {
        Cgroups::detect_at(Path::new(CGROUP_ROOT))
    }

    pub fn detect_at(root: &Path) -> Cgroups {
        if let Ok(text) = fs::read_to_string(root.join("cgroup.controllers")) {
            return Cgroups::new(root.to_path_buf(), CgroupVersion::V2, v2_available(&text));
        }
        let controllers = Controller::ALL
            .into_iter()
            .filter(|c| root.join(c.name()).join("cgroup.procs").exists())
            .collect();
        Cgroups::new(root.to_path_buf(), CgroupVersion::V1, controllers)
    }

    pub fn new(root: PathBuf, version: CgroupVersion, controllers: Vec<Controller>) -> Cgroups {
        Cgroups {
            root,
            version,
            controllers,
        }
    }

    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    pub fn controllers(&self) -> &[Controller] {
        &self.controllers
    }

    /// The hierarchies k1s' directories live in: one per v1 controller,
    /// or the single v2 root.
    fn hierarchies(&self) -> Vec<PathBuf> {
        match self.version {
            CgroupVersion::V1 => self
                .controllers
                .iter()
                .map(|c| self.root.join(c.name()))
                .collect(),
            CgroupVersion::V2 => vec![self.root.clone()],
        }
    }

    fn hierarchy_of(&self, c: Controller) -> PathBuf {
        match self.version {
            CgroupVersion::V1 => self.root.join(c.name()),
            CgroupVersion::V2 => self.root.clone(),
        }
    }

    /// The container's cgroup directories (the process joins all of them).
    pub fn container_dirs(&self, pod_uid: &str, id: &str) -> io::Result<Vec<PathBuf>> {
        let (pod, id) = (check_component(pod_uid)?, check_component(id)?);
        Ok(self
            .hierarchies()
            .into_iter()
            .map(|h| h.join(K1S_DIR).join(pod).join(id))
            .collect())
    }

    fn pod_dirs(&self, pod_uid: &str) -> io::Result<Vec<PathBuf>> {
        let pod = check_component(pod_uid)?;
        Ok(self
            .hierarchies()
            .into_iter()
            .map(|h| h.join(K1S_DIR).join(pod))
            .collect())
    }

    /// Creates the container's cgroups and writes its limits. Limits a
    /// controller cannot take are skipped with a debug line.
    pub fn create(&self, pod_uid: &str, id: &str, limits: &Limits) -> io::Result<Vec<PathBuf>> {
        if self.version == CgroupVersion::V2 {
            self.enable_v2_controllers(pod_uid)?;
        }
        let dirs = self.container_dirs(pod_uid, id)?;
        for dir in &dirs {
            create_dir_retrying(dir)?;
        }
        let pod = check_component(pod_uid)?;
        for write in limit_writes(self.version, limits) {
            if !self.controllers.contains(&write.controller) {
                tracing::debug!(
                    controller = write.controller.name(),
                    "cgroup controller not available; limit not applied"
                );
                continue;
            }
            let file = self
                .hierarchy_of(write.controller)
                .join(K1S_DIR)
                .join(pod)
                .join(id)
                .join(write.file);
            if let Err(e) = fs::write(&file, &write.value) {
                tracing::debug!(file = %file.display(), error = %e, "cgroup limit not applied");
            }
        }
        Ok(dirs)
    }

    // v2 only offers a controller to a child whose parent enabled it in
    // cgroup.subtree_control, all the way down from the root.
    fn enable_v2_controllers(&self, pod_uid: &str) -> io::Result<()> {
        let k1s = self.root.join(K1S_DIR);
        let pod = k1s.join(check_component(pod_uid)?);
        create_dir_retrying(&pod)?;
        for parent in [self.root.as_path(), k1s.as_path(), pod.as_path()] {
            for c in &self.controllers {
                let file = parent.join("cgroup.subtree_control");
                if let Err(e) = fs::write(&file, format!("+{}", c.name())) {
                    tracing::debug!(file = %file.display(), controller = c.name(), error = %e,
                        "cannot enable cgroup controller");
                }
            }
        }
        Ok(())
    }

    /// The `cgroup.procs` files a process writes itself into to join.
    pub fn procs_files(&self, pod_uid: &str, id: &str) -> io::Result<Vec<PathBuf>> {
        Ok(self
            .container_dirs(pod_uid, id)?
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect())
    }

    /// Every process in the container's cgroups.
    pub fn processes(&self, pod_uid: &str, id: &str) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .procs_files(pod_uid, id)
            .unwrap_or_default()
            .iter()
            .filter_map(|f| fs::read_to_string(f).ok())
            .flat_map(|t| {
                t.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Whether the kernel OOM-killed a process of the container.
    pub fn oom_killed(&self, pod_uid: &str, id: &str) -> bool {
        if !self.controllers.contains(&Controller::Memory) {
            return false;
        }
        let (Ok(pod), Ok(id)) = (check_component(pod_uid), check_component(id)) else {
            return false;
        };
        let dir = self
            .hierarchy_of(Controller::Memory)
            .join(K1S_DIR)
            .join(pod)
            .join(id);
        let file = match self.version {
            CgroupVersion::V1 => "memory.oom_control",
            CgroupVersion::V2 => "memory.events",
        };
        fs::read_to_string(dir.join(file)).is_ok_and(|t| parse_oom_kills(&t) > 0)
    }

    /// Removes the container's cgroups (they must be empty; exiting
    /// processes leave them shortly, so EBUSY is retried for a while), and
    /// the pod's directories once they hold no other container.
    pub fn remove(&self, pod_uid: &str, id: &str) -> io::Result<()> {
        for dir in self.container_dirs(pod_uid, id)? {
            remove_dir_waiting(&dir, Duration::from_secs(5))?;
        }
        for dir in self.pod_dirs(pod_uid)? {
            // Another container of the pod may still be there: fine.
            let _ = fs::remove_dir(&dir);
        }
        Ok(())
    }

    /// Removes the `k1s` directories when nothing is left in them.
    pub fn remove_k1s_dirs_if_empty(&self) {
        for h in self.hierarchies() {
            let _ = fs::remove_dir(h.join(K1S_DIR));
        }
    }
}

// A concurrent `remove` of the pod's last container may rmdir the pod
// directory between our mkdirs; trying again settles it.
fn create_dir_retrying(dir: &Path) -> io::Result<()> {
    let mut last = None;
    for _ in 0..3 {
        match fs::create_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("mkdir failed")))
}

fn remove_dir_waiting(dir: &Path, limit: Duration) -> io::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("removing cgroup {}: {e}", dir.display()),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(memory: Option<u64>, cpu: Option<u64>, pids: Option<u64>) -> Limits {
        Limits {
            memory_bytes: memory,
            cpu_millis: cpu,
            pids,
        }
    }

    fn files(writes: &[CgroupWrite]) -> Vec<(&str, &str, &str)> {
        writes
            .iter()
            .map(|w| (w.controller.name(), w.file, w.value.as_str()))
            .collect()
    }

    #[test]
    fn v1_writes() {
        let w = limit_writes(
            CgroupVersion::V1,
            &limits(Some(64 << 20), Some(250), Some(100)),
        );
        assert_eq!(
            files(&w),
            vec![
                ("memory", "memory.limit_in_bytes", "67108864"),
                ("cpu", "cpu.cfs_period_us", "100000"),
                ("cpu", "cpu.cfs_quota_us", "25000"),
                ("pids", "pids.max", "100"),
            ]
        );
    }

    #[test]
    fn v2_writes() {
        let w = limit_writes(
            CgroupVersion::V2,
            &limits(Some(1 << 30), Some(1500), Some(7)),
        );
        assert_eq!(
            files(&w),
            vec![
                ("memory", "memory.max", "1073741824"),
                ("cpu", "cpu.max", "150000 100000"),
                ("pids", "pids.max", "7"),
            ]
        );
    }

    #[test]
    fn no_limits_no_writes() {
        assert!(limit_writes(CgroupVersion::V1, &Limits::default()).is_empty());
        assert!(limit_writes(CgroupVersion::V2, &Limits::default()).is_empty());
    }

    #[test]
    fn tiny_cpu_limits_get_the_minimum_quota() {
        assert_eq!(cpu_quota_us(1), 1000);
        assert_eq!(cpu_quota_us(10), 1000);
        assert_eq!(cpu_quota_us(11), 1100);
        assert_eq!(cpu_quota_us(2000), 200_000);
    }

    #[test]
    fn parses_oom_counters() {
        assert_eq!(
            parse_oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            2
        );
        assert_eq!(
            parse_oom_kills("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n"),
            1
        );
        assert_eq!(parse_oom_kills("oom_kill_disable 0\nunder_oom 0\n"), 0);
    }

    #[test]
    fn v2_availability_comes_from_the_root_file() {
        assert_eq!(
            v2_available("cpuset cpu io memory hugetlb pids rdma misc\n"),
            vec![Controller::Memory, Controller::Cpu, Controller::Pids]
        );
        assert_eq!(v2_available("cpu io"), vec![Controller::Cpu]);
    }

    #[test]
    fn directory_layout() {
        let v1 = Cgroups::new(
            "/cg".into(),
            CgroupVersion::V1,
            vec![Controller::Memory, Controller::Pids],
        );
        assert_eq!(
            v1.container_dirs("pod-1", "abc").unwrap(),
            vec![
                PathBuf::from("/cg/memory/k1s/pod-1/abc"),
                PathBuf::from("/cg/pids/k1s/pod-1/abc")
            ]
        );
        let v2 = Cgroups::new("/cg".into(), CgroupVersion::V2, Controller::ALL.to_vec());
        assert_eq!(
            v2.procs_files("pod-1", "abc").unwrap(),
            vec![PathBuf::from("/cg/k1s/pod-1/abc/cgroup.procs")]
        );
        assert!(v1.container_dirs("../etc", "abc").is_err());
        assert!(v1.container_dirs("pod", "..").is_err());
        assert!(v1.container_dirs("", "abc").is_err());
    }

    #[test]
    fn detects_versions_from_the_tree() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("memory")).unwrap();
        fs::write(dir.path().join("memory/cgroup.procs"), "").unwrap();
        fs::create_dir_all(dir.path().join("cpu")).unwrap();
        let v1 = Cgroups::detect_at(dir.path());
        assert_eq!(v1.version(), CgroupVersion::V1);
        assert_eq!(v1.controllers(), &[Controller::Memory]);
        fs::write(dir.path().join("cgroup.controllers"), "memory pids\n").unwrap();
        let v2 = Cgroups::detect_at(dir.path());
        assert_eq!(v2.version(), CgroupVersion::V2);
        assert_eq!(v2.controllers(), &[Controller::Memory, Controller::Pids]);
    }
}
