//! The Atom's web UI (devices.md section 5): the HTTPS CGI pages read when neither SNMP nor
//! TR-069 gives radio data, behind the UI's three-step login.
//!
//! Each poll first asks, in one step, `common.cgi?Command=GetLoginState` and the three status
//! pages. The host keeps the session cookie between polls, so a logged-in session costs
//! nothing more; when the state says `Redirect` = 1 (no session, or one that expired), the
//! phase logs in and asks the pages again:
//!
//! 1. `GET /cgi-bin/login.cgi?Command=getLoginStok` → `<login_stok>` holds a nonce;
//! 2. `POST /cgi-bin/login.cgi` `Command=setLOGINvalue&input_URN=<user>&rand_PWD=<password>`
//!    with `X-Stok: <nonce>` → `Set-Cookie` carries the session (the host fills the user
//!    and password in from the credential set; the driver never sees them);
//! 3. the pages again.
//!
//! | CGI | Command | group | elements used |
//! |---|---|---|---|
//! | `systeminfo.cgi` | `GetSetting` | `sysinfo` | idu_mac, imestr (IMEI), mb_sn (serial) |
//! | `wirelessstatus.cgi` | `GetWireless` | `wireless` | interrsrp, interrsrq, interrssi (per antenna, `/`-separated), intersinr, interCellid, intereNBid, interpci, interBandwidth, interEARFCN, interIMSI, intertxpwr |
//! | `throughput.cgi` | `getThroughput` | `netratelist` | dl_rate, ul_rate |
//!
//! No answer of a real unit was ever captured: the shapes are those a client's code reads
//! (`root.find(group).find(tag)`), so the parser is tolerant: the group anywhere in the
//! document, its elements in any order, extra elements ignored, a missing one absent. A page
//! that fails costs only its own fields, named in one warning.

use crate::Fields;
use efi_plugin_api::normalise::text_str;
use efi_plugin_api::prelude::*;
use efi_plugin_api::{now_unix_ms, HttpRequest, TlsPolicy};
use std::collections::BTreeMap;

/// The login CGI (nonce and login).
pub const LOGIN: &str = "/cgi-bin/login.cgi";
/// The page every request names as its referrer, as the UI's own pages do.
pub const LOGIN_PAGE: &str = "/Login.html";
/// The session check.
pub const LOGIN_STATE: &str = "/cgi-bin/common.cgi?Command=GetLoginState";
/// The status pages: (CGI, command, group element).
pub const PAGES: [(&str, &str, &str); 3] = [
    ("/cgi-bin/systeminfo.cgi", "GetSetting", "sysinfo"),
    ("/cgi-bin/wirelessstatus.cgi", "GetWireless", "wireless"),
    ("/cgi-bin/throughput.cgi", "getThroughput", "netratelist"),
];

/// `[drivers.baicells-atom]`: how the driver reaches the units' web UI.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AtomSettings {
    /// Credential set (`[credentials.<name>]`, username + password) the UI's login form is
    /// filled from. Unset: the web UI is not used (its status pages need a session).
    pub web_credentials: Option<String>,
    /// HTTPS port of the UI (443 on the units documented).
    pub web_port: u16,
    /// Plain HTTP instead of HTTPS (labs only). HTTPS accepts the units' self-signed
    /// certificate, which needs `[http] allow_invalid_certs = true`.
    pub web_plain_http: bool,
}

impl Default for AtomSettings {
    fn default() -> Self {
        AtomSettings {
            web_credentials: None,
            web_port: 443,
            web_plain_http: false,
        }
    }
}

/// Where the web phase is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The session check and the pages, asked together.
    CheckAndRead,
    /// The login nonce was asked for.
    Nonce,
    /// The login form was posted.
    Login,
    /// The pages, asked again after the login.
    Read,
}

/// What a web step leads to.
pub enum WebStep {
    /// Ask these next.
    Requests(Vec<IoRequest>),
    /// The fields the pages gave, and what went wrong on the way (for one warning);
    /// `Err` when no page could be read, naming why.
    Done(Result<Box<(Fields, Vec<String>)>, String>),
}

/// The web phase of one poll.
pub struct WebPhase {
    base: String,
    plain_http: bool,
    credentials: String,
    stage: Stage,
}

impl WebPhase {
    /// The phase for `target`; `None` when no credential set is configured.
    pub fn new(target: &Target, settings: &AtomSettings) -> Option<Self> {
        let credentials = settings.web_credentials.clone()?;
        // SocketAddr writes an IPv6 address in brackets, as a URL needs.
        let authority = std::net::SocketAddr::new(target.address, settings.web_port);
        let scheme = if settings.web_plain_http {
            "http"
        } else {
            "https"
        };
        Some(WebPhase {
            base: format!("{scheme}://{authority}"),
            plain_http: settings.web_plain_http,
            credentials,
            stage: Stage::CheckAndRead,
        })
    }

    fn request(&self, mut r: HttpRequest) -> IoRequest {
        // The units ship a self-signed certificate.
        if !self.plain_http {
            r.tls = TlsPolicy::AcceptInvalid;
        }
        r.headers
            .push(("referer".into(), format!("{}{LOGIN_PAGE}", self.base)));
        IoRequest::Http(r)
    }

    fn get(&self, path_and_query: &str) -> IoRequest {
        self.request(HttpRequest::get(format!("{}{path_and_query}", self.base)))
    }

    fn page_requests(&self) -> Vec<IoRequest> {
        let t = now_unix_ms();
        PAGES
            .iter()
            .map(|(cgi, command, _)| self.get(&format!("{cgi}?Command={command}&T={t}")))
            .collect()
    }

    /// The first requests: the session check and the pages.
    pub fn start(&mut self) -> Vec<IoRequest> {
        self.stage = Stage::CheckAndRead;
        let mut requests = vec![self.get(LOGIN_STATE)];
        requests.extend(self.page_requests());
        requests
    }

    /// The next step from the answers to the last one.
    pub fn resume(&mut self, responses: Vec<IoResponse>) -> WebStep {
        match self.stage {
            Stage::CheckAndRead => {
                let mut responses = responses.into_iter();
                let state = responses.next().map(xml_page);
                let logged_out = match &state {
                    Some(Ok(doc)) => doc.get("Redirect").map(|v| v.trim()) == Some("1"),
                    _ => false,
                };
                if logged_out {
                    self.stage = Stage::Nonce;
                    return WebStep::Requests(vec![
                        self.get(&format!("{LOGIN}?Command=getLoginStok"))
                    ]);
                }
                let mut problems = Vec::new();
                if let Some(Err(e)) = state {
                    // Not fatal: the pages may still answer (a firmware without the check).
                    problems.push(format!("{LOGIN_STATE}: {e}"));
                }
                WebStep::Done(read_pages(responses.collect(), problems).map(Box::new))
            }
            Stage::Nonce => {
                let nonce = match responses.into_iter().next().map(xml_page) {
                    Some(Ok(doc)) => doc.get("login_stok").cloned().filter(|n| !n.is_empty()),
                    Some(Err(e)) => {
                        return WebStep::Done(Err(format!("login: getLoginStok: {e}")));
                    }
                    None => None,
                };
                let Some(nonce) = nonce else {
                    return WebStep::Done(Err(
                        "login: the getLoginStok answer has no <login_stok> nonce".into(),
                    ));
                };
                self.stage = Stage::Login;
                let mut form = HttpRequest::post_form(
                    format!("{}{LOGIN}", self.base),
                    &[
                        ("Command", "setLOGINvalue"),
                        ("input_URN", "{username}"),
                        ("rand_PWD", "{password}"),
                    ],
                )
                .with_credentials(self.credentials.clone())
                .in_form();
                form.headers.push(("x-stok".into(), nonce));
                WebStep::Requests(vec![self.request(form)])
            }
            Stage::Login => {
                let refused = |why: String| {
                    WebStep::Done(Err(format!(
                        "login refused: {why} (is credential set \"{}\" right for this unit?)",
                        self.credentials
                    )))
                };
                match responses.into_iter().next() {
                    Some(Ok(IoReply::Http(r))) if r.status == 200 => {
                        if r.header("set-cookie").is_none() {
                            return refused("the answer set no session cookie".into());
                        }
                    }
                    Some(Ok(IoReply::Http(r))) => return refused(format!("HTTP {}", r.status)),
                    Some(Ok(_)) => return refused("not an HTTP answer".into()),
                    Some(Err(e)) => return WebStep::Done(Err(format!("login: {e}"))),
                    None => return WebStep::Done(Err("login: no answer".into())),
                }
                self.stage = Stage::Read;
                WebStep::Requests(self.page_requests())
            }
            Stage::Read => WebStep::Done(read_pages(responses, Vec::new()).map(Box::new)),
        }
    }
}

/// The text of every leaf element of an XML answer, by name (the first of each name wins),
/// or why the answer is not one.
fn xml_page(response: IoResponse) -> Result<BTreeMap<String, String>, String> {
    match response {
        Ok(IoReply::Http(r)) if r.status == 200 => elements(&r.text(), None),
        Ok(IoReply::Http(r)) => Err(format!("HTTP {}", r.status)),
        Ok(_) => Err("not an HTTP answer".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Leaf elements with their text, by name: under the first element called `group` when one
/// is given (anywhere in the document, or the root itself), else the whole document.
pub fn elements(xml: &str, group: Option<&str>) -> Result<BTreeMap<String, String>, String> {
    let doc = roxmltree::Document::parse(xml.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("not XML ({e})"))?;
    let scope = match group {
        Some(g) => doc
            .descendants()
            .find(|n| n.is_element() && n.tag_name().name() == g)
            .ok_or_else(|| format!("no <{g}> element (not the page asked for?)"))?,
        None => doc.root(),
    };
    let mut out = BTreeMap::new();
    for node in scope.descendants().filter(|n| n.is_element()) {
        if node.children().any(|c| c.is_element()) {
            continue;
        }
        let text = node.text().unwrap_or_default().trim().to_owned();
        out.entry(node.tag_name().name().to_owned()).or_insert(text);
    }
    Ok(out)
}

/// A per-antenna list (`-95/-97`, `-95 / -97`, or one value) as the values given.
pub fn antennas(list: &str) -> Vec<String> {
    list.split(['/', ','])
        .filter_map(text_str)
        .collect::<Vec<_>>()
}

/// The fields of the three status pages' answers.
fn read_pages(
    responses: Vec<IoResponse>,
    mut problems: Vec<String>,
) -> Result<(Fields, Vec<String>), String> {
    let mut groups: Vec<BTreeMap<String, String>> = Vec::new();
    let mut responses = responses.into_iter();
    for (cgi, command, group) in PAGES {
        let page = format!("{cgi}?Command={command}");
        let parsed = match responses.next() {
            Some(Ok(IoReply::Http(r))) if r.status == 200 => elements(&r.text(), Some(group)),
            Some(Ok(IoReply::Http(r))) => Err(format!("HTTP {}", r.status)),
            Some(Ok(_)) => Err("not an HTTP answer".into()),
            Some(Err(e)) => Err(e.to_string()),
            None => Err("no answer".into()),
        };
        match parsed {
            Ok(g) => groups.push(g),
            Err(e) => {
                problems.push(format!("{page}: {e}"));
                groups.push(BTreeMap::new());
            }
        }
    }
    if groups.iter().all(BTreeMap::is_empty) {
        return Err(format!(
            "no status page could be read: {}",
            problems.join("; ")
        ));
    }
    let [sysinfo, wireless, rates] = [&groups[0], &groups[1], &groups[2]];
    let get = |g: &BTreeMap<String, String>, name: &str| g.get(name).and_then(|v| text_str(v));
    let fields = Fields {
        mac: get(sysinfo, "idu_mac"),
        imei: get(sysinfo, "imestr"),
        serial: get(sysinfo, "mb_sn"),
        rsrp: wireless
            .get("interrsrp")
            .map(|l| antennas(l))
            .unwrap_or_default(),
        rsrq: get(wireless, "interrsrq"),
        rssi: get(wireless, "interrssi"),
        sinr: get(wireless, "intersinr"),
        cell: get(wireless, "interCellid"),
        enb: get(wireless, "intereNBid"),
        pci: get(wireless, "interpci"),
        bandwidth: get(wireless, "interBandwidth"),
        earfcn: get(wireless, "interEARFCN"),
        imsi: get(wireless, "interIMSI"),
        tx_power: get(wireless, "intertxpwr"),
        dl_rate: get(rates, "dl_rate"),
        ul_rate: get(rates, "ul_rate"),
        ..Fields::default()
    };
    Ok((fields, problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_is_found_anywhere_and_its_leaves_in_any_order() {
        let xml = "<?xml version=\"1.0\"?><root><other><x>1</x></other>\
                   <wireless><b> 2 </b><a>1</a><nested><c>3</c></nested></wireless></root>";
        let g = elements(xml, Some("wireless")).unwrap();
        assert_eq!(g.get("a").map(String::as_str), Some("1"));
        assert_eq!(g.get("b").map(String::as_str), Some("2"));
        assert_eq!(g.get("c").map(String::as_str), Some("3"));
        assert!(!g.contains_key("x"), "outside the group");
        // The root itself may be the group.
        let g = elements("<sysinfo><mb_sn>S1</mb_sn></sysinfo>", Some("sysinfo")).unwrap();
        assert_eq!(g.get("mb_sn").map(String::as_str), Some("S1"));
        let e = elements("<html><body>Login</body></html>", Some("sysinfo")).unwrap_err();
        assert!(e.contains("no <sysinfo> element"), "{e}");
        assert!(elements("<<\u{0}", None)
            .unwrap_err()
            .starts_with("not XML"));
    }

    #[test]
    fn antenna_lists_split_with_or_without_spaces_and_drop_no_signal() {
        assert_eq!(antennas("-95/-97"), ["-95", "-97"]);
        assert_eq!(antennas(" -95 / -97 "), ["-95", "-97"]);
        assert_eq!(antennas("-95"), ["-95"]);
        assert_eq!(antennas("-95/-"), ["-95"]);
        assert!(antennas("").is_empty());
    }
}
