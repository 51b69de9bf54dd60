//! efi-lab: simulators of every outside system efi-poller talks to, on loopback only.
//!
//! Used in-process by the end-to-end tests (ephemeral ports on 127.0.0.0/8), and as the
//! `efi-lab` binary: each simulator on its own for manual runs, the soak, and `efi-lab demo`,
//! which starts a whole lab and runs the real `efi-poller` binary against it. Never a
//! dependency of the service: the operator's binary carries none of this.

pub mod cli_device;
pub mod compare;
pub mod cwmp;
pub mod demo;
pub mod fleet;
pub mod fleet_bench;
pub mod genieacs;
pub mod magma;
pub mod netns;
pub mod netsnmpd;
pub mod pki;
pub mod raemis;
pub mod scrape;
pub mod sim;
pub mod snmp_agent;
pub mod soak;
pub mod sonar;
pub mod web_device;

/// The config stanzas that connect a host to the efi-lab Raemis (its default login) as
/// source `source` and to the efi-lab Sonar (its lab token) as the sink. `source_extra` is
/// written after the source (e.g. a `[sources.webhook]` table); `sink_settings` is appended
/// inside the sink's settings table (e.g. `, batch_size = 3`).
pub fn lab_source_and_sink(
    raemis_url: &str,
    sonar_url: &str,
    source: &str,
    source_extra: &str,
    sink_settings: &str,
) -> String {
    format!(
        r#"
[credentials.raemis]
username = "raemis"
password = "raemis-lab"
[credentials.sonar]
bearer = "lab-token"
[[sources]]
name = "{source}"
plugin = "raemis"
settings = {{ url = "{raemis_url}", credentials = "raemis" }}
{source_extra}
[sink]
plugin = "sonar"
settings = {{ url = "{sonar_url}", credentials = "sonar", default_model = "RidgeWave 6900"{sink_settings} }}
"#
    )
}

/// Installs the process-wide TLS crypto provider (ring) once. reqwest is built without a
/// default provider, so call this (or [`http_client`]) before building a client.
pub fn init_tls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// A reqwest client for talking to the simulators (TLS provider installed).
pub fn http_client() -> reqwest::Client {
    init_tls();
    reqwest::Client::new()
}
