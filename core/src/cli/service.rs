//! `efi-poller service install`: installs efi-poller as a systemd service for a from-source
//! install, the way the Debian package does (its unit, its system user and group, who may
//! read the configuration), so it starts at boot and restarts on failure.

use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The unit the Debian package ships (`packaging/debian/efi-poller.service`).
const UNIT: &str = include_str!("../../../packaging/debian/efi-poller.service");

/// Its `ExecStart`, with the package's paths.
const PACKAGED_EXEC_START: &str =
    "ExecStart=/usr/bin/efi-poller --config /etc/efi-poller/config.toml run";

/// The system user and group (`packaging/sysusers.d/efi-poller.conf`).
const SYSUSERS: &str = include_str!("../../../packaging/sysusers.d/efi-poller.conf");

/// `efi-poller service ...`
#[derive(Subcommand, Debug)]
pub enum ServiceCommand {
    /// Install the systemd unit and the service's system user, and let that user's group
    /// read the configuration (then: systemctl daemon-reload && systemctl enable --now
    /// efi-poller). The Debian package does all of this itself.
    Install(InstallArgs),
}

/// Arguments of `service install`.
#[derive(Args, Debug)]
pub struct InstallArgs {
    /// Where units live.
    #[arg(long, default_value = "/etc/systemd/system")]
    pub unit_dir: PathBuf,
    /// Where sysusers.d(5) files live (the service's system user and group).
    #[arg(long, default_value = "/etc/sysusers.d")]
    pub sysusers_dir: PathBuf,
    /// The configuration file the service runs with.
    #[arg(long, default_value = "/etc/efi-poller/config.toml")]
    pub config: PathBuf,
    /// The binary the service runs (default: this one).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Print the unit instead of writing anything.
    #[arg(long)]
    pub dry_run: bool,
}

/// The unit for a binary and a configuration file.
pub fn render_unit(binary: &Path, config: &Path) -> String {
    UNIT.replace(
        PACKAGED_EXEC_START,
        &format!(
            "ExecStart={} --config {} run",
            binary.display(),
            config.display()
        ),
    )
}

/// Runs the subcommand.
pub fn run(cmd: ServiceCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ServiceCommand::Install(args) => install(args),
    }
}

fn install(args: InstallArgs) -> anyhow::Result<ExitCode> {
    let binary = match args.binary {
        Some(b) => b,
        None => std::env::current_exe()?,
    };
    let binary = binary.canonicalize().unwrap_or(binary);
    let unit = render_unit(&binary, &args.config);
    if args.dry_run {
        print!("{unit}");
        return Ok(ExitCode::SUCCESS);
    }
    let path = args.unit_dir.join("efi-poller.service");
    write(&path, &unit)?;
    let sysusers = args.sysusers_dir.join("efi-poller.conf");
    write(&sysusers, SYSUSERS)?;
    // The user and group now, not at the next boot; then the group may read the
    // configuration directory and file (and the secrets the operator puts there).
    let created = Command::new("systemd-sysusers").arg(&sysusers).status();
    match created {
        Ok(s) if s.success() => {
            let dir = args.config.parent().unwrap_or(Path::new("/etc/efi-poller"));
            share_with_the_group(dir, "0750")?;
            if args.config.exists() {
                share_with_the_group(&args.config, "0640")?;
            } else {
                eprintln!(
                    "warning: {} does not exist yet; the service will not start until it does (copy config.toml from the repository and edit it)",
                    args.config.display()
                );
            }
        }
        _ => eprintln!(
            "warning: systemd-sysusers {} did not create the efi-poller user; create it (useradd --system --user-group --home-dir /var/lib/efi-poller --shell /usr/sbin/nologin efi-poller), then: chgrp efi-poller {dir} {config} && chmod 0750 {dir} && chmod 0640 {config}",
            sysusers.display(),
            dir = args.config.parent().unwrap_or(Path::new("/etc/efi-poller")).display(),
            config = args.config.display()
        ),
    }
    println!(
        "next: efi-poller config check {} && systemctl daemon-reload && systemctl enable --now efi-poller",
        args.config.display()
    );
    println!("logs: journalctl -u efi-poller -f");
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// `chgrp efi-poller PATH && chmod MODE PATH`, creating a missing directory first.
fn share_with_the_group(path: &Path, mode: &str) -> anyhow::Result<()> {
    if mode == "0750" {
        std::fs::create_dir_all(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    for (tool, arg) in [("chgrp", "efi-poller"), ("chmod", mode)] {
        let ok = Command::new(tool)
            .arg(arg)
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        anyhow::ensure!(ok, "{tool} {arg} {} failed", path.display());
    }
    println!("{}: root, group efi-poller, mode {mode}", path.display());
    Ok(())
}
