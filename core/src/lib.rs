//! efi-core: the efi-poller host.
//!
//! Loads plugins ([`loader`]) into a [`host`] that runs their sans-IO tasks on its I/O
//! [`engines`]; polls devices ([`poller`]); keeps Sonar in step with the EPC ([`arbiter`]);
//! keeps state in the [`store`]; serves webhooks, the REST API, `/metrics` and the dashboard
//! ([`server`]); [`service`] assembles all of it for `efi-poller run`, and [`cli`] is the
//! command line. ARCHITECTURE.md has the code map and the layering rules.

pub mod arbiter;
pub mod auth_guard;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod dashboard;
pub mod engines;
pub mod groups;
pub mod host;
pub mod https;
pub mod loader;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod poller;
pub mod preflight;
pub mod server;
pub mod service;
pub mod sonar_poller;
pub mod store;
pub mod tr069;
pub mod version;
