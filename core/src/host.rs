//! The assembled host: configuration, plugin registry, engines and runner, and the one
//! operation every front end needs: poll a device with the right driver.

use crate::config::Config;
use crate::engines::Engines;
use crate::identify;
use crate::loader::{LoadedPlugin, Registry};
use crate::runner::{RunError, Runner};
use efi_plugin_api::{Confidence, DeviceRecord, Target};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running host.
pub struct Host {
    /// The configuration.
    pub config: Arc<Config>,
    /// The plugins.
    pub registry: Arc<Registry>,
    /// Task execution.
    pub runner: Runner,
}

/// A finished poll.
#[derive(Debug, Clone)]
pub struct PollOutcome {
    /// The driver that produced the record.
    pub driver: String,
    /// Its identification score (None when the driver was named explicitly).
    pub confidence: Option<Confidence>,
    /// The record.
    pub record: DeviceRecord,
    /// Wall-clock time of the poll.
    pub elapsed: Duration,
}

/// Why a poll produced no record.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PollError {
    /// No driver matched the device.
    #[error("no driver recognises {0} (is it reachable, and is a driver for it installed?)")]
    Unidentified(String),
    /// The named driver is not loaded.
    #[error("no loaded driver named {0:?}; see `efi-poller plugins list`")]
    UnknownDriver(String),
    /// The driver failed.
    #[error(transparent)]
    Run(#[from] RunError),
}

impl Host {
    /// Builds the host and loads the plugins directory once (blocking).
    pub fn new(config: Config) -> Host {
        let config = Arc::new(config);
        let registry = Arc::new(Registry::new(config.plugins.resolved_dir(), config.clone()));
        registry.rescan();
        let engines = Arc::new(Engines::new(&config));
        let runner = Runner::new(
            engines,
            Duration::from_millis(config.plugins.step_budget_ms),
        );
        Host {
            config,
            registry,
            runner,
        }
    }

    /// Starts rescanning the plugins directory in the background, when configured.
    pub fn watch_plugins(&self) -> Option<tokio::task::JoinHandle<()>> {
        let secs = self.config.plugins.rescan_secs;
        (secs > 0).then(|| self.registry.spawn_watcher(Duration::from_secs(secs)))
    }

    /// The driver `driver` names, or the one that identifies the device best (with its
    /// score).
    pub async fn choose_driver(
        &self,
        target: &Target,
        driver: Option<&str>,
    ) -> Result<(Arc<LoadedPlugin>, Option<Confidence>), PollError> {
        Ok(match driver {
            Some(name) => (
                self.registry
                    .get(name)
                    .filter(|p| p.driver().is_some())
                    .ok_or_else(|| PollError::UnknownDriver(name.to_owned()))?,
                None,
            ),
            None => {
                let fp = identify::fingerprint(self.runner.engines(), target).await;
                let (plugin, score) = identify::choose_driver(&self.runner, &self.registry, &fp)
                    .await
                    .ok_or_else(|| PollError::Unidentified(target.address.to_string()))?;
                if score <= efi_plugin_api::FALLBACK_CONFIDENCE {
                    tracing::warn!(
                        address = %target.address,
                        sys_descr = fp.sys_descr.as_deref().unwrap_or(""),
                        sys_object_id = fp.sys_object_id.as_deref().unwrap_or(""),
                        tr069_oui = fp.tr069_oui.as_deref().unwrap_or(""),
                        "unidentified device: no driver knows its model; {} polls its standard MIB only (install its vendor's driver for its radio fields)",
                        plugin.name()
                    );
                }
                (plugin, Some(score))
            }
        })
    }

    /// Polls one device: identifies it (unless `driver` names one) and collects its record.
    pub async fn poll(
        &self,
        target: &Target,
        driver: Option<&str>,
    ) -> Result<PollOutcome, PollError> {
        let started = Instant::now();
        let (plugin, confidence) = self.choose_driver(target, driver).await?;
        let record = self.runner.collect(&plugin, target).await?;
        Ok(PollOutcome {
            driver: plugin.name().to_owned(),
            confidence,
            record,
            elapsed: started.elapsed(),
        })
    }
}
