//! Values that parse but cannot work (a subnet that is not one, a poll group with no
//! interval, a webhook without authentication...), each named by its key path and located
//! by line in the file, so `efi-poller config check` and a start-up both say exactly what to
//! fix and where.

use crate::config::Config;

/// True for a plain SQL identifier (lower-case letters, digits, `_`, not starting with a
/// digit): the only schema names the store accepts, so one never needs quoting.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

/// One value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Its key path: `poller.groups[0].subnets[1]`.
    pub key: String,
    /// Why it cannot work.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Checks the webhooks at start-up: authentication is mandatory unless disabled, and the
/// credential sets named exist (the same checks as `Config::parse`, for a config built in
/// code).
pub fn check_webhooks(config: &Config) -> Result<(), String> {
    let problems: Vec<String> = problems(config)
        .into_iter()
        .filter(|p| p.key.starts_with("sources["))
        .map(|p| format!("{}: {}", p.key, p.message))
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Every problem of `config`, in file order of the sections checked.
pub fn problems(config: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    let t = &config.tr069;
    if t.listen.is_some() && t.acs.as_deref().is_none_or(|a| a.trim().is_empty()) {
        out.push(Problem::new(
            "tr069.acs",
            "the proxy (tr069.listen) needs the real ACS's CWMP address, host:port",
        ));
    }
    if let Some(acs) = t.acs.as_deref().filter(|a| !a.trim().is_empty()) {
        if acs.contains("://")
            || acs
                .rsplit_once(':')
                .is_none_or(|(_, p)| p.parse::<u16>().is_err())
        {
            out.push(Problem::new(
                "tr069.acs",
                format!("{acs:?} is not host:port (no scheme: the proxy forwards bytes, it does not speak TLS)"),
            ));
        }
    }
    if t.max_connections == 0 {
        out.push(Problem::new(
            "tr069.max_connections",
            "must be at least 1 (0 would let no CPE reach its ACS)",
        ));
    }
    let p = &config.poller;
    if !(0.0..=0.5).contains(&p.jitter) {
        out.push(Problem::new(
            "poller.jitter",
            format!("{} is not between 0 and 0.5", p.jitter),
        ));
    }
    if p.interval_secs == 0 {
        out.push(Problem::new("poller.interval_secs", "must be at least 1"));
    }
    for (i, g) in p.groups.iter().enumerate() {
        if g.interval_secs == 0 {
            out.push(Problem::new(
                format!("poller.groups[{i}].interval_secs"),
                format!("group {:?}: must be at least 1", g.name),
            ));
        }
        for (j, s) in g.subnets.iter().enumerate() {
            if let Err(e) = crate::config::parse_subnet(s) {
                out.push(Problem::new(
                    format!("poller.groups[{i}].subnets[{j}]"),
                    format!("group {:?}: {e}", g.name),
                ));
            }
        }
    }
    for (i, s) in config.arbiter.managed_subnets.iter().enumerate() {
        if let Err(e) = crate::config::parse_subnet(s) {
            out.push(Problem::new(format!("arbiter.managed_subnets[{i}]"), e));
        }
    }
    let url = config.store.url.expose();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        // The parser's message may quote the URL, password and all: say only that it failed.
        if url.parse::<tokio_postgres::Config>().is_err() {
            out.push(Problem::new(
                "store.url",
                "is not a valid PostgreSQL URL (postgres://user[:password]@host[:port]/database)",
            ));
        }
        if !is_identifier(&config.store.schema) {
            out.push(Problem::new(
                "store.schema",
                format!(
                    "{:?} is not a plain schema name (lower-case letters, digits, _)",
                    config.store.schema
                ),
            ));
        }
    }
    let c = &config.cluster;
    if c.enabled {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            out.push(Problem::new(
                "cluster.enabled",
                "a cluster shares one PostgreSQL store: set store.url = \"postgres://...\"",
            ));
        }
        if c.heartbeat_ms == 0 || c.lease_ms < 2 * c.heartbeat_ms {
            out.push(Problem::new(
                "cluster.lease_ms",
                format!(
                    "{} must be at least twice heartbeat_ms ({}), which must not be 0",
                    c.lease_ms, c.heartbeat_ms
                ),
            ));
        }
        if c.host_id.as_deref().is_some_and(|h| h.trim().is_empty()) {
            out.push(Problem::new("cluster.host_id", "must not be empty"));
        }
    }
    for (i, s) in config.sources.iter().enumerate() {
        let Some(w) = &s.webhook else { continue };
        let at = format!("sources[{i}].webhook");
        let has_secret = w.secret_header.is_some() && w.secret.is_some();
        if w.credentials.is_none() && !has_secret && !w.insecure_no_auth {
            out.push(Problem::new(
                at.clone(),
                format!("source {:?}: the webhook has no authentication; set credentials, or secret_header and secret, or insecure_no_auth = true for a lab", s.name),
            ));
        }
        if let Some(c) = &w.credentials {
            match config.credentials.get(c) {
                None => out.push(Problem::new(
                    format!("{at}.credentials"),
                    format!("no credential set named {c:?}"),
                )),
                Some(cred) if cred.username.is_none() || cred.password.is_none() => {
                    out.push(Problem::new(
                        format!("{at}.credentials"),
                        format!("credential set {c:?} needs username and password"),
                    ))
                }
                Some(_) => {}
            }
        }
    }
    out
}

/// One step of a key path.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `poller.groups[0].subnets` → poller, groups, 0, subnets.
fn steps(key: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        out.push(Step::Key(name));
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                out.push(Step::Index(i));
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    out
}

/// The 1-based line where `key` is written in `text`; `None` when it is not (a default).
pub fn line_of(text: &str, key: &str) -> Option<usize> {
    use toml::de::{DeArray, DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut span = root.span();
    let mut table = Some(root.get_ref());
    let mut array: Option<&DeArray> = None;
    for step in steps(key) {
        let value = match step {
            Step::Key(k) => {
                let (key, value) = table?.iter().find(|(name, _)| name.get_ref() == k)?;
                span = key.span();
                value
            }
            Step::Index(i) => {
                let value = array?.get(i)?;
                span = value.span();
                value
            }
        };
        (table, array) = match value.get_ref() {
            DeValue::Table(t) => (Some(t), None),
            DeValue::Array(a) => (None, Some(a)),
            _ => (None, None),
        };
    }
    Some(text[..span.start.min(text.len())].matches('\n').count() + 1)
}

/// The problems as lines of an error: `line 4: poller.groups[0].subnets[0]: ...`.
pub fn describe(text: &str, problems: &[Problem]) -> Vec<String> {
    problems
        .iter()
        .map(|p| match line_of(text, &p.key) {
            Some(line) => format!("line {line}: {}: {}", p.key, p.message),
            None => format!("{}: {}", p.key, p.message),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(is_identifier("efi_poller"));
        assert!(is_identifier("_t1"));
        assert!(!is_identifier("Efi"));
        assert!(!is_identifier("efi; DROP TABLE x"));
        assert!(!is_identifier("1abc"));
        assert!(!is_identifier(""));
    }

    #[test]
    fn keys_are_found_by_line_in_tables_arrays_of_tables_and_inline_arrays() {
        let text = "[poller]\ninterval_secs = 0\n\n[[poller.groups]]\nname = \"a\"\n\n[[poller.groups]]\nname = \"b\"\nsubnets = [\n  \"10.0.0.0/8\",\n  \"bad\",\n]\n";
        assert_eq!(line_of(text, "poller.interval_secs"), Some(2));
        assert_eq!(line_of(text, "poller.groups[1].name"), Some(8));
        assert_eq!(line_of(text, "poller.groups[1].subnets"), Some(9));
        assert_eq!(line_of(text, "poller.groups[1].subnets[1]"), Some(11));
        assert_eq!(
            line_of(text, "poller.jitter"),
            None,
            "a default is on no line"
        );
        assert_eq!(line_of(text, "poller.groups[5].name"), None);
    }

    #[test]
    fn the_tr069_proxy_needs_the_acs_as_host_and_port() {
        let parse = |text: &str| {
            Config::parse(text, std::path::Path::new("t.toml")).map_err(|e| e.to_string())
        };
        let missing = parse("[tr069]\nlisten = \"127.0.0.1:7547\"\n").unwrap_err();
        assert!(missing.contains("tr069.acs: the proxy"), "{missing}");
        let url =
            parse("[tr069]\nlisten = \"127.0.0.1:7547\"\nacs = \"http://acs:7547\"\n").unwrap_err();
        assert!(
            url.contains("tr069.acs") && url.contains("not host:port"),
            "{url}"
        );
        assert!(url.contains("line 3"), "located: {url}");
        parse("[tr069]\nlisten = \"127.0.0.1:7547\"\nacs = \"acs.example:7547\"\n").unwrap();
        let none = parse("[tr069]\nmax_connections = 0\n").unwrap_err();
        assert!(none.contains("tr069.max_connections"), "{none}");
        parse("[tr069]\nacs = \"[fd00::1]:7547\"\n").unwrap();
    }
}
