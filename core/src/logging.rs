//! The host's log: one structured stream on stderr (text or JSON), journald-friendly.

use crate::config::{LogConfig, LogFormat};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber with `level` (`[log] level` for the service; a command's
/// own default for interactive ones). `RUST_LOG` overrides both.
///
/// Colours only for a person at a terminal, and never with `NO_COLOR` set: the journal, a
/// file or a pipe get plain text. When stderr is the journal (systemd says so in
/// `JOURNAL_STREAM`), text lines carry no timestamp: the journal stamps each line itself.
pub fn init(config: &LogConfig, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(true);
    let _ = match config.format {
        LogFormat::Text if stderr_is_the_journal() => builder.without_time().try_init(),
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// True when stderr is the stream systemd connected to the journal: `JOURNAL_STREAM` holds
/// `<device>:<inode>` of that stream (sd_journal_stream_fd(3)), and stderr is that file.
fn stderr_is_the_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    // SAFETY: fstat(2) on fd 2 writes into the zeroed struct we own and reads nothing else.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(2, &mut st) } != 0 {
        return false;
    }
    st.st_dev == dev && st.st_ino == ino
}
