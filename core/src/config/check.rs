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
        if g.interval_secs == Some(0) {
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
    for (i, s) in p.subnets.iter().flatten().enumerate() {
        if let Err(e) = crate::config::parse_subnet(s) {
            out.push(Problem::new(format!("poller.subnets[{i}]"), e));
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
        match url.parse::<tokio_postgres::Config>() {
            Err(_) => out.push(Problem::new(
                "store.url",
                "is not a valid PostgreSQL URL (postgres://user[:password]@host[:port]/database)",
            )),
            Ok(pg) => {
                use crate::config::PgSslMode;
                let mode = PgSslMode::effective(&pg, config.store.sslmode);
                if matches!(mode, PgSslMode::VerifyCa | PgSslMode::VerifyFull)
                    && config.store.ca_file.is_none()
                {
                    out.push(Problem::new(
                        if config.store.sslmode.is_some() { "store.sslmode" } else { "store.url" },
                        "TLS to the database is verified (the default for a host on the network) and needs store.ca_file, the CA that signed the server's certificate; or set sslmode = \"require\" (encrypted, unverified) or \"disable\"",
                    ));
                }
            }
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

/// Why a file does not deserialise, every mistake. Each top-level section is read on its
/// own (the rest blanked, line and column kept), and within it, after each mistake the lines
/// of the value at fault are blanked and the section read again, so one mistake does not
/// hide the next. Each line names the key path and says what was expected in an operator's
/// words; a syntax error is reported as TOML says it.
///
/// Also returns the text with every value at fault blanked, which parses when only values
/// were wrong: the rest of the file can then be checked too.
pub fn type_problems<T: serde::de::DeserializeOwned>(
    text: &str,
    first: &toml::de::Error,
) -> (Vec<String>, Option<String>) {
    if toml::de::DeTable::parse(text).is_err() {
        return (vec![first.to_string().trim_end().to_owned()], None);
    }
    let mut found: Vec<(usize, String)> = Vec::new();
    let mut repaired_lines: Vec<usize> = Vec::new();
    for section in sections(text) {
        let mut masked = blank_lines(text, &section, false);
        let mut last_fault: Option<usize> = None;
        // A bound, so a mistake that blanking cannot remove never loops.
        for _ in 0..100 {
            let Err(e) = toml::from_str::<T>(&masked) else {
                break;
            };
            // A key that must be there, blanked by us: blank its whole table instead (the
            // table's other mistakes were found before this one).
            if let (Some(fault), true) = (last_fault, e.message().starts_with("missing field")) {
                let table = table_lines(text, fault);
                masked = blank_lines(&masked, &table, true);
                repaired_lines.extend(table);
                last_fault = None;
                continue;
            }
            let line = line_at(text, e.span().map_or(0, |s| s.start));
            let described = (line, describe_type_error(text, &e));
            if found.contains(&described) {
                break;
            }
            found.push(described);
            let Some(span) = e.span() else { break };
            let last = line_at(text, span.end.max(span.start + 1) - 1);
            let at_fault: Vec<usize> = (line - 1..last).collect();
            // A table header: blanking it would change what the rest of the file means.
            if text
                .lines()
                .enumerate()
                .any(|(n, l)| at_fault.contains(&n) && l.trim_start().starts_with('['))
            {
                break;
            }
            masked = blank_lines(&masked, &at_fault, true);
            repaired_lines.extend(at_fault);
            last_fault = Some(line - 1);
        }
    }
    if found.is_empty() {
        return (vec![describe_type_error(text, first)], None);
    }
    found.sort();
    let repaired = blank_lines(text, &repaired_lines, true);
    let repaired = toml::from_str::<T>(&repaired).is_ok().then_some(repaired);
    (found.into_iter().map(|(_, line)| line).collect(), repaired)
}

/// The lines of the table (header and body) that 0-based line `line` belongs to.
fn table_lines(text: &str, line: usize) -> Vec<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let is_header = |n: usize| {
        lines
            .get(n)
            .is_some_and(|l| l.trim_start().starts_with('['))
    };
    let start = (0..=line).rev().find(|&n| is_header(n)).unwrap_or(0);
    let end = (line + 1..lines.len())
        .find(|&n| is_header(n))
        .unwrap_or(lines.len());
    (start..end).collect()
}

/// The 1-based line of byte `offset`. Counted over bytes: an offset may fall inside a
/// multi-byte character (the last byte of a span is one), and `\n` is never part of one.
fn line_at(text: &str, offset: usize) -> usize {
    let before = &text.as_bytes()[..offset.min(text.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

/// The lines of each top-level section (`""` before the first header), by 0-based number.
fn sections(text: &str) -> Vec<Vec<usize>> {
    let mut by_name: Vec<(String, Vec<usize>)> = Vec::new();
    let mut current = String::new();
    for (n, line) in text.lines().enumerate() {
        if let Some(header) = line.trim_start().strip_prefix('[') {
            let name: String = header
                .trim_start_matches('[')
                .chars()
                .take_while(|c| !matches!(c, '.' | ']'))
                .collect::<String>()
                .trim()
                .trim_matches('"')
                .to_owned();
            if !name.is_empty() {
                current = name;
            }
        }
        match by_name.iter_mut().find(|(s, _)| *s == current) {
            Some((_, lines)) => lines.push(n),
            None => by_name.push((current.clone(), vec![n])),
        }
    }
    by_name.into_iter().map(|(_, lines)| lines).collect()
}

/// `text` with the lines listed (`listed`) or all others (`!listed`) made of spaces, so
/// positions in the result are positions in `text`.
fn blank_lines(text: &str, lines: &[usize], listed: bool) -> String {
    text.split_inclusive('\n')
        .enumerate()
        .map(|(n, line)| {
            if lines.contains(&n) == listed {
                line.chars()
                    .map(|c| if c == '\n' { '\n' } else { ' ' })
                    .collect()
            } else {
                line.to_owned()
            }
        })
        .collect()
}

/// `line N: key.path: what was expected`.
fn describe_type_error(text: &str, e: &toml::de::Error) -> String {
    let mut message = operator_words(e.message());
    match e.span() {
        Some(span) => {
            // Messages that do not show the value get it from the file.
            if message.starts_with("is not") {
                let written = text.get(span.clone()).unwrap_or_default().trim();
                message = format!("{written} {message}");
            }
            let line = line_at(text, span.start);
            match key_at(text, span.start) {
                Some(key) => format!("line {line}: {key}: {message}"),
                None => format!("line {line}: {message}"),
            }
        }
        None => message,
    }
}

/// The key path of the innermost value at byte `offset` (`poller.groups[1].interval_secs`).
pub fn key_at(text: &str, offset: usize) -> Option<String> {
    use toml::de::{DeTable, DeValue};
    /// The path below `table` to the value or key at `offset`. A table's own span covers
    /// only its header, so every table is searched whatever its span.
    fn in_table(table: &DeTable<'_>, offset: usize) -> Option<String> {
        for (key, value) in table.iter() {
            let inside = |s: std::ops::Range<usize>| s.start <= offset && offset < s.end;
            if inside(key.span()) {
                return Some(key.get_ref().to_string());
            }
            if let Some(below) = in_value(value.get_ref(), offset) {
                return Some(format!("{}{below}", key.get_ref()));
            }
            if inside(value.span()) && !matches!(value.get_ref(), DeValue::Table(_)) {
                return Some(key.get_ref().to_string());
            }
        }
        None
    }
    /// `.key...` or `[i]...` below `value`, if `offset` is inside one of its parts.
    fn in_value(value: &DeValue<'_>, offset: usize) -> Option<String> {
        match value {
            DeValue::Table(t) => in_table(t, offset).map(|p| format!(".{p}")),
            DeValue::Array(a) => a.iter().enumerate().find_map(|(i, v)| {
                let s = v.span();
                match in_value(v.get_ref(), offset) {
                    Some(below) => Some(format!("[{i}]{below}")),
                    None if s.start <= offset
                        && offset < s.end
                        && !matches!(v.get_ref(), DeValue::Table(_)) =>
                    {
                        Some(format!("[{i}]"))
                    }
                    None => None,
                }
            }),
            _ => None,
        }
    }
    let root = DeTable::parse(text).ok()?;
    in_table(root.get_ref(), offset)
}

/// serde's wording ("invalid type: string \"x\", expected u64") in an operator's.
pub fn operator_words(message: &str) -> String {
    let message = message.trim();
    let expected = |what: &str| -> String {
        match what.trim() {
            "u8" => "a whole number from 0 to 255".into(),
            "u16" => "a whole number from 0 to 65535".into(),
            "u32" | "u64" | "usize" => "a whole number (0 or more)".into(),
            "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
            "f32" | "f64" => "a number".into(),
            "a boolean" => "true or false".into(),
            "a string" | "a borrowed string" | "a character" => "text in quotes".into(),
            "a sequence" => "a list, like [\"a\", \"b\"]".into(),
            "a map" => "a table".into(),
            other if other.starts_with("struct ") => "a table".into(),
            other => other.to_owned(),
        }
    };
    let shown = |found: &str| -> String {
        let found = found.trim();
        for (kind, words) in [
            ("string ", ""),
            ("integer ", ""),
            ("floating point ", ""),
            ("boolean ", ""),
        ] {
            if let Some(v) = found.strip_prefix(kind) {
                return format!("{words}{}", v.trim_matches('`'));
            }
        }
        match found {
            "sequence" => "a list".into(),
            "map" => "a table".into(),
            other => other.to_owned(),
        }
    };
    if let Some(rest) = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
    {
        if let Some((found, what)) = rest.split_once(", expected ") {
            return format!("{} is not {}", shown(found), expected(what));
        }
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (field, valid) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let field = field.trim_end_matches(", there are no fields");
        let valid = valid
            .trim_start_matches("one of ")
            .replace('`', "")
            .replace(" or ", ", ");
        return if valid.is_empty() {
            format!("unknown key {field}")
        } else {
            format!("unknown key {field}; the keys here are {valid}")
        };
    }
    if let Some(field) = message.strip_prefix("missing field ") {
        return format!("{field} is required here");
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let (found, valid) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let valid = valid
            .trim_start_matches("one of ")
            .replace('`', "")
            .replace(" or ", ", ");
        return format!("{found} is not one of: {valid}");
    }
    match message {
        "invalid socket address syntax" => {
            "is not an address and port, like \"0.0.0.0:8080\"".into()
        }
        "invalid IP address syntax" => "is not an IP address".into(),
        other => other.to_owned(),
    }
}

/// Sorts `line N: ...` lines by N (lines without a number first), keeping the order of
/// equals.
pub fn sort_by_line(lines: &mut [String]) {
    lines.sort_by_key(|l| {
        l.strip_prefix("line ")
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.trim().parse::<usize>().ok())
            .unwrap_or(0)
    });
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
    fn a_span_ending_inside_a_multi_byte_character_still_has_a_line() {
        // 'é' is bytes 2..4: byte 3 is inside it (found by the config_file fuzz target).
        assert_eq!(line_at("a\né\nb", 3), 2);
        assert_eq!(line_at("a\né\nb", 99), 3);
        let text = "[log]\nlevel = [\"é\"]\n[snmp]\ntimeout_ms = \"é\"\n";
        let examined = Config::examine(text);
        assert!(
            examined.problems.iter().any(|p| p.starts_with("line 4")),
            "{:?}",
            examined.problems
        );
    }

    #[test]
    fn type_mistakes_name_their_key_in_an_operators_words_all_at_once() {
        let text = "[snmp]\ntimeout_ms = \"2s\"\n\n[poller]\ninterval_secs = -5\n\n[[poller.groups]]\nname = \"a\"\ninterval_secs = true\n\n[log]\nformat = \"xml\"\n\n[server]\nlisten = \"8080\"\nmax_body = 1\n";
        let first = toml::from_str::<Config>(text).unwrap_err();
        let (lines, repaired) = type_problems::<Config>(text, &first);
        for expected in [
            "line 2: snmp.timeout_ms: \"2s\" is not a whole number (0 or more)",
            "line 5: poller.interval_secs: -5 is not a whole number (0 or more)",
            "line 12: log.format: `xml` is not one of: text, json",
            "line 15: server.listen: \"8080\" is not an address and port",
        ] {
            assert!(
                lines.iter().any(|l| l.starts_with(expected)),
                "{expected} not in {lines:#?}"
            );
        }
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("line 9: poller.groups[0].interval_secs: true is not")),
            "{lines:#?}"
        );
        assert!(lines.iter().any(|l| l.starts_with("line 16: server.max_body: unknown key `max_body`; the keys here are listen, max_body_bytes")), "{lines:#?}");
        assert_eq!(lines.len(), 6, "every mistake once: {lines:#?}");
        // Without the values at fault the rest of the file is read: the group's name stays.
        let repaired: Config = toml::from_str(&repaired.expect("only values were wrong")).unwrap();
        assert_eq!(repaired.poller.groups.len(), 1);
        assert_eq!(
            repaired.poller.groups[0].interval_secs, None,
            "back to the default"
        );
        assert_eq!(repaired.log.level, Config::default().log.level);
        assert_eq!(
            key_at(text, text.find("true").unwrap()).as_deref(),
            Some("poller.groups[0].interval_secs")
        );
        let syntax = "[snmp\n";
        let first = toml::from_str::<Config>(syntax).unwrap_err();
        let (lines, repaired) = type_problems::<Config>(syntax, &first);
        assert!(repaired.is_none());
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("line 1"), "{lines:?}");
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
