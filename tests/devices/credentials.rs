//! Device credentials per group, as an operator meets them: one `efi-poller run` polls
//! agents that answer three different communities and an agent that speaks SNMPv3 only
//! (net-snmp's snmpd), each with its group's identities; and `efi-poller poll` says why a
//! device gave nothing: nothing listening there, or a community it does not answer.

use efi_lab::fleet::{device_ip, mib2_device};
use efi_lab::netsnmpd::NetSnmpd;
use efi_lab::raemis::{RaemisOptions, RaemisSim, Subscriber};
use efi_lab::snmp_agent::{AgentOptions, SnmpAgent};
use efi_lab::sonar::scenario::Scenario;
use efi_lab::sonar::SonarSim;
use efi_plugin_api::snmprec::AgentData;
use efi_tests::artifacts::artifacts;
use efi_tests::{PluginDir, Running};
use serde_json::Value;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// An efi-lab MIB-II agent of device `n` answering `community` only.
async fn agent(n: u32, port: u16, community: &str) -> SnmpAgent {
    let data = AgentData::parse(&mib2_device(n)).unwrap();
    let options = AgentOptions {
        community: community.into(),
        ..AgentOptions::default()
    };
    SnmpAgent::start((device_ip(n), port).into(), data, options)
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The group tables: devices 1 and 2 share a group of two communities (device 2 answers
/// the second), device 3 has one of its own, device 4 a v3 user; `[snmp]`'s community is
/// answered by none of them.
fn groups_toml() -> String {
    let (sha256, _, auth, privacy) = efi_lab::netsnmpd::USERS[1];
    let (priv_protocol, priv_pass) = privacy.unwrap();
    format!(
        r#"
[snmp]
community = "public"
timeout_ms = 300
retries = 0

[[poller.groups]]
name = "tower-ab"
subnets = ["{d1}/32", "{d2}/32"]
[[poller.groups.snmp]]
community = "tower-a"
[[poller.groups.snmp]]
community = "tower-b"

[[poller.groups]]
name = "tower-c"
subnets = ["{d3}/32"]
snmp = [{{ community = "tower-c" }}]

[[poller.groups]]
name = "v3-cpes"
subnets = ["{d4}/32"]
[[poller.groups.snmp]]
version = "3"
user = "{sha256}"
auth_protocol = "SHA-256"
auth_passphrase = "{auth}"
privacy_protocol = "{priv_protocol}"
privacy_passphrase = "{priv_pass}"
"#,
        d1 = device_ip(1),
        d2 = device_ip(2),
        d3 = device_ip(3),
        d4 = device_ip(4),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_polls_three_communities_and_a_v3_only_agent_each_with_its_groups_identity() {
    efi_lab::init_tls();
    let first = agent(1, 0, "tower-a").await;
    let port = first.addr().port();
    let _agents = [
        first,
        agent(2, port, "tower-b").await,
        agent(3, port, "tower-c").await,
    ];
    let _v3 = NetSnmpd::start_v3_only(&[(device_ip(4), port).into()]).unwrap();
    let sonar = SonarSim::start("127.0.0.1:0".parse().unwrap(), Scenario::lab_on_loopback())
        .await
        .unwrap();
    let raemis = RaemisSim::start("127.0.0.1:0".parse().unwrap(), RaemisOptions::default())
        .await
        .unwrap();
    for n in 1..=4 {
        let imsi = format!("00101000000{n:04}");
        raemis.add_subscriber(Subscriber::new(
            &imsi,
            &format!("3500000000{n:05}"),
            "",
            "Jane Doe",
        ));
        raemis
            .attach(&imsi, device_ip(n).into(), "internet")
            .await
            .unwrap();
    }
    let dir = PluginDir::new();
    for p in ["raemis", "sonar", "hello-driver"] {
        dir.install(p);
    }
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nlevel = \"warn\"\n[plugins]\ndir = {dir:?}\nrescan_secs = 0\n[server]\nlisten = \"{listen}\"\n\
             [poller]\ninterval_secs = 1\nsnmp_port = {port}\n[arbiter]\nmanaged_subnets = [\"127.10.0.0/16\"]\n\
             [store]\nurl = \"sqlite:{state}\"\n{groups}\n{lab}",
            dir = dir.path(),
            state = dir.path().join("state.db").display(),
            groups = groups_toml(),
            lab = efi_lab::lab_source_and_sink(&raemis.base_url(), &sonar.base_url(), "epc", "", ""),
        ),
    )
    .unwrap();
    let check = efi_poller(&["--config", config.to_str().unwrap(), "config", "check"]);
    assert!(
        check.status.success(),
        "{}{}",
        text(&check.stdout),
        text(&check.stderr)
    );
    let _host = Running(
        Command::new(artifacts().host_binary())
            .args(["--config", config.to_str().unwrap(), "run"])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let devices = every_device_complete(&format!("http://{listen}/api/v1/devices")).await;
    let name = |n: u32| {
        devices
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["address"] == device_ip(n).to_string())
            .map(|d| {
                d["record"]["hostname"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap()
    };
    assert_eq!(
        [name(1), name(2), name(3), name(4)],
        ["cpe-001", "cpe-002", "cpe-003", efi_lab::netsnmpd::SYS_NAME]
    );
}

/// Waits until all four devices have a record with a name, an uptime and interfaces,
/// and no error; panics with the last answer after 60 s.
async fn every_device_complete(api: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = reqwest::Client::new();
    let mut last = Value::Null;
    let complete = |d: &Value| {
        let r = &d["record"];
        d["last_error"].is_null()
            && r["hostname"].is_string()
            && r["uptime_s"].is_number()
            && r["interfaces"].as_array().is_some_and(|i| !i.is_empty())
    };
    while Instant::now() < deadline {
        if let Ok(r) = client.get(api).send().await {
            if let Ok(v) = r.json::<Value>().await {
                if v.as_array()
                    .is_some_and(|a| a.len() == 4 && a.iter().all(complete))
                {
                    return v;
                }
                last = v;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("four complete records not seen within 60 s; last answer: {last:#}");
}

fn efi_poller(args: &[&str]) -> Output {
    Command::new(artifacts().host_binary())
        .args(args)
        .env_remove("EFI_POLLER_CONFIG")
        .env_remove("EFI_SNMP_COMMUNITY")
        .env_remove("RUST_LOG")
        .output()
        .expect("run efi-poller")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_tells_nothing_listening_from_a_community_not_answered_in_text_and_json() {
    let live = agent(21, 0, "tower-a").await;
    let port = live.addr().port().to_string();
    let dir = PluginDir::new();
    dir.install("hello-driver");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[plugins]\ndir = {:?}\n[snmp]\ntimeout_ms = 300\nretries = 0\n",
            dir.path()
        ),
    )
    .unwrap();
    let poll = |address: String, extra: &[&str]| {
        let mut args = vec![
            "--config",
            config.to_str().unwrap(),
            "poll",
            &address,
            "--port",
            &port,
            "--web-port",
            "9",
        ];
        args.extend_from_slice(extra);
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            efi_poller(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };
    let live_ip = device_ip(21).to_string();
    // Nothing listens at the dead address's port: the kernel says so.
    let dead = poll(device_ip(22).to_string(), &[]).await.unwrap();
    assert_eq!(dead.status.code(), Some(1));
    let stderr = text(&dead.stderr);
    assert!(
        stderr.contains("no SNMP answer from 127.10.0.22"),
        "{stderr}"
    );
    assert!(
        stderr.contains("why: nothing listens for SNMP at 127.10.0.22"),
        "{stderr}"
    );
    // The agent answers only its own community: silence, but the address answers ping.
    let wrong = poll(live_ip.clone(), &["--community", "tower-b"])
        .await
        .unwrap();
    let stderr = text(&wrong.stderr);
    assert!(
        stderr.contains(&format!(
            "why: {live_ip} answers ping but not SNMP: its community"
        )),
        "{stderr}"
    );
    // The same two in JSON: one object each, on stdout, whatever failed.
    for (address, extra, says) in [
        (
            device_ip(22).to_string(),
            &[][..],
            "nothing listens for SNMP",
        ),
        (
            live_ip.clone(),
            &["--community", "tower-b"][..],
            "answers ping but not SNMP",
        ),
    ] {
        let mut with_json = extra.to_vec();
        with_json.push("--json");
        let out = poll(address.clone(), &with_json).await.unwrap();
        assert_eq!(out.status.code(), Some(1));
        let v: Value = serde_json::from_str(&text(&out.stdout))
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {}", text(&out.stdout)));
        assert_eq!(v["address"], address.as_str());
        assert_eq!(v["stage"], "identify");
        assert!(
            v["error"].as_str().unwrap().contains("no SNMP answer"),
            "{v:#}"
        );
        assert!(v["diagnosis"].as_str().unwrap().contains(says), "{v:#}");
    }
    // With its community it is polled; a broken identity on the command line names its flag.
    let right = poll(live_ip.clone(), &["--community", "tower-a", "--json"])
        .await
        .unwrap();
    assert!(right.status.success(), "{}", text(&right.stderr));
    let record: Value = serde_json::from_str(&text(&right.stdout)).unwrap();
    assert_eq!(record["hostname"], "cpe-021");
    let broken = poll(
        live_ip,
        &[
            "--v3-user",
            "efi",
            "--auth",
            "sha9",
            "--auth-passphrase",
            "12345678",
            "--json",
        ],
    )
    .await
    .unwrap();
    let v: Value = serde_json::from_str(&text(&broken.stdout)).unwrap();
    assert_eq!(v["stage"], "setup");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("--auth \"sha9\" is not MD5"),
        "{v:#}"
    );
}
