//! The host process killed with SIGKILL in the middle of applying a plan, then restarted:
//! Sonar converges with no lost and no duplicated change. And stopped with SIGTERM in the
//! middle of a cycle: it finishes the cycle and exits.

use efi_lab::raemis::{RaemisOptions, RaemisSim, Subscriber};
use efi_lab::sim::Fault;
use efi_lab::sonar::scenario::Scenario;
use efi_lab::sonar::SonarSim;
use efi_tests::artifacts::artifacts;
use efi_tests::PluginDir;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const UES: u32 = 30;

/// Sonar, Raemis with the UEs attached in 10.45.3.0/24, and a host's config with its
/// plugins (Sonar's changes applied three a batch). Fields drop in this order.
struct CrashLab {
    config: PathBuf,
    dir: PluginDir,
    _raemis: RaemisSim,
    sonar: SonarSim,
}

impl CrashLab {
    /// Starts the simulators, attaches the UEs, installs the plugins and writes the config.
    async fn start() -> CrashLab {
        let sonar = SonarSim::start("127.0.0.1:0".parse().unwrap(), Scenario::lab())
            .await
            .unwrap();
        let raemis = RaemisSim::start("127.0.0.1:0".parse().unwrap(), RaemisOptions::default())
            .await
            .unwrap();
        for n in 1..=UES {
            let imsi = format!("0010100000001{n:02}");
            raemis.add_subscriber(Subscriber::new(
                &imsi,
                &format!("3500000000001{n:02}"),
                "",
                "Jane Doe",
            ));
            raemis
                .attach(&imsi, format!("10.45.3.{n}").parse().unwrap(), "internet")
                .await
                .unwrap();
        }
        let dir = PluginDir::new();
        dir.install("raemis");
        dir.install("sonar");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[log]
level = "warn"
[plugins]
dir = {dir:?}
rescan_secs = 0
[arbiter]
managed_subnets = ["10.45.0.0/16"]
[store]
url = {state:?}
{lab}"#,
                dir = dir.path(),
                state = dir.path().join("state.db"),
                lab = efi_lab::lab_source_and_sink(
                    &raemis.base_url(),
                    &sonar.base_url(),
                    "raemis",
                    "",
                    ", batch_size = 3",
                ),
            ),
        )
        .unwrap();
        CrashLab {
            config,
            dir,
            _raemis: raemis,
            sonar,
        }
    }

    /// Starts `efi-poller run --cycles 1`, its output piped.
    fn run(&self) -> Child {
        Command::new(artifacts().host_binary())
            .args([
                "--config",
                self.config.to_str().unwrap(),
                "run",
                "--cycles",
                "1",
            ])
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Starts `efi-poller run` with no cycle limit: it runs until stopped.
    fn run_until_stopped(&self) -> Child {
        Command::new(artifacts().host_binary())
            .args(["--config", self.config.to_str().unwrap(), "run"])
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// How many soft IP assignments Sonar holds.
    fn soft_assignments(&self) -> usize {
        self.sonar
            .entities("IpAssignment")
            .into_iter()
            .filter(|a| a["soft"] == true)
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_mid_apply_converges_on_restart_without_duplicates() {
    let lab = CrashLab::start().await;
    a_dry_run_writes_nothing(&lab);
    kill_the_host_mid_apply(&lab).await;
    let calls_before = lab.sonar.calls().len();
    the_restart_completes_the_interrupted_plan(&lab);
    check_nothing_lost_or_applied_twice(&lab, calls_before);
}

/// SIGTERM (systemd's stop) while an arbiter cycle is applying its plan: the host lets the
/// cycle finish and exits cleanly. A signal that came while the service was busy used to be
/// lost, and systemd killed the host 90 s later (seen at 20,000 CPEs, where a full cycle
/// takes seconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_a_cycle_lets_it_finish_and_exits() {
    let lab = CrashLab::start().await;
    lab.sonar
        .faults()
        .inject("graphql", Fault::Slow(Duration::from_millis(150)), 1000);
    let host = lab.run_until_stopped();
    if tokio::time::timeout(Duration::from_secs(120), lab.sonar.mutations_reached(2))
        .await
        .is_err()
    {
        panic!("the host never started applying");
    }
    let assignments_at_stop = lab.soft_assignments();
    assert!(
        assignments_at_stop < UES as usize,
        "the stop came after the cycle ({assignments_at_stop} assignments)"
    );
    let term = Command::new("kill")
        .args(["-TERM", &host.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    // Waits on a thread: a host that lost the signal would block here forever.
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = host.id();
    std::thread::spawn(move || {
        let _ = tx.send(host.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("the host did not stop within 60 s of SIGTERM");
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("stopping: letting the arbiter's running cycle finish"),
        "{stdout}"
    );
    assert_eq!(
        lab.soft_assignments(),
        UES as usize,
        "the cycle finished before the exit: {stdout}{stderr}"
    );
}

/// A dry run first: `plan` prints what it would do and writes nothing, neither to Sonar
/// nor to the store (its outbox is in memory).
fn a_dry_run_writes_nothing(lab: &CrashLab) {
    let dry = Command::new(artifacts().host_binary())
        .args(["--config", lab.config.to_str().unwrap(), "plan"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(printed.contains(&format!("{UES} to assign")), "{printed}");
    assert!(
        !lab.dir.path().join("state.db").exists(),
        "plan created the store"
    );
    assert_eq!(lab.soft_assignments(), 0);
}

/// Every mutation document is answered slowly, so the SIGKILL lands in the middle of the
/// apply: fewer assignments than UEs are made.
async fn kill_the_host_mid_apply(lab: &CrashLab) {
    lab.sonar
        .faults()
        .inject("graphql", Fault::Slow(Duration::from_millis(150)), 1000);
    let mut first = lab.run();
    if tokio::time::timeout(Duration::from_secs(120), lab.sonar.mutations_reached(4))
        .await
        .is_err()
    {
        first.kill().unwrap();
        let out = first.wait_with_output().unwrap();
        panic!(
            "the host never started applying:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    first.kill().unwrap(); // SIGKILL
    let _ = first.wait();
    lab.sonar.faults().clear();
    let soft_after_crash = lab.soft_assignments();
    assert!(
        soft_after_crash < UES as usize,
        "the kill landed before the plan finished ({soft_after_crash} assignments)"
    );
}

/// The restarted host finishes with no failure, knowing an earlier plan was interrupted.
fn the_restart_completes_the_interrupted_plan(lab: &CrashLab) {
    let second = lab.run().wait_with_output().unwrap();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("failed 0"), "{stdout}");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("an earlier plan was interrupted"),
        "the outbox knew: {stderr}"
    );
}

/// Every UE has exactly one item and its one assignment; nothing was applied twice (no
/// call since `calls_before` had errors).
fn check_nothing_lost_or_applied_twice(lab: &CrashLab, calls_before: usize) {
    let data = lab.sonar.entities("InventoryModelFieldData");
    let mut items_by_imei: BTreeMap<String, usize> = BTreeMap::new();
    for d in &data {
        let v = d["value"].as_str().unwrap();
        if v.starts_with("35000000000") {
            *items_by_imei.entry(v.to_owned()).or_default() += 1;
        }
    }
    assert_eq!(
        items_by_imei.len(),
        UES as usize + 1,
        "one per UE plus the lab's own CPE"
    );
    assert!(
        items_by_imei.values().all(|n| *n == 1),
        "no duplicated item: {items_by_imei:?}"
    );
    assert_eq!(lab.soft_assignments(), UES as usize, "no lost assignment");
    let second_run_errors: Vec<_> = lab.sonar.calls()[calls_before..]
        .iter()
        .filter(|c| c.had_errors)
        .map(|c| c.query.clone())
        .collect();
    assert!(
        second_run_errors.is_empty(),
        "the restart re-planned instead of replaying: {second_run_errors:?}"
    );
}
