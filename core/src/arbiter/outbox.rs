//! The durable outbox: every plan is written before it is applied, and every change's
//! outcome after. SQLite in WAL mode with full sync: a crash or power loss never loses a
//! plan that was about to be sent.
//!
//! Idempotence comes from reconciliation: a plan left unfinished by a crash is marked
//! superseded at the next cycle, which plans again from a fresh snapshot of the sink, so what
//! was applied is not applied twice and what was not is planned again.

use efi_plugin_api::sink::{ChangeOutcome, ChangeResult, ChangeSet};
use rusqlite::{params, Connection};
use std::path::Path;
use std::sync::Mutex;

/// Outbox counts, for logs, `/metrics` and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxStats {
    /// Changes waiting to be applied.
    pub pending: u64,
    /// Changes applied.
    pub applied: u64,
    /// Changes that failed.
    pub failed: u64,
    /// Plans held by a guard.
    pub held_plans: u64,
    /// Plans superseded after an interruption.
    pub superseded_plans: u64,
}

/// The outbox.
pub struct Outbox {
    db: Mutex<Connection>,
}

/// Opens the outbox database (WAL, full sync) and creates `schema` when missing.
fn open_db(path: &Path, schema: &str) -> Result<Connection, OutboxError> {
    let wrap = |source| OutboxError {
        file: path.display().to_string(),
        source,
    };
    let db = Connection::open(path).map_err(wrap)?;
    db.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; {schema}"
    ))
    .map_err(wrap)?;
    Ok(db)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An outbox failure, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("outbox {file}: {source}")]
pub struct OutboxError {
    file: String,
    #[source]
    source: rusqlite::Error,
}

impl Outbox {
    /// Opens (creating when needed) the outbox file.
    pub fn open(path: &Path) -> Result<Outbox, OutboxError> {
        let db = open_db(
            path,
            "CREATE TABLE IF NOT EXISTS plans (
                 id TEXT PRIMARY KEY,
                 created_ms INTEGER NOT NULL,
                 status TEXT NOT NULL,
                 held_reason TEXT
             );
             CREATE TABLE IF NOT EXISTS changes (
                 plan_id TEXT NOT NULL REFERENCES plans(id),
                 seq INTEGER NOT NULL,
                 change_id TEXT NOT NULL,
                 action TEXT NOT NULL,
                 status TEXT NOT NULL,
                 attempts INTEGER NOT NULL DEFAULT 0,
                 error TEXT,
                 remote_id TEXT,
                 PRIMARY KEY (plan_id, seq)
             );
             CREATE INDEX IF NOT EXISTS changes_status ON changes(status);",
        )?;
        Ok(Outbox { db: Mutex::new(db) })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks plans a crash left unfinished as superseded; returns how many.
    pub fn supersede_unfinished(&self) -> rusqlite::Result<usize> {
        let db = self.db();
        db.execute(
            "UPDATE changes SET status = 'superseded' WHERE status = 'pending'",
            [],
        )?;
        db.execute(
            "UPDATE plans SET status = 'superseded' WHERE status = 'applying'",
            [],
        )
    }

    /// Records a plan before it is applied (one transaction, synced).
    pub fn record(&self, plan: &ChangeSet) -> rusqlite::Result<()> {
        let mut db = self.db();
        let tx = db.transaction()?;
        tx.execute(
            "INSERT INTO plans (id, created_ms, status) VALUES (?1, ?2, 'applying')",
            params![plan.plan_id, now_ms()],
        )?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO changes (plan_id, seq, change_id, action, status) VALUES (?1, ?2, ?3, ?4, 'pending')",
            )?;
            for (seq, c) in plan.changes.iter().enumerate() {
                let action = serde_json::to_string(&c.action).unwrap_or_default();
                stmt.execute(params![plan.plan_id, seq as i64, c.id, action])?;
            }
        }
        tx.commit()
    }

    /// Records a plan that a guard held.
    pub fn record_held(&self, plan: &ChangeSet, reason: &str) -> rusqlite::Result<()> {
        self.db().execute(
            "INSERT INTO plans (id, created_ms, status, held_reason) VALUES (?1, ?2, 'held', ?3)",
            params![plan.plan_id, now_ms(), reason],
        )?;
        Ok(())
    }

    /// Records each change's outcome and closes the plan.
    pub fn acknowledge(&self, plan_id: &str, results: &[ChangeResult]) -> rusqlite::Result<()> {
        let mut db = self.db();
        let tx = db.transaction()?;
        {
            let mut stmt = tx.prepare(
                "UPDATE changes SET status = ?3, attempts = attempts + 1, error = ?4, remote_id = ?5
                 WHERE plan_id = ?1 AND change_id = ?2",
            )?;
            for r in results {
                let (status, error, remote) = match &r.outcome {
                    ChangeOutcome::Applied { remote_id } => ("applied", None, remote_id.clone()),
                    ChangeOutcome::Failed { error, .. } => ("failed", Some(error.clone()), None),
                };
                stmt.execute(params![plan_id, r.change_id, status, error, remote])?;
            }
        }
        // Anything the sink did not report on did not happen.
        tx.execute(
            "UPDATE changes SET status = 'failed', error = 'not reported by the sink' WHERE plan_id = ?1 AND status = 'pending'",
            params![plan_id],
        )?;
        tx.execute(
            "UPDATE plans SET status = 'done' WHERE id = ?1",
            params![plan_id],
        )?;
        tx.commit()
    }

    /// Counts by state.
    pub fn stats(&self) -> rusqlite::Result<OutboxStats> {
        let db = self.db();
        let count = |sql: &str| {
            db.query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
        };
        Ok(OutboxStats {
            pending: count("SELECT COUNT(*) FROM changes WHERE status = 'pending'")?,
            applied: count("SELECT COUNT(*) FROM changes WHERE status = 'applied'")?,
            failed: count("SELECT COUNT(*) FROM changes WHERE status = 'failed'")?,
            held_plans: count("SELECT COUNT(*) FROM plans WHERE status = 'held'")?,
            superseded_plans: count("SELECT COUNT(*) FROM plans WHERE status = 'superseded'")?,
        })
    }

    /// Change IDs applied so far, in order (for tests and audits).
    pub fn applied_change_ids(&self) -> rusqlite::Result<Vec<String>> {
        let db = self.db();
        let mut stmt = db.prepare(
            "SELECT c.change_id FROM changes c JOIN plans p ON p.id = c.plan_id
             WHERE c.status = 'applied' ORDER BY p.created_ms, c.seq",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use efi_plugin_api::sink::{Change, ChangeAction};

    fn plan(id: &str) -> ChangeSet {
        ChangeSet {
            plan_id: id.into(),
            changes: vec![
                Change {
                    id: "delete:1".into(),
                    action: ChangeAction::DeleteAssignment {
                        assignment_id: "1".into(),
                        ip: "10.45.0.1".parse().unwrap(),
                    },
                },
                Change {
                    id: "delete:2".into(),
                    action: ChangeAction::DeleteAssignment {
                        assignment_id: "2".into(),
                        ip: "10.45.0.2".parse().unwrap(),
                    },
                },
            ],
        }
    }

    #[test]
    fn a_plan_survives_a_crash_and_is_superseded_on_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.db");
        {
            let o = Outbox::open(&path).unwrap();
            o.record(&plan("p1")).unwrap();
            // crash: no acknowledge
        }
        let o = Outbox::open(&path).unwrap();
        assert_eq!(o.stats().unwrap().pending, 2, "the plan was durable");
        assert_eq!(o.supersede_unfinished().unwrap(), 1);
        assert_eq!(o.stats().unwrap().pending, 0);
        assert_eq!(o.stats().unwrap().superseded_plans, 1);

        o.record(&plan("p2")).unwrap();
        o.acknowledge(
            "p2",
            &[ChangeResult {
                change_id: "delete:1".into(),
                outcome: ChangeOutcome::Applied { remote_id: None },
            }],
        )
        .unwrap();
        let s = o.stats().unwrap();
        assert_eq!(
            (s.applied, s.failed, s.pending),
            (1, 1, 0),
            "unreported = failed"
        );
        assert_eq!(o.applied_change_ids().unwrap(), ["delete:1"]);
    }
}

/// The durable log of pushed events: a webhook is answered 200 only once its event is on
/// disk. Writes from concurrent webhooks are group-committed by one writer thread (one
/// fsync per batch), which is what makes thousands of durable events per second possible.
pub struct EventLog {
    tx: std::sync::mpsc::Sender<(EventRow, tokio::sync::oneshot::Sender<Result<(), String>>)>,
}

/// One pushed event as received.
#[derive(Debug, Clone)]
pub struct EventRow {
    /// Source name.
    pub source: String,
    /// When it arrived, microseconds since the Unix epoch.
    pub received_us: i64,
    /// The raw body.
    pub body: Vec<u8>,
}

/// Most events one transaction holds.
const MAX_EVENTS_PER_COMMIT: usize = 4096;

impl EventLog {
    /// Opens (creating when needed) the log in the outbox file and starts its writer.
    pub fn open(path: &Path) -> Result<EventLog, OutboxError> {
        let file = path.display().to_string();
        let mut db = open_db(
            path,
            "CREATE TABLE IF NOT EXISTS events (
                 id INTEGER PRIMARY KEY,
                 source TEXT NOT NULL,
                 received_us INTEGER NOT NULL,
                 body BLOB NOT NULL
             );",
        )?;
        let (tx, rx) = std::sync::mpsc::channel::<(
            EventRow,
            tokio::sync::oneshot::Sender<Result<(), String>>,
        )>();
        std::thread::Builder::new()
            .name("efi-event-log".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_EVENTS_PER_COMMIT {
                        match rx.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    let result =
                        Self::write(&mut db, &batch).map_err(|e| format!("event log {file}: {e}"));
                    for (_, done) in batch {
                        let _ = done.send(result.clone());
                    }
                }
            })
            .map_err(|e| OutboxError {
                file: path.display().to_string(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        Ok(EventLog { tx })
    }

    fn write(
        db: &mut Connection,
        batch: &[(EventRow, tokio::sync::oneshot::Sender<Result<(), String>>)],
    ) -> rusqlite::Result<()> {
        let tx = db.transaction()?;
        {
            let mut stmt =
                tx.prepare("INSERT INTO events (source, received_us, body) VALUES (?1, ?2, ?3)")?;
            for (row, _) in batch {
                stmt.execute(params![row.source, row.received_us, row.body])?;
            }
        }
        tx.commit()
    }

    /// Appends an event and resolves once it is committed to disk.
    pub async fn append(&self, row: EventRow) -> Result<(), String> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .send((row, done))
            .map_err(|_| "the event log writer stopped".to_owned())?;
        wait.await
            .map_err(|_| "the event log writer stopped".to_owned())?
    }

    /// Events logged so far (for tests and audits).
    pub fn count(path: &Path) -> rusqlite::Result<u64> {
        let db = Connection::open(path)?;
        db.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
    }
}
