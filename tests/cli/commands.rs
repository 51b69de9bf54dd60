//! The `efi-poller` binary as an operator runs it.

use efi_tests::artifacts::artifacts;
use efi_tests::PluginDir;
use std::path::PathBuf;
use std::process::{Command, Output};

fn efi_poller(args: &[&str]) -> Output {
    efi_poller_logging("warn", args)
}

/// Runs the binary with `RUST_LOG` at `level`.
fn efi_poller_logging(level: &str, args: &[&str]) -> Output {
    Command::new(artifacts().host_binary())
        .args(args)
        .env_remove("EFI_POLLER_CONFIG")
        .env("RUST_LOG", level)
        .output()
        .expect("run efi-poller")
}

/// A plugins directory holding `plugins`, and a config file in it that points there,
/// followed by `extra` TOML.
fn plugins_and_config(plugins: &[&str], extra: &str) -> (PluginDir, PathBuf) {
    let dir = PluginDir::new();
    for p in plugins {
        dir.install(p);
    }
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[plugins]\ndir = {:?}\n{extra}", dir.path()),
    )
    .unwrap();
    (dir, config)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn plugins_check_accepts_a_good_plugin_and_rejects_the_rest_with_reasons() {
    let dir = PluginDir::new();
    let good = dir.install("hello-driver");
    let out = efi_poller(&["plugins", "check", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("ok: hello-driver 0.1.0 (driver)"),
        "{stdout}"
    );
    assert!(stdout.contains("efi-plugin-api 1.0.0"), "{stdout}");

    let future = dir.install("future-api-driver");
    let out = efi_poller(&["plugins", "check", future.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("2.0.0")
            && stderr.contains("1.0.0")
            && stderr.contains("libfuture_api_driver.so"),
        "{stderr}"
    );

    let missing = dir.path().join("libmissing.so");
    let out = efi_poller(&["plugins", "check", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("libmissing.so"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn plugins_list_shows_every_file_with_its_status() {
    let dir = PluginDir::new();
    dir.install("hello-driver");
    dir.install("not-a-plugin");
    let out = efi_poller(&["plugins", "list", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let header = lines.next().unwrap();
    for column in ["NAME", "KIND", "VERSION", "API", "MODELS", "FILE", "STATUS"] {
        assert!(header.contains(column), "{header}");
    }
    let hello = stdout
        .lines()
        .find(|l| l.starts_with("hello-driver"))
        .unwrap();
    assert!(
        hello.contains("driver") && hello.contains("1.0.0") && hello.ends_with("ok"),
        "{hello}"
    );
    let foreign = stdout
        .lines()
        .find(|l| l.contains("libnot_a_plugin.so"))
        .unwrap();
    assert!(
        foreign.contains("rejected: ") && foreign.contains("not an efi-poller plugin"),
        "{foreign}"
    );

    let out = efi_poller(&[
        "plugins",
        "list",
        "--dir",
        dir.path().to_str().unwrap(),
        "--json",
    ]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
}

/// `sweep` over a small lab fleet plus an address where nothing answers: every live device
/// read in full (the GET and every ifTable row), the silent one counted as a timeout, and
/// pings answered by the kernel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_reads_a_fleet_and_counts_what_did_not_answer() {
    let agents = efi_lab::fleet::start_mib2_fleet(12).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.txt");
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut lines = String::from("# a test fleet\n\n");
    for a in &agents {
        lines.push_str(&format!("{} {}\n", a.addr().ip(), a.addr().port()));
    }
    // Bound but never read: requests to it are simply not answered.
    lines.push_str(&format!(
        "127.0.0.1 {}\n",
        silent.local_addr().unwrap().port()
    ));
    std::fs::write(&targets, lines).unwrap();
    let t = targets.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        efi_poller(&[
            "sweep",
            "--targets",
            &t,
            "--get",
            "1.3.6.1.2.1.1.5.0,1.3.6.1.2.1.1.3.0",
            "--walk",
            "1.3.6.1.2.1.2.2",
            "--max-repetitions",
            "4",
            "--timeout-ms",
            "300",
            "--retries",
            "0",
            "--icmp",
            "1",
            "--json",
        ])
    })
    .await
    .unwrap();
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "{}",
        text(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["devices"], 13, "{summary}");
    assert_eq!(summary["devices_ok"], 12, "{summary}");
    assert_eq!(summary["timeouts"], 1, "{summary}");
    // Per lab device: the 2 GET varbinds and every ifTable object the lab device holds.
    let table_rows = efi_plugin_api::snmprec::AgentData::parse(&efi_lab::fleet::mib2_device(1))
        .unwrap()
        .walk(&efi_plugin_api::oid("1.3.6.1.2.1.2.2"))
        .len();
    assert_eq!(summary["varbinds"], 12 * (2 + table_rows), "{summary}");
    assert_eq!(summary["pinged"], 13, "{summary}");
    assert_eq!(
        summary["ping_answered"], 13,
        "loopback answers every echo: {summary}"
    );
}

/// A CPE12300 in the lab: its SNMP agent (MIB-II with the 12300's sysDescr) on 127.0.0.1 and
/// its web UI (efi-lab serving the fixture CGI pages).
async fn cpe12300_lab() -> (
    efi_lab::snmp_agent::SnmpAgent,
    efi_lab::web_device::WebDevice,
) {
    let agent = efi_lab::fleet::mib2_agent_with_descr(
        "127.0.0.1:0".parse().unwrap(),
        1,
        "Linux GDM7243 3.10.0-uc0",
    )
    .await
    .unwrap();
    let fixture = efi_lab::web_device::fixture("telrad-cpe12300");
    let web = efi_lab::web_device::WebDevice::start("127.0.0.1:0".parse().unwrap(), &fixture)
        .await
        .unwrap();
    (agent, web)
}

/// A CPE12300: identified over SNMP by its sysDescr, then read from the CGI XML pages of its
/// self-signed HTTPS UI through the host's HTTP engine (efi-lab serves the fixture pages).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_reads_a_cpe12300_from_its_web_pages() {
    let (agent, web) = cpe12300_lab().await;
    let (_dir, config) = plugins_and_config(
        &["telrad-cpe"],
        &format!("[drivers.telrad-cpe]\nweb_port = {}\n", web.addr().port()),
    );
    let (cfg, port) = (
        config.to_str().unwrap().to_owned(),
        agent.addr().port().to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        efi_poller(&[
            "--config",
            &cfg,
            "poll",
            "127.0.0.1",
            "--port",
            &port,
            "--json",
        ])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let record: efi_plugin_api::DeviceRecord = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record.model.as_deref(), Some("CPE12300"));
    assert_eq!(record.rsrp_dbm, Some(-93.5));
    assert_eq!(record.identity.serial.as_deref(), Some("00000000001"));
    assert_eq!(web.requests(), 4, "one GET per CGI page");
}

/// `record` writes every exchange of a poll; the SDK's replay runs the driver on the file
/// and gets the record the host got, with no device; a driver that asks something else is
/// caught, naming both requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_writes_what_the_sdk_replays_into_the_same_record() {
    use efi_plugin_api::testing::Recording;
    use efi_plugin_api::{DeviceRecord, Driver};
    use telrad_cpe::{TelradDriver, TelradSettings};
    let (agent, web) = cpe12300_lab().await;
    let web_port = web.addr().port();
    let (dir, config) = plugins_and_config(
        &["telrad-cpe", "hello-driver"],
        &format!("[drivers.telrad-cpe]\nweb_port = {web_port}\n"),
    );
    let out_file = dir.path().join("cpe12300.json");
    let (cfg, port, out) = (
        config.to_str().unwrap().to_owned(),
        agent.addr().port().to_string(),
        out_file.to_str().unwrap().to_owned(),
    );
    let (recorded, polled) = tokio::task::spawn_blocking(move || {
        let recorded = efi_poller(&[
            "--config",
            &cfg,
            "record",
            "127.0.0.1",
            "--port",
            &port,
            "--out",
            &out,
        ]);
        let polled = efi_poller(&[
            "--config",
            &cfg,
            "poll",
            "127.0.0.1",
            "--port",
            &port,
            "--json",
        ]);
        (recorded, polled)
    })
    .await
    .unwrap();
    let said = text(&recorded.stdout);
    assert!(
        recorded.status.success(),
        "{said}{}",
        text(&recorded.stderr)
    );
    assert!(
        said.contains(
            "recorded 9 exchanges (4 http, 1 snmp_get, 3 snmp_walk, 1 tr069) of 127.0.0.1 with driver telrad-cpe"
        ),
        "identified, then every request counted: {said}"
    );
    assert!(polled.status.success(), "{}", text(&polled.stderr));
    let host_record: DeviceRecord = serde_json::from_slice(&polled.stdout).unwrap();

    let recording = Recording::load(&out_file).unwrap();
    let driver = TelradDriver {
        settings: TelradSettings {
            web_port,
            ..TelradSettings::default()
        },
    };
    let mut replayed = recording.replay(driver.collect(&recording.target)).unwrap();
    // A boot time computed from the uptime depends on the moment of the poll.
    if let (Some(a), Some(b)) = (replayed.last_boot_unix_s, host_record.last_boot_unix_s) {
        assert!((a - b).abs() <= 2, "boot times {a} vs {b}");
        replayed.last_boot_unix_s = host_record.last_boot_unix_s;
    }
    assert_eq!(replayed, host_record);
    assert_eq!(replayed.rsrp_dbm, Some(-93.5));

    // A driver configured for another port asks for other URLs: the replay says so.
    let e = recording
        .replay(TelradDriver::default().collect(&recording.target))
        .unwrap_err();
    assert!(
        e.message.contains(":8080/") && e.message.contains(&format!(":{web_port}/")),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_prints_one_devices_record() {
    let (_dir, config) = plugins_and_config(&["hello-driver"], "");
    let agents = efi_lab::fleet::start_mib2_fleet(2).await.unwrap();
    let addr = agents[1].addr();
    let (ip, port) = (addr.ip().to_string(), addr.port().to_string());
    let cfg = config.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        efi_poller(&["--config", &cfg, "poll", &ip, "--port", &port, "--json"])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let record: efi_plugin_api::DeviceRecord = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record.hostname.as_deref(), Some("cpe-002"));
    assert_eq!(record.interfaces.len(), 3);

    // An address with no agent: a clear error and a failing exit code.
    let cfg = config.to_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        efi_poller(&[
            "--config",
            &cfg,
            "poll",
            "127.10.9.9",
            "--port",
            "9",
            "--driver",
            "hello-driver",
        ])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("127.10.9.9") && stderr.contains("hello-driver"),
        "{stderr}"
    );
}

#[test]
fn config_check_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[plugins]\nrescan_secs = 5\nstep_budjet_ms = 10\n").unwrap();
    let out = efi_poller(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bad.toml")
            && stderr.contains("line 3")
            && stderr.contains("step_budjet_ms"),
        "{stderr}"
    );

    // A value that parses but cannot work is located the same way.
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(
        &wrong,
        "[poller]\ninterval_secs = 30\n\n[[poller.groups]]\nname = \"towers\"\ninterval_secs = 60\nsubnets = [\"10.45.0.0/16\", \"10.300.0.0/16\"]\n",
    )
    .unwrap();
    let out = efi_poller(&["config", "check", wrong.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("wrong.toml: line 7: poller.groups[0].subnets[1]: group \"towers\""),
        "{stderr}"
    );

    // The shipped file is valid but names no EPC, no Sonar and no subnet: `run` would
    // refuse it, and the check says so with its own exit code.
    let shipped = efi_tests::artifacts::workspace_root().join("config.toml");
    let out = efi_poller(&["config", "check", shipped.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for lacking in [
        "valid, but `efi-poller run` cannot start",
        "[[sources]]",
        "[sink]",
        "managed_subnets",
    ] {
        assert!(stdout.contains(lacking), "{lacking} not in {stdout}");
    }
}

#[test]
fn service_install_renders_the_packaged_unit_for_this_binary() {
    // The writing half (the unit, the system user, the group's right to read the
    // configuration) changes the machine; .ci/package-test.sh runs it as root.
    let out = efi_poller(&[
        "service",
        "install",
        "--dry-run",
        "--config",
        "/opt/efi/config.toml",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let unit = text(&out.stdout);
    let binary = artifacts().host_binary().canonicalize().unwrap();
    assert!(
        unit.contains(&format!(
            "ExecStart={} --config /opt/efi/config.toml run",
            binary.display()
        )),
        "{unit}"
    );
    for line in [
        "Restart=on-failure",
        "RestartPreventExitStatus=78",
        "User=efi-poller",
        "Group=efi-poller",
        "WantedBy=multi-user.target",
        "StateDirectory=efi-poller",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing:\n{unit}");
    }
    for gone in ["DynamicUser", "RUST_LOG", "example.invalid"] {
        assert!(!unit.contains(gone), "{gone} in:\n{unit}");
    }
    let packaged = std::fs::read_to_string(
        efi_tests::artifacts::workspace_root().join("packaging/debian/efi-poller.service"),
    )
    .unwrap();
    let out = efi_poller(&[
        "service",
        "install",
        "--dry-run",
        "--binary",
        "/usr/bin/efi-poller",
    ]);
    assert_eq!(
        text(&out.stdout),
        packaged,
        "the package's unit and a from-source install's differ only in their paths"
    );
}

/// Runs the binary with stderr going to a file (as under a service manager or `2>log`),
/// returning the exit code and what was written.
fn efi_poller_to_file(level: &str, args: &[&str]) -> (Option<i32>, Vec<u8>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let status = Command::new(artifacts().host_binary())
        .args(args)
        .current_dir(dir.path())
        .env_remove("EFI_POLLER_CONFIG")
        .env_remove("NO_COLOR")
        .env_remove("JOURNAL_STREAM")
        .env("RUST_LOG", level)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .status()
        .unwrap();
    (status.code(), std::fs::read(&log).unwrap(), dir)
}

#[test]
fn an_unconfigured_run_says_everything_it_lacks_once_and_creates_nothing() {
    // The shipped config.toml: every key at its default, so no EPC, no Sonar, no subnet.
    let shipped = efi_tests::artifacts::workspace_root().join("config.toml");
    let (code, written, dir) =
        efi_poller_to_file("debug", &["--config", shipped.to_str().unwrap(), "run"]);
    let text = String::from_utf8_lossy(&written);
    assert_eq!(
        code,
        Some(78),
        "EX_CONFIG, which the unit does not restart on:\n{text}"
    );
    assert!(
        text.contains("efi-poller is not configured to run with")
            && text.contains("no [[sources]] configured")
            && text.contains("no [sink] configured")
            && text.contains("arbiter.managed_subnets is empty")
            && text.contains("efi-poller config check"),
        "{text}"
    );
    assert!(
        !dir.path().join("efi-poller-state.db").exists(),
        "nothing is created for a configuration that cannot run"
    );
}

#[test]
fn a_log_written_to_a_file_holds_no_escape_byte() {
    let dir = artifacts().dir.clone();
    let (code, written, _dir) =
        efi_poller_to_file("info", &["plugins", "list", "--dir", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&written);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(" INFO ") && l.contains("plugin loaded")),
        "the log reached the file:\n{text}"
    );
    assert!(
        !written.contains(&0x1b),
        "an escape byte in a log written to a file:\n{text}"
    );
}

#[test]
fn version_names_the_commit_and_the_plugin_api() {
    let out = efi_poller(&["--version"]);
    assert!(out.status.success());
    let line = text(&out.stdout);
    let rest = line
        .trim()
        .strip_prefix(&format!(
            "efi-poller {} (commit ",
            env!("CARGO_PKG_VERSION")
        ))
        .unwrap_or_else(|| panic!("{line}"));
    let (commit, api) = rest
        .split_once(", plugin API ")
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{line}"
    );
    assert_eq!(api, format!("{})", efi_plugin_api::API_VERSION), "{line}");
}

/// `profiles check` names each file's verdict (a refusal with its line, exit 2); a profile
/// runs on a recording another driver made (`record`, then `profiles test --replay`) and on
/// the live unit (`poll --profile`), giving the compiled driver's values both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_is_checked_replayed_on_a_recording_and_tried_on_a_live_unit() {
    use efi_lab::snmp_agent::{AgentOptions, SnmpAgent};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let walk = efi_plugin_api::testing::load_snmprec(
        root.join("plugins/baicells-atom/tests/data/atom-od04.snmprec"),
    )
    .unwrap();
    let agent = SnmpAgent::start(
        "127.0.0.1:0".parse().unwrap(),
        walk,
        AgentOptions::default(),
    )
    .await
    .unwrap();
    let (dir, config) = plugins_and_config(&["baicells-atom", "profiles"], "");
    let profile = root.join("examples/profiles/baicells-atom-snmp.toml");
    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        "[profile]\nname = \"b\"\nvendor = \"X\"\nscore = 10\n[[tr069]]\npath = \"A.B\"\nfield = \"firmware\"\ntransform = \"hexadecimal\"\n",
    )
    .unwrap();
    let recording = dir.path().join("atom.json");
    let (cfg, port) = (
        config.to_str().unwrap().to_owned(),
        agent.addr().port().to_string(),
    );
    let (p, b, rec) = (
        profile.to_str().unwrap().to_owned(),
        broken.to_str().unwrap().to_owned(),
        recording.to_str().unwrap().to_owned(),
    );
    let (checked, recorded, replayed, live) = tokio::task::spawn_blocking(move || {
        let checked = efi_poller(&["--config", &cfg, "profiles", "check", &p, &b]);
        let recorded = efi_poller(&[
            "--config",
            &cfg,
            "record",
            "127.0.0.1",
            "--port",
            &port,
            "--driver",
            "baicells-atom",
            "--out",
            &rec,
        ]);
        let replayed = efi_poller(&[
            "--config", &cfg, "profiles", "test", &p, "--replay", &rec, "--json",
        ]);
        let live = efi_poller(&[
            "--config",
            &cfg,
            "poll",
            "127.0.0.1",
            "--port",
            &port,
            "--profile",
            &p,
            "--json",
        ]);
        (checked, recorded, replayed, live)
    })
    .await
    .unwrap();
    let said = text(&checked.stdout);
    assert_eq!(checked.status.code(), Some(2), "{said}");
    assert!(
        said.contains("baicells-atom-snmp.toml: ok: profile baicells-atom-snmp (Baicells), score 85: 19 SNMP gets"),
        "{said}"
    );
    assert!(
        said.contains("broken.toml: line 8: tr069.transform: unknown transform \"hexadecimal\""),
        "{said}"
    );
    assert!(recorded.status.success(), "{}", text(&recorded.stderr));
    for (what, out) in [("replayed", &replayed), ("live", &live)] {
        assert!(out.status.success(), "{what}: {}", text(&out.stderr));
        let r: efi_plugin_api::DeviceRecord = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r.model.as_deref(), Some("OD04"), "{what}");
        assert_eq!(r.rsrp_dbm, Some(-96.0), "{what}");
        assert_eq!(
            (r.eci, r.enb_id, r.cell_id),
            (Some(42529), Some(166), Some(33)),
            "{what}"
        );
        assert_eq!(
            r.identity.imei.as_deref(),
            Some("867945040000002"),
            "{what}"
        );
    }
}
