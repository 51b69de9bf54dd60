//! TR-069 snooping end to end on loopback: efi-lab's CWMP CPE runs real sessions through
//! efi-poller's proxy to efi-lab's ACS; the ACS must get every byte the CPE sent (plus the
//! Forwarded line) on one connection per CPE connection, and the host must then identify
//! and poll a CPE that answers no SNMP from what it told its ACS.

use efi_core::config::{Config, Tr069Config};
use efi_core::tr069::proxy::Proxy;
use efi_core::tr069::Tr069Cache;
use efi_lab::cwmp::{Acs, Cpe, DataModel, Transport};
use efi_lab::genieacs::{model_fleet, GenieAcsSim};
use efi_lab::raemis::{RaemisOptions, RaemisSim, Subscriber};
use efi_lab::sim::Fault;
use efi_lab::sonar::scenario::Scenario;
use efi_lab::sonar::SonarSim;
use efi_plugin_api::Target;
use efi_tests::PluginDir;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DECLARE: &str = "InternetGatewayDevice.WEB_GUI.";

fn odu() -> DataModel {
    let fleet = efi_lab::genieacs::model_fleet(
        [
            "127.10.69.1",
            "127.10.69.2",
            "127.10.69.3",
            "127.10.69.4",
            "127.10.69.5",
        ],
        "2026-11-26T00:00:00.000Z",
    );
    DataModel::from_genieacs(&fleet[1])
}

fn proxy_config(acs: SocketAddr) -> Tr069Config {
    Tr069Config {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        acs: Some(acs.to_string()),
        connect_timeout_ms: 2000,
        ..Tr069Config::default()
    }
}

fn cache() -> Arc<Tr069Cache> {
    Arc::new(Tr069Cache::new((&Tr069Config::default()).into()))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_through_the_proxy_reaches_the_acs_unchanged_and_fills_the_cache() {
    let acs = Acs::start(
        "127.0.0.1:0".parse().unwrap(),
        vec![DECLARE.into()],
        Some(("cpe", "s3cret")),
    )
    .await
    .unwrap();
    let cache = cache();
    let proxy = Proxy::start(&proxy_config(acs.addr()), cache.clone())
        .await
        .unwrap();
    for (n, transport) in [
        Transport::default(),
        Transport {
            gzip: true,
            chunked: false,
        },
        Transport {
            gzip: true,
            chunked: true,
        },
    ]
    .into_iter()
    .enumerate()
    {
        let address = ip(&format!("127.10.69.{}", 10 + n));
        let mut cpe = Cpe::new(odu(), address);
        cpe.credentials = Some(("cpe".into(), "s3cret".into()));
        cpe.transport = transport;
        let before = acs.received().len();
        let report = cpe.session(proxy.addr(), &["1 BOOT"]).await.unwrap();
        // 401 (auth asked), InformResponse, GetParameterValues, 204: the ACS's own answers.
        assert_eq!(report.statuses, [401, 200, 200, 204], "{transport:?}");
        assert_eq!(report.rpcs, ["GetParameterValues"]);
        let received = &acs.received()[before..];
        let bodies: Vec<&str> = received.iter().map(|r| r.body.as_str()).collect();
        assert_eq!(
            bodies, report.sent,
            "every body arrives as sent ({transport:?})"
        );
        let peers: std::collections::BTreeSet<SocketAddr> =
            received.iter().map(|r| r.peer).collect();
        assert_eq!(
            peers.len(),
            1,
            "one ACS connection for the CPE's one: {peers:?}"
        );
        for r in received {
            let forwarded: Vec<&str> = r
                .headers
                .iter()
                .filter(|(k, _)| k == "forwarded")
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(forwarded, [format!("for={address}")], "{:?}", r.headers);
            let header = |name: &str| r.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            assert!(header("authorization").is_some_and(|a| a.starts_with("Basic ")));
            assert_eq!(
                header("transfer-encoding").map(String::as_str),
                (transport.chunked && !r.body.is_empty()).then_some("chunked"),
                "framing passed on as sent"
            );
        }

        let id = cache
            .device_id(address, efi_plugin_api::now_unix_ms())
            .unwrap();
        assert_eq!(
            id.genieacs_id(),
            "48BF74-ODU%2FEG7010AM11%2FGDM7243QT-1203000AQ0000000001"
        );
        assert_eq!(
            acs.devices().last().map(String::as_str),
            Some(id.genieacs_id().as_str())
        );
        let values = cache
            .lookup(
                address,
                &[
                    "InternetGatewayDevice.DeviceInfo.SoftwareVersion".into(),
                    "InternetGatewayDevice.WEB_GUI.Overview.DeviceInfo.IMEI".into(),
                ],
                efi_plugin_api::now_unix_ms(),
            )
            .unwrap();
        let values: Vec<(&str, &str)> = values
            .iter()
            .map(|p| (p.path.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            values,
            [
                (
                    "InternetGatewayDevice.DeviceInfo.SoftwareVersion",
                    "BaiCE_BG_1.6.16"
                ),
                (
                    "InternetGatewayDevice.WEB_GUI.Overview.DeviceInfo.IMEI",
                    "867945040000002"
                ),
            ],
            "the Inform's parameters and the GetParameterValues answer"
        );
    }
    // The Informs the ACS refused (401) taught nothing; the accepted ones did.
    assert_eq!(cache.counters.informs.load(Ordering::Relaxed), 3);
    assert_eq!(cache.counters.value_sets.load(Ordering::Relaxed), 3);
    assert_eq!(cache.counters.unreadable.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_acs_gets_the_cpe_a_502_and_garbage_is_forwarded_and_counted() {
    // A port with nothing behind it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cache = cache();
    let proxy = Proxy::start(&proxy_config(dead), cache.clone())
        .await
        .unwrap();
    let cpe = Cpe::new(odu(), ip("127.10.69.20"));
    let err = cpe
        .session(proxy.addr(), &["2 PERIODIC"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("502"), "{err}");
    assert_eq!(cache.counters.upstream_failures.load(Ordering::Relaxed), 1);
    assert!(cache.is_empty());

    // A CWMP body that is not XML reaches the ACS all the same, and is counted.
    let acs = Acs::start("127.0.0.1:0".parse().unwrap(), vec![], None)
        .await
        .unwrap();
    let proxy = Proxy::start(&proxy_config(acs.addr()), cache.clone())
        .await
        .unwrap();
    let mut stream = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    let body = "<soap:Envelope><soap:Body><cwmp:Inform>";
    stream
        .write_all(
            format!(
                "POST / HTTP/1.1\r\nHost: acs\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400"),
        "the ACS's own answer: {answer}"
    );
    assert_eq!(acs.received().last().unwrap().body, body);
    assert_eq!(cache.counters.unreadable.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_passed_through_unread() {
    // An "ACS" that echoes what it reads: the proxy must neither wait for HTTP nor alter.
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let acs = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = upstream.accept().await.unwrap();
        let mut buf = [0u8; 11];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
    });
    let cache = cache();
    let proxy = Proxy::start(&proxy_config(acs), cache.clone())
        .await
        .unwrap();
    let mut cpe = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    // The start of a TLS ClientHello: no blank line will ever come.
    let hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    cpe.write_all(hello).await.unwrap();
    let mut echoed = [0u8; 11];
    cpe.read_exact(&mut echoed).await.unwrap();
    assert_eq!(&echoed, hello);
    assert_eq!(cache.counters.passed_through.load(Ordering::Relaxed), 1);
}

/// An "ACS" that echoes what each connection sends, and closes a connection that sent
/// `bye` (after echoing it).
async fn echo_acs() -> SocketAddr {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = upstream.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            s.write_all(&buf[..n]).await.unwrap();
                            if buf[..n].windows(3).any(|w| w == b"bye") {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Sends `what` and reads as many bytes back.
async fn echo(stream: &mut tokio::net::TcpStream, what: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut got = vec![0u8; what.len()];
    stream.write_all(what).await?;
    stream.read_exact(&mut got).await?;
    Ok(got)
}

/// Waits (bounded) until the proxy holds `n` open connections.
async fn open_connections(cache: &Tr069Cache, n: u64) {
    let wait = async {
        while cache.counters.open.load(Ordering::Relaxed) != n {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "open connections stayed {}, not {n}",
                cache.counters.open.load(Ordering::Relaxed)
            )
        });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_and_one_left_open_after_the_acs_closed_is_closed() {
    let cache = cache();
    let config = Tr069Config {
        max_connections: 1,
        close_grace_ms: 100,
        ..proxy_config(echo_acs().await)
    };
    let proxy = Proxy::start(&config, cache.clone()).await.unwrap();
    let mut a = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    // Bytes that are not HTTP (0x16 starts a TLS record): passed through at once.
    assert_eq!(echo(&mut a, b"\x16a1").await.unwrap(), b"\x16a1");
    open_connections(&cache, 1).await;

    // A second CPE connects (the backlog takes it) but is not served while the first is open.
    let mut b = tokio::net::TcpStream::connect(proxy.addr()).await.unwrap();
    b.write_all(b"\x16b1").await.unwrap();
    let mut got = [0u8; 3];
    let waited = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        b.read_exact(&mut got),
    )
    .await;
    assert!(waited.is_err(), "served over the cap: {waited:?}");
    assert_eq!(cache.counters.connections.load(Ordering::Relaxed), 1);
    drop(a);
    tokio::time::timeout(std::time::Duration::from_secs(10), b.read_exact(&mut got))
        .await
        .expect("served once the first connection ended")
        .unwrap();
    assert_eq!(&got, b"\x16b1");
    assert_eq!(cache.counters.connections.load(Ordering::Relaxed), 2);

    // The ACS closes; the CPE keeps its end open and silent: the proxy closes the
    // connection after close_grace_ms, not after idle_timeout_ms (300 s).
    assert_eq!(echo(&mut b, b"bye").await.unwrap(), b"bye");
    let mut rest = Vec::new();
    b.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "the ACS's close reaches the CPE");
    open_connections(&cache, 0).await;
    let metrics = efi_core::metrics::render_part(cache.clone(), Tr069Cache::encode_metrics);
    assert!(
        metrics
            .lines()
            .any(|l| l == "efi_tr069_proxy_open_connections 0.0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpe_without_snmp_is_identified_and_polled_from_what_it_told_its_acs() {
    let dir = PluginDir::new();
    for p in [
        "hello-driver",
        "bec-ridgewave",
        "baicells-atom",
        "telrad-cpe",
    ] {
        dir.install(p);
    }
    let text = format!(
        "[plugins]\ndir = {:?}\nrescan_secs = 0\n[snmp]\ntimeout_ms = 200\nretries = 0\n",
        dir.path()
    );
    let config = Config::parse(&text, std::path::Path::new("t.toml")).unwrap();
    let host = tokio::task::spawn_blocking(move || efi_core::host::Host::new(config))
        .await
        .unwrap();
    let address = ip("127.10.69.30");
    let target = Target::new(address);
    // Before the CPE has informed, nothing knows it.
    let err = efi_core::poller::poll(&host, &target, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("127.10.69.30"), "{err}");

    let acs = Acs::start(
        "127.0.0.1:0".parse().unwrap(),
        vec!["InternetGatewayDevice.DeviceInfo.".into(), DECLARE.into()],
        None,
    )
    .await
    .unwrap();
    let proxy = Proxy::start(
        &proxy_config(acs.addr()),
        host.runner.engines().tr069().clone(),
    )
    .await
    .unwrap();
    Cpe::new(odu(), address)
        .session(proxy.addr(), &["2 PERIODIC"])
        .await
        .unwrap();

    let outcome = efi_core::poller::poll(&host, &target, None).await.unwrap();
    assert_eq!(outcome.driver, "baicells-atom");
    assert!(outcome.confidence.unwrap() >= 90, "by the TR-069 OUI");
    let r = &outcome.record;
    assert_eq!(r.model.as_deref(), Some("EG7010A_M11_Ver.B"));
    assert_eq!(r.firmware.as_deref(), Some("BaiCE_BG_1.6.16"));
    assert_eq!(r.identity.imei.as_deref(), Some("867945040000002"));
    assert_eq!(r.identity.mac.as_deref(), Some("48:bf:74:00:00:02"));
    assert_eq!(r.rsrp_dbm, Some(-96.0));
    assert_eq!(
        (r.eci, r.enb_id, r.cell_id),
        (Some(42529), Some(166), Some(33))
    );
    assert_eq!(r.band, Some(43));
    assert_eq!(r.uptime_s, Some(3600));
    let metrics = efi_core::metrics::render_part(
        host.runner.engines().clone(),
        efi_core::engines::Engines::encode_metrics,
    );
    assert!(
        metrics.lines().any(|l| l == "efi_tr069_cpes 1.0"),
        "{metrics}"
    );
    assert!(metrics.contains("efi_tr069_informs_total 1"), "{metrics}");
}

/// The addresses of GenieACS's five CPEs; the UE in Raemis holds the second.
const ACS_IPS: [&str; 5] = [
    "127.10.70.1",
    "127.10.70.2",
    "127.10.70.3",
    "127.10.70.4",
    "127.10.70.5",
];

/// GenieACS knowing five CPEs, Sonar, Raemis with one UE attached, and an in-process host
/// with its arbiter over them. Fields drop in this order, the reverse of how they were
/// started.
struct AcsLab {
    arbiter: efi_core::arbiter::Arbiter,
    host: Arc<efi_core::host::Host>,
    _dir: PluginDir,
    _raemis: RaemisSim,
    _sonar: SonarSim,
    acs: GenieAcsSim,
}

impl AcsLab {
    /// Starts the simulators, attaches the UE, installs the plugins and builds the host
    /// and its arbiter.
    async fn start() -> AcsLab {
        let ips = ACS_IPS;
        let acs = GenieAcsSim::start(
            "127.0.0.1:0".parse().unwrap(),
            model_fleet(ips, "2026-11-26T00:00:00.000Z"),
        )
        .await
        .unwrap();
        let sonar = SonarSim::start("127.0.0.1:0".parse().unwrap(), Scenario::lab_on_loopback())
            .await
            .unwrap();
        let raemis = RaemisSim::start("127.0.0.1:0".parse().unwrap(), RaemisOptions::default())
            .await
            .unwrap();
        raemis.add_subscriber(Subscriber::new(
            "001010000000102",
            "35000000001",
            "",
            "Jane Doe",
        ));
        raemis
            .attach("001010000000102", ips[1].parse().unwrap(), "internet")
            .await
            .unwrap();
        let dir = PluginDir::new();
        for p in [
            "raemis",
            "sonar",
            "genieacs",
            "baicells-atom",
            "bec-ridgewave",
            "telrad-cpe",
            "hello-driver",
        ] {
            dir.install(p);
        }
        let toml = acs_lab_config(&dir, &acs, &raemis, &sonar);
        let config = Config::parse(&toml, std::path::Path::new("t.toml")).unwrap();
        let host = Arc::new(
            tokio::task::spawn_blocking(move || efi_core::host::Host::new(config))
                .await
                .unwrap(),
        );
        let arbiter = efi_tests::arbiter(host.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}\n{:#?}", host.registry.listing()));
        AcsLab {
            arbiter,
            host,
            _dir: dir,
            _raemis: raemis,
            _sonar: sonar,
            acs,
        }
    }
}

/// The host's config: the lab's source and sink, and GenieACS as a source read two
/// devices a page.
fn acs_lab_config(
    dir: &PluginDir,
    acs: &GenieAcsSim,
    raemis: &RaemisSim,
    sonar: &SonarSim,
) -> String {
    format!(
        r#"
[plugins]
dir = {dir:?}
rescan_secs = 0
[snmp]
timeout_ms = 200
retries = 0
[http]
max_retries = 0
[drivers.telrad-cpe]
web_plain_http = true
[arbiter]
managed_subnets = ["127.10.0.0/16"]
[store]
url = {state:?}
[tr069]
# GenieACS's documents are from 2026-11-26T00:00Z: keep them fresh for the test.
max_age_secs = 315360000
{lab}
[[sources]]
name = "acs"
plugin = "genieacs"
settings = {{ url = "{acs_url}", page_size = 2 }}
"#,
        dir = dir.path(),
        state = dir.path().join("state.db"),
        acs_url = acs.base_url(),
        lab = efi_lab::lab_source_and_sink(
            &raemis.base_url(),
            &sonar.base_url(),
            "raemis-lab",
            "",
            "",
        ),
    )
}

/// A lab where Raemis says which UEs hold which addresses and GenieACS knows the CPEs
/// behind them: the genieacs source fills the TR-069 cache and never touches IPAM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_genieacs_source_fills_the_cache_and_never_decides_ipam() {
    let lab = AcsLab::start().await;
    check_the_pull_fills_the_cache_not_the_sessions(&lab).await;
    check_cpes_polled_from_the_acs_data(&lab.host).await;
    check_genieacs_down_never_holds_back_ipam(&lab).await;
}

/// Only the EPC's session is a session: GenieACS's five CPEs are information, cached by
/// their addresses.
async fn check_the_pull_fills_the_cache_not_the_sessions(lab: &AcsLab) {
    let ips = ACS_IPS;
    let (sessions, complete, errors) = lab.arbiter.pull().await;
    assert!(errors.is_empty(), "{errors:?}");
    assert!(complete);
    // Only the EPC's session: GenieACS's five CPEs are information, not sessions.
    let addresses: Vec<String> = sessions
        .iter()
        .filter_map(|s| s.ip)
        .map(|ip| ip.to_string())
        .collect();
    assert_eq!(addresses, [ips[1]]);
    let cache = lab.host.runner.engines().tr069();
    let known: Vec<String> = cache
        .summaries()
        .iter()
        .map(|s| s.address.to_string())
        .collect();
    assert_eq!(known, ips, "every CPE of the ACS, by its address");
    assert_eq!(
        cache.summaries()[1].genieacs_id.as_deref(),
        Some("48BF74-ODU%2FEG7010AM11%2FGDM7243QT-1203000AQ0000000001")
    );
}

/// CPEs that answer no SNMP, each identified and described from the ACS's data: the UE's
/// Baicells, a RidgeWave, a CPE12000SG and a CPE12300XG.
async fn check_cpes_polled_from_the_acs_data(host: &efi_core::host::Host) {
    let ips = ACS_IPS;
    // The UE's CPE answers no SNMP; the ACS's data identifies and describes it.
    let outcome = efi_core::poller::poll(host, &Target::new(ips[1].parse().unwrap()), None)
        .await
        .unwrap();
    assert_eq!(outcome.driver, "baicells-atom");
    assert_eq!(
        outcome.record.identity.imei.as_deref(),
        Some("867945040000002")
    );
    assert_eq!(outcome.record.rsrp_dbm, Some(-96.0));
    assert_eq!(outcome.record.bandwidth_mhz, Some(20.0));
    // After a few SNMP requests without an answer, a CPE that informs over TR-069 is read
    // from TR-069 alone (no SNMP timeout per poll) until `poller.snmp_recheck_secs` passes.
    let ue: std::net::IpAddr = ips[1].parse().unwrap();
    let credentials = host.runner.engines().credentials();
    let mut polls = 1;
    while credentials.snmp_silenced(ue).is_none() {
        assert!(polls < 5, "SNMP still asked after {polls} silent polls");
        efi_core::poller::poll(host, &Target::new(ue), Some("baicells-atom"))
            .await
            .unwrap();
        polls += 1;
    }
    let again = efi_core::poller::poll(host, &Target::new(ue), None)
        .await
        .unwrap();
    assert_eq!(
        again.driver, "baicells-atom",
        "identified from TR-069 alone"
    );
    assert_eq!(again.record.rsrp_dbm, Some(-96.0));

    // A RidgeWave without SNMP, from its X_BEC_COM_ModuleA tree in the ACS.
    let bec = efi_core::poller::poll(host, &Target::new(ips[0].parse().unwrap()), None)
        .await
        .unwrap();
    assert_eq!(bec.driver, "bec-ridgewave");
    assert_eq!(bec.record.model.as_deref(), Some("RidgeWave 6900"));
    assert_eq!(bec.record.identity.imei.as_deref(), Some("869910040000001"));
    assert_eq!(
        (bec.record.rsrp_dbm, bec.record.eci),
        (Some(-104.0), Some(0xA621))
    );

    // The Telrads without SNMP: the CPE12000SG from its WEB_GUI.Status tree; the CPE12300XG
    // recognised by its WANNetConfigInfo tree, its web UI tried (nothing listens) and its
    // record taken from the ACS's data.
    let t12000 = efi_core::poller::poll(host, &Target::new(ips[3].parse().unwrap()), None)
        .await
        .unwrap();
    assert_eq!(t12000.driver, "telrad-cpe");
    assert_eq!(t12000.record.model.as_deref(), Some("CPE12000SG"));
    assert_eq!(
        (t12000.record.enb_id, t12000.record.cell_id),
        (Some(166), Some(33))
    );
    assert_eq!(t12000.record.tx_rate_bps, None);
    assert_eq!(t12000.record.rx_rate_bps, Some(4_320.0), "\"4.320 kbps\"");
    assert_eq!(
        t12000.record.identity.imsi.as_deref(),
        Some("001010000000103")
    );
    let t12300 = efi_core::poller::poll(host, &Target::new(ips[4].parse().unwrap()), None)
        .await
        .unwrap();
    assert_eq!(t12300.driver, "telrad-cpe");
    assert_eq!(t12300.record.model.as_deref(), Some("CPE12300XG"));
    assert_eq!(
        (t12300.record.rsrp_dbm, t12300.record.eci),
        (Some(-93.0), Some(0xA617))
    );
    assert_eq!(
        t12300.record.identity.mac.as_deref(),
        Some("34:ba:9a:00:00:04")
    );
}

/// GenieACS down: reported, but the EPC's picture stays complete (detaches go on), and
/// what was read stays cached.
async fn check_genieacs_down_never_holds_back_ipam(lab: &AcsLab) {
    let cache = lab.host.runner.engines().tr069();
    lab.acs.faults().inject("devices", Fault::Status(503), 1);
    let (_, complete, errors) = lab.arbiter.pull().await;
    assert!(complete, "an ACS failure never holds back IPAM");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "acs");
    assert!(errors[0].1.contains("HTTP 503"), "{errors:?}");
    assert_eq!(cache.len(), 5, "what was read stays cached");
    let metrics = efi_core::metrics::render_part(
        lab.host.runner.engines().clone(),
        efi_core::engines::Engines::encode_metrics,
    );
    assert!(
        metrics.contains("efi_tr069_acs_devices_read_total 5"),
        "{metrics}"
    );
}
