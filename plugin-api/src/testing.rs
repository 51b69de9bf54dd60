//! Test helpers for plugin authors: run a task against scripted answers, a recorded SNMP
//! walk (`.snmprec`) or a recording of every exchange, without a device or a host.

use crate::error::{ErrorKind, PluginError};
use crate::io::{
    tr069_path_matches, IoError, IoErrorKind, IoReply, IoRequest, IoResponse, Tr069Param,
};
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

/// A device's TR-069 parameters as the host's cache would hold them (from a GenieACS dump
/// or a snooped session), answering [`IoRequest::Tr069`] like the host: full and partial
/// paths, absent ones missing. Other request kinds get `unsupported` (SNMP off, say).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tr069Data {
    /// The parameters.
    pub params: Vec<Tr069Param>,
}

impl Tr069Data {
    /// Reads a JSON array of `{"path", "value", "xsd_type"}`, with the path in the error.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, String> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let params = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Tr069Data { params })
    }

    /// Sets (or adds) one parameter's value.
    pub fn set(&mut self, path: &str, value: &str) {
        match self.params.iter_mut().find(|p| p.path == path) {
            Some(p) => p.value = value.to_owned(),
            None => self.params.push(Tr069Param {
                path: path.to_owned(),
                value: value.to_owned(),
                xsd_type: None,
            }),
        }
    }

    /// Removes every parameter at or below `path`.
    pub fn remove(&mut self, path: &str) {
        self.params.retain(|p| !tr069_path_matches(path, &p.path));
    }

    /// The host's answer to `request`.
    pub fn answer(&self, request: &IoRequest) -> IoResponse {
        match request {
            IoRequest::Tr069 { parameter_paths } => Ok(IoReply::Tr069(
                self.params
                    .iter()
                    .filter(|p| {
                        parameter_paths
                            .iter()
                            .any(|a| tr069_path_matches(a, &p.path))
                    })
                    .cloned()
                    .collect(),
            )),
            other => Err(IoError::new(
                IoErrorKind::Unsupported,
                format!(
                    "a TR-069 recording cannot answer a {} request",
                    other.kind()
                ),
            )),
        }
    }
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

/// True when a replayed request asks what the recorded one asked. Equal requests are; so are
/// two HTTP requests that differ only in the values of URL query parameters that are both
/// Unix times (10 digits: seconds, 13: milliseconds), which web UIs ask for as cache
/// busters (Telrad's CGI pages take `T=<now ms>`), and differ each time a driver runs.
pub fn same_request(asked: &IoRequest, recorded: &IoRequest) -> bool {
    match (asked, recorded) {
        (IoRequest::Http(a), IoRequest::Http(r)) if a.url != r.url => {
            let (mut a2, mut r2) = (a.clone(), r.clone());
            a2.url = without_times(&a.url);
            r2.url = without_times(&r.url);
            a2 == r2
        }
        _ => asked == recorded,
    }
}

/// The URL with the values of time-like query parameters blanked.
fn without_times(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let is_time =
        |v: &str| (v.len() == 10 || v.len() == 13) && v.bytes().all(|b| b.is_ascii_digit());
    let params: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if is_time(v) => format!("{k}=<time>"),
            _ => kv.to_owned(),
        })
        .collect();
    format!("{base}?{}", params.join("&"))
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
    /// driver change that asks something else fails with both requests named. Cache-busting
    /// timestamps in URLs are not compared (see [`same_request`]).
    pub fn replay<T>(&self, task: BoxTask<T>) -> Result<T, PluginError> {
        let mut next = self.exchanges.iter();
        let mut mismatch = None;
        let result = run(task, |req| match next.next() {
            Some(ex) if same_request(req, &ex.request) => ex.response.clone(),
            Some(ex) => {
                mismatch.get_or_insert(format!(
                    "driver asked {req:?} but the recording has {:?}",
                    ex.request
                ));
                Err(IoError::new(IoErrorKind::Other, "not recorded"))
            }
            None => {
                mismatch.get_or_insert(format!("driver asked {req:?} after the recording ended"));
                Err(IoError::new(IoErrorKind::Other, "not recorded"))
            }
        });
        match mismatch {
            Some(m) => Err(PluginError::new(ErrorKind::Other, m)),
            None => result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::HttpRequest;

    fn get(url: &str) -> IoRequest {
        IoRequest::Http(HttpRequest::get(url))
    }

    #[test]
    fn cache_busting_times_are_not_compared_but_everything_else_is() {
        let recorded = get("https://10.0.0.1:8080/cgi-bin/s.cgi?Command=Status&T=1795728610330");
        assert!(same_request(
            &get("https://10.0.0.1:8080/cgi-bin/s.cgi?Command=Status&T=1795728699999"),
            &recorded
        ));
        assert!(!same_request(
            &get("https://10.0.0.1:8080/cgi-bin/s.cgi?Command=Radio&T=1795728699999"),
            &recorded
        ));
        assert!(!same_request(
            &get("https://10.0.0.1:9090/cgi-bin/s.cgi?Command=Status&T=1795728699999"),
            &recorded
        ));
        // Not a time: a short number is a real argument.
        assert!(!same_request(
            &get("https://10.0.0.1/x.cgi?page=2"),
            &get("https://10.0.0.1/x.cgi?page=3")
        ));
    }
}
