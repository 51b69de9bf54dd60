//! `efi-lab demo` as a newcomer runs it: the lab on loopback, and the real `efi-poller run`
//! with the configuration the demo writes, checks with `config check` and prints.

use efi_tests::artifacts::artifacts;
use efi_tests::PluginDir;
use std::process::{Command, Output};

/// Runs `efi-lab demo` with the plugins of `plugins` and the fresh `efi-poller`.
fn demo(plugins: &[&str], args: &[&str]) -> (PluginDir, Output) {
    let dir = PluginDir::new();
    for p in plugins {
        dir.install(p);
    }
    let out = Command::new(artifacts().lab_binary())
        .arg("demo")
        .arg("--efi-poller")
        .arg(artifacts().host_binary())
        .arg("--plugins")
        .arg(dir.path())
        // An ephemeral port each: demos running side by side would race for 9630 (the
        // default is free when checked, taken by another demo when efi-poller binds it).
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("EFI_POLLER_CONFIG")
        .output()
        .expect("run efi-lab");
    (dir, out)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The row of `address` in the last table printed.
fn last_row<'a>(stdout: &'a str, address: &str) -> &'a str {
    stdout
        .lines()
        .rev()
        .find(|l| l.starts_with(&format!("{address} ")))
        .unwrap_or_else(|| panic!("no row for {address}:\n{stdout}"))
}

const IPAM: [&str; 2] = ["raemis", "sonar"];

#[test]
fn the_demo_polls_the_lab_through_a_configuration_efi_poller_accepts() {
    let (_dir, out) = demo(
        &["hello-driver", IPAM[0], IPAM[1]],
        &["--cycles", "2", "--interval", "1", "--devices", "3"],
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    // The configuration is printed, checked by efi-poller itself, and run.
    assert!(
        stdout.contains("[[sources]]") && stdout.contains("managed_subnets"),
        "{stdout}"
    );
    assert!(stdout.contains("$ efi-poller config check "), "{stdout}");
    assert!(stdout.contains("config.toml: ok"), "{stdout}");
    assert!(stdout.contains("$ efi-poller --config "), "{stdout}");
    // efi-poller's own lines, shown as they come: its listener and its first arbiter cycle.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("  efi-poller | listening on http://")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("  efi-poller | cycle 1 (full pull): 3 sessions")),
        "{stdout}"
    );
    // What changed, per address: the CPE's new item with its identifiers.
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("  efi-poller |   127.10.0.1 -> a new item (")),
        "{stdout}"
    );
    assert!(
        stdout.contains("cycle 1: 3 addresses in use: 3 up, 0 down"),
        "{stdout}"
    );
    // Only the generic driver is installed: every device falls back to MIB-II.
    for n in 1..=3 {
        assert!(last_row(&stdout, &format!("127.10.0.{n}")).contains("hello-driver"));
    }
    let first = stdout
        .lines()
        .find(|l| l.starts_with("127.10.0.1 "))
        .unwrap();
    assert!(
        first.contains("cpe-001") && first.contains("02:ef:1a:00:00:01"),
        "{first}"
    );
    // The second cycle detaches the first UE: two addresses left, Sonar follows.
    assert!(
        stdout.contains("raemis: UE 001010000000001 detached (pushed)"),
        "{stdout}"
    );
    assert!(stdout.contains("cycle 2: 2 addresses in use"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("  efi-poller |   127.10.0.1 released: no session holds it")),
        "{stdout}"
    );
    assert!(
        stdout.contains("sonar: in step with the EPC: 2 soft assignments"),
        "{stdout}"
    );
    assert!(
        stdout.contains("efi-poller stopped (exit status: 0)"),
        "{stdout}"
    );
}

#[test]
fn the_demo_without_a_driver_says_what_to_do() {
    let (_dir, out) = demo(&IPAM, &["--cycles", "1"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no driver plugins in") && stderr.contains("cargo build --release"),
        "{stderr}"
    );
    let (_dir, out) = demo(&["hello-driver"], &["--cycles", "1"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("needs the raemis plugin"), "{stderr}");
}

#[test]
fn the_demo_keeps_sonar_in_step_while_ues_attach_move_and_detach() {
    let (_dir, out) = demo(
        &["hello-driver", IPAM[0], IPAM[1]],
        &["--cycles", "4", "--interval", "1", "--devices", "4"],
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    for event in [
        "raemis: UE 001010000000001 detached (pushed)",
        "raemis: UE 001010000000002 moved to 127.10.1.2 (pushed)",
        "raemis: UE 001010000000003 detached (pushed)",
    ] {
        assert!(stdout.contains(event), "{event} missing:\n{stdout}");
    }
    // Left in use: UE 2 at its new address and UE 4 at its own.
    assert!(
        stdout.contains("sonar: in step with the EPC: 2 soft assignments"),
        "{stdout}"
    );
    // efi-poller acted on the pushes with event cycles of its own.
    assert!(
        stdout
            .lines()
            .filter(|l| l.starts_with("  efi-poller | cycle "))
            .count()
            >= 2,
        "{stdout}"
    );
}

#[test]
fn the_demo_identifies_each_cpe_model_with_its_driver() {
    let (_dir, out) = demo(
        &[
            "hello-driver",
            "bec-ridgewave",
            "baicells-atom",
            "telrad-cpe",
            IPAM[0],
            IPAM[1],
        ],
        &["--cycles", "1", "--devices", "4"],
    );
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    let driver_of = |address: &str| {
        last_row(&stdout, address)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    for (n, driver) in [
        (1, "hello-driver"),
        (2, "bec-ridgewave"),
        (3, "baicells-atom"),
        (4, "telrad-cpe"),
    ] {
        assert_eq!(
            driver_of(&format!("127.10.0.{n}")),
            driver,
            "{}",
            efi_lab::fleet::mixed_kind(n)
        );
    }
    // The TR-069 CPEs answer no SNMP: identified by what they told their ACS through
    // efi-poller's snooping proxy, and polled from it.
    for (address, driver, model) in [
        ("127.10.2.1", "baicells-atom", "EG7010A"),
        ("127.10.2.2", "telrad-cpe", "CPE12300XG"),
    ] {
        let row = last_row(&stdout, address);
        let columns: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(columns[1], driver, "{row}");
        assert!(columns[2].contains(model), "{row}");
    }
    assert!(
        stdout.contains("cycle 1: 6 addresses in use: 6 up, 0 down"),
        "{stdout}"
    );
}

#[test]
fn a_debug_log_of_the_demo_holds_no_secret() {
    let community = "c0mmunity-s3cret";
    let (_dir, out) = demo(
        &["hello-driver", IPAM[0], IPAM[1]],
        &[
            "--cycles",
            "3",
            "--interval",
            "1",
            "--devices",
            "4",
            "--log-level",
            "debug",
            "--community",
            community,
        ],
    );
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let service: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  efi-poller | "))
        .collect();
    // The log is really at debug level and covers the flow that handles the secrets.
    for expected in ["source pulled", "HTTP listener ready"] {
        assert!(
            service.iter().any(|l| l.contains(expected)),
            "{expected}:\n{stdout}"
        );
    }
    // The devices were polled, so the community was used.
    assert!(
        last_row(&stdout, "127.10.0.4").contains("hello-driver"),
        "{stdout}"
    );
    // No secret anywhere in what the demo prints: the Sonar token, the Raemis Basic
    // credentials (plain and encoded), the community.
    let everything = format!("{stdout}\n{stderr}");
    for secret in [
        "lab-token",
        community,
        "raemis-lab",
        "cmFlbWlzOnJhZW1pcy1sYWI",
    ] {
        let found = everything.lines().find(|l| l.contains(secret));
        assert!(found.is_none(), "{secret:?} shown: {}", found.unwrap());
    }
    // Nor any header or field that would carry one, in efi-poller's own log.
    for needle in [
        "Bearer ",
        "Basic ",
        "authorization",
        "x-efi-secret:",
        "x-efi-secret=",
        "password",
        "bearer:",
    ] {
        let found = service
            .iter()
            .find(|l| l.to_lowercase().contains(&needle.to_lowercase()));
        assert!(found.is_none(), "{needle:?} in the log: {}", found.unwrap());
    }
}
