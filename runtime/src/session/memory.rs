//! How much memory this process may still use: MemAvailable from /proc/meminfo, lowered by a
//! cgroup (v2 or v1) memory limit and by the address-space limit (`ulimit -v`, RLIMIT_AS)
//! where those leave less. Nothing known (not Linux, no /proc) = no limit.

use std::path::{Path, PathBuf};

/// A memory figure and where it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryLimit {
    pub bytes: u64,
    /// e.g. "MemAvailable", "cgroup memory limit", "address-space limit".
    pub source: &'static str,
}

/// The lowest of the limits that apply, or None when none is known.
pub fn available() -> Option<MemoryLimit> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let mut limits = Vec::with_capacity(3);
    if let Some(bytes) = read("/proc/meminfo").and_then(|t| mem_available(&t)) {
        limits.push(MemoryLimit {
            bytes,
            source: "MemAvailable",
        });
    }
    if let Some(bytes) = read("/proc/self/cgroup").and_then(|t| cgroup_room(&t)) {
        limits.push(MemoryLimit {
            bytes,
            source: "cgroup memory limit",
        });
    }
    if let Some(limit) = read("/proc/self/limits").and_then(|t| address_space_limit(&t)) {
        let used = read("/proc/self/status").and_then(|t| kib_field(&t, "VmSize:"));
        limits.push(MemoryLimit {
            bytes: limit.saturating_sub(used.unwrap_or(0)),
            source: "address-space limit",
        });
    }
    limits.into_iter().min_by_key(|l| l.bytes)
}

/// A `Name:   123 kB` line of /proc/meminfo or /proc/self/status, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    kib.checked_mul(1024)
}

fn mem_available(meminfo: &str) -> Option<u64> {
    kib_field(meminfo, "MemAvailable:")
}

/// The soft `Max address space` of /proc/self/limits (None: unlimited).
fn address_space_limit(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    line["Max address space".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What the tightest cgroup limit above this process leaves: limit - usage, over the
/// process's cgroup and its ancestors (v2 `memory.max` / `memory.current`, v1
/// `memory.limit_in_bytes` / `memory.usage_in_bytes`).
fn cgroup_room(self_cgroup: &str) -> Option<u64> {
    let mut best: Option<u64> = None;
    for (dir, limit_file, usage_file) in cgroup_dirs(self_cgroup) {
        for d in dir.ancestors() {
            if !d.starts_with("/sys/fs/cgroup") {
                break;
            }
            let Some(limit) = read_u64(&d.join(limit_file)) else {
                continue;
            };
            let usage = read_u64(&d.join(usage_file)).unwrap_or(0);
            let room = limit.saturating_sub(usage);
            best = Some(best.map_or(room, |b| b.min(room)));
        }
    }
    best
}

/// (cgroup folder, limit file, usage file) for each hierarchy with a memory controller.
fn cgroup_dirs(self_cgroup: &str) -> Vec<(PathBuf, &'static str, &'static str)> {
    let mut out = Vec::new();
    for line in self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let rel = path.trim_start_matches('/');
        if controllers.is_empty() {
            out.push((
                Path::new("/sys/fs/cgroup").join(rel),
                "memory.max",
                "memory.current",
            ));
        } else if controllers.split(',').any(|c| c == "memory") {
            out.push((
                Path::new("/sys/fs/cgroup/memory").join(rel),
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
            ));
        }
    }
    out
}

/// A file holding one number ("max" and unreadable files: None).
fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let meminfo =
            "MemTotal:       32000000 kB\nMemFree:  100 kB\nMemAvailable:   23307784 kB\n";
        assert_eq!(mem_available(meminfo), Some(23307784 * 1024));
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max address space         1073741824           unlimited            bytes\n";
        assert_eq!(address_space_limit(limits), Some(1 << 30));
        let unlimited =
            "Max address space         unlimited            unlimited            bytes\n";
        assert_eq!(address_space_limit(unlimited), None);
        let v2 = cgroup_dirs("0::/user.slice/session-1.scope\n");
        assert_eq!(
            v2,
            vec![(
                PathBuf::from("/sys/fs/cgroup/user.slice/session-1.scope"),
                "memory.max",
                "memory.current"
            )]
        );
        let v1 = cgroup_dirs("5:cpu,cpuacct:/\n4:memory:/docker/abc\n");
        assert_eq!(v1[0].0, PathBuf::from("/sys/fs/cgroup/memory/docker/abc"));
    }

    #[test]
    fn this_machine_gives_a_figure() {
        if cfg!(target_os = "linux") {
            let limit = available().expect("a memory figure on Linux");
            assert!(limit.bytes > 0, "{limit:?}");
        }
    }
}
