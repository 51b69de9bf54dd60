//! Test helpers for plugin authors: run a task against scripted answers, a recorded SNMP
//! walk (`.snmprec`) or a recording of every exchange, without a device or a host.

use crate::error::{ErrorKind, PluginError};
use crate::io::{IoRequest, IoResponse};
use crate::plugin::BoxTask;
use crate::record::Target;
use crate::snmprec::AgentData;
use crate::step::Step;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The most steps a task may take in a test before it is considered stuck.
pub const MAX_STEPS: usize = 1000;

/// Runs a task to the end, answering each request with `answer`.
pub fn run<T>(
    mut task: BoxTask<T>,
    mut answer: impl FnMut(&IoRequest) -> IoResponse,
) -> Result<T, PluginError> {
    let mut step = task.start();
    for _ in 0..MAX_STEPS {
        match step {
            Step::Done(out) => return Ok(out),
            Step::Failed(e) => return Err(e),
            Step::Requests(requests) => {
                let responses = requests.iter().map(&mut answer).collect();
                step = task.resume(responses);
            }
        }
    }
    Err(PluginError::new(
        ErrorKind::Other,
        format!("task did not finish within {MAX_STEPS} steps"),
    ))
}

/// Runs a task against an SNMP recording (snmpsim `.snmprec` data).
pub fn run_snmprec<T>(task: BoxTask<T>, data: &AgentData) -> Result<T, PluginError> {
    run(task, |req| data.answer(req))
}

/// Loads an `.snmprec` file, with the path in the error.
pub fn load_snmprec(path: impl AsRef<Path>) -> Result<AgentData, String> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    AgentData::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs a task like [`run`] and records every exchange, for [`Recording::replay`] later.
pub fn record<T>(
    target: &Target,
    task: BoxTask<T>,
    mut answer: impl FnMut(&IoRequest) -> IoResponse,
) -> (Result<T, PluginError>, Recording) {
    let mut exchanges = Vec::new();
    let result = run(task, |request| {
        let response = answer(request);
        exchanges.push(Exchange {
            request: request.clone(),
            response: response.clone(),
        });
        response
    });
    (
        result,
        Recording {
            target: target.clone(),
            exchanges,
        },
    )
}

/// Every request a driver made and the answer it got, in order: what `efi-poller record`
/// writes and what [`Recording::replay`] plays back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// The target as it was polled.
    pub target: Target,
    /// The exchanges.
    pub exchanges: Vec<Exchange>,
}

/// One request and its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// What the driver asked.
    pub request: IoRequest,
    /// What it got.
    pub response: IoResponse,
}

impl Recording {
    /// Reads a recording (JSON).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, String> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes the recording as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Replays the recording through a task. Requests must be those recorded, in order: a
    /// driver change that asks something else fails with both requests named.
    pub fn replay<T>(&self, task: BoxTask<T>) -> Result<T, PluginError> {
        let mut next = self.exchanges.iter();
        let mut mismatch = None;
        let result = run(task, |req| match next.next() {
            Some(ex) if &ex.request == req => ex.response.clone(),
            Some(ex) => {
                mismatch.get_or_insert(format!(
                    "driver asked {req:?} but the recording has {:?}",
                    ex.request
                ));
                Err(crate::io::IoError::new(
                    crate::io::IoErrorKind::Other,
                    "not recorded",
                ))
            }
            None => {
                mismatch.get_or_insert(format!("driver asked {req:?} after the recording ended"));
                Err(crate::io::IoError::new(
                    crate::io::IoErrorKind::Other,
                    "not recorded",
                ))
            }
        });
        match mismatch {
            Some(m) => Err(PluginError::new(ErrorKind::Other, m)),
            None => result,
        }
    }
}
