//! I/O engines: the host runs every request a plugin asks for.
//!
//! Plugins never open sockets; they return [`IoRequest`]s and get [`IoResponse`]s. This
//! module routes each request to the engine of its protocol. Request kinds without an engine
//! in this host are answered `unsupported`, so a driver can fall back to another method.

pub mod credentials;
pub mod http;
pub mod icmp;
pub mod shell;
pub mod snmp;
pub mod snmp_mux;

use crate::config::Config;
use crate::tr069::Tr069Cache;
use efi_plugin_api::{IoError, IoErrorKind, IoReply, IoRequest, IoResponse, Target};
use prometheus_client::encoding::DescriptorEncoder;
use std::sync::Arc;

/// All engines of the host.
pub struct Engines {
    snmp: snmp::SnmpEngine,
    http: http::HttpEngine,
    icmp: icmp::IcmpEngine,
    shell: shell::ShellEngine,
    tr069: Arc<Tr069Cache>,
    credentials: credentials::DeviceCredentials,
    per_device_requests: usize,
    /// How long a device that informs over TR-069 but does not answer SNMP goes unasked.
    snmp_recheck: std::time::Duration,
}

impl Engines {
    /// Engines configured from the host config.
    pub fn new(config: &Config) -> Self {
        Engines {
            snmp: snmp::SnmpEngine::new(config.snmp.clone()),
            http: http::HttpEngine::new(config.http.clone(), config.credentials.clone()),
            icmp: icmp::IcmpEngine::new(config.icmp.clone()),
            shell: shell::ShellEngine::new(config.cli.clone(), config.credentials.clone()),
            tr069: Arc::new(Tr069Cache::new((&config.tr069).into())),
            credentials: credentials::DeviceCredentials::new(config),
            per_device_requests: config.poller.per_device_requests.max(1),
            snmp_recheck: std::time::Duration::from_secs(config.poller.snmp_recheck_secs),
        }
    }

    /// Runs one request against `target`.
    pub async fn execute(&self, target: &Target, request: &IoRequest) -> IoResponse {
        match request {
            IoRequest::SnmpGet { .. } | IoRequest::SnmpWalk { .. } => {
                self.execute_snmp(target, request).await
            }
            IoRequest::Http(http) => match (&http.credentials, self.credentials.web_set(target.address)) {
                // The device's group names the web login in place of the driver's.
                (Some(_), Some(set)) => {
                    let mut http = http.clone();
                    http.credentials = Some(set);
                    self.http.execute(&http).await
                }
                _ => self.http.execute(http).await,
            },
            IoRequest::Cli(cli) if self.credentials.cli_set(target.address).is_some() => {
                let mut cli = cli.clone();
                cli.credentials = self.credentials.cli_set(target.address).unwrap_or_default();
                self.shell.execute(target.address, &cli).await
            }
            IoRequest::Icmp { count } => self
                .icmp
                .probe(target.address, *count)
                .await
                .map(IoReply::Icmp),
            IoRequest::Cli(cli) => self.shell.execute(target.address, cli).await,
            IoRequest::Tr069 { parameter_paths } => self
                .tr069
                .lookup(
                    target.address,
                    parameter_paths,
                    crate::clock::now_unix_ms() as u64,
                )
                .map(IoReply::Tr069)
                .ok_or_else(|| {
                    IoError::new(
                        IoErrorKind::Unsupported,
                        format!(
                            "no TR-069 data for {}: the CPE has not informed through this host's proxy (tr069.listen)",
                            target.address
                        ),
                    )
                }),
            other => Err(IoError::new(
                IoErrorKind::Unsupported,
                format!("this host has no {} engine yet", other.kind()),
            )),
        }
    }

    /// An SNMP request as each of the device's identities in turn (see
    /// [`credentials::DeviceCredentials::snmp_for`]) until one is answered; the identity
    /// that answered is tried first next time. With several identities, the error of a
    /// device that answered none says how many were tried.
    async fn execute_snmp(&self, target: &Target, request: &IoRequest) -> IoResponse {
        if let Some(left) = self.credentials.snmp_silenced(target.address) {
            return Err(IoError::new(
                IoErrorKind::Timeout,
                format!(
                    "no SNMP answer from {} in its last {} requests; read over TR-069 instead, SNMP asked again in {} s (poller.snmp_recheck_secs)",
                    target.address,
                    credentials::SILENT_AFTER,
                    left.as_secs()
                ),
            ));
        }
        let identities = self.credentials.snmp_for(target.address);
        let mut last = None;
        for identity in &identities {
            match self.snmp.execute(target, request, identity.clone()).await {
                Ok(reply) => {
                    self.credentials.answered(target.address, identity);
                    return Ok(reply);
                }
                // Silence (a wrong community looks the same as a dead device) or a v3
                // refusal: the next identity may be the right one.
                Err(e) if matches!(e.kind, IoErrorKind::Timeout | IoErrorKind::Auth) => {
                    last = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        let silent = last
            .as_ref()
            .is_some_and(|e| e.kind == IoErrorKind::Timeout);
        if silent {
            let informs = self
                .tr069
                .device_id(target.address, crate::clock::now_unix_ms() as u64)
                .is_some();
            if self
                .credentials
                .none_answered(target.address, informs, self.snmp_recheck)
            {
                tracing::info!(
                    address = %target.address,
                    "no SNMP answer in {} requests in a row from a device that informs over TR-069: read over TR-069 alone, SNMP asked again in {} s",
                    credentials::SILENT_AFTER,
                    self.snmp_recheck.as_secs()
                );
            }
        }
        let mut e = last.unwrap_or_else(|| {
            IoError::new(IoErrorKind::Unsupported, "no SNMP identity is configured")
        });
        if identities.len() > 1 {
            e.message = format!(
                "{} (as each of {} SNMP identities)",
                e.message,
                identities.len()
            );
        }
        Err(e)
    }

    /// Which credentials each device is polled with.
    pub fn credentials(&self) -> &credentials::DeviceCredentials {
        &self.credentials
    }

    /// The ICMP engine.
    pub fn icmp(&self) -> &icmp::IcmpEngine {
        &self.icmp
    }

    /// The TR-069 cache the `Tr069` requests read (fed by the snooping proxy).
    pub fn tr069(&self) -> &Arc<Tr069Cache> {
        &self.tr069
    }

    /// The SNMP engine.
    pub fn snmp(&self) -> &snmp::SnmpEngine {
        &self.snmp
    }

    /// The engines' families: `efi_snmp_stray_datagrams_total{kind}` (datagrams on the
    /// shared SNMP sockets that were not SNMP, `malformed`, or answered nothing in flight,
    /// `unmatched`), the HTTP engine's and the TR-069 cache's.
    pub fn encode_metrics(&self, encoder: &mut DescriptorEncoder) -> std::fmt::Result {
        let (malformed, unmatched) = self.snmp.stray_answers();
        crate::metrics::counters(
            encoder,
            "efi_snmp_stray_datagrams",
            "Datagrams on the shared SNMP sockets that were not SNMP, or answered no request in flight.",
            [([("kind", "malformed")], malformed), ([("kind", "unmatched")], unmatched)],
        )?;
        self.http.encode_metrics(encoder)?;
        self.tr069.encode_metrics(encoder)
    }

    /// Runs the requests of one step, `poller.per_device_requests` at once (a CPE is not
    /// flooded); answers come back in request order.
    pub async fn execute_all(&self, target: &Target, requests: &[IoRequest]) -> Vec<IoResponse> {
        use futures::StreamExt;
        // The futures are built first: a lazily mapped iterator over borrowed requests trips
        // the compiler's higher-ranked lifetime check when a poll future is spawned.
        let futures: Vec<_> = requests.iter().map(|r| self.execute(target, r)).collect();
        futures::stream::iter(futures)
            .buffered(self.per_device_requests)
            .collect()
            .await
    }
}
