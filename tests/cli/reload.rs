//! SIGHUP: `efi-poller run` re-reads its configuration file and restarts with it (plugins
//! rescanned, listener rebuilt); a file with a mistake is refused with its line and the
//! running configuration stays.

use efi_lab::raemis::{RaemisOptions, RaemisSim};
use efi_lab::sonar::scenario::Scenario;
use efi_lab::sonar::SonarSim;
use efi_tests::artifacts::artifacts;
use efi_tests::{stdout_lines, PluginDir, Running};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

fn hang_up(child: &Child) {
    let status = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The status of `GET url` (with `token` as a bearer when given), `None` when nothing
/// answers.
async fn status_of(url: &str, token: Option<&str>) -> Option<u16> {
    let mut r = reqwest::Client::new().get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.ok().map(|r| r.status().as_u16())
}

/// Asks until `GET url` answers `want`; panics with the last answer after 60 s.
async fn wait_status(url: &str, token: Option<&str>, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    while Instant::now() < deadline {
        last = status_of(url, token).await;
        if last == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url}: wanted {want} within 60 s, last {last:?}");
}

/// The next printed line holding `needle`, within 60 s.
fn line_with_60(lines: &Receiver<String>, needle: &str) -> String {
    efi_tests::line_with(lines, needle, Duration::from_secs(60))
}

fn write_config(path: &Path, dir: &Path, listen: &str, extra: &str, lab: &str) {
    std::fs::write(
        path,
        format!(
            r#"[log]
level = "warn"
[plugins]
dir = {dir:?}
rescan_secs = 0
[poller]
enabled = false
[arbiter]
managed_subnets = ["10.45.0.0/16"]
interval_secs = 1
[store]
url = {state:?}
[server]
listen = "{listen}"
{extra}
{lab}"#,
            state = dir.join("state.db"),
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_a_valid_file_and_refuses_a_broken_one_with_its_line() {
    efi_lab::init_tls();
    let sonar = SonarSim::start("127.0.0.1:0".parse().unwrap(), Scenario::lab())
        .await
        .unwrap();
    let raemis = RaemisSim::start("127.0.0.1:0".parse().unwrap(), RaemisOptions::default())
        .await
        .unwrap();
    let lab = efi_lab::lab_source_and_sink(&raemis.base_url(), &sonar.base_url(), "raemis", "", "");
    let dir = PluginDir::new();
    dir.install("raemis");
    dir.install("sonar");
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let config = dir.path().join("config.toml");
    write_config(&config, dir.path(), &listen, "", &lab);

    let mut child = Command::new(artifacts().host_binary())
        .args(["--config", config.to_str().unwrap(), "run"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = stdout_lines(&mut child);
    let host = Running(child);
    let status = format!("http://{listen}/api/v1/status");
    let plugins = format!("http://{listen}/api/v1/plugins");
    wait_status(&status, None, 200).await;
    let listed: serde_json::Value = reqwest::get(&plugins).await.unwrap().json().await.unwrap();
    assert!(!listed.to_string().contains("bec-ridgewave"), "{listed}");

    // A new driver dropped in and an API token configured: SIGHUP applies both.
    dir.install("bec-ridgewave");
    let token_file = dir.path().join("api.token");
    std::fs::write(&token_file, "reload-token\n").unwrap();
    write_config(
        &config,
        dir.path(),
        &listen,
        &format!("api_token_file = {token_file:?}"),
        &lab,
    );
    hang_up(&host.0);
    line_with_60(&lines, "reloading: restarting with the new configuration");
    wait_status(&status, None, 401).await;
    wait_status(&status, Some("reload-token"), 200).await;
    let listed: serde_json::Value = reqwest::Client::new()
        .get(&plugins)
        .bearer_auth("reload-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed.to_string().contains("bec-ridgewave"),
        "the reload rescanned the plugins: {listed}"
    );

    // A mistake on line 8: refused with the file and the line; the host keeps running with
    // what it had (the token still required, still accepted).
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        good.replace(
            "[poller]\nenabled = false",
            "[poller]\nenabled = false\nintervl_secs = 5",
        ),
    )
    .unwrap();
    hang_up(&host.0);
    let refused = line_with_60(&lines, "reload refused");
    assert!(
        refused.contains("config.toml")
            && refused.contains("line 8: poller.intervl_secs: unknown key"),
        "{refused}"
    );
    assert_eq!(status_of(&status, None).await, Some(401));
    assert_eq!(status_of(&status, Some("reload-token")).await, Some(200));
}
