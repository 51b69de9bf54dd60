//! The host's I/O engines against real peers: SNMPv3 against net-snmp's `snmpd`, ICMP loss
//! inside a private network namespace where some loopback addresses never answer, HTTPS
//! against a self-signed CPE page, SSH and Telnet scripts against efi-lab's CLI devices.

use efi_core::config::{IcmpConfig, Secret, SnmpConfig};
use efi_core::engines::icmp::IcmpEngine;
use efi_core::engines::snmp::{AuthProtocol, PrivProtocol, SnmpCredentials, SnmpEngine, UsmUser};
use efi_lab::netsnmpd::{self, NetSnmpd};
use efi_plugin_api::{IoErrorKind, Oid, SnmpValue};
use std::net::SocketAddr;
use std::time::Duration;

fn free_udp_port() -> SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap()
}

fn user(
    name: &str,
    auth: Option<(AuthProtocol, &str)>,
    privacy: Option<(PrivProtocol, &str)>,
) -> UsmUser {
    UsmUser {
        user: name.to_string(),
        auth: auth.map(|(p, s)| (p, Secret::new(s))),
        privacy: privacy.map(|(p, s)| (p, Secret::new(s))),
        context_name: String::new(),
        context_engine_id: None,
    }
}

fn engine() -> SnmpEngine {
    SnmpEngine::new(SnmpConfig {
        timeout_ms: 1000,
        retries: 0,
        ..SnmpConfig::default()
    })
}

fn sys_name() -> Oid {
    "1.3.6.1.2.1.1.5.0".parse().unwrap()
}

async fn get_sys_name(
    engine: &SnmpEngine,
    agent: SocketAddr,
    user: UsmUser,
) -> Result<String, efi_plugin_api::IoError> {
    let mut session = engine.session(agent, SnmpCredentials::V3(user));
    let vbs = session.get(&[sys_name()]).await?;
    Ok(vbs[0].value.as_text().unwrap_or_default())
}

#[tokio::test]
async fn snmpv3_every_security_level_and_protocol_round_trips_with_net_snmp() {
    let agent = NetSnmpd::start(&[free_udp_port()], "").unwrap();
    let engine = engine();
    let cases = [
        user(
            "shaaes",
            Some((AuthProtocol::Sha1, "auth-pass-sha")),
            Some((PrivProtocol::Aes128, "priv-pass-aes")),
        ),
        user(
            "sha256aes",
            Some((AuthProtocol::Sha256, "auth-pass-256")),
            Some((PrivProtocol::Aes128, "priv-pass-256")),
        ),
        user(
            "md5des",
            Some((AuthProtocol::Md5, "auth-pass-md5")),
            Some((PrivProtocol::Des, "priv-pass-des")),
        ),
        user(
            "md5only",
            Some((AuthProtocol::Md5, "auth-pass-md5only")),
            None,
        ),
    ];
    for case in cases {
        let name = case.user.clone();
        assert_eq!(
            get_sys_name(&engine, agent.addr, case)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}")),
            netsnmpd::SYS_NAME,
            "{name}"
        );
    }
}

#[tokio::test]
async fn snmpv3_walk_spans_many_getbulk_pages_in_one_session() {
    let agent = NetSnmpd::start(&[free_udp_port()], "").unwrap();
    let engine = engine();
    let shaaes = user(
        "shaaes",
        Some((AuthProtocol::Sha1, "auth-pass-sha")),
        Some((PrivProtocol::Aes128, "priv-pass-aes")),
    );
    let mut session = engine.session(agent.addr, SnmpCredentials::V3(shaaes));
    let root: Oid = "1.3.6.1.2.1.1".parse().unwrap();
    // Two varbinds per page: the system group (7+ scalars and sysORTable) takes many pages.
    let walked = session.walk(&root, 2).await.unwrap();
    assert!(walked.len() > 10, "{walked:?}");
    assert!(walked.windows(2).all(|w| w[0].oid < w[1].oid));
    assert!(walked.iter().all(|vb| vb.oid.is_below(&root)));
    assert!(walked
        .iter()
        .any(|vb| vb.value == SnmpValue::OctetString(netsnmpd::SYS_NAME.as_bytes().to_vec())));
}

#[tokio::test]
async fn snmpv3_wrong_passphrase_context_and_engine_id_are_refused() {
    let agent = NetSnmpd::start(&[free_udp_port()], "").unwrap();
    let engine = engine();
    let good = || {
        user(
            "shaaes",
            Some((AuthProtocol::Sha1, "auth-pass-sha")),
            Some((PrivProtocol::Aes128, "priv-pass-aes")),
        )
    };

    let wrong_pass = user(
        "shaaes",
        Some((AuthProtocol::Sha1, "not-the-pass")),
        Some((PrivProtocol::Aes128, "priv-pass-aes")),
    );
    let err = get_sys_name(&engine, agent.addr, wrong_pass)
        .await
        .unwrap_err();
    assert!(err.message.contains(&agent.addr.to_string()), "{err}");

    // The context is sent (Sonar's own poller drops it): the default context answers, an
    // unknown one does not.
    let mut bogus_context = good();
    bogus_context.context_name = "no-such-context".into();
    assert!(get_sys_name(&engine, agent.addr, bogus_context)
        .await
        .is_err());

    // A known engine ID skips discovery; the agent's own one works, another does not.
    let mut known_engine = good();
    known_engine.context_engine_id = Some(netsnmpd::ENGINE_ID.to_vec());
    assert_eq!(
        get_sys_name(&engine, agent.addr, known_engine)
            .await
            .unwrap(),
        netsnmpd::SYS_NAME
    );
    let mut other_engine = good();
    other_engine.context_engine_id = Some(b"\x80\x00\x1f\x88\x04someone-else".to_vec());
    assert!(get_sys_name(&engine, agent.addr, other_engine)
        .await
        .is_err());
}

#[tokio::test]
async fn snmpv2c_and_v1_read_the_same_agent() {
    let agent = NetSnmpd::start(&[free_udp_port()], "").unwrap();
    let engine = engine();
    for credentials in [
        SnmpCredentials::V2c(Secret::new(netsnmpd::COMMUNITY)),
        SnmpCredentials::V1(Secret::new(netsnmpd::COMMUNITY)),
    ] {
        let mut session = engine.session(agent.addr, credentials.clone());
        let vbs = session.get(&[sys_name()]).await.unwrap();
        assert_eq!(
            vbs[0].value.as_text().as_deref(),
            Some(netsnmpd::SYS_NAME),
            "{credentials:?}"
        );
        let walked = session
            .walk(&"1.3.6.1.2.1.1".parse().unwrap(), 3)
            .await
            .unwrap();
        assert!(walked.len() > 10, "{credentials:?}");
    }
    let mut wrong = engine
        .session(agent.addr, SnmpCredentials::V2c(Secret::new("wrong")))
        .with_timeout(Duration::from_millis(200), 1);
    let err = wrong.get(&[sys_name()]).await.unwrap_err();
    assert_eq!(err.kind, IoErrorKind::Timeout, "{err}");
    assert!(err.message.contains("2 tries"), "{err}");
}

#[test]
fn icmp_counts_loss_for_an_address_that_does_not_answer() {
    if !efi_lab::netns::enter(
        module_path!(),
        "icmp_counts_loss_for_an_address_that_does_not_answer",
    ) {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let engine = IcmpEngine::new(IcmpConfig {
            timeout_ms: 300,
            interval_ms: 20,
            ..IcmpConfig::default()
        });
        let up = engine.probe("127.0.0.1".parse().unwrap(), 3).await.unwrap();
        assert_eq!((up.sent(), up.received()), (3, 3), "{up:?}");
        let silent = format!("{}0.1", efi_lab::netns::SILENT_PREFIX);
        let down = engine.probe(silent.parse().unwrap(), 3).await.unwrap();
        assert_eq!((down.sent(), down.received()), (3, 0), "{down:?}");
        assert_eq!(down.loss(), 1.0);
        assert_eq!(down.min_ms(), None, "a lost probe is never a latency");
    });
}

async fn lab_agent() -> efi_lab::snmp_agent::SnmpAgent {
    efi_lab::snmp_agent::SnmpAgent::start(
        "127.0.0.1:0".parse().unwrap(),
        efi_plugin_api::snmprec::AgentData::parse(&efi_lab::fleet::mib2_device(7)).unwrap(),
        efi_lab::snmp_agent::AgentOptions::default(),
    )
    .await
    .unwrap()
}

/// The lab agent speaks v1 the v1 way: noSuchName instead of exception values, Counter64
/// objects invisible, and a GETNEXT walk that ends on noSuchName.
#[tokio::test]
async fn the_lab_agent_answers_snmpv1_as_a_v1_agent_does() {
    let mut text = efi_lab::fleet::mib2_device(7);
    // ifHCInOctets of eth0: a Counter64 a v1 manager must never see.
    text.push_str("1.3.6.1.2.1.31.1.1.1.6.2|70|123456789012\n");
    let agent = efi_lab::snmp_agent::SnmpAgent::start(
        "127.0.0.1:0".parse().unwrap(),
        efi_plugin_api::snmprec::AgentData::parse(&text).unwrap(),
        efi_lab::snmp_agent::AgentOptions::default(),
    )
    .await
    .unwrap();
    let engine = engine();
    let mut v1 = engine.session(agent.addr(), SnmpCredentials::V1(Secret::new("public")));
    let vbs = v1.get(&[sys_name()]).await.unwrap();
    assert_eq!(vbs[0].value.as_text().as_deref(), Some("cpe-007"));

    let missing: Oid = "1.3.6.1.2.1.1.99.0".parse().unwrap();
    let e = v1.get(&[sys_name(), missing]).await.unwrap_err();
    assert!(e.message.contains("error status 2 at index 2"), "{e}");
    let hc: Oid = "1.3.6.1.2.1.31.1.1.1.6.2".parse().unwrap();
    let e = v1.get(std::slice::from_ref(&hc)).await.unwrap_err();
    assert!(e.message.contains("error status 2 at index 1"), "{e}");

    // The walk past the end of the MIB: every object but the Counter64, then noSuchName.
    let all = v1.walk(&"1.3.6.1.2.1".parse().unwrap(), 0).await.unwrap();
    assert!(all.len() > 30, "{}", all.len());
    assert!(
        all.iter().all(|vb| vb.oid != hc),
        "a Counter64 reached a v1 manager"
    );
    // The same agent over v2c shows it.
    let mut v2 = engine.session(agent.addr(), SnmpCredentials::V2c(Secret::new("public")));
    let vbs = v2.get(&[hc]).await.unwrap();
    assert_eq!(vbs[0].value, SnmpValue::Counter64(123_456_789_012));
}

#[tokio::test]
async fn snmp_timeout_then_success_on_the_retry() {
    let agent = lab_agent().await;
    let engine = SnmpEngine::new(SnmpConfig {
        timeout_ms: 300,
        retries: 1,
        ..SnmpConfig::default()
    });
    agent.set_fault(efi_lab::snmp_agent::Fault::DropNext(1));
    let mut session = engine.session(agent.addr(), SnmpCredentials::V2c(Secret::new("public")));
    let vbs = session.get(&[sys_name()]).await.unwrap();
    assert_eq!(vbs[0].value.as_text().as_deref(), Some("cpe-007"));
    assert_eq!(
        agent.requests(),
        2,
        "the first try was lost, the retry answered"
    );
}

#[tokio::test]
async fn a_malformed_snmp_answer_is_counted_and_survived() {
    let agent = lab_agent().await;
    let engine = SnmpEngine::new(SnmpConfig {
        timeout_ms: 300,
        retries: 0,
        ..SnmpConfig::default()
    });
    let credentials = SnmpCredentials::V2c(Secret::new("public"));
    agent.set_fault(efi_lab::snmp_agent::Fault::Garbage);
    let err = engine
        .session(agent.addr(), credentials.clone())
        .get(&[sys_name()])
        .await
        .unwrap_err();
    assert_eq!(err.kind, IoErrorKind::Timeout, "{err}");
    assert_eq!(
        engine.stray_answers().0,
        1,
        "the garbage datagram is counted"
    );
    agent.set_fault(efi_lab::snmp_agent::Fault::None);
    let vbs = engine
        .session(agent.addr(), credentials)
        .get(&[sys_name()])
        .await
        .unwrap();
    assert_eq!(vbs[0].value.as_text().as_deref(), Some("cpe-007"));
}

#[tokio::test]
async fn https_with_an_untrusted_certificate_is_refused_unless_the_driver_opts_out() {
    use efi_core::config::HttpConfig;
    use efi_core::engines::http::HttpEngine;
    use efi_plugin_api::{HttpRequest, IoReply, TlsPolicy};
    let pki = efi_lab::pki::TestPki::generate("cpe-vendor-ca");
    let router = axum::Router::new().route("/status.xml", axum::routing::get(|| async { "<ok/>" }));
    let server = efi_lab::sim::SimServer::start_tls(
        "127.0.0.1:0".parse().unwrap(),
        router,
        pki.server_config(false),
    )
    .await
    .unwrap();
    let url = format!("https://127.0.0.1:{}/status.xml", server.addr().port());
    let engine = HttpEngine::new(HttpConfig::default(), Default::default());

    let verify = HttpRequest::get(&url);
    let err = engine.execute(&verify).await.unwrap_err();
    assert!(err.message.to_lowercase().contains("certificate"), "{err}");

    let mut opt_out = HttpRequest::get(&url);
    opt_out.tls = TlsPolicy::AcceptInvalid;
    match engine.execute(&opt_out).await.unwrap() {
        IoReply::Http(r) => {
            assert_eq!(r.status, 200);
            assert_eq!(r.body, b"<ok/>");
        }
        other => panic!("{other:?}"),
    }

    // An operator can forbid the opt-out for every driver.
    let strict = HttpEngine::new(
        HttpConfig {
            allow_invalid_certs: false,
            ..HttpConfig::default()
        },
        Default::default(),
    );
    let err = strict.execute(&opt_out).await.unwrap_err();
    assert_eq!(err.kind, IoErrorKind::Unsupported, "{err}");
}

mod cli {
    use efi_core::config::{CliConfig, CredentialConfig, Secret};
    use efi_core::engines::shell::ShellEngine;
    use efi_lab::cli_device::{CliDevice, CliFault, CliScript};
    use efi_plugin_api::{CliRequest, CliStep, CliTransport, IoErrorKind, IoReply, IoResponse};
    use std::collections::BTreeMap;

    const STATUS: &str = "LTE state: connected\nRSRP:\t-95 dBm\nSINR: 12 dB\n";

    fn script() -> CliScript {
        let mut s = CliScript::new("admin", "s3cret", "RidgeWave> ")
            .command("wan lte status", STATUS)
            .command("show version", "7000 v2.1.4\n");
        s.banner = "BEC RidgeWave 7000\n".into();
        s.colour_prompt = true;
        s
    }

    fn engine(dir: &std::path::Path, password: &str) -> ShellEngine {
        let mut credentials = BTreeMap::new();
        credentials.insert(
            "cpe".to_string(),
            CredentialConfig {
                username: Some("admin".into()),
                password: Some(Secret::new(password)),
                ..Default::default()
            },
        );
        let config = CliConfig {
            connect_timeout_ms: 2000,
            login_timeout_ms: 2000,
            known_hosts: dir.join("known_hosts"),
            ..CliConfig::default()
        };
        ShellEngine::new(config, credentials)
    }

    fn request(transport: CliTransport, port: u16) -> CliRequest {
        let prompt = r"RidgeWave> $".to_string();
        CliRequest {
            transport,
            port: Some(port),
            credentials: "cpe".into(),
            steps: vec![
                CliStep {
                    send: None,
                    expect: prompt.clone(),
                    timeout_ms: 2000,
                },
                CliStep {
                    send: Some("wan lte status".into()),
                    expect: prompt.clone(),
                    timeout_ms: 2000,
                },
                CliStep {
                    send: Some("show version".into()),
                    expect: prompt,
                    timeout_ms: 2000,
                },
            ],
        }
    }

    fn outputs(answer: IoResponse) -> Vec<String> {
        match answer.unwrap() {
            IoReply::Cli(t) => t.outputs,
            other => panic!("{other:?}"),
        }
    }

    fn assert_status_transcript(outputs: &[String]) {
        assert_eq!(outputs.len(), 3);
        // Colour codes and \r gone, tabs kept, the echoed command dropped.
        assert_eq!(outputs[1], format!("{STATUS}RidgeWave> "));
        assert_eq!(outputs[2], "7000 v2.1.4\nRidgeWave> ");
    }

    #[tokio::test]
    async fn an_ssh_expect_script_logs_in_and_reads_each_answer() {
        let dir = tempfile::tempdir().unwrap();
        let device = CliDevice::start([127, 0, 0, 1].into(), script())
            .await
            .unwrap();
        let engine = engine(dir.path(), "s3cret");
        let req = request(CliTransport::Ssh, device.ssh_addr().port());
        let out = outputs(engine.execute(device.ssh_addr().ip(), &req).await);
        assert_status_transcript(&out);
        assert_eq!(device.ssh_logins(), 1);
        // The device's key was learned (trust on first use) in OpenSSH format.
        let known = std::fs::read_to_string(dir.path().join("known_hosts")).unwrap();
        let host = format!("[127.0.0.1]:{}", device.ssh_addr().port());
        assert_eq!(known.trim(), format!("{host} {}", device.host_key()));
    }

    #[tokio::test]
    async fn a_telnet_expect_script_answers_the_login_prompts_and_reads_each_answer() {
        let dir = tempfile::tempdir().unwrap();
        let device = CliDevice::start([127, 0, 0, 1].into(), script())
            .await
            .unwrap();
        let engine = engine(dir.path(), "s3cret");
        let req = request(CliTransport::Telnet, device.telnet_addr().port());
        let out = outputs(engine.execute(device.telnet_addr().ip(), &req).await);
        assert_status_transcript(&out);
        assert!(out[0].ends_with("RidgeWave> "), "{:?}", out[0]);
    }

    #[tokio::test]
    async fn a_wrong_password_is_an_auth_error_on_both_transports() {
        let dir = tempfile::tempdir().unwrap();
        let device = CliDevice::start([127, 0, 0, 1].into(), script())
            .await
            .unwrap();
        let engine = engine(dir.path(), "wrong");
        for (transport, port) in [
            (CliTransport::Telnet, device.telnet_addr().port()),
            (CliTransport::Ssh, device.ssh_addr().port()),
        ] {
            let e = engine
                .execute(device.ssh_addr().ip(), &request(transport, port))
                .await
                .unwrap_err();
            assert_eq!(e.kind, IoErrorKind::Auth, "{transport:?}: {e}");
            assert!(!e.message.contains("wrong"), "the password leaked: {e}");
        }
    }

    #[tokio::test]
    async fn a_changed_ssh_host_key_is_refused_before_any_password_is_sent() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path(), "s3cret");
        let old = CliDevice::start([127, 0, 0, 1].into(), script())
            .await
            .unwrap();
        let device = CliDevice::start([127, 0, 0, 1].into(), script())
            .await
            .unwrap();
        // On record: another key for this device's address and port.
        let host = format!("[127.0.0.1]:{}", device.ssh_addr().port());
        std::fs::write(
            dir.path().join("known_hosts"),
            format!("{host} {}\n", old.host_key()),
        )
        .unwrap();
        let req = request(CliTransport::Ssh, device.ssh_addr().port());
        let e = engine
            .execute(device.ssh_addr().ip(), &req)
            .await
            .unwrap_err();
        assert_eq!(e.kind, IoErrorKind::Auth, "{e}");
        assert!(
            e.message.contains("host key") && e.message.contains("changed"),
            "{e}"
        );
        assert_eq!(
            device.ssh_logins(),
            0,
            "a password went to a device with another key"
        );
    }

    #[tokio::test]
    async fn output_cut_short_and_a_missing_prompt_name_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(dir.path(), "s3cret");
        let mut cut = script();
        cut.fault = CliFault::CutAfter(30);
        let device = CliDevice::start([127, 0, 0, 1].into(), cut).await.unwrap();
        let e = engine
            .execute(
                device.telnet_addr().ip(),
                &request(CliTransport::Telnet, device.telnet_addr().port()),
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind, IoErrorKind::Protocol, "{e}");
        assert!(
            e.message.contains("CLI step 2") && e.message.contains("cut short"),
            "{e}"
        );
        assert!(
            e.message.contains("RSRP"),
            "the partial output is shown: {e}"
        );

        let mut silent = script();
        silent.fault = CliFault::NoPrompt;
        let device = CliDevice::start([127, 0, 0, 1].into(), silent)
            .await
            .unwrap();
        let mut req = request(CliTransport::Ssh, device.ssh_addr().port());
        req.steps[0].timeout_ms = 200;
        let e = engine
            .execute(device.ssh_addr().ip(), &req)
            .await
            .unwrap_err();
        assert_eq!(e.kind, IoErrorKind::Timeout, "{e}");
    }
}

mod web {
    use efi_core::config::{CredentialConfig, HttpConfig, Secret};
    use efi_core::engines::http::HttpEngine;
    use efi_lab::web_device::{WebDevice, WebFault};
    use efi_plugin_api::{HttpRequest, IoReply, IoResponse, TlsPolicy};
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        efi_lab::web_device::fixture(name)
    }

    fn engine(password: &str) -> HttpEngine {
        let mut credentials = BTreeMap::new();
        for (name, user) in [("cpe-web", "admin"), ("bec-web", "admin")] {
            credentials.insert(
                name.to_string(),
                CredentialConfig {
                    username: Some(user.into()),
                    password: Some(Secret::new(if name == "bec-web" {
                        "admin"
                    } else {
                        password
                    })),
                    ..Default::default()
                },
            );
        }
        HttpEngine::new(HttpConfig::default(), credentials)
    }

    fn page(answer: IoResponse) -> (u16, String) {
        match answer.unwrap() {
            IoReply::Http(r) => (r.status, r.text()),
            other => panic!("{other:?}"),
        }
    }

    fn login(base: &str) -> HttpRequest {
        HttpRequest::post_form(
            format!("{base}/cgi-bin/login.cgi"),
            &[("username", "{username}"), ("password", "{password}")],
        )
        .with_credentials("cpe-web")
        .in_form()
    }

    #[tokio::test]
    async fn a_form_login_cookie_is_kept_for_its_device_only() {
        let a = WebDevice::start("127.0.0.1:0".parse().unwrap(), &fixture("form-login-cpe"))
            .await
            .unwrap();
        let b = WebDevice::start("127.0.0.2:0".parse().unwrap(), &fixture("form-login-cpe"))
            .await
            .unwrap();
        let engine = engine("p&ss w=rd%");
        // The password has form-special characters: the host percent-encodes it.
        let (status, body) = page(engine.execute(&login(&a.base_url())).await);
        assert_eq!(
            (status, body.as_str()),
            (200, "<login><result>ok</result></login>")
        );
        assert_eq!(a.logins(), 1);

        let status_page = |base: &str| HttpRequest::get(format!("{base}/cgi-bin/status.xml"));
        let (status, body) = page(engine.execute(&status_page(&a.base_url())).await);
        assert_eq!(status, 200);
        assert!(body.contains("<rsrp>-95</rsrp>"), "{body}");
        // Device B never saw a login: its page redirects to the login form, A's cookie stays home.
        let (status, body) = page(engine.execute(&status_page(&b.base_url())).await);
        assert_eq!(status, 200);
        assert!(body.contains("<title>Login</title>"), "{body}");
    }

    #[tokio::test]
    async fn a_wrong_form_password_is_refused() {
        let device = WebDevice::start("127.0.0.1:0".parse().unwrap(), &fixture("form-login-cpe"))
            .await
            .unwrap();
        let engine = engine("not-it");
        let (status, _) = page(engine.execute(&login(&device.base_url())).await);
        assert_eq!(status, 401);
        assert_eq!(device.logins(), 0);
    }

    #[tokio::test]
    async fn basic_auth_cgi_queries_self_signed_https_and_broken_pages() {
        let bec = WebDevice::start(
            "127.0.0.1:0".parse().unwrap(),
            &fixture("bec-ridgewave-7000"),
        )
        .await
        .unwrap();
        let engine = engine("unused");
        let url = format!("{}/cgi-bin/status_deviceinfo.asp", bec.base_url());
        let (status, _) = page(engine.execute(&HttpRequest::get(&url)).await);
        assert_eq!(status, 401, "no credentials, no page");
        let (status, body) = page(
            engine
                .execute(&HttpRequest::get(&url).with_credentials("bec-web"))
                .await,
        );
        assert_eq!(status, 200);
        assert!(body.contains("60:03:47:00:00:01"), "{body}");

        let telrad = WebDevice::start("127.0.0.1:0".parse().unwrap(), &fixture("telrad-cpe12300"))
            .await
            .unwrap();
        let mut radio = HttpRequest::get(format!(
            "{}/cgi-bin/cusradioinfo.cgi?Command=getRadioInfo&T=1732600000",
            telrad.base_url()
        ));
        assert!(
            engine.execute(&radio).await.is_err(),
            "self-signed refused by default"
        );
        radio.tls = TlsPolicy::AcceptInvalid;
        let (status, body) = page(engine.execute(&radio).await);
        assert_eq!(status, 200);
        assert!(body.contains("<RSRP>-92,-95,0,0</RSRP>"), "{body}");

        telrad.set_fault(WebFault::Status(500));
        assert_eq!(page(engine.execute(&radio).await).0, 500);
        telrad.set_fault(WebFault::Truncated);
        let (_, body) = page(engine.execute(&radio).await);
        assert!(!body.contains("</RadioInfo>"), "{body}");
    }
}
