//! Device profiles through the host's real engines: a profile for a model a compiled driver
//! knows reads the same record from the same agent (and, edited on disk to outrank the
//! driver, is chosen without a restart); `linux-cpe` over SSH and over Telnet; a form login
//! that reads a nonce first, with XPath pages; a broken file refused with its line while the
//! others poll.

use efi_core::config::Config;
use efi_lab::cli_device::{CliDevice, CliScript};
use efi_lab::snmp_agent::{AgentOptions, SnmpAgent};
use efi_lab::web_device::{fixture, WebDevice};
use efi_plugin_api::testing::load_snmprec;
use efi_plugin_api::{DeviceRecord, Target};
use efi_tests::artifacts::artifacts;
use efi_tests::{eventually, PluginDir};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) fn example(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/profiles")
            .join(name),
    )
    .unwrap()
}

/// The `linux-cpe` example over `transport` on `port`, reading `interface` where it says
/// `eth0`.
pub(crate) fn linux_cpe(transport: &str, port: u16, interface: &str) -> String {
    example("linux-cpe.toml")
        .replace("eth0", interface)
        .replace(
            "transport = \"ssh\"",
            &format!("transport = \"{transport}\"\nport = {port}"),
        )
}

/// [`linux_cpe`] as a profile of its own: named `name`, model `Linux CPE (<transport>)`,
/// recognised by the IMEI type code `tac` instead of its sysDescr rule (the EPC reports the
/// IMEI, so `run` can identify a CPE that answers no SNMP).
pub(crate) fn linux_cpe_for_tac(
    name: &str,
    transport: &str,
    port: u16,
    interface: &str,
    tac: &str,
) -> String {
    linux_cpe(transport, port, interface)
        .replace("name = \"linux-cpe\"", &format!("name = \"{name}\""))
        .replace(
            "model = \"Linux CPE\"",
            &format!("model = \"Linux CPE ({transport})\""),
        )
        .replace(
            "sys_descr = \"^Linux \"",
            &format!("imei_tac = [\"{tac}\"]"),
        )
}

/// The Atom OD04 walk the baicells-atom replay tests use, served over UDP.
async fn atom_agent() -> SnmpAgent {
    let walk = load_snmprec(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../plugins/baicells-atom/tests/data/atom-od04.snmprec"),
    )
    .unwrap();
    SnmpAgent::start(
        "127.0.0.1:0".parse().unwrap(),
        walk,
        AgentOptions::default(),
    )
    .await
    .unwrap()
}

/// A host with `plugins` installed, the profiles of `profiles_dir` (re-read every second)
/// and `extra` config.
async fn host(dir: &PluginDir, profiles_dir: &Path, extra: &str) -> efi_core::host::Host {
    let text = format!(
        "[plugins]\ndir = {:?}\nrescan_secs = 0\n\
         [snmp]\ntimeout_ms = 500\nretries = 0\n\
         [drivers.profiles]\ndir = {profiles_dir:?}\nreload_secs = 1\n{extra}",
        dir.path()
    );
    let config = Config::parse(&text, Path::new("t.toml")).unwrap();
    tokio::task::spawn_blocking(move || efi_core::host::Host::new(config))
        .await
        .unwrap()
}

async fn poll(
    host: &efi_core::host::Host,
    target: &Target,
    driver: Option<&str>,
) -> (String, DeviceRecord) {
    let o = efi_core::poller::poll(host, target, driver)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (o.driver, o.record)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_reads_an_atom_as_its_compiled_driver_does_and_an_edit_outranks_it() {
    let agent = atom_agent().await;
    let dir = PluginDir::new();
    for p in ["hello-driver", "baicells-atom", "profiles"] {
        dir.install(p);
    }
    let profiles = tempfile::tempdir().unwrap();
    let file = profiles.path().join("baicells-atom-snmp.toml");
    std::fs::write(&file, example("baicells-atom-snmp.toml")).unwrap();
    let host = host(&dir, profiles.path(), "").await;
    let mut target = Target::new("127.0.0.1".parse().unwrap());
    target.snmp_port = agent.addr().port();

    let (_, c) = poll(&host, &target, Some("baicells-atom")).await;
    let (_, p) = poll(&host, &target, Some("profiles")).await;
    // Every field the profile declares, against the compiled driver's.
    assert_eq!(p.vendor, c.vendor);
    assert_eq!((&p.model, &p.firmware), (&c.model, &c.firmware));
    assert_eq!((&p.description, &p.hostname), (&c.description, &c.hostname));
    assert_eq!(
        p.identity, c.identity,
        "serial, IMEI (\\r trimmed), IMSI, MAC"
    );
    assert_eq!(p.uptime_s, c.uptime_s);
    assert_eq!((p.rx_mcs, p.tx_mcs), (c.rx_mcs, c.tx_mcs));
    assert_eq!(p.bandwidth_mhz, c.bandwidth_mhz, "kHz to MHz");
    assert_eq!(p.rsrp_dbm, c.rsrp_dbm, "two antennas averaged");
    assert_eq!((p.rsrq_db, p.sinr_db), (c.rsrq_db, c.sinr_db));
    assert_eq!(
        (p.pci, p.eci, p.enb_id, p.cell_id),
        (c.pci, c.eci, c.enb_id, c.cell_id),
        "the decimal ECI split into eNB and cell"
    );
    assert_eq!(p.connected, c.connected);
    let metric =
        |r: &DeviceRecord, n: &str| r.metrics.iter().find(|m| m.name == n).map(|m| m.value);
    for m in ["tx_power_dbm", "connection_time_s"] {
        assert!(metric(&c, m).is_some(), "{m}");
        assert_eq!(metric(&p, m), metric(&c, m), "{m}");
    }
    assert!(c.rsrp_dbm.is_some() && p.identity.imei.is_some());

    // Identified with no hint: the driver's sysDescr rule (90) beats the profile's (85).
    let (driver, _) = poll(&host, &target, None).await;
    assert_eq!(driver, "baicells-atom");
    // The operator raises the profile's score: picked up without a restart.
    std::fs::write(
        &file,
        example("baicells-atom-snmp.toml").replace("score = 85", "score = 95"),
    )
    .unwrap();
    eventually(
        "the edited profile outranks the driver",
        Duration::from_secs(20),
        || async {
            match poll(&host, &target, None).await.0.as_str() {
                "profiles" => Ok(()),
                other => Err(format!("still {other}")),
            }
        },
    )
    .await;
}

/// A Linux CPE's shell: the answers of the commands `linux-cpe` sends.
pub(crate) fn linux_shell(hostname: &str) -> CliScript {
    let mut s = CliScript::new("ops", "shell-pass", &format!("root@{hostname}:~# "))
        .command("hostname", &format!("{hostname}\n"))
        .command("cat /proc/uptime", "86461.52 170000.10\n")
        .command("cat /sys/class/net/eth0/address", "02:ef:1a:00:00:11\n")
        .command(
            "cat /proc/net/dev",
            "Inter-|   Receive                                                |  Transmit\n \
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
             lo:    1200      12    0    0    0     0          0         0     1200      12    0    0    0     0       0          0\n  \
             eth0: 987654321  812345    0    0    0     0          0       12 123456789  612345    0    0    0     0       0          0\n",
        );
    s.banner = format!("Welcome to {hostname}\n");
    s
}

fn assert_linux_record(r: &DeviceRecord) {
    assert_eq!(r.vendor.as_deref(), Some("Linux"));
    assert_eq!(r.model.as_deref(), Some("Linux CPE"));
    assert_eq!(r.hostname.as_deref(), Some("cpe-17"));
    assert_eq!(r.uptime_s, Some(86461));
    assert_eq!(r.identity.mac.as_deref(), Some("02:ef:1a:00:00:11"));
    assert_eq!(r.octets_received, Some(987_654_321));
    assert_eq!(r.octets_sent, Some(123_456_789));
    assert_eq!(r.packets_sent, Some(612_345));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linux_cpe_is_read_over_ssh_and_over_telnet() {
    let device = CliDevice::start("127.0.0.1".parse().unwrap(), linux_shell("cpe-17"))
        .await
        .unwrap();
    let dir = PluginDir::new();
    dir.install("profiles");
    let work = tempfile::tempdir().unwrap();
    let credentials = format!(
        "[cli]\nknown_hosts = {:?}\n[credentials.cpe-cli]\nusername = \"ops\"\npassword = \"shell-pass\"\n",
        work.path().join("known_hosts")
    );
    for (transport, port) in [
        ("ssh", device.ssh_addr().port()),
        ("telnet", device.telnet_addr().port()),
    ] {
        let profiles = tempfile::tempdir().unwrap();
        std::fs::write(
            profiles.path().join("linux-cpe.toml"),
            linux_cpe(transport, port, "eth0"),
        )
        .unwrap();
        let host = host(&dir, profiles.path(), &credentials).await;
        let target = Target::new("127.0.0.1".parse().unwrap());
        let (_, r) = poll(&host, &target, Some("profiles")).await;
        assert_linux_record(&r);
    }
    assert_eq!(device.ssh_logins(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_login_after_a_nonce_then_xpath_pages() {
    let web = WebDevice::start(
        "127.0.0.1:0".parse().unwrap(),
        &fixture("baicells-atom-od06"),
    )
    .await
    .unwrap();
    let dir = PluginDir::new();
    dir.install("profiles");
    let profiles = tempfile::tempdir().unwrap();
    std::fs::write(
        profiles.path().join("atom-web.toml"),
        example("baicells-atom-web.toml")
            .replace("port = 443", &format!("port = {}", web.addr().port())),
    )
    .unwrap();
    let host = host(
        &dir,
        profiles.path(),
        "[http]\nallow_invalid_certs = true\n\
         [credentials.atom-web]\nusername = \"admin\"\npassword = \"atom pass&1\"\n",
    )
    .await;
    let target = Target::new("127.0.0.1".parse().unwrap());
    let (_, r) = poll(&host, &target, Some("profiles")).await;
    assert_eq!(web.logins(), 1, "the nonce was sent back as X-Stok");
    assert_eq!(r.model.as_deref(), Some("Atom OD06 (web)"));
    assert_eq!(r.identity.serial.as_deref(), Some("1203000AQ0000000007"));
    assert_eq!(r.identity.imei.as_deref(), Some("867945040000007"));
    assert_eq!(r.identity.mac.as_deref(), Some("48:bf:74:00:00:07"));
    assert_eq!(r.rsrp_dbm, Some(-98.0), "\"-97 / -99\" averaged");
    assert_eq!(r.rsrq_db, Some(-11.5));
    assert_eq!(r.sinr_db, Some(17.0));
    assert_eq!(
        (r.eci, r.enb_id, r.cell_id),
        (Some(42529), Some(166), Some(33))
    );
    assert_eq!(r.pci, Some(451));
    assert!(r
        .metrics
        .iter()
        .any(|m| m.name == "tx_power_dbm" && m.value == 21.0));
}

fn efi_poller(args: &[&str]) -> std::process::Output {
    std::process::Command::new(artifacts().host_binary())
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_profile_is_refused_with_its_line_and_the_others_poll() {
    let agent = atom_agent().await;
    let dir = PluginDir::new();
    dir.install("profiles");
    let profiles = tempfile::tempdir().unwrap();
    std::fs::write(
        profiles.path().join("baicells-atom-snmp.toml"),
        example("baicells-atom-snmp.toml"),
    )
    .unwrap();
    std::fs::write(
        profiles.path().join("broken.toml"),
        "[profile]\nname = \"broken\"\nvendor = \"X\"\nscore = 10\n\n[[snmp.get]]\noid = \"1.3.6.1.2.1.1.5.0\"\nfield = \"host_name\"\n",
    )
    .unwrap();
    let config: PathBuf = profiles.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[plugins]\ndir = {:?}\n[drivers.profiles]\ndir = {:?}\n",
            dir.path(),
            profiles.path()
        ),
    )
    .unwrap();
    let port = agent.addr().port().to_string();
    let cfg = config.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        efi_poller(&[
            "--config",
            &cfg,
            "poll",
            "127.0.0.1",
            "--port",
            &port,
            "--driver",
            "profiles",
            "--json",
        ])
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("broken.toml: line 8: snmp.get.field: unknown field \"host_name\""),
        "{stderr}"
    );
    let r: DeviceRecord = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r.model.as_deref(), Some("OD04"), "the good profile polled");
}
