//! The profile file format: what an operator writes in `<dir>/<name>.toml`. These doc
//! comments are the format's reference (README: "Write a profile").

use serde::Deserialize;
use std::collections::BTreeMap;

/// One profile file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// Who this profile is.
    pub profile: About,
    /// How a device is recognised as this profile's model.
    #[serde(default)]
    pub identify: Identify,
    /// SNMP reads (GETs and walks), with the host's `[snmp]` settings and communities.
    #[serde(default)]
    pub snmp: Option<Snmp>,
    /// Web UI pages, with an optional login.
    #[serde(default)]
    pub web: Option<Web>,
    /// An SSH or Telnet session: commands and what to read from their output.
    #[serde(default)]
    pub cli: Option<Cli>,
    /// TR-069 parameters, from what the CPE told its ACS (the host's snooping cache).
    #[serde(default)]
    pub tr069: Vec<Tr069Read>,
}

/// `[profile]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct About {
    /// The profile's name, as logs and errors give it (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// The record's vendor.
    pub vendor: String,
    /// The record's model, unless a read sets `model`.
    #[serde(default)]
    pub model: Option<String>,
    /// Confidence (10–100) when any `[identify]` rule matches, scored beside the compiled
    /// drivers: 90–95 is what they give for a vendor OID or TR-069 OUI, 60–70 for a MAC OUI
    /// or IMEI TAC; up to 9 is the MIB-II fallback's level (unidentified). A profile may
    /// deliberately outrank a driver.
    pub score: u8,
}

/// `[identify]`: any rule that matches gives the profile its score.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identify {
    /// sysObjectID prefixes (dotted, e.g. `"1.3.6.1.4.1.8072.3.2.10"`).
    #[serde(default)]
    pub sys_object_id: Vec<String>,
    /// Regular expression over sysDescr.
    #[serde(default)]
    pub sys_descr: Option<String>,
    /// MAC OUIs (`"48:bf:74"`, any common notation).
    #[serde(default)]
    pub mac_oui: Vec<String>,
    /// IMEI type allocation codes (first 8 digits).
    #[serde(default)]
    pub imei_tac: Vec<String>,
    /// TR-069 DeviceId OUIs (`"48BF74"`).
    #[serde(default)]
    pub tr069_oui: Vec<String>,
    /// TR-069 DeviceId product classes (exact).
    #[serde(default)]
    pub tr069_product_class: Vec<String>,
    /// Regular expression over the web UI's `<title>`.
    #[serde(default)]
    pub http_title: Option<String>,
    /// Regular expression over the `Server:` header, the HTTP Basic realm, or an SSH/Telnet
    /// banner.
    #[serde(default)]
    pub banner: Option<String>,
}

/// `[snmp]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snmp {
    /// `[[snmp.get]]`: scalar OIDs (with their instance, e.g. `.0`).
    #[serde(default)]
    pub get: Vec<SnmpRead>,
    /// `[[snmp.walk]]`: subtrees; every value under the OID goes through the transform and
    /// the results are combined (`combine`).
    #[serde(default)]
    pub walk: Vec<SnmpRead>,
}

/// One SNMP read.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpRead {
    /// The OID, or several OIDs whose values are combined (per-antenna objects, say).
    pub oid: OneOrMany,
    /// How the values of several OIDs, or of a walk, become one: `first` (default),
    /// `mean`, `mean_nonzero` (antennas that report 0 are unused), `sum`, `min`, `max`.
    #[serde(default)]
    pub combine: Option<String>,
    /// The record field (`efi-poller profiles fields` lists them), or `metric.<name>` for a
    /// metric of its own (`<name>` in snake case, with its unit at the end: `_dbm`, `_bps`).
    pub field: String,
    /// How the text becomes the value (see [`ValueSpec::transform`]).
    #[serde(default)]
    pub transform: Option<String>,
    /// Multiplies a number after the transform (kbps → bps: 1000).
    #[serde(default)]
    pub scale: Option<f64>,
    /// Answers that mean "no value" beyond the usual ones: the field is left absent.
    #[serde(default)]
    pub absent_if: Vec<String>,
}

/// One OID or a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    /// As a list.
    pub fn list(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// Where a value goes and how it is turned into the field's unit (the keys every read has:
/// `field`, `transform`, `scale`, `absent_if`). Each read type spells these four keys out
/// itself instead of `#[serde(flatten)]`ing this struct: serde cannot refuse unknown keys
/// (`deny_unknown_fields`) through a flatten, and a misspelt key must be refused with its
/// line.
#[derive(Debug, Clone)]
pub struct ValueSpec {
    /// The record field (`efi-poller profiles fields` lists them), or `metric.<name>` for a
    /// metric of its own (`<name>` in snake case, with its unit at the end: `_dbm`, `_bps`).
    pub field: String,
    /// How the text becomes the value; the field's natural one when absent: `text`,
    /// `number` (the first number in the text: `"-95 dBm"` → -95), `integer`, `hex`
    /// (`"a625"` → 42533), `eci` (a cell identity, decimal or hex), `bandwidth_mhz` (`"20"`,
    /// `"20MHz"`, `"20000 kHz"`), `rate_bps` (`"4.3 kbps"`, `"1.2 Mbps"`, a bare number as
    /// kbps), `uptime_text` (`"3 days 4 hours"`, `"hh:mm:ss"`), `timeticks` (hundredths of a
    /// second → seconds), `antennas` (a per-antenna list split on `/` or `,`, the mean of
    /// those not 0), `mac`, `digits`, `bool` (`1`/`true`/`yes`/`up`/`connected`).
    pub transform: Option<String>,
    /// Multiplies a number after the transform (kbps → bps: 1000).
    pub scale: Option<f64>,
    /// Answers that mean "no value" beyond the usual (`-`, `--`, `N/A`, `65535`, `NULL`,
    /// empty): the field is left absent.
    pub absent_if: Vec<String>,
}

/// `[web]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Web {
    /// `http` or `https`.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// Port; the target's web port (`[poller] web_port`) when absent.
    #[serde(default)]
    pub port: Option<u16>,
    /// Accept a self-signed certificate (needs `[http] allow_invalid_certs = true`).
    #[serde(default)]
    pub accept_invalid_certs: bool,
    /// Credential set (`[credentials.<name>]`) for `login = "basic"` or `"form"`.
    #[serde(default)]
    pub credentials: Option<String>,
    /// `none` (default), `basic` (HTTP Basic on every page) or `form` (`[web.form]`, then
    /// the pages with the session cookie the host keeps).
    #[serde(default)]
    pub login: Option<String>,
    /// The form login.
    #[serde(default)]
    pub form: Option<FormLogin>,
    /// Headers sent with every request (`Referer`, say).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `[[web.pages]]`: the pages read, all at once.
    #[serde(default)]
    pub pages: Vec<Page>,
}

fn default_scheme() -> String {
    "http".into()
}

/// `[web.form]`: a login form posted before the pages, optionally with a nonce read from
/// another page first.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormLogin {
    /// Path (and query) the form is posted to.
    pub path: String,
    /// Form fields; `{username}` and `{password}` are filled in by the host from the
    /// credential set (the profile never holds the secret).
    pub fields: BTreeMap<String, String>,
    /// Path of a page to read a nonce from before posting.
    #[serde(default)]
    pub nonce_path: Option<String>,
    /// How the nonce is found on that page (`xpath`, `css`, `pointer` or `regex`).
    #[serde(default)]
    pub nonce: Option<Selector>,
    /// Send the nonce as this header of the login POST.
    #[serde(default)]
    pub nonce_header: Option<String>,
    /// Send the nonce as this form field.
    #[serde(default)]
    pub nonce_field: Option<String>,
}

/// How text is found in a page or CLI output. At most one of `xpath`, `css`, `pointer`;
/// `regex` then applies to what that found, or alone to the whole text (its `value` named
/// group, else its first group, else the whole match).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// An XPath into an XML page (the subset: `/a/b`, `//b`, `//a/b`, `[n]` positions,
    /// `@attr` and `text()` at the end).
    #[serde(default)]
    pub xpath: Option<String>,
    /// A CSS selector into an HTML page; the first match's text.
    #[serde(default)]
    pub css: Option<String>,
    /// A JSON pointer (RFC 6901) into a JSON page.
    #[serde(default)]
    pub pointer: Option<String>,
    /// A regular expression.
    #[serde(default)]
    pub regex: Option<String>,
}

/// `[[web.pages]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Path and query (`/cgi-bin/status.cgi?Command=Status`).
    pub path: String,
    /// `[[web.pages.read]]`: what to read from it.
    #[serde(default)]
    pub read: Vec<Read>,
}

/// One value read from a page or a command's output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Read {
    /// An XPath into an XML page (see [`Selector::xpath`]).
    #[serde(default)]
    pub xpath: Option<String>,
    /// A CSS selector into an HTML page; the first match's text.
    #[serde(default)]
    pub css: Option<String>,
    /// A JSON pointer (RFC 6901) into a JSON page.
    #[serde(default)]
    pub pointer: Option<String>,
    /// A regular expression over what the selector found, or over the whole text.
    #[serde(default)]
    pub regex: Option<String>,
    /// The record field (`efi-poller profiles fields` lists them), or `metric.<name>` for a
    /// metric of its own (`<name>` in snake case, with its unit at the end: `_dbm`, `_bps`).
    pub field: String,
    /// How the text becomes the value (see [`ValueSpec::transform`]).
    #[serde(default)]
    pub transform: Option<String>,
    /// Multiplies a number after the transform (kbps → bps: 1000).
    #[serde(default)]
    pub scale: Option<f64>,
    /// Answers that mean "no value" beyond the usual ones: the field is left absent.
    #[serde(default)]
    pub absent_if: Vec<String>,
}

impl Read {
    /// The selector part.
    pub fn selector(&self) -> Selector {
        Selector {
            xpath: self.xpath.clone(),
            css: self.css.clone(),
            pointer: self.pointer.clone(),
            regex: self.regex.clone(),
        }
    }
}

/// `[cli]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cli {
    /// `ssh` or `telnet`.
    pub transport: String,
    /// Port; 22 or 23 when absent.
    #[serde(default)]
    pub port: Option<u16>,
    /// Credential set for the login (password or key; SSH host keys are pinned on first
    /// use in `[cli] known_hosts`).
    pub credentials: String,
    /// Regular expression of the shell prompt, which ends every command's output.
    pub prompt: String,
    /// Time each command may take, in milliseconds.
    #[serde(default = "default_cli_timeout")]
    pub timeout_ms: u32,
    /// `[[cli.commands]]`, in order.
    pub commands: Vec<Command>,
}

fn default_cli_timeout() -> u32 {
    10_000
}

/// `[[cli.commands]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    /// The command line.
    pub send: String,
    /// `[[cli.commands.read]]`: what to read from its output (a `regex` each).
    #[serde(default)]
    pub read: Vec<Read>,
}

/// `[[tr069]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tr069Read {
    /// Full parameter path (`InternetGatewayDevice.DeviceInfo.SoftwareVersion`).
    pub path: String,
    /// The record field (`efi-poller profiles fields` lists them), or `metric.<name>` for a
    /// metric of its own (`<name>` in snake case, with its unit at the end: `_dbm`, `_bps`).
    pub field: String,
    /// How the text becomes the value (see [`ValueSpec::transform`]).
    #[serde(default)]
    pub transform: Option<String>,
    /// Multiplies a number after the transform (kbps → bps: 1000).
    #[serde(default)]
    pub scale: Option<f64>,
    /// Answers that mean "no value" beyond the usual ones: the field is left absent.
    #[serde(default)]
    pub absent_if: Vec<String>,
}

macro_rules! value_spec {
    ($($t:ty),*) => {$(
        impl $t {
            /// Where the value goes and how it is read.
            pub fn value_spec(&self) -> ValueSpec {
                ValueSpec {
                    field: self.field.clone(),
                    transform: self.transform.clone(),
                    scale: self.scale,
                    absent_if: self.absent_if.clone(),
                }
            }
        }
    )*};
}
value_spec!(SnmpRead, Read, Tr069Read);
