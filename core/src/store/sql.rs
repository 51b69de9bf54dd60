//! One small SQL surface over two databases: SQLite (rusqlite, one file in WAL mode) and
//! PostgreSQL (tokio-postgres). The store writes its statements once, with `$1`-style
//! placeholders and portable types (BIGINT, DOUBLE PRECISION, TEXT), and this module runs
//! them on whichever database `[store] url` names.

use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::Arc;

/// A statement parameter or a column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// BIGINT.
    Int(Option<i64>),
    /// DOUBLE PRECISION.
    Float(Option<f64>),
    /// TEXT.
    Text(Option<String>),
    /// BYTEA (a BLOB in SQLite).
    Bytes(Option<Vec<u8>>),
}

impl Value {
    /// The integer, or `None` for NULL or another type.
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => *v,
            _ => None,
        }
    }
    /// The float, or `None` for NULL or another type.
    pub fn float(&self) -> Option<f64> {
        match self {
            Value::Float(v) => *v,
            _ => None,
        }
    }
    /// The text, or `None` for NULL or another type.
    pub fn text(self) -> Option<String> {
        match self {
            Value::Text(v) => v,
            _ => None,
        }
    }
    /// The bytes, or `None` for NULL or another type.
    pub fn bytes(self) -> Option<Vec<u8>> {
        match self {
            Value::Bytes(v) => v,
            _ => None,
        }
    }
}

/// The type of a column read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// BIGINT.
    Int,
    /// DOUBLE PRECISION.
    Float,
    /// TEXT.
    Text,
    /// BYTEA (a BLOB in SQLite).
    Bytes,
}

/// A database failure, naming the database (never its password) and what was being done.
#[derive(Debug, thiserror::Error)]
#[error("store {database}: {doing}: {message}")]
pub struct SqlError {
    /// The database, described without secrets.
    pub database: String,
    /// What was being done.
    pub doing: String,
    /// The database's own message.
    pub message: String,
}

/// The advisory lock serialising the creation of the schema by hosts starting together.
const SCHEMA_LOCK: i64 = 0x00ef_1d00_0000;

/// A statement and its parameters.
pub type Statement = (&'static str, Vec<Value>);

/// A connection to one of the two databases.
#[derive(Clone)]
pub enum Database {
    /// SQLite: one connection, used on the blocking pool.
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The connection.
        conn: Arc<Mutex<rusqlite::Connection>>,
    },
    /// PostgreSQL: one connection, reopened after it breaks.
    Postgres(Arc<Postgres>),
}

/// A PostgreSQL connection and what is needed to reopen it.
pub struct Postgres {
    config: tokio_postgres::Config,
    /// TLS to the server, unless `sslmode` is `disable`.
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    schema: String,
    described: String,
    client: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
}

/// `postgres://user@host:5432/db` with the password left out.
fn describe_postgres(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

fn to_sqlite(sql: &str) -> String {
    // `$1` and `?1` both mean "the first parameter"; rusqlite binds by position.
    sql.replace('$', "?")
}

fn sqlite_value(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as V;
    match v {
        Value::Int(Some(i)) => V::Integer(*i),
        Value::Float(Some(f)) => V::Real(*f),
        Value::Text(Some(s)) => V::Text(s.clone()),
        Value::Bytes(Some(b)) => V::Blob(b.clone()),
        Value::Int(None) | Value::Float(None) | Value::Text(None) | Value::Bytes(None) => V::Null,
    }
}

fn pg_params(values: &[Value]) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    values
        .iter()
        .map(|v| -> &(dyn tokio_postgres::types::ToSql + Sync) {
            match v {
                Value::Int(i) => i,
                Value::Float(f) => f,
                Value::Text(s) => s,
                Value::Bytes(b) => b,
            }
        })
        .collect()
}

impl Database {
    /// Opens the database `url` names: `postgres://...` or `postgresql://...` for
    /// PostgreSQL (tables in `schema`, created when missing), else a SQLite file
    /// (`sqlite:PATH`, `sqlite://PATH` or a bare path).
    pub async fn open(url: &str, schema: &str) -> Result<Database, SqlError> {
        Database::open_with(url, schema, None, None).await
    }

    /// [`Database::open`] with PostgreSQL's TLS (`[store] sslmode` and `ca_file`; see
    /// [`super::pg_tls`]).
    pub async fn open_with(
        url: &str,
        schema: &str,
        sslmode: Option<crate::config::PgSslMode>,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Database, SqlError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut config: tokio_postgres::Config = url.parse().map_err(|e| SqlError {
                database: "postgres (store.url)".into(),
                doing: "reading the URL".into(),
                message: format!("{e}"),
            })?;
            let described = describe_postgres(&config);
            let mode = crate::config::PgSslMode::effective(&config, sslmode);
            config.ssl_mode(super::pg_tls::wire_mode(mode));
            let tls = super::pg_tls::connector(mode, ca_file).map_err(|message| SqlError {
                database: described.clone(),
                doing: "setting up TLS".into(),
                message,
            })?;
            if !crate::config::check::is_identifier(schema) {
                return Err(SqlError {
                    database: described,
                    doing: "checking store.schema".into(),
                    message: format!(
                        "{schema:?} is not a plain schema name (lower-case letters, digits, _)"
                    ),
                });
            }
            let pg = Postgres {
                config,
                tls,
                schema: schema.to_owned(),
                described,
                client: tokio::sync::Mutex::new(None),
            };
            // Connect now, so a wrong URL stops the start with its reason.
            drop(pg.client().await?);
            return Ok(Database::Postgres(Arc::new(pg)));
        }
        let path = PathBuf::from(
            url.strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url),
        );
        let p = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<_, rusqlite::Error> {
            let conn = rusqlite::Connection::open(&p)?;
            // Full sync: the IPAM outbox and the push journal live here too, and a plan or
            // an acknowledged webhook must survive a power loss, not only a crash. Writes are
            // batched (device state per flush, pushes group-committed), so the cost is one
            // fsync per batch.
            conn.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
            )?;
            Ok(conn)
        })
        .await
        .expect("the SQLite open task does not panic")
        .map_err(|e| SqlError {
            database: format!("sqlite:{}", path.display()),
            doing: "opening the file".into(),
            message: e.to_string(),
        })?;
        Ok(Database::Sqlite {
            path,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The database, described without secrets (for logs and errors).
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite { path, .. } => format!("sqlite:{}", path.display()),
            Database::Postgres(pg) => pg.described.clone(),
        }
    }

    /// Which kind of database this is: "sqlite" or "postgres".
    pub fn kind(&self) -> &'static str {
        match self {
            Database::Sqlite { .. } => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }

    fn error(&self, doing: &str, message: impl ToString) -> SqlError {
        SqlError {
            database: self.describe(),
            doing: doing.to_owned(),
            message: message.to_string(),
        }
    }

    /// A PostgreSQL connection of its own, schema selected, for session-level state (an
    /// advisory lock held as long as the connection lives); `None` on SQLite.
    pub async fn dedicated(&self) -> Result<Option<tokio_postgres::Client>, SqlError> {
        match self {
            Database::Sqlite { .. } => Ok(None),
            Database::Postgres(pg) => pg.connect().await.map(Some),
        }
    }

    /// Runs `work` with the SQLite connection, on the blocking pool.
    async fn on_sqlite<T: Send + 'static>(
        &self,
        conn: &Arc<Mutex<rusqlite::Connection>>,
        doing: &str,
        work: impl FnOnce(&mut rusqlite::Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, SqlError> {
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock();
            work(&mut conn)
        })
        .await
        .expect("the SQLite task does not panic")
        .map_err(|e| self.error(doing, e))
    }

    /// Runs `statements` in one transaction: all or none. `lock`: a PostgreSQL advisory
    /// lock key held for the transaction (schema migrations), ignored by SQLite, whose
    /// writers are serialised by the file lock.
    pub async fn transaction(
        &self,
        doing: &str,
        lock: Option<i64>,
        statements: Vec<Statement>,
    ) -> Result<(), SqlError> {
        match self {
            Database::Sqlite { conn, .. } => {
                self.on_sqlite(conn, doing, move |conn| {
                    let tx = conn.transaction()?;
                    for (sql, values) in &statements {
                        let mut st = tx.prepare_cached(&to_sqlite(sql))?;
                        st.execute(rusqlite::params_from_iter(values.iter().map(sqlite_value)))?;
                    }
                    tx.commit()
                })
                .await
            }
            Database::Postgres(pg) => {
                let mut guard = pg.client().await?;
                let client = guard.as_mut().expect("client() leaves a client");
                let result = async {
                    let tx = client.transaction().await?;
                    if let Some(key) = lock {
                        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])
                            .await?;
                    }
                    if lock.is_some() {
                        // Schema changes: one at a time (a statement may use what the one
                        // before it created).
                        for (sql, values) in &statements {
                            tx.execute(*sql, &pg_params(values)).await?;
                        }
                    } else {
                        // Data: each distinct statement is prepared once, then every row is
                        // sent before the first answer is awaited (tokio-postgres queues them
                        // on the one connection, the server runs them in order), so a batch
                        // costs a round trip per distinct statement, not one per row.
                        let mut prepared: Vec<(&str, tokio_postgres::Statement)> = Vec::new();
                        for (sql, _) in &statements {
                            if !prepared.iter().any(|(s, _)| s == sql) {
                                prepared.push((sql, tx.prepare(sql).await?));
                            }
                        }
                        let params: Vec<_> = statements.iter().map(|(_, v)| pg_params(v)).collect();
                        let pending = &tx;
                        let prepared = &prepared;
                        futures::future::try_join_all(statements.iter().zip(&params).map(
                            |((sql, _), p)| async move {
                                let (_, statement) = prepared
                                    .iter()
                                    .find(|(s, _)| s == sql)
                                    .expect("every statement was prepared above");
                                pending.execute(statement, p).await
                            },
                        ))
                        .await?;
                    }
                    tx.commit().await
                }
                .await;
                pg.settle(&mut guard, result)
                    .map_err(|e| self.error(doing, e))
            }
        }
    }

    /// Runs a statement in a transaction of its own; returns the rows it changed.
    pub async fn execute(
        &self,
        doing: &str,
        sql: &'static str,
        values: Vec<Value>,
    ) -> Result<u64, SqlError> {
        match self {
            Database::Sqlite { conn, .. } => {
                self.on_sqlite(conn, doing, move |conn| {
                    let mut st = conn.prepare_cached(&to_sqlite(sql))?;
                    st.execute(rusqlite::params_from_iter(values.iter().map(sqlite_value)))
                        .map(|n| n as u64)
                })
                .await
            }
            Database::Postgres(pg) => {
                let mut guard = pg.client().await?;
                let client = guard.as_mut().expect("client() leaves a client");
                let result = client.execute(sql, &pg_params(&values)).await;
                pg.settle(&mut guard, result)
                    .map_err(|e| self.error(doing, e))
            }
        }
    }

    /// Runs a query; each row comes back as values of the `columns` types, in order.
    pub async fn query(
        &self,
        doing: &str,
        sql: &'static str,
        values: Vec<Value>,
        columns: &'static [Column],
    ) -> Result<Vec<Vec<Value>>, SqlError> {
        match self {
            Database::Sqlite { conn, .. } => {
                self.on_sqlite(conn, doing, move |conn| {
                    let mut st = conn.prepare_cached(&to_sqlite(sql))?;
                    let rows = st.query_map(
                        rusqlite::params_from_iter(values.iter().map(sqlite_value)),
                        |row| {
                            columns
                                .iter()
                                .enumerate()
                                .map(|(i, c)| {
                                    Ok(match c {
                                        Column::Int => Value::Int(row.get(i)?),
                                        Column::Float => Value::Float(row.get(i)?),
                                        Column::Text => Value::Text(row.get(i)?),
                                        Column::Bytes => Value::Bytes(row.get(i)?),
                                    })
                                })
                                .collect::<Result<Vec<_>, _>>()
                        },
                    )?;
                    rows.collect()
                })
                .await
            }
            Database::Postgres(pg) => {
                let mut guard = pg.client().await?;
                let client = guard.as_mut().expect("client() leaves a client");
                let result = client.query(sql, &pg_params(&values)).await;
                let rows = pg
                    .settle(&mut guard, result)
                    .map_err(|e| self.error(doing, e))?;
                rows.iter()
                    .map(|row| {
                        columns
                            .iter()
                            .enumerate()
                            .map(|(i, c)| {
                                Ok(match c {
                                    Column::Int => Value::Int(row.try_get(i)?),
                                    Column::Float => Value::Float(row.try_get(i)?),
                                    Column::Text => Value::Text(row.try_get(i)?),
                                    Column::Bytes => Value::Bytes(row.try_get(i)?),
                                })
                            })
                            .collect::<Result<Vec<_>, tokio_postgres::Error>>()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| self.error(doing, e))
            }
        }
    }
}

impl Postgres {
    /// The open connection, opening one (and setting the schema) when there is none or the
    /// last one broke.
    async fn client(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<tokio_postgres::Client>>, SqlError> {
        let mut guard = self.client.lock().await;
        if guard.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(guard);
        }
        *guard = Some(self.connect().await?);
        Ok(guard)
    }

    /// A new connection with the schema selected (created when missing).
    async fn connect(&self) -> Result<tokio_postgres::Client, SqlError> {
        let fail = |doing: &str, e: tokio_postgres::Error| SqlError {
            database: self.described.clone(),
            doing: doing.to_owned(),
            message: pg_message(&e),
        };
        let described = self.described.clone();
        let client = match &self.tls {
            None => {
                let (client, connection) = self
                    .config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| fail("connecting", e))?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!("store {described}: connection closed: {}", pg_message(&e));
                    }
                });
                client
            }
            Some(tls) => {
                let (client, connection) = self
                    .config
                    .connect(tls.clone())
                    .await
                    .map_err(|e| fail("connecting over TLS", e))?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!("store {described}: connection closed: {}", pg_message(&e));
                    }
                });
                client
            }
        };
        // The schema name was checked to be a plain identifier. Hosts starting together
        // would race on CREATE SCHEMA IF NOT EXISTS (it is not atomic): an advisory lock
        // serialises them (released with the connection if this fails). One statement per
        // call: a multi-statement call is one transaction, which would commit the schema
        // only after the unlock.
        for statement in [
            format!("SELECT pg_advisory_lock({SCHEMA_LOCK})"),
            format!("CREATE SCHEMA IF NOT EXISTS {}", self.schema),
            format!("SELECT pg_advisory_unlock({SCHEMA_LOCK})"),
            format!("SET search_path TO {}", self.schema),
        ] {
            client
                .batch_execute(&statement)
                .await
                .map_err(|e| fail("selecting the schema", e))?;
        }
        Ok(client)
    }

    /// Passes `result` on; after a failure that closed the connection, drops it so the next
    /// call reconnects.
    fn settle<T>(
        &self,
        guard: &mut Option<tokio_postgres::Client>,
        result: Result<T, tokio_postgres::Error>,
    ) -> Result<T, String> {
        result.map_err(|e| {
            if guard.as_ref().is_none_or(|c| c.is_closed()) || e.is_closed() {
                *guard = None;
            }
            pg_message(&e)
        })
    }
}

/// The server's message when there is one (tokio-postgres' Display says only "db error").
fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_is_described_without_its_password() {
        let config: tokio_postgres::Config = "postgres://efi:hunter2@db.example:6543/ipam"
            .parse()
            .unwrap();
        let d = describe_postgres(&config);
        assert_eq!(d, "postgres://efi@db.example:6543/ipam");
        assert!(!d.contains("hunter2"));
    }
}
