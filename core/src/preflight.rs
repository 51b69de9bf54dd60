//! What `efi-poller run` checks before it starts anything, and `efi-poller config check`
//! runs on its own: every plugin's settings parsed by the plugin itself, the credential sets
//! they name, the secret files the configuration names, the log filter, and whether the
//! configuration can run the service at all. It touches nothing outside the machine: plugins
//! are sans-IO, so creating a plugin's instance is parsing its settings, nothing more.

use crate::arbiter::Arbiter;
use crate::config::check::Problem;
use crate::config::Config;
use crate::loader::Registry;
use efi_plugin_api::PluginKind;
use std::path::Path;

/// What the checks found.
#[derive(Debug, Default)]
pub struct Report {
    /// Values that cannot work, each named by its key path.
    pub problems: Vec<Problem>,
    /// Why `run` would refuse to start (no source, no sink, no managed subnet); other
    /// commands can still use the configuration.
    pub cannot_run: Option<String>,
    /// What works but exposes something (credentials over plain HTTP on the network).
    pub warnings: Vec<Problem>,
}

/// Problems that stop `run` from starting (or a reload from being applied), each as
/// `FILE: line N: key.path: what is wrong`, in file order.
#[derive(Debug, thiserror::Error)]
#[error("{}", .lines.join("\n"))]
pub struct Refused {
    /// One line per problem.
    pub lines: Vec<String>,
}

/// The problems of `config` read from `file` (for line numbers), if any: what `run` checks
/// before it opens anything. What `run` lacks altogether is [`Arbiter::check_config`]'s.
pub fn verify(config: &Config, registry: &Registry, file: Option<&Path>) -> Result<(), Refused> {
    let mut report = check(config, registry);
    // By hand, `config check` leaves systemd credentials unchecked; the service itself must
    // be able to read them.
    for key in crate::config::unreachable_credentials(config) {
        report.problems.push(Problem::new(
            key,
            "names a systemd credential (%d/...), but $CREDENTIALS_DIRECTORY is not set: run it as the service with LoadCredential= in its unit, or give the value or file itself",
        ));
    }
    let text = file
        .and_then(|f| std::fs::read_to_string(f).ok())
        .unwrap_or_default();
    let shown = file.map_or("configuration".to_owned(), |f| f.display().to_string());
    for warning in crate::config::check::describe(&text, &report.warnings) {
        tracing::warn!("{shown}: {warning}");
    }
    if report.problems.is_empty() {
        return Ok(());
    }
    let mut lines = crate::config::check::describe(&text, &report.problems);
    crate::config::check::sort_by_line(&mut lines);
    Err(Refused {
        lines: lines.into_iter().map(|l| format!("{shown}: {l}")).collect(),
    })
}

/// Checks `config` with the plugins `registry` has loaded.
pub fn check(config: &Config, registry: &Registry) -> Report {
    let mut report = Report {
        cannot_run: Arbiter::check_config(config).err().map(|e| e.to_string()),
        ..Report::default()
    };
    let problems = &mut report.problems;
    check_log_filter(&config.log.level, problems);
    check_secret_files(config, problems);
    check_sources(config, registry, problems);
    check_sink(config, registry, problems);
    check_drivers(config, registry, problems);
    check_groups(config, registry, problems);
    check_listener(config, &mut report);
    report
}

/// `[server.tls]` loads (certificate, key, client CAs, route groups); a listener on the
/// network without it while credentials guard it is a warning: they would cross in clear.
fn check_listener(config: &Config, report: &mut Report) {
    let server = &config.server;
    if let Some(tls) = &server.tls {
        for (i, group) in tls.client_certificate_for.iter().enumerate() {
            if !crate::https::ROUTE_GROUPS.contains(&group.as_str()) {
                report.problems.push(Problem::new(
                    format!("server.tls.client_certificate_for[{i}]"),
                    format!("{group:?} is not a route group (webhooks, api)"),
                ));
            }
        }
        if !tls.client_certificate_for.is_empty() && tls.client_ca_file.is_none() {
            report.problems.push(Problem::new(
                "server.tls.client_certificate_for",
                "needs client_ca_file: the CAs whose client certificates are accepted",
            ));
        }
        let on_disk = [
            &Some(tls.cert_file.clone()),
            &Some(tls.key_file.clone()),
            &tls.client_ca_file,
        ]
        .into_iter()
        .flatten()
        .all(|p| !crate::config::credential_out_of_reach(p));
        if on_disk {
            if let Err(e) = crate::https::server_config(tls) {
                report.problems.push(Problem::new("server.tls", e));
            }
        }
        return;
    }
    let Some(listen) = server.listen else { return };
    let guarded = server.api_token.is_some()
        || server.api_token_file.is_some()
        || config.sources.iter().any(|s| s.webhook.is_some());
    if guarded && !listen.ip().is_loopback() {
        report.warnings.push(Problem::new(
            "server.listen",
            format!(
                "{listen} is reachable from the network over plain HTTP, and the webhook or API credentials would cross it in clear: add [server.tls]"
            ),
        ));
    }
}

/// `[[poller.groups]]`: every SNMP identity usable, the credential sets named defined, the
/// drivers named installed.
fn check_groups(config: &Config, registry: &Registry, problems: &mut Vec<Problem>) {
    for (i, group) in config.poller.groups.iter().enumerate() {
        let at = format!("poller.groups[{i}]");
        for (j, login) in group.snmp.iter().enumerate() {
            if let Err(e) = crate::engines::credentials::snmp_credentials(login) {
                problems.push(Problem::new(format!("{at}.snmp[{j}]"), e));
            }
        }
        for (key, set) in [
            ("web_credentials", &group.web_credentials),
            ("cli_credentials", &group.cli_credentials),
        ] {
            if let Some(name) = set
                .as_deref()
                .filter(|n| !config.credentials.contains_key(*n))
            {
                problems.push(Problem::new(
                    format!("{at}.{key}"),
                    format!("credential set {name:?} is not defined in [credentials]"),
                ));
            }
        }
        for (j, driver) in group.drivers.iter().enumerate() {
            if registry.get(driver).is_none_or(|p| p.driver().is_none()) {
                problems.push(Problem::new(
                    format!("{at}.drivers[{j}]"),
                    format!(
                        "no driver plugin named {driver:?} is installed in {}: the group would never match",
                        registry.dir().display()
                    ),
                ));
            }
        }
    }
}

/// A filter that parses but cannot mean what was written: `inf0` is read as "every level of
/// a target named inf0", which turns every other line off.
fn check_log_filter(filter: &str, problems: &mut Vec<Problem>) {
    let before = problems.len();
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = match directive.rsplit_once('=') {
            Some((_, level)) => level,
            None if directive.contains("::") || directive.contains('[') => continue,
            None => directive,
        };
        if !LEVELS.contains(&level.to_lowercase().as_str()) {
            problems.push(Problem::new(
                "log.level",
                format!(
                    "{directive:?} is not a level (trace, debug, info, warn, error, off) nor target=level; as written it would hide every other line"
                ),
            ));
        }
    }
    if problems.len() == before {
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(filter) {
            problems.push(Problem::new("log.level", format!("{filter:?}: {e}")));
        }
    }
}

/// Every secret or certificate file the configuration names exists and can be read now.
fn check_secret_files(config: &Config, problems: &mut Vec<Problem>) {
    let mut files: Vec<(String, &Path)> = Vec::new();
    for (name, set) in &config.credentials {
        for (key, path) in [
            ("bearer_file", &set.bearer_file),
            ("client_cert", &set.client_cert),
            ("ca_file", &set.ca_file),
            ("private_key_file", &set.private_key_file),
        ] {
            if let Some(p) = path {
                files.push((format!("credentials.{name}.{key}"), p.as_path()));
            }
        }
    }
    if let Some(p) = &config.server.api_token_file {
        files.push(("server.api_token_file".into(), p.as_path()));
    }
    if let Some(p) = &config.store.ca_file {
        files.push(("store.ca_file".into(), p.as_path()));
    }
    if config.sonar_poller.enabled {
        if let Some(p) = &config.sonar_poller.api_key_file {
            files.push(("sonar_poller.api_key_file".into(), p.as_path()));
        }
    }
    for (key, path) in files {
        if crate::config::credential_out_of_reach(path) {
            // `%d/NAME`: a systemd credential, only the service can read it.
            continue;
        }
        let resolved = match crate::config::resolve_path(path) {
            Ok(p) => p,
            Err(e) => {
                problems.push(Problem::new(key, e));
                continue;
            }
        };
        if let Err(e) = std::fs::File::open(&resolved) {
            problems.push(Problem::new(key, crate::config::unreadable(&resolved, &e)));
        }
    }
}

/// Credential sets a plugin's settings name (`credentials`, `web_credentials`, ...) exist.
fn check_credential_names(
    config: &Config,
    at: &str,
    settings: &toml::Table,
    problems: &mut Vec<Problem>,
) {
    for (key, value) in settings {
        if key != "credentials" && !key.ends_with("_credentials") {
            continue;
        }
        if let Some(name) = value.as_str() {
            if !config.credentials.contains_key(name) {
                problems.push(Problem::new(
                    format!("{at}.{key}"),
                    format!("credential set {name:?} is not defined in [credentials]"),
                ));
            }
        }
    }
}

/// The plugin `name`, loaded, offering `kind`; else a problem at `key` saying what is there.
fn plugin_of(
    registry: &Registry,
    name: &str,
    kind: PluginKind,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<std::sync::Arc<crate::loader::LoadedPlugin>> {
    match registry.get(name) {
        Some(p) if p.info().kinds.contains(&kind) => Some(p),
        Some(_) => {
            problems.push(Problem::new(
                key,
                format!("plugin {name:?} is not a {kind} plugin"),
            ));
            None
        }
        None => {
            let loaded: Vec<String> = registry
                .plugins()
                .iter()
                .filter(|p| p.info().kinds.contains(&kind))
                .map(|p| p.name().to_owned())
                .collect();
            problems.push(Problem::new(
                key,
                format!(
                    "no {kind} plugin named {name:?} in {} (there: {})",
                    registry.dir().display(),
                    if loaded.is_empty() {
                        "none".to_owned()
                    } else {
                        loaded.join(", ")
                    }
                ),
            ));
            None
        }
    }
}

fn check_sources(config: &Config, registry: &Registry, problems: &mut Vec<Problem>) {
    for (i, source) in config.sources.iter().enumerate() {
        let at = format!("sources[{i}]");
        check_credential_names(
            config,
            &format!("{at}.settings"),
            &source.settings,
            problems,
        );
        let key = format!("{at}.plugin");
        let Some(plugin) = plugin_of(registry, &source.plugin, PluginKind::Source, &key, problems)
        else {
            continue;
        };
        let settings = toml::to_string(&source.settings).unwrap_or_default();
        if let Err(e) = plugin.library().new_source(&settings) {
            problems.push(settings_problem(
                &format!("{at}.settings"),
                &source.settings,
                &source.plugin,
                &e.message,
            ));
        }
    }
}

fn check_sink(config: &Config, registry: &Registry, problems: &mut Vec<Problem>) {
    let Some(sink) = &config.sink else { return };

    check_credential_names(config, "sink.settings", &sink.settings, problems);
    let Some(plugin) = plugin_of(
        registry,
        &sink.plugin,
        PluginKind::Sink,
        "sink.plugin",
        problems,
    ) else {
        return;
    };
    // A sink refuses to work without managed subnets, which `cannot_run` names already; a
    // stand-in subnet lets it read the rest of its settings.
    let stand_in;
    let config = if config.arbiter.managed_subnets.is_empty() {
        let mut with_subnet = config.clone();
        with_subnet.arbiter.managed_subnets = vec!["192.0.2.0/24".into()];
        stand_in = with_subnet;
        &stand_in
    } else {
        config
    };
    if let Err(e) = plugin
        .library()
        .new_sink(&Arbiter::sink_settings(config, sink))
    {
        problems.push(settings_problem(
            "sink.settings",
            &sink.settings,
            &sink.plugin,
            &e.message,
        ));
    }
}

/// A plugin's refusal of its settings at `at`, located at the key it names when that key is
/// in the table (`unknown field \`defualt_model\``), in an operator's words.
fn settings_problem(at: &str, settings: &toml::Table, plugin: &str, message: &str) -> Problem {
    let named = message
        .split('`')
        .nth(1)
        .filter(|key| settings.contains_key(*key) && message.contains(&format!("`{key}`")));
    let key = match named {
        Some(key) => format!("{at}.{key}"),
        None => at.to_owned(),
    };
    Problem::new(
        key,
        format!(
            "{} (checked by plugin {plugin})",
            crate::config::check::operator_words(message)
        ),
    )
}

/// `[drivers.<name>]`: the plugin is installed and took its settings (a driver whose
/// settings it refuses is not loaded at all).
fn check_drivers(config: &Config, registry: &Registry, problems: &mut Vec<Problem>) {
    for (name, settings) in &config.drivers {
        let at = format!("drivers.{name}");
        check_credential_names(config, &at, settings, problems);
        if registry.get(name).is_some() {
            continue;
        }
        let refused = registry.listing().into_iter().find(|l| {
            l.status
                .contains(&format!("plugin {name} could not create its driver"))
        });
        problems.push(Problem::new(
            at,
            match refused {
                Some(l) => l.status.trim_start_matches("rejected: ").to_owned(),
                None => format!(
                    "no plugin named {name:?} is installed in {}: these settings are never used",
                    registry.dir().display()
                ),
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_filter_that_hides_everything_is_named() {
        let mut problems = Vec::new();
        for good in [
            "info",
            "info,efi::plugin=debug",
            "warn,efi_core::loader=trace",
            "OFF",
        ] {
            check_log_filter(good, &mut problems);
        }
        assert!(problems.is_empty(), "{problems:?}");
        check_log_filter("inf0", &mut problems);
        check_log_filter("info,efi::plugin=lots", &mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].message.contains("\"inf0\" is not a level"));
        assert!(problems[1].message.contains("efi::plugin=lots"));
    }
}
