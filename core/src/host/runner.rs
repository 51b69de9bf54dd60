//! Runs plugin tasks: each step on the plugin threads under a CPU-time budget, the I/O it asks
//! for on the host's engines, panics and overruns counted towards quarantine.

use super::step_pool::{StepError, StepPool};
use crate::engines::Engines;
use crate::loader::LoadedPlugin;
use efi_plugin_api::host::TaskHandle;
use efi_plugin_api::testing::Exchange;
use efi_plugin_api::{
    Confidence, DeviceRecord, ErrorKind, Fingerprint, IoResponse, PluginError, Step, Target,
};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// Most steps one device task may take (a driver that never finishes is a bug, not a device).
pub const MAX_STEPS: usize = 64;

/// Most steps of a service task: an EPC pull, a sink's read or its apply. Those take a page
/// or a batch of documents a step, so their steps grow with the network (a 20,000-CPE
/// initial sync is 60,000 changes, 150 steps of the Sonar sink); this bound only stops a
/// plugin that never finishes.
pub const MAX_SERVICE_STEPS: usize = 100_000;

/// Why a plugin task did not produce its output.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RunError {
    /// The plugin is quarantined and was not called.
    #[error("plugin {plugin} is quarantined: {reason}")]
    Quarantined {
        /// Plugin name.
        plugin: String,
        /// Why.
        reason: String,
    },
    /// The plugin reported an error (a caught panic included).
    #[error("plugin {plugin}: {error}")]
    Plugin {
        /// Plugin name.
        plugin: String,
        /// Its error.
        error: PluginError,
    },
    /// A step used more CPU than its budget; the plugin is now quarantined.
    #[error("plugin {plugin}: a step used {used_ms} ms of CPU, over its {budget_ms} ms budget; plugin quarantined")]
    OverBudget {
        /// Plugin name.
        plugin: String,
        /// CPU time used.
        used_ms: u64,
        /// Budget.
        budget_ms: u64,
    },
    /// A step did not return at all within the wall-clock limit; the plugin is quarantined.
    #[error("plugin {plugin}: a step did not return within {limit_ms} ms; plugin quarantined")]
    Hung {
        /// Plugin name.
        plugin: String,
        /// The limit.
        limit_ms: u64,
    },
    /// The task kept asking for I/O.
    #[error("plugin {plugin}: task did not finish within {steps} steps")]
    TooManySteps {
        /// The bound it reached.
        steps: usize,
        /// Plugin name.
        plugin: String,
    },
    /// The plugin is not a driver.
    #[error("plugin {plugin} has no driver")]
    NotADriver {
        /// Plugin name.
        plugin: String,
    },
}

/// Executes plugin tasks against the host's engines.
pub struct Runner {
    engines: Arc<Engines>,
    budget: Duration,
    /// The threads plugin calls run on.
    threads: StepPool,
}

impl Runner {
    /// A runner with a CPU-time budget per step.
    pub fn new(engines: Arc<Engines>, step_budget: Duration) -> Self {
        Runner {
            engines,
            budget: step_budget,
            threads: StepPool::per_core(),
        }
    }

    /// The engines.
    pub fn engines(&self) -> &Arc<Engines> {
        &self.engines
    }

    /// Wall-clock limit of one step: a step that burns this long without returning is hung.
    fn wall_limit(&self) -> Duration {
        (self.budget * 4).max(Duration::from_secs(2))
    }

    fn check_quarantine(plugin: &LoadedPlugin) -> Result<(), RunError> {
        match plugin.health().status() {
            crate::loader::Status::Ok => Ok(()),
            crate::loader::Status::Quarantined(reason) => Err(RunError::Quarantined {
                plugin: plugin.name().to_owned(),
                reason,
            }),
        }
    }

    /// Asks a driver how well it matches a fingerprint.
    pub async fn identify(
        &self,
        plugin: &Arc<LoadedPlugin>,
        fingerprint: &Fingerprint,
    ) -> Result<Confidence, RunError> {
        let fp = fingerprint.clone();
        self.driver_call(plugin, move |d| d.identify(&fp)).await
    }

    /// Asks a driver to check a file of its own format (a device profile).
    pub async fn check_file(
        &self,
        plugin: &Arc<LoadedPlugin>,
        path: &str,
        text: &str,
    ) -> Result<String, RunError> {
        let (path, text) = (path.to_owned(), text.to_owned());
        self.driver_call(plugin, move |d| d.check_file(&path, &text))
            .await
    }

    /// One guarded call into a driver, booked against its budget.
    async fn driver_call<R: Send + 'static>(
        &self,
        plugin: &Arc<LoadedPlugin>,
        call: impl FnOnce(&efi_plugin_api::host::DriverInstance) -> Result<R, PluginError>
            + Send
            + 'static,
    ) -> Result<R, RunError> {
        Self::check_quarantine(plugin)?;
        let p = plugin.clone();
        let (result, cpu) = self.guarded(plugin, move || p.driver().map(call)).await?;
        let result = result.ok_or_else(|| RunError::NotADriver {
            plugin: plugin.name().to_owned(),
        })?;
        self.account(plugin, cpu, result.as_ref().err())?;
        result.map_err(|error| RunError::Plugin {
            plugin: plugin.name().to_owned(),
            error,
        })
    }

    /// Collects one device's record with a driver plugin.
    pub async fn collect(
        &self,
        plugin: &Arc<LoadedPlugin>,
        target: &Target,
    ) -> Result<DeviceRecord, RunError> {
        self.collect_recording(plugin, target, None).await
    }

    /// Like [`Runner::collect`], appending every request the driver made and the answer it
    /// got to `exchanges` (what `efi-poller record` writes).
    pub async fn collect_recording(
        &self,
        plugin: &Arc<LoadedPlugin>,
        target: &Target,
        exchanges: Option<&mut Vec<Exchange>>,
    ) -> Result<DeviceRecord, RunError> {
        let started = self.begin_collect(plugin, target).await?;
        self.drive(plugin, started, target, exchanges, MAX_STEPS, None)
            .await
    }

    /// Starts a driver's collect task and takes its first step in the same call into the
    /// plugin: one hand-off to the plugin threads instead of two on every poll.
    async fn begin_collect(
        &self,
        plugin: &Arc<LoadedPlugin>,
        target: &Target,
    ) -> Result<Started<DeviceRecord>, RunError> {
        let t = target.clone();
        let (task, step) = self
            .driver_call(plugin, move |d| {
                d.collect(&t).map(|mut task| {
                    let step = task.start();
                    (task, step)
                })
            })
            .await?;
        // The call's CPU is booked above; a panic in the first step still counts.
        self.account(plugin, Duration::ZERO, failure_of(&step))?;
        Ok((task, step))
    }

    /// Collects a record with a driver plugin from a recorded device instead of the network
    /// (`efi-poller profiles test --replay`).
    pub async fn collect_replayed(
        &self,
        plugin: &Arc<LoadedPlugin>,
        target: &Target,
        device: &super::replay::RecordedDevice,
    ) -> Result<DeviceRecord, RunError> {
        let started = self.begin_collect(plugin, target).await?;
        self.drive(plugin, started, target, None, MAX_STEPS, Some(device))
            .await
    }

    /// Drives a task to its end: steps on the plugin threads, I/O on the engines.
    pub async fn run<T>(
        &self,
        plugin: &Arc<LoadedPlugin>,
        task: TaskHandle<T>,
        target: &Target,
    ) -> Result<T, RunError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let started = self.step(plugin, task, None).await?;
        self.drive(plugin, started, target, None, MAX_STEPS, None)
            .await
    }

    /// Drives a service task (an EPC pull, a sink's read or apply) to its end, allowing
    /// [`MAX_SERVICE_STEPS`]: its steps grow with the network.
    pub async fn run_service<T>(
        &self,
        plugin: &Arc<LoadedPlugin>,
        task: TaskHandle<T>,
        target: &Target,
    ) -> Result<T, RunError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let started = self.step(plugin, task, None).await?;
        self.drive(plugin, started, target, None, MAX_SERVICE_STEPS, None)
            .await
    }

    /// One step of a task on the plugin threads: its start (`input` None) or its resumption
    /// with the answers to what it asked, booked against the plugin's budget.
    async fn step<T>(
        &self,
        plugin: &Arc<LoadedPlugin>,
        task: TaskHandle<T>,
        input: Option<Vec<IoResponse>>,
    ) -> Result<Started<T>, RunError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        Self::check_quarantine(plugin)?;
        let mut task = task;
        let ((task, step), cpu) = self
            .guarded(plugin, move || {
                let step = match input {
                    None => task.start(),
                    Some(responses) => task.resume(&responses),
                };
                (task, step)
            })
            .await?;
        self.account(plugin, cpu, failure_of(&step))?;
        Ok((task, step))
    }

    /// Drives a started task to its end: its I/O on the engines (or answered from a
    /// recording), each further step on the plugin threads, at most `max_steps` in all.
    async fn drive<T>(
        &self,
        plugin: &Arc<LoadedPlugin>,
        started: Started<T>,
        target: &Target,
        mut exchanges: Option<&mut Vec<Exchange>>,
        max_steps: usize,
        recorded: Option<&super::replay::RecordedDevice>,
    ) -> Result<T, RunError>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let (mut task, mut step) = started;
        for _ in 0..max_steps {
            match step {
                Step::Done(out) => {
                    plugin.health().record_ok();
                    return Ok(out);
                }
                Step::Failed(error) => {
                    if error.kind != ErrorKind::Panic {
                        plugin.health().record_ok();
                    }
                    return Err(RunError::Plugin {
                        plugin: plugin.name().to_owned(),
                        error,
                    });
                }
                Step::Requests(requests) => {
                    let responses = match recorded {
                        Some(device) => requests.iter().map(|r| device.answer(r)).collect(),
                        None => self.engines.execute_all(target, &requests).await,
                    };
                    if let Some(log) = exchanges.as_deref_mut() {
                        log.extend(
                            requests
                                .into_iter()
                                .zip(responses.iter().cloned())
                                .map(|(request, response)| Exchange { request, response }),
                        );
                    }
                    (task, step) = self.step(plugin, task, Some(responses)).await?;
                }
            }
        }
        Err(RunError::TooManySteps {
            steps: max_steps,
            plugin: plugin.name().to_owned(),
        })
    }

    /// Runs `f` (one synchronous call into a plugin) on the plugin threads, measuring the CPU
    /// time it used; quarantines the plugin when it does not return in time.
    async fn guarded<R: Send + 'static>(
        &self,
        plugin: &Arc<LoadedPlugin>,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<(R, Duration), RunError> {
        let limit = self.wall_limit();
        let call = move || {
            let before = thread_cpu_time();
            let out = f();
            (out, thread_cpu_time().saturating_sub(before))
        };
        match self.threads.run(limit, call).await {
            Ok(done) => Ok(done),
            Err(StepError::Lost(why)) => Err(RunError::Plugin {
                plugin: plugin.name().to_owned(),
                error: PluginError::new(ErrorKind::Panic, format!("host-side call failed: {why}")),
            }),
            Err(StepError::Hung(_)) => {
                let err = RunError::Hung {
                    plugin: plugin.name().to_owned(),
                    limit_ms: limit.as_millis() as u64,
                };
                plugin.health().quarantine(err.to_string());
                tracing::error!(plugin = plugin.name(), "{err}");
                Err(err)
            }
        }
    }

    /// Books one call into the plugin: over budget quarantines, a panic counts towards
    /// quarantine. Only a task that runs to its end resets the panic streak (in `run`), so a
    /// plugin whose every collection panics is quarantined even if it identifies fine.
    fn account(
        &self,
        plugin: &LoadedPlugin,
        cpu: Duration,
        failure: Option<&PluginError>,
    ) -> Result<(), RunError> {
        if cpu > self.budget {
            let err = RunError::OverBudget {
                plugin: plugin.name().to_owned(),
                used_ms: cpu.as_millis() as u64,
                budget_ms: self.budget.as_millis() as u64,
            };
            plugin.health().quarantine(err.to_string());
            tracing::error!(plugin = plugin.name(), "{err}");
            return Err(err);
        }
        if let Some(e) = failure.filter(|e| e.kind == ErrorKind::Panic) {
            if plugin.health().record_panic(&e.message) {
                tracing::error!(plugin = plugin.name(), "plugin quarantined: {}", e.message);
            }
        }
        Ok(())
    }
}

/// A task and the step it has just taken.
type Started<T> = (TaskHandle<T>, Step<T>);

/// The error a step reports, if it failed.
fn failure_of<T>(step: &Step<T>) -> Option<&PluginError> {
    match step {
        Step::Failed(e) => Some(e),
        _ => None,
    }
}

/// CPU time used by the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_THREAD_CPUTIME_ID exists on
    // every Linux we support.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
