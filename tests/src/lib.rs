//! The shared set-up of every end-to-end test binary: the plugin `.so` files and binaries
//! built from the current source ([`artifacts`]), plugin directories, configurations, child
//! processes and waits for a state.

pub mod artifacts;

use artifacts::artifacts;
use efi_core::config::Config;
use efi_core::engines::Engines;
use efi_core::host::runner::Runner;
use efi_core::loader::Registry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A temporary plugins directory.
pub struct PluginDir {
    pub dir: tempfile::TempDir,
}

impl Default for PluginDir {
    fn default() -> Self {
        Self::new()
    }
}

impl PluginDir {
    /// An empty directory, removed when dropped.
    pub fn new() -> Self {
        PluginDir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Installs a workspace package's freshly built cdylib the safe way: write a temporary
    /// file, then rename it into place.
    pub fn install(&self, package: &str) -> PathBuf {
        let src = artifacts().plugin(package);
        let dest = self.path().join(src.file_name().unwrap());
        let tmp = self.path().join(format!(".{}.tmp", package));
        std::fs::copy(&src, &tmp).unwrap();
        std::fs::rename(&tmp, &dest).unwrap();
        dest
    }

    /// Writes arbitrary bytes as a plugin file.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let dest = self.path().join(name);
        std::fs::write(&dest, bytes).unwrap();
        dest
    }
}

/// The arbiter of `host`, its outbox and push journal in the store `host`'s config names
/// (`[store] url`: each test points it into its own temporary directory).
pub async fn arbiter(
    host: Arc<efi_core::host::Host>,
) -> Result<efi_core::arbiter::Arbiter, efi_core::arbiter::ArbiterError> {
    let store = efi_core::store::Store::open(&host.config.store)
        .await
        .unwrap_or_else(|e| panic!("the test's store: {e}"));
    efi_core::arbiter::Arbiter::new(host, &store)
}

/// A config from TOML text.
pub fn config(toml_text: &str) -> Arc<Config> {
    Arc::new(Config::parse(toml_text, Path::new("test.toml")).unwrap())
}

/// A registry over `dir` with `config`, scanned once.
pub fn registry(dir: &Path, config: Arc<Config>) -> Arc<Registry> {
    let r = Arc::new(Registry::new(dir, config));
    r.rescan();
    r
}

/// A runner with the config's engines and budget.
pub fn runner(config: &Config) -> Runner {
    Runner::new(
        Arc::new(Engines::new(config)),
        Duration::from_millis(config.plugins.step_budget_ms),
    )
}

/// Kills a child process when the test ends, however it ends.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Asks `check` until it answers `Ok`; panics naming `what` and the last `Err` after
/// `within`. A wait for a state, not a timing: `within` only bounds a test that would hang.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = std::time::Instant::now() + within;
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        match check().await {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{what}: not seen within {} s; last: {last}",
        within.as_secs()
    );
}

/// The child's stdout, line by line. The pipe is drained to the end even when nobody reads
/// the lines any more, so the child never blocks on a full pipe.
pub fn stdout_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    lines
}

/// The next line holding `needle`; panics after `within`.
pub fn line_with(
    lines: &std::sync::mpsc::Receiver<String>,
    needle: &str,
    within: Duration,
) -> String {
    let deadline = std::time::Instant::now() + within;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    panic!("no line with {needle:?} within {} s", within.as_secs());
}
