//! A child process waited for with its own peak RSS: `ru_maxrss` from `wait4`, the kernel's
//! high-water mark of that one process (polling `/proc` could miss a short peak, and
//! `RUSAGE_CHILDREN` mixes the children of tests running in parallel).

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// How a child ended.
pub struct Finished {
    pub status: ExitStatus,
    pub stderr: String,
    /// Peak resident bytes.
    pub peak_rss: u64,
}

/// Waits for `child`, spawned with a piped stderr that this drains, for at most `timeout`;
/// past it, kills the child and panics naming `what`.
// The child is reaped by wait4 (which gives its rusage), not by std's `wait`.
#[allow(clippy::zombie_processes)]
pub fn wait_with_peak_rss(mut child: Child, timeout: Duration, what: &str) -> Finished {
    let mut stderr_pipe = child.stderr.take().expect("a piped stderr");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut text);
        text
    });
    let pid = child.id() as libc::pid_t;
    let started = Instant::now();
    let (status, peak_rss) = loop {
        let mut wstatus = 0;
        // SAFETY: rusage is plain data that wait4 fills.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our child, not yet reaped (std's Child is never waited on here).
        let got = unsafe { libc::wait4(pid, &mut wstatus, libc::WNOHANG, &mut usage) };
        if got == pid {
            // ru_maxrss is in KiB on Linux.
            break (ExitStatus::from_raw(wstatus), usage.ru_maxrss as u64 * 1024);
        }
        assert!(got == 0, "wait4: {}", std::io::Error::last_os_error());
        if started.elapsed() > timeout {
            let _ = child.kill();
            panic!("{what} blocked");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let stderr = String::from_utf8_lossy(&reader.join().expect("stderr reader")).into_owned();
    Finished {
        status,
        stderr,
        peak_rss,
    }
}
