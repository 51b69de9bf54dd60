//! The sans-IO step protocol shared by drivers, sources and sinks.
//!
//! A [`Task`] is a small state machine: `start` asks for I/O (or finishes at once), the host
//! runs the I/O, `resume` gets the answers and asks for more or finishes.

use crate::error::PluginError;
use crate::io::{IoRequest, IoResponse};
use serde::{Deserialize, Serialize};

/// What a task wants next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Step<T> {
    /// Run these requests and call `resume` with one response per request, in order.
    Requests(Vec<IoRequest>),
    /// Finished with this output.
    Done(T),
    /// Finished with an error.
    Failed(PluginError),
}

impl<T> Step<T> {
    /// Maps the output of a finished step.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Step<U> {
        match self {
            Step::Requests(r) => Step::Requests(r),
            Step::Done(t) => Step::Done(f(t)),
            Step::Failed(e) => Step::Failed(e),
        }
    }
}

impl<T> From<Result<T, PluginError>> for Step<T> {
    fn from(r: Result<T, PluginError>) -> Self {
        match r {
            Ok(t) => Step::Done(t),
            Err(e) => Step::Failed(e),
        }
    }
}

/// A sans-IO state machine that produces a `T`.
///
/// Implementations keep whatever state they need between steps. They must not block, sleep
/// or open sockets: all I/O goes through [`Step::Requests`]. The host enforces a CPU-time
/// budget per step.
pub trait Task: Send {
    /// The result of the task.
    type Output;

    /// The first step.
    fn start(&mut self) -> Step<Self::Output>;

    /// The next step, given the answers to the previous step's requests (same order).
    fn resume(&mut self, responses: Vec<IoResponse>) -> Step<Self::Output>;
}

/// A task that finishes at once with a value (or error), for operations that need no I/O.
pub struct Ready<T>(Option<Result<T, PluginError>>);

impl<T> Ready<T> {
    /// A task that yields `result` on `start`.
    pub fn new(result: Result<T, PluginError>) -> Self {
        Ready(Some(result))
    }
}

impl<T: Send> Task for Ready<T> {
    type Output = T;

    fn start(&mut self) -> Step<T> {
        self.0
            .take()
            .map(Step::from)
            .unwrap_or_else(|| Step::Failed(PluginError::protocol("task already finished")))
    }

    fn resume(&mut self, _responses: Vec<IoResponse>) -> Step<T> {
        Step::Failed(PluginError::protocol("resume called on a finished task"))
    }
}
