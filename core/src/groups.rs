//! `[[poller.groups]]` parsed: which group a device is in (by subnet, driver and model, first
//! match wins) and what that group sets for its devices: the poll interval and the
//! credentials (SNMP identities, web and CLI credential sets).
//!
//! One matcher for the scheduler (intervals) and the engines (credentials), so a device is
//! never in one group for its interval and in another for its credentials.

use crate::config::{PollerConfig, SnmpLogin};
use ipnet::IpNet;
use std::net::IpAddr;
use std::time::Duration;

/// One `[[poller.groups]]` entry, parsed.
#[derive(Debug, Clone)]
pub struct Group {
    /// Its name (logs, `/metrics`).
    pub name: String,
    /// Time between two polls of its devices.
    pub interval: Duration,
    subnets: Vec<IpNet>,
    drivers: Vec<String>,
    /// Lower-cased.
    models: Vec<String>,
    /// SNMP identities, in the order they are tried.
    pub snmp: Vec<SnmpLogin>,
    /// The credential set for its devices' web UIs, in place of the driver's.
    pub web_credentials: Option<String>,
    /// The credential set for its devices' SSH/Telnet logins, in place of the driver's.
    pub cli_credentials: Option<String>,
}

impl Group {
    /// True when the device's address is in the group's subnets (or it names none).
    pub fn holds_address(&self, address: IpAddr) -> bool {
        self.subnets.is_empty() || self.subnets.iter().any(|n| n.contains(&address))
    }

    /// True when the device meets every condition of the group. A driver or model not
    /// known yet meets no condition on it.
    pub fn holds(&self, address: IpAddr, driver: Option<&str>, model: Option<&str>) -> bool {
        self.holds_address(address)
            && (self.drivers.is_empty()
                || driver.is_some_and(|d| self.drivers.iter().any(|x| x == d)))
            && (self.models.is_empty()
                || model.is_some_and(|m| self.models.contains(&m.to_lowercase())))
    }
}

/// Every group, in file order.
#[derive(Debug, Clone, Default)]
pub struct Groups {
    groups: Vec<Group>,
    default_interval: Duration,
}

impl Groups {
    /// The groups of `[poller]`; a bad one names itself and its key.
    pub fn from_config(poller: &PollerConfig) -> Result<Groups, String> {
        let groups = poller
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let at = format!("poller.groups[{i}] ({:?})", g.name);
                let interval = g.interval_secs.unwrap_or(poller.interval_secs);
                if interval == 0 {
                    return Err(format!("{at}: interval_secs must be at least 1"));
                }
                let subnets = g
                    .subnets
                    .iter()
                    .map(|s| {
                        crate::config::parse_subnet(s).map_err(|e| format!("{at}: subnets: {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Group {
                    name: g.name.clone(),
                    interval: Duration::from_secs(interval),
                    subnets,
                    drivers: g.drivers.clone(),
                    models: g.models.iter().map(|m| m.to_lowercase()).collect(),
                    snmp: g.snmp.clone(),
                    web_credentials: g.web_credentials.clone(),
                    cli_credentials: g.cli_credentials.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Groups {
            groups,
            default_interval: Duration::from_secs(poller.interval_secs),
        })
    }

    /// The group of a device: the first whose every condition it meets.
    pub fn of(&self, address: IpAddr, driver: Option<&str>, model: Option<&str>) -> Option<&Group> {
        self.groups.iter().find(|g| g.holds(address, driver, model))
    }

    /// The groups a device whose driver and model are not known yet may turn out to be in:
    /// every group whose subnets hold its address, in file order.
    pub fn possible(&self, address: IpAddr) -> impl Iterator<Item = &Group> {
        self.groups.iter().filter(move |g| g.holds_address(address))
    }

    /// The group name (`"default"` for none) and poll interval of a device.
    pub fn interval_for(
        &self,
        address: IpAddr,
        driver: Option<&str>,
        model: Option<&str>,
    ) -> (&str, Duration) {
        self.of(address, driver, model)
            .map_or(("default", self.default_interval), |g| {
                (g.name.as_str(), g.interval)
            })
    }

    /// True when no group is configured.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PollGroupConfig;

    fn group(name: &str, subnets: &[&str], drivers: &[&str], models: &[&str]) -> PollGroupConfig {
        PollGroupConfig {
            name: name.into(),
            interval_secs: Some(30),
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            drivers: drivers.iter().map(|s| s.to_string()).collect(),
            models: models.iter().map(|s| s.to_string()).collect(),
            snmp: Vec::new(),
            web_credentials: None,
            cli_credentials: None,
        }
    }

    #[test]
    fn a_device_is_in_the_first_group_whose_every_condition_it_meets() {
        let poller = PollerConfig {
            interval_secs: 300,
            groups: vec![
                group("telrad-7", &["10.45.7.0/24"], &["telrad-cpe"], &[]),
                group("odu", &[], &[], &["Atom OD06"]),
                group("tower-7", &["10.45.7.0/24"], &[], &[]),
            ],
            ..PollerConfig::default()
        };
        let groups = Groups::from_config(&poller).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let name = |a, d, m| groups.of(ip(a), d, m).map(|g| g.name.as_str());
        assert_eq!(
            name("10.45.7.9", Some("telrad-cpe"), None),
            Some("telrad-7")
        );
        assert_eq!(
            name("10.45.7.9", Some("bec-ridgewave"), None),
            Some("tower-7")
        );
        assert_eq!(
            name("10.45.7.9", None, None),
            Some("tower-7"),
            "driver not known yet"
        );
        assert_eq!(
            name("10.45.8.9", None, Some("ATOM od06")),
            Some("odu"),
            "model without case"
        );
        assert_eq!(name("10.45.8.9", None, None), None);
        assert_eq!(
            groups.interval_for(ip("10.45.8.9"), None, None),
            ("default", Duration::from_secs(300))
        );
        let possible: Vec<&str> = groups
            .possible(ip("10.45.7.9"))
            .map(|g| g.name.as_str())
            .collect();
        assert_eq!(possible, ["telrad-7", "odu", "tower-7"]);
    }

    #[test]
    fn a_group_without_an_interval_gets_the_pollers_and_bad_subnets_are_named() {
        let mut g = group("creds-only", &["10.1.0.0/16"], &[], &[]);
        g.interval_secs = None;
        let poller = PollerConfig {
            interval_secs: 120,
            groups: vec![g],
            ..PollerConfig::default()
        };
        let groups = Groups::from_config(&poller).unwrap();
        assert_eq!(
            groups
                .interval_for("10.1.2.3".parse().unwrap(), None, None)
                .1,
            Duration::from_secs(120)
        );
        let bad = PollerConfig {
            groups: vec![group("b", &["10.300.0.0/16"], &[], &[])],
            ..PollerConfig::default()
        };
        let e = Groups::from_config(&bad).unwrap_err();
        assert!(
            e.contains("poller.groups[0] (\"b\")") && e.contains("subnets"),
            "{e}"
        );
    }
}
