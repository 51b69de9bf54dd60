//! efi-core: the efi-poller host.
//!
//! Loads plugins ([`loader`]), runs their sans-IO tasks ([`runner`]) on the host's I/O
//! [`engines`], identifies devices ([`identify`]), and offers it all through the `efi-poller`
//! command line ([`cli`]).

pub mod arbiter;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod config_check;
pub mod dashboard;
pub mod devices;
pub mod engines;
pub mod host;
pub mod identify;
pub mod loader;
pub mod logging;
pub mod metrics;
pub mod runner;
pub mod scheduler;
pub mod server;
pub mod sonar_poller;
pub mod store;
pub mod tr069;
