//! `efi-poller run` polls every address the EPC reports in use with the driver that
//! recognises it, with no hints, each the way its model needs: over SNMP, from the web
//! pages of its UI (XML CGI pages, or an HTML page behind HTTP Basic, the model told by its
//! UI's title), from what the CPE told its ACS through the TR-069 snooping proxy, from
//! what the ACS's API (GenieACS) knows of it, or over SSH and Telnet by a device profile;
//! an unknown device is reported as such.
//! It serves the results at `/api/v1/devices`, `/api/v1/tr069` and on `/metrics`.

use efi_lab::fleet::{device_ip, start_mixed_fleet_on_one_port};
use efi_lab::genieacs::GenieAcsSim;
use efi_lab::raemis::{RaemisOptions, RaemisSim, Subscriber};
use efi_lab::snmp_agent::SnmpAgent;
use efi_lab::sonar::scenario::Scenario;
use efi_lab::sonar::SonarSim;
use efi_lab::web_device::WebDevice;
use efi_tests::artifacts::artifacts;
use efi_tests::{PluginDir, Running};
use openmetrics_parser::openmetrics::parse_openmetrics;
use openmetrics_parser::{MetricsExposition, OpenMetricsType, OpenMetricsValue};
use serde_json::Value;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the host when the test ends, however it ends.
fn imsi(n: u32) -> String {
    format!("00101000000{n:04}")
}

/// Asks `url` until `done` accepts the answer; panics with the last answer after 60 s.
async fn wait_for(url: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::new();
    let mut last = Value::Null;
    while Instant::now() < deadline {
        if let Ok(r) = client.get(url).send().await {
            if let Ok(v) = r.json::<Value>().await {
                if done(&v) {
                    return v;
                }
                last = v;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not seen within 60 s; last answer: {last:#}");
}

/// The value of `family`'s sample with exactly these labels.
fn sample(
    metrics: &MetricsExposition<OpenMetricsType, OpenMetricsValue>,
    family: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    let f = metrics.families.get(family)?;
    let names = f.get_label_names();
    if names.len() != labels.len() {
        return None;
    }
    let values: Vec<String> = names
        .iter()
        .map(|n| {
            labels
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.to_string())
        })
        .collect::<Option<_>>()?;
    match &f.get_sample_by_label_values(&values)?.value {
        OpenMetricsValue::Gauge(n) | OpenMetricsValue::Unknown(n) => Some(n.as_f64()),
        OpenMetricsValue::Counter(c) => Some(c.value.as_f64()),
        OpenMetricsValue::Histogram(h) => h.count.map(|n| n as f64),
        _ => None,
    }
}

fn device<'a>(devices: &'a Value, ip: &str) -> Option<&'a Value> {
    devices
        .as_array()?
        .iter()
        .find(|d| d["address"].as_str() == Some(ip))
}

/// A CPE12300XG at 127.10.0.6: an SNMP agent answering its sysDescr (and no 17713.20
/// tree) on the fleet's port, and its web UI (efi-lab serving the fixture CGI pages over
/// self-signed HTTPS).
async fn cpe12300(
    snmp_port: u16,
) -> (
    efi_lab::snmp_agent::SnmpAgent,
    efi_lab::web_device::WebDevice,
) {
    let ip = device_ip(6);
    let agent = efi_lab::fleet::mib2_agent_with_descr(
        (ip, snmp_port).into(),
        6,
        "Linux GDM7243 3.10.0-uc0",
    )
    .await
    .unwrap();
    let fixture = efi_lab::web_device::fixture("telrad-cpe12300");
    let web = efi_lab::web_device::WebDevice::start((ip, 0).into(), &fixture)
        .await
        .unwrap();
    (agent, web)
}

/// The simulators the host polls and the host's plugins, config directory and addresses,
/// before the host runs. Fields drop in this order, the reverse of how they were started.
struct Lab {
    acs: efi_lab::cwmp::Acs,
    cwmp_listen: SocketAddr,
    listen: SocketAddr,
    dir: PluginDir,
    genieacs: GenieAcsSim,
    bec7000: WebDevice,
    _cpe12300_snmp: SnmpAgent,
    cpe12300_web: WebDevice,
    raemis: RaemisSim,
    sonar: SonarSim,
    snmp_port: u16,
    _fleet: Vec<SnmpAgent>,
    /// Linux CPEs read over SSH (127.10.0.9) and Telnet (127.10.0.10) by device profiles.
    _shells: [efi_lab::cli_device::CliDevice; 2],
}

impl Lab {
    /// Starts the fleet, Sonar, Raemis (the nine UEs attached), the web UIs, GenieACS and
    /// the ACS, and installs the plugins.
    async fn start() -> Lab {
        let fleet = start_mixed_fleet_on_one_port(4).await.unwrap();
        let snmp_port = fleet[0].addr().port();
        // The UEs' addresses are loopback ones (the CPE simulators listen there): Sonar knows
        // the subnet, and the arbiter manages it.
        let scenario = Scenario::lab_on_loopback();
        let sonar = SonarSim::start("127.0.0.1:0".parse().unwrap(), scenario)
            .await
            .unwrap();
        let raemis = RaemisSim::start("127.0.0.1:0".parse().unwrap(), RaemisOptions::default())
            .await
            .unwrap();
        attach_the_ues(&raemis).await;
        let (_cpe12300_snmp, cpe12300_web) = cpe12300(snmp_port).await;
        let fixture = efi_lab::web_device::fixture("bec-ridgewave-7000");
        let bec7000 = WebDevice::start((device_ip(8), 0).into(), &fixture)
            .await
            .unwrap();
        // GenieACS's documents: the IDU at 127.10.0.7, the ODU where it informs from; the
        // others at addresses no UE holds.
        let genieacs = GenieAcsSim::start(
            "127.0.0.1:0".parse().unwrap(),
            efi_lab::genieacs::model_fleet(
                [
                    "127.10.3.1",
                    "127.10.0.5",
                    "127.10.0.7",
                    "127.10.3.4",
                    "127.10.3.5",
                ],
                "2026-11-26T00:00:00.000Z",
            ),
        )
        .await
        .unwrap();
        let dir = PluginDir::new();
        for p in [
            "raemis",
            "sonar",
            "genieacs",
            "hello-driver",
            "bec-ridgewave",
            "baicells-atom",
            "telrad-cpe",
            "profiles",
        ] {
            dir.install(p);
        }
        let shells = linux_cpes_and_their_profiles(dir.path()).await;
        let listen = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let cwmp_listen = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let acs = efi_lab::cwmp::Acs::start(
            "127.0.0.1:0".parse().unwrap(),
            vec![
                "InternetGatewayDevice.DeviceInfo.".into(),
                "InternetGatewayDevice.WEB_GUI.".into(),
            ],
            None,
        )
        .await
        .unwrap();
        Lab {
            acs,
            cwmp_listen,
            listen,
            dir,
            genieacs,
            bec7000,
            _cpe12300_snmp,
            cpe12300_web,
            raemis,
            sonar,
            snmp_port,
            _fleet: fleet,
            _shells: shells,
        }
    }

    /// The host's config: this lab's peers, ports and plugins directory.
    fn config_toml(&self) -> String {
        format!(
            r#"
[log]
level = "warn"
[plugins]
dir = {dir:?}
rescan_secs = 0
[snmp]
timeout_ms = 300
retries = 0
[server]
listen = "{listen}"
[poller]
interval_secs = 1
snmp_port = {snmp_port}
web_port = {bec_web_port}
[arbiter]
managed_subnets = ["127.10.0.0/16"]
interval_secs = 1
[store]
url = "sqlite:{state}"
flush_interval_ms = 100
[tr069]
listen = "{cwmp_listen}"
acs = "{acs}"
# GenieACS's documents are from 2026-11-26T00:00Z: keep them fresh for the test.
max_age_secs = 315360000
[drivers.telrad-cpe]
web_port = {web_port}
[drivers.bec-ridgewave]
web_credentials = "bec-web"
[credentials.bec-web]
username = "admin"
password = "admin"
[drivers.profiles]
dir = {profiles:?}
[cli]
known_hosts = {known_hosts:?}
[credentials.cpe-cli]
username = "ops"
password = "shell-pass"
{lab}
[[sources]]
name = "acs"
plugin = "genieacs"
settings = {{ url = "{genieacs}" }}
"#,
            listen = self.listen,
            snmp_port = self.snmp_port,
            cwmp_listen = self.cwmp_listen,
            acs = self.acs.addr(),
            web_port = self.cpe12300_web.addr().port(),
            bec_web_port = self.bec7000.addr().port(),
            genieacs = self.genieacs.base_url(),
            dir = self.dir.path(),
            profiles = self.dir.path().join("profiles"),
            known_hosts = self.dir.path().join("known_hosts"),
            state = self.dir.path().join("state.db").display(),
            lab = efi_lab::lab_source_and_sink(
                &self.raemis.base_url(),
                &self.sonar.base_url(),
                "raemis-lab",
                "[sources.webhook]\nsecret_header = \"x-efi-secret\"\nsecret = \"poller-test\"",
                "",
            ),
        )
    }
}

/// Four CPEs that answer SNMP (a MIB-II box no vendor driver knows, a RidgeWave 6900, an
/// Atom OD04, a CPE12000SG), a Baicells ODU that speaks only TR-069 (to its ACS, through
/// efi-poller's proxy), a CPE12300XG read from its web UI, a Baicells IDU only GenieACS
/// knows, a RidgeWave 7000 with SNMP off and no ACS (its web UI's title and device-info
/// page), two Linux CPEs with only a shell (SSH at 127.10.0.9, Telnet at 127.10.0.10, read
/// by device profiles), and an attached UE whose CPE answers nothing: their UEs attached in
/// Raemis.
async fn attach_the_ues(raemis: &RaemisSim) {
    for n in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 99] {
        // The Linux CPEs' IMEIs carry the type codes their profiles recognise.
        let imei = match n {
            9 => "990001230000009".to_owned(),
            10 => "990001240000010".to_owned(),
            _ => format!("3500000000{n:05}"),
        };
        raemis.add_subscriber(Subscriber::new(&imsi(n), &imei, "", "Jane Doe"));
        raemis
            .attach(&imsi(n), device_ip(n).into(), "internet")
            .await
            .unwrap();
    }
}

/// The Linux CPEs at 127.10.0.9 (SSH) and 127.10.0.10 (Telnet), and in `<dir>/profiles` a
/// `linux-cpe` profile for each, recognised by its IMEI's type code (the EPC reports it).
async fn linux_cpes_and_their_profiles(
    dir: &std::path::Path,
) -> [efi_lab::cli_device::CliDevice; 2] {
    use efi_lab::cli_device::CliDevice;
    let profiles = dir.join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let ssh = CliDevice::start(device_ip(9).into(), crate::profiles::linux_shell("cpe-9"))
        .await
        .unwrap();
    let telnet = CliDevice::start(device_ip(10).into(), crate::profiles::linux_shell("cpe-10"))
        .await
        .unwrap();
    for (name, transport, port, tac) in [
        ("linux-cpe-ssh", "ssh", ssh.ssh_addr().port(), "99000123"),
        (
            "linux-cpe-telnet",
            "telnet",
            telnet.telnet_addr().port(),
            "99000124",
        ),
    ] {
        let text = crate::profiles::linux_cpe_for_tac(name, transport, port, "eth0", tac);
        std::fs::write(profiles.join(format!("{name}.toml")), text).unwrap();
    }
    [ssh, telnet]
}

/// The lab with `efi-poller run` polling it. Fields drop in this order: the host is killed
/// before its lab goes away.
struct MixedNetwork {
    host: Running,
    lab: Lab,
}

impl MixedNetwork {
    /// Starts the lab, writes the host's config and starts the host.
    async fn start() -> MixedNetwork {
        let lab = Lab::start().await;
        let config = lab.dir.path().join("config.toml");
        std::fs::write(&config, lab.config_toml()).unwrap();
        let host = Self::spawn_host(&lab);
        MixedNetwork { host, lab }
    }

    fn spawn_host(lab: &Lab) -> Running {
        let config = lab.dir.path().join("config.toml");
        Running(
            Command::new(artifacts().host_binary())
                .args(["--config", config.to_str().unwrap(), "run"])
                .env_remove("RUST_LOG")
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        )
    }

    /// Stops the host as systemd does (SIGTERM), waits for its clean exit, and starts it
    /// again with the same configuration and store.
    fn restart(&mut self) {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.host.0.id().to_string()])
            .status()
            .unwrap();
        assert!(stopped.success());
        let status = self.host.0.wait().unwrap();
        assert!(status.success(), "the host did not stop cleanly: {status}");
        self.host = Self::spawn_host(&self.lab);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_polls_every_address_in_use_and_serves_the_results() {
    efi_lab::init_tls();
    let mut net = MixedNetwork::start().await;
    the_odu_informs_its_acs_through_the_proxy(net.lab.cwmp_listen).await;

    let base = format!("http://{}", net.lab.listen);
    let api = format!("{base}/api/v1/devices");
    let devices = every_device_polled(&api).await;
    check_the_odu_and_the_snmp_cpes(&devices);
    check_the_web_and_genieacs_cpes(&net.lab, &devices);
    check_the_shell_cpes(&devices);
    let rsrp = bec_rsrp(&devices);
    check_the_silent_ue(&devices);
    check_the_history_in_the_store(&api).await;
    check_single_device_lookups(&api).await;
    a_malformed_push_is_refused(&base).await;
    check_metrics(&base, &devices, rsrp).await;
    check_the_api_matches_its_description(&base, &devices).await;
    check_the_tr069_cache(&base).await;
    check_sessions_and_outbox(&base).await;
    a_detached_ue_is_no_longer_polled(&net.lab.raemis, &api).await;
    check_every_plan_is_in_the_outbox(&base).await;
    a_restarted_host_polls_the_tr069_cpe_from_its_store(&mut net).await;
}

/// A TR-069-only CPE informs every PeriodicInformInterval (often an hour or more). A
/// restarted host does not wait for that: its TR-069 cache comes back from the store, so
/// the ODU is known before any new Inform and its first poll after the restart reads it.
async fn a_restarted_host_polls_the_tr069_cpe_from_its_store(net: &mut MixedNetwork) {
    net.restart();
    let restarted_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let base = format!("http://{}", net.lab.listen);
    let cpes = wait_for(
        &format!("{base}/api/v1/tr069"),
        "the restarted host's TR-069 cache",
        |v| v["cpes"].is_array(),
    )
    .await;
    assert_eq!(cpes["cpes"][0]["address"], "127.10.0.5", "{cpes:#}");
    let metrics = metrics_text(&base).await;
    assert!(
        metrics.contains("efi_tr069_informs_total 0"),
        "no Inform since the restart: the cache came from the store\n{metrics}"
    );
    let devices = wait_for(
        &format!("{base}/api/v1/devices"),
        "the ODU polled again after the restart",
        |v| {
            device(v, "127.10.0.5").is_some_and(|d| {
                d["polled_at_unix_s"].as_u64() >= Some(restarted_at) && d["last_error"].is_null()
            })
        },
    )
    .await;
    let odu = device(&devices, "127.10.0.5").unwrap();
    assert_eq!(odu["driver"], "baicells-atom", "{odu:#}");
    assert_eq!(odu["record"]["rsrp_dbm"].as_f64(), Some(-96.0), "{odu:#}");
    let metrics = metrics_text(&base).await;
    assert!(
        metrics.contains("efi_tr069_informs_total 0"),
        "polled without a new Inform\n{metrics}"
    );
}

/// The ODU informs its ACS as it would every PeriodicInformInterval, through the proxy
/// once the host has opened it.
async fn the_odu_informs_its_acs_through_the_proxy(cwmp_listen: SocketAddr) {
    let odu = efi_lab::cwmp::DataModel::from_genieacs(
        &efi_lab::genieacs::model_fleet(
            [
                "127.10.0.1",
                "127.10.0.5",
                "127.10.0.6",
                "127.10.0.7",
                "127.10.0.8",
            ],
            "2026-11-26T00:00:00.000Z",
        )[1],
    );
    let cpe = efi_lab::cwmp::Cpe::new(odu, device_ip(5).into());
    let started = Instant::now();
    loop {
        match cpe.session(cwmp_listen, &["2 PERIODIC"]).await {
            Ok(report) => {
                assert_eq!(report.statuses, [200, 200, 204]);
                break;
            }
            Err(_) if started.elapsed() < Duration::from_secs(60) => {
                // The host is still starting: the proxy is not listening yet.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the CPE never got through the proxy: {e:#}"),
        }
    }
}

/// Waits until the API lists all nine devices, the ODU, the IDU and the RidgeWave 7000
/// identified, and returns the list.
async fn every_device_polled(api: &str) -> Value {
    wait_for(
        api,
        "eleven devices polled, the ODU, the IDU, the RidgeWave 7000 and the shells identified",
        |v| {
            v.as_array().is_some_and(|a| a.len() == 11)
                && device(v, "127.10.0.9").is_some_and(|d| d["driver"] == "profiles")
                && device(v, "127.10.0.10").is_some_and(|d| d["driver"] == "profiles")
                && device(v, "127.10.0.8").is_some_and(|d| d["driver"] == "bec-ridgewave")
                && device(v, "127.10.0.5").is_some_and(|d| d["driver"] == "baicells-atom")
                && device(v, "127.10.0.7").is_some_and(|d| d["driver"] == "baicells-atom")
        },
    )
    .await
}

/// The ODU is polled from what it told its ACS; the four SNMP CPEs each by its driver.
fn check_the_odu_and_the_snmp_cpes(devices: &Value) {
    let odu = device(devices, "127.10.0.5").unwrap();
    assert!(odu["last_error"].is_null(), "{odu:#}");
    assert_eq!(odu["unidentified"], false, "{odu:#}");
    let r = &odu["record"];
    assert_eq!(r["identity"]["imei"], "867945040000002", "{odu:#}");
    assert_eq!(r["firmware"], "BaiCE_BG_1.6.16", "{odu:#}");
    assert_eq!(r["rsrp_dbm"].as_f64(), Some(-96.0), "{odu:#}");
    assert_eq!(r["eci"].as_u64(), Some(42529), "{odu:#}");
    for (n, driver) in [
        (1, "hello-driver"),
        (2, "bec-ridgewave"),
        (3, "baicells-atom"),
        (4, "telrad-cpe"),
    ] {
        let ip = device_ip(n).to_string();
        let d = device(devices, &ip).unwrap();
        assert_eq!(
            d["driver"].as_str(),
            Some(driver),
            "{ip} ({}): {d:#}",
            efi_lab::fleet::mixed_kind(n)
        );
        assert!(d["last_error"].is_null(), "{ip}: {d:#}");
        assert!(d["record"]["uptime_s"].as_u64().is_some(), "{ip}: {d:#}");
        // The plain Linux box has no vendor driver: only the generic MIB-II one knows it,
        // and it is reported as unidentified; every CPE model is recognised.
        assert_eq!(d["unidentified"], n == 1, "{ip}: {d:#}");
    }
}

/// The CPE12300XG read from its web UI, the IDU from GenieACS and the RidgeWave 7000 from
/// its web UI behind HTTP Basic.
fn check_the_web_and_genieacs_cpes(lab: &Lab, devices: &Value) {
    // The CPE12300XG: recognised by its sysDescr, its radio read from its CGI pages.
    let t12300 = device(devices, "127.10.0.6").unwrap();
    assert_eq!(t12300["driver"], "telrad-cpe", "{t12300:#}");
    assert!(t12300["last_error"].is_null(), "{t12300:#}");
    let r = &t12300["record"];
    assert_eq!(r["model"], "CPE12300", "{t12300:#}");
    assert_eq!(r["rx_rate_bps"].as_f64(), Some(1_200_000.0), "{t12300:#}");
    assert_eq!(r["rsrp_dbm"].as_f64(), Some(-93.5), "{t12300:#}");
    assert!(lab.cpe12300_web.requests() >= 4, "its four pages were read");
    // The IDU: nothing but GenieACS knows it; identified by its OUI, polled from the
    // ACS's document (bandwidth in kHz there).
    let idu = device(devices, "127.10.0.7").unwrap();
    assert!(idu["last_error"].is_null(), "{idu:#}");
    assert_eq!(idu["unidentified"], false, "{idu:#}");
    assert_eq!(
        idu["record"]["bandwidth_mhz"].as_f64(),
        Some(20.0),
        "{idu:#}"
    );
    assert_eq!(
        idu["record"]["identity"]["serial"], "1203000AQ0000000002",
        "{idu:#}"
    );
    // The RidgeWave 7000: recognised by its web UI's title, its MAC from the device-info
    // page behind HTTP Basic (the credential set the driver's settings name).
    let r7000 = device(devices, "127.10.0.8").unwrap();
    assert!(r7000["last_error"].is_null(), "{r7000:#}");
    assert_eq!(r7000["unidentified"], false, "{r7000:#}");
    assert_eq!(
        r7000["record"]["identity"]["mac"], "60:03:47:00:00:01",
        "{r7000:#}"
    );
    assert!(
        lab.bec7000.requests() >= 2,
        "its front page (identification) and its device-info page"
    );
}

/// The Linux CPEs with only a shell: recognised by their profiles' IMEI type codes, read
/// over SSH and over Telnet.
fn check_the_shell_cpes(devices: &Value) {
    for (ip, host, model) in [
        ("127.10.0.9", "cpe-9", "Linux CPE (ssh)"),
        ("127.10.0.10", "cpe-10", "Linux CPE (telnet)"),
    ] {
        let d = device(devices, ip).unwrap();
        assert_eq!(d["driver"], "profiles", "{d:#}");
        assert!(d["last_error"].is_null(), "{d:#}");
        assert_eq!(d["unidentified"], false, "{d:#}");
        let r = &d["record"];
        assert_eq!(r["hostname"], host, "{d:#}");
        assert_eq!(r["model"], model, "{d:#}");
        assert_eq!(r["uptime_s"].as_u64(), Some(86461), "{d:#}");
        assert_eq!(r["octets_received"].as_u64(), Some(987_654_321), "{d:#}");
        assert_eq!(r["identity"]["mac"], "02:ef:1a:00:00:11", "{d:#}");
    }
}

/// The RSRP the BEC RidgeWave 6900 at 127.10.0.2 reports.
fn bec_rsrp(devices: &Value) -> f64 {
    let bec = device(devices, "127.10.0.2").unwrap();
    bec["record"]["rsrp_dbm"]
        .as_f64()
        .expect("BEC reports RSRP")
}

/// The UE whose CPE answers nothing has no record and a failure naming it.
fn check_the_silent_ue(devices: &Value) {
    let silent = device(devices, "127.10.0.99").unwrap();
    assert!(silent["record"].is_null(), "{silent:#}");
    assert!(
        silent["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("127.10.0.99")),
        "the failure names the device: {silent:#}"
    );
}

/// Each poll leaves a point in the device's history, in the store.
async fn check_the_history_in_the_store(api: &str) {
    let history = wait_for(
        &format!("{api}/127.10.0.2/history?hours=1"),
        "a history point of 127.10.0.2",
        |v| v["points"].as_array().is_some_and(|p| !p.is_empty()),
    )
    .await;
    let point = &history["points"][0];
    assert!(point["error"].is_null(), "{history:#}");
    assert!(point["rsrp_dbm"].as_f64().is_some(), "{history:#}");
    let silent_history = wait_for(
        &format!("{api}/127.10.0.99/history?hours=1"),
        "a failed point of 127.10.0.99",
        |v| v["points"].as_array().is_some_and(|p| !p.is_empty()),
    )
    .await;
    assert!(
        silent_history["points"][0]["error"].as_str().is_some(),
        "{silent_history:#}"
    );
}

/// One device by its address; 404 for an address not polled, 400 for one that is no
/// address.
async fn check_single_device_lookups(api: &str) {
    let one: Value = reqwest::get(format!("{api}/127.10.0.3"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["driver"], "baicells-atom");
    let missing = reqwest::get(format!("{api}/127.10.0.200")).await.unwrap();
    assert_eq!(missing.status(), 404);
    let junk = reqwest::get(format!("{api}/not-an-ip")).await.unwrap();
    assert_eq!(junk.status(), 400);
    assert!(junk.text().await.unwrap().contains("not-an-ip"));
}

/// The host's `/metrics` page.
async fn metrics_text(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `/metrics` is valid OpenMetrics text with the devices' and the poller's metrics.
async fn check_metrics(base: &str, devices: &Value, rsrp: f64) {
    let text = metrics_text(base).await;
    let metrics = parse_openmetrics(&text)
        .unwrap_or_else(|e| panic!("/metrics is not valid OpenMetrics text ({e:?}):\n{text}"));
    check_the_device_metrics(&metrics, &text, devices, rsrp);
    check_the_poller_metrics(&metrics, &text);
    check_the_dashboard_and_alerts_name_real_metrics(&metrics, &text);
    the_health_scrape_leaves_out_the_devices(base, &metrics).await;
}

/// `/metrics?per_device=false` is the same page without the per-device gauges (a frequent
/// health scrape of a large fleet); a value that is not a boolean is refused, named.
async fn the_health_scrape_leaves_out_the_devices(
    base: &str,
    full: &MetricsExposition<OpenMetricsType, OpenMetricsValue>,
) {
    let text = reqwest::get(format!("{base}/metrics?per_device=false"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let light = parse_openmetrics(&text)
        .unwrap_or_else(|e| panic!("not valid OpenMetrics text ({e:?}):\n{text}"));
    let per_device: Vec<&String> = full
        .families
        .keys()
        .filter(|f| f.starts_with("efi_device_"))
        .collect();
    assert!(per_device.len() >= 5, "{per_device:?}");
    for family in full.families.keys() {
        assert_eq!(
            light.families.contains_key(family),
            !family.starts_with("efi_device_"),
            "{family}:\n{text}"
        );
    }
    assert_eq!(
        sample(&light, "efi_devices_unidentified", &[]),
        Some(1.0),
        "{text}"
    );
    let junk = reqwest::get(format!("{base}/metrics?per_device=maybe"))
        .await
        .unwrap();
    assert_eq!(junk.status(), 400);
    assert!(junk.text().await.unwrap().contains("per_device"));
}

/// A push the raemis plugin cannot read is answered 400 and counted (and changes nothing).
async fn a_malformed_push_is_refused(base: &str) {
    let answer = efi_lab::http_client()
        .post(format!("{base}/webhooks/raemis-lab"))
        .header("x-efi-secret", "poller-test")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("event_type=pdp_context_activated")
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status().as_u16(),
        400,
        "{}",
        answer.text().await.unwrap()
    );
}

/// Every metric the shipped Grafana dashboard and Prometheus alerts name is one the running
/// host exposes (a counter's `_total`, a histogram's `_bucket`/`_sum`/`_count` samples
/// belong to their family).
fn check_the_dashboard_and_alerts_name_real_metrics(
    metrics: &MetricsExposition<OpenMetricsType, OpenMetricsValue>,
    text: &str,
) {
    let root = efi_tests::artifacts::workspace_root();
    for file in [
        "packaging/grafana/efi-poller.json",
        "packaging/prometheus/alerts.yml",
    ] {
        let source = std::fs::read_to_string(root.join(file)).unwrap();
        let names: std::collections::BTreeSet<&str> = source
            .match_indices("efi_")
            .map(|(at, _)| {
                let rest = &source[at..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                &rest[..end]
            })
            .filter(|n| *n != "efi_")
            .collect();
        assert!(names.len() >= 10, "{file}: only {names:?}");
        for name in names {
            let family = ["_total", "_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|f| metrics.families.contains_key(*f))
                .unwrap_or(name);
            assert!(
                metrics.families.contains_key(family),
                "{file} names {name}, which /metrics does not have:\n{text}"
            );
        }
    }
}

/// Each device's up gauge, RSRP and downlink rate as the API reports them.
fn check_the_device_metrics(
    metrics: &MetricsExposition<OpenMetricsType, OpenMetricsValue>,
    text: &str,
    devices: &Value,
    rsrp: f64,
) {
    assert_eq!(
        sample(
            metrics,
            "efi_device_up",
            &[("address", "127.10.0.2"), ("driver", "bec-ridgewave")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            metrics,
            "efi_device_up",
            &[("address", "127.10.0.99"), ("driver", "")]
        ),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(metrics, "efi_device_rsrp_dbm", &[("address", "127.10.0.2")]),
        Some(rsrp),
        "{text}"
    );
    let telrad_rx = device(devices, "127.10.0.4").unwrap()["record"]["rx_rate_bps"]
        .as_f64()
        .expect("the CPE12000SG reports its downlink rate");
    assert_eq!(
        sample(
            metrics,
            "efi_device_rx_bits_per_second",
            &[("address", "127.10.0.4")]
        ),
        Some(telrad_rx),
        "{text}"
    );
}

/// The polls by driver and result, their durations, Sonar's requests, the TR-069 cache and
/// the scheduler.
fn check_the_poller_metrics(
    metrics: &MetricsExposition<OpenMetricsType, OpenMetricsValue>,
    text: &str,
) {
    assert!(
        sample(
            metrics,
            "efi_polls",
            &[("driver", "bec-ridgewave"), ("result", "ok")]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        sample(
            metrics,
            "efi_polls",
            &[("driver", ""), ("result", "failed")]
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    // How long polls took, per driver, as a histogram; Sonar's requests by rate class.
    assert!(
        sample(
            metrics,
            "efi_poll_duration_seconds",
            &[("driver", "bec-ridgewave")]
        )
        .is_some_and(|polls| polls >= 1.0),
        "{text}"
    );
    assert!(
        matches!(
            metrics.families["efi_poll_duration_seconds"].family_type,
            OpenMetricsType::Histogram
        ),
        "{text}"
    );
    assert!(
        sample(metrics, "efi_http_requests", &[("class", "sonar")]).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert_eq!(
        sample(metrics, "efi_tr069_cpes", &[]),
        Some(5.0),
        "the ODU (proxy and ACS) and GenieACS's four others: {text}"
    );
    assert_eq!(
        sample(metrics, "efi_tr069_informs", &[]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(metrics, "efi_http_limited", &[("class", "sonar")]),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(metrics, "efi_devices_unidentified", &[]),
        Some(1.0),
        "the MIB-II box: {text}"
    );
    // The scheduler has every address in use on its schedule and has polled each.
    assert_eq!(
        sample(metrics, "efi_poll_devices_scheduled", &[]),
        Some(11.0),
        "{text}"
    );
    assert!(
        sample(metrics, "efi_poll_started", &[]).is_some_and(|n| n >= 11.0),
        "{text}"
    );
    assert!(
        matches!(
            metrics.families["efi_device_up"].family_type,
            OpenMetricsType::Gauge
        ),
        "{text}"
    );
}

/// The API is described at /api/openapi.json; every path it lists answers as described,
/// and a device as served has exactly the fields described.
async fn check_the_api_matches_its_description(base: &str, devices: &Value) {
    let spec: Value = reqwest::get(format!("{base}/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    for path in [
        "/api/v1/devices",
        "/api/v1/devices/{address}",
        "/api/v1/sessions",
        "/api/v1/outbox",
        "/api/v1/plans",
        "/api/v1/plans/{id}",
        "/api/v1/tr069",
        "/api/v1/tr069/{address}",
    ] {
        assert!(paths.contains_key(path), "{path} not described");
    }
    for path in paths.keys() {
        if path.contains("{id}") {
            continue; // a recorded plan's ID is needed: checked below, once there is one
        }
        // The TR-069 cache holds only the ODU that informed through the proxy.
        let address = if path.starts_with("/api/v1/tr069") {
            "127.10.0.5"
        } else {
            "127.10.0.2"
        };
        let url = format!("{base}{}", path.replace("{address}", address));
        let r = reqwest::get(&url).await.unwrap();
        // The Sonar poller role is off in this host: its path says so (tests/sonar_poller.rs
        // checks it on).
        let expected = if path == "/api/v1/sonar-poller" {
            404
        } else {
            200
        };
        assert_eq!(r.status(), expected, "{url}");
        r.json::<Value>().await.unwrap();
    }
    let device_fields = spec["components"]["schemas"]["Device"]["properties"]
        .as_object()
        .unwrap();
    for d in devices.as_array().unwrap() {
        let d = d.as_object().unwrap();
        let mut described: Vec<&String> = device_fields.keys().collect();
        let mut served: Vec<&String> = d.keys().collect();
        described.sort();
        served.sort();
        assert_eq!(served, described, "a device as served vs as described");
    }
}

/// What the ODU told its ACS, as the TR-069 cache holds it; an address that never spoke
/// TR-069 is not there.
async fn check_the_tr069_cache(base: &str) {
    let cpes: Value = reqwest::get(format!("{base}/api/v1/tr069"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cpes["cpes"][0]["address"], "127.10.0.5", "{cpes:#}");
    assert_eq!(cpes["cpes"][0]["device_id"]["oui"], "48BF74", "{cpes:#}");
    let held: Value = reqwest::get(format!("{base}/api/v1/tr069/127.10.0.5"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let imei = held["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["path"] == "InternetGatewayDevice.WEB_GUI.Overview.DeviceInfo.IMEI")
        .unwrap_or_else(|| panic!("{held:#}"));
    assert_eq!(imei["value"], "867945040000002", "{held:#}");
    assert_eq!(imei["fresh"], true, "{held:#}");
    let unknown = reqwest::get(format!("{base}/api/v1/tr069/127.10.0.2"))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404, "127.10.0.2 answers SNMP, not TR-069");
}

/// The EPC's complete list of sessions, every UE's address in order, and the outbox's
/// counts.
async fn check_sessions_and_outbox(base: &str) {
    let sessions: Value = reqwest::get(format!("{base}/api/v1/sessions"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions["complete"], true, "{sessions:#}");
    let ips: Vec<&str> = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ip"].as_str().unwrap())
        .collect();
    assert_eq!(
        ips,
        [
            "127.10.0.1",
            "127.10.0.2",
            "127.10.0.3",
            "127.10.0.4",
            "127.10.0.5",
            "127.10.0.6",
            "127.10.0.7",
            "127.10.0.8",
            "127.10.0.9",
            "127.10.0.10",
            "127.10.0.99"
        ]
    );
    let outbox: Value = reqwest::get(format!("{base}/api/v1/outbox"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        outbox["pending"].is_u64() && outbox["applied"].is_u64(),
        "{outbox:#}"
    );
}

/// A UE that detaches is no longer polled once the arbiter has pulled the change.
async fn a_detached_ue_is_no_longer_polled(raemis: &RaemisSim, api: &str) {
    raemis.detach(&imsi(4)).await.unwrap();
    let devices = wait_for(api, "the detached CPE forgotten", |v| {
        device(v, "127.10.0.4").is_none()
    })
    .await;
    assert!(device(&devices, "127.10.0.2").is_some(), "{devices:#}");
}

/// Every plan is recorded in the outbox (the store) with what became of each change: the
/// first cycle's assignments of the attached UEs, and the detach's deletion.
async fn check_every_plan_is_in_the_outbox(base: &str) {
    let client = reqwest::Client::new();
    let get = |url: String| {
        let client = client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (plans, changes) = loop {
        let plans = get(format!("{base}/api/v1/plans?limit=100")).await;
        let mut changes = Vec::new();
        for p in plans["plans"].as_array().unwrap() {
            let id = p["id"].as_str().unwrap();
            let plan = get(format!("{base}/api/v1/plans/{id}")).await;
            let of_plan = plan["changes"].as_array().unwrap();
            assert_eq!(of_plan.len() as u64, p["changes"].as_u64().unwrap(), "{p}");
            changes.extend(of_plan.iter().map(|c| (p.clone(), c.clone())));
        }
        let deleted = changes.iter().any(|(_, c)| {
            c["status"] == "applied" && c["action"]["delete_assignment"]["ip"] == "127.10.0.4"
        });
        if deleted {
            break (plans, changes);
        }
        assert!(
            Instant::now() < deadline,
            "the detach's deletion not in the outbox within 60 s: {changes:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        changes.iter().any(|(p, c)| p["status"] == "done"
            && c["status"] == "applied"
            && c["action"]["create_assignment"].is_object()),
        "{plans:#}"
    );
    let r = reqwest::get(format!("{base}/api/v1/plans/plan-that-never-was"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
