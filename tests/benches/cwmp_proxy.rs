//! What the TR-069 snooping proxy costs a CWMP session: the same sessions (Inform, empty
//! POST, one GetParameterValues of the `WEB_GUI` tree, 204) from 200 CPE addresses, 32 at
//! once, straight to efi-lab's ACS and then through the proxy (which reads every Inform and
//! GetParameterValuesResponse into its cache). Prints sessions per second, latency
//! percentiles, the ratio, and the CPEs cached.
//!
//! `cargo bench -p efi-lab --bench cwmp_proxy` (SESSIONS=4000 by default).

use efi_core::config::Tr069Config;
use efi_core::tr069::proxy::Proxy;
use efi_core::tr069::Tr069Cache;
use efi_lab::cwmp::{Acs, Cpe, DataModel};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 32;
const ADDRESSES: u32 = 200;

async fn run(target: SocketAddr, model: &DataModel, sessions: usize) -> (f64, Vec<Duration>) {
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(sessions);
    let mut next = 0usize;
    let mut in_flight = tokio::task::JoinSet::new();
    while next < sessions || !in_flight.is_empty() {
        while next < sessions && in_flight.len() < CONCURRENCY {
            let n = next as u32 % ADDRESSES;
            let cpe = Cpe::new(
                model.clone(),
                std::net::Ipv4Addr::new(127, 10, 71, 1 + n as u8).into(),
            );
            in_flight.spawn(async move {
                let t = Instant::now();
                cpe.session(target, &["2 PERIODIC"]).await.expect("session");
                t.elapsed()
            });
            next += 1;
        }
        if let Some(done) = in_flight.join_next().await {
            latencies.push(done.expect("task"));
        }
    }
    let rate = sessions as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    (rate, latencies)
}

fn pct(l: &[Duration], p: f64) -> f64 {
    l[((l.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sessions: usize = std::env::var("SESSIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    let model = DataModel::from_genieacs(
        &efi_lab::genieacs::model_fleet(
            ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"],
            "2026-11-26T00:00:00.000Z",
        )[1],
    );
    let acs = Acs::start(
        "127.0.0.1:0".parse().unwrap(),
        vec!["InternetGatewayDevice.WEB_GUI.".into()],
        None,
    )
    .await
    .unwrap();
    let cache = Arc::new(Tr069Cache::new((&Tr069Config::default()).into()));
    let proxy = Proxy::start(
        &Tr069Config {
            listen: Some("127.0.0.1:0".parse().unwrap()),
            acs: Some(acs.addr().to_string()),
            ..Tr069Config::default()
        },
        cache.clone(),
    )
    .await
    .unwrap();
    // Warm both paths (connections, allocator) before measuring.
    run(acs.addr(), &model, 200).await;
    run(proxy.addr(), &model, 200).await;
    let (direct, dl) = run(acs.addr(), &model, sessions).await;
    let (proxied, pl) = run(proxy.addr(), &model, sessions).await;
    println!("{sessions} CWMP sessions, {CONCURRENCY} at once, from {ADDRESSES} CPE addresses");
    println!(
        "  straight to the ACS : {direct:8.0} sessions/s   p50 {:.2} ms  p99 {:.2} ms",
        pct(&dl, 0.5),
        pct(&dl, 0.99)
    );
    println!(
        "  through the proxy   : {proxied:8.0} sessions/s   p50 {:.2} ms  p99 {:.2} ms",
        pct(&pl, 0.5),
        pct(&pl, 0.99)
    );
    println!("  proxy / direct      : {:.2}x the rate", proxied / direct);
    println!(
        "  cached: {} CPEs, {} Informs, {} value sets, {} unreadable",
        cache.len(),
        cache
            .counters
            .informs
            .load(std::sync::atomic::Ordering::Relaxed),
        cache
            .counters
            .value_sets
            .load(std::sync::atomic::Ordering::Relaxed),
        cache
            .counters
            .unreadable
            .load(std::sync::atomic::Ordering::Relaxed),
    );
}
