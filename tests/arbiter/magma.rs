//! The arbiter with the magma source: orc8r over mutual TLS to Sonar's soft assignments.

use efi_core::arbiter::Arbiter;
use efi_core::config::Config;
use efi_core::host::Host;
use efi_lab::magma::MagmaSim;
use efi_lab::sonar::scenario::{FieldSeed, ModelSeed, Scenario};
use efi_lab::sonar::SonarSim;
use efi_tests::PluginDir;
use std::path::Path;
use std::sync::Arc;

async fn arbiter(sonar: &SonarSim, magma: &MagmaSim, dir: &PluginDir, with_cert: bool) -> Arbiter {
    std::fs::write(dir.path().join("ca.pem"), &magma.pki().ca_pem).unwrap();
    std::fs::write(
        dir.path().join("operator.pem"),
        magma.pki().client("admin_operator").bundle_pem(),
    )
    .unwrap();
    let cert_line = if with_cert {
        format!("client_cert = {:?}\n", dir.path().join("operator.pem"))
    } else {
        String::new()
    };
    let toml = format!(
        r#"
[plugins]
dir = {dir:?}
rescan_secs = 0
[arbiter]
managed_subnets = ["10.45.1.0/16"]
[store]
url = {state:?}
[credentials.magma]
ca_file = {ca:?}
{cert_line}
[credentials.sonar]
bearer = "lab-token"
[[sources]]
name = "orc8r"
plugin = "magma"
settings = {{ url = "{magma}", credentials = "magma", networks = ["lab"], page_size = 2 }}
[sink]
plugin = "sonar"
settings = {{ url = "{sonar}", credentials = "sonar", default_model = "LTE CPE (by IMSI)" }}
"#,
        dir = dir.path(),
        state = dir.path().join("state.db"),
        ca = dir.path().join("ca.pem"),
        magma = magma.api_url(),
        sonar = sonar.base_url(),
    );
    let config = Config::parse(&toml, Path::new("magma-test.toml")).unwrap();
    let host = Arc::new(
        tokio::task::spawn_blocking(move || Host::new(config))
            .await
            .unwrap(),
    );
    efi_tests::arbiter(host).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orc8r_sessions_over_mutual_tls_become_soft_assignments() {
    // Magma knows no IMEI: the operator's model for such CPEs is keyed by IMSI.
    let mut scenario = Scenario::lab();
    let field = |id: i64, name: &str, t: &str, required: bool| FieldSeed {
        id,
        name: name.into(),
        field_type: t.into(),
        primary: required,
        required,
        unique: "GLOBAL".into(),
    };
    scenario.inventory_models.push(ModelSeed {
        id: 510,
        name: "LTE CPE (by IMSI)".into(),
        manufacturer_id: 1,
        fields: vec![
            field(5101, "IMSI", "IMSI", true),
            field(5102, "IMEI", "TEXT", false),
        ],
    });
    let sonar = SonarSim::start("127.0.0.1:0".parse().unwrap(), scenario)
        .await
        .unwrap();
    let magma = MagmaSim::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    magma.add_network("lab");
    for i in 1..=5 {
        magma.add_subscriber(
            "lab",
            &format!("00101000000020{i}"),
            if i == 1 { "Jane Doe" } else { "_" },
            "",
        );
        magma.attach(
            "lab",
            &format!("00101000000020{i}"),
            "internet",
            format!("10.45.1.{i}").parse().unwrap(),
            1_700_000_000,
        );
    }
    let dir = PluginDir::new();
    dir.install("magma");
    dir.install("sonar");

    // Without the operator certificate orc8r refuses the handshake: nothing is deleted or made.
    let anonymous = arbiter(&sonar, &magma, &dir, false).await;
    let report = anonymous.cycle().await.unwrap();
    assert!(!report.source_errors.is_empty(), "the handshake must fail");
    assert!(report.plan.changes.changes.is_empty());

    let arbiter = arbiter(&sonar, &magma, &dir, true).await;
    let report = arbiter.cycle().await.unwrap();
    assert!(
        report.source_errors.is_empty(),
        "{:?}",
        report.source_errors
    );
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.plan.stats.items_created, 5, "five IMSI-only CPEs");
    let soft: Vec<String> = sonar
        .entities("IpAssignment")
        .into_iter()
        .filter(|a| a["soft"] == true)
        .map(|a| a["subnet"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(soft.len(), 5, "{soft:?}");
    assert!(soft.contains(&"10.45.1.3/32".to_owned()));
}
