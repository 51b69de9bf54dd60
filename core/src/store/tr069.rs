//! The TR-069 cache's table: each CPE's entry as JSON text by address, written in batches
//! and read back by time (the cache's own module, `tr069::persist`, says what the JSON is).

use super::sql::{Column, Statement, Value};
use super::{Store, StoreError};
use std::net::IpAddr;

/// One change of the table: an entry (its JSON and when it was last heard), or its removal.
#[derive(Debug, Clone)]
pub enum Tr069Row {
    /// The entry at this address now.
    Save {
        /// The CPE's address.
        address: IpAddr,
        /// Its entry, as JSON.
        json: String,
        /// When anything was last heard of it, ms since the Unix epoch.
        heard_unix_ms: u64,
    },
    /// Nothing is held at this address any more.
    Remove(IpAddr),
}

impl Store {
    /// Writes the rows in one transaction, stamped with this host's name.
    pub async fn write_tr069(&self, rows: &[Tr069Row]) -> Result<(), StoreError> {
        let statements: Vec<Statement> = rows
            .iter()
            .map(|row| match row {
                Tr069Row::Save {
                    address,
                    json,
                    heard_unix_ms,
                } => (
                    "INSERT INTO tr069_cpes (address, cpe, heard_unix_ms, written_by)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (address) DO UPDATE SET cpe = excluded.cpe,
                       heard_unix_ms = excluded.heard_unix_ms, written_by = excluded.written_by",
                    vec![
                        Value::Text(Some(address.to_string())),
                        Value::Text(Some(json.clone())),
                        Value::Int(Some(*heard_unix_ms as i64)),
                        Value::Text(self.polled_by.clone()),
                    ],
                ),
                Tr069Row::Remove(address) => (
                    "DELETE FROM tr069_cpes WHERE address = $1",
                    vec![Value::Text(Some(address.to_string()))],
                ),
            })
            .collect();
        if statements.is_empty() {
            return Ok(());
        }
        Ok(self
            .db
            .transaction("writing the TR-069 cache", None, statements)
            .await?)
    }

    /// The stored entries (address, JSON) heard after `since_unix_ms`, except those this
    /// host wrote (all of them with `others_only` false), oldest first. A row whose address
    /// does not parse is skipped with a warning naming it.
    pub async fn tr069_rows(
        &self,
        since_unix_ms: u64,
        others_only: bool,
    ) -> Result<Vec<(IpAddr, String)>, StoreError> {
        let since = Value::Int(Some(since_unix_ms as i64));
        let (sql, params) = match self.polled_by.clone().filter(|_| others_only) {
            Some(me) => (
                "SELECT address, cpe FROM tr069_cpes
                 WHERE heard_unix_ms > $1 AND (written_by IS NULL OR written_by <> $2)
                 ORDER BY heard_unix_ms",
                vec![since, Value::Text(Some(me))],
            ),
            None => (
                "SELECT address, cpe FROM tr069_cpes WHERE heard_unix_ms > $1 ORDER BY heard_unix_ms",
                vec![since],
            ),
        };
        let rows = self
            .db
            .query(
                "reading the TR-069 cache",
                sql,
                params,
                &[Column::Text, Column::Text],
            )
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut row = row.into_iter();
            let address = row.next().and_then(Value::text).unwrap_or_default();
            let json = row.next().and_then(Value::text).unwrap_or_default();
            match address.parse::<IpAddr>() {
                Ok(a) => out.push((a, json)),
                Err(_) => {
                    tracing::warn!(store = %self.describe(), "tr069_cpes: skipping a row whose address {address:?} is not an IP address")
                }
            }
        }
        Ok(out)
    }
}
