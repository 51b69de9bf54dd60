//! The durable store, the same suite on a real SQLite file and a real PostgreSQL
//! (127.0.0.1:5432, database `test`; `EFI_TEST_POSTGRES` overrides the URL). Each PostgreSQL
//! test works in a schema of its own, dropped at the end.

use efi_core::arbiter::outbox::{EventLog, EventRow, Outbox};
use efi_core::config::{Secret, StoreConfig};
use efi_core::poller::persist::Writer;
use efi_core::poller::states::DeviceStates;
use efi_core::store::{DeviceState, DeviceWrite, Store, StoreError, MIGRATIONS};
use efi_plugin_api::sink::{Change, ChangeAction, ChangeOutcome, ChangeResult, ChangeSet};
use efi_plugin_api::{DeviceRecord, Identity};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

fn postgres_url() -> String {
    std::env::var("EFI_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A store of one kind for one test, and what removes it afterwards.
pub(crate) struct Scratch {
    pub(crate) config: StoreConfig,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<String>,
    /// The PostgreSQL server's URL, for the raw statements beside the store.
    pg_url: String,
}

impl Scratch {
    fn sqlite() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        Scratch {
            config: StoreConfig {
                url: Secret::new(format!("sqlite:{}", dir.path().join("state.db").display())),
                flush_interval_ms: 20,
                ..Default::default()
            },
            _dir: Some(dir),
            pg_schema: None,
            pg_url: String::new(),
        }
    }

    fn postgres() -> Scratch {
        Scratch::postgres_at(postgres_url())
    }

    /// A schema of its own on the PostgreSQL server at `url`.
    pub(crate) fn postgres_at(url: String) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let schema = format!(
            "efi_test_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        Scratch {
            config: StoreConfig {
                url: Secret::new(url.clone()),
                schema: schema.clone(),
                flush_interval_ms: 20,
                ..Default::default()
            },
            _dir: None,
            pg_schema: Some(schema),
            pg_url: url,
        }
    }

    async fn open(&self) -> Store {
        Store::open(&self.config).await.unwrap_or_else(|e| {
            panic!("opening the store failed (is PostgreSQL up? tests/setup.sh starts it): {e}")
        })
    }

    /// Runs raw SQL beside the store, as an operator's psql or sqlite3 would.
    async fn raw(&self, sql: &str) {
        match &self.pg_schema {
            Some(schema) => {
                let (client, conn) = tokio_postgres::connect(&self.pg_url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("SET search_path TO {schema}; {sql}"))
                    .await
                    .unwrap();
            }
            None => {
                let path = self
                    .config
                    .url
                    .expose()
                    .trim_start_matches("sqlite:")
                    .to_owned();
                let sql = sql.to_owned();
                tokio::task::spawn_blocking(move || {
                    let c = rusqlite::Connection::open(path).unwrap();
                    c.execute_batch(&sql).unwrap();
                })
                .await
                .unwrap();
            }
        }
    }

    async fn drop_schema(&self) {
        if let Some(schema) = &self.pg_schema {
            let (client, conn) = tokio_postgres::connect(&self.pg_url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await
                .unwrap();
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn good(address: &str, at: i64, rsrp: f64) -> DeviceState {
    DeviceState {
        address: ip(address),
        driver: Some("bec-ridgewave".into()),
        record: Some(DeviceRecord {
            vendor: Some("BEC Technologies".into()),
            model: Some("RidgeWave 6900".into()),
            hostname: Some("cpe-<b>jane</b>".into()),
            identity: Identity {
                mac: Some("60:03:47:00:00:01".into()),
                imei: Some("359876000000001".into()),
                ..Default::default()
            },
            rsrp_dbm: Some(rsrp),
            sinr_db: Some(17.5),
            rx_rate_bps: Some(12_000_000.0),
            uptime_s: Some(86_400),
            enb_id: Some(1234),
            cell_id: Some(2),
            ..Default::default()
        }),
        polled_at_unix_s: at,
        last_ok_unix_s: Some(at),
        last_error: None,
        unidentified: false,
    }
}

fn failed(address: &str, at: i64, last_ok: Option<i64>) -> DeviceState {
    DeviceState {
        address: ip(address),
        driver: Some("hello-driver".into()),
        record: None,
        polled_at_unix_s: at,
        last_ok_unix_s: last_ok,
        last_error: Some("SNMP 10.0.0.1:161: no answer after 2 tries".into()),
        // Only the generic MIB-II driver knew it.
        unidentified: true,
    }
}

fn same(a: &DeviceState, b: &DeviceState) {
    assert_eq!(a.address, b.address);
    assert_eq!(a.driver, b.driver);
    assert_eq!(a.record, b.record);
    assert_eq!(a.polled_at_unix_s, b.polled_at_unix_s);
    assert_eq!(a.last_ok_unix_s, b.last_ok_unix_s);
    assert_eq!(a.last_error, b.last_error);
    assert_eq!(a.unidentified, b.unidentified);
}

async fn migrations_bring_an_empty_database_to_the_latest_schema_once(s: Scratch) {
    let store = s.open().await;
    let latest = MIGRATIONS.last().unwrap().version;
    assert_eq!(store.schema_version().await.unwrap(), latest);
    // Opening again applies nothing and keeps the data.
    store
        .write(
            &[DeviceWrite::Save(Box::new(good("10.0.0.1", 1000, -90.0)))],
            true,
        )
        .await
        .unwrap();
    let again = s.open().await;
    assert_eq!(again.schema_version().await.unwrap(), latest);
    assert_eq!(again.devices().await.unwrap().len(), 1);

    // A database written by a newer efi-poller is refused, naming both versions.
    s.raw(&format!(
        "INSERT INTO efi_schema_migrations (version, name, applied_unix_s) VALUES ({}, 'from the future', 0)",
        latest + 1
    ))
    .await;
    match Store::open(&s.config).await {
        Err(e @ StoreError::TooNew { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&format!("version {}", latest + 1)), "{text}");
            assert!(text.contains(&format!("({latest})")), "{text}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
    s.drop_schema().await;
}

pub(crate) async fn latest_state_round_trips_and_forget_keeps_history(s: Scratch) {
    let store = s.open().await;
    let a = good("10.0.0.1", 1000, -91.5);
    let b = failed("10.0.0.2", 1000, None);
    let a_later = good("10.0.0.1", 1060, -88.25);
    store
        .write(
            &[
                DeviceWrite::Save(Box::new(a.clone())),
                DeviceWrite::Save(Box::new(b.clone())),
                DeviceWrite::Save(Box::new(a_later.clone())),
            ],
            true,
        )
        .await
        .unwrap();
    let devices = store.devices().await.unwrap();
    assert_eq!(devices.len(), 2, "one row per device: {devices:?}");
    same(&devices[0], &a_later);
    same(&devices[1], &b);

    store
        .write(&[DeviceWrite::Forget(ip("10.0.0.1"))], true)
        .await
        .unwrap();
    let devices = store.devices().await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].address, ip("10.0.0.2"));
    let history = store.history(ip("10.0.0.1"), 0, 100).await.unwrap();
    assert_eq!(
        history.len(),
        2,
        "a forgotten device's history stays until pruned"
    );
    s.drop_schema().await;
}

async fn history_is_newest_first_windowed_limited_and_pruned(s: Scratch) {
    let store = s.open().await;
    let mut batch = Vec::new();
    for i in 0..10i64 {
        let at = 10_000 + i * 60;
        batch.push(DeviceWrite::Save(Box::new(if i == 4 {
            failed("10.0.0.7", at, Some(10_000 + 3 * 60))
        } else {
            good("10.0.0.7", at, -100.0 + i as f64)
        })));
    }
    // The same second twice: one point, the later state.
    batch.push(DeviceWrite::Save(Box::new(good(
        "10.0.0.7",
        10_000 + 9 * 60,
        -42.0,
    ))));
    batch.push(DeviceWrite::Save(Box::new(good("10.0.0.8", 10_000, -70.0))));
    store.write(&batch, true).await.unwrap();

    let all = store.history(ip("10.0.0.7"), 0, 100).await.unwrap();
    assert_eq!(all.len(), 10);
    assert!(
        all.windows(2).all(|w| w[0].at_unix_s > w[1].at_unix_s),
        "newest first"
    );
    assert_eq!(
        all[0].rsrp_dbm,
        Some(-42.0),
        "the later write of the same second wins"
    );
    assert_eq!(all[0].sinr_db, Some(17.5));
    assert_eq!(all[0].rx_rate_bps, Some(12_000_000.0));
    assert_eq!(all[0].uptime_s, Some(86_400));
    let bad = all.iter().find(|p| p.at_unix_s == 10_240).unwrap();
    assert!(bad.error.as_deref().unwrap().contains("no answer"));
    assert_eq!(bad.rsrp_dbm, None, "a failed poll has no radio values");

    let window = store
        .history(ip("10.0.0.7"), 10_000 + 5 * 60, 100)
        .await
        .unwrap();
    assert_eq!(window.len(), 5);
    let limited = store.history(ip("10.0.0.7"), 0, 3).await.unwrap();
    assert_eq!(limited.len(), 3);
    assert_eq!(limited[2].at_unix_s, 10_000 + 7 * 60);

    let pruned = store.prune_history(10_000 + 2 * 60).await.unwrap();
    assert_eq!(pruned, 3, "two of 10.0.0.7 and one of 10.0.0.8");
    assert_eq!(
        store.history(ip("10.0.0.7"), 0, 100).await.unwrap().len(),
        8
    );
    assert!(store
        .history(ip("10.0.0.8"), 0, 100)
        .await
        .unwrap()
        .is_empty());

    // With history off only the latest state is written.
    store
        .write(
            &[DeviceWrite::Save(Box::new(good("10.0.0.9", 20_000, -80.0)))],
            false,
        )
        .await
        .unwrap();
    assert!(store
        .history(ip("10.0.0.9"), 0, 100)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.devices().await.unwrap().len(), 3);
    s.drop_schema().await;
}

async fn a_batch_the_database_refuses_is_kept_and_written_once_it_is_back(s: Scratch) {
    let store = s.open().await;
    let devices = Arc::new(DeviceStates::default());
    devices.restore(vec![good("10.0.0.1", 500, -95.0)]);
    let writer = Writer::spawn(devices.clone(), store.clone(), s.config.clone());

    // The table goes away under the writer: its flushes fail and keep the batch.
    s.raw("ALTER TABLE devices RENAME TO devices_away").await;
    devices.forget(ip("10.0.0.1"));
    let metrics =
        || efi_core::metrics::render_part(devices.clone(), |s, e| s.encode_metrics(e, true));
    let failed_flushes = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("efi_store_flushes_total{result=\"failed\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Waits for the writer to have tried (each flush is one tick of 20 ms).
    for _ in 0..500 {
        if failed_flushes(&metrics()) >= 2.0 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let m = metrics();
    assert!(failed_flushes(&m) >= 2.0, "{m}");
    assert!(
        m.lines().any(|l| l == "efi_store_pending_writes 1.0"),
        "the forget is still queued:\n{m}"
    );

    s.raw("ALTER TABLE devices_away RENAME TO devices").await;
    writer.finish().await;
    assert!(
        store.devices().await.unwrap().is_empty(),
        "the queued forget was written once the table was back"
    );
    assert!(metrics()
        .lines()
        .any(|l| l == "efi_store_pending_writes 0.0"));
    s.drop_schema().await;
}

fn plan(id: &str) -> ChangeSet {
    ChangeSet {
        plan_id: id.into(),
        changes: (1..=2)
            .map(|n| Change {
                id: format!("delete:{n}"),
                action: ChangeAction::DeleteAssignment {
                    assignment_id: n.to_string(),
                    ip: ip(&format!("10.45.0.{n}")),
                },
            })
            .collect(),
    }
}

pub(crate) async fn a_plan_survives_a_crash_is_superseded_and_its_outcome_is_kept(s: Scratch) {
    {
        let o = Outbox::new(&s.open().await.with_poller_name("host-a"));
        o.record(&plan("p1")).await.unwrap();
        // crash: no acknowledge
    }
    let o = Outbox::new(&s.open().await.with_poller_name("host-b"));
    assert_eq!(o.stats().await.unwrap().pending, 2, "the plan was durable");
    assert_eq!(o.supersede_unfinished().await.unwrap(), 1);
    assert_eq!(o.supersede_unfinished().await.unwrap(), 0);
    let st = o.stats().await.unwrap();
    assert_eq!((st.pending, st.superseded_plans), (0, 1));

    o.record(&plan("p2")).await.unwrap();
    o.acknowledge(
        "p2",
        &[ChangeResult {
            change_id: "delete:1".into(),
            outcome: ChangeOutcome::Applied {
                remote_id: Some("77".into()),
            },
        }],
    )
    .await
    .unwrap();
    o.record_held(&plan("p3"), "would delete 90% of the managed assignments")
        .await
        .unwrap();
    let st = o.stats().await.unwrap();
    assert_eq!(
        (st.applied, st.failed, st.pending, st.held_plans),
        (1, 1, 0, 1),
        "a change the sink did not report on failed"
    );
    assert_eq!(o.applied_change_ids().await.unwrap(), ["delete:1"]);

    let plans = o.recent_plans(2).await.unwrap();
    let ids: Vec<&str> = plans.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["p3", "p2"], "newest first, limited");
    assert_eq!(
        plans[0].held_reason.as_deref(),
        Some("would delete 90% of the managed assignments")
    );
    let p2 = &plans[1];
    assert_eq!(
        (p2.status.as_str(), p2.changes, p2.applied, p2.failed),
        ("done", 2, 1, 1)
    );
    assert_eq!(p2.planned_by.as_deref(), Some("host-b"));
    let all = o.recent_plans(10).await.unwrap();
    assert_eq!(all[2].status, "superseded");
    assert_eq!(all[2].planned_by.as_deref(), Some("host-a"));

    let changes = o.plan_changes("p2").await.unwrap().unwrap();
    assert_eq!(changes[0].remote_id.as_deref(), Some("77"));
    assert_eq!(changes[0].attempts, 1);
    assert_eq!(changes[0].action["delete_assignment"]["ip"], "10.45.0.1");
    assert_eq!(changes[1].status, "failed");
    assert_eq!(
        changes[1].error.as_deref(),
        Some("not reported by the sink")
    );
    assert!(o.plan_changes("p9").await.unwrap().is_none());
    s.drop_schema().await;
}

/// A CPE that informed through one host is known to the other host of the cluster within
/// a flush, and to a host started later (from the store, before any new Inform); an entry
/// older than `tr069.max_age_secs` is not brought back.
pub(crate) async fn the_tr069_cache_outlives_a_restart_and_is_shared_by_a_cluster(s: Scratch) {
    use efi_core::tr069::cache::Limits;
    use efi_core::tr069::cwmp::{DeviceId, Inform};
    use efi_core::tr069::persist::{restore, Keeper};
    use efi_core::tr069::Tr069Cache;
    let limits = Limits::from(&efi_core::config::Tr069Config::default());
    let every = std::time::Duration::from_millis(20);
    let (a_store, b_store) = (
        s.open().await.with_poller_name("host-a"),
        s.open().await.with_poller_name("host-b"),
    );
    let (a, b) = (
        Arc::new(Tr069Cache::new(limits)),
        Arc::new(Tr069Cache::new(limits)),
    );
    let a_keeper = Keeper::spawn(a.clone(), a_store.clone(), every, true, 0);
    let b_keeper = Keeper::spawn(b.clone(), b_store, every, true, 0);
    let now = efi_core::clock::now_unix_ms() as u64;
    let inform = |serial: &str| Inform {
        device_id: DeviceId {
            manufacturer: "Baicells".into(),
            oui: "48BF74".into(),
            product_class: "ODU".into(),
            serial: serial.into(),
        },
        events: vec!["2 PERIODIC".into()],
        params: vec![efi_plugin_api::Tr069Param {
            path: "InternetGatewayDevice.WEB_GUI.Overview.DeviceInfo.IMEI".into(),
            value: "867945040000002".into(),
            xsd_type: None,
        }],
        ..Inform::default()
    };
    let (fresh, stale) = (ip("127.40.0.1"), ip("127.40.0.2"));
    a.record_inform(fresh, &inform("SN-FRESH"), now);
    a.record_inform(stale, &inform("SN-STALE"), now - limits.max_age_ms - 60_000);
    let imei = |cache: &Tr069Cache| {
        cache
            .lookup(fresh, &["InternetGatewayDevice.WEB_GUI.".into()], now)
            .and_then(|p| p.first().map(|p| p.value.clone()))
    };
    let seen = efi_tests::eventually(
        "host b sees host a's CPE",
        std::time::Duration::from_secs(10),
        || async { imei(&b).ok_or_else(|| "not yet".to_owned()) },
    )
    .await;
    assert_eq!(seen, "867945040000002");
    a_keeper.finish().await;
    b_keeper.finish().await;

    // A restart: the new cache knows the fresh CPE at once, not the stale one.
    let restarted = Tr069Cache::new(limits);
    let (taken, newest) = restore(&restarted, &a_store).await.unwrap();
    assert_eq!(taken, 1);
    assert_eq!(newest, now);
    assert_eq!(imei(&restarted).as_deref(), Some("867945040000002"));
    assert_eq!(
        restarted.device_id(fresh, now).map(|d| d.serial),
        Some("SN-FRESH".to_owned())
    );
    assert_eq!(restarted.device_id(stale, now), None);
    s.drop_schema().await;
}

async fn pushed_events_are_committed_before_append_returns_and_old_ones_pruned(s: Scratch) {
    let store = s.open().await;
    let journal = EventLog::start(&store);
    let appends = (0..300).map(|n: i64| {
        journal.append(EventRow {
            source: "raemis".into(),
            received_us: n,
            // Not UTF-8: the body is kept as the sender sent it.
            body: vec![0xff, 0xfe, n as u8],
        })
    });
    for r in futures::future::join_all(appends).await {
        r.unwrap();
    }
    // A second connection sees every event: each append returned after its commit.
    let other = Outbox::new(&s.open().await);
    assert_eq!(other.pushed_events().await.unwrap(), 300);

    other.record(&plan("recent")).await.unwrap();
    other.record_held(&plan("held"), "guard").await.unwrap();
    other.prune(1).await.unwrap();
    assert_eq!(
        other.pushed_events().await.unwrap(),
        0,
        "events of 1970 are pruned"
    );
    assert_eq!(
        other.recent_plans(9).await.unwrap().len(),
        2,
        "today's plans stay"
    );
    s.raw("UPDATE outbox_plans SET created_unix_ms = 0").await;
    other.prune(1).await.unwrap();
    let left: Vec<String> = other
        .recent_plans(9)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(
        left,
        ["recent"],
        "a plan still being applied is never pruned"
    );
    s.drop_schema().await;
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Scratch::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::Scratch::postgres()).await;
                }
            )*
        }
    };
}

on_both!(
    migrations_bring_an_empty_database_to_the_latest_schema_once,
    latest_state_round_trips_and_forget_keeps_history,
    history_is_newest_first_windowed_limited_and_pruned,
    a_batch_the_database_refuses_is_kept_and_written_once_it_is_back,
    a_plan_survives_a_crash_is_superseded_and_its_outcome_is_kept,
    pushed_events_are_committed_before_append_returns_and_old_ones_pruned,
    the_tr069_cache_outlives_a_restart_and_is_shared_by_a_cluster,
);

#[tokio::test]
async fn hosts_starting_together_on_one_postgres_migrate_once() {
    let s = Scratch::postgres();
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let config = s.config.clone();
            tokio::spawn(async move { Store::open(&config).await.map(|_| ()) })
        })
        .collect();
    for o in opens {
        o.await.unwrap().expect("every host opens the store");
    }
    let store = s.open().await;
    assert_eq!(
        store.schema_version().await.unwrap(),
        MIGRATIONS.last().unwrap().version
    );
    s.drop_schema().await;
}

#[tokio::test]
async fn a_wrong_postgres_url_names_the_database_but_not_the_password() {
    let config = StoreConfig {
        url: Secret::new("postgres://efi:hunter2@127.0.0.1:1/nowhere"),
        ..Default::default()
    };
    let e = Store::open(&config)
        .await
        .err()
        .expect("nothing listens on port 1");
    let text = e.to_string();
    assert!(
        text.contains("postgres://efi@127.0.0.1:1/nowhere"),
        "{text}"
    );
    assert!(text.contains("connecting"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}
