//! Simulated CPE web UIs served from fixture directories: HTTP Basic or form login with a
//! session cookie, CGI pages chosen by their `Command=` query, over HTTP or self-signed
//! HTTPS, with faults (error status, garbage, truncated page, slow answer).
//!
//! A fixture directory holds `site.toml` ([`SiteConfig`]) and the pages, at their URL paths.
//! `GET /cgi-bin/x.cgi?Command=Status&T=123` serves `cgi-bin/x.cgi.Status` when that file
//! exists, else `cgi-bin/x.cgi`; `/` serves `index.html`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The directory of one of the lab's web UI fixtures (`lab/fixtures/web/<name>`:
/// `telrad-cpe12300`, `bec-ridgewave-7000`, `form-login-cpe`).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/web")
        .join(name)
}

/// How the web UI authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebAuth {
    /// Every page is open.
    #[default]
    None,
    /// HTTP Basic on every page (BEC RidgeWave; the realm names the model).
    Basic,
    /// A form POST to `login_path` sets a session cookie; other pages need it.
    Form,
    /// The Baicells Atom's login (devices.md section 5): `GET login_path?Command=getLoginStok`
    /// hands out a nonce in `<login_stok>`; `POST login_path` with
    /// `Command=setLOGINvalue&input_URN=<user>&rand_PWD=<password>` and the nonce in
    /// `X-Stok` sets the session cookie; `GET /cgi-bin/common.cgi?Command=GetLoginState`
    /// answers `<WebServer><Redirect>` 1 without a live session, 0 with one, and is open.
    Stok,
}

/// `site.toml` of a fixture directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// How pages are protected.
    #[serde(default)]
    pub auth: WebAuth,
    /// Realm of the `WWW-Authenticate` challenge (Basic).
    #[serde(default)]
    pub realm: Option<String>,
    /// The user name the device accepts.
    #[serde(default = "default_admin")]
    pub username: String,
    /// The password the device accepts.
    #[serde(default = "default_admin")]
    pub password: String,
    /// Where the login form posts `username` and `password` (form auth).
    #[serde(default = "default_login_path")]
    pub login_path: String,
    /// Served without a session; where protected pages redirect to (form auth).
    #[serde(default = "default_login_page")]
    pub login_page: String,
    /// Name of the session cookie (form auth).
    #[serde(default = "default_cookie")]
    pub cookie_name: String,
    /// Serve over HTTPS with a self-signed certificate.
    #[serde(default)]
    pub https: bool,
}

fn default_admin() -> String {
    "admin".into()
}
fn default_login_path() -> String {
    "/login.cgi".into()
}
fn default_login_page() -> String {
    "/login.html".into()
}
fn default_cookie() -> String {
    "SESSIONID".into()
}

/// What a simulated web UI does wrong, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebFault {
    /// Nothing.
    #[default]
    None,
    /// Answers every page with this status and an error page.
    Status(u16),
    /// Answers every page with bytes that are not the page.
    Garbage,
    /// Sends the first half of each page.
    Truncated,
    /// Waits this many milliseconds before answering.
    Slow(u64),
}

struct WebState {
    root: PathBuf,
    site: SiteConfig,
    sessions: Mutex<HashSet<String>>,
    /// Login nonces handed out and not used yet (stok auth).
    nonces: Mutex<HashSet<String>>,
    /// Pages (fixture file names relative to the root) answered with garbage.
    broken: Mutex<HashSet<String>>,
    logins: AtomicU64,
    requests: AtomicU64,
    fault: Mutex<WebFault>,
}

/// A running simulated web UI; stops when dropped.
pub struct WebDevice {
    server: crate::sim::SimServer,
    state: Arc<WebState>,
}

impl WebDevice {
    /// Serves the fixture directory `root` on `bind` (port 0 for an ephemeral port).
    pub async fn start(bind: SocketAddr, root: &Path) -> anyhow::Result<WebDevice> {
        let site_file = root.join("site.toml");
        let text = std::fs::read_to_string(&site_file)
            .map_err(|e| anyhow::anyhow!("{}: {e}", site_file.display()))?;
        let site: SiteConfig =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", site_file.display()))?;
        let state = Arc::new(WebState {
            root: root.to_path_buf(),
            site,
            sessions: Mutex::new(HashSet::new()),
            nonces: Mutex::new(HashSet::new()),
            broken: Mutex::new(HashSet::new()),
            logins: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            fault: Mutex::new(WebFault::None),
        });
        let router = axum::Router::new()
            .fallback(serve)
            .with_state(state.clone());
        let server = if state.site.https {
            let pki = crate::pki::TestPki::generate("cpe-self-signed");
            crate::sim::SimServer::start_tls(bind, router, pki.server_config(false)).await?
        } else {
            crate::sim::SimServer::start(bind, router).await?
        };
        Ok(WebDevice { server, state })
    }

    /// `http(s)://ip:port`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Successful form logins so far.
    pub fn logins(&self) -> u64 {
        self.state.logins.load(Ordering::Relaxed)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Plays `fault` from now on.
    pub fn set_fault(&self, fault: WebFault) {
        *self.state.fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }

    /// Forgets every session, as a unit does when its sessions time out or it reboots.
    pub fn expire_sessions(&self) {
        lock(&self.state.sessions).clear();
    }

    /// Answers the page kept in fixture file `file` (relative to the root, e.g.
    /// `cgi-bin/throughput.cgi.getThroughput`) with garbage from now on; the others stay
    /// whole.
    pub fn break_page(&self, file: &str) {
        lock(&self.state.broken).insert(file.to_owned());
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A random session token or nonce.
fn token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

fn xml(text: String) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/xml")
        .body(Body::from(text))
        .expect("static response")
}

/// The stok login's own endpoints; `None` for any other request, which then needs a session.
async fn stok_login(state: &WebState, req: Request) -> Result<Response, Request> {
    let site = &state.site;
    let path = req.uri().path().to_owned();
    let command = command_of(req.uri().query().unwrap_or_default());
    let logged_in = session_of(state, &req);
    if path == "/cgi-bin/common.cgi" && command.as_deref() == Some("GetLoginState") {
        let redirect = if logged_in { 0 } else { 1 };
        return Ok(xml(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LoginState><WebServer><Redirect>{redirect}</Redirect></WebServer></LoginState>"
        )));
    }
    if path != site.login_path {
        return Err(req);
    }
    if req.method() == axum::http::Method::GET {
        if command.as_deref() != Some("getLoginStok") {
            return Ok(plain(StatusCode::BAD_REQUEST, "unknown command"));
        }
        let nonce = token();
        lock(&state.nonces).insert(nonce.clone());
        return Ok(xml(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<login><login_stok>{nonce}</login_stok></login>"
        )));
    }
    let nonce = req
        .headers()
        .get("x-stok")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = axum::body::to_bytes(req.into_body(), 64 << 10)
        .await
        .unwrap_or_default();
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // A nonce is good for one login.
    let nonce_ok = nonce.is_some_and(|n| lock(&state.nonces).remove(&n));
    if nonce_ok
        && field("Command") == Some("setLOGINvalue")
        && field("input_URN") == Some(&site.username)
        && field("rand_PWD") == Some(&site.password)
    {
        let session = token();
        lock(&state.sessions).insert(session.clone());
        state.logins.fetch_add(1, Ordering::Relaxed);
        return Ok(Response::builder()
            .header(
                header::SET_COOKIE,
                format!("{}={session}; Path=/; HttpOnly", site.cookie_name),
            )
            .header(header::CONTENT_TYPE, "text/xml")
            .body(Body::from("<login><result>0</result></login>"))
            .expect("static response"));
    }
    // What the unit does on a refused login is not documented: no cookie, a result code.
    Ok(xml("<login><result>1</result></login>".into()))
}

/// True when the request carries a live session cookie.
fn session_of(state: &WebState, req: &Request) -> bool {
    crate::sim::cookie_values(req.headers(), &state.site.cookie_name)
        .next()
        .is_some_and(|t| lock(&state.sessions).contains(t))
}

/// The `Command=` of a query, if any.
fn command_of(query: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("command"))
        .map(|(_, v)| v.to_owned())
}

fn plain(status: StatusCode, text: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html")
        .body(Body::from(text.to_owned()))
        .expect("static response")
}

async fn serve(State(state): State<Arc<WebState>>, req: Request) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let fault = *state.fault.lock().unwrap_or_else(|e| e.into_inner());
    match fault {
        WebFault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return plain(status, "<html><body>Internal error</body></html>");
        }
        WebFault::Slow(ms) => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
        _ => {}
    }
    let site = &state.site;
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    match site.auth {
        WebAuth::None => {}
        WebAuth::Stok => {
            let req = match stok_login(&state, req).await {
                Ok(answer) => return answer,
                Err(req) => req,
            };
            if !session_of(&state, &req) && path != site.login_page && path != "/" {
                return Response::builder()
                    .status(StatusCode::FOUND)
                    .header(header::LOCATION, site.login_page.clone())
                    .body(Body::empty())
                    .expect("static response");
            }
        }
        WebAuth::Basic => {
            let header = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            if !crate::sim::basic_auth_matches(header, &site.username, &site.password) {
                let realm = site.realm.as_deref().unwrap_or("Router");
                return Response::builder()
                    .status(StatusCode::UNAUTHORIZED)
                    .header(header::WWW_AUTHENTICATE, format!("Basic realm=\"{realm}\""))
                    .body(Body::from("<html><body>401 Unauthorized</body></html>"))
                    .expect("static response");
            }
        }
        WebAuth::Form => {
            if path == site.login_path {
                let body = axum::body::to_bytes(req.into_body(), 64 << 10)
                    .await
                    .unwrap_or_default();
                let form: Vec<(String, String)> =
                    serde_urlencoded::from_bytes(&body).unwrap_or_default();
                let field = |name: &str| {
                    form.iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.as_str())
                };
                if field("username") == Some(&site.username)
                    && field("password") == Some(&site.password)
                {
                    let token = token();
                    lock(&state.sessions).insert(token.clone());
                    state.logins.fetch_add(1, Ordering::Relaxed);
                    return Response::builder()
                        .header(
                            header::SET_COOKIE,
                            format!("{}={token}; Path=/; HttpOnly", site.cookie_name),
                        )
                        .header(header::CONTENT_TYPE, "text/xml")
                        .body(Body::from("<login><result>ok</result></login>"))
                        .expect("static response");
                }
                return plain(
                    StatusCode::UNAUTHORIZED,
                    "<login><result>fail</result></login>",
                );
            }
            if !session_of(&state, &req) && path != site.login_page {
                return Response::builder()
                    .status(StatusCode::FOUND)
                    .header(header::LOCATION, site.login_page.clone())
                    .body(Body::empty())
                    .expect("static response");
            }
        }
    }
    let Some((file, bytes)) = find_page(&state.root, &path, &query) else {
        return plain(
            StatusCode::NOT_FOUND,
            "<html><body>404 Not Found</body></html>",
        );
    };
    let mut bytes = bytes;
    let relative = file.strip_prefix(&state.root).unwrap_or(&file);
    if lock(&state.broken).contains(relative.to_string_lossy().as_ref()) {
        bytes = b"<wireless><interrsrp>-9".to_vec();
    }
    match fault {
        WebFault::Garbage => bytes = b"\x00\xff<<<\x01garbage&&;".to_vec(),
        WebFault::Truncated => bytes.truncate(bytes.len() / 2),
        _ => {}
    }
    let content_type = match file.extension().and_then(|e| e.to_str()) {
        Some("html" | "htm" | "asp") => "text/html",
        Some("json") => "application/json",
        Some("js") => "application/javascript",
        _ => "text/xml",
    };
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(bytes))
        .expect("static response")
}

/// The fixture file for a request path and query, never outside `root`.
fn find_page(root: &Path, path: &str, query: &str) -> Option<(PathBuf, Vec<u8>)> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "index.html" } else { rel };
    if rel.split('/').any(|seg| seg == ".." || seg.is_empty()) || rel == "site.toml" {
        return None;
    }
    let command = command_of(query);
    let mut candidates = Vec::new();
    if let Some(c) = command.filter(|c| c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'))
    {
        candidates.push(root.join(format!("{rel}.{c}")));
    }
    candidates.push(root.join(rel));
    candidates
        .into_iter()
        .find_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_query_selects_its_own_page_and_paths_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("cgi-bin")).unwrap();
        std::fs::write(dir.path().join("cgi-bin/s.cgi.Status"), "<s/>").unwrap();
        std::fs::write(dir.path().join("cgi-bin/s.cgi"), "<any/>").unwrap();
        std::fs::write(dir.path().join("index.html"), "home").unwrap();
        let page = |p: &str, q: &str| find_page(dir.path(), p, q).map(|(_, b)| b);
        assert_eq!(
            page("/cgi-bin/s.cgi", "Command=Status&T=1").unwrap(),
            b"<s/>"
        );
        assert_eq!(page("/cgi-bin/s.cgi", "Command=Thr").unwrap(), b"<any/>");
        assert_eq!(page("/", "").unwrap(), b"home");
        assert!(page("/../etc/passwd", "").is_none());
        assert!(page("/site.toml", "").is_none());
    }
}
