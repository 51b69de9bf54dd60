//! Sonar's poller role end to end: `efi-poller sonar-poller` against the Sonar simulator's
//! `/api/poller` and `/api/batch_poller`, lab SNMP agents, net-snmp's snmpd (v1, v3, IPv6)
//! and a host that answers nothing. Runs in a private network namespace
//! (efi_lab::netns) so that a silent loopback address exists.

use efi_core::sonar_poller::status::PollerStatus;
use efi_lab::fleet::{device_ip, mib2_device};
use efi_lab::netsnmpd::{self, NetSnmpd};
use efi_lab::sim::Fault;
use efi_lab::snmp_agent::{AgentOptions, SnmpAgent};
use efi_lab::sonar::scenario::{PollerSeed, Scenario};
use efi_lab::sonar::SonarSim;
use efi_plugin_api::snmprec::AgentData;
use efi_tests::artifacts::artifacts;
use openmetrics_parser::openmetrics::parse_openmetrics;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const KEY: &str = "poller-api-key-7f3a";
const SILENT: &str = "127.200.0.1";
/// Where snmpd listens (and on [::1]).
const SNMPD_IP: &str = "127.11.0.1";

fn template(version: Value, community: &str) -> Value {
    json!({"icmp": true, "collect_interface_statistics": true, "snmp_version": version,
           "snmp_community": community, "snmp3_sec_level": null, "snmp3_auth_protocol": null,
           "snmp3_auth_passphrase": null, "snmp3_priv_protocol": null,
           "snmp3_priv_passphrase": null, "snmp3_context_name": null,
           "snmp3_context_engine_id": null,
           "oids": ["1.3.6.1.2.1.2.2.1.10.2", ".1.3.6.1.2.1.1.5.0", "1.3.6.1.4.1.99999.1.0"]})
}

fn v3_template(context: &str) -> Value {
    let mut t = template(json!(3), "shaaes");
    t["snmp3_sec_level"] = json!("authPriv");
    t["snmp3_auth_protocol"] = json!("SHA");
    t["snmp3_auth_passphrase"] = json!("auth-pass-sha");
    t["snmp3_priv_protocol"] = json!("AES");
    t["snmp3_priv_passphrase"] = json!("priv-pass-aes");
    t["snmp3_context_name"] = json!(context);
    t
}

fn host(ip: &str, template: u32, kind: &str) -> Value {
    json!({"ip": ip, "monitoring_template_id": template, "snmp_overrides": [],
           "type": kind, "polling_priority": 1})
}

/// The work: every template kind, v3, IPv6, two hosts on one IP, a silent host, a bad one.
fn work(snmpd_ip: &str, with_101: bool) -> Value {
    let lab1 = device_ip(1).to_string();
    let lab2 = device_ip(2).to_string();
    let mut hosts = json!({
        "102": host(&lab2, 1, "network_sites"),
        "103": host(snmpd_ip, 2, "accounts"),
        "104": host(snmpd_ip, 3, "accounts"),
        "105": host(snmpd_ip, 4, "accounts"),
        "106": host("::1", 5, "accounts"),
        "107": host(&lab1, 6, "accounts"),
        "108": host(&lab1, 1, "accounts"),
        "109": host(SILENT, 1, "accounts"),
        "110": host("not-an-address", 1, "accounts"),
        "111": host(&lab2, 7, "accounts"),
        "112": host(&lab2, 8, "network_sites"),
    });
    if with_101 {
        hosts["101"] = host(&lab1, 1, "accounts");
    }
    let mut icmp_only = template(Value::Null, "");
    icmp_only["oids"] = Value::Null;
    let mut snmp_only = template(json!(2), "public");
    snmp_only["icmp"] = json!(false);
    snmp_only["collect_interface_statistics"] = json!(false);
    json!({
        "hosts": hosts,
        "monitoring_templates": {
            "1": template(json!(2), "public"),
            "2": template(json!(1), netsnmpd::COMMUNITY),
            "3": v3_template(""),
            "4": v3_template("no-such-context"),
            "5": template(json!(2), netsnmpd::COMMUNITY),
            "6": icmp_only,
            "7": template(json!(2), "not-the-community"),
            "8": snmp_only,
        }
    })
}

fn run_poller(config: &Path, cycles: u32) -> (bool, String) {
    let out = Command::new(artifacts().host_binary())
        .args(["sonar-poller", "--cycles", &cycles.to_string(), "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Lab agents at 127.10.0.1 and .2, snmpd at 127.11.0.1 and [::1], one port for all; Sonar
/// with the poller's work; the poller's config, API key and pending file. Fields drop in
/// this order, the reverse of how they were started.
struct PollerLab {
    config: PathBuf,
    pending: PathBuf,
    _dir: tempfile::TempDir,
    sonar: SonarSim,
    _snmpd: NetSnmpd,
    _second: SnmpAgent,
    _first: SnmpAgent,
}

impl PollerLab {
    /// Starts the agents, snmpd and Sonar (host 101 in the work), and writes the poller's
    /// config, which allows 3000 bytes a post.
    async fn start() -> PollerLab {
        let first = SnmpAgent::start(
            SocketAddr::from((device_ip(1), 0)),
            AgentData::parse(&mib2_device(1)).unwrap(),
            AgentOptions::default(),
        )
        .await
        .unwrap();
        let port = first.addr().port();
        let second = SnmpAgent::start(
            SocketAddr::from((device_ip(2), port)),
            AgentData::parse(&mib2_device(2)).unwrap(),
            AgentOptions::default(),
        )
        .await
        .unwrap();
        let snmpd_ip = SNMPD_IP;
        let snmpd = NetSnmpd::start(
            &[
                format!("{snmpd_ip}:{port}").parse().unwrap(),
                format!("[::1]:{port}").parse().unwrap(),
            ],
            "",
        )
        .unwrap();
        let scenario = Scenario {
            poller: Some(PollerSeed {
                api_key: KEY.into(),
                work: work(snmpd_ip, true),
            }),
            ..Scenario::default()
        };
        let sonar = SonarSim::start("127.0.0.1:0".parse().unwrap(), scenario)
            .await
            .unwrap();

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("key"), format!("{KEY}\n")).unwrap();
        let pending = dir.path().join("pending.json");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "[sonar_poller]\nenabled = true\nurl = \"{}\"\napi_key_file = \"{}\"\n\
                 icmp_count = 3\nsnmp_port = {port}\nsnmp_timeout_ms = 400\nsnmp_retries = 1\n\
                 pending_file = \"{}\"\nmax_post_bytes = 3000\n[icmp]\ntimeout_ms = 400\ninterval_ms = 20\n",
                sonar.base_url(),
                dir.path().join("key").display(),
                pending.display()
            ),
        )
        .unwrap();
        PollerLab {
            config,
            pending,
            _dir: dir,
            sonar,
            _snmpd: snmpd,
            _second: second,
            _first: first,
        }
    }

    /// Runs `efi-poller sonar-poller` for one cycle in a new process.
    async fn run_once(&self) -> (bool, String) {
        tokio::task::spawn_blocking({
            let config = self.config.clone();
            move || run_poller(&config, 1)
        })
        .await
        .unwrap()
    }
}

#[test]
fn sonar_poller_reports_every_template_kind_and_loses_nothing_when_sonar_fails() {
    if !efi_lab::netns::enter(
        module_path!(),
        "sonar_poller_reports_every_template_kind_and_loses_nothing_when_sonar_fails",
    ) {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let lab = PollerLab::start().await;
        a_failed_post_keeps_the_results(&lab).await;
        let results = the_next_run_delivers_everything(&lab).await;
        check_results(&results);
        let poller = a_cycle_in_process(&lab.config).await;
        let status = poller.status();
        check_the_metrics(&status);
        check_the_rest_api(&status).await;
    });
}

/// Run 1: Sonar fails the post. The results stay on disk; the run says so.
async fn a_failed_post_keeps_the_results(lab: &PollerLab) {
    lab.sonar
        .faults()
        .inject("batch_poller", Fault::Status(503), 1);
    let (ok, text) = lab.run_once().await;
    assert!(!ok, "an undelivered cycle exits non-zero:\n{text}");
    assert!(text.contains("kept for the next attempt"), "{text}");
    assert!(
        text.contains("skipped host 110: `ip` \"not-an-address\""),
        "{text}"
    );
    assert!(lab.sonar.batch_reports().is_empty());
    assert!(lab.pending.exists());
}

/// Run 2, a new process: Sonar no longer lists host 101, yet its kept result is delivered
/// with the fresh ones, in several posts each within the size bound, every host once.
/// Returns the results by host ID.
async fn the_next_run_delivers_everything(lab: &PollerLab) -> serde_json::Map<String, Value> {
    lab.sonar.set_poller_work(work(SNMPD_IP, false));
    let (ok, text) = lab.run_once().await;
    assert!(ok, "{text}");
    assert!(!lab.pending.exists(), "delivered results are not kept");
    // Ten results do not fit in one body of 3000 bytes: several posts, each within it
    // (unless one host alone is larger).
    let reports = lab.sonar.batch_reports();
    assert!(reports.len() > 1, "{text}");
    let mut results = serde_json::Map::new();
    for body in &reports {
        assert_eq!(body["api_key"], KEY);
        let hosts = body["results"].as_object().unwrap().len();
        assert!(
            body.to_string().len() <= 3000 || hosts == 1,
            "{hosts} hosts, {} bytes",
            body.to_string().len()
        );
        for (id, r) in body["results"].as_object().unwrap() {
            assert!(
                results.insert(id.clone(), r.clone()).is_none(),
                "{id} posted twice"
            );
        }
    }
    let mut ids: Vec<&str> = results.keys().map(String::as_str).collect();
    ids.sort();
    assert_eq!(
        ids,
        ["101", "102", "103", "104", "105", "106", "107", "108", "109", "111", "112"],
        "every host once, 110 skipped"
    );
    results
}

/// In process, the same work polled by one cycle of the role; returns the poller.
async fn a_cycle_in_process(config: &Path) -> efi_core::sonar_poller::SonarPoller {
    let parsed = efi_core::config::Config::load(config).unwrap();
    let poller = efi_core::sonar_poller::SonarPoller::new(&parsed).unwrap();
    poller.cycle().await.unwrap();
    poller
}

/// The cycle's results feed /metrics: SNMP up and ICMP loss by host.
fn check_the_metrics(status: &Arc<PollerStatus>) {
    let text = efi_core::metrics::render_part(status.clone(), PollerStatus::encode_metrics);
    let metrics =
        parse_openmetrics(&text).unwrap_or_else(|e| panic!("not OpenMetrics ({e:?}):\n{text}"));
    let value = |family: &str, id: &str| -> f64 {
        let f = &metrics.families[family];
        f.iter_samples()
            .find(|s| s.get_labelset().unwrap().get_label_value("host_id") == Some(id))
            .map(|s| match &s.value {
                openmetrics_parser::OpenMetricsValue::Gauge(g) => g.as_f64(),
                other => panic!("{other:?}"),
            })
            .unwrap_or_else(|| panic!("{family} has no host {id}"))
    };
    assert_eq!(value("efi_sonar_host_snmp_up", "102"), 1.0);
    assert_eq!(value("efi_sonar_host_snmp_up", "109"), 0.0);
    assert_eq!(value("efi_sonar_host_icmp_loss_ratio", "109"), 1.0);
    assert_eq!(value("efi_sonar_host_icmp_loss_ratio", "106"), 0.0);
}

/// The same state served over HTTP as the standalone role serves it: the read API and
/// /metrics want the token, /healthz does not.
async fn check_the_rest_api(status: &Arc<PollerStatus>) {
    let (addr, _server) = efi_core::server::serve(
        efi_core::server::sonar_poller_router(
            status.clone(),
            Some(efi_core::config::Secret::new("api-token-9")),
        ),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    // The read API wants the token; /healthz does not.
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/api/v1/sonar-poller");
    let refused = client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    let wrong = client
        .get(&url)
        .bearer_auth("api-token-8")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let state: Value = client
        .get(&url)
        .bearer_auth("api-token-9")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["hosts"]["106"]["ip"], "::1");
    assert_eq!(state["hosts"]["109"]["result"]["snmp"]["up"], false);
    assert_eq!(state["last_cycle"]["skipped"].as_array().unwrap().len(), 1);
    assert_eq!(state["pending_hosts"], 0);
    let metrics_url = format!("http://{addr}/metrics");
    assert_eq!(client.get(&metrics_url).send().await.unwrap().status(), 401);
    let served = client
        .get(&metrics_url)
        .bearer_auth("api-token-9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        served.contains("efi_sonar_poller_posts_total{result=\"delivered\"} 1"),
        "{served}"
    );
}

fn check_results(results: &serde_json::Map<String, Value>) {
    let r = |id: &str| &results[id];
    // 101: v2c on a lab CPE.
    let lab = &r("101")["snmp"];
    assert_eq!(lab["up"], true, "{lab:#}");
    assert_eq!(lab["metadata"]["name"], "cpe-001");
    assert_eq!(lab["metadata"]["location"], "tower 1");
    // The agent's clock runs from its seed (3600 s for device 1).
    let uptime: u64 = lab["metadata"]["uptime"].as_str().unwrap().parse().unwrap();
    assert!(uptime >= 360_000, "{uptime}");
    assert_eq!(
        lab["results"]["others"]["1.3.6.1.2.1.1.2.0"],
        "1.3.6.1.4.1.8072.3.2.10"
    );
    assert_eq!(lab["results"]["others"]["1.3.6.1.2.1.1.5.0"], "cpe-001");
    assert_eq!(
        lab["results"]["counters"]["1.3.6.1.2.1.2.2.1.10.2"],
        "1012345"
    );
    assert!(lab["results"]["others"]
        .get("1.3.6.1.4.1.99999.1.0")
        .is_none());
    let ifs = lab["interfaces"].as_object().unwrap();
    assert_eq!(
        ifs.keys().collect::<Vec<_>>(),
        ["2", "3"],
        "loopback dropped"
    );
    assert_eq!(ifs["2"]["mac_address"], "02:EF:1A:00:00:01");
    assert_eq!(ifs["2"]["octets_in"], 1_012_345);
    assert_eq!(ifs["2"]["speed_mbps_in"], 1000);
    assert_eq!(ifs["2"]["type"], "6");
    assert_eq!(ifs["2"]["errors_in"], 1);
    assert_eq!(
        ifs["2"]["connected_l3"],
        json!([]),
        "ARP only for network sites"
    );
    let icmp = &r("101")["icmp"];
    assert_eq!(icmp["loss_percentage"], 0.0);
    assert!(icmp["low"].as_f64().unwrap() <= icmp["median"].as_f64().unwrap());
    assert!(icmp["median"].as_f64().unwrap() <= icmp["high"].as_f64().unwrap());

    // 102: a network site also gets addresses and ARP neighbours.
    let site = &r("102")["snmp"]["interfaces"]["2"];
    assert_eq!(site["ip_addresses"], json!(["10.0.2.1/24"]));
    assert_eq!(
        site["ip_addresses "],
        json!(["10.0.2.1/24"]),
        "legacy key too"
    );
    assert_eq!(site["connected_l3"], json!(["02:EF:1C:00:00:02"]));

    // 103: v1; 104: v3 authPriv; 106: IPv6 — all net-snmp.
    for id in ["103", "104", "106"] {
        let s = &r(id)["snmp"];
        assert_eq!(s["up"], true, "{id}: {s:#}");
        assert_eq!(s["metadata"]["name"], netsnmpd::SYS_NAME, "{id}");
    }
    assert_eq!(r("106")["icmp"]["loss_percentage"], 0.0, "ICMPv6 to ::1");
    // 105: the v3 context is sent, and an unknown one is refused (Sonar's poller drops it).
    assert_eq!(r("105")["snmp"]["up"], false);

    // 107 and 108 share 101's IP and stay apart.
    assert_eq!(r("107")["snmp"], Value::Null, "ICMP-only template");
    assert_eq!(r("107")["icmp"]["loss_percentage"], 0.0);
    assert_eq!(r("108")["snmp"]["metadata"]["name"], "cpe-001");

    // 109 answers nothing: full loss without a latency, SNMP down with the reason.
    let silent = r("109");
    assert_eq!(silent["icmp"]["loss_percentage"], 100.0);
    assert_eq!(silent["icmp"]["low"], Value::Null);
    assert_eq!(silent["icmp"]["median"], Value::Null);
    assert_eq!(silent["snmp"]["up"], false);
    assert!(silent["snmp"]["message"]
        .as_str()
        .unwrap()
        .contains("no SNMP answer"));
    assert_eq!(silent["snmp"]["interfaces"], json!([]));
    assert_eq!(silent["snmp"]["results"], json!([]));

    // 111: a wrong community is a device that does not answer.
    assert_eq!(r("111")["snmp"]["up"], false);

    // 112: no ping, no interface statistics: only the template's OIDs and metadata.
    let lean = r("112");
    assert_eq!(lean["icmp"], Value::Null);
    assert_eq!(lean["snmp"]["up"], true);
    assert_eq!(lean["snmp"]["interfaces"], json!([]));
    assert_eq!(lean["snmp"]["metadata"]["name"], "cpe-002");
    assert_eq!(
        lean["snmp"]["results"]["counters"]["1.3.6.1.2.1.2.2.1.10.2"],
        "2012345"
    );
}
