//! One poll with a profile: every way in it declares asked at once (SNMP GETs and walks, the
//! TR-069 cache, the CLI session, the web pages or the first request of the web login), the
//! web login's steps after, then every value read into the record. A value that cannot be
//! read is absent, and one warning per poll names the profile, the step and the field.

use crate::fields::{Value, Values};
use crate::profile::{Combine, Login, Profile, SnmpRead, TextRead};
use efi_plugin_api::normalise::{average_nonzero, text};
use efi_plugin_api::prelude::*;
use efi_plugin_api::{
    CliRequest, CliStep, HttpRequest, IoError, IoErrorKind, SnmpValue, TlsPolicy,
};
use std::sync::Arc;

/// The problems last reported per device, so a device that keeps failing the same way
/// gives one warning, not one per poll (repeats go to the debug level).
#[derive(Debug, Default)]
pub struct Reported(std::sync::Mutex<std::collections::HashMap<String, u64>>);

impl Reported {
    /// True when `problems` differ from what was last reported for `device`; remembers them.
    fn is_news(&self, device: &str, problems: &[String]) -> bool {
        use std::hash::{Hash, Hasher};
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if problems.is_empty() {
            map.remove(device);
            return false;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        problems.hash(&mut h);
        map.insert(device.to_owned(), h.finish()) != Some(h.finish())
    }
}

/// What each request of the first step was.
#[derive(Debug, Clone, Copy)]
enum Asked {
    SnmpGet,
    Walk(usize),
    Tr069,
    Cli,
    Page(usize),
    Nonce,
    Login,
}

/// The collect task.
pub struct Collect {
    profile: Arc<Profile>,
    base: String,
    values: Values,
    problems: Vec<String>,
    /// Set while the web login is under way: the requests that follow.
    web_next: Vec<Asked>,
    /// The nonce, once read.
    nonce: Option<String>,
    address: String,
    reported: Arc<Reported>,
}

impl Collect {
    /// A poll of `target` with `profile`.
    pub fn new(profile: Arc<Profile>, target: &Target) -> Collect {
        let base = profile
            .web
            .as_ref()
            .map(|w| {
                let authority =
                    std::net::SocketAddr::new(target.address, w.port.unwrap_or(target.web_port));
                format!("{}://{authority}", w.scheme)
            })
            .unwrap_or_default();
        Collect {
            profile,
            base,
            values: Values::default(),
            problems: Vec::new(),
            web_next: Vec::new(),
            nonce: None,
            address: target.address.to_string(),
            reported: Arc::default(),
        }
    }

    /// Shares the memory of what was reported with the driver's other polls.
    pub fn reporting_to(mut self, reported: Arc<Reported>) -> Self {
        self.reported = reported;
        self
    }

    fn problem(&mut self, step: &str, what: String) {
        self.problems
            .push(format!("profile {}, {step}: {what}", self.profile.name));
    }

    /// The certificate policy of the profile's web UI.
    fn tls(&self) -> TlsPolicy {
        match &self.profile.web {
            Some(w) if w.accept_invalid_certs => TlsPolicy::AcceptInvalid,
            _ => TlsPolicy::Verify,
        }
    }

    fn http(&self, path: &str) -> HttpRequest {
        let web = self
            .profile
            .web
            .as_ref()
            .expect("web requests only with [web]");
        let mut r = HttpRequest::get(format!("{}{path}", self.base));
        r.tls = self.tls();
        for (k, v) in &web.headers {
            r.headers.push((k.clone(), v.clone()));
        }
        if matches!(web.login, Login::Basic) {
            r.credentials = web.credentials.clone();
        }
        r
    }

    fn request(&self, asked: Asked) -> IoRequest {
        let p = &self.profile;
        match asked {
            Asked::SnmpGet => IoRequest::SnmpGet {
                oids: p.snmp_get.iter().flat_map(|r| r.oids.clone()).collect(),
            },
            Asked::Walk(i) => IoRequest::SnmpWalk {
                root: p.snmp_walk[i].oids[0].clone(),
                max_repetitions: 0,
            },
            Asked::Tr069 => IoRequest::Tr069 {
                parameter_paths: p.tr069.iter().map(|(path, _)| path.clone()).collect(),
            },
            Asked::Cli => {
                let cli = p.cli.as_ref().expect("cli requests only with [cli]");
                let mut steps = vec![CliStep {
                    send: None,
                    expect: cli.prompt.clone(),
                    timeout_ms: cli.timeout_ms,
                }];
                steps.extend(cli.commands.iter().map(|(send, _)| CliStep {
                    send: Some(send.clone()),
                    expect: cli.prompt.clone(),
                    timeout_ms: cli.timeout_ms,
                }));
                IoRequest::Cli(CliRequest {
                    transport: cli.transport,
                    port: cli.port,
                    credentials: cli.credentials.clone(),
                    steps,
                })
            }
            Asked::Page(i) => {
                let web = p.web.as_ref().expect("pages only with [web]");
                IoRequest::Http(self.http(&web.pages[i].0))
            }
            Asked::Nonce => {
                let Some(Login::Form(form)) = p.web.as_ref().map(|w| &w.login) else {
                    unreachable!("a nonce only with a form login")
                };
                let path = &form.nonce.as_ref().expect("nonce only when configured").0;
                IoRequest::Http(self.http(path))
            }
            Asked::Login => {
                let web = p.web.as_ref().expect("login only with [web]");
                let Login::Form(form) = &web.login else {
                    unreachable!("a login POST only with a form login")
                };
                let mut fields: Vec<(&str, &str)> = form
                    .fields
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                if let (Some(name), Some(nonce)) = (&form.nonce_field, &self.nonce) {
                    fields.push((name.as_str(), nonce.as_str()));
                }
                let mut r = HttpRequest::post_form(format!("{}{}", self.base, form.path), &fields);
                r.tls = self.tls();
                r.headers.extend(web.headers.iter().cloned());
                if let (Some(header), Some(nonce)) = (&form.nonce_header, &self.nonce) {
                    r.headers.push((header.to_ascii_lowercase(), nonce.clone()));
                }
                r.credentials = web.credentials.clone();
                r.credentials_in_form = true;
                IoRequest::Http(r)
            }
        }
    }

    fn pages(&self) -> Vec<Asked> {
        let n = self.profile.web.as_ref().map_or(0, |w| w.pages.len());
        (0..n).map(Asked::Page).collect()
    }

    /// The first step's requests.
    fn first(&mut self) -> Vec<Asked> {
        let p = self.profile.clone();
        let mut asked = Vec::new();
        if !p.snmp_get.is_empty() {
            asked.push(Asked::SnmpGet);
        }
        asked.extend((0..p.snmp_walk.len()).map(Asked::Walk));
        if !p.tr069.is_empty() {
            asked.push(Asked::Tr069);
        }
        if p.cli.is_some() {
            asked.push(Asked::Cli);
        }
        match p.web.as_ref().map(|w| &w.login) {
            Some(Login::None | Login::Basic) => asked.extend(self.pages()),
            Some(Login::Form(form)) if form.nonce.is_some() => asked.push(Asked::Nonce),
            Some(Login::Form(_)) => asked.push(Asked::Login),
            None => {}
        }
        asked
    }

    fn read_text(&mut self, step: &str, reads: &[TextRead], text: &str) {
        for r in reads {
            let field = r.target.field.clone();
            match r.select.find(text).and_then(|t| r.target.read(&t)) {
                Ok(Some(v)) => self.values.put(&field, v),
                Ok(None) => {}
                Err(e) => self.problem(step, format!("{field}: {e}")),
            }
        }
    }

    fn read_snmp(
        &mut self,
        reads: &[SnmpRead],
        values: &[(efi_plugin_api::Oid, SnmpValue)],
        walk: bool,
    ) {
        for r in reads {
            let field = r.target.field.clone();
            let raw: Vec<&SnmpValue> = values
                .iter()
                .filter(|(o, _)| {
                    if walk {
                        o.is_below(&r.oids[0])
                    } else {
                        r.oids.contains(o)
                    }
                })
                .map(|(_, v)| v)
                .collect();
            let mut read = Vec::new();
            for v in raw {
                let as_text = match v {
                    // A MAC as six raw bytes.
                    SnmpValue::OctetString(b) if b.len() == 6 && r.target.transform == "mac" => {
                        Some(
                            b.iter()
                                .map(|x| format!("{x:02x}"))
                                .collect::<Vec<_>>()
                                .join(":"),
                        )
                    }
                    other => text(other),
                };
                let Some(t) = as_text else { continue };
                match r.target.read(&t) {
                    Ok(Some(v)) => read.push(v),
                    Ok(None) => {}
                    Err(e) => self.problem(
                        if walk { "snmp walk" } else { "snmp get" },
                        format!("{field}: {e}"),
                    ),
                }
            }
            if let Some(v) = combine(r.combine, read) {
                self.values.put(&field, v);
            }
        }
    }

    fn read_first(&mut self, asked: &[Asked], responses: Vec<IoResponse>) {
        let p = self.profile.clone();
        let missing = || Err(IoError::new(IoErrorKind::Other, "no answer"));
        let mut responses = responses.into_iter().chain(std::iter::repeat_with(missing));
        for a in asked {
            let response = responses.next().unwrap_or_else(missing);
            match (a, response) {
                (Asked::SnmpGet, Ok(IoReply::Snmp(vbs))) => {
                    let v: Vec<_> = vbs.into_iter().map(|v| (v.oid, v.value)).collect();
                    self.read_snmp(&p.snmp_get, &v, false);
                }
                (Asked::Walk(i), Ok(IoReply::Snmp(vbs))) => {
                    let v: Vec<_> = vbs.into_iter().map(|v| (v.oid, v.value)).collect();
                    self.read_snmp(std::slice::from_ref(&p.snmp_walk[*i]), &v, true);
                }
                (Asked::Tr069, Ok(IoReply::Tr069(params))) => {
                    for (path, target) in &p.tr069 {
                        let Some(param) = params.iter().find(|x| &x.path == path) else {
                            continue;
                        };
                        match target.read(&param.value) {
                            Ok(Some(v)) => self.values.put(&target.field, v),
                            Ok(None) => {}
                            Err(e) => self.problem("tr069", format!("{}: {e}", target.field)),
                        }
                    }
                }
                (Asked::Cli, Ok(IoReply::Cli(transcript))) => {
                    let cli = p.cli.as_ref().expect("asked only with [cli]");
                    // Output 0 is the login's; command i's is output i + 1.
                    for (i, (send, reads)) in cli.commands.iter().enumerate() {
                        match transcript.outputs.get(i + 1) {
                            Some(out) => self.read_text(&format!("cli `{send}`"), reads, out),
                            None => self.problem(&format!("cli `{send}`"), "no output".into()),
                        }
                    }
                }
                (Asked::Page(i), response) => self.read_page(*i, response),
                (Asked::Nonce, response) => self.read_nonce(response),
                (Asked::Login, response) => self.read_login(response),
                (a, Err(e)) => self.problem(name(*a), e.to_string()),
                (a, Ok(_)) => self.problem(name(*a), "an answer of the wrong kind".into()),
            }
        }
    }

    fn read_page(&mut self, i: usize, response: IoResponse) {
        let p = self.profile.clone();
        let web = p.web.as_ref().expect("pages only with [web]");
        let (path, reads) = &web.pages[i];
        let step = format!("web {path}");
        match response {
            Ok(IoReply::Http(r)) if r.status == 200 => self.read_text(&step, reads, &r.text()),
            Ok(IoReply::Http(r)) => self.problem(&step, format!("HTTP {}", r.status)),
            Ok(_) => self.problem(&step, "not an HTTP answer".into()),
            Err(e) => self.problem(&step, e.to_string()),
        }
    }

    fn read_nonce(&mut self, response: IoResponse) {
        let p = self.profile.clone();
        let Some(Login::Form(form)) = p.web.as_ref().map(|w| &w.login) else {
            return;
        };
        let (path, select) = form.nonce.as_ref().expect("asked only when configured");
        let step = format!("web login nonce {path}");
        let found = match response {
            Ok(IoReply::Http(r)) if r.status == 200 => select.find(&r.text()),
            Ok(IoReply::Http(r)) => Err(format!("HTTP {}", r.status)),
            Ok(_) => Err("not an HTTP answer".into()),
            Err(e) => Err(e.to_string()),
        };
        match found.map(|n| n.trim().to_owned()) {
            Ok(n) if !n.is_empty() => {
                self.nonce = Some(n);
                self.web_next = vec![Asked::Login];
            }
            Ok(_) => self.problem(&step, "the nonce is empty".into()),
            Err(e) => self.problem(&step, e),
        }
    }

    fn read_login(&mut self, response: IoResponse) {
        let p = self.profile.clone();
        let Some(Login::Form(form)) = p.web.as_ref().map(|w| &w.login) else {
            return;
        };
        let step = format!("web login {}", form.path);
        match response {
            Ok(IoReply::Http(r)) if (200..400).contains(&r.status) => {
                self.web_next = self.pages();
            }
            Ok(IoReply::Http(r)) => self.problem(
                &step,
                format!(
                    "HTTP {} (is the credential set right for this unit?)",
                    r.status
                ),
            ),
            Ok(_) => self.problem(&step, "not an HTTP answer".into()),
            Err(e) => self.problem(&step, e.to_string()),
        }
    }

    fn finish(&mut self) -> Step<DeviceRecord> {
        let p = &self.profile;
        if self.values.values.is_empty() {
            // A failed poll is reported by the host, once per change of state.
            self.reported.is_news(&self.address, &[]);
            return Step::Failed(PluginError::io(format!(
                "{} (profile {}, {}): nothing could be read: {}",
                self.address,
                p.name,
                p.file.display(),
                if self.problems.is_empty() {
                    "the device gave no value for any field".to_owned()
                } else {
                    self.problems.join("; ")
                }
            )));
        }
        if self.reported.is_news(&self.address, &self.problems) {
            efi_plugin_api::tracing::warn!(
                device = %self.address,
                "record is partial: {}",
                self.problems.join("; ")
            );
        } else if !self.problems.is_empty() {
            efi_plugin_api::tracing::debug!(
                device = %self.address,
                "record is partial (as before): {}",
                self.problems.join("; ")
            );
        }
        Step::Done(self.values.record(&p.vendor, p.model.as_deref()))
    }
}

fn name(a: Asked) -> &'static str {
    match a {
        Asked::SnmpGet => "snmp get",
        Asked::Walk(_) => "snmp walk",
        Asked::Tr069 => "tr069",
        Asked::Cli => "cli",
        Asked::Page(_) => "web page",
        Asked::Nonce => "web login nonce",
        Asked::Login => "web login",
    }
}

/// Several values as one.
fn combine(how: Combine, values: Vec<Value>) -> Option<Value> {
    if how == Combine::First || values.iter().any(|v| !matches!(v, Value::Number(_))) {
        return values.into_iter().next();
    }
    let n: Vec<f64> = values
        .iter()
        .filter_map(|v| match v {
            Value::Number(n) => Some(*n),
            _ => None,
        })
        .collect();
    if n.is_empty() {
        return None;
    }
    let v = match how {
        Combine::First => n[0],
        Combine::Mean => n.iter().sum::<f64>() / n.len() as f64,
        Combine::MeanNonzero => average_nonzero(&n)?,
        Combine::Sum => n.iter().sum(),
        Combine::Min => n.iter().copied().fold(f64::INFINITY, f64::min),
        Combine::Max => n.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    };
    Some(Value::Number(v))
}

/// The task: the first step, then the web login's steps.
pub struct ProfileTask {
    collect: Collect,
    asked: Vec<Asked>,
}

impl ProfileTask {
    /// The task.
    pub fn new(collect: Collect) -> Self {
        ProfileTask {
            collect,
            asked: Vec::new(),
        }
    }
}

impl Task for ProfileTask {
    type Output = DeviceRecord;

    fn start(&mut self) -> Step<DeviceRecord> {
        self.asked = self.collect.first();
        Step::Requests(
            self.asked
                .iter()
                .map(|a| self.collect.request(*a))
                .collect(),
        )
    }

    fn resume(&mut self, responses: Vec<IoResponse>) -> Step<DeviceRecord> {
        let asked = std::mem::take(&mut self.asked);
        self.collect.read_first(&asked, responses);
        let next = std::mem::take(&mut self.collect.web_next);
        if next.is_empty() {
            return self.collect.finish();
        }
        self.asked = next;
        Step::Requests(
            self.asked
                .iter()
                .map(|a| self.collect.request(*a))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_problems_are_news_once_per_device_until_they_change_or_clear() {
        let r = Reported::default();
        let a = vec!["profile p, snmp get: rsrp_dbm: \"x\" is not a valid number".to_owned()];
        let b = vec!["profile p, web /s: HTTP 500".to_owned()];
        assert!(r.is_news("10.0.0.1", &a));
        assert!(!r.is_news("10.0.0.1", &a), "the same again: a repeat");
        assert!(r.is_news("10.0.0.2", &a), "another device");
        assert!(r.is_news("10.0.0.1", &b), "changed");
        assert!(!r.is_news("10.0.0.1", &[]), "a whole record is no news");
        assert!(
            r.is_news("10.0.0.1", &b),
            "after a whole record, the problem is news again"
        );
    }
}
