//! The host's configuration file (`config.toml`): every key, its default and its meaning.
//!
//! The doc comments on these structs are the reference documentation of the file. Unknown
//! keys are errors, and every error names the file, the line and the key.

pub mod check;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The whole configuration. Every section and key is optional.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Logging.
    pub log: LogConfig,
    /// Plugin loading and isolation.
    pub plugins: PluginsConfig,
    /// Settings passed to each driver instance, by plugin name: `[drivers.hello-driver]`.
    pub drivers: BTreeMap<String, toml::Table>,
    /// SNMP defaults for every device.
    pub snmp: SnmpConfig,
    /// HTTP(S) engine: timeouts, body cap, TLS opt-out, retries, rate limits.
    pub http: HttpConfig,
    /// ICMP echo engine: probe timeout, spacing and size.
    pub icmp: IcmpConfig,
    /// SSH and Telnet CLI engine: sessions at once, connect timeout, SSH host keys.
    pub cli: CliConfig,
    /// TR-069: the CWMP snooping proxy and the cache drivers read.
    pub tr069: Tr069Config,
    /// Credential sets by name (`[credentials.sonar]`): plugins refer to them, never see them.
    pub credentials: BTreeMap<String, CredentialConfig>,
    /// The IPAM arbiter: which subnets it owns and how careful it is.
    pub arbiter: ArbiterConfig,
    /// EPC and ACS sources (`[[sources]]`).
    pub sources: Vec<SourceConfig>,
    /// The sink kept in step with the sources (`[sink]`), usually Sonar.
    pub sink: Option<SinkConfig>,
    /// The HTTP listener (webhooks from the EPC).
    pub server: ServerConfig,
    /// Polling the devices behind the addresses in use (`efi-poller run`).
    pub poller: PollerConfig,
    /// Sonar's poller role: the ICMP and SNMP monitoring Sonar asks for.
    pub sonar_poller: SonarPollerConfig,
    /// The durable store of device state and history (SQLite or PostgreSQL).
    pub store: StoreConfig,
    /// Several hosts sharing the fleet and the arbiter role on one PostgreSQL store.
    pub cluster: ClusterConfig,
}

/// `[cluster]`: run `efi-poller run` on several hosts against one PostgreSQL store
/// (`[store] url = "postgres://..."`, the same `schema` on every host). The hosts heartbeat
/// into the store; each polls the share of the addresses in use that rendezvous hashing
/// gives it among the live hosts, and exactly one (holding a PostgreSQL advisory lock) is
/// the arbiter: it pulls the EPC, writes Sonar and publishes the addresses in use for the
/// others. A host silent for `lease_ms` is dead: its devices move to the others at their
/// next heartbeat, and the arbiter role to another host as soon as PostgreSQL sees its
/// connection drop.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Take part in a cluster. Needs a PostgreSQL store.
    pub enabled: bool,
    /// This host's name in the cluster, unique among the hosts; default: the machine's
    /// hostname.
    pub host_id: Option<String>,
    /// Milliseconds between two heartbeats (and role checks).
    pub heartbeat_ms: u64,
    /// Milliseconds without a heartbeat after which a host counts as dead. At least twice
    /// `heartbeat_ms`.
    pub lease_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            enabled: false,
            host_id: None,
            heartbeat_ms: 1000,
            lease_ms: 5000,
        }
    }
}

/// `[store]`: where `efi-poller run` keeps what must outlive the process: each device's
/// latest record and its recent history (for the REST API, the dashboard and a restart),
/// the IPAM outbox (every plan, each change and its outcome) and the journal of pushed
/// events. Hosts of a cluster share it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The database: a SQLite file (`efi-poller-state.db`, `sqlite:/var/lib/efi-poller/state.db`;
    /// relative paths from the working directory), or PostgreSQL
    /// (`postgres://efi@db.example/efi`; TLS as `sslmode` says). A secret: it may hold a
    /// password, and is never logged or shown (logs name the host and database only).
    pub url: Secret,
    /// PostgreSQL only: TLS to the database. `disable`, `prefer` (TLS when the server
    /// offers it, unverified), `require` (TLS, unverified), `verify-ca` (TLS with a
    /// certificate signed by `ca_file`), `verify-full` (and issued for the host of
    /// `url`). Default: `verify-full` for a host on the network, `disable` for a local
    /// socket or a loopback address.
    pub sslmode: Option<PgSslMode>,
    /// PEM file with the CA(s) that signed the database server's certificate (for
    /// `verify-ca` and `verify-full`); `%d/NAME` for a systemd credential.
    pub ca_file: Option<PathBuf>,
    /// PostgreSQL only: the schema holding the tables, created when missing. Lower-case
    /// letters, digits and `_`.
    pub schema: String,
    /// Hours of per-poll history kept (RSRP, RSRQ, SINR, RSSI, rates, uptime, errors);
    /// older points are pruned hourly. 0 keeps no history.
    pub history_hours: u64,
    /// Milliseconds between two writes of polled state; each write is one transaction.
    pub flush_interval_ms: u64,
    /// Days of IPAM plans (with each change and its outcome) and of pushed events kept, for
    /// audits (`/api/v1/plans`); older ones are pruned after each full cycle. A plan being
    /// applied is never pruned. 0 keeps them forever.
    pub journal_days: u64,
}

/// `[store] sslmode`: how the PostgreSQL connection uses TLS (as libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PgSslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, without verifying it.
    Prefer,
    /// TLS, without verifying the server.
    Require,
    /// TLS with a server certificate signed by `ca_file`.
    VerifyCa,
    /// TLS with a server certificate signed by `ca_file` and issued for the URL's host.
    VerifyFull,
}

impl PgSslMode {
    /// The mode in force for a database at `config`: `mode` when set, else `verify-full`
    /// unless every host of the URL is a local socket or a loopback address (`disable`).
    pub fn effective(config: &tokio_postgres::Config, mode: Option<PgSslMode>) -> PgSslMode {
        mode.unwrap_or_else(|| {
            let local = config.get_hosts().iter().all(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => {
                    name == "localhost"
                        || name
                            .parse::<std::net::IpAddr>()
                            .is_ok_and(|ip| ip.is_loopback())
                }
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(_) => true,
            });
            if local {
                PgSslMode::Disable
            } else {
                PgSslMode::VerifyFull
            }
        })
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: Secret::new("efi-poller-state.db".to_owned()),
            sslmode: None,
            ca_file: None,
            schema: "efi_poller".into(),
            history_hours: 24,
            flush_interval_ms: 1000,
            journal_days: 30,
        }
    }
}

/// `[sonar_poller]`: act as the poller of a Sonar instance, in place of Sonar's own
/// (PHP) poller. Each cycle fetches the monitoring work from `<url>/api/poller`, pings and
/// polls every host as its monitoring template says, and posts the results to
/// `<url>/api/batch_poller`. Results that cannot be posted are kept in `pending_file` and
/// sent with the next attempt; a newer result of a host replaces its older one, so Sonar
/// gets every host's latest result exactly once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SonarPollerConfig {
    /// Run the role (in `efi-poller run`, and `efi-poller sonar-poller`).
    pub enabled: bool,
    /// The instance, e.g. `https://example.sonar.software`.
    pub url: String,
    /// The poller's API key (from Sonar's poller settings). A secret: prefer
    /// `api_key_file` or `api_key_env`.
    pub api_key: Option<Secret>,
    /// File holding the API key (trailing whitespace ignored).
    pub api_key_file: Option<PathBuf>,
    /// Environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Seconds between the starts of two cycles (Sonar's poller: 60).
    pub interval_secs: u64,
    /// Hosts polled over SNMP at once.
    pub snmp_concurrency: usize,
    /// Hosts pinged at once.
    pub icmp_concurrency: usize,
    /// Echo requests per host and cycle (Sonar's poller: 10). Timeout and spacing are
    /// `[icmp]`'s.
    pub icmp_count: u32,
    /// UDP port of the hosts' SNMP agents.
    pub snmp_port: u16,
    /// Time to wait for each SNMP answer, in milliseconds.
    pub snmp_timeout_ms: u64,
    /// SNMP retries after a timeout.
    pub snmp_retries: u32,
    /// GETBULK max-repetitions of the table walks.
    pub max_repetitions: u32,
    /// ifTypes reported; others are dropped (Sonar's poller: Ethernet 6, radio 71,
    /// wireless P2P 157, GPON 250). Empty reports every interface.
    pub interface_types: Vec<u32>,
    /// Also send each interface's addresses under `"ip_addresses "` (trailing space), the
    /// key Sonar's own poller sends by mistake.
    pub legacy_ip_addresses_key: bool,
    /// Results not yet accepted by Sonar (JSON). Relative paths are relative to the
    /// working directory.
    pub pending_file: PathBuf,
    /// Timeout of each request to Sonar, in seconds.
    pub request_timeout_secs: u64,
    /// Largest body posted to `/api/batch_poller`, in bytes; a cycle with more results is
    /// posted in several bodies (web servers in front of Sonar cap request sizes).
    pub max_post_bytes: usize,
}

impl Default for SonarPollerConfig {
    fn default() -> Self {
        SonarPollerConfig {
            enabled: false,
            url: String::new(),
            api_key: None,
            api_key_file: None,
            api_key_env: None,
            interval_secs: 60,
            snmp_concurrency: 64,
            icmp_concurrency: 1024,
            icmp_count: 10,
            snmp_port: 161,
            snmp_timeout_ms: 2000,
            snmp_retries: 1,
            max_repetitions: 25,
            interface_types: vec![6, 71, 157, 250],
            legacy_ip_addresses_key: true,
            pending_file: PathBuf::from("efi-poller-sonar-pending.json"),
            request_timeout_secs: 30,
            max_post_bytes: 4 << 20,
        }
    }
}

/// `[poller]`: how `efi-poller run` polls every address the EPC reports in use. Results are
/// served at `/api/v1/devices` and as `efi_device_*` gauges on `/metrics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PollerConfig {
    /// Poll devices at all (the arbiter runs either way).
    pub enabled: bool,
    /// Seconds between two polls of a device in no `[[poller.groups]]` entry. A device the
    /// EPC newly reports is polled as soon as a slot is free, then every interval.
    pub interval_secs: u64,
    /// Spread of each device's next poll, as a share of its interval: 0.1 polls each device
    /// every interval ± 10 %, so a fleet that attached at once drifts apart instead of
    /// polling in one burst. 0 keeps exact intervals.
    pub jitter: f64,
    /// Devices polled at once. One device is never polled twice at once, whatever its
    /// interval and however long its poll takes.
    pub concurrency: usize,
    /// Requests of one device's poll step run at once (a CPE's small web server or agent is
    /// not flooded); the others of that step wait.
    pub per_device_requests: usize,
    /// UDP port of the devices' SNMP agents.
    pub snmp_port: u16,
    /// TCP port of the devices' web UIs. Identification reads the page title (or the
    /// HTTP Basic realm) there from a device that answers no SNMP and that no ACS has
    /// heard; drivers' web steps use it unless their settings name another port.
    pub web_port: u16,
    /// Most seconds one device's poll may take (identification, every request and retry);
    /// past it the poll fails and its slot goes to the next device.
    pub deadline_secs: u64,
    /// Seconds a device that informs over TR-069 but answered none of its last 3 SNMP
    /// requests goes without SNMP (its polls read TR-069 alone, costing no timeout); then
    /// SNMP is asked again, so SNMP that comes back is noticed within this time. 0 asks
    /// SNMP on every poll.
    pub snmp_recheck_secs: u64,
    /// The addresses polled: a session's device is polled when its address is in one of
    /// these subnets (CIDR). Unset, it is `[arbiter] managed_subnets`, the addresses this
    /// tool owns; `["0.0.0.0/0", "::/0"]` polls every address the EPC reports.
    pub subnets: Option<Vec<String>>,
    /// Device groups with their own interval, first match wins:
    /// `[[poller.groups]] name = "towers", subnets = ["10.45.0.0/24"], interval_secs = 60`.
    pub groups: Vec<PollGroupConfig>,
}

impl Default for PollerConfig {
    fn default() -> Self {
        PollerConfig {
            enabled: true,
            interval_secs: 300,
            jitter: 0.1,
            concurrency: 64,
            per_device_requests: 4,
            snmp_port: 161,
            web_port: 80,
            deadline_secs: 60,
            snmp_recheck_secs: 900,
            subnets: None,
            groups: Vec::new(),
        }
    }
}

/// `[[poller.groups]]`: devices with settings of their own: how often they are polled and
/// the credentials they are polled with. A device belongs to the first group whose every
/// given condition it meets (an empty list is no condition).
///
/// ```toml
/// [[poller.groups]]
/// name = "tower-7"
/// subnets = ["10.45.7.0/24"]
/// interval_secs = 60
/// web_credentials = "tower-7-web"
/// [[poller.groups.snmp]]          # tried in order; the one that answers is remembered
/// community = "t7-ro"
/// [[poller.groups.snmp]]
/// version = "3"
/// user = "efi"
/// auth_protocol = "SHA-256"
/// auth_passphrase = "..."
/// privacy_protocol = "AES"
/// privacy_passphrase = "..."
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollGroupConfig {
    /// Name, for logs and `/metrics`.
    pub name: String,
    /// Seconds between two polls of a device of this group (default: `[poller]
    /// interval_secs`).
    #[serde(default)]
    pub interval_secs: Option<u64>,
    /// The device's address is in one of these networks (CIDR).
    #[serde(default)]
    pub subnets: Vec<String>,
    /// The driver that last recognised the device is one of these (plugin names).
    #[serde(default)]
    pub drivers: Vec<String>,
    /// The model the device last reported is one of these (compared without case; the
    /// `model` that `efi-poller poll` and `/api/v1/devices` show).
    #[serde(default)]
    pub models: Vec<String>,
    /// SNMP identities tried in order until one answers, instead of `[snmp]`'s community.
    /// The one that answered is remembered per device and tried first next time; it is
    /// forgotten when it stops working. A device not identified yet is tried with the
    /// identities of every group whose subnets hold it (driver and model are not known
    /// yet), then with `[snmp]`'s. Each identity costs a timeout on a dead device, so keep
    /// the list short.
    #[serde(default)]
    pub snmp: Vec<SnmpLogin>,
    /// The credential set (`[credentials.<name>]`) for the web UI of this group's devices,
    /// in place of the one the driver's settings name.
    #[serde(default)]
    pub web_credentials: Option<String>,
    /// The credential set for SSH/Telnet logins to this group's devices, in place of the
    /// one the driver's settings name.
    #[serde(default)]
    pub cli_credentials: Option<String>,
}

/// One SNMP identity (`[[poller.groups.snmp]]`): a v1/v2c community, or an SNMPv3 user
/// whose security level follows from the passphrases given (none: noAuthNoPriv;
/// `auth_passphrase`: authNoPriv; both: authPriv).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpLogin {
    /// `"1"`, `"2c"` (the default) or `"3"`.
    #[serde(default)]
    pub version: SnmpLoginVersion,
    /// The community (v1 and v2c; a secret, never logged).
    #[serde(default)]
    pub community: Option<Secret>,
    /// The USM user name (v3).
    #[serde(default)]
    pub user: Option<String>,
    /// `MD5`, `SHA` (SHA-1), `SHA-224`, `SHA-256`, `SHA-384` or `SHA-512` (v3).
    #[serde(default)]
    pub auth_protocol: Option<String>,
    /// The authentication passphrase (v3; at least 8 characters).
    #[serde(default)]
    pub auth_passphrase: Option<Secret>,
    /// `DES`, `AES` (AES-128), `AES-192` or `AES-256` (v3; needs authentication).
    #[serde(default)]
    pub privacy_protocol: Option<String>,
    /// The privacy passphrase (v3; at least 8 characters).
    #[serde(default)]
    pub privacy_passphrase: Option<Secret>,
    /// The contextName sent with every request (v3; default: the default context).
    #[serde(default)]
    pub context: Option<String>,
}

/// The SNMP version of an identity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnmpLoginVersion {
    /// SNMPv1.
    #[serde(rename = "1")]
    V1,
    /// SNMPv2c.
    #[serde(rename = "2c")]
    #[default]
    V2c,
    /// SNMPv3 (USM).
    #[serde(rename = "3")]
    V3,
}

/// `[arbiter]`: the rules of IPAM arbitration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArbiterConfig {
    /// Subnets whose soft assignments this tool owns, e.g. `["10.45.0.0/16"]`. Nothing
    /// outside them is ever created or deleted; an empty list disables the arbiter.
    pub managed_subnets: Vec<String>,
    /// Seconds between full reconciliations (pull every source, read the sink, plan, apply).
    pub interval_secs: u64,
    /// A plan deleting more than this share of the managed soft assignments is held and
    /// reported instead of applied (0.5 = half).
    pub max_delete_share: f64,
    /// Plans deleting fewer assignments than this are never held by the share rule.
    pub min_deletes_guarded: usize,
    /// Junk prefixes stripped from subscriber names before matching account names
    /// (case-insensitive), e.g. tower or model codes: `["TWR1 ", "BEC-"]`.
    pub name_prefixes: Vec<String>,
    /// No longer used: the outbox lives in the store (`[store] url`) since schema version 3.
    /// Still accepted so older files load; `efi-poller run` says it is ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbox: Option<PathBuf>,
}

impl Default for ArbiterConfig {
    fn default() -> Self {
        ArbiterConfig {
            managed_subnets: Vec::new(),
            interval_secs: 60,
            max_delete_share: 0.5,
            min_deletes_guarded: 10,
            name_prefixes: Vec::new(),
            outbox: None,
        }
    }
}

/// `[[sources]]`: one EPC or ACS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A name of your choice (logs, webhook path `/webhooks/<name>`).
    pub name: String,
    /// The plugin that speaks to it (`raemis`, `magma`, `genieacs`).
    pub plugin: String,
    /// The plugin's settings (see its documentation).
    #[serde(default)]
    pub settings: toml::Table,
    /// Accept pushed events at `/webhooks/<name>`.
    #[serde(default)]
    pub webhook: Option<WebhookConfig>,
}

/// Authentication of a source's webhook. One of `credentials` (Basic, from a credential
/// set) or `secret_header` + `secret` is required unless `insecure_no_auth` is set.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Credential set whose `username`/`password` the sender must present (HTTP Basic).
    pub credentials: Option<String>,
    /// Header carrying a shared secret, e.g. `x-efi-secret`.
    pub secret_header: Option<String>,
    /// The shared secret (compared in constant time).
    pub secret: Option<Secret>,
    /// Only these sender addresses are accepted (all when empty).
    pub allow_from: Vec<std::net::IpAddr>,
    /// Accept unauthenticated pushes (for a lab only).
    pub insecure_no_auth: bool,
}

/// `[sink]`: the system kept in step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// The plugin (`sonar`).
    pub plugin: String,
    /// The plugin's settings; `managed_subnets` is filled in from `[arbiter]`.
    #[serde(default)]
    pub settings: toml::Table,
}

/// `[server]`: the host's HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port (`127.0.0.1:9630`); webhooks need it reachable from the EPC.
    pub listen: Option<std::net::SocketAddr>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// File holding a token that `/api/...` and `/metrics` then require as
    /// `Authorization: Bearer <token>` (trailing whitespace ignored). `/healthz` stays open;
    /// webhooks keep their own authentication. Unset: no token (bind to a trusted network).
    pub api_token_file: Option<PathBuf>,
    /// The token itself, instead of `api_token_file` (a secret).
    pub api_token: Option<Secret>,
    /// HTTPS on `listen` instead of HTTP: `[server.tls]`.
    pub tls: Option<ListenerTls>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: None,
            max_body_bytes: 64 * 1024,
            api_token_file: None,
            api_token: None,
            tls: None,
        }
    }
}

/// `[server.tls]`: the listener speaks HTTPS only (TLS 1.2 or 1.3); a plain HTTP request to
/// it is answered 400 and closed. The certificate and key files are read again when they
/// change on disk (a renewal needs no restart) and on SIGHUP.
///
/// ```toml
/// [server.tls]
/// cert_file = "/etc/efi-poller/tls/fullchain.pem"
/// key_file = "/etc/efi-poller/tls/privkey.pem"
/// client_ca_file = "/etc/efi-poller/tls/clients-ca.pem"   # optional: mutual TLS
/// client_certificate_for = ["webhooks"]                    # "webhooks", "api" or both
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTls {
    /// PEM file with the server certificate, then its chain.
    pub cert_file: PathBuf,
    /// PEM file with its private key (PKCS#8, PKCS#1 or SEC1); readable by the service's
    /// group only.
    pub key_file: PathBuf,
    /// PEM file with the CAs whose client certificates are accepted. With it, a client may
    /// present a certificate; the routes of `client_certificate_for` require one.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Route groups that require a client certificate signed by `client_ca_file`:
    /// `webhooks` (`/webhooks/...`, what the EPC pushes) and `api` (everything else but
    /// `/healthz`). Their other authentication still applies.
    #[serde(default)]
    pub client_certificate_for: Vec<String>,
}

impl ServerConfig {
    /// The token the read API requires, if any; an unreadable or empty file is an error
    /// naming the key and the file.
    pub fn api_token(&self) -> Result<Option<Secret>, String> {
        if let Some(path) = &self.api_token_file {
            let text = read_file(path).map_err(|e| format!("[server] api_token_file {e}"))?;
            let token = text.trim_end();
            if token.is_empty() {
                return Err(format!(
                    "[server] api_token_file {} is empty",
                    path.display()
                ));
            }
            return Ok(Some(Secret::new(token)));
        }
        match &self.api_token {
            Some(t) if t.expose().is_empty() => Err("[server] api_token is empty".into()),
            other => Ok(other.clone()),
        }
    }
}

/// `[log]`: one structured stream on stderr (journald picks it up under systemd).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (human-readable) or `json` (one object per line), on stderr. Colours only on a
    /// terminal and never with `NO_COLOR` set; when stderr is the journal, text lines carry
    /// no timestamp (the journal stamps each line).
    pub format: LogFormat,
    /// Filter in `RUST_LOG` syntax, e.g. `info` or `info,efi::plugin=debug`.
    /// The `RUST_LOG` environment variable, when set, wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[plugins]`: where plugins come from and how misbehaving ones are contained.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Directory scanned for plugin `.so` files. Default: `lib/efi-poller/plugins` beside
    /// the binary's `bin/` directory when it exists — `/usr/lib/efi-poller/plugins` for the
    /// packaged `/usr/bin/efi-poller` — else the binary's own directory, so
    /// `target/release/efi-poller` finds the plugins built beside it.
    pub dir: Option<PathBuf>,
    /// Seconds between rescans of the directory: new files are loaded, changed files
    /// reloaded, removed files dropped, without a restart. `0` disables rescanning.
    pub rescan_secs: u64,
    /// CPU time one plugin step may take, in milliseconds. A step over budget quarantines
    /// the plugin (a step is pure parsing; real work takes well under this).
    pub step_budget_ms: u64,
    /// A plugin that panics this many times in a row is quarantined until its file changes
    /// or the host reloads.
    pub max_consecutive_panics: u32,
    /// Settings passed to each plugin's `init`, by plugin name: `[plugins.settings.raemis]`.
    pub settings: BTreeMap<String, toml::Table>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            dir: None,
            rescan_secs: 5,
            step_budget_ms: 500,
            max_consecutive_panics: 3,
            settings: BTreeMap::new(),
        }
    }
}

impl PluginsConfig {
    /// The configured directory, or the default one ([`default_plugins_dir`]).
    pub fn resolved_dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(default_plugins_dir)
    }
}

/// The plugins directory of an installation: `<prefix>/lib/efi-poller/plugins` for a
/// binary in `<prefix>/bin` (`/usr/bin` of the package, `/usr/local/bin` of a from-source
/// install) when that directory exists, else the binary's own directory (a build tree).
pub fn default_plugins_dir() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let bin = exe.as_deref().and_then(Path::parent);
    plugins_dir_for(bin.unwrap_or(Path::new(".")))
}

fn plugins_dir_for(bin: &Path) -> PathBuf {
    let installed = bin
        .parent()
        .filter(|_| bin.file_name().is_some_and(|n| n == "bin"))
        .map(|prefix| prefix.join("lib/efi-poller/plugins"));
    match installed {
        Some(dir) if dir.is_dir() => dir,
        _ => bin.to_path_buf(),
    }
}

/// `[tr069]`: TR-069 snooping. CPEs report to their ACS (GenieACS) over CWMP; pointed at
/// this proxy instead (their `ManagementServer.URL`, or the DHCP/provisioning that sets it),
/// they keep talking to the real ACS through it, and every Inform and every
/// GetParameterValuesResponse they send is read into a cache by the CPE's address. Drivers
/// read that cache (IMEI, signal, firmware without touching the device) and identification
/// uses the DeviceId (OUI, product class). The proxy opens one ACS connection per CPE
/// connection, forwards every byte unchanged (adding only a `Forwarded: for=` line, see
/// below) and never answers for either side, except `502` when the ACS cannot be reached.
/// CWMP over TLS is passed through unread: snoop plain-HTTP CWMP only (on a trusted
/// network), or terminate TLS before the proxy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tr069Config {
    /// Where the proxy listens (`0.0.0.0:7547`, the CWMP port CPEs expect). Unset: no proxy
    /// (`efi-poller run` only).
    pub listen: Option<std::net::SocketAddr>,
    /// The real ACS's CWMP address, `host:port` (GenieACS's `genieacs-cwmp`, port 7547 on
    /// its own host). Required with `listen`.
    pub acs: Option<String>,
    /// Add `Forwarded: for=<CPE address>` (RFC 7239) to each request, so the ACS still sees
    /// the CPE's address; with GenieACS set `GENIEACS_FORWARDED_HEADER` to this host's
    /// address. Nothing else in a request is changed.
    pub forwarded_header: bool,
    /// Milliseconds to connect to the ACS; a CPE whose ACS cannot be reached gets `502`
    /// and retries as it would with the ACS down.
    pub connect_timeout_ms: u64,
    /// A connection silent this many milliseconds in both directions is closed.
    pub idle_timeout_ms: u64,
    /// Once one side (CPE or ACS) has closed, milliseconds the other gets to finish
    /// before the connection is closed (a CPE that never closes after its ACS did would
    /// otherwise hold it for `idle_timeout_ms`).
    pub close_grace_ms: u64,
    /// Most CPE connections proxied at once. More wait in the listen backlog until one
    /// ends (the CPE sees a slow connect, then retries as with a busy ACS). Each holds two
    /// sockets: keep it under half the process's file-descriptor limit (the systemd unit
    /// sets `LimitNOFILE=65536`).
    pub max_connections: usize,
    /// Largest CWMP body read (after decompression), in bytes; larger ones are forwarded
    /// unread.
    pub max_body_bytes: usize,
    /// Seconds a cached value is answered after the CPE sent it. CPEs inform every
    /// `PeriodicInformInterval` (360 s is common), so the default keeps a value across a
    /// few missed informs.
    pub max_age_secs: u64,
    /// Most CPEs the cache holds (the least recently heard is forgotten first).
    pub max_cpes: usize,
    /// Most parameters kept per CPE.
    pub max_params_per_cpe: usize,
}

impl Default for Tr069Config {
    fn default() -> Self {
        Tr069Config {
            listen: None,
            acs: None,
            forwarded_header: true,
            connect_timeout_ms: 5000,
            idle_timeout_ms: 300_000,
            close_grace_ms: 30_000,
            max_connections: 10_000,
            max_body_bytes: 4 << 20,
            max_age_secs: 3600,
            max_cpes: 200_000,
            max_params_per_cpe: 4096,
        }
    }
}

/// `[snmp]`: defaults for every device; per-device overrides come with the device inventory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnmpConfig {
    /// Protocol version: `1` or `2c`.
    pub version: SnmpVersion,
    /// Community string (a secret: never logged).
    pub community: Secret,
    /// Time to wait for each answer, in milliseconds.
    pub timeout_ms: u64,
    /// Retries after a timeout (so `1` means at most two tries).
    pub retries: u32,
    /// GETBULK max-repetitions when the driver does not say.
    pub max_repetitions: u32,
    /// Most varbinds one walk may return before it is cut off (protects against agents
    /// that loop).
    pub max_walk_varbinds: usize,
    /// UDP sockets per address family that carry every v1/v2c request (answers are matched
    /// by request ID). 0 gives each device a socket of its own. SNMPv3 always uses one
    /// socket per device.
    pub shared_sockets: usize,
    /// Receive buffer asked for each shared socket, in bytes (the kernel caps it at
    /// net.core.rmem_max).
    pub receive_buffer_bytes: usize,
}

impl Default for SnmpConfig {
    fn default() -> Self {
        SnmpConfig {
            version: SnmpVersion::V2c,
            community: Secret::new("public"),
            timeout_ms: 2000,
            retries: 1,
            max_repetitions: 25,
            max_walk_varbinds: 100_000,
            shared_sockets: 2,
            receive_buffer_bytes: 4 << 20,
        }
    }
}

/// SNMP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SnmpVersion {
    /// SNMPv1 (walks use GETNEXT).
    #[serde(rename = "1")]
    V1,
    /// SNMPv2c (walks use GETBULK).
    #[serde(rename = "2c")]
    V2c,
}

/// `[icmp]`: how the host pings (device reachability and Sonar's ICMP monitoring). The
/// semantics are those of `fping -C`: every probe gets a slot, lost probes are counted as
/// loss and never as a latency.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IcmpConfig {
    /// Time to wait for each echo reply, in milliseconds (fping `-t`).
    pub timeout_ms: u64,
    /// Time between two probes to the same address, in milliseconds (fping `-p`).
    pub interval_ms: u64,
    /// Payload bytes per echo request (fping `-b`).
    pub payload_bytes: usize,
    /// Receive buffer asked for the ICMP sockets, so a burst of replies from thousands of
    /// targets is not dropped by the kernel (dropped replies would read as loss).
    pub receive_buffer_bytes: usize,
}

impl Default for IcmpConfig {
    fn default() -> Self {
        IcmpConfig {
            timeout_ms: 2000,
            interval_ms: 500,
            payload_bytes: 56,
            receive_buffer_bytes: 4 << 20,
        }
    }
}

/// `[cli]`: how the host runs the SSH and Telnet sessions drivers script.
///
/// Sessions run on blocking threads (libssh2 and the telnet crate are blocking), at most
/// `max_sessions` at once; a driver's steps are expect-style (send a line, wait for a regex).
/// The host logs in with the named credential set before the driver's first step, so drivers
/// never see passwords.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CliConfig {
    /// CLI sessions open at once across all devices; further requests wait for a slot.
    pub max_sessions: usize,
    /// Time to open the TCP connection (and, for SSH, finish the handshake and log in),
    /// in milliseconds.
    pub connect_timeout_ms: u64,
    /// Time to wait for each login prompt (Telnet `login:` / `Password:`), in milliseconds.
    pub login_timeout_ms: u64,
    /// SSH host keys seen so far, in OpenSSH `known_hosts` format (plain host names only).
    /// A device's first key is recorded (trust on first use, like OpenSSH's
    /// `StrictHostKeyChecking=accept-new`); a different key later refuses the session before
    /// any password is sent. Relative paths are relative to the working directory.
    pub known_hosts: PathBuf,
    /// Skip the host-key check entirely (lab use only).
    pub insecure_accept_any_host_key: bool,
    /// Largest output kept per step, in bytes; a longer answer ends the step with an error.
    pub max_output_bytes: usize,
}

impl Default for CliConfig {
    fn default() -> Self {
        CliConfig {
            max_sessions: 16,
            connect_timeout_ms: 5000,
            login_timeout_ms: 5000,
            known_hosts: PathBuf::from("efi-poller-known-hosts"),
            insecure_accept_any_host_key: false,
            max_output_bytes: 256 << 10,
        }
    }
}

/// `[http]`: how the host runs the HTTP requests plugins ask for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Time for a whole request, in milliseconds, unless the plugin asks for another.
    pub timeout_ms: u64,
    /// Largest response body accepted, in bytes; a longer one is an error.
    pub max_body_bytes: usize,
    /// Whether a plugin may ask to accept self-signed certificates (many CPE web UIs need
    /// it). When false such requests fail. Verification is always on by default.
    pub allow_invalid_certs: bool,
    /// Retries of answers that mean "try later" (429, 502, 503, 504), for requests that
    /// allow them.
    pub max_retries: u32,
    /// First retry delay in milliseconds; doubles each time, capped at 30 s; a `Retry-After`
    /// header wins.
    pub retry_base_ms: u64,
    /// The pace of each rate class (never more than its count in any window), e.g. `[http.rate_limits.sonar] per_minute = 400`.
    pub rate_limits: BTreeMap<String, RateLimit>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout_ms: 15_000,
            max_body_bytes: 32 * 1024 * 1024,
            allow_invalid_certs: true,
            max_retries: 6,
            retry_base_ms: 500,
            rate_limits: BTreeMap::from([(
                "sonar".to_owned(),
                RateLimit {
                    per_minute: 400,
                    burst: None,
                    window_secs: None,
                },
            )]),
        }
    }
}

/// The pace of one rate class: `[http.rate_limits.<class>]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Most requests in any window of `window_secs` (a minute unless set): however the
    /// service counts (a fixed or a rolling minute), it never sees more. Sonar allows 400.
    pub per_minute: u32,
    /// Requests that may go back to back after a quiet period; the rest are spread evenly
    /// (default: a sixth of `per_minute`).
    #[serde(default)]
    pub burst: Option<u32>,
    /// The window `per_minute` counts over, in seconds (default 60). Only for a service
    /// whose window is not a minute.
    #[serde(default)]
    pub window_secs: Option<u64>,
}

/// One credential set. Give one of `basic`, `bearer`/`bearer_file`; `client_cert` and
/// `ca_file` may come with either (or alone, for mutual TLS).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CredentialConfig {
    /// HTTP Basic user name.
    pub username: Option<String>,
    /// HTTP Basic (or SSH/Telnet login) password (a secret).
    pub password: Option<Secret>,
    /// File holding the password instead (trailing whitespace ignored), read when the
    /// configuration is loaded or reloaded; keep it readable by root and the efi-poller
    /// group only.
    pub password_file: Option<PathBuf>,
    /// Bearer token (a secret).
    pub bearer: Option<Secret>,
    /// File holding the bearer token (trailing whitespace ignored).
    pub bearer_file: Option<PathBuf>,
    /// PEM file with a client certificate and its key (mutual TLS, e.g. Magma's
    /// admin_operator.pem + key).
    pub client_cert: Option<PathBuf>,
    /// PEM file of the CA that signed the server's certificate; when set, only it is trusted
    /// for requests with these credentials.
    pub ca_file: Option<PathBuf>,
    /// SSH private key file (OpenSSH or PEM format), tried before `password` for SSH logins.
    pub private_key_file: Option<PathBuf>,
    /// Passphrase of `private_key_file` (a secret).
    pub private_key_passphrase: Option<Secret>,
}

impl Config {
    /// The subnets whose devices are polled: `[poller] subnets`, or else `[arbiter]
    /// managed_subnets`. Entries that do not parse are left out (`config check` names them).
    pub fn polled_subnets(&self) -> Vec<ipnet::IpNet> {
        self.poller
            .subnets
            .as_ref()
            .unwrap_or(&self.arbiter.managed_subnets)
            .iter()
            .filter_map(|s| parse_subnet(s).ok())
            .collect()
    }
}

/// Parses a subnet of the configuration (`10.45.0.0/16`), naming the text on error.
pub fn parse_subnet(text: &str) -> Result<ipnet::IpNet, String> {
    let (address, length) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not CIDR (a.b.c.d/len)"))?;
    let address: std::net::IpAddr = address
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: bad address"))?;
    length
        .trim()
        .parse::<u8>()
        .ok()
        .and_then(|length| ipnet::IpNet::new(address, length).ok())
        .ok_or_else(|| format!("{text:?}: bad prefix length"))
}

/// A secret string (community, token, password): printed as `***` in Debug and logs.
/// Written as `"%d/NAME"` it is the systemd credential NAME, read from
/// `$CREDENTIALS_DIRECTORY` when the configuration is loaded by the service (outside the
/// service it stays as written: `config check` leaves it, `run` refuses it).
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        let text = String::deserialize(d)?;
        let Some(name) = text.strip_prefix("%d/") else {
            return Ok(Secret(text));
        };
        match std::env::var_os("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
            Some(dir) => {
                let path = PathBuf::from(dir).join(name);
                let value = std::fs::read_to_string(&path).map_err(|e| {
                    serde::de::Error::custom(format!(
                        "the systemd credential {name:?}: {}",
                        unreadable(&path, &e)
                    ))
                })?;
                Ok(Secret(value.trim_end().to_owned()))
            }
            None => Ok(Secret(text)),
        }
    }
}

/// Key paths of `config` holding a systemd credential (`%d/...`) that this process cannot
/// read (no `$CREDENTIALS_DIRECTORY`): the service would send the words instead of the
/// secret, or fail to open a file.
pub fn unreachable_credentials(config: &Config) -> Vec<String> {
    fn walk(at: &str, value: &toml::Value, out: &mut Vec<String>) {
        match value {
            toml::Value::String(s) if s.starts_with("%d/") => out.push(at.to_owned()),
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    walk(&path, v, out);
                }
            }
            toml::Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(&format!("{at}[{i}]"), v, out);
                }
            }
            _ => {}
        }
    }
    if std::env::var_os("CREDENTIALS_DIRECTORY").is_some_and(|d| !d.is_empty()) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Ok(value) = toml::Value::try_from(config) {
        walk("", &value, &mut out);
    }
    out
}

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Why `path` could not be read, in words an operator can act on: for a permission error,
/// who may read it in the package's layout and the three ways to be one of them.
pub fn unreadable(path: &Path, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => format!(
            "{}: permission denied. efi-poller's configuration and secrets are readable by root and the `efi-poller` group only; run this as root (sudo), as the service's user (sudo -u efi-poller efi-poller ...), or join the group (sudo adduser $USER efi-poller, then log in again)",
            path.display()
        ),
        std::io::ErrorKind::NotFound => format!("{}: no such file", path.display()),
        _ => format!("{}: {e}", path.display()),
    }
}

/// The file a `*_file` setting names. `%d/NAME` (as systemd writes it in a unit) is the
/// systemd credential NAME: a file in `$CREDENTIALS_DIRECTORY`, which systemd fills from
/// `LoadCredential=` / `LoadCredentialEncrypted=` and only the service can read.
pub fn resolve_path(path: &Path) -> Result<PathBuf, String> {
    let Ok(name) = path.strip_prefix("%d") else {
        return Ok(path.to_path_buf());
    };
    match std::env::var_os("CREDENTIALS_DIRECTORY") {
        Some(dir) if !dir.is_empty() => Ok(PathBuf::from(dir).join(name)),
        _ => Err(format!(
            "{}: names the systemd credential {:?}, but $CREDENTIALS_DIRECTORY is not set: run it as the service (with LoadCredential={}:<file> in its unit), or name the file itself",
            path.display(),
            name.display(),
            name.display()
        )),
    }
}

/// The CA certificates of PEM file `file` (setting `key`, e.g. `store.ca_file`), for
/// rustls, and the file they were read from (`%d/NAME` resolved); the error names the
/// setting, the file and what was wrong, also when it holds no certificate.
pub fn read_ca_roots(key: &str, file: &Path) -> Result<(rustls::RootCertStore, PathBuf), String> {
    use rustls::pki_types::pem::PemObject;
    let path = resolve_path(file)?;
    let named = |e: &dyn fmt::Display| format!("{key} {}: {e}", path.display());
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(&path).map_err(|e| named(&e))? {
        roots
            .add(cert.map_err(|e| named(&e))?)
            .map_err(|e| named(&e))?;
    }
    if roots.is_empty() {
        return Err(named(&"no PEM certificate in it"));
    }
    Ok((roots, path))
}

/// True when `path` names a systemd credential (`%d/NAME`) that cannot be read here: the
/// process is not the service (`$CREDENTIALS_DIRECTORY` unset). `config check` run by hand
/// leaves such files unchecked instead of failing.
pub fn credential_out_of_reach(path: &Path) -> bool {
    path.starts_with("%d") && std::env::var_os("CREDENTIALS_DIRECTORY").is_none_or(|d| d.is_empty())
}

/// Reads a file of the configuration (a secret, a token), naming it and the fix on error;
/// `%d/NAME` reads systemd credential NAME ([`resolve_path`]).
pub fn read_file(path: &Path) -> Result<String, String> {
    let resolved = resolve_path(path)?;
    std::fs::read_to_string(&resolved).map_err(|e| unreadable(&resolved, &e))
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}", unreadable(file, source))]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid, or has an unknown key or a bad value.
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// toml's message: line, column, the offending text and the key.
        message: String,
    },
}

/// What [`Config::examine`] found.
#[derive(Debug)]
pub struct Examined {
    /// The configuration, if the file could be read as one (see [`Config::examine`]).
    pub config: Option<Config>,
    /// Every problem, one `line N: key.path: ...` line each, in file order.
    pub problems: Vec<String>,
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses configuration text; `file` is used in messages.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let examined = Config::examine(text);
        match examined.config {
            Some(config) if examined.problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid {
                file: file.to_path_buf(),
                // One problem per line, each starting with the file, as compilers do.
                message: examined.problems.join(&format!("\n{}: ", file.display())),
            }),
        }
    }

    /// Every problem of configuration text, in file order, as `line N: key.path: what is
    /// wrong` lines: values of the wrong type (each one, not the first), secret files that
    /// cannot be read, and values that parse but cannot work. When only values were wrong,
    /// `config` is the configuration without them (each at its default), so later checks
    /// can still look at the rest.
    pub fn examine(text: &str) -> Examined {
        let (config, mut problems) = match toml::from_str::<Config>(text) {
            Ok(config) => (Some(config), Vec::new()),
            Err(e) => {
                let (lines, repaired) = check::type_problems::<Config>(text, &e);
                let config = repaired.and_then(|r| toml::from_str::<Config>(&r).ok());
                (config, lines)
            }
        };
        let config = config.map(|mut config| {
            let mut found = config.read_secret_files();
            found.extend(check::problems(&config));
            problems.extend(check::describe(text, &found));
            config
        });
        check::sort_by_line(&mut problems);
        Examined { config, problems }
    }

    /// Reads the `password_file` of every credential set into its `password`; each file
    /// that cannot be read, or a set giving both, is a problem naming its key.
    fn read_secret_files(&mut self) -> Vec<check::Problem> {
        let mut problems = Vec::new();
        for (name, set) in &mut self.credentials {
            let Some(path) = &set.password_file else {
                continue;
            };
            let key = format!("credentials.{name}.password_file");
            if set.password.is_some() {
                problems.push(check::Problem::new(
                    key,
                    "give password or password_file, not both",
                ));
                continue;
            }
            if credential_out_of_reach(path) {
                // A systemd credential: read when the service starts, not by hand.
                continue;
            }
            match read_file(path) {
                Ok(text) if !text.trim_end().is_empty() => {
                    set.password = Some(Secret::new(text.trim_end()));
                }
                Ok(_) => problems.push(check::Problem::new(
                    key,
                    format!("{} is empty", path.display()),
                )),
                Err(e) => problems.push(check::Problem::new(key, e)),
            }
        }
        problems
    }

    /// The driver settings for plugin `name` as TOML text (empty when none).
    pub fn driver_settings(&self, name: &str) -> String {
        self.drivers
            .get(name)
            .map(|t| toml::to_string(t).unwrap_or_default())
            .unwrap_or_default()
    }

    /// The init settings for plugin `name` as TOML text (empty when none).
    pub fn plugin_settings(&self, name: &str) -> String {
        self.plugins
            .settings
            .get(name)
            .map(|t| toml::to_string(t).unwrap_or_default())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_polled_subnets_are_the_managed_ones_unless_the_poller_names_its_own() {
        let managed = Config::parse(
            "[arbiter]\nmanaged_subnets = [\"10.45.0.0/16\"]\n",
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(
            managed.polled_subnets(),
            vec!["10.45.0.0/16".parse::<ipnet::IpNet>().unwrap()]
        );
        let own = Config::parse(
            "[arbiter]\nmanaged_subnets = [\"10.45.0.0/16\"]\n[poller]\nsubnets = [\"0.0.0.0/0\", \"::/0\"]\n",
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(own.polled_subnets().len(), 2);
        assert!(own.polled_subnets()[0].contains(&"192.0.2.1".parse::<std::net::IpAddr>().unwrap()));
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let c = Config::parse("", Path::new("c.toml")).unwrap();
        assert_eq!(c.plugins.rescan_secs, 5);
        assert_eq!(c.snmp.version, SnmpVersion::V2c);
        assert_eq!(c.snmp.community.expose(), "public");
    }

    #[test]
    fn unknown_key_names_key_file_and_line() {
        let err = Config::parse(
            "[snmp]\ntimeout_ms = 10\ncomunity = \"x\"\n",
            Path::new("/etc/efi.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/etc/efi.toml"), "{err}");
        assert!(err.contains("comunity"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn bad_value_is_reported() {
        let err = Config::parse("[snmp]\nversion = \"3x\"\n", Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn a_poll_group_that_cannot_work_is_named_with_its_file_line_and_key() {
        let text =
            "[[poller.groups]]\nname = \"towers\"\ninterval_secs = 60\nsubnets = [\"10.45.1.0\"]\n";
        let err = Config::parse(text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.toml"), "{err}");
        assert!(
            err.contains("line 4: poller.groups[0].subnets[0]: group \"towers\""),
            "{err}"
        );
    }

    #[test]
    fn every_value_that_cannot_work_is_reported_with_its_line() {
        let text = "[arbiter]\nmanaged_subnets = [\"10.45.0.0/16\", \"10.46.0.0/33\"]\n\n[store]\nurl = \"postgres://efi:pw@db/efi\"\nschema = \"Efi-Poller\"\n\n[[sources]]\nname = \"raemis\"\nplugin = \"raemis\"\n[sources.webhook]\ncredentials = \"nobody\"\n";
        let err = Config::parse(text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        for expected in [
            "line 2: arbiter.managed_subnets[1]:",
            "line 5: store.url: TLS to the database is verified",
            "line 6: store.schema: \"Efi-Poller\"",
            "line 12: sources[0].webhook.credentials: no credential set named \"nobody\"",
        ] {
            assert!(err.contains(expected), "{expected} not in:\n{err}");
        }
        assert!(!err.contains("pw@"), "{err}");
        assert_eq!(err.lines().count(), 4, "{err}");
        assert!(err.lines().all(|l| l.starts_with("c.toml: line ")), "{err}");
    }

    #[test]
    fn subnets_parse_with_their_text_named_on_error() {
        let net = parse_subnet("10.45.0.0/16").unwrap();
        assert!(net.contains(&"10.45.3.4".parse::<std::net::IpAddr>().unwrap()));
        assert!(!net.contains(&"10.46.0.1".parse::<std::net::IpAddr>().unwrap()));
        let v6 = parse_subnet(" 2001:db8::/32 ").unwrap();
        assert!(v6.contains(&"2001:db8::1".parse::<std::net::IpAddr>().unwrap()));
        assert!(!v6.contains(&"10.45.3.4".parse::<std::net::IpAddr>().unwrap()));
        assert!(parse_subnet("0.0.0.0/0")
            .unwrap()
            .contains(&"192.0.2.1".parse::<std::net::IpAddr>().unwrap()));
        assert_eq!(
            parse_subnet("10.45.1.0").unwrap_err(),
            "\"10.45.1.0\" is not CIDR (a.b.c.d/len)"
        );
        assert_eq!(
            parse_subnet("10.46.0.0/33").unwrap_err(),
            "\"10.46.0.0/33\": bad prefix length"
        );
        assert_eq!(
            parse_subnet("10.46.0/8").unwrap_err(),
            "\"10.46.0/8\": bad address"
        );
    }

    #[test]
    fn an_installed_binary_finds_the_plugins_of_its_prefix() {
        let prefix = tempfile::tempdir().unwrap();
        let bin = prefix.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        assert_eq!(plugins_dir_for(&bin), bin, "no lib/efi-poller/plugins yet");
        let plugins = prefix.path().join("lib/efi-poller/plugins");
        std::fs::create_dir_all(&plugins).unwrap();
        assert_eq!(plugins_dir_for(&bin), plugins);
        let build = prefix.path().join("target/release");
        std::fs::create_dir_all(&build).unwrap();
        assert_eq!(plugins_dir_for(&build), build, "a build tree keeps its own");
    }

    #[test]
    fn a_password_is_read_from_its_file_and_a_bad_one_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("raemis.password");
        std::fs::write(&file, "s3cr3t\n").unwrap();
        let text = format!(
            "[credentials.raemis]\nusername = \"efi\"\npassword_file = {:?}\n",
            file.display().to_string()
        );
        let c = Config::parse(&text, Path::new("c.toml")).unwrap();
        assert_eq!(
            c.credentials["raemis"]
                .password
                .as_ref()
                .map(Secret::expose),
            Some("s3cr3t")
        );
        let missing = dir.path().join("nope");
        let text = format!(
            "[credentials.raemis]\nusername = \"efi\"\npassword_file = {:?}\n",
            missing.display().to_string()
        );
        let err = Config::parse(&text, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 3: credentials.raemis.password_file:")
                && err.contains("no such file"),
            "{err}"
        );
        let both = format!("{text}password = \"x\"\n");
        let err = Config::parse(&both, Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("give password or password_file, not both"),
            "{err}"
        );
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let c = Config::parse("[snmp]\ncommunity = \"s3cr3t\"\n", Path::new("c.toml")).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert_eq!(c.snmp.community.expose(), "s3cr3t");
    }

    #[test]
    fn the_shipped_config_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.toml");
        Config::load(&path).unwrap();
    }
}
