//! `efi-poller config check [FILE]`: what `run` checks before it starts, without starting
//! anything: the file itself, then every plugin's settings parsed by the plugin, the
//! credential sets and secret files named, the log filter, and whether the service can run.
//! Every problem is printed, in file order, as `FILE: line N: key.path: what is wrong`.
//!
//! Exit codes: 0, it can run; 2, problems; 3, valid, but `efi-poller run` would not start
//! with it (what it lacks is named).

use crate::config::Config;
use crate::loader::Registry;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// The file has problems.
pub const EXIT_PROBLEMS: u8 = 2;
/// The file is valid, but the service cannot run with it.
pub const EXIT_CANNOT_RUN: u8 = 3;

/// Runs the check of `file` (default: the usual configuration lookup).
pub fn run(file: Option<&PathBuf>) -> ExitCode {
    let Some(path) = super::config_path(file) else {
        println!("no configuration file; built-in defaults apply");
        return ExitCode::SUCCESS;
    };
    let text = match crate::config::read_file(&path) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_PROBLEMS);
        }
    };
    let examined = Config::examine(&text);
    let mut problems = examined.problems;
    let mut cannot_run = None;
    // What the plugins and the machine say, for every part of the file that could be read.
    if let Some(config) = &examined.config {
        let registry = Registry::new(config.plugins.resolved_dir(), Arc::new(config.clone()));
        registry.rescan();
        let report = crate::preflight::check(config, &registry);
        problems.extend(crate::config::check::describe(&text, &report.problems));
        for warning in crate::config::check::describe(&text, &report.warnings) {
            eprintln!("{}: warning: {warning}", path.display());
        }
        cannot_run = report.cannot_run;
    }
    crate::config::check::sort_by_line(&mut problems);
    if !problems.is_empty() {
        for line in &problems {
            eprintln!("{}: {line}", path.display());
        }
        eprintln!(
            "{}: {} problem{}",
            path.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
        return ExitCode::from(EXIT_PROBLEMS);
    }
    if let Some(why) = cannot_run {
        println!(
            "{}: valid, but `efi-poller run` cannot start with it: {why}",
            path.display()
        );
        return ExitCode::from(EXIT_CANNOT_RUN);
    }
    println!("{}: ok", path.display());
    ExitCode::SUCCESS
}
