//! The plugin side of the ABI: turns a safe [`Plugin`] into the exported root module.
//!
//! Every entry point runs under [`guard`], so a panic in plugin code becomes an
//! [`ErrorKind::Panic`] error for the host instead of unwinding across the boundary (which
//! would end the host process).

use crate::abi::{
    decode, encode_result, encode_step, ops, FfiInstance, FfiInstance_TO, FfiTask, FfiTask_TO,
    HostServicesRef, NewInstance, PluginModule, PluginModuleRef, TaskBox, WIRE_VERSION,
};
use crate::error::{ErrorKind, PluginError};
use crate::io::IoResponse;
use crate::plugin::{BoxTask, Driver, Plugin, PluginConfig, Sink, Source};
use crate::record::{Fingerprint, Target};
use crate::sink::ChangeSet;
use crate::source::PushRequest;
use crate::step::Step;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RErr, ROk, RResult, RSlice, RStr, RVec};
use parking_lot::RwLock;
use serde::Serialize;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// The plugin created by `init`, shared by all its instances.
static PLUGIN: RwLock<Option<Arc<dyn Plugin>>> = RwLock::new(None);

/// Runs `f`, turning a panic into a [`ErrorKind::Panic`] error with its message and location.
pub fn guard<T>(f: impl FnOnce() -> Result<T, PluginError>) -> Result<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            let location = crate::logging::take_panic_location()
                .map(|l| format!(" at {l}"))
                .unwrap_or_default();
            Err(PluginError::new(
                ErrorKind::Panic,
                format!("plugin panicked{location}: {message}"),
            ))
        }
    }
}

fn current_plugin() -> Result<Arc<dyn Plugin>, PluginError> {
    PLUGIN
        .read()
        .clone()
        .ok_or_else(|| PluginError::new(ErrorKind::Other, "the host did not call init first"))
}

/// Builds the root module for `P`. Called by [`export_plugin!`](crate::export_plugin).
pub fn root_module<P: Plugin>() -> PluginModuleRef {
    PluginModule {
        wire_version: WIRE_VERSION,
        info: info::<P>,
        init: init::<P>,
        new_driver,
        new_source,
        new_sink,
    }
    .leak_into_prefix()
}

extern "C" fn info<P: Plugin>() -> RVec<u8> {
    encode_result(&guard(|| {
        let mut info = P::info();
        info.api_version = crate::API_VERSION.to_owned();
        Ok(info)
    }))
}

extern "C" fn init<P: Plugin>(host: HostServicesRef, config: RStr<'_>) -> RVec<u8> {
    encode_result(&guard(|| {
        crate::logging::install(host);
        let config = PluginConfig::from_toml(config.as_str())?;
        let plugin = P::init(&config)?;
        *PLUGIN.write() = Some(Arc::new(plugin));
        Ok(())
    }))
}

fn new_instance(
    config: RStr<'_>,
    make: impl FnOnce(&dyn Plugin, &PluginConfig) -> Result<Instance, PluginError>,
) -> NewInstance {
    let made = guard(|| {
        let plugin = current_plugin()?;
        let config = PluginConfig::from_toml(config.as_str())?;
        make(plugin.as_ref(), &config)
    });
    match made {
        Ok(instance) => ROk(FfiInstance_TO::from_value(instance, TD_Opaque)),
        Err(e) => RErr(encode_result(&Err::<(), _>(e))),
    }
}

extern "C" fn new_driver(config: RStr<'_>) -> NewInstance {
    new_instance(config, |p, c| p.new_driver(c).map(Instance::Driver))
}

extern "C" fn new_source(config: RStr<'_>) -> NewInstance {
    new_instance(config, |p, c| p.new_source(c).map(Instance::Source))
}

extern "C" fn new_sink(config: RStr<'_>) -> NewInstance {
    new_instance(config, |p, c| p.new_sink(c).map(Instance::Sink))
}

/// One live instance of any kind.
enum Instance {
    Driver(Box<dyn Driver>),
    Source(Box<dyn Source>),
    Sink(Box<dyn Sink>),
}

impl Instance {
    fn kind(&self) -> &'static str {
        match self {
            Instance::Driver(_) => "driver",
            Instance::Source(_) => "source",
            Instance::Sink(_) => "sink",
        }
    }

    fn unsupported(&self, op: &str) -> PluginError {
        PluginError::unsupported(format!(
            "operation {op:?} is not offered by a {} of this plugin (built against efi-plugin-api {})",
            self.kind(),
            crate::API_VERSION
        ))
    }
}

impl FfiInstance for Instance {
    fn call(&self, op: RStr<'_>, input: RSlice<'_, u8>) -> RVec<u8> {
        match (self, op.as_str()) {
            (Instance::Driver(d), ops::IDENTIFY) => encode_result(&guard(|| {
                let fp: Fingerprint = decode(&input, "fingerprint")?;
                Ok(d.identify(&fp))
            })),
            (Instance::Driver(d), ops::CHECK_FILE) => encode_result(&guard(|| {
                let (path, text): (String, String) = decode(&input, "file to check")?;
                d.check_file(&path, &text)
            })),
            (Instance::Source(s), ops::PARSE_PUSH) => encode_result(&guard(|| {
                let req: PushRequest = decode(&input, "push request")?;
                s.parse_push(&req)
            })),
            (_, other) => encode_result(&Err::<(), _>(self.unsupported(other))),
        }
    }

    fn begin(&self, op: RStr<'_>, input: RSlice<'_, u8>) -> RResult<TaskBox, RVec<u8>> {
        let task = guard(|| match (self, op.as_str()) {
            (Instance::Driver(d), ops::COLLECT) => {
                let target: Target = decode(&input, "target")?;
                Ok(erase(d.collect(&target)))
            }
            (Instance::Source(s), ops::POLL) => Ok(erase(s.poll())),
            (Instance::Sink(s), ops::SNAPSHOT) => Ok(erase(s.snapshot())),
            (Instance::Sink(s), ops::APPLY) => {
                let changes: ChangeSet = decode(&input, "change set")?;
                Ok(erase(s.apply(&changes)))
            }
            (_, other) => Err(self.unsupported(other)),
        });
        match task {
            Ok(task) => ROk(task),
            Err(e) => RErr(encode_result(&Err::<(), _>(e))),
        }
    }
}

fn erase<T: Serialize + Send + 'static>(task: BoxTask<T>) -> TaskBox {
    FfiTask_TO::from_value(
        TaskAdapter {
            inner: task,
            poisoned: false,
        },
        TD_Opaque,
    )
}

/// Wraps a typed task; once it panicked it is poisoned and only reports that.
struct TaskAdapter<T> {
    inner: BoxTask<T>,
    poisoned: bool,
}

impl<T: Serialize> TaskAdapter<T> {
    fn step(
        &mut self,
        f: impl FnOnce(&mut BoxTask<T>) -> Result<Step<T>, PluginError>,
    ) -> RVec<u8> {
        if self.poisoned {
            return encode_step(&Step::<T>::Failed(PluginError::new(
                ErrorKind::Panic,
                "task was poisoned by an earlier panic",
            )));
        }
        let step = guard(|| f(&mut self.inner)).unwrap_or_else(|e| {
            self.poisoned = e.kind == ErrorKind::Panic;
            Step::Failed(e)
        });
        encode_step(&step)
    }
}

impl<T: Serialize + Send + 'static> FfiTask for TaskAdapter<T> {
    fn start(&mut self) -> RVec<u8> {
        self.step(|t| Ok(t.start()))
    }

    fn resume(&mut self, responses: RSlice<'_, u8>) -> RVec<u8> {
        self.step(|t| {
            let responses: Vec<IoResponse> = decode(&responses, "I/O responses")?;
            Ok(t.resume(responses))
        })
    }
}
