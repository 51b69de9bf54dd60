//! `efi-poller sonar-poller`: Sonar's poller role on its own (no arbiter, no plugins).

use crate::config::Config;
use crate::sonar_poller::delivery::PostOutcome;
use crate::sonar_poller::{summary, SonarPoller};
use clap::Args;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `sonar-poller`.
#[derive(Args, Debug)]
pub struct SonarPollerArgs {
    /// Run this many cycles back to back, then stop (default: one cycle every
    /// `sonar_poller.interval_secs` until SIGTERM or Ctrl-C). Exits 1 when results were
    /// left undelivered.
    #[arg(long)]
    pub cycles: Option<u64>,
}

/// Runs the role. `[sonar_poller]` needs `url` and an API key; `enabled` is implied.
pub async fn run(config: Config, args: SonarPollerArgs) -> anyhow::Result<ExitCode> {
    let token = match config.server.api_token() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("efi-poller: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let poller = match SonarPoller::new(&config) {
        Ok(p) => Arc::new(p),
        Err(e) => {
            eprintln!("efi-poller: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let _server = match config.server.listen {
        Some(addr) => {
            let app = crate::server::sonar_poller_router(poller.status(), token);
            let guard = Arc::new(crate::auth_guard::AuthGuard::default());
            let app = crate::auth_guard::layer(app, guard);
            let listener =
                crate::server::Listener::start_with(app, addr, config.server.tls.as_ref()).await?;
            println!(
                "listening on {}://{} (/metrics, /api/v1/sonar-poller)",
                if config.server.tls.is_some() {
                    "https"
                } else {
                    "http"
                },
                listener.addr()
            );
            Some(listener)
        }
        None => None,
    };
    let Some(cycles) = args.cycles else {
        poller.run(crate::service::shutdown_signal()).await;
        println!("stopping");
        return Ok(ExitCode::SUCCESS);
    };
    let mut delivered = true;
    for n in 1..=cycles {
        match poller.cycle().await {
            Ok(r) => {
                delivered = matches!(r.post, Some(PostOutcome::Delivered(_)));
                println!("sonar poller cycle {n}: {}", summary(&r));
                for p in &r.problems {
                    println!("  skipped {p}");
                }
            }
            Err(e) => {
                delivered = false;
                println!("sonar poller cycle {n}: failed: {e}");
            }
        }
    }
    Ok(if delivered && poller.pending_hosts() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
