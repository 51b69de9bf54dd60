//! `efi-poller poll <ip>`: one device, one record.

use crate::config::{Config, Secret, SnmpLogin, SnmpLoginVersion};
use crate::engines::snmp::SnmpCredentials;
use crate::host::Host;
use clap::Args;
use efi_plugin_api::{DeviceRecord, Target};
use std::net::IpAddr;
use std::process::ExitCode;

/// The plugin that runs device profiles (`plugins/profiles`); `--profile` asks for it by name.
pub const PROFILES_PLUGIN: &str = "profiles";

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
    /// Poll with this device profile file (the `profiles` plugin), instead of identifying
    /// the device: to try a profile on a live unit before putting it in the profiles
    /// directory.
    #[arg(long, value_name = "FILE", conflicts_with = "driver")]
    pub profile: Option<std::path::PathBuf>,
    /// SNMP community to poll with, instead of the configuration's (its group's
    /// identities, else `[snmp] community`). Not `-c`: that is `--config`. The environment
    /// variable keeps it out of the process list.
    #[arg(long, env = "EFI_SNMP_COMMUNITY", hide_env_values = true)]
    pub community: Option<String>,
    /// SNMP version of the identity given here: 1, 2c or 3 (default 2c; 3 with --v3-user).
    #[arg(long, value_parser = ["1", "2c", "3"])]
    pub snmp_version: Option<String>,
    /// SNMPv3 user name.
    #[arg(long)]
    pub v3_user: Option<String>,
    /// SNMPv3 authentication protocol: MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512.
    #[arg(long)]
    pub auth: Option<String>,
    /// SNMPv3 authentication passphrase.
    #[arg(long, env = "EFI_SNMP_AUTH_PASSPHRASE", hide_env_values = true)]
    pub auth_passphrase: Option<String>,
    /// SNMPv3 privacy protocol: DES, AES, AES-192, AES-256.
    #[arg(long = "priv")]
    pub privacy: Option<String>,
    /// SNMPv3 privacy passphrase.
    #[arg(
        long = "priv-passphrase",
        env = "EFI_SNMP_PRIV_PASSPHRASE",
        hide_env_values = true
    )]
    pub privacy_passphrase: Option<String>,
    /// SNMPv3 context name.
    #[arg(long)]
    pub context: Option<String>,
}

impl DeviceArgs {
    /// The device as a poll target.
    pub fn target(&self) -> Target {
        let mut target = Target::new(self.address);
        target.snmp_port = self.port;
        target.web_port = self.web_port;
        if let Some(file) = &self.profile {
            // The profiles plugin reads the file itself (`params.profile`).
            let file = std::path::absolute(file).unwrap_or_else(|_| file.clone());
            target
                .params
                .insert("profile".into(), file.to_string_lossy().into_owned());
        }
        target
    }

    /// The driver asked for: `--driver`, or the profiles plugin for `--profile`.
    pub fn driver(&self) -> Option<&str> {
        match &self.profile {
            Some(_) => Some(PROFILES_PLUGIN),
            None => self.driver.as_deref(),
        }
    }

    /// The SNMP identity given on the command line, if any; the error names the flag.
    pub fn snmp_identity(&self) -> Result<Option<SnmpCredentials>, String> {
        let v3 = self.v3_user.is_some() || self.snmp_version.as_deref() == Some("3");
        if self.community.is_none() && !v3 && self.snmp_version.is_none() {
            return Ok(None);
        }
        let secret = |s: &Option<String>| s.as_deref().map(Secret::new);
        let login = SnmpLogin {
            version: match (self.snmp_version.as_deref(), v3) {
                (Some("1"), _) => SnmpLoginVersion::V1,
                (_, true) => SnmpLoginVersion::V3,
                _ => SnmpLoginVersion::V2c,
            },
            community: secret(&self.community),
            user: self.v3_user.clone(),
            auth_protocol: self.auth.clone(),
            auth_passphrase: secret(&self.auth_passphrase),
            privacy_protocol: self.privacy.clone(),
            privacy_passphrase: secret(&self.privacy_passphrase),
            context: self.context.clone(),
        };
        crate::engines::credentials::snmp_credentials(&login)
            .map(Some)
            .map_err(|e| {
                // The configuration's key names, as flags.
                let flags = [
                    ("privacy_passphrase", "--priv-passphrase"),
                    ("privacy_protocol", "--priv"),
                    ("auth_passphrase", "--auth-passphrase"),
                    ("auth_protocol", "--auth"),
                    ("community", "--community"),
                    ("user", "--v3-user"),
                    ("context", "--context"),
                    ("version \"3\"", "--snmp-version 3"),
                ];
                let mut e = e;
                for (key, flag) in flags {
                    e = e.replace(key, flag);
                }
                e
            })
    }

    /// A host for `config` that polls this device with the identity given here, if any.
    pub async fn host(&self, config: Config) -> anyhow::Result<Host> {
        let identity = self.snmp_identity().map_err(|e| anyhow::anyhow!(e))?;
        let host = tokio::task::spawn_blocking(move || Host::new(config)).await?;
        if let Some(identity) = identity {
            host.runner
                .engines()
                .credentials()
                .pin_snmp(self.address, vec![identity]);
        }
        Ok(host)
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

/// Runs the subcommand. With `--json` it prints one JSON object whatever happens: the
/// record, or `{"address", "error", "stage"}`.
pub async fn run(config: Config, args: PollArgs) -> anyhow::Result<ExitCode> {
    let device = &args.device;
    let failed = |error: String, stage: &str, diagnosis: Option<String>| {
        if args.json {
            let mut out =
                serde_json::json!({"address": device.address, "error": error, "stage": stage});
            if let Some(d) = diagnosis {
                out["diagnosis"] = d.into();
            }
            println!("{out}");
        } else {
            eprintln!("error: {}: {error}", device.address);
            if let Some(d) = diagnosis {
                eprintln!("  why: {d}");
            }
        }
        Ok(ExitCode::FAILURE)
    };
    let host = match device.host(config).await {
        Ok(host) => host,
        Err(e) => return failed(format!("{e:#}"), "setup", None),
    };
    match crate::poller::poll(&host, &device.target(), device.driver()).await {
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
            let diagnosis = match e.snmp_silent() {
                true => Some(
                    crate::poller::diagnose::no_snmp_answer(
                        host.runner.engines(),
                        &device.target(),
                    )
                    .await,
                ),
                false => None,
            };
            failed(e.to_string(), e.stage(), diagnosis)
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
