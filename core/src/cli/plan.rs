//! `efi-poller plan`: what the IPAM arbiter would change in the sink (Sonar) now, writing
//! nothing.

use crate::config::{Config, Secret, StoreConfig};
use crate::store::Store;
use clap::Args;
use std::process::ExitCode;

/// Arguments of `plan`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `efi-poller plan`: what would change, writing nothing.
pub async fn run(config: Config, args: PlanArgs) -> anyhow::Result<ExitCode> {
    // A dry run records nothing: its outbox is an in-memory database, not the store.
    let scratch = Store::open(&StoreConfig {
        url: Secret::new(":memory:".to_owned()),
        ..StoreConfig::default()
    })
    .await?;
    let arbiter = crate::service::arbiter(config, &scratch).await?;
    let (plan, source_errors) = arbiter.plan().await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"plan": plan, "source_errors": source_errors})
            )?
        );
        return Ok(ExitCode::SUCCESS);
    }
    for s in &plan.sources {
        let error = source_errors.iter().find(|(name, _)| *name == s.source);
        match (error, s.outside_managed) {
            (Some((_, e)), _) => println!("source {}: {e}", s.source),
            (None, 0) => println!("source {}: {} sessions", s.source, s.sessions),
            (None, n) => println!(
                "source {}: {} sessions, {n} of them outside the managed subnets",
                s.source, s.sessions
            ),
        }
    }
    for (source, e) in source_errors
        .iter()
        .filter(|(name, _)| !plan.sources.iter().any(|s| s.source == *name))
    {
        println!("source {source}: {e}");
    }
    println!("{}", plan.summary());
    if let Some(reason) = &plan.held {
        println!("HELD (would not be applied): {reason}");
    }
    for line in &plan.narrative {
        println!("  {line}");
    }
    if !plan.changes.changes.is_empty() {
        println!("changes, in the order they would be applied:");
        for line in plan.describe().lines() {
            println!("  {line}");
        }
    }
    for w in &plan.warnings {
        println!("warning: {w}");
    }
    Ok(ExitCode::SUCCESS)
}
