//! The `efi-lab` binary as a person uses it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn help_lists_every_simulator() {
    let out = Command::new(efi_tests::artifacts::artifacts().lab_binary())
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for sim in ["sonar", "raemis", "magma", "genieacs", "snmp"] {
        assert!(help.contains(sim), "{sim} missing from:\n{help}");
    }
}

#[tokio::test]
async fn sonar_serves_a_scenario_file_for_manual_use() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(
        &scenario,
        "tokens = [\"manual\"]\n[[accounts]]\nid = 42\nname = \"Manual Test\"\n",
    )
    .unwrap();
    let mut child = Command::new(efi_tests::artifacts::artifacts().lab_binary())
        .args([
            "sonar",
            "--bind",
            "127.0.0.1:0",
            "--scenario",
            scenario.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    let body: serde_json::Value = efi_lab::http_client()
        .post(&url)
        .bearer_auth("manual")
        .json(&serde_json::json!({"query": "{ accounts { entities { id name } } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(
        body["data"]["accounts"]["entities"][0],
        serde_json::json!({"id": "42", "name": "Manual Test"})
    );
}

#[test]
fn a_broken_scenario_file_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("broken.toml");
    std::fs::write(&scenario, "[[accounts]]\nid = \"x\"\n").unwrap();
    let out = Command::new(efi_tests::artifacts::artifacts().lab_binary())
        .args([
            "sonar",
            "--bind",
            "127.0.0.1:0",
            "--scenario",
            scenario.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.toml"), "{err}");
}
