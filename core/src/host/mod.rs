//! The assembled plugin host: the configuration, the plugin registry, and the runner that
//! steps plugin tasks on the host's I/O engines. Every front end (the service, `poll`,
//! `plan`, the tests) builds one of these.

pub mod replay;
pub mod runner;
pub mod step_pool;

use crate::config::Config;
use crate::engines::Engines;
use crate::loader::Registry;
use runner::Runner;
use std::sync::Arc;
use std::time::Duration;

/// A running host.
pub struct Host {
    /// The configuration.
    pub config: Arc<Config>,
    /// The plugins.
    pub registry: Arc<Registry>,
    /// Task execution.
    pub runner: Runner,
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
}
