//! The shell engine (drivers' `Cli` requests): expect-style SSH (ssh2) and Telnet (telnet crate)
//! sessions on a bounded pool of blocking threads, with host-held logins and SSH host keys
//! trusted on first use.
//!
//! A session: connect, log in (SSH in the protocol; then, on either transport, answer any
//! `login:` / `Password:` prompt with the named credentials), then run the driver's steps: send
//! a line, read until the output matches the step's regex or its timeout passes. Each step's
//! output comes back with ANSI sequences, `\r` and the echo of the sent line removed.

use crate::config::{CliConfig, CredentialConfig};
use efi_plugin_api::{
    CliRequest, CliStep, CliTranscript, CliTransport, IoError, IoErrorKind, IoReply, IoResponse,
};
use parking_lot::Mutex;
use regex::Regex;
use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

fn err(kind: IoErrorKind, message: impl Into<String>) -> IoError {
    IoError::new(kind, message)
}

/// The CLI engine.
pub struct ShellEngine {
    config: Arc<CliConfig>,
    credentials: Arc<BTreeMap<String, CredentialConfig>>,
    slots: Arc<Semaphore>,
    known_hosts: Arc<KnownHosts>,
}

impl ShellEngine {
    /// An engine with these settings and credential sets.
    pub fn new(config: CliConfig, credentials: BTreeMap<String, CredentialConfig>) -> Self {
        ShellEngine {
            slots: Arc::new(Semaphore::new(config.max_sessions.max(1))),
            known_hosts: Arc::new(KnownHosts::new(config.known_hosts.clone())),
            config: Arc::new(config),
            credentials: Arc::new(credentials),
        }
    }

    /// Runs one scripted session against `address`.
    pub async fn execute(&self, address: IpAddr, request: &CliRequest) -> IoResponse {
        let steps = compile_steps(&request.steps)?;
        let credentials = self
            .credentials
            .get(&request.credentials)
            .cloned()
            .ok_or_else(|| {
                err(
                    IoErrorKind::Other,
                    format!(
                        "no credential set named {:?} in [credentials]",
                        request.credentials
                    ),
                )
            })?;
        let port = request.port.unwrap_or(match request.transport {
            CliTransport::Ssh => 22,
            CliTransport::Telnet => 23,
        });
        let job = Job {
            addr: SocketAddr::new(address, port),
            transport: request.transport,
            credentials,
            steps,
            config: self.config.clone(),
            known_hosts: self.known_hosts.clone(),
        };
        let _slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| err(IoErrorKind::Other, "the CLI engine is shutting down"))?;
        tokio::task::spawn_blocking(move || job.run())
            .await
            .map_err(|e| {
                err(
                    IoErrorKind::Other,
                    format!("CLI session thread failed: {e}"),
                )
            })?
            .map(IoReply::Cli)
    }
}

struct CompiledStep {
    send: Option<String>,
    expect: Regex,
    timeout: Duration,
}

fn compile_steps(steps: &[CliStep]) -> Result<Vec<CompiledStep>, IoError> {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let expect = Regex::new(&s.expect).map_err(|e| {
                err(
                    IoErrorKind::Other,
                    format!(
                        "CLI step {}: expect {:?} is not a regex: {e}",
                        i + 1,
                        s.expect
                    ),
                )
            })?;
            Ok(CompiledStep {
                send: s.send.clone(),
                expect,
                timeout: Duration::from_millis(u64::from(s.timeout_ms)),
            })
        })
        .collect()
}

/// What one read from a session gave.
enum Chunk {
    Data(Vec<u8>),
    TimedOut,
    Closed,
}

/// One open, logged-in-or-not CLI connection.
trait Terminal {
    /// Reads what is there, waiting at most `wait`.
    fn read(&mut self, wait: Duration) -> Result<Chunk, IoError>;
    /// Sends `line` and the transport's line end.
    fn send_line(&mut self, line: &str) -> Result<(), IoError>;
}

struct Job {
    addr: SocketAddr,
    transport: CliTransport,
    credentials: CredentialConfig,
    steps: Vec<CompiledStep>,
    config: Arc<CliConfig>,
    known_hosts: Arc<KnownHosts>,
}

impl Job {
    fn run(self) -> Result<CliTranscript, IoError> {
        let connect_timeout = Duration::from_millis(self.config.connect_timeout_ms);
        let tcp = TcpStream::connect_timeout(&self.addr, connect_timeout).map_err(|e| {
            let kind = match e.kind() {
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                    IoErrorKind::Timeout
                }
                _ => IoErrorKind::Refused,
            };
            err(kind, format!("connect to {}: {e}", self.addr))
        })?;
        let _ = tcp.set_nodelay(true);
        let mut terminal: Box<dyn Terminal> = match self.transport {
            CliTransport::Telnet => Box::new(TelnetTerminal::new(tcp)),
            CliTransport::Ssh => Box::new(SshTerminal::open(
                tcp,
                self.addr,
                &self.credentials,
                connect_timeout,
                &self.config,
                &self.known_hosts,
            )?),
        };
        let mut expect = Expect::new(self.config.max_output_bytes);
        self.login(terminal.as_mut(), &mut expect)?;
        let mut outputs = Vec::with_capacity(self.steps.len());
        for (i, step) in self.steps.iter().enumerate() {
            if let Some(line) = &step.send {
                terminal.send_line(line)?;
            }
            let output = expect
                .until(terminal.as_mut(), &step.expect, step.timeout)
                .map_err(|e| {
                    err(
                        e.kind,
                        format!(
                            "CLI step {} (expect {:?}): {}",
                            i + 1,
                            step.expect.as_str(),
                            e.message
                        ),
                    )
                })?;
            outputs.push(match &step.send {
                Some(sent) => strip_echo(&output, sent),
                None => output,
            });
        }
        Ok(CliTranscript { outputs })
    }

    /// Answers login prompts until the first step's prompt shows. A script whose first step
    /// sends something waits for a generic shell prompt instead.
    fn login(&self, terminal: &mut dyn Terminal, expect: &mut Expect) -> Result<(), IoError> {
        let ready = match self.steps.first() {
            Some(step) if step.send.is_none() => step.expect.clone(),
            _ => Regex::new(r"[#>$%]\s*$").expect("static regex"),
        };
        let login = Regex::new(r"(?i)(login|user ?name)\s*:\s*$").expect("static regex");
        let password = Regex::new(r"(?i)password\s*:\s*$").expect("static regex");
        let deadline = Instant::now() + Duration::from_millis(self.config.login_timeout_ms);
        let (mut sent_user, mut sent_password) = (false, false);
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let text = expect.pending_text();
            if ready.is_match(&text) {
                if self.steps.first().is_some_and(|s| s.send.is_some()) {
                    expect.clear();
                }
                return Ok(());
            }
            if password.is_match(&text) {
                if sent_password {
                    return Err(err(
                        IoErrorKind::Auth,
                        "the device asked for the password again: login rejected",
                    ));
                }
                let secret = self.credentials.password.as_ref().ok_or_else(|| {
                    err(
                        IoErrorKind::Auth,
                        "the device asks for a password; the credential set has none",
                    )
                })?;
                terminal.send_line(secret.expose())?;
                sent_password = true;
                expect.clear();
                continue;
            }
            if login.is_match(&text) {
                if sent_user {
                    return Err(err(
                        IoErrorKind::Auth,
                        "the device asked to log in again: login rejected",
                    ));
                }
                let user = self.credentials.username.as_deref().ok_or_else(|| {
                    err(
                        IoErrorKind::Auth,
                        "the device asks for a user name; the credential set has none",
                    )
                })?;
                terminal.send_line(user)?;
                sent_user = true;
                expect.clear();
                continue;
            }
            if wait.is_zero() {
                return Err(err(
                    IoErrorKind::Timeout,
                    format!(
                        "no prompt within {} ms of connecting (last output {:?})",
                        self.config.login_timeout_ms,
                        tail(&text, 80)
                    ),
                ));
            }
            if !expect.read_more(terminal, wait)? {
                return Err(err(
                    IoErrorKind::Refused,
                    format!(
                        "the device closed the session while logging in (last output {:?})",
                        tail(&text, 80)
                    ),
                ));
            }
        }
    }
}

fn tail(text: &str, chars: usize) -> String {
    let n = text.chars().count();
    text.chars().skip(n.saturating_sub(chars)).collect()
}

/// Drops the device's echo of the line we sent, when it leads the output.
fn strip_echo(output: &str, sent: &str) -> String {
    match output.split_once('\n') {
        Some((first, rest)) if first.trim_end() == sent.trim_end() => rest.to_owned(),
        None if output.trim_end() == sent.trim_end() => String::new(),
        _ => output.to_owned(),
    }
}

/// The output buffer of a session: bytes read so far and not yet given to a step.
struct Expect {
    raw: Vec<u8>,
    max: usize,
}

impl Expect {
    fn new(max: usize) -> Self {
        Expect {
            raw: Vec::new(),
            max,
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), IoError> {
        self.raw.extend_from_slice(bytes);
        if self.raw.len() > self.max {
            return Err(err(
                IoErrorKind::Protocol,
                format!(
                    "more than {} bytes of output without the expected text",
                    self.max
                ),
            ));
        }
        Ok(())
    }

    /// Reads what the device prints within `wait` into the buffer; false once it closed.
    fn read_more(&mut self, terminal: &mut dyn Terminal, wait: Duration) -> Result<bool, IoError> {
        match terminal.read(wait)? {
            Chunk::Data(bytes) => self.push(&bytes)?,
            Chunk::TimedOut => {}
            Chunk::Closed => return Ok(false),
        }
        Ok(true)
    }

    fn pending_text(&self) -> String {
        clean_terminal_output(&self.raw)
    }

    fn clear(&mut self) {
        self.raw.clear();
    }

    /// Reads until `re` matches the cleaned output; returns the output up to the end of the
    /// match and keeps the rest for the next step.
    fn until(
        &mut self,
        terminal: &mut dyn Terminal,
        re: &Regex,
        timeout: Duration,
    ) -> Result<String, IoError> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.pending_text();
            if let Some(m) = re.find(&text) {
                let (done, rest) = text.split_at(m.end());
                let done = done.to_owned();
                self.raw = rest.as_bytes().to_vec();
                return Ok(done);
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                return Err(err(
                    IoErrorKind::Timeout,
                    format!(
                        "not seen within {} ms (last output {:?})",
                        timeout.as_millis(),
                        tail(&text, 80)
                    ),
                ));
            }
            if !self.read_more(terminal, wait)? {
                return Err(err(
                    IoErrorKind::Protocol,
                    format!(
                        "the device closed the session (output cut short after {:?})",
                        tail(&text, 80)
                    ),
                ));
            }
        }
    }
}

/// Terminal output as plain text: ANSI/VT100 escape sequences removed, `\r` and other control
/// characters dropped (newline and tab kept), backspace erasing the character before it,
/// invalid UTF-8 replaced.
pub fn clean_terminal_output(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates, then one final byte in @..~
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC, DCS, SOS, PM, APC: until BEL or ESC \
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                            chars.next();
                            break;
                        }
                    }
                }
                // Character-set selection takes one more byte.
                Some('(' | ')' | '*' | '+') => {
                    chars.next();
                }
                _ => {}
            },
            '\u{8}' => {
                out.pop();
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A Telnet connection: negotiation answered (ECHO and SUPPRESS-GO-AHEAD accepted from the
/// device, everything else refused, each request answered once).
struct TelnetTerminal {
    telnet: telnet::Telnet,
    answered: std::collections::HashSet<(u8, u8)>,
}

impl TelnetTerminal {
    fn new(tcp: TcpStream) -> Self {
        TelnetTerminal {
            telnet: telnet::Telnet::from_stream(Box::new(tcp), 4096),
            answered: Default::default(),
        }
    }

    fn negotiate(&mut self, action: telnet::Action, option: telnet::TelnetOption) {
        use telnet::{Action, TelnetOption};
        if !self.answered.insert((action.as_byte(), option.as_byte())) {
            return;
        }
        let reply = match (action, option) {
            (Action::Will, TelnetOption::Echo | TelnetOption::SuppressGoAhead) => Action::Do,
            (Action::Will, _) => Action::Dont,
            (Action::Do, TelnetOption::SuppressGoAhead) => Action::Will,
            (Action::Do, _) => Action::Wont,
            // WONT and DONT need no answer once refused.
            _ => return,
        };
        let _ = self.telnet.negotiate(&reply, option);
    }
}

impl Terminal for TelnetTerminal {
    fn read(&mut self, wait: Duration) -> Result<Chunk, IoError> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Chunk::TimedOut);
            }
            match self.telnet.read_timeout(left) {
                Ok(telnet::Event::Data(bytes)) => return Ok(Chunk::Data(bytes.into_vec())),
                Ok(telnet::Event::TimedOut) | Ok(telnet::Event::NoData) => {
                    return Ok(Chunk::TimedOut)
                }
                Ok(telnet::Event::Negotiation(action, option)) => self.negotiate(action, option),
                Ok(telnet::Event::Subnegotiation(..)) | Ok(telnet::Event::UnknownIAC(_)) => {}
                // The crate reports a read of zero bytes (the peer closed) as an empty queue.
                Ok(telnet::Event::Error(_)) => return Ok(Chunk::Closed),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return Ok(Chunk::Closed)
                }
                Err(e) => return Err(err(IoErrorKind::Other, format!("telnet read: {e}"))),
            }
        }
    }

    fn send_line(&mut self, line: &str) -> Result<(), IoError> {
        let mut data = Vec::with_capacity(line.len() + 2);
        data.extend_from_slice(line.as_bytes());
        data.extend_from_slice(b"\r\n");
        self.telnet
            .write(&data)
            .map(|_| ())
            .map_err(|e| err(IoErrorKind::Other, format!("telnet write: {e}")))
    }
}

/// An SSH shell channel on a PTY.
struct SshTerminal {
    session: ssh2::Session,
    channel: ssh2::Channel,
}

fn ssh_err(what: &str, e: ssh2::Error) -> IoError {
    let kind = match e.code() {
        // LIBSSH2_ERROR_TIMEOUT, LIBSSH2_ERROR_SOCKET_TIMEOUT
        ssh2::ErrorCode::Session(-9) | ssh2::ErrorCode::Session(-30) => IoErrorKind::Timeout,
        _ => IoErrorKind::Protocol,
    };
    err(kind, format!("ssh {what}: {e}"))
}

impl SshTerminal {
    fn open(
        tcp: TcpStream,
        addr: SocketAddr,
        credentials: &CredentialConfig,
        timeout: Duration,
        config: &CliConfig,
        known_hosts: &KnownHosts,
    ) -> Result<Self, IoError> {
        let mut session = ssh2::Session::new().map_err(|e| ssh_err("session", e))?;
        session.set_tcp_stream(tcp);
        session.set_timeout(timeout.as_millis().min(u128::from(u32::MAX)) as u32);
        session.handshake().map_err(|e| ssh_err("handshake", e))?;
        if !config.insecure_accept_any_host_key {
            let (key, kind) = session
                .host_key()
                .ok_or_else(|| err(IoErrorKind::Protocol, "ssh: the server sent no host key"))?;
            known_hosts.check_or_learn(addr, key_type_name(kind), key)?;
        }
        let user = credentials.username.as_deref().ok_or_else(|| {
            err(
                IoErrorKind::Auth,
                "ssh needs a user name; the credential set has none",
            )
        })?;
        if let Some(key_file) = &credentials.private_key_file {
            let passphrase = credentials
                .private_key_passphrase
                .as_ref()
                .map(|p| p.expose());
            // A rejected key falls through to the password, when there is one.
            let key_file = crate::config::resolve_path(key_file)
                .map_err(|e| err(IoErrorKind::Other, format!("ssh private_key_file {e}")))?;
            let _ = session.userauth_pubkey_file(user, None, &key_file, passphrase);
        }
        if !session.authenticated() {
            if let Some(password) = &credentials.password {
                session
                    .userauth_password(user, password.expose())
                    .map_err(|e| err(IoErrorKind::Auth, format!("ssh login as {user}: {e}")))?;
            }
        }
        if !session.authenticated() {
            return Err(err(
                IoErrorKind::Auth,
                format!("ssh login as {user}: no method accepted"),
            ));
        }
        let mut channel = session
            .channel_session()
            .map_err(|e| ssh_err("open channel", e))?;
        channel
            .request_pty("vt100", None, Some((200, 50, 0, 0)))
            .map_err(|e| ssh_err("pty", e))?;
        channel.shell().map_err(|e| ssh_err("shell", e))?;
        Ok(SshTerminal { session, channel })
    }
}

impl Terminal for SshTerminal {
    fn read(&mut self, wait: Duration) -> Result<Chunk, IoError> {
        // libssh2 treats a timeout of 0 as "wait forever".
        let ms = wait.as_millis().clamp(1, u128::from(u32::MAX)) as u32;
        self.session.set_timeout(ms);
        let mut buf = [0u8; 4096];
        match self.channel.read(&mut buf) {
            Ok(0) => Ok(Chunk::Closed),
            Ok(n) => Ok(Chunk::Data(buf[..n].to_vec())),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Ok(Chunk::TimedOut),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(Chunk::TimedOut),
            Err(e) => Err(err(IoErrorKind::Protocol, format!("ssh read: {e}"))),
        }
    }

    fn send_line(&mut self, line: &str) -> Result<(), IoError> {
        self.session.set_timeout(5000);
        let mut data = Vec::with_capacity(line.len() + 1);
        data.extend_from_slice(line.as_bytes());
        data.push(b'\n');
        self.channel
            .write_all(&data)
            .and_then(|_| self.channel.flush())
            .map_err(|e| err(IoErrorKind::Protocol, format!("ssh write: {e}")))
    }
}

impl Drop for SshTerminal {
    fn drop(&mut self) {
        self.session.set_timeout(500);
        let _ = self.channel.close();
        let _ = self.session.disconnect(None, "done", None);
    }
}

fn key_type_name(kind: ssh2::HostKeyType) -> &'static str {
    match kind {
        ssh2::HostKeyType::Rsa => "ssh-rsa",
        ssh2::HostKeyType::Dss => "ssh-dss",
        ssh2::HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        ssh2::HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        ssh2::HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        ssh2::HostKeyType::Ed25519 => "ssh-ed25519",
        ssh2::HostKeyType::Unknown => "unknown",
    }
}

/// SSH host keys by host, kept in an OpenSSH `known_hosts` file: the first key a device shows
/// is learned and appended; a different one later is refused.
pub struct KnownHosts {
    path: PathBuf,
    keys: Mutex<Option<HashMap<String, (String, String)>>>,
}

impl KnownHosts {
    /// Keys kept in `path` (read on first use; missing means empty).
    pub fn new(path: PathBuf) -> Self {
        KnownHosts {
            path,
            keys: Mutex::new(None),
        }
    }

    /// The `known_hosts` name of an address: `1.2.3.4` on port 22, `[1.2.3.4]:2222` otherwise.
    pub fn host_name(addr: SocketAddr) -> String {
        match addr.port() {
            22 => addr.ip().to_string(),
            port => format!("[{}]:{port}", addr.ip()),
        }
    }

    /// Accepts `key` for `addr` if it is the one on record, or records it if there is none.
    pub fn check_or_learn(
        &self,
        addr: SocketAddr,
        key_type: &str,
        key: &[u8],
    ) -> Result<(), IoError> {
        use base64::Engine as _;
        let host = Self::host_name(addr);
        let encoded = base64::engine::general_purpose::STANDARD.encode(key);
        let mut guard = self.keys.lock();
        let keys = guard.get_or_insert_with(|| self.load());
        match keys.get(&host) {
            Some((t, k)) if t == key_type && *k == encoded => Ok(()),
            Some((t, _)) => Err(err(
                IoErrorKind::Auth,
                format!(
                    "ssh host key of {host} changed (a {key_type} key now, a different {t} key on record in {}); \
                     no password sent. If the device was replaced, delete its line from that file",
                    self.path.display()
                ),
            )),
            None => {
                let line = format!("{host} {key_type} {encoded}\n");
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .and_then(|mut f| f.write_all(line.as_bytes()))
                    .map_err(|e| {
                        err(
                            IoErrorKind::Other,
                            format!("cannot record the ssh host key of {host} in {}: {e}", self.path.display()),
                        )
                    })?;
                tracing::info!(host = %host, key_type, file = %self.path.display(), "learned a new ssh host key");
                keys.insert(host, (key_type.to_owned(), encoded));
                Ok(())
            }
        }
    }

    fn load(&self) -> HashMap<String, (String, String)> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let mut keys = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            if let (Some(hosts), Some(t), Some(k)) = (fields.next(), fields.next(), fields.next()) {
                for host in hosts.split(',') {
                    keys.insert(host.to_owned(), (t.to_owned(), k.to_owned()));
                }
            }
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_sequences_carriage_returns_and_backspaces_are_removed() {
        let raw = b"\x1b[1;32mBEC>\x1b[0m show\r\nRSRP:\t-95\r\n\x1b]0;title\x07ab\x08c\x1b(B";
        assert_eq!(clean_terminal_output(raw), "BEC> show\nRSRP:\t-95\nac");
    }

    #[test]
    fn the_echo_of_the_sent_line_is_dropped_only_when_it_leads() {
        assert_eq!(strip_echo("show\nA\n> ", "show"), "A\n> ");
        assert_eq!(strip_echo("A\n> ", "show"), "A\n> ");
        assert_eq!(strip_echo("show", "show"), "");
    }

    #[test]
    fn a_bad_step_regex_is_named() {
        let e = compile_steps(&[CliStep {
            send: None,
            expect: "(".into(),
            timeout_ms: 10,
        }])
        .err()
        .unwrap();
        assert!(e.message.contains("CLI step 1"), "{}", e.message);
    }

    #[test]
    fn known_hosts_learns_then_refuses_a_changed_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kh");
        let addr: SocketAddr = "127.0.0.1:2222".parse().unwrap();
        let kh = KnownHosts::new(path.clone());
        kh.check_or_learn(addr, "ssh-ed25519", b"key-one").unwrap();
        kh.check_or_learn(addr, "ssh-ed25519", b"key-one").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("[127.0.0.1]:2222 ssh-ed25519 "), "{text}");
        // A new process reads the file and still refuses another key.
        let again = KnownHosts::new(path);
        let e = again
            .check_or_learn(addr, "ssh-ed25519", b"key-two")
            .unwrap_err();
        assert_eq!(e.kind, IoErrorKind::Auth);
        assert!(e.message.contains("changed"), "{}", e.message);
    }
}
