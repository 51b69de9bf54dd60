//! A real net-snmp `snmpd` as a peer agent: SNMPv3 (USM auth and privacy, engine ID,
//! contexts) checked against the reference implementation rather than our own agent, and
//! the C agent of the peer benchmarks. Needs Debian's `snmpd` package (tests/setup.sh).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The engine ID the lab agent is configured with (`engineID efilab-v3`): net-snmp makes it
/// enterprise 8072 (0x80001f88), format 4 (text), then the text.
pub const ENGINE_ID: &[u8] = b"\x80\x00\x1f\x88\x04efilab-v3";
/// sysName of the lab agent.
pub const SYS_NAME: &str = "snmpd-v3-lab";

/// One v3 user of the lab agent: (user, auth protocol, auth pass, (priv protocol, priv pass)),
/// protocols spelled as in snmpd.conf.
pub type LabUser = (
    &'static str,
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

/// The v3 users of the lab agent.
pub const USERS: &[LabUser] = &[
    (
        "shaaes",
        "SHA",
        "auth-pass-sha",
        Some(("AES", "priv-pass-aes")),
    ),
    (
        "sha256aes",
        "SHA-256",
        "auth-pass-256",
        Some(("AES", "priv-pass-256")),
    ),
    (
        "md5des",
        "MD5",
        "auth-pass-md5",
        Some(("DES", "priv-pass-des")),
    ),
    ("md5only", "MD5", "auth-pass-md5only", None),
];

/// v2c community of the lab agent.
pub const COMMUNITY: &str = "lab-public";

/// A running `snmpd`, killed on drop.
pub struct NetSnmpd {
    child: Child,
    /// The address it answers at.
    pub addr: SocketAddr,
    _dir: TempDir,
}

impl NetSnmpd {
    /// Starts `snmpd` answering at `addrs` (IPv4 and IPv6) with the lab users and `extra`
    /// config lines, and waits until it has bound its sockets. [`NetSnmpd::addr`] is the
    /// first address.
    pub fn start(addrs: &[SocketAddr], extra: &str) -> anyhow::Result<NetSnmpd> {
        Self::start_with(addrs, true, extra)
    }

    /// As [`NetSnmpd::start`], but answering SNMPv3 only: no community is configured, so
    /// v1 and v2c requests are ignored as a v3-only CPE's agent ignores them.
    pub fn start_v3_only(addrs: &[SocketAddr]) -> anyhow::Result<NetSnmpd> {
        Self::start_with(addrs, false, "")
    }

    fn start_with(
        addrs: &[SocketAddr],
        communities: bool,
        extra: &str,
    ) -> anyhow::Result<NetSnmpd> {
        let dir = TempDir::new()?;
        let addr = *addrs
            .first()
            .ok_or_else(|| anyhow::anyhow!("no address to listen on"))?;
        let listen: Vec<String> = addrs
            .iter()
            .map(|a| match a {
                SocketAddr::V4(_) => format!("udp:{a}"),
                SocketAddr::V6(_) => format!("udp6:{a}"),
            })
            .collect();
        let mut conf = format!(
            "agentaddress {}\nengineID efilab-v3\n\
             sysname {SYS_NAME}\nsyscontact noc@lab.invalid\nsyslocation efi-lab rack 1\n\
             sysdescr efi-lab net-snmp peer\n",
            listen.join(",")
        );
        if communities {
            conf += &format!("rocommunity {COMMUNITY} default\nrocommunity6 {COMMUNITY} default\n");
        }
        for (user, auth, auth_pass, privacy) in USERS {
            match privacy {
                Some((p, pp)) => {
                    conf += &format!(
                    "createUser {user} {auth} \"{auth_pass}\" {p} \"{pp}\"\nrouser {user} priv\n"
                )
                }
                None => {
                    conf +=
                        &format!("createUser {user} {auth} \"{auth_pass}\"\nrouser {user} auth\n")
                }
            }
        }
        conf += extra;
        let conf_path = dir.0.join("snmpd.conf");
        std::fs::write(&conf_path, conf)?;
        let log = dir.0.join("log");
        let child = Command::new("snmpd")
            .args(["-f", "-C", "-Lf"])
            .arg(&log)
            .arg("-c")
            .arg(&conf_path)
            .args([
                "-I",
                "-hrSWRun,hrSWInstalled,hrFS,hrStorage,hrDevice,smux,diskio,ucd_snmp,lmSensors",
            ])
            .env("SNMP_PERSISTENT_DIR", dir.0.join("persist"))
            .env("MIBS", "")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("cannot start snmpd (install Debian's snmpd: tests/setup.sh): {e}")
            })?;
        let mut agent = NetSnmpd {
            child,
            addr,
            _dir: dir,
        };
        // snmpd writes its version line once its sockets are bound.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("NET-SNMP version") {
                return Ok(agent);
            }
            if let Some(status) = agent.child.try_wait()? {
                anyhow::bail!("snmpd exited with {status}: {text}");
            }
            if Instant::now() > deadline {
                anyhow::bail!("snmpd did not start within 20 s: {text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NetSnmpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let path = std::env::temp_dir().join(format!(
            "efi-lab-snmpd-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
