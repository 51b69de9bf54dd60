//! What is running: the release, the commit it was built from, the plugin API it speaks
//! (`efi-poller --version`, `efi_build_info` on `/metrics`).

/// The release.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The commit the binary was built from (`unknown` outside a git checkout; core's build
/// script records it).
pub const COMMIT: &str = env!("EFI_POLLER_COMMIT");

/// `0.1.0 (commit 0123456789ab, plugin API 1.0.0)`.
pub fn long() -> &'static str {
    static LONG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LONG.get_or_init(|| {
        format!(
            "{VERSION} (commit {COMMIT}, plugin API {})",
            efi_plugin_api::API_VERSION
        )
    })
}
