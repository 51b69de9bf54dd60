//! `efi-poller config check` as an operator meets it: every mistake of a file at once, each
//! with its line and key path, including those only a plugin or the machine can see.

use efi_tests::artifacts::artifacts;
use efi_tests::PluginDir;
use std::process::{Command, Output};

fn check(file: &std::path::Path) -> Output {
    Command::new(artifacts().host_binary())
        .args(["config", "check"])
        .arg(file)
        .env_remove("EFI_POLLER_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run efi-poller")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A file for all four service plugins, with `mistakes` applied as (right, wrong) edits.
/// Every address is a closed loopback port: the check must not need any of them.
fn config_with(dir: &PluginDir, mistakes: &[(&str, &str)]) -> std::path::PathBuf {
    let pem = dir.path().join("magma.pem");
    std::fs::write(&pem, "not read by the check, only opened").unwrap();
    let token = dir.path().join("sonar-token");
    std::fs::write(&token, "t0ken\n").unwrap();
    let mut text = format!(
        r#"[plugins]
dir = {dir:?}

[log]
level = "info"

[snmp]
timeout_ms = 2000

[arbiter]
managed_subnets = ["127.77.0.0/24"]

[credentials.raemis]
username = "efi"
password = "pw"
[credentials.magma]
client_cert = {pem:?}
ca_file = {pem:?}
[credentials.sonar]
bearer_file = {token:?}

[[sources]]
name = "epc"
plugin = "raemis"
[sources.settings]
url = "http://127.0.0.1:9"
credentials = "raemis"
apns = ["internet"]

[[sources]]
name = "orc8r"
plugin = "magma"
[sources.settings]
url = "https://127.0.0.1:9/magma/v1"
credentials = "magma"
networks = ["lte"]
page_size = 100

[[sources]]
name = "acs"
plugin = "genieacs"
[sources.settings]
url = "http://127.0.0.1:9"
trees = ["Device"]

[sink]
plugin = "sonar"
[sink.settings]
url = "http://127.0.0.1:9"
credentials = "sonar"
default_model = "RidgeWave 6900"
"#,
        dir = dir.path(),
    );
    for (right, wrong) in mistakes {
        assert!(text.contains(right), "{right} is not in the template");
        text = text.replacen(right, wrong, 1);
    }
    let file = dir.path().join("config.toml");
    std::fs::write(&file, text).unwrap();
    file
}

fn plugins() -> PluginDir {
    let dir = PluginDir::new();
    for p in ["raemis", "magma", "genieacs", "sonar"] {
        dir.install(p);
    }
    dir
}

#[test]
fn every_mistake_is_reported_at_once_with_its_line_and_key_path() {
    let dir = plugins();
    let good = config_with(&dir, &[]);
    let out = check(&good);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with("config.toml: ok\n"),
        "{}",
        text(&out.stdout)
    );

    let token = dir.path().join("sonar-token");
    let file = config_with(
        &dir,
        &[
            ("level = \"info\"", "level = \"inf0\""),
            ("timeout_ms = 2000", "timeout_ms = \"2s\""),
            ("credentials = \"raemis\"", "credentials = \"raemis-api\""),
            ("apns = [", "apnz = ["),
            ("page_size = 100", "page_sise = 100"),
            ("trees = [", "tress = ["),
            ("default_model = ", "defualt_model = "),
        ],
    );
    std::fs::remove_file(&token).unwrap();
    let out = check(&file);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let expected = [
        ("line 5: log.level:", "\"inf0\" is not a level"),
        ("line 8: snmp.timeout_ms:", "\"2s\" is not a whole number"),
        ("line 20: credentials.sonar.bearer_file:", "no such file"),
        ("line 27: sources[0].settings.credentials:", "credential set \"raemis-api\" is not defined in [credentials]"),
        ("line 28: sources[0].settings.apnz:", "unknown key `apnz`; the keys here are url, credentials, accept_invalid_certs, apns (checked by plugin raemis)"),
        ("line 37: sources[1].settings.page_sise:", "unknown key `page_sise`"),
        ("line 44: sources[2].settings.tress:", "unknown key `tress`"),
        ("line 51: sink.settings.defualt_model:", "unknown key `defualt_model`"),
    ];
    for (at, says) in expected {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("config.toml: {at}")) && l.contains(says)),
            "no line with {at} ... {says} in:\n{stderr}"
        );
    }
    assert!(
        stderr.ends_with(&format!("config.toml: {} problems\n", expected.len())),
        "{stderr}"
    );
    // In file order, so an operator fixes them top to bottom.
    let numbers: Vec<usize> = lines
        .iter()
        .filter_map(|l| l.split(": line ").nth(1)?.split(':').next()?.parse().ok())
        .collect();
    assert!(numbers.windows(2).all(|w| w[0] <= w[1]), "{numbers:?}");
}

#[test]
fn a_file_run_cannot_start_with_is_named_with_its_own_exit_code() {
    let dir = plugins();
    let file = config_with(
        &dir,
        &[(
            "managed_subnets = [\"127.77.0.0/24\"]",
            "managed_subnets = []",
        )],
    );
    let out = check(&file);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("valid, but `efi-poller run` cannot start with it")
            && stdout.contains("managed_subnets"),
        "{stdout}"
    );
}

#[test]
fn a_plugin_that_is_not_installed_is_named_with_what_is() {
    let dir = PluginDir::new();
    dir.install("raemis");
    let file = config_with(&dir, &[("plugin = \"sonar\"", "plugin = \"sonarr\"")]);
    let out = check(&file);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("sink.plugin: no sink plugin named \"sonarr\"")
            && stderr.contains("sources[1].plugin: no source plugin named \"magma\"")
            && stderr.contains("(there: raemis)"),
        "{stderr}"
    );
}

#[test]
fn a_groups_identities_credential_sets_and_drivers_are_checked() {
    let dir = plugins();
    let file = config_with(&dir, &[]);
    let mut toml = std::fs::read_to_string(&file).unwrap();
    toml += r#"
[[poller.groups]]
name = "v3-towers"
subnets = ["10.45.0.0/16"]
drivers = ["bec-ridgewav"]
web_credentials = "bec-web"
[[poller.groups.snmp]]
community = "t7"
[[poller.groups.snmp]]
version = "3"
user = "efi"
auth_protocol = "SHA-256"
auth_passphrase = "short"
"#;
    std::fs::write(&file, toml).unwrap();
    let out = check(&file);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    for expected in [
        "poller.groups[0].drivers[0]: no driver plugin named \"bec-ridgewav\"",
        "poller.groups[0].web_credentials: credential set \"bec-web\" is not defined",
        "poller.groups[0].snmp[1]: auth_passphrase is shorter than 8 characters",
    ] {
        assert!(stderr.contains(expected), "{expected} not in {stderr}");
    }
    assert!(
        !stderr.contains("snmp[0]"),
        "the community is fine: {stderr}"
    );
}

/// `%d/NAME` names a systemd credential: read from `$CREDENTIALS_DIRECTORY` by the service,
/// left unchecked by a check run by hand (where only the service could read it).
#[test]
fn a_secret_file_may_be_a_systemd_credential() {
    let dir = plugins();
    let token = format!("{:?}", dir.path().join("sonar-token"));
    let file = config_with(
        &dir,
        &[
            (&token, "\"%d/sonar-token\""),
            ("password = \"pw\"", "password = \"%d/raemis-password\""),
        ],
    );
    let credentials = tempfile::tempdir().unwrap();
    let as_service = |credentials_dir: &std::path::Path| {
        Command::new(artifacts().host_binary())
            .args(["config", "check"])
            .arg(&file)
            .env_remove("RUST_LOG")
            .env("CREDENTIALS_DIRECTORY", credentials_dir)
            .output()
            .unwrap()
    };
    // As the service, before systemd put the credential there: named, with where it looked.
    let out = as_service(credentials.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(
        said.contains("credentials.sonar.bearer_file")
            && said.contains(&credentials.path().join("sonar-token").display().to_string()),
        "{said}"
    );
    // An inline secret naming a credential that is not there: its line and key.
    assert!(
        said.contains("credentials.raemis.password") && said.contains("raemis-password"),
        "{said}"
    );
    // With the credentials in place: fine.
    std::fs::write(credentials.path().join("sonar-token"), "t0ken\n").unwrap();
    std::fs::write(credentials.path().join("raemis-password"), "pw\n").unwrap();
    let out = as_service(credentials.path());
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    // By hand (no credentials directory): not checked, not an error...
    let out = check(&file);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    // ...but `run` outside the service refuses to send the words "%d/..." as a password.
    let out = Command::new(artifacts().host_binary())
        .arg("--config")
        .arg(&file)
        .arg("run")
        .env_remove("RUST_LOG")
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = text_of(&out);
    assert!(
        said.contains("credentials.raemis.password")
            && said.contains("$CREDENTIALS_DIRECTORY is not set"),
        "{said}"
    );
}

/// A listener on the network without TLS while credentials guard it is a warning (the file
/// still runs); a `[server.tls]` whose key is not the certificate's is a problem naming both.
#[test]
fn the_listener_is_checked_for_tls() {
    let dir = plugins();
    let file = config_with(&dir, &[]);
    let mut toml = std::fs::read_to_string(&file).unwrap();
    toml.push_str("\n[server]\nlisten = \"0.0.0.0:9630\"\napi_token = \"s3cret-token\"\n");
    std::fs::write(&file, &toml).unwrap();
    let out = check(&file);
    assert_eq!(out.status.code(), Some(0), "{}", text_of(&out));
    assert!(
        text(&out.stderr).contains("warning: line ")
            && text(&out.stderr).contains("server.listen")
            && text(&out.stderr).contains("add [server.tls]"),
        "{}",
        text_of(&out)
    );
    let (a, b) = (
        efi_lab::pki::TestPki::generate("a"),
        efi_lab::pki::TestPki::generate("b"),
    );
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, &a.server.cert_pem).unwrap();
    std::fs::write(&key, &b.server.key_pem).unwrap();
    toml.push_str(&format!(
        "[server.tls]\ncert_file = {cert:?}\nkey_file = {key:?}\nclient_certificate_for = [\"webhook\"]\n"
    ));
    std::fs::write(&file, &toml).unwrap();
    let out = check(&file);
    assert_eq!(out.status.code(), Some(2), "{}", text_of(&out));
    let said = text(&out.stderr);
    for expected in [
        "server.tls: [server.tls] key_file",
        "does not belong to the certificate",
        "server.tls.client_certificate_for[0]: \"webhook\" is not a route group",
        "needs client_ca_file",
    ] {
        assert!(said.contains(expected), "{expected:?} not in:\n{said}");
    }
}

fn text_of(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}
