//! Plugin loader: scans the plugins directory, loads every `.so` on its own, keeps the
//! loaded set in step with the directory while the host runs, and tracks plugin health.
//!
//! Each file is copied to a private name before it is opened and the copy is unlinked right
//! after, so an operator who overwrites a plugin in place can never corrupt the mapping the
//! host runs (the classic SIGBUS), and a changed file is a new library, not a cached one.
//! Libraries are never unloaded (that is not safe in Rust); a removed or replaced plugin
//! simply stops being used.

mod health;
mod stamp;

pub use health::{Health, Status};

use crate::config::Config;
use efi_plugin_api::host::{self, DriverInstance, Library, LoadError};
use efi_plugin_api::{PluginInfo, PluginKind};
use parking_lot::Mutex;
use stamp::Stamp;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::broadcast;

/// A plugin that loaded, with its driver instance (when it has one) and its health.
pub struct LoadedPlugin {
    library: Library,
    driver: Option<DriverInstance>,
    health: Health,
}

impl LoadedPlugin {
    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.library.info().name
    }

    /// What the plugin says about itself.
    pub fn info(&self) -> &PluginInfo {
        self.library.info()
    }

    /// The operator's file.
    pub fn file(&self) -> &Path {
        self.library.file()
    }

    /// The library, for creating source and sink instances.
    pub fn library(&self) -> &Library {
        &self.library
    }

    /// The driver instance, when the plugin is a driver.
    pub fn driver(&self) -> Option<&DriverInstance> {
        self.driver.as_ref()
    }

    /// Panic and quarantine bookkeeping.
    pub fn health(&self) -> &Health {
        &self.health
    }
}

/// What the directory holds at one path.
enum Outcome {
    Loaded(Arc<LoadedPlugin>),
    Rejected {
        reason: String,
        api_version: Option<String>,
    },
}

struct Entry {
    stamp: Stamp,
    outcome: Outcome,
}

/// Something that changed in the registry (for logs, tests and the dashboard).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryEvent {
    /// A plugin was loaded (or reloaded after its file changed).
    Loaded {
        /// Plugin name.
        name: String,
        /// File.
        file: PathBuf,
    },
    /// A file was rejected.
    Rejected {
        /// File.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file disappeared; its plugin is no longer used.
    Removed {
        /// File.
        file: PathBuf,
    },
}

/// One row of `efi-poller plugins list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Listing {
    /// Plugin name (empty for a rejected file).
    pub name: String,
    /// Kinds.
    pub kinds: Vec<PluginKind>,
    /// Plugin version.
    pub version: String,
    /// efi-plugin-api version it was built against.
    pub api_version: String,
    /// Models it claims.
    pub models: Vec<String>,
    /// File.
    pub file: PathBuf,
    /// `ok`, `quarantined: ...` or `rejected: ...`.
    pub status: String,
}

/// Registries created in this process: each gets its own private copies directory, so two
/// registries (tests, or a future multi-directory host) never overwrite each other's copies.
static REGISTRIES: AtomicU64 = AtomicU64::new(0);

/// The set of plugins from one directory.
pub struct Registry {
    dir: PathBuf,
    config: Arc<Config>,
    entries: Mutex<BTreeMap<PathBuf, Entry>>,
    events: broadcast::Sender<RegistryEvent>,
    copies: PathBuf,
    copy_counter: AtomicU64,
}

impl Registry {
    /// A registry of `dir`; nothing is loaded until [`Registry::rescan`].
    pub fn new(dir: impl Into<PathBuf>, config: Arc<Config>) -> Self {
        let (events, _) = broadcast::channel(256);
        Registry {
            dir: dir.into(),
            config,
            entries: Mutex::new(BTreeMap::new()),
            events,
            copies: std::env::temp_dir().join(format!(
                "efi-poller-{}-{}-plugins",
                std::process::id(),
                REGISTRIES.fetch_add(1, Ordering::Relaxed)
            )),
            copy_counter: AtomicU64::new(0),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RegistryEvent> {
        self.events.subscribe()
    }

    /// Brings the registry in step with the directory: loads new files, reloads changed ones,
    /// drops removed ones. Blocking (dlopen, file copies); returns what changed.
    pub fn rescan(&self) -> Vec<RegistryEvent> {
        let files = match plugin_files(&self.dir) {
            Ok(files) => files,
            Err(e) => {
                tracing::error!(dir = %self.dir.display(), error = %e, "cannot read the plugins directory");
                return Vec::new();
            }
        };
        let mut entries = self.entries.lock();
        let mut events = Vec::new();

        let gone: Vec<PathBuf> = entries
            .keys()
            .filter(|p| !files.contains_key(*p))
            .cloned()
            .collect();
        for file in gone {
            entries.remove(&file);
            tracing::info!(file = %file.display(), "plugin file removed; its plugin is no longer used");
            events.push(RegistryEvent::Removed { file });
        }

        for (file, stamp) in files {
            if entries.get(&file).is_some_and(|e| e.stamp == stamp) {
                continue;
            }
            let taken: BTreeMap<String, PathBuf> = entries
                .iter()
                .filter(|(p, _)| **p != file)
                .filter_map(|(p, e)| match &e.outcome {
                    Outcome::Loaded(l) => Some((l.name().to_owned(), p.clone())),
                    Outcome::Rejected { .. } => None,
                })
                .collect();
            let outcome = match self.load(&file) {
                Ok(plugin) => match taken.get(plugin.name()) {
                    Some(other) => Outcome::Rejected {
                        reason: format!(
                            "plugin name {:?} is already provided by {}",
                            plugin.name(),
                            other.display()
                        ),
                        api_version: Some(plugin.info().api_version.clone()),
                    },
                    None => Outcome::Loaded(Arc::new(plugin)),
                },
                Err(rejection) => rejection,
            };
            let event = match &outcome {
                Outcome::Loaded(p) => {
                    tracing::info!(
                        plugin = p.name(),
                        version = %p.info().version,
                        api = %p.info().api_version,
                        file = %file.display(),
                        "plugin loaded"
                    );
                    RegistryEvent::Loaded {
                        name: p.name().to_owned(),
                        file: file.clone(),
                    }
                }
                Outcome::Rejected { reason, .. } => {
                    tracing::warn!("plugin rejected: {reason}");
                    RegistryEvent::Rejected {
                        file: file.clone(),
                        reason: reason.clone(),
                    }
                }
            };
            entries.insert(file, Entry { stamp, outcome });
            events.push(event);
        }
        drop(entries);
        for e in &events {
            let _ = self.events.send(e.clone());
        }
        events
    }

    /// Loads one file through a private copy. A rejection carries the reason to show.
    fn load(&self, file: &Path) -> Result<LoadedPlugin, Outcome> {
        let reject = |reason: String, api_version: Option<String>| Outcome::Rejected {
            reason,
            api_version,
        };
        let copy = self.private_copy(file).map_err(|e| {
            reject(
                format!("{}: cannot copy for loading: {e}", file.display()),
                None,
            )
        })?;
        let opened = host::open(&copy, file);
        let _ = std::fs::remove_file(&copy);
        let library = opened.map_err(|e: LoadError| {
            if let LoadError::Layout { full, .. } = &e {
                tracing::debug!(file = %file.display(), "full layout report:\n{full}");
            }
            let api = e.plugin_api_version().map(str::to_owned);
            reject(e.to_string(), api)
        })?;
        let api = Some(library.info().api_version.clone());
        let name = library.info().name.clone();
        library
            .init(&self.config.plugin_settings(&name))
            .map_err(|e| {
                reject(
                    format!(
                        "{}: plugin {name} failed to initialise: {e}",
                        file.display()
                    ),
                    api.clone(),
                )
            })?;
        let driver = if library.info().kinds.contains(&PluginKind::Driver) {
            Some(
                library
                    .new_driver(&self.config.driver_settings(&name))
                    .map_err(|e| {
                        reject(
                            format!(
                                "{}: plugin {name} could not create its driver: {e}",
                                file.display()
                            ),
                            api.clone(),
                        )
                    })?,
            )
        } else {
            None
        };
        Ok(LoadedPlugin {
            library,
            driver,
            health: Health::new(self.config.plugins.max_consecutive_panics),
        })
    }

    fn private_copy(&self, file: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&self.copies)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.copies, std::fs::Permissions::from_mode(0o700))?;
        }
        let n = self.copy_counter.fetch_add(1, Ordering::Relaxed);
        let name = file
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let copy = self.copies.join(format!("{n}-{name}"));
        std::fs::copy(file, &copy)?;
        Ok(copy)
    }

    /// Every loaded plugin (quarantined ones included), by name.
    pub fn plugins(&self) -> Vec<Arc<LoadedPlugin>> {
        let entries = self.entries.lock();
        let mut v: Vec<_> = entries
            .values()
            .filter_map(|e| match &e.outcome {
                Outcome::Loaded(p) => Some(p.clone()),
                Outcome::Rejected { .. } => None,
            })
            .collect();
        v.sort_by(|a, b| a.name().cmp(b.name()));
        v
    }

    /// Loaded plugins that are drivers and not quarantined.
    pub fn active_drivers(&self) -> Vec<Arc<LoadedPlugin>> {
        self.plugins()
            .into_iter()
            .filter(|p| p.driver().is_some() && !p.health().is_quarantined())
            .collect()
    }

    /// The loaded plugin of that name.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.plugins().into_iter().find(|p| p.name() == name)
    }

    /// One row per file, loaded or not.
    pub fn listing(&self) -> Vec<Listing> {
        let entries = self.entries.lock();
        entries
            .iter()
            .map(|(file, e)| match &e.outcome {
                Outcome::Loaded(p) => Listing {
                    name: p.name().to_owned(),
                    kinds: p.info().kinds.clone(),
                    version: p.info().version.clone(),
                    api_version: p.info().api_version.clone(),
                    models: p.info().models.clone(),
                    file: file.clone(),
                    status: match p.health().status() {
                        Status::Ok => "ok".into(),
                        Status::Quarantined(why) => format!("quarantined: {why}"),
                    },
                },
                Outcome::Rejected {
                    reason,
                    api_version,
                } => Listing {
                    name: String::new(),
                    kinds: Vec::new(),
                    version: String::new(),
                    api_version: api_version.clone().unwrap_or_else(|| "-".into()),
                    models: Vec::new(),
                    file: file.clone(),
                    status: format!("rejected: {reason}"),
                },
            })
            .collect()
    }

    /// Rescans every `every` on the blocking pool until the registry is dropped.
    pub fn spawn_watcher(
        self: &Arc<Self>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(registry) = weak.upgrade() else {
                    return;
                };
                if tokio::task::spawn_blocking(move || registry.rescan())
                    .await
                    .is_err()
                {
                    tracing::error!("plugin rescan failed unexpectedly");
                }
            }
        })
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.copies);
    }
}

/// The candidate plugin files of a directory: regular `*.so` files, not hidden, not
/// temporary (`*.tmp`, `*.part`), with their change stamps.
fn plugin_files(dir: &Path) -> std::io::Result<BTreeMap<PathBuf, Stamp>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".so") {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        out.insert(path, Stamp::of(&meta));
    }
    Ok(out)
}

/// Loads one file on its own, initialises it and creates an instance of each kind it
/// declares, as `efi-poller plugins check` does. Returns the plugin's info.
pub fn check_file(file: &Path, config: &Config) -> Result<PluginInfo, String> {
    let dir = tempfile_dir()?;
    let copy = dir.join(file.file_name().unwrap_or_default());
    std::fs::copy(file, &copy).map_err(|e| format!("{}: {e}", file.display()))?;
    let opened = host::open(&copy, file);
    let _ = std::fs::remove_file(&copy);
    let _ = std::fs::remove_dir(&dir);
    let library = opened.map_err(|e| e.to_string())?;
    let name = library.info().name.clone();
    library
        .init(&config.plugin_settings(&name))
        .map_err(|e| format!("{}: init failed: {e}", file.display()))?;
    if library.info().kinds.contains(&PluginKind::Driver) {
        library
            .new_driver(&config.driver_settings(&name))
            .map_err(|e| format!("{}: cannot create its driver: {e}", file.display()))?;
    }
    Ok(library.info().clone())
}

fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("efi-poller-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}
