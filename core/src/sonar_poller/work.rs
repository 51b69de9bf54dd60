//! The work document Sonar hands a poller at `/api/poller`, read leniently (PHP writes an
//! empty object as `[]`, numbers sometimes as strings) into one checked job per host.
//!
//! Every host is kept apart by its inventory item ID, even when two share an IP (Sonar's
//! own poller indexes by IP and silently loses one). A host that cannot be polled (no such
//! template, an address that is not an IP, an unknown SNMPv3 protocol) becomes a problem
//! that names the host and the field, and the other hosts go on.

use crate::config::Secret;
use crate::engines::snmp::{AuthProtocol, PrivProtocol, SnmpCredentials, UsmUser};
use efi_plugin_api::Oid;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// sysObjectID, which every SNMP job reads (Sonar matches device mappers on it).
pub const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";

/// The checked work of one cycle.
#[derive(Debug, Default)]
pub struct Work {
    /// One job per host, in inventory ID order.
    pub hosts: Vec<HostJob>,
    /// Hosts that could not be turned into a job, each naming the host and the field.
    pub problems: Vec<String>,
}

/// What to do for one host.
#[derive(Debug, Clone)]
pub struct HostJob {
    /// Inventory item ID (the key of `hosts`, and of `results` in the answer).
    pub id: String,
    /// Address to poll.
    pub ip: IpAddr,
    /// `network_sites` (infrastructure: ARP, addresses and bridge table are read too) or
    /// `accounts`.
    pub kind: String,
    /// Ping it.
    pub icmp: bool,
    /// Poll it over SNMP, and how (shared by the hosts of a template without overrides).
    pub snmp: Option<Arc<SnmpJob>>,
}

impl HostJob {
    /// Infrastructure hosts get the topology walks.
    pub fn is_network_site(&self) -> bool {
        self.kind == "network_sites"
    }
}

/// The SNMP part of a host's job.
#[derive(Debug, Clone)]
pub struct SnmpJob {
    /// Version and secrets.
    pub credentials: SnmpCredentials,
    /// The template's OIDs, sysObjectID first.
    pub oids: Vec<Oid>,
    /// Walk the interface tables.
    pub interfaces: bool,
}

/// Reads `/api/poller`'s answer. Only a document without `data.hosts` is an error; bad
/// hosts become [`Work::problems`].
pub fn parse(document: &Value) -> Result<Work, String> {
    let data = document
        .get("data")
        .ok_or("the work document has no `data` member")?;
    let hosts = object_or_empty(data.get("hosts"), "data.hosts")?;
    let templates = object_or_empty(
        data.get("monitoring_templates"),
        "data.monitoring_templates",
    )?;
    let mut work = Work::default();
    let mut ids: Vec<&String> = hosts.keys().collect();
    ids.sort_by_key(|id| (id.parse::<u64>().unwrap_or(u64::MAX), id.to_string()));
    let mut shared: HashMap<String, Option<Arc<SnmpJob>>> = HashMap::new();
    for id in ids {
        match host_job(id, &hosts[id], &templates, &mut shared) {
            Ok(job) => work.hosts.push(job),
            Err(problem) => work.problems.push(format!("host {id}: {problem}")),
        }
    }
    Ok(work)
}

/// `{...}`, or PHP's `[]` for an empty map.
fn object_or_empty(v: Option<&Value>, what: &str) -> Result<Map<String, Value>, String> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(Value::Array(a)) if a.is_empty() => Ok(Map::new()),
        Some(other) => Err(format!(
            "{what} must be an object, found {}",
            kind_of(other)
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn host_job(
    id: &str,
    host: &Value,
    templates: &Map<String, Value>,
    shared: &mut HashMap<String, Option<Arc<SnmpJob>>>,
) -> Result<HostJob, String> {
    if id.parse::<u64>().is_err() {
        return Err("the key is not an inventory item ID".into());
    }
    let ip_text = host
        .get("ip")
        .and_then(Value::as_str)
        .ok_or("`ip` is missing or not a string")?;
    // Sonar stores addresses as CIDR in places; a host address may come as `a.b.c.d/32`.
    let bare = ip_text.split('/').next().unwrap_or_default().trim();
    let ip: IpAddr = bare
        .parse()
        .map_err(|_| format!("`ip` {ip_text:?} is not an IPv4 or IPv6 address"))?;
    let template_id = match host.get("monitoring_template_id") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => return Err("`monitoring_template_id` is missing".into()),
    };
    let template = templates
        .get(&template_id)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("monitoring template {template_id} is not in the document"))?;
    // Overrides: `[]` when none, else template fields; only truthy values override.
    let overrides = match host.get("snmp_overrides") {
        Some(Value::Object(o)) if o.values().any(truthy) => Some(o),
        _ => None,
    };
    let mut fields = template.clone();
    if let Some(overrides) = overrides {
        for (k, v) in overrides {
            if truthy(v) {
                fields.insert(k.clone(), v.clone());
            }
        }
    }
    let snmp = match (overrides, shared.get(&template_id)) {
        (None, Some(job)) => job.clone(),
        _ => {
            let job = snmp_job(&fields)
                .map_err(|e| format!("template {template_id}: {e}"))?
                .map(Arc::new);
            if overrides.is_none() {
                shared.insert(template_id.clone(), job.clone());
            }
            job
        }
    };
    let kind = host
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("accounts")
        .to_string();
    Ok(HostJob {
        id: id.to_string(),
        ip,
        kind,
        icmp: fields.get("icmp").is_some_and(truthy),
        snmp,
    })
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty() && s != "0",
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn text(fields: &Map<String, Value>, key: &str) -> Option<String> {
    match fields.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn snmp_job(fields: &Map<String, Value>) -> Result<Option<SnmpJob>, String> {
    let version = match fields.get("snmp_version") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.trim_start_matches('v').parse().unwrap_or(0),
        Some(other) => return Err(format!("`snmp_version` is {}", kind_of(other))),
    };
    // The community field carries the v3 user name; without it there is nothing to poll.
    let Some(community) = text(fields, "snmp_community") else {
        return Ok(None);
    };
    let credentials = match version {
        1 => SnmpCredentials::V1(Secret::new(community)),
        2 => SnmpCredentials::V2c(Secret::new(community)),
        3 => SnmpCredentials::V3(usm_user(community, fields)?),
        other => return Err(format!("`snmp_version` {other} is not 1, 2 or 3")),
    };
    let mut oids: Vec<Oid> = vec![SYS_OBJECT_ID.parse().expect("constant OID")];
    match fields.get("oids") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for v in list {
                let s = v
                    .as_str()
                    .ok_or_else(|| format!("`oids` holds {}, not an OID string", kind_of(v)))?;
                let oid: Oid = s
                    .trim()
                    .trim_start_matches('.')
                    .parse()
                    .map_err(|_| format!("`oids` entry {s:?} is not a numeric OID"))?;
                if !oids.contains(&oid) {
                    oids.push(oid);
                }
            }
        }
        Some(other) => return Err(format!("`oids` is {}, not a list", kind_of(other))),
    }
    Ok(Some(SnmpJob {
        credentials,
        oids,
        interfaces: fields
            .get("collect_interface_statistics")
            .is_none_or(truthy),
    }))
}

fn normalized(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn usm_user(user: String, fields: &Map<String, Value>) -> Result<UsmUser, String> {
    let level = text(fields, "snmp3_sec_level").map(|s| normalized(&s));
    let (auth, privacy) = match level.as_deref() {
        None | Some("noauthnopriv") => (false, false),
        Some("authnopriv") => (true, false),
        Some("authpriv") => (true, true),
        Some(_) => {
            return Err(format!(
                "`snmp3_sec_level` {:?} is not noAuthNoPriv, authNoPriv or authPriv",
                text(fields, "snmp3_sec_level").unwrap_or_default()
            ))
        }
    };
    let auth = if auth {
        let name = text(fields, "snmp3_auth_protocol").unwrap_or_else(|| "MD5".into());
        let protocol = AuthProtocol::from_name(&name).ok_or_else(|| {
            format!("`snmp3_auth_protocol` {name:?} is not MD5 or SHA(-224/256/384/512)")
        })?;
        let pass = text(fields, "snmp3_auth_passphrase")
            .ok_or("`snmp3_auth_passphrase` is empty but the level needs authentication")?;
        Some((protocol, Secret::new(pass)))
    } else {
        None
    };
    let privacy = if privacy {
        let name = text(fields, "snmp3_priv_protocol").unwrap_or_else(|| "DES".into());
        let protocol = PrivProtocol::from_name(&name)
            .ok_or_else(|| format!("`snmp3_priv_protocol` {name:?} is not DES or AES(-192/256)"))?;
        let pass = text(fields, "snmp3_priv_passphrase")
            .ok_or("`snmp3_priv_passphrase` is empty but the level needs privacy")?;
        Some((protocol, Secret::new(pass)))
    } else {
        None
    };
    let context_engine_id =
        match text(fields, "snmp3_context_engine_id") {
            None => None,
            Some(hex) => Some(parse_hex(&hex).ok_or_else(|| {
                format!("`snmp3_context_engine_id` {hex:?} is not a hex engine ID")
            })?),
        };
    Ok(UsmUser {
        user,
        auth,
        privacy,
        context_name: text(fields, "snmp3_context_name").unwrap_or_default(),
        context_engine_id,
    })
}

/// `80001f8804...`, `0x80001f88...` or `80:00:1f:...`.
fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let digits: String = s
        .trim()
        .trim_start_matches("0x")
        .trim_start_matches("0X")
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect();
    // Checked before slicing by byte offsets: a non-ASCII character would split (found by
    // the sonar_work fuzz target).
    if digits.is_empty() || digits.len() % 2 != 0 || !digits.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> Value {
        json!({"icmp": true, "collect_interface_statistics": true, "snmp_version": 2,
               "snmp_community": "public", "snmp3_sec_level": null, "snmp3_auth_protocol": null,
               "snmp3_auth_passphrase": null, "snmp3_priv_protocol": null,
               "snmp3_priv_passphrase": null, "snmp3_context_name": null,
               "snmp3_context_engine_id": null, "oids": [".1.3.6.1.2.1.1.5.0"]})
    }

    #[test]
    fn reads_the_documented_example_and_keeps_duplicate_ips_apart() {
        let doc = json!({"data": {
            "hosts": {
                "645": {"ip": "10.0.0.1", "monitoring_template_id": 5, "snmp_overrides": [],
                        "type": "network_sites", "polling_priority": 3},
                "646": {"ip": "10.0.0.1", "monitoring_template_id": "5", "snmp_overrides": [],
                        "type": "accounts", "polling_priority": 1}},
            "monitoring_templates": {"5": template()}}});
        let work = parse(&doc).unwrap();
        assert!(work.problems.is_empty(), "{:?}", work.problems);
        assert_eq!(work.hosts.len(), 2);
        assert_eq!(work.hosts[0].id, "645");
        assert!(work.hosts[0].is_network_site());
        assert!(!work.hosts[1].is_network_site());
        let snmp = work.hosts[0].snmp.as_ref().unwrap();
        assert_eq!(
            snmp.oids.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
            [SYS_OBJECT_ID, "1.3.6.1.2.1.1.5.0"]
        );
        assert!(matches!(snmp.credentials, SnmpCredentials::V2c(_)));
    }

    #[test]
    fn php_empty_arrays_ipv6_and_truthy_overrides() {
        let doc = json!({"data": {"hosts": [], "monitoring_templates": []}});
        assert!(parse(&doc).unwrap().hosts.is_empty());
        let doc = json!({"data": {
            "hosts": {"7": {"ip": "2001:db8::7", "monitoring_template_id": 1,
                            "snmp_overrides": {"snmp_community": "private", "icmp": false,
                                               "snmp_version": null}}},
            "monitoring_templates": {"1": template()}}});
        let work = parse(&doc).unwrap();
        let host = &work.hosts[0];
        assert_eq!(host.ip, "2001:db8::7".parse::<IpAddr>().unwrap());
        // false and null do not override; a non-empty string does.
        assert!(host.icmp);
        match &host.snmp.as_ref().unwrap().credentials {
            SnmpCredentials::V2c(c) => assert_eq!(c.expose(), "private"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn snmpv3_template_keeps_context_and_engine_id() {
        let mut t = template();
        let m = t.as_object_mut().unwrap();
        m.insert("snmp_version".into(), json!(3));
        m.insert("snmp_community".into(), json!("monitor"));
        m.insert("snmp3_sec_level".into(), json!("authPriv"));
        m.insert("snmp3_auth_protocol".into(), json!("SHA"));
        m.insert("snmp3_auth_passphrase".into(), json!("a-pass"));
        m.insert("snmp3_priv_protocol".into(), json!("AES"));
        m.insert("snmp3_priv_passphrase".into(), json!("p-pass"));
        m.insert("snmp3_context_name".into(), json!("vlan10"));
        m.insert("snmp3_context_engine_id".into(), json!("0x80001f8804"));
        let doc = json!({"data": {"hosts": {"1": {"ip": "10.1.1.1", "monitoring_template_id": 9}},
                                  "monitoring_templates": {"9": t}}});
        let work = parse(&doc).unwrap();
        let SnmpCredentials::V3(user) = &work.hosts[0].snmp.as_ref().unwrap().credentials else {
            panic!("not v3")
        };
        assert_eq!(user.user, "monitor");
        assert_eq!(user.auth.as_ref().unwrap().0, AuthProtocol::Sha1);
        assert_eq!(user.privacy.as_ref().unwrap().0, PrivProtocol::Aes128);
        assert_eq!(user.context_name, "vlan10");
        assert_eq!(
            user.context_engine_id.as_deref(),
            Some(&[0x80, 0, 0x1f, 0x88, 4][..])
        );
    }

    #[test]
    fn bad_hosts_are_named_and_the_rest_go_on() {
        let mut bad_v3 = template();
        bad_v3["snmp_version"] = json!(3);
        bad_v3["snmp3_sec_level"] = json!("authPriv");
        bad_v3["snmp3_auth_protocol"] = json!("ROT13");
        bad_v3["snmp3_auth_passphrase"] = json!("x");
        let doc = json!({"data": {
            "hosts": {"1": {"ip": "not-an-ip", "monitoring_template_id": 1},
                      "2": {"ip": "10.0.0.2", "monitoring_template_id": 404},
                      "3": {"ip": "10.0.0.3", "monitoring_template_id": 2},
                      "4": {"ip": "10.0.0.4/32", "monitoring_template_id": 1}},
            "monitoring_templates": {"1": template(), "2": bad_v3}}});
        let work = parse(&doc).unwrap();
        assert_eq!(work.hosts.len(), 1);
        assert_eq!(work.hosts[0].ip, "10.0.0.4".parse::<IpAddr>().unwrap());
        let problems = work.problems.join("\n");
        assert!(
            problems.contains("host 1: `ip` \"not-an-ip\""),
            "{problems}"
        );
        assert!(
            problems.contains("host 2: monitoring template 404"),
            "{problems}"
        );
        assert!(
            problems.contains("host 3: template 2: `snmp3_auth_protocol` \"ROT13\""),
            "{problems}"
        );
        assert!(parse(&json!({"error": "x"})).is_err());
    }

    #[test]
    fn a_non_ascii_engine_id_is_a_named_problem_not_a_panic() {
        let mut t = template();
        t["snmp_version"] = json!(3);
        t["snmp3_context_engine_id"] = json!("0\u{187}000");
        let doc = json!({"data": {"hosts": {"1": {"ip": "10.0.0.1", "monitoring_template_id": 1}},
                                  "monitoring_templates": {"1": t}}});
        let work = parse(&doc).unwrap();
        assert!(work.hosts.is_empty());
        assert!(
            work.problems[0].contains("snmp3_context_engine_id"),
            "{:?}",
            work.problems
        );
        assert_eq!(parse_hex("80:00:1f"), Some(vec![0x80, 0, 0x1f]));
        assert_eq!(parse_hex("8g"), None);
    }

    #[test]
    fn no_version_or_no_community_means_no_snmp() {
        let mut t = template();
        t["snmp_community"] = json!("");
        let doc = json!({"data": {"hosts": {"1": {"ip": "10.0.0.1", "monitoring_template_id": 1}},
                                  "monitoring_templates": {"1": t}}});
        assert!(parse(&doc).unwrap().hosts[0].snmp.is_none());
    }
}
