//! `efi-poller plugins list|check`.

use super::table;
use crate::config::Config;
use crate::loader::{check_file, Registry};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// `efi-poller plugins ...`
#[derive(Subcommand, Debug)]
pub enum PluginsCommand {
    /// List the plugins of a directory: name, kind, version, API version, models, file, status.
    List {
        /// Directory (default: `plugins.dir` from the config, else the binary's directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Load one plugin file and report whether this host accepts it (exit code 0) or why
    /// not (exit code 1).
    Check {
        /// The `.so` file.
        file: PathBuf,
    },
}

/// Runs the subcommand.
pub async fn run(config: Config, cmd: PluginsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginsCommand::List { dir, json } => {
            let dir = dir.unwrap_or_else(|| config.plugins.resolved_dir());
            if !dir.is_dir() {
                anyhow::bail!("{} is not a directory", dir.display());
            }
            let registry = Registry::new(dir, Arc::new(config));
            registry.rescan();
            let listing = registry.listing();
            if json {
                println!("{}", serde_json::to_string_pretty(&listing)?);
            } else if listing.is_empty() {
                println!("no plugin files (*.so) in {}", registry.dir().display());
            } else {
                let rows: Vec<Vec<String>> = listing
                    .iter()
                    .map(|l| {
                        vec![
                            if l.name.is_empty() {
                                "-".into()
                            } else {
                                l.name.clone()
                            },
                            l.kinds
                                .iter()
                                .map(|k| k.to_string())
                                .collect::<Vec<_>>()
                                .join(","),
                            if l.version.is_empty() {
                                "-".into()
                            } else {
                                l.version.clone()
                            },
                            l.api_version.clone(),
                            if l.models.is_empty() {
                                "-".into()
                            } else {
                                l.models.join("; ")
                            },
                            l.file.display().to_string(),
                            l.status.clone(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table::render(
                        &["NAME", "KIND", "VERSION", "API", "MODELS", "FILE", "STATUS"],
                        &rows
                    )
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PluginsCommand::Check { file } => {
            let file2 = file.clone();
            let result = tokio::task::spawn_blocking(move || check_file(&file2, &config)).await?;
            match result {
                Ok(info) => {
                    let kinds: Vec<String> = info.kinds.iter().map(|k| k.to_string()).collect();
                    println!(
                        "ok: {} {} ({}) built against efi-plugin-api {}, host speaks {}{}",
                        info.name,
                        info.version,
                        kinds.join(", "),
                        info.api_version,
                        efi_plugin_api::API_VERSION,
                        if info.models.is_empty() {
                            String::new()
                        } else {
                            format!("; models: {}", info.models.join("; "))
                        }
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(reason) => {
                    eprintln!("rejected: {reason}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
