//! profiles: a driver that runs device profiles, TOML files an operator writes to describe a
//! model (how to recognise it; what to read over SNMP, its web UI, SSH/Telnet or TR-069; how
//! each value becomes a field), so a new model or firmware needs no compiled plugin.
//!
//! Profiles live in one directory (`[drivers.profiles] dir`), re-read when a file changes. A
//! file with a mistake is refused with its line and the others keep working (a file that
//! was good keeps its last good version until it is fixed). Each profile's `[identify]`
//! rules give its score, which the host weighs against the compiled drivers' own.

pub mod collect;
pub mod extract;
pub mod fields;
pub mod profile;
pub mod schema;

use efi_plugin_api::prelude::*;
use profile::{Profile, Refusal};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// `[drivers.profiles]`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProfilesSettings {
    /// Directory of profile files (`*.toml`; other files are ignored). A directory that does
    /// not exist means no profiles (the driver then recognises nothing).
    pub dir: PathBuf,
    /// How often the directory is looked at for new, changed and removed files, in seconds
    /// (0: read once, at start).
    pub reload_secs: u64,
}

impl Default for ProfilesSettings {
    fn default() -> Self {
        ProfilesSettings {
            dir: PathBuf::from("/etc/efi-poller/profiles"),
            reload_secs: 5,
        }
    }
}

/// One file of the directory, as last read.
#[derive(Debug, Clone)]
struct FileState {
    /// Modification time and length when read.
    stamp: (Option<SystemTime>, u64),
    /// The last good version.
    profile: Option<Arc<Profile>>,
    /// Why the current version is refused.
    refused: Option<Refusal>,
}

/// The profiles of a directory, kept current.
#[derive(Debug)]
pub struct ProfileSet {
    settings: ProfilesSettings,
    files: Mutex<(BTreeMap<PathBuf, FileState>, Option<Instant>)>,
}

/// Reads and compiles one file.
pub fn load_file(path: &Path) -> Result<Profile, Refusal> {
    let text = std::fs::read_to_string(path).map_err(|e| Refusal {
        file: path.to_owned(),
        line: None,
        message: e.to_string(),
    })?;
    profile::compile(&text, path)
}

impl ProfileSet {
    /// The set for `settings`, read now.
    pub fn new(settings: ProfilesSettings) -> Self {
        let set = ProfileSet {
            settings,
            files: Mutex::new((BTreeMap::new(), None)),
        };
        set.refresh(true);
        set
    }

    /// Re-reads what changed on disk, at most every `reload_secs` (always when `force`).
    pub fn refresh(&self, force: bool) {
        let mut guard = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let (files, checked) = &mut *guard;
        let due = match checked {
            None => true,
            Some(at) => {
                self.settings.reload_secs > 0 && at.elapsed().as_secs() >= self.settings.reload_secs
            }
        };
        if !(force || due) {
            return;
        }
        *checked = Some(Instant::now());
        let dir = &self.settings.dir;
        let Ok(entries) = std::fs::read_dir(dir) else {
            if !files.is_empty() {
                efi_plugin_api::tracing::warn!(
                    "profiles directory {} cannot be read any more: no profiles",
                    dir.display()
                );
            }
            files.clear();
            return;
        };
        let mut present = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let stamp = (meta.modified().ok(), meta.len());
            present.push(path.clone());
            if files.get(&path).is_some_and(|f| f.stamp == stamp) {
                continue;
            }
            let previous = files.get(&path).and_then(|f| f.profile.clone());
            let state = match load_file(&path) {
                Ok(p) => {
                    efi_plugin_api::tracing::info!(
                        "profile {} loaded from {}",
                        p.name,
                        path.display()
                    );
                    FileState {
                        stamp,
                        profile: Some(Arc::new(p)),
                        refused: None,
                    }
                }
                Err(refusal) => {
                    match &previous {
                        Some(p) => efi_plugin_api::tracing::warn!(
                            "profile refused, the last good version of {} stays in use: {refusal}",
                            p.name
                        ),
                        None => efi_plugin_api::tracing::warn!("profile refused: {refusal}"),
                    }
                    FileState {
                        stamp,
                        profile: previous,
                        refused: Some(refusal),
                    }
                }
            };
            files.insert(path, state);
        }
        files.retain(|path, state| {
            let keep = present.contains(path);
            if !keep {
                if let Some(p) = &state.profile {
                    efi_plugin_api::tracing::info!(
                        "profile {} removed ({} is gone)",
                        p.name,
                        path.display()
                    );
                }
            }
            keep
        });
    }

    /// The profiles in use, in file-name order.
    pub fn profiles(&self) -> Vec<Arc<Profile>> {
        self.refresh(false);
        let guard = self.files.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.values().filter_map(|f| f.profile.clone()).collect()
    }

    /// The files refused, with why.
    pub fn refused(&self) -> Vec<Refusal> {
        let guard = self.files.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.values().filter_map(|f| f.refused.clone()).collect()
    }

    /// The best profile for a fingerprint, and its score.
    pub fn best(&self, fp: &Fingerprint) -> Option<(Arc<Profile>, u8)> {
        let mut best: Option<(Arc<Profile>, u8)> = None;
        for p in self.profiles() {
            let s = p.score(fp);
            if s > 0 && best.as_ref().is_none_or(|(_, b)| s > *b) {
                best = Some((p, s));
            }
        }
        best
    }
}

/// The plugin.
pub struct ProfilesPlugin;

impl Plugin for ProfilesPlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "profiles".into(),
            vendor: "efi-poller".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Device profiles: TOML files describing a model (SNMP, web, SSH/Telnet, TR-069)"
                    .into(),
            kinds: vec![PluginKind::Driver],
            models: vec!["any model a profile in [drivers.profiles] dir describes".into()],
            ..PluginInfo::default()
        }
    }

    fn init(_config: &PluginConfig) -> Result<Self, PluginError> {
        Ok(ProfilesPlugin)
    }

    fn new_driver(&self, config: &PluginConfig) -> Result<Box<dyn Driver>, PluginError> {
        let settings: ProfilesSettings = config.parse()?;
        Ok(Box::new(ProfilesDriver {
            set: Arc::new(ProfileSet::new(settings)),
            reported: Arc::default(),
        }))
    }
}

/// The driver.
pub struct ProfilesDriver {
    /// The profiles.
    pub set: Arc<ProfileSet>,
    /// What each device's last partial record lacked (one warning per change).
    pub reported: Arc<collect::Reported>,
}

/// The identification a poll does itself when the host did not say which profile (a device
/// named with `--driver profiles`, or several profiles and no model known yet).
const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";
const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";

impl Driver for ProfilesDriver {
    fn identify(&self, fp: &Fingerprint) -> Confidence {
        self.set.best(fp).map_or(0, |(_, s)| s)
    }

    fn check_file(&self, path: &str, text: &str) -> Result<String, PluginError> {
        profile::compile(text, Path::new(path))
            .map(|p| p.summary())
            .map_err(|r| PluginError::config(r.to_string()))
    }

    fn collect(&self, target: &Target) -> BoxTask<DeviceRecord> {
        let profiles = self.set.profiles();
        // The profile the last poll's record named (its model), or the only one.
        let known = target
            .model
            .as_deref()
            .and_then(|m| {
                profiles
                    .iter()
                    .find(|p| p.model.as_deref() == Some(m) || p.name == m)
            })
            .cloned()
            .or_else(|| (profiles.len() == 1).then(|| profiles[0].clone()));
        let file = target.params.get("profile").map(PathBuf::from);
        Box::new(Choose {
            set: self.set.clone(),
            reported: self.reported.clone(),
            target: target.clone(),
            chosen: None,
            known,
            file,
        })
    }
}

/// Picks the profile (identifying the device itself when it must), then runs it.
struct Choose {
    set: Arc<ProfileSet>,
    reported: Arc<collect::Reported>,
    target: Target,
    known: Option<Arc<Profile>>,
    /// `params.profile`: a profile file to use as it is (`efi-poller profiles test`).
    file: Option<PathBuf>,
    chosen: Option<collect::ProfileTask>,
}

impl Choose {
    fn run(&mut self, profile: Arc<Profile>) -> Step<DeviceRecord> {
        let mut task = collect::ProfileTask::new(
            collect::Collect::new(profile, &self.target).reporting_to(self.reported.clone()),
        );
        let step = task.start();
        self.chosen = Some(task);
        step
    }
}

impl Task for Choose {
    type Output = DeviceRecord;

    fn start(&mut self) -> Step<DeviceRecord> {
        if let Some(file) = self.file.clone() {
            return match load_file(&file) {
                Ok(p) => self.run(Arc::new(p)),
                Err(r) => Step::Failed(PluginError::config(r.to_string())),
            };
        }
        if let Some(p) = self.known.clone() {
            return self.run(p);
        }
        if self.set.profiles().is_empty() {
            return Step::Failed(PluginError::unsupported(format!(
                "no profiles in use ({} refused): see [drivers.profiles] dir",
                self.set.refused().len()
            )));
        }
        Step::Requests(vec![IoRequest::SnmpGet {
            oids: vec![oid(SYS_OBJECT_ID), oid(SYS_DESCR)],
        }])
    }

    fn resume(&mut self, responses: Vec<IoResponse>) -> Step<DeviceRecord> {
        if let Some(task) = self.chosen.as_mut() {
            return task.resume(responses);
        }
        let mut fp = Fingerprint {
            mac: self.target.known.mac.clone(),
            imei: self.target.known.imei.clone(),
            ..Fingerprint::default()
        };
        if let Some(Ok(IoReply::Snmp(vbs))) = responses.into_iter().next() {
            for vb in vbs {
                if vb.oid == oid(SYS_OBJECT_ID) {
                    fp.sys_object_id = match &vb.value {
                        SnmpValue::ObjectId(o) => Some(o.to_string()),
                        other => efi_plugin_api::normalise::text(other),
                    };
                } else if vb.oid == oid(SYS_DESCR) {
                    fp.sys_descr = efi_plugin_api::normalise::text(&vb.value);
                }
            }
        }
        match self.set.best(&fp) {
            Some((p, _)) => self.run(p),
            None => Step::Failed(PluginError::unsupported(format!(
                "no profile recognises {} (sysObjectID {}, sysDescr {:?})",
                self.target.address,
                fp.sys_object_id.as_deref().unwrap_or("-"),
                fp.sys_descr.as_deref().unwrap_or("-")
            ))),
        }
    }
}

efi_plugin_api::export_plugin!(ProfilesPlugin);
