//! The plugin `.so` files and the `efi-poller` and `efi-lab` binaries, built from the current
//! source once per test process, so a test never loads a stale plugin (cargo does not
//! rebuild another package's cdylib or binary for a test by itself).
//!
//! The build is `cargo build --workspace --all-targets` in the test build's own target
//! directory: the same packages, targets and features as `cargo test --workspace`, so under
//! that command (the README's and CI's) every artifact is already fresh and the call costs
//! one fingerprint check; a narrower `cargo test -p ...` builds them once, then reuses them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Where the built files are.
#[derive(Debug, Clone)]
pub struct Artifacts {
    /// The profile directory (`target/debug`, or `target/release` for benchmarks).
    pub dir: PathBuf,
}

impl Artifacts {
    /// The cdylib of a package (`hello-driver` → `libhello_driver.so`).
    pub fn plugin(&self, package: &str) -> PathBuf {
        self.dir
            .join(format!("lib{}.so", package.replace('-', "_")))
    }

    /// The `efi-poller` binary.
    pub fn host_binary(&self) -> PathBuf {
        self.dir.join("efi-poller")
    }

    /// The `efi-lab` binary (the simulators and the demo).
    pub fn lab_binary(&self) -> PathBuf {
        self.dir.join("efi-lab")
    }
}

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("efi-tests lives one level below the workspace root")
        .to_path_buf()
}

/// Builds (once per process) and returns the artifacts, in the profile this crate was built
/// with (debug for tests, release for benchmarks). Panics with cargo's output when the build
/// fails: a test cannot mean anything without them.
pub fn artifacts() -> &'static Artifacts {
    static BUILT: OnceLock<Artifacts> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = workspace_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let release = !cfg!(debug_assertions);
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let target = if target.is_absolute() {
            target
        } else {
            root.join(target)
        };
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root)
            .args(["build", "--quiet", "--workspace", "--all-targets"])
            .arg("--target-dir")
            .arg(&target);
        if release {
            cmd.arg("--release");
        }
        let out = cmd
            .output()
            .expect("cannot run cargo to build the plugins and binaries");
        assert!(
            out.status.success(),
            "building the plugins and binaries failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Artifacts {
            dir: target.join(if release { "release" } else { "debug" }),
        }
    })
}
