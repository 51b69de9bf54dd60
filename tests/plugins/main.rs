//! Plugins as the host loads them: the ABI checks, panics and CPU budgets, hot rescans, and
//! plugin log lines in the host's log.

mod loading;
mod logs;
mod profiles;
