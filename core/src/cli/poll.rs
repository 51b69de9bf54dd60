//! `efi-poller poll <ip>`: one device, one record.

use crate::config::Config;
use crate::host::Host;
use clap::Args;
use efi_plugin_api::{DeviceRecord, Target};
use std::net::IpAddr;
use std::process::ExitCode;

/// The device `poll` and `record` read.
#[derive(Args, Debug)]
pub struct DeviceArgs {
    /// The device's address (IPv4 or IPv6).
    pub address: IpAddr,
    /// SNMP port.
    #[arg(long, default_value_t = 161)]
    pub port: u16,
    /// Port of the device's web UI (identification reads its title there when SNMP and
    /// TR-069 say nothing; web steps of drivers use it).
    #[arg(long, default_value_t = 80)]
    pub web_port: u16,
    /// Use this driver instead of identifying the device.
    #[arg(long)]
    pub driver: Option<String>,
}

impl DeviceArgs {
    /// The device as a poll target.
    pub fn target(&self) -> Target {
        let mut target = Target::new(self.address);
        target.snmp_port = self.port;
        target.web_port = self.web_port;
        target
    }
}

/// Arguments of `poll`.
#[derive(Args, Debug)]
pub struct PollArgs {
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print the record as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs the subcommand.
pub async fn run(config: Config, args: PollArgs) -> anyhow::Result<ExitCode> {
    let host = tokio::task::spawn_blocking(move || Host::new(config)).await?;
    let device = &args.device;
    match crate::poller::poll(&host, &device.target(), device.driver.as_deref()).await {
        Ok(outcome) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&outcome.record)?);
            } else {
                println!(
                    "{} polled by {} in {} ms",
                    device.address,
                    outcome.driver,
                    outcome.elapsed.as_millis()
                );
                print!("{}", describe(&outcome.record));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {}: {e}", device.address);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Every present field of a record, one per line, absent ones left out.
pub fn describe(record: &DeviceRecord) -> String {
    let value = serde_json::to_value(record).unwrap_or_default();
    let mut out = String::new();
    flatten("", &value, &mut out);
    out
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Null => {}
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        other => out.push_str(&format!("  {prefix:<28} {other}\n")),
    }
}
