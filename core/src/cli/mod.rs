//! The `efi-poller` command line.

mod check;
mod plan;
mod plugins;
mod poll;
mod profiles;
mod record;
mod run;
mod service;
mod sonar_poller;
mod sweep;
mod table;

use crate::config::Config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// IPAM arbiter and device information poller for Sonar, for private LTE networks.
#[derive(Parser, Debug)]
#[command(name = "efi-poller", version = crate::version::long(), propagate_version = true)]
pub struct Cli {
    /// Configuration file. Default: $EFI_POLLER_CONFIG, then /etc/efi-poller/config.toml
    /// when it exists, else built-in defaults.
    #[arg(long, short, global = true, env = "EFI_POLLER_CONFIG")]
    pub config: Option<PathBuf>,

    /// More log lines on stderr: -v info, -vv debug, -vvv trace. Commands you run by hand
    /// log warnings and errors only; `run` and `sonar-poller` log at `[log] level`.
    /// RUST_LOG overrides both.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Poll one device and print its record.
    Poll(poll::PollArgs),
    /// Poll one device and write every request its driver made, with the answers, to a
    /// file the SDK's replay helper runs a driver on (conformance fixtures, bug reports).
    Record(record::RecordArgs),
    /// Sweep many devices once (SNMP GET and walks, optionally ping) with a progress bar and
    /// a summary.
    Sweep(sweep::SweepArgs),
    /// Show what the IPAM arbiter would change in the sink (Sonar) now; writes nothing.
    Plan(plan::PlanArgs),
    /// Run the IPAM arbiter: keep the sink in step with the sources until stopped.
    Run(run::RunArgs),
    /// Be Sonar's poller: fetch the monitoring work, ping and poll the hosts, post the
    /// results (the `[sonar_poller]` section; `run` does this too when it is enabled).
    SonarPoller(sonar_poller::SonarPollerArgs),
    /// Inspect plugins.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
    /// Device profiles: check a file, or run one on a recording.
    #[command(subcommand)]
    Profiles(profiles::ProfilesCommand),
    /// Check a configuration file: every problem, with file, line and key.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Install efi-poller as a system service (systemd).
    #[command(subcommand)]
    Service(service::ServiceCommand),
    /// Print the shell completions for bash, zsh, fish, elvish or powershell (the package
    /// installs bash's, zsh's and fish's).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), as `man 1 efi-poller` shows it.
    Manual,
}

/// `efi-poller config ...`
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Check the configuration as `run` would before starting, without starting
    /// anything: the file, every plugin's settings (parsed by the plugin), the credential
    /// sets and secret files named, the log filter. Exit codes: 0 it can run; 2 problems,
    /// each with its line and key path; 3 valid, but `run` would not start with it.
    Check {
        /// The file (default: the global --config resolution).
        file: Option<PathBuf>,
    },
}

const SYSTEM_CONFIG: &str = "/etc/efi-poller/config.toml";

/// Loads the configuration the way every subcommand does.
pub fn load_config(explicit: Option<&PathBuf>) -> Result<(Config, Option<PathBuf>), String> {
    match config_path(explicit) {
        Some(p) => Config::load(&p)
            .map(|c| (c, Some(p)))
            .map_err(|e| e.to_string()),
        None => Ok((Config::default(), None)),
    }
}

/// The configuration file meant: `explicit`, else the system file if it exists. A file this
/// user may not even look at is still the one meant: loading it says so, rather than
/// silently running on the built-in defaults.
fn config_path(explicit: Option<&PathBuf>) -> Option<PathBuf> {
    explicit.cloned().or_else(|| {
        let p = PathBuf::from(SYSTEM_CONFIG);
        (!matches!(p.try_exists(), Ok(false))).then_some(p)
    })
}

/// The log filter of this invocation: the service logs at `[log] level`; a command run by
/// hand at warnings only, so its output is what it prints; each -v one level more.
fn log_level(cli: &Cli, config: &Config) -> String {
    let service = matches!(cli.command, Command::Run(_) | Command::SonarPoller(_));
    match (cli.verbose, service) {
        (0, true) => config.log.level.clone(),
        (0, false) => "warn".into(),
        (1, _) => "info".into(),
        (2, _) => "debug".into(),
        _ => "trace".into(),
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "efi-poller", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::Manual => {
            let command = <Cli as clap::CommandFactory>::command();
            return match clap_mangen::Man::new(command).render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
    }
    if let Command::Config(ConfigCommand::Check { file }) = &cli.command {
        return check::run(file.as_ref().or(cli.config.as_ref()));
    }
    if let Command::Service(cmd) = cli.command {
        return match service::run(cmd) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let (config, config_file) = match load_config(cli.config.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    crate::logging::init(&config.log, &log_level(&cli, &config));
    // A sweep is one task of futures plus the SNMP receive task: on one thread they wake each
    // other without crossing threads (measured: less CPU, the same wall time). Every other
    // command runs plugins and servers side by side and gets the multi-threaded runtime.
    // Before the runtime makes its threads: arenas made before the cap would stay.
    crate::memory::cap_arenas();
    let mut builder = match cli.command {
        Command::Sweep(_) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Poll(args) => poll::run(config, args).await,
            Command::Record(args) => record::run(config, args).await,
            Command::Plan(args) => plan::run(config, args).await,
            Command::Run(args) => run::run(config, args, config_file).await,
            Command::Plugins(cmd) => plugins::run(config, cmd).await,
            Command::Profiles(cmd) => profiles::run(config, cmd).await,
            Command::SonarPoller(args) => sonar_poller::run(config, args).await,
            Command::Sweep(args) => sweep::run(config, args).await,
            Command::Config(_)
            | Command::Service(_)
            | Command::Completions { .. }
            | Command::Manual => unreachable!("handled above"),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
