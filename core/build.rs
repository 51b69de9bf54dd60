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
        println!("cargo:rerun-if-changed={}", dir.join("HEAD").display());
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("packed-refs").display()
        );
        if let Ok(head) = std::fs::read_to_string(dir.join("HEAD")) {
            if let Some(reference) = head.trim().strip_prefix("ref: ") {
                println!("cargo:rerun-if-changed={}", dir.join(reference).display());
            }
        }
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}
