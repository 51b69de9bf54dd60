//! The binary interface between the host and a plugin `.so` (abi_stable types).
//!
//! Plugin authors never touch this module: [`export_plugin!`](crate::export_plugin) builds the
//! plugin side and [`crate::host`] the host side. Only the *shape* of the interface is
//! described with abi_stable types (a prefix-type root module and two FFI-safe trait objects);
//! the data that crosses it (requests, responses, records) is MessagePack with named fields,
//! so a 1.x minor can add optional fields and operations without changing the layout.

use crate::error::{ErrorKind, PluginError};
use crate::step::Step;
use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RBox, RResult, RSlice, RStr, RVec};
use abi_stable::{declare_root_module_statics, package_version_strings, sabi_trait, StableAbi};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The encoding generation of the payloads. Bumped only with the major version.
pub const WIRE_VERSION: u32 = 1;

/// Operation names understood by instances. New operations may be added in 1.x; an
/// instance that does not know one answers [`ErrorKind::Unsupported`].
pub mod ops {
    /// Driver: score a fingerprint (call).
    pub const IDENTIFY: &str = "driver.identify";
    /// Driver: collect a record (task).
    pub const COLLECT: &str = "driver.collect";
    /// Driver: check a file of the driver's own format, such as a device profile (call).
    /// Added in 1.0.x; older drivers answer unsupported.
    pub const CHECK_FILE: &str = "driver.check_file";
    /// Source: pull sessions (task).
    pub const POLL: &str = "source.poll";
    /// Source: parse a webhook (call).
    pub const PARSE_PUSH: &str = "source.parse_push";
    /// Sink: read state (task).
    pub const SNAPSHOT: &str = "sink.snapshot";
    /// Sink: apply a change set (task).
    pub const APPLY: &str = "sink.apply";
}

/// Log levels on the wire: 0 = off, 1 = error ... 5 = trace.
pub mod level {
    /// Nothing is logged.
    pub const OFF: u8 = 0;
    /// ERROR.
    pub const ERROR: u8 = 1;
    /// WARN.
    pub const WARN: u8 = 2;
    /// INFO.
    pub const INFO: u8 = 3;
    /// DEBUG.
    pub const DEBUG: u8 = 4;
    /// TRACE.
    pub const TRACE: u8 = 5;
}

/// Services the host offers to a plugin, passed to `init`.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = HostServicesRef)))]
#[sabi(missing_field(option))]
pub struct HostServices {
    /// The host's handle for this plugin; passed back on every callback.
    pub plugin_id: u64,
    /// The most verbose level the host wants (see [`level`]).
    pub max_log_level: u8,
    /// Emits one log event: (plugin_id, level, target, message with fields).
    pub log: extern "C" fn(u64, u8, RStr<'_>, RStr<'_>),
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub now_unix_ms: extern "C" fn() -> u64,
    /// Adds to a named counter of this plugin.
    #[sabi(last_prefix_field)]
    pub counter_add: extern "C" fn(u64, RStr<'_>, f64),
}

/// A live driver, source or sink inside a plugin.
#[sabi_trait]
pub trait FfiInstance: Send + Sync {
    /// A synchronous operation: MessagePack in, MessagePack `Result<T, PluginError>` out.
    fn call(&self, op: RStr<'_>, input: RSlice<'_, u8>) -> RVec<u8>;

    /// Starts a task; the error is a MessagePack `PluginError`.
    #[sabi(last_prefix_field)]
    fn begin(
        &self,
        op: RStr<'_>,
        input: RSlice<'_, u8>,
    ) -> RResult<FfiTask_TO<'static, RBox<()>>, RVec<u8>>;
}

/// A running sans-IO task inside a plugin. Steps are MessagePack `Step<T>`.
#[sabi_trait]
pub trait FfiTask: Send {
    /// The first step.
    fn start(&mut self) -> RVec<u8>;

    /// The next step, given MessagePack `Vec<IoResponse>`.
    #[sabi(last_prefix_field)]
    fn resume(&mut self, responses: RSlice<'_, u8>) -> RVec<u8>;
}

/// An owned instance object.
pub type InstanceBox = FfiInstance_TO<'static, RBox<()>>;
/// An owned task object.
pub type TaskBox = FfiTask_TO<'static, RBox<()>>;
/// What an instance constructor returns.
pub type NewInstance = RResult<InstanceBox, RVec<u8>>;

/// The root module every plugin exports (a prefix type: 1.x only appends fields after the
/// last prefix field, and a host reads appended fields as optional).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// [`WIRE_VERSION`] the plugin was built with.
    pub wire_version: u32,
    /// MessagePack `PluginInfo`.
    pub info: extern "C" fn() -> RVec<u8>,
    /// Initialises the plugin with host services and its TOML config; MessagePack
    /// `Result<(), PluginError>`.
    pub init: extern "C" fn(HostServicesRef, RStr<'_>) -> RVec<u8>,
    /// Creates a driver from TOML config.
    pub new_driver: extern "C" fn(RStr<'_>) -> NewInstance,
    /// Creates a source from TOML config.
    pub new_source: extern "C" fn(RStr<'_>) -> NewInstance,
    /// Creates a sink from TOML config.
    #[sabi(last_prefix_field)]
    pub new_sink: extern "C" fn(RStr<'_>) -> NewInstance,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "efi_plugin";
    const NAME: &'static str = "efi-plugin-api";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The exported symbol that holds a plugin's `LibHeader` (abi_stable 0.11's mangled name).
/// Checked against abi_stable in a unit test.
pub const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// Encodes an input payload (host to plugin). Our input types always encode; should one
/// ever fail, the empty payload is sent and the plugin reports it as undecodable.
pub fn encode<T: Serialize>(value: &T) -> RVec<u8> {
    RVec::from(rmp_serde::to_vec_named(value).unwrap_or_default())
}

/// Encodes a step; an encoding failure becomes `Step::Failed`, which always encodes.
pub fn encode_step<T: Serialize>(step: &Step<T>) -> RVec<u8> {
    rmp_serde::to_vec_named(step)
        .or_else(|e| rmp_serde::to_vec_named(&Step::<()>::Failed(encode_failure(e))))
        .map(RVec::from)
        .unwrap_or_default()
}

/// Encodes a call result; an encoding failure becomes `Err`, which always encodes.
pub fn encode_result<T: Serialize>(result: &Result<T, PluginError>) -> RVec<u8> {
    rmp_serde::to_vec_named(result)
        .or_else(|e| rmp_serde::to_vec_named(&Err::<(), _>(encode_failure(e))))
        .map(RVec::from)
        .unwrap_or_default()
}

fn encode_failure(e: rmp_serde::encode::Error) -> PluginError {
    PluginError::new(ErrorKind::Other, format!("cannot encode payload: {e}"))
}

/// Decodes a payload, naming what it was on failure.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, PluginError> {
    rmp_serde::from_slice(bytes).map_err(|e| {
        PluginError::protocol(format!(
            "undecodable {what} across the plugin boundary: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{IoRequest, IoResponse};

    #[test]
    fn root_module_symbol_matches_abi_stable() {
        assert_eq!(
            ROOT_MODULE_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }

    #[test]
    fn a_failed_step_decodes_whatever_the_output_type() {
        let bytes = encode_step(&Step::<()>::Failed(PluginError::io("x")));
        let step: Step<Vec<String>> = decode(&bytes, "step").unwrap();
        assert_eq!(step, Step::Failed(PluginError::io("x")));
    }

    #[test]
    fn responses_round_trip() {
        let responses: Vec<IoResponse> = vec![
            Ok(crate::io::IoReply::Snmp(vec![])),
            Err(crate::io::IoError::new(
                crate::io::IoErrorKind::Timeout,
                "2 s",
            )),
        ];
        let back: Vec<IoResponse> = decode(&encode(&responses), "responses").unwrap();
        assert_eq!(back, responses);
        let req = Step::<()>::Requests(vec![IoRequest::Icmp { count: 3 }]);
        let back: Step<()> = decode(&encode_step(&req), "step").unwrap();
        assert_eq!(back, req);
    }
}
