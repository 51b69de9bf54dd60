//! The IPAM arbiter end to end: real raemis and sonar plugins (.so) in a real host, against
//! the efi-lab Raemis and Sonar simulators.

use efi_core::arbiter::Arbiter;
use efi_core::config::Config;
use efi_core::host::Host;
use efi_lab::raemis::{RaemisOptions, RaemisSim, Subscriber};
use efi_lab::sim::Fault;
use efi_lab::sonar::scenario::{AccountSeed, AddressSeed, Scenario};
use efi_lab::sonar::SonarSim;
use efi_tests::PluginDir;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

pub(crate) struct Lab {
    pub(crate) sonar: SonarSim,
    pub(crate) raemis: RaemisSim,
    pub(crate) arbiter: Arc<Arbiter>,
    pub(crate) config: Arc<Config>,
    /// The configuration's text (for the command line).
    pub(crate) toml: String,
    pub(crate) dir: PluginDir,
}

async fn lab_with(scenario: Scenario) -> Lab {
    lab_full(scenario, "").await
}

/// A lab whose Raemis source also accepts pushes; `extra` is appended to the source table.
pub(crate) async fn lab_full(scenario: Scenario, webhook: &str) -> Lab {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()))
        .try_init();
    let sonar = SonarSim::start("127.0.0.1:0".parse().unwrap(), scenario)
        .await
        .unwrap();
    let raemis = RaemisSim::start("127.0.0.1:0".parse().unwrap(), RaemisOptions::default())
        .await
        .unwrap();
    raemis.add_subscriber(Subscriber::new(
        "001010000000011",
        "350000000000011",
        "15550000011",
        "Jane Doe",
    ));
    raemis.add_subscriber(Subscriber::new(
        "001010000000012",
        "350000000000012\r",
        "15550000012",
        "Acme Farms LLC",
    ));
    raemis.add_subscriber(Subscriber::new(
        "001010000000013",
        "350000000000013",
        "15550000013",
        "Nobody Known",
    ));
    let dir = PluginDir::new();
    dir.install("raemis");
    dir.install("sonar");
    let toml = format!(
        r#"
[plugins]
dir = {dir:?}
rescan_secs = 0
[http]
retry_base_ms = 5
[arbiter]
managed_subnets = ["10.45.0.0/16"]
min_deletes_guarded = 50
[store]
url = {state:?}
{lab}"#,
        dir = dir.path(),
        state = dir.path().join("state.db"),
        lab = efi_lab::lab_source_and_sink(
            &raemis.base_url(),
            &sonar.base_url(),
            "raemis-lab",
            webhook,
            ", page_size = 7",
        ),
    );
    let config = Config::parse(&toml, Path::new("arbiter-test.toml")).unwrap();
    let toml = toml.clone();
    let shared = Arc::new(config.clone());
    let host = Arc::new(
        tokio::task::spawn_blocking(move || Host::new(config))
            .await
            .unwrap(),
    );
    let arbiter = efi_tests::arbiter(host.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{:#?}", host.registry.listing()));
    Lab {
        sonar,
        raemis,
        arbiter: Arc::new(arbiter),
        config: shared,
        toml,
        dir,
    }
}

async fn lab() -> Lab {
    lab_with(Scenario::lab()).await
}

/// Soft assignments in 10.45/16 as (address, item ID), sorted.
fn soft_assignments(sonar: &SonarSim) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = sonar
        .entities("IpAssignment")
        .into_iter()
        .filter(|a| a["soft"] == true)
        .map(|a| {
            assert_eq!(a["ipassignmentable_type"], "InventoryItem");
            (
                a["subnet"].as_str().unwrap().to_owned(),
                a["ipassignmentable_id"].to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The item holding an IMEI.
fn item_with_imei(sonar: &SonarSim, imei: &str) -> Option<Value> {
    let data = sonar.entities("InventoryModelFieldData");
    let item_id = data.iter().find(|d| d["value"] == imei)?["inventory_item_id"].clone();
    sonar
        .entities("InventoryItem")
        .into_iter()
        .find(|i| i["id"] == item_id)
        .map(Value::Object)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_detach_and_move_follow_the_epc_exactly() {
    let lab = lab().await;
    lab.raemis
        .attach("001010000000011", "10.45.0.10".parse().unwrap(), "internet")
        .await
        .unwrap();
    lab.raemis
        .attach("001010000000012", "10.45.0.11".parse().unwrap(), "internet")
        .await
        .unwrap();

    let report = lab.arbiter.cycle().await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let new_item =
        item_with_imei(&lab.sonar, "350000000000012").expect("the unknown CPE became an item");
    assert_eq!(new_item["inventory_model_id"], 501, "the default model");
    assert_eq!(
        new_item["inventoryitemable_type"], "Address",
        "linked to its account's address"
    );
    assert_eq!(
        new_item["inventoryitemable_id"], 2002,
        "Acme Farms LLC's address"
    );
    let new_id = new_item["id"].to_string();
    assert_eq!(
        soft_assignments(&lab.sonar),
        [
            ("10.45.0.10/32".to_owned(), "7001".to_owned()),
            ("10.45.0.11/32".to_owned(), new_id.clone())
        ]
    );
    assert!(
        report.plan.warnings.is_empty(),
        "{:?}",
        report.plan.warnings
    );

    // Nothing to do the second time: correct assignments are kept, never re-created.
    let calls_before = lab.sonar.calls().len();
    let report = lab.arbiter.cycle().await.unwrap();
    assert!(
        report.plan.changes.changes.is_empty(),
        "{:?}",
        report.plan.changes
    );
    assert_eq!(report.plan.stats.kept, 2);
    let reads = lab.sonar.calls().len() - calls_before;
    assert!(reads <= 8, "a quiet cycle only reads ({reads} requests)");

    // The address moves from the first CPE to the second.
    lab.raemis.detach("001010000000011").await.unwrap();
    lab.raemis
        .attach("001010000000012", "10.45.0.10".parse().unwrap(), "internet")
        .await
        .unwrap();
    let calls_before = lab.sonar.calls().len();
    let report = lab.arbiter.cycle().await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.plan.stats.moves, 1);
    assert_eq!(
        soft_assignments(&lab.sonar),
        [("10.45.0.10/32".to_owned(), new_id.clone())]
    );
    let conflicts: Vec<_> = lab.sonar.calls()[calls_before..]
        .iter()
        .filter(|c| c.had_errors)
        .map(|c| c.query.clone())
        .collect();
    assert!(conflicts.is_empty(), "no moment of conflict: {conflicts:?}");

    // Detach: the assignment goes; the hard management assignment never moves.
    lab.raemis.detach("001010000000012").await.unwrap();
    // With no session left at all the guard refuses to delete...
    let report = lab.arbiter.cycle().await.unwrap();
    assert_eq!(soft_assignments(&lab.sonar).len(), 1);
    assert!(
        report
            .plan
            .warnings
            .iter()
            .any(|w| w.message.contains("no session at all")),
        "{:?}",
        report.plan.warnings
    );
    // ...while with another UE attached, the stale one is removed.
    lab.raemis
        .attach("001010000000011", "10.45.0.20".parse().unwrap(), "internet")
        .await
        .unwrap();
    lab.arbiter.cycle().await.unwrap();
    assert_eq!(
        soft_assignments(&lab.sonar),
        [("10.45.0.20/32".to_owned(), "7001".to_owned())]
    );
    let hard: Vec<_> = lab
        .sonar
        .entities("IpAssignment")
        .into_iter()
        .filter(|a| a["soft"] == false)
        .collect();
    assert_eq!(hard.len(), 1);
    assert_eq!(hard[0]["subnet"], "192.0.2.10/32");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_or_empty_epc_deletes_nothing() {
    let lab = lab().await;
    lab.raemis
        .attach("001010000000011", "10.45.0.10".parse().unwrap(), "internet")
        .await
        .unwrap();
    lab.raemis
        .attach("001010000000012", "10.45.0.11".parse().unwrap(), "internet")
        .await
        .unwrap();
    lab.arbiter.cycle().await.unwrap();
    assert_eq!(soft_assignments(&lab.sonar).len(), 2);

    lab.raemis
        .faults()
        .inject("data_session", Fault::EmptyList, 1);
    let report = lab.arbiter.cycle().await.unwrap();
    assert_eq!(soft_assignments(&lab.sonar).len(), 2);
    assert!(
        report
            .plan
            .warnings
            .iter()
            .any(|w| w.message.contains("no session at all")),
        "{:?}",
        report.plan.warnings
    );

    lab.raemis
        .faults()
        .inject("data_session", Fault::Status(500), 1);
    let report = lab.arbiter.cycle().await.unwrap();
    assert_eq!(soft_assignments(&lab.sonar).len(), 2);
    assert!(
        report.source_errors[0].1.contains("HTTP 500"),
        "{:?}",
        report.source_errors
    );

    lab.raemis
        .faults()
        .inject("data_session", Fault::Truncated, 1);
    lab.raemis.detach("001010000000012").await.unwrap();
    let report = lab.arbiter.cycle().await.unwrap();
    assert_eq!(
        soft_assignments(&lab.sonar).len(),
        2,
        "a truncated answer is a failed source: no deletes"
    );
    assert!(
        report.source_errors[0].1.contains("not the expected JSON"),
        "{:?}",
        report.source_errors
    );

    let report = lab.arbiter.cycle().await.unwrap();
    assert_eq!(
        soft_assignments(&lab.sonar).len(),
        1,
        "the next good answer heals"
    );
    assert!(report.failed.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_429_and_5xx_from_sonar_still_converges() {
    let lab = lab().await;
    lab.raemis
        .attach("001010000000011", "10.45.0.10".parse().unwrap(), "internet")
        .await
        .unwrap();
    lab.raemis
        .attach("001010000000012", "10.45.0.11".parse().unwrap(), "internet")
        .await
        .unwrap();
    lab.sonar.faults().inject("graphql", Fault::RateLimited, 3);
    lab.sonar.faults().inject("graphql", Fault::Status(503), 2);
    let report = lab.arbiter.cycle().await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(soft_assignments(&lab.sonar).len(), 2);

    // Sonar refusing every write for longer than the retries last: the failures are
    // reported as retryable (the run loop comes back sooner), and the next cycle catches up.
    lab.raemis
        .attach("001010000000013", "10.45.0.12".parse().unwrap(), "internet")
        .await
        .unwrap();
    lab.sonar
        .faults()
        .inject("mutation", Fault::Status(503), 1000);
    let report = lab.arbiter.cycle().await.unwrap();
    assert!(!report.failed.is_empty());
    assert_eq!(report.retryable, report.failed.len(), "{:?}", report.failed);
    assert!(
        report.failed[0].1.contains("HTTP 503"),
        "{:?}",
        report.failed
    );
    lab.sonar.faults().clear();
    let report = lab.arbiter.cycle().await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(soft_assignments(&lab.sonar).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cycles_ride_out_a_storm_of_500s_and_dropped_answers() {
    let lab = lab().await;
    const UES: u32 = 15;
    for n in 0..UES {
        let imsi = format!("0010100000002{n:02}");
        lab.raemis.add_subscriber(Subscriber::new(
            &imsi,
            &format!("3500000000002{n:02}"),
            "",
            &format!("Storm Customer {n}"),
        ));
        lab.raemis
            .attach(&imsi, format!("10.45.2.{n}").parse().unwrap(), "internet")
            .await
            .unwrap();
    }
    // 30 % of every Sonar request (reads and writes, with pages of 7) answered 500, dropped
    // mid-answer or cut short, for as long as the test runs.
    lab.sonar.faults().storm(
        "graphql",
        300,
        vec![Fault::Status(500), Fault::Drop, Fault::Truncated],
        20261206,
    );
    let mut cycles = 0;
    loop {
        cycles += 1;
        // Reads are retried: the cycle itself completes; a write the storm hit is reported
        // and planned again next cycle (a write is never retried blindly).
        let report = lab
            .arbiter
            .cycle()
            .await
            .unwrap_or_else(|e| panic!("cycle {cycles} failed under the storm: {e}"));
        // Converged, and a few more cycles of reads through the storm.
        if report.failed.is_empty() && report.plan.changes.changes.is_empty() && cycles >= 6 {
            break;
        }
        assert!(cycles < 15, "no convergence: {:?}", report.failed);
    }
    let assignments = soft_assignments(&lab.sonar);
    let mut addresses: Vec<&str> = assignments.iter().map(|(ip, _)| ip.as_str()).collect();
    addresses.dedup();
    assert_eq!(
        addresses.len(),
        assignments.len(),
        "an address twice: {assignments:?}"
    );
    assert_eq!(assignments.len(), UES as usize, "{assignments:?}");
    // A create whose answer was cut short was applied all the same: the next cycle finds
    // the item by its IMEI instead of creating a second one.
    let data = lab.sonar.entities("InventoryModelFieldData");
    for n in 0..UES {
        let imei = format!("3500000000002{n:02}");
        let items = data.iter().filter(|d| d["value"] == imei.as_str()).count();
        assert_eq!(items, 1, "IMEI {imei} on {items} items");
    }
    let stormed = lab.sonar.faults().stormed("graphql");
    let answered = lab.sonar.calls().len();
    println!("converged in {cycles} cycles under the storm: {stormed} requests failed, {answered} answered in full");
    assert!(stormed > 0, "the storm hit no request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_or_unknown_names_are_reported_and_nothing_is_guessed() {
    let mut scenario = Scenario::lab();
    scenario.accounts.push(AccountSeed {
        id: 1010,
        name: "ACME farms  llc".into(),
        archived: false,
        addresses: vec![AddressSeed {
            id: 2010,
            line1: "2 Silo Lane".into(),
            city: String::new(),
            zip: String::new(),
            serviceable: true,
        }],
    });
    let lab = lab_with(scenario).await;
    lab.raemis
        .attach("001010000000012", "10.45.0.11".parse().unwrap(), "internet")
        .await
        .unwrap();
    lab.raemis
        .attach("001010000000013", "10.45.0.12".parse().unwrap(), "internet")
        .await
        .unwrap();
    let report = lab.arbiter.cycle().await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let w = report
        .plan
        .warnings
        .iter()
        .map(|w| w.message.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(w.contains("2 accounts are named \"Acme Farms LLC\""), "{w}");
    assert!(w.contains("no account is named \"Nobody Known\""), "{w}");
    for imei in ["350000000000012", "350000000000013"] {
        let item = item_with_imei(&lab.sonar, imei).unwrap();
        assert_eq!(
            item["inventoryitemable_type"], "InventoryLocation",
            "{imei} stays in stock, not guessed"
        );
    }
    assert_eq!(
        soft_assignments(&lab.sonar).len(),
        2,
        "the addresses are assigned regardless"
    );
}

pub(crate) const WEBHOOK: &str = r#"[sources.webhook]
secret_header = "x-efi-secret"
secret = "push-s3cret"
allow_from = ["127.0.0.1", "127.0.0.2"]"#;

async fn pushing_lab() -> (Lab, String) {
    let (lab, url, _) = pushing_lab_with_addr().await;
    (lab, url)
}

async fn pushing_lab_with_addr() -> (Lab, String, std::net::SocketAddr) {
    let lab = lab_full(Scenario::lab(), WEBHOOK).await;
    let (addr, _task) = efi_core::server::serve(
        efi_core::server::router(lab.arbiter.clone(), lab.config.clone(), Default::default()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    std::mem::forget(_task);
    let url = format!("http://{addr}/webhooks/raemis-lab");
    lab.raemis
        .set_push_target(Some(efi_lab::raemis::PushTarget {
            url: url.clone(),
            basic: None,
            headers: vec![("x-efi-secret".into(), "push-s3cret".into())],
        }));
    (lab, url, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_cycles_changes_outbox_pushes_and_plugins() {
    let (lab, url, addr) = pushing_lab_with_addr().await;
    lab.raemis
        .attach("001010000000011", "10.45.0.10".parse().unwrap(), "internet")
        .await
        .unwrap();
    lab.arbiter.cycle().await.unwrap();
    let client = efi_lab::http_client();
    let _ = client.post(&url).body("imsi=1").send().await.unwrap(); // refused: no secret
    let r = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = r.text().await.unwrap();
    let value = |line: &str| {
        text.lines()
            .find(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("{line} missing:\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    assert_eq!(value("efi_arbiter_cycles_total{kind=\"full\"}"), 1.0);
    assert_eq!(
        value("efi_arbiter_changes_total{result=\"applied\"}"),
        1.0,
        "one assignment"
    );
    assert_eq!(value("efi_outbox_changes{state=\"applied\"}"), 1.0);
    assert_eq!(
        value("efi_webhook_events_total{source=\"raemis-lab\",result=\"accepted\"}"),
        1.0
    );
    assert_eq!(
        value("efi_webhook_events_total{source=\"raemis-lab\",result=\"refused\"}"),
        1.0
    );
    assert_eq!(value("efi_sessions "), 1.0);
    assert_eq!(value("efi_plugin_quarantined{plugin=\"sonar\"}"), 0.0);
    assert!(
        text.contains("# TYPE efi_arbiter_changes counter") && text.ends_with("# EOF\n"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_events_drive_assignments_between_pulls() {
    let (lab, _) = pushing_lab().await;
    lab.raemis
        .attach("001010000000011", "10.45.0.10".parse().unwrap(), "internet")
        .await
        .unwrap();
    lab.arbiter.cycle().await.unwrap(); // the first full pull
    assert_eq!(soft_assignments(&lab.sonar).len(), 1);

    // A new UE attaches: the push alone (no pull) creates its item and assignment.
    lab.raemis
        .attach("001010000000012", "10.45.0.11".parse().unwrap(), "internet")
        .await
        .unwrap();
    assert!(
        lab.raemis.pushes().iter().all(|(_, s)| s == &Ok(200)),
        "{:?}",
        lab.raemis.pushes()
    );
    let report = lab.arbiter.event_cycle().await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(soft_assignments(&lab.sonar).len(), 2);

    // Duplicated and reordered delivery: a detach and a re-attach, released in reverse.
    lab.raemis.duplicate_next_pushes(2);
    lab.raemis.pause_pushes();
    lab.raemis.detach("001010000000011").await.unwrap();
    lab.raemis
        .attach("001010000000011", "10.45.0.30".parse().unwrap(), "internet")
        .await
        .unwrap();
    lab.raemis.release(true).await;
    lab.arbiter.event_cycle().await.unwrap();
    let mut ips: Vec<String> = soft_assignments(&lab.sonar)
        .into_iter()
        .map(|(ip, _)| ip)
        .collect();
    ips.sort();
    assert_eq!(
        ips,
        ["10.45.0.11/32", "10.45.0.30/32"],
        "the later attach wins over the earlier detach"
    );

    // A lost event is healed by the next full pull.
    lab.raemis.drop_next_pushes(1);
    lab.raemis.detach("001010000000012").await.unwrap();
    lab.arbiter.event_cycle().await.unwrap();
    assert_eq!(soft_assignments(&lab.sonar).len(), 2, "the push was lost");
    lab.arbiter.cycle().await.unwrap();
    let ips: Vec<String> = soft_assignments(&lab.sonar)
        .into_iter()
        .map(|(ip, _)| ip)
        .collect();
    assert_eq!(ips, ["10.45.0.30/32"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_unauthenticated_webhooks_are_refused_with_the_reason() {
    let (lab, url) = pushing_lab().await;
    lab.raemis
        .attach("001010000000011", "10.45.0.10".parse().unwrap(), "internet")
        .await
        .unwrap();
    lab.arbiter.cycle().await.unwrap();
    let client = efi_lab::http_client();
    let logged = || async { lab.arbiter.outbox().pushed_events().await.unwrap() };
    let logged_before = logged().await;
    assert_eq!(
        logged_before, 1,
        "the attach pushed one event, on disk before its 200"
    );
    let form = "imsi=001010000000013&event_type=pdp_context_activated&event_time=2030-01-01+00%3A00%3A00&add_text=%7B%22ip%22%3A%2210.45.0.99%22%7D";

    let r = client.post(&url).body(form).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401, "no secret");
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("missing or wrong webhook credentials"));
    let r = client
        .post(&url)
        .header("x-efi-secret", "guess")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "wrong secret");

    let post = |body: String, content_type: Option<&str>| {
        let mut request = client
            .post(&url)
            .header("x-efi-secret", "push-s3cret")
            .body(body);
        if let Some(t) = content_type {
            request = request.header("content-type", t.to_owned());
        }
        request.send()
    };
    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
    for (body, content_type, status, why) in [
        (
            "imsi=001010000000013&event_type=pdp_context_activated&add_text=%7Bbroken".to_owned(),
            FORM,
            400,
            "add_text is not a JSON object",
        ),
        (
            form.replace("2030-01-01+00%3A00%3A00", "next+tuesday"),
            FORM,
            400,
            "event_time \"next tuesday\" is not a time",
        ),
        (
            form.to_owned(),
            Some("application/json"),
            415,
            "Content-Type \"application/json\" is not application/x-www-form-urlencoded",
        ),
        (form.to_owned(), None, 415, "the push has no Content-Type"),
    ] {
        let r = post(body, content_type).await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{why}");
        let answer: Value = r.json().await.unwrap();
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(why), "{why} not in {answer}");
    }

    let huge = "x".repeat(lab.config.server.max_body_bytes + 1);
    let r = client
        .post(&url)
        .header("x-efi-secret", "push-s3cret")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);

    let r = client
        .post(url.replace("raemis-lab", "nobody"))
        .header("x-efi-secret", "push-s3cret")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // None of it changed anything, nor was any of it stored.
    let report = lab.arbiter.event_cycle().await.unwrap();
    assert!(
        report.plan.changes.changes.is_empty(),
        "{:?}",
        report.plan.changes
    );
    assert_eq!(logged().await, logged_before);

    // The same body, properly authenticated and labelled, is accepted.
    let r = post(form.to_owned(), FORM).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["applied"], 1);
    assert_eq!(logged().await, logged_before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_guesser_is_slowed_down_and_other_peers_are_not() {
    let (lab, url, addr) = pushing_lab_with_addr().await;
    let from = |ip: &str| {
        reqwest::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    };
    let (guesser, operator) = (from("127.0.0.2"), from("127.0.0.1"));
    let form = "imsi=001010000000011&event_type=pdp_context_activated&add_text=%7B%22ip%22%3A%2210.45.0.10%22%7D";
    let push = |client: &reqwest::Client, secret: &str| {
        client
            .post(&url)
            .header("x-efi-secret", secret.to_owned())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };
    let mut answers = std::collections::BTreeMap::<u16, u32>::new();
    for n in 0..200 {
        let status = push(&guesser, &format!("guess-{n}"))
            .await
            .unwrap()
            .status();
        *answers.entry(status.as_u16()).or_default() += 1;
    }
    println!("200 guesses answered: {answers:?}");
    assert!(answers.get(&401).copied().unwrap_or(0) < 20, "{answers:?}");
    assert!(answers.get(&429).copied().unwrap_or(0) > 150, "{answers:?}");
    // Blocked, the guesser is not even checked: the right secret gets 429 too.
    let r = push(&guesser, "push-s3cret").await.unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // Another peer is answered at once.
    let r = push(&operator, "push-s3cret").await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let metrics = operator
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let throttled: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("efi_auth_throttled_total "))
        .unwrap_or_else(|| panic!("no efi_auth_throttled_total in:\n{metrics}"))
        .parse()
        .unwrap();
    assert!(throttled > 150.0, "{throttled}");
    drop(lab);
}

#[test]
fn a_webhook_without_authentication_is_a_configuration_error() {
    let err = Config::parse(
        "[[sources]]\nname = \"r\"\nplugin = \"raemis\"\n[sources.webhook]\nallow_from = [\"127.0.0.1\"]\n",
        Path::new("c.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("c.toml: line 4: sources[0].webhook: source \"r\"")
            && err.contains("no authentication"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_with_every_session_outside_the_managed_subnets_says_so() {
    let lab = lab().await;
    for (imsi, ip) in [
        ("001010000000011", "10.99.0.11"),
        ("001010000000012", "10.99.0.12"),
    ] {
        lab.raemis
            .attach(imsi, ip.parse().unwrap(), "internet")
            .await
            .unwrap();
    }
    let (plan, _) = lab.arbiter.plan().await.unwrap();
    assert_eq!(plan.stats.sessions, 0);
    assert_eq!(plan.stats.outside_managed, 2);
    assert_eq!(plan.sources.len(), 1, "{:?}", plan.sources);
    assert_eq!(
        (plan.sources[0].sessions, plan.sources[0].outside_managed),
        (2, 2)
    );
    let w = plan
        .warnings
        .iter()
        .find(|w| w.kind == efi_core::arbiter::warnings::WarningKind::OutsideManaged)
        .unwrap_or_else(|| panic!("{:?}", plan.warnings));
    assert!(
        w.message
            .contains("[10.45.0.0/16], e.g. 10.99.0.11, 10.99.0.12"),
        "{}",
        w.message
    );
    // What an operator sees from the command line.
    let file = lab.dir.path().join("config.toml");
    std::fs::write(&file, &lab.toml).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(efi_tests::artifacts::artifacts().host_binary())
            .args(["--config", file.to_str().unwrap(), "plan"])
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for says in [
        "source raemis-lab: 2 sessions, 2 of them outside the managed subnets",
        "0 sessions (and 2 outside the managed subnets, left alone)",
        "warning: every session with an address (2) is outside the managed subnets",
    ] {
        assert!(printed.contains(says), "{says} not in:\n{printed}");
    }
    // The poller polls the managed subnets only ([poller] subnets is not set): of three
    // sessions, the one inside.
    lab.raemis
        .attach("001010000000013", "10.45.0.13".parse().unwrap(), "internet")
        .await
        .unwrap();
    lab.arbiter.plan().await.unwrap();
    let polled: Vec<String> = lab
        .arbiter
        .targets_in_use(161, 80)
        .iter()
        .map(|t| t.address.to_string())
        .collect();
    assert_eq!(polled, ["10.45.0.13"]);
}
