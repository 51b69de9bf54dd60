//! The efi-poller process the demo runs: what plugins it finds, `config check` on the
//! generated file, then `run` as a child whose output is shown line by line (prefixed), its
//! readiness awaited on `/healthz`, and its stop by SIGTERM as systemd would.

use anyhow::Context as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// The prefix of every line efi-poller prints.
const PREFIX: &str = "  efi-poller | ";

/// What `efi-poller plugins list` found.
pub struct Installed {
    /// Loaded plugins that offer a driver.
    pub drivers: Vec<String>,
}

/// Lists the plugins of `dir` with `efi-poller plugins list --json` and checks the demo can
/// run with them: the raemis source and sonar sink, and at least one driver.
pub fn installed_plugins(binary: &Path, dir: &Path) -> anyhow::Result<Installed> {
    let out = std::process::Command::new(binary)
        .args(["plugins", "list", "--json", "--dir"])
        .arg(dir)
        .env_remove("EFI_POLLER_CONFIG")
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "`efi-poller plugins list --dir {}` failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let listing: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).context("reading `efi-poller plugins list --json`")?;
    let loaded = |kind: &str| -> Vec<String> {
        listing
            .iter()
            .filter(|p| p["status"] == "ok")
            .filter(|p| {
                p["kinds"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k == kind))
            })
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    };
    let drivers = loaded("driver");
    anyhow::ensure!(
        !drivers.is_empty(),
        "no driver plugins in {}; build them first (`cargo build --release`) or pass --plugins DIR",
        dir.display()
    );
    for (kind, name) in [("source", "raemis"), ("sink", "sonar")] {
        anyhow::ensure!(
            loaded(kind).iter().any(|n| n == name),
            "the demo needs the {name} plugin (its {kind}), and {} has none; build it (`cargo build --release`) or pass --plugins DIR",
            dir.display()
        );
    }
    Ok(Installed { drivers })
}

/// `want` when it can be bound now, else the same address with a port the system picks.
pub fn free_or_any(want: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = match TcpListener::bind(want) {
        Ok(l) => l,
        Err(e) => {
            if want.port() != 0 {
                println!("{want} is taken ({e}); using a free port instead");
            }
            let mut any = want;
            any.set_port(0);
            TcpListener::bind(any)?
        }
    };
    Ok(listener.local_addr()?)
}

/// Runs `efi-poller config check` on the generated file, as an operator would first.
pub fn config_check(binary: &Path, config: &Path) -> anyhow::Result<()> {
    let out = std::process::Command::new(binary)
        .arg("config")
        .arg("check")
        .arg(config)
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(
        out.status.success(),
        "efi-poller refuses the generated configuration:\n{said}"
    );
    println!(
        "$ efi-poller config check {}\n{}",
        config.display(),
        said.trim_end()
    );
    Ok(())
}

/// The running `efi-poller run`.
pub struct Service {
    child: Child,
    config: PathBuf,
}

impl Service {
    /// Starts `efi-poller --config <config> run`; its lines are printed as they come.
    pub async fn start(binary: &Path, config: &Path) -> anyhow::Result<Service> {
        println!("$ efi-poller --config {} run", config.display());
        let mut command = Command::new(binary);
        command
            .arg("--config")
            .arg(config)
            .arg("run")
            // The configuration's [log] level is what the operator chose.
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // SAFETY: prctl(2) is async-signal-safe and touches only the child being started.
        // When the demo dies, however it dies (even SIGKILL), efi-poller gets SIGTERM.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    println!("{PREFIX}{line}");
                }
            });
        }
        Ok(Service {
            child,
            config: config.to_owned(),
        })
    }

    /// Waits until `/healthz` answers at the configured `[server] listen` address, and
    /// returns that address; fails when efi-poller exits first or `within` passes.
    pub async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<SocketAddr> {
        let text = std::fs::read_to_string(&self.config)?;
        let table: toml::Table = text.parse()?;
        let listen: SocketAddr = table["server"]["listen"]
            .as_str()
            .context("the configuration has no [server] listen")?
            .parse()?;
        let client = crate::http_client();
        let url = format!("http://{listen}/healthz");
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "efi-poller exited before it was ready ({status}); its output is above"
                );
            }
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(listen);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "efi-poller did not answer {url} within {} s",
                within.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Resolves when efi-poller exits, with its status.
    pub async fn exited(&mut self) -> String {
        match self.child.wait().await {
            Ok(status) => status.to_string(),
            Err(e) => e.to_string(),
        }
    }

    /// SIGTERM, as systemd stops the service; SIGKILL when it has not exited `within`.
    pub async fn stop(mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a child's pid and a valid signal number has no memory
            // effects in this process.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                println!(
                    "efi-poller did not stop within {} s of SIGTERM; killing it",
                    within.as_secs()
                );
                self.child.kill().await?;
                Ok(self.child.wait().await?)
            }
        }
    }
}
