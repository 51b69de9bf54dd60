//! Builds the workspace's plugin libraries and the host binary once per test process, so a
//! test never loads a stale `.so` (cargo does not rebuild another package's cdylib for a test).
//!
//! The build uses its own target directory (`target/artifacts`): sharing the test build's
//! would make the two builds' different feature unifications rebuild each other's
//! dependencies on every test run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The packages whose artifacts tests use.
const PACKAGES: &[&str] = &[
    "hello-driver",
    "bec-ridgewave",
    "baicells-atom",
    "telrad-cpe",
    "raemis",
    "magma",
    "genieacs",
    "sonar",
    "panicky-driver",
    "future-api-driver",
    "not-a-plugin",
    "efi-core",
];

/// Where the built files are.
#[derive(Debug, Clone)]
pub struct Artifacts {
    /// The profile directory of the artifacts build (`target/artifacts/debug`).
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
}

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("efi-lab lives one level below the workspace root")
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
        let mut cmd = Command::new(cargo);
        let release = !cfg!(debug_assertions);
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let target = if target.is_absolute() {
            target
        } else {
            root.join(target)
        };
        let target = target.join("artifacts");
        cmd.current_dir(&root)
            .arg("build")
            .arg("--quiet")
            .arg("--target-dir")
            .arg(&target);
        if release {
            cmd.arg("--release");
        }
        for p in PACKAGES {
            cmd.args(["-p", p]);
        }
        let out = cmd.output().expect("cannot run cargo to build the plugins");
        assert!(
            out.status.success(),
            "building plugins failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Artifacts {
            dir: target.join(if release { "release" } else { "debug" }),
        }
    })
}
