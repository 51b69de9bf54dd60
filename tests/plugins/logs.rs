//! A plugin's `tracing` events reach the host's log, tagged with the plugin's name.
//! (Its own test binary: it installs the process-wide subscriber.)

use efi_tests::{config, registry, runner, PluginDir};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_log_lines_appear_in_the_host_log_with_the_plugin_name() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let dir = PluginDir::new();
    dir.install("hello-driver");
    let cfg = config("");
    let reg = registry(dir.path(), cfg.clone());
    let agents = efi_lab::fleet::start_mib2_fleet(1).await.unwrap();
    let mut target = efi_plugin_api::Target::new(agents[0].addr().ip());
    target.snmp_port = agents[0].addr().port();
    runner(&cfg)
        .collect(&reg.get("hello-driver").unwrap(), &target)
        .await
        .unwrap();

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let ready = log
        .lines()
        .find(|l| l.contains("hello-driver ready"))
        .unwrap_or_else(|| panic!("init log line missing from:\n{log}"));
    assert!(
        ready.contains("INFO") && ready.contains("plugin=\"hello-driver\""),
        "{ready}"
    );
    let collecting = log
        .lines()
        .find(|l| l.contains("collecting MIB-II"))
        .unwrap_or_else(|| panic!("debug line missing from:\n{log}"));
    assert!(collecting.contains("DEBUG"), "{collecting}");
    assert!(
        collecting.contains("plugin=\"hello-driver\""),
        "{collecting}"
    );
    assert!(
        collecting.contains(&format!("address={}", agents[0].addr().ip())),
        "fields kept: {collecting}"
    );
}
