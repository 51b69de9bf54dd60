//! The host's one wall clock: times recorded in the store, the API and plan IDs. (Timers and
//! deadlines use tokio's monotonic clock instead.)

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch (0 for a clock set before 1970).
pub fn now_unix_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Milliseconds since the Unix epoch.
pub fn now_unix_ms() -> i64 {
    now_unix_us() / 1_000
}

/// Seconds since the Unix epoch.
pub fn now_unix_s() -> i64 {
    now_unix_us() / 1_000_000
}
