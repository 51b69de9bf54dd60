//! Plugin side of logging: forwards the plugin's `tracing` events to the host.
//!
//! A cdylib has its own copy of `tracing`'s globals, so without this its events would be
//! dropped silently. `init` installs [`Forwarder`] as the plugin's global subscriber; each
//! event is formatted (message, then `key=value` fields) and handed to the host's `log`
//! callback, which re-emits it in the host's log tagged with the plugin's name.
//! Spans are not forwarded: the host's own span (plugin, device) already gives context.

use crate::abi::{level, HostServicesRef};
use abi_stable::std_types::RStr;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::OnceLock;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, LevelFilter, Metadata, Subscriber};

static HOST: OnceLock<HostServicesRef> = OnceLock::new();

thread_local! {
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the forwarder and a quiet panic hook (the SDK's guard reports panics instead of
/// printing them to stderr). Called once from the exported `init`.
pub(crate) fn install(host: HostServicesRef) {
    if HOST.set(host).is_err() {
        return;
    }
    let max = match host.max_log_level() {
        level::OFF => LevelFilter::OFF,
        level::ERROR => LevelFilter::ERROR,
        level::WARN => LevelFilter::WARN,
        level::INFO => LevelFilter::INFO,
        level::DEBUG => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let _ = tracing::subscriber::set_global_default(Forwarder { max });
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        PANIC_LOCATION.with(|slot| *slot.borrow_mut() = location);
    }));
}

/// The location of the last panic on this thread, recorded by the hook.
pub(crate) fn take_panic_location() -> Option<String> {
    PANIC_LOCATION.with(|slot| slot.borrow_mut().take())
}

/// Adds `value` to the plugin's counter `name` in the host (no-op outside a loaded plugin).
pub fn counter_add(name: &str, value: f64) {
    if let Some(host) = HOST.get() {
        (host.counter_add())(host.plugin_id(), RStr::from(name), value);
    }
}

/// Wall-clock time from the host, milliseconds since the Unix epoch; the system clock when
/// the plugin runs outside a host (tests).
pub fn now_unix_ms() -> u64 {
    match HOST.get() {
        Some(host) => (host.now_unix_ms())(),
        None => system_unix_ms(),
    }
}

/// The system clock in milliseconds since the Unix epoch: what the host hands plugins, and
/// what a plugin outside a host reads.
pub(crate) fn system_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

struct Forwarder {
    max: LevelFilter,
}

fn wire_level(l: &Level) -> u8 {
    match *l {
        Level::ERROR => level::ERROR,
        Level::WARN => level::WARN,
        Level::INFO => level::INFO,
        Level::DEBUG => level::DEBUG,
        _ => level::TRACE,
    }
}

impl Subscriber for Forwarder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= &self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let Some(host) = HOST.get() else { return };
        let mut text = EventText::default();
        event.record(&mut text);
        let meta = event.metadata();
        (host.log())(
            host.plugin_id(),
            wire_level(meta.level()),
            RStr::from(meta.target()),
            RStr::from(text.finish().as_str()),
        );
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// Formats an event as `message key=value key2=value2`.
#[derive(Default)]
struct EventText {
    message: String,
    fields: String,
}

impl EventText {
    fn finish(self) -> String {
        if self.fields.is_empty() {
            self.message
        } else if self.message.is_empty() {
            self.fields.trim_start().to_owned()
        } else {
            self.message + &self.fields
        }
    }
}

impl Visit for EventText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}
