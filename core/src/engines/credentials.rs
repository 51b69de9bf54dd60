//! Which credentials each device is polled with: the SNMP identities of its group (tried in
//! order, the one that answered remembered per device), and its group's web and CLI
//! credential sets in place of the ones its driver names.
//!
//! Drivers never see a secret: they name a credential set or make an SNMP request, and the
//! engines fill in what this module says for the device.

use super::snmp::{AuthProtocol, PrivProtocol, SnmpCredentials, UsmUser};
use crate::config::{Config, Secret, SnmpConfig, SnmpLogin, SnmpLoginVersion, SnmpVersion};
use crate::groups::Groups;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;

/// What this module knows of one device.
#[derive(Debug, Clone, Default)]
struct Known {
    driver: Option<String>,
    model: Option<String>,
    /// The SNMP identity that answered last.
    answered: Option<SnmpCredentials>,
    /// Identities given for this device alone (`efi-poller poll --community ...`).
    pinned: Option<Vec<SnmpCredentials>>,
    /// SNMP requests in a row that no identity answered.
    silent_requests: u32,
    /// Until when SNMP is not asked (a device that answers over TR-069 but never SNMP).
    silent_until: Option<std::time::Instant>,
}

/// SNMP requests in a row no identity answered before a device that has TR-069 data is
/// treated as one without SNMP.
pub const SILENT_AFTER: u32 = 3;

/// The credentials of every device.
#[derive(Debug, Default)]
pub struct DeviceCredentials {
    groups: Groups,
    /// Each group's SNMP identities, converted (same order as the groups).
    snmp_of_group: HashMap<String, Vec<SnmpCredentials>>,
    default_snmp: Option<SnmpCredentials>,
    devices: Mutex<HashMap<IpAddr, Known>>,
}

impl DeviceCredentials {
    /// The credentials of `config`'s groups. An identity that cannot be used (checked
    /// before start by `config check` and `run`) is left out, logged.
    pub fn new(config: &Config) -> DeviceCredentials {
        let groups = Groups::from_config(&config.poller).unwrap_or_default();
        let mut snmp_of_group = HashMap::new();
        for (i, g) in config.poller.groups.iter().enumerate() {
            let logins = g
                .snmp
                .iter()
                .enumerate()
                .filter_map(|(j, login)| match snmp_credentials(login) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        tracing::error!("poller.groups[{i}].snmp[{j}]: {e}; not used");
                        None
                    }
                })
                .collect();
            snmp_of_group.entry(g.name.clone()).or_insert(logins);
        }
        DeviceCredentials {
            groups,
            snmp_of_group,
            default_snmp: Some(default_snmp(&config.snmp)),
            devices: Mutex::new(HashMap::new()),
        }
    }

    /// The SNMP identities to try for `address`, in order: the one that answered last,
    /// then those of its group (or, before it is identified, of every group whose subnets
    /// hold it, then `[snmp]`'s); `[snmp]`'s alone when no group gives any.
    pub fn snmp_for(&self, address: IpAddr) -> Vec<SnmpCredentials> {
        let known = self
            .devices
            .lock()
            .get(&address)
            .cloned()
            .unwrap_or_default();
        if let Some(pinned) = known.pinned {
            return pinned;
        }
        let from_group = |name: &str| self.snmp_of_group.get(name).cloned().unwrap_or_default();
        let mut list: Vec<SnmpCredentials> = if known.driver.is_some() {
            self.groups
                .of(address, known.driver.as_deref(), known.model.as_deref())
                .map(|g| from_group(&g.name))
                .unwrap_or_default()
        } else {
            let mut all: Vec<SnmpCredentials> = Vec::new();
            for g in self.groups.possible(address) {
                for c in from_group(&g.name) {
                    if !all.contains(&c) {
                        all.push(c);
                    }
                }
            }
            // A device that turns out to be in no group (or in one without identities)
            // answers the default.
            let settled = self
                .groups
                .of(address, None, None)
                .is_some_and(|g| !from_group(&g.name).is_empty());
            if !all.is_empty() && !settled {
                all.extend(self.default_snmp.clone());
            }
            all
        };
        if list.is_empty() {
            list.extend(self.default_snmp.clone());
        }
        if let Some(answered) = known.answered.filter(|a| list.contains(a)) {
            list.retain(|c| *c != answered);
            list.insert(0, answered);
        }
        list
    }

    /// `credentials` answered for `address`: tried first next time.
    pub fn answered(&self, address: IpAddr, credentials: &SnmpCredentials) {
        let mut devices = self.devices.lock();
        let known = devices.entry(address).or_default();
        if known.answered.as_ref() != Some(credentials) {
            known.answered = Some(credentials.clone());
        }
        if known.silent_until.take().is_some() {
            tracing::info!(%address, "the device answers SNMP again");
        }
        known.silent_requests = 0;
    }

    /// No identity answered for `address`: start from the top of the list next time. With
    /// `may_silence` (the device answers another way, TR-069) and [`SILENT_AFTER`] such
    /// requests in a row, SNMP is not asked again for `recheck`; true when that starts now.
    pub fn none_answered(
        &self,
        address: IpAddr,
        may_silence: bool,
        recheck: std::time::Duration,
    ) -> bool {
        let mut devices = self.devices.lock();
        let known = devices.entry(address).or_default();
        known.answered = None;
        known.silent_requests = known.silent_requests.saturating_add(1);
        if may_silence && known.silent_requests >= SILENT_AFTER && !recheck.is_zero() {
            known.silent_until = Some(std::time::Instant::now() + recheck);
            return true;
        }
        false
    }

    /// How long SNMP stays unasked for `address`, when it is silenced.
    pub fn snmp_silenced(&self, address: IpAddr) -> Option<std::time::Duration> {
        let devices = self.devices.lock();
        let until = devices.get(&address)?.silent_until?;
        until.checked_duration_since(std::time::Instant::now())
    }

    /// The driver that recognised `address` and the model it reported: its group is known
    /// from now on.
    pub fn identified(&self, address: IpAddr, driver: &str, model: Option<&str>) {
        let mut devices = self.devices.lock();
        let known = devices.entry(address).or_default();
        known.driver = Some(driver.to_owned());
        known.model = model.map(str::to_owned);
    }

    /// Polls `address` with these identities only (`efi-poller poll --community ...`).
    pub fn pin_snmp(&self, address: IpAddr, credentials: Vec<SnmpCredentials>) {
        self.devices.lock().entry(address).or_default().pinned = Some(credentials);
    }

    /// Forgets `address` (it left the fleet).
    pub fn forget(&self, address: IpAddr) {
        self.devices.lock().remove(&address);
    }

    /// The credential set for `address`'s web UI in place of `named` (the driver's).
    pub fn web_set(&self, address: IpAddr) -> Option<String> {
        self.group_of(address)
            .and_then(|g| g.web_credentials.clone())
    }

    /// The credential set for `address`'s SSH/Telnet login in place of the driver's.
    pub fn cli_set(&self, address: IpAddr) -> Option<String> {
        self.group_of(address)
            .and_then(|g| g.cli_credentials.clone())
    }

    fn group_of(&self, address: IpAddr) -> Option<&crate::groups::Group> {
        // Asked on every web and CLI request: read the device's driver and model in place
        // rather than cloning what is known of it.
        let devices = self.devices.lock();
        let known = devices.get(&address);
        self.groups.of(
            address,
            known.and_then(|k| k.driver.as_deref()),
            known.and_then(|k| k.model.as_deref()),
        )
    }
}

/// `[snmp]`'s community and version.
pub fn default_snmp(snmp: &SnmpConfig) -> SnmpCredentials {
    match snmp.version {
        SnmpVersion::V1 => SnmpCredentials::V1(snmp.community.clone()),
        SnmpVersion::V2c => SnmpCredentials::V2c(snmp.community.clone()),
    }
}

/// An identity of `[[poller.groups.snmp]]` as the engine speaks it; the error says which
/// key is missing or wrong.
pub fn snmp_credentials(login: &SnmpLogin) -> Result<SnmpCredentials, String> {
    let v3_only = [
        ("user", login.user.is_some()),
        ("auth_protocol", login.auth_protocol.is_some()),
        ("auth_passphrase", login.auth_passphrase.is_some()),
        ("privacy_protocol", login.privacy_protocol.is_some()),
        ("privacy_passphrase", login.privacy_passphrase.is_some()),
        ("context", login.context.is_some()),
    ];
    let community = || {
        if let Some((key, _)) = v3_only.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{key} is for version \"3\"; this identity is v1/v2c"
            ));
        }
        login
            .community
            .clone()
            .filter(|c| !c.expose().is_empty())
            .ok_or_else(|| "community is required for versions \"1\" and \"2c\"".to_owned())
    };
    match login.version {
        SnmpLoginVersion::V1 => Ok(SnmpCredentials::V1(community()?)),
        SnmpLoginVersion::V2c => Ok(SnmpCredentials::V2c(community()?)),
        SnmpLoginVersion::V3 => usm_user(login).map(SnmpCredentials::V3),
    }
}

fn usm_user(login: &SnmpLogin) -> Result<UsmUser, String> {
    if login.community.is_some() {
        return Err("community is for versions \"1\" and \"2c\"; v3 uses user".into());
    }
    let user = login
        .user
        .clone()
        .filter(|u| !u.is_empty())
        .ok_or("user is required for version \"3\"")?;
    let passphrase = |key: &str, given: &Option<Secret>| -> Result<Option<Secret>, String> {
        match given {
            Some(p) if p.expose().chars().count() < 8 => Err(format!(
                "{key} is shorter than 8 characters, which SNMPv3 agents refuse (RFC 3414)"
            )),
            other => Ok(other.clone()),
        }
    };
    let auth = match (
        &login.auth_protocol,
        passphrase("auth_passphrase", &login.auth_passphrase)?,
    ) {
        (Some(name), Some(pass)) => Some((
            AuthProtocol::from_name(name).ok_or_else(|| {
                format!(
                    "auth_protocol {name:?} is not MD5, SHA, SHA-224, SHA-256, SHA-384 or SHA-512"
                )
            })?,
            pass,
        )),
        (None, Some(_)) => return Err("auth_passphrase needs auth_protocol".into()),
        (Some(_), None) => return Err("auth_protocol needs auth_passphrase".into()),
        (None, None) => None,
    };
    let privacy = match (
        &login.privacy_protocol,
        passphrase("privacy_passphrase", &login.privacy_passphrase)?,
    ) {
        (_, Some(_)) | (Some(_), _) if auth.is_none() => {
            return Err("privacy needs authentication (auth_protocol and auth_passphrase)".into())
        }
        (Some(name), Some(pass)) => Some((
            PrivProtocol::from_name(name).ok_or_else(|| {
                format!("privacy_protocol {name:?} is not DES, AES, AES-192 or AES-256")
            })?,
            pass,
        )),
        (None, Some(_)) => return Err("privacy_passphrase needs privacy_protocol".into()),
        (Some(_), None) => return Err("privacy_protocol needs privacy_passphrase".into()),
        (None, None) => None,
    };
    Ok(UsmUser {
        user,
        auth,
        privacy,
        context_name: login.context.clone().unwrap_or_default(),
        context_engine_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PollGroupConfig;

    fn v2c(c: &str) -> SnmpLogin {
        SnmpLogin {
            community: Some(Secret::new(c)),
            ..SnmpLogin::default()
        }
    }

    fn community(c: &SnmpCredentials) -> String {
        match c {
            SnmpCredentials::V1(s) | SnmpCredentials::V2c(s) => s.expose().to_owned(),
            SnmpCredentials::V3(u) => format!("v3:{}", u.user),
        }
    }

    fn config() -> Config {
        let mut config = Config::default();
        config.snmp.community = Secret::new("public");
        let group = |name: &str, subnets: &[&str], drivers: &[&str], snmp: Vec<SnmpLogin>| {
            PollGroupConfig {
                name: name.into(),
                interval_secs: None,
                subnets: subnets.iter().map(|s| s.to_string()).collect(),
                drivers: drivers.iter().map(|s| s.to_string()).collect(),
                models: vec![],
                snmp,
                web_credentials: Some(format!("{name}-web")),
                cli_credentials: None,
            }
        };
        config.poller.groups = vec![
            group(
                "telrad-7",
                &["127.0.7.0/24"],
                &["telrad-cpe"],
                vec![v2c("telrad")],
            ),
            group(
                "tower-7",
                &["127.0.7.0/24"],
                &[],
                vec![v2c("t7-a"), v2c("t7-b")],
            ),
        ];
        config
    }

    #[test]
    fn snmp_is_silenced_only_for_a_device_that_answers_another_way() {
        use std::time::Duration;
        let creds = DeviceCredentials::new(&config());
        let (tr069, snmp_only): (IpAddr, IpAddr) =
            ("127.0.7.1".parse().unwrap(), "127.0.7.2".parse().unwrap());
        let recheck = Duration::from_secs(600);
        for n in 1..=SILENT_AFTER {
            assert_eq!(creds.none_answered(tr069, true, recheck), n == SILENT_AFTER);
            assert!(!creds.none_answered(snmp_only, false, recheck));
        }
        assert!(creds.snmp_silenced(tr069).is_some_and(|d| d <= recheck));
        assert_eq!(
            creds.snmp_silenced(snmp_only),
            None,
            "an SNMP device keeps being asked"
        );
        // An answer (after the recheck) lifts it and starts the count again.
        creds.answered(tr069, &SnmpCredentials::V2c(Secret::new("t7-a")));
        assert_eq!(creds.snmp_silenced(tr069), None);
        assert!(!creds.none_answered(tr069, true, recheck));
        // One answer between misses resets the count.
        assert!(!creds.none_answered(tr069, true, recheck));
        creds.answered(tr069, &SnmpCredentials::V2c(Secret::new("t7-a")));
        assert!(!creds.none_answered(tr069, true, recheck));
    }

    #[test]
    fn identities_come_from_the_group_the_answer_first_and_the_default_last() {
        let creds = DeviceCredentials::new(&config());
        let a: IpAddr = "127.0.7.9".parse().unwrap();
        let names = |c: &DeviceCredentials| c.snmp_for(a).iter().map(community).collect::<Vec<_>>();
        // Not identified: every group the subnets allow; tower-7 holds it whatever its
        // driver, so the default is not needed.
        assert_eq!(names(&creds), ["telrad", "t7-a", "t7-b"]);
        creds.answered(a, &SnmpCredentials::V2c(Secret::new("t7-b")));
        assert_eq!(names(&creds), ["t7-b", "telrad", "t7-a"]);
        creds.identified(a, "bec-ridgewave", None);
        assert_eq!(names(&creds), ["t7-b", "t7-a"], "now only its group's");
        assert_eq!(creds.web_set(a).as_deref(), Some("tower-7-web"));
        assert!(!creds.none_answered(a, false, std::time::Duration::from_secs(60)));
        assert_eq!(names(&creds), ["t7-a", "t7-b"]);
        creds.identified(a, "telrad-cpe", None);
        assert_eq!(names(&creds), ["telrad"]);
        assert_eq!(creds.web_set(a).as_deref(), Some("telrad-7-web"));
        let elsewhere: IpAddr = "127.0.8.1".parse().unwrap();
        assert_eq!(
            creds
                .snmp_for(elsewhere)
                .iter()
                .map(community)
                .collect::<Vec<_>>(),
            ["public"]
        );
        assert_eq!(creds.web_set(elsewhere), None);
        creds.pin_snmp(elsewhere, vec![SnmpCredentials::V1(Secret::new("given"))]);
        assert_eq!(
            creds
                .snmp_for(elsewhere)
                .iter()
                .map(community)
                .collect::<Vec<_>>(),
            ["given"]
        );
    }

    #[test]
    fn an_identity_that_cannot_work_says_which_key() {
        let v3 = |f: &dyn Fn(&mut SnmpLogin)| {
            let mut l = SnmpLogin {
                version: SnmpLoginVersion::V3,
                user: Some("efi".into()),
                auth_protocol: Some("SHA-256".into()),
                auth_passphrase: Some(Secret::new("authpass1")),
                privacy_protocol: Some("aes".into()),
                privacy_passphrase: Some(Secret::new("privpass1")),
                ..SnmpLogin::default()
            };
            f(&mut l);
            snmp_credentials(&l)
        };
        let Ok(SnmpCredentials::V3(user)) = v3(&|_| {}) else {
            panic!()
        };
        assert_eq!(user.auth.as_ref().unwrap().0, AuthProtocol::Sha256);
        assert_eq!(user.privacy.as_ref().unwrap().0, PrivProtocol::Aes128);
        for (change, says) in [
            (
                &(|l: &mut SnmpLogin| l.user = None) as &dyn Fn(&mut SnmpLogin),
                "user is required",
            ),
            (
                &|l: &mut SnmpLogin| l.auth_protocol = Some("sha3".into()),
                "auth_protocol \"sha3\"",
            ),
            (
                &|l: &mut SnmpLogin| l.auth_passphrase = Some(Secret::new("short")),
                "shorter than 8",
            ),
            (
                &|l: &mut SnmpLogin| {
                    l.auth_protocol = None;
                    l.auth_passphrase = None
                },
                "privacy needs authentication",
            ),
            (
                &|l: &mut SnmpLogin| l.privacy_passphrase = None,
                "privacy_protocol needs privacy_passphrase",
            ),
            (
                &|l: &mut SnmpLogin| l.community = Some(Secret::new("x")),
                "community is for versions",
            ),
        ] {
            let e = v3(change).unwrap_err();
            assert!(e.contains(says), "{e} lacks {says}");
        }
        assert!(snmp_credentials(&SnmpLogin::default())
            .unwrap_err()
            .contains("community is required"));
        let e = snmp_credentials(&SnmpLogin {
            user: Some("u".into()),
            ..v2c("c")
        })
        .unwrap_err();
        assert!(e.contains("user is for version \"3\""), "{e}");
    }
}
