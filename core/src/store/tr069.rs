//! The TR-069 cache in the store: each CPE's entry as JSON by address, written in batches
//! off the proxy's path, read at start and, in a cluster, from the other hosts.

use super::sql::{Column, Statement, Value};
use super::{Store, StoreError};
use crate::tr069::cache::{Cpe, CpeWrite};
use std::net::IpAddr;

impl Store {
    /// Writes the cache's changes in one transaction, stamped with this host's name.
    pub async fn write_tr069(&self, writes: &[CpeWrite]) -> Result<(), StoreError> {
        let statements: Vec<Statement> = writes
            .iter()
            .map(|w| match w {
                CpeWrite::Save(address, cpe) => (
                    "INSERT INTO tr069_cpes (address, cpe, heard_unix_ms, written_by)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (address) DO UPDATE SET cpe = excluded.cpe,
                       heard_unix_ms = excluded.heard_unix_ms, written_by = excluded.written_by",
                    vec![
                        Value::Text(Some(address.to_string())),
                        Value::Text(Some(
                            serde_json::to_string(cpe).expect("a cache entry serialises"),
                        )),
                        Value::Int(Some(cpe.heard_unix_ms() as i64)),
                        Value::Text(self.polled_by.clone()),
                    ],
                ),
                CpeWrite::Remove(address) => (
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

    /// The stored CPEs heard after `since_unix_ms`, except those this host wrote (all of
    /// them with `others_only` false), oldest first. A row that does not parse is skipped
    /// with a warning naming it.
    pub async fn tr069_cpes(
        &self,
        since_unix_ms: u64,
        others_only: bool,
    ) -> Result<Vec<(IpAddr, Cpe)>, StoreError> {
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
            match (
                address.parse::<IpAddr>(),
                serde_json::from_str::<Cpe>(&json),
            ) {
                (Ok(a), Ok(cpe)) => out.push((a, cpe)),
                (Err(_), _) => {
                    tracing::warn!(store = %self.describe(), "tr069_cpes: skipping a row whose address {address:?} is not an IP address")
                }
                (Ok(a), Err(e)) => {
                    tracing::warn!(store = %self.describe(), address = %a, "tr069_cpes: skipping an entry that does not parse: {e}")
                }
            }
        }
        Ok(out)
    }
}
