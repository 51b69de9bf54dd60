//! The host's I/O engines against real peers: SNMPv3 against net-snmp's `snmpd`, ICMP loss
//! inside a private network namespace where some loopback addresses never answer.

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
    if !efi_lab::netns::enter("icmp_counts_loss_for_an_address_that_does_not_answer") {
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
