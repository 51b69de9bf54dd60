//! `efi-poller run`: the service (see [`crate::service`]).

use crate::config::Config;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Stop after this many arbiter cycles (default: until SIGTERM or Ctrl-C).
    #[arg(long)]
    pub cycles: Option<u64>,
}

/// `efi-poller run`: keeps Sonar in step with the EPC and polls every device until stopped;
/// SIGHUP reloads `file`.
pub async fn run(config: Config, args: RunArgs, file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    crate::service::run(config, args.cycles, file).await?;
    Ok(ExitCode::SUCCESS)
}
