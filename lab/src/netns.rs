//! Runs a test inside a private network namespace, so that "a host that does not answer"
//! can exist on loopback without touching the machine's own network.
//!
//! In the namespace, loopback answers for 127.0.0.0/9 only; 127.128.0.0/9 is routed into
//! `lo` but is not local, so an ICMP echo or SNMP request there is silently dropped (the
//! kernel does not forward), exactly like a CPE that is powered off. Nothing leaves the
//! machine. Uses `unshare -rn` (a user namespace makes it work without root).

use std::process::Command;

/// Prefix of the silent addresses inside the namespace (127.200.0.0/16 is inside
/// 127.128.0.0/9).
pub const SILENT_PREFIX: &str = "127.200.";

const INSIDE: &str = "EFI_LAB_NETNS";

const SETUP: &str = "ip link set lo up && \
    ip route del 127.0.0.0/8 dev lo table local && \
    ip route add local 127.0.0.0/9 dev lo table local && \
    ip route add 127.128.0.0/9 dev lo";

/// Call first in a test, as `enter(module_path!(), "the_test_fn")`: returns `true` inside
/// the namespace (run the test body), and `false` outside after re-running this very test
/// inside a fresh namespace and asserting that it passed.
pub fn enter(module_path: &str, test_fn: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    // libtest names a test by its path inside the test crate: the module path without the
    // crate's own name.
    let test_path = match module_path.split_once("::") {
        Some((_crate, module)) => format!("{module}::{test_fn}"),
        None => test_fn.to_owned(),
    };
    let test_path = test_path.as_str();
    let exe = std::env::current_exe().expect("test binary path");
    let output = Command::new("unshare")
        .args(["-rn", "sh", "-c"])
        .arg(format!("{SETUP} && exec \"$0\" \"$@\""))
        .arg(exe)
        .args(["--exact", test_path, "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output()
        .expect("cannot run unshare (util-linux)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && text.contains("1 passed"),
        "{test_path} failed inside its network namespace ({}):\n{text}",
        output.status
    );
    false
}
