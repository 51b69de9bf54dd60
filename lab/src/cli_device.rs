//! Scripted SSH and Telnet CLIs of simulated CPEs: a banner, login prompts, a prompt, canned
//! answers per command, and faults (output cut short, a prompt that never comes).
//!
//! One [`CliScript`] drives both transports. Telnet is served by hand (IAC negotiation is a
//! few bytes: the device offers ECHO and SUPPRESS-GO-AHEAD and ignores the client's
//! answers); SSH by russh with password authentication and a shell channel on a PTY.
//! Answers go out with `\r\n` line ends and, when asked, an ANSI-coloured prompt, the way
//! real CPE shells print them.

use russh::server::{Auth, Msg, Session};
use russh::{Channel, ChannelId};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a simulated CLI does wrong, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CliFault {
    /// Nothing.
    #[default]
    None,
    /// Closes the connection after this many bytes of a command's answer.
    CutAfter(usize),
    /// Accepts the login but never prints a prompt again.
    NoPrompt,
}

/// The behaviour of one simulated CLI.
#[derive(Debug, Clone)]
pub struct CliScript {
    /// Printed when a connection opens (before the Telnet login prompt).
    pub banner: String,
    /// The user name the device accepts.
    pub username: String,
    /// The password the device accepts.
    pub password: String,
    /// The shell prompt, e.g. `"BEC> "`.
    pub prompt: String,
    /// Answers by command line (`"\n"` line ends; sent as `"\r\n"`).
    pub commands: BTreeMap<String, String>,
    /// Wraps the prompt in ANSI colour sequences.
    pub colour_prompt: bool,
    /// A fault to play.
    pub fault: CliFault,
}

impl CliScript {
    /// A script with one user, a prompt and no commands yet.
    pub fn new(username: &str, password: &str, prompt: &str) -> Self {
        CliScript {
            banner: String::new(),
            username: username.into(),
            password: password.into(),
            prompt: prompt.into(),
            commands: BTreeMap::new(),
            colour_prompt: false,
            fault: CliFault::None,
        }
    }

    /// Adds a canned answer.
    pub fn command(mut self, line: &str, answer: &str) -> Self {
        self.commands.insert(line.into(), answer.into());
        self
    }

    fn prompt_bytes(&self) -> Vec<u8> {
        if self.colour_prompt {
            format!("\x1b[1;32m{}\x1b[0m", self.prompt).into_bytes()
        } else {
            self.prompt.clone().into_bytes()
        }
    }
}

fn crlf(text: &str) -> Vec<u8> {
    text.replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

#[derive(Debug, PartialEq, Eq)]
enum ShellState {
    User,
    Password { user: String },
    Prompt,
    Closed,
}

/// The line discipline and login of one CLI connection, independent of the transport.
struct Shell {
    script: Arc<CliScript>,
    state: ShellState,
    line: Vec<u8>,
    last_cr: bool,
}

impl Shell {
    fn new(script: Arc<CliScript>) -> Self {
        Shell {
            script,
            state: ShellState::User,
            line: Vec::new(),
            last_cr: false,
        }
    }

    /// What the device prints first; `authenticated` skips the login prompts (SSH).
    fn begin(&mut self, authenticated: bool) -> Vec<u8> {
        let mut out = crlf(&self.script.banner);
        if authenticated {
            self.state = ShellState::Prompt;
            out.extend(self.script.prompt_bytes());
        } else {
            out.extend_from_slice(b"login: ");
        }
        out
    }

    fn closed(&self) -> bool {
        self.state == ShellState::Closed
    }

    /// Feeds client bytes; returns what the device prints back (echo and answers).
    fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.closed() {
                break;
            }
            let was_cr = std::mem::replace(&mut self.last_cr, b == b'\r');
            match b {
                b'\n' if was_cr => {}
                b'\r' | b'\n' | 0 => {
                    let line =
                        String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
                    out.extend_from_slice(b"\r\n");
                    out.extend(self.line_done(line.trim()));
                }
                0x08 | 0x7f => {
                    if self.line.pop().is_some() && self.echoes() {
                        out.extend_from_slice(b"\x08 \x08");
                    }
                }
                _ => {
                    self.line.push(b);
                    if self.echoes() {
                        out.push(b);
                    }
                }
            }
        }
        out
    }

    fn echoes(&self) -> bool {
        !matches!(self.state, ShellState::Password { .. })
    }

    fn line_done(&mut self, line: &str) -> Vec<u8> {
        match std::mem::replace(&mut self.state, ShellState::Closed) {
            ShellState::User => {
                self.state = ShellState::Password { user: line.into() };
                b"Password: ".to_vec()
            }
            ShellState::Password { user } => {
                if user == self.script.username && line == self.script.password {
                    self.state = ShellState::Prompt;
                    if self.script.fault == CliFault::NoPrompt {
                        return Vec::new();
                    }
                    self.script.prompt_bytes()
                } else {
                    self.state = ShellState::User;
                    b"Login incorrect\r\n\r\nlogin: ".to_vec()
                }
            }
            ShellState::Prompt => {
                self.state = ShellState::Prompt;
                if line == "exit" || line == "quit" || line == "logout" {
                    self.state = ShellState::Closed;
                    return Vec::new();
                }
                let mut out = match (line.is_empty(), self.script.commands.get(line)) {
                    (true, _) => Vec::new(),
                    (false, Some(answer)) => crlf(answer),
                    (false, None) => format!("% Unknown command: {line}\r\n").into_bytes(),
                };
                if let CliFault::CutAfter(n) = self.script.fault {
                    if !line.is_empty() {
                        out.truncate(n);
                        self.state = ShellState::Closed;
                        return out;
                    }
                }
                if self.script.fault != CliFault::NoPrompt {
                    out.extend(self.script.prompt_bytes());
                }
                out
            }
            ShellState::Closed => Vec::new(),
        }
    }
}

/// Strips Telnet commands (IAC sequences) from a client's byte stream, across reads.
#[derive(Default)]
struct IacFilter {
    state: u8,
}

impl IacFilter {
    const IAC: u8 = 255;

    fn filter(&mut self, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            self.state = match (self.state, b) {
                (0, Self::IAC) => 1,
                (0, _) => {
                    out.push(b);
                    0
                }
                (1, Self::IAC) => {
                    out.push(b);
                    0
                }
                (1, 251..=254) => 2, // WILL/WONT/DO/DONT: one option byte follows
                (1, 250) => 3,       // SB: until IAC SE
                (1, _) => 0,
                (2, _) => 0,
                (3, Self::IAC) => 4,
                (3, _) => 3,
                (4, 240) => 0,
                (4, _) => 3,
                _ => 0,
            };
        }
        out
    }
}

/// A fresh Ed25519 SSH host key.
pub fn random_host_key() -> russh::keys::PrivateKey {
    let seed: [u8; 32] = rand::random();
    russh::keys::ssh_key::private::Ed25519Keypair::from_seed(&seed).into()
}

/// A running simulated CLI (Telnet and SSH listeners); stops when dropped.
pub struct CliDevice {
    telnet: SocketAddr,
    ssh: SocketAddr,
    host_key: String,
    logins: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for CliDevice {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl CliDevice {
    /// Serves `script` over Telnet and SSH on `ip` (ephemeral ports), with a fresh Ed25519
    /// host key.
    pub async fn start(ip: std::net::IpAddr, script: CliScript) -> std::io::Result<CliDevice> {
        Self::start_with_key(ip, script, random_host_key()).await
    }

    /// As [`CliDevice::start`], with a given SSH host key (to play a device whose key changed).
    pub async fn start_with_key(
        ip: std::net::IpAddr,
        script: CliScript,
        key: russh::keys::PrivateKey,
    ) -> std::io::Result<CliDevice> {
        let script = Arc::new(script);
        let logins = Arc::new(AtomicU64::new(0));
        let telnet_listener = TcpListener::bind((ip, 0)).await?;
        let ssh_listener = TcpListener::bind((ip, 0)).await?;
        let telnet = telnet_listener.local_addr()?;
        let ssh = ssh_listener.local_addr()?;
        let host_key = key
            .public_key()
            .to_openssh()
            .map_err(std::io::Error::other)?;
        let t1 = tokio::spawn(serve_telnet(telnet_listener, script.clone()));
        let t2 = tokio::spawn(serve_ssh(ssh_listener, script, key, logins.clone()));
        Ok(CliDevice {
            telnet,
            ssh,
            host_key,
            logins,
            tasks: vec![t1, t2],
        })
    }

    /// The Telnet listener.
    pub fn telnet_addr(&self) -> SocketAddr {
        self.telnet
    }

    /// The SSH listener.
    pub fn ssh_addr(&self) -> SocketAddr {
        self.ssh
    }

    /// The SSH host public key, OpenSSH format (`ssh-ed25519 AAAA...`).
    pub fn host_key(&self) -> &str {
        &self.host_key
    }

    /// SSH password logins accepted so far.
    pub fn ssh_logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }
}

async fn serve_telnet(listener: TcpListener, script: Arc<CliScript>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(telnet_session(stream, script.clone()));
    }
}

async fn telnet_session(mut stream: TcpStream, script: Arc<CliScript>) {
    let mut shell = Shell::new(script);
    let mut filter = IacFilter::default();
    // IAC WILL ECHO, IAC WILL SUPPRESS-GO-AHEAD: the device echoes, as most CPE shells do.
    let mut hello = vec![255, 251, 1, 255, 251, 3];
    hello.extend(shell.begin(false));
    if stream.write_all(&hello).await.is_err() {
        return;
    }
    let mut buf = [0u8; 1024];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
        let out = shell.feed(&filter.filter(&buf[..n]));
        // Telnet escapes a literal 255 in data as IAC IAC.
        let mut escaped = Vec::with_capacity(out.len());
        for b in out {
            escaped.push(b);
            if b == 255 {
                escaped.push(255);
            }
        }
        if stream.write_all(&escaped).await.is_err() || shell.closed() {
            return;
        }
    }
}

async fn serve_ssh(
    listener: TcpListener,
    script: Arc<CliScript>,
    key: russh::keys::PrivateKey,
    logins: Arc<AtomicU64>,
) {
    let config = Arc::new(russh::server::Config {
        keys: vec![key],
        auth_rejection_time: std::time::Duration::from_millis(50),
        auth_rejection_time_initial: Some(std::time::Duration::ZERO),
        inactivity_timeout: Some(std::time::Duration::from_secs(120)),
        ..Default::default()
    });
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let handler = SshShell {
            shell: Shell::new(script.clone()),
            logins: logins.clone(),
        };
        let config = config.clone();
        tokio::spawn(async move {
            if let Ok(session) = russh::server::run_stream(config, stream, handler).await {
                let _ = session.await;
            }
        });
    }
}

struct SshShell {
    shell: Shell,
    logins: Arc<AtomicU64>,
}

impl russh::server::Handler for SshShell {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let s = &self.shell.script;
        if user == s.username && password == s.password {
            self.logins.fetch_add(1, Ordering::Relaxed);
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        _row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let hello = self.shell.begin(true);
        session.data(channel, hello)
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let out = self.shell.feed(data);
        if !out.is_empty() {
            session.data(channel, out)?;
        }
        if self.shell.closed() {
            session.eof(channel)?;
            session.close(channel)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script() -> Arc<CliScript> {
        Arc::new(CliScript::new("admin", "pw", "BEC> ").command("show", "a\nb\n"))
    }

    #[test]
    fn telnet_login_then_command_answers_with_crlf_and_prompt() {
        let mut sh = Shell::new(script());
        assert_eq!(sh.begin(false), b"login: ");
        assert_eq!(sh.feed(b"admin\r\n"), b"admin\r\nPassword: ");
        assert_eq!(sh.feed(b"pw\r\n"), b"\r\nBEC> ");
        assert_eq!(sh.feed(b"show\r\n"), b"show\r\na\r\nb\r\nBEC> ");
        assert_eq!(sh.feed(b"exit\n"), b"exit\r\n");
        assert!(sh.closed());
    }

    #[test]
    fn a_wrong_password_asks_again() {
        let mut sh = Shell::new(script());
        sh.begin(false);
        sh.feed(b"admin\r");
        assert_eq!(sh.feed(b"nope\r"), b"\r\nLogin incorrect\r\n\r\nlogin: ");
    }

    #[test]
    fn iac_sequences_are_removed_across_reads() {
        let mut f = IacFilter::default();
        let mut out = f.filter(&[b'a', 255, 253]);
        out.extend(f.filter(&[1, b'b', 255, 250, 24, 0, 255]));
        out.extend(f.filter(&[240, 255, 255, b'c']));
        assert_eq!(out, vec![b'a', b'b', 255, b'c']);
    }
}
