//! Durable webhook events per second in the push journal (goal ≥ 10,000/s), on the store's
//! SQLite file and, when it answers, on PostgreSQL (`EFI_BENCH_POSTGRES`, default the local
//! server's `test` database; a scratch schema dropped afterwards): concurrent webhooks are
//! group-committed, one transaction per batch. Sequential appends (one commit each) are
//! printed beside it for comparison. Figures are printed, never asserted.

use efi_core::arbiter::outbox::{EventLog, EventRow};
use efi_core::config::{Secret, StoreConfig};
use efi_core::store::Store;
use std::sync::Arc;
use std::time::Instant;

const BODY: &[u8] = b"imsi=001010000000001&event_type=pdp_context_activated&event_time=2024-07-22+10%3A22%3A26.123456&add_text=%7B%22ip%22%3A%2210.45.0.10%22%2C%22apn%22%3A%22internet%22%7D";

fn row(n: i64) -> EventRow {
    EventRow {
        source: "raemis".into(),
        received_us: n,
        body: BODY.to_vec(),
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let sqlite = StoreConfig {
            url: Secret::new(dir.path().join("state.db").display().to_string()),
            ..StoreConfig::default()
        };
        measure("sqlite", &sqlite).await;
        let url = std::env::var("EFI_BENCH_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let schema = format!("efi_bench_{}", std::process::id());
        let postgres = StoreConfig {
            url: Secret::new(url.clone()),
            schema: schema.clone(),
            ..StoreConfig::default()
        };
        if Store::open(&postgres).await.is_ok() {
            measure("postgres", &postgres).await;
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await
                .unwrap();
        } else {
            println!("event_log/postgres: skipped ({url} does not answer)");
        }
    });
}

async fn measure(kind: &str, config: &StoreConfig) {
    let store = Store::open(config).await.unwrap();
    let log = Arc::new(EventLog::start(&store));
    let sequential = 300;
    let started = Instant::now();
    for n in 0..sequential {
        log.append(row(n)).await.unwrap();
    }
    let seq_rate = sequential as f64 / started.elapsed().as_secs_f64();

    let (tasks, per_task) = (64, 2_000);
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            for n in 0..per_task {
                log.append(row(t * per_task + n)).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let total = (tasks * per_task) as f64;
    let rate = total / started.elapsed().as_secs_f64();
    println!("event_log/{kind}/sequential: {seq_rate:.0} durable events/s (one commit each)");
    println!(
        "event_log/{kind}/64_concurrent_webhooks: {rate:.0} durable events/s ({total} events, group commit; goal >= 10000/s; {:.1}x sequential)",
        rate / seq_rate
    );
}
