//! `efi-poller record <ip> --out FILE`: polls one device and writes every request its driver
//! made with the answer it got, for the SDK's `Recording::replay` (a vendor's conformance
//! fixture, or a bug report from the field).

use crate::config::Config;
use clap::Args;
use efi_plugin_api::testing::Recording;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `record`.
#[derive(Args, Debug)]
pub struct RecordArgs {
    #[command(flatten)]
    pub device: super::poll::DeviceArgs,
    /// Where to write the recording (JSON). It holds what the device answered (serial,
    /// IMEI, IMSI...), never the credentials the host added.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs the subcommand. A poll that fails is recorded too (its answers explain the
/// failure), and the exit code says it failed.
pub async fn run(config: Config, args: RecordArgs) -> anyhow::Result<ExitCode> {
    let host = args.device.host(config).await?;
    let target = args.device.target();
    let (plugin, _) = match crate::poller::choose_driver(&host, &target, args.device.driver()).await
    {
        Ok(chosen) => chosen,
        Err(e) => {
            eprintln!("error: {}: {e}", args.device.address);
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut exchanges = Vec::new();
    let outcome = host
        .runner
        .collect_recording(&plugin, &target, Some(&mut exchanges))
        .await;
    let recording = Recording {
        target: target.clone(),
        exchanges,
    };
    std::fs::write(&args.out, recording.to_json() + "\n")
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", args.out.display()))?;
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for ex in &recording.exchanges {
        *kinds.entry(ex.request.kind()).or_default() += 1;
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!(
        "recorded {} exchanges ({}) of {} with driver {} into {}",
        recording.exchanges.len(),
        kinds.join(", "),
        args.device.address,
        plugin.name(),
        args.out.display()
    );
    match outcome {
        Ok(record) => {
            print!("{}", super::poll::describe(&record));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!(
                "error: {}: the poll failed (recorded all the same): {e}",
                args.device.address
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
