//! The `config.toml` the demo runs efi-poller with: an ordinary operator's configuration
//! (Raemis source with an authenticated webhook, Sonar sink, managed subnet, poller, TR-069
//! proxy, store), pointed at the lab. The Sonar token is in a file of its own, as the README
//! recommends; the printed copy shows every secret as `***`.

use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// What the generated configuration needs to know of the lab.
pub struct Settings {
    /// `[plugins] dir`.
    pub plugins_dir: PathBuf,
    /// Where the file, the token file and efi-poller's store go.
    pub state_dir: PathBuf,
    /// `[server] listen`.
    pub listen: SocketAddr,
    /// `[tr069] listen`: the address the TR-069 CPEs take for their ACS.
    pub tr069_listen: SocketAddr,
    /// The ACS the proxy forwards to; `None` when the demo has no TR-069 CPEs.
    pub acs: Option<SocketAddr>,
    /// The simulated Raemis.
    pub raemis_url: String,
    /// The simulated Sonar.
    pub sonar_url: String,
    /// The port every SNMP CPE answers on.
    pub snmp_port: u16,
    /// The CPEs' SNMP community.
    pub community: String,
    /// The shared secret Raemis sends in `x-efi-secret`.
    pub webhook_secret: String,
    /// Poll interval; full pulls come every third.
    pub interval_secs: u64,
    /// `[log] level`.
    pub log_level: String,
    /// `[server] api_token_file`.
    pub api_token_file: Option<PathBuf>,
}

/// The simulated Raemis' login (`lab/README.md`).
const RAEMIS_USER: &str = "raemis";
const RAEMIS_PASSWORD: &str = "raemis-lab";
/// The simulated Sonar's token.
const SONAR_TOKEN: &str = "lab-token";

fn quoted(path: &Path) -> String {
    toml_string(&path.display().to_string())
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

impl Settings {
    fn sonar_token_file(&self) -> PathBuf {
        self.state_dir.join("sonar.token")
    }

    /// The configuration text; with `masked`, every secret reads `***`.
    pub fn render(&self, masked: bool) -> String {
        let secret = |s: &str| toml_string(if masked { "***" } else { s });
        let tr069 = match self.acs {
            Some(acs) => format!(
                "\n[tr069]\n# CPEs inform their ACS through this proxy; what they say feeds the drivers.\nlisten = \"{}\"\nacs = \"{acs}\"\n",
                self.tr069_listen
            ),
            None => String::new(),
        };
        let token = match &self.api_token_file {
            Some(f) => format!("api_token_file = {}\n", quoted(f)),
            None => String::new(),
        };
        format!(
            r#"# Written by `efi-lab demo`: an operator's configuration, pointed at the lab.

[log]
level = {log_level}

[plugins]
dir = {plugins_dir}

[snmp]
community = {community}

[credentials.lab-raemis]
username = "{RAEMIS_USER}"
password = {raemis_password}

[credentials.lab-sonar]
bearer_file = {token_file}

[[sources]]
name = "raemis"
plugin = "raemis"
settings = {{ url = {raemis_url}, credentials = "lab-raemis" }}

[sources.webhook]
# Raemis pushes attach/detach events here with this shared secret.
secret_header = "x-efi-secret"
secret = {webhook_secret}
allow_from = ["127.0.0.1"]

[sink]
plugin = "sonar"
settings = {{ url = {sonar_url}, credentials = "lab-sonar", default_model = "RidgeWave 6900" }}

[arbiter]
managed_subnets = ["127.10.0.0/16"]
interval_secs = {full_pull_secs}

[poller]
interval_secs = {interval}
snmp_port = {snmp_port}

[server]
listen = "{listen}"
{token}
[store]
url = {store}
{tr069}"#,
            log_level = toml_string(&self.log_level),
            plugins_dir = quoted(&self.plugins_dir),
            community = secret(&self.community),
            raemis_password = secret(RAEMIS_PASSWORD),
            token_file = quoted(&self.sonar_token_file()),
            raemis_url = toml_string(&self.raemis_url),
            webhook_secret = secret(&self.webhook_secret),
            sonar_url = toml_string(&self.sonar_url),
            full_pull_secs = self.interval_secs * 3,
            interval = self.interval_secs,
            snmp_port = self.snmp_port,
            listen = self.listen,
            store = quoted(&self.state_dir.join("efi-poller-state.db")),
        )
    }

    /// Writes the Sonar token file and the configuration (both readable by their owner
    /// only); returns the configuration's path.
    pub fn write(&self) -> anyhow::Result<PathBuf> {
        let token = self.sonar_token_file();
        write_private(&token, SONAR_TOKEN)?;
        let file = self.state_dir.join("config.toml");
        write_private(&file, &self.render(false))?;
        Ok(file)
    }
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            plugins_dir: "/opt/efi/plugins".into(),
            state_dir: "/tmp/demo".into(),
            listen: "127.0.0.1:9630".parse().unwrap(),
            tr069_listen: "127.0.0.1:7547".parse().unwrap(),
            acs: Some("127.0.0.1:7548".parse().unwrap()),
            raemis_url: "http://127.0.0.1:1".into(),
            sonar_url: "http://127.0.0.1:2".into(),
            snmp_port: 1161,
            community: "c0mm".into(),
            webhook_secret: "w3bh00k".into(),
            interval_secs: 10,
            log_level: "warn".into(),
            api_token_file: None,
        }
    }

    #[test]
    fn the_printed_copy_hides_every_secret_the_file_holds() {
        let s = settings();
        let file = s.render(false);
        let shown = s.render(true);
        for secret in ["c0mm", "w3bh00k", RAEMIS_PASSWORD] {
            assert!(file.contains(secret), "{secret} missing from the file");
            assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        }
        assert!(
            !file.contains(SONAR_TOKEN),
            "the token lives in its own file"
        );
    }

    #[test]
    fn it_is_toml_with_the_lab_in_it() {
        let text = settings().render(false);
        let value: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(value["poller"]["snmp_port"].as_integer(), Some(1161));
        assert_eq!(value["arbiter"]["interval_secs"].as_integer(), Some(30));
        assert_eq!(value["tr069"]["acs"].as_str(), Some("127.0.0.1:7548"));
        let mut no_acs = settings();
        no_acs.acs = None;
        let text = no_acs.render(false);
        assert!(!text.parse::<toml::Table>().unwrap().contains_key("tr069"));
    }
}
