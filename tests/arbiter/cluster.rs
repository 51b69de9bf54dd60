//! Three `efi-poller run` processes on one PostgreSQL (127.0.0.1:5432, database `test`, a
//! schema of this test's own): the fleet is split among them with each device polled by
//! exactly one, one host is the arbiter; SIGKILL the arbiter and the others take over its
//! devices and its role, and Sonar ends equal to the EPC with no change applied twice.

use efi_lab::fleet::{device_ip, start_mixed_fleet_on_one_port};
use efi_lab::raemis::{RaemisOptions, RaemisSim, Subscriber};
use efi_lab::snmp_agent::SnmpAgent;
use efi_lab::sonar::scenario::Scenario;
use efi_lab::sonar::SonarSim;
use efi_tests::artifacts::artifacts;
use efi_tests::{eventually, PluginDir, Running};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bounds each wait of this test.
const WITHIN: Duration = Duration::from_secs(90);

const DEVICES: u32 = 24;

fn postgres_url() -> String {
    std::env::var("EFI_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn imsi(n: u32) -> String {
    format!("00101000000{n:04}")
}

async fn get(url: &str) -> Result<Value, String> {
    reqwest::get(url)
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

/// The addresses each host polls now (its in-memory devices), by host.
async fn shares(
    hosts: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let mut out = BTreeMap::new();
    for (id, base) in hosts {
        let devices = get(&format!("{base}/api/v1/devices?scope=here")).await?;
        let set = devices
            .as_array()
            .ok_or("not a list")?
            .iter()
            .filter_map(|d| d["address"].as_str().map(str::to_owned))
            .collect();
        out.insert(id.clone(), set);
    }
    Ok(out)
}

/// Ok when each host polls exactly the addresses of `in_use` that rendezvous hashing over
/// the hosts of `shares` gives it: disjoint shares that together cover the fleet.
fn split_exactly(
    shares: &BTreeMap<String, BTreeSet<String>>,
    in_use: &BTreeSet<String>,
) -> Result<(), String> {
    let hosts: Vec<String> = shares.keys().cloned().collect();
    let mut expected: BTreeMap<String, BTreeSet<String>> =
        hosts.iter().map(|h| (h.clone(), BTreeSet::new())).collect();
    for a in in_use {
        let owner = efi_core::cluster::owner(a.parse().unwrap(), &hosts).unwrap();
        expected.get_mut(owner).unwrap().insert(a.clone());
    }
    if shares != &expected {
        return Err(format!("shares {shares:?}, expected {expected:?}"));
    }
    Ok(())
}

/// The hosts that say they are the arbiter.
async fn arbiters(hosts: &BTreeMap<String, String>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (id, base) in hosts {
        let s = get(&format!("{base}/api/v1/status")).await?;
        if s["cluster"]["arbiter"] == true {
            out.push(id.clone());
        }
    }
    Ok(out)
}

/// Sonar's soft assignments in 127.10.0.0/16: IP → how many.
fn soft_assignments(sonar: &SonarSim) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for a in sonar.entities("IpAssignment") {
        if a["soft"] == true {
            if let Some(ip) = a["subnet"].as_str() {
                let ip = ip.split('/').next().unwrap_or(ip).to_owned();
                if ip.starts_with("127.10.") {
                    *out.entry(ip).or_insert(0) += 1;
                }
            }
        }
    }
    out
}

/// The lab (the mixed fleet, Sonar, Raemis with the fleet's UEs attached) and three hosts
/// on one PostgreSQL schema. Fields drop in this order: the hosts are killed first.
struct Cluster {
    processes: BTreeMap<String, Running>,
    /// Each live host's base URL, by host ID.
    hosts: BTreeMap<String, String>,
    schema: String,
    _dir: PluginDir,
    raemis: RaemisSim,
    sonar: SonarSim,
    _fleet: Vec<SnmpAgent>,
}

impl Cluster {
    /// Starts the lab, attaches a UE per device (one more subscriber left detached) and
    /// starts hosts h1, h2 and h3.
    async fn start() -> Cluster {
        let fleet = start_mixed_fleet_on_one_port(DEVICES).await.unwrap();
        let snmp_port = fleet[0].addr().port();
        let scenario = Scenario::lab_on_loopback();
        let sonar = SonarSim::start("127.0.0.1:0".parse().unwrap(), scenario)
            .await
            .unwrap();
        let raemis = RaemisSim::start("127.0.0.1:0".parse().unwrap(), RaemisOptions::default())
            .await
            .unwrap();
        for n in 1..=DEVICES + 1 {
            raemis.add_subscriber(Subscriber::new(
                &imsi(n),
                &format!("3500000000{n:05}"),
                "",
                "",
            ));
        }
        for n in 1..=DEVICES {
            raemis
                .attach(&imsi(n), device_ip(n).into(), "internet")
                .await
                .unwrap();
        }
        let schema = format!("efi_cluster_{}", std::process::id());
        let dir = PluginDir::new();
        for p in [
            "raemis",
            "sonar",
            "hello-driver",
            "bec-ridgewave",
            "baicells-atom",
            "telrad-cpe",
        ] {
            dir.install(p);
        }
        let lab =
            efi_lab::lab_source_and_sink(&raemis.base_url(), &sonar.base_url(), "raemis", "", "");
        let mut processes = BTreeMap::new();
        let mut hosts = BTreeMap::new();
        for id in ["h1", "h2", "h3"] {
            let (process, base) = start_host(id, &dir, snmp_port, &schema, &lab);
            processes.insert(id.to_owned(), process);
            hosts.insert(id.to_owned(), base);
        }
        Cluster {
            processes,
            hosts,
            schema,
            _dir: dir,
            raemis,
            sonar,
            _fleet: fleet,
        }
    }
}

/// Writes host `id`'s config and starts it; returns it with its base URL.
fn start_host(
    id: &str,
    dir: &PluginDir,
    snmp_port: u16,
    schema: &str,
    lab: &str,
) -> (Running, String) {
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = dir.path().join(format!("{id}.toml"));
    std::fs::write(
        &config,
        format!(
            r#"[log]
level = "warn"
[plugins]
dir = {plugins:?}
rescan_secs = 0
[snmp]
timeout_ms = 300
retries = 0
[server]
listen = "{listen}"
[poller]
interval_secs = 1
snmp_port = {snmp_port}
[arbiter]
managed_subnets = ["127.10.0.0/16"]
interval_secs = 1
[store]
url = "{url}"
schema = "{schema}"
flush_interval_ms = 100
[cluster]
enabled = true
host_id = "{id}"
heartbeat_ms = 200
lease_ms = 1000
{lab}"#,
            plugins = dir.path(),
            url = postgres_url(),
        ),
    )
    .unwrap();
    let child = Command::new(artifacts().host_binary())
        .args(["--config", config.to_str().unwrap(), "run"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    (Running(child), format!("http://{listen}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_split_the_fleet_and_survive_the_arbiter_being_killed() {
    efi_lab::init_tls();
    let mut cluster = Cluster::start().await;

    let arbiter = one_arbiter_among_three_live_hosts(&cluster.hosts).await;
    let in_use: BTreeSet<String> = (1..=DEVICES).map(|n| device_ip(n).to_string()).collect();
    sonar_holds_exactly(&cluster.sonar, &in_use, "every UE assigned in Sonar").await;
    let split = the_fleet_split_among_the_three(&cluster.hosts, &in_use).await;
    let client = connect_to_the_store(&cluster.schema).await;
    check_each_device_has_one_poller(&client, &in_use, &split).await;

    // SIGKILL the arbiter: no goodbye, its lease runs out and PostgreSQL drops its lock.
    let killed_at = Instant::now();
    drop(cluster.processes.remove(&arbiter));
    cluster.hosts.remove(&arbiter);
    let next = a_new_arbiter_among_the_survivors(&cluster.hosts).await;
    println!(
        "{next} took over the arbiter role {} ms after {arbiter} was killed",
        killed_at.elapsed().as_millis()
    );

    let truth = the_epc_changes_after_the_kill(&cluster.raemis, &in_use).await;
    sonar_holds_exactly(
        &cluster.sonar,
        &truth,
        "Sonar equal to the EPC after the kill",
    )
    .await;
    let soft = soft_assignments(&cluster.sonar);
    assert!(
        soft.values().all(|n| *n == 1),
        "an assignment made twice: {soft:?}"
    );
    check_the_shared_outbox(&client, &cluster.schema, &arbiter, &next).await;
    the_survivors_take_over_the_dead_hosts_devices(&cluster.hosts, &split, &truth, killed_at).await;

    cluster.processes.clear();
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", cluster.schema))
        .await
        .unwrap();
}

/// Exactly one arbiter among three hosts that each see three live hosts; returns its ID.
async fn one_arbiter_among_three_live_hosts(hosts: &BTreeMap<String, String>) -> String {
    eventually("one arbiter among three live hosts", WITHIN, || async {
        let a = arbiters(hosts).await?;
        for base in hosts.values() {
            let s = get(&format!("{base}/api/v1/status")).await?;
            let live = s["cluster"]["live_hosts"].as_array().map_or(0, Vec::len);
            if live != 3 {
                return Err(format!("{base} sees {live} live hosts"));
            }
        }
        match a.as_slice() {
            [one] => Ok(one.clone()),
            more => Err(format!("arbiters: {more:?}")),
        }
    })
    .await
}

/// Waits (as `what`) until Sonar's soft assignments are for exactly the addresses of `ips`.
async fn sonar_holds_exactly(sonar: &SonarSim, ips: &BTreeSet<String>, what: &str) {
    eventually(what, WITHIN, || async {
        let soft = soft_assignments(sonar);
        if soft.keys().cloned().collect::<BTreeSet<_>>() == *ips {
            Ok(())
        } else {
            Err(format!("{soft:?}"))
        }
    })
    .await;
}

/// The fleet is split: every device polled by exactly one host, and by more than one host
/// in all; any host answers for the whole fleet. Returns the shares.
async fn the_fleet_split_among_the_three(
    hosts: &BTreeMap<String, String>,
    in_use: &BTreeSet<String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let split = eventually("the fleet split among the three", WITHIN, || async {
        let s = shares(hosts).await?;
        split_exactly(&s, in_use)?;
        Ok(s)
    })
    .await;
    // Any host answers for the whole fleet, from the store (written within a flush).
    let first = hosts.values().next().unwrap().clone();
    eventually("the whole fleet from one host", WITHIN, || async {
        let whole = get(&format!("{first}/api/v1/devices")).await?;
        let n = whole.as_array().map_or(0, Vec::len);
        if n == in_use.len() {
            Ok(())
        } else {
            Err(format!("{n} devices"))
        }
    })
    .await;
    let polling_hosts = split.values().filter(|s| !s.is_empty()).count();
    assert!(polling_hosts >= 2, "{split:?}");
    println!(
        "shares before the kill: {:?}",
        split.iter().map(|(h, s)| (h, s.len())).collect::<Vec<_>>()
    );
    split
}

/// A PostgreSQL client on the hosts' database, its search path on their schema.
async fn connect_to_the_store(schema: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("SET search_path TO {schema}"))
        .await
        .unwrap();
    client
}

/// The store agrees: from now on, each device's history names one poller, the host whose
/// share it is.
async fn check_each_device_has_one_poller(
    client: &tokio_postgres::Client,
    in_use: &BTreeSet<String>,
    split: &BTreeMap<String, BTreeSet<String>>,
) {
    let t0: i64 = client
        .query_one("SELECT CAST(EXTRACT(EPOCH FROM now()) AS BIGINT) + 1", &[])
        .await
        .unwrap()
        .get(0);
    let pollers = eventually("two polls of every device after t0", WITHIN, || async {
        let rows = client
            .query(
                "SELECT address, polled_by FROM device_history WHERE at_unix_s > $1",
                &[&t0],
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut by: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
        for r in rows {
            let e = by.entry(r.get(0)).or_default();
            e.0 += 1;
            e.1.insert(r.get::<_, Option<String>>(1).unwrap_or_default());
        }
        if by.len() == in_use.len() && by.values().all(|(n, _)| *n >= 2) {
            Ok(by)
        } else {
            Err(format!(
                "{} devices with two points",
                by.values().filter(|(n, _)| *n >= 2).count()
            ))
        }
    })
    .await;
    for (address, (_, who)) in &pollers {
        assert_eq!(who.len(), 1, "{address} was polled by {who:?}");
        assert!(split[who.iter().next().unwrap()].contains(address));
    }
}

/// Exactly one of the survivors becomes the arbiter; returns its ID.
async fn a_new_arbiter_among_the_survivors(hosts: &BTreeMap<String, String>) -> String {
    eventually("a new arbiter among the survivors", WITHIN, || async {
        match arbiters(hosts).await?.as_slice() {
            [one] => Ok(one.clone()),
            more => Err(format!("arbiters: {more:?}")),
        }
    })
    .await
}

/// The EPC changes after the kill: one UE leaves, another attaches. Returns the addresses
/// now in use, which the new arbiter must bring Sonar to, with no assignment made twice.
async fn the_epc_changes_after_the_kill(
    raemis: &RaemisSim,
    in_use: &BTreeSet<String>,
) -> BTreeSet<String> {
    raemis.detach(&imsi(3)).await.unwrap();
    raemis
        .attach(
            &imsi(DEVICES + 1),
            device_ip(DEVICES + 1).into(),
            "internet",
        )
        .await
        .unwrap();
    let mut truth = in_use.clone();
    truth.remove(&device_ip(3).to_string());
    truth.insert(device_ip(DEVICES + 1).to_string());
    truth
}

/// The hosts share one outbox: it holds the plans of both arbiters, and no change (its ID
/// is the same whenever it is planned again) was applied twice.
async fn check_the_shared_outbox(
    client: &tokio_postgres::Client,
    schema: &str,
    arbiter: &str,
    next: &str,
) {
    let first_column = |sql: String| async move {
        let rows = client.query(&sql, &[]).await.unwrap();
        rows.iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    };
    let planners: BTreeSet<String> = first_column(format!(
        "SELECT DISTINCT planned_by FROM {schema}.outbox_plans WHERE planned_by IS NOT NULL"
    ))
    .await
    .into_iter()
    .collect();
    assert!(
        planners.contains(arbiter) && planners.contains(next),
        "plans by {planners:?}"
    );
    let twice = first_column(format!(
        "SELECT change_id FROM {schema}.outbox_changes WHERE status = 'applied' GROUP BY change_id HAVING COUNT(*) > 1"
    ))
    .await;
    assert!(twice.is_empty(), "applied twice: {twice:?}");
}

/// The killed host's devices are polled by the survivors, each by exactly one; what a
/// survivor polled before, it still polls.
async fn the_survivors_take_over_the_dead_hosts_devices(
    hosts: &BTreeMap<String, String>,
    split: &BTreeMap<String, BTreeSet<String>>,
    truth: &BTreeSet<String>,
    killed_at: Instant,
) {
    let after = eventually(
        "the fleet split among the two survivors",
        WITHIN,
        || async {
            let s = shares(hosts).await?;
            split_exactly(&s, truth)?;
            Ok(s)
        },
    )
    .await;
    println!(
        "shares after the kill ({} ms): {:?}",
        killed_at.elapsed().as_millis(),
        after.iter().map(|(h, s)| (h, s.len())).collect::<Vec<_>>()
    );
    for id in hosts.keys() {
        // What a survivor polled before, it still polls (only the dead host's devices moved).
        let kept: BTreeSet<_> = split[id].intersection(truth).cloned().collect();
        assert!(
            kept.is_subset(&after[id]),
            "{id}: {kept:?} vs {:?}",
            after[id]
        );
    }
}
