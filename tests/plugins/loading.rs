//! The plugin framework end to end: real `.so` files loaded by the host, real SNMP on
//! loopback. Each test builds its own plugins directory.

use efi_core::host::runner::RunError;
use efi_core::loader::{RegistryEvent, Status};
use efi_lab::fleet::start_mib2_fleet;
use efi_plugin_api::Target;
use efi_tests::{config, registry, runner, PluginDir};
use std::time::Duration;

fn target_of(agent: &efi_lab::snmp_agent::SnmpAgent) -> Target {
    let mut t = Target::new(agent.addr().ip());
    t.snmp_port = agent.addr().port();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_driver_plugins_in_one_directory_both_load_and_both_run() {
    let dir = PluginDir::new();
    dir.install("hello-driver");
    dir.install("panicky-driver");
    let cfg = config("[drivers.panicky-driver]\nmode = \"ok\"\n");
    let reg = registry(dir.path(), cfg.clone());
    let names: Vec<String> = reg.plugins().iter().map(|p| p.name().to_owned()).collect();
    assert_eq!(names, ["hello-driver", "panicky-driver"]);

    let agents = start_mib2_fleet(1).await.unwrap();
    let run = runner(&cfg);
    let hello = run
        .collect(&reg.get("hello-driver").unwrap(), &target_of(&agents[0]))
        .await
        .unwrap();
    assert_eq!(hello.hostname.as_deref(), Some("cpe-001"));
    assert_eq!(hello.identity.mac.as_deref(), Some("02:ef:1a:00:00:01"));
    assert_eq!(hello.interfaces.len(), 3);

    let other = run
        .collect(&reg.get("panicky-driver").unwrap(), &target_of(&agents[0]))
        .await
        .unwrap();
    assert_eq!(other.hostname, None, "the second plugin ran its own code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_plugin_is_contained_named_and_quarantined() {
    let dir = PluginDir::new();
    dir.install("hello-driver");
    dir.install("panicky-driver");
    let cfg = config(
        "[drivers.panicky-driver]\nmode = \"panic\"\n[plugins]\nmax_consecutive_panics = 3\n",
    );
    let reg = registry(dir.path(), cfg.clone());
    let agents = start_mib2_fleet(1).await.unwrap();
    let target = target_of(&agents[0]);
    let run = runner(&cfg);
    let panicky = reg.get("panicky-driver").unwrap();

    for attempt in 1..=3 {
        let err = run.collect(&panicky, &target).await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("panicky-driver"), "attempt {attempt}: {text}");
        assert!(
            text.contains("driver bug on purpose"),
            "attempt {attempt}: {text}"
        );
        assert!(text.contains("lib.rs:"), "panic location reported: {text}");
        // The host is still fine: the other plugin keeps working between panics.
        let ok = run
            .collect(&reg.get("hello-driver").unwrap(), &target)
            .await
            .unwrap();
        assert_eq!(ok.hostname.as_deref(), Some("cpe-001"));
    }

    assert!(matches!(panicky.health().status(), Status::Quarantined(_)));
    assert_eq!(panicky.health().panics(), 3);
    let err = run.collect(&panicky, &target).await.unwrap_err();
    assert!(matches!(err, RunError::Quarantined { .. }), "{err}");
    let row = reg
        .listing()
        .into_iter()
        .find(|l| l.name == "panicky-driver")
        .unwrap();
    assert!(
        row.status
            .starts_with("quarantined: panicked 3 times in a row"),
        "{}",
        row.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_identify_is_caught_too() {
    let dir = PluginDir::new();
    dir.install("panicky-driver");
    let cfg = config("[drivers.panicky-driver]\nmode = \"panic_in_identify\"\n");
    let reg = registry(dir.path(), cfg.clone());
    let err = runner(&cfg)
        .identify(&reg.get("panicky-driver").unwrap(), &Default::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("identify exploded on purpose"),
        "{err}"
    );
    assert_eq!(reg.get("panicky-driver").unwrap().health().panics(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_over_its_cpu_budget_quarantines_the_plugin() {
    let dir = PluginDir::new();
    dir.install("panicky-driver");
    let cfg = config("[drivers.panicky-driver]\nmode = \"spin\"\nspin_ms = 400\n[plugins]\nstep_budget_ms = 50\n");
    let reg = registry(dir.path(), cfg.clone());
    let plugin = reg.get("panicky-driver").unwrap();
    let err = runner(&cfg)
        .collect(&plugin, &Target::new("127.0.0.1".parse().unwrap()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RunError::OverBudget { budget_ms: 50, .. }),
        "{err}"
    );
    assert!(plugin.health().is_quarantined());
    assert!(
        reg.active_drivers().is_empty(),
        "a quarantined driver is not offered for polling"
    );
}

#[test]
fn incompatible_foreign_and_truncated_files_are_rejected_and_the_rest_load() {
    let dir = PluginDir::new();
    dir.install("hello-driver");
    let future = dir.install("future-api-driver");
    let foreign = dir.install("not-a-plugin");
    let hello_bytes =
        std::fs::read(efi_tests::artifacts::artifacts().plugin("hello-driver")).unwrap();
    let truncated = dir.write("libtruncated.so", &hello_bytes[..4096]);
    dir.write("README.txt", b"not a plugin and not a .so: ignored");

    let reg = registry(dir.path(), config(""));
    let listing = reg.listing();
    assert_eq!(
        listing.len(),
        4,
        "only .so files are considered: {listing:#?}"
    );
    let status = |file: &std::path::Path| {
        listing
            .iter()
            .find(|l| l.file == file)
            .map(|l| l.status.clone())
            .unwrap()
    };

    let s = status(&future);
    assert!(s.starts_with("rejected: "), "{s}");
    assert!(s.contains("libfuture_api_driver.so"), "names the file: {s}");
    assert!(
        s.contains("efi-plugin-api 2.0.0"),
        "names its API version: {s}"
    );
    assert!(s.contains("efi-plugin-api 1.0.0"), "names the host's: {s}");
    let row = listing.iter().find(|l| l.file == future).unwrap();
    assert_eq!(row.api_version, "2.0.0");

    let s = status(&foreign);
    assert!(
        s.contains("libnot_a_plugin.so") && s.contains("not an efi-poller plugin"),
        "{s}"
    );

    let s = status(&truncated);
    assert!(
        s.contains("libtruncated.so") && s.contains("incomplete file"),
        "{s}"
    );

    let loaded: Vec<String> = reg.plugins().iter().map(|p| p.name().to_owned()).collect();
    assert_eq!(loaded, ["hello-driver"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_copied_in_while_running_is_picked_up_and_a_removed_one_dropped() {
    let dir = PluginDir::new();
    dir.install("hello-driver");
    let cfg = config("[drivers.panicky-driver]\nmode = \"ok\"\n");
    let reg = registry(dir.path(), cfg.clone());
    assert_eq!(reg.plugins().len(), 1);
    let mut events = reg.subscribe();
    let _watcher = reg.spawn_watcher(Duration::from_millis(50));

    let file = dir.install("panicky-driver");
    let loaded = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match events.recv().await.unwrap() {
                RegistryEvent::Loaded { name, .. } if name == "panicky-driver" => break,
                _ => continue,
            }
        }
    })
    .await;
    assert!(loaded.is_ok(), "the watcher never loaded the new file");
    let agents = start_mib2_fleet(1).await.unwrap();
    runner(&cfg)
        .collect(&reg.get("panicky-driver").unwrap(), &target_of(&agents[0]))
        .await
        .unwrap();

    std::fs::remove_file(&file).unwrap();
    let removed = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let RegistryEvent::Removed { file: f } = events.recv().await.unwrap() {
                break f;
            }
        }
    })
    .await
    .expect("the watcher never noticed the removal");
    assert_eq!(removed, file);
    assert!(reg.get("panicky-driver").is_none());
    assert!(reg.get("hello-driver").is_some());
}

#[test]
fn a_changed_file_is_reloaded_as_a_new_library() {
    let dir = PluginDir::new();
    let path = dir.install("panicky-driver");
    let reg = registry(
        dir.path(),
        config(
            "[drivers.panicky-driver]\nmode = \"panic\"\n[plugins]\nmax_consecutive_panics = 1\n",
        ),
    );
    let first = reg.get("panicky-driver").unwrap();
    first.health().record_panic("simulated");
    assert!(first.health().is_quarantined());
    // An operator installs a fixed build (here: the same bytes under a new inode).
    std::fs::remove_file(&path).unwrap();
    dir.install("panicky-driver");
    let events = reg.rescan();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RegistryEvent::Loaded { name, .. } if name == "panicky-driver")),
        "{events:?}"
    );
    let second = reg.get("panicky-driver").unwrap();
    assert!(
        !second.health().is_quarantined(),
        "a new file starts with a clean record"
    );
}

#[test]
fn two_files_claiming_one_plugin_name_load_only_once() {
    let dir = PluginDir::new();
    let first = dir.install("hello-driver");
    let second = dir.path().join("libhello_copy.so");
    std::fs::copy(&first, &second).unwrap();
    let reg = registry(dir.path(), config(""));
    assert_eq!(reg.plugins().len(), 1);
    let rejected: Vec<_> = reg
        .listing()
        .into_iter()
        .filter(|l| l.status.starts_with("rejected"))
        .collect();
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0].status.contains("already provided by"),
        "{}",
        rejected[0].status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identification_picks_the_vendor_driver_over_the_generic_one() {
    use efi_lab::snmp_agent::{AgentOptions, SnmpAgent};
    let dir = PluginDir::new();
    dir.install("hello-driver");
    dir.install("bec-ridgewave");
    let cfg_text = format!("[plugins]\ndir = {:?}\nrescan_secs = 0\n", dir.path());
    let config =
        efi_core::config::Config::parse(&cfg_text, std::path::Path::new("t.toml")).unwrap();
    let host = tokio::task::spawn_blocking(move || efi_core::host::Host::new(config))
        .await
        .unwrap();

    let recording = efi_tests::artifacts::workspace_root()
        .join("plugins/bec-ridgewave/tests/data/ridgewave-6900.snmprec");
    let data = efi_plugin_api::testing::load_snmprec(recording).unwrap();
    let bec = SnmpAgent::start(
        "127.10.7.1:0".parse().unwrap(),
        data,
        AgentOptions::default(),
    )
    .await
    .unwrap();
    let generic = start_mib2_fleet(1).await.unwrap();

    let outcome = efi_core::poller::poll(&host, &target_of(&bec), None)
        .await
        .unwrap();
    assert_eq!(outcome.driver, "bec-ridgewave");
    assert!(outcome.confidence.unwrap() >= 90);
    assert_eq!(outcome.record.enb_id, Some(166));
    assert_eq!(
        outcome.record.identity.mac.as_deref(),
        Some("60:03:47:a1:b2:c3")
    );

    let outcome = efi_core::poller::poll(&host, &target_of(&generic[0]), None)
        .await
        .unwrap();
    assert_eq!(
        outcome.driver, "hello-driver",
        "an unknown Linux box falls back to MIB-II"
    );
}
