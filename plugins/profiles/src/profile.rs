//! A profile file checked and compiled: regular expressions, selectors, fields and
//! transforms are all verified when the file is read, so a mistake is refused with its line
//! instead of failing at poll time.

use crate::extract::Select;
use crate::fields::Target as FieldTarget;
use crate::schema::{self, ProfileFile};
use efi_plugin_api::{CliTransport, Fingerprint, Oid};
use regex::Regex;
use std::path::{Path, PathBuf};

/// How several values become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// The first that reads.
    First,
    /// The mean.
    Mean,
    /// The mean of those not 0.
    MeanNonzero,
    /// The sum.
    Sum,
    /// The smallest.
    Min,
    /// The largest.
    Max,
}

impl Combine {
    fn parse(s: Option<&str>) -> Result<Combine, String> {
        Ok(match s.unwrap_or("first") {
            "first" => Combine::First,
            "mean" => Combine::Mean,
            "mean_nonzero" => Combine::MeanNonzero,
            "sum" => Combine::Sum,
            "min" => Combine::Min,
            "max" => Combine::Max,
            other => {
                return Err(format!(
                    "unknown combine {other:?} (first, mean, mean_nonzero, sum, min, max)"
                ))
            }
        })
    }
}

/// A compiled SNMP read.
#[derive(Debug, Clone)]
pub struct SnmpRead {
    /// The OIDs (one for a GET of one object; the root of a walk).
    pub oids: Vec<Oid>,
    /// How several values become one.
    pub combine: Combine,
    /// Where the value goes.
    pub target: FieldTarget,
}

/// A compiled read from text.
#[derive(Debug, Clone)]
pub struct TextRead {
    /// Where in the text.
    pub select: Select,
    /// Where the value goes.
    pub target: FieldTarget,
}

/// A compiled web login.
#[derive(Debug, Clone)]
pub enum Login {
    /// None.
    None,
    /// HTTP Basic with the credential set.
    Basic,
    /// A form, optionally after a nonce.
    Form(FormLogin),
}

/// A compiled form login.
#[derive(Debug, Clone)]
pub struct FormLogin {
    /// Where the form goes.
    pub path: String,
    /// Its fields.
    pub fields: Vec<(String, String)>,
    /// The nonce page and how to find the nonce there.
    pub nonce: Option<(String, Select)>,
    /// Header the nonce goes in.
    pub nonce_header: Option<String>,
    /// Form field the nonce goes in.
    pub nonce_field: Option<String>,
}

/// A compiled `[web]`.
#[derive(Debug, Clone)]
pub struct Web {
    /// `http` or `https`.
    pub scheme: String,
    /// Port, or the target's.
    pub port: Option<u16>,
    /// Accept a self-signed certificate.
    pub accept_invalid_certs: bool,
    /// Credential set.
    pub credentials: Option<String>,
    /// The login.
    pub login: Login,
    /// Headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// (path, reads).
    pub pages: Vec<(String, Vec<TextRead>)>,
}

/// A compiled `[cli]`.
#[derive(Debug, Clone)]
pub struct Cli {
    /// SSH or Telnet.
    pub transport: CliTransport,
    /// Port, or the transport's.
    pub port: Option<u16>,
    /// Credential set.
    pub credentials: String,
    /// The prompt, as given (the host's engine compiles it).
    pub prompt: String,
    /// Time per command.
    pub timeout_ms: u32,
    /// (command line, reads).
    pub commands: Vec<(String, Vec<TextRead>)>,
}

/// A compiled `[identify]`.
#[derive(Debug, Clone, Default)]
pub struct Identify {
    sys_object_id: Vec<String>,
    sys_descr: Option<Regex>,
    mac_oui: Vec<String>,
    imei_tac: Vec<String>,
    tr069_oui: Vec<String>,
    tr069_product_class: Vec<String>,
    http_title: Option<Regex>,
    banner: Option<Regex>,
}

impl Identify {
    /// True when any rule matches.
    pub fn matches(&self, fp: &Fingerprint) -> bool {
        let re = |r: &Option<Regex>, v: &Option<String>| {
            r.as_ref()
                .zip(v.as_deref())
                .is_some_and(|(r, v)| r.is_match(v))
        };
        fp.sys_object_id.as_deref().is_some_and(|o| {
            let o = o.trim_start_matches('.');
            self.sys_object_id
                .iter()
                .any(|p| o == p || o.starts_with(&format!("{p}.")))
        }) || re(&self.sys_descr, &fp.sys_descr)
            || self.mac_oui.iter().any(|m| fp.mac_oui_is(m))
            || (!self.imei_tac.is_empty()
                && fp.imei_tac_in(&self.imei_tac.iter().map(String::as_str).collect::<Vec<_>>()))
            || self.tr069_oui.iter().any(|o| fp.tr069_oui_is(o))
            || fp
                .tr069_product_class
                .as_deref()
                .is_some_and(|p| self.tr069_product_class.iter().any(|c| c == p))
            || re(&self.http_title, &fp.http_title)
            || re(&self.banner, &fp.banner)
    }

    /// True when no rule is given (the profile is only used when named or alone).
    pub fn is_empty(&self) -> bool {
        self.sys_object_id.is_empty()
            && self.sys_descr.is_none()
            && self.mac_oui.is_empty()
            && self.imei_tac.is_empty()
            && self.tr069_oui.is_empty()
            && self.tr069_product_class.is_empty()
            && self.http_title.is_none()
            && self.banner.is_none()
    }
}

/// A profile, ready to poll with.
#[derive(Debug, Clone)]
pub struct Profile {
    /// `[profile] name`.
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// The record's vendor.
    pub vendor: String,
    /// The record's model.
    pub model: Option<String>,
    /// Confidence when identified.
    pub score: u8,
    /// Identification rules.
    pub identify: Identify,
    /// `[[snmp.get]]`.
    pub snmp_get: Vec<SnmpRead>,
    /// `[[snmp.walk]]`.
    pub snmp_walk: Vec<SnmpRead>,
    /// `[web]`.
    pub web: Option<Web>,
    /// `[cli]`.
    pub cli: Option<Cli>,
    /// `[[tr069]]`: (path, where).
    pub tr069: Vec<(String, FieldTarget)>,
}

/// Why a file was refused: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The file.
    pub file: PathBuf,
    /// The line (1-based), when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}: line {l}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// A problem at a key: the table (`snmp.get`, with its index among the file's tables of
/// that name) and the key, to find its line.
struct At {
    table: &'static str,
    index: usize,
    key: &'static str,
    message: String,
}

/// [`at`] for an error that names its own key.
fn at_key(table: &'static str, index: usize) -> impl Fn((&'static str, String)) -> At {
    move |(key, message)| At {
        table,
        index,
        key,
        message,
    }
}

fn at(table: &'static str, index: usize, key: &'static str) -> impl Fn(String) -> At {
    move |message| At {
        table,
        index,
        key,
        message,
    }
}

/// The line of `key` inside the `index`-th `[table]` / `[[table]]` of `text` (the table's
/// own line when the key is not written in it).
fn line_of(text: &str, table: &str, index: usize, key: &str) -> Option<usize> {
    let headers = [format!("[{table}]"), format!("[[{table}]]")];
    let mut seen = 0;
    let mut in_table = table.is_empty();
    let mut table_line = None;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            if in_table && table_line.is_some() {
                return table_line;
            }
            in_table = false;
            if headers.iter().any(|h| t.starts_with(h.as_str())) {
                if seen == index {
                    in_table = true;
                    table_line = Some(n + 1);
                }
                seen += 1;
            }
            continue;
        }
        if in_table
            && t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return Some(n + 1);
        }
    }
    table_line
}

/// Reads and compiles a profile file's text.
pub fn compile(text: &str, file: &Path) -> Result<Profile, Refusal> {
    let refusal = |line, message| Refusal {
        file: file.to_owned(),
        line,
        message,
    };
    let raw: ProfileFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| {
            text.as_bytes()[..s.start.min(text.len())]
                .iter()
                .filter(|b| **b == b'\n')
                .count()
                + 1
        });
        refusal(line, e.message().to_owned())
    })?;
    build(raw, file).map_err(|a| {
        let line = line_of(text, a.table, a.index, a.key);
        refusal(line, format!("{}.{}: {}", a.table, a.key, a.message))
    })
}

fn regex(r: &Option<String>) -> Result<Option<Regex>, String> {
    r.as_deref()
        .map(|r| Regex::new(r).map_err(|e| e.to_string()))
        .transpose()
}

fn oid(text: &str) -> Result<Oid, String> {
    let t = text.trim().trim_start_matches('.');
    if t.is_empty()
        || !t
            .split('.')
            .all(|p| !p.is_empty() && p.parse::<u32>().is_ok())
    {
        return Err(format!("{text:?} is not a dotted OID"));
    }
    Ok(efi_plugin_api::oid(t))
}

fn text_reads(reads: &[schema::Read], table: &'static str, cli: bool) -> Result<Vec<TextRead>, At> {
    reads
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let key = if r.xpath.is_some() {
                "xpath"
            } else if r.css.is_some() {
                "css"
            } else if r.pointer.is_some() {
                "pointer"
            } else {
                "regex"
            };
            let select = Select::compile(&r.selector()).map_err(at(table, i, key))?;
            if cli && !select.is_regex_only() {
                return Err(at(table, i, key)(
                    "command output is read with a regex (xpath, css and pointer are for web pages)".into(),
                ));
            }
            let target = FieldTarget::compile(&r.value_spec()).map_err(at_key(table, i))?;
            Ok(TextRead { select, target })
        })
        .collect()
}

fn build(raw: ProfileFile, file: &Path) -> Result<Profile, At> {
    let about = &raw.profile;
    if about.name.is_empty()
        || !about
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(at("profile", 0, "name")(
            "letters, digits, `-`, `_` and `.` only".into(),
        ));
    }
    if !(10..=100).contains(&about.score) {
        return Err(at("profile", 0, "score")(
            "between 10 and 100 (up to 9 is what the MIB-II fallback driver gives: unidentified)"
                .into(),
        ));
    }
    let id = &raw.identify;
    let identify = Identify {
        sys_object_id: id
            .sys_object_id
            .iter()
            .map(|o| oid(o).map(|_| o.trim().trim_start_matches('.').to_owned()))
            .collect::<Result<_, _>>()
            .map_err(at("identify", 0, "sys_object_id"))?,
        sys_descr: regex(&id.sys_descr).map_err(at("identify", 0, "sys_descr"))?,
        mac_oui: id.mac_oui.clone(),
        imei_tac: id.imei_tac.clone(),
        tr069_oui: id.tr069_oui.clone(),
        tr069_product_class: id.tr069_product_class.clone(),
        http_title: regex(&id.http_title).map_err(at("identify", 0, "http_title"))?,
        banner: regex(&id.banner).map_err(at("identify", 0, "banner"))?,
    };
    let snmp_reads = |reads: &[schema::SnmpRead], table: &'static str, walk: bool| {
        reads
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let oids = r
                    .oid
                    .list()
                    .iter()
                    .map(|o| oid(o))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(at(table, i, "oid"))?;
                if oids.is_empty() || (walk && oids.len() > 1) {
                    return Err(at(table, i, "oid")(
                        "one OID per walk, at least one per get".into(),
                    ));
                }
                Ok(SnmpRead {
                    oids,
                    combine: Combine::parse(r.combine.as_deref())
                        .map_err(at(table, i, "combine"))?,
                    target: FieldTarget::compile(&r.value_spec()).map_err(at_key(table, i))?,
                })
            })
            .collect::<Result<Vec<_>, At>>()
    };
    let (snmp_get, snmp_walk) = match &raw.snmp {
        Some(s) => (
            snmp_reads(&s.get, "snmp.get", false)?,
            snmp_reads(&s.walk, "snmp.walk", true)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let web = raw.web.as_ref().map(build_web).transpose()?;
    let cli = match &raw.cli {
        Some(c) => {
            let transport = match c.transport.as_str() {
                "ssh" => CliTransport::Ssh,
                "telnet" => CliTransport::Telnet,
                other => {
                    return Err(at("cli", 0, "transport")(format!(
                        "{other:?}: ssh or telnet"
                    )))
                }
            };
            Regex::new(&c.prompt).map_err(|e| at("cli", 0, "prompt")(e.to_string()))?;
            let mut commands = Vec::new();
            let mut read_index = 0;
            for (i, cmd) in c.commands.iter().enumerate() {
                if cmd.send.trim().is_empty() {
                    return Err(at("cli.commands", i, "send")("an empty command".into()));
                }
                let reads = text_reads(&cmd.read, "cli.commands.read", true).map_err(|mut a| {
                    a.index += read_index;
                    a
                })?;
                read_index += cmd.read.len();
                commands.push((cmd.send.clone(), reads));
            }
            if commands.is_empty() {
                return Err(at("cli", 0, "commands")("no [[cli.commands]]".into()));
            }
            Some(Cli {
                transport,
                port: c.port,
                credentials: c.credentials.clone(),
                prompt: c.prompt.clone(),
                timeout_ms: c.timeout_ms,
                commands,
            })
        }
        None => None,
    };
    let tr069 = raw
        .tr069
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if t.path.is_empty() || t.path.ends_with('.') {
                return Err(at("tr069", i, "path")(
                    "a full parameter path (not a subtree ending in `.`)".into(),
                ));
            }
            Ok((
                t.path.clone(),
                FieldTarget::compile(&t.value_spec()).map_err(at_key("tr069", i))?,
            ))
        })
        .collect::<Result<Vec<_>, At>>()?;
    if snmp_get.is_empty()
        && snmp_walk.is_empty()
        && web.is_none()
        && cli.is_none()
        && tr069.is_empty()
    {
        return Err(at("profile", 0, "name")(
            "the profile reads nothing: give [[snmp.get]], [[snmp.walk]], [web], [cli] or [[tr069]]"
                .into(),
        ));
    }
    Ok(Profile {
        name: about.name.clone(),
        file: file.to_owned(),
        vendor: about.vendor.clone(),
        model: about.model.clone(),
        score: about.score,
        identify,
        snmp_get,
        snmp_walk,
        web,
        cli,
        tr069,
    })
}

fn build_web(w: &schema::Web) -> Result<Web, At> {
    if w.scheme != "http" && w.scheme != "https" {
        return Err(at("web", 0, "scheme")(format!(
            "{:?}: http or https",
            w.scheme
        )));
    }
    let login = match w.login.as_deref().unwrap_or("none") {
        "none" => Login::None,
        "basic" => Login::Basic,
        "form" => {
            let Some(f) = &w.form else {
                return Err(at("web", 0, "login")(
                    "login = \"form\" needs a [web.form]".into(),
                ));
            };
            let nonce = match (&f.nonce_path, &f.nonce) {
                (Some(p), Some(s)) => Some((
                    p.clone(),
                    Select::compile(s).map_err(at("web.form", 0, "nonce"))?,
                )),
                (None, None) => None,
                _ => {
                    return Err(at("web.form", 0, "nonce_path")(
                        "nonce_path and nonce go together".into(),
                    ))
                }
            };
            if nonce.is_some() && f.nonce_header.is_none() && f.nonce_field.is_none() {
                return Err(at("web.form", 0, "nonce")(
                    "say where the nonce goes: nonce_header or nonce_field".into(),
                ));
            }
            Login::Form(FormLogin {
                path: f.path.clone(),
                fields: f
                    .fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                nonce,
                nonce_header: f.nonce_header.clone(),
                nonce_field: f.nonce_field.clone(),
            })
        }
        other => {
            return Err(at("web", 0, "login")(format!(
                "{other:?}: none, basic or form"
            )))
        }
    };
    if !matches!(login, Login::None) && w.credentials.is_none() {
        return Err(at("web", 0, "credentials")(
            "a login needs a credential set".into(),
        ));
    }
    let mut pages = Vec::new();
    let mut read_index = 0;
    for (i, p) in w.pages.iter().enumerate() {
        if !p.path.starts_with('/') {
            return Err(at("web.pages", i, "path")("a path starts with `/`".into()));
        }
        let reads = text_reads(&p.read, "web.pages.read", false).map_err(|mut a| {
            a.index += read_index;
            a
        })?;
        read_index += p.read.len();
        pages.push((p.path.clone(), reads));
    }
    if pages.is_empty() {
        return Err(at("web", 0, "pages")("no [[web.pages]]".into()));
    }
    Ok(Web {
        scheme: w.scheme.clone(),
        port: w.port,
        accept_invalid_certs: w.accept_invalid_certs,
        credentials: w.credentials.clone(),
        login,
        headers: w
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect(),
        pages,
    })
}

impl Profile {
    /// One line saying what the profile is and reads.
    pub fn summary(&self) -> String {
        let mut reads = Vec::new();
        let n = |count: usize, what: &str| format!("{count} {what}");
        if !self.snmp_get.is_empty() {
            reads.push(n(self.snmp_get.len(), "SNMP gets"));
        }
        if !self.snmp_walk.is_empty() {
            reads.push(n(self.snmp_walk.len(), "SNMP walks"));
        }
        if let Some(w) = &self.web {
            let login = match w.login {
                Login::None => "no login",
                Login::Basic => "Basic login",
                Login::Form(ref f) if f.nonce.is_some() => "form login with a nonce",
                Login::Form(_) => "form login",
            };
            reads.push(format!("{} web pages ({login})", w.pages.len()));
        }
        if let Some(c) = &self.cli {
            let transport = match c.transport {
                CliTransport::Ssh => "SSH",
                CliTransport::Telnet => "Telnet",
            };
            reads.push(format!("{} {transport} commands", c.commands.len()));
        }
        if !self.tr069.is_empty() {
            reads.push(n(self.tr069.len(), "TR-069 parameters"));
        }
        format!(
            "profile {} ({}{}), score {}{}: {}",
            self.name,
            self.vendor,
            self.model
                .as_deref()
                .map(|m| format!(" {m}"))
                .unwrap_or_default(),
            self.score,
            if self.identify.is_empty() {
                ", no [identify] rule (used only when named or alone)"
            } else {
                ""
            },
            reads.join(", ")
        )
    }

    /// The profile's confidence for a fingerprint (0 when no rule matches).
    pub fn score(&self, fp: &Fingerprint) -> u8 {
        if self.identify.matches(fp) {
            self.score
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> Refusal {
        compile(text, Path::new("p.toml")).unwrap_err()
    }

    const HEAD: &str = "[profile]\nname = \"p\"\nvendor = \"V\"\nscore = 50\n";

    #[test]
    fn mistakes_are_refused_with_their_line() {
        let r = refused(&format!("{HEAD}[[snmp.get]]\noid = \"1.3.6.1.2.1.1.5.0\"\nfield = \"hostname\"\n[[snmp.get]]\noid = \"1.3.6.1.2.1.1.3.0\"\nfield = \"uptime\"\n"));
        assert_eq!(r.line, Some(10), "{r}");
        assert!(
            r.message
                .contains("snmp.get.field: unknown field \"uptime\""),
            "{r}"
        );
        let r = refused(&format!(
            "{HEAD}[[snmp.get]]\noid = \"1.3.x\"\nfield = \"hostname\"\n"
        ));
        assert_eq!(r.line, Some(6), "{r}");
        let r = refused(&format!(
            "{HEAD}[[tr069]]\npath = \"A.B\"\nfield = \"firmware\"\nbogus = 1\n"
        ));
        assert_eq!(r.line, Some(8), "{r}");
        assert!(r.message.contains("unknown field `bogus`"), "{r}");
        let r = refused(&format!("{HEAD}[identify]\nsys_descr = \"(\"\n[[tr069]]\npath = \"A.B\"\nfield = \"firmware\"\n"));
        assert_eq!(r.line, Some(6), "{r}");
        let r = refused(&format!("{HEAD}[cli]\ntransport = \"ssh\"\ncredentials = \"c\"\nprompt = \"# $\"\n[[cli.commands]]\nsend = \"uptime\"\n[[cli.commands.read]]\nxpath = \"//a\"\nfield = \"uptime_s\"\n"));
        assert!(
            r.message.contains("command output is read with a regex"),
            "{r}"
        );
        assert_eq!(r.line, Some(12), "{r}");
        let r = refused(HEAD);
        assert!(r.message.contains("reads nothing"), "{r}");
    }
}
