//! Durable webhook events per second on SQLite (goal ≥ 10,000/s): concurrent webhooks are
//! group-committed, one fsync per batch. Sequential appends (one fsync each) are printed
//! beside it for comparison. Figures are printed, never asserted.

use efi_core::arbiter::outbox::{EventLog, EventRow};
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
    let log = Arc::new(EventLog::open(&dir.path().join("events.db")).unwrap());

    rt.block_on(async {
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
        println!("event_log/sequential: {seq_rate:.0} durable events/s (one fsync each)");
        println!(
            "event_log/64_concurrent_webhooks: {rate:.0} durable events/s ({total} events, group commit; goal >= 10000/s; {:.1}x sequential)",
            rate / seq_rate
        );
    });
}
