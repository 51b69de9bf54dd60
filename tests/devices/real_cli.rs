//! The `linux-cpe` example profile against real daemons on this machine: OpenSSH's sshd
//! (password, then key; the host key pinned on first use) and inetutils' telnetd behind a
//! minimal inetd (each connection handed to `telnetd` as its stdin and stdout, as inetd
//! does), both logging in the test account `efi-cli-test` through the system's own PAM and
//! `/bin/login`. The record is checked against the same Linux facts read by the test. The
//! same daemons are then the CPEs of two UEs that `efi-poller run` finds in the EPC and polls.
//!
//! Needs root (sshd and login switch users) and `tests/setup.sh` (the daemons and the
//! account, whose random password only root can read).

use crate::profiles::{linux_cpe, linux_cpe_for_tac};
use efi_core::config::Config;
use efi_plugin_api::normalise::mac_text;
use efi_plugin_api::{DeviceRecord, Target};
use efi_tests::PluginDir;
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ACCOUNT: &str = "efi-cli-test";
const PASSWORD_FILE: &str = "/var/lib/efi-tests/cli-account";

fn require_root_and_setup() {
    assert!(
        running_as_root(),
        "these tests start sshd and telnetd, which need root (CI runs the suite as root)"
    );
    assert!(
        Path::new(PASSWORD_FILE).exists() && Path::new("/usr/sbin/sshd").exists(),
        "run tests/setup.sh first: it installs sshd and telnetd and creates {ACCOUNT}"
    );
}

/// The effective user is root, read from /proc (no unsafe libc call).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn free_port_on(ip: std::net::IpAddr) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `ip:port`.
fn wait_listening(ip: std::net::IpAddr, port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect((ip, port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on {ip}:{port} within 20 s");
}

/// OpenSSH's sshd on a loopback port, with its own host key and the test's authorized key;
/// killed when dropped.
struct Sshd {
    child: Child,
    port: u16,
    host_public_key: String,
    user_key: PathBuf,
}

impl Sshd {
    fn start(dir: &Path) -> Sshd {
        Sshd::start_on(dir, "127.0.0.1".parse().unwrap())
    }

    /// sshd listening on `ip` (a loopback address).
    fn start_on(dir: &Path, ip: std::net::IpAddr) -> Sshd {
        let keygen = |file: &Path| {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(file)
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        };
        let (host_key, user_key) = (dir.join("host_key"), dir.join("user_key"));
        keygen(&host_key);
        keygen(&user_key);
        let authorized = dir.join("authorized_keys");
        std::fs::copy(dir.join("user_key.pub"), &authorized).unwrap();
        // sshd reads authorized_keys as the user: the directory must let it.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&authorized, std::fs::Permissions::from_mode(0o644)).unwrap();
        let port = free_port_on(ip);
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "ListenAddress {ip}\nPort {port}\nHostKey {}\nPidFile none\n\
                 AuthorizedKeysFile {}\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n\
                 UsePAM yes\nAllowUsers {ACCOUNT}\nStrictModes no\n",
                host_key.display(),
                authorized.display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/sbin/sshd");
        wait_listening(ip, port, "sshd");
        let host_public_key = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        Sshd {
            child,
            port,
            host_public_key,
            user_key,
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// inetutils' telnetd, started per connection by a minimal inetd on a loopback port.
struct Telnetd {
    port: u16,
    children: Arc<Mutex<Vec<Child>>>,
}

impl Telnetd {
    fn start() -> Telnetd {
        Telnetd::start_on("127.0.0.1".parse().unwrap())
    }

    /// The inetd listening on `ip` (a loopback address).
    fn start_on(ip: std::net::IpAddr) -> Telnetd {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let children: Arc<Mutex<Vec<Child>>> = Arc::default();
        let spawned = children.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (input, output): (OwnedFd, OwnedFd) =
                    (stream.try_clone().unwrap().into(), stream.into());
                match Command::new("/usr/sbin/telnetd")
                    .stdin(Stdio::from(input))
                    .stdout(Stdio::from(output))
                    .stderr(Stdio::null())
                    .spawn()
                {
                    Ok(child) => spawned.lock().unwrap().push(child),
                    Err(e) => panic!("start /usr/sbin/telnetd: {e}"),
                }
            }
        });
        Telnetd { port, children }
    }
}

impl Drop for Telnetd {
    fn drop(&mut self) {
        for mut c in self.children.lock().unwrap().drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The first interface with a MAC of its own (not loopback), else `lo`.
fn interface() -> String {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names
        .iter()
        .find(|n| {
            *n != "lo"
                && std::fs::read_to_string(format!("/sys/class/net/{n}/address"))
                    .is_ok_and(|a| a.trim() != "00:00:00:00:00:00" && !a.trim().is_empty())
        })
        .cloned()
        .unwrap_or_else(|| "lo".into())
}

fn uptime_s() -> u64 {
    let text = std::fs::read_to_string("/proc/uptime").unwrap();
    text.split('.').next().unwrap().parse().unwrap()
}

/// The interface's received bytes from /proc/net/dev.
fn rx_bytes(interface: &str) -> u64 {
    let dev = std::fs::read_to_string("/proc/net/dev").unwrap();
    let line = dev
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{interface}:")))
        .unwrap();
    line.split(':')
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The credential set `cpe-cli`: the test account and its password.
fn password_credentials() -> String {
    let password = std::fs::read_to_string(PASSWORD_FILE).unwrap();
    format!(
        "[credentials.cpe-cli]\nusername = {ACCOUNT:?}\npassword = {:?}\n",
        password.trim()
    )
}

/// Polls 127.0.0.1 with `profile` and `credentials`, checking the record against the facts
/// of this machine read around the poll.
async fn poll_and_check(plugins: &PluginDir, work: &Path, profile: String, credentials: &str) {
    let interface = interface();
    let profiles = tempfile::tempdir().unwrap();
    std::fs::write(profiles.path().join("linux-cpe.toml"), profile).unwrap();
    let text = format!(
        "[plugins]\ndir = {:?}\nrescan_secs = 0\n[drivers.profiles]\ndir = {:?}\n\
         [cli]\nknown_hosts = {:?}\n{credentials}",
        plugins.path(),
        profiles.path(),
        work.join("known_hosts")
    );
    let config = Config::parse(&text, Path::new("t.toml")).unwrap();
    let host = tokio::task::spawn_blocking(move || efi_core::host::Host::new(config))
        .await
        .unwrap();
    let (up_before, rx_before) = (uptime_s(), rx_bytes(&interface));
    let outcome = efi_core::poller::poll(
        &host,
        &Target::new("127.0.0.1".parse().unwrap()),
        Some("profiles"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let (up_after, rx_after) = (uptime_s(), rx_bytes(&interface));
    let r: &DeviceRecord = &outcome.record;
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(r.hostname.as_deref(), Some(hostname.trim()));
    let up = r.uptime_s.expect("uptime read from /proc/uptime");
    assert!(
        (up_before..=up_after).contains(&up),
        "{up} not in {up_before}..={up_after}"
    );
    let mac = std::fs::read_to_string(format!("/sys/class/net/{interface}/address")).unwrap();
    assert_eq!(r.identity.mac, mac_text(mac.trim()), "{interface}");
    let rx = r.octets_received.expect("rx bytes read from /proc/net/dev");
    assert!(
        (rx_before..=rx_after).contains(&rx),
        "{rx} not in {rx_before}..={rx_after}"
    );
    assert!(r.octets_sent.is_some() && r.packets_sent.is_some(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linux_cpe_over_a_real_sshd_with_a_password_then_a_key_and_the_host_key_pinned() {
    require_root_and_setup();
    let work = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(work.path());
    let plugins = PluginDir::new();
    plugins.install("profiles");
    poll_and_check(
        &plugins,
        work.path(),
        linux_cpe("ssh", sshd.port, &interface()),
        &password_credentials(),
    )
    .await;
    // Pinned on first use: the daemon's own host key is in known_hosts now.
    let known = std::fs::read_to_string(work.path().join("known_hosts")).unwrap();
    let key = sshd.host_public_key.split_whitespace().nth(1).unwrap();
    assert!(known.contains(key), "{known}");
    // The key alone (no password in the set).
    poll_and_check(
        &plugins,
        work.path(),
        linux_cpe("ssh", sshd.port, &interface()),
        &format!(
            "[credentials.cpe-cli]\nusername = {ACCOUNT:?}\nprivate_key_file = {:?}\n",
            sshd.user_key
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linux_cpe_over_a_real_telnetd_and_login() {
    require_root_and_setup();
    let telnetd = Telnetd::start();
    let work = tempfile::tempdir().unwrap();
    let plugins = PluginDir::new();
    plugins.install("profiles");
    poll_and_check(
        &plugins,
        work.path(),
        linux_cpe("telnet", telnetd.port, &interface()),
        &password_credentials(),
    )
    .await;
}

/// `efi-poller run` with the EPC reporting two UEs whose CPEs are this machine's real sshd
/// (127.10.9.1) and telnetd (127.10.9.2): identified by their IMEI type codes through two
/// `linux-cpe` profiles and polled on the service's own schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_polls_a_real_sshd_and_telnetd_cpe_through_profiles() {
    use efi_lab::raemis::{RaemisOptions, RaemisSim, Subscriber};
    use efi_lab::sonar::{scenario::Scenario, SonarSim};
    require_root_and_setup();
    efi_lab::init_tls();
    let work = tempfile::tempdir().unwrap();
    let (ssh_ip, telnet_ip): (std::net::IpAddr, std::net::IpAddr) =
        ("127.10.9.1".parse().unwrap(), "127.10.9.2".parse().unwrap());
    let sshd = Sshd::start_on(work.path(), ssh_ip);
    let telnetd = Telnetd::start_on(telnet_ip);
    let sonar = SonarSim::start("127.0.0.1:0".parse().unwrap(), Scenario::lab_on_loopback())
        .await
        .unwrap();
    let raemis = RaemisSim::start("127.0.0.1:0".parse().unwrap(), RaemisOptions::default())
        .await
        .unwrap();
    for (n, ip, imei) in [
        (1, ssh_ip, "990001250000001"),
        (2, telnet_ip, "990001260000002"),
    ] {
        let imsi = format!("00101000009{n:04}");
        raemis.add_subscriber(Subscriber::new(&imsi, imei, "", "Jane Doe"));
        raemis.attach(&imsi, ip, "internet").await.unwrap();
    }
    let plugins = PluginDir::new();
    for p in ["raemis", "sonar", "hello-driver", "profiles"] {
        plugins.install(p);
    }
    let profiles = work.path().join("profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    let interface = interface();
    for (name, transport, port, tac) in [
        ("linux-ssh", "ssh", sshd.port, "99000125"),
        ("linux-telnet", "telnet", telnetd.port, "99000126"),
    ] {
        let text = linux_cpe_for_tac(name, transport, port, &interface, tac);
        std::fs::write(profiles.join(format!("{name}.toml")), text).unwrap();
    }
    let listen = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = work.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[log]\nlevel = \"warn\"\n[plugins]\ndir = {plugins:?}\nrescan_secs = 0\n\
             [snmp]\ntimeout_ms = 300\nretries = 0\n[server]\nlisten = \"{listen}\"\n\
             [poller]\ninterval_secs = 1\n[arbiter]\nmanaged_subnets = [\"127.10.0.0/16\"]\n\
             interval_secs = 1\n[store]\nurl = \"sqlite:{state}\"\n\
             [drivers.profiles]\ndir = {profiles:?}\n[cli]\nknown_hosts = {known:?}\n{creds}{lab}",
            plugins = plugins.path(),
            state = work.path().join("state.db").display(),
            known = work.path().join("known_hosts"),
            creds = password_credentials(),
            lab = efi_lab::lab_source_and_sink(
                &raemis.base_url(),
                &sonar.base_url(),
                "raemis-lab",
                "",
                "",
            ),
        ),
    )
    .unwrap();
    let _host = efi_tests::Running(
        Command::new(efi_tests::artifacts::artifacts().host_binary())
            .args(["--config", config.to_str().unwrap(), "run"])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let api = format!("http://{listen}/api/v1/devices");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let devices = efi_tests::eventually(
        "both CPEs polled by their profiles",
        Duration::from_secs(60),
        || async {
            let v: serde_json::Value = reqwest::get(&api)
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            let polled = |ip: &str| {
                v.as_array().is_some_and(|a| {
                    a.iter().any(|d| {
                        d["address"] == ip && d["driver"] == "profiles" && d["record"].is_object()
                    })
                })
            };
            if polled("127.10.9.1") && polled("127.10.9.2") {
                Ok(v)
            } else {
                Err(v.to_string())
            }
        },
    )
    .await;
    for (ip, model) in [
        ("127.10.9.1", "Linux CPE (ssh)"),
        ("127.10.9.2", "Linux CPE (telnet)"),
    ] {
        let d = devices
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["address"] == ip)
            .unwrap();
        let r = &d["record"];
        assert_eq!(r["model"], model, "{d:#}");
        assert_eq!(r["hostname"], hostname.trim(), "{d:#}");
        assert!(r["uptime_s"].as_u64().is_some_and(|u| u > 0), "{d:#}");
        assert!(r["octets_received"].as_u64().is_some(), "{d:#}");
        assert_eq!(d["unidentified"], false, "{d:#}");
    }
}
