//! Planning 100,000 sessions against 100,000 existing assignments (goal: < 0.2 s; the tool we
//! replace compares every session with every assignment). Mostly kept, some moved, some new,
//! some detached: the shape of a busy cycle.

use criterion::{criterion_group, criterion_main, Criterion};
use efi_core::arbiter::planner::{plan, Rules};
use efi_core::config::ArbiterConfig;
use efi_plugin_api::sink::{Account, Assignment, InventoryItem, SinkSnapshot};
use efi_plugin_api::source::Session;
use efi_plugin_api::Identity;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

const N: u32 = 100_000;

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + n))
}

fn imei(n: u32) -> String {
    format!("35{n:013}")
}

fn world() -> (Vec<Session>, SinkSnapshot) {
    let accounts: Vec<Account> = (0..N / 10)
        .map(|a| Account {
            id: format!("{a}"),
            name: format!("Customer {a}"),
            address_ids: vec![format!("addr-{a}")],
            archived: false,
        })
        .collect();
    let items: Vec<InventoryItem> = (0..N)
        .map(|n| InventoryItem {
            id: format!("item-{n}"),
            model: Some("RidgeWave 6900".into()),
            fields: BTreeMap::from([
                ("imei".to_owned(), imei(n)),
                ("imsi".to_owned(), format!("00101{n:010}")),
            ]),
            address_id: Some(format!("addr-{}", n / 10)),
        })
        .collect();
    let assignments: Vec<Assignment> = (0..N)
        .map(|n| Assignment {
            id: format!("a-{n}"),
            ip: ip(n),
            soft: true,
            holder_kind: "InventoryItem".into(),
            holder_id: format!("item-{n}"),
            item_id: Some(format!("item-{n}")),
        })
        .collect();
    // 94 % unchanged, 2 % moved to another address, 2 % new CPEs, 2 % detached.
    let sessions: Vec<Session> = (0..N + N / 50)
        .filter(|n| n % 50 != 7)
        .map(|n| Session {
            identity: Identity {
                imei: Some(imei(n)),
                imsi: Some(format!("00101{n:010}")),
                ..Identity::default()
            },
            ip: Some(if n % 50 == 3 { ip(N + n) } else { ip(n) }),
            subscriber_name: Some(format!("Customer {}", n / 10)),
            connected: true,
            ..Session::default()
        })
        .collect();
    (
        sessions,
        SinkSnapshot {
            assignments,
            items,
            accounts,
        },
    )
}

fn bench(c: &mut Criterion) {
    let (sessions, snapshot) = world();
    let config = ArbiterConfig {
        managed_subnets: vec!["10.0.0.0/8".into()],
        max_delete_share: 1.0,
        ..ArbiterConfig::default()
    };
    let managed = vec![efi_core::config::parse_subnet("10.0.0.0/8").unwrap()];
    let rules = Rules {
        managed: &managed,
        config: &config,
        complete: true,
        plan_id: "bench".into(),
    };
    let p = plan(&sessions, &snapshot, &rules);
    println!(
        "plan of {} sessions against {} assignments: {} changes ({:?})",
        sessions.len(),
        snapshot.assignments.len(),
        p.changes.changes.len(),
        p.stats
    );
    let mut group = c.benchmark_group("planner");
    group.sample_size(10);
    group.bench_function("100k_sessions_100k_assignments", |b| {
        b.iter(|| black_box(plan(&sessions, &snapshot, &rules)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
