//! efi-lab: simulators of every outside system efi-poller talks to, on loopback only.
//!
//! Used in-process by tests (ephemeral ports on 127.0.0.0/8) and by `efi-poller demo`, and
//! as the `efi-lab` binary for manual runs. For now: SNMP agents serving `.snmprec` data and
//! a MIB-II device fleet. The helper [`artifacts`] builds the plugin `.so` files and the
//! host binary once per test run, so tests always load what the current source builds.

pub mod artifacts;
pub mod fleet;
pub mod snmp_agent;
