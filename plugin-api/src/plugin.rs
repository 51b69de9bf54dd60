//! The traits a plugin author implements: [`Plugin`], and [`Driver`], [`Source`] or [`Sink`].

use crate::error::PluginError;
use crate::record::{Confidence, DeviceRecord, Fingerprint, Target};
use crate::sink::{ApplyReport, ChangeSet, SinkSnapshot};
use crate::source::{PushRequest, SessionBatch, SessionEvent};
use crate::step::Task;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A boxed task producing `T`.
pub type BoxTask<T> = Box<dyn Task<Output = T>>;

/// What a plugin offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginKind {
    /// Polls devices: identifies them and collects [`DeviceRecord`]s.
    Driver,
    /// Reports UE sessions from an EPC or ACS.
    Source,
    /// Keeps an outside system (Sonar) in step with the plan.
    Sink,
}

impl fmt::Display for PluginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PluginKind::Driver => "driver",
            PluginKind::Source => "source",
            PluginKind::Sink => "sink",
        })
    }
}

/// A plugin's description of itself, shown by `efi-poller plugins list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginInfo {
    /// Unique name, kebab-case (`bec-ridgewave`). Config refers to the plugin by it.
    pub name: String,
    /// Who wrote it.
    pub vendor: String,
    /// The plugin's own version.
    pub version: String,
    /// One line on what it does.
    pub description: String,
    /// What it offers.
    pub kinds: Vec<PluginKind>,
    /// Models a driver claims, e.g. `BEC RidgeWave 6900`.
    pub models: Vec<String>,
    /// The efi-plugin-api version it was built against (filled in by the SDK).
    pub api_version: String,
    /// A source that informs but never decides (an ACS): its sessions and its failures do
    /// not count for IPAM (no assignment is made or removed because of it, and its being
    /// down never holds back the EPC's detaches); its `acs_devices` feed the TR-069 cache.
    pub information_only: bool,
}

/// Configuration handed to a plugin: a TOML table from the operator's config file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginConfig {
    table: toml::Table,
}

impl PluginConfig {
    /// Parses TOML text (empty text is an empty table).
    pub fn from_toml(text: &str) -> Result<Self, PluginError> {
        let table = text
            .parse::<toml::Table>()
            .map_err(|e| PluginError::config(format!("plugin config is not valid TOML: {e}")))?;
        Ok(PluginConfig { table })
    }

    /// The raw table.
    pub fn table(&self) -> &toml::Table {
        &self.table
    }

    /// Deserialises the table into the plugin's own config struct. Use
    /// `#[serde(deny_unknown_fields)]` there so a typo is an error that names the key.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        T::deserialize(toml::Value::Table(self.table.clone()))
            .map_err(|e| PluginError::config(e.to_string()))
    }
}

/// Checks a service URL setting (the `url` of a source or sink): it must start with
/// `http://` or `https://`. The error names the setting and the value.
pub fn check_url(key: &str, url: &str) -> Result<(), PluginError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(PluginError::config(format!(
            "{key} {url:?} must start with http:// or https://"
        )))
    }
}

/// The entry point of a plugin: one per `.so`, created once by the host's `init`.
///
/// Implement the constructors for the kinds listed in [`PluginInfo::kinds`]; the defaults
/// answer "unsupported".
pub trait Plugin: Send + Sync + 'static {
    /// Describes the plugin. Called before `init`, so it must not depend on config.
    fn info() -> PluginInfo
    where
        Self: Sized;

    /// Creates the plugin from its global config (the `[plugins.<name>]` table).
    fn init(config: &PluginConfig) -> Result<Self, PluginError>
    where
        Self: Sized;

    /// Creates a driver instance.
    fn new_driver(&self, _config: &PluginConfig) -> Result<Box<dyn Driver>, PluginError> {
        Err(PluginError::unsupported("this plugin has no driver"))
    }

    /// Creates a source instance (one per configured EPC/ACS).
    fn new_source(&self, _config: &PluginConfig) -> Result<Box<dyn Source>, PluginError> {
        Err(PluginError::unsupported("this plugin has no source"))
    }

    /// Creates a sink instance.
    fn new_sink(&self, _config: &PluginConfig) -> Result<Box<dyn Sink>, PluginError> {
        Err(PluginError::unsupported("this plugin has no sink"))
    }
}

/// A device driver.
pub trait Driver: Send + Sync {
    /// How sure the driver is that the fingerprinted device is one of its models (0..=100).
    fn identify(&self, _fingerprint: &Fingerprint) -> Confidence {
        0
    }

    /// Starts collecting one device's record.
    fn collect(&self, target: &Target) -> BoxTask<DeviceRecord>;

    /// Checks a file written in this driver's own format (a device profile, say) without
    /// using it: `Ok` with a one-line summary of what it describes, or an error naming the
    /// line and what is wrong (`efi-poller profiles check`). Drivers that read no files of
    /// their own keep this default.
    fn check_file(&self, _path: &str, _text: &str) -> Result<String, PluginError> {
        Err(PluginError::unsupported(
            "this driver reads no files of its own",
        ))
    }
}

/// A session source (EPC or ACS).
pub trait Source: Send + Sync {
    /// Starts a full pull of the current sessions.
    fn poll(&self) -> BoxTask<SessionBatch>;

    /// Parses a webhook call into events. Pure: no I/O.
    fn parse_push(&self, _request: &PushRequest) -> Result<Vec<SessionEvent>, PluginError> {
        Err(PluginError::unsupported(
            "this source does not accept pushes",
        ))
    }
}

/// A sink (an outside system kept in step with the plan).
pub trait Sink: Send + Sync {
    /// Starts reading the sink's current state.
    fn snapshot(&self) -> BoxTask<SinkSnapshot>;

    /// Starts applying a change set; the report has one result per change.
    fn apply(&self, changes: &ChangeSet) -> BoxTask<ApplyReport>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_url_needs_its_scheme_and_the_error_names_the_setting() {
        assert!(check_url("url", "https://epc.example.net").is_ok());
        assert!(check_url("url", "http://127.0.0.1:8080/api").is_ok());
        let e = check_url("url", "epc.example.net").unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::Config);
        assert_eq!(
            e.message,
            "url \"epc.example.net\" must start with http:// or https://"
        );
    }
}
