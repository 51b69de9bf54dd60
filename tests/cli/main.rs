//! The `efi-poller` and `efi-lab demo` command lines as an operator runs them: every
//! subcommand, SIGHUP reloads, the dashboard in a real browser, and the fault-and-load soak.

mod check;
mod commands;
mod dashboard;
mod demo;
mod reload;
mod soak;
