//! The durable outbox and the push journal, in the store (SQLite or PostgreSQL, the tables
//! of schema version 3): every plan is written before it is applied and every change's
//! outcome after; every pushed event is written before its webhook is answered.
//!
//! Idempotence comes from reconciliation: a plan left unfinished by a crash (or by an
//! arbiter that died, in a cluster) is marked superseded at the next cycle, which plans
//! again from a fresh snapshot of the sink, so what was applied is not applied twice and
//! what was not is planned again.

use crate::store::sql::{Column, Database, SqlError, Statement, Value};
use crate::store::Store;
use efi_plugin_api::sink::{ChangeOutcome, ChangeResult, ChangeSet};
use serde::Serialize;

/// Outbox counts, for logs, `/metrics` and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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

/// One recorded plan, for `/api/v1/plans`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanSummary {
    /// The plan's ID.
    pub id: String,
    /// When it was planned (Unix milliseconds).
    pub created_unix_ms: i64,
    /// `applying`, `done`, `held` or `superseded`.
    pub status: String,
    /// Why a guard held it.
    pub held_reason: Option<String>,
    /// The host that planned it.
    pub planned_by: Option<String>,
    /// Its changes.
    pub changes: u64,
    /// Of which applied.
    pub applied: u64,
    /// Of which failed.
    pub failed: u64,
}

/// One change of a recorded plan, for `/api/v1/plans/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedChange {
    /// The change's ID (stable across plans: the same change planned again has the same ID).
    pub change_id: String,
    /// What it does, as the sink received it.
    pub action: serde_json::Value,
    /// `pending`, `applied`, `failed` or `superseded`.
    pub status: String,
    /// Times it was sent.
    pub attempts: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// The ID the sink gave what it created.
    pub remote_id: Option<String>,
}

/// The outbox.
#[derive(Clone)]
pub struct Outbox {
    db: Database,
    host: Option<String>,
}

const PLAN_COLUMNS: &[Column] = &[
    Column::Text,
    Column::Int,
    Column::Text,
    Column::Text,
    Column::Text,
    Column::Int,
    Column::Int,
    Column::Int,
];

const CHANGE_COLUMNS: &[Column] = &[
    Column::Text,
    Column::Text,
    Column::Text,
    Column::Int,
    Column::Text,
    Column::Text,
];

impl Outbox {
    /// The outbox in `store` (its tables exist once the store is open); plans are signed
    /// with the store's poller name.
    pub fn new(store: &Store) -> Outbox {
        Outbox {
            db: store.database().clone(),
            host: store.poller_name().map(str::to_owned),
        }
    }

    /// Marks plans a crash left unfinished as superseded; returns how many.
    pub async fn supersede_unfinished(&self) -> Result<u64, SqlError> {
        let unfinished = self
            .db
            .query(
                "counting unfinished plans",
                "SELECT COUNT(*) FROM outbox_plans WHERE status = 'applying'",
                vec![],
                &[Column::Int],
            )
            .await?
            .first()
            .and_then(|r| r[0].int())
            .unwrap_or(0);
        if unfinished == 0 {
            return Ok(0);
        }
        self.db
            .transaction(
                "superseding unfinished plans",
                None,
                vec![
                    (
                        "UPDATE outbox_changes SET status = 'superseded' WHERE status = 'pending'",
                        vec![],
                    ),
                    (
                        "UPDATE outbox_plans SET status = 'superseded' WHERE status = 'applying'",
                        vec![],
                    ),
                ],
            )
            .await?;
        Ok(unfinished as u64)
    }

    /// Records a plan before it is applied (one transaction, synced).
    pub async fn record(&self, plan: &ChangeSet) -> Result<(), SqlError> {
        let mut statements: Vec<Statement> = vec![(
            "INSERT INTO outbox_plans (id, created_unix_ms, status, planned_by) VALUES ($1, $2, 'applying', $3)",
            vec![
                Value::Text(Some(plan.plan_id.clone())),
                Value::Int(Some(crate::clock::now_unix_ms())),
                Value::Text(self.host.clone()),
            ],
        )];
        for (seq, c) in plan.changes.iter().enumerate() {
            let action = serde_json::to_string(&c.action).expect("a change action serialises");
            statements.push((
                "INSERT INTO outbox_changes (plan_id, seq, change_id, action, status) VALUES ($1, $2, $3, $4, 'pending')",
                vec![
                    Value::Text(Some(plan.plan_id.clone())),
                    Value::Int(Some(seq as i64)),
                    Value::Text(Some(c.id.clone())),
                    Value::Text(Some(action)),
                ],
            ));
        }
        self.db
            .transaction("recording a plan", None, statements)
            .await
    }

    /// Records a plan that a guard held.
    pub async fn record_held(&self, plan: &ChangeSet, reason: &str) -> Result<(), SqlError> {
        self.db
            .execute(
                "recording a held plan",
                "INSERT INTO outbox_plans (id, created_unix_ms, status, held_reason, planned_by) VALUES ($1, $2, 'held', $3, $4)",
                vec![
                    Value::Text(Some(plan.plan_id.clone())),
                    Value::Int(Some(crate::clock::now_unix_ms())),
                    Value::Text(Some(reason.to_owned())),
                    Value::Text(self.host.clone()),
                ],
            )
            .await
            .map(drop)
    }

    /// Records each change's outcome and closes the plan (one transaction).
    pub async fn acknowledge(
        &self,
        plan_id: &str,
        results: &[ChangeResult],
    ) -> Result<(), SqlError> {
        let mut statements: Vec<Statement> = Vec::with_capacity(results.len() + 2);
        for r in results {
            let (status, error, remote) = match &r.outcome {
                ChangeOutcome::Applied { remote_id } => ("applied", None, remote_id.clone()),
                ChangeOutcome::Failed { error, .. } => ("failed", Some(error.clone()), None),
            };
            statements.push((
                "UPDATE outbox_changes SET status = $3, attempts = attempts + 1, error = $4, remote_id = $5
                 WHERE plan_id = $1 AND change_id = $2",
                vec![
                    Value::Text(Some(plan_id.to_owned())),
                    Value::Text(Some(r.change_id.clone())),
                    Value::Text(Some(status.to_owned())),
                    Value::Text(error),
                    Value::Text(remote),
                ],
            ));
        }
        // Anything the sink did not report on did not happen.
        statements.push((
            "UPDATE outbox_changes SET status = 'failed', error = 'not reported by the sink' WHERE plan_id = $1 AND status = 'pending'",
            vec![Value::Text(Some(plan_id.to_owned()))],
        ));
        statements.push((
            "UPDATE outbox_plans SET status = 'done' WHERE id = $1",
            vec![Value::Text(Some(plan_id.to_owned()))],
        ));
        self.db
            .transaction("acknowledging a plan", None, statements)
            .await
    }

    /// Counts by state.
    pub async fn stats(&self) -> Result<OutboxStats, SqlError> {
        let by_status = |sql: &'static str, doing: &'static str| async move {
            self.db
                .query(doing, sql, vec![], &[Column::Text, Column::Int])
                .await
                .map(|rows| {
                    rows.into_iter()
                        .filter_map(|mut r| {
                            let n = r[1].int()? as u64;
                            Some((r.swap_remove(0).text()?, n))
                        })
                        .collect::<std::collections::HashMap<String, u64>>()
                })
        };
        let changes = by_status(
            "SELECT status, COUNT(*) FROM outbox_changes GROUP BY status",
            "counting outbox changes",
        )
        .await?;
        let plans = by_status(
            "SELECT status, COUNT(*) FROM outbox_plans GROUP BY status",
            "counting outbox plans",
        )
        .await?;
        let of =
            |m: &std::collections::HashMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
        Ok(OutboxStats {
            pending: of(&changes, "pending"),
            applied: of(&changes, "applied"),
            failed: of(&changes, "failed"),
            held_plans: of(&plans, "held"),
            superseded_plans: of(&plans, "superseded"),
        })
    }

    /// The latest `limit` plans, newest first, with their change counts.
    pub async fn recent_plans(&self, limit: u32) -> Result<Vec<PlanSummary>, SqlError> {
        let rows = self
            .db
            .query(
                "reading recent plans",
                "SELECT p.id, p.created_unix_ms, p.status, p.held_reason, p.planned_by,
                   (SELECT COUNT(*) FROM outbox_changes c WHERE c.plan_id = p.id),
                   (SELECT COUNT(*) FROM outbox_changes c WHERE c.plan_id = p.id AND c.status = 'applied'),
                   (SELECT COUNT(*) FROM outbox_changes c WHERE c.plan_id = p.id AND c.status = 'failed')
                 FROM outbox_plans p ORDER BY p.created_unix_ms DESC, p.id DESC LIMIT $1",
                vec![Value::Int(Some(i64::from(limit)))],
                PLAN_COLUMNS,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let mut it = r.into_iter();
                let mut next = || it.next().expect("a row has every column asked for");
                PlanSummary {
                    id: next().text().unwrap_or_default(),
                    created_unix_ms: next().int().unwrap_or(0),
                    status: next().text().unwrap_or_default(),
                    held_reason: next().text(),
                    planned_by: next().text(),
                    changes: next().int().unwrap_or(0) as u64,
                    applied: next().int().unwrap_or(0) as u64,
                    failed: next().int().unwrap_or(0) as u64,
                }
            })
            .collect())
    }

    /// The changes of one plan, in plan order; `None` when no such plan was recorded.
    pub async fn plan_changes(
        &self,
        plan_id: &str,
    ) -> Result<Option<Vec<RecordedChange>>, SqlError> {
        let known = self
            .db
            .query(
                "reading a plan",
                "SELECT id FROM outbox_plans WHERE id = $1",
                vec![Value::Text(Some(plan_id.to_owned()))],
                &[Column::Text],
            )
            .await?;
        if known.is_empty() {
            return Ok(None);
        }
        let rows = self
            .db
            .query(
                "reading a plan's changes",
                "SELECT change_id, action, status, attempts, error, remote_id
                 FROM outbox_changes WHERE plan_id = $1 ORDER BY seq",
                vec![Value::Text(Some(plan_id.to_owned()))],
                CHANGE_COLUMNS,
            )
            .await?;
        Ok(Some(
            rows.into_iter()
                .map(|r| {
                    let mut it = r.into_iter();
                    let mut next = || it.next().expect("a row has every column asked for");
                    let change_id = next().text().unwrap_or_default();
                    let action = next().text().unwrap_or_default();
                    RecordedChange {
                        change_id,
                        // Written by `record` from a ChangeAction: JSON unless edited by hand.
                        action: serde_json::from_str(&action)
                            .unwrap_or(serde_json::Value::String(action)),
                        status: next().text().unwrap_or_default(),
                        attempts: next().int().unwrap_or(0),
                        error: next().text(),
                        remote_id: next().text(),
                    }
                })
                .collect(),
        ))
    }

    /// Change IDs applied so far, in order (for tests and audits).
    pub async fn applied_change_ids(&self) -> Result<Vec<String>, SqlError> {
        let rows = self
            .db
            .query(
                "reading applied changes",
                "SELECT c.change_id FROM outbox_changes c JOIN outbox_plans p ON p.id = c.plan_id
                 WHERE c.status = 'applied' ORDER BY p.created_unix_ms, c.seq",
                vec![],
                &[Column::Text],
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|mut r| r.swap_remove(0).text())
            .collect())
    }

    /// Events in the push journal (for tests and audits).
    pub async fn pushed_events(&self) -> Result<u64, SqlError> {
        let rows = self
            .db
            .query(
                "counting pushed events",
                "SELECT COUNT(*) FROM pushed_events",
                vec![],
                &[Column::Int],
            )
            .await?;
        Ok(rows.first().and_then(|r| r[0].int()).unwrap_or(0) as u64)
    }

    /// Removes finished plans (with their changes) older than `days`, and pushed events as
    /// old; a plan still being applied stays.
    pub async fn prune(&self, days: u64) -> Result<(), SqlError> {
        let before_ms = crate::clock::now_unix_ms() - (days.min(100_000) as i64) * 86_400_000;
        let old = || Value::Int(Some(before_ms));
        self.db
            .transaction(
                "pruning old plans and pushed events",
                None,
                vec![
                    (
                        "DELETE FROM outbox_changes WHERE plan_id IN
                           (SELECT id FROM outbox_plans WHERE created_unix_ms < $1 AND status <> 'applying')",
                        vec![old()],
                    ),
                    (
                        "DELETE FROM outbox_plans WHERE created_unix_ms < $1 AND status <> 'applying'",
                        vec![old()],
                    ),
                    (
                        "DELETE FROM pushed_events WHERE received_unix_us < $1",
                        vec![Value::Int(Some(before_ms.saturating_mul(1000)))],
                    ),
                ],
            )
            .await
    }
}

/// The durable journal of pushed events: a webhook is answered 200 only once its event is
/// committed. Writes from concurrent webhooks are group-committed by one writer task (one
/// transaction, one fsync, per batch), which is what makes thousands of durable events per
/// second possible.
pub struct EventLog {
    tx: tokio::sync::mpsc::UnboundedSender<(
        EventRow,
        tokio::sync::oneshot::Sender<Result<(), String>>,
    )>,
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
    /// Starts the journal's writer on the current Tokio runtime; it stops when the log is
    /// dropped.
    pub fn start(store: &Store) -> EventLog {
        let db = store.database().clone();
        let host = store.poller_name().map(str::to_owned);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(
            EventRow,
            tokio::sync::oneshot::Sender<Result<(), String>>,
        )>();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_EVENTS_PER_COMMIT {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let statements: Vec<Statement> = batch
                    .iter()
                    .map(|(row, _)| {
                        (
                            "INSERT INTO pushed_events (source, received_unix_us, received_by, body) VALUES ($1, $2, $3, $4)",
                            vec![
                                Value::Text(Some(row.source.clone())),
                                Value::Int(Some(row.received_us)),
                                Value::Text(host.clone()),
                                Value::Bytes(Some(row.body.clone())),
                            ],
                        )
                    })
                    .collect();
                let result = db
                    .transaction("journaling pushed events", None, statements)
                    .await
                    .map_err(|e| e.to_string());
                for (_, done) in batch {
                    let _ = done.send(result.clone());
                }
            }
        });
        EventLog { tx }
    }

    /// Appends an event and resolves once it is committed.
    pub async fn append(&self, row: EventRow) -> Result<(), String> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .send((row, done))
            .map_err(|_| "the push journal's writer stopped".to_owned())?;
        wait.await
            .map_err(|_| "the push journal's writer stopped".to_owned())?
    }
}
