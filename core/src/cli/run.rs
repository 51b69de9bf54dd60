//! `efi-poller run`: the service (see [`crate::service`]).

use crate::arbiter::ArbiterError;
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

/// The exit code of a configuration that cannot run (sysexits' EX_CONFIG): the packaged
/// unit does not restart on it (`RestartPreventExitStatus=78`), so an unconfigured service
/// says why once instead of every five seconds.
pub const EXIT_NOT_CONFIGURED: u8 = 78;

/// `efi-poller run`: keeps Sonar in step with the EPC and polls every device until stopped;
/// SIGHUP reloads `file`.
pub async fn run(config: Config, args: RunArgs, file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let shown = file
        .as_ref()
        .map_or("the built-in defaults".to_owned(), |f| {
            f.display().to_string()
        });
    match crate::service::run(config, args.cycles, file).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if matches!(e.downcast_ref(), Some(ArbiterError::Config(_))) => {
            eprintln!(
                "error: efi-poller is not configured to run with {shown}: {e}\n\
                 Say which EPC to read ([[sources]]), where Sonar is ([sink]) and which subnets' \
                 soft assignments it owns ([arbiter] managed_subnets); check the file with \
                 `efi-poller config check`, then start it again (systemctl restart efi-poller)."
            );
            Ok(ExitCode::from(EXIT_NOT_CONFIGURED))
        }
        Err(e) if e.downcast_ref::<crate::preflight::Refused>().is_some() => {
            eprintln!(
                "error: efi-poller cannot start with {shown}:\n{e}\n\
                 Fix these (`efi-poller config check` shows the same list), then start it again \
                 (systemctl restart efi-poller)."
            );
            Ok(ExitCode::from(EXIT_NOT_CONFIGURED))
        }
        Err(e) => Err(e),
    }
}
