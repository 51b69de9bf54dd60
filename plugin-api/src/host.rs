//! Host side of the ABI: opens plugin files and calls into them through typed handles.
//!
//! Used by the efi-poller host (and by tests that load real `.so` files). Loading never
//! uses abi_stable's cached loaders, so any number of plugins of one kind load side by side.

use crate::abi::{
    decode, encode, level, ops, HostServices, HostServicesRef, InstanceBox, NewInstance,
    PluginModuleRef, TaskBox, WIRE_VERSION,
};
use crate::error::PluginError;
use crate::io::IoResponse;
use crate::plugin::PluginInfo;
use crate::record::{Confidence, DeviceRecord, Fingerprint, Target};
use crate::sink::{ApplyReport, ChangeSet, SinkSnapshot};
use crate::source::{PushRequest, SessionBatch, SessionEvent};
use crate::step::Step;
use abi_stable::library::{lib_header_from_path, LibraryError};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RResult, RSlice, RStr};
use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::Level;

/// Why a file was not loaded. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// dlopen failed: not a shared library, truncated, missing dependencies.
    #[error("{file}: cannot be loaded as a shared library: {detail}")]
    Open {
        /// The plugin file.
        file: PathBuf,
        /// The loader's explanation.
        detail: String,
    },
    /// Not a complete shared object for this machine (checked before the dynamic loader
    /// sees it, because mapping a truncated file can crash the process).
    #[error("{file}: not a complete shared library for this machine: {detail}")]
    Damaged {
        /// The plugin file.
        file: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A shared library, but not one of ours.
    #[error("{file}: not an efi-poller plugin (no efi-plugin-api root module; was it built with export_plugin!?)")]
    NotAPlugin {
        /// The plugin file.
        file: PathBuf,
    },
    /// Built with an abi_stable this host cannot read.
    #[error(
        "{file}: built with an incompatible abi_stable ({detail}); this host uses abi_stable 0.11"
    )]
    AbiStable {
        /// The plugin file.
        file: PathBuf,
        /// Details.
        detail: String,
    },
    /// Built against another major version of efi-plugin-api.
    #[error("{file}: built against efi-plugin-api {plugin}, but this host speaks efi-plugin-api {host}; rebuild the plugin against efi-plugin-api {host_major}.x")]
    ApiVersion {
        /// The plugin file.
        file: PathBuf,
        /// The API version the plugin was built against.
        plugin: String,
        /// The host's API version.
        host: String,
        /// The host's major version.
        host_major: String,
    },
    /// Same major, but the interface layout does not match (an older minor, or a forked API).
    #[error("{file}: interface does not match this host's efi-plugin-api {host} (plugin built against {plugin}): {summary}; rebuild the plugin against efi-plugin-api {host} or newer")]
    Layout {
        /// The plugin file.
        file: PathBuf,
        /// The API version the plugin was built against.
        plugin: String,
        /// The host's API version.
        host: String,
        /// The `Error:` lines of abi_stable's report.
        summary: String,
        /// abi_stable's full report (log it at debug level).
        full: String,
    },
    /// The plugin's payload encoding generation differs.
    #[error("{file}: speaks plugin wire protocol {plugin}, this host speaks {host}")]
    Wire {
        /// The plugin file.
        file: PathBuf,
        /// The plugin's generation.
        plugin: u32,
        /// The host's generation.
        host: u32,
    },
    /// The plugin's module constructor or `info()` failed.
    #[error("{file}: plugin failed to start: {detail}")]
    Startup {
        /// The plugin file.
        file: PathBuf,
        /// What failed.
        detail: String,
    },
}

impl LoadError {
    /// The efi-plugin-api version the plugin says it was built against, when known.
    pub fn plugin_api_version(&self) -> Option<&str> {
        match self {
            LoadError::ApiVersion { plugin, .. } | LoadError::Layout { plugin, .. } => Some(plugin),
            _ => None,
        }
    }
}

/// A loaded plugin library, not yet initialised.
pub struct Library {
    file: PathBuf,
    module: PluginModuleRef,
    info: PluginInfo,
    plugin_id: u64,
    name: Arc<str>,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("file", &self.file)
            .field("name", &self.info.name)
            .finish()
    }
}

/// Opens the shared library at `path` and checks that it is a compatible plugin.
///
/// `path` must not change while this runs (the host loads a private copy): its structure is
/// checked first, then it is handed to the dynamic loader.
///
/// `file` is the name used in messages (the operator's file, when `path` is a private copy).
/// The library stays mapped for the life of the process (libraries cannot be unloaded safely).
pub fn open(path: &Path, file: &Path) -> Result<Library, LoadError> {
    let file = file.to_path_buf();
    let bytes = std::fs::read(path).map_err(|e| LoadError::Open {
        file: file.clone(),
        detail: e.to_string(),
    })?;
    crate::elf::check_shared_object(&bytes).map_err(|detail| LoadError::Damaged {
        file: file.clone(),
        detail,
    })?;
    drop(bytes);
    let header = lib_header_from_path(path).map_err(|e| classify(&file, e, None))?;
    let plugin_api = header.version_strings().version.as_str().to_owned();
    let module = header
        .init_root_module::<PluginModuleRef>()
        .map_err(|e| classify(&file, e, Some(&plugin_api)))?;
    if module.wire_version() != WIRE_VERSION {
        return Err(LoadError::Wire {
            file,
            plugin: module.wire_version(),
            host: WIRE_VERSION,
        });
    }
    let info: PluginInfo =
        decode::<Result<PluginInfo, PluginError>>(&(module.info())(), "plugin info")
            .and_then(|r| r)
            .map_err(|e| LoadError::Startup {
                file: file.clone(),
                detail: format!("info() failed: {e}"),
            })?;
    if info.name.trim().is_empty() {
        return Err(LoadError::Startup {
            file,
            detail: "the plugin reports an empty name".into(),
        });
    }
    let name: Arc<str> = Arc::from(info.name.as_str());
    let plugin_id = register_name(name.clone());
    Ok(Library {
        file,
        module,
        info,
        plugin_id,
        name,
    })
}

fn classify(file: &Path, err: LibraryError, plugin_api: Option<&str>) -> LoadError {
    let file = file.to_path_buf();
    let host = crate::API_VERSION.to_owned();
    match err {
        LibraryError::OpenError { err, .. } => LoadError::Open {
            file,
            detail: err.to_string(),
        },
        LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin { file },
        LibraryError::InvalidAbiHeader(h) => LoadError::AbiStable {
            file,
            detail: format!("{h:?}"),
        },
        LibraryError::InvalidCAbi { .. } => LoadError::AbiStable {
            file,
            detail: "C ABI self-test failed".into(),
        },
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => LoadError::ApiVersion {
            file,
            plugin: actual_version.to_string(),
            host_major: host.split('.').next().unwrap_or("1").to_owned(),
            host,
        },
        LibraryError::AbiInstability(report) => {
            let full = report.to_string();
            let mut lines: Vec<&str> = full
                .lines()
                .map(str::trim)
                .filter(|l| l.starts_with("Error:"))
                .collect();
            lines.dedup();
            LoadError::Layout {
                file,
                plugin: plugin_api.unwrap_or("unknown").to_owned(),
                host,
                summary: if lines.is_empty() {
                    "layouts differ".into()
                } else {
                    lines.join("; ")
                },
                full,
            }
        }
        other => LoadError::Startup {
            file,
            detail: other.to_string(),
        },
    }
}

impl Library {
    /// The plugin's description (with the API version it was built against).
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The operator's file this library came from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The host's handle of this plugin (counters, log tagging).
    pub fn plugin_id(&self) -> u64 {
        self.plugin_id
    }

    /// Initialises the plugin with its TOML config; must be called once before instances.
    pub fn init(&self, config_toml: &str) -> Result<(), PluginError> {
        let services = host_services(self.plugin_id);
        decode::<Result<(), PluginError>>(
            &(self.module.init())(services, RStr::from(config_toml)),
            "init result",
        )?
    }

    /// Creates a driver instance.
    pub fn new_driver(&self, config_toml: &str) -> Result<DriverInstance, PluginError> {
        self.instance((self.module.new_driver())(RStr::from(config_toml)))
            .map(DriverInstance)
    }

    /// Creates a source instance.
    pub fn new_source(&self, config_toml: &str) -> Result<SourceInstance, PluginError> {
        self.instance((self.module.new_source())(RStr::from(config_toml)))
            .map(SourceInstance)
    }

    /// Creates a sink instance.
    pub fn new_sink(&self, config_toml: &str) -> Result<SinkInstance, PluginError> {
        self.instance((self.module.new_sink())(RStr::from(config_toml)))
            .map(SinkInstance)
    }

    fn instance(&self, made: NewInstance) -> Result<Instance, PluginError> {
        match made {
            RResult::ROk(inner) => Ok(Instance {
                inner,
                plugin: self.name.clone(),
            }),
            RResult::RErr(bytes) => Err(decode::<Result<(), PluginError>>(
                &bytes,
                "constructor error",
            )
            .and_then(|r| r.map(|()| PluginError::protocol("constructor failed without an error")))
            .unwrap_or_else(|e| e)),
        }
    }
}

/// An instance of any kind, with the generic call machinery.
struct Instance {
    inner: InstanceBox,
    plugin: Arc<str>,
}

impl Instance {
    fn call<I: Serialize, O: DeserializeOwned>(
        &self,
        op: &str,
        input: &I,
    ) -> Result<O, PluginError> {
        let input = encode(input);
        let out = self.inner.call(RStr::from(op), RSlice::from(&input[..]));
        decode::<Result<O, PluginError>>(&out, op)?
    }

    fn begin<I: Serialize, O: DeserializeOwned>(
        &self,
        op: &str,
        input: &I,
    ) -> Result<TaskHandle<O>, PluginError> {
        let input = encode(input);
        match self.inner.begin(RStr::from(op), RSlice::from(&input[..])) {
            RResult::ROk(task) => Ok(TaskHandle {
                inner: task,
                plugin: self.plugin.clone(),
                _output: PhantomData,
            }),
            RResult::RErr(bytes) => Err(decode::<Result<(), PluginError>>(&bytes, op)
                .and_then(|r| r.map(|()| PluginError::protocol("begin failed without an error")))
                .unwrap_or_else(|e| e)),
        }
    }
}

/// A driver living in a plugin.
pub struct DriverInstance(Instance);

impl DriverInstance {
    /// The plugin's name.
    pub fn plugin(&self) -> &str {
        &self.0.plugin
    }

    /// Scores a fingerprint (0..=100).
    pub fn identify(&self, fingerprint: &Fingerprint) -> Result<Confidence, PluginError> {
        self.0.call(ops::IDENTIFY, fingerprint)
    }

    /// Starts collecting a device's record.
    pub fn collect(&self, target: &Target) -> Result<TaskHandle<DeviceRecord>, PluginError> {
        self.0.begin(ops::COLLECT, target)
    }

    /// Checks a file of the driver's own format (see [`crate::Driver::check_file`]).
    pub fn check_file(&self, path: &str, text: &str) -> Result<String, PluginError> {
        self.0.call(ops::CHECK_FILE, &(path, text))
    }
}

/// A source living in a plugin.
pub struct SourceInstance(Instance);

impl SourceInstance {
    /// The plugin's name.
    pub fn plugin(&self) -> &str {
        &self.0.plugin
    }

    /// Starts a full pull.
    pub fn poll(&self) -> Result<TaskHandle<SessionBatch>, PluginError> {
        self.0.begin(ops::POLL, &())
    }

    /// Parses a webhook call.
    pub fn parse_push(&self, request: &PushRequest) -> Result<Vec<SessionEvent>, PluginError> {
        self.0.call(ops::PARSE_PUSH, request)
    }
}

/// A sink living in a plugin.
pub struct SinkInstance(Instance);

impl SinkInstance {
    /// The plugin's name.
    pub fn plugin(&self) -> &str {
        &self.0.plugin
    }

    /// Starts reading the sink's state.
    pub fn snapshot(&self) -> Result<TaskHandle<SinkSnapshot>, PluginError> {
        self.0.begin(ops::SNAPSHOT, &())
    }

    /// Starts applying a change set.
    pub fn apply(&self, changes: &ChangeSet) -> Result<TaskHandle<ApplyReport>, PluginError> {
        self.0.begin(ops::APPLY, changes)
    }
}

/// A task running inside a plugin. Each call is synchronous and CPU-bound; the host
/// decides where to run it and how long to let it take.
pub struct TaskHandle<T> {
    inner: TaskBox,
    plugin: Arc<str>,
    _output: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> TaskHandle<T> {
    /// The plugin's name.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The first step.
    pub fn start(&mut self) -> Step<T> {
        let out = self.inner.start();
        decode(&out, "step").unwrap_or_else(Step::Failed)
    }

    /// The next step, with one response per request of the previous step.
    pub fn resume(&mut self, responses: &[IoResponse]) -> Step<T> {
        let input = encode(&responses);
        let out = self.inner.resume(RSlice::from(&input[..]));
        decode(&out, "step").unwrap_or_else(Step::Failed)
    }
}

// ---- host services -------------------------------------------------------------------

static NAMES: RwLock<Vec<Arc<str>>> = RwLock::new(Vec::new());
type CounterMap = BTreeMap<(u64, String), f64>;
static COUNTERS: Mutex<CounterMap> = Mutex::new(BTreeMap::new());

fn register_name(name: Arc<str>) -> u64 {
    let mut names = NAMES.write();
    names.push(name);
    (names.len() - 1) as u64
}

fn name_of(plugin_id: u64) -> Arc<str> {
    NAMES
        .read()
        .get(plugin_id as usize)
        .cloned()
        .unwrap_or_else(|| Arc::from("unknown-plugin"))
}

/// The counters a plugin has added to, by name.
pub fn counters(plugin_id: u64) -> Vec<(String, f64)> {
    COUNTERS
        .lock()
        .iter()
        .filter(|((id, _), _)| *id == plugin_id)
        .map(|((_, name), v)| (name.clone(), *v))
        .collect()
}

fn host_services(plugin_id: u64) -> HostServicesRef {
    let max = tracing::level_filters::LevelFilter::current();
    let max_log_level = match max.into_level() {
        None => level::OFF,
        Some(Level::ERROR) => level::ERROR,
        Some(Level::WARN) => level::WARN,
        Some(Level::INFO) => level::INFO,
        Some(Level::DEBUG) => level::DEBUG,
        Some(_) => level::TRACE,
    };
    HostServices {
        plugin_id,
        max_log_level,
        log: host_log,
        now_unix_ms: host_now_unix_ms,
        counter_add: host_counter_add,
    }
    .leak_into_prefix()
}

extern "C" fn host_log(plugin_id: u64, lvl: u8, target: RStr<'_>, message: RStr<'_>) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let plugin = name_of(plugin_id);
        let plugin = plugin.as_ref();
        let origin = target.as_str();
        let message = message.as_str();
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(target: "efi::plugin", $level, plugin, origin, "{message}")
            };
        }
        match lvl {
            level::ERROR => emit!(Level::ERROR),
            level::WARN => emit!(Level::WARN),
            level::INFO => emit!(Level::INFO),
            level::DEBUG => emit!(Level::DEBUG),
            _ => emit!(Level::TRACE),
        }
    }));
}

extern "C" fn host_now_unix_ms() -> u64 {
    crate::logging::system_unix_ms()
}

extern "C" fn host_counter_add(plugin_id: u64, name: RStr<'_>, value: f64) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        *COUNTERS
            .lock()
            .entry((plugin_id, name.as_str().to_owned()))
            .or_insert(0.0) += value;
    }));
}
