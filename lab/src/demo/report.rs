//! What the demo shows each cycle: efi-poller's device records, read from its REST API as
//! any other system would, one row per address the EPC has in use.

use anyhow::Context as _;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// efi-poller's REST API.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// The API at `addr`, with the bearer token of `token_file` when the demo set one.
    pub fn new(addr: SocketAddr, token_file: Option<&Path>) -> anyhow::Result<Client> {
        let token = match token_file {
            Some(f) => Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("reading {}", f.display()))?
                    .trim()
                    .to_owned(),
            ),
            None => None,
        };
        Ok(Client {
            http: crate::http_client(),
            base: format!("http://{addr}"),
            token,
        })
    }

    /// Every device efi-poller holds, by address.
    pub async fn devices(&self) -> anyhow::Result<BTreeMap<IpAddr, Value>> {
        let mut request = self.http.get(format!("{}/api/v1/devices", self.base));
        if let Some(t) = &self.token {
            request = request.bearer_auth(t);
        }
        let list: Vec<Value> = request
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .context("reading efi-poller's /api/v1/devices")?
            .json()
            .await
            .context("reading efi-poller's /api/v1/devices")?;
        Ok(list
            .into_iter()
            .filter_map(|d| Some((d["address"].as_str()?.parse().ok()?, d)))
            .collect())
    }

    /// Resolves once every address of `in_use` has been polled (or `within` passed).
    pub async fn first_polls(&self, in_use: Vec<IpAddr>, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            if let Ok(devices) = self.devices().await {
                if in_use.iter().all(|a| devices.contains_key(a)) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// One cycle's table.
pub struct Table {
    rows: Vec<Vec<String>>,
    /// Addresses in use.
    pub in_use: usize,
    /// Devices whose last poll succeeded.
    pub up: usize,
    /// Devices whose last poll failed.
    pub down: usize,
}

const HEADERS: [&str; 10] = [
    "ADDRESS", "DRIVER", "MODEL", "HOSTNAME", "MAC", "IMEI", "RSRP_DBM", "SINR_DB", "ENB/CELL",
    "UPTIME",
];

impl Table {
    /// The rows of the addresses in use, from what efi-poller holds.
    pub fn new(in_use: &[IpAddr], devices: &BTreeMap<IpAddr, Value>) -> Table {
        let (mut up, mut down) = (0, 0);
        let rows = in_use
            .iter()
            .map(|address| match devices.get(address) {
                None => vec![address.to_string(), "-".into(), "(not polled yet)".into()],
                Some(d) if d["last_error"].is_string() => {
                    down += 1;
                    vec![
                        address.to_string(),
                        text(&d["driver"]),
                        format!("error: {}", text(&d["last_error"])),
                    ]
                }
                Some(d) => {
                    up += 1;
                    let r = &d["record"];
                    vec![
                        address.to_string(),
                        text(&d["driver"]),
                        text(&r["model"]),
                        text(&r["hostname"]),
                        text(&r["identity"]["mac"]),
                        text(&r["identity"]["imei"]),
                        text(&r["rsrp_dbm"]),
                        text(&r["sinr_db"]),
                        match (r["enb_id"].as_u64(), r["cell_id"].as_u64()) {
                            (Some(e), Some(c)) => format!("{e}/{c}"),
                            _ => "-".into(),
                        },
                        r["uptime_s"]
                            .as_u64()
                            .map(human_duration)
                            .unwrap_or_else(|| "-".into()),
                    ]
                }
            })
            .collect();
        Table {
            rows,
            in_use: in_use.len(),
            up,
            down,
        }
    }

    /// `cycle N: X addresses in use: U up, D down`.
    pub fn summary(&self, cycle: u64) -> String {
        let waiting = self.in_use - self.up - self.down;
        format!(
            "cycle {cycle}: {} addresses in use: {} up, {} down{}",
            self.in_use,
            self.up,
            self.down,
            if waiting > 0 {
                format!(", {waiting} not polled yet")
            } else {
                String::new()
            }
        )
    }

    /// The rows under their headers, columns padded to their widest cell.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let headers: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let last = row.len() - 1;
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == last {
                        c.clone()
                    } else {
                        format!("{c:<0$}", widths[i])
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// A JSON value as a cell: strings as they are, numbers as written, absent as `-`.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h {m}m")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{m}m {s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_follow_what_efi_poller_holds() {
        let a: IpAddr = "127.10.0.1".parse().unwrap();
        let b: IpAddr = "127.10.0.2".parse().unwrap();
        let c: IpAddr = "127.10.0.3".parse().unwrap();
        let devices = BTreeMap::from([
            (
                a,
                json!({"address": "127.10.0.1", "driver": "hello-driver", "last_error": null,
                       "record": {"model": "box", "hostname": "cpe-001", "identity": {"mac": "02:ef"},
                                  "enb_id": 1, "cell_id": 2, "uptime_s": 3700}}),
            ),
            (
                b,
                json!({"address": "127.10.0.2", "driver": null, "last_error": "no answer"}),
            ),
        ]);
        let t = Table::new(&[a, b, c], &devices);
        assert_eq!((t.up, t.down), (1, 1));
        assert_eq!(
            t.summary(3),
            "cycle 3: 3 addresses in use: 1 up, 1 down, 1 not polled yet"
        );
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ADDRESS     DRIVER"), "{text}");
        assert!(
            lines[1].starts_with("127.10.0.1  hello-driver  box") && lines[1].ends_with("1h 1m"),
            "{text}"
        );
        assert!(lines[2].ends_with("error: no answer"), "{text}");
        assert!(lines[3].ends_with("(not polled yet)"), "{text}");
    }
}
