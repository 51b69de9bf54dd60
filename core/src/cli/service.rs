//! `efi-poller service install`: writes the systemd unit so efi-poller starts at boot and
//! restarts on failure (no tmux, no manual restarts).

use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The unit template shipped in `packaging/efi-poller.service`.
const UNIT_TEMPLATE: &str = include_str!("../../../packaging/efi-poller.service");

/// `efi-poller service ...`
#[derive(Subcommand, Debug)]
pub enum ServiceCommand {
    /// Write the systemd unit (then: systemctl daemon-reload && systemctl enable --now efi-poller).
    Install(InstallArgs),
}

/// Arguments of `service install`.
#[derive(Args, Debug)]
pub struct InstallArgs {
    /// Where units live.
    #[arg(long, default_value = "/etc/systemd/system")]
    pub unit_dir: PathBuf,
    /// The configuration file the service runs with.
    #[arg(long, default_value = "/etc/efi-poller/config.toml")]
    pub config: PathBuf,
    /// The binary the service runs (default: this one).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Print the unit instead of writing it.
    #[arg(long)]
    pub dry_run: bool,
}

/// Renders the unit for a binary and a configuration file.
pub fn render_unit(binary: &std::path::Path, config: &std::path::Path) -> String {
    UNIT_TEMPLATE
        .replace("@BINARY@", &binary.display().to_string())
        .replace("@CONFIG@", &config.display().to_string())
}

/// Runs the subcommand.
pub fn run(cmd: ServiceCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ServiceCommand::Install(args) => {
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
            if !args.config.exists() {
                eprintln!(
                    "warning: {} does not exist yet; the service will not start until it does (see config.toml in the repository)",
                    args.config.display()
                );
            }
            let path = args.unit_dir.join("efi-poller.service");
            std::fs::write(&path, unit).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            println!("wrote {}", path.display());
            println!("next: systemctl daemon-reload && systemctl enable --now efi-poller");
            println!("logs: journalctl -u efi-poller -f");
            Ok(ExitCode::SUCCESS)
        }
    }
}
