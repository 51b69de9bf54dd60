//! # efi-plugin-api
//!
//! The one crate an efi-poller plugin depends on. A plugin is a `cdylib` that implements
//! plain safe Rust traits ([`Plugin`] plus [`Driver`], [`Source`] or [`Sink`]) and exports
//! them with one line:
//!
//! ```ignore
//! efi_plugin_api::export_plugin!(MyPlugin);
//! ```
//!
//! Plugins are **sans-IO**: they never open sockets. A [`Task`] asks for I/O with
//! [`Step::Requests`], the host runs it and resumes the task with the answers. The host
//! owns timeouts, retries, concurrency, rate limits, recording and replay.
//!
//! ## Versioning
//!
//! This crate is 1.x. Within 1.x the binary interface only grows: fields of the root module
//! and host services are appended after the last prefix field, payload structs only gain
//! optional fields, new request kinds and operations are added as new enum variants and
//! operation names. A host accepts plugins built against the same major version and the same
//! or a newer minor; it rejects other majors and older minors whose interface lacks what it
//! needs, with a message naming the file and both versions (see `host::LoadError`).
//!
//! abi_stable is an implementation detail of this crate: nothing of it appears in the
//! author-facing API, so it can be replaced without touching plugins' logic.

#![warn(missing_docs)]

#[doc(hidden)]
#[allow(non_local_definitions)] // expanded by abi_stable's sabi_trait
pub mod abi;
mod elf;
mod error;
pub mod host;
mod io;
mod logging;
pub mod normalise;
mod oid;
mod plugin;
mod record;
#[doc(hidden)]
pub mod sdk;
pub mod sink;
pub mod snmprec;
pub mod source;
mod step;
pub mod testing;

pub use error::{ErrorKind, PluginError};
pub use io::tr069_path_matches;
pub use io::{
    millis, percent_encode, CliRequest, CliStep, CliTranscript, CliTransport, HttpRequest,
    HttpResponse, IcmpStats, IoError, IoErrorKind, IoReply, IoRequest, IoResponse, SnmpValue,
    TlsPolicy, Tr069Param, VarBind,
};
pub use logging::{counter_add, now_unix_ms};
pub use oid::{oid, Oid, OidParseError};
pub use plugin::{
    check_url, BoxTask, Driver, Plugin, PluginConfig, PluginInfo, PluginKind, Sink, Source,
};
pub use record::{
    format_mac, Confidence, DeviceRecord, Fingerprint, Identity, InterfaceStats, Metric, Target,
    FALLBACK_CONFIDENCE,
};
pub use step::{Ready, Step, Task};
/// `tracing`, re-exported: events a plugin emits with it appear in the host's log, tagged
/// with the plugin's name.
pub use tracing;

/// The efi-plugin-api version this crate is (and a plugin was built against).
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything a plugin usually needs, in one import.
pub mod prelude {
    pub use crate::{
        export_plugin, oid, BoxTask, Confidence, DeviceRecord, Driver, Fingerprint, IoReply,
        IoRequest, IoResponse, Oid, Plugin, PluginConfig, PluginError, PluginInfo, PluginKind,
        SnmpValue, Step, Target, Task, Tr069Param, VarBind,
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::abi::PluginModuleRef;
    pub use crate::sdk::root_module;
    pub use abi_stable;
}

/// Exports a [`Plugin`] type as this library's plugin root module. Use once per cdylib, at
/// the crate root. Every entry point it creates catches panics, so a bug in the plugin is
/// reported as an error naming the plugin and never takes the host down.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        fn __efi_plugin_root_module() -> $crate::__private::PluginModuleRef {
            $crate::__private::root_module::<$plugin>()
        }

        #[doc(hidden)]
        extern "C" fn __efi_plugin_erased_root_module(
        ) -> $crate::__private::abi_stable::library::RootModuleResult {
            $crate::__private::abi_stable::library::__call_root_module_loader(
                __efi_plugin_root_module,
            )
        }

        #[doc(hidden)]
        #[unsafe(export_name = "_1as_0lib_1header_0root_bmodule_bloader")]
        pub static __EFI_PLUGIN_LIB_HEADER: $crate::__private::abi_stable::library::LibHeader = unsafe {
            $crate::__private::abi_stable::library::LibHeader::from_constructor::<
                $crate::__private::PluginModuleRef,
            >(
                __efi_plugin_erased_root_module,
                $crate::__private::abi_stable::library::CheckTypeLayout::Yes,
            )
        };
    };
}
