//! The fault-and-load soak at a size a test run affords: 400 UEs churning for 20 s at 40
//! events a second, Sonar throttling and failing in a third of the seconds, the host killed
//! with SIGKILL three times. Sonar must end equal to the EPC (every session's address held
//! by its own CPE's item, once; nothing else). `bench/soak.sh` runs it with 50,000 UEs.

use efi_lab::soak::{run, SoakOptions};
use efi_tests::artifacts::artifacts;
use efi_tests::PluginDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sonar_equals_the_epc_after_churn_faults_and_kills() {
    efi_lab::init_tls();
    let dir = PluginDir::new();
    dir.install("raemis");
    dir.install("sonar");
    let report = run(SoakOptions {
        ues: 400,
        seconds: 20,
        events_per_sec: 40,
        kills: 3,
        fault_rate: 0.33,
        settle_seconds: 120,
        seed: 7,
        host_binary: artifacts().host_binary(),
        plugins_dir: dir.path().to_path_buf(),
    })
    .await
    .unwrap();
    println!("{report}");
    assert_eq!(report.restarts, 3, "{report}");
    assert!(
        report.attaches + report.detaches + report.moves > 0,
        "{report}"
    );
    assert!(
        report.faults_hit > 0,
        "the host met Sonar's faults: {report}"
    );
    assert!(
        report.device_polls_failed > 0,
        "devices were polled and timed out: {report}"
    );
    assert!(report.equal(), "{report}");
    assert_eq!(report.sonar_assignments, report.epc_sessions, "{report}");
}
