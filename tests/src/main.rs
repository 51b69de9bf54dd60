//! `efi-lab`: runs the simulators on loopback for manual runs and demos.

use clap::Parser;

/// Simulated outside systems for efi-poller, on loopback addresses only.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// How many MIB-II devices to simulate (at 127.10.0.1, 127.10.0.2, ...).
    #[arg(long, default_value_t = 4)]
    devices: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let agents = efi_lab::fleet::start_mib2_fleet(args.devices).await?;
    for agent in &agents {
        println!("snmp v2c community=public {}", agent.addr());
    }
    println!("efi-lab running; Ctrl-C stops it");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
