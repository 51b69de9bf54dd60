//! The durable store, in SQLite (one file, WAL; the default) or PostgreSQL (`[store] url`),
//! with one schema and numbered migrations shared by both: each device's latest state and a
//! window of per-poll history (written in batches by the poller, which never waits for the
//! database), and the database that the IPAM outbox, the push journal and the cluster keep
//! their own tables in ([`Store::database`]).

pub mod pg_tls;
pub mod sql;
mod tr069;
pub use tr069::Tr069Row;

use crate::config::StoreConfig;
use efi_plugin_api::DeviceRecord;
use serde::Serialize;
use sql::{Column, Database, SqlError, Statement, Value};
use std::net::IpAddr;

/// One schema change. Applied in order, each in a transaction with its row in
/// `efi_schema_migrations`; never edited once released (add a new one instead).
pub struct Migration {
    /// Increasing from 1.
    pub version: i64,
    /// What it does.
    pub name: &'static str,
    /// The statements, in SQL both databases read.
    pub sql: &'static [&'static str],
}

/// The schema, oldest change first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "devices and their history",
        sql: &[
            "CREATE TABLE devices (
            address TEXT PRIMARY KEY,
            driver TEXT,
            record TEXT,
            polled_at_unix_s BIGINT NOT NULL,
            last_ok_unix_s BIGINT,
            last_error TEXT
        )",
            "CREATE TABLE device_history (
            address TEXT NOT NULL,
            at_unix_s BIGINT NOT NULL,
            error TEXT,
            rsrp_dbm DOUBLE PRECISION,
            rsrq_db DOUBLE PRECISION,
            sinr_db DOUBLE PRECISION,
            rssi_dbm DOUBLE PRECISION,
            rx_rate_bps DOUBLE PRECISION,
            tx_rate_bps DOUBLE PRECISION,
            uptime_s BIGINT,
            PRIMARY KEY (address, at_unix_s)
        )",
            "CREATE INDEX device_history_by_time ON device_history (at_unix_s)",
        ],
    },
    Migration {
        version: 2,
        name: "several hosts on one database",
        sql: &[
            "ALTER TABLE device_history ADD COLUMN polled_by TEXT",
            "CREATE TABLE cluster_hosts (
                host_id TEXT PRIMARY KEY,
                heartbeat_unix_ms BIGINT NOT NULL,
                started_unix_ms BIGINT NOT NULL
            )",
            "CREATE TABLE cluster_targets (
                address TEXT PRIMARY KEY,
                target TEXT NOT NULL
            )",
        ],
    },
    Migration {
        version: 3,
        name: "the IPAM outbox and the push journal",
        sql: &[
            "CREATE TABLE outbox_plans (
                id TEXT PRIMARY KEY,
                created_unix_ms BIGINT NOT NULL,
                status TEXT NOT NULL,
                held_reason TEXT,
                planned_by TEXT
            )",
            "CREATE INDEX outbox_plans_by_time ON outbox_plans (created_unix_ms)",
            "CREATE TABLE outbox_changes (
                plan_id TEXT NOT NULL REFERENCES outbox_plans (id),
                seq BIGINT NOT NULL,
                change_id TEXT NOT NULL,
                action TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts BIGINT NOT NULL DEFAULT 0,
                error TEXT,
                remote_id TEXT,
                PRIMARY KEY (plan_id, seq)
            )",
            "CREATE INDEX outbox_changes_by_status ON outbox_changes (status)",
            "CREATE TABLE pushed_events (
                source TEXT NOT NULL,
                received_unix_us BIGINT NOT NULL,
                received_by TEXT,
                body BYTEA NOT NULL
            )",
            "CREATE INDEX pushed_events_by_time ON pushed_events (received_unix_us)",
        ],
    },
    Migration {
        version: 4,
        name: "devices no driver recognised",
        sql: &["ALTER TABLE devices ADD COLUMN unidentified BIGINT NOT NULL DEFAULT 0"],
    },
    Migration {
        version: 5,
        name: "the TR-069 cache",
        sql: &[
            "CREATE TABLE tr069_cpes (
                address TEXT PRIMARY KEY,
                cpe TEXT NOT NULL,
                heard_unix_ms BIGINT NOT NULL,
                written_by TEXT
            )",
            "CREATE INDEX tr069_cpes_by_time ON tr069_cpes (heard_unix_ms)",
        ],
    },
    Migration {
        version: 6,
        // The sink's result for each change is written by (plan, change id): without this
        // index each update scanned the plan's changes, quadratic in the plan's size (a
        // 20,000-CPE initial sync's 60,000 results took minutes of CPU; bench/fleet.sh).
        name: "outbox results found by change",
        sql: &["CREATE INDEX outbox_changes_by_change ON outbox_changes (plan_id, change_id)"],
    },
];

/// The advisory lock that serialises migrations of hosts sharing one PostgreSQL.
const MIGRATION_LOCK: i64 = 0x00ef_1d00_0001;

/// What is known about one device.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceState {
    /// The polled address.
    pub address: IpAddr,
    /// The driver of the last successful poll.
    pub driver: Option<String>,
    /// The last successful record.
    pub record: Option<DeviceRecord>,
    /// When the last poll finished (Unix seconds).
    pub polled_at_unix_s: i64,
    /// When a poll last succeeded (Unix seconds).
    pub last_ok_unix_s: Option<i64>,
    /// Why the last poll failed; absent when it succeeded.
    pub last_error: Option<String>,
    /// True when no driver recognised the model: only a generic fallback driver (standard
    /// MIB-II) polls it. Install its vendor's driver to get its radio fields.
    pub unidentified: bool,
}

impl DeviceState {
    /// True when the last poll succeeded.
    pub fn up(&self) -> bool {
        self.last_error.is_none() && self.record.is_some()
    }
}

/// One point of a device's history: the outcome of one poll.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryPoint {
    /// When the poll finished (Unix seconds).
    pub at_unix_s: i64,
    /// Why it failed; absent when it succeeded.
    pub error: Option<String>,
    /// RSRP, dBm.
    pub rsrp_dbm: Option<f64>,
    /// RSRQ, dB.
    pub rsrq_db: Option<f64>,
    /// SINR, dB.
    pub sinr_db: Option<f64>,
    /// RSSI, dBm.
    pub rssi_dbm: Option<f64>,
    /// Downlink rate, bit/s.
    pub rx_rate_bps: Option<f64>,
    /// Uplink rate, bit/s.
    pub tx_rate_bps: Option<f64>,
    /// Device uptime, seconds.
    pub uptime_s: Option<i64>,
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// The database holds a schema newer than this binary knows.
    #[error("store {database}: its schema is at version {found}, newer than this efi-poller knows ({known}); run the newer efi-poller or point store.url elsewhere")]
    TooNew {
        /// The database.
        database: String,
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
}

/// The store.
#[derive(Clone)]
pub struct Store {
    db: Database,
    polled_by: Option<String>,
}

/// The columns of `devices`, in the order of the queries below.
const DEVICE_COLUMNS: &[Column] = &[
    Column::Text,
    Column::Text,
    Column::Text,
    Column::Int,
    Column::Int,
    Column::Text,
    Column::Int,
];

const HISTORY_COLUMNS: &[Column] = &[
    Column::Int,
    Column::Text,
    Column::Float,
    Column::Float,
    Column::Float,
    Column::Float,
    Column::Float,
    Column::Float,
    Column::Int,
];

impl Store {
    /// Opens the store of `config` and brings its schema up to date.
    pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        let db = Database::open_with(
            config.url.expose(),
            &config.schema,
            config.sslmode,
            config.ca_file.as_deref(),
        )
        .await?;
        let store = Store {
            db,
            polled_by: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Names this host in the history points it writes (`polled_by`).
    pub fn with_poller_name(mut self, name: impl Into<String>) -> Store {
        self.polled_by = Some(name.into());
        self
    }

    /// The name this host writes into what it records (`with_poller_name`).
    pub fn poller_name(&self) -> Option<&str> {
        self.polled_by.as_deref()
    }

    /// The database, for the cluster's, the outbox's and the push journal's own tables.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The database, described without secrets.
    pub fn describe(&self) -> String {
        self.db.describe()
    }

    /// "sqlite" or "postgres".
    pub fn kind(&self) -> &'static str {
        self.db.kind()
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let rows = self
            .db
            .query(
                "reading the schema version",
                "SELECT MAX(version) FROM efi_schema_migrations",
                vec![],
                &[Column::Int],
            )
            .await?;
        Ok(rows.first().and_then(|r| r[0].int()).unwrap_or(0))
    }

    /// Applies the migrations the database lacks, each in its own transaction (under an
    /// advisory lock on PostgreSQL, so hosts starting together migrate once).
    async fn migrate(&self) -> Result<(), StoreError> {
        // Under the migration lock: CREATE TABLE IF NOT EXISTS is not atomic either.
        self.db
            .transaction(
                "creating the migrations table",
                Some(MIGRATION_LOCK),
                vec![(
                    "CREATE TABLE IF NOT EXISTS efi_schema_migrations (
                        version BIGINT PRIMARY KEY,
                        name TEXT NOT NULL,
                        applied_unix_s BIGINT NOT NULL
                    )",
                    vec![],
                )],
            )
            .await?;
        let known = MIGRATIONS.last().map_or(0, |m| m.version);
        let found = self.schema_version().await?;
        if found > known {
            return Err(StoreError::TooNew {
                database: self.describe(),
                found,
                known,
            });
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > found) {
            let mut statements: Vec<Statement> = m.sql.iter().map(|s| (*s, vec![])).collect();
            // Another host may have applied it while this one waited for the lock: the
            // primary key makes the second attempt fail, and the re-read below settles it.
            statements.push((
                "INSERT INTO efi_schema_migrations (version, name, applied_unix_s) VALUES ($1, $2, $3)",
                vec![
                    Value::Int(Some(m.version)),
                    Value::Text(Some(m.name.to_owned())),
                    Value::Int(Some(crate::clock::now_unix_s())),
                ],
            ));
            let doing = format!("applying migration {} ({})", m.version, m.name);
            if let Err(e) = self
                .db
                .transaction(&doing, Some(MIGRATION_LOCK), statements)
                .await
            {
                if self.schema_version().await? >= m.version {
                    continue;
                }
                return Err(e.into());
            }
            // A scratch database (`:memory:`, a dry run's) is new every time: not news.
            if self.describe().ends_with(":memory:") {
                tracing::debug!(store = %self.describe(), "schema migrated to version {}: {}", m.version, m.name);
            } else {
                tracing::info!(store = %self.describe(), "schema migrated to version {}: {}", m.version, m.name);
            }
        }
        Ok(())
    }

    /// Writes a batch: each `Save` replaces the device's latest state (and adds a history
    /// point when `history` is on), each `Forget` removes the device (its history stays
    /// until pruned). One transaction: all or nothing.
    pub async fn write(&self, batch: &[DeviceWrite], history: bool) -> Result<(), StoreError> {
        let mut statements: Vec<Statement> = Vec::with_capacity(batch.len() * 2);
        for item in batch {
            match item {
                DeviceWrite::Save(d) => {
                    let record = d
                        .record
                        .as_ref()
                        .map(|r| serde_json::to_string(r).expect("a record serialises"));
                    statements.push((
                        "INSERT INTO devices (address, driver, record, polled_at_unix_s, last_ok_unix_s, last_error, unidentified)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (address) DO UPDATE SET driver = excluded.driver,
                           record = excluded.record, polled_at_unix_s = excluded.polled_at_unix_s,
                           last_ok_unix_s = excluded.last_ok_unix_s, last_error = excluded.last_error,
                           unidentified = excluded.unidentified",
                        vec![
                            Value::Text(Some(d.address.to_string())),
                            Value::Text(d.driver.clone()),
                            Value::Text(record),
                            Value::Int(Some(d.polled_at_unix_s)),
                            Value::Int(d.last_ok_unix_s),
                            Value::Text(d.last_error.clone()),
                            Value::Int(Some(i64::from(d.unidentified))),
                        ],
                    ));
                    if history {
                        let p = history_point(d);
                        statements.push((
                            "INSERT INTO device_history (address, at_unix_s, error, rsrp_dbm, rsrq_db, sinr_db, rssi_dbm, rx_rate_bps, tx_rate_bps, uptime_s, polled_by)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                             ON CONFLICT (address, at_unix_s) DO UPDATE SET error = excluded.error, polled_by = excluded.polled_by,
                               rsrp_dbm = excluded.rsrp_dbm, rsrq_db = excluded.rsrq_db, sinr_db = excluded.sinr_db,
                               rssi_dbm = excluded.rssi_dbm, rx_rate_bps = excluded.rx_rate_bps,
                               tx_rate_bps = excluded.tx_rate_bps, uptime_s = excluded.uptime_s",
                            vec![
                                Value::Text(Some(d.address.to_string())),
                                Value::Int(Some(p.at_unix_s)),
                                Value::Text(p.error),
                                Value::Float(p.rsrp_dbm),
                                Value::Float(p.rsrq_db),
                                Value::Float(p.sinr_db),
                                Value::Float(p.rssi_dbm),
                                Value::Float(p.rx_rate_bps),
                                Value::Float(p.tx_rate_bps),
                                Value::Int(p.uptime_s),
                                Value::Text(self.polled_by.clone()),
                            ],
                        ));
                    }
                }
                DeviceWrite::Forget(address) => statements.push((
                    "DELETE FROM devices WHERE address = $1",
                    vec![Value::Text(Some(address.to_string()))],
                )),
            }
        }
        if statements.is_empty() {
            return Ok(());
        }
        Ok(self
            .db
            .transaction("writing device state", None, statements)
            .await?)
    }

    /// Every stored device's latest state. A row that cannot be read (an address or record
    /// this binary does not understand) is skipped with a warning naming it.
    pub async fn devices(&self) -> Result<Vec<DeviceState>, StoreError> {
        let rows = self
            .db
            .query(
                "reading devices",
                "SELECT address, driver, record, polled_at_unix_s, last_ok_unix_s, last_error, unidentified FROM devices ORDER BY address",
                vec![],
                DEVICE_COLUMNS,
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut row = row.into_iter();
            let mut next = || row.next().expect("as many values as columns");
            let address = next().text().unwrap_or_default();
            let Ok(address) = address.parse::<IpAddr>() else {
                tracing::warn!(store = %self.describe(), "devices: skipping a row whose address {address:?} is not an IP address");
                continue;
            };
            let driver = next().text();
            let record = match next().text() {
                Some(json) => match serde_json::from_str::<DeviceRecord>(&json) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::warn!(store = %self.describe(), %address, "devices: the stored record does not parse ({e}); the device is loaded without it");
                        None
                    }
                },
                None => None,
            };
            let polled_at_unix_s = next().int().unwrap_or(0);
            let last_ok_unix_s = next().int();
            let last_error = next().text();
            let unidentified = next().int().unwrap_or(0) != 0;
            out.push(DeviceState {
                address,
                driver,
                record,
                polled_at_unix_s,
                last_ok_unix_s,
                last_error,
                unidentified,
            });
        }
        Ok(out)
    }

    /// A device's history since `since_unix_s`, newest first, at most `limit` points.
    pub async fn history(
        &self,
        address: IpAddr,
        since_unix_s: i64,
        limit: u32,
    ) -> Result<Vec<HistoryPoint>, StoreError> {
        let rows = self
            .db
            .query(
                "reading a device's history",
                "SELECT at_unix_s, error, rsrp_dbm, rsrq_db, sinr_db, rssi_dbm, rx_rate_bps, tx_rate_bps, uptime_s
                 FROM device_history WHERE address = $1 AND at_unix_s >= $2
                 ORDER BY at_unix_s DESC LIMIT $3",
                vec![
                    Value::Text(Some(address.to_string())),
                    Value::Int(Some(since_unix_s)),
                    Value::Int(Some(i64::from(limit))),
                ],
                HISTORY_COLUMNS,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let mut row = row.into_iter();
                let mut next = || row.next().expect("as many values as columns");
                HistoryPoint {
                    at_unix_s: next().int().unwrap_or(0),
                    error: next().text(),
                    rsrp_dbm: next().float(),
                    rsrq_db: next().float(),
                    sinr_db: next().float(),
                    rssi_dbm: next().float(),
                    rx_rate_bps: next().float(),
                    tx_rate_bps: next().float(),
                    uptime_s: next().int(),
                }
            })
            .collect())
    }

    /// Deletes history points older than `before_unix_s`; returns how many.
    pub async fn prune_history(&self, before_unix_s: i64) -> Result<u64, StoreError> {
        Ok(self
            .db
            .execute(
                "pruning history",
                "DELETE FROM device_history WHERE at_unix_s < $1",
                vec![Value::Int(Some(before_unix_s))],
            )
            .await?)
    }
}

/// The history point of a device's state.
pub fn history_point(d: &DeviceState) -> HistoryPoint {
    let r = d.record.as_ref().filter(|_| d.last_error.is_none());
    HistoryPoint {
        at_unix_s: d.polled_at_unix_s,
        error: d.last_error.clone(),
        rsrp_dbm: r.and_then(|r| r.rsrp_dbm),
        rsrq_db: r.and_then(|r| r.rsrq_db),
        sinr_db: r.and_then(|r| r.sinr_db),
        rssi_dbm: r.and_then(|r| r.rssi_dbm),
        rx_rate_bps: r.and_then(|r| r.rx_rate_bps),
        tx_rate_bps: r.and_then(|r| r.tx_rate_bps),
        uptime_s: r.and_then(|r| r.uptime_s).map(|u| u as i64),
    }
}

/// A change of a device's state to write.
#[derive(Debug, Clone)]
pub enum DeviceWrite {
    /// A device's state after a poll.
    Save(Box<DeviceState>),
    /// A device no longer polled.
    Forget(IpAddr),
}
