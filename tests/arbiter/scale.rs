//! The initial sync of a large EPC: Sonar sees no more requests than the pages it must read
//! plus one mutation document per 25 changes (the count is printed), never more than its
//! limit in any rolling window (no 429), and a fleet whose
//! subscriber names match no account is reported in full by the plan but in a handful of
//! log lines per cycle.

use efi_core::config::Config;
use efi_core::host::Host;
use efi_lab::raemis::{RaemisOptions, RaemisSim, Subscriber};
use efi_lab::sonar::scenario::Scenario;
use efi_lab::sonar::SonarSim;
use efi_tests::PluginDir;
use std::path::Path;
use std::sync::Arc;

/// Every log line written on this thread (a current-thread runtime runs every task of the
/// test here).
#[derive(Clone, Default)]
struct Captured(Arc<parking_lot::Mutex<Vec<u8>>>);

impl Captured {
    /// The lines written since the last call.
    fn take_lines(&self) -> Vec<String> {
        let bytes = std::mem::take(&mut *self.0.lock());
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Most log lines a cycle may write, however many CPEs it warns about.
const LOG_LINES_PER_CYCLE: usize = 50;

/// A Sonar limiting each token to `limit` requests in any rolling `window_secs`, a Raemis
/// with `sessions` attached UEs whose names match no account, and an arbiter paced to the
/// same limit.
struct SyncLab {
    sonar: SonarSim,
    arbiter: efi_core::arbiter::Arbiter,
    _raemis: RaemisSim,
    _dir: PluginDir,
}

async fn sync_lab(sessions: u32, limit: u32, window_secs: u64) -> SyncLab {
    sync_lab_with(sessions, limit, window_secs, 25).await
}

/// [`sync_lab`] with the sink sending `batch_size` changes per mutation document.
async fn sync_lab_with(sessions: u32, limit: u32, window_secs: u64, batch_size: u32) -> SyncLab {
    let mut scenario = Scenario::lab();
    scenario.rate_limit_per_minute = Some(limit);
    scenario.rate_limit_window_ms = Some(window_secs * 1000);
    scenario.rate_limit_rolling = true;
    let sonar = SonarSim::start("127.0.0.1:0".parse().unwrap(), scenario)
        .await
        .unwrap();
    let raemis = RaemisSim::start("127.0.0.1:0".parse().unwrap(), RaemisOptions::default())
        .await
        .unwrap();
    for n in 0..sessions {
        let imsi = format!("00102{n:010}");
        // Named as no account is: every CPE is "not linked", every cycle.
        raemis.add_subscriber(Subscriber::new(
            &imsi,
            &format!("36{n:013}"),
            "",
            &format!("Nobody {n}"),
        ));
        raemis
            .attach(
                &imsi,
                format!("10.45.{}.{}", 8 + n / 250, 1 + n % 250)
                    .parse()
                    .unwrap(),
                "internet",
            )
            .await
            .unwrap();
    }
    let dir = PluginDir::new();
    dir.install("raemis");
    dir.install("sonar");
    let toml = format!(
        r#"
[plugins]
dir = {dir:?}
rescan_secs = 0
# One step decodes 10,000 sessions in a debug build (~0.5-0.8 s of CPU here); the budget is
# not what this test measures.
step_budget_ms = 5000
[http.rate_limits.sonar]
per_minute = {limit}
window_secs = {window_secs}
[arbiter]
managed_subnets = ["10.45.0.0/16"]
[store]
url = {state:?}
{lab}"#,
        dir = dir.path(),
        state = dir.path().join("state.db"),
        lab = efi_lab::lab_source_and_sink(
            &raemis.base_url(),
            &sonar.base_url(),
            "raemis",
            "",
            &format!(", page_size = 1000, batch_size = {batch_size}"),
        ),
    );
    let config = Config::parse(&toml, Path::new("scale.toml")).unwrap();
    let host = Arc::new(
        tokio::task::spawn_blocking(move || Host::new(config))
            .await
            .unwrap(),
    );
    let arbiter = efi_tests::arbiter(host).await.unwrap();
    SyncLab {
        sonar,
        arbiter,
        _raemis: raemis,
        _dir: dir,
    }
}

/// A service task's steps grow with the network: 600 UEs sent one change per document are
/// 1,200 documents, 75 steps of the Sonar sink's apply (16 documents a step), more than the
/// 64 a device poll may take. Before service tasks had their own bound the apply was cut
/// off there and every change of the cycle was reported failed (found by `bench/fleet.sh`
/// at 20,000 CPEs, whose initial sync is 150 steps at 25 changes a document).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_longer_than_a_device_polls_step_bound_completes() {
    let lab = sync_lab_with(600, 1_000_000, 60, 1).await;
    let report = lab.arbiter.cycle().await.unwrap();
    assert!(
        report.failed.is_empty(),
        "{:?}",
        &report.failed[..report.failed.len().min(3)]
    );
    assert_eq!(report.applied, 1_200, "an item and an assignment per UE");
    let documents = lab
        .sonar
        .calls()
        .iter()
        .filter(|c| c.query.trim_start().starts_with("mutation"))
        .count();
    assert!(
        documents >= 1_200,
        "one change per document: {documents} documents, so more than 64 steps"
    );
}

/// A limit tight enough that the pace, not the CPU, sets the speed: the sync waits for the
/// window instead of being refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_paced_by_a_rolling_limit_is_never_refused() {
    let lab = sync_lab(1_000, 20, 2).await;
    let started = std::time::Instant::now();
    let report = lab.arbiter.cycle().await.unwrap();
    let took = started.elapsed();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let requests = lab.sonar.calls().len();
    println!(
        "1,000-session sync under 20 requests per rolling 2 s: {requests} requests in {:.1} s, {} refused",
        took.as_secs_f64(),
        lab.sonar.limit_refusals()
    );
    assert!(requests > 40, "the pace had to bind: {requests} requests");
    assert_eq!(lab.sonar.limit_refusals(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn an_initial_sync_costs_pages_plus_one_request_per_25_changes() {
    let log = Captured::default();
    let _logging = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer({
                let log = log.clone();
                move || log.clone()
            })
            .with_ansi(false)
            .with_env_filter("info")
            .finish(),
    );
    let sessions: u32 = std::env::var("EFI_SYNC_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    // Sonar's limit counted the strict way (any rolling window), scaled down in time: 200
    // requests in any 5 s.
    let SyncLab {
        sonar,
        arbiter,
        _raemis,
        _dir,
    } = sync_lab(sessions, 200, 5).await;
    log.take_lines();
    let started = std::time::Instant::now();
    let report = arbiter.cycle().await.unwrap();
    let first_cycle = started.elapsed();
    let first_lines = log.take_lines();
    assert!(
        report.failed.is_empty(),
        "{:?}",
        &report.failed[..report.failed.len().min(3)]
    );
    let changes = report.plan.changes.changes.len();
    assert_eq!(
        changes,
        2 * sessions as usize,
        "an item and an assignment per UE"
    );
    let calls = sonar.calls();
    let reads = calls
        .iter()
        .filter(|c| !c.query.trim_start().starts_with("mutation"))
        .count();
    let writes = calls.len() - reads;
    let bound = reads + changes.div_ceil(25);
    println!(
        "initial sync of {sessions} sessions: {} Sonar requests ({reads} page reads + {writes} mutation documents) for {changes} changes; bound {bound}; {} refused by the rolling limit of 200 per 5 s; {:.1} s against the debug-build simulator",
        calls.len(),
        sonar.limit_refusals(),
        first_cycle.as_secs_f64()
    );
    assert!(calls.len() <= bound, "{} requests > {bound}", calls.len());
    assert_eq!(
        sonar.limit_refusals(),
        0,
        "Sonar refused requests for exceeding its rolling limit"
    );
    let soft = sonar
        .entities("IpAssignment")
        .into_iter()
        .filter(|a| a["soft"] == true)
        .count();
    assert_eq!(soft, sessions as usize);

    // The next cycle reads every page and changes nothing.
    let before = sonar.calls().len();
    let started = std::time::Instant::now();
    let report = arbiter.cycle().await.unwrap();
    let second_cycle = started.elapsed();
    assert!(report.plan.changes.changes.is_empty());
    assert_eq!(report.plan.stats.kept, sessions as usize);
    let second_lines = log.take_lines();
    let quiet = sonar.calls().len() - before;
    println!(
        "steady state: {quiet} read requests, 0 writes, {} kept, {:.1} s",
        report.plan.stats.kept,
        second_cycle.as_secs_f64()
    );

    // The plan (what /api/v1/plan and the dashboard show) lists every CPE; the log does not.
    let not_linked = report
        .plan
        .warnings
        .iter()
        .filter(|w| w.kind == efi_core::arbiter::warnings::WarningKind::NotLinked)
        .count();
    assert_eq!(
        not_linked, sessions as usize,
        "one warning per CPE in the plan"
    );
    println!(
        "log lines: {} in the first cycle, {} in the second, for {not_linked} CPEs not linked",
        first_lines.len(),
        second_lines.len()
    );
    for (cycle, lines) in [("first", &first_lines), ("second", &second_lines)] {
        assert!(
            lines.len() < LOG_LINES_PER_CYCLE,
            "the {cycle} cycle logged {} lines:\n{}",
            lines.len(),
            lines[..lines.len().min(20)].join("\n")
        );
    }
    assert!(
        first_lines
            .iter()
            .any(|l| l.contains("not linked") && l.contains("WARN")),
        "the first cycle says CPEs are not linked: {first_lines:#?}"
    );
    assert!(
        first_lines.iter().any(|l| l.contains("more")),
        "the rest are counted, not listed: {first_lines:#?}"
    );
    assert!(
        second_lines.iter().all(|l| !l.contains("Nobody 1")),
        "a condition already logged is not logged again: {second_lines:#?}"
    );
}
