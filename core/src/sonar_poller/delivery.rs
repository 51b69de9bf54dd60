//! Talking to Sonar's poller endpoints: fetch the work, post the results, and keep every
//! result Sonar has not accepted in a file until it has.
//!
//! Pending results are keyed by host: a newer result of a host replaces the older one, so
//! after an outage Sonar gets each host's latest state once, not a backlog of stale ones.
//! A body Sonar rejects as malformed (400/422) would be rejected forever: it is moved to a
//! `.rejected-<time>.json` file beside the pending file and reported, never dropped.

use super::checks::HostResult;
use super::VERSION;
use crate::config::Secret;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a post went.
#[derive(Debug, Clone, PartialEq)]
pub enum PostOutcome {
    /// Sonar accepted the results of this many hosts.
    Delivered(usize),
    /// Sonar could not be reached, was rate-limiting or failed; the results are kept.
    Failed {
        /// What happened.
        reason: String,
        /// Hosts whose results wait for the next attempt.
        pending: usize,
    },
    /// Sonar rejected the body as malformed; it was saved to `saved_to`.
    Rejected {
        /// Sonar's message.
        reason: String,
        /// Where the rejected results are.
        saved_to: PathBuf,
    },
}

impl fmt::Display for PostOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostOutcome::Delivered(n) => write!(f, "posted {n} results"),
            PostOutcome::Failed { reason, pending } => {
                write!(
                    f,
                    "post failed ({reason}); {pending} results kept for the next attempt"
                )
            }
            PostOutcome::Rejected { reason, saved_to } => write!(
                f,
                "Sonar rejected the results ({reason}); saved to {}",
                saved_to.display()
            ),
        }
    }
}

/// Results waiting for Sonar: each host's result as JSON text (compact: a cycle of
/// thousands of hosts is kept as text, not as a tree of values).
#[derive(Default)]
struct Pending {
    results: BTreeMap<String, String>,
    time_taken: u64,
}

impl Pending {
    /// The body of `/api/batch_poller` for these hosts, written as text.
    fn body(&self, api_key: &str, ids: &[&String]) -> String {
        let mut out = String::with_capacity(
            ids.iter()
                .map(|id| self.results[*id].len() + id.len() + 4)
                .sum::<usize>()
                + 128,
        );
        out.push_str(&format!(
            "{{\"api_key\":{},\"version\":{},\"time_taken\":{},\"results\":{{",
            Value::from(api_key),
            Value::from(VERSION),
            self.time_taken
        ));
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::from(id.as_str()).to_string());
            out.push(':');
            out.push_str(&self.results[*id]);
        }
        out.push_str("}}");
        out
    }
}

/// The connection to one Sonar instance's poller endpoints.
pub struct Delivery {
    base_url: String,
    max_post_bytes: usize,
    api_key: Secret,
    client: reqwest::Client,
    pending_file: PathBuf,
    pending: Mutex<Pending>,
}

impl Delivery {
    /// Opens the pending file (results left by an earlier run are sent with the next post).
    pub fn new(
        base_url: String,
        api_key: Secret,
        timeout: Duration,
        pending_file: PathBuf,
        max_post_bytes: usize,
    ) -> Result<Delivery, String> {
        crate::engines::http::init_tls();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(format!("SonarPoller/{VERSION}"))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let pending = load_pending(&pending_file)?;
        if !pending.results.is_empty() {
            tracing::info!(
                hosts = pending.results.len(),
                file = %pending_file.display(),
                "results left by an earlier run will be posted"
            );
        }
        Ok(Delivery {
            base_url,
            max_post_bytes: max_post_bytes.max(1024),
            api_key,
            client,
            pending_file,
            pending: Mutex::new(pending),
        })
    }

    /// Hosts whose results wait for Sonar.
    pub fn pending_hosts(&self) -> usize {
        self.pending.lock().results.len()
    }

    /// `POST /api/poller`: the work document.
    pub async fn fetch_work(&self) -> Result<Value, String> {
        let url = format!("{}/api/poller", self.base_url);
        let body = json!({"api_key": self.api_key.expose(), "version": VERSION});
        let (status, text) = self.send(&url, &body).await?;
        if !status.is_success() {
            return Err(format!("{url} answered {status}: {}", error_message(&text)));
        }
        serde_json::from_str(&text).map_err(|e| {
            format!(
                "{url} answered a body that is not JSON ({e}): {}",
                excerpt(&text)
            )
        })
    }

    /// Adds a cycle's results to the pending set (replacing older results of the same
    /// hosts) and writes it to disk before anything is sent.
    pub fn add<'r>(
        &self,
        results: impl IntoIterator<Item = (&'r String, &'r HostResult)>,
        time_taken: u64,
    ) -> std::io::Result<()> {
        let mut pending = self.pending.lock();
        for (id, r) in results {
            let text = serde_json::to_string(r).expect("results serialise");
            pending.results.insert(id.clone(), text);
        }
        pending.time_taken = time_taken;
        save_pending(&self.pending_file, &pending)
    }

    /// `POST /api/batch_poller` with every pending result, in bodies of at most
    /// `max_post_bytes` each (a larger cycle is several posts). Stops at the first post
    /// that fails; what was not accepted stays pending.
    pub async fn post(&self) -> PostOutcome {
        let (chunks, total) = {
            let p = self.pending.lock();
            let mut chunks: Vec<Vec<String>> = Vec::new();
            // The envelope (key, version, time taken) counts too.
            const ENVELOPE: usize = 256;
            let mut size = 0;
            for (id, text) in &p.results {
                if chunks.is_empty() || (size + text.len() > self.max_post_bytes && size > ENVELOPE)
                {
                    chunks.push(Vec::new());
                    size = ENVELOPE;
                }
                size += text.len() + id.len() + 4;
                chunks.last_mut().expect("pushed").push(id.clone());
            }
            (chunks, p.results.len())
        };
        if total == 0 {
            return PostOutcome::Delivered(0);
        }
        let mut delivered = 0;
        for ids in chunks {
            match self.post_chunk(&ids).await {
                PostOutcome::Delivered(n) => delivered += n,
                failed => return failed,
            }
        }
        PostOutcome::Delivered(delivered)
    }

    async fn post_chunk(&self, ids: &[String]) -> PostOutcome {
        let (body, snapshot, time_taken) = {
            let p = self.pending.lock();
            let ids: Vec<&String> = ids
                .iter()
                .filter(|id| p.results.contains_key(*id))
                .collect();
            let snapshot: BTreeMap<String, String> = ids
                .iter()
                .map(|id| ((*id).clone(), p.results[*id].clone()))
                .collect();
            (p.body(self.api_key.expose(), &ids), snapshot, p.time_taken)
        };
        let url = format!("{}/api/batch_poller", self.base_url);
        let failed = |reason: String| PostOutcome::Failed {
            reason,
            pending: self.pending_hosts(),
        };
        let (status, text) = match self.send_text(&url, body).await {
            Ok(r) => r,
            Err(e) => return failed(e),
        };
        // Sonar's rate-limit answer is a 200 with an error body, like its GraphQL endpoint.
        let limited = text.contains("\"error\"") && text.to_ascii_lowercase().contains("limit");
        if status.is_success() && !limited {
            let mut p = self.pending.lock();
            // Keep results that a newer cycle put in while this post was in flight.
            p.results.retain(|id, v| snapshot.get(id) != Some(v));
            if let Err(e) = save_pending(&self.pending_file, &p) {
                tracing::warn!("cannot update {}: {e}", self.pending_file.display());
            }
            return PostOutcome::Delivered(snapshot.len());
        }
        if status == reqwest::StatusCode::BAD_REQUEST
            || status == reqwest::StatusCode::UNPROCESSABLE_ENTITY
        {
            let reason = format!("{status}: {}", error_message(&text));
            return match self.set_aside(&snapshot, time_taken) {
                Ok(saved_to) => {
                    tracing::error!(file = %saved_to.display(), "Sonar rejected the results: {reason}");
                    PostOutcome::Rejected { reason, saved_to }
                }
                Err(e) => failed(format!("{reason}; and they could not be set aside: {e}")),
            };
        }
        let reason = if limited {
            format!("rate limited: {}", error_message(&text))
        } else {
            format!("{status}: {}", error_message(&text))
        };
        failed(reason)
    }

    fn set_aside(
        &self,
        snapshot: &BTreeMap<String, String>,
        time_taken: u64,
    ) -> std::io::Result<PathBuf> {
        let stamp = crate::clock::now_unix_ms();
        let name = format!(
            "{}.rejected-{stamp}.json",
            self.pending_file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("sonar-pending")
        );
        let path = self.pending_file.with_file_name(name);
        let aside = Pending {
            results: snapshot.clone(),
            time_taken,
        };
        save_pending(&path, &aside)?;
        let mut p = self.pending.lock();
        p.results.retain(|id, v| snapshot.get(id) != Some(v));
        save_pending(&self.pending_file, &p)?;
        Ok(path)
    }

    async fn send(&self, url: &str, body: &Value) -> Result<(reqwest::StatusCode, String), String> {
        self.send_text(url, body.to_string()).await
    }

    async fn send_text(
        &self,
        url: &str,
        body: String,
    ) -> Result<(reqwest::StatusCode, String), String> {
        let response = self
            .client
            .post(url)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| crate::engines::http::classify(url, e).message)?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("{url}: reading the answer: {e}"))?;
        Ok((status, text))
    }
}

/// Sonar's `{"error":{"message":...}}` (or `{"error":"..."}`), else the start of the body.
fn error_message(text: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let message = parsed.as_ref().and_then(|v| {
        let e = v.get("error")?;
        e.get("message")
            .and_then(Value::as_str)
            .or_else(|| e.as_str())
            .map(str::to_string)
    });
    message.unwrap_or_else(|| excerpt(text))
}

fn excerpt(text: &str) -> String {
    let t: String = text.chars().take(200).collect();
    if t.is_empty() {
        "(empty body)".into()
    } else {
        t
    }
}

fn load_pending(path: &Path) -> Result<Pending, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Pending::default()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let parsed: Result<Value, _> = serde_json::from_str(&text);
    match parsed {
        Ok(v) => Ok(Pending {
            results: v
                .get("results")
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
                .unwrap_or_default(),
            time_taken: v.get("time_taken").and_then(Value::as_u64).unwrap_or(0),
        }),
        Err(e) => {
            // Keep the bytes for the operator; start with an empty set.
            let aside = path.with_extension("corrupt");
            let _ = std::fs::rename(path, &aside);
            tracing::error!(
                "{} is not valid JSON ({e}); moved to {} and starting empty",
                path.display(),
                aside.display()
            );
            Ok(Pending::default())
        }
    }
}

/// Writes atomically: a temporary file beside it, fsync, rename.
fn save_pending(path: &Path, pending: &Pending) -> std::io::Result<()> {
    if pending.results.is_empty() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    let ids: Vec<&String> = pending.results.keys().collect();
    let mut w = std::io::BufWriter::new(tmp.as_file_mut());
    write!(w, "{{\"time_taken\":{},\"results\":{{", pending.time_taken)?;
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            w.write_all(b",")?;
        }
        write!(w, "{}:{}", Value::from(id.as_str()), pending.results[*id])?;
    }
    w.write_all(b"}}")?;
    w.flush()?;
    drop(w);
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sonar_poller::checks::IcmpResult;

    fn result(loss: f64) -> HostResult {
        HostResult {
            icmp: Some(IcmpResult {
                low: None,
                high: None,
                median: None,
                loss_percentage: loss,
            }),
            snmp: None,
        }
    }

    #[test]
    fn pending_results_survive_a_restart_and_newer_ones_replace_older() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pending.json");
        let open = || {
            Delivery::new(
                "http://127.0.0.1:9".into(),
                Secret::new("k"),
                Duration::from_secs(1),
                file.clone(),
                1 << 20,
            )
            .unwrap()
        };
        let d = open();
        let (one, two) = ("1".to_string(), "2".to_string());
        d.add([(&one, &result(100.0)), (&two, &result(0.0))], 3)
            .unwrap();
        d.add([(&one, &result(10.0))], 4).unwrap();
        drop(d);
        let d = open();
        assert_eq!(d.pending_hosts(), 2);
        let p = d.pending.lock();
        let one: Value = serde_json::from_str(&p.results["1"]).unwrap();
        assert_eq!(one["icmp"]["loss_percentage"], 10.0);
        assert_eq!(p.time_taken, 4);
    }

    #[test]
    fn a_corrupt_pending_file_is_set_aside_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pending.json");
        std::fs::write(&file, "{not json").unwrap();
        let d = Delivery::new(
            "http://x".into(),
            Secret::new("k"),
            Duration::from_secs(1),
            file.clone(),
            1 << 20,
        )
        .unwrap();
        assert_eq!(d.pending_hosts(), 0);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("pending.corrupt")).unwrap(),
            "{not json"
        );
    }
}
