//! Records the git commit the binary is built from (`efi-poller --version`, `efi_build_info`
//! on `/metrics`): `EFI_POLLER_COMMIT` when the packager sets it, else `git rev-parse`, else
//! "unknown" (a source tarball).

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=EFI_POLLER_COMMIT");
    let commit = std::env::var("EFI_POLLER_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=EFI_POLLER_COMMIT={}", commit.trim());
}

fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    // Build again when HEAD moves: a commit rewrites the branch's ref (or packed-refs).
    let git_dir = Command::new("git")
        .args(["rev-parse", "--absolute-git-dir"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if let Some(dir) = git_dir {
        let dir = Path::new(&dir);
        // refs/heads as a directory: cargo scans it, so a branch ref written loose for the
        // first time (it was packed) counts too.
        let mut watched = vec![
            dir.join("HEAD"),
            dir.join("packed-refs"),
            dir.join("refs/heads"),
        ];
        if let Ok(head) = std::fs::read_to_string(dir.join("HEAD")) {
            if let Some(reference) = head.trim().strip_prefix("ref: ") {
                watched.push(dir.join(reference));
            }
        }
        // Only files that exist: cargo takes a missing one as changed, and would build
        // again every time (and under the test suite's own build, mid-run).
        for file in watched.iter().filter(|f| f.exists()) {
            println!("cargo:rerun-if-changed={}", file.display());
        }
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}
