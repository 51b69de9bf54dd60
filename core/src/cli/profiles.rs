//! `efi-poller profiles check|test`: device profiles (the `profiles` plugin's TOML files)
//! checked or run on a recording, before they go into the profiles directory.

use super::poll::PROFILES_PLUGIN;
use crate::config::Config;
use crate::host::replay::RecordedDevice;
use crate::host::Host;
use clap::Subcommand;
use efi_plugin_api::testing::Recording;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// `efi-poller profiles ...`
#[derive(Subcommand, Debug)]
pub enum ProfilesCommand {
    /// Check profile files: the TOML, every field, transform, regex, XPath, CSS selector and
    /// OID. Exit code 0 when all are good, 2 when any is refused (with its line).
    Check {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run a profile on a recording (`efi-poller record <address> --out FILE`, made with any
    /// driver or with `--profile`) and print the record it gives. Requests the recording
    /// holds get their recorded answer; other SNMP and TR-069 reads are answered from every
    /// value the recording holds, as the device would.
    Test {
        /// The profile file.
        file: PathBuf,
        /// The recording.
        #[arg(long, value_name = "RECORDING")]
        replay: PathBuf,
        /// Print the record as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The profiles plugin of this host, or an error saying where it was looked for.
fn profiles_plugin(host: &Host) -> anyhow::Result<Arc<crate::loader::LoadedPlugin>> {
    host.registry
        .get(PROFILES_PLUGIN)
        .filter(|p| p.driver().is_some())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the {PROFILES_PLUGIN} plugin is not installed in {} (libprofiles.so)",
                host.config.plugins.resolved_dir().display()
            )
        })
}

/// Runs the subcommand.
pub async fn run(config: Config, cmd: ProfilesCommand) -> anyhow::Result<ExitCode> {
    let host = tokio::task::spawn_blocking(move || Host::new(config)).await?;
    let plugin = profiles_plugin(&host)?;
    match cmd {
        ProfilesCommand::Check { files } => {
            let mut refused = 0;
            for file in files {
                let text = match std::fs::read_to_string(&file) {
                    Ok(t) => t,
                    Err(e) => {
                        println!("{}: {e}", file.display());
                        refused += 1;
                        continue;
                    }
                };
                let path = file.to_string_lossy();
                match host.runner.check_file(&plugin, &path, &text).await {
                    Ok(summary) => println!("{}: ok: {summary}", file.display()),
                    Err(crate::host::runner::RunError::Plugin { error, .. }) => {
                        // The refusal already names the file and line.
                        println!("{}", error.message);
                        refused += 1;
                    }
                    Err(e) => anyhow::bail!("{e}"),
                }
            }
            Ok(if refused == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        ProfilesCommand::Test { file, replay, json } => {
            let recording = Recording::load(&replay).map_err(|e| anyhow::anyhow!(e))?;
            let mut target = recording.target.clone();
            let file = std::path::absolute(&file).unwrap_or(file);
            target
                .params
                .insert("profile".into(), file.to_string_lossy().into_owned());
            let device = RecordedDevice::new(&recording);
            match host
                .runner
                .collect_replayed(&plugin, &target, &device)
                .await
            {
                Ok(record) => {
                    if json {
                        println!("{}", serde_json::to_string_pretty(&record)?);
                    } else {
                        print!("{}", super::poll::describe(&record));
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {}: {e}", file.display());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
